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
mod routes;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;

use privatelinkd::cloud::sim::SimCloud;
use privatelinkd::cloud::tidb::WireStatus;
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
        routes::route(&shared, &method, &uri, &body).await
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
