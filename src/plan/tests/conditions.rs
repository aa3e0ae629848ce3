//! The conditions: whether people can connect, and why not.

use super::*;
use std::sync::Arc;

#[test]
fn conditions_say_whether_people_can_connect() {
    use crate::cloud::{ClusterState, Firewall, IngressRule, SecurityGroup};
    let status = |p: &EndpointPlan, kind: ConditionType| {
        let c = p.conditions.iter().find(|c| c.kind == kind).unwrap();
        (c.status, c.message.clone())
    };
    let firewall = |rule: IngressRule| {
        std::sync::Arc::new(Firewall {
            groups: BTreeMap::from([(
                "sg-0000000a".into(),
                SecurityGroup {
                    vpc_id: "vpc-0a1b2c3d".into(),
                    ingress: vec![rule],
                },
            )]),
            vpc_cidrs: BTreeMap::from([("vpc-0a1b2c3d".into(), vec!["10.0.0.0/16".into()])]),
        })
    };
    let tcp = |from: u16, to: u16, source: &str| IngressRule {
        protocol: "tcp".into(),
        from_port: Some(from),
        to_port: Some(to),
        cidrs: if source.starts_with("sg-") {
            vec![]
        } else {
            vec![source.into()]
        },
        groups: if source.starts_with("sg-") {
            vec![source.into()]
        } else {
            vec![]
        },
        prefix_lists: vec![],
    };
    let d = doc("");
    let mut o = converged();
    o.firewall = Some(firewall(tcp(4000, 4000, "10.0.0.0/8")));
    let p = plan_of(&d, &o);
    assert_eq!(
        status(&p, ConditionType::PortAllowed).0,
        ConditionStatus::True
    );
    assert_eq!(
        status(&p, ConditionType::ClusterAvailable).0,
        ConditionStatus::True
    );
    assert_eq!(
        status(&p, ConditionType::PrivateDnsReady).0,
        ConditionStatus::True
    );
    assert!(
        !p.conditions
            .iter()
            .any(|c| c.kind == ConditionType::Reachable),
        "no probe, no condition"
    );

    o.firewall = Some(firewall(tcp(22, 22, "10.0.0.0/16")));
    let (s, message) = status(&plan_of(&d, &o), ConditionType::PortAllowed);
    assert_eq!(s, ConditionStatus::False);
    assert_eq!(
        message,
        "none of the endpoint's security groups (sg-0000000a) allows inbound TCP 4000 from the VPC's CIDR (10.0.0.0/16): add an inbound rule to sg-0000000a: TCP, port 4000, source 10.0.0.0/16"
    );
    o.firewall = Some(firewall(tcp(4000, 4000, "sg-0000000b")));
    let (s, message) = status(&plan_of(&d, &o), ConditionType::PortAllowed);
    assert_eq!(s, ConditionStatus::Unknown);
    assert!(
        message.contains("from sg-0000000b, which privatelinkd cannot resolve"),
        "{message}"
    );
    o.firewall = Some(firewall(tcp(3000, 5000, "10.0.1.0/24")));
    assert_eq!(
        status(&plan_of(&d, &o), ConditionType::PortAllowed).0,
        ConditionStatus::Unknown
    );
    o.firewall = Some(firewall(IngressRule {
        protocol: "-1".into(),
        cidrs: vec!["0.0.0.0/0".into()],
        ..IngressRule::default()
    }));
    assert_eq!(
        status(&plan_of(&d, &o), ConditionType::PortAllowed).0,
        ConditionStatus::True
    );

    if let Some(Ok(c)) = &mut o.cluster {
        Arc::make_mut(c).state = ClusterState::Resuming;
    }
    let (s, message) = status(&plan_of(&d, &o), ConditionType::ClusterAvailable);
    assert_eq!(
        (s, message.as_str()),
        (ConditionStatus::False, "cluster 1 is RESUMING")
    );

    let d = doc("  privateDns: false\n");
    let mut o = converged();
    o.endpoint
        .as_mut()
        .unwrap()
        .aws_mut()
        .unwrap()
        .private_dns_enabled = false;
    assert_eq!(
        status(&plan_of(&d, &o), ConditionType::PrivateDnsReady).0,
        ConditionStatus::False
    );
    o.probe = Some(ProbeResult::Failed {
        why: "connecting to 10.0.0.5:4000 timed out".into(),
    });
    let (s, message) = status(&plan_of(&d, &o), ConditionType::Reachable);
    assert_eq!(s, ConditionStatus::False);
    assert_eq!(message, "connecting to 10.0.0.5:4000 timed out");
}
