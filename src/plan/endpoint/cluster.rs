//! The first rows: the cluster (known, on AWS, where the document says, serving), its node
//! group and its private link service. Until these hold, no VPC endpoint is touched.

use super::super::placement::placement_problem;
use super::super::{EndpointPlan, Phase};
use super::Situation;
use crate::cloud::ServiceState;

/// A new document, or a lookup that failed for a moment: nothing is known to act on yet.
pub(super) fn not_looked_up(s: &Situation<'_>) -> Option<EndpointPlan> {
    s.o.cluster
        .is_none()
        .then(|| s.here(Phase::NotConfigured, "waiting to look up the cluster"))
}

/// TiDB Cloud answered for good (no such cluster, no rights to it): its answer is what the
/// user has to fix.
pub(super) fn lookup_failed(s: &Situation<'_>) -> Option<EndpointPlan> {
    let Some(Err(why)) = &s.o.cluster else {
        return None;
    };
    Some(s.here(Phase::Failed, why.clone()))
}

/// A private endpoint reaches a cluster in its own cloud only (AWS PrivateLink, Google
/// Cloud Private Service Connect): the document's block must be the cluster's cloud.
pub(super) fn on_another_cloud(s: &Situation<'_>) -> Option<EndpointPlan> {
    let cluster = s.cluster?;
    let cloud = s.spec.cloud();
    (cluster.cloud_provider != cloud.as_str()).then(|| {
        s.here(
            Phase::Failed,
            format!(
                "cluster {} runs on {}, but the document has a `{}` block; write the endpoint in the cluster's cloud",
                s.cluster_id, cluster.cloud_provider, cloud.as_str()
            ),
        )
    })
}

/// The cluster's service is regional (an endpoint service; a service attachment): an
/// endpoint in another region cannot connect to it.
pub(super) fn in_another_region(s: &Situation<'_>) -> Option<EndpointPlan> {
    let cluster = s.cluster?;
    let (region, cloud) = (&s.scope.region, s.spec.cloud().as_str());
    (cluster.region != *region).then(|| {
        s.here(
            Phase::Failed,
            format!(
                "cluster {} is in {} but spec.{cloud}.region is {region}; private endpoints do not cross regions: use a network in {}",
                s.cluster_id, cluster.region, cluster.region
            ),
        )
    })
}

/// `projectId` is optional (it is looked up from the cluster): one that is not the cluster's
/// is a mistake in the document, not something to guess around.
pub(super) fn in_another_project(s: &Situation<'_>) -> Option<EndpointPlan> {
    let cluster = s.cluster?;
    let project = s.spec.tidb_cloud.project_id.as_ref()?;
    (project.as_str() != cluster.project_id).then(|| {
        s.here(
            Phase::Failed,
            format!(
                "spec.tidbCloud.projectId is {project}, but cluster {} belongs to project {}: fix projectId, or remove it (it is looked up from the cluster)",
                s.cluster_id, cluster.project_id
            ),
        )
    })
}

/// A paused cluster (or one on its way back) takes nothing that needs it: what the endpoint
/// shows stays as it was (uncertain), and activity resumes by itself once it serves again.
pub(super) fn not_serving(s: &Situation<'_>) -> Option<EndpointPlan> {
    let cluster = s.cluster?;
    if cluster.state.is_available() {
        return None;
    }
    let mut plan = s.here(
        Phase::NotConfigured,
        format!(
            "cluster {} is {}: nothing is done until it is ACTIVE again",
            s.cluster_id,
            cluster.state.as_str()
        ),
    );
    plan.uncertain = true;
    Some(plan)
}

/// A registration names the TiDB node group, looked up after the cluster.
pub(super) fn node_group_not_looked_up(s: &Situation<'_>) -> Option<EndpointPlan> {
    s.o.node_group_id.is_none().then(|| {
        s.here(
            Phase::NotConfigured,
            "waiting to look up the TiDB node group",
        )
    })
}

/// The service names what an endpoint connects to, and its zones where it may be placed.
pub(super) fn service_not_looked_up(s: &Situation<'_>) -> Option<EndpointPlan> {
    s.service.is_none().then(|| {
        s.here(
            Phase::NotConfigured,
            "waiting to look up the private link service",
        )
    })
}

/// A create is coming once the service is ready, and the service already knows its zones: a
/// placement the create would fail on is said now, not minutes later.
pub(super) fn placement_fails_early(s: &Situation<'_>) -> Option<EndpointPlan> {
    let service = s.service?;
    if service.state != ServiceState::Creating || s.endpoint.is_some() || s.spec.adopts().is_some()
    {
        return None;
    }
    let problem = placement_problem(s.desired, s.o, service, true)?;
    Some(s.here(Phase::Failed, problem))
}

/// A new cluster's service takes a while: nothing can connect to it before it is Active.
pub(super) fn service_being_created(s: &Situation<'_>) -> Option<EndpointPlan> {
    (s.service?.state == ServiceState::Creating).then(|| {
        s.here(
            Phase::NotConfigured,
            "the cluster's private link service is being created",
        )
    })
}

/// Nothing can connect to a service on its way out: the endpoint shows it, and waits.
pub(super) fn service_being_deleted(s: &Situation<'_>) -> Option<EndpointPlan> {
    (s.service?.state == ServiceState::Deleting).then(|| {
        s.here(
            Phase::Deleting,
            "the cluster's private link service is being deleted",
        )
    })
}
