//! One desired endpoint: where it stands and what to do next. The decision is `RULES`, the
//! decision table in `plan`'s documentation row by row, each row a small rule in `endpoint/`
//! (`cluster.rs`, `vpce.rs`, `connection.rs`); `plan_endpoint` then adds what goes with any
//! decision (tags brought up to date, stale connections, suspension, a partial observation).

mod azure;
mod cluster;
mod connection;
mod psc;
mod vpce;

use super::placement::{drift, in_place};
use super::{Action, Desired, EndpointPlan, Observed, Phase, TagPurpose, conditions, ownership};
use crate::cloud::gcp::PscEndpoint;
use crate::cloud::{
    CloudEndpoint, Cluster, Connection, ConsumerEndpoint, ModifyEndpoint, Scope, Service,
    ServiceState, VpcEndpoint,
};
use crate::spec::{AwsSide, DeletionPolicy, EndpointSpec, GcpSide, Side};

/// Where one desired endpoint stands and what to do next.
pub fn plan_endpoint(desired: &Desired<'_>, observed: &Observed, owner_id: &str) -> EndpointPlan {
    let doc = desired.doc;
    let name = doc.metadata.name.as_str();
    let spec = &doc.spec;
    let mut plan = decide(desired, observed, owner_id);
    plan.conditions = conditions::conditions(desired, observed);
    if let Some(endpoint) = &observed.endpoint
        && plan.leaving.is_none()
        && !endpoint.is_going()
    {
        // The tags say what the latest document says (its policy, file and labels), from the
        // pass that first sees a change: a removal later does what the document said last.
        let scope = scope_of(spec);
        let (write, drop) = ownership::tag_drift(desired, owner_id, endpoint);
        let mut retag = Vec::new();
        if !write.is_empty() {
            retag.push(Action::Tag {
                scope: scope.clone(),
                endpoint_id: endpoint.id().to_string(),
                tags: write,
                purpose: TagPurpose::Correct,
            });
        }
        if !drop.is_empty() {
            retag.push(Action::Untag {
                scope,
                endpoint_id: endpoint.id().to_string(),
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
        hold_create_for_same_id(&mut plan, desired.doc, &observed.stale_connections);
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

/// One row of the decision table: a plan when the rule applies, `None` to pass the endpoint
/// on to the next row.
struct Rule {
    /// What a test failure or a reader calls the row.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "only the tests ask which rule decided")
    )]
    name: &'static str,
    decide: fn(&Situation<'_>) -> Option<EndpointPlan>,
}

const fn rule(name: &'static str, decide: fn(&Situation<'_>) -> Option<EndpointPlan>) -> Rule {
    Rule { name, decide }
}

/// The decision table for one desired endpoint (the console's steps in `plan`'s diagram), read
/// top to bottom: the first rule that applies decides. A rule may take for granted that none
/// above it applied (a cluster was found, the service is Active, the endpoint exists, ...):
/// the order is part of each rule's condition.
#[rustfmt::skip]
const RULES: &[Rule] = &[
    // The cluster: known, in the document's cloud and region, serving.
    rule("cluster not looked up yet",               cluster::not_looked_up),
    rule("cluster lookup failed",                   cluster::lookup_failed),
    rule("cluster on another cloud",                cluster::on_another_cloud),
    rule("cluster in another region",               cluster::in_another_region),
    rule("cluster in another project",              cluster::in_another_project),
    rule("cluster not serving",                     cluster::not_serving),
    rule("node group not looked up yet",            cluster::node_group_not_looked_up),
    // Its private link service: Active.
    rule("service not looked up yet",               cluster::service_not_looked_up),
    rule("service being created, placement fails",  cluster::placement_fails_early),
    rule("service being created",                   cluster::service_being_created),
    rule("service being deleted",                   cluster::service_being_deleted),
    // No endpoint yet: adopt the one the document names, or create one.
    rule("adoptee not looked up yet",               vpce::adoptee_not_looked_up),
    rule("adoptee missing",                         vpce::adoptee_missing),
    rule("adoptee on another service",              vpce::adoptee_on_another_service),
    rule("adoptee owned by another instance",       vpce::adoptee_owned_by_another),
    rule("adopt",                                   vpce::adopt),
    rule("placement fails before a create",         vpce::placement_fails_before_create),
    rule("VPC not checked before a create",         vpce::vpc_not_checked_before_create),
    rule("create",                                  vpce::create),
    // Google Cloud: an address, then a forwarding rule, each checked first.
    rule("network fails before a create",           psc::placement_fails_before_create),
    rule("network not checked before a create",     psc::network_not_checked_before_create),
    rule("create, or finish creating, on Google Cloud", psc::create),
    // Azure: one PUT, the subnet checked first.
    rule("subnet fails before a create",            azure::subnet_fails_before_create),
    rule("subnet not checked before a create",      azure::subnet_not_checked_before_create),
    rule("create on Azure",                         azure::create),
    // The endpoint: alive, where the document says, with its subnets and groups.
    rule("endpoint broken in its cloud",            vpce::broken),
    rule("endpoint being deleted",                  vpce::being_deleted),
    rule("adopted endpoint moved",                  vpce::adopted_moved),
    rule("endpoint moved",                          vpce::moved),
    rule("drift correction fails placement",        vpce::drift_fails_placement),
    rule("VPC not checked before correcting drift", vpce::vpc_not_checked_before_correcting),
    // The connection: registered, accepted on both sides; then private DNS and drift.
    rule("not registered",                          connection::not_registered),
    rule("connection failed, retry due",            connection::failed_retry_due),
    rule("connection failed",                       connection::failed),
    rule("connection being deleted",                connection::being_deleted),
    rule("TiDB Cloud verifying",                    connection::tidb_verifying),
    rule("AWS applying a change",                   connection::aws_applying_change),
    rule("the cloud accepting",                     connection::cloud_accepting),
    rule("private DNS blocked by the VPC",          connection::private_dns_blocked),
    rule("private DNS to change",                   connection::private_dns_to_change),
    rule("drift to correct",                        connection::drift_to_correct),
    rule("TiDB Cloud's ACTIVE not seen yet",        connection::awaiting_tidb_active),
];

fn decide(desired: &Desired<'_>, o: &Observed, owner_id: &str) -> EndpointPlan {
    let s = Situation::new(desired, o, owner_id);
    RULES
        .iter()
        .find_map(|rule| (rule.decide)(&s))
        .unwrap_or_else(|| connection::converged(&s))
}

/// The names of the rules, in the table's order.
#[cfg(test)]
pub(super) fn rule_names() -> impl Iterator<Item = &'static str> {
    RULES.iter().map(|rule| rule.name)
}

/// The rule that decides, `None` for an endpoint past every rule (converged).
#[cfg(test)]
pub(super) fn deciding_rule(
    desired: &Desired<'_>,
    o: &Observed,
    owner_id: &str,
) -> Option<&'static str> {
    let s = Situation::new(desired, o, owner_id);
    RULES
        .iter()
        .find(|rule| (rule.decide)(&s).is_some())
        .map(|rule| rule.name)
}

/// What the rules read: the document, the observation, and what they all ask of them, worked
/// out once.
struct Situation<'a> {
    desired: &'a Desired<'a>,
    o: &'a Observed,
    owner_id: &'a str,
    spec: &'a EndpointSpec,
    name: &'a str,
    cluster_id: &'a str,
    /// Where the endpoint's cloud calls go.
    scope: Scope,
    /// The document's cloud block: exactly one is `Some`.
    aws: Option<&'a AwsSide>,
    gcp: Option<&'a GcpSide>,
    /// The cluster, when TiDB Cloud found it.
    cluster: Option<&'a Cluster>,
    service: Option<&'a Service>,
    /// Ours, or the one the document names once adopted.
    endpoint: Option<&'a CloudEndpoint>,
    /// The same, when it is AWS's (the AWS rows read it).
    vpce: Option<&'a VpcEndpoint>,
    /// The same, when it is Google Cloud's.
    psc: Option<&'a PscEndpoint>,
    connection: Option<&'a Connection>,
    /// The endpoint's subnets or security groups are not the document's (false without an
    /// endpoint).
    drifted: bool,
}

impl<'a> Situation<'a> {
    fn new(desired: &'a Desired<'a>, o: &'a Observed, owner_id: &'a str) -> Self {
        let spec = &desired.doc.spec;
        let endpoint = o.endpoint.as_ref();
        let vpce = endpoint.and_then(CloudEndpoint::aws);
        Situation {
            desired,
            o,
            owner_id,
            spec,
            name: desired.doc.metadata.name.as_str(),
            cluster_id: spec.tidb_cloud.cluster_id.as_str(),
            scope: scope_of(spec),
            aws: spec.aws(),
            gcp: spec.gcp(),
            cluster: o.cluster.as_ref().and_then(|c| c.as_deref().ok()),
            service: o.service.as_deref(),
            endpoint,
            vpce,
            psc: endpoint.and_then(CloudEndpoint::gcp),
            connection: o.connection.as_deref(),
            drifted: match (spec.aws(), vpce) {
                (Some(aws), Some(e)) => !in_place(aws, e),
                _ => false,
            },
        }
    }

    fn here(&self, phase: Phase, message: impl Into<String>) -> EndpointPlan {
        EndpointPlan::new(self.name, phase, message)
    }

    /// `plan`, led by the modify that puts the endpoint's subnets and security groups back as
    /// the document says, and sets private DNS when `private_dns` says to: drift is corrected
    /// in place whatever else the endpoint is waiting for.
    fn correcting(&self, mut plan: EndpointPlan, private_dns: Option<bool>) -> EndpointPlan {
        let (Some(endpoint), Some(aws)) = (self.vpce, self.aws) else {
            return plan;
        };
        if !self.drifted && private_dns.is_none() {
            return plan;
        }
        let mut modify = drift(aws, endpoint);
        modify.private_dns_enabled = private_dns;
        let modifies =
            split_subnet_swap(modify)
                .into_iter()
                .map(|request| Action::ModifyVpcEndpoint {
                    scope: self.scope.clone(),
                    request,
                });
        plan.actions.splice(0..0, modifies);
        plan
    }
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
                "deleting TiDB Cloud connection {}: its endpoint is gone from its cloud",
                ids.join(", ")
            )
        }
        DeletionPolicy::Orphan => format!(
            "TiDB Cloud connection {} has no endpoint in its cloud any more and is left in place \
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

/// Azure and Google Cloud name an endpoint by its name: one made again has the gone one's ID,
/// so the gone one's connection must go first (deleted after, it would take the new
/// endpoint's registration with it). The create waits a pass for that delete.
fn hold_create_for_same_id(
    plan: &mut EndpointPlan,
    doc: &crate::spec::EndpointDocument,
    stale: &[Connection],
) {
    let name = &doc.metadata.name;
    let new_id = match &doc.spec.side {
        Side::Aws(_) => return, // EC2 never gives an ID twice
        Side::Gcp(gcp) => gcp.endpoint_name(name).to_string(),
        Side::Azure(azure) => azure.endpoint_id(name),
    };
    if doc.spec.deletion_policy != DeletionPolicy::Delete
        || !stale
            .iter()
            .any(|c| c.endpoint_id.eq_ignore_ascii_case(&new_id))
    {
        return;
    }
    let creates = |a: &Action| {
        matches!(
            a,
            Action::CreateAzureEndpoint { .. } | Action::CreatePscEndpoint { .. }
        )
    };
    if plan.actions.iter().any(creates) {
        plan.actions.retain(|a| !creates(a));
        plan.message = format!(
            "{}, once the gone endpoint's connection is deleted (the new one has its name)",
            plan.message
        );
    }
}

/// Where a document's cloud calls go: its cloud, account (project) and region.
pub fn scope_of(spec: &EndpointSpec) -> Scope {
    match &spec.side {
        Side::Aws(aws) => Scope::aws(aws.account.as_str(), aws.region.as_str()),
        Side::Gcp(gcp) => Scope::gcp(gcp.project.as_str(), gcp.region.as_str()),
        Side::Azure(azure) => Scope::azure(azure.subscription_id.as_str(), azure.location.as_str()),
    }
}
