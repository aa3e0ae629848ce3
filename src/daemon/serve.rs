//! What the daemon listens on and watches: the HTTP listener on `metrics.listen` and the watcher
//! of the endpoints directory. Both are made from the settings, so a reload can re-point them.
//!
//! The listener runs on a thread (and runtime) of its own: a scrape of many series never
//! delays a pass, and a long pass never delays `/metrics` or `/readyz`. (`/healthz` still asks
//! the loop, which answers between two provider calls.)

use std::net::SocketAddr;

use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use super::{Daemon, StartError, watch};
use crate::control::Event;
use crate::http;

/// The HTTP listener, running.
pub(super) struct Server {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
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
        let cannot = |e: std::io::Error| format!("cannot listen on {listen} (metrics.listen): {e}");
        let listener = std::net::TcpListener::bind(listen).map_err(cannot)?;
        listener.set_nonblocking(true).map_err(cannot)?;
        let addr = listener.local_addr().map_err(cannot)?;
        let app = http::App {
            metrics: self.metrics.clone(),
            readiness: self.readiness.clone(),
            approvals: self.approvals.clone(),
            retries: self.retries.clone(),
            events,
            observation: self.observation.clone(),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("privatelinkd-http".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                let served = runtime.map(|rt| {
                    rt.block_on(async move {
                        let listener = tokio::net::TcpListener::from_std(listener)?;
                        http::serve(listener, app, async {
                            let _ = stopped.await;
                        })
                        .await
                    })
                });
                if let Err(e) | Ok(Err(e)) = served {
                    warn!("the HTTP listener stopped: {e}");
                }
            })
            .map_err(cannot)?;
        info!("serving /metrics, /healthz and /readyz on http://{addr}");
        Ok(Server { addr, stop, thread })
    }

    /// (Re)starts watching the endpoints directory; without a watcher, the directory is read
    /// in full every pass.
    pub(super) fn watch_endpoints(&mut self) {
        let Some(events) = self.events.clone() else {
            return;
        };
        let dir = self.settings.file.endpoints_dir.clone();
        self.watcher = match watch(&dir, events, self.changes.clone()) {
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
        self.leave_group().await;
        self.watcher = None;
        if let Some(server) = self.server.take() {
            server.stop_gracefully().await;
        }
    }
}

impl Server {
    /// Calls in flight finish; then the thread ends.
    pub(super) async fn stop_gracefully(self) {
        let _ = self.stop.send(());
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}
