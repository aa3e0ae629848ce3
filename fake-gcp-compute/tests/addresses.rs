//! Regional addresses over HTTP: insert, get, list (filter, pages), delete, setLabels.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn an_internal_address_is_reserved_read_and_released() {
    let env = start(instant()).await;
    let a = env.address("orders-ip", None).await;
    assert_eq!(a["kind"], "compute#address");
    // The first host the subnetwork gives out (.0 and .1 are Compute Engine's).
    assert_eq!(a["address"], "10.8.0.2");
    assert_eq!(a["status"], "RESERVED");
    assert_eq!(a["addressType"], "INTERNAL");
    assert_eq!(a["purpose"], "GCE_ENDPOINT");
    assert_eq!(
        a["selfLink"],
        "https://www.googleapis.com/compute/v1/projects/my-project/regions/us-central1/addresses/orders-ip"
    );
    assert_eq!(
        a["subnetwork"],
        "https://www.googleapis.com/compute/v1/projects/my-project/regions/us-central1/subnetworks/prod-us-central1"
    );
    assert_eq!(a["labelFingerprint"], "42WmSpB8rSM=");
    assert!(a["id"].as_str().unwrap().parse::<u64>().is_ok());
    assert!(a["creationTimestamp"].as_str().unwrap().ends_with('Z'));
    let fixed = env.address("fixed-ip", Some("10.8.0.5")).await;
    assert_eq!(fixed["address"], "10.8.0.5");

    let (status, op) = env.delete(&env.regional("addresses/orders-ip")).await;
    assert_eq!(status, 200, "{op}");
    assert_eq!(op["operationType"], "delete");
    assert_eq!(env.done(&op).await["status"], "DONE");
    let (status, body) = env.get(&env.regional("addresses/orders-ip")).await;
    assert_eq!(status, 404);
    assert_eq!(reason(404, &body), "notFound");
    assert_eq!(
        body["error"]["message"],
        "The resource 'projects/my-project/regions/us-central1/addresses/orders-ip' was not found"
    );
    assert_eq!(body["error"]["status"], "NOT_FOUND");
    let (status, body) = env.delete(&env.regional("addresses/orders-ip")).await;
    assert_eq!((status, reason(status, &body).as_str()), (404, "notFound"));
}

#[tokio::test]
async fn inserts_are_checked_like_compute_engine_checks_them() {
    let env = start(instant()).await;
    env.address("taken", None).await;
    let subnet = format!("regions/{REGION}/subnetworks/prod-us-central1");
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"name": "taken", "addressType": "INTERNAL", "subnetwork": subnet}),
            409,
            "alreadyExists",
        ),
        (
            json!({"name": "Bad_Name", "addressType": "INTERNAL", "subnetwork": subnet}),
            400,
            "invalid",
        ),
        (
            json!({"addressType": "INTERNAL", "subnetwork": subnet}),
            400,
            "required",
        ),
        (json!({"name": "ext"}), 400, "invalid"),
        (
            json!({"name": "x", "addressType": "INTERNAL"}),
            400,
            "required",
        ),
        (
            json!({"name": "x", "addressType": "INTERNAL", "subnetwork": "regions/us-east1/subnetworks/prod-us-east1"}),
            400,
            "invalid",
        ),
        (
            json!({"name": "x", "addressType": "INTERNAL", "subnetwork": "regions/us-central1/subnetworks/nope"}),
            404,
            "notFound",
        ),
        (
            json!({"name": "x", "addressType": "INTERNAL", "subnetwork": subnet, "address": "10.9.0.5"}),
            400,
            "invalid",
        ),
        (
            json!({"name": "x", "addressType": "INTERNAL", "subnetwork": subnet, "address": "10.8.0.1"}),
            400,
            "invalid",
        ),
        (
            json!({"name": "x", "addressType": "INTERNAL", "subnetwork": subnet, "labels": {"Owner": "me"}}),
            400,
            "invalid",
        ),
        (
            json!({"name": "x", "addressType": "INTERNAL", "subnetwork": subnet, "labels": {"path": "a/b.yaml"}}),
            400,
            "invalid",
        ),
    ];
    for (body, status, why) in cases {
        let (got, answer) = env.post(&env.regional("addresses"), body.clone()).await;
        assert_eq!(
            (got, reason(got, &answer).as_str()),
            (status, why),
            "{body} -> {answer}"
        );
    }
    let (status, body) = env
        .get(&env.url("/compute/v1/projects/my-project/regions/us-nowhere1/addresses"))
        .await;
    assert_eq!((status, reason(status, &body).as_str()), (400, "invalid"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Unknown region")
    );
    let (status, body) = env
        .get(&env.url("/compute/v1/projects/nobody/regions/us-central1/addresses"))
        .await;
    assert_eq!((status, reason(status, &body).as_str()), (404, "notFound"));
}

#[tokio::test]
async fn a_fixed_address_already_taken_fails_in_its_operation() {
    let env = start(instant()).await;
    env.address("first", Some("10.8.0.3")).await;
    let (status, op) = env
        .post(
            &env.regional("addresses"),
            json!({"name": "second", "addressType": "INTERNAL", "address": "10.8.0.3",
                   "subnetwork": format!("projects/{PROJECT}/regions/{REGION}/subnetworks/prod-us-central1")}),
        )
        .await;
    assert_eq!(status, 200, "{op}");
    let done = env.done(&op).await;
    assert_eq!(
        done["error"]["errors"][0]["code"],
        "IP_IN_USE_BY_ANOTHER_RESOURCE"
    );
    assert_eq!(done["httpErrorStatusCode"], 409);
    assert_eq!(env.get(&env.regional("addresses/second")).await.0, 404);
    // A /29 has four usable addresses: .2 .3 .4 .5; the fifth reservation finds none.
    for name in ["a", "b", "c"] {
        env.address(name, None).await;
    }
    let (_, op) = env
        .post(
            &env.regional("addresses"),
            json!({"name": "full", "addressType": "INTERNAL", "subnetwork": "prod-us-central1"}),
        )
        .await;
    assert_eq!(
        env.done(&op).await["error"]["errors"][0]["code"],
        "IP_SPACE_EXHAUSTED"
    );
}

#[tokio::test]
async fn lists_filter_on_labels_and_page() {
    let env = start(instant()).await;
    for (name, owner) in [
        ("a1", "privatelinkd"),
        ("a2", "someone"),
        ("a3", "privatelinkd"),
        ("a4", "privatelinkd"),
    ] {
        let a = env.address(name, None).await;
        let (status, op) = env
            .post(
                &env.regional(&format!("addresses/{name}/setLabels")),
                json!({"labels": {"owner": owner}, "labelFingerprint": a["labelFingerprint"]}),
            )
            .await;
        assert_eq!(status, 200, "{op}");
        env.done(&op).await;
    }
    let list = |query: &'static str| {
        let url = env.regional(&format!("addresses{query}"));
        let env = &env;
        async move {
            let (status, body) = env.get(&url).await;
            assert_eq!(status, 200, "{body}");
            body
        }
    };
    let all = list("").await;
    assert_eq!(all["kind"], "compute#addressList");
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
    assert!(all.get("nextPageToken").is_none());
    let ours = list("?filter=labels.owner%20%3D%20%22privatelinkd%22").await;
    let names: Vec<&str> = ours["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a1", "a3", "a4"]);
    let page = list("?filter=labels.owner+%3D+privatelinkd&maxResults=2").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let token = page["nextPageToken"].as_str().unwrap().to_string();
    let (_, rest) = env
        .get(&env.regional(&format!(
            "addresses?filter=labels.owner+%3D+privatelinkd&maxResults=2&pageToken={token}"
        )))
        .await;
    assert_eq!(rest["items"][0]["name"], "a4");
    assert!(rest.get("nextPageToken").is_none());
    let none = list("?filter=labels.owner%3Dnobody").await;
    assert!(none.get("items").is_none(), "{none}");
    for bad in [
        "?maxResults=501",
        "?pageToken=garbage",
        "?filter=labels.owner",
        "?orderBy=address",
    ] {
        let (status, body) = env.get(&env.regional(&format!("addresses{bad}"))).await;
        assert_eq!(
            (status, reason(status, &body).as_str()),
            (400, "invalid"),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn set_labels_needs_the_current_fingerprint() {
    let env = start(instant()).await;
    let a = env.address("labelled", None).await;
    let url = env.regional("addresses/labelled/setLabels");
    let (status, body) = env
        .post(
            &url,
            json!({"labels": {"a": "b"}, "labelFingerprint": "AAAAAAAAAAA="}),
        )
        .await;
    assert_eq!(
        (status, reason(status, &body).as_str()),
        (412, "conditionNotMet")
    );
    assert_eq!(body["error"]["status"], "FAILED_PRECONDITION");
    assert_eq!(body["error"]["errors"][0]["location"], "If-Match");
    let (status, _) = env.post(&url, json!({"labels": {"a": "b"}})).await;
    assert_eq!(status, 412, "a missing fingerprint is a mismatch");
    let (status, op) = env
        .post(
            &url,
            json!({"labels": {"a": "b"}, "labelFingerprint": a["labelFingerprint"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(op["operationType"], "setLabels");
    env.done(&op).await;
    let (_, after) = env.get(&env.regional("addresses/labelled")).await;
    assert_eq!(after["labels"], json!({"a": "b"}));
    assert_ne!(after["labelFingerprint"], a["labelFingerprint"]);
    // The old fingerprint is stale now.
    let (status, _) = env
        .post(
            &url,
            json!({"labels": {}, "labelFingerprint": a["labelFingerprint"]}),
        )
        .await;
    assert_eq!(status, 412);
    let (status, body) = env
        .post(
            &url,
            json!({"labels": {"Bad": "x"}, "labelFingerprint": after["labelFingerprint"]}),
        )
        .await;
    assert_eq!((status, reason(status, &body).as_str()), (400, "invalid"));
    let (status, body) = env
        .post(
            &env.regional("addresses/missing/setLabels"),
            json!({"labels": {}, "labelFingerprint": "42WmSpB8rSM="}),
        )
        .await;
    assert_eq!((status, reason(status, &body).as_str()), (404, "notFound"));
    let many: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("k{i}"), json!("v"))).collect();
    let (status, _) = env
        .post(
            &url,
            json!({"labels": many, "labelFingerprint": after["labelFingerprint"]}),
        )
        .await;
    assert_eq!(status, 400, "65 labels are one too many");
}
