//! The reconcile benchmark: API calls, convergence time against the rate-limit bound, CPU and
//! memory, on the simulated cloud with the providers' real limits enforced.
//!
//! ```text
//! cargo bench --bench reconcile -- --endpoints 1000 [--time-scale 1000] [--passes 20] [--no-converge-limits]
//! ```
//!
//! One run per size: peak RSS is per process. See BENCHMARKS.md for the table and the command
//! that produced it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use privatelinkd::cloud::any::{AnyEc2, AnyTidb};
use privatelinkd::cloud::budget::{Budgeted, Rates};
use privatelinkd::cloud::sim::{SimCloud, World};
use privatelinkd::control::Event;
use privatelinkd::daemon::{self, Clouds, Daemon};
use privatelinkd::metrics::Metrics;
use privatelinkd::plan::Phase;
use privatelinkd::settings::Settings;
use privatelinkd::source::Catalog;

struct Args {
    endpoints: usize,
    time_scale: f64,
    passes: usize,
    /// Converge with the providers' limits enforced (measures the bound); without, the
    /// world is filled quickly and only converged passes are measured.
    converge_with_limits: bool,
}

fn args() -> Args {
    let mut a = Args {
        endpoints: 1000,
        time_scale: 1000.0,
        passes: 20,
        converge_with_limits: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().expect("a value after the flag");
        match flag.as_str() {
            "--endpoints" => a.endpoints = value().parse().expect("a number"),
            "--time-scale" => a.time_scale = value().parse().expect("a number"),
            "--passes" => a.passes = value().parse().expect("a number"),
            "--no-converge-limits" => a.converge_with_limits = false,
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

const CLUSTER: &str = "1379661944646413143";

fn world(time_scale: f64, rate_limits: bool) -> String {
    format!(
        r#"clusters:
  - id: "{CLUSTER}"
    projectId: "1372813089454548012"
    region: us-east-1
    nodeGroups: [{{id: "1379661944646413144", default: true, availableZones: [use1-az1, use1-az4, use1-az6]}}]
vpcs:
  - id: vpc-0a1b2c3d4e5f67890
    region: us-east-1
    subnets: [{{id: subnet-0a1b2c3d4e5f67890, azId: use1-az1}}, {{id: subnet-0b1c2d3e4f5a67890, azId: use1-az4}}]
    securityGroups: [sg-0a1b2c3d4e5f67890]
timing: {{serviceCreate: 180s, accept: 60s, activate: 120s, privateDns: 30s, delete: 60s}}
timeScale: {time_scale}
faults: {{rateLimits: {rate_limits}}}
"#
    )
}

fn endpoint(i: usize) -> String {
    format!(
        "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\nmetadata: {{name: ep-{i:05}}}\nspec:\n  tidbCloud: {{clusterId: \"{CLUSTER}\"}}\n  aws:\n    region: us-east-1\n    vpcId: vpc-0a1b2c3d4e5f67890\n    subnetIds: [subnet-0a1b2c3d4e5f67890, subnet-0b1c2d3e4f5a67890]\n    securityGroupIds: [sg-0a1b2c3d4e5f67890]\n"
    )
}

/// CPU time of this process so far (user + system), from /proc.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    // Linux reports in USER_HZ, which is 100 on every mainstream build.
    Duration::from_millis(ticks * 10)
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn daemon(dir: &Path, sim: &SimCloud, scale: f64) -> Daemon {
    let settings = Settings::load(&dir.join("privatelinkd.yaml")).expect("a valid config");
    let rates = Rates::default().scaled(scale);
    let clouds = Clouds {
        tidb: Budgeted::new(AnyTidb::Simulated(sim.clone()), rates),
        ec2: Budgeted::new(AnyEc2::Simulated(sim.clone()), rates),
    };
    Daemon::new(settings, clouds, false, Arc::new(Metrics::new()))
}

fn main() {
    let a = args();
    let n = a.endpoints;
    let dir = tempfile::tempdir().unwrap();
    let endpoints = dir.path().join("endpoints");
    std::fs::create_dir(&endpoints).unwrap();
    for i in 0..n {
        std::fs::write(endpoints.join(format!("ep-{i:05}.yaml")), endpoint(i)).unwrap();
    }
    std::fs::write(
        dir.path().join("world.yaml"),
        world(a.time_scale, a.converge_with_limits),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("privatelinkd.yaml"),
        // settleInterval is 5 s of simulated time: the daemon's default, on the bench's clock.
        format!(
            "endpointsDir: ./endpoints\nstatusDir: ./status\nstateDir: ./state\ninterval: 60s\nsettleInterval: {}ms\nownerId: bench\nsimulated: {{world: ./world.yaml}}\n",
            // Filling without limits, passes may apply for as long as they like.
            if a.converge_with_limits { (5000.0 / a.time_scale).ceil() as u64 } else { 5000 }
        ),
    )
    .unwrap();

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
    let mut d = daemon(dir.path(), &sim, a.time_scale);

    // Bulk convergence, passes spaced as the daemon spaces them (settleInterval, scaled down
    // by nothing: the simulated clock runs timeScale times faster).
    let converge_start_sim = sim.now_ms();
    let converge_start = Instant::now();
    let mut passes = 0;
    rt.block_on(async {
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
            // As the daemon spaces passes (Daemon::next_pass_in), on the simulated clock: 1 s
            // after changes, settleInterval (5 s) otherwise, and listings kept under half of
            // TiDB Cloud's 100 requests per minute.
            let wanted: f64 = if summary.actions_ok > 0 { 1.0 } else { 5.0 };
            let listing_floor = 2.0 * summary.listing_pages as f64 / (100.0 / 60.0);
            tokio::time::sleep(Duration::from_secs_f64(
                wanted.max(listing_floor) / a.time_scale,
            ))
            .await;
        }
    });
    let converge_sim = Duration::from_millis(sim.now_ms() - converge_start_sim);
    let calls = sim.calls();
    let throttled = calls.get("ec2.throttled").copied().unwrap_or(0)
        + calls.get("tidbcloud.throttled").copied().unwrap_or(0);
    // The bound: EC2 lets 4 creates through at once, then 0.3 per second; TiDB Cloud 100 at
    // once, then 100 per minute, for N registrations; then the last endpoint still needs
    // acceptance, activation and private DNS (60 + 120 + 30 s here) once registered.
    let ec2_bound = (n.saturating_sub(4)) as f64 / 0.3;
    let tidb_bound = (n.saturating_sub(100)) as f64 / (100.0 / 60.0);
    let bound = Duration::from_secs_f64(ec2_bound.max(tidb_bound) + 120.0 + 30.0);

    // Converged passes.
    sim.reset_calls();
    let writes_before = d.status_writes();
    let cpu_before = cpu_time();
    let wall = Instant::now();
    rt.block_on(async {
        for _ in 0..a.passes {
            let summary = d.pass(true).await;
            assert_eq!(summary.actions_ok + summary.actions_failed, 0);
        }
    });
    let per_pass_wall = wall.elapsed() / a.passes as u32;
    let per_pass_cpu = (cpu_time() - cpu_before) / a.passes as u32;
    let writes = d.status_writes() - writes_before;
    let per_pass: BTreeMap<String, f64> = sim
        .calls()
        .into_iter()
        .map(|(op, count)| (op, count as f64 / a.passes as f64))
        .collect();
    let ours: f64 = per_pass.values().sum();
    let minimum = n.div_ceil(100) + n.div_ceil(1000);
    // Terraform and the Kubernetes controllers refresh one resource per call: a describe of
    // each endpoint and a get of each connection, every pass.
    let per_resource = 2 * n;

    // From a file save to the first API call, through the watcher and the loop.
    let latency = rt.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let _watcher = daemon::watch(&endpoints, tx.clone(), Default::default()).unwrap();
        let running = tokio::spawn(daemon(dir.path(), &sim, a.time_scale).run(rx));
        tokio::time::sleep(Duration::from_secs(2)).await; // its start-up pass
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
    println!(
        "bulk convergence: {passes} passes, {:.0} s simulated ({:.1} s real), lower bound {:.0} s, ratio {:.3}; throttled responses: {throttled}",
        converge_sim.as_secs_f64(),
        converge_start.elapsed().as_secs_f64(),
        bound.as_secs_f64(),
        converge_sim.as_secs_f64() / bound.as_secs_f64()
    );
    println!(
        "converged pass: calls {per_pass:?} = {ours} (minimum {minimum}); status writes {writes}"
    );
    println!(
        "converged pass: {:.2} ms CPU, {:.2} ms wall; per-resource refresh would be {per_resource} calls ({:.0}x)",
        per_pass_cpu.as_secs_f64() * 1000.0,
        per_pass_wall.as_secs_f64() * 1000.0,
        per_resource as f64 / ours
    );
    println!("peak RSS: {:.1} MiB", peak_rss_mib());
    println!(
        "file save to first API call: {:.0} ms",
        latency.as_secs_f64() * 1000.0
    );
}
