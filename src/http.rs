//! The daemon's HTTP endpoint: `/metrics`, `/healthz`, `/readyz` (axum).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use crate::daemon::{Event, Readiness};
use crate::metrics::Metrics;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The loop answers a health probe between two steps of work; a loop stuck longer is unhealthy.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
struct App {
    metrics: Arc<Metrics>,
    readiness: Arc<Mutex<Readiness>>,
    events: mpsc::Sender<Event>,
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    readiness: Arc<Mutex<Readiness>>,
    events: mpsc::Sender<Event>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(App {
            metrics,
            readiness,
            events,
        });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
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
