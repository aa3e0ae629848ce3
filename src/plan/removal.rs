//! Owned endpoints that no valid document names: how they leave, and the guard that holds
//! mass removals back.

use super::{Action, EndpointPlan, Leftover, Phase, Policy, ownership};
use crate::cloud::{Connection, ConnectionState, Scope, VpcEndpoint};
use crate::spec::DeletionPolicy;

/// The removals of one pass, and why their deletions are held back (if they are).
pub(super) fn plan_removals(
    leftovers: &[Leftover],
    policy: &Policy,
) -> (Vec<EndpointPlan>, Option<String>) {
    let mut removals: Vec<EndpointPlan> = leftovers
        .iter()
        .filter(|l| !l.frozen)
        .map(plan_removal)
        .collect();
    let deletions = removals
        .iter()
        .filter(|r| r.actions.iter().any(Action::is_deletion))
        .count();
    let blocked = if policy.allow_mass_delete || deletions == 0 {
        None
    } else if policy.source_empty {
        Some(format!(
            "the endpoints directory is empty or missing while {deletions} owned endpoint(s) exist; \
             deletions are held back (run with --allow-mass-delete if this is intended)"
        ))
    } else if deletions > policy.max_deletes_per_pass {
        Some(format!(
            "{deletions} deletions in one pass exceed prune.maxDeletesPerPass ({}); \
             deletions are held back (run with --allow-mass-delete if this is intended)",
            policy.max_deletes_per_pass
        ))
    } else {
        None
    };
    if let Some(reason) = &blocked {
        for r in &mut removals {
            r.actions.retain(|a| !a.is_deletion());
            if r.phase == Phase::Deleting && r.actions.is_empty() {
                r.message = reason.clone();
            }
        }
    }
    (removals, blocked)
}

/// How to remove an owned endpoint that no document names any more.
fn plan_removal(leftover: &Leftover) -> EndpointPlan {
    let e = &leftover.endpoint;
    let mut plan = EndpointPlan::new(ownership::name_of(e), Phase::Deleting, "");
    if ownership::policy_of(e) == DeletionPolicy::Orphan {
        plan.message = format!(
            "document removed; leaving {} in place without our tags",
            e.id
        );
        plan.actions.push(Action::Untag {
            scope: leftover.scope.clone(),
            endpoint_id: e.id.clone(),
            keys: ownership::our_keys(e),
        });
        return plan;
    }
    plan.message = format!("document removed; deleting {}", e.id);
    plan.actions = delete_actions(&leftover.scope, e, leftover.connection.as_ref());
    plan
}

/// The connection first (TiDB Cloud stops using the endpoint), then the endpoint.
pub(super) fn delete_actions(
    scope: &Scope,
    endpoint: &VpcEndpoint,
    connection: Option<&Connection>,
) -> Vec<Action> {
    let mut actions = Vec::new();
    if let Some(c) = connection.filter(|c| c.state != ConnectionState::Deleting) {
        actions.push(Action::DeleteConnection {
            connection: c.clone(),
            connection_id: c.id.clone(),
        });
    }
    if endpoint.state != "deleting" {
        actions.push(Action::DeleteVpcEndpoint {
            scope: scope.clone(),
            endpoint_id: endpoint.id.clone(),
        });
    }
    actions
}
