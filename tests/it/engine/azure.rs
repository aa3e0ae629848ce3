//! Azure private endpoints: the engine on the simulated Resource Manager and TiDB Cloud,
//! in-process, with exact call counts (create, drift, removals, adoption of an endpoint TiDB
//! Cloud already DISCOVERED, a crash between the PUT and the registration, throttling).

use crate::common::sim::*;
use crate::common::*;
use privatelinkd::cloud::any::AnyArm;
use privatelinkd::cloud::azure::{LinkStatus, PrivateEndpoint, ProvisioningState};
use privatelinkd::cloud::budget::{Budgeted, Rates};
use privatelinkd::cloud::sim::SimCloud;
use privatelinkd::cloud::{Connection, ConnectionState, TidbCloud};
use privatelinkd::plan::Phase;
use privatelinkd::reconcile::{Engine, Frozen, PassOutcome};

const AZ_CLUSTER: &str = "1379661944646417777";
const AZ_GROUP: &str = "1379661944646417778";
const SUBSCRIPTION: &str = "00000000-0000-0000-0000-0000000000a1";
const GROUP: &str = "prod-network";
const LOCATION: &str = "eastus2";

const PUT: &str = "arm.privateEndpoints.createOrUpdate";
const DELETE: &str = "arm.privateEndpoints.delete";
const CREATE_CONNECTION: &str = "tidbcloud.CreatePrivateEndpointConnection";
const DELETE_CONNECTION: &str = "tidbcloud.DeletePrivateEndpointConnection";

fn subnet_id() -> String {
    format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.Network/virtualNetworks/prod/subnets/db"
    )
}

/// An Azure cluster and the consumer's virtual network; time runs a million times faster.
fn azure_world(rate_limits: bool) -> String {
    format!(
        r#"clusters:
  - id: "{AZ_CLUSTER}"
    projectId: "1372813089454548012"
    name: orders
    region: {LOCATION}
    cloudProvider: azure
    nodeGroups: [{{id: "{AZ_GROUP}", default: true}}]
azureNetworks:
  - subscriptionId: "{SUBSCRIPTION}"
    resourceGroup: {GROUP}
    location: {LOCATION}
    virtualNetwork: prod
    subnets: [{{name: db, addressPrefix: 10.9.0.0/24}}]
timing: {{serviceCreate: 1s, accept: 1s, activate: 2s, privateDns: 1s, delete: 1s, operation: 1s}}
timeScale: 1000000
faults: {{rateLimits: {rate_limits}}}
"#
    )
}

fn azure_doc(name: &str, azure_extra: &str, spec_extra: &str) -> String {
    format!(
        "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\nmetadata: {{name: {name}}}\nspec:\n  tidbCloud: {{clusterId: \"{AZ_CLUSTER}\"}}\n  azure:\n    subscriptionId: \"{SUBSCRIPTION}\"\n    resourceGroup: {GROUP}\n    location: {LOCATION}\n    virtualNetwork: prod\n    subnet: db\n{azure_extra}{spec_extra}"
    )
}

fn orders(spec_extra: &str) -> Vec<String> {
    vec![azure_doc("orders", "", spec_extra)]
}

/// The engine on `cloud` with its Azure: the same world behind the call gate.
fn azure_engine(cloud: &SimCloud) -> Engine<Sim, Sim, Sim> {
    let mut engine = engine(cloud);
    let rates = Rates::default().scaled(cloud.time_scale());
    engine.set_azure(Budgeted::new(AnyArm::Simulated(cloud.clone()), rates));
    engine
}

fn count(cloud: &SimCloud, key: &str) -> u64 {
    cloud.calls().get(key).copied().unwrap_or(0)
}

fn live_connections(cloud: &SimCloud) -> Vec<Connection> {
    cloud
        .all_connections()
        .into_iter()
        .filter(|c| c.state != ConnectionState::Deleting)
        .collect()
}

/// The endpoints Resource Manager holds that are not being deleted.
fn endpoints(cloud: &SimCloud) -> Vec<PrivateEndpoint> {
    cloud
        .azure_endpoints()
        .into_iter()
        .filter(|e| e.provisioning_state != ProvisioningState::Deleting)
        .collect()
}

fn assert_ours(e: &PrivateEndpoint, name: &str) {
    assert_eq!(
        e.tags.get("privatelinkd-owner").map(String::as_str),
        Some("owner"),
        "{:?}",
        e.tags
    );
    assert_eq!(
        e.tags.get("privatelinkd-name").map(String::as_str),
        Some(name),
        "{:?}",
        e.tags
    );
}

fn assert_active(last: &PassOutcome) {
    assert!(!last.plan.endpoints.is_empty());
    for p in &last.plan.endpoints {
        assert_eq!(p.phase, Phase::Active, "{}: {}", p.name, p.message);
    }
}

#[test]
fn an_azure_document_converges_to_active_with_one_put_and_one_registration_with_its_ip() {
    let cloud = cloud_of(&azure_world(false));
    runtime().block_on(async {
        let mut engine = azure_engine(&cloud);
        assert_active(&converge(&mut engine, &wanted(&orders("")), 40).await);
    });
    let found = endpoints(&cloud);
    assert_eq!(found.len(), 1, "{found:?}");
    let e = &found[0];
    assert_eq!(e.name, "orders");
    assert!(
        e.subnet_id.eq_ignore_ascii_case(&subnet_id()),
        "{}",
        e.subnet_id
    );
    assert_eq!(e.provisioning_state, ProvisioningState::Succeeded);
    assert_eq!(e.link_status, LinkStatus::Approved);
    assert_ours(e, "orders");
    let connections = live_connections(&cloud);
    assert_eq!(connections.len(), 1, "{connections:?}");
    assert_eq!(connections[0].endpoint_id, e.id);
    assert_eq!(connections[0].state, ConnectionState::Active);
    let calls = cloud.calls();
    assert_eq!(count(&cloud, PUT), 1, "{calls:?}");
    assert_eq!(count(&cloud, CREATE_CONNECTION), 1, "{calls:?}");
    assert_eq!(count(&cloud, DELETE), 0, "{calls:?}");
}

#[test]
fn an_endpoint_deleted_in_the_portal_is_made_again_and_a_removed_tag_is_written_back() {
    let cloud = cloud_of(&azure_world(false));
    let wanted = wanted(&orders(""));
    runtime().block_on(async {
        let mut engine = azure_engine(&cloud);
        assert_active(&converge(&mut engine, &wanted, 40).await);
        let id = endpoints(&cloud)[0].id.clone();
        cloud.azure_remove_tag_behind_our_back(&id, "privatelinkd-name");
        assert_active(&converge(&mut engine, &wanted, 40).await);
        assert_ours(&endpoints(&cloud)[0], "orders");
        assert_eq!(count(&cloud, PUT), 1, "a tag is no new endpoint");
        cloud.azure_delete_behind_our_back(&id);
        let last = converge(&mut engine, &wanted, 60).await;
        assert_active(&last);
    });
    assert_eq!(
        count(&cloud, PUT),
        2,
        "made again once: {:?}",
        cloud.calls()
    );
    let found = endpoints(&cloud);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_ours(&found[0], "orders");
    let connections = live_connections(&cloud);
    assert_eq!(connections.len(), 1, "{connections:?}");
    assert_eq!(connections[0].state, ConnectionState::Active);
}

#[test]
fn removing_a_delete_document_deletes_the_connection_then_the_endpoint() {
    let cloud = cloud_of(&azure_world(false));
    runtime().block_on(async {
        let mut engine = azure_engine(&cloud);
        assert_active(
            &converge(
                &mut engine,
                &wanted(&orders("  deletionPolicy: Delete\n")),
                40,
            )
            .await,
        );
        let last = converge(&mut engine, &[], 40).await;
        assert!(last.plan.removals.is_empty(), "{:?}", last.plan.removals);
    });
    assert!(endpoints(&cloud).is_empty(), "{:?}", endpoints(&cloud));
    assert!(live_connections(&cloud).is_empty());
    assert_eq!(count(&cloud, DELETE_CONNECTION), 1, "{:?}", cloud.calls());
    assert_eq!(count(&cloud, DELETE), 1, "{:?}", cloud.calls());
}

#[test]
fn removing_an_orphan_document_takes_our_tags_off_and_deletes_nothing() {
    let cloud = cloud_of(&azure_world(false));
    runtime().block_on(async {
        let mut engine = azure_engine(&cloud);
        assert_active(
            &converge(
                &mut engine,
                &wanted(&orders("  deletionPolicy: Orphan\n")),
                40,
            )
            .await,
        );
        converge(&mut engine, &[], 40).await;
    });
    let found = endpoints(&cloud);
    assert_eq!(found.len(), 1, "it stays");
    assert!(
        !found[0].tags.keys().any(|k| k.starts_with("privatelinkd-")),
        "{:?}",
        found[0].tags
    );
    assert_eq!(count(&cloud, DELETE), 0);
    assert_eq!(count(&cloud, DELETE_CONNECTION), 0);
    assert_eq!(live_connections(&cloud).len(), 1, "the connection stays");
}

/// TiDB Cloud finds an endpoint made in the portal by itself (DISCOVERED): a document that
/// adopts it tags it and registers that connection with the endpoint's IP; nothing is made.
#[test]
fn an_endpoint_tidb_cloud_discovered_is_adopted_and_registered_without_a_put() {
    let cloud = cloud_of(&azure_world(false));
    let docs = vec![azure_doc(
        "orders",
        "    endpointName: by-hand\n    adopt: true\n",
        "",
    )];
    runtime().block_on(async {
        let service = TidbCloud::get_service(&cloud, AZ_CLUSTER, AZ_GROUP)
            .await
            .expect("the cluster's Private Link service");
        let id =
            cloud.azure_create_by_hand(SUBSCRIPTION, GROUP, "by-hand", &subnet_id(), &service.name);
        let discovered: Vec<Connection> = cloud
            .all_connections()
            .into_iter()
            .filter(|c| c.endpoint_id.eq_ignore_ascii_case(&id))
            .collect();
        assert_eq!(discovered.len(), 1, "{discovered:?}");
        assert_eq!(discovered[0].state, ConnectionState::Discovered);
        let mut engine = azure_engine(&cloud);
        assert_active(&converge(&mut engine, &wanted(&docs), 40).await);
    });
    let calls = cloud.calls();
    assert_eq!(count(&cloud, PUT), 0, "{calls:?}");
    assert_eq!(count(&cloud, CREATE_CONNECTION), 1, "{calls:?}");
    let found = endpoints(&cloud);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "by-hand");
    assert_ours(&found[0], "orders");
    let connections = live_connections(&cloud);
    assert_eq!(connections.len(), 1, "{connections:?}");
    assert_eq!(connections[0].state, ConnectionState::Active);
}

/// The daemon stops after the PUT, before its operation is done and before the
/// registration: the next daemon finds the endpoint by its tags (made with the PUT), makes no
/// second one and registers it once.
#[test]
fn a_crash_between_the_put_and_the_registration_leaves_no_duplicate() {
    let cloud = cloud_of(&azure_world(false));
    let wanted = wanted(&orders(""));
    runtime().block_on(async {
        let mut first = azure_engine(&cloud);
        let pass = first
            .pass(&wanted, &Frozen::default(), &policy(), true)
            .await;
        assert!(
            pass.applied
                .iter()
                .any(|a| a.kind == "create_azure_endpoint"),
            "{:?}",
            pass.applied
        );
        drop(first);
        let mut second = azure_engine(&cloud);
        assert_active(&converge(&mut second, &wanted, 40).await);
    });
    assert_eq!(count(&cloud, PUT), 1, "{:?}", cloud.calls());
    assert_eq!(endpoints(&cloud).len(), 1);
    assert_eq!(count(&cloud, CREATE_CONNECTION), 1);
    assert_eq!(live_connections(&cloud).len(), 1);
}

/// Resource Manager's budgets at their published size on the simulated clock: ten endpoints
/// converge, and no request is answered 429.
#[test]
fn ten_endpoints_converge_within_resource_managers_budget() {
    let cloud = cloud_of(&azure_world(true));
    let docs: Vec<String> = (0..10)
        .map(|i| azure_doc(&format!("ep-{i}"), "", ""))
        .collect();
    runtime().block_on(async {
        let mut engine = azure_engine(&cloud);
        let last = converge(&mut engine, &wanted(&docs), 80).await;
        assert_active(&last);
    });
    let calls = cloud.calls();
    let throttled: u64 = calls
        .iter()
        .filter(|(k, _)| k.starts_with("arm.throttled"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(throttled, 0, "{calls:?}");
    assert_eq!(count(&cloud, PUT), 10, "{calls:?}");
}

/// `import` through the seam on Azure: an endpoint made in the portal and registered by hand
/// is found by the subscription's listing, written as an adopting document, and the engine on
/// that document makes nothing and registers nothing.
#[test]
fn import_finds_a_hand_made_private_endpoint_and_its_document_adopts_it_as_it_is() {
    use privatelinkd::cloud::clouds::Clouds;
    use privatelinkd::import::estate::{Reach, discover};
    use privatelinkd::import::{Managed, Options, matched};

    let cloud = cloud_of(&azure_world(false));
    let report = runtime().block_on(async {
        let service = TidbCloud::get_service(&cloud, AZ_CLUSTER, AZ_GROUP)
            .await
            .expect("the cluster's Private Link service");
        let id =
            cloud.azure_create_by_hand(SUBSCRIPTION, GROUP, "by-hand", &subnet_id(), &service.name);
        let ip = cloud
            .azure_endpoints()
            .into_iter()
            .find(|e| e.id == id)
            .and_then(|e| e.private_ip)
            .expect("an IP");
        TidbCloud::create_connection(&cloud, AZ_CLUSTER, AZ_GROUP, &id, Some(&ip))
            .await
            .expect("registered by hand");
        let reach = Reach {
            azure_subscriptions: vec![SUBSCRIPTION.into()],
            ..Reach::default()
        };
        let rates = Rates::default().scaled(cloud.time_scale());
        let consumer = Clouds::new(cloud.clone(), cloud.clone())
            .with_azure(Budgeted::new(AnyArm::Simulated(cloud.clone()), rates));
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
    assert_eq!(imported.cloud, "azure");
    assert_eq!(
        imported.name, "orders-prod",
        "the cluster's name and the virtual network"
    );
    for line in [
        "    endpointName: by-hand\n",
        "    adopt: true\n",
        "    location: eastus2\n",
    ] {
        assert!(imported.yaml.contains(line), "{}", imported.yaml);
    }
    cloud.reset_calls();
    runtime().block_on(async {
        let mut engine = azure_engine(&cloud);
        let last = converge(
            &mut engine,
            &wanted(std::slice::from_ref(&imported.yaml)),
            40,
        )
        .await;
        assert_active(&last);
    });
    let calls = cloud.calls();
    assert_eq!(count(&cloud, CREATE_CONNECTION), 0, "{calls:?}");
    assert_eq!(count(&cloud, PUT), 0, "{calls:?}");
    let creates = endpoints(&cloud).len();
    assert_eq!(creates, 1, "nothing made");
    assert_ours(&endpoints(&cloud)[0], &imported.name);
}
