//! The benchmark's converged pass through the real clients (on demand).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::moto::{Moto, seed};
use crate::common::sim::{cloud_of, doc};
use crate::common::*;

/// Counts calls by operation (the daemon's metrics hook, minus Prometheus).
#[derive(Default)]
struct Counter(std::sync::Mutex<BTreeMap<String, u64>>);

impl privatelinkd::cloud::CallObserver for Counter {
    fn call(
        &self,
        api: &'static str,
        operation: &'static str,
        _: privatelinkd::cloud::Outcome,
        _: Duration,
    ) {
        *self
            .0
            .lock()
            .unwrap()
            .entry(format!("{api}.{operation}"))
            .or_default() += 1;
    }

    fn budget_wait(&self, _: &'static str, _: Duration) {}
}

/// The benchmark's converged pass through the real clients: moto for EC2, the fake server for
/// TiDB Cloud, 1,000 endpoints. Slow (it creates them first), so run on demand:
/// `cargo test --release --test it -- --ignored --nocapture aws_moto::bench::converged_pass`.
#[test]
#[ignore]
fn converged_pass_through_the_real_clients_at_1000() {
    use fake_tidbcloud::{Algorithm, Fake, Faults, Options};
    use privatelinkd::cloud::Rate;
    use privatelinkd::cloud::budget::{Budgeted, Rates};
    use privatelinkd::cloud::tidb::client::{TidbClient, TidbSettings};
    use privatelinkd::plan::{Phase, Policy};
    use privatelinkd::reconcile::{Engine, Wanted};
    use privatelinkd::secret::Secret;
    let n = 1000;
    let moto = Moto::start();
    runtime().block_on(async {
        let net = seed(&moto.sdk().await).await;
        let zones: Vec<&str> = net.subnets.iter().map(|(_, az)| az.as_str()).collect();
        let world_text = format!(
            "clusters:\n  - id: \"{CLUSTER}\"\n    projectId: \"1\"\n    region: us-east-1\n    nodeGroups: [{{id: \"2\", default: true, availableZones: [{}]}}]\ntiming: {{serviceCreate: 0s, accept: 0s, activate: 0s, privateDns: 0s, delete: 0s}}\n",
            zones.join(", ")
        );
        let sim = cloud_of(&world_text);
        let options = Options {
            public_key: "P".into(),
            private_key: Secret::new("K"),
            algorithm: Algorithm::Sha256,
            requests_per_minute: 1_000_000,
            window: Duration::from_secs(60),
            faults: Faults::default(),
        };
        let fake = Fake::new(sim, options);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(fake.clone().serve(listener));
        let tidb = TidbClient::new(TidbSettings { api_url: url, public_key: "P".into(), private_key: Secret::new("K"), timeout: Duration::from_secs(30), caller: None }).unwrap();
        let fast = Rate { per_second: 10_000.0, burst: 10_000 };
        let rates = Rates { tidb: fast, ec2_mutating: fast, ec2_describe: fast, gcp: fast, arm_read: fast, arm_write: fast };
        let counter = std::sync::Arc::new(Counter::default());
        let mut engine = Engine::new(
            Budgeted::new(tidb, rates).observed_by(counter.clone()),
            Budgeted::new(moto.client(), rates).observed_by(counter.clone()),
            Budgeted::new(privatelinkd::cloud::any::AnyGcp::Unconfigured, rates),
            "host-a",
        );
        let wanted: Vec<Wanted> = (0..n)
            .map(|i| {
                let text = format!(
                    "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\nmetadata: {{name: ep-{i:04}}}\nspec:\n  tidbCloud: {{clusterId: \"{CLUSTER}\"}}\n  aws:\n    region: us-east-1\n    vpcId: {}\n    subnetIds: [{}]\n  privateDns: false\n",
                    net.vpc, net.subnets[1].0
                );
                Wanted::new(doc(&text), "f.yaml")
            })
            .collect();
        let policy = Policy { owner_id: "host-a".into(), max_deletes_per_pass: 5, allow_mass_delete: false, source_empty: false, approved: Default::default(), max_recreates_per_pass: 5 };
        engine.set_apply_window(Duration::from_secs(600));
        for _ in 0..20 {
            let pass = engine.pass(&wanted, &Default::default(), &policy, true).await;
            if pass.applied.is_empty() && pass.plan.endpoints.iter().all(|p| p.phase == Phase::Active) {
                break;
            }
        }
        // A converged pass between full listings: EC2 only. (moto answers DescribeVpcEndpoints
        // in one page whatever MaxResults says; AWS would take 1 for 1,000 too.)
        counter.0.lock().unwrap().clear();
        let start = Instant::now();
        let pass = engine.pass(&wanted, &Default::default(), &policy, true).await;
        let took = start.elapsed();
        assert!(pass.plan.endpoints.iter().all(|p| p.phase == Phase::Active));
        let calls = counter.0.lock().unwrap().clone();
        println!("converged pass over {n} endpoints through the real clients: {calls:?} in {took:?}");
        // The endpoints use the VPC's default group, which opens no port to the VPC here:
        // while PortAllowed is False, the scope's VPCs and groups are looked at every pass.
        assert_eq!(calls.get("ec2.DescribeVpcEndpoints"), Some(&1));
        let firewall = ["ec2.DescribeVpcEndpoints", "ec2.DescribeVpcs", "ec2.DescribeSecurityGroups"];
        assert!(calls.keys().all(|k| firewall.contains(&k.as_str())), "{calls:?}");
        // A pass with a full listing due (fullResync elapsed): ten pages of 100 more.
        // (After the last listing, observation waits for its share of the key's budget: ten
        // pages at half of 100 a minute is 12 s.)
        engine.set_tidb_pace(Duration::ZERO, 100.0 / 60.0);
        tokio::time::sleep(Duration::from_secs(13)).await;
        counter.0.lock().unwrap().clear();
        let start = Instant::now();
        engine.pass(&wanted, &Default::default(), &policy, true).await;
        let took = start.elapsed();
        let calls = counter.0.lock().unwrap().clone();
        println!("with a full listing: {calls:?} in {took:?}");
        assert_eq!(calls.get("tidbcloud.ListPrivateEndpointConnections"), Some(&10));
        assert_eq!(calls.get("ec2.DescribeVpcEndpoints"), Some(&1));
    });
}
