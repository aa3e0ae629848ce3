//! Region operations over HTTP: PENDING -> RUNNING -> DONE over the configured delays, effects
//! at DONE, `wait` bounded, `requestId` replays, injected failures.

mod common;

use std::time::{Duration, Instant};

use common::*;
use fake_gcp_compute::{Fault, OpError, Options, Timing};
use serde_json::json;

fn slow(pending_ms: u64, running_ms: u64, wait_bound_ms: u64) -> Options {
    Options {
        timing: Timing {
            pending: Duration::from_millis(pending_ms),
            running: Duration::from_millis(running_ms),
        },
        wait_bound: Duration::from_millis(wait_bound_ms),
        ..Options::default()
    }
}

fn address_body(name: &str) -> serde_json::Value {
    json!({"name": name, "addressType": "INTERNAL", "subnetwork": "regions/us-central1/subnetworks/prod-us-central1"})
}

#[tokio::test]
async fn an_operation_goes_pending_running_done_and_acts_when_done() {
    let env = start(slow(150, 600, 5_000)).await;
    let (status, op) = env
        .post(&env.regional("addresses"), address_body("slow"))
        .await;
    assert_eq!(status, 200, "{op}");
    assert_eq!(op["status"], "PENDING");
    assert_eq!(op["operationType"], "insert");
    assert_eq!(op["progress"], 0);
    assert!(op["name"].as_str().unwrap().starts_with("operation-"));
    assert_eq!(
        op["targetLink"],
        "https://www.googleapis.com/compute/v1/projects/my-project/regions/us-central1/addresses/slow"
    );
    assert_eq!(
        op["region"],
        "https://www.googleapis.com/compute/v1/projects/my-project/regions/us-central1"
    );
    assert!(op.get("endTime").is_none() && op.get("startTime").is_none());
    // Not there until the operation is done; its name is taken meanwhile.
    assert_eq!(env.get(&env.regional("addresses/slow")).await.0, 404);
    let (status, body) = env
        .post(&env.regional("addresses"), address_body("slow"))
        .await;
    assert_eq!(
        (status, reason(status, &body).as_str()),
        (409, "alreadyExists")
    );

    let op_url = env.local(op["selfLink"].as_str().unwrap());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, running) = env.get(&op_url).await;
    assert_eq!(running["status"], "RUNNING", "{running}");
    assert!(running.get("startTime").is_some());
    let started = Instant::now();
    let (_, done) = env.post(&format!("{op_url}/wait"), json!({})).await;
    assert_eq!(done["status"], "DONE");
    assert_eq!(done["progress"], 100);
    assert!(done.get("error").is_none());
    assert!(done.get("endTime").is_some());
    assert!(
        started.elapsed() < Duration::from_millis(1_000),
        "wait answers once done"
    );
    assert_eq!(env.get(&env.regional("addresses/slow")).await.0, 200);
    assert_eq!(
        done["targetId"],
        env.get(&env.regional("addresses/slow")).await.1["id"]
    );

    // A delete: still there while it runs; a second mutation meanwhile is refused.
    let (_, del) = env.delete(&env.regional("addresses/slow")).await;
    assert_eq!(env.get(&env.regional("addresses/slow")).await.0, 200);
    let (status, body) = env.delete(&env.regional("addresses/slow")).await;
    assert_eq!(
        (status, reason(status, &body).as_str()),
        (400, "resourceNotReady")
    );
    env.done(&del).await;
    assert_eq!(env.get(&env.regional("addresses/slow")).await.0, 404);
}

#[tokio::test]
async fn wait_answers_after_its_bound_even_if_not_done() {
    let env = start(slow(0, 2_000, 200)).await;
    let (_, op) = env
        .post(&env.regional("addresses"), address_body("long"))
        .await;
    let started = Instant::now();
    let (status, waited) = env
        .post(
            &format!("{}/wait", env.local(op["selfLink"].as_str().unwrap())),
            json!({}),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(status, 200);
    assert_eq!(waited["status"], "RUNNING");
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_millis(1_500),
        "{took:?}"
    );
    let (status, body) = env
        .get(&env.regional("operations/operation-0-missing"))
        .await;
    assert_eq!((status, reason(status, &body).as_str()), (404, "notFound"));
    let (status, body) = env
        .post(
            &env.regional("operations/operation-0-missing/wait"),
            json!({}),
        )
        .await;
    assert_eq!((status, reason(status, &body).as_str()), (404, "notFound"));
}

#[tokio::test]
async fn a_retried_insert_with_the_same_request_id_creates_nothing_more() {
    let env = start(instant()).await;
    let url = env.regional("addresses?requestId=0f8c3b2e-6a1d-4c5e-9b7a-2d4e6f8a0b1c");
    let (_, first) = env.post(&url, address_body("once")).await;
    assert_eq!(
        first["clientOperationId"],
        "0f8c3b2e-6a1d-4c5e-9b7a-2d4e6f8a0b1c"
    );
    let (status, again) = env.post(&url, address_body("once")).await;
    assert_eq!(status, 200, "not alreadyExists: the same request");
    assert_eq!(again["name"], first["name"]);
    let (_, list) = env.get(&env.regional("addresses")).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    for bad in ["not-a-uuid", "00000000-0000-0000-0000-000000000000"] {
        let (status, body) = env
            .post(
                &env.regional(&format!("addresses?requestId={bad}")),
                address_body("x"),
            )
            .await;
        assert_eq!(
            (status, reason(status, &body).as_str()),
            (400, "invalid"),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn an_injected_failure_ends_the_next_matching_operation_in_error() {
    let env = start(instant()).await;
    let (status, _) = env
        .post(
            &env.url("/fake/v1/faults"),
            json!({"kind": "failOperation", "operationType": "delete",
                   "error": {"code": "INTERNAL_ERROR", "message": "Internal error. Please try again.", "httpStatus": 500}}),
        )
        .await;
    assert_eq!(status, 200);
    let created = env.address("keep", None).await;
    assert_eq!(created["status"], "RESERVED", "an insert is not a delete");
    let (_, op) = env.delete(&env.regional("addresses/keep")).await;
    let done = env.done(&op).await;
    assert_eq!(done["error"]["errors"][0]["code"], "INTERNAL_ERROR");
    assert_eq!(done["httpErrorStatusCode"], 500);
    assert_eq!(done["httpErrorMessage"], "INTERNAL SERVER ERROR");
    assert_eq!(
        env.get(&env.regional("addresses/keep")).await.0,
        200,
        "a failed delete deletes nothing"
    );
    // Once only.
    let (_, op) = env.delete(&env.regional("addresses/keep")).await;
    assert!(env.done(&op).await.get("error").is_none());
    env.fake().inject(Fault::FailOperation {
        operation_type: None,
        error: OpError::new("QUOTA_EXCEEDED", "Quota 'ADDRESSES' exceeded.", 403),
    });
    let (_, op) = env
        .post(&env.regional("addresses"), address_body("no"))
        .await;
    assert_eq!(
        env.done(&op).await["error"]["errors"][0]["code"],
        "QUOTA_EXCEEDED"
    );
    assert_eq!(env.get(&env.regional("addresses/no")).await.0, 404);
}
