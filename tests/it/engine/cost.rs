//! What a converged pass costs: one describe of EC2, and TiDB Cloud only at every full resync.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::sim::*;
use crate::common::*;
use privatelinkd::plan::Phase;
use privatelinkd::reconcile::Frozen;

use super::numbered;

#[test]
fn a_converged_pass_over_1000_endpoints_costs_one_describe_and_a_full_listing_every_full_resync() {
    let docs: Vec<String> = (0..1000)
        .map(|i| {
            endpoint(
                &format!("ep-{i:04}"),
                CLUSTER,
                &[SUBNET_AZ1, SUBNET_AZ4],
                "  privateDns: false\n",
            )
        })
        .collect();
    let wanted = wanted(&docs);
    let cloud = cloud(1_000_000, false);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        let last = converge(&mut engine, &wanted, 30).await;
        assert!(
            last.plan.endpoints.iter().all(|p| p.phase == Phase::Active),
            "{:?}",
            last.plan.endpoints[0]
        );
        // Converged: EC2 is described (one page of 1,000), TiDB Cloud is not asked at all.
        tokio::time::pause();
        tokio::time::advance(Duration::from_secs(60)).await;
        cloud.reset_calls();
        let pass = engine
            .pass(&wanted, &Frozen::default(), &policy(), true)
            .await;
        assert_eq!(pass.plan.actions().count(), 0);
        let want = BTreeMap::from([("ec2.DescribeVpcEndpoints".to_string(), 1)]);
        assert_eq!(cloud.calls(), want);
        let revisions = |seen: &privatelinkd::reconcile::PassOutcome| -> BTreeMap<String, u64> {
            let seen = seen.seen.iter();
            seen.map(|(name, s)| (name.to_string(), s.revision))
                .collect()
        };
        let converged = revisions(&pass);
        assert_eq!(converged.len(), 1000);
        // Every fullResync (10 minutes), the connections are listed in full: 10 pages (and the
        // cached cluster, security groups and VPCs, due by then too, are looked at again).
        tokio::time::advance(Duration::from_secs(600)).await;
        cloud.reset_calls();
        let refreshed = engine
            .pass(&wanted, &Frozen::default(), &policy(), true)
            .await;
        // What those describes and the listing found is what was there: no endpoint's plan or
        // sighting moved, so the report rebuilds no status (a firewall rebuilt as a new value
        // once replanned and re-reported every endpoint every tenth pass).
        let after = revisions(&refreshed);
        let moved: Vec<&String> = after
            .iter()
            .filter(|(name, r)| converged.get(*name) != Some(r))
            .map(|(name, _)| name)
            .collect();
        assert!(
            moved.is_empty() && after.len() == converged.len(),
            "{} of {} endpoints planned anew, e.g. {:?}",
            moved.len(),
            after.len(),
            &moved[..moved.len().min(3)]
        );
        let calls = cloud.calls();
        assert_eq!(calls["tidbcloud.ListPrivateEndpointConnections"], 10);
        assert_eq!(calls["ec2.DescribeVpcEndpoints"], 1);
        let reads = [
            "ec2.DescribeVpcEndpoints",
            "ec2.DescribeSecurityGroups",
            "ec2.DescribeVpcs",
            "tidbcloud.ListPrivateEndpointConnections",
            "tidbcloud.GetCluster",
            "tidbcloud.ListTidbNodeGroups",
            "tidbcloud.GetPrivateLinkService",
        ];
        assert!(
            calls.keys().all(|k| reads.contains(&k.as_str())),
            "{calls:?}"
        );
    });
}

#[test]
fn ten_thousand_converged_endpoints_spend_under_a_fifth_of_the_tidb_budget() {
    let docs = numbered(10_000);
    let wanted = wanted(&docs);
    let cloud = cloud(1_000_000, false);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        let last = converge(&mut engine, &wanted, 30).await;
        assert!(last.plan.endpoints.iter().all(|p| p.phase == Phase::Active));
        // Half an hour of converged passes, one a minute, on virtual time.
        tokio::time::pause();
        cloud.reset_calls();
        let mut listings = Vec::new();
        for minute in 1..=30 {
            tokio::time::advance(Duration::from_secs(60)).await;
            let before = cloud
                .calls()
                .get("tidbcloud.ListPrivateEndpointConnections")
                .copied()
                .unwrap_or(0);
            let pass = engine
                .pass(&wanted, &Frozen::default(), &policy(), true)
                .await;
            assert_eq!(pass.plan.actions().count(), 0);
            let pages = cloud
                .calls()
                .get("tidbcloud.ListPrivateEndpointConnections")
                .copied()
                .unwrap_or(0)
                - before;
            if pages > 0 {
                assert_eq!(pages, 100, "a full listing is 100 pages");
                listings.push(minute);
            }
        }
        assert_eq!(listings, [10, 20, 30], "a full listing every fullResync");
        let calls = cloud.calls();
        let tidb: u64 = calls
            .iter()
            .filter(|(k, _)| k.starts_with("tidbcloud."))
            .map(|(_, v)| v)
            .sum();
        // 20 % of 100 requests a minute, over 30 minutes.
        assert!(
            tidb <= 600,
            "{tidb} TiDB Cloud requests in 30 minutes: {calls:?}"
        );
        // EC2: ten describe pages a pass, nothing else.
        assert_eq!(calls["ec2.DescribeVpcEndpoints"], 30 * 10);
    });
}
