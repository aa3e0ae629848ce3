//! Google Cloud Private Service Connect endpoints: the engine on the simulated Compute Engine
//! and TiDB Cloud, in-process, with exact call counts (create, drift, removals, adoption, a
//! crash between the two steps of a create, and what fails before any insert).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::sim::*;
use crate::common::*;
use privatelinkd::cloud::gcp::{Address, ForwardingRule};
use privatelinkd::cloud::sim::SimCloud;
use privatelinkd::cloud::{Connection, ConnectionState, Scope, TidbCloud};
use privatelinkd::ledger;
use privatelinkd::plan::Phase;
use privatelinkd::reconcile::{Engine, Frozen, PassOutcome, Wanted};

const GCP_CLUSTER: &str = "1379661944646415555";
const GCP_GROUP: &str = "1379661944646415556";
/// A cluster on AWS in the Google Cloud region's name: only its cloud is wrong for a `gcp:`
/// document.
const AWS_CLUSTER: &str = "1379661944646416666";
const PROJECT: &str = "my-project";
const REGION: &str = "us-central1";
const NETWORK: &str = "prod-vpc";
const SUBNETWORK: &str = "prod-us-central1";

const ADDRESS_INSERT: &str = "compute.addresses.insert";
const RULE_INSERT: &str = "compute.forwardingRules.insert";
const ADDRESS_DELETE: &str = "compute.addresses.delete";
const RULE_DELETE: &str = "compute.forwardingRules.delete";
const CREATE_CONNECTION: &str = "tidbcloud.CreatePrivateEndpointConnection";
const DELETE_CONNECTION: &str = "tidbcloud.DeletePrivateEndpointConnection";

/// A Google Cloud cluster with its consumer network, and an AWS cluster; everything takes a
/// simulated second or two, and time runs a million times faster than real time.
fn gcp_world() -> String {
    format!(
        r#"clusters:
  - id: "{GCP_CLUSTER}"
    projectId: "1372813089454548012"
    region: {REGION}
    cloudProvider: gcp
    nodeGroups: [{{id: "{GCP_GROUP}", default: true}}]
  - id: "{AWS_CLUSTER}"
    projectId: "1372813089454548012"
    region: {REGION}
    nodeGroups: [{{id: "1379661944646416667", default: true, availableZones: [use1-az1]}}]
gcpNetworks:
  - project: {PROJECT}
    name: {NETWORK}
    subnetworks:
      - {{name: {SUBNETWORK}, region: {REGION}, ipCidrRange: 10.8.0.0/20}}
timing: {{serviceCreate: 1s, accept: 1s, activate: 2s, privateDns: 1s, delete: 1s, operation: 1s}}
timeScale: 1000000
faults: {{rateLimits: false}}
"#
    )
}

/// A `gcp:` document: `gcp_extra` goes into the `gcp:` block, `spec_extra` into `spec:`.
fn gcp_doc(name: &str, cluster: &str, gcp_extra: &str, spec_extra: &str) -> String {
    format!(
        "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\nmetadata: {{name: {name}}}\nspec:\n  tidbCloud: {{clusterId: \"{cluster}\"}}\n  gcp:\n    project: {PROJECT}\n    region: {REGION}\n    network: {NETWORK}\n{gcp_extra}{spec_extra}"
    )
}

fn subnetwork(name: &str) -> String {
    format!("    subnetwork: {name}\n")
}

fn analytics(spec_extra: &str) -> Vec<String> {
    vec![gcp_doc(
        "analytics",
        GCP_CLUSTER,
        &subnetwork(SUBNETWORK),
        spec_extra,
    )]
}

fn gcp_cloud() -> SimCloud {
    cloud_of(&gcp_world())
}

fn count(cloud: &SimCloud, key: &str) -> u64 {
    cloud.calls().get(key).copied().unwrap_or(0)
}

fn resources(cloud: &SimCloud) -> (Vec<ForwardingRule>, Vec<Address>) {
    cloud.gcp_resources(PROJECT, REGION)
}

/// Connections TiDB Cloud holds that are not being deleted.
fn live_connections(cloud: &SimCloud) -> Vec<Connection> {
    cloud
        .all_connections()
        .into_iter()
        .filter(|c| c.state != ConnectionState::Deleting)
        .collect()
}

/// Our labels on a resource: owner `owner` and name `name`.
fn assert_ours(labels: &BTreeMap<String, String>, name: &str, what: &str) {
    assert_eq!(
        labels.get("privatelinkd-owner").map(String::as_str),
        Some("owner"),
        "{what}: {labels:?}"
    );
    assert_eq!(
        labels.get("privatelinkd-name").map(String::as_str),
        Some(name),
        "{what}: {labels:?}"
    );
}

fn assert_active(last: &PassOutcome) {
    assert!(!last.plan.endpoints.is_empty());
    for p in &last.plan.endpoints {
        assert_eq!(p.phase, Phase::Active, "{}: {}", p.name, p.message);
    }
}

/// The engine with its ledger in `dir` (a daemon with a stateDir).
fn engine_in(cloud: &SimCloud, dir: &std::path::Path) -> Engine<Sim, Sim, Sim> {
    let mut engine = engine(cloud);
    engine.set_ledger(ledger::local::open(dir).expect("a ledger"));
    engine
}

/// Passes until one does nothing and nothing is on its way (as `converge`), with every
/// action carried out along the way: (kind, succeeded).
async fn converge_logged(
    engine: &mut Engine<Sim, Sim, Sim>,
    wanted: &[Wanted],
    limit: usize,
) -> (PassOutcome, Vec<(&'static str, bool)>) {
    let mut log = Vec::new();
    let mut last = PassOutcome::default();
    for _ in 0..limit {
        last = engine
            .pass(wanted, &Frozen::default(), &policy(), true)
            .await;
        log.extend(last.applied.iter().map(|a| (a.kind, a.result.is_ok())));
        let settled = last
            .plan
            .endpoints
            .iter()
            .all(|p| !p.phase.is_transitional());
        if last.applied.is_empty() && settled && last.plan.removals.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (last, log)
}

#[test]
fn a_gcp_document_converges_to_active_with_one_address_one_rule_and_one_connection() {
    let docs = analytics("");
    let cloud = gcp_cloud();
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        let last = converge(&mut engine, &wanted(&docs), 40).await;
        assert_active(&last);
    });
    let (rules, addresses) = resources(&cloud);
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(addresses.len(), 1, "{addresses:?}");
    let (rule, address) = (&rules[0], &addresses[0]);
    assert_eq!(rule.name, "analytics");
    assert_eq!(address.name, "analytics");
    assert_eq!(
        rule.ip_address, address.address,
        "the rule uses the address"
    );
    assert_eq!(rule.network, NETWORK);
    assert_eq!(address.subnetwork, SUBNETWORK);
    assert_ours(&rule.labels, "analytics", "the forwarding rule");
    assert_ours(&address.labels, "analytics", "the address");
    let connections = live_connections(&cloud);
    assert_eq!(connections.len(), 1, "{connections:?}");
    assert_eq!(connections[0].endpoint_id, rule.name);
    assert_eq!(connections[0].cluster_id, GCP_CLUSTER);
    assert_eq!(connections[0].state, ConnectionState::Active);
    let calls = cloud.calls();
    assert_eq!(count(&cloud, ADDRESS_INSERT), 1, "{calls:?}");
    assert_eq!(count(&cloud, RULE_INSERT), 1, "{calls:?}");
    assert_eq!(count(&cloud, CREATE_CONNECTION), 1, "{calls:?}");
    assert_eq!(
        count(&cloud, RULE_DELETE) + count(&cloud, ADDRESS_DELETE),
        0
    );
}

#[test]
fn a_forwarding_rule_deleted_in_the_console_is_created_again() {
    let docs = analytics("");
    let wanted = wanted(&docs);
    let cloud = gcp_cloud();
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        assert_active(&converge(&mut engine, &wanted, 40).await);
        cloud.gcp_delete_rule_behind_our_back(PROJECT, REGION, "analytics");
        assert!(resources(&cloud).0.is_empty());
        let last = converge(&mut engine, &wanted, 40).await;
        assert_active(&last);
    });
    let calls = cloud.calls();
    assert_eq!(count(&cloud, RULE_INSERT), 2, "one new insert: {calls:?}");
    assert_eq!(
        count(&cloud, ADDRESS_INSERT),
        1,
        "the address stayed: {calls:?}"
    );
    let (rules, addresses) = resources(&cloud);
    assert_eq!((rules.len(), addresses.len()), (1, 1));
    assert_eq!(rules[0].ip_address, addresses[0].address);
    assert_ours(&rules[0].labels, "analytics", "the new forwarding rule");
    let connections = live_connections(&cloud);
    assert_eq!(connections.len(), 1, "{connections:?}");
    assert_eq!(connections[0].endpoint_id, "analytics");
    assert_eq!(connections[0].state, ConnectionState::Active);
}

#[test]
fn labels_removed_in_the_console_are_restored_without_a_new_insert() {
    let docs = analytics("");
    let wanted = wanted(&docs);
    let cloud = gcp_cloud();
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        assert_active(&converge(&mut engine, &wanted, 40).await);
        cloud.gcp_set_labels_behind_our_back(PROJECT, REGION, "analytics", &BTreeMap::new());
        let (rules, addresses) = resources(&cloud);
        assert!(rules[0].labels.is_empty() && addresses[0].labels.is_empty());
        let last = converge(&mut engine, &wanted, 40).await;
        assert_active(&last);
    });
    let calls = cloud.calls();
    assert_eq!(count(&cloud, ADDRESS_INSERT), 1, "no new insert: {calls:?}");
    assert_eq!(count(&cloud, RULE_INSERT), 1, "no new insert: {calls:?}");
    assert_eq!(
        count(&cloud, RULE_DELETE) + count(&cloud, ADDRESS_DELETE),
        0
    );
    let (rules, addresses) = resources(&cloud);
    assert_eq!((rules.len(), addresses.len()), (1, 1));
    assert_ours(&rules[0].labels, "analytics", "the forwarding rule");
    assert_ours(&addresses[0].labels, "analytics", "the address");
    assert_eq!(live_connections(&cloud).len(), 1);
    assert!(
        count(&cloud, "compute.forwardingRules.setLabels") >= 1,
        "{calls:?}"
    );
    assert!(
        count(&cloud, "compute.addresses.setLabels") >= 1,
        "{calls:?}"
    );
}

#[test]
fn removing_a_delete_document_deletes_the_connection_then_the_rule_then_the_address() {
    let docs = analytics("  deletionPolicy: Delete\n");
    let cloud = gcp_cloud();
    let log = runtime().block_on(async {
        let mut engine = engine(&cloud);
        assert_active(&converge(&mut engine, &wanted(&docs), 40).await);
        let (last, log) = converge_logged(&mut engine, &[], 40).await;
        assert!(last.plan.removals.is_empty(), "{:?}", last.plan.removals);
        log
    });
    let (rules, addresses) = resources(&cloud);
    assert!(rules.is_empty(), "{rules:?}");
    assert!(addresses.is_empty(), "{addresses:?}");
    assert!(live_connections(&cloud).is_empty());
    let calls = cloud.calls();
    assert_eq!(count(&cloud, DELETE_CONNECTION), 1, "{calls:?}");
    assert_eq!(count(&cloud, RULE_DELETE), 1, "{calls:?}");
    assert_eq!(count(&cloud, ADDRESS_DELETE), 1, "{calls:?}");
    // The connection first, then the endpoint in two deletes (the rule, then its address),
    // each succeeding.
    assert_eq!(
        log,
        [
            ("delete_connection", true),
            ("delete_psc_endpoint", true),
            ("delete_psc_endpoint", true),
        ],
        "{calls:?}"
    );
}

#[test]
fn removing_an_orphan_document_takes_our_labels_off_and_deletes_nothing() {
    let docs = analytics("  deletionPolicy: Orphan\n");
    let cloud = gcp_cloud();
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        assert_active(&converge(&mut engine, &wanted(&docs), 40).await);
        let last = converge(&mut engine, &[], 40).await;
        assert!(last.plan.removals.is_empty(), "{:?}", last.plan.removals);
    });
    let (rules, addresses) = resources(&cloud);
    assert_eq!((rules.len(), addresses.len()), (1, 1), "both stay");
    for labels in [&rules[0].labels, &addresses[0].labels] {
        assert!(
            !labels.keys().any(|k| k.starts_with("privatelinkd-")),
            "our labels are gone: {labels:?}"
        );
    }
    let calls = cloud.calls();
    assert_eq!(count(&cloud, RULE_DELETE), 0, "{calls:?}");
    assert_eq!(count(&cloud, ADDRESS_DELETE), 0, "{calls:?}");
    assert_eq!(count(&cloud, DELETE_CONNECTION), 0, "{calls:?}");
    let connections = live_connections(&cloud);
    assert_eq!(
        connections.len(),
        1,
        "the connection stays: {connections:?}"
    );
    assert_eq!(connections[0].endpoint_id, "analytics");
}

#[test]
fn an_endpoint_made_by_hand_is_adopted_labelled_and_registered_without_an_insert() {
    let cloud = gcp_cloud();
    let docs = vec![gcp_doc(
        "analytics",
        GCP_CLUSTER,
        &format!(
            "{}    endpointName: psc-by-hand\n    adopt: true\n",
            subnetwork(SUBNETWORK)
        ),
        "",
    )];
    runtime().block_on(async {
        let service = TidbCloud::get_service(&cloud, GCP_CLUSTER, GCP_GROUP)
            .await
            .expect("the cluster's service attachment");
        cloud.gcp_create_by_hand(
            &Scope::gcp(PROJECT, REGION),
            "psc-by-hand",
            SUBNETWORK,
            &service.name,
        );
        let mut engine = engine(&cloud);
        let last = converge(&mut engine, &wanted(&docs), 40).await;
        assert_active(&last);
    });
    let calls = cloud.calls();
    assert_eq!(count(&cloud, ADDRESS_INSERT), 0, "{calls:?}");
    assert_eq!(count(&cloud, RULE_INSERT), 0, "{calls:?}");
    let (rules, addresses) = resources(&cloud);
    assert_eq!((rules.len(), addresses.len()), (1, 1));
    assert_eq!(rules[0].name, "psc-by-hand");
    assert_ours(&rules[0].labels, "analytics", "the adopted forwarding rule");
    assert_ours(&addresses[0].labels, "analytics", "the adopted address");
    let connections = live_connections(&cloud);
    assert_eq!(connections.len(), 1, "{connections:?}");
    assert_eq!(connections[0].endpoint_id, "psc-by-hand");
    assert_eq!(connections[0].state, ConnectionState::Active);
    assert_eq!(count(&cloud, CREATE_CONNECTION), 1, "{calls:?}");
}

#[test]
fn a_crash_between_the_address_and_the_forwarding_rule_reserves_no_second_address() {
    let docs = analytics("");
    let wanted = wanted(&docs);
    let cloud = gcp_cloud();
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        {
            let mut engine = engine_in(&cloud, dir.path());
            for _ in 0..10 {
                engine
                    .pass(&wanted, &Frozen::default(), &policy(), true)
                    .await;
                if count(&cloud, ADDRESS_INSERT) > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(count(&cloud, ADDRESS_INSERT), 1, "the address is reserved");
            assert_eq!(count(&cloud, RULE_INSERT), 0, "and nothing more");
            // The daemon dies here: its operations in flight are forgotten.
        }
        let (rules, addresses) = resources(&cloud);
        assert_eq!((rules.len(), addresses.len()), (0, 1));
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut engine = engine_in(&cloud, dir.path());
        let last = converge(&mut engine, &wanted, 40).await;
        assert_active(&last);
    });
    let calls = cloud.calls();
    assert_eq!(
        count(&cloud, ADDRESS_INSERT),
        1,
        "no second address: {calls:?}"
    );
    assert_eq!(count(&cloud, RULE_INSERT), 1, "{calls:?}");
    let (rules, addresses) = resources(&cloud);
    assert_eq!((rules.len(), addresses.len()), (1, 1));
    assert_eq!(rules[0].ip_address, addresses[0].address);
    assert_ours(&rules[0].labels, "analytics", "the forwarding rule");
    assert_eq!(live_connections(&cloud).len(), 1);
}

#[test]
fn a_gcp_document_for_a_cluster_on_aws_fails_naming_the_cloud() {
    let docs = vec![gcp_doc(
        "analytics",
        AWS_CLUSTER,
        &subnetwork(SUBNETWORK),
        "",
    )];
    let cloud = gcp_cloud();
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        let last = converge(&mut engine, &wanted(&docs), 20).await;
        let p = &last.plan.endpoints[0];
        assert_eq!(p.phase, Phase::Failed, "{}", p.message);
        assert!(
            p.message.contains("runs on aws") && p.message.contains("`gcp` block"),
            "{}",
            p.message
        );
    });
    let calls = cloud.calls();
    assert_eq!(count(&cloud, ADDRESS_INSERT), 0, "{calls:?}");
    assert_eq!(count(&cloud, RULE_INSERT), 0, "{calls:?}");
    assert_eq!(count(&cloud, CREATE_CONNECTION), 0, "{calls:?}");
}

#[test]
fn a_subnetwork_that_does_not_exist_fails_before_any_insert() {
    let docs = vec![gcp_doc(
        "analytics",
        GCP_CLUSTER,
        &subnetwork("no-such-subnetwork"),
        "",
    )];
    let cloud = gcp_cloud();
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        let last = converge(&mut engine, &wanted(&docs), 20).await;
        let p = &last.plan.endpoints[0];
        assert_eq!(p.phase, Phase::Failed, "{}", p.message);
        assert!(
            p.message
                .contains("subnetwork no-such-subnetwork does not exist"),
            "{}",
            p.message
        );
    });
    let calls = cloud.calls();
    assert!(count(&cloud, "compute.subnetworks.get") > 0, "{calls:?}");
    assert_eq!(count(&cloud, ADDRESS_INSERT), 0, "{calls:?}");
    assert_eq!(count(&cloud, RULE_INSERT), 0, "{calls:?}");
    assert_eq!(count(&cloud, CREATE_CONNECTION), 0, "{calls:?}");
}

#[test]
fn a_document_removed_and_added_again_is_created_again() {
    let docs = analytics("");
    let wanted = wanted(&docs);
    let cloud = gcp_cloud();
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        assert_active(&converge(&mut engine, &wanted, 40).await);
        let (last, _) = converge_logged(&mut engine, &[], 40).await;
        assert!(last.plan.removals.is_empty(), "{:?}", last.plan.removals);
        assert_eq!(resources(&cloud), (vec![], vec![]), "deleted");
        let last = converge(&mut engine, &wanted, 40).await;
        assert_active(&last);
    });
    let calls = cloud.calls();
    assert_eq!(
        count(&cloud, ADDRESS_INSERT),
        2,
        "one more address: {calls:?}"
    );
    assert_eq!(count(&cloud, RULE_INSERT), 2, "one more rule: {calls:?}");
    let (rules, addresses) = resources(&cloud);
    assert_eq!((rules.len(), addresses.len()), (1, 1));
    assert_ours(&rules[0].labels, "analytics", "the new forwarding rule");
    let connections = live_connections(&cloud);
    assert_eq!(connections.len(), 1, "{connections:?}");
    assert_eq!(connections[0].endpoint_id, "analytics");
}

/// A storm of Compute Engine's 403 `rateLimitExceeded` (another tool spending the project's
/// quota): while it lasts nothing is made and every throttled call waits for its reset; once
/// it ends, the endpoints converge, and no request ever went over the budget (the simulated
/// Compute Engine meters the published quotas itself and never had to refuse one).
#[test]
fn a_rate_limit_storm_converges_once_it_passes_and_no_request_goes_over_the_budget() {
    use privatelinkd::cloud::{CloudError, op};
    let docs: Vec<String> = (0..8)
        .map(|i| {
            gcp_doc(
                &format!("psc-{i}"),
                GCP_CLUSTER,
                &subnetwork(SUBNETWORK),
                "",
            )
        })
        .collect();
    let world = gcp_world().replace("rateLimits: false", "rateLimits: true");
    let cloud = cloud_of(&world);
    // Until the next minute, on the simulated clock (a million times faster than this one).
    let throttled = || CloudError::Throttled {
        api: "compute",
        retry_after: Duration::from_micros(60),
    };
    let storm = [
        op::INSERT_ADDRESS,
        op::LIST_ADDRESSES,
        op::LIST_FORWARDING_RULES,
    ];
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        for o in storm {
            cloud.fail(o, Some(throttled()));
        }
        for _ in 0..5 {
            let during = engine
                .pass(&wanted(&docs), &Frozen::default(), &policy(), true)
                .await;
            assert!(
                during.plan.endpoints.iter().all(|p| p.actions.is_empty()),
                "nothing is acted on while its endpoints cannot be listed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Each pass tries a throttled listing at most four times (one try, three resends).
        let listed = count(&cloud, "compute.addresses.list");
        assert!(listed <= 5 * 4, "{listed} listings in 5 passes");
        assert_eq!(count(&cloud, ADDRESS_INSERT), 0);
        for o in storm {
            cloud.fail(o, None);
        }
        let last = converge(&mut engine, &wanted(&docs), 60).await;
        assert_active(&last);
    });
    let (rules, addresses) = resources(&cloud);
    assert_eq!((rules.len(), addresses.len()), (8, 8));
    let calls = cloud.calls();
    assert_eq!(
        calls.get("compute.throttled").copied().unwrap_or(0),
        0,
        "the budget kept under the quotas: {calls:?}"
    );
    assert_eq!(count(&cloud, ADDRESS_INSERT), 8, "{calls:?}");
    assert_eq!(count(&cloud, RULE_INSERT), 8, "{calls:?}");
}

/// A person makes the missing subnetwork: the next look at the network (asked every pass while
/// something is missing) sees it, and the endpoint is created (the plan of the failed pass is
/// not reused: the network facts are part of what a plan is made from).
#[test]
fn a_missing_subnetwork_made_in_the_console_lets_the_endpoint_be_created() {
    let docs = vec![gcp_doc("analytics", GCP_CLUSTER, &subnetwork("later"), "")];
    let wanted = wanted(&docs);
    let cloud = gcp_cloud();
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        let last = converge(&mut engine, &wanted, 20).await;
        assert_eq!(last.plan.endpoints[0].phase, Phase::Failed);
        cloud.gcp_add_subnetwork_behind_our_back(
            PROJECT,
            NETWORK,
            privatelinkd::cloud::sim::GcpSubnetworkSeed {
                name: "later".into(),
                region: REGION.into(),
                ip_cidr_range: "10.9.0.0/24".into(),
            },
        );
        let last = converge(&mut engine, &wanted, 40).await;
        assert_active(&last);
    });
    assert_eq!(count(&cloud, ADDRESS_INSERT), 1);
}

/// `import` through the seam on Google Cloud: a forwarding rule made and registered by hand is
/// found by one target-filtered listing, written as an adopting document, and the engine on
/// that document inserts nothing and registers nothing.
#[test]
fn import_finds_a_hand_made_psc_endpoint_and_its_document_adopts_it_as_it_is() {
    use privatelinkd::cloud::clouds::Clouds;
    use privatelinkd::import::estate::{Reach, discover};
    use privatelinkd::import::{Managed, Options, matched};

    let cloud = gcp_cloud();
    let scope = Scope::gcp(PROJECT, REGION);
    let report = runtime().block_on(async {
        let service = TidbCloud::get_service(&cloud, GCP_CLUSTER, GCP_GROUP)
            .await
            .expect("the cluster's service attachment");
        cloud.gcp_create_by_hand(&scope, "psc-by-hand", SUBNETWORK, &service.name);
        TidbCloud::create_connection(&cloud, GCP_CLUSTER, GCP_GROUP, "psc-by-hand", None)
            .await
            .expect("registered by hand");
        let reach = Reach {
            gcp_projects: vec![PROJECT.into()],
            ..Reach::default()
        };
        let consumer = Clouds::new(cloud.clone(), cloud.clone());
        let estate = discover(&cloud, &consumer, &reach, |_, _| {})
            .await
            .expect("the estate");
        let options = Options {
            owner_id: "owner".into(),
            deletion_policy: privatelinkd::spec::DeletionPolicy::Orphan,
            source: "the test".into(),
            api_url: "http://127.0.0.1:1".into(),
        };
        matched(&estate, &Managed::default(), &options)
    });
    assert_eq!(report.documents.len(), 1, "{report:?}");
    let imported = &report.documents[0];
    assert_eq!(
        (imported.cloud.as_str(), imported.endpoint_id.as_str()),
        ("gcp", "psc-by-hand")
    );
    for line in [
        "    endpointName: psc-by-hand\n",
        "    adopt: true\n",
        &format!("    subnetwork: {SUBNETWORK}\n"),
    ] {
        assert!(imported.yaml.contains(line), "{}", imported.yaml);
    }
    cloud.reset_calls();
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        let last = converge(
            &mut engine,
            &wanted(std::slice::from_ref(&imported.yaml)),
            40,
        )
        .await;
        assert_active(&last);
    });
    let calls = cloud.calls();
    assert_eq!(count(&cloud, ADDRESS_INSERT), 0, "{calls:?}");
    assert_eq!(count(&cloud, RULE_INSERT), 0, "{calls:?}");
    assert_eq!(count(&cloud, CREATE_CONNECTION), 0, "{calls:?}");
    let (rules, _) = resources(&cloud);
    assert_ours(
        &rules[0].labels,
        &imported.name,
        "the adopted forwarding rule",
    );
}
