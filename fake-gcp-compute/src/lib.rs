//! A fake Compute Engine v1 REST API for privatelinkd's Google Cloud tests and demos: there is
//! no Compute Engine emulator.
//!
//! It serves, under `/compute/v1/`, what a Private Service Connect endpoint needs: regional
//! `addresses` and `forwardingRules` (insert, get, list, delete, setLabels), `regionOperations`
//! (get, wait), global `networks` and `firewalls`, regional `subnetworks`, with Compute Engine's
//! shapes, long-running operations, label fingerprints, list filters and pages, and errors in
//! Google's JSON error shape. Under `/fake/v1/` it has its own admin API (see `admin`): seed the
//! world, accept or reject PSC connections as TiDB Cloud would, delete or relabel resources "in
//! the console", inject faults, read the request log. Every admin action is also a method here,
//! for tests that run the fake in-process.
//!
//! Any `Authorization: Bearer ...` is accepted; the token is never stored nor logged.

mod admin;
mod api;
mod error;
mod filter;
mod labels;
mod model;
mod ops;
mod state;
mod world;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

pub use error::ApiError;
pub use model::PscStatus;
pub use ops::{OpError, Timing};
pub use world::{ConnectionPreference, World};

/// Which per-project rate quota a method counts against. Compute Engine counts reads,
/// writes and operation reads separately (https://cloud.google.com/compute/api-quota).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Group {
    Reads,
    Writes,
    OperationReads,
}

impl Group {
    fn metric(self) -> &'static str {
        match self {
            Group::Reads => "Read requests",
            Group::Writes => "Queries",
            Group::OperationReads => "Operation read requests",
        }
    }
}

/// Per-project rate quotas. Google refills them at synchronized one-minute intervals (a
/// project that runs out at 10:00:15 waits until 10:01:00), so this is a fixed window, not a
/// token bucket; `window` is shorter in tests.
#[derive(Debug, Clone)]
pub struct RateLimits {
    pub reads: Option<u32>,
    pub writes: Option<u32>,
    pub operation_reads: Option<u32>,
    pub window: Duration,
    /// Google documents 403 with reason `rateLimitExceeded`; 429 is offered for clients
    /// that must also handle the status other Google APIs use.
    pub status: u16,
}

impl Default for RateLimits {
    fn default() -> RateLimits {
        RateLimits {
            reads: None,
            writes: None,
            operation_reads: None,
            window: Duration::from_secs(60),
            status: 403,
        }
    }
}

/// How a resource quota (forwarding rules per network) is reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum QuotaErrors {
    /// In the operation's `error` (code `QUOTA_EXCEEDED`, HTTP 403): Compute Engine finds
    /// resource quotas while processing (Terraform reports "Error waiting for Creating ...:
    /// Quota '...' exceeded").
    #[default]
    InOperation,
    /// As a synchronous 403 `quotaExceeded`.
    Synchronous,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub timing: Timing,
    /// `operations.wait` returns after at most this long (Google: about 2 minutes).
    pub wait_bound: Duration,
    pub rate_limits: RateLimits,
    pub quota_errors: QuotaErrors,
    /// Forwarding rules per network where the world sets no limit.
    pub forwarding_rules_limit: Option<u32>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            timing: Timing {
                pending: Duration::from_millis(50),
                running: Duration::from_millis(200),
            },
            wait_bound: Duration::from_secs(120),
            rate_limits: RateLimits::default(),
            quota_errors: QuotaErrors::default(),
            forwarding_rules_limit: None,
        }
    }
}

/// A fault to inject (the admin API takes the same JSON, `{"kind": "throttle", ...}`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Fault {
    /// The next `count` API requests are answered as over their rate quota.
    Throttle { count: u32 },
    /// The next `count` API requests matching `method` and `path_contains` (when given) are
    /// answered with this error.
    HttpError {
        count: u32,
        status: u16,
        reason: String,
        message: String,
        #[serde(default)]
        method: Option<String>,
        #[serde(default)]
        path_contains: Option<String>,
    },
    /// The next operation (of this `operationType`, when given) ends DONE with this error.
    FailOperation {
        #[serde(default)]
        operation_type: Option<String>,
        error: OpError,
    },
    /// Every API answer is delayed by this much.
    Latency { ms: u64 },
}

/// One API request, as the request log keeps it (never its headers, so never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Logged {
    /// Milliseconds since the fake started.
    pub at_ms: u64,
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
}

/// A Private Service Connect endpoint, as its producer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PscEndpoint {
    /// `projects/P/regions/R/forwardingRules/N`.
    pub forwarding_rule: String,
    pub project: String,
    pub region: String,
    pub name: String,
    pub ip_address: String,
    pub psc_connection_id: String,
    pub psc_connection_status: PscStatus,
}

#[derive(Debug, Default)]
struct Faults {
    throttle: u32,
    http_errors: Vec<Fault>,
    fail_operations: Vec<Fault>,
    latency: Duration,
}

struct Shared {
    state: Mutex<state::State>,
    options: Options,
    started: Instant,
    log: Mutex<Vec<Logged>>,
    faults: Mutex<Faults>,
    /// Requests counted per (project, group) in the current window: (window index, count).
    windows: Mutex<std::collections::HashMap<(String, Group), (u128, u32)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A handle on the fake (cheap to clone; all clones share one world).
#[derive(Clone)]
pub struct Fake {
    shared: Arc<Shared>,
}

/// A fake serving on a loopback port; stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    pub fake: Fake,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Server {
    /// What to give a client as its endpoint: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Fake {
    /// A fake over `world`; fails on a world that does not hold together.
    pub fn new(world: &World, options: Options) -> anyhow::Result<Fake> {
        let mut state = state::State::new();
        state.seed(world).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Fake {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                options,
                started: Instant::now(),
                log: Mutex::new(Vec::new()),
                faults: Mutex::new(Faults::default()),
                windows: Mutex::new(Default::default()),
            }),
        })
    }

    /// Serves on a new loopback port, on the current tokio runtime.
    pub async fn spawn(&self) -> std::io::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let fake = self.clone();
        tokio::spawn(fake.serve_until(listener, async {
            let _ = stopped.await;
        }));
        Ok(Server {
            addr,
            fake: self.clone(),
            _stop: stop,
        })
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

    /// Adds or replaces what `world` describes (projects, networks, subnetworks, firewall
    /// rules, service attachments).
    pub fn seed(&self, world: &World) -> Result<(), String> {
        lock(&self.shared.state).seed(world)
    }

    /// Every API request so far, in order.
    pub fn requests(&self) -> Vec<Logged> {
        lock(&self.shared.log).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    pub fn inject(&self, fault: Fault) {
        let mut faults = lock(&self.shared.faults);
        match fault {
            Fault::Throttle { count } => faults.throttle += count,
            Fault::Latency { ms } => faults.latency = Duration::from_millis(ms),
            f @ Fault::HttpError { .. } => faults.http_errors.push(f),
            f @ Fault::FailOperation { .. } => faults.fail_operations.push(f),
        }
    }

    pub fn clear_faults(&self) {
        *lock(&self.shared.faults) = Faults::default();
    }

    /// The producer's decision on an endpoint (TiDB Cloud accepting or rejecting it): sets the
    /// `pscConnectionStatus` of `forwarding_rule` (a path or link), which must target
    /// `attachment`.
    pub fn set_psc_status(
        &self,
        attachment: &str,
        forwarding_rule: &str,
        status: PscStatus,
    ) -> Result<(), ApiError> {
        admin::set_psc_status(&self.shared, attachment, forwarding_rule, status)
    }

    /// The producer deletes its service attachment: its endpoints become CLOSED and new ones
    /// are refused.
    pub fn delete_attachment(&self, attachment: &str) -> Result<(), ApiError> {
        admin::delete_attachment(&self.shared, attachment)
    }

    /// The endpoints targeting `attachment`, as its producer sees them.
    pub fn psc_endpoints(&self, attachment: &str) -> Result<Vec<PscEndpoint>, ApiError> {
        admin::psc_endpoints(&self.shared, attachment)
    }

    /// Deletes a resource at once, as a person would in the console (no operation).
    pub fn console_delete(&self, resource: &str) -> Result<(), ApiError> {
        admin::console_delete(&self.shared, resource)
    }

    /// Replaces a resource's labels at once, as a person would in the console.
    pub fn console_set_labels(
        &self,
        resource: &str,
        labels: std::collections::BTreeMap<String, String>,
    ) -> Result<(), ApiError> {
        admin::console_set_labels(&self.shared, resource, labels)
    }
}

async fn handle(
    AxumState(shared): AxumState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    if let Some(rest) = path.strip_prefix("/fake/v1/") {
        return admin::route(&shared, &method, rest, &query, &body).await;
    }
    let latency = lock(&shared.faults).latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| !token.trim().is_empty());
    let response = match path.strip_prefix("/compute/v1/") {
        _ if !bearer => ApiError::unauthenticated().into_response(),
        Some(rest) => api::route(&shared, &method, rest, &query, &body).await,
        None => ApiError::not_found(path.trim_start_matches('/')).into_response(),
    };
    let at_ms = shared.started.elapsed().as_millis() as u64;
    lock(&shared.log).push(Logged {
        at_ms,
        method: method.to_string(),
        path,
        query: redacted(&query),
        status: response.status().as_u16(),
    });
    response
}

/// The query string without credentials: Google also takes `access_token` (and API keys as
/// `key`) as parameters, and the log must never hold a token.
fn redacted(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if ["access_token", "key", "oauth_token"].contains(&k) => {
                format!("{k}=REDACTED")
            }
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Counts a request against its project's rate quota: `Err` when over it (or when an
/// injected throttle is due).
fn take_quota(shared: &Shared, project: &str, group: Group) -> Result<(), ApiError> {
    let limits = &shared.options.rate_limits;
    let status = axum::http::StatusCode::from_u16(limits.status)
        .unwrap_or(axum::http::StatusCode::FORBIDDEN);
    {
        let mut faults = lock(&shared.faults);
        if faults.throttle > 0 {
            faults.throttle -= 1;
            return Err(ApiError::rate_limited(status, group.metric(), project));
        }
    }
    let limit = match group {
        Group::Reads => limits.reads,
        Group::Writes => limits.writes,
        Group::OperationReads => limits.operation_reads,
    };
    let Some(limit) = limit else {
        return Ok(());
    };
    let window = shared.started.elapsed().as_nanos() / limits.window.as_nanos().max(1);
    let mut windows = lock(&shared.windows);
    let entry = windows
        .entry((project.to_string(), group))
        .or_insert((window, 0));
    if entry.0 != window {
        *entry = (window, 0);
    }
    if entry.1 >= limit {
        return Err(ApiError::rate_limited(status, group.metric(), project));
    }
    entry.1 += 1;
    Ok(())
}

/// An injected HTTP error due for this request, if any.
fn injected_error(shared: &Shared, method: &Method, path: &str) -> Option<ApiError> {
    let mut faults = lock(&shared.faults);
    let index = faults.http_errors.iter().position(|f| match f {
        Fault::HttpError {
            method: m,
            path_contains,
            ..
        } => {
            m.as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
                && path_contains.as_deref().is_none_or(|p| path.contains(p))
        }
        _ => false,
    })?;
    let Fault::HttpError {
        count,
        status,
        reason,
        message,
        ..
    } = &mut faults.http_errors[index]
    else {
        return None;
    };
    let error = ApiError::other(
        axum::http::StatusCode::from_u16(*status)
            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR),
        reason,
        message.clone(),
    );
    *count = count.saturating_sub(1);
    if *count == 0 {
        faults.http_errors.remove(index);
    }
    Some(error)
}

/// An injected failure due for an operation of this type, if any.
fn injected_operation_failure(shared: &Shared, operation_type: &str) -> Option<OpError> {
    let mut faults = lock(&shared.faults);
    let index = faults.fail_operations.iter().position(|f| {
        matches!(f, Fault::FailOperation { operation_type: t, .. } if t.as_deref().is_none_or(|t| t == operation_type))
    })?;
    match faults.fail_operations.remove(index) {
        Fault::FailOperation { error, .. } => Some(error),
        _ => None,
    }
}
