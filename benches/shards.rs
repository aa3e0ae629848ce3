//! Sharding on the simulated cloud: one estate (N endpoints over A AWS accounts, one region,
//! ten clusters) split into K groups, each with its own TiDB Cloud API key (its own 100 requests
//! a minute) and its own accounts; bulk convergence time as K grows.
//!
//! ```text
//! cargo bench --bench shards -- --endpoints 1000 --accounts 8
//! ```
//!
//! Every shard is a whole daemon (`Daemon::pass`) with the providers' limits enforced, and all
//! run side by side on tokio's paused clock, so the figure is scheduling against the limits.
//! Each shard simulates its own accounts and key; in TiDB Cloud the shards of one project
//! would also list each other's connections (the listing has no filter), which matters for
//! observation, not for convergence.

use std::path::Path;
use std::sync::Arc;

use privatelinkd::cloud::any::{AnyArm, AnyEc2, AnyGcp, AnyTidb};
use privatelinkd::cloud::budget::{Budgeted, Rates};
use privatelinkd::cloud::sim::{SimCloud, World};
use privatelinkd::daemon::{Clouds, Daemon};
use privatelinkd::metrics::Metrics;
use privatelinkd::plan::Phase;
use privatelinkd::settings::Settings;

const CLUSTERS: usize = 10;

fn args() -> (usize, usize) {
    let (mut n, mut accounts) = (1000, 8);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().expect("a value").parse().expect("a number");
        match flag.as_str() {
            "--endpoints" => n = value(),
            "--accounts" => accounts = value(),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    (n, accounts)
}

/// Endpoint `i` lives in VPC `i / CLUSTERS`, which lives in account `vpc % accounts`.
fn account_of(i: usize, accounts: usize) -> usize {
    (i / CLUSTERS) % accounts
}

fn world(endpoints: &[usize], accounts: usize) -> String {
    let mut text = String::from("clusters:\n");
    for c in 0..CLUSTERS {
        text += &format!(
            "  - id: \"{}\"\n    projectId: \"1372813089454548012\"\n    region: us-east-1\n    nodeGroups: [{{id: \"{}\", default: true, availableZones: [use1-az1, use1-az4]}}]\n",
            1_379_661_944_646_413_000u64 + c as u64,
            2_379_661_944_646_413_000u64 + c as u64
        );
    }
    text += "vpcs:\n";
    let mut vpcs: Vec<usize> = endpoints.iter().map(|i| i / CLUSTERS).collect();
    vpcs.dedup();
    for v in vpcs {
        text += &format!(
            "  - {{id: vpc-{v:017x}, account: acct-{}, region: us-east-1, subnets: [{{id: subnet-{v:017x}, azId: use1-az1}}], securityGroups: [sg-{v:017x}]}}\n",
            v % accounts
        );
    }
    text += "timing: {serviceCreate: 180s, accept: 60s, activate: 120s, privateDns: 30s, delete: 60s}\nfaults: {rateLimits: true}\n";
    text
}

fn endpoint(i: usize, accounts: usize) -> String {
    let v = i / CLUSTERS;
    format!(
        "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\nmetadata: {{name: ep-{i:05}}}\nspec:\n  tidbCloud: {{clusterId: \"{}\"}}\n  aws:\n    account: acct-{}\n    region: us-east-1\n    vpcId: vpc-{v:017x}\n    subnetIds: [subnet-{v:017x}]\n    securityGroupIds: [sg-{v:017x}]\n",
        1_379_661_944_646_413_000u64 + (i % CLUSTERS) as u64,
        account_of(i, accounts)
    )
}

/// One shard: its directory, its world (its accounts, its key's budget) and its daemon.
fn shard(dir: &Path, endpoints: &[usize], accounts: usize) -> (Daemon, SimCloud) {
    std::fs::create_dir_all(dir.join("endpoints")).unwrap();
    for &i in endpoints {
        std::fs::write(
            dir.join(format!("endpoints/ep-{i:05}.yaml")),
            endpoint(i, accounts),
        )
        .unwrap();
    }
    std::fs::write(dir.join("world.yaml"), world(endpoints, accounts)).unwrap();
    std::fs::write(
        dir.join("privatelinkd.yaml"),
        "endpointsDir: ./endpoints\nstatusDir: ./status\ninterval: 60s\nownerId: bench\nsimulated: {world: ./world.yaml}\n",
    )
    .unwrap();
    let settings = Settings::load(&dir.join("privatelinkd.yaml")).unwrap();
    let sim = SimCloud::new(World::load(&dir.join("world.yaml")).unwrap(), None).unwrap();
    let clouds = Clouds {
        tidb: Budgeted::new(AnyTidb::Simulated(sim.clone()), Rates::default()),
        ec2: Budgeted::new(AnyEc2::Simulated(sim.clone()), Rates::default()),
        gcp: Budgeted::new(AnyGcp::Simulated(sim.clone()), Rates::default()),
        azure: Budgeted::new(AnyArm::Simulated(sim.clone()), Rates::default()),
    };
    (
        Daemon::new(settings, clouds, false, Arc::new(Metrics::new())),
        sim,
    )
}

/// Passes as the daemon spaces them until all its endpoints are Active: simulated seconds.
async fn converge(mut d: Daemon, sim: SimCloud) -> (f64, u64) {
    let start = sim.now_ms();
    loop {
        let summary = d.pass(true).await;
        let active = summary
            .plan
            .endpoints
            .iter()
            .all(|p| p.phase == Phase::Active);
        if active && summary.actions_ok + summary.actions_failed == 0 {
            let throttled = sim
                .calls()
                .iter()
                .filter(|(k, _)| k.ends_with(".throttled"))
                .map(|(_, v)| v)
                .sum();
            return ((sim.now_ms() - start) as f64 / 1000.0, throttled);
        }
        tokio::time::sleep(d.next_pass_in(&summary)).await;
    }
}

fn main() {
    let (n, accounts) = args();
    println!(
        "{n} endpoints over {accounts} AWS accounts (one region), ten clusters in one project"
    );
    println!(
        "| shards (API keys) | simulated time to all Active | bound: max(EC2 per account, TiDB per key) | throttled |"
    );
    println!("|---|---|---|---|");
    for shards in [1, 2, 4] {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        let (time, throttled) = local.block_on(&rt, async {
            tokio::time::pause();
            let mut tasks = Vec::new();
            for s in 0..shards {
                // A shard takes whole accounts: shard s has the accounts a with a % shards == s.
                let mine: Vec<usize> = (0..n)
                    .filter(|&i| account_of(i, accounts) % shards == s)
                    .collect();
                let (d, sim) = shard(&dir.path().join(format!("shard-{s}")), &mine, accounts);
                tasks.push(tokio::task::spawn_local(converge(d, sim)));
            }
            let mut worst = (0.0f64, 0u64);
            for t in tasks {
                let (time, throttled) = t.await.unwrap();
                worst = (worst.0.max(time), worst.1 + throttled);
            }
            worst
        });
        // No create before the services are Active (180 s), then the slower of EC2 (4 burst +
        // 0.3/s per account) and TiDB Cloud (100 burst + 100/min per key), then activation and
        // private DNS of the last one (150 s).
        let per_account = n.div_ceil(accounts) as f64;
        let per_key = n.div_ceil(shards) as f64;
        let ec2 = (per_account - 4.0).max(0.0) / 0.3;
        let tidb = (per_key - 100.0).max(0.0) / (100.0 / 60.0);
        let bound = 180.0 + ec2.max(tidb) + 150.0;
        println!(
            "| {shards} | {time:.0} s | {bound:.0} s ({}-bound) | {throttled} |",
            if tidb > ec2 { "TiDB" } else { "EC2" }
        );
    }
}
