//! What the daemon listens on and watches: the HTTP listener on `metrics.listen` and the watcher
//! of the endpoints directory. Both are made from the settings, so a reload can re-point them.

use std::net::SocketAddr;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::{Daemon, StartError, watch};
use crate::control::Event;
use crate::http;

/// The HTTP listener, running.
pub(super) struct Server {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Daemon {
    /// Serves `/metrics`, `/healthz`, `/readyz` and the control endpoints on `metrics.listen`,
    /// and watches the endpoints directory; both feed `events`. Returns the address bound.
    pub async fn start(&mut self, events: mpsc::Sender<Event>) -> Result<SocketAddr, StartError> {
        self.events = Some(events);
        let listen = self.settings.file.metrics.listen.clone();
        let server = self.bind(&listen).await.map_err(StartError::Listen)?;
        let addr = server.addr;
        self.server = Some(server);
        self.watch_endpoints();
        Ok(addr)
    }

    /// Binds `listen` and serves there (the old listener, if any, keeps serving meanwhile).
    pub(super) async fn bind(&self, listen: &str) -> Result<Server, String> {
        let events = self.events.clone().ok_or("not started")?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen} (metrics.listen): {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on {listen} (metrics.listen): {e}"))?;
        let app = http::App {
            metrics: self.metrics.clone(),
            readiness: self.readiness.clone(),
            approvals: self.approvals.clone(),
            retries: self.retries.clone(),
            events,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(http::serve(listener, app, async {
            let _ = stopped.await;
        }));
        info!("serving /metrics, /healthz and /readyz on http://{addr}");
        Ok(Server { addr, stop, task })
    }

    /// (Re)starts watching the endpoints directory; without a watcher, changes are picked up
    /// every interval.
    pub(super) fn watch_endpoints(&mut self) {
        let Some(events) = self.events.clone() else {
            return;
        };
        let dir = self.settings.file.endpoints_dir.clone();
        self.watcher = match watch(&dir, events) {
            Ok(w) => Some(w),
            Err(e) => {
                warn!(
                    "cannot watch {}: {e}; changes are picked up every interval",
                    dir.display()
                );
                None
            }
        };
    }

    /// Stops serving (calls in flight finish) and watching.
    pub(super) async fn shut_down(&mut self) {
        self.watcher = None;
        if let Some(server) = self.server.take() {
            server.stop_gracefully().await;
        }
    }
}

impl Server {
    pub(super) async fn stop_gracefully(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}
