//! Adoption, proven (issue 23), with the real clients: an estate made by hand in moto (boto3,
//! `tests/support/hand_made_estate.py`) and registered with the fake TiDB Cloud server by
//! `curl --digest` -> `privatelinkd import` -> the daemon takes the endpoints over as they are:
//! no CreateVpcEndpoint, no registration, no connection re-created, only its tags written
//! (counted in moto's request log, the fake's, and the daemon's own metrics); then an adopted
//! document edited is corrected in place (ModifyVpcEndpoint, the same endpoint).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use fake_tidbcloud::{Algorithm, Faults, Options};
use privatelinkd::cloud::ConnectionState;
use privatelinkd::plan::ownership;
use privatelinkd::secret::Secret;
use serde_json::{Value, json};

use crate::common::moto::{MUTATING, Moto, requests};
use crate::common::*;

const PUBLIC: &str = "PUBKEY01";
const PRIVATE: &str = "private-key-never-shown";
const PROJECT: &str = "1372813089454548012";
const GROUP: &str = "1379661944646413144";
const FAILING_GROUP: &str = "1379661944646414000";
const LIMIT: Duration = Duration::from_secs(90);

/// `tests/support/hand_made_estate.py ARGS` against moto at `url`: its JSON answer.
fn by_hand(url: &str, args: &[&str]) -> Value {
    let out = Command::new("python3")
        .arg("tests/support/hand_made_estate.py")
        .arg(args[0])
        .arg(url)
        .args(&args[1..])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hand_made_estate.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `curl --digest` against the fake TiDB Cloud server, as a person registers an endpoint:
/// (HTTP status, body as JSON).
fn curl(method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    let found = Command::new("sh")
        .args(["-c", "command -v curl"])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "curl is not installed (scripts/test installs it)"
    );
    let mut command = Command::new("curl");
    command.args(["-s", "--digest", "--user", &format!("{PUBLIC}:{PRIVATE}")]);
    command.args(["-X", method, "-w", "\n%{http_code}", url]);
    if let Some(body) = body {
        command.args([
            "-H",
            "content-type: application/json",
            "-d",
            &body.to_string(),
        ]);
    }
    let out = String::from_utf8(command.output().unwrap().stdout).unwrap();
    let (body, code) = out.rsplit_once('\n').unwrap();
    (
        code.parse().unwrap(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// `privatelinkd ARGS --config FILE` in the set-up's directory: (exit code, stdout, stderr).
fn privatelinkd(setup: &Setup, args: &[&str]) -> (Option<i32>, String, String) {
    let out = privatelinkd_command()
        .args(args)
        .arg("--config")
        .arg(setup.config())
        .current_dir(setup.dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The EC2 actions in moto's request log from the `skip`-th on.
fn ec2_actions(log: &Path, skip: usize) -> Vec<String> {
    requests(log)
        .into_iter()
        .filter(|r| r.service == "ec2")
        .skip(skip)
        .map(|r| r.action)
        .collect()
}

/// A counter of the daemon's `/metrics`, summed over the series whose labels begin with
/// `labels` (0 when there is none: nothing was counted).
fn counter(daemon: &Daemon, name: &str, labels: &str) -> f64 {
    let (_, body) = http_get(&daemon.addr(), "/metrics").expect("the daemon serves /metrics");
    let prefix = format!("{name}{{{labels}");
    body.lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A VPC endpoint as moto describes it: (state, subnets sorted, private DNS, tags).
type Described = (String, Vec<String>, bool, Vec<(String, String)>);

fn describe(moto: &Moto, id: &str) -> Described {
    runtime().block_on(async {
        let sdk = moto.sdk().await;
        let out = sdk
            .describe_vpc_endpoints()
            .vpc_endpoint_ids(id)
            .send()
            .await
            .unwrap();
        let e = &out.vpc_endpoints()[0];
        let mut subnets: Vec<String> = e.subnet_ids().to_vec();
        subnets.sort();
        let tags = e
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect();
        (
            e.state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            subnets,
            e.private_dns_enabled().unwrap_or(false),
            tags,
        )
    })
}

/// Every VPC endpoint in moto that is not deleted.
fn live_endpoints(moto: &Moto) -> BTreeSet<String> {
    runtime().block_on(async {
        let sdk = moto.sdk().await;
        let out = sdk.describe_vpc_endpoints().send().await.unwrap();
        out.vpc_endpoints()
            .iter()
            .filter(|e| !matches!(e.state().map(|s| s.as_str()), Some("deleted" | "deleting")))
            .map(|e| e.vpc_endpoint_id().unwrap().to_string())
            .collect()
    })
}

#[test]
fn an_estate_made_by_hand_is_imported_and_adopted_without_a_create_or_a_registration() {
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("moto.log");
    let moto = Moto::start_logging(Some(&log));

    // By hand, in moto: a VPC, subnets in three zones, a security group.
    let net = by_hand(&moto.url, &["network"]);
    let vpc = net["vpc"].as_str().unwrap().to_string();
    let group = net["securityGroup"].as_str().unwrap().to_string();
    let subnet = |i: usize| net["subnets"][i]["id"].as_str().unwrap().to_string();
    let zones: Vec<&str> = net["subnets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["azId"].as_str().unwrap())
        .collect();

    // TiDB Cloud: two clusters offering those zones; the second one's connections FAIL.
    let node_group = |id: &str| {
        format!(
            "[{{id: \"{id}\", default: true, availableZones: [{}]}}]",
            zones.join(", ")
        )
    };
    let world = format!(
        "clusters:\n  - id: \"{CLUSTER}\"\n    projectId: \"{PROJECT}\"\n    name: Orders\n    region: us-east-1\n    nodeGroups: {}\n  - id: \"{FAILING_CLUSTER}\"\n    projectId: \"{PROJECT}\"\n    name: Billing\n    region: us-east-1\n    nodeGroups: {}\ntiming: {{serviceCreate: 0s, accept: 1s, activate: 1s, privateDns: 1s, delete: 1s}}\ntimeScale: 10\nfaults: {{failConnections: [\"{FAILING_CLUSTER}\"]}}\n",
        node_group(GROUP),
        node_group(FAILING_GROUP)
    );
    let fake = FakeTidb::start(
        &world,
        Options {
            public_key: PUBLIC.into(),
            private_key: Secret::new(PRIVATE),
            algorithm: Algorithm::Sha256,
            requests_per_minute: 6000,
            window: Duration::from_secs(60),
            faults: Faults::default(),
        },
    );
    let api = |path: &str| format!("{}/v1beta1/clusters/{path}", fake.url());
    let connections_of = |cluster: &str, group: &str| {
        api(&format!(
            "{cluster}/tidbNodeGroups/{group}/privateEndpointConnections"
        ))
    };
    // The service names the console shows.
    let service_of = |cluster: &str, group: &str| {
        let (status, service) = curl(
            "GET",
            &api(&format!(
                "{cluster}/tidbNodeGroups/{group}/privateLinkService"
            )),
            None,
        );
        assert_eq!(status, 200, "{service}");
        service["serviceName"].as_str().unwrap().to_string()
    };
    let orders = service_of(CLUSTER, GROUP);
    let billing = service_of(FAILING_CLUSTER, FAILING_GROUP);

    // By hand, in moto: the endpoints.
    let made = by_hand(
        &moto.url,
        &[
            "endpoints",
            &json!([
                // Healthy, with private DNS (the VPC's one name for the service).
                {"vpc": vpc, "service": orders, "subnets": [subnet(0), subnet(1)],
                 "securityGroups": [group], "privateDns": true},
                // Healthy, without.
                {"vpc": vpc, "service": orders, "subnets": [subnet(1)],
                 "securityGroups": [group], "privateDns": false},
                // Registered, and TiDB Cloud marks it FAILED.
                {"vpc": vpc, "service": billing, "subnets": [subnet(0)],
                 "securityGroups": [group], "privateDns": true},
                // Registered, then deleted.
                {"vpc": vpc, "service": orders, "subnets": [subnet(2)],
                 "securityGroups": [group], "privateDns": false},
                // Never registered.
                {"vpc": vpc, "service": orders, "subnets": [subnet(2)],
                 "securityGroups": [group], "privateDns": false},
            ])
            .to_string(),
        ],
    );
    let id = |i: usize| made[i].as_str().unwrap().to_string();
    let (with_dns, without_dns, failed, deleted, unregistered) =
        (id(0), id(1), id(2), id(3), id(4));

    // By hand, in TiDB Cloud: four registered.
    for (endpoint, cluster, group) in [
        (&with_dns, CLUSTER, GROUP),
        (&without_dns, CLUSTER, GROUP),
        (&failed, FAILING_CLUSTER, FAILING_GROUP),
        (&deleted, CLUSTER, GROUP),
    ] {
        let (status, body) = curl(
            "POST",
            &connections_of(cluster, group),
            Some(&json!({"endpointId": endpoint})),
        );
        assert_eq!(status, 200, "registering {endpoint}: {body}");
    }
    let state_of = |endpoint: &str| {
        fake.sim
            .all_connections()
            .into_iter()
            .find(|c| c.endpoint_id == endpoint)
            .map(|c| c.state)
    };
    wait_for("the hand-made connections settled", LIMIT, || {
        state_of(&with_dns) == Some(ConnectionState::Active)
            && state_of(&without_dns) == Some(ConnectionState::Active)
            && state_of(&deleted) == Some(ConnectionState::Active)
            && state_of(&failed) == Some(ConnectionState::Failed)
    });
    by_hand(&moto.url, &["delete", &deleted]);
    let connection_of = |endpoint: &str| {
        fake.sim
            .all_connections()
            .into_iter()
            .find(|c| c.endpoint_id == endpoint)
            .map(|c| c.id)
            .unwrap()
    };
    let hand_made = [connection_of(&with_dns), connection_of(&without_dns)];
    let stray = connection_of(&deleted);

    // The daemon's set-up on both clouds (no document yet).
    let setup = Setup::new(
        &world,
        &format!(
            "cloud: {{tidbCloud: real, aws: real}}\naws: {{endpointUrl: \"{moto}\", rateLimits: {{mutatingPerSecond: 20, mutatingBurst: 40}}}}\ntidbCloud: {{apiUrl: \"{fake}\", publicKey: {PUBLIC}, privateKeyFile: ./key.txt}}\n",
            moto = moto.url,
            fake = fake.url()
        ),
    );
    let key = setup.path("key.txt");
    std::fs::write(&key, format!("{PRIVATE}\n")).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    // As the ledger rig: passes 2 s apart while something is on its way, so that a loaded
    // host does not cut the one registration the daemon makes (the FAILED one's).
    setup.edit_config(|c| c.replace("settleInterval: 100ms", "settleInterval: 2s"));

    // import: one DescribeVpcEndpoints (one account, one region), no change anywhere.
    let ec2_before = ec2_actions(&log, 0).len();
    let tidb_before = fake.fake.requests().len();
    let (code, stdout, stderr) = privatelinkd(&setup, &["import", "--output", "json"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(ec2_actions(&log, ec2_before), ["DescribeVpcEndpoints"]);
    let tidb_calls: Vec<String> = fake.fake.requests()[tidb_before..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        tidb_calls.iter().all(|c| c.starts_with("GET ")),
        "{tidb_calls:?}"
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let documents = report["documents"].as_array().unwrap();
    let mut written: Vec<&str> = documents
        .iter()
        .map(|d| d["endpointId"].as_str().unwrap())
        .collect();
    written.sort();
    let mut expected = [with_dns.as_str(), without_dns.as_str(), failed.as_str()];
    expected.sort();
    assert_eq!(written, expected, "{stdout}");
    let name_of = |endpoint: &str| {
        let doc = documents
            .iter()
            .find(|d| d["endpointId"] == endpoint)
            .unwrap();
        assert_eq!(
            doc["file"],
            format!("{}.yaml", doc["name"].as_str().unwrap())
        );
        doc["name"].as_str().unwrap().to_string()
    };
    let (a, b, f) = (name_of(&with_dns), name_of(&without_dns), name_of(&failed));
    let doc_of = |name: &str| {
        std::fs::read_to_string(setup.path(&format!("endpoints/{name}.yaml"))).unwrap()
    };
    assert!(
        doc_of(&a).contains(&format!("endpointId: {with_dns}")),
        "{}",
        doc_of(&a)
    );
    assert!(!doc_of(&a).contains("privateDns"), "{}", doc_of(&a));
    assert!(doc_of(&b).contains("privateDns: false"), "{}", doc_of(&b));
    let failed_doc = documents
        .iter()
        .find(|d| d["endpointId"] == failed)
        .unwrap();
    assert_eq!(failed_doc["connectionState"], "FAILED", "{failed_doc}");
    let unmatched = serde_json::to_string(&report["unmatched"]).unwrap();
    assert_eq!(
        report["unmatched"].as_array().unwrap().len(),
        2,
        "{unmatched}"
    );
    assert!(
        unmatched.contains(&unregistered) && unmatched.contains("never registered"),
        "{unmatched}"
    );
    let stray_finding = report["unmatched"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == stray.as_str())
        .unwrap_or_else(|| panic!("the stray connection {stray} reported: {unmatched}"));
    assert!(
        stray_finding["why"].as_str().unwrap().contains(&deleted),
        "{stray_finding}"
    );
    let hint = stray_finding["hint"].as_str().unwrap();
    assert!(
        hint.contains("curl --digest")
            && hint.contains(&format!("{}/{stray}", connections_of(CLUSTER, GROUP))),
        "{hint}"
    );

    // The healthy ones' documents say what the clouds have: nothing to do.
    let (code, stdout, stderr) = privatelinkd(
        &setup,
        &["plan", "--detailed-exitcode", "--name", &a, "--name", &b],
    );
    assert_eq!(code, Some(0), "{stdout}{stderr}");

    // The daemon takes them over. (`privatelinkd retry` finds it through the config.)
    setup.listen_on_free_port();
    let ec2_before = ec2_actions(&log, 0).len();
    let tidb_before = fake.fake.requests().len();
    let daemon = Daemon::start(&setup, &[]);
    let settle = |what: &str, check: &dyn Fn() -> bool| {
        if !eventually(LIMIT, check) {
            panic!(
                "timed out after {LIMIT:?} waiting for {what}\nEC2 calls: {:?}\nconnections: {:?}\nthe daemon said\n{}",
                ec2_actions(&log, ec2_before),
                fake.sim.all_connections(),
                daemon.log()
            );
        }
    };
    let phase = |name: &str| setup.phase(name, name);
    let active = |name: &str| phase(name).as_deref() == Some("Active");
    let ours = |id: &str| {
        let (_, _, _, tags) = describe(&moto, id);
        tags.into_iter()
            .filter(|(k, _)| k.starts_with(ownership::PREFIX))
            .collect::<Vec<_>>()
    };
    settle(
        "the healthy ones Active, the FAILED one Failed, all tagged",
        &|| {
            active(&a)
                && active(&b)
                && phase(&f).as_deref() == Some("Failed")
                && [&with_dns, &without_dns, &failed]
                    .iter()
                    .all(|id| ours(id).len() >= 2)
        },
    );
    // A FAILED connection, adopted, is the daemon's like one it made: Failed until the next
    // automatic retry, or `privatelinkd retry` now. Nothing registered meanwhile.
    let status = setup.status(&f).unwrap();
    let message = status["endpoints"][0]["message"].as_str().unwrap();
    assert!(message.contains("next automatic retry at"), "{message}");
    let tidb_mutations = |from: usize| -> Vec<String> {
        fake.fake.requests()[from..]
            .iter()
            .filter(|r| r.method != "GET")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    };
    assert_eq!(tidb_mutations(tidb_before), Vec::<String>::new());
    // TiDB Cloud lets the second cluster's connections through again, and a person asks for
    // the retry: registered again, and every document is Active.
    fake.sim.set_failing(FAILING_CLUSTER, false);
    let (code, stdout, stderr) = privatelinkd(&setup, &["retry", &f]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    settle("every adopted endpoint Active", &|| {
        [&a, &b, &f].iter().all(|n| active(n))
    });

    // Counted three ways: moto's log, the fake's log, and the daemon's own metrics.
    let ec2_calls = ec2_actions(&log, ec2_before);
    let creates = ec2_calls
        .iter()
        .filter(|a| *a == "CreateVpcEndpoint")
        .count();
    assert_eq!(creates, 0, "no endpoint created: {ec2_calls:?}");
    // Nothing changed in EC2 but the ownership marks.
    let changes: Vec<&String> = ec2_calls
        .iter()
        .filter(|a| MUTATING.contains(&a.as_str()))
        .collect();
    assert!(
        !changes.is_empty() && changes.iter().all(|a| *a == "CreateTags"),
        "{ec2_calls:?}"
    );
    assert_eq!(
        counter(
            &daemon,
            "privatelinkd_api_requests_total",
            "api=\"ec2\",operation=\"CreateVpcEndpoint\""
        ),
        0.0
    );
    assert!(
        counter(
            &daemon,
            "privatelinkd_api_requests_total",
            "api=\"ec2\",operation=\"CreateTags\""
        ) >= 1.0,
        "the metric counts the calls made"
    );
    let mutations = tidb_mutations(tidb_before);
    let orders_path = connections_of(CLUSTER, GROUP);
    let orders_path = orders_path.trim_start_matches(&fake.url());
    assert!(
        mutations.iter().all(|m| !m.contains(orders_path)),
        "no registration nor deletion for the Orders cluster (the adopted ones, the stray connection): {mutations:?}"
    );
    assert!(
        mutations.contains(&format!(
            "POST {}",
            connections_of(FAILING_CLUSTER, FAILING_GROUP).trim_start_matches(&fake.url())
        )),
        "the FAILED one registered again: {mutations:?}"
    );
    // The hand-made connections are the adopted ones' connections still; the stray one is
    // left for the person the report told.
    assert_eq!(
        [connection_of(&with_dns), connection_of(&without_dns)],
        hand_made
    );
    assert_eq!(connection_of(&deleted), stray);
    for (id, name) in [(&with_dns, &a), (&without_dns, &b), (&failed, &f)] {
        let tags = ours(id);
        let tag = |k: &str| {
            tags.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(tag(ownership::OWNER), Some("test-host"), "{id}: {tags:?}");
        assert_eq!(tag(ownership::NAME), Some(name.as_str()), "{id}: {tags:?}");
    }
    assert_eq!(
        live_endpoints(&moto),
        BTreeSet::from([
            with_dns.clone(),
            without_dns.clone(),
            failed.clone(),
            unregistered.clone()
        ]),
        "no endpoint made, none deleted"
    );
    assert!(describe(&moto, &with_dns).2, "private DNS left on");
    assert!(!describe(&moto, &without_dns).2, "private DNS left off");
    let (_, stdout, _) = privatelinkd(&setup, &["status"]);
    for (name, id) in [(&a, &with_dns), (&b, &without_dns), (&f, &failed)] {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(name.as_str()))
            .unwrap_or_default();
        assert!(
            row.starts_with(&format!("{name} (adopted)"))
                && row.contains("Active")
                && row.contains(id.as_str()),
            "{stdout}"
        );
    }

    // Edit an adopted document: a subnet swapped, changed in place.
    let ec2_before = ec2_actions(&log, 0).len();
    let tidb_before = fake.fake.requests().len();
    let text = doc_of(&a);
    let line = text
        .lines()
        .find(|l| l.starts_with("    subnetIds: "))
        .unwrap_or_else(|| panic!("no subnetIds in\n{text}"));
    assert!(
        line.contains(&subnet(0)) && line.contains(&subnet(1)),
        "{text}"
    );
    setup.write(
        &format!("{a}.yaml"),
        &text.replace(
            line,
            &format!("    subnetIds: [{}, {}]", subnet(0), subnet(2)),
        ),
    );
    let mut new = vec![subnet(0), subnet(2)];
    new.sort();
    settle("the subnet swapped in place, Active", &|| {
        describe(&moto, &with_dns).1 == new && active(&a)
    });
    let ec2_calls = ec2_actions(&log, ec2_before);
    assert!(
        ec2_calls.iter().any(|a| a == "ModifyVpcEndpoint"),
        "{ec2_calls:?}"
    );
    assert!(
        !ec2_calls.iter().any(|a| a == "CreateVpcEndpoint"),
        "{ec2_calls:?}"
    );
    assert_eq!(live_endpoints(&moto).len(), 4, "the same endpoints");
    assert_eq!(connection_of(&with_dns), hand_made[0]);
    assert_eq!(tidb_mutations(tidb_before), Vec::<String>::new());
    assert_eq!(daemon.stop(), Some(0));

    // The cleanup import suggested for the stray connection works as printed.
    let command = hint.trim_start_matches("if it was deleted: ");
    let out = Command::new("sh")
        .args(["-c", command])
        .env("TIDBCLOUD_PUBLIC_KEY", PUBLIC)
        .env("TIDBCLOUD_PRIVATE_KEY", PRIVATE)
        .output()
        .unwrap();
    assert!(out.status.success(), "{command}: {out:?}");
    assert!(
        fake.sim
            .connection(&stray)
            .is_none_or(|c| c.state == ConnectionState::Deleting),
        "{command}: {out:?}"
    );
}
