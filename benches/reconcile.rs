//! The reconcile benchmark: API calls, convergence time against the rate-limit bound, CPU and
//! memory, on the simulated cloud with the providers' real limits enforced.
//!
//! ```text
//! cargo bench --bench reconcile -- --endpoints 1000 [--passes 30] [--no-converge-limits]
//! cargo bench --bench reconcile -- --endpoints 1000 --write-only DIR
//! cargo bench --bench reconcile -- --endpoints 1000 --no-ledger   # the ledger in memory
//! cargo bench --bench reconcile -- --endpoints 1000 --gcp   # Google Cloud endpoints instead
//! cargo bench --bench reconcile -- --endpoints 1000 --azure # Azure private endpoints instead
//! ```
//!
//! `--write-only DIR` writes the same files for the daemon itself (`privatelinkd run --config`
//! on the path it prints) and benchmarks nothing: `scripts/measure-daemon` measures with them.
//!
//! One run per size: peak RSS is per process. See BENCHMARKS.md for the table and the command
//! that produced it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use privatelinkd::cloud::any::{AnyArm, AnyEc2, AnyGcp, AnyTidb};
use privatelinkd::cloud::budget::{Budgeted, Rates};
use privatelinkd::cloud::sim::{SimCloud, World};
use privatelinkd::control::Event;
use privatelinkd::daemon::{Clouds, Daemon};
use privatelinkd::metrics::Metrics;
use privatelinkd::plan::Phase;
use privatelinkd::settings::Settings;
use privatelinkd::source::Catalog;

struct Args {
    endpoints: usize,
    passes: usize,
    /// Converge with the providers' limits enforced (measures the bound); without, the
    /// world is filled quickly and only converged passes are measured.
    converge_with_limits: bool,
    /// Only write the files, for a daemon (`privatelinkd run`), into this directory.
    write_only: Option<PathBuf>,
    /// Keep the ledger in memory instead of `stateDir/ledger.sqlite`: what the ledger costs.
    no_ledger: bool,
    /// Google Cloud Private Service Connect endpoints instead of AWS VPC endpoints.
    gcp: bool,
    /// Azure private endpoints instead.
    azure: bool,
}

fn args() -> Args {
    let mut a = Args {
        endpoints: 1000,
        passes: 20,
        converge_with_limits: true,
        write_only: None,
        no_ledger: false,
        gcp: false,
        azure: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().expect("a value after the flag");
        match flag.as_str() {
            "--endpoints" => a.endpoints = value().parse().expect("a number"),
            "--passes" => a.passes = value().parse().expect("a number"),
            "--no-converge-limits" => a.converge_with_limits = false,
            "--write-only" => a.write_only = Some(value().into()),
            "--no-ledger" => a.no_ledger = true,
            "--gcp" => a.gcp = true,
            "--azure" => a.azure = true,
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// Ten clusters (one project) and a VPC for every ten endpoints: each VPC reaches each cluster
/// once (EC2 allows one private DNS domain per service and VPC, so one endpoint per cluster
/// and VPC is what an estate looks like).
const CLUSTERS: usize = 10;

fn cluster(c: usize) -> String {
    format!("{}", 1_379_661_944_646_413_000u64 + c as u64)
}

fn vpc(v: usize) -> String {
    format!("vpc-{v:017x}")
}

/// Google Cloud: TiDB Cloud allows 10 endpoints per cluster, so a cluster (us-central1) for
/// every ten, and one network whose subnetwork has room for all.
fn gcp_world(n: usize, rate_limits: bool) -> String {
    let mut text = String::from("clusters:\n");
    for c in 0..n.div_ceil(CLUSTERS) {
        text += &format!(
            "  - {{id: \"{}\", projectId: \"1372813089454548012\", region: us-central1, cloudProvider: gcp, nodeGroups: [{{id: \"{}\", default: true}}]}}\n",
            cluster(c),
            2_379_661_944_646_413_000u64 + c as u64
        );
    }
    text += "gcpNetworks:\n  - {project: bench-project, name: bench-vpc, subnetworks: [{name: bench-sub, region: us-central1, ipCidrRange: 10.0.0.0/12}]}\n";
    text += &format!(
        "timing: {{serviceCreate: 180s, accept: 60s, activate: 120s, delete: 60s, operation: 5s}}\nfaults: {{rateLimits: {rate_limits}}}\n"
    );
    text
}

/// Azure: a cluster (eastus2) for every ten endpoints, as for Google Cloud (TiDB Cloud's
/// per-cluster limits are alike), and one virtual network whose subnet has room for all.
fn azure_world(n: usize, rate_limits: bool) -> String {
    let mut text = String::from("clusters:\n");
    for c in 0..n.div_ceil(CLUSTERS) {
        text += &format!(
            "  - {{id: \"{}\", projectId: \"1372813089454548012\", region: eastus2, cloudProvider: azure, nodeGroups: [{{id: \"{}\", default: true}}]}}\n",
            cluster(c),
            2_379_661_944_646_413_000u64 + c as u64
        );
    }
    text += &format!(
        "azureNetworks:\n  - {{subscriptionId: {AZURE_SUBSCRIPTION}, resourceGroup: bench, location: eastus2, virtualNetwork: bench-vnet, subnets: [{{name: bench-sub, addressPrefix: 10.0.0.0/12}}]}}\n"
    );
    text += &format!(
        "timing: {{serviceCreate: 180s, accept: 60s, activate: 120s, delete: 60s, operation: 30s}}\nfaults: {{rateLimits: {rate_limits}}}\n"
    );
    text
}

const AZURE_SUBSCRIPTION: &str = "00000000-0000-0000-0000-0000000000b1";

fn azure_endpoint(i: usize) -> String {
    format!(
        "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\nmetadata: {{name: ep-{i:05}}}\nspec:\n  tidbCloud: {{clusterId: \"{}\"}}\n  azure: {{subscriptionId: {AZURE_SUBSCRIPTION}, resourceGroup: bench, location: eastus2, virtualNetwork: bench-vnet, subnet: bench-sub}}\n",
        cluster(i / CLUSTERS)
    )
}

fn gcp_endpoint(i: usize) -> String {
    format!(
        "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\nmetadata: {{name: ep-{i:05}}}\nspec:\n  tidbCloud: {{clusterId: \"{}\"}}\n  gcp: {{project: bench-project, region: us-central1, network: bench-vpc, subnetwork: bench-sub}}\n",
        cluster(i / CLUSTERS)
    )
}

fn world(n: usize, rate_limits: bool) -> String {
    if gcp() {
        return gcp_world(n, rate_limits);
    }
    if azure() {
        return azure_world(n, rate_limits);
    }
    let mut text = String::from("clusters:\n");
    for c in 0..CLUSTERS {
        text += &format!(
            "  - id: \"{}\"\n    projectId: \"1372813089454548012\"\n    region: us-east-1\n    nodeGroups: [{{id: \"{}\", default: true, availableZones: [use1-az1, use1-az4, use1-az6]}}]\n",
            cluster(c),
            2_379_661_944_646_413_000u64 + c as u64
        );
    }
    text += "vpcs:\n";
    for v in 0..n.div_ceil(CLUSTERS) {
        text += &format!(
            "  - {{id: {}, region: us-east-1, subnets: [{{id: subnet-{v:017x}, azId: use1-az1}}, {{id: subnet-1{v:016x}, azId: use1-az4}}], securityGroups: [sg-{v:017x}]}}\n",
            vpc(v)
        );
    }
    text += &format!(
        "timing: {{serviceCreate: 180s, accept: 60s, activate: 120s, privateDns: 30s, delete: 60s}}\nfaults: {{rateLimits: {rate_limits}}}\n"
    );
    text
}

/// Whether this run is of Google Cloud endpoints (`--gcp`), for the generators.
fn gcp() -> bool {
    GCP.load(std::sync::atomic::Ordering::Relaxed)
}

static GCP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this run is of Azure endpoints (`--azure`).
fn azure() -> bool {
    AZURE.load(std::sync::atomic::Ordering::Relaxed)
}

static AZURE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn endpoint(i: usize) -> String {
    if gcp() {
        return gcp_endpoint(i);
    }
    if azure() {
        return azure_endpoint(i);
    }
    let v = i / CLUSTERS;
    format!(
        "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\nmetadata: {{name: ep-{i:05}}}\nspec:\n  tidbCloud: {{clusterId: \"{}\"}}\n  aws:\n    region: us-east-1\n    vpcId: {}\n    subnetIds: [subnet-{v:017x}, subnet-1{v:016x}]\n    securityGroupIds: [sg-{v:017x}]\n",
        cluster(i % CLUSTERS),
        vpc(v)
    )
}

/// Writes the endpoint files (under `dir/endpoints`, which must not exist yet), the world and
/// the daemon config into `dir`: the config's path.
fn write_files(dir: &Path, n: usize, world: &str, interval: &str) -> PathBuf {
    let endpoints = dir.join("endpoints");
    std::fs::create_dir(&endpoints).expect("a new endpoints directory");
    for i in 0..n {
        std::fs::write(endpoints.join(format!("ep-{i:05}.yaml")), endpoint(i)).unwrap();
    }
    std::fs::write(dir.join("world.yaml"), world).unwrap();
    let config = dir.join("privatelinkd.yaml");
    std::fs::write(
        &config,
        format!("endpointsDir: ./endpoints\nstatusDir: ./status\nstateDir: ./state\ninterval: {interval}\nownerId: bench\nsimulated: {{world: ./world.yaml}}\nmetrics: {{listen: \"127.0.0.1:0\"}}\n"),
    )
    .unwrap();
    config
}

/// A plain HTTP GET on loopback, blocking: the body.
mod http_get {
    pub fn blocking_get(url: &str) -> String {
        use std::io::{Read, Write};
        let rest = url.trim_start_matches("http://");
        let (addr, path) = rest.split_once('/').unwrap_or((rest, ""));
        let mut stream = std::net::TcpStream::connect(addr).expect("the listener answers");
        write!(stream, "GET /{path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }
}

/// CPU time of this process so far (user + system, every thread), to the microsecond.
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// A memory figure of this process (`VmRSS:`, `VmHWM:`), in MiB.
fn rss_mib(key: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn daemon(dir: &Path, sim: &SimCloud, limits: bool, ledger: bool) -> Daemon {
    let settings = Settings::load(&dir.join("privatelinkd.yaml")).expect("a valid config");
    // Without limits (filling a large world quickly), the daemon's own budgets step aside too.
    let rates = if limits {
        Rates::default()
    } else {
        Rates::default().scaled(1000.0)
    };
    let clouds = Clouds {
        tidb: Budgeted::new(AnyTidb::Simulated(sim.clone()), rates),
        ec2: Budgeted::new(AnyEc2::Simulated(sim.clone()), rates),
        gcp: Budgeted::new(AnyGcp::Simulated(sim.clone()), rates),
        azure: Budgeted::new(AnyArm::Simulated(sim.clone()), rates),
    };
    let mut d = Daemon::new(settings, clouds, false, Arc::new(Metrics::new()));
    // As `run` does: the ledger in the stateDir (SQLite, fsync on commit).
    if ledger {
        d.set_ledger(privatelinkd::ledger::local::open(&dir.join("state")).expect("a ledger"));
    }
    d
}

/// Passes a minute apart (on tokio's paused clock) until one acts: how many minutes.
async fn minutes_until_acted(d: &mut Daemon) -> u32 {
    for minute in 1..=60 {
        tokio::time::advance(Duration::from_secs(60)).await;
        let summary = d.pass(true).await;
        if summary.actions_ok + summary.actions_failed > 0 {
            return minute;
        }
    }
    panic!("drift not acted on within an hour");
}

/// Passes as the daemon spaces them until everything is Active and quiet again.
async fn settle(d: &mut Daemon) {
    loop {
        let summary = d.pass(true).await;
        let active = summary
            .plan
            .endpoints
            .iter()
            .all(|p| p.phase == Phase::Active);
        if active && summary.actions_ok + summary.actions_failed == 0 {
            return;
        }
        tokio::time::sleep(d.next_pass_in(&summary)).await;
    }
}

fn main() {
    let a = args();
    GCP.store(a.gcp, std::sync::atomic::Ordering::Relaxed);
    AZURE.store(a.azure, std::sync::atomic::Ordering::Relaxed);
    let n = a.endpoints;
    if let Some(dir) = &a.write_only {
        // The daemon runs on the wall clock, not tokio's paused one: at a time scale of 1,
        // filling 1,000 endpoints against the providers' limits would take an hour (10,000:
        // over nine). At 1000 a simulated second is a real millisecond, and the daemon's
        // budgets scale with it, so the fill is bound by the daemon's own passes; a converged
        // pass asks the providers nothing that depends on the scale (its caches and
        // `fullResync` run on the wall clock). A pass every 2 s: 20 of them take 40 s.
        let world = world(n, a.converge_with_limits) + "timeScale: 1000\n";
        std::fs::create_dir_all(dir).unwrap();
        let config = write_files(dir, n, &world, "2s");
        println!("{}", std::path::absolute(config).unwrap().display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let endpoints = dir.path().join("endpoints");
    write_files(dir.path(), n, &world(n, a.converge_with_limits), "60s");

    // Cold start: every file read, parsed and checked.
    let start = Instant::now();
    let catalog = Catalog::read(std::slice::from_ref(&endpoints)).unwrap();
    let cold = start.elapsed();
    assert_eq!(catalog.documents().count(), n);

    let world_file = World::load(&dir.path().join("world.yaml")).unwrap();
    let sim = SimCloud::new(world_file, None).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut d = daemon(dir.path(), &sim, a.converge_with_limits, !a.no_ledger);
    // As the daemon runs: its listener up (on a thread of its own), its watcher on the
    // directory, so a pass reads only what changed.
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let addr = rt.block_on(d.start(tx.clone())).expect("the daemon starts");

    // Bulk convergence, passes spaced as the daemon spaces them (`Daemon::next_pass_in`), on
    // tokio's paused clock: the simulated cloud, the budgets and the daemon all wait on it, so
    // the figure is the daemon's scheduling against the providers' limits, not this machine's
    // speed (a pass's CPU time costs no simulated time).
    let converge_start = Instant::now();
    let mut passes = 0;
    // Read inside the runtime: outside it, tokio's clock is the wall clock again.
    let converge_sim = rt.block_on(async {
        tokio::time::pause();
        let converge_start_sim = sim.now_ms();
        loop {
            let summary = d.pass(true).await;
            passes += 1;
            let done = summary
                .plan
                .endpoints
                .iter()
                .all(|p| p.phase == Phase::Active);
            if done && summary.actions_ok + summary.actions_failed == 0 {
                break;
            }
            tokio::time::sleep(d.next_pass_in(&summary)).await;
        }
        let converge_sim = Duration::from_millis(sim.now_ms() - converge_start_sim);
        tokio::time::resume();
        converge_sim
    });
    let calls = sim.calls();
    let throttled = calls.get("ec2.throttled").copied().unwrap_or(0)
        + calls.get("tidbcloud.throttled").copied().unwrap_or(0)
        + calls.get("compute.throttled").copied().unwrap_or(0)
        + calls.get("arm.throttled").copied().unwrap_or(0);
    // The bound: no endpoint can be created before the clusters' services are Active (180 s
    // here); then EC2 lets 4 creates through at once and 0.3 per second after, per account,
    // region and action (one here), and TiDB Cloud 100 registrations at once and 100 per minute
    // after; the last endpoint still needs activation (120 s after its registration, acceptance
    // included) and private DNS (30 s).
    let ec2_bound = (n.saturating_sub(4)) as f64 / 0.3;
    let tidb_bound = (n.saturating_sub(100)) as f64 / (100.0 / 60.0);
    // Google Cloud: two inserts an endpoint (address, rule) from one project's mutation
    // bucket (300 burst, 20/s), the rule after the address's operation (5 s); no private DNS.
    // Azure: one PUT an endpoint from the subscription's write bucket (200 burst, 10/s), its
    // operation (30 s) before the registration; no private DNS to set.
    let bound = if a.gcp {
        let writes = (2 * n).saturating_sub(300) as f64 / 20.0;
        Duration::from_secs_f64(180.0 + 5.0 + writes.max(tidb_bound) + 120.0)
    } else if a.azure {
        let writes = n.saturating_sub(200) as f64 / 10.0;
        Duration::from_secs_f64(180.0 + 30.0 + writes.max(tidb_bound) + 120.0)
    } else {
        Duration::from_secs_f64(180.0 + ec2_bound.max(tidb_bound) + 120.0 + 30.0)
    };

    // Steady state: converged passes, one a minute for half an hour of (tokio's, virtual)
    // time: TiDB Cloud's full listings every fullResync fall in that window.
    sim.reset_calls();
    let writes_before = d.status_writes();
    let (ledger_fill, ledger_entries) = d.ledger_writes();
    let mut cpu = Vec::new();
    let wall = Instant::now();
    rt.block_on(async {
        tokio::time::pause();
        for _ in 0..a.passes {
            tokio::time::advance(Duration::from_secs(60)).await;
            let before = cpu_time();
            let summary = d.pass(true).await;
            cpu.push(cpu_time() - before);
            assert_eq!(summary.actions_ok + summary.actions_failed, 0);
        }
        tokio::time::resume();
    });
    let per_pass_wall = wall.elapsed() / a.passes as u32;
    let per_pass_cpu = cpu.iter().sum::<Duration>() / a.passes as u32;
    let max_cpu = cpu.iter().max().copied().unwrap_or_default();
    let writes = d.status_writes() - writes_before;
    let ledger_steady = d.ledger_writes().0 - ledger_fill;
    let steady = sim.calls();
    let minutes = a.passes as f64;
    let tidb_per_minute = steady
        .iter()
        .filter(|(k, _)| k.starts_with("tidbcloud."))
        .map(|(_, v)| *v)
        .sum::<u64>() as f64
        / minutes;
    let listing = if a.gcp {
        "compute.forwardingRules.list"
    } else if a.azure {
        "arm.privateEndpoints.list"
    } else {
        "ec2.DescribeVpcEndpoints"
    };
    let describes_per_pass = steady.get(listing).copied().unwrap_or(0) as f64 / minutes;
    let rss_steady = rss_mib("VmRSS:");
    // Drift, one pass a minute: a VPC endpoint deleted in the AWS console, then a connection
    // deleted in TiDB Cloud's console; minutes until a pass acts on each.
    let drift = rt.block_on(async {
        tokio::time::pause();
        let ids: Vec<String> = if a.gcp {
            // A forwarding rule deleted in the Google Cloud console.
            sim.gcp_delete_rule_behind_our_back("bench-project", "us-central1", "ep-00000");
            vec!["ep-00000".into(), "ep-00001".into()]
        } else if a.azure {
            // A private endpoint deleted in the Azure portal.
            let id = |name: &str| {
                privatelinkd::cloud::azure::private_endpoint_id(AZURE_SUBSCRIPTION, "bench", name)
            };
            sim.azure_delete_behind_our_back(&id("ep-00000"));
            vec![id("ep-00000"), id("ep-00001")]
        } else {
            let endpoints = sim.all_endpoints();
            sim.delete_endpoint_behind_our_back(&endpoints[0].id);
            endpoints.iter().take(2).map(|e| e.id.clone()).collect()
        };
        let aws = minutes_until_acted(&mut d).await;
        settle(&mut d).await;
        // On Azure a connection deleted by the provider disconnects the private endpoint for
        // good (Azure's `Disconnected`: only a new endpoint connects again), which the daemon
        // reports Failed for a person to decide: nothing to time.
        if a.azure {
            tokio::time::resume();
            return (aws, 0);
        }
        sim.delete_connection_behind_our_back(&ids[1]);
        let tidb = minutes_until_acted(&mut d).await;
        settle(&mut d).await;
        tokio::time::resume();
        (aws, tidb)
    });
    // A scrape of /metrics, as Prometheus makes it.
    let scrape = Instant::now();
    let body = http_get::blocking_get(&format!("http://{addr}/metrics"));
    let scrape_time = scrape.elapsed();
    // From a file save to the first API call: the daemon's own loop and watcher.
    let latency = rt.block_on(async {
        let running = tokio::spawn(d.run(rx));
        // Its start-up pass (a converged one), then quiet until the next interval.
        while sim.calls().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        sim.reset_calls();
        let saved = Instant::now();
        std::fs::write(
            endpoints.join("ep-00000.yaml"),
            endpoint(0) + "  suspend: false\n",
        )
        .unwrap();
        while sim.calls().is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let latency = saved.elapsed();
        tx.send(Event::Stop).await.unwrap();
        let _ = running.await;
        latency
    });

    println!("endpoints: {n}");
    println!(
        "cold start (read + check every file): {:.1} ms",
        cold.as_secs_f64() * 1000.0
    );
    if a.converge_with_limits {
        println!(
            "bulk convergence: {passes} passes, {:.0} s simulated ({:.1} s real), lower bound {:.0} s, ratio {:.3}; throttled responses: {throttled}",
            converge_sim.as_secs_f64(),
            converge_start.elapsed().as_secs_f64(),
            bound.as_secs_f64(),
            converge_sim.as_secs_f64() / bound.as_secs_f64()
        );
    } else {
        println!(
            "filled without limits: {passes} passes, {:.1} s real (no bound: the providers' limits were off)",
            converge_start.elapsed().as_secs_f64(),
        );
    }
    println!("calls while filling: {calls:?}");
    println!(
        "ledger: {ledger_entries} entries, {ledger_fill} transactions while filling, {ledger_steady} during the steady passes"
    );
    println!(
        "steady state over {} minutes: TiDB Cloud {tidb_per_minute:.1} requests/minute ({:.0} % of its budget), {describes_per_pass:.1} {listing} pages per pass; all calls {steady:?}; status writes {writes}",
        a.passes, tidb_per_minute
    );
    println!(
        "converged pass: {:.2} ms CPU on average ({:.2} ms per 1,000 endpoints), {:.2} ms at most, {:.2} ms wall",
        per_pass_cpu.as_secs_f64() * 1000.0,
        per_pass_cpu.as_secs_f64() * 1000.0 * 1000.0 / n as f64,
        max_cpu.as_secs_f64() * 1000.0,
        per_pass_wall.as_secs_f64() * 1000.0
    );
    println!(
        "memory: {rss_steady:.1} MiB resident in steady state, {:.1} MiB peak (filling included)",
        rss_mib("VmHWM:")
    );
    println!(
        "drift acted on after: {} minute(s) (endpoint deleted in its cloud's console), {} minute(s) (connection deleted in the TiDB Cloud console); interval 1m, fullResync 10m",
        drift.0, drift.1
    );
    println!(
        "/metrics scrape: {:.0} ms, {} bytes",
        scrape_time.as_secs_f64() * 1000.0,
        body.len()
    );
    println!(
        "file save to first API call: {:.0} ms",
        latency.as_secs_f64() * 1000.0
    );
}
