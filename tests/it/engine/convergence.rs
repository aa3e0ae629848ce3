//! Generated scenarios: whatever is wanted, passes converge to a world that plans nothing.

use std::collections::BTreeMap;

use crate::common::sim::*;
use crate::common::*;
use privatelinkd::plan::Phase;
use privatelinkd::reconcile::Frozen;
use proptest::prelude::*;

/// One endpoint's wish in a generated scenario.
#[derive(Debug, Clone)]
struct Wish {
    failing_cluster: bool,
    subnets: Vec<&'static str>,
    private_dns: bool,
}

fn wish() -> impl Strategy<Value = Wish> {
    (
        prop::bool::weighted(0.2),
        prop::sample::subsequence(vec![SUBNET_AZ1, SUBNET_AZ4, SUBNET_AZ6, SUBNET_AZ2], 1..=3),
        any::<bool>(),
    )
        .prop_map(|(failing_cluster, subnets, private_dns)| Wish {
            failing_cluster,
            subnets,
            private_dns,
        })
}

fn docs_of(wishes: &[Wish]) -> Vec<String> {
    wishes
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let cluster = if w.failing_cluster {
                FAILING_CLUSTER
            } else {
                CLUSTER
            };
            // One private DNS domain per service and VPC: only the first may ask for it.
            let dns = w.private_dns && i == 0;
            endpoint(
                &format!("ep-{i}"),
                cluster,
                &w.subnets,
                &format!("  privateDns: {dns}\n"),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Whatever is wanted, and however it is changed afterwards, passes converge to a world
    /// that plans nothing, with each endpoint Active or Failed for the reason it should.
    #[test]
    fn passes_converge_and_a_converged_world_plans_nothing(
        first in prop::collection::vec(wish(), 1..5),
        second in prop::collection::vec(wish(), 0..5),
    ) {
        let cloud = cloud(1_000_000, false);
        runtime().block_on(async {
            let mut engine = engine(&cloud);
            for wishes in [&first, &second] {
                let wanted = wanted(&docs_of(wishes));
                let last = converge(&mut engine, &wanted, 40).await;
                let again = engine.pass(&wanted, &Frozen::default(), &policy(), true).await;
                prop_assert_eq!(again.plan.actions().count(), 0, "{:?}", again.plan);
                for (p, w) in last.plan.endpoints.iter().zip(wishes.iter()) {
                    let bad_zone = w.subnets.contains(&SUBNET_AZ2);
                    let want = if bad_zone || w.failing_cluster { Phase::Failed } else { Phase::Active };
                    prop_assert_eq!(p.phase, want, "{:?} {:?}", p, w);
                }
                // Exactly one live endpoint per name, none for removed documents.
                let mut names = BTreeMap::new();
                for e in cloud.all_endpoints().iter().filter(|e| !matches!(e.state.as_str(), "deleted" | "deleting")) {
                    *names.entry(e.tags["privatelinkd.io/name"].clone()).or_insert(0) += 1;
                }
                for (name, count) in &names {
                    prop_assert_eq!(*count, 1, "{}", name);
                    let index: usize = name.trim_start_matches("ep-").parse().unwrap();
                    prop_assert!(index < wishes.len(), "{} outlived its document", name);
                }
            }
            Ok(())
        })?;
    }
}
