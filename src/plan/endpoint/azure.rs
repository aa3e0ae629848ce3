//! Azure's rows: a private endpoint is one PUT (TiDB Cloud's Azure guide: a manual connection
//! to its Private Link service, from a subnet), checked first against the subnet as observed.
//! Once it exists the cloud-neutral rows take over: registration (with the private IP, read
//! from its network interface), acceptance (the connection's status maps onto the seam's
//! `Lifecycle`).

use super::super::{Action, EndpointPlan, Phase, ownership};
use super::Situation;
use crate::cloud::azure::PutPrivateEndpoint;

/// No endpoint, and none to adopt: a create is to come.
fn creating(s: &Situation<'_>) -> bool {
    s.endpoint.is_none() && s.spec.adopts().is_none()
}

/// A subnet that does not exist: Resource Manager would fail the operation a pass later with
/// less to go on.
pub(super) fn subnet_fails_before_create(s: &Situation<'_>) -> Option<EndpointPlan> {
    let azure = s.spec.azure()?;
    if !creating(s) || !s.o.azure_subnet_checked || s.o.azure_subnet.is_some() {
        return None;
    }
    Some(s.here(
        Phase::Failed,
        format!(
            "subnet {} does not exist (subscription {})",
            azure.subnet_id(),
            azure.subscription_id
        ),
    ))
}

/// The subnet is looked up only when a create needs checking: no create on an unchecked one.
pub(super) fn subnet_not_checked_before_create(s: &Situation<'_>) -> Option<EndpointPlan> {
    s.spec.azure()?;
    (creating(s) && !s.o.azure_subnet_checked)
        .then(|| s.here(Phase::NotConfigured, "waiting to check the subnet"))
}

/// One PUT; registration follows once the endpoint (and its private IP) exists.
pub(super) fn create(s: &Situation<'_>) -> Option<EndpointPlan> {
    let azure = s.spec.azure()?;
    if !creating(s) {
        return None;
    }
    let service = s.service?;
    let name = azure
        .endpoint_name(&s.desired.doc.metadata.name)
        .to_string();
    let subnet_id = azure.subnet_id();
    let mut plan = s.here(Phase::NotConfigured, "creating the private endpoint");
    plan.recreating = s.o.recreating;
    plan.actions.push(Action::CreateAzureEndpoint {
        scope: s.scope.clone(),
        request: PutPrivateEndpoint {
            subscription: azure.subscription_id.to_string(),
            resource_group: azure.resource_group.to_string(),
            name: name.clone(),
            location: azure.location.to_string(),
            subnet_id: subnet_id.clone(),
            service_id: service.name.clone(),
            request_message: format!(
                "privatelinkd {} for {}",
                s.owner_id, s.desired.doc.metadata.name
            ),
            tags: ownership::creation_tags(s.desired, s.owner_id),
        },
        name,
        subnet_id,
    });
    Some(plan)
}

/// What is not where the document (or the cluster's service) says: a private endpoint cannot
/// move to another subnet or service, only be replaced (the `moved` rows).
pub(super) fn moved_from(s: &Situation<'_>) -> Option<String> {
    let (azure, e, service) = (s.spec.azure()?, s.endpoint?.azure()?, s.service?);
    let mut what = Vec::new();
    if !e.service_id.eq_ignore_ascii_case(&service.name) {
        what.push(format!(
            "connects to {}, not the cluster's Private Link service {}",
            e.service_id, service.name
        ));
    }
    let subnet = azure.subnet_id();
    if !e.subnet_id.eq_ignore_ascii_case(&subnet) {
        what.push(format!("is in subnet {}, not {subnet}", e.subnet_id));
    }
    (!what.is_empty()).then(|| format!("private endpoint {} {}", e.name, what.join(", ")))
}
