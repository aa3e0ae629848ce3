//! Carrying a plan out: each endpoint's actions in order, endpoints side by side, so one
//! endpoint's slow or failing call never delays another's.

use std::time::Duration;

use tokio::time::Instant;

use crate::cloud::budget::within_window;
use crate::cloud::clouds::Clouds;
use crate::cloud::gcp::Gcp;
use crate::cloud::{
    CloudError, Connection, ConnectionState, Consumer, CreateEndpoint, Ec2, Scope, TidbCloud,
};
use crate::plan::{Action, Plan, TagPurpose, ownership};

/// One action carried out (or tried).
#[derive(Debug, Clone)]
pub struct Applied {
    /// The endpoint (or removal) it belongs to.
    pub name: String,
    /// `Action::kind`: the metric label and log word.
    pub kind: &'static str,
    pub result: Result<(), CloudError>,
    /// What TiDB Cloud now holds of the endpoint's connection: the one registered, or the one
    /// deleted (going), so the engine's book knows without asking.
    pub connection: Option<Connection>,
    /// Set for a connection's deletion only, whether it succeeded or not: the VPC endpoint
    /// it was of (the error policy tells a stale connection's cleanup from a re-registration
    /// by it).
    pub deleted_connection_of: Option<String>,
    /// The VPC endpoint acted on: the new one for a create (the ledger records it).
    pub endpoint_id: Option<String>,
    /// The action took the endpoint out of management on purpose (orphaned).
    pub released: bool,
}

/// What a successful action answered.
enum Answer {
    Nothing,
    /// A create's new endpoint ID (a following registration uses it).
    Created(String),
    /// A registration's (or deletion's) connection.
    Connection(Connection),
}

/// Carries out every action of `plan` within `window`: past it (waiting for a budget), the
/// rest waits for a later pass, which observes first, so other endpoints' next steps need not
/// wait for this pass's slowest queue. Results come back in plan order.
pub async fn apply<T, E, G>(
    tidb: &T,
    clouds: &Clouds<E, G>,
    plan: &Plan,
    window: Duration,
) -> Vec<Applied>
where
    T: TidbCloud + Clone + 'static,
    E: Ec2 + Clone + 'static,
    G: Gcp + Clone + 'static,
{
    let deadline = Instant::now() + window;
    let mut tasks = tokio::task::JoinSet::new();
    for (index, p) in plan.all().enumerate() {
        if p.actions.is_empty() {
            continue;
        }
        let (tidb, clouds, actions, name) = (
            tidb.clone(),
            clouds.clone(),
            p.actions.clone(),
            p.name.clone(),
        );
        tasks.spawn(within_window(deadline, async move {
            let mut done = Vec::new();
            let mut created: Option<String> = None;
            for action in actions {
                let result = execute(&tidb, &clouds, &action, created.as_deref()).await;
                // Not sent: it waits for the next pass, which observes first.
                if matches!(result, Err(CloudError::Deferred)) {
                    break;
                }
                let failed = result.is_err();
                let mut connection = None;
                let mut endpoint_id = action.endpoint_id().map(str::to_string);
                match &result {
                    Ok(Answer::Created(id)) => {
                        created = Some(id.clone());
                        endpoint_id = Some(id.clone());
                    }
                    Ok(Answer::Connection(c)) => connection = Some(c.clone()),
                    _ => {}
                }
                let deleted_connection_of = match &action {
                    Action::DeleteConnection { connection, .. } => {
                        Some(connection.endpoint_id.clone())
                    }
                    _ => None,
                };
                done.push(Applied {
                    name: name.clone(),
                    kind: action.kind(),
                    result: result.map(drop),
                    connection,
                    deleted_connection_of,
                    endpoint_id,
                    released: matches!(
                        action,
                        Action::Untag {
                            purpose: TagPurpose::Orphan,
                            ..
                        }
                    ),
                });
                if failed {
                    break;
                }
            }
            (index, done)
        }));
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        // A task only ends by returning; a panic in one is a bug worth surfacing.
        results.push(joined.expect("an apply task panicked"));
    }
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().flat_map(|(_, done)| done).collect()
}

/// Creates an endpoint. EC2 answers a reused ClientToken with the token's first endpoint,
/// whatever became of it since: deleted behind our back, or orphaned (our tags removed on
/// purpose, when its document said `deletionPolicy: Orphan`). Neither is the endpoint to use:
/// a new token, derived from the old one and that endpoint's ID, asks for a new endpoint and
/// is just as repeatable. Whether the answer is still ours is asked of EC2 (a describe): the
/// answer to a repeated create may show the tags as they were at creation.
async fn create<E: Ec2>(
    ec2: &E,
    scope: &Scope,
    request: &CreateEndpoint,
) -> Result<String, CloudError> {
    let owner = request.tags.get(ownership::OWNER).map(String::as_str);
    let mut request = request.clone();
    for _ in 0..8 {
        let endpoint = ec2.create_endpoint(scope, &request).await?;
        crate::ledger::crash_point("create-answered");
        let alive = !endpoint.state.is_going();
        if alive {
            let now = ec2
                .describe_endpoints(scope, std::slice::from_ref(&endpoint.id))
                .await?;
            if now.first().and_then(ownership::owner_of) == owner {
                return Ok(endpoint.id);
            }
        }
        request.client_token = ownership::next_client_token(&request.client_token, &endpoint.id);
    }
    Err(CloudError::Permanent(
        "CreateVpcEndpoint keeps answering with endpoints that are gone or not ours for this \
         ClientToken"
            .into(),
    ))
}

/// Carries out one action; a create answers with the new endpoint's ID, which a following
/// registration without an ID of its own (`created`) uses.
async fn execute<T: TidbCloud, E: Ec2, G: Gcp>(
    tidb: &T,
    clouds: &Clouds<E, G>,
    action: &Action,
    created: Option<&str>,
) -> Result<Answer, CloudError> {
    let gone_is_done = |r: Result<(), CloudError>| match r {
        Err(CloudError::NotFound(_)) => Ok(()),
        other => other,
    };
    let result = match action {
        Action::CreateVpcEndpoint { scope, request, .. } => {
            return create(&clouds.ec2, scope, request)
                .await
                .map(Answer::Created);
        }
        Action::ModifyVpcEndpoint { scope, request } => {
            clouds.ec2.modify_endpoint(scope, request).await
        }
        // One step; its operation is read when the next pass observes.
        Action::CreatePscEndpoint { scope, request } => {
            clouds.psc.create(scope, request).await.map(drop)
        }
        Action::RegisterConnection {
            cluster_id,
            node_group_id,
            endpoint_id,
            private_ip,
        } => {
            return match endpoint_id.as_deref().or(created) {
                Some(id) => tidb
                    .create_connection(cluster_id, node_group_id, id, private_ip.as_deref())
                    .await
                    .map(Answer::Connection),
                None => Ok(Answer::Nothing),
            };
        }
        Action::DeleteConnection { connection, .. } => {
            return gone_is_done(tidb.delete_connection(connection).await).map(|()| {
                Answer::Connection(Connection {
                    state: ConnectionState::Deleting,
                    ..connection.clone()
                })
            });
        }
        // One PUT; its operation is read when the next pass observes.
        Action::CreateAzureEndpoint { request, .. } => clouds.azure.create(request).await,
        Action::DeleteVpcEndpoint { scope, endpoint_id }
        | Action::DeletePscEndpoint { scope, endpoint_id }
        | Action::DeleteAzureEndpoint { scope, endpoint_id } => {
            gone_is_done(clouds.delete_endpoint(scope, endpoint_id).await)
        }
        Action::Tag {
            scope,
            endpoint_id,
            tags,
            ..
        } => clouds.set_marks(scope, endpoint_id, tags).await,
        Action::Untag {
            scope,
            endpoint_id,
            keys,
            ..
        } => clouds.remove_marks(scope, endpoint_id, keys).await,
    };
    result.map(|()| Answer::Nothing)
}
