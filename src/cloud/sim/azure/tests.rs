use std::path::Path;
use std::time::Duration;

use super::*;
use crate::cloud::TidbCloud;
use crate::duration::DURATION_HINT;

const SUB: &str = "00000000-0000-0000-0000-0000000000aa";
const CLUSTER: &str = "1379661944646419999";
const GROUP: &str = "1379661944646420000";
const PROJECT: &str = "1372813089454548012";

const WORLD: &str = r#"clusters:
  - id: "1379661944646419999"
    projectId: "1372813089454548012"
    region: eastus2
    cloudProvider: azure
    nodeGroups: [{id: "1379661944646420000", default: true}]
azureNetworks:
  - subscriptionId: 00000000-0000-0000-0000-0000000000aa
    resourceGroup: prod-network
    location: eastus2
    virtualNetwork: prod
    subnets: [{name: db, addressPrefix: 10.1.0.0/24}, {name: tiny, addressPrefix: 10.1.1.0/29}]
  - subscriptionId: 00000000-0000-0000-0000-0000000000aa
    resourceGroup: prod-network
    location: westus
    virtualNetwork: west
    subnets: [{name: db, addressPrefix: 10.2.0.0/24}]
timing: {serviceCreate: 0s, operation: 5s, accept: 60s, activate: 120s, delete: 30s}
"#;

fn sim() -> SimCloud {
    let world =
        crate::checked::parse_one::<World>(Path::new("world.yaml"), WORLD, &[DURATION_HINT])
            .expect("the test world parses");
    SimCloud::new(world, None).unwrap()
}

fn subnet(name: &str) -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/prod-network/providers/Microsoft.Network/virtualNetworks/prod/subnets/{name}"
    )
}

async fn service(sim: &SimCloud) -> String {
    sim.get_service(CLUSTER, GROUP).await.unwrap().name
}

fn put(name: &str, subnet_id: &str, service_id: &str) -> PutPrivateEndpoint {
    PutPrivateEndpoint {
        subscription: SUB.into(),
        resource_group: "apps".into(),
        name: name.into(),
        location: "eastus2".into(),
        subnet_id: subnet_id.into(),
        service_id: service_id.into(),
        request_message: "privatelinkd".into(),
        tags: [("privatelinkd-owner".to_string(), "a".to_string())].into(),
    }
}

async fn wait(d: u64) {
    tokio::time::advance(Duration::from_secs(d)).await;
}

async fn connections(sim: &SimCloud) -> Vec<Connection> {
    sim.list_connections(PROJECT, None).await.unwrap().items
}

#[tokio::test(start_paused = true)]
async fn an_azure_cluster_offers_a_private_link_service_in_tidb_clouds_subscription() {
    let sim = sim();
    let s = sim.get_service(CLUSTER, GROUP).await.unwrap();
    assert!(
        s.name.starts_with("/subscriptions/")
            && s.name
                .contains("/providers/Microsoft.Network/privateLinkServices/pls-"),
        "{}",
        s.name
    );
    assert_eq!(s.name, service(&sim).await, "deterministic");
    assert_eq!(
        s.dns_name,
        format!("{GROUP}.{CLUSTER}.eastus2.azure.tidbcloud.com")
    );
    assert!(s.available_zones.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_put_runs_an_operation_then_the_endpoint_has_an_interface_and_an_address() {
    let sim = sim();
    let service = service(&sim).await;
    let url = sim
        .put_private_endpoint(&put("orders", &subnet("db"), &service))
        .await
        .unwrap();
    assert!(
        url.starts_with(&format!(
            "https://management.azure.com/subscriptions/{SUB}/providers/Microsoft.Network/locations/eastus2/operations/"
        )),
        "{url}"
    );
    let id = private_endpoint_id(SUB, "apps", "orders");
    let e = sim.get_private_endpoint(&id).await.unwrap().unwrap();
    assert_eq!(e.provisioning_state, ProvisioningState::Updating);
    assert_eq!(e.network_interface_id, None);
    assert_eq!(e.link_status, LinkStatus::Pending);
    assert_eq!(
        sim.get_operation(&url).await.unwrap(),
        OperationState::InProgress
    );
    wait(5).await;
    assert_eq!(
        sim.get_operation(&url).await.unwrap(),
        OperationState::Succeeded
    );
    let e = sim.get_private_endpoint(&id).await.unwrap().unwrap();
    assert_eq!(e.provisioning_state, ProvisioningState::Succeeded);
    assert_eq!(e.subnet_id, subnet("db"));
    let nic = e.network_interface_id.clone().unwrap();
    // Azure keeps the first four addresses of a subnet (and its last).
    assert_eq!(
        sim.get_private_ip(&nic).await.unwrap().as_deref(),
        Some("10.1.0.4")
    );
    assert_eq!(sim.get_private_ip("/nope").await.unwrap(), None);
    // The listing: everything in the subscription, one page.
    let page = sim.list_private_endpoints(SUB, None).await.unwrap();
    assert_eq!(page.items, vec![e]);
    assert_eq!(page.next, None);
    assert!(
        sim.list_private_endpoints("other", None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // A /29 holds three endpoints: .4, .5, .6 (.7 is the broadcast address).
    for (n, want) in ["a", "b", "c"]
        .iter()
        .zip(["10.1.1.4", "10.1.1.5", "10.1.1.6"])
    {
        let url = sim
            .put_private_endpoint(&put(n, &subnet("tiny"), &service))
            .await
            .unwrap();
        assert!(url.contains("/operations/"));
        let e = sim.azure_endpoints().into_iter().find(|e| e.name == *n);
        assert_eq!(
            e.unwrap().private_ip,
            None,
            "no IP before the operation is done"
        );
        wait(5).await;
        let e = sim.azure_endpoints().into_iter().find(|e| e.name == *n);
        assert_eq!(e.unwrap().private_ip.as_deref(), Some(want));
    }
    let full = sim
        .put_private_endpoint(&put("d", &subnet("tiny"), &service))
        .await
        .unwrap_err();
    assert!(full.to_string().starts_with("SubnetIsFull"), "{full}");
    let calls = sim.calls();
    assert_eq!(calls["arm.privateEndpoints.createOrUpdate"], 5);
    assert_eq!(calls["arm.operations.get"], 2);
    assert_eq!(calls["arm.networkInterfaces.get"], 2);
}

#[tokio::test(start_paused = true)]
async fn a_put_is_checked_as_resource_manager_checks_it() {
    let sim = sim();
    let service = service(&sim).await;
    // No such subnet, or one in another location: refused at once.
    let west = subnet("db").replace("/prod/", "/west/");
    for bad in [subnet("nope"), west] {
        let e = sim
            .put_private_endpoint(&put("orders", &bad, &service))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, CloudError::Permanent(m) if m.starts_with("InvalidResourceReference")),
            "{e}"
        );
    }
    let mut slash = put("orders", &subnet("db"), &service);
    slash
        .tags
        .insert("privatelinkd.io/owner".into(), "a".into());
    let e = sim.put_private_endpoint(&slash).await.unwrap_err();
    assert!(e.to_string().starts_with("InvalidTagNameCharacters"), "{e}");
    let e = sim
        .put_private_endpoint(&put("-bad-", &subnet("db"), &service))
        .await
        .unwrap_err();
    assert!(e.to_string().starts_with("InvalidResourceName"), "{e}");
    // A service that is no cluster's: the operation fails; the endpoint goes with it.
    let other = service.replace("pls-", "pls-0");
    let url = sim
        .put_private_endpoint(&put("stray", &subnet("db"), &other))
        .await
        .unwrap();
    let id = private_endpoint_id(SUB, "apps", "stray");
    let e = sim.get_private_endpoint(&id).await.unwrap().unwrap();
    assert_eq!(e.provisioning_state, ProvisioningState::Updating);
    wait(5).await;
    match sim.get_operation(&url).await.unwrap() {
        OperationState::Failed(why) => {
            assert!(why.starts_with("PrivateLinkServiceNotFound"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.get_private_endpoint(&id).await.unwrap(), None);
    // The same name: the same subnet and service update its tags; while its operation runs,
    // another is a conflict; another subnet is not allowed.
    let mut orders = put("orders", &subnet("db"), &service);
    sim.put_private_endpoint(&orders).await.unwrap();
    let busy = sim.put_private_endpoint(&orders).await.unwrap_err();
    assert!(
        matches!(&busy, CloudError::Transient(m) if m.starts_with("AnotherOperationInProgress")),
        "{busy}"
    );
    wait(5).await;
    orders.tags.insert("team".into(), "db".into());
    orders.name = "ORDERS".into();
    sim.put_private_endpoint(&orders).await.unwrap();
    let id = private_endpoint_id(SUB, "apps", "orders");
    let e = sim.get_private_endpoint(&id).await.unwrap().unwrap();
    assert_eq!(e.provisioning_state, ProvisioningState::Updating);
    assert_eq!(e.tags["team"], "db");
    assert!(e.network_interface_id.is_some(), "the interface stays");
    wait(5).await;
    orders.subnet_id = subnet("tiny");
    let e = sim.put_private_endpoint(&orders).await.unwrap_err();
    assert!(e.to_string().starts_with("PropertyChangeNotAllowed"), "{e}");
    assert_eq!(
        sim.azure_endpoints()
            .iter()
            .filter(|e| e.private_ip.is_some())
            .count(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn tidb_cloud_discovers_the_endpoint_registers_it_with_its_ip_and_azure_approves() {
    let sim = sim();
    let service = service(&sim).await;
    sim.put_private_endpoint(&put("orders", &subnet("db"), &service))
        .await
        .unwrap();
    let id = private_endpoint_id(SUB, "apps", "orders");
    // Not seen while it is being created.
    assert!(connections(&sim).await.is_empty());
    wait(5).await;
    let found = connections(&sim).await;
    assert_eq!(found.len(), 1, "{found:?}");
    let discovered = found[0].clone();
    assert_eq!(discovered.state, ConnectionState::Discovered);
    assert_eq!(discovered.endpoint_id, id);
    assert_eq!(
        (
            discovered.cluster_id.as_str(),
            discovered.node_group_id.as_str()
        ),
        (CLUSTER, GROUP)
    );
    assert_eq!(connections(&sim).await, found, "a stable ID");
    assert_eq!(sim.connection_private_ip(&discovered.id), None);
    // Registration names the endpoint's own IP.
    let register = |ip: Option<&'static str>| {
        let (sim, id) = (sim.clone(), id.clone());
        async move { sim.create_connection(CLUSTER, GROUP, &id, ip).await }
    };
    for (ip, says) in [
        (None, "privateIpAddress is required"),
        (Some("10.1.0.9"), "is not the private IP address"),
    ] {
        let e = register(ip).await.unwrap_err();
        assert!(
            matches!(&e, CloudError::Permanent(m) if m.contains(says)),
            "{e}"
        );
    }
    let other = private_endpoint_id(SUB, "apps", "nope");
    let e = sim
        .create_connection(CLUSTER, GROUP, &other, Some("10.1.0.4"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("was not found"), "{e}");
    let c = register(Some("10.1.0.4")).await.unwrap();
    assert_eq!(c.id, discovered.id, "the discovered connection, registered");
    assert_eq!(c.state, ConnectionState::Pending);
    let zone = sim.get_service(CLUSTER, GROUP).await.unwrap().dns_name;
    let (name, rest) = c.host.split_once('.').unwrap();
    assert_eq!(rest, zone);
    let hash = name.strip_prefix("orders-").unwrap();
    assert!(
        hash.len() == 8 && hash.chars().all(|c| c.is_ascii_hexdigit()),
        "{}",
        c.host
    );
    assert_eq!(
        sim.connection_private_ip(&c.id).as_deref(),
        Some("10.1.0.4")
    );
    let twice = register(Some("10.1.0.4")).await.unwrap_err();
    assert!(twice.to_string().contains("already exists"), "{twice}");
    let link = |sim: SimCloud| async move {
        let id = private_endpoint_id(SUB, "apps", "orders");
        let e = sim.get_private_endpoint(&id).await.unwrap().unwrap();
        e.link_status
    };
    assert_eq!(link(sim.clone()).await, LinkStatus::Pending);
    wait(60).await;
    assert_eq!(link(sim.clone()).await, LinkStatus::Approved);
    assert_eq!(connections(&sim).await[0].state, ConnectionState::Pending);
    wait(60).await;
    let active = connections(&sim).await;
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].state, ConnectionState::Active);
    // The connection deleted in TiDB Cloud: the provider has removed it.
    sim.delete_connection(&active[0]).await.unwrap();
    assert_eq!(link(sim.clone()).await, LinkStatus::Disconnected);
    // Once it is gone, TiDB Cloud finds the endpoint again.
    wait(30).await;
    let again = connections(&sim).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].state, ConnectionState::Discovered);
    assert_ne!(again[0].id, active[0].id);
}

#[tokio::test(start_paused = true)]
async fn a_delete_runs_an_operation_then_the_endpoint_and_its_discovery_are_gone() {
    let sim = sim();
    let service = service(&sim).await;
    sim.put_private_endpoint(&put("orders", &subnet("db"), &service))
        .await
        .unwrap();
    let id = private_endpoint_id(SUB, "apps", "orders");
    // Its create is still running: Resource Manager's 409.
    let busy = sim.delete_private_endpoint(&id).await.unwrap_err();
    assert!(busy.is_transient(), "{busy}");
    wait(5).await;
    assert_eq!(connections(&sim).await.len(), 1);
    let nic = sim.azure_endpoints()[0]
        .network_interface_id
        .clone()
        .unwrap();
    let url = sim.delete_private_endpoint(&id).await.unwrap().unwrap();
    let e = sim.get_private_endpoint(&id).await.unwrap().unwrap();
    assert_eq!(e.provisioning_state, ProvisioningState::Deleting);
    assert!(connections(&sim).await.is_empty(), "no longer discovered");
    assert_eq!(
        sim.get_operation(&url).await.unwrap(),
        OperationState::InProgress
    );
    wait(5).await;
    assert_eq!(
        sim.get_operation(&url).await.unwrap(),
        OperationState::Succeeded
    );
    assert_eq!(sim.get_private_endpoint(&id).await.unwrap(), None);
    assert_eq!(sim.get_private_ip(&nic).await.unwrap(), None);
    assert_eq!(sim.delete_private_endpoint(&id).await.unwrap(), None);
    let missing = sim.update_tags(&id, &BTreeMap::new()).await.unwrap_err();
    assert!(matches!(missing, CloudError::NotFound(_)), "{missing}");
    // Its address is free again.
    sim.put_private_endpoint(&put("orders2", &subnet("db"), &service))
        .await
        .unwrap();
    wait(5).await;
    assert_eq!(
        sim.azure_endpoints()[0].private_ip.as_deref(),
        Some("10.1.0.4")
    );
}

#[tokio::test(start_paused = true)]
async fn console_changes_and_injected_errors_reach_the_daemons_calls() {
    let sim = sim();
    let service = service(&sim).await;
    let id = sim.azure_create_by_hand(SUB, "apps", "by-hand", &subnet("db"), &service);
    let e = sim.get_private_endpoint(&id).await.unwrap().unwrap();
    assert_eq!(e.provisioning_state, ProvisioningState::Succeeded);
    assert!(e.tags.is_empty());
    assert_eq!(
        sim.azure_endpoints()[0].private_ip.as_deref(),
        Some("10.1.0.4")
    );
    let tags = [("privatelinkd-owner".to_string(), "a".to_string())].into();
    sim.update_tags(&id, &tags).await.unwrap();
    sim.azure_remove_tag_behind_our_back(&id, "privatelinkd-owner");
    let e = sim.get_private_endpoint(&id).await.unwrap().unwrap();
    assert!(e.tags.is_empty());
    sim.fail(
        op::GET_PRIVATE_ENDPOINT,
        Some(CloudError::Transient("boom".into())),
    );
    assert!(sim.get_private_endpoint(&id).await.is_err());
    sim.fail(op::GET_PRIVATE_ENDPOINT, None);
    sim.lose_answers(op::DELETE_PRIVATE_ENDPOINT, 1);
    let lost = sim.delete_private_endpoint(&id).await.unwrap_err();
    assert!(matches!(lost, CloudError::Unreachable(_)), "{lost}");
    let e = sim.get_private_endpoint(&id).await.unwrap().unwrap();
    assert_eq!(
        e.provisioning_state,
        ProvisioningState::Deleting,
        "carried out"
    );
    let by_hand = sim.azure_create_by_hand(SUB, "apps", "two", &subnet("db"), &service);
    sim.azure_delete_behind_our_back(&by_hand);
    wait(5).await;
    assert!(sim.azure_endpoints().is_empty());
    let s = sim.get_subnet(&subnet("db").to_uppercase()).await.unwrap();
    assert_eq!(s.unwrap().address_prefixes, ["10.1.0.0/24"]);
    assert_eq!(sim.get_subnet(&subnet("nope")).await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn with_azure_elsewhere_tidb_cloud_takes_any_endpoint_with_an_ip() {
    let sim = sim().with_azure_elsewhere();
    let id = private_endpoint_id(SUB, "apps", "far");
    let e = sim
        .create_connection(CLUSTER, GROUP, &id, None)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("privateIpAddress is required"),
        "{e}"
    );
    let c = sim
        .create_connection(CLUSTER, GROUP, &id, Some("10.9.0.4"))
        .await
        .unwrap();
    assert_eq!(c.state, ConnectionState::Pending);
    // What the fake server's control endpoint says: an endpoint TiDB Cloud sees, DISCOVERED.
    let service = service(&sim).await;
    let seen = private_endpoint_id(SUB, "apps", "seen");
    sim.azure_connection_request(&seen, &service, "10.9.0.5");
    let listed = connections(&sim).await;
    let d = listed.iter().find(|c| c.endpoint_id == seen).unwrap();
    assert_eq!(d.state, ConnectionState::Discovered);
    let c = sim
        .create_connection(CLUSTER, GROUP, &seen, Some("10.9.0.5"))
        .await
        .unwrap();
    assert_eq!(c.id, d.id);
}
