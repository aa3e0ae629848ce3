//! The last rows: the endpoint registered with TiDB Cloud and accepted on both sides, then
//! private DNS and drift. From here on the endpoint exists where the document says, and its
//! subnets and security groups are corrected on the way (`Situation::correcting`).

use super::super::placement::dns_problem;
use super::super::{Action, EndpointPlan, Phase};
use super::Situation;
use super::vpce::state_word;
use crate::cloud::{CloudKind, ConnectionState, ConsumerEndpoint, Lifecycle};

/// TiDB Cloud does not know the endpoint yet (just created, adopted, or its connection was
/// deleted): register it.
pub(super) fn not_registered(s: &Situation<'_>) -> Option<EndpointPlan> {
    let e = s.endpoint?;
    // TiDB Cloud finds Azure endpoints by itself (DISCOVERED): ours to register all the same
    // (elsewhere DISCOVERED is TiDB Cloud verifying, waited on below).
    let discovered_here = e.azure().is_some()
        && s.connection
            .is_some_and(|c| c.state == ConnectionState::Discovered);
    if s.connection.is_some() && !discovered_here {
        return None;
    }
    // Azure's registration names the endpoint's private IP, read from its interface.
    let private_ip = match e.azure() {
        Some(a) => match &a.private_ip {
            Some(ip) => Some(ip.clone()),
            None => {
                return Some(s.here(
                    Phase::Initiating,
                    "waiting for the private endpoint's private IP",
                ));
            }
        },
        None => None,
    };
    let mut plan = s.here(
        Phase::Initiating,
        "registering the endpoint with TiDB Cloud",
    );
    plan.actions.push(Action::RegisterConnection {
        cluster_id: s.cluster_id.into(),
        node_group_id: s.o.node_group_id.clone()?,
        endpoint_id: Some(e.id().to_string()),
        private_ip,
    });
    Some(s.correcting(plan, None))
}

/// TiDB Cloud marked the connection FAILED and its retry is due (by the schedule, a changed
/// document, or a person's `retry`): delete it, and the next pass registers the same VPC
/// endpoint again.
pub(super) fn failed_retry_due(s: &Situation<'_>) -> Option<EndpointPlan> {
    let c = s
        .connection
        .filter(|c| c.state == ConnectionState::Failed)?;
    s.o.retry.as_ref().filter(|r| r.due)?;
    let mut plan = s.here(
        Phase::Initiating,
        format!(
            "TiDB Cloud marked the connection FAILED ({}); retrying: deleting it to \
             register the endpoint again",
            failure(&c.message)
        ),
    );
    plan.actions.push(Action::DeleteConnection {
        connection: c.clone(),
        connection_id: c.id.clone(),
    });
    plan.retrying = true;
    Some(plan)
}

/// TiDB Cloud marked the connection FAILED, most often for what only the user can fix: say
/// TiDB Cloud's reason, what to check, and when the next retry is (or how to retry now).
pub(super) fn failed(s: &Situation<'_>) -> Option<EndpointPlan> {
    let c = s
        .connection
        .filter(|c| c.state == ConnectionState::Failed)?;
    let next = s.o.retry.as_ref().map_or(String::new(), |r| {
        format!(
            "; next automatic retry at {}",
            humantime::format_rfc3339_seconds(r.next_at)
        )
    });
    let command = format!("privatelinkd retry {} --config FILE", s.name);
    Some(s.here(
        Phase::Failed,
        format!(
            "TiDB Cloud marked the connection FAILED: {}. {}{next}, or retry now with \
             `{command}`",
            failure(&c.message),
            match s.spec.cloud() {
                CloudKind::Aws =>
                    "Check that the VPC endpoint's account is allowed by the \
                                   service and its subnets sit in the service's zones",
                CloudKind::Gcp =>
                    "Check that the forwarding rule exists in the project \
                                   and region TiDB Cloud expects and targets its service \
                                   attachment",
                CloudKind::Azure =>
                    "Check that the private endpoint connects to TiDB Cloud's \
                                   Private Link service and that its private IP is the one \
                                   registered",
            }
        ),
    ))
}

fn failure(message: &str) -> &str {
    if message.is_empty() {
        "no reason given"
    } else {
        message
    }
}

/// A connection on its way out cannot be registered over: wait for it to go, then register
/// again.
pub(super) fn being_deleted(s: &Situation<'_>) -> Option<EndpointPlan> {
    (s.connection?.state == ConnectionState::Deleting).then(|| {
        s.correcting(
            s.here(
                Phase::Initiating,
                "the TiDB Cloud connection is being deleted; it will be registered again",
            ),
            None,
        )
    })
}

/// Registered, and TiDB Cloud is still checking the endpoint before AWS accepts it.
pub(super) fn tidb_verifying(s: &Situation<'_>) -> Option<EndpointPlan> {
    let (c, e) = (s.connection?, s.endpoint?);
    let verifying = matches!(
        c.state,
        ConnectionState::Pending | ConnectionState::Discovered
    );
    (verifying && e.lifecycle() != Lifecycle::Available).then(|| {
        s.correcting(
            s.here(Phase::Initiating, "TiDB Cloud is verifying the endpoint"),
            None,
        )
    })
}

/// TiDB Cloud accepted; AWS shows `pending` while it applies acceptance or a change.
pub(super) fn aws_applying_change(s: &Situation<'_>) -> Option<EndpointPlan> {
    let (c, e) = (s.connection?, s.vpce?);
    (c.state == ConnectionState::Active && e.lifecycle() == Lifecycle::Creating).then(|| {
        s.correcting(
            s.here(
                Phase::Pending,
                "AWS is applying a change to the endpoint (pending)",
            ),
            None,
        )
    })
}

/// TiDB Cloud accepted, and the cloud has not caught up yet (AWS's endpoint state; Google
/// Cloud's `pscConnectionStatus`).
pub(super) fn cloud_accepting(s: &Situation<'_>) -> Option<EndpointPlan> {
    let (c, e) = (s.connection?, s.endpoint?);
    (c.state == ConnectionState::Active && e.lifecycle() != Lifecycle::Available).then(|| {
        s.correcting(
            s.here(
                Phase::Initiating,
                format!(
                    "waiting for {} to accept the endpoint ({})",
                    s.spec.cloud().title(),
                    state_word(e)
                ),
            ),
            None,
        )
    })
}

// From here on the endpoint is available in AWS: the service accepted it. TiDB Cloud's own
// word may come a little later (its budget is too dear to ask it every pass), and nothing
// below waits for it but the last row.

/// Private DNS needs both DNS attributes of the VPC on: turning it on without them would
/// fail in AWS, so the user is told which to turn on.
pub(super) fn private_dns_blocked(s: &Situation<'_>) -> Option<EndpointPlan> {
    let e = s.vpce?;
    if !s.spec.private_dns || e.private_dns_enabled {
        return None;
    }
    let problem = dns_problem(s.o.network.as_ref()?, &e.vpc_id)?;
    Some(s.here(Phase::Failed, problem))
}

/// Private DNS goes on as soon as AWS accepted the endpoint (or off, when the document says
/// so), in the same modify as any drift correction.
pub(super) fn private_dns_to_change(s: &Situation<'_>) -> Option<EndpointPlan> {
    let e = s.vpce?;
    let wanted = s.spec.private_dns;
    (e.private_dns_enabled != wanted).then(|| {
        let verb = if wanted { "enabling" } else { "disabling" };
        s.correcting(
            s.here(Phase::Pending, format!("{verb} private DNS")),
            Some(wanted),
        )
    })
}

/// Subnets or security groups changed by hand (or in the document): put them back.
pub(super) fn drift_to_correct(s: &Situation<'_>) -> Option<EndpointPlan> {
    s.drifted.then(|| {
        s.correcting(
            s.here(Phase::Pending, "correcting subnets and security groups"),
            None,
        )
    })
}

/// Accepted in AWS, but TiDB Cloud has not said ACTIVE yet: AWS's word alone does not make
/// the endpoint Active.
pub(super) fn awaiting_tidb_active(s: &Situation<'_>) -> Option<EndpointPlan> {
    (s.connection?.state != ConnectionState::Active).then(|| {
        s.here(
            Phase::Initiating,
            format!(
                "accepted in {}; waiting for TiDB Cloud to show the connection ACTIVE",
                s.spec.cloud().title()
            ),
        )
    })
}

/// Past every row: every step is done.
pub(super) fn converged(s: &Situation<'_>) -> EndpointPlan {
    s.here(Phase::Active, String::new())
}
