//! What people change in the consoles behind the daemon's back: seen, and acted on once.

use std::time::Duration;

use crate::common::sim::*;
use crate::common::*;
use privatelinkd::cloud::EndpointState;
use privatelinkd::plan::Phase;
use privatelinkd::reconcile::{Engine, Frozen, PassOutcome, Wanted};

use super::numbered;

#[test]
fn an_endpoint_deleted_behind_our_back_is_recreated_once() {
    let wanted = wanted(&[endpoint("orders", CLUSTER, &[SUBNET_AZ1], "")]);
    let cloud = cloud(1_000_000, false);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        converge(&mut engine, &wanted, 30).await;
        let first = cloud.all_endpoints()[0].id.clone();
        cloud.delete_endpoint_behind_our_back(&first);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let last = converge(&mut engine, &wanted, 30).await;
        assert_eq!(last.plan.endpoints[0].phase, Phase::Active);
        let live: Vec<_> = cloud
            .all_endpoints()
            .into_iter()
            .filter(|e| e.state != EndpointState::Deleted)
            .collect();
        assert_eq!(live.len(), 1);
        assert_ne!(live[0].id, first);
        // The old connection went with its endpoint's registration; the new one is ACTIVE.
        assert!(
            cloud
                .all_connections()
                .iter()
                .any(|c| c.endpoint_id == live[0].id)
        );
    });
}

/// The minute (one pass a minute, on virtual time) at which a pass first acts.
async fn minutes_until_acted(engine: &mut Engine<Sim, Sim, Sim>, wanted: &[Wanted]) -> u32 {
    for minute in 1..=30 {
        tokio::time::advance(Duration::from_secs(60)).await;
        let pass = engine
            .pass(wanted, &Frozen::default(), &policy(), true)
            .await;
        if pass.plan.actions().count() > 0 {
            return minute;
        }
    }
    panic!("no action in 30 minutes");
}

#[test]
fn drift_is_acted_on_within_an_interval_on_aws_and_within_full_resync_on_tidb_cloud() {
    let docs = numbered(200);
    let wanted = wanted(&docs);
    let cloud = cloud(1_000_000, false);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        converge(&mut engine, &wanted, 30).await;
        tokio::time::pause();
        // A VPC endpoint deleted in the AWS console: EC2 is described every pass.
        let endpoints = cloud.all_endpoints();
        cloud.delete_endpoint_behind_our_back(&endpoints[0].id);
        assert_eq!(minutes_until_acted(&mut engine, &wanted).await, 1);
        converge(&mut engine, &wanted, 30).await;
        // A connection deleted in TiDB Cloud's console: seen by the next full listing, which
        // is due at most fullResync (10 minutes) after the last one, not before.
        cloud.delete_connection_behind_our_back(&endpoints[1].id);
        let minute = minutes_until_acted(&mut engine, &wanted).await;
        assert!((1..=10).contains(&minute), "acted after {minute} minutes");
        let last = converge(&mut engine, &wanted, 30).await;
        assert!(last.plan.endpoints.iter().all(|p| p.phase == Phase::Active));
        // One connection per live endpoint again, and none for the endpoint deleted in the
        // AWS console: its connection could serve nothing and was deleted (once).
        let live: Vec<String> = cloud
            .all_endpoints()
            .into_iter()
            .filter(|e| e.state != EndpointState::Deleted)
            .map(|e| e.id)
            .collect();
        let connections = cloud.all_connections();
        for id in &live {
            let of = connections.iter().filter(|c| c.endpoint_id == *id).count();
            assert_eq!(of, 1, "{id}");
        }
        assert_eq!(connections.len(), live.len(), "{connections:?}");
        assert_eq!(
            cloud
                .calls()
                .get("tidbcloud.DeletePrivateEndpointConnection"),
            Some(&1)
        );
    });
}

#[test]
fn the_connection_of_an_endpoint_deleted_in_the_console_is_deleted_unless_the_policy_is_orphan() {
    let docs = [
        endpoint("deleting", CLUSTER, &[SUBNET_AZ1], "  privateDns: false\n"),
        endpoint(
            "orphaning",
            CLUSTER,
            &[SUBNET_AZ1],
            "  privateDns: false\n  deletionPolicy: Orphan\n",
        ),
        endpoint("untagged", CLUSTER, &[SUBNET_AZ1], "  privateDns: false\n"),
    ];
    let wanted = wanted(&docs);
    let cloud = cloud(1_000_000, false);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        converge(&mut engine, &wanted, 30).await;
        let before = cloud.all_endpoints();
        let id_of = |name: &str| {
            before
                .iter()
                .find(|e| e.tag("privatelinkd.io/name") == Some(name))
                .unwrap()
                .id
                .clone()
        };
        let (deleting, orphaning, untagged) =
            (id_of("deleting"), id_of("orphaning"), id_of("untagged"));
        cloud.delete_endpoint_behind_our_back(&deleting);
        cloud.delete_endpoint_behind_our_back(&orphaning);
        // A person removes the owner tag by hand: the endpoint leaves our listing but still
        // serves, and so does its connection.
        cloud.remove_tag_behind_our_back(&untagged, "privatelinkd.io/owner");
        let last = converge(&mut engine, &wanted, 60).await;
        let connections = cloud.all_connections();
        let connected = |id: &str| connections.iter().any(|c| c.endpoint_id == id);
        assert!(!connected(&deleting), "{connections:?}");
        assert!(
            connected(&orphaning),
            "Orphan: privatelinkd deletes nothing"
        );
        assert!(
            connected(&untagged),
            "a live endpoint's connection is never stale"
        );
        let orphaning_plan = last
            .plan
            .endpoints
            .iter()
            .find(|p| p.name == "orphaning")
            .unwrap();
        assert_eq!(orphaning_plan.phase, Phase::Active);
        assert!(
            orphaning_plan
                .message
                .contains("left in place (deletionPolicy: Orphan)")
                && orphaning_plan.message.contains(&orphaning),
            "{}",
            orphaning_plan.message
        );
        assert_eq!(
            cloud
                .calls()
                .get("tidbcloud.DeletePrivateEndpointConnection"),
            Some(&1)
        );
    });
}

#[test]
fn a_stale_connection_that_cannot_be_deleted_never_holds_back_the_replacement() {
    use privatelinkd::cloud::{CloudError, op};
    let wanted = wanted(&[endpoint(
        "orders",
        CLUSTER,
        &[SUBNET_AZ1],
        "  privateDns: false\n",
    )]);
    let cloud = cloud(1_000_000, false);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        converge(&mut engine, &wanted, 30).await;
        let old = cloud.all_endpoints()[0].id.clone();
        // TiDB Cloud refuses every deletion; someone deletes the endpoint in the console.
        cloud.fail(
            op::DELETE_CONNECTION,
            Some(CloudError::Permanent("HTTP 400: refused".into())),
        );
        cloud.delete_endpoint_behind_our_back(&old);
        let mut last = PassOutcome::default();
        for _ in 0..30 {
            last = engine
                .pass(&wanted, &Frozen::default(), &policy(), true)
                .await;
            let p = &last.plan.endpoints[0];
            if p.actions.is_empty() && !p.phase.is_transitional() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The replacement is there and registered, whatever became of the cleanup.
        let live: Vec<_> = cloud
            .all_endpoints()
            .into_iter()
            .filter(|e| e.state != EndpointState::Deleted)
            .collect();
        assert_eq!(live.len(), 1);
        assert_ne!(live[0].id, old);
        let connections = cloud.all_connections();
        assert!(connections.iter().any(|c| c.endpoint_id == live[0].id));
        assert!(
            connections.iter().any(|c| c.endpoint_id == old),
            "refused, so still there"
        );
        // Refused for good: tried once, given up (and logged), and the endpoint itself is
        // neither held back nor shown Failed for it.
        assert!(last.held.is_empty(), "{:?}", last.held);
        assert_eq!(last.plan.endpoints[0].phase, Phase::Active);
        assert_eq!(
            cloud
                .calls()
                .get("tidbcloud.DeletePrivateEndpointConnection"),
            Some(&1)
        );
    });
}
