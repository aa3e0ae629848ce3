//! The daemon's HTTP endpoint (axum): `/metrics`, `/healthz`, `/readyz`, and the control
//! endpoints the CLI uses: `GET /v1/deletions` (what the mass-deletion guard holds back),
//! `POST /v1/deletions/approve` (release exactly that set) and `POST /v1/retry` (try Failed
//! endpoints again now). Control requests are accepted from loopback only, whatever address
//! `metrics.listen` binds.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use crate::control::{Approvals, Event, HeldBack, Observation, Readiness, RetryRequests, Retrying};
use crate::metrics::Metrics;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The loop answers a health probe between two steps of work; a loop stuck longer is unhealthy.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// What the listener serves from.
#[derive(Clone)]
pub struct App {
    pub metrics: Arc<Metrics>,
    pub readiness: Arc<Mutex<Readiness>>,
    pub approvals: Arc<Mutex<Approvals>>,
    pub retries: Arc<Mutex<RetryRequests>>,
    pub events: mpsc::Sender<Event>,
    /// The latest pass's observation (`None` before the first).
    pub observation: Arc<Mutex<Option<Arc<Observation>>>>,
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/v1/deletions", get(held_back))
        .route("/v1/deletions/approve", post(approve))
        .route("/v1/retry", post(retry))
        .route("/v1/observation", get(observation))
        .with_state(app);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Control requests come from this host only.
fn loopback_only(peer: SocketAddr) -> Result<(), (StatusCode, String)> {
    if peer.ip().is_loopback() {
        Ok(())
    } else {
        Err((
            StatusCode::FORBIDDEN,
            "control requests are accepted from loopback only\n".into(),
        ))
    }
}

/// The latest observation, for `plan --from` (loopback only, like the control requests: it
/// names every endpoint and connection).
async fn observation(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if let Err(refused) = loopback_only(peer) {
        return refused.into_response();
    }
    let latest = app
        .observation
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    match latest {
        Some(o) => axum::Json(&*o).into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "no pass has completed yet\n",
        )
            .into_response(),
    }
}

fn lock(app: &App) -> std::sync::MutexGuard<'_, Approvals> {
    app.approvals.lock().unwrap_or_else(|e| e.into_inner())
}

async fn held_back(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Json<HeldBack>, (StatusCode, String)> {
    loopback_only(peer)?;
    Ok(Json(lock(&app).held().clone()))
}

/// The body of `POST /v1/deletions/approve`.
#[derive(Debug, Deserialize)]
struct Approval {
    digest: String,
}

async fn approve(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(approval): Json<Approval>,
) -> Result<Json<HeldBack>, (StatusCode, String)> {
    loopback_only(peer)?;
    let approved = lock(&app)
        .approve(&approval.digest)
        .map_err(|why| (StatusCode::CONFLICT, format!("{why}\n")))?;
    // The loop passes at once; if it is busy, the event waits for the current pass.
    let _ = app.events.try_send(Event::Asked);
    Ok(Json(approved))
}

/// The body of `POST /v1/retry`.
#[derive(Debug, Deserialize)]
struct RetryBody {
    names: Vec<String>,
}

async fn retry(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<RetryBody>,
) -> Result<Json<Retrying>, (StatusCode, String)> {
    loopback_only(peer)?;
    let asked = app
        .retries
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .request(&body.names)
        .map_err(|why| (StatusCode::CONFLICT, format!("{why}\n")))?;
    let _ = app.events.try_send(Event::Asked);
    Ok(Json(asked))
}

async fn metrics_handler(State(app): State<App>, headers: HeaderMap) -> Response {
    let wants_openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/openmetrics-text"));
    let (content_type, body) = if wants_openmetrics {
        (OPENMETRICS, app.metrics.openmetrics())
    } else {
        (PROMETHEUS_TEXT, app.metrics.prometheus_text())
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Answered by the event loop itself, so a wedged loop fails the probe.
async fn healthz(State(app): State<App>) -> (StatusCode, &'static str) {
    let (reply, answer) = oneshot::channel();
    if app.events.send(Event::Ping(reply)).await.is_err() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the event loop has stopped\n",
        );
    }
    match tokio::time::timeout(HEALTH_TIMEOUT, answer).await {
        Ok(Ok(())) => (StatusCode::OK, "ok\n"),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the event loop does not answer\n",
        ),
    }
}

async fn readyz(State(app): State<App>) -> (StatusCode, String) {
    let check = app
        .readiness
        .lock()
        .map_or_else(|_| Err("internal error".into()), |r| r.check());
    match check {
        Ok(()) => (StatusCode::OK, "ready\n".into()),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}
