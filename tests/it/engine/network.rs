//! The VPC checks before a create: what is fine is described once, what is wrong every pass.

use std::time::Duration;

use crate::common::sim::*;
use crate::common::*;
use privatelinkd::plan::Phase;
use privatelinkd::reconcile::Frozen;

use super::numbered;

#[test]
fn vpc_facts_are_described_once_per_fill() {
    // 12 creates spread over many passes by EC2's rate (4 + 0.3/s): the VPC's DNS attributes,
    // its subnet and its group are checked before each create, but described once.
    let docs = numbered(12);
    let cloud = cloud(30, true);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        // A pass stops waiting for EC2's budget soon: what is left is planned again next pass.
        engine.set_apply_window(Duration::from_millis(50));
        let mut passes = 0;
        loop {
            let pass = engine
                .pass(&wanted(&docs), &Frozen::default(), &policy(), true)
                .await;
            if pass.applied.iter().any(|a| a.kind == "create_vpc_endpoint") {
                passes += 1;
            }
            if pass.plan.endpoints.iter().all(|p| p.phase == Phase::Active) {
                break;
            }
            assert!(passes < 400, "never converged");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(passes >= 4, "the creates were spread over {passes} passes");
        let calls = cloud.calls();
        assert_eq!(calls.get("ec2.DescribeVpcAttribute"), Some(&2), "{calls:?}");
        assert_eq!(calls.get("ec2.DescribeSubnets"), Some(&1), "{calls:?}");
    });
}

#[test]
fn a_vpc_without_dns_is_asked_again_every_pass_and_its_fix_shows_at_the_next() {
    // What is wrong is not remembered: while the create waits for DNS hostnames (private DNS
    // needs them), the VPC is described every pass, and a person's fix shows at the next one.
    let cloud = cloud(1_000_000, false);
    cloud.set_vpc_dns(VPC, true, false);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        let dns = wanted(&[endpoint("dns", CLUSTER, &[SUBNET_AZ4], "")]);
        let failed = converge(&mut engine, &dns, 400).await;
        let message = &failed.plan.endpoints[0].message;
        assert!(message.contains("enableDnsHostnames"), "{message}");
        cloud.reset_calls();
        for _ in 0..3 {
            engine.pass(&dns, &Frozen::default(), &policy(), true).await;
        }
        assert_eq!(cloud.calls().get("ec2.DescribeVpcAttribute"), Some(&6));
        cloud.set_vpc_dns(VPC, true, true);
        let fixed = engine.pass(&dns, &Frozen::default(), &policy(), true).await;
        assert_eq!(
            fixed.plan.endpoints[0]
                .actions
                .iter()
                .map(|a| a.kind())
                .collect::<Vec<_>>(),
            ["create_vpc_endpoint", "register_connection"]
        );
    });
}
