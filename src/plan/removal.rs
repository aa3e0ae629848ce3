//! Owned endpoints that no valid document names: how they leave.

use super::{Action, EndpointPlan, LeaveKind, Leaving, Leftover, Phase, TagPurpose, ownership};
use crate::cloud::{
    CloudEndpoint, CloudKind, Connection, ConnectionState, ConsumerEndpoint, Lifecycle, Scope,
};
use crate::spec::DeletionPolicy;

/// How to remove an owned endpoint that no document names any more.
pub(super) fn plan_removal(leftover: &Leftover) -> EndpointPlan {
    let e = &leftover.endpoint;
    let mut plan = EndpointPlan::new(ownership::name_of(e), Phase::Deleting, "");
    // The latest document this daemon saw decides; the tags only when it saw none.
    let (policy, file) = match &leftover.last_seen {
        Some(seen) => (seen.policy, Some(seen.file.clone())),
        None => (
            ownership::policy_of(e),
            ownership::file_of(e).map(String::from),
        ),
    };
    let connection = leftover.connection.as_ref().map_or(String::new(), |c| {
        format!(" and TiDB Cloud connection {}", c.id)
    });
    let kind = match policy {
        DeletionPolicy::Orphan => {
            plan.message = format!(
                "document removed (deletionPolicy: Orphan); leaving {}{connection} in place \
                 without privatelinkd's tags",
                e.id()
            );
            plan.actions.push(Action::Untag {
                scope: leftover.scope.clone(),
                endpoint_id: e.id().to_string(),
                keys: ownership::our_keys(e),
                purpose: TagPurpose::Orphan,
            });
            LeaveKind::Orphan
        }
        DeletionPolicy::Delete => {
            plan.message = format!(
                "document removed (deletionPolicy: Delete); deleting {}{connection}",
                e.id()
            );
            plan.actions = delete_actions(&leftover.scope, e, leftover.connection.as_ref());
            LeaveKind::Delete
        }
    };
    plan.leaving = Some(Leaving {
        kind,
        endpoint_id: e.id().to_string(),
        file,
    });
    plan
}

/// The connection first (TiDB Cloud stops using the endpoint), then the endpoint.
pub(super) fn delete_actions(
    scope: &Scope,
    endpoint: &CloudEndpoint,
    connection: Option<&Connection>,
) -> Vec<Action> {
    let mut actions = Vec::new();
    if let Some(c) = connection.filter(|c| c.state != ConnectionState::Deleting) {
        actions.push(Action::DeleteConnection {
            connection: c.clone(),
            connection_id: c.id.clone(),
        });
    }
    // Deleting or deleted already (a ledger entry's endpoint AWS no longer has): only its
    // connection is left to delete.
    if endpoint.lifecycle() != Lifecycle::Going {
        let (scope, endpoint_id) = (scope.clone(), endpoint.id().to_string());
        actions.push(match endpoint.cloud() {
            CloudKind::Aws => Action::DeleteVpcEndpoint { scope, endpoint_id },
            CloudKind::Gcp => Action::DeletePscEndpoint { scope, endpoint_id },
            CloudKind::Azure => Action::DeleteAzureEndpoint { scope, endpoint_id },
        });
    }
    actions
}
