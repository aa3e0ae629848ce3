//! The admin API, in-process and over HTTP: TiDB Cloud's decision on a connection, the
//! producer's view of its connections, changes "in the portal", seeding, faults, the request
//! log.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use fake_azure_network::{ConnectionStatus, Fault, Options, World};
use serde_json::{Value, json};

async fn admin(env: &Env, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = env.http.request(
        method.parse().unwrap(),
        env.url(&format!("/fake/v1/{path}")),
    );
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn state_of(endpoint: &Value) -> Value {
    endpoint["properties"]["manualPrivateLinkServiceConnections"][0]["properties"]
        ["privateLinkServiceConnectionState"]
        .clone()
}

#[tokio::test]
async fn the_producer_approves_rejects_and_sees_its_connections() {
    let env = start(Options::instant()).await;
    let created = env.create("pe", &endpoint_body("endpoints")).await;
    let seen = env.fake().connections_to(PLS).unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].endpoint_id, endpoint_id("pe"));
    assert_eq!(seen[0].private_ip_address, "10.0.1.4");
    assert_eq!(seen[0].status, ConnectionStatus::Pending);
    assert_eq!(seen[0].request_message.as_deref(), Some("privatelinkd"));

    env.fake()
        .set_connection_state(&endpoint_id("pe"), ConnectionStatus::Approved, None)
        .unwrap();
    let approved = env.get(&env.endpoint_url("pe")).await.body;
    assert_eq!(
        state_of(&approved),
        json!({"status": "Approved", "description": "Approved", "actionsRequired": "None"})
    );
    assert_ne!(
        approved["etag"], created["etag"],
        "a change of state is a write"
    );

    let (status, _) = admin(
        &env,
        "POST",
        "connections/state",
        Some(json!({"endpointId": endpoint_id("pe"), "status": "Rejected", "description": "not registered"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        state_of(&env.get(&env.endpoint_url("pe")).await.body)["description"],
        "not registered"
    );
    let (status, list) = admin(
        &env,
        "GET",
        &format!("connections?privateLinkService={PLS}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["status"], "Rejected");
    assert_eq!(list[0]["privateIpAddress"], "10.0.1.4");
    let (status, body) = admin(
        &env,
        "POST",
        "connections/state",
        Some(json!({"endpointId": endpoint_id("pe"), "status": "Accepted"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let missing = env
        .fake()
        .set_connection_state(&endpoint_id("nope"), ConnectionStatus::Approved, None)
        .unwrap_err();
    assert_eq!(missing.code(), "ResourceNotFound");
    assert!(
        env.fake()
            .set_connection_state("pe", ConnectionStatus::Approved, None)
            .is_err()
    );
}

#[tokio::test]
async fn the_portal_deletes_and_retags_at_once() {
    let env = start(Options::instant()).await;
    let created = env.create("pe", &endpoint_body("endpoints")).await;
    env.fake()
        .portal_remove_tag(&endpoint_id("pe"), "privatelinkd-file")
        .unwrap();
    let got = env.get(&env.endpoint_url("pe")).await.body;
    assert_eq!(got["tags"], json!({"managed-by": "privatelinkd"}));
    assert_ne!(got["etag"], created["etag"]);
    assert!(
        env.fake()
            .portal_remove_tag(&endpoint_id("pe"), "absent")
            .is_err()
    );
    let (status, _) = admin(
        &env,
        "POST",
        "portal/setTags",
        Some(json!({"resourceId": endpoint_id("pe"), "tags": {"owner": "someone"}})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        env.get(&env.endpoint_url("pe")).await.body["tags"],
        json!({"owner": "someone"})
    );
    let (status, _) = admin(
        &env,
        "POST",
        "portal/removeTag",
        Some(json!({"resourceId": endpoint_id("pe"), "key": "owner"})),
    )
    .await;
    assert_eq!(status, 200);
    env.fake()
        .portal_set_tags(&endpoint_id("pe"), BTreeMap::new())
        .unwrap();
    let nic = created["properties"]["networkInterfaces"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = admin(
        &env,
        "POST",
        "portal/delete",
        Some(json!({"resourceId": endpoint_id("pe")})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(env.get(&env.endpoint_url("pe")).await.status, 404);
    assert_eq!(env.get(&env.arm(&nic)).await.status, 404);
    let (status, _) = admin(
        &env,
        "POST",
        "portal/delete",
        Some(json!({"resourceId": endpoint_id("pe")})),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_world_can_be_seeded_later_with_endpoints_made_by_hand() {
    let env = start(Options::instant()).await;
    let more = format!(
        r#"
subscriptions:
  - id: {SUB}
    tenant: {TENANT}
    resourceGroups:
      - name: legacy
        location: eastus
        privateEndpoints:
          - name: by-hand
            subnet: {subnet}
            privateLinkService: {PLS}
            status: Approved
            tags: {{owner: platform}}
"#,
        subnet = subnet("endpoints")
    );
    let refused = env
        .http
        .post(env.url("/fake/v1/world"))
        .body("subscriptions: 5")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let response = env
        .http
        .post(env.url("/fake/v1/world"))
        .body(more)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let by_hand = env
        .get(&env.arm(&format!("/subscriptions/{SUB}/resourceGroups/legacy/providers/Microsoft.Network/privateEndpoints/by-hand")))
        .await;
    assert_eq!(by_hand.status, 200, "{}", by_hand.body);
    assert_eq!(by_hand.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(state_of(&by_hand.body)["status"], "Approved");
    assert_eq!(
        by_hand.body["properties"]["manualPrivateLinkServiceConnections"][0]["name"],
        "by-hand-connection"
    );
    // All or nothing: a bad world changes nothing.
    let bad = World::parse(&format!(
        "subscriptions: [{{id: {SUB}, resourceGroups: [{{name: x, location: eastus, virtualNetworks: [{{name: v, addressPrefixes: [10.5.0.0/16], subnets: [{{name: a, addressPrefix: 10.6.0.0/24}}]}}]}}]}}]"
    ))
    .unwrap();
    assert!(env.fake().seed(&bad).is_err());
    let x = env
        .get(&env.arm(&format!(
            "/subscriptions/{SUB}/resourceGroups/x/providers/Microsoft.Network/privateEndpoints/pe"
        )))
        .await;
    assert_eq!(x.code(), "ResourceGroupNotFound");
}

#[tokio::test]
async fn faults_over_http_and_the_request_log() {
    let env = start(Options::instant()).await;
    let (status, _) = admin(
        &env,
        "POST",
        "faults",
        Some(json!({"kind": "httpError", "count": 1, "status": 500, "code": "InternalServerError", "message": "boom", "method": "PUT", "pathContains": "privateEndpoints/pe"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        env.get(&env.endpoint_url("pe")).await.status,
        404,
        "a GET does not match"
    );
    let failed = env
        .put(&env.endpoint_url("pe"), &endpoint_body("endpoints"))
        .await;
    assert_eq!(
        (failed.status, failed.code().as_str()),
        (500, "InternalServerError")
    );
    assert_eq!(
        env.put(&env.endpoint_url("pe"), &endpoint_body("endpoints"))
            .await
            .status,
        201
    );
    admin(
        &env,
        "POST",
        "faults",
        Some(json!({"kind": "throttle", "count": 1})),
    )
    .await;
    let throttled = env.get(&env.endpoint_url("pe")).await;
    assert_eq!(
        (throttled.status, throttled.header("retry-after")),
        (429, "1")
    );
    admin(
        &env,
        "POST",
        "faults",
        Some(json!({"kind": "latency", "ms": 150})),
    )
    .await;
    let started = Instant::now();
    env.get(&env.endpoint_url("pe")).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    admin(
        &env,
        "POST",
        "faults",
        Some(json!({"kind": "failOperation", "error": {"code": "X", "message": "y"}})),
    )
    .await;
    let (status, _) = admin(&env, "DELETE", "faults", None).await;
    assert_eq!(status, 200);
    let started = Instant::now();
    let put = env
        .put(&env.endpoint_url("pe2"), &endpoint_body("endpoints"))
        .await;
    assert!(
        started.elapsed() < Duration::from_millis(150),
        "latency cleared"
    );
    assert_eq!(
        env.wait(put.header("azure-asyncoperation")).await["status"],
        "Succeeded"
    );
    let (status, body) = admin(&env, "POST", "faults", Some(json!({"kind": "nope"}))).await;
    assert_eq!(status, 400, "{body}");
    env.fake().inject(Fault::Latency { ms: 0 });

    let (_, log) = admin(&env, "GET", "requests", None).await;
    let log = log.as_array().unwrap().clone();
    assert_eq!(log.len(), 7, "admin calls are not logged: {log:#?}");
    assert_eq!(log[1]["method"], "PUT");
    assert_eq!(log[1]["status"], 500);
    assert_eq!(log[1]["path"], endpoint_id("pe"));
    assert_eq!(log[1]["query"], "api-version=2024-05-01");
    assert!(log[1]["atMs"].is_u64());
    env.http
        .get(env.url(&format!(
            "{}?api-version=2024-05-01&access_token=abc",
            endpoint_id("pe")
        )))
        .send()
        .await
        .unwrap();
    let last = env.fake().requests().pop().unwrap();
    assert_eq!(last.query, "api-version=2024-05-01&access_token=REDACTED");
    let (status, _) = admin(&env, "DELETE", "requests", None).await;
    assert_eq!(status, 200);
    assert!(env.fake().requests().is_empty());
    let (status, _) = admin(&env, "GET", "nothing", None).await;
    assert_eq!(status, 501);
}
