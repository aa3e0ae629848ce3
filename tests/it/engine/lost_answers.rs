//! Answers lost on the way back: no duplicate endpoint, no duplicate connection.

use std::time::Duration;

use crate::common::sim::*;
use crate::common::*;
use privatelinkd::plan::Phase;
use privatelinkd::reconcile::Frozen;

#[test]
fn a_create_whose_answer_is_lost_returns_the_same_endpoint_on_retry() {
    use privatelinkd::cloud::op;
    let wanted = wanted(&[endpoint("orders", CLUSTER, &[SUBNET_AZ1], "")]);
    let cloud = cloud(1_000_000, false);
    // EC2 makes the endpoint, then the answer is lost (a timeout, as the client sees it).
    cloud.lose_answers(op::CREATE_VPC_ENDPOINT, 1);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        let first = engine
            .pass(&wanted, &Frozen::default(), &policy(), true)
            .await;
        // The gate retried the create with the same ClientToken, which returned the first
        // endpoint; the registration followed in the same pass.
        assert!(
            first.applied.iter().all(|a| a.result.is_ok()),
            "{:?}",
            first.applied
        );
        let last = converge(&mut engine, &wanted, 30).await;
        assert_eq!(last.plan.endpoints[0].phase, Phase::Active);
    });
    assert_eq!(cloud.calls()["ec2.CreateVpcEndpoint"], 2, "one retry");
    assert_eq!(cloud.all_endpoints().len(), 1, "no duplicate endpoint");
    assert_eq!(cloud.all_connections().len(), 1);
}

#[test]
fn a_registration_whose_answer_is_lost_is_found_by_the_next_pass() {
    use privatelinkd::cloud::op;
    let wanted = wanted(&[endpoint("orders", CLUSTER, &[SUBNET_AZ1], "")]);
    let cloud = cloud(1_000_000, false);
    cloud.lose_answers(op::CREATE_CONNECTION, 1);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        let first = engine
            .pass(&wanted, &Frozen::default(), &policy(), true)
            .await;
        let failed: Vec<_> = first.applied.iter().filter(|a| a.result.is_err()).collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].kind, "register_connection");
        // Not retried in place (a second POST would be a duplicate); after its backoff, the
        // next pass lists the connection and registers nothing.
        tokio::time::pause();
        tokio::time::advance(Duration::from_secs(600)).await;
        tokio::time::resume();
        let last = converge(&mut engine, &wanted, 30).await;
        assert_eq!(last.plan.endpoints[0].phase, Phase::Active);
    });
    assert_eq!(
        cloud.calls()["tidbcloud.CreatePrivateEndpointConnection"],
        1
    );
    assert_eq!(cloud.all_connections().len(), 1, "no duplicate connection");
}

#[test]
fn the_apply_window_never_cuts_a_call_in_flight() {
    // Every call takes 40 ms (wall) and the window is 5 ms: each endpoint's actions still run
    // to the end of the call they started, so no answer is lost; only calls that would wait
    // for their budget past the window wait for the next pass instead.
    let text = world(1_000_000, false).replace("faults: {", "faults: {latency: 40ms, ");
    let cloud = cloud_of(&text);
    let wanted = wanted(&[endpoint("orders", CLUSTER, &[SUBNET_AZ1], "")]);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        engine.set_apply_window(Duration::from_millis(5));
        let last = converge(&mut engine, &wanted, 60).await;
        assert_eq!(last.plan.endpoints[0].phase, Phase::Active);
        let calls = cloud.calls();
        assert_eq!(calls.get("ec2.CreateVpcEndpoint"), Some(&1), "{calls:?}");
        assert_eq!(
            calls.get("tidbcloud.CreatePrivateEndpointConnection"),
            Some(&1),
            "registered once: {calls:?}"
        );
    });
}
