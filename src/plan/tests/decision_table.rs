//! The decision table: from a converged endpoint, one observed fact changed per case.

use super::*;
use std::sync::Arc;

/// (case, document extra, change to the converged observation, phase, actions, message words)
type Case = (
    &'static str,
    &'static str,
    fn(&mut Observed),
    Phase,
    &'static [&'static str],
    &'static str,
);

#[test]
fn decision_table() {
    let cases: &[Case] = &[
        ("converged", "", |_| {}, Phase::Active, &[], ""),
        (
            "cluster not found",
            "",
            |o| o.cluster = Some(Err("cluster 1 not found".into())),
            Phase::Failed,
            &[],
            "cluster 1 not found",
        ),
        (
            "cluster on gcp",
            "",
            |o| {
                if let Some(Ok(c)) = &mut o.cluster {
                    Arc::make_mut(c).cloud_provider = "gcp".into()
                }
            },
            Phase::Failed,
            &[],
            "runs on gcp",
        ),
        (
            "other region",
            "",
            |o| {
                if let Some(Ok(c)) = &mut o.cluster {
                    Arc::make_mut(c).region = "eu-west-1".into()
                }
            },
            Phase::Failed,
            &[],
            "do not cross regions: use a network in eu-west-1",
        ),
        (
            "service creating",
            "",
            |o| Arc::make_mut(o.service.as_mut().unwrap()).state = ServiceState::Creating,
            Phase::NotConfigured,
            &[],
            "being created",
        ),
        (
            "cluster not looked up yet",
            "",
            |o| o.cluster = None,
            Phase::NotConfigured,
            &[],
            "waiting",
        ),
        (
            "no endpoint, VPC checked",
            "",
            |o| {
                o.endpoint = None;
                o.connection = None;
                o.network = Some(network().into())
            },
            Phase::NotConfigured,
            &["create_vpc_endpoint", "register_connection"],
            "creating",
        ),
        (
            "no endpoint, VPC not checked yet",
            "",
            |o| {
                o.endpoint = None;
                o.connection = None
            },
            Phase::NotConfigured,
            &[],
            "waiting to check the VPC",
        ),
        (
            "no endpoint, VPC missing",
            "",
            |o| {
                o.endpoint = None;
                o.network = Some(Network::default().into())
            },
            Phase::Failed,
            &[],
            "VPC vpc-0a1b2c3d does not exist",
        ),
        (
            "no endpoint, DNS off in VPC",
            "",
            |o| {
                o.endpoint = None;
                let mut n = network();
                n.vpcs.insert("vpc-0a1b2c3d".into(), (true, false));
                o.network = Some(n.into())
            },
            Phase::Failed,
            &[],
            "enableDnsHostnames",
        ),
        (
            "no endpoint, DNS off but not wanted",
            "  privateDns: false\n",
            |o| {
                o.endpoint = None;
                o.connection = None;
                let mut n = network();
                n.vpcs.insert("vpc-0a1b2c3d".into(), (false, false));
                o.network = Some(n.into())
            },
            Phase::NotConfigured,
            &["create_vpc_endpoint", "register_connection"],
            "",
        ),
        (
            "no endpoint, SG missing",
            "",
            |o| {
                o.endpoint = None;
                let mut n = network();
                n.security_groups.clear();
                o.network = Some(n.into())
            },
            Phase::Failed,
            &[],
            "security group sg-0000000a does not exist",
        ),
        (
            "registered nowhere",
            "",
            |o| o.connection = None,
            Phase::Initiating,
            &["register_connection"],
            "registering",
        ),
        (
            "TiDB verifying, AWS not accepted yet",
            "",
            |o| {
                o.connection = Some(Arc::new(connection(ConnectionState::Pending)));
                o.endpoint.as_mut().unwrap().aws_mut().unwrap().state = "pendingAcceptance".into();
            },
            Phase::Initiating,
            &[],
            "verifying",
        ),
        (
            "TiDB discovered",
            "",
            |o| {
                o.connection = Some(Arc::new(connection(ConnectionState::Discovered)));
                o.endpoint.as_mut().unwrap().aws_mut().unwrap().state = "pendingAcceptance".into();
            },
            Phase::Initiating,
            &[],
            "verifying",
        ),
        (
            "accepted in AWS, TiDB Cloud's ACTIVE not seen yet",
            "",
            |o| o.connection = Some(Arc::new(connection(ConnectionState::Pending))),
            Phase::Initiating,
            &[],
            "waiting for TiDB Cloud to show the connection ACTIVE",
        ),
        (
            "accepted in AWS, private DNS goes on before TiDB Cloud says ACTIVE",
            "",
            |o| {
                o.connection = Some(Arc::new(connection(ConnectionState::Pending)));
                o.endpoint
                    .as_mut()
                    .unwrap()
                    .aws_mut()
                    .unwrap()
                    .private_dns_enabled = false;
            },
            Phase::Pending,
            &["enable_private_dns"],
            "enabling private DNS",
        ),
        (
            "TiDB failed, retry not due",
            "",
            |o| {
                o.connection = Some(Arc::new(connection(ConnectionState::Failed)));
                o.retry = Some(Retry {
                    due: false,
                    next_at: std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000),
                    attempts: 0,
                });
            },
            Phase::Failed,
            &[],
            "FAILED: rejected by the service. Check that the VPC endpoint's account is allowed by the service and its subnets sit in the service's zones; next automatic retry at 2027-01-15T08:00:00Z, or retry now with `privatelinkd retry orders --config FILE`",
        ),
        (
            "TiDB failed, retry due",
            "",
            |o| {
                o.connection = Some(Arc::new(connection(ConnectionState::Failed)));
                o.retry = Some(Retry {
                    due: true,
                    next_at: std::time::UNIX_EPOCH,
                    attempts: 1,
                });
            },
            Phase::Initiating,
            &["delete_connection"],
            "retrying: deleting it to register the endpoint again",
        ),
        (
            "cluster paused",
            "",
            |o| {
                if let Some(Ok(c)) = &mut o.cluster {
                    Arc::make_mut(c).state = crate::cloud::ClusterState::Paused
                }
            },
            Phase::NotConfigured,
            &[],
            "cluster 1 is PAUSED: nothing is done until it is ACTIVE again",
        ),
        (
            "cluster modifying (still serving)",
            "",
            |o| {
                if let Some(Ok(c)) = &mut o.cluster {
                    Arc::make_mut(c).state = crate::cloud::ClusterState::Modifying
                }
            },
            Phase::Active,
            &[],
            "",
        ),
        (
            "service deleting",
            "",
            |o| Arc::make_mut(o.service.as_mut().unwrap()).state = ServiceState::Deleting,
            Phase::Deleting,
            &[],
            "private link service is being deleted",
        ),
        (
            "AWS pending acceptance",
            "",
            |o| o.endpoint.as_mut().unwrap().aws_mut().unwrap().state = "pendingAcceptance".into(),
            Phase::Initiating,
            &[],
            "pendingAcceptance",
        ),
        (
            "AWS rejected",
            "",
            |o| o.endpoint.as_mut().unwrap().aws_mut().unwrap().state = "rejected".into(),
            Phase::Failed,
            &[],
            "is rejected in AWS",
        ),
        (
            "private DNS not on yet",
            "",
            |o| {
                o.endpoint
                    .as_mut()
                    .unwrap()
                    .aws_mut()
                    .unwrap()
                    .private_dns_enabled = false
            },
            Phase::Pending,
            &["enable_private_dns"],
            "enabling private DNS",
        ),
        (
            "private DNS on, unwanted",
            "  privateDns: false\n",
            |_| {},
            Phase::Pending,
            &["enable_private_dns"],
            "disabling private DNS",
        ),
        (
            "a subnet removed by hand",
            "",
            |o| {
                o.endpoint
                    .as_mut()
                    .unwrap()
                    .aws_mut()
                    .unwrap()
                    .subnet_ids
                    .pop();
                o.network = Some(network().into())
            },
            Phase::Pending,
            &["modify_vpc_endpoint"],
            "correcting subnets",
        ),
        (
            "an SG swapped by hand",
            "",
            |o| {
                o.endpoint
                    .as_mut()
                    .unwrap()
                    .aws_mut()
                    .unwrap()
                    .security_group_ids = vec!["sg-0000000b".into()];
                o.network = Some(network().into())
            },
            Phase::Pending,
            &["modify_vpc_endpoint"],
            "correcting",
        ),
        (
            "moved to another VPC",
            "",
            |o| o.endpoint.as_mut().unwrap().aws_mut().unwrap().vpc_id = "vpc-0f0f0f0f".into(),
            Phase::Deleting,
            &["delete_connection", "delete_vpc_endpoint"],
            "replacing it",
        ),
        (
            "being deleted outside",
            "",
            |o| o.endpoint.as_mut().unwrap().aws_mut().unwrap().state = "deleting".into(),
            Phase::Deleting,
            &[],
            "a new one will be created",
        ),
        (
            "suspended and not registered",
            "  suspend: true\n",
            |o| o.connection = None,
            Phase::Initiating,
            &[],
            "suspended",
        ),
        (
            "listing trouble is shown",
            "",
            |o| o.trouble = Some("HTTP 503".into()),
            Phase::Active,
            &[],
            "HTTP 503",
        ),
        (
            "the connection of an endpoint deleted in the console goes, after the replacement",
            "",
            |o| {
                o.endpoint = None;
                o.connection = None;
                o.network = Some(std::sync::Arc::new(network()));
                o.stale_connections = vec![connection(ConnectionState::Active)];
            },
            Phase::NotConfigured,
            &[
                "create_vpc_endpoint",
                "register_connection",
                "delete_connection",
            ],
            "deleting TiDB Cloud connection 42 (of vpce-0000000a): its endpoint is gone from its cloud",
        ),
        (
            "with Orphan it stays, and the message says what to delete",
            "  deletionPolicy: Orphan\n",
            |o| o.stale_connections = vec![connection(ConnectionState::Active)],
            Phase::Active,
            &["tag"], // the policy tag follows the document
            "left in place (deletionPolicy: Orphan): delete it in the TiDB Cloud console",
        ),
        (
            "suspended, a stale connection waits too",
            "  suspend: true\n",
            |o| o.stale_connections = vec![connection(ConnectionState::Active)],
            Phase::Active,
            &[],
            "connection 42",
        ),
    ];
    for (case, extra, change, phase, actions, words) in cases {
        let d = doc(extra);
        let mut o = converged();
        change(&mut o);
        let p = plan_of(&d, &o);
        assert_eq!(p.phase, *phase, "{case}: {p:?}");
        assert_eq!(kinds(&p), *actions, "{case}: {p:?}");
        assert!(
            p.message.contains(words),
            "{case}: {:?} lacks {words:?}",
            p.message
        );
    }
}
