//! Removals: a failing delete retried on its backoff, and what the latest document said done.

use std::time::Duration;

use crate::common::sim::*;
use crate::common::*;
use privatelinkd::cloud::EndpointState;
use privatelinkd::cloud::sim::SimCloud;
use privatelinkd::reconcile::Frozen;

#[test]
fn a_removal_whose_delete_keeps_failing_is_retried_on_the_backoff_schedule() {
    use privatelinkd::cloud::{CloudError, op};
    let docs = [endpoint("orders", CLUSTER, &[SUBNET_AZ1], "")];
    let cloud = cloud(1_000_000, false);
    let deletes = |cloud: &SimCloud| {
        cloud
            .calls()
            .get("ec2.DeleteVpcEndpoints")
            .copied()
            .unwrap_or(0)
    };
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        converge(&mut engine, &wanted(&docs), 30).await;
        cloud.fail(
            op::DELETE_VPC_ENDPOINTS,
            Some(CloudError::Permanent("DependencyViolation: in use".into())),
        );
        // Virtual time from here: the backoff runs on tokio's clock.
        tokio::time::pause();
        let first = engine.pass(&[], &Frozen::default(), &policy(), true).await;
        assert_eq!(deletes(&cloud), 1);
        let held = &first.held["orders"];
        assert!(held.permanent && held.message.contains("DependencyViolation"));
        // Passes come about once a second while something is on its way: none of them tries
        // again before the backoff (5 minutes for an error a person must fix) is over.
        for _ in 0..290 {
            tokio::time::advance(Duration::from_secs(1)).await;
            let pass = engine.pass(&[], &Frozen::default(), &policy(), true).await;
            assert!(pass.plan.removals[0].actions.is_empty());
            assert!(pass.held.contains_key("orders"));
        }
        assert_eq!(deletes(&cloud), 1, "retried before its backoff ended");
        tokio::time::advance(Duration::from_secs(11)).await;
        let again = engine.pass(&[], &Frozen::default(), &policy(), true).await;
        assert_eq!(deletes(&cloud), 2, "not retried after its backoff");
        assert_eq!(again.applied.len(), 1);
        // Healed: the next attempt, another backoff later, deletes it.
        cloud.fail(op::DELETE_VPC_ENDPOINTS, None);
        tokio::time::advance(Duration::from_secs(301)).await;
        let healed = engine.pass(&[], &Frozen::default(), &policy(), true).await;
        assert!(healed.applied.iter().all(|a| a.result.is_ok()));
        assert!(!healed.held.contains_key("orders"));
    });
}

#[test]
fn a_removal_does_what_the_latest_document_said_even_if_its_tags_lag() {
    use privatelinkd::cloud::{CloudError, op};
    let cloud = cloud(1_000_000, false);
    let delete = endpoint("orders", CLUSTER, &[SUBNET_AZ1], "");
    let orphan = endpoint(
        "orders",
        CLUSTER,
        &[SUBNET_AZ1],
        "  deletionPolicy: Orphan\n",
    );
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        converge(&mut engine, &wanted(&[delete]), 30).await;
        // The edit to Orphan is seen, but writing it into the tags fails.
        cloud.fail(
            op::CREATE_TAGS,
            Some(CloudError::Permanent("UnauthorizedOperation".into())),
        );
        let edited = engine
            .pass(&wanted(&[orphan]), &Frozen::default(), &policy(), true)
            .await;
        assert!(
            edited
                .applied
                .iter()
                .any(|a| a.kind == "tag" && a.result.is_err())
        );
        assert_eq!(
            cloud.all_endpoints()[0].tags["privatelinkd.io/deletion-policy"],
            "Delete"
        );
        // The document goes: its endpoint is orphaned, as the document said last.
        let removed = engine.pass(&[], &Frozen::default(), &policy(), true).await;
        let kinds: Vec<_> = removed.applied.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, ["untag"], "{:?}", removed.plan.removals);
    });
    let e = &cloud.all_endpoints()[0];
    assert_eq!(e.state, EndpointState::Available, "the endpoint stays");
    assert!(!e.tags.keys().any(|k| k.starts_with("privatelinkd.io/")));
    assert_eq!(cloud.all_connections().len(), 1, "the connection stays");
    assert!(!cloud.calls().contains_key("ec2.DeleteVpcEndpoints"));
}
