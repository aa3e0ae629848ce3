//! The endpoint's rows: while there is none, adopt the one the document names (any cloud) or
//! create one (AWS: a VPC endpoint; Google Cloud's create is `psc.rs`); once there is one,
//! whether its cloud still serves it (any cloud), where it is, and whether its subnets and
//! security groups can be corrected (AWS).

use super::super::placement::placement_problem;
use super::super::{
    Action, EndpointPlan, LeaveKind, Leaving, Phase, TagPurpose, ownership, removal,
};
use super::Situation;
use crate::cloud::{
    CloudEndpoint, ConsumerEndpoint, CreateEndpoint, EndpointState, Lifecycle, Service, VpcEndpoint,
};
use crate::spec::DeletionPolicy;

/// The endpoint the document names while it is not ours yet (none of ours observed).
fn adopting<'a>(s: &Situation<'a>) -> Option<&'a str> {
    match (s.endpoint, s.spec.adopts()) {
        (None, Some(wanted)) => Some(wanted),
        _ => None,
    }
}

/// The adoptee as described by ID: one AWS shows as deleted is as good as none.
fn adoptee<'a>(s: &Situation<'a>) -> Option<&'a CloudEndpoint> {
    s.o.adoptee
        .as_ref()
        .filter(|e| e.aws().is_none_or(|e| e.state != EndpointState::Deleted))
}

/// What people call the endpoint in the document's cloud.
fn kind(s: &Situation<'_>) -> &'static str {
    match s.spec.cloud() {
        crate::cloud::CloudKind::Aws => "VPC endpoint",
        crate::cloud::CloudKind::Gcp => "Private Service Connect endpoint",
        crate::cloud::CloudKind::Azure => "private endpoint",
    }
}

/// An endpoint not ours yet is described by ID, which comes a pass after the document.
pub(super) fn adoptee_not_looked_up(s: &Situation<'_>) -> Option<EndpointPlan> {
    let wanted = adopting(s)?;
    (!s.o.adoptee_checked)
        .then(|| s.here(Phase::NotConfigured, format!("waiting to look up {wanted}")))
}

/// A mistyped ID, or the wrong account or region: never create one in its place, since the
/// user asked for that one.
pub(super) fn adoptee_missing(s: &Situation<'_>) -> Option<EndpointPlan> {
    let wanted = adopting(s)?;
    adoptee(s).is_none().then(|| {
        s.here(
            Phase::Failed,
            format!(
                "{} {wanted} does not exist in {} ({} {})",
                kind(s),
                s.scope.region,
                match s.spec.cloud() {
                    crate::cloud::CloudKind::Aws => "account",
                    crate::cloud::CloudKind::Gcp => "project",
                    crate::cloud::CloudKind::Azure => "subscription",
                },
                s.scope.account
            ),
        )
    })
}

/// An endpoint to some other service would never reach this cluster.
pub(super) fn adoptee_on_another_service(s: &Situation<'_>) -> Option<EndpointPlan> {
    let wanted = adopting(s)?;
    let (e, service) = (adoptee(s)?, s.service?);
    (e.service() != service.name).then(|| {
        s.here(
            Phase::Failed,
            format!(
                "{} {wanted} connects to {}, not to the cluster's service {}",
                kind(s),
                e.service(),
                service.name
            ),
        )
    })
}

/// Another privatelinkd instance manages it: taking it would make two owners fight over it.
pub(super) fn adoptee_owned_by_another(s: &Situation<'_>) -> Option<EndpointPlan> {
    let wanted = adopting(s)?;
    let e = adoptee(s)?;
    let other = ownership::owner_of(e).filter(|_| !ownership::owned_by(e, s.owner_id))?;
    Some(s.here(
        Phase::Failed,
        format!(
            "{} {wanted} is owned by privatelinkd instance {other}",
            kind(s)
        ),
    ))
}

/// An endpoint made by hand or by other tooling becomes ours by our tags; from the next pass
/// it is observed as ours and goes through the rows below.
pub(super) fn adopt(s: &Situation<'_>) -> Option<EndpointPlan> {
    let wanted = adopting(s)?;
    let mut plan = s.here(Phase::NotConfigured, format!("adopting {wanted}"));
    plan.actions.push(Action::Tag {
        scope: s.scope.clone(),
        endpoint_id: wanted.to_string(),
        tags: ownership::ownership_tags(s.desired, s.owner_id),
        purpose: TagPurpose::Adopt,
    });
    Some(plan)
}

/// A VPC, subnet or security group that is missing or elsewhere, a zone the service does not
/// offer, two subnets in a zone, private DNS in a VPC without DNS: AWS would refuse the create
/// with less to go on, so the plan says which and why first.
pub(super) fn placement_fails_before_create(s: &Situation<'_>) -> Option<EndpointPlan> {
    s.aws?;
    if s.endpoint.is_some() {
        return None;
    }
    let problem = placement_problem(s.desired, s.o, s.service?, true)?;
    Some(s.here(Phase::Failed, problem))
}

/// The VPC is looked up only when a create needs checking: no create on an unchecked VPC.
pub(super) fn vpc_not_checked_before_create(s: &Situation<'_>) -> Option<EndpointPlan> {
    s.aws?;
    (s.endpoint.is_none() && s.o.network.is_none())
        .then(|| s.here(Phase::NotConfigured, "waiting to check the VPC"))
}

/// No endpoint and nothing against one: create it and register it with TiDB Cloud in the same
/// pass (the registration takes the new endpoint's ID from the create).
pub(super) fn create(s: &Situation<'_>) -> Option<EndpointPlan> {
    s.aws?;
    if s.endpoint.is_some() {
        return None;
    }
    let service = s.service?;
    let node_group_id = s.o.node_group_id.as_ref()?;
    let mut plan = s.here(Phase::NotConfigured, "creating the VPC endpoint");
    plan.recreating = s.o.recreating;
    plan.actions.push(create_action(s, service));
    plan.actions.push(Action::RegisterConnection {
        cluster_id: s.cluster_id.into(),
        node_group_id: node_group_id.clone(),
        endpoint_id: None,
        private_ip: None,
    });
    Some(plan)
}

fn create_action(s: &Situation<'_>, service: &Service) -> Action {
    let aws = s.aws.expect("only AWS rows create VPC endpoints");
    let tags = ownership::creation_tags(s.desired, s.owner_id);
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
        client_token: ownership::client_token(s.owner_id, s.desired.doc, &service.name),
        tags,
    };
    Action::CreateVpcEndpoint {
        scope: s.scope.clone(),
        vpc_id: request.vpc_id.clone(),
        subnet_ids,
        request,
    }
}

/// The cloud gave up on the endpoint (AWS: failed, rejected by the service, expired
/// unaccepted; Google Cloud: rejected, closed): it will not serve again. A person deletes it;
/// then a new one is created.
pub(super) fn broken(s: &Situation<'_>) -> Option<EndpointPlan> {
    let e = s.endpoint?;
    (e.lifecycle() == Lifecycle::Broken).then(|| {
        s.here(
            Phase::Failed,
            format!(
                "{} {} is {} in {}; delete it in the console and privatelinkd creates a new one",
                kind(s),
                e.id(),
                state_word(e),
                s.spec.cloud().title()
            ),
        )
    })
}

/// The endpoint's own state in its cloud's words (`pendingAcceptance`; `PENDING`).
pub(super) fn state_word(e: &CloudEndpoint) -> String {
    match e {
        CloudEndpoint::Aws(e) => e.state.to_string(),
        CloudEndpoint::Gcp(e) => e
            .status()
            .map_or("being created", |status| status.as_str())
            .to_string(),
        CloudEndpoint::Azure(e) => format!("{:?}, {:?}", e.provisioning_state, e.link_status),
    }
}

/// AWS is deleting the endpoint: nothing to do to it now, and once it is gone the rows above
/// create a new one.
pub(super) fn being_deleted(s: &Situation<'_>) -> Option<EndpointPlan> {
    let e = s.endpoint?;
    (e.lifecycle() == Lifecycle::Going).then(|| {
        s.here(
            Phase::Deleting,
            format!(
                "{} {} is being deleted; a new one will be created",
                kind(s),
                e.id()
            ),
        )
    })
}

/// What is wrong with the endpoint's place, when the document now asks for another VPC or
/// cluster (service): an endpoint cannot move, it can only be replaced.
fn moved_from<'a>(s: &Situation<'a>) -> Option<(&'a VpcEndpoint, String)> {
    let (e, service) = (s.vpce?, s.service?);
    let vpc_id = s.aws?.vpc_id.as_str();
    (e.service_name != service.name || e.vpc_id != vpc_id).then(|| {
        let moved = format!(
            "VPC endpoint {} connects {} to {}, but the document asks for {vpc_id} to {}",
            e.id, e.vpc_id, e.service_name, service.name
        );
        (e, moved)
    })
}

/// Where the endpoint is not where the document (or the cluster's service) says, in words;
/// AWS's or Google Cloud's (`psc.rs`) comparison.
fn moved_any(s: &Situation<'_>) -> Option<String> {
    moved_from(s)
        .map(|(_, moved)| moved)
        .or_else(|| super::psc::moved_from(s))
        .or_else(|| super::azure::moved_from(s))
}

/// An adopted endpoint is the user's own, named by ID: it is never replaced; the document
/// has to agree with it.
pub(super) fn adopted_moved(s: &Situation<'_>) -> Option<EndpointPlan> {
    let moved = moved_any(s)?;
    s.spec.adopts().is_some().then(|| {
        s.here(
            Phase::Failed,
            format!("{moved}; an adopted endpoint is not replaced: fix endpointId or remove it"),
        )
    })
}

/// The document moved to another VPC or cluster: the old endpoint leaves as the document's
/// deletion policy says (a departure the mass-deletion guard counts), and once it is gone
/// the rows above create the new one.
pub(super) fn moved(s: &Situation<'_>) -> Option<EndpointPlan> {
    let moved = moved_any(s)?;
    let e = s.endpoint?;
    let (kind, message, actions) = match s.spec.deletion_policy {
        DeletionPolicy::Delete => (
            LeaveKind::Replace,
            format!("{moved}; replacing it"),
            removal::delete_actions(&s.scope, s.endpoint?, s.connection),
        ),
        DeletionPolicy::Orphan => (
            LeaveKind::ReplaceOrphan,
            format!(
                "{moved}; leaving it in place without privatelinkd's tags \
                 (deletionPolicy: Orphan) and creating a new one"
            ),
            vec![Action::Untag {
                scope: s.scope.clone(),
                endpoint_id: e.id().to_string(),
                keys: ownership::our_keys(e),
                purpose: TagPurpose::Orphan,
            }],
        ),
    };
    let mut plan = s.here(Phase::Deleting, message);
    plan.actions = actions;
    plan.leaving = Some(Leaving {
        kind,
        endpoint_id: e.id().to_string(),
        file: None,
    });
    Some(plan)
}

/// Subnets or groups changed (in the document or by hand) to ones AWS would refuse: say
/// which and why instead of a modify that fails.
pub(super) fn drift_fails_placement(s: &Situation<'_>) -> Option<EndpointPlan> {
    if !s.drifted || s.aws.is_none() {
        return None;
    }
    let problem = placement_problem(s.desired, s.o, s.service?, false)?;
    Some(s.here(Phase::Failed, problem))
}

/// The VPC is looked up only when a correction needs checking: no modify on an unchecked VPC.
pub(super) fn vpc_not_checked_before_correcting(s: &Situation<'_>) -> Option<EndpointPlan> {
    (s.drifted && s.o.network.is_none()).then(|| {
        s.here(
            Phase::Pending,
            "waiting to check the VPC before correcting subnets and security groups",
        )
    })
}
