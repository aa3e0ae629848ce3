//! A fake Azure Resource Manager for privatelinkd's Azure Private Link tests and demos: there is
//! no emulator of Microsoft.Network.
//!
//! It serves, under `/subscriptions/...`, what a private endpoint to a Private Link service in
//! another tenant needs, with the shapes of Microsoft.Network's 2024-05-01 API:
//! `privateEndpoints` (PUT, GET, DELETE, list by resource group and by subscription, paged by
//! `nextLink`), their `networkInterfaces`, the seeded `virtualNetworks` and their `subnets`,
//! long-running operations (`Azure-AsyncOperation`, `Location`), ETags and conditional
//! headers, Resource Manager's errors, and its subscription throttling (token buckets, 429 with
//! `Retry-After`, `x-ms-ratelimit-remaining-*` headers). It also serves the token endpoints a
//! client gets its bearer token from: Entra ID's client credentials grant
//! (`POST /{tenant}/oauth2/v2.0/token`) and the instance metadata service's managed identity
//! endpoint (`GET /metadata/identity/oauth2/token`).
//!
//! Under `/fake/v1/` it has its own admin API (see `admin`): seed the world, approve or reject
//! connections as TiDB Cloud would, delete or retag endpoints "in the portal", inject faults,
//! read the request log. Every admin action is also a method here, for tests that run the fake
//! in-process.
//!
//! # Layout
//!
//! | module | holds |
//! | --- | --- |
//! | `arm` | Resource Manager's checks, headers and routes; `endpoints`, `network`, `operations` handlers |
//! | `auth` | the token endpoints, issued tokens, the bearer check |
//! | `state`, `model`, `ops` | the world behind one lock, resources and their JSON, operations |
//! | `throttle` | the subscription token buckets |
//! | `error` | `ApiError`, every error answer |
//! | `world`, `options` | the world file, `Options` and `Fault` |
//! | `admin` | the `/fake/v1/` API |

mod admin;
mod arm;
mod auth;
mod error;
mod ids;
mod model;
mod ops;
mod options;
mod query;
mod state;
mod throttle;
mod world;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::net::TcpListener;

pub use error::{API_VERSION, ApiError};
pub use model::ConnectionStatus;
pub use ops::OpError;
pub use options::{AuthMode, Fault, Options};
pub use throttle::{Bucket, RateLimits};
pub use world::World;

/// One request, as the request log keeps it (never headers or bodies, so never a token or a
/// secret; credentials in the query are redacted).
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

/// A private endpoint connected to a Private Link service, as the service's owner (TiDB Cloud)
/// sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlsConnection {
    pub endpoint_id: String,
    pub connection_name: String,
    pub location: String,
    pub private_ip_address: String,
    pub status: ConnectionStatus,
    pub description: String,
    pub request_message: Option<String>,
    pub provisioning_state: String,
}

#[derive(Debug, Default)]
struct Faults {
    /// (requests left, Retry-After, error code) of injected throttles, oldest first.
    throttles: Vec<(u32, u64, Option<String>)>,
    http_errors: Vec<Fault>,
    fail_operations: Vec<OpError>,
    latency: Duration,
}

struct Shared {
    state: Mutex<state::State>,
    options: Options,
    started: Instant,
    log: Mutex<Vec<Logged>>,
    faults: Mutex<Faults>,
    buckets: Mutex<throttle::Buckets>,
    guids: ids::Guids,
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
    /// What to give a client as its Resource Manager (and token) endpoint:
    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Fake {
    /// A fake over `world`; fails on a world that does not hold together.
    pub fn new(world: &World, options: Options) -> anyhow::Result<Fake> {
        let guids = ids::Guids::default();
        let mut state = state::State::default();
        state
            .seed(world, &guids)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Fake {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                options,
                started: Instant::now(),
                log: Mutex::new(Vec::new()),
                faults: Mutex::new(Faults::default()),
                buckets: Mutex::new(throttle::Buckets::default()),
                guids,
            }),
        })
    }

    /// Serves on a new loopback port, on the current tokio runtime.
    pub async fn spawn(&self) -> std::io::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(self.clone().serve_until(listener, async {
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

    /// Adds or replaces what `world` describes (all or nothing).
    pub fn seed(&self, world: &World) -> Result<(), String> {
        lock(&self.shared.state).seed(world, &self.shared.guids)
    }

    /// Every request so far (Resource Manager and token endpoints, not the admin API), in order.
    pub fn requests(&self) -> Vec<Logged> {
        lock(&self.shared.log).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    pub fn inject(&self, fault: Fault) {
        let mut faults = lock(&self.shared.faults);
        match fault {
            Fault::Throttle {
                count,
                retry_after_secs,
                code,
            } => faults.throttles.push((count, retry_after_secs, code)),
            Fault::Latency { ms } => faults.latency = Duration::from_millis(ms),
            Fault::FailOperation { error } => faults.fail_operations.push(error),
            f @ Fault::HttpError { .. } => faults.http_errors.push(f),
        }
    }

    pub fn clear_faults(&self) {
        *lock(&self.shared.faults) = Faults::default();
    }

    /// The producer's decision on an endpoint's connection (TiDB Cloud accepting it: Approved;
    /// or Rejected, Disconnected, Pending). `description` defaults to the state's name
    /// ("Awaiting approval" for Pending).
    pub fn set_connection_state(
        &self,
        endpoint_id: &str,
        status: ConnectionStatus,
        description: Option<&str>,
    ) -> Result<(), ApiError> {
        admin::set_connection_state(&self.shared, endpoint_id, status, description)
    }

    /// The endpoints connected to a Private Link service, as its owner sees them.
    pub fn connections_to(
        &self,
        private_link_service_id: &str,
    ) -> Result<Vec<PlsConnection>, ApiError> {
        admin::connections_to(&self.shared, private_link_service_id)
    }

    /// Deletes a private endpoint (and its network interface) at once, as a person would in
    /// the portal; an operation in progress on it ends Canceled.
    pub fn portal_delete(&self, resource_id: &str) -> Result<(), ApiError> {
        admin::portal_delete(&self.shared, resource_id)
    }

    /// Removes one tag from a private endpoint at once (as in the portal).
    pub fn portal_remove_tag(&self, resource_id: &str, key: &str) -> Result<(), ApiError> {
        admin::portal_set_tags(&self.shared, resource_id, |tags| {
            tags.remove(key)
                .map(|_| ())
                .ok_or_else(|| ApiError::BadRequest(format!("no tag '{key}'")))
        })
    }

    /// Replaces a private endpoint's tags at once (as in the portal).
    pub fn portal_set_tags(
        &self,
        resource_id: &str,
        tags: std::collections::BTreeMap<String, String>,
    ) -> Result<(), ApiError> {
        admin::portal_set_tags(&self.shared, resource_id, |current| {
            *current = tags;
            Ok(())
        })
    }
}

/// `/{tenant}/oauth2/v2.0/token` -> the tenant.
fn token_tenant(path: &str) -> Option<&str> {
    path.strip_prefix('/')?
        .strip_suffix("/oauth2/v2.0/token")
        .filter(|t| !t.is_empty() && !t.contains('/'))
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
        return admin::route(&shared, method.as_str(), rest, &query, &body).await;
    }
    let latency = lock(&shared.faults).latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let response = if path == "/metadata/identity/oauth2/token" {
        auth::imds(&shared, &headers, &query).unwrap_or_else(IntoResponse::into_response)
    } else if let Some(tenant) = token_tenant(&path) {
        auth::token_endpoint(&shared, method.as_str(), tenant, &body)
            .unwrap_or_else(IntoResponse::into_response)
    } else if path
        .get(..15)
        .is_some_and(|p| p.eq_ignore_ascii_case("/subscriptions/"))
    {
        arm::route(&shared, method.as_str(), &path, &query, &headers, &body).await
    } else {
        ApiError::NotServed {
            method: method.to_string(),
            path: path.clone(),
        }
        .into_response()
    };
    let at_ms = shared.started.elapsed().as_millis() as u64;
    lock(&shared.log).push(Logged {
        at_ms,
        method: method.to_string(),
        path,
        query: query::redacted(&query),
        status: response.status().as_u16(),
    });
    response
}

/// An injected throttle due for this request, if any: its error code and Retry-After.
fn injected_throttle(shared: &Shared) -> Option<(Option<String>, u64)> {
    let mut faults = lock(&shared.faults);
    faults.throttles.retain(|(left, ..)| *left > 0);
    let (left, retry_after, code) = faults.throttles.first_mut()?;
    *left -= 1;
    Some((code.clone(), *retry_after))
}

/// An injected HTTP error due for this request, if any.
fn injected_error(shared: &Shared, method: &str, path: &str) -> Option<ApiError> {
    let mut faults = lock(&shared.faults);
    let index = faults.http_errors.iter().position(|f| match f {
        Fault::HttpError {
            method: m,
            path_contains,
            ..
        } => {
            m.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
                && path_contains.as_deref().is_none_or(|p| path.contains(p))
        }
        _ => false,
    })?;
    let Fault::HttpError {
        count,
        status,
        code,
        message,
        ..
    } = &mut faults.http_errors[index]
    else {
        return None;
    };
    let error = ApiError::Other {
        status: *status,
        code: code.clone(),
        message: message.clone(),
    };
    *count = count.saturating_sub(1);
    if *count == 0 {
        faults.http_errors.remove(index);
    }
    Some(error)
}

/// An injected failure due for the next operation, if any.
fn injected_operation_failure(shared: &Shared) -> Option<OpError> {
    let mut faults = lock(&shared.faults);
    (!faults.fail_operations.is_empty()).then(|| faults.fail_operations.remove(0))
}
