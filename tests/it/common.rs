//! Shared test scaffolding: worlds, endpoint files and daemon configs in temp directories,
//! the daemon binary as a process, and the fake TiDB Cloud server in this process.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CLUSTER: &str = "1379661944646413143";
pub const FAILING_CLUSTER: &str = "1379661944646413999";
pub const VPC: &str = "vpc-0a1b2c3d4e5f67890";
pub const SUBNET_AZ1: &str = "subnet-0a1b2c3d4e5f67890";
pub const SUBNET_AZ4: &str = "subnet-0b1c2d3e4f5a67890";
pub const SUBNET_AZ6: &str = "subnet-0d1e2f3a4b5c67890";
/// In use1-az2, which the clusters' services do not offer.
pub const SUBNET_AZ2: &str = "subnet-0c1d2e3f4a5b67890";
pub const SG: &str = "sg-0a1b2c3d4e5f67890";

/// A world where everything takes a (simulated) second or two and time runs `scale` times
/// faster than real time.
pub fn world(scale: u32, rate_limits: bool) -> String {
    format!(
        r#"clusters:
  - id: "{CLUSTER}"
    projectId: "1372813089454548012"
    region: us-east-1
    nodeGroups: [{{id: "1379661944646413144", default: true, availableZones: [use1-az1, use1-az4, use1-az6]}}]
  - id: "{FAILING_CLUSTER}"
    projectId: "1372813089454548012"
    region: us-east-1
    nodeGroups: [{{id: "1379661944646414000", default: true, availableZones: [use1-az1, use1-az4, use1-az6]}}]
vpcs:
  - id: {VPC}
    region: us-east-1
    subnets:
      - {{id: {SUBNET_AZ1}, azId: use1-az1}}
      - {{id: {SUBNET_AZ4}, azId: use1-az4}}
      - {{id: {SUBNET_AZ6}, azId: use1-az6}}
      - {{id: {SUBNET_AZ2}, azId: use1-az2}}
    securityGroups: [{SG}]
timing: {{serviceCreate: 1s, accept: 1s, activate: 2s, privateDns: 1s, delete: 1s}}
timeScale: {scale}
faults: {{rateLimits: {rate_limits}, failConnections: ["{FAILING_CLUSTER}"]}}
"#
    )
}

/// One endpoint document.
pub fn endpoint(name: &str, cluster: &str, subnets: &[&str], extra: &str) -> String {
    format!(
        "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\nmetadata: {{name: {name}}}\nspec:\n  tidbCloud: {{clusterId: \"{cluster}\"}}\n  aws:\n    region: us-east-1\n    vpcId: {VPC}\n    subnetIds: [{}]\n    securityGroupIds: [{SG}]\n{extra}",
        subnets.join(", ")
    )
}

/// `endpoint` for a second (third...) endpoint in the same VPC to the same cluster: EC2 gives a
/// service one private DNS domain per VPC, so only one of them can have private DNS.
pub fn another_endpoint(name: &str, cluster: &str, subnets: &[&str], extra: &str) -> String {
    endpoint(
        name,
        cluster,
        subnets,
        &format!("  privateDns: false\n{extra}"),
    )
}

/// The `i`-th of many endpoints in one VPC to one cluster: the first one with private DNS.
pub fn nth_endpoint(i: usize, name: &str, cluster: &str, subnets: &[&str]) -> String {
    if i == 0 {
        endpoint(name, cluster, subnets, "")
    } else {
        another_endpoint(name, cluster, subnets, "")
    }
}

/// A daemon set-up in a temp directory: config, world, endpoints/ and a persisted world.
pub struct Setup {
    pub dir: tempfile::TempDir,
}

impl Setup {
    pub fn new(world_text: &str, config_extra: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("endpoints")).unwrap();
        std::fs::write(dir.path().join("world.yaml"), world_text).unwrap();
        let mut config = String::new();
        writeln!(config, "endpointsDir: ./endpoints").unwrap();
        writeln!(config, "interval: 60s").unwrap();
        writeln!(config, "settleInterval: 100ms").unwrap();
        writeln!(config, "ownerId: test-host").unwrap();
        writeln!(config, "stateDir: ./state").unwrap();
        writeln!(config, "metrics: {{listen: \"127.0.0.1:0\"}}").unwrap();
        writeln!(
            config,
            "simulated: {{world: ./world.yaml, stateFile: ./world-state.json}}"
        )
        .unwrap();
        config.push_str(config_extra);
        std::fs::write(dir.path().join("privatelinkd.yaml"), config).unwrap();
        Setup { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn config(&self) -> PathBuf {
        self.path("privatelinkd.yaml")
    }

    pub fn write(&self, rel: &str, text: &str) {
        let path = self.path(&format!("endpoints/{rel}"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.path(&format!("endpoints/{rel}"))).unwrap();
    }

    /// The status file of `endpoints/<stem>.yaml`, parsed, if there is one.
    pub fn status(&self, stem: &str) -> Option<serde_json::Value> {
        let text =
            std::fs::read_to_string(self.path(&format!("endpoints/{stem}.status.yaml"))).ok()?;
        serde_saphyr::from_str(&text).ok()
    }

    /// The phase of endpoint `name` in status file `stem`.
    pub fn phase(&self, stem: &str, name: &str) -> Option<String> {
        let status = self.status(stem)?;
        status["endpoints"]
            .as_array()?
            .iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["phase"].as_str().map(String::from))
    }

    /// The simulated world as persisted: every endpoint EC2 ever made, with its tags.
    pub fn world_state(&self) -> serde_json::Value {
        let text =
            std::fs::read_to_string(self.path("world-state.json")).unwrap_or_else(|_| "{}".into());
        serde_json::from_str(&text).unwrap()
    }

    /// Endpoints in the persisted world that are not deleted (by `deleted_at`).
    pub fn live_endpoints(&self) -> Vec<serde_json::Value> {
        let state = self.world_state();
        let Some(map) = state["endpoints"].as_object() else {
            return Vec::new();
        };
        map.values()
            .filter(|e| e["deleted_at"].is_null())
            .cloned()
            .collect()
    }

    /// The VPC endpoint IDs of the connections in the persisted world that are not deleted.
    pub fn live_connections(&self) -> Vec<String> {
        let state = self.world_state();
        let Some(map) = state["connections"].as_object() else {
            return Vec::new();
        };
        map.values()
            .filter(|c| c["deleted_at"].is_null())
            .filter_map(|c| c["connection"]["endpointId"].as_str().map(String::from))
            .collect()
    }
}

/// A free loopback port (for a `metrics.listen` the test must know, or a server of its own).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` until it holds (true) or `limit` passes (false).
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Polls `check` until it holds or `limit` passes; the test fails with `what` otherwise.
pub fn wait_for(what: &str, limit: Duration, check: impl FnMut() -> bool) {
    assert!(
        eventually(limit, check),
        "timed out after {limit:?} waiting for {what}"
    );
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_privatelinkd"))
}

/// What a systemd unit hands its processes, and the TiDB Cloud keys' environment: the daemon
/// acts on every one of them (a state directory it locks, a socket it notifies, journald's log
/// format, credentials). A suite run under systemd, or from a shell that has them, must not
/// pass them to the daemons it starts; a test that wants one sets it itself.
const INHERITED_BY_SYSTEMD: [&str; 13] = [
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "JOURNAL_STREAM",
    "STATE_DIRECTORY",
    "RUNTIME_DIRECTORY",
    "CREDENTIALS_DIRECTORY",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "INVOCATION_ID",
    "TIDBCLOUD_PUBLIC_KEY",
    "TIDBCLOUD_PRIVATE_KEY",
];

/// The privatelinkd binary, with none of the environment above.
pub fn privatelinkd_command() -> Command {
    let mut command = Command::new(binary());
    for var in INHERITED_BY_SYSTEMD {
        command.env_remove(var);
    }
    command
}

/// The daemon binary running on a setup, killed when dropped. Its log goes to
/// `<setup>/daemon.log` (appended across restarts): a pipe nobody reads could fill and stall it.
pub struct Daemon {
    pub child: Child,
    log: PathBuf,
    /// Where this process's part of the log begins: evidence is read from this process only,
    /// never from what an earlier one wrote.
    offset: usize,
}

impl Daemon {
    pub fn start(setup: &Setup, args: &[&str]) -> Daemon {
        Daemon::start_with(setup, args, &[])
    }

    pub fn start_with(setup: &Setup, args: &[&str], envs: &[(&str, &str)]) -> Daemon {
        let log = setup.path("daemon.log");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let offset = file.metadata().unwrap().len() as usize;
        let child = privatelinkd_command()
            .args(["run", "--config"])
            .arg(setup.config())
            .args(args)
            .env("RUST_LOG", "info")
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        Daemon { child, log, offset }
    }

    /// This process's log so far.
    pub fn log(&self) -> String {
        let all = std::fs::read(&self.log).unwrap_or_default();
        String::from_utf8_lossy(all.get(self.offset..).unwrap_or_default()).into_owned()
    }

    /// The address this process serves `/metrics` on (from its first log line, written once
    /// its signal handlers are in and its listener is bound).
    pub fn addr(&self) -> String {
        let mut found = None;
        wait_for("the daemon's listener", Duration::from_secs(30), || {
            found = self.log().lines().find_map(|l| {
                let (_, addr) = l.split_once("/readyz on http://")?;
                Some(addr.trim().to_string())
            });
            found.is_some()
        });
        found.unwrap()
    }

    /// Waits until this process says it is ready (`/readyz` 200: a full pass completed).
    pub fn wait_ready(&self) {
        let addr = self.addr();
        wait_for("the daemon to be ready", Duration::from_secs(60), || {
            http_get(&addr, "/readyz").is_some_and(|(status, _)| status == 200)
        });
    }

    /// A metric of this process, summed over its series (`None` while it does not answer).
    pub fn metric(&self, name: &str) -> Option<f64> {
        let (_, body) = http_get(&self.addr(), "/metrics")?;
        Some(
            body.lines()
                .filter(|l| {
                    l.strip_prefix(name)
                        .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum(),
        )
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the process to end by itself: its exit code and the log so far.
    pub fn wait(mut self, limit: Duration) -> (Option<i32>, String) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (
                    status.code(),
                    std::fs::read_to_string(&self.log).unwrap_or_default(),
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the daemon did not exit within {limit:?}");
    }

    /// SIGTERM, then the exit code. Waits first for this process to say it has started, so
    /// the signal cannot arrive before its handlers are in.
    pub fn stop(self) -> Option<i32> {
        self.addr();
        self.signal("TERM");
        self.wait(Duration::from_secs(30)).0
    }

    /// A number from /proc/PID/status (`VmRSS:`, `Threads:`).
    pub fn proc_status(&self, key: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    pub fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.0 GET on loopback: (status, body), or `None` if nothing answers.
pub fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    http_request(addr, "GET", path, "")
}

/// A plain HTTP/1.0 request on loopback with a JSON body: (status, body).
pub fn http_request(addr: &str, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// Starts the daemon `kills` times and kills it with SIGKILL at a pseudo-random instant each
/// time (replayable from `seed`, between `earliest` and `earliest + spread`), then starts it
/// once more and returns it: what a crash campaign leaves behind.
pub fn crash_repeatedly(
    setup: &Setup,
    kills: usize,
    mut seed: u64,
    earliest: Duration,
    spread: Duration,
) -> Daemon {
    for _ in 0..kills {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let after = earliest + Duration::from_millis((seed >> 33) % spread.as_millis() as u64);
        let mut daemon = Daemon::start(setup, &[]);
        std::thread::sleep(after);
        daemon.child.kill().unwrap(); // SIGKILL, at an arbitrary instant
        daemon.child.wait().unwrap();
    }
    Daemon::start(setup, &[])
}

/// After a crash campaign: exactly `documents` live endpoints, no name twice, and exactly one
/// live connection each, in the persisted simulated world.
pub fn assert_one_endpoint_and_connection_per_document(setup: &Setup, documents: usize) {
    let live = setup.live_endpoints();
    assert_eq!(live.len(), documents, "exactly one endpoint per document");
    let mut names: Vec<&str> = live
        .iter()
        .map(|e| {
            e["endpoint"]["tags"]["privatelinkd.io/name"]
                .as_str()
                .unwrap()
        })
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), documents, "no name twice");
    let state = setup.world_state();
    let connections = state["connections"]
        .as_object()
        .unwrap()
        .values()
        .filter(|c| c["deleted_at"].is_null())
        .count();
    assert_eq!(
        connections, documents,
        "exactly one connection per document"
    );
}

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
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("world.yaml");
        std::fs::write(&path, world_text).unwrap();
        let world = privatelinkd::cloud::sim::World::load(&path).unwrap();
        let sim = privatelinkd::cloud::sim::SimCloud::new(world, None).unwrap();
        let fake = fake_tidbcloud::Fake::new(sim, options);
        let sim = fake.sim().clone();
        let handle = fake.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = fake;
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
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

/// Test credentials for moto and the EC2 stub, set once before any AWS client is built in this process, so
/// the SDK's default chain finds them and never probes the instance metadata address.
pub fn aws_test_credentials() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: the suite's runner (nextest) runs each test in a process of its own, and this
        // runs before the test starts a thread or a child; `Once` keeps it to one write.
        unsafe {
            std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
            std::env::set_var("AWS_REGION", "us-east-1");
            std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
            std::env::remove_var("AWS_PROFILE");
        }
    });
}
