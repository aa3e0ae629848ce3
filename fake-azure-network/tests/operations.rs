//! Long-running operations over HTTP: Updating -> Succeeded over the configured delay, the
//! Azure-AsyncOperation and Location URLs, Retry-After, another operation refused meanwhile,
//! injected failures, and cancellation by a deletion in the portal.

mod common;

use std::time::{Duration, Instant};

use common::*;
use fake_azure_network::{Fault, OpError, Options, RateLimits};
use serde_json::json;

fn slow(ms: u64) -> Options {
    Options {
        operation_delay: Duration::from_millis(ms),
        retry_after_secs: 10,
        rate_limits: RateLimits::unlimited(),
        ..Options::default()
    }
}

#[tokio::test]
async fn a_create_is_updating_until_its_operation_succeeds() {
    let env = start(slow(400)).await;
    let started = Instant::now();
    let url = env.endpoint_url("pe");
    let put = env.put(&url, &endpoint_body("endpoints")).await;
    assert_eq!(put.status, 201, "{}", put.body);
    assert_eq!(put.body["properties"]["provisioningState"], "Updating");
    assert_eq!(put.header("retry-after"), "10");
    let op_url = put.header("azure-asyncoperation").to_string();

    let polled = env.get(&op_url).await;
    assert_eq!(polled.status, 200);
    assert_eq!(polled.body, json!({"status": "InProgress"}));
    assert_eq!(polled.header("retry-after"), "10");
    assert!(
        polled
            .header("x-ms-ratelimit-remaining-subscription-reads")
            .parse::<u64>()
            .is_ok()
    );
    let got = env.get(&url).await.body;
    assert_eq!(got["properties"]["provisioningState"], "Updating");
    assert_eq!(
        got["properties"]["manualPrivateLinkServiceConnections"][0]["properties"]["provisioningState"],
        "Updating"
    );
    let nic = env
        .get(
            &env.arm(
                got["properties"]["networkInterfaces"][0]["id"]
                    .as_str()
                    .unwrap(),
            ),
        )
        .await;
    assert_eq!(nic.status, 200, "the interface exists from the start");
    assert_eq!(nic.body["properties"]["provisioningState"], "Updating");

    // Another mutation meanwhile is refused, and names the operation to wait for.
    for answer in [
        env.put(&url, &endpoint_body("endpoints")).await,
        env.delete(&url).await,
    ] {
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (409, "AnotherOperationInProgress")
        );
        assert!(
            answer.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&op_url),
            "{}",
            answer.body
        );
    }

    let done = env.wait(&op_url).await;
    assert_eq!(done, json!({"status": "Succeeded"}));
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(started.elapsed() < Duration::from_millis(2_000));
    let done_answer = env.get(&op_url).await;
    assert_eq!(
        done_answer.header("retry-after"),
        "",
        "no Retry-After once done"
    );
    let got = env.get(&url).await.body;
    assert_eq!(got["properties"]["provisioningState"], "Succeeded");
    assert_ne!(got["etag"], put.body["etag"]);
}

#[tokio::test]
async fn a_delete_is_tracked_by_location_and_async_operation() {
    let env = start(slow(300)).await;
    let url = env.endpoint_url("pe");
    env.create("pe", &endpoint_body("endpoints")).await;
    let deleted = env.delete(&url).await;
    assert_eq!(deleted.status, 202);
    assert_eq!(deleted.body, serde_json::Value::Null, "no body");
    let location = deleted.header("location").to_string();
    let async_op = deleted.header("azure-asyncoperation").to_string();
    assert_eq!(
        location.replace("/operationResults/", "/operations/"),
        async_op,
        "one operation, two URLs"
    );
    let got = env.get(&url).await;
    assert_eq!(got.status, 200, "still there while it is deleted");
    assert_eq!(got.body["properties"]["provisioningState"], "Deleting");
    let pending = env.get(&location).await;
    assert_eq!(pending.status, 202);
    assert_eq!(pending.header("location"), location);
    assert_eq!(pending.header("retry-after"), "10");
    assert_eq!(env.wait(&async_op).await["status"], "Succeeded");
    assert_eq!(env.get(&location).await.status, 204);
    assert_eq!(env.get(&url).await.status, 404);
}

#[tokio::test]
async fn injected_failures_fail_the_operation_and_the_resource() {
    let env = start(slow(50)).await;
    env.fake().inject(Fault::FailOperation {
        error: OpError::new("InternalServerError", "An error occurred."),
    });
    let url = env.endpoint_url("pe");
    let put = env.put(&url, &endpoint_body("endpoints")).await;
    assert_eq!(put.status, 201);
    let failed = env.wait(put.header("azure-asyncoperation")).await;
    assert_eq!(
        failed,
        json!({"status": "Failed", "error": {"code": "InternalServerError", "message": "An error occurred.", "details": []}})
    );
    let got = env.get(&url).await.body;
    assert_eq!(
        got["properties"]["provisioningState"], "Failed",
        "a failed endpoint stays, Failed"
    );
    // Only the next operation fails: a retried PUT succeeds.
    let retried = env.put(&url, &got).await;
    assert_eq!(retried.status, 200);
    assert_eq!(
        env.wait(retried.header("azure-asyncoperation")).await["status"],
        "Succeeded"
    );
    assert_eq!(
        env.get(&url).await.body["properties"]["provisioningState"],
        "Succeeded"
    );

    // A failed delete leaves the endpoint there, Failed; its Location answers the error.
    env.fake().inject(Fault::FailOperation {
        error: OpError::new("PrivateEndpointDeletionFailed", "could not delete"),
    });
    let deleted = env.delete(&url).await;
    let result = env.wait(deleted.header("azure-asyncoperation")).await;
    assert_eq!(result["status"], "Failed");
    let location = env.get(deleted.header("location")).await;
    assert_eq!(
        (location.status, location.code().as_str()),
        (400, "PrivateEndpointDeletionFailed")
    );
    assert_eq!(
        env.get(&url).await.body["properties"]["provisioningState"],
        "Failed"
    );
    let again = env.delete(&url).await;
    assert_eq!(
        env.wait(again.header("azure-asyncoperation")).await["status"],
        "Succeeded"
    );
    assert_eq!(env.get(&url).await.status, 404);
}

#[tokio::test]
async fn a_deletion_in_the_portal_cancels_the_operation() {
    let env = start(slow(5_000)).await;
    let put = env
        .put(&env.endpoint_url("pe"), &endpoint_body("endpoints"))
        .await;
    let op_url = put.header("azure-asyncoperation").to_string();
    env.fake().portal_delete(&endpoint_id("pe")).unwrap();
    let canceled = env.get(&op_url).await.body;
    assert_eq!(canceled["status"], "Canceled");
    assert_eq!(canceled["error"]["code"], "Canceled");
    assert_eq!(env.get(&env.endpoint_url("pe")).await.status, 404);
}

#[tokio::test]
async fn operations_are_found_only_where_they_were_started() {
    let env = start(slow(0)).await;
    let put = env
        .put(&env.endpoint_url("pe"), &endpoint_body("endpoints"))
        .await;
    assert_eq!(
        put.body["properties"]["provisioningState"], "Succeeded",
        "no delay: done at once"
    );
    let op_url = put.header("azure-asyncoperation").to_string();
    assert_eq!(env.get(&op_url).await.body["status"], "Succeeded");
    let elsewhere = op_url.replace("/locations/eastus/", "/locations/westus/");
    let answer = env.get(&elsewhere).await;
    assert_eq!((answer.status, answer.code().as_str()), (404, "NotFound"));
    let unknown = env
        .get(&env.arm(&format!("/subscriptions/{SUB}/providers/Microsoft.Network/locations/eastus/operations/0f0e0d0c-0b0a-4908-8706-050403020100")))
        .await;
    assert_eq!(unknown.status, 404);
    let result = env
        .get(&op_url.replace("/operations/", "/operationResults/"))
        .await;
    assert_eq!(
        result.status, 200,
        "a finished create's Location gives the resource"
    );
    assert_eq!(result.body["name"], "pe");
}
