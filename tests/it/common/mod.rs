//! Shared test scaffolding, one definition each: worlds, endpoint files and daemon configs in
//! temp directories (here), the daemon binary as a process (`daemon`), the fake TiDB Cloud
//! server in this process (`fake_tidb`), moto_server for EC2 (`moto`), both for the daemon's
//! real clients (`real`), and the engine in-process on the simulated cloud (`sim`).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub mod daemon;
pub mod fake_tidb;
pub mod moto;
pub mod proxy;
pub mod real;
pub mod sim;

pub use daemon::*;
pub use fake_tidb::*;

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

/// A simulated world loaded from the text of a world file.
pub fn sim_world(world_text: &str) -> privatelinkd::cloud::sim::World {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("world.yaml");
    std::fs::write(&path, world_text).unwrap();
    privatelinkd::cloud::sim::World::load(&path).unwrap()
}

/// The runtime a test drives async code on: one thread, with time and I/O.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
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

    /// `privatelinkd state ARGS --config FILE` on this set-up, beside whatever daemon runs.
    pub fn state(&self, args: &[&str]) -> std::process::Output {
        privatelinkd_command()
            .arg("state")
            .args(args)
            .arg("--config")
            .arg(self.config())
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }

    /// `state ARGS`, which must succeed: its standard output.
    pub fn state_ok(&self, args: &[&str]) -> String {
        let out = self.state(args);
        assert!(
            out.status.success(),
            "state {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Rewrites the daemon config with `edit`.
    pub fn edit_config(&self, edit: impl FnOnce(String) -> String) {
        let config = std::fs::read_to_string(self.config()).unwrap();
        std::fs::write(self.config(), edit(config)).unwrap();
    }

    /// Moves `metrics.listen` to a free port, which it returns: for a test that scrapes it, or
    /// a command that finds the running daemon through the config.
    pub fn listen_on_free_port(&self) -> u16 {
        let port = free_port();
        self.edit_config(|c| c.replace("127.0.0.1:0", &format!("127.0.0.1:{port}")));
        port
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

    /// Condition `kind` of the first endpoint in status file `stem`: (status, message).
    pub fn condition(&self, stem: &str, kind: &str) -> Option<(String, String)> {
        let status = self.status(stem)?;
        status["endpoints"][0]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == kind)
            .map(|c| {
                (
                    c["status"].as_str().unwrap().to_string(),
                    c["message"].as_str().unwrap().to_string(),
                )
            })
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
