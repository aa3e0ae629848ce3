//! The simulated EC2: VPC endpoints with EC2's states, checks and error codes.

use std::collections::{BTreeMap, BTreeSet};

use super::*;

impl Consumer for SimCloud {
    type Endpoint = VpcEndpoint;

    async fn list_marked(
        &self,
        scope: &Scope,
        (key, value): (&str, &str),
        page_token: Option<&str>,
    ) -> CloudResult<Page<VpcEndpoint>> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::DESCRIBE_VPC_ENDPOINTS, Some(scope))?;
        let now = sim.now();
        let after = page_token.unwrap_or_default();
        let mut page: Vec<VpcEndpoint> = sim
            .state
            .endpoints
            .range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
            .map(|(_, e)| e)
            .filter(|e| e.scope == *scope && e.endpoint.tag(key) == Some(value))
            .map(|e| sim.view_endpoint(e, now))
            .take(PAGE_EC2 + 1)
            .collect();
        let next = (page.len() > PAGE_EC2).then(|| {
            page.truncate(PAGE_EC2);
            page[PAGE_EC2 - 1].id.clone()
        });
        // The tag filter matches `deleted` endpoints too; they fill pages like the rest.
        page.retain(|e| e.state != EndpointState::Deleted);
        Ok(Page { items: page, next })
    }

    async fn list_connected(
        &self,
        scope: &Scope,
        services: &[String],
        _page_token: Option<&str>,
    ) -> CloudResult<Page<VpcEndpoint>> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::DESCRIBE_VPC_ENDPOINTS, Some(scope))?;
        let now = sim.now();
        let items = sim
            .state
            .endpoints
            .values()
            .filter(|e| e.scope == *scope && services.contains(&e.endpoint.service_name))
            .map(|e| sim.view_endpoint(e, now))
            .filter(|e| e.state != EndpointState::Deleted)
            .collect();
        Ok(Page { items, next: None })
    }

    async fn describe_endpoints(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<Vec<VpcEndpoint>> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::DESCRIBE_VPC_ENDPOINTS, Some(scope))?;
        let now = sim.now();
        Ok(ids
            .iter()
            .filter_map(|id| sim.state.endpoints.get(id))
            .filter(|e| e.scope == *scope)
            .map(|e| sim.view_endpoint(e, now))
            .collect())
    }

    async fn delete_endpoint(&self, scope: &Scope, endpoint_id: &str) -> CloudResult<()> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::DELETE_VPC_ENDPOINTS, Some(scope))?;
        let now = sim.now();
        match sim
            .state
            .endpoints
            .get_mut(endpoint_id)
            .filter(|e| e.scope == *scope)
        {
            Some(e) => {
                e.deleted_at.get_or_insert(now);
            }
            // EC2 reports this in `Unsuccessful`, not as an error of the call.
            None => {
                return Err(CloudError::NotFound(format!(
                    "InvalidVpcEndpoint.NotFound: {endpoint_id}"
                )));
            }
        }
        sim.persist();
        sim.answer(op::DELETE_VPC_ENDPOINTS, ())
    }

    async fn set_marks(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        tags: &BTreeMap<String, String>,
    ) -> CloudResult<()> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::CREATE_TAGS, Some(scope))?;
        sim.endpoint_mut(scope, endpoint_id)?
            .endpoint
            .tags
            .extend(tags.clone());
        sim.persist();
        sim.answer(op::CREATE_TAGS, ())
    }

    async fn remove_marks(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        keys: &[String],
    ) -> CloudResult<()> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::DELETE_TAGS, Some(scope))?;
        let e = sim.endpoint_mut(scope, endpoint_id)?;
        e.endpoint.tags.retain(|k, _| !keys.contains(k));
        sim.persist();
        sim.answer(op::DELETE_TAGS, ())
    }
}

impl Ec2 for SimCloud {
    async fn describe_vpc_attribute(
        &self,
        scope: &Scope,
        vpc_id: &str,
        attribute: VpcAttribute,
    ) -> CloudResult<Option<bool>> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::DESCRIBE_VPC_ATTRIBUTE, Some(scope))?;
        Ok(sim.vpc(scope, vpc_id).map(|v| match attribute {
            VpcAttribute::EnableDnsSupport => v.dns_support,
            VpcAttribute::EnableDnsHostnames => v.dns_hostnames,
        }))
    }

    async fn describe_subnets(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<BTreeMap<String, (String, String)>> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::DESCRIBE_SUBNETS, Some(scope))?;
        Ok(ids
            .iter()
            .filter_map(|id| {
                let (vpc, subnet) = sim.subnet(scope, id)?;
                Some((id.clone(), (vpc.id.clone(), subnet.az_id.clone())))
            })
            .collect())
    }

    async fn describe_security_groups(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<BTreeMap<String, SecurityGroup>> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::DESCRIBE_SECURITY_GROUPS, Some(scope))?;
        Ok(ids
            .iter()
            .filter_map(|id| {
                let (vpc, group) = sim.security_group(scope, id)?;
                Some((id.clone(), security_group(vpc, group)))
            })
            .collect())
    }

    async fn describe_vpcs(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<BTreeMap<String, Vec<String>>> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::DESCRIBE_VPCS, Some(scope))?;
        Ok(ids
            .iter()
            .filter_map(|id| Some((id.clone(), vec![sim.vpc(scope, id)?.cidr.clone()])))
            .collect())
    }

    async fn create_endpoint(
        &self,
        scope: &Scope,
        request: &CreateEndpoint,
    ) -> CloudResult<VpcEndpoint> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::CREATE_VPC_ENDPOINT, Some(scope))?;
        let now = sim.now();
        if let Some(id) = sim.state.tokens.get(&request.client_token) {
            // EC2 idempotency: the same token returns the first result, whatever became of it.
            let first = &sim.state.endpoints[id];
            if first.endpoint.vpc_id != request.vpc_id
                || first.endpoint.service_name != request.service_name
            {
                return Err(CloudError::Permanent(
                    "IdempotentParameterMismatch: the client token was used with other parameters"
                        .into(),
                ));
            }
            return Ok(sim.view_endpoint(first, now));
        }
        if sim.vpc(scope, &request.vpc_id).is_none() {
            return Err(CloudError::Permanent(format!(
                "InvalidVpcID.NotFound: the VPC ID '{}' does not exist",
                request.vpc_id
            )));
        }
        sim.check_placement(
            scope,
            &request.vpc_id,
            &request.service_name,
            &request.subnet_ids,
            &request.security_group_ids,
        )?;
        let id = format!("vpce-{:017x}", 0x0a0_0000_0000_0000 + sim.next_id());
        let endpoint = VpcEndpoint {
            id: id.clone(),
            vpc_id: request.vpc_id.clone(),
            service_name: request.service_name.clone(),
            // Shown as the simulated clock says (`view_endpoint`), never as stored.
            state: EndpointState::PendingAcceptance,
            private_dns_enabled: false,
            subnet_ids: request.subnet_ids.clone(),
            security_group_ids: request.security_group_ids.clone(),
            tags: request.tags.clone(),
        };
        let sim_endpoint = SimEndpoint {
            endpoint,
            scope: scope.clone(),
            created_at: now,
            registered_at: None,
            dns_change: None,
            deleted_at: None,
        };
        let view = sim.view_endpoint(&sim_endpoint, now);
        sim.state.endpoints.insert(id.clone(), sim_endpoint);
        sim.state.tokens.insert(request.client_token.clone(), id);
        sim.persist();
        sim.answer(op::CREATE_VPC_ENDPOINT, view)
    }

    async fn modify_endpoint(&self, scope: &Scope, request: &ModifyEndpoint) -> CloudResult<()> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::MODIFY_VPC_ENDPOINT, Some(scope))?;
        let now = sim.now();
        let delay = Sim::ms(sim.world.timing.private_dns);
        let e = sim
            .state
            .endpoints
            .get(&request.endpoint_id)
            .filter(|e| e.scope == *scope && e.deleted_at.is_none())
            .ok_or_else(|| {
                CloudError::NotFound(format!(
                    "InvalidVpcEndpointId.NotFound: {}",
                    request.endpoint_id
                ))
            })?
            .clone();
        let mut subnets = e.endpoint.subnet_ids.clone();
        subnets.retain(|s| !request.remove_subnet_ids.contains(s));
        subnets.extend(request.add_subnet_ids.iter().cloned());
        let mut groups = e.endpoint.security_group_ids.clone();
        groups.retain(|g| !request.remove_security_group_ids.contains(g));
        groups.extend(request.add_security_group_ids.iter().cloned());
        sim.check_placement(
            scope,
            &e.endpoint.vpc_id,
            &e.endpoint.service_name,
            &subnets,
            &groups,
        )?;
        if request.private_dns_enabled == Some(true) {
            let vpc = sim.vpc(scope, &e.endpoint.vpc_id).cloned();
            if !vpc.is_some_and(|v| v.dns_support && v.dns_hostnames) {
                return Err(CloudError::Permanent(format!(
                    "InvalidParameter: private DNS needs enableDnsSupport and enableDnsHostnames on VPC {}",
                    e.endpoint.vpc_id
                )));
            }
            if sim.view_endpoint(&e, now).state != EndpointState::Available {
                return Err(CloudError::Permanent(
                    "InvalidParameter: private DNS can only be enabled on an accepted endpoint"
                        .into(),
                ));
            }
            // One private hosted zone per service and VPC: EC2 refuses a second endpoint's.
            let conflict = sim.state.endpoints.values().find(|other| {
                other.endpoint.id != e.endpoint.id
                    && other.scope == *scope
                    && other.endpoint.vpc_id == e.endpoint.vpc_id
                    && other.endpoint.service_name == e.endpoint.service_name
                    && other.deleted_at.is_none()
                    && (other.endpoint.private_dns_enabled
                        || other.dns_change.is_some_and(|(on, _)| on))
            });
            if let Some(other) = conflict {
                let message = format!(
                    "private DNS cannot be enabled because there is already a conflicting DNS \
                     domain for {} in {} (endpoint {})",
                    e.endpoint.service_name, e.endpoint.vpc_id, other.endpoint.id
                );
                let advice = ec2_advice("InvalidParameter", &message).unwrap_or_default();
                return Err(CloudError::Permanent(format!(
                    "InvalidParameter: {message}; {advice}"
                )));
            }
        }
        let e = sim
            .state
            .endpoints
            .get_mut(&request.endpoint_id)
            .expect("checked above");
        e.endpoint.subnet_ids = subnets;
        e.endpoint.security_group_ids = groups;
        if let Some(value) = request.private_dns_enabled {
            e.dns_change = Some((value, now + delay));
        }
        sim.persist();
        sim.answer(op::MODIFY_VPC_ENDPOINT, ())
    }
}

impl Sim {
    /// EC2's checks of subnets and groups for a create or modify.
    fn check_placement(
        &self,
        scope: &Scope,
        vpc_id: &str,
        service: &str,
        subnets: &[String],
        groups: &[String],
    ) -> CloudResult<()> {
        let (_, group) = self.service_by_name(service).ok_or_else(|| {
            CloudError::Permanent(format!(
                "InvalidServiceName: the service {service} does not exist"
            ))
        })?;
        let mut zones = BTreeSet::new();
        for id in subnets {
            let (vpc, subnet) = self.subnet(scope, id).ok_or_else(|| {
                CloudError::Permanent(format!(
                    "InvalidSubnetID.NotFound: the subnet ID '{id}' does not exist"
                ))
            })?;
            if vpc.id != vpc_id {
                return Err(CloudError::Permanent(format!(
                    "InvalidParameter: subnet {id} is not in VPC {vpc_id}"
                )));
            }
            if !group.available_zones.contains(&subnet.az_id) {
                return Err(CloudError::Permanent(format!(
                    "InvalidParameter: the VPC endpoint service {service} does not support the availability zone of subnet {id} ({})",
                    subnet.az_id
                )));
            }
            if !zones.insert(subnet.az_id.clone()) {
                return Err(CloudError::Permanent(format!(
                    "DuplicateSubnetsInSameZone: subnet {id} shares availability zone {}",
                    subnet.az_id
                )));
            }
        }
        for id in groups {
            if self.security_group(scope, id).is_none() {
                return Err(CloudError::Permanent(format!(
                    "InvalidGroup.NotFound: the security group '{id}' does not exist"
                )));
            }
        }
        Ok(())
    }
}

/// A simulated group as EC2 describes it: a plain ID allows TCP on every port from the VPC.
fn security_group(vpc: &VpcSeed, group: &GroupSeed) -> SecurityGroup {
    let ingress = match group {
        GroupSeed::Id(_) => vec![IngressRule {
            protocol: "tcp".into(),
            from_port: Some(0),
            to_port: Some(65535),
            cidrs: vec![vpc.cidr.clone()],
            ..IngressRule::default()
        }],
        GroupSeed::Rules { ingress, .. } => ingress
            .iter()
            .map(|r| {
                let mut rule = IngressRule {
                    protocol: r.protocol.clone(),
                    from_port: r.from_port,
                    to_port: r.to_port.or(r.from_port),
                    ..IngressRule::default()
                };
                if r.source.starts_with("sg-") {
                    rule.groups.push(r.source.clone());
                } else if r.source.starts_with("pl-") {
                    rule.prefix_lists.push(r.source.clone());
                } else {
                    rule.cidrs.push(r.source.clone());
                }
                rule
            })
            .collect(),
    };
    SecurityGroup {
        vpc_id: vpc.id.clone(),
        ingress,
    }
}
