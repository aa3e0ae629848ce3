//! A fake TiDB Cloud Dedicated API over privatelinkd's simulated world, for tests and demos.
//!
//! It serves the endpoints privatelinkd uses, the way the spec describes them: HTTP Digest
//! authentication (MD5 or SHA-256, `qop=auth`, nonce counts, stale nonces), the per-key limit of
//! requests per minute with its `X-Ratelimit-*` headers and 429 body, pagination with `pageSize`
//! (default 10, at most 100) and `nextPageToken`, the `-` wildcards with `projectId`, errors as
//! `{code, message, details}`, and injected faults (5xx share, latency, bursts of 429).
//!
//! Server-side digest verification is written here: no maintained crate offers it, and it is
//! a few hashes. The client side uses `http-auth`.

mod digest;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use privatelinkd::cloud::sim::{ConnectionFilter, SimCloud};
use privatelinkd::cloud::tidb::*;
use privatelinkd::cloud::{CloudError, ClusterState, Connection, TidbCloud};
use privatelinkd::secret::Secret;

pub use digest::Algorithm;
use digest::Nonces;

/// The spec's code for "over the rate limit".
const RATE_LIMIT_CODE: i64 = 49_900_007;

/// Faults to inject.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Share of authenticated requests answered with HTTP 500, spread evenly (0.25: every
    /// fourth), so that a retried request never meets a second injected error in a row.
    pub server_error_rate: f64,
    /// Added to every answer.
    pub latency: Duration,
    /// Every this many authenticated requests, a burst of 429s begins...
    pub throttle_every: Option<u64>,
    /// ...lasting this many requests.
    pub throttle_burst: u64,
}

/// How the fake server behaves.
#[derive(Debug, Clone)]
pub struct Options {
    pub public_key: String,
    pub private_key: Secret,
    pub algorithm: Algorithm,
    pub requests_per_minute: u64,
    /// The rate-limit window: a minute, as the API's; shorter in tests.
    pub window: Duration,
    pub faults: Faults,
}

/// Requests answered so far, by how they ended (tests count them).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub authenticated: u64,
    pub challenged: u64,
    pub throttled: u64,
    pub injected_errors: u64,
}

/// One authenticated request, as the server's request log keeps it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub at: Instant,
    pub method: String,
    pub path: String,
    /// Who called (privatelinkd names its lease holder here).
    pub user_agent: String,
}

struct Window {
    started: Instant,
    used: u64,
}

struct Shared {
    sim: SimCloud,
    options: Options,
    nonces: Nonces,
    window: Mutex<Window>,
    counts: Mutex<Counts>,
    /// Accumulates `server_error_rate` per request; an error is due when it reaches 1.
    error_debt: Mutex<f64>,
    /// Every authenticated request, in order.
    log: Mutex<Vec<Logged>>,
}

/// A handle on a running fake server.
#[derive(Clone)]
pub struct Fake {
    shared: Arc<Shared>,
}

impl Fake {
    pub fn new(sim: SimCloud, options: Options) -> Fake {
        Fake {
            shared: Arc::new(Shared {
                sim: sim.serving_tidb_over_http(),
                options,
                nonces: Nonces::default(),
                window: Mutex::new(Window {
                    started: Instant::now(),
                    used: 0,
                }),
                counts: Mutex::new(Counts::default()),
                error_debt: Mutex::new(0.0),
                log: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn counts(&self) -> Counts {
        self.shared
            .counts
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// Every authenticated request so far, in order (with its User-Agent).
    pub fn requests(&self) -> Vec<Logged> {
        self.shared
            .log
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    pub fn sim(&self) -> &SimCloud {
        &self.shared.sim
    }

    /// Serves on `listener` until the process ends.
    pub async fn serve(self, listener: TcpListener) -> std::io::Result<()> {
        self.serve_until(listener, std::future::pending()).await
    }

    /// Serves on `listener` until `shutdown` completes.
    pub async fn serve_until(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = Router::new().fallback(handle).with_state(self.shared);
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let latency = shared.options.faults.latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let request_uri = uri
        .path_and_query()
        .map_or(uri.path(), |p| p.as_str())
        .to_string();
    let key = digest::Key {
        public: &shared.options.public_key,
        private: &shared.options.private_key,
        algorithm: shared.options.algorithm,
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Err(stale) = shared
        .nonces
        .verify(&key, method.as_str(), &request_uri, authorization)
    {
        bump(&shared, |c| c.challenged += 1);
        return challenge(&shared, stale);
    }
    bump(&shared, |c| c.authenticated += 1);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    if let Ok(mut log) = shared.log.lock() {
        log.push(Logged {
            at: Instant::now(),
            method: method.to_string(),
            path: uri.path().to_string(),
            user_agent: user_agent.to_string(),
        });
    }
    let (remaining, reset) = match take_budget(&shared) {
        Ok(budget) => budget,
        Err(reset) => return throttled(&shared, reset),
    };
    let mut response = if let Some(reset) = forced_burst(&shared) {
        return throttled(&shared, reset);
    } else if error_due(&shared) {
        bump(&shared, |c| c.injected_errors += 1);
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            13,
            "internal error (injected by the fake server)",
        )
    } else {
        route(&shared, &method, &uri, &body).await
    };
    let h = response.headers_mut();
    h.insert(
        "x-ratelimit-limit-minute",
        HeaderValue::from(shared.options.requests_per_minute),
    );
    h.insert("x-ratelimit-remaining-minute", HeaderValue::from(remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(reset));
    response
}

fn error_due(shared: &Shared) -> bool {
    let mut debt = shared.error_debt.lock().unwrap_or_else(|e| e.into_inner());
    *debt += shared.options.faults.server_error_rate;
    if *debt >= 1.0 {
        *debt -= 1.0;
        return true;
    }
    false
}

fn bump(shared: &Shared, f: impl FnOnce(&mut Counts)) {
    if let Ok(mut c) = shared.counts.lock() {
        f(&mut c);
    }
}

/// 401 with a fresh challenge.
fn challenge(shared: &Shared, stale: bool) -> Response {
    let value = shared.nonces.challenge(shared.options.algorithm, stale);
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        16,
        "unauthenticated: the API key is missing or wrong",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_str(&value).expect("the challenge is ASCII"),
    );
    response
}

/// Takes one request from the minute's budget: `Ok((remaining, reset))`, or `Err(reset)`.
fn take_budget(shared: &Shared) -> Result<(u64, u64), u64> {
    let mut window = shared.window.lock().unwrap_or_else(|e| e.into_inner());
    let length = shared.options.window;
    if window.started.elapsed() >= length {
        *window = Window {
            started: Instant::now(),
            used: 0,
        };
    }
    let left = length.saturating_sub(window.started.elapsed());
    // Whole seconds, rounded up: waiting that long always reaches the new window.
    let reset = left.as_millis().div_ceil(1000).max(1) as u64;
    let limit = shared.options.requests_per_minute;
    if window.used >= limit {
        return Err(reset);
    }
    window.used += 1;
    Ok((limit - window.used, reset))
}

/// In a forced burst of 429s right now? Then the seconds to wait.
fn forced_burst(shared: &Shared) -> Option<u64> {
    let every = shared.options.faults.throttle_every?;
    let n = shared.counts.lock().map(|c| c.authenticated).unwrap_or(0);
    (n % every < shared.options.faults.throttle_burst).then_some(1)
}

fn throttled(shared: &Shared, reset: u64) -> Response {
    bump(shared, |c| c.throttled += 1);
    let limit = shared.options.requests_per_minute;
    let message = format!(
        "The request exceeded the limit of {limit} times per apikey per minute. For more quota, please contact us: https://support.pingcap.com/hc/en-us/requests/new?ticket_form_id=7800003722519"
    );
    let mut response = error(StatusCode::TOO_MANY_REQUESTS, RATE_LIMIT_CODE, &message);
    let h = response.headers_mut();
    h.insert("x-ratelimit-limit-minute", HeaderValue::from(limit));
    h.insert("x-ratelimit-remaining-minute", HeaderValue::from(0u64));
    h.insert("x-ratelimit-reset", HeaderValue::from(reset));
    response
}

fn error(status: StatusCode, code: i64, message: &str) -> Response {
    let body = WireStatus {
        code,
        message: message.to_string(),
        details: Vec::new(),
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(&body).expect("plain data"),
    )
        .into_response()
}

fn ok(value: impl serde::Serialize) -> Response {
    let body = serde_json::to_string(&value).expect("plain data");
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn from_cloud(e: CloudError) -> Response {
    match e {
        CloudError::NotFound(m) => error(StatusCode::NOT_FOUND, 5, &m),
        CloudError::Permanent(m) => error(StatusCode::BAD_REQUEST, 3, &m),
        CloudError::Throttled { .. } => error(
            StatusCode::TOO_MANY_REQUESTS,
            RATE_LIMIT_CODE,
            "rate limited",
        ),
        CloudError::Transient(m) | CloudError::Unreachable(m) => {
            error(StatusCode::INTERNAL_SERVER_ERROR, 13, &m)
        }
        // The simulated world never fences; a server has no lease.
        CloudError::Fenced => error(StatusCode::INTERNAL_SERVER_ERROR, 13, "fenced"),
    }
}

fn query(uri: &Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The API's routes, by path segments after `/v1beta1`.
async fn route(shared: &Shared, method: &Method, uri: &Uri, body: &Bytes) -> Response {
    if let Some(path) = uri.path().strip_prefix("/fake/") {
        return control(shared, method, path, body);
    }
    let Some(path) = uri.path().strip_prefix("/v1beta1/") else {
        return error(StatusCode::NOT_FOUND, 5, "not found");
    };
    let segments: Vec<&str> = path.split('/').collect();
    let sim = &shared.sim;
    match (method.clone(), segments.as_slice()) {
        (Method::GET, ["clusters", cluster]) => get_cluster(sim, cluster).await,
        (Method::GET, ["clusters", cluster, "tidbNodeGroups"]) => {
            match sim.list_node_groups(cluster).await {
                Ok(groups) => {
                    let wire: Vec<WireNodeGroup> = groups
                        .iter()
                        .map(|g| WireNodeGroup {
                            cluster_id: cluster.to_string(),
                            ..WireNodeGroup::from(g)
                        })
                        .collect();
                    ok(WireNodeGroupList {
                        total_size: wire.len() as i32,
                        tidb_node_groups: wire,
                        next_page_token: None,
                    })
                }
                Err(e) => from_cloud(e),
            }
        }
        (
            Method::GET,
            [
                "clusters",
                cluster,
                "tidbNodeGroups",
                group,
                "privateLinkService",
            ],
        ) => match sim.get_service(cluster, group).await {
            Ok(s) => {
                let region = sim
                    .cluster_seed(cluster)
                    .map(|c| c.region)
                    .unwrap_or_default();
                ok(WireService {
                    name: format!("tidbNodeGroups/{group}/privateLinkService"),
                    tidb_node_group_id: group.to_string(),
                    service_name: s.name,
                    service_dns_name: s.dns_name,
                    available_zones: s.available_zones,
                    state: service_state_name(s.state).into(),
                    region_id: format!("aws-{region}"),
                    cloud_provider: Some("aws".into()),
                })
            }
            Err(e) => from_cloud(e),
        },
        (
            Method::GET,
            [
                "clusters",
                cluster,
                "tidbNodeGroups",
                group,
                "privateEndpointConnections",
            ],
        ) => list_connections(sim, uri, cluster, group),
        (
            Method::POST,
            [
                "clusters",
                cluster,
                "tidbNodeGroups",
                group,
                "privateEndpointConnections",
            ],
        ) => {
            let endpoint = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
                v.get("endpointId")
                    .and_then(Value::as_str)
                    .map(String::from)
            });
            let Some(endpoint) = endpoint else {
                return error(StatusCode::BAD_REQUEST, 3, "endpointId is required");
            };
            match sim.create_connection(cluster, group, &endpoint).await {
                Ok(c) => ok(wire_connection(sim, &c)),
                Err(e) => from_cloud(e),
            }
        }
        (
            method,
            [
                "clusters",
                cluster,
                "tidbNodeGroups",
                group,
                "privateEndpointConnections",
                id,
            ],
        ) if method == Method::GET || method == Method::DELETE => {
            let found = sim
                .connection(id)
                .filter(|c| c.cluster_id == *cluster && c.node_group_id == *group);
            let Some(connection) = found else {
                return error(
                    StatusCode::NOT_FOUND,
                    5,
                    &format!("private endpoint connection {id} not found"),
                );
            };
            if method == Method::GET {
                return ok(wire_connection(sim, &connection));
            }
            match sim.delete_connection(&connection).await {
                Ok(()) => ok(json!({})),
                Err(e) => from_cloud(e),
            }
        }
        _ => error(
            StatusCode::NOT_FOUND,
            5,
            &format!("no route for {method} {}", uri.path()),
        ),
    }
}

/// The fake's own control endpoints (not TiDB Cloud's API), for tests and demos:
/// `PUT /fake/clusters/{id}/state` with `{"state": "PAUSED"}` moves a cluster through its life.
fn control(shared: &Shared, method: &Method, path: &str, body: &Bytes) -> Response {
    let segments: Vec<&str> = path.split('/').collect();
    match (method.clone(), segments.as_slice()) {
        (Method::PUT, ["clusters", cluster, "state"]) => {
            let state = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("state")?.as_str().and_then(ClusterState::parse));
            let Some(state) = state else {
                return error(
                    StatusCode::BAD_REQUEST,
                    3,
                    "state must be one of the API's cluster states (ACTIVE, PAUSED, ...)",
                );
            };
            if shared.sim.cluster_state(cluster).is_none() {
                return error(StatusCode::NOT_FOUND, 5, "no such cluster in the world");
            }
            shared.sim.set_cluster_state(cluster, state);
            ok(json!({ "clusterId": cluster, "state": state.as_str() }))
        }
        _ => error(StatusCode::NOT_FOUND, 5, "no such control endpoint"),
    }
}

async fn get_cluster(sim: &SimCloud, id: &str) -> Response {
    let cluster = match sim.get_cluster(id).await {
        Ok(c) => c,
        Err(e) => return from_cloud(e),
    };
    let seed = sim.cluster_seed(id);
    let groups: Vec<Value> = seed
        .iter()
        .flat_map(|s| s.node_groups.iter())
        .map(|g| {
            json!({
                "tidbNodeGroupId": g.id, "clusterId": id, "nodeCount": 2,
                "isDefaultGroup": g.default, "state": "ACTIVE",
            })
        })
        .collect();
    ok(WireCluster {
        name: format!("clusters/{id}"),
        cluster_id: id.to_string(),
        display_name: seed
            .map(|s| s.name)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("cluster-{id}")),
        region_id: format!("{}-{}", cluster.cloud_provider, cluster.region),
        labels: [(PROJECT_LABEL.to_string(), cluster.project_id.clone())].into(),
        tidb_node_setting: json!({ "nodeSpecKey": "8C16G", "tidbNodeGroups": groups }),
        tikv_node_setting: json!({ "nodeCount": 3, "nodeSpecKey": "8C32G", "storageSizeGi": 500 }),
        port: cluster.port,
        state: Some(cluster.state.as_str().into()),
        cloud_provider: Some(cluster.cloud_provider),
    })
}

fn list_connections(sim: &SimCloud, uri: &Uri, cluster: &str, group: &str) -> Response {
    let filter = match (cluster, group, query(uri, "projectId")) {
        ("-", "-", Some(project)) => ConnectionFilter::Project(project),
        ("-", _, _) | (_, "-", _) => {
            return error(
                StatusCode::BAD_REQUEST,
                3,
                "listing across clusters needs clusterId and tidbNodeGroupId both `-` and a projectId",
            );
        }
        (c, g, _) => ConnectionFilter::NodeGroup(c.to_string(), g.to_string()),
    };
    // The spec: at most 10 by default, at most 100 whatever is asked.
    let size = query(uri, "pageSize")
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(10)
        .min(100);
    let token = query(uri, "pageToken").filter(|t| !t.is_empty());
    match sim.connections_page(&filter, token.as_deref(), size) {
        Ok((page, total)) => {
            let items: Vec<WireConnection> =
                page.items.iter().map(|c| wire_connection(sim, c)).collect();
            ok(WireConnectionList {
                total_size: total as i32,
                private_endpoint_connections: items,
                next_page_token: page.next,
            })
        }
        Err(e) => from_cloud(e),
    }
}

fn wire_connection(sim: &SimCloud, c: &Connection) -> WireConnection {
    let seed = sim.cluster_seed(&c.cluster_id);
    let (project, region) = seed.map(|s| (s.project_id, s.region)).unwrap_or_default();
    WireConnection {
        name: format!(
            "tidbNodeGroups/{}/privateEndpointConnections/{}",
            c.node_group_id, c.id
        ),
        tidb_node_group_id: c.node_group_id.clone(),
        private_endpoint_connection_id: c.id.clone(),
        cluster_id: c.cluster_id.clone(),
        labels: [(PROJECT_LABEL.to_string(), project)].into(),
        endpoint_id: c.endpoint_id.clone(),
        endpoint_state: Some(connection_state_name(c.state).into()),
        message: c.message.clone(),
        region_id: format!("aws-{region}"),
        cloud_provider: Some("aws".into()),
        private_link_service_name: String::new(),
        host: c.host.clone(),
        port: c.port,
    }
}
