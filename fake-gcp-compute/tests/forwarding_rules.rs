//! Private Service Connect forwarding rules over HTTP: insert, PSC connection status driven by
//! the producer, get, list, setLabels, delete, and the checks and quota on insert.

mod common;

use common::*;
use fake_gcp_compute::{Options, PscStatus, QuotaErrors};
use serde_json::json;

#[tokio::test]
async fn an_endpoint_is_pending_until_its_producer_accepts_it() {
    let env = start(instant()).await;
    let address = env.address("orders-ip", Some("10.8.0.4")).await;
    let rule = env.endpoint("orders-gcp", &address, ATTACHMENT).await;
    assert_eq!(rule["kind"], "compute#forwardingRule");
    assert_eq!(rule["IPAddress"], "10.8.0.4");
    assert_eq!(rule["pscConnectionStatus"], "PENDING");
    assert!(
        rule["pscConnectionId"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
    assert_eq!(
        rule["target"],
        format!("https://www.googleapis.com/compute/v1/{ATTACHMENT}")
    );
    assert_eq!(
        rule["network"],
        "https://www.googleapis.com/compute/v1/projects/my-project/global/networks/prod-vpc"
    );
    assert_eq!(rule["allowPscGlobalAccess"], false);
    assert_eq!(rule["labels"], json!({"managed-by": "privatelinkd"}));
    assert!(
        rule.get("loadBalancingScheme").is_none(),
        "PSC endpoints have none"
    );
    assert!(rule["labelFingerprint"].as_str().unwrap().ends_with('='));
    let (_, used) = env.get(&env.regional("addresses/orders-ip")).await;
    assert_eq!(used["status"], "IN_USE");
    assert_eq!(used["users"], json!([rule["selfLink"]]));

    // What TiDB Cloud sees, and its decision.
    let seen = env.fake().psc_endpoints(ATTACHMENT).unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].name, "orders-gcp");
    assert_eq!(seen[0].project, PROJECT);
    assert_eq!(seen[0].psc_connection_id, rule["pscConnectionId"]);
    let (status, _) = env
        .post(
            &env.url("/fake/v1/psc/accept"),
            json!({"serviceAttachment": ATTACHMENT, "forwardingRule": rule["selfLink"]}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, accepted) = env.get(&env.regional("forwardingRules/orders-gcp")).await;
    assert_eq!(accepted["pscConnectionStatus"], "ACCEPTED");
    env.fake()
        .set_psc_status(
            ATTACHMENT,
            "projects/my-project/regions/us-central1/forwardingRules/orders-gcp",
            PscStatus::Rejected,
        )
        .unwrap();
    let (_, rejected) = env.get(&env.regional("forwardingRules/orders-gcp")).await;
    assert_eq!(rejected["pscConnectionStatus"], "REJECTED");
    // Only an endpoint of that attachment can be decided on.
    let wrong = env.fake().set_psc_status(
        AUTO_ATTACHMENT,
        "projects/my-project/regions/us-central1/forwardingRules/orders-gcp",
        PscStatus::Accepted,
    );
    assert_eq!(wrong.unwrap_err().http, 404);

    // The producer deletes its attachment: the endpoint is CLOSED, new ones are refused.
    let (status, _) = env
        .post(
            &env.url("/fake/v1/psc/deleteAttachment"),
            json!({"serviceAttachment": ATTACHMENT}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, closed) = env.get(&env.regional("forwardingRules/orders-gcp")).await;
    assert_eq!(closed["pscConnectionStatus"], "CLOSED");
    let other = env.address("other-ip", None).await;
    let (status, body) = env
        .post(&env.regional("forwardingRules"), json!({"name": "late", "network": "global/networks/prod-vpc", "IPAddress": other["address"], "target": ATTACHMENT}))
        .await;
    assert_eq!((status, reason(status, &body).as_str()), (404, "notFound"));

    let (status, op) = env
        .delete(&env.regional("forwardingRules/orders-gcp"))
        .await;
    assert_eq!(status, 200);
    env.done(&op).await;
    assert_eq!(
        env.get(&env.regional("forwardingRules/orders-gcp")).await.0,
        404
    );
    let (_, released) = env.get(&env.regional("addresses/orders-ip")).await;
    assert_eq!(released["status"], "RESERVED");
    assert!(released.get("users").is_none());
}

#[tokio::test]
async fn an_attachment_that_accepts_automatically_accepts_at_once() {
    let env = start(instant()).await;
    let address = env.address("auto-ip", None).await;
    let rule = env.endpoint("auto", &address, AUTO_ATTACHMENT).await;
    assert_eq!(rule["pscConnectionStatus"], "ACCEPTED");
}

#[tokio::test]
async fn inserts_are_checked_like_compute_engine_checks_them() {
    let env = start(instant()).await;
    let address = env.address("ip", None).await;
    let east = env
        .create("../us-east1/addresses", json!({"name": "east-ip", "addressType": "INTERNAL", "subnetwork": "regions/us-east1/subnetworks/prod-us-east1"}))
        .await;
    env.endpoint("taken", &address, ATTACHMENT).await;
    let free = env.address("free-ip", None).await;
    let base = |name: &str| json!({"name": name, "network": "global/networks/prod-vpc", "IPAddress": free["selfLink"], "target": ATTACHMENT});
    let with = |name: &str, field: &str, value: serde_json::Value| {
        let mut b = base(name);
        b[field] = value;
        b
    };
    let cases = vec![
        (base("taken"), 409, "alreadyExists"),
        (
            with("x", "IPAddress", address["address"].clone()),
            400,
            "invalid",
        ),
        (
            with(
                "x",
                "IPAddress",
                json!("regions/us-central1/addresses/none"),
            ),
            404,
            "notFound",
        ),
        (
            with("x", "IPAddress", east["address"].clone()),
            400,
            "invalid",
        ),
        (
            with(
                "x",
                "target",
                json!("projects/tidb-prod/regions/us-central1/serviceAttachments/none"),
            ),
            404,
            "notFound",
        ),
        (
            with(
                "x",
                "target",
                json!("projects/tidb-prod/regions/us-east1/serviceAttachments/sa-east"),
            ),
            400,
            "invalid",
        ),
        (
            with(
                "x",
                "target",
                json!("projects/tidb-prod/regions/us-central1/targetInstances/t"),
            ),
            400,
            "invalid",
        ),
        (
            with("x", "loadBalancingScheme", json!("INTERNAL")),
            400,
            "invalid",
        ),
        (
            with("x", "network", json!("global/networks/nope")),
            404,
            "notFound",
        ),
        (
            with("x", "network", json!("global/networks/other-vpc")),
            400,
            "invalid",
        ),
        (
            with(
                "x",
                "subnetwork",
                json!("regions/us-east1/subnetworks/prod-us-east1"),
            ),
            400,
            "invalid",
        ),
        (
            with("x", "labels", json!({"doc": "docs/orders.yaml"})),
            400,
            "invalid",
        ),
        (with("X", "name", json!("X")), 400, "invalid"),
        (
            json!({"name": "x", "network": "global/networks/prod-vpc"}),
            400,
            "required",
        ),
    ];
    for (body, status, why) in cases {
        let (got, answer) = env
            .post(&env.regional("forwardingRules"), body.clone())
            .await;
        assert_eq!(
            (got, reason(got, &answer).as_str()),
            (status, why),
            "{body} -> {answer}"
        );
    }
    // Deleting an address a forwarding rule uses is refused.
    let (status, body) = env.delete(&env.regional("addresses/ip")).await;
    assert_eq!(
        (status, reason(status, &body).as_str()),
        (400, "resourceInUseByAnotherResource")
    );
}

#[tokio::test]
async fn without_an_address_the_endpoint_gets_an_ephemeral_ip_of_its_subnetwork() {
    let env = start(instant()).await;
    let rule = env
        .create("forwardingRules", json!({"name": "eph", "subnetwork": "regions/us-central1/subnetworks/prod-us-central1", "target": ATTACHMENT}))
        .await;
    assert_eq!(rule["IPAddress"], "10.8.0.2");
    assert_eq!(
        rule["network"],
        "https://www.googleapis.com/compute/v1/projects/my-project/global/networks/prod-vpc"
    );
    // The next reservation does not take the endpoint's IP.
    assert_eq!(env.address("next", None).await["address"], "10.8.0.3");
}

#[tokio::test]
async fn lists_labels_and_fingerprints_work_as_for_addresses() {
    let env = start(instant()).await;
    for name in ["e1", "e2", "e3"] {
        let a = env.address(&format!("{name}-ip"), None).await;
        env.endpoint(name, &a, ATTACHMENT).await;
    }
    let (_, e2) = env.get(&env.regional("forwardingRules/e2")).await;
    let (status, body) = env
        .post(
            &env.regional("forwardingRules/e2/setLabels"),
            json!({"labels": {}, "labelFingerprint": "42WmSpB8rSM="}),
        )
        .await;
    assert_eq!(
        (status, reason(status, &body).as_str()),
        (412, "conditionNotMet")
    );
    let (_, op) = env
        .post(
            &env.regional("forwardingRules/e2/setLabels"),
            json!({"labels": {}, "labelFingerprint": e2["labelFingerprint"]}),
        )
        .await;
    env.done(&op).await;
    let (_, ours) = env
        .get(&env.regional("forwardingRules?filter=labels.managed-by%3Aprivatelinkd&maxResults=1"))
        .await;
    assert_eq!(ours["kind"], "compute#forwardingRuleList");
    assert_eq!(ours["items"][0]["name"], "e1");
    let token = ours["nextPageToken"].as_str().unwrap();
    let (_, next) = env
        .get(&env.regional(&format!(
            "forwardingRules?filter=labels.managed-by%3Aprivatelinkd&maxResults=1&pageToken={token}"
        )))
        .await;
    assert_eq!(next["items"][0]["name"], "e3");
    assert!(next.get("nextPageToken").is_none());
    let (_, pending) = env
        .get(&env.regional("forwardingRules?filter=pscConnectionStatus%20%3D%20PENDING"))
        .await;
    assert_eq!(pending["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn the_forwarding_rules_quota_fails_the_operation_or_the_call() {
    for mode in [QuotaErrors::InOperation, QuotaErrors::Synchronous] {
        let env = start(Options {
            quota_errors: mode,
            ..instant()
        })
        .await;
        let subnet = "regions/us-central1/subnetworks/other-us-central1";
        env.create(
            "forwardingRules",
            json!({"name": "one", "subnetwork": subnet, "target": ATTACHMENT}),
        )
        .await;
        let (status, answer) = env
            .post(
                &env.regional("forwardingRules"),
                json!({"name": "two", "subnetwork": subnet, "target": ATTACHMENT}),
            )
            .await;
        match mode {
            QuotaErrors::InOperation => {
                assert_eq!(status, 200);
                let done = env.done(&answer).await;
                assert_eq!(done["error"]["errors"][0]["code"], "QUOTA_EXCEEDED");
                assert_eq!(done["httpErrorStatusCode"], 403);
                assert_eq!(done["httpErrorMessage"], "FORBIDDEN");
            }
            QuotaErrors::Synchronous => {
                assert_eq!(
                    (status, reason(status, &answer).as_str()),
                    (403, "quotaExceeded")
                );
            }
        }
        assert_eq!(env.get(&env.regional("forwardingRules/two")).await.0, 404);
    }
}
