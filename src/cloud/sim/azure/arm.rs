//! Resource Manager's requests on the simulated Azure, each counted against the subscription's
//! budget (`Sim::call`), with Azure's errors in its words (`Code: message`).

use super::*;

fn arm_scope(id: &str) -> Scope {
    Scope::azure(segment(id, "subscriptions").unwrap_or_default(), "")
}

fn not_found(id: &str) -> CloudError {
    CloudError::NotFound(format!(
        "ResourceNotFound: The Resource 'Microsoft.Network/privateEndpoints/{}' under resource \
         group '{}' was not found.",
        segment(id, "privateEndpoints").unwrap_or_default(),
        segment(id, "resourceGroups").unwrap_or_default()
    ))
}

/// Resource Manager's rule for a private endpoint's name.
fn valid_name(name: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    (1..=80).contains(&name.len())
        && name.starts_with(word)
        && name.ends_with(word)
        && name.chars().all(|c| word(c) || c == '.' || c == '-')
}

/// Resource Manager's limits on tags: 50 a resource, names up to 512 characters without
/// `<>%&\?/`, values up to 256
/// (https://learn.microsoft.com/azure/azure-resource-manager/management/tag-resources#limitations).
fn check_tags(tags: &BTreeMap<String, String>) -> CloudResult<()> {
    let refuse = |m: String| Err(CloudError::Permanent(m));
    if tags.len() > 50 {
        return refuse(format!(
            "InvalidTagCount: {} tags were given; a resource can have at most 50.",
            tags.len()
        ));
    }
    for (name, value) in tags {
        if name
            .chars()
            .any(|c| "<>%&\\?/".contains(c) || c.is_control())
        {
            return refuse(format!(
                "InvalidTagNameCharacters: The tag names '{name}' have reserved characters \
                 '<,>,%,&,\\,?,/' or control characters."
            ));
        }
        if name.is_empty() || name.len() > 512 {
            return refuse(format!(
                "InvalidTagNameLength: The tag name '{name}' must be 1 to 512 characters long."
            ));
        }
        if value.len() > 256 {
            return refuse(format!(
                "InvalidTagValueLength: The value of tag '{name}' is longer than 256 characters."
            ));
        }
    }
    Ok(())
}

impl Arm for SimCloud {
    async fn list_private_endpoints(
        &self,
        subscription: &str,
        _page_token: Option<&str>,
    ) -> CloudResult<Page<PrivateEndpoint>> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(
            op::LIST_PRIVATE_ENDPOINTS,
            Some(&Scope::azure(subscription, "")),
        )?;
        let now = sim.now();
        let answers = sim.az_answers(now);
        let items = sim
            .state
            .azure
            .endpoints
            .values()
            .filter(|e| e.endpoint.subscription().eq_ignore_ascii_case(subscription))
            .filter_map(|e| sim.az_view(e, now, &answers))
            .collect();
        Ok(Page { items, next: None })
    }

    async fn get_private_endpoint(&self, id: &str) -> CloudResult<Option<PrivateEndpoint>> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::GET_PRIVATE_ENDPOINT, Some(&arm_scope(id)))?;
        let now = sim.now();
        let answers = sim.az_answers(now);
        Ok(sim
            .az_endpoint(id, now)
            .and_then(|e| sim.az_view(e, now, &answers)))
    }

    async fn put_private_endpoint(&self, r: &PutPrivateEndpoint) -> CloudResult<String> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(
            op::PUT_PRIVATE_ENDPOINT,
            Some(&Scope::azure(r.subscription.as_str(), "")),
        )?;
        if !valid_name(&r.name) {
            return Err(CloudError::Permanent(format!(
                "InvalidResourceName: Resource name {} is invalid. The name can be up to 80 \
                 characters long. It must begin with a word character, and it must end with a \
                 word character or with '_'. The name may contain word characters or '.', '-', \
                 '_'.",
                r.name
            )));
        }
        check_tags(&r.tags)?;
        let now = sim.now();
        let id = private_endpoint_id(&r.subscription, &r.resource_group, &r.name);
        let key = id.to_ascii_lowercase();
        let url = if sim.az_endpoint(&id, now).is_some() {
            sim.az_update(&key, r)?
        } else {
            sim.az_create(key, r)?
        };
        sim.persist();
        sim.answer(op::PUT_PRIVATE_ENDPOINT, url)
    }

    async fn delete_private_endpoint(&self, id: &str) -> CloudResult<Option<String>> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::DELETE_PRIVATE_ENDPOINT, Some(&arm_scope(id)))?;
        let now = sim.now();
        let Some(e) = sim.az_endpoint(id, now) else {
            // Nothing to delete: 204.
            return sim.answer(op::DELETE_PRIVATE_ENDPOINT, None);
        };
        if now < e.busy_until {
            return Err(CloudError::Transient(format!(
                "AnotherOperationInProgress: Another operation on this or dependent resource is \
                 in progress. To retrieve status of the operation use uri: {}.",
                e.operation
            )));
        }
        let url = sim.az_start_delete(&id.to_ascii_lowercase());
        sim.persist();
        sim.answer(op::DELETE_PRIVATE_ENDPOINT, url)
    }

    async fn update_tags(&self, id: &str, tags: &BTreeMap<String, String>) -> CloudResult<()> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::UPDATE_PRIVATE_ENDPOINT_TAGS, Some(&arm_scope(id)))?;
        check_tags(tags)?;
        let now = sim.now();
        if sim.az_endpoint(id, now).is_none() {
            return Err(not_found(id));
        }
        let key = id.to_ascii_lowercase();
        if let Some(e) = sim.state.azure.endpoints.get_mut(&key) {
            e.endpoint.tags = tags.clone();
        }
        sim.persist();
        sim.answer(op::UPDATE_PRIVATE_ENDPOINT_TAGS, ())
    }

    async fn get_operation(&self, url: &str) -> CloudResult<OperationState> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::GET_ARM_OPERATION, Some(&arm_scope(url)))?;
        let now = sim.now();
        let path = url.split('?').next().unwrap_or_default();
        let name = path.rsplit('/').next().unwrap_or_default();
        match sim.state.azure.operations.get(name) {
            None => Err(CloudError::NotFound(format!(
                "OperationNotFound: Operation {name} not found."
            ))),
            Some(op) if now < op.done_at => Ok(OperationState::InProgress),
            Some(AzOperation { error: Some(e), .. }) => Ok(OperationState::Failed(e.clone())),
            Some(_) => Ok(OperationState::Succeeded),
        }
    }

    async fn get_private_ip(&self, network_interface_id: &str) -> CloudResult<Option<String>> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(
            op::GET_NETWORK_INTERFACE,
            Some(&arm_scope(network_interface_id)),
        )?;
        let now = sim.now();
        Ok(sim
            .state
            .azure
            .endpoints
            .values()
            .filter(|e| !e.gone(now) && now >= e.created_at)
            .find(|e| {
                e.endpoint
                    .network_interface_id
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(network_interface_id))
            })
            .map(|e| e.ip.clone()))
    }

    async fn get_subnet(&self, id: &str) -> CloudResult<Option<Subnet>> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::GET_AZURE_SUBNET, Some(&arm_scope(id)))?;
        Ok(sim.az_subnet(id).map(|(n, s)| Subnet {
            id: n.subnet_id(&s.name),
            address_prefixes: vec![s.address_prefix.clone()],
        }))
    }
}
