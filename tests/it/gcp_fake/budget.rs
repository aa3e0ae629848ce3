//! The call gate over the real client: each metered call is exactly one request to Compute
//! Engine (the client retries nothing itself, and no listing page goes unmetered).

use std::collections::BTreeMap;

use privatelinkd::cloud::budget::{Budgeted, Rates};
use privatelinkd::cloud::gcp::{
    Gcp, InsertAddress, InsertForwardingRule, Labelled, OperationState,
};

use super::*;

#[tokio::test]
async fn budgeted_gcp_client_sends_one_request_per_metered_call() {
    let (server, client) = start(instant()).await;
    let gated = Budgeted::new(client, Rates::default());
    let s = scope();
    let label = ("privatelinkd-owner", "me");
    let labels = BTreeMap::from([(label.0.to_string(), label.1.to_string())]);
    let mut calls = 0;
    let mut count = || calls += 1;

    gated.list_addresses(&s, label, None).await.unwrap();
    count();
    gated.list_forwarding_rules(&s, label, None).await.unwrap();
    count();
    assert_eq!(gated.get_address(&s, "orders").await.unwrap(), None);
    count();
    assert_eq!(gated.get_forwarding_rule(&s, "orders").await.unwrap(), None);
    count();
    let insert = InsertAddress {
        name: "orders".into(),
        subnetwork: "prod-us-central1".into(),
        address: None,
        labels: labels.clone(),
        request_id: "5b7b1f6e-9f3c-4a52-8f1d-0c9e2b7a4d11".into(),
    };
    let op = gated.insert_address(&s, &insert).await.unwrap();
    count();
    assert_eq!(
        gated.get_operation(&s, &op).await.unwrap(),
        OperationState::Done
    );
    count();
    let address = gated.get_address(&s, "orders").await.unwrap().unwrap();
    count();
    let mut relabelled = labels.clone();
    relabelled.insert("privatelinkd-name".into(), "orders".into());
    let fp = &address.label_fingerprint;
    gated
        .set_labels(&s, Labelled::Address, "orders", &relabelled, fp)
        .await
        .unwrap();
    count();
    let rule = InsertForwardingRule {
        name: "orders".into(),
        network: "prod-vpc".into(),
        address: "orders".into(),
        target: ATTACHMENT.into(),
        allow_psc_global_access: true,
        labels: labels.clone(),
        request_id: "7c8d2a0f-1e4b-4c63-9a2e-5d6f7a8b9c0d".into(),
    };
    gated.insert_forwarding_rule(&s, &rule).await.unwrap();
    count();
    let got = gated
        .get_forwarding_rule(&s, "orders")
        .await
        .unwrap()
        .unwrap();
    count();
    assert!(got.allow_psc_global_access);
    assert!(gated.network_exists(PROJECT, "prod-vpc").await.unwrap());
    count();
    assert!(!gated.network_exists(PROJECT, "nope-vpc").await.unwrap());
    count();
    assert!(
        gated
            .get_subnetwork(&s, "prod-us-central1")
            .await
            .unwrap()
            .is_some()
    );
    count();
    assert_eq!(
        gated
            .list_firewalls(PROJECT, "prod-vpc")
            .await
            .unwrap()
            .len(),
        2
    );
    count();
    gated.delete_forwarding_rule(&s, "orders").await.unwrap();
    count();
    gated.delete_address(&s, "orders").await.unwrap();
    count();

    let requests = server.fake.requests();
    assert_eq!(requests.len(), calls, "{requests:#?}");
    assert!(
        requests.iter().all(|r| r.status != 401),
        "the placeholder token is accepted"
    );
}
