//! The providers' budgets: met by waiting, and what is on its way asked about at their pace.

use std::time::Duration;

use crate::common::sim::*;
use crate::common::*;
use privatelinkd::cloud::ClusterState;
use privatelinkd::plan::Phase;
use privatelinkd::reconcile::{Frozen, PassOutcome};

use super::numbered;

#[test]
fn rate_limits_are_met_by_waiting_not_by_throttling_errors() {
    // 12 creates against a bucket of 4 + 0.3/s: the engine must spread them out.
    let docs = numbered(12);
    let wanted = wanted(&docs);
    let cloud = cloud(100, true);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        let last = converge(&mut engine, &wanted, 400).await;
        assert!(last.plan.endpoints.iter().all(|p| p.phase == Phase::Active));
        assert_eq!(
            cloud.calls().get("ec2.throttled"),
            None,
            "{:?}",
            cloud.calls()
        );
    });
}

#[test]
fn what_is_on_its_way_is_asked_about_at_the_budgets_pace_not_at_every_pass() {
    // The published rates (time scale 1, on tokio's paused clock): a service takes 3 minutes
    // to create, and passes come every second meanwhile (others settling).
    let world = world(1, false).replace("serviceCreate: 1s", "serviceCreate: 180s");
    let cloud = cloud_of(&world);
    let docs = wanted(&[endpoint("orders", CLUSTER, &[SUBNET_AZ1], "")]);
    runtime().block_on(async {
        tokio::time::pause();
        let mut engine = engine(&cloud);
        let mut passes = 0;
        let mut last = PassOutcome::default();
        while !last.applied.iter().any(|a| a.kind == "create_vpc_endpoint") {
            last = engine
                .pass(&docs, &Frozen::default(), &policy(), true)
                .await;
            passes += 1;
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        // Once per 25 of the key's requests (15 s at 100 a minute), not 180 times.
        let asked = cloud.calls()["tidbcloud.GetPrivateLinkService"];
        assert!(passes >= 180, "{passes}");
        assert!(
            (12..=14).contains(&asked),
            "asked {asked} times in {passes} passes"
        );

        // A paused cluster: once a minute (100 requests' worth), however often passes come.
        let converged = converge(&mut engine, &docs, 600).await;
        assert_eq!(converged.plan.endpoints[0].phase, Phase::Active);
        cloud.set_cluster_state(CLUSTER, ClusterState::Paused);
        loop {
            tokio::time::advance(Duration::from_secs(5)).await;
            let pass = engine
                .pass(&docs, &Frozen::default(), &policy(), true)
                .await;
            if pass.plan.endpoints[0].waits_for_cluster() {
                break;
            }
        }
        cloud.reset_calls();
        for _ in 0..120 {
            tokio::time::advance(Duration::from_secs(5)).await;
            let pass = engine
                .pass(&docs, &Frozen::default(), &policy(), true)
                .await;
            assert!(pass.plan.endpoints[0].waits_for_cluster());
        }
        // Ten minutes of passes every 5 seconds.
        let asked = cloud.calls()["tidbcloud.GetCluster"];
        assert!(
            (9..=11).contains(&asked),
            "asked {asked} times in 120 passes"
        );
    });
}
