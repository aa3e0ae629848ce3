//! The engine against the simulated cloud, in-process: exact call counts and convergence.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::*;
use privatelinkd::cloud::ClusterState;
use privatelinkd::cloud::budget::{Budgeted, Rates};
use privatelinkd::cloud::sim::{SimCloud, World};
use privatelinkd::plan::{Phase, Policy};
use privatelinkd::reconcile::{Engine, Frozen, PassOutcome, Wanted};
use privatelinkd::spec::{self, EndpointDocument};
use proptest::prelude::*;

fn doc(text: &str) -> EndpointDocument {
    let loaded = privatelinkd::yaml::load(text);
    spec::checker()
        .check(&loaded.documents[0])
        .expect("test documents are valid")
}

/// `count` endpoints `ep-00000`, `ep-00001`... in one subnet, without private DNS (EC2 allows
/// one private DNS domain per service and VPC).
fn numbered(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            endpoint(
                &format!("ep-{i:05}"),
                CLUSTER,
                &[SUBNET_AZ1],
                "  privateDns: false\n",
            )
        })
        .collect()
}

fn wanted(docs: &[String]) -> Vec<Wanted> {
    docs.iter()
        .map(|t| Wanted::new(doc(t), "test.yaml"))
        .collect()
}

fn cloud(scale: u32, rate_limits: bool) -> SimCloud {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("world.yaml");
    std::fs::write(&path, world(scale, rate_limits)).unwrap();
    SimCloud::new(World::load(&path).unwrap(), None).unwrap()
}

fn policy() -> Policy {
    Policy {
        owner_id: "owner".into(),
        max_deletes_per_pass: 5,
        allow_mass_delete: false,
        source_empty: false,
        approved: Default::default(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Passes until one changes nothing and nothing is on its way, or `limit` passes.
type Sim = Budgeted<SimCloud>;

fn engine(cloud: &SimCloud) -> Engine<Sim, Sim> {
    let rates = Rates::default().scaled(cloud.time_scale());
    let budgeted = Budgeted::new(cloud.clone(), rates);
    let mut engine = Engine::new(budgeted.clone(), budgeted, "owner");
    // TiDB Cloud is looked at as often as its budget allows: on the simulated clock.
    engine.set_tidb_pace(Duration::from_secs(600), rates.tidb.per_second);
    engine
}

async fn converge(engine: &mut Engine<Sim, Sim>, wanted: &[Wanted], limit: usize) -> PassOutcome {
    let mut last = PassOutcome::default();
    for _ in 0..limit {
        last = engine
            .pass(wanted, &Frozen::default(), &policy(), true)
            .await;
        let settled = last
            .plan
            .endpoints
            .iter()
            .all(|p| !p.phase.is_transitional());
        if last.applied.is_empty() && settled && last.plan.removals.is_empty() {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    last
}

#[test]
fn a_converged_pass_over_1000_endpoints_costs_one_describe_and_a_full_listing_every_full_resync() {
    let docs: Vec<String> = (0..1000)
        .map(|i| {
            endpoint(
                &format!("ep-{i:04}"),
                CLUSTER,
                &[SUBNET_AZ1, SUBNET_AZ4],
                "  privateDns: false\n",
            )
        })
        .collect();
    let wanted = wanted(&docs);
    let cloud = cloud(1_000_000, false);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        let last = converge(&mut engine, &wanted, 30).await;
        assert!(
            last.plan.endpoints.iter().all(|p| p.phase == Phase::Active),
            "{:?}",
            last.plan.endpoints[0]
        );
        // Converged: EC2 is described (one page of 1,000), TiDB Cloud is not asked at all.
        tokio::time::pause();
        tokio::time::advance(Duration::from_secs(60)).await;
        cloud.reset_calls();
        let pass = engine
            .pass(&wanted, &Frozen::default(), &policy(), true)
            .await;
        assert_eq!(pass.plan.actions().count(), 0);
        let want = BTreeMap::from([("ec2.DescribeVpcEndpoints".to_string(), 1)]);
        assert_eq!(cloud.calls(), want);
        // Every fullResync (10 minutes), the connections are listed in full: 10 pages (and the
        // cached cluster, security groups and VPCs, due by then too, are looked at again).
        tokio::time::advance(Duration::from_secs(600)).await;
        cloud.reset_calls();
        engine
            .pass(&wanted, &Frozen::default(), &policy(), true)
            .await;
        let calls = cloud.calls();
        assert_eq!(calls["tidbcloud.ListPrivateEndpointConnections"], 10);
        assert_eq!(calls["ec2.DescribeVpcEndpoints"], 1);
        let reads = [
            "ec2.DescribeVpcEndpoints",
            "ec2.DescribeSecurityGroups",
            "ec2.DescribeVpcs",
            "tidbcloud.ListPrivateEndpointConnections",
            "tidbcloud.GetCluster",
            "tidbcloud.ListTidbNodeGroups",
            "tidbcloud.GetPrivateLinkService",
        ];
        assert!(
            calls.keys().all(|k| reads.contains(&k.as_str())),
            "{calls:?}"
        );
    });
}

#[test]
fn ten_thousand_converged_endpoints_spend_under_a_fifth_of_the_tidb_budget() {
    let docs = numbered(10_000);
    let wanted = wanted(&docs);
    let cloud = cloud(1_000_000, false);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        let last = converge(&mut engine, &wanted, 30).await;
        assert!(last.plan.endpoints.iter().all(|p| p.phase == Phase::Active));
        // Half an hour of converged passes, one a minute, on virtual time.
        tokio::time::pause();
        cloud.reset_calls();
        let mut listings = Vec::new();
        for minute in 1..=30 {
            tokio::time::advance(Duration::from_secs(60)).await;
            let before = cloud
                .calls()
                .get("tidbcloud.ListPrivateEndpointConnections")
                .copied()
                .unwrap_or(0);
            let pass = engine
                .pass(&wanted, &Frozen::default(), &policy(), true)
                .await;
            assert_eq!(pass.plan.actions().count(), 0);
            let pages = cloud
                .calls()
                .get("tidbcloud.ListPrivateEndpointConnections")
                .copied()
                .unwrap_or(0)
                - before;
            if pages > 0 {
                assert_eq!(pages, 100, "a full listing is 100 pages");
                listings.push(minute);
            }
        }
        assert_eq!(listings, [10, 20, 30], "a full listing every fullResync");
        let calls = cloud.calls();
        let tidb: u64 = calls
            .iter()
            .filter(|(k, _)| k.starts_with("tidbcloud."))
            .map(|(_, v)| v)
            .sum();
        // 20 % of 100 requests a minute, over 30 minutes.
        assert!(
            tidb <= 600,
            "{tidb} TiDB Cloud requests in 30 minutes: {calls:?}"
        );
        // EC2: ten describe pages a pass, nothing else.
        assert_eq!(calls["ec2.DescribeVpcEndpoints"], 30 * 10);
    });
}

#[test]
fn a_removal_whose_delete_keeps_failing_is_retried_on_the_backoff_schedule() {
    use privatelinkd::cloud::{CloudError, op};
    let docs = [endpoint("orders", CLUSTER, &[SUBNET_AZ1], "")];
    let cloud = cloud(1_000_000, false);
    let deletes = |cloud: &SimCloud| {
        cloud
            .calls()
            .get("ec2.DeleteVpcEndpoints")
            .copied()
            .unwrap_or(0)
    };
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        converge(&mut engine, &wanted(&docs), 30).await;
        cloud.fail(
            op::DELETE_VPC_ENDPOINTS,
            Some(CloudError::Permanent("DependencyViolation: in use".into())),
        );
        // Virtual time from here: the backoff runs on tokio's clock.
        tokio::time::pause();
        let first = engine.pass(&[], &Frozen::default(), &policy(), true).await;
        assert_eq!(deletes(&cloud), 1);
        let held = &first.held["orders"];
        assert!(held.permanent && held.message.contains("DependencyViolation"));
        // Passes come about once a second while something is on its way: none of them tries
        // again before the backoff (5 minutes for an error a person must fix) is over.
        for _ in 0..290 {
            tokio::time::advance(Duration::from_secs(1)).await;
            let pass = engine.pass(&[], &Frozen::default(), &policy(), true).await;
            assert!(pass.plan.removals[0].actions.is_empty());
            assert!(pass.held.contains_key("orders"));
        }
        assert_eq!(deletes(&cloud), 1, "retried before its backoff ended");
        tokio::time::advance(Duration::from_secs(11)).await;
        let again = engine.pass(&[], &Frozen::default(), &policy(), true).await;
        assert_eq!(deletes(&cloud), 2, "not retried after its backoff");
        assert_eq!(again.applied.len(), 1);
        // Healed: the next attempt, another backoff later, deletes it.
        cloud.fail(op::DELETE_VPC_ENDPOINTS, None);
        tokio::time::advance(Duration::from_secs(301)).await;
        let healed = engine.pass(&[], &Frozen::default(), &policy(), true).await;
        assert!(healed.applied.iter().all(|a| a.result.is_ok()));
        assert!(!healed.held.contains_key("orders"));
    });
}

#[test]
fn an_endpoint_deleted_behind_our_back_is_recreated_once() {
    let wanted = wanted(&[endpoint("orders", CLUSTER, &[SUBNET_AZ1], "")]);
    let cloud = cloud(1_000_000, false);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        converge(&mut engine, &wanted, 30).await;
        let first = cloud.all_endpoints()[0].id.clone();
        cloud.delete_endpoint_behind_our_back(&first);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let last = converge(&mut engine, &wanted, 30).await;
        assert_eq!(last.plan.endpoints[0].phase, Phase::Active);
        let live: Vec<_> = cloud
            .all_endpoints()
            .into_iter()
            .filter(|e| e.state != "deleted")
            .collect();
        assert_eq!(live.len(), 1);
        assert_ne!(live[0].id, first);
        // The old connection went with its endpoint's registration; the new one is ACTIVE.
        assert!(
            cloud
                .all_connections()
                .iter()
                .any(|c| c.endpoint_id == live[0].id)
        );
    });
}

/// The minute (one pass a minute, on virtual time) at which a pass first acts.
async fn minutes_until_acted(engine: &mut Engine<Sim, Sim>, wanted: &[Wanted]) -> u32 {
    for minute in 1..=30 {
        tokio::time::advance(Duration::from_secs(60)).await;
        let pass = engine
            .pass(wanted, &Frozen::default(), &policy(), true)
            .await;
        if pass.plan.actions().count() > 0 {
            return minute;
        }
    }
    panic!("no action in 30 minutes");
}

#[test]
fn drift_is_acted_on_within_an_interval_on_aws_and_within_full_resync_on_tidb_cloud() {
    let docs = numbered(200);
    let wanted = wanted(&docs);
    let cloud = cloud(1_000_000, false);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        converge(&mut engine, &wanted, 30).await;
        tokio::time::pause();
        // A VPC endpoint deleted in the AWS console: EC2 is described every pass.
        let endpoints = cloud.all_endpoints();
        cloud.delete_endpoint_behind_our_back(&endpoints[0].id);
        assert_eq!(minutes_until_acted(&mut engine, &wanted).await, 1);
        converge(&mut engine, &wanted, 30).await;
        // A connection deleted in TiDB Cloud's console: seen by the next full listing, which
        // is due at most fullResync (10 minutes) after the last one, not before.
        cloud.delete_connection_behind_our_back(&endpoints[1].id);
        let minute = minutes_until_acted(&mut engine, &wanted).await;
        assert!((1..=10).contains(&minute), "acted after {minute} minutes");
        let last = converge(&mut engine, &wanted, 30).await;
        assert!(last.plan.endpoints.iter().all(|p| p.phase == Phase::Active));
        // One connection per live endpoint again, and none for the endpoint deleted in the
        // AWS console: its connection could serve nothing and was deleted (once).
        let live: Vec<String> = cloud
            .all_endpoints()
            .into_iter()
            .filter(|e| e.state != "deleted")
            .map(|e| e.id)
            .collect();
        let connections = cloud.all_connections();
        for id in &live {
            let of = connections.iter().filter(|c| c.endpoint_id == *id).count();
            assert_eq!(of, 1, "{id}");
        }
        assert_eq!(connections.len(), live.len(), "{connections:?}");
        assert_eq!(
            cloud
                .calls()
                .get("tidbcloud.DeletePrivateEndpointConnection"),
            Some(&1)
        );
    });
}

#[test]
fn the_connection_of_an_endpoint_deleted_in_the_console_is_deleted_unless_the_policy_is_orphan() {
    let docs = [
        endpoint("deleting", CLUSTER, &[SUBNET_AZ1], "  privateDns: false\n"),
        endpoint(
            "orphaning",
            CLUSTER,
            &[SUBNET_AZ1],
            "  privateDns: false\n  deletionPolicy: Orphan\n",
        ),
        endpoint("untagged", CLUSTER, &[SUBNET_AZ1], "  privateDns: false\n"),
    ];
    let wanted = wanted(&docs);
    let cloud = cloud(1_000_000, false);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        converge(&mut engine, &wanted, 30).await;
        let before = cloud.all_endpoints();
        let id_of = |name: &str| {
            before
                .iter()
                .find(|e| e.tag("privatelinkd.io/name") == Some(name))
                .unwrap()
                .id
                .clone()
        };
        let (deleting, orphaning, untagged) =
            (id_of("deleting"), id_of("orphaning"), id_of("untagged"));
        cloud.delete_endpoint_behind_our_back(&deleting);
        cloud.delete_endpoint_behind_our_back(&orphaning);
        // A person removes the owner tag by hand: the endpoint leaves our listing but still
        // serves, and so does its connection.
        cloud.remove_tag_behind_our_back(&untagged, "privatelinkd.io/owner");
        let last = converge(&mut engine, &wanted, 60).await;
        let connections = cloud.all_connections();
        let connected = |id: &str| connections.iter().any(|c| c.endpoint_id == id);
        assert!(!connected(&deleting), "{connections:?}");
        assert!(
            connected(&orphaning),
            "Orphan: privatelinkd deletes nothing"
        );
        assert!(
            connected(&untagged),
            "a live endpoint's connection is never stale"
        );
        let orphaning_plan = last
            .plan
            .endpoints
            .iter()
            .find(|p| p.name == "orphaning")
            .unwrap();
        assert_eq!(orphaning_plan.phase, Phase::Active);
        assert!(
            orphaning_plan
                .message
                .contains("left in place (deletionPolicy: Orphan)")
                && orphaning_plan.message.contains(&orphaning),
            "{}",
            orphaning_plan.message
        );
        assert_eq!(
            cloud
                .calls()
                .get("tidbcloud.DeletePrivateEndpointConnection"),
            Some(&1)
        );
    });
}

#[test]
fn rate_limits_are_met_by_waiting_not_by_throttling_errors() {
    // 12 creates against a bucket of 4 + 0.3/s: the engine must spread them out.
    let docs = numbered(12);
    let wanted = wanted(&docs);
    let cloud = cloud(100, true);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        let last = converge(&mut engine, &wanted, 400).await;
        assert!(last.plan.endpoints.iter().all(|p| p.phase == Phase::Active));
        assert_eq!(
            cloud.calls().get("ec2.throttled"),
            None,
            "{:?}",
            cloud.calls()
        );
    });
}

#[test]
fn a_stale_connection_that_cannot_be_deleted_never_holds_back_the_replacement() {
    use privatelinkd::cloud::{CloudError, op};
    let wanted = wanted(&[endpoint(
        "orders",
        CLUSTER,
        &[SUBNET_AZ1],
        "  privateDns: false\n",
    )]);
    let cloud = cloud(1_000_000, false);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        converge(&mut engine, &wanted, 30).await;
        let old = cloud.all_endpoints()[0].id.clone();
        // TiDB Cloud refuses every deletion; someone deletes the endpoint in the console.
        cloud.fail(
            op::DELETE_CONNECTION,
            Some(CloudError::Permanent("HTTP 400: refused".into())),
        );
        cloud.delete_endpoint_behind_our_back(&old);
        let mut last = PassOutcome::default();
        for _ in 0..30 {
            last = engine
                .pass(&wanted, &Frozen::default(), &policy(), true)
                .await;
            let p = &last.plan.endpoints[0];
            if p.actions.is_empty() && !p.phase.is_transitional() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The replacement is there and registered, whatever became of the cleanup.
        let live: Vec<_> = cloud
            .all_endpoints()
            .into_iter()
            .filter(|e| e.state != "deleted")
            .collect();
        assert_eq!(live.len(), 1);
        assert_ne!(live[0].id, old);
        let connections = cloud.all_connections();
        assert!(connections.iter().any(|c| c.endpoint_id == live[0].id));
        assert!(
            connections.iter().any(|c| c.endpoint_id == old),
            "refused, so still there"
        );
        // Refused for good: tried once, given up (and logged), and the endpoint itself is
        // neither held back nor shown Failed for it.
        assert!(last.held.is_empty(), "{:?}", last.held);
        assert_eq!(last.plan.endpoints[0].phase, Phase::Active);
        assert_eq!(
            cloud
                .calls()
                .get("tidbcloud.DeletePrivateEndpointConnection"),
            Some(&1)
        );
    });
}

#[test]
fn vpc_facts_are_described_once_per_fill() {
    // 12 creates spread over many passes by EC2's rate (4 + 0.3/s): the VPC's DNS attributes,
    // its subnet and its group are checked before each create, but described once.
    let docs = numbered(12);
    let cloud = cloud(30, true);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        // A pass stops waiting for EC2's budget soon: what is left is planned again next pass.
        engine.set_apply_window(Duration::from_millis(50));
        let mut passes = 0;
        loop {
            let pass = engine
                .pass(&wanted(&docs), &Frozen::default(), &policy(), true)
                .await;
            if pass.applied.iter().any(|a| a.kind == "create_vpc_endpoint") {
                passes += 1;
            }
            if pass.plan.endpoints.iter().all(|p| p.phase == Phase::Active) {
                break;
            }
            assert!(passes < 400, "never converged");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(passes >= 4, "the creates were spread over {passes} passes");
        let calls = cloud.calls();
        assert_eq!(calls.get("ec2.DescribeVpcAttribute"), Some(&2), "{calls:?}");
        assert_eq!(calls.get("ec2.DescribeSubnets"), Some(&1), "{calls:?}");
    });
}

#[test]
fn a_vpc_without_dns_is_asked_again_every_pass_and_its_fix_shows_at_the_next() {
    // What is wrong is not remembered: while the create waits for DNS hostnames (private DNS
    // needs them), the VPC is described every pass, and a person's fix shows at the next one.
    let cloud = cloud(1_000_000, false);
    cloud.set_vpc_dns(VPC, true, false);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        let dns = wanted(&[endpoint("dns", CLUSTER, &[SUBNET_AZ4], "")]);
        let failed = converge(&mut engine, &dns, 400).await;
        let message = &failed.plan.endpoints[0].message;
        assert!(message.contains("enableDnsHostnames"), "{message}");
        cloud.reset_calls();
        for _ in 0..3 {
            engine.pass(&dns, &Frozen::default(), &policy(), true).await;
        }
        assert_eq!(cloud.calls().get("ec2.DescribeVpcAttribute"), Some(&6));
        cloud.set_vpc_dns(VPC, true, true);
        let fixed = engine.pass(&dns, &Frozen::default(), &policy(), true).await;
        assert_eq!(
            fixed.plan.endpoints[0]
                .actions
                .iter()
                .map(|a| a.kind())
                .collect::<Vec<_>>(),
            ["create_vpc_endpoint", "register_connection"]
        );
    });
}

#[test]
fn what_is_on_its_way_is_asked_about_at_the_budgets_pace_not_at_every_pass() {
    // The published rates (time scale 1, on tokio's paused clock): a service takes 3 minutes
    // to create, and passes come every second meanwhile (others settling).
    let world = world(1, false).replace("serviceCreate: 1s", "serviceCreate: 180s");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("world.yaml"), world).unwrap();
    let cloud = SimCloud::new(World::load(&dir.path().join("world.yaml")).unwrap(), None).unwrap();
    let docs = wanted(&[endpoint("orders", CLUSTER, &[SUBNET_AZ1], "")]);
    runtime().block_on(async {
        tokio::time::pause();
        let mut engine = engine(&cloud);
        let mut passes = 0;
        let mut last = PassOutcome::default();
        while !last.applied.iter().any(|a| a.kind == "create_vpc_endpoint") {
            last = engine
                .pass(&docs, &Frozen::default(), &policy(), true)
                .await;
            passes += 1;
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        // Once per 25 of the key's requests (15 s at 100 a minute), not 180 times.
        let asked = cloud.calls()["tidbcloud.GetPrivateLinkService"];
        assert!(passes >= 180, "{passes}");
        assert!(
            (12..=14).contains(&asked),
            "asked {asked} times in {passes} passes"
        );

        // A paused cluster: once a minute (100 requests' worth), however often passes come.
        let converged = converge(&mut engine, &docs, 600).await;
        assert_eq!(converged.plan.endpoints[0].phase, Phase::Active);
        cloud.set_cluster_state(CLUSTER, ClusterState::Paused);
        loop {
            tokio::time::advance(Duration::from_secs(5)).await;
            let pass = engine
                .pass(&docs, &Frozen::default(), &policy(), true)
                .await;
            if pass.plan.endpoints[0].waits_for_cluster() {
                break;
            }
        }
        cloud.reset_calls();
        for _ in 0..120 {
            tokio::time::advance(Duration::from_secs(5)).await;
            let pass = engine
                .pass(&docs, &Frozen::default(), &policy(), true)
                .await;
            assert!(pass.plan.endpoints[0].waits_for_cluster());
        }
        // Ten minutes of passes every 5 seconds.
        let asked = cloud.calls()["tidbcloud.GetCluster"];
        assert!(
            (9..=11).contains(&asked),
            "asked {asked} times in 120 passes"
        );
    });
}

#[test]
fn a_create_whose_answer_is_lost_returns_the_same_endpoint_on_retry() {
    use privatelinkd::cloud::op;
    let wanted = wanted(&[endpoint("orders", CLUSTER, &[SUBNET_AZ1], "")]);
    let cloud = cloud(1_000_000, false);
    // EC2 makes the endpoint, then the answer is lost (a timeout, as the client sees it).
    cloud.lose_answers(op::CREATE_VPC_ENDPOINT, 1);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        let first = engine
            .pass(&wanted, &Frozen::default(), &policy(), true)
            .await;
        // The gate retried the create with the same ClientToken, which returned the first
        // endpoint; the registration followed in the same pass.
        assert!(
            first.applied.iter().all(|a| a.result.is_ok()),
            "{:?}",
            first.applied
        );
        let last = converge(&mut engine, &wanted, 30).await;
        assert_eq!(last.plan.endpoints[0].phase, Phase::Active);
    });
    assert_eq!(cloud.calls()["ec2.CreateVpcEndpoint"], 2, "one retry");
    assert_eq!(cloud.all_endpoints().len(), 1, "no duplicate endpoint");
    assert_eq!(cloud.all_connections().len(), 1);
}

#[test]
fn a_registration_whose_answer_is_lost_is_found_by_the_next_pass() {
    use privatelinkd::cloud::op;
    let wanted = wanted(&[endpoint("orders", CLUSTER, &[SUBNET_AZ1], "")]);
    let cloud = cloud(1_000_000, false);
    cloud.lose_answers(op::CREATE_CONNECTION, 1);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        let first = engine
            .pass(&wanted, &Frozen::default(), &policy(), true)
            .await;
        let failed: Vec<_> = first.applied.iter().filter(|a| a.result.is_err()).collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].kind, "register_connection");
        // Not retried in place (a second POST would be a duplicate); after its backoff, the
        // next pass lists the connection and registers nothing.
        tokio::time::pause();
        tokio::time::advance(Duration::from_secs(600)).await;
        tokio::time::resume();
        let last = converge(&mut engine, &wanted, 30).await;
        assert_eq!(last.plan.endpoints[0].phase, Phase::Active);
    });
    assert_eq!(
        cloud.calls()["tidbcloud.CreatePrivateEndpointConnection"],
        1
    );
    assert_eq!(cloud.all_connections().len(), 1, "no duplicate connection");
}

#[test]
fn a_removal_does_what_the_latest_document_said_even_if_its_tags_lag() {
    use privatelinkd::cloud::{CloudError, op};
    let cloud = cloud(1_000_000, false);
    let delete = endpoint("orders", CLUSTER, &[SUBNET_AZ1], "");
    let orphan = endpoint(
        "orders",
        CLUSTER,
        &[SUBNET_AZ1],
        "  deletionPolicy: Orphan\n",
    );
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        converge(&mut engine, &wanted(&[delete]), 30).await;
        // The edit to Orphan is seen, but writing it into the tags fails.
        cloud.fail(
            op::CREATE_TAGS,
            Some(CloudError::Permanent("UnauthorizedOperation".into())),
        );
        let edited = engine
            .pass(&wanted(&[orphan]), &Frozen::default(), &policy(), true)
            .await;
        assert!(
            edited
                .applied
                .iter()
                .any(|a| a.kind == "tag" && a.result.is_err())
        );
        assert_eq!(
            cloud.all_endpoints()[0].tags["privatelinkd.io/deletion-policy"],
            "Delete"
        );
        // The document goes: its endpoint is orphaned, as the document said last.
        let removed = engine.pass(&[], &Frozen::default(), &policy(), true).await;
        let kinds: Vec<_> = removed.applied.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, ["untag"], "{:?}", removed.plan.removals);
    });
    let e = &cloud.all_endpoints()[0];
    assert_eq!(e.state, "available", "the endpoint stays");
    assert!(!e.tags.keys().any(|k| k.starts_with("privatelinkd.io/")));
    assert_eq!(cloud.all_connections().len(), 1, "the connection stays");
    assert!(!cloud.calls().contains_key("ec2.DeleteVpcEndpoints"));
}

#[test]
fn a_document_that_moves_to_another_file_keeps_its_endpoint_and_the_file_tag_follows() {
    let cloud = cloud(1_000_000, false);
    let text = endpoint("orders", CLUSTER, &[SUBNET_AZ1], "");
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        converge(&mut engine, &[Wanted::new(doc(&text), "a.yaml")], 30).await;
        let moved = [Wanted::new(doc(&text), "team/b.yaml")];
        let pass = engine
            .pass(&moved, &Frozen::default(), &policy(), true)
            .await;
        let kinds: Vec<_> = pass.applied.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, ["tag"]);
        // The old file is now invalid and still says `name: orders`: nothing changes.
        let frozen = Frozen {
            files: ["a.yaml".to_string()].into(),
            names: ["orders".to_string()].into(),
            ..Frozen::default()
        };
        let pass = engine.pass(&moved, &frozen, &policy(), true).await;
        assert!(pass.applied.is_empty());
    });
    let e = &cloud.all_endpoints()[0];
    assert_eq!(e.tags["privatelinkd.io/file"], "team/b.yaml");
    assert_eq!(cloud.all_endpoints().len(), 1);
}

/// One endpoint's wish in a generated scenario.
#[derive(Debug, Clone)]
struct Wish {
    failing_cluster: bool,
    subnets: Vec<&'static str>,
    private_dns: bool,
}

fn wish() -> impl Strategy<Value = Wish> {
    (
        prop::bool::weighted(0.2),
        prop::sample::subsequence(vec![SUBNET_AZ1, SUBNET_AZ4, SUBNET_AZ6, SUBNET_AZ2], 1..=3),
        any::<bool>(),
    )
        .prop_map(|(failing_cluster, subnets, private_dns)| Wish {
            failing_cluster,
            subnets,
            private_dns,
        })
}

fn docs_of(wishes: &[Wish]) -> Vec<String> {
    wishes
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let cluster = if w.failing_cluster {
                FAILING_CLUSTER
            } else {
                CLUSTER
            };
            // One private DNS domain per service and VPC: only the first may ask for it.
            let dns = w.private_dns && i == 0;
            endpoint(
                &format!("ep-{i}"),
                cluster,
                &w.subnets,
                &format!("  privateDns: {dns}\n"),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Whatever is wanted, and however it is changed afterwards, passes converge to a world
    /// that plans nothing, with each endpoint Active or Failed for the reason it should.
    #[test]
    fn passes_converge_and_a_converged_world_plans_nothing(
        first in prop::collection::vec(wish(), 1..5),
        second in prop::collection::vec(wish(), 0..5),
    ) {
        let cloud = cloud(1_000_000, false);
        runtime().block_on(async {
            let mut engine = engine(&cloud);
            for wishes in [&first, &second] {
                let wanted = wanted(&docs_of(wishes));
                let last = converge(&mut engine, &wanted, 40).await;
                let again = engine.pass(&wanted, &Frozen::default(), &policy(), true).await;
                prop_assert_eq!(again.plan.actions().count(), 0, "{:?}", again.plan);
                for (p, w) in last.plan.endpoints.iter().zip(wishes.iter()) {
                    let bad_zone = w.subnets.contains(&SUBNET_AZ2);
                    let want = if bad_zone || w.failing_cluster { Phase::Failed } else { Phase::Active };
                    prop_assert_eq!(p.phase, want, "{:?} {:?}", p, w);
                }
                // Exactly one live endpoint per name, none for removed documents.
                let mut names = BTreeMap::new();
                for e in cloud.all_endpoints().iter().filter(|e| !matches!(e.state.as_str(), "deleted" | "deleting")) {
                    *names.entry(e.tags["privatelinkd.io/name"].clone()).or_insert(0) += 1;
                }
                for (name, count) in &names {
                    prop_assert_eq!(*count, 1, "{}", name);
                    let index: usize = name.trim_start_matches("ep-").parse().unwrap();
                    prop_assert!(index < wishes.len(), "{} outlived its document", name);
                }
            }
            Ok(())
        })?;
    }
}
