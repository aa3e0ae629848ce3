//! Each `Gcp` method of the real client against the fake, and how Google's errors map.

use std::collections::BTreeMap;
use std::time::Duration;

use fake_gcp_compute::{Fault, OpError};
use privatelinkd::cloud::CloudError;
use privatelinkd::cloud::gcp::{
    FirewallRule, Gcp, GcpClient, GcpConfig, GcpCredentials, InsertAddress, InsertForwardingRule,
    Labelled, OperationState, PscStatus,
};

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn address(name: &str, owner: &str, n: u32) -> InsertAddress {
    InsertAddress {
        name: name.into(),
        subnetwork: "prod-us-central1".into(),
        address: None,
        labels: labels(&[("privatelinkd-owner", owner)]),
        request_id: format!("5b7b1f6e-9f3c-4a52-8f1d-{n:012x}"),
    }
}

fn rule(name: &str, address: &str, n: u32) -> InsertForwardingRule {
    InsertForwardingRule {
        name: name.into(),
        network: "prod-vpc".into(),
        address: address.into(),
        target: ATTACHMENT.into(),
        allow_psc_global_access: false,
        labels: labels(&[("privatelinkd-owner", "me")]),
        request_id: format!("7c8d2a0f-1e4b-4c63-9a2e-{n:012x}"),
    }
}

#[tokio::test]
async fn gcp_client_lists_only_labelled_items_page_by_page() {
    let (server, client) = start(instant()).await;
    let client = client.with_page_size(2);
    let s = scope();
    for i in 0..5 {
        let name = format!("mine-{i}");
        client
            .insert_address(&s, &address(&name, "me", i))
            .await
            .unwrap();
        if i < 3 {
            let r = rule(&name, &name, i);
            client.insert_forwarding_rule(&s, &r).await.unwrap();
        }
    }
    client
        .insert_address(&s, &address("theirs", "someone", 9))
        .await
        .unwrap();

    let mut names = Vec::new();
    let mut pages = 0;
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_addresses(&s, ("privatelinkd-owner", "me"), token.as_deref())
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= 2);
        names.extend(page.items.into_iter().map(|a| a.name));
        match page.next {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3, "5 labelled addresses at 2 a page");
    assert_eq!(names, ["mine-0", "mine-1", "mine-2", "mine-3", "mine-4"]);

    let first = client
        .list_forwarding_rules(&s, ("privatelinkd-owner", "me"), None)
        .await
        .unwrap();
    assert_eq!(first.items.len(), 2);
    let second = client
        .list_forwarding_rules(&s, ("privatelinkd-owner", "me"), first.next.as_deref())
        .await
        .unwrap();
    assert_eq!(second.items.len(), 1);
    assert_eq!(second.next, None);
    let none = client
        .list_forwarding_rules(&s, ("privatelinkd-owner", "someone"), None)
        .await
        .unwrap();
    assert!(none.items.is_empty() && none.next.is_none());

    // The filter and the page size went to Google; the filter did the choosing.
    let lists: Vec<_> = server
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/addresses"))
        .collect();
    assert_eq!(lists.len(), 3);
    assert!(
        lists.iter().all(|r| r.query.contains("maxResults=2")),
        "{lists:?}"
    );
    assert!(
        lists
            .iter()
            .all(|r| r.query.contains("filter=labels.privatelinkd-owner"))
    );
    assert!(lists[1].query.contains("pageToken="), "{lists:?}");
}

#[tokio::test]
async fn gcp_client_inserts_answer_operations_that_run_then_finish() {
    let (server, client) = start(timed(Duration::from_millis(150))).await;
    let s = scope();
    let mut insert = address("orders", "me", 1);
    insert.address = Some("10.8.0.40".into());
    let op = client.insert_address(&s, &insert).await.unwrap();
    assert!(!op.is_empty());
    assert_eq!(
        client.get_operation(&s, &op).await.unwrap(),
        OperationState::Running,
        "an insert is answered before it is done, and not waited on"
    );
    assert_eq!(settled(&client, &op).await, OperationState::Done);
    let got = client.get_address(&s, "orders").await.unwrap().unwrap();
    assert_eq!(got.address, "10.8.0.40");
    assert_eq!(got.subnetwork, "prod-us-central1");
    assert_eq!(got.labels, insert.labels);
    assert!(!got.label_fingerprint.is_empty());

    let op = client
        .insert_forwarding_rule(&s, &rule("orders", "orders", 1))
        .await
        .unwrap();
    assert_eq!(settled(&client, &op).await, OperationState::Done);
    let got = client
        .get_forwarding_rule(&s, "orders")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.network, "prod-vpc");
    assert_eq!(got.ip_address, "10.8.0.40");
    assert_eq!(
        got.target, ATTACHMENT,
        "Google's URL cut to the attachment's path"
    );
    assert_eq!(got.psc_connection_status, PscStatus::Pending);
    assert!(!got.allow_psc_global_access);
    assert_eq!(got.labels, labels(&[("privatelinkd-owner", "me")]));

    let inserts: Vec<_> = server
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert!(
        inserts[0]
            .query
            .contains("requestId=5b7b1f6e-9f3c-4a52-8f1d-000000000001")
    );
    assert!(
        inserts[1]
            .query
            .contains("requestId=7c8d2a0f-1e4b-4c63-9a2e-000000000001")
    );

    let op = client.delete_forwarding_rule(&s, "orders").await.unwrap();
    assert_eq!(settled(&client, &op).await, OperationState::Done);
    assert_eq!(
        client.get_forwarding_rule(&s, "orders").await.unwrap(),
        None
    );
    let op = client.delete_address(&s, "orders").await.unwrap();
    assert_eq!(settled(&client, &op).await, OperationState::Done);
    assert_eq!(client.get_address(&s, "orders").await.unwrap(), None);
}

#[tokio::test]
async fn gcp_client_failed_operation_is_failed_with_googles_message() {
    let (server, client) = start(instant()).await;
    server.fake.inject(Fault::FailOperation {
        operation_type: Some("insert".into()),
        error: OpError::new(
            "QUOTA_EXCEEDED",
            "Quota 'PSC_FORWARDING_RULES_PER_NETWORK' exceeded. Limit: 0.0 globally.",
            403,
        ),
    });
    let op = client
        .insert_address(&scope(), &address("orders", "me", 1))
        .await
        .unwrap();
    assert_eq!(
        settled(&client, &op).await,
        OperationState::Failed(
            "Quota 'PSC_FORWARDING_RULES_PER_NETWORK' exceeded. Limit: 0.0 globally.".into()
        )
    );
}

#[tokio::test]
async fn gcp_client_set_labels_needs_the_fresh_fingerprint_and_a_stale_one_is_transient() {
    let (_server, client) = start(instant()).await;
    let s = scope();
    client
        .insert_address(&s, &address("orders", "me", 1))
        .await
        .unwrap();
    let read = client.get_address(&s, "orders").await.unwrap().unwrap();
    let mut new = read.labels.clone();
    new.insert("privatelinkd-name".into(), "orders".into());
    let op = client
        .set_labels(
            &s,
            Labelled::Address,
            "orders",
            &new,
            &read.label_fingerprint,
        )
        .await
        .unwrap();
    assert_eq!(settled(&client, &op).await, OperationState::Done);
    let now = client.get_address(&s, "orders").await.unwrap().unwrap();
    assert_eq!(now.labels, new);
    assert_ne!(now.label_fingerprint, read.label_fingerprint);

    let stale = client
        .set_labels(
            &s,
            Labelled::Address,
            "orders",
            &read.labels,
            &read.label_fingerprint,
        )
        .await;
    assert!(matches!(stale, Err(CloudError::Transient(_))), "{stale:?}");

    // The forwarding rule's labels go through their own method.
    let op = client
        .insert_forwarding_rule(&s, &rule("orders", "orders", 1))
        .await
        .unwrap();
    assert_eq!(settled(&client, &op).await, OperationState::Done);
    let r = client
        .get_forwarding_rule(&s, "orders")
        .await
        .unwrap()
        .unwrap();
    let op = client
        .set_labels(
            &s,
            Labelled::ForwardingRule,
            "orders",
            &new,
            &r.label_fingerprint,
        )
        .await
        .unwrap();
    assert_eq!(settled(&client, &op).await, OperationState::Done);
    let r = client
        .get_forwarding_rule(&s, "orders")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.labels, new);
}

#[tokio::test]
async fn gcp_client_rate_limit_is_throttled_until_the_next_minute() {
    let (server, client) = start(instant()).await;
    server.fake.inject(Fault::Throttle { count: 1 });
    let throttled = client
        .list_addresses(&scope(), ("privatelinkd-owner", "me"), None)
        .await;
    match throttled {
        Err(CloudError::Throttled { api, retry_after }) => {
            assert_eq!(api, "compute");
            assert!(retry_after >= Duration::from_secs(1), "{retry_after:?}");
            assert!(retry_after <= Duration::from_secs(60), "{retry_after:?}");
        }
        other => panic!("{other:?}"),
    }
    // Google's answer on other APIs: 429, same reason.
    server.fake.inject(Fault::HttpError {
        count: 1,
        status: 429,
        reason: "rateLimitExceeded".into(),
        message: "Rate Limit Exceeded".into(),
        method: None,
        path_contains: None,
    });
    let throttled = client.get_address(&scope(), "orders").await;
    assert!(
        matches!(throttled, Err(CloudError::Throttled { .. })),
        "{throttled:?}"
    );
    assert!(
        client
            .get_address(&scope(), "orders")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn gcp_client_maps_googles_errors() {
    let (server, client) = start(instant()).await;
    let s = scope();
    let fault = |status: u16, reason: &str, message: &str| Fault::HttpError {
        count: 1,
        status,
        reason: reason.into(),
        message: message.into(),
        method: None,
        path_contains: None,
    };
    let list = || client.list_addresses(&s, ("privatelinkd-owner", "me"), None);

    server
        .fake
        .inject(fault(503, "backendError", "Backend Error"));
    assert_eq!(
        list().await.unwrap_err(),
        CloudError::Transient("Backend Error".into())
    );
    server.fake.inject(fault(
        400,
        "resourceNotReady",
        "The resource 'x' is not ready",
    ));
    assert!(matches!(list().await, Err(CloudError::Transient(_))));
    server.fake.inject(fault(
        403,
        "forbidden",
        "Required 'compute.addresses.list' permission",
    ));
    assert_eq!(
        list().await.unwrap_err(),
        CloudError::Permanent("Required 'compute.addresses.list' permission".into())
    );

    client
        .insert_address(&s, &address("orders", "me", 1))
        .await
        .unwrap();
    let again = client.insert_address(&s, &address("orders", "me", 2)).await;
    match again {
        Err(CloudError::Permanent(message)) => assert!(message.contains("already exists")),
        other => panic!("409 alreadyExists: {other:?}"),
    }
    let mut bad = address("Bad_Name", "me", 3);
    bad.request_id = "5b7b1f6e-9f3c-4a52-8f1d-0c9e2b7a4d13".into();
    assert!(matches!(
        client.insert_address(&s, &bad).await,
        Err(CloudError::Permanent(_))
    ));
    assert!(matches!(
        client.delete_address(&s, "none").await,
        Err(CloudError::NotFound(_))
    ));
    assert!(matches!(
        client.get_operation(&s, "operation-none").await,
        Err(CloudError::NotFound(_))
    ));

    // Nobody listening: no answer at all.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let nowhere = GcpClient::new(&GcpConfig {
        endpoint_url: Some(format!("http://127.0.0.1:{port}")),
        credentials: GcpCredentials::Anonymous,
    })
    .await
    .unwrap();
    let unreachable = nowhere.get_address(&s, "orders").await;
    assert!(
        matches!(unreachable, Err(CloudError::Unreachable(_))),
        "{unreachable:?}"
    );
}

#[tokio::test]
async fn gcp_client_get_answers_none_for_what_does_not_exist() {
    let (_server, client) = start(instant()).await;
    let s = scope();
    assert_eq!(client.get_address(&s, "nothing").await.unwrap(), None);
    assert_eq!(
        client.get_forwarding_rule(&s, "nothing").await.unwrap(),
        None
    );
    assert_eq!(client.get_subnetwork(&s, "nothing").await.unwrap(), None);
    assert!(!client.network_exists(PROJECT, "nothing").await.unwrap());
}

#[tokio::test]
async fn gcp_client_reads_networks_subnetworks_and_the_networks_firewall_rules() {
    let (_server, client) = start(instant()).await;
    // One rule a page: the listing follows every page.
    let client = client.with_page_size(1);
    assert!(client.network_exists(PROJECT, "prod-vpc").await.unwrap());
    assert!(!client.network_exists(PROJECT, "nope-vpc").await.unwrap());

    let subnetwork = client
        .get_subnetwork(&scope(), "prod-us-central1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(subnetwork.name, "prod-us-central1");
    assert_eq!(subnetwork.network, "prod-vpc");
    assert_eq!(subnetwork.region, REGION);
    assert_eq!(subnetwork.ip_cidr_range, "10.8.0.0/24");

    let mut rules = client.list_firewalls(PROJECT, "prod-vpc").await.unwrap();
    rules.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(rules.len(), 2, "only prod-vpc's: {rules:?}");
    assert!(rules[0].targeted && !rules[0].egress && !rules[0].deny);
    assert_eq!(
        rules[1],
        FirewallRule {
            name: "deny-egress-db".into(),
            egress: true,
            priority: 900,
            deny: true,
            rules: vec![("tcp".into(), vec!["4000".into(), "3000-3999".into()])],
            destination_ranges: vec!["10.8.0.0/24".into()],
            targeted: false,
            disabled: false,
        }
    );
    let other = client.list_firewalls(PROJECT, "other-vpc").await.unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!(other[0].rules, vec![("all".to_string(), vec![])]);
}
