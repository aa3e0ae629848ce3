//! Day two, in-process on the simulated cloud: a FAILED connection retried, the cluster's life
//! (paused, deleted, unknown), EC2's one private DNS domain per VPC, and a closed port.

use std::collections::BTreeMap;
use std::time::Duration;

use privatelinkd::cloud::ClusterState;
use privatelinkd::cloud::sim::SimCloud;
use privatelinkd::plan::{ConditionStatus, ConditionType, EndpointPlan, Phase};
use privatelinkd::reconcile::{Engine, Frozen, PassOutcome, Wanted};

use crate::common::sim::{self, Sim, cloud, cloud_of, engine, policy, wanted};
use crate::common::*;

/// Passes (on virtual time, ten seconds apart: cached cluster facts expire after about five
/// minutes) until `done` holds; the last pass.
async fn until(
    engine: &mut Engine<Sim, Sim, Sim>,
    wanted: &[Wanted],
    what: &str,
    done: impl Fn(&PassOutcome) -> bool,
) -> PassOutcome {
    for _ in 0..60 {
        let pass = engine
            .pass(wanted, &Frozen::default(), &policy(), true)
            .await;
        if done(&pass) {
            return pass;
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        // The simulated cloud runs on the wall clock: give it a moment too.
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("never: {what}");
}

fn first(p: &PassOutcome) -> &EndpointPlan {
    &p.plan.endpoints[0]
}

fn condition(p: &EndpointPlan, kind: ConditionType) -> (ConditionStatus, String) {
    let c = p.conditions.iter().find(|c| c.kind == kind).unwrap();
    (c.status, c.message.clone())
}

#[test]
fn a_failed_connection_is_retried_on_its_schedule_until_it_goes() {
    let cloud = cloud(1_000_000, false);
    cloud.set_failing(CLUSTER, true);
    let wanted = wanted(&[endpoint("orders", CLUSTER, &[SUBNET_AZ1], "")]);
    runtime().block_on(async {
        tokio::time::pause();
        let mut engine = engine(&cloud);
        let failed = until(&mut engine, &wanted, "Failed", |p| {
            first(p).phase == Phase::Failed
        })
        .await;
        let message = &first(&failed).message;
        assert!(
            message.contains("TiDB Cloud marked the connection FAILED")
                && message.contains("next automatic retry at")
                && message.contains("privatelinkd retry orders"),
            "{message}"
        );
        // Not before five minutes.
        tokio::time::advance(Duration::from_secs(240)).await;
        let waiting = engine
            .pass(&wanted, &Frozen::default(), &policy(), true)
            .await;
        assert_eq!(first(&waiting).phase, Phase::Failed);
        assert!(waiting.applied.is_empty());
        // The world stops failing it; at five minutes the retry deletes the failed connection,
        // registers the same VPC endpoint again, and it goes.
        cloud.set_failing(CLUSTER, false);
        tokio::time::advance(Duration::from_secs(61)).await;
        let retried = engine
            .pass(&wanted, &Frozen::default(), &policy(), true)
            .await;
        let kinds: Vec<_> = retried.applied.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, ["delete_connection"]);
        until(&mut engine, &wanted, "Active", |p| {
            first(p).phase == Phase::Active
        })
        .await;
    });
    assert_eq!(
        cloud.all_endpoints().len(),
        1,
        "the same VPC endpoint, registered again"
    );
    assert_eq!(
        cloud.calls()["tidbcloud.CreatePrivateEndpointConnection"],
        2
    );
}

#[test]
fn a_retry_can_be_asked_for_now_and_a_changed_document_retries_at_once() {
    let cloud = cloud(1_000_000, false);
    cloud.set_failing(CLUSTER, true);
    let docs = wanted(&[endpoint("orders", CLUSTER, &[SUBNET_AZ1], "")]);
    runtime().block_on(async {
        tokio::time::pause();
        let mut engine = engine(&cloud);
        until(&mut engine, &docs, "Failed", |p| {
            first(p).phase == Phase::Failed
        })
        .await;
        engine.retry_now(&["orders".to_string()], &docs);
        let asked = engine
            .pass(&docs, &Frozen::default(), &policy(), true)
            .await;
        assert!(asked.applied.iter().any(|a| a.kind == "delete_connection"));
        until(&mut engine, &docs, "Failed again", |p| {
            first(p).phase == Phase::Failed
        })
        .await;
        // An edit retries at once (a new generation).
        let edited = wanted(&[endpoint(
            "orders",
            CLUSTER,
            &[SUBNET_AZ1],
            "  deletionPolicy: Orphan\n",
        )]);
        let pass = engine
            .pass(&edited, &Frozen::default(), &policy(), true)
            .await;
        assert!(pass.applied.iter().any(|a| a.kind == "delete_connection"));
    });
}

#[test]
fn a_paused_cluster_freezes_its_endpoint_and_activity_resumes_with_it() {
    let cloud = cloud(1_000_000, false);
    let docs = wanted(&[endpoint("orders", CLUSTER, &[SUBNET_AZ1], "")]);
    runtime().block_on(async {
        tokio::time::pause();
        let mut engine = engine(&cloud);
        until(&mut engine, &docs, "Active", |p| {
            first(p).phase == Phase::Active
        })
        .await;
        cloud.set_cluster_state(CLUSTER, ClusterState::Paused);
        // Seen when the cluster's cached facts expire (minutes, jittered).
        let paused = until(&mut engine, &docs, "paused seen", |p| {
            condition(first(p), ConditionType::ClusterAvailable).0 == ConditionStatus::False
        })
        .await;
        let p = first(&paused);
        assert!(p.uncertain, "the phase stays as it was");
        assert!(p.actions.is_empty());
        assert!(
            p.message
                .contains("is PAUSED: nothing is done until it is ACTIVE again"),
            "{}",
            p.message
        );
        // Meanwhile the endpoint is deleted by hand: nothing is recreated while paused.
        let id = cloud.all_endpoints()[0].id.clone();
        cloud.delete_endpoint_behind_our_back(&id);
        let still = engine
            .pass(&docs, &Frozen::default(), &policy(), true)
            .await;
        assert!(still.applied.is_empty());
        // Paused clusters are looked at every pass: resumed, the endpoint comes back.
        cloud.set_cluster_state(CLUSTER, ClusterState::Active);
        until(&mut engine, &docs, "Active again", |p| {
            first(p).phase == Phase::Active
                && condition(first(p), ConditionType::ClusterAvailable).0 == ConditionStatus::True
        })
        .await;
    });
}

#[test]
fn a_deleted_cluster_says_so_and_an_unknown_one_explains_dedicated() {
    let cloud = cloud(1_000_000, false);
    let docs = wanted(&[
        endpoint("orders", CLUSTER, &[SUBNET_AZ1], ""),
        another_endpoint("starter", "1379661944646419999", &[SUBNET_AZ4], ""),
    ]);
    runtime().block_on(async {
        tokio::time::pause();
        let mut engine = engine(&cloud);
        let first_pass = engine
            .pass(&docs, &Frozen::default(), &policy(), true)
            .await;
        let unknown = &first_pass.plan.endpoints[1];
        assert_eq!(unknown.phase, Phase::Failed);
        assert!(
            unknown
                .message
                .contains("Only Dedicated clusters have private endpoints of this kind"),
            "{}",
            unknown.message
        );
        until(&mut engine, &docs, "Active", |p| {
            first(p).phase == Phase::Active
        })
        .await;
        cloud.set_cluster_state(CLUSTER, ClusterState::Deleted);
        let gone = until(&mut engine, &docs, "the deletion seen", |p| {
            first(p).phase == Phase::Failed
        })
        .await;
        assert!(
            first(&gone)
                .message
                .contains("cluster 1379661944646413143 no longer exists"),
            "{}",
            first(&gone).message
        );
        assert!(first(&gone).actions.is_empty(), "nothing half-registered");
    });
}

#[test]
fn a_deleting_cluster_shows_its_service_deleting() {
    let cloud = cloud(1_000_000, false);
    cloud.set_cluster_state(CLUSTER, ClusterState::Deleting);
    let docs = wanted(&[endpoint("orders", CLUSTER, &[SUBNET_AZ1], "")]);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        let pass = engine
            .pass(&docs, &Frozen::default(), &policy(), true)
            .await;
        // A deleting cluster does not serve: nothing happens, and it says why.
        assert!(
            first(&pass).message.contains("is DELETING"),
            "{:?}",
            first(&pass)
        );
    });
    // The service of a cluster that serves but whose service is being deleted: Deleting.
    let cloud = cloud_with_lifecycle();
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        let pass = engine
            .pass(&docs, &Frozen::default(), &policy(), true)
            .await;
        let seen = &pass.seen["orders"].seen;
        assert_eq!(
            seen.service.as_ref().map(|s| s.state),
            Some(privatelinkd::cloud::ServiceState::Active)
        );
    });
}

/// A world whose cluster's lifecycle is written in the world file.
fn cloud_with_lifecycle() -> SimCloud {
    let text = world(1_000_000, false).replace(
        "nodeGroups: [{id: \"1379661944646413144\"",
        "lifecycle: [{after: 0s, state: MODIFYING}]\n    nodeGroups: [{id: \"1379661944646413144\"",
    );
    let cloud = cloud_of(&text);
    assert_eq!(cloud.cluster_state(CLUSTER), Some(ClusterState::Modifying));
    cloud
}

#[test]
fn a_second_endpoint_cannot_take_the_vpcs_private_dns_and_is_told_what_to_do() {
    let cloud = cloud(1_000_000, false);
    // Two documents in one VPC to one cluster, both asking for private DNS.
    let docs = wanted(&[
        endpoint("orders", CLUSTER, &[SUBNET_AZ1], ""),
        endpoint("orders-copy", CLUSTER, &[SUBNET_AZ4], ""),
    ]);
    runtime().block_on(async {
        tokio::time::pause();
        let mut engine = engine(&cloud);
        let settled = until(&mut engine, &docs, "one Active, one Failed", |p| {
            let phases: Vec<Phase> = p.plan.endpoints.iter().map(|e| e.phase).collect();
            phases.contains(&Phase::Active) && p.held.values().any(|h| h.permanent)
        })
        .await;
        let held = settled.held.values().find(|h| h.permanent).unwrap();
        assert!(
            held.message.contains("conflicting DNS domain")
                && held.message.contains("set privateDns: false"),
            "{}",
            held.message
        );
    });
    let with_dns = cloud
        .all_endpoints()
        .iter()
        .filter(|e| e.private_dns_enabled)
        .count();
    assert_eq!(with_dns, 1);
}

#[test]
fn a_security_group_without_the_port_shows_port_allowed_false_naming_the_rule() {
    let text = world(1_000_000, false).replace(
        "    securityGroups: [sg-0a1b2c3d4e5f67890]",
        "    cidr: 10.20.0.0/16\n    securityGroups:\n      - id: sg-0a1b2c3d4e5f67890\n        ingress: [{protocol: tcp, fromPort: 22, source: 10.20.0.0/16}]",
    );
    let cloud = cloud_of(&text);
    let docs = wanted(&[endpoint("orders", CLUSTER, &[SUBNET_AZ1], "")]);
    runtime().block_on(async {
        tokio::time::pause();
        let mut engine = engine(&cloud);
        let active = until(&mut engine, &docs, "Active", |p| first(p).phase == Phase::Active).await;
        let (status, message) = condition(first(&active), ConditionType::PortAllowed);
        assert_eq!(status, ConditionStatus::False);
        assert_eq!(
            message,
            format!(
                "none of the endpoint's security groups ({SG}) allows inbound TCP 4000 from the VPC's CIDR (10.20.0.0/16): add an inbound rule to {SG}: TCP, port 4000, source 10.20.0.0/16"
            )
        );
        // A closed port is looked at again every pass, in one call per kind.
        cloud.reset_calls();
        engine.pass(&docs, &Frozen::default(), &policy(), true).await;
        let calls = cloud.calls();
        assert_eq!(calls.get("ec2.DescribeSecurityGroups"), Some(&1));
        assert_eq!(calls.get("ec2.DescribeVpcs"), Some(&1));
    });
    // With the port open, a converged pass makes no such call (the batch is cached).
    let cloud = sim::cloud(1_000_000, false);
    runtime().block_on(async {
        tokio::time::pause();
        let mut engine = engine(&cloud);
        until(&mut engine, &docs, "Active", |p| {
            first(p).phase == Phase::Active
        })
        .await;
        cloud.reset_calls();
        engine
            .pass(&docs, &Frozen::default(), &policy(), true)
            .await;
        let calls: BTreeMap<String, u64> = cloud.calls();
        assert!(
            !calls.contains_key("ec2.DescribeSecurityGroups"),
            "{calls:?}"
        );
    });
}

#[test]
fn sighup_rebinds_the_listener_repoints_the_watcher_and_refuses_an_owner_change() {
    let setup = Setup::new(&world(20, true), "");
    std::fs::create_dir(setup.path("other")).unwrap();
    let (a, b) = (free_port(), free_port());
    let config = std::fs::read_to_string(setup.config()).unwrap();
    let at = |port: u16, dir: &str| {
        config
            .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"))
            .replace("endpointsDir: ./endpoints", &format!("endpointsDir: {dir}"))
    };
    std::fs::write(setup.config(), at(a, "./endpoints")).unwrap();
    setup.write("a.yaml", &endpoint("a", CLUSTER, &[SUBNET_AZ1], ""));
    std::fs::write(
        setup.path("other/z.yaml"),
        another_endpoint("z", CLUSTER, &[SUBNET_AZ4], ""),
    )
    .unwrap();
    let daemon = Daemon::start(&setup, &["--allow-mass-delete"]);
    daemon.wait_ready();

    // ownerId is identity: refused, and everything else stays as it was.
    std::fs::write(
        setup.config(),
        at(b, "./other").replace("ownerId: test-host", "ownerId: someone-else"),
    )
    .unwrap();
    daemon.signal("HUP");
    wait_for("the refusal", Duration::from_secs(10), || {
        daemon.log().contains("ownerId cannot change at run time")
    });
    assert_eq!(
        http_get(&format!("127.0.0.1:{a}"), "/healthz").map(|r| r.0),
        Some(200)
    );

    // Another listener and another directory: both follow.
    std::fs::write(setup.config(), at(b, "./other")).unwrap();
    daemon.signal("HUP");
    wait_for("the new listener", Duration::from_secs(10), || {
        http_get(&format!("127.0.0.1:{b}"), "/healthz").is_some_and(|r| r.0 == 200)
    });
    assert!(
        http_get(&format!("127.0.0.1:{a}"), "/healthz").is_none(),
        "the old one is closed"
    );
    wait_for(
        "z Active from the new directory",
        Duration::from_secs(30),
        || {
            std::fs::read_to_string(setup.path("other/z.status.yaml"))
                .is_ok_and(|t| t.contains("phase: Active"))
        },
    );
    // A file added there afterwards is seen by the re-pointed watcher.
    std::fs::write(
        setup.path("other/y.yaml"),
        another_endpoint("y", CLUSTER, &[SUBNET_AZ6], ""),
    )
    .unwrap();
    wait_for("y seen", Duration::from_secs(10), || {
        setup.path("other/y.status.yaml").exists()
    });
    daemon.signal("TERM");
    let (code, _) = daemon.wait(Duration::from_secs(30));
    assert_eq!(code, Some(0));
}

#[test]
fn a_state_dir_remembers_its_owner_and_endpoints_are_handed_over_only_when_asked() {
    let setup = Setup::new(&world(20, true), "");
    setup.write("a.yaml", &endpoint("a", CLUSTER, &[SUBNET_AZ1], ""));
    let daemon = Daemon::start(&setup, &[]);
    wait_for("a Active", Duration::from_secs(30), || {
        setup.phase("a", "a").as_deref() == Some("Active")
    });
    assert_eq!(daemon.stop(), Some(0));
    setup.edit_config(|c| c.replace("ownerId: test-host", "ownerId: new-host"));
    let (code, log) = Daemon::start(&setup, &[]).wait(Duration::from_secs(30));
    assert_eq!(code, Some(1));
    assert!(
        log.contains("belongs to ownerId `test-host`, but the config says `new-host`")
            && log.contains("--reown-from test-host"),
        "{log}"
    );
    let daemon = Daemon::start(&setup, &["--reown-from", "test-host"]);
    wait_for("a handed over", Duration::from_secs(30), || {
        let live = setup.live_endpoints();
        live.len() == 1 && live[0]["endpoint"]["tags"]["privatelinkd.io/owner"] == "new-host"
    });
    assert_eq!(setup.phase("a", "a").as_deref(), Some("Active"));
    assert_eq!(daemon.stop(), Some(0));
    // Remembered: the new owner starts without the flag.
    let daemon = Daemon::start(&setup, &[]);
    daemon.wait_ready();
    assert_eq!(setup.live_endpoints().len(), 1, "no second endpoint");
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn the_probe_connects_to_a_listener_and_reports_a_closed_port() {
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open_port = open.local_addr().unwrap().port();
    let closed_port = free_port();
    // Services whose DNS name is localhost, in a VPC whose CIDR holds loopback.
    let text = format!(
        r#"clusters:
  - id: "{CLUSTER}"
    projectId: "1372813089454548012"
    region: us-east-1
    port: {open_port}
    nodeGroups: [{{id: "1379661944646413144", default: true, availableZones: [use1-az1, use1-az4], dnsName: localhost}}]
  - id: "{FAILING_CLUSTER}"
    projectId: "1372813089454548012"
    region: us-east-1
    port: {closed_port}
    nodeGroups: [{{id: "1379661944646414000", default: true, availableZones: [use1-az1, use1-az4], dnsName: localhost}}]
vpcs:
  - id: {VPC}
    region: us-east-1
    cidr: 127.0.0.0/8
    subnets: [{{id: {SUBNET_AZ1}, azId: use1-az1}}, {{id: {SUBNET_AZ4}, azId: use1-az4}}]
    securityGroups: [{SG}]
timing: {{serviceCreate: 0s, accept: 1s, activate: 1s, privateDns: 1s, delete: 1s}}
timeScale: 20
"#
    );
    let setup = Setup::new(&text, "probe: {enabled: true, timeout: 1s, every: 1s}\n");
    setup.write("up.yaml", &endpoint("up", CLUSTER, &[SUBNET_AZ1], ""));
    setup.write(
        "down.yaml",
        &endpoint("down", FAILING_CLUSTER, &[SUBNET_AZ4], ""),
    );
    let daemon = Daemon::start(&setup, &[]);
    let reachable = |stem: &str| setup.condition(stem, "Reachable");
    wait_for("up Reachable", Duration::from_secs(30), || {
        reachable("up").is_some_and(|(s, _)| s == "True")
    });
    wait_for("down not Reachable", Duration::from_secs(30), || {
        reachable("down").is_some_and(|(s, _)| s == "False")
    });
    let (_, message) = reachable("down").unwrap();
    assert!(
        message.contains(&format!("127.0.0.1:{closed_port}")) && message.contains("refused"),
        "{message}"
    );
    // "up" is healthy: it counts in the aggregate; "down" has series of its own.
    assert_eq!(
        daemon.metric("privatelinkd_endpoint_conditions{type=\"Reachable\",status=\"True\"}"),
        Some(1.0)
    );
    assert_eq!(
        daemon.metric(
            "privatelinkd_endpoint_condition{name=\"down\",type=\"Reachable\",status=\"False\"}"
        ),
        Some(1.0)
    );
    drop(open);
    assert_eq!(daemon.stop(), Some(0));
}
