//! The mass-deletion guard: a pass that would take many endpoints out of management at once
//! (or any, while the endpoints directory is empty) looks like an accident, a checkout gone
//! wrong or a mount missing, rather than an intention. It holds every such departure back
//! until a person approves exactly that set.
//!
//! The creation guard is its mirror: documents whose endpoints all vanished at once (a script
//! deleting across an account, a bug of ours) would each get a new endpoint; more than
//! `prune.maxRecreatesPerPass` such re-creations in one pass are all held back the same way.

use super::{EndpointPlan, Plan, Policy};

/// Takes the actions from every departure (deletion, orphaning, replacement) that the guard
/// holds back, marks them, and says why in `plan.deletions_blocked`.
pub(super) fn hold_mass_departures(plan: &mut Plan, policy: &Policy) {
    let departing = |p: &EndpointPlan| p.leaving.is_some() && !p.actions.is_empty();
    let unapproved: Vec<String> = plan
        .all()
        .filter(|p| departing(p))
        .filter_map(Plan::key)
        .filter(|k| !policy.approved.contains(k))
        .collect();
    let count = unapproved.len();
    if policy.allow_mass_delete || count == 0 {
        return;
    }
    let reason = if policy.source_empty {
        format!(
            "the endpoints directory is empty or missing, and {count} owned endpoint(s) would \
             leave management"
        )
    } else if count > policy.max_deletes_per_pass {
        format!(
            "{count} endpoints would leave management in one pass, more than \
             prune.maxDeletesPerPass ({})",
            policy.max_deletes_per_pass
        )
    } else {
        return;
    };
    let held =
        |p: &EndpointPlan| departing(p) && Plan::key(p).is_some_and(|k| unapproved.contains(&k));
    plan.change_where(held, |p| {
        p.actions.clear();
        p.held_by_guard = true;
    });
    plan.deletions_blocked = Some(reason);
}

/// Takes the actions from every re-creation beyond `policy.max_recreates_per_pass` (all of
/// them, as the deletion guard does), marks them, and says why in `plan.creations_blocked`.
pub(super) fn hold_mass_recreations(plan: &mut Plan, policy: &Policy) {
    let recreating = |p: &EndpointPlan| p.recreating && !p.actions.is_empty();
    let unapproved: Vec<String> = plan
        .all()
        .filter(|p| recreating(p))
        .filter_map(Plan::key)
        .filter(|k| !policy.approved.contains(k))
        .collect();
    let count = unapproved.len();
    if count <= policy.max_recreates_per_pass {
        return;
    }
    let held =
        |p: &EndpointPlan| recreating(p) && Plan::key(p).is_some_and(|k| unapproved.contains(&k));
    plan.change_where(held, |p| {
        p.actions.clear();
        p.held_by_guard = true;
    });
    plan.creations_blocked = Some(format!(
        "{count} documents that had an endpoint would get a new one in one pass, more than \
         prune.maxRecreatesPerPass ({})",
        policy.max_recreates_per_pass
    ));
}
