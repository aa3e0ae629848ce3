//! The TiDB Cloud client against the fake server, and the daemon with `tidbCloud: real` end
//! to end. (The fake's own conformance to the spec and to `curl --digest` is tested in its
//! package, `fake-tidbcloud/tests`.)

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::common::sim::{self, cloud_of, doc};
use crate::common::*;
use fake_tidbcloud::{Algorithm, Counts, Fake, Faults, Options};
use privatelinkd::cloud::budget::{Budgeted, Rates};
use privatelinkd::cloud::tidb::client::{TidbClient, TidbSettings};
use privatelinkd::cloud::{CloudError, ConnectionState, Rate, ServiceState, TidbCloud};
use privatelinkd::plan::Phase;
use privatelinkd::reconcile::{Engine, Frozen, Wanted};
use privatelinkd::secret::Secret;

const PUBLIC: &str = "PUBKEY01";
const PRIVATE: &str = "pk-SECRET-0a1b2c3d4e5f";
const PROJECT: &str = "1372813089454548012";
const GROUP: &str = "1379661944646413144";

/// A world whose services are Active from the start.
fn ready_world() -> String {
    world(20, true).replace("serviceCreate: 1s", "serviceCreate: 0s")
}

fn options(algorithm: Algorithm, rpm: u64, window: Duration, faults: Faults) -> Options {
    Options {
        public_key: PUBLIC.into(),
        private_key: Secret::new(PRIVATE),
        algorithm,
        requests_per_minute: rpm,
        window,
        faults,
    }
}

/// A fake server in this process, a client for it, and its URL.
async fn fake_at(options: Options) -> (Fake, TidbClient, String) {
    let sim = cloud_of(&ready_world());
    let fake = Fake::new(sim, options);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(fake.clone().serve(listener));
    let client = TidbClient::new(TidbSettings {
        api_url: format!("http://{addr}"),
        public_key: PUBLIC.into(),
        private_key: Secret::new(PRIVATE),
        timeout: Duration::from_secs(10),
        caller: None,
    })
    .unwrap();
    (fake, client, format!("http://{addr}"))
}

async fn fake(options: Options) -> (Fake, TidbClient) {
    let (fake, client, _) = fake_at(options).await;
    (fake, client)
}

/// A client-side budget too generous to matter: the server's answers drive the waiting.
fn gated(client: TidbClient) -> Budgeted<TidbClient> {
    let rate = Rate {
        per_second: 1000.0,
        burst: 1000,
    };
    Budgeted::new(
        client,
        Rates {
            tidb: rate,
            ..Rates::default()
        },
    )
}

#[test]
fn every_operation_with_both_digest_algorithms_and_one_request_per_call() {
    for algorithm in [Algorithm::Md5, Algorithm::Sha256] {
        runtime().block_on(async {
            let (fake, client) = fake(options(
                algorithm,
                100,
                Duration::from_secs(60),
                Faults::default(),
            ))
            .await;
            let cluster = client.get_cluster(CLUSTER).await.unwrap();
            assert_eq!(
                (cluster.region.as_str(), cluster.cloud_provider.as_str()),
                ("us-east-1", "aws")
            );
            assert_eq!((cluster.project_id.as_str(), cluster.port), (PROJECT, 4000));
            let groups = client.list_node_groups(CLUSTER).await.unwrap();
            assert!(groups.iter().any(|g| g.id == GROUP && g.is_default));
            let service = client.get_service(CLUSTER, GROUP).await.unwrap();
            assert_eq!(service.state, ServiceState::Active);
            assert_eq!(
                service.available_zones,
                ["use1-az1", "use1-az4", "use1-az6"]
            );
            let created = client
                .create_connection(CLUSTER, GROUP, "vpce-0a1b2c3d4e5f67890", None)
                .await
                .unwrap();
            assert_eq!(created.state, ConnectionState::Pending);
            let page = client.list_connections(PROJECT, None).await.unwrap();
            assert_eq!(page.items, std::slice::from_ref(&created));
            assert_eq!(page.next, None);
            client.delete_connection(&created).await.unwrap();
            let gone = client.list_connections(PROJECT, None).await.unwrap();
            assert_eq!(gone.items[0].state, ConnectionState::Deleting);
            // One challenge for the whole session: the nonce is reused with counts 1, 2, 3...
            let counts = fake.counts();
            assert_eq!(
                (counts.challenged, counts.authenticated),
                (1, 7),
                "{algorithm:?}"
            );
        });
    }
}

#[test]
fn errors_are_mapped_and_never_show_the_private_key() {
    runtime().block_on(async {
        let (_fake, client, url) = fake_at(options(Algorithm::Sha256, 100, Duration::from_secs(60), Faults::default())).await;
        let missing = client.get_cluster("999").await.unwrap_err();
        assert!(matches!(missing, CloudError::NotFound(_)), "{missing:?}");
        client.create_connection(CLUSTER, GROUP, "vpce-0a1b2c3d", None).await.unwrap();
        let twice = client.create_connection(CLUSTER, GROUP, "vpce-0a1b2c3d", None).await.unwrap_err();
        assert!(matches!(&twice, CloudError::Permanent(m) if m.contains("already exists") && m.contains("HTTP 400")), "{twice:?}");

        let wrong = TidbClient::new(TidbSettings {
            api_url: url,
            public_key: PUBLIC.into(),
            private_key: Secret::new("not-the-key"),
            timeout: Duration::from_secs(10),
            caller: None,
        })
        .unwrap();
        let denied = wrong.get_cluster(CLUSTER).await.unwrap_err();
        let text = denied.to_string();
        assert!(text.contains("rejected the API key (HTTP 401)") && text.contains(PUBLIC), "{text}");
        assert!(!text.contains("not-the-key") && !format!("{denied:?}").contains("not-the-key"));
        assert_eq!(format!("{:?}", Secret::new(PRIVATE)), "Secret(<redacted>)");
    });
}

#[test]
fn listing_250_connections_takes_three_pages() {
    runtime().block_on(async {
        let (fake, client) = fake(options(
            Algorithm::Sha256,
            100,
            Duration::from_secs(60),
            Faults::default(),
        ))
        .await;
        for i in 0..250 {
            fake.sim()
                .create_connection(CLUSTER, GROUP, &format!("vpce-{i:017x}"), None)
                .await
                .unwrap();
        }
        let before = fake.counts().authenticated;
        let (mut all, mut token, mut pages) = (Vec::new(), None, 0);
        loop {
            let page = client
                .list_connections(PROJECT, token.as_deref())
                .await
                .unwrap();
            pages += 1;
            all.extend(page.items);
            match page.next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        assert_eq!((pages, all.len()), (3, 250));
        let ids: BTreeSet<_> = all.iter().map(|c| c.endpoint_id.clone()).collect();
        assert_eq!(ids.len(), 250, "no connection twice, none missed");
        assert_eq!(fake.counts().authenticated - before, 3);
    });
}

#[test]
fn the_servers_budget_is_waited_for_not_exceeded() {
    runtime().block_on(async {
        // 5 requests per 2-second window: the sixth must wait for the next window.
        let (fake, client) = fake(options(
            Algorithm::Sha256,
            5,
            Duration::from_secs(2),
            Faults::default(),
        ))
        .await;
        let client = gated(client);
        let start = Instant::now();
        for _ in 0..12 {
            client.get_cluster(CLUSTER).await.unwrap();
        }
        let counts = fake.counts();
        assert_eq!(
            counts.throttled, 0,
            "no request was sent while the budget said wait: {counts:?}"
        );
        assert_eq!(counts.authenticated, 12);
        assert!(
            start.elapsed() >= Duration::from_secs(2),
            "two windows were waited for"
        );
    });
}

#[test]
fn throttling_bursts_and_server_errors_are_retried() {
    runtime().block_on(async {
        let faults = Faults {
            throttle_every: Some(5),
            throttle_burst: 1,
            ..Faults::default()
        };
        let (throttling, client) = fake(options(
            Algorithm::Sha256,
            1000,
            Duration::from_secs(60),
            faults,
        ))
        .await;
        let client = gated(client);
        for _ in 0..10 {
            client.get_cluster(CLUSTER).await.unwrap();
        }
        let Counts {
            throttled,
            authenticated,
            ..
        } = throttling.counts();
        assert_eq!(throttled, 2, "requests 5 and 10 were answered 429");
        assert_eq!(
            authenticated, 12,
            "each 429 was followed by one retry after the reset"
        );

        let faults = Faults {
            server_error_rate: 0.5,
            ..Faults::default()
        };
        let (failing, client) = fake(options(
            Algorithm::Sha256,
            1000,
            Duration::from_secs(60),
            faults,
        ))
        .await;
        let client = gated(client);
        for _ in 0..6 {
            client.get_cluster(CLUSTER).await.unwrap();
        }
        let counts = failing.counts();
        // Every second request fails; each failed call succeeds on its first retry.
        assert_eq!(counts.injected_errors, 5, "{counts:?}");
        assert_eq!(counts.authenticated, 11);
    });
}

#[test]
fn a_full_listing_of_300_endpoints_through_the_client_costs_three_pages() {
    runtime().block_on(async {
        let (fake, client) = fake(options(
            Algorithm::Sha256,
            100_000,
            Duration::from_secs(60),
            Faults::default(),
        ))
        .await;
        let ec2 = sim::cloud(1_000_000, false).with_tidb_elsewhere();
        let rates = Rates::default().scaled(1_000_000.0);
        let gcp = Budgeted::new(ec2.clone(), rates);
        let mut engine = Engine::new(
            gated(client),
            Budgeted::new(ec2.clone(), rates),
            gcp,
            "owner",
        );
        engine.set_tidb_pace(Duration::from_secs(600), 1000.0);
        let wanted: Vec<Wanted> = (0..300)
            .map(|i| {
                let text = endpoint(
                    &format!("ep-{i:03}"),
                    CLUSTER,
                    &[SUBNET_AZ1],
                    "  privateDns: false\n",
                );
                Wanted::new(doc(&text), "f.yaml")
            })
            .collect();
        let policy = sim::policy();
        let mut converged = false;
        for _ in 0..40 {
            let pass = engine
                .pass(&wanted, &Frozen::default(), &policy, true)
                .await;
            if pass.applied.is_empty()
                && pass.plan.endpoints.iter().all(|p| p.phase == Phase::Active)
            {
                converged = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        assert!(converged);
        // Converged, between full listings: TiDB Cloud is not asked at all.
        let before = fake.counts().authenticated;
        engine
            .pass(&wanted, &Frozen::default(), &policy, true)
            .await;
        assert_eq!(fake.counts().authenticated - before, 0);
        // A full listing (due every fullResync; here at once): three pages of 100.
        engine.set_tidb_pace(Duration::ZERO, 1000.0);
        let before = fake.counts().authenticated;
        ec2.reset_calls();
        let pass = engine
            .pass(&wanted, &Frozen::default(), &policy, true)
            .await;
        assert_eq!(pass.plan.actions().count(), 0);
        assert_eq!(
            fake.counts().authenticated - before,
            3,
            "3 list pages, lookups cached"
        );
        assert_eq!(
            ec2.calls().values().sum::<u64>(),
            1,
            "one DescribeVpcEndpoints page: {:?}",
            ec2.calls()
        );
    });
}

/// A daemon set-up with `tidbCloud: real` against a fake server of its own, which serves
/// `ready_world()` with `algorithm` and `rpm` requests a minute; the key is in ./key.txt.
fn against_the_fake(algorithm: Algorithm, rpm: u64) -> (Setup, FakeTidb) {
    let setup = Setup::new(
        &ready_world(),
        "cloud: {tidbCloud: real, aws: simulated}\ntidbCloud: {apiUrl: \"http://ADDR\", publicKey: PUBKEY01, privateKeyFile: ./key.txt}\n",
    );
    std::fs::write(setup.path("key.txt"), format!("{PRIVATE}\n")).unwrap();
    let fake = FakeTidb::start(
        &ready_world(),
        options(algorithm, rpm, Duration::from_secs(60), Faults::default()),
    );
    setup.edit_config(|c| c.replace("ADDR", &fake.addr.to_string()));
    (setup, fake)
}

#[test]
fn the_daemon_converges_the_demo_against_the_fake_and_never_shows_the_key() {
    // The server serves until the end of the test.
    let (setup, _fake) = against_the_fake(Algorithm::Sha256, 100);
    setup.write(
        "orders.yaml",
        &endpoint("orders", CLUSTER, &[SUBNET_AZ1, SUBNET_AZ4], ""),
    );
    setup.write(
        "bad-zone.yaml",
        &endpoint("bad-zone", CLUSTER, &[SUBNET_AZ2], ""),
    );
    setup.write(
        "legacy.yaml",
        &endpoint("legacy", FAILING_CLUSTER, &[SUBNET_AZ4], ""),
    );
    // Everything, down to the HTTP stack's own traces (the daemon's log goes to a file).
    let daemon = Daemon::start_with(&setup, &[], &[("RUST_LOG", "trace")]);
    let converged = eventually(Duration::from_secs(60), || {
        setup.phase("orders", "orders").as_deref() == Some("Active")
            && setup.phase("legacy", "legacy").as_deref() == Some("Failed")
    });
    if !converged {
        let log = daemon.log();
        let interesting: Vec<&str> = log
            .lines()
            .filter(|l| !l.contains("TRACE") && !l.contains("DEBUG"))
            .collect();
        panic!(
            "did not converge; the daemon said:\n{}",
            interesting.join("\n")
        );
    }
    assert_eq!(
        setup.phase("bad-zone", "bad-zone").as_deref(),
        Some("Failed")
    );
    daemon.signal("TERM");
    let (code, logs) = daemon.wait(Duration::from_secs(30));
    assert_eq!(code, Some(0));
    assert!(logs.contains("TRACE"), "trace logs were on");
    assert!(
        logs.contains("register_connection"),
        "the real client did the registering"
    );
    assert!(!logs.contains(PRIVATE), "the private key is in the logs");
    for stem in ["orders", "bad-zone", "legacy"] {
        let status =
            std::fs::read_to_string(setup.path(&format!("endpoints/{stem}.status.yaml"))).unwrap();
        assert!(!status.contains(PRIVATE));
    }
}

#[test]
fn through_the_fake_a_failed_connection_is_retried_on_demand_and_a_cluster_lives_its_life() {
    use privatelinkd::cloud::ClusterState;
    let (setup, fake) = against_the_fake(Algorithm::Md5, 1000);
    // `privatelinkd retry` finds the daemon through the config's listen address.
    setup.listen_on_free_port();
    setup.write(
        "legacy.yaml",
        &endpoint("legacy", FAILING_CLUSTER, &[SUBNET_AZ4], ""),
    );
    let daemon = Daemon::start(&setup, &[]);
    wait_for("legacy Failed", Duration::from_secs(30), || {
        setup.phase("legacy", "legacy").as_deref() == Some("Failed")
    });
    let status = setup.status("legacy").unwrap();
    let message = status["endpoints"][0]["message"].as_str().unwrap();
    assert!(message.contains("next automatic retry at"), "{message}");
    // The world stops failing it; a person asks for a retry instead of waiting five minutes.
    fake.sim.set_failing(FAILING_CLUSTER, false);
    let retry = |names: &[&str]| {
        privatelinkd_command()
            .arg("retry")
            .args(names)
            .arg("--config")
            .arg(setup.config())
            .output()
            .unwrap()
    };
    let refused = retry(&["nobody"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no endpoint is named nobody"));
    let asked = retry(&["legacy"]);
    assert!(asked.status.success(), "{asked:?}");
    wait_for(
        "legacy Active after the retry",
        Duration::from_secs(30),
        || setup.phase("legacy", "legacy").as_deref() == Some("Active"),
    );
    assert_eq!(daemon.stop(), Some(0));

    // The cluster's life, as the API shows it: paused, then resumed, then deleted.
    runtime().block_on(async {
        let client = TidbClient::new(TidbSettings {
            api_url: format!("http://{}", fake.addr),
            public_key: PUBLIC.into(),
            private_key: Secret::new(PRIVATE),
            timeout: Duration::from_secs(10),
            caller: None,
        })
        .unwrap();
        let ec2 = cloud_of(&ready_world()).with_tidb_elsewhere();
        let rates = Rates::default().scaled(1_000_000.0);
        let gcp = Budgeted::new(ec2.clone(), rates);
        let mut engine = Engine::new(gated(client), Budgeted::new(ec2, rates), gcp, "owner");
        engine.set_tidb_pace(Duration::from_secs(600), 1000.0);
        let wanted = [Wanted::new(
            doc(&endpoint("orders", CLUSTER, &[SUBNET_AZ1], "")),
            "orders.yaml",
        )];
        let policy = sim::policy();
        let message =
            |p: &privatelinkd::reconcile::PassOutcome| p.plan.endpoints[0].message.clone();
        fake.sim.set_cluster_state(CLUSTER, ClusterState::Paused);
        engine.expire_lookups();
        let paused = engine
            .pass(&wanted, &Frozen::default(), &policy, true)
            .await;
        assert!(
            message(&paused).contains("is PAUSED"),
            "{}",
            message(&paused)
        );
        assert!(paused.applied.is_empty());
        fake.sim.set_cluster_state(CLUSTER, ClusterState::Active);
        engine.expire_lookups();
        let resumed = engine
            .pass(&wanted, &Frozen::default(), &policy, true)
            .await;
        assert!(
            resumed
                .applied
                .iter()
                .any(|a| a.kind == "create_vpc_endpoint"),
            "{:?}",
            resumed.plan
        );
        fake.sim.set_cluster_state(CLUSTER, ClusterState::Deleted);
        engine.expire_lookups();
        let gone = engine
            .pass(&wanted, &Frozen::default(), &policy, true)
            .await;
        assert_eq!(gone.plan.endpoints[0].phase, Phase::Failed);
        assert!(
            message(&gone).contains("cluster 1379661944646413143 no longer exists"),
            "{}",
            message(&gone)
        );
    });
}
