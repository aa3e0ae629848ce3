//! The fake TiDB Cloud server, in this process.

use super::{runtime, sim_world};

/// The fake TiDB Cloud server, in this process on a thread of its own (the daemon under test
/// is another process, the client under test may run on the test's runtime); stopped when
/// dropped.
pub struct FakeTidb {
    pub addr: std::net::SocketAddr,
    /// Its simulated world, to change while it serves (a cluster paused, failures healed).
    pub sim: privatelinkd::cloud::sim::SimCloud,
    /// The server itself (its request log).
    pub fake: fake_tidbcloud::Fake,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeTidb {
    /// Serves `world_text` (a world file) with `options`.
    pub fn start(world_text: &str, options: fake_tidbcloud::Options) -> FakeTidb {
        let sim = privatelinkd::cloud::sim::SimCloud::new(sim_world(world_text), None).unwrap();
        let fake = fake_tidbcloud::Fake::new(sim, options);
        let sim = fake.sim().clone();
        let handle = fake.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = fake;
        let thread = std::thread::spawn(move || {
            runtime().block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let shutdown = async {
                    let _ = stopped.await;
                };
                serving.serve_until(listener, shutdown).await.unwrap();
            });
        });
        FakeTidb {
            addr,
            sim,
            fake: handle,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for FakeTidb {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
