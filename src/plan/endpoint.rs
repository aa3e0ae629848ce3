//! One desired endpoint: where it stands and what to do next (the decision table in
//! `plan`'s documentation, step by step).

use super::placement::{dns_problem, drift, in_place, placement_problem};
use super::{
    Action, Desired, EndpointPlan, LeaveKind, Leaving, Observed, Phase, TagPurpose, conditions,
    ownership, removal,
};
use crate::cloud::{
    Connection, ConnectionState, CreateEndpoint, EndpointState, ModifyEndpoint, Scope, Service,
    ServiceState,
};
use crate::spec::{DeletionPolicy, EndpointSpec};

/// Where one desired endpoint stands and what to do next.
pub fn plan_endpoint(desired: &Desired<'_>, observed: &Observed, owner_id: &str) -> EndpointPlan {
    let doc = desired.doc;
    let name = doc.metadata.name.as_str();
    let spec = &doc.spec;
    let mut plan = decide(desired, observed, owner_id);
    plan.conditions = conditions::conditions(desired, observed);
    if let Some(endpoint) = &observed.endpoint
        && plan.leaving.is_none()
        && !endpoint.state.is_going()
    {
        // The tags say what the latest document says (its policy, file and labels), from the
        // pass that first sees a change: a removal later does what the document said last.
        let scope = scope_of(spec);
        let (write, drop) = ownership::tag_drift(desired, owner_id, endpoint);
        let mut retag = Vec::new();
        if !write.is_empty() {
            retag.push(Action::Tag {
                scope: scope.clone(),
                endpoint_id: endpoint.id.clone(),
                tags: write,
                purpose: TagPurpose::Correct,
            });
        }
        if !drop.is_empty() {
            retag.push(Action::Untag {
                scope,
                endpoint_id: endpoint.id.clone(),
                keys: drop,
                purpose: TagPurpose::Correct,
            });
        }
        plan.actions.splice(0..0, retag);
    }
    // Only what a serving cluster and an active service can take: a paused cluster is left
    // alone entirely.
    let serving = matches!(&observed.cluster, Some(Ok(c)) if c.state.is_available())
        && observed
            .service
            .as_ref()
            .is_some_and(|s| s.state == ServiceState::Active);
    if serving && !observed.stale_connections.is_empty() {
        clear_stale(&mut plan, spec.deletion_policy, &observed.stale_connections);
    }
    if spec.suspend {
        plan.actions.clear();
        if plan.phase != Phase::Failed {
            plan.message = format!("suspended: {}", plan.message)
                .trim_end_matches(": ")
                .to_string();
        }
    }
    if let Some(trouble) = &observed.trouble {
        // Half a picture (a listing failed) is no ground to act on: a connection that was not
        // listed is not a missing connection. Say so, and look again next pass.
        plan.actions.clear();
        plan.uncertain = true;
        if plan.message.is_empty() {
            plan.message = trouble.clone();
        } else {
            plan.message = format!("{}; {trouble}", plan.message);
        }
    }
    plan.name = name.to_string();
    plan
}

fn decide(desired: &Desired<'_>, o: &Observed, owner_id: &str) -> EndpointPlan {
    let doc = desired.doc;
    let name = doc.metadata.name.as_str();
    let spec = &doc.spec;
    let here = |phase, message: String| EndpointPlan::new(name, phase, message);
    let cluster_id = spec.tidb_cloud.cluster_id.as_str();

    let cluster = match &o.cluster {
        None => {
            return here(
                Phase::NotConfigured,
                "waiting to look up the cluster".into(),
            );
        }
        Some(Err(why)) => return here(Phase::Failed, why.clone()),
        Some(Ok(c)) => c,
    };
    if cluster.cloud_provider != "aws" {
        return here(
            Phase::Failed,
            format!(
                "cluster {cluster_id} runs on {}; AWS PrivateLink needs a cluster on AWS",
                cluster.cloud_provider
            ),
        );
    }
    if cluster.region != spec.aws.region.as_str() {
        return here(
            Phase::Failed,
            format!(
                "cluster {cluster_id} is in {} but spec.aws.region is {}; PrivateLink does not cross regions: use a VPC in {}",
                cluster.region, spec.aws.region, cluster.region
            ),
        );
    }
    if let Some(project) = &spec.tidb_cloud.project_id
        && project.as_str() != cluster.project_id
    {
        return here(
            Phase::Failed,
            format!(
                "spec.tidbCloud.projectId is {project}, but cluster {cluster_id} belongs to project {}: fix projectId, or remove it (it is looked up from the cluster)",
                cluster.project_id
            ),
        );
    }
    if !cluster.state.is_available() {
        // Nothing that needs the cluster can happen now; what the endpoint shows stays as it
        // was, and activity resumes by itself once the cluster serves again.
        let mut plan = here(
            Phase::NotConfigured,
            format!(
                "cluster {cluster_id} is {}: nothing is done until it is ACTIVE again",
                cluster.state.as_str()
            ),
        );
        plan.uncertain = true;
        return plan;
    }
    let Some(node_group_id) = &o.node_group_id else {
        return here(
            Phase::NotConfigured,
            "waiting to look up the TiDB node group".into(),
        );
    };
    let Some(service) = &o.service else {
        return here(
            Phase::NotConfigured,
            "waiting to look up the private link service".into(),
        );
    };
    match service.state {
        ServiceState::Active => {}
        ServiceState::Creating => {
            // A create is coming: a placement it would fail on is said now, not once the
            // service is ready (the service already knows its zones).
            if o.endpoint.is_none()
                && spec.aws.endpoint_id.is_none()
                && let Some(problem) = placement_problem(desired, o, service, true)
            {
                return here(Phase::Failed, problem);
            }
            return here(
                Phase::NotConfigured,
                "the cluster's private link service is being created".into(),
            );
        }
        ServiceState::Deleting => {
            return here(
                Phase::Deleting,
                "the cluster's private link service is being deleted".into(),
            );
        }
    }
    let scope = scope_of(spec);

    let Some(endpoint) = &o.endpoint else {
        if let Some(wanted) = &spec.aws.endpoint_id {
            return adopt(desired, o, service, &scope, wanted.as_str(), owner_id);
        }
        if let Some(problem) = placement_problem(desired, o, service, true) {
            return here(Phase::Failed, problem);
        }
        let Some(_) = &o.network else {
            return here(Phase::NotConfigured, "waiting to check the VPC".into());
        };
        let mut plan = here(Phase::NotConfigured, "creating the VPC endpoint".into());
        plan.actions
            .push(create_action(desired, service, &scope, owner_id));
        plan.actions.push(Action::RegisterConnection {
            cluster_id: cluster_id.into(),
            node_group_id: node_group_id.clone(),
            endpoint_id: None,
        });
        return plan;
    };

    match endpoint.state {
        EndpointState::Failed | EndpointState::Rejected | EndpointState::Expired => {
            return here(
                Phase::Failed,
                format!(
                    "VPC endpoint {} is {} in AWS; delete it in the console and privatelinkd creates a new one",
                    endpoint.id, endpoint.state
                ),
            );
        }
        EndpointState::Deleting | EndpointState::Deleted => {
            return here(
                Phase::Deleting,
                format!(
                    "VPC endpoint {} is being deleted; a new one will be created",
                    endpoint.id
                ),
            );
        }
        _ => {}
    }

    // An endpoint cannot move to another service or VPC: it is replaced.
    let vpc_id = spec.aws.vpc_id.as_str();
    if endpoint.service_name != service.name || endpoint.vpc_id != vpc_id {
        let moved = format!(
            "VPC endpoint {} connects {} to {}, but the document asks for {vpc_id} to {}",
            endpoint.id, endpoint.vpc_id, endpoint.service_name, service.name
        );
        if spec.aws.endpoint_id.is_some() {
            return here(
                Phase::Failed,
                format!(
                    "{moved}; an adopted endpoint is not replaced: fix endpointId or remove it"
                ),
            );
        }
        // The old endpoint leaves as the document's deletion policy says.
        let (kind, message, actions) = match spec.deletion_policy {
            DeletionPolicy::Delete => (
                LeaveKind::Replace,
                format!("{moved}; replacing it"),
                removal::delete_actions(&scope, endpoint, o.connection.as_ref()),
            ),
            DeletionPolicy::Orphan => (
                LeaveKind::ReplaceOrphan,
                format!(
                    "{moved}; leaving it in place without privatelinkd's tags \
                     (deletionPolicy: Orphan) and creating a new one"
                ),
                vec![Action::Untag {
                    scope: scope.clone(),
                    endpoint_id: endpoint.id.clone(),
                    keys: ownership::our_keys(endpoint),
                    purpose: TagPurpose::Orphan,
                }],
            ),
        };
        let mut plan = here(Phase::Deleting, message);
        plan.actions = actions;
        plan.leaving = Some(Leaving {
            kind,
            endpoint_id: endpoint.id.clone(),
            file: None,
        });
        return plan;
    }

    // Drift in subnets and security groups is corrected in place whatever else is going on.
    let drifted = !in_place(spec, endpoint);
    let mut modify = if drifted {
        drift(spec, endpoint)
    } else {
        ModifyEndpoint {
            endpoint_id: endpoint.id.clone(),
            ..Default::default()
        }
    };
    if drifted {
        if let Some(problem) = placement_problem(desired, o, service, false) {
            return here(Phase::Failed, problem);
        }
        if o.network.is_none() {
            return here(
                Phase::Pending,
                "waiting to check the VPC before correcting subnets and security groups".into(),
            );
        }
    }

    let mut plan = match &o.connection {
        None => {
            let mut p = here(
                Phase::Initiating,
                "registering the endpoint with TiDB Cloud".into(),
            );
            p.actions.push(Action::RegisterConnection {
                cluster_id: cluster_id.into(),
                node_group_id: node_group_id.clone(),
                endpoint_id: Some(endpoint.id.clone()),
            });
            p
        }
        Some(c) => match c.state {
            ConnectionState::Failed => {
                return failed_connection(desired, o, c);
            }
            ConnectionState::Deleting => here(
                Phase::Initiating,
                "the TiDB Cloud connection is being deleted; it will be registered again".into(),
            ),
            ConnectionState::Pending | ConnectionState::Discovered
                if endpoint.state != EndpointState::Available =>
            {
                here(
                    Phase::Initiating,
                    "TiDB Cloud is verifying the endpoint".into(),
                )
            }
            // TiDB Cloud accepted; AWS shows `pending` while it applies acceptance or a change.
            ConnectionState::Active if endpoint.state == EndpointState::Pending => here(
                Phase::Pending,
                "AWS is applying a change to the endpoint (pending)".into(),
            ),
            ConnectionState::Active if endpoint.state != EndpointState::Available => here(
                Phase::Initiating,
                format!(
                    "waiting for AWS to accept the endpoint ({})",
                    endpoint.state
                ),
            ),
            // Available in AWS: the service accepted the endpoint. Private DNS goes on now, as
            // soon as that is seen (TiDB Cloud's own word may come a little later: its budget
            // is too dear to ask it every pass).
            confirmed => {
                let confirmed = confirmed == ConnectionState::Active;
                if endpoint.private_dns_enabled != spec.private_dns {
                    let problem = o
                        .network
                        .as_ref()
                        .and_then(|n| dns_problem(n, &endpoint.vpc_id));
                    if let Some(problem) = problem.filter(|_| spec.private_dns) {
                        return here(Phase::Failed, problem);
                    }
                    modify.private_dns_enabled = Some(spec.private_dns);
                    let verb = if spec.private_dns {
                        "enabling"
                    } else {
                        "disabling"
                    };
                    here(Phase::Pending, format!("{verb} private DNS"))
                } else if drifted {
                    here(
                        Phase::Pending,
                        "correcting subnets and security groups".into(),
                    )
                } else if !confirmed {
                    here(
                        Phase::Initiating,
                        "accepted in AWS; waiting for TiDB Cloud to show the connection ACTIVE"
                            .into(),
                    )
                } else {
                    here(Phase::Active, String::new())
                }
            }
        },
    };
    if drifted || modify.private_dns_enabled.is_some() {
        let modifies =
            split_subnet_swap(modify)
                .into_iter()
                .map(|request| Action::ModifyVpcEndpoint {
                    scope: scope.clone(),
                    request,
                });
        plan.actions.splice(0..0, modifies);
    }
    plan
}

/// A subnet swapped for another in the same zone cannot be added while the old one is still
/// there (one subnet per zone): the removal goes first, in a call of its own.
fn split_subnet_swap(modify: ModifyEndpoint) -> Vec<ModifyEndpoint> {
    if modify.remove_subnet_ids.is_empty() || modify.add_subnet_ids.is_empty() {
        return vec![modify];
    }
    let add = ModifyEndpoint {
        endpoint_id: modify.endpoint_id.clone(),
        add_subnet_ids: modify.add_subnet_ids.clone(),
        private_dns_enabled: modify.private_dns_enabled,
        ..ModifyEndpoint::default()
    };
    let remove = ModifyEndpoint {
        add_subnet_ids: Vec::new(),
        private_dns_enabled: None,
        ..modify
    };
    vec![remove, add]
}

/// Takes over an existing endpoint named by `endpointId`.
fn adopt(
    desired: &Desired<'_>,
    o: &Observed,
    service: &Service,
    scope: &Scope,
    wanted: &str,
    owner_id: &str,
) -> EndpointPlan {
    let name = desired.doc.metadata.name.as_str();
    if !o.adoptee_checked {
        return EndpointPlan::new(
            name,
            Phase::NotConfigured,
            format!("waiting to look up {wanted}"),
        );
    }
    let Some(e) = o
        .adoptee
        .as_ref()
        .filter(|e| e.state != EndpointState::Deleted)
    else {
        return EndpointPlan::new(
            name,
            Phase::Failed,
            format!(
                "VPC endpoint {wanted} does not exist in {} (account {})",
                scope.region, scope.account
            ),
        );
    };
    if e.service_name != service.name {
        return EndpointPlan::new(
            name,
            Phase::Failed,
            format!(
                "VPC endpoint {wanted} connects to {}, not to the cluster's service {}",
                e.service_name, service.name
            ),
        );
    }
    if let Some(other) = ownership::owner_of(e).filter(|o| *o != owner_id) {
        return EndpointPlan::new(
            name,
            Phase::Failed,
            format!("VPC endpoint {wanted} is owned by privatelinkd instance {other}"),
        );
    }
    let mut plan = EndpointPlan::new(name, Phase::NotConfigured, format!("adopting {wanted}"));
    plan.actions.push(Action::Tag {
        scope: scope.clone(),
        endpoint_id: wanted.to_string(),
        tags: ownership::ownership_tags(desired, owner_id),
        purpose: TagPurpose::Adopt,
    });
    plan
}

fn create_action(
    desired: &Desired<'_>,
    service: &Service,
    scope: &Scope,
    owner_id: &str,
) -> Action {
    let aws = &desired.doc.spec.aws;
    let tags = ownership::creation_tags(desired, owner_id);
    let subnet_ids: Vec<String> = aws.subnet_ids.iter().map(ToString::to_string).collect();
    let request = CreateEndpoint {
        vpc_id: aws.vpc_id.to_string(),
        service_name: service.name.clone(),
        subnet_ids: subnet_ids.clone(),
        security_group_ids: aws
            .security_group_ids
            .iter()
            .map(ToString::to_string)
            .collect(),
        client_token: ownership::client_token(owner_id, desired.doc, &service.name),
        tags,
    };
    Action::CreateVpcEndpoint {
        scope: scope.clone(),
        vpc_id: request.vpc_id.clone(),
        subnet_ids,
        request,
    }
}

/// TiDB Cloud marked the connection FAILED: say why and what to do, and when its retry is
/// due, delete it (the next pass registers the same VPC endpoint again).
fn failed_connection(desired: &Desired<'_>, o: &Observed, c: &Connection) -> EndpointPlan {
    let name = desired.doc.metadata.name.as_str();
    let why = if c.message.is_empty() {
        "no reason given".to_string()
    } else {
        c.message.clone()
    };
    let command = format!("privatelinkd retry {name} --config FILE");
    match &o.retry {
        Some(retry) if retry.due => {
            let mut plan = EndpointPlan::new(
                name,
                Phase::Initiating,
                format!(
                    "TiDB Cloud marked the connection FAILED ({why}); retrying: deleting it to \
                     register the endpoint again"
                ),
            );
            plan.actions.push(Action::DeleteConnection {
                connection: c.clone(),
                connection_id: c.id.clone(),
            });
            plan.retrying = true;
            plan
        }
        retry => {
            let next = retry.as_ref().map_or(String::new(), |r| {
                format!(
                    "; next automatic retry at {}",
                    humantime::format_rfc3339_seconds(r.next_at)
                )
            });
            EndpointPlan::new(
                name,
                Phase::Failed,
                format!(
                    "TiDB Cloud marked the connection FAILED: {why}. Check that the VPC endpoint's \
                     account is allowed by the service and its subnets sit in the service's \
                     zones{next}, or retry now with `{command}`"
                ),
            )
        }
    }
}

/// Connections left by VPC endpoints AWS no longer has (deleted in the console) can serve
/// nothing: they are deleted, unless the document says privatelinkd deletes nothing (`Orphan`);
/// then the message says which to delete by hand. They go last: an endpoint's actions stop at
/// the first failure, and a cleanup that fails must not hold back the replacement.
fn clear_stale(plan: &mut EndpointPlan, policy: DeletionPolicy, stale: &[Connection]) {
    let ids: Vec<String> = stale
        .iter()
        .map(|c| format!("{} (of {})", c.id, c.endpoint_id))
        .collect();
    let said = match policy {
        DeletionPolicy::Delete => {
            let deletes = stale.iter().map(|c| Action::DeleteConnection {
                connection: c.clone(),
                connection_id: c.id.clone(),
            });
            plan.actions.extend(deletes);
            format!(
                "deleting TiDB Cloud connection {}: AWS no longer has its VPC endpoint",
                ids.join(", ")
            )
        }
        DeletionPolicy::Orphan => format!(
            "TiDB Cloud connection {} has no VPC endpoint in AWS any more and is left in place \
             (deletionPolicy: Orphan): delete it in the TiDB Cloud console",
            ids.join(", ")
        ),
    };
    plan.message = if plan.message.is_empty() {
        said
    } else {
        format!("{}; {said}", plan.message)
    };
}

/// Where a document's AWS calls go: its account and region.
pub fn scope_of(spec: &EndpointSpec) -> Scope {
    Scope {
        account: spec.aws.account.to_string(),
        region: spec.aws.region.to_string(),
    }
}
