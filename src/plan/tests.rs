//! The planner, table by table: each case starts from a converged endpoint and changes one
//! observed fact.

use std::collections::{BTreeMap, BTreeSet};

use super::ownership::{self as tags, client_token};
use super::*;
use crate::cloud::{ConnectionState, ModifyEndpoint, Network, ServiceState};
use crate::spec::DeletionPolicy;

const SERVICE: &str = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0";

fn doc(extra: &str) -> EndpointDocument {
    let text = format!(
        "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\nmetadata: {{name: orders}}\nspec:\n  tidbCloud: {{clusterId: \"1\"}}\n  aws:\n    region: us-east-1\n    vpcId: vpc-0a1b2c3d\n    subnetIds: [subnet-0000000a, subnet-0000000b]\n    securityGroupIds: [sg-0000000a]\n{extra}"
    );
    let loaded = crate::yaml::load(&text);
    crate::spec::checker()
        .check(&loaded.documents[0])
        .expect("valid test document")
}

fn endpoint() -> VpcEndpoint {
    VpcEndpoint {
        id: "vpce-0000000a".into(),
        vpc_id: "vpc-0a1b2c3d".into(),
        service_name: SERVICE.into(),
        state: "available".into(),
        private_dns_enabled: true,
        subnet_ids: vec!["subnet-0000000a".into(), "subnet-0000000b".into()],
        security_group_ids: vec!["sg-0000000a".into()],
        tags: BTreeMap::from([
            (tags::OWNER.into(), "me".into()),
            (tags::NAME.into(), "orders".into()),
            (tags::DELETION_POLICY.into(), "Delete".into()),
            (tags::FILE.into(), "orders.yaml".into()),
        ]),
    }
}

fn connection(state: ConnectionState) -> Connection {
    Connection {
        id: "42".into(),
        cluster_id: "1".into(),
        node_group_id: "2".into(),
        endpoint_id: "vpce-0000000a".into(),
        state,
        message: if state == ConnectionState::Failed {
            "rejected by the service".into()
        } else {
            String::new()
        },
        host: "h".into(),
        port: 4000,
    }
}

fn network() -> Network {
    Network {
        vpcs: BTreeMap::from([("vpc-0a1b2c3d".into(), (true, true))]),
        subnets: BTreeMap::from([
            (
                "subnet-0000000a".into(),
                ("vpc-0a1b2c3d".into(), "use1-az1".into()),
            ),
            (
                "subnet-0000000b".into(),
                ("vpc-0a1b2c3d".into(), "use1-az4".into()),
            ),
            (
                "subnet-0000000c".into(),
                ("vpc-0a1b2c3d".into(), "use1-az2".into()),
            ),
            (
                "subnet-0000000d".into(),
                ("vpc-0a1b2c3d".into(), "use1-az1".into()),
            ),
        ]),
        security_groups: BTreeMap::from([("sg-0000000a".into(), "vpc-0a1b2c3d".into())]),
    }
}

/// A converged endpoint: every step done.
fn converged() -> Observed {
    Observed {
        cluster: Some(Ok(Cluster {
            id: "1".into(),
            project_id: "9".into(),
            region: "us-east-1".into(),
            cloud_provider: "aws".into(),
            port: 4000,
            state: crate::cloud::ClusterState::Active,
        })),
        node_group_id: Some("2".into()),
        service: Some(Service {
            state: ServiceState::Active,
            name: SERVICE.into(),
            dns_name: "d".into(),
            available_zones: vec!["use1-az1".into(), "use1-az4".into(), "use1-az6".into()],
        }),
        endpoint: Some(endpoint()),
        connection: Some(connection(ConnectionState::Active)),
        ..Observed::default()
    }
}

fn plan_of(doc: &EndpointDocument, o: &Observed) -> EndpointPlan {
    plan_endpoint(
        &Desired {
            doc,
            file: "orders.yaml",
        },
        o,
        "me",
    )
}

fn kinds(p: &EndpointPlan) -> Vec<&'static str> {
    p.actions.iter().map(Action::kind).collect()
}

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
                    c.cloud_provider = "gcp".into()
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
                    c.region = "eu-west-1".into()
                }
            },
            Phase::Failed,
            &[],
            "does not cross regions: use a VPC in eu-west-1",
        ),
        (
            "service creating",
            "",
            |o| o.service.as_mut().unwrap().state = ServiceState::Creating,
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
                o.connection = Some(connection(ConnectionState::Pending));
                o.endpoint.as_mut().unwrap().state = "pendingAcceptance".into();
            },
            Phase::Initiating,
            &[],
            "verifying",
        ),
        (
            "TiDB discovered",
            "",
            |o| {
                o.connection = Some(connection(ConnectionState::Discovered));
                o.endpoint.as_mut().unwrap().state = "pendingAcceptance".into();
            },
            Phase::Initiating,
            &[],
            "verifying",
        ),
        (
            "accepted in AWS, TiDB Cloud's ACTIVE not seen yet",
            "",
            |o| o.connection = Some(connection(ConnectionState::Pending)),
            Phase::Initiating,
            &[],
            "waiting for TiDB Cloud to show the connection ACTIVE",
        ),
        (
            "accepted in AWS, private DNS goes on before TiDB Cloud says ACTIVE",
            "",
            |o| {
                o.connection = Some(connection(ConnectionState::Pending));
                o.endpoint.as_mut().unwrap().private_dns_enabled = false;
            },
            Phase::Pending,
            &["enable_private_dns"],
            "enabling private DNS",
        ),
        (
            "TiDB failed, retry not due",
            "",
            |o| {
                o.connection = Some(connection(ConnectionState::Failed));
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
                o.connection = Some(connection(ConnectionState::Failed));
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
                    c.state = crate::cloud::ClusterState::Paused
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
                    c.state = crate::cloud::ClusterState::Modifying
                }
            },
            Phase::Active,
            &[],
            "",
        ),
        (
            "service deleting",
            "",
            |o| o.service.as_mut().unwrap().state = ServiceState::Deleting,
            Phase::Deleting,
            &[],
            "private link service is being deleted",
        ),
        (
            "AWS pending acceptance",
            "",
            |o| o.endpoint.as_mut().unwrap().state = "pendingAcceptance".into(),
            Phase::Initiating,
            &[],
            "pendingAcceptance",
        ),
        (
            "AWS rejected",
            "",
            |o| o.endpoint.as_mut().unwrap().state = "rejected".into(),
            Phase::Failed,
            &[],
            "is rejected in AWS",
        ),
        (
            "private DNS not on yet",
            "",
            |o| o.endpoint.as_mut().unwrap().private_dns_enabled = false,
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
                o.endpoint.as_mut().unwrap().subnet_ids.pop();
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
                o.endpoint.as_mut().unwrap().security_group_ids = vec!["sg-0000000b".into()];
                o.network = Some(network().into())
            },
            Phase::Pending,
            &["modify_vpc_endpoint"],
            "correcting",
        ),
        (
            "moved to another VPC",
            "",
            |o| o.endpoint.as_mut().unwrap().vpc_id = "vpc-0f0f0f0f".into(),
            Phase::Deleting,
            &["delete_connection", "delete_vpc_endpoint"],
            "replacing it",
        ),
        (
            "being deleted outside",
            "",
            |o| o.endpoint.as_mut().unwrap().state = "deleting".into(),
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
            "deleting TiDB Cloud connection 42 (of vpce-0000000a): AWS no longer has its VPC endpoint",
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

#[test]
fn subnet_checks_name_the_subnet_its_zone_and_the_allowed_zones() {
    let d = doc("");
    let mut o = converged();
    o.endpoint = None;
    o.network = Some(network().into());
    let mut wrong_zone = d.clone();
    wrong_zone.spec.aws.subnet_ids = vec![
        "subnet-0000000a".try_into().unwrap(),
        "subnet-0000000c".try_into().unwrap(),
    ];
    let p = plan_of(&wrong_zone, &o);
    assert_eq!(p.phase, Phase::Failed);
    assert!(p.message.contains("subnet subnet-0000000c is in availability zone use1-az2, which the cluster's service does not offer (it offers use1-az1, use1-az4, use1-az6)"), "{}", p.message);
    let mut same_zone = d;
    same_zone.spec.aws.subnet_ids = vec![
        "subnet-0000000a".try_into().unwrap(),
        "subnet-0000000d".try_into().unwrap(),
    ];
    let p = plan_of(&same_zone, &o);
    assert!(
        p.message
            .contains("subnets subnet-0000000a and subnet-0000000d are both in use1-az1"),
        "{}",
        p.message
    );
}

#[test]
fn creates_are_interface_endpoints_tagged_for_ownership_with_a_stable_token() {
    let d = doc("");
    let mut o = converged();
    o.endpoint = None;
    o.network = Some(network().into());
    let p = plan_of(&d, &o);
    let Action::CreateVpcEndpoint { request, .. } = &p.actions[0] else {
        panic!("{p:?}")
    };
    assert_eq!(request.tags[tags::OWNER], "me");
    assert_eq!(request.tags[tags::NAME], "orders");
    assert_eq!(request.tags[tags::DELETION_POLICY], "Delete");
    assert_eq!(request.tags[tags::FILE], "orders.yaml");
    assert_eq!(request.service_name, SERVICE);
    let Action::CreateVpcEndpoint { request: again, .. } = &plan_of(&d, &o).actions[0] else {
        panic!()
    };
    assert_eq!(request.client_token, again.client_token);
    let mut other = d.clone();
    other.spec.aws.subnet_ids.pop();
    assert_ne!(
        client_token("me", &d, SERVICE),
        client_token("me", &other, SERVICE)
    );
    assert!(
        request.client_token.len() <= 64,
        "EC2 caps ClientToken at 64 characters"
    );
}

#[test]
fn a_subnet_swap_removes_before_it_adds() {
    let d = doc("");
    let mut o = converged();
    o.network = Some(network().into());
    o.endpoint.as_mut().unwrap().subnet_ids =
        vec!["subnet-0000000a".into(), "subnet-0000000d".into()];
    o.endpoint.as_mut().unwrap().security_group_ids = vec![];
    let p = plan_of(&d, &o);
    let requests: Vec<&ModifyEndpoint> = p
        .actions
        .iter()
        .map(|a| match a {
            Action::ModifyVpcEndpoint { request, .. } => request,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(requests.len(), 2, "{p:?}");
    assert_eq!(requests[0].remove_subnet_ids, ["subnet-0000000d"]);
    assert!(requests[0].add_subnet_ids.is_empty());
    assert_eq!(requests[0].add_security_group_ids, ["sg-0000000a"]);
    assert_eq!(requests[1].add_subnet_ids, ["subnet-0000000b"]);
    assert!(requests[1].remove_subnet_ids.is_empty());
}

fn adoption(adoptee: Option<VpcEndpoint>) -> EndpointPlan {
    let d = doc("    endpointId: vpce-0000000a\n");
    let mut o = converged();
    o.endpoint = None;
    o.adoptee_checked = true;
    o.adoptee = adoptee;
    plan_of(&d, &o)
}

#[test]
fn adoption_tags_an_existing_endpoint_and_never_takes_anothers() {
    let mut untagged = endpoint();
    untagged.tags.clear();
    let p = adoption(Some(untagged));
    assert_eq!(kinds(&p), ["tag"]);
    assert!(adoption(None).message.contains("does not exist"));
    let mut elsewhere = endpoint();
    elsewhere.service_name = "com.amazonaws.vpce.us-east-1.vpce-svc-other".into();
    assert!(
        adoption(Some(elsewhere))
            .message
            .contains("not to the cluster's service")
    );
    let mut theirs = endpoint();
    theirs
        .tags
        .insert(tags::OWNER.into(), "another-host".into());
    let p = adoption(Some(theirs));
    assert_eq!(p.phase, Phase::Failed);
    assert!(p.actions.is_empty());
}

fn leftover(policy: &str, frozen: bool) -> Leftover {
    let mut e = endpoint();
    e.tags.insert(tags::DELETION_POLICY.into(), policy.into());
    Leftover {
        scope: Scope {
            account: "default".into(),
            region: "us-east-1".into(),
        },
        endpoint: e,
        connection: Some(connection(ConnectionState::Active)),
        frozen,
        last_seen: None,
    }
}

fn guard(max: usize, allow: bool, empty: bool) -> Policy {
    Policy {
        owner_id: "me".into(),
        max_deletes_per_pass: max,
        allow_mass_delete: allow,
        source_empty: empty,
        approved: BTreeSet::new(),
    }
}

#[test]
fn removals_follow_the_deletion_policy() {
    let p = plan(&[], &[leftover("Delete", false)], &guard(5, false, false));
    assert_eq!(
        kinds(&p.removals[0]),
        ["delete_connection", "delete_vpc_endpoint"]
    );
    let p = plan(&[], &[leftover("Orphan", false)], &guard(5, false, false));
    let Action::Untag { keys, .. } = &p.removals[0].actions[0] else {
        panic!()
    };
    assert!(keys.iter().all(|k| k.starts_with("privatelinkd.io/")));
    assert!(keys.contains(&tags::OWNER.to_string()));
    let p = plan(&[], &[leftover("Delete", true)], &guard(5, false, false));
    assert!(
        p.removals.is_empty(),
        "an endpoint of an invalid file is frozen"
    );
}

#[test]
fn the_mass_deletion_guard_holds_back_every_departure() {
    let many: Vec<Leftover> = (0..3)
        .map(|i| {
            let mut l = leftover(if i == 0 { "Orphan" } else { "Delete" }, false);
            l.endpoint.id = format!("vpce-0000000{i}");
            l.endpoint.tags.insert(tags::NAME.into(), format!("ep-{i}"));
            l
        })
        .collect();
    let p = plan(&[], &many, &guard(2, false, false));
    assert!(p.deletions_blocked.as_deref().unwrap().contains(
        "3 endpoints would leave management in one pass, more than prune.maxDeletesPerPass (2)"
    ));
    assert_eq!(p.actions().count(), 0);
    assert!(p.removals.iter().all(|r| r.held_by_guard));
    assert_eq!(
        p.held_back(),
        BTreeSet::from([
            "ep-0 vpce-00000000 orphan".to_string(),
            "ep-1 vpce-00000001 delete".to_string(),
            "ep-2 vpce-00000002 delete".to_string(),
        ])
    );
    let p = plan(&[], &many[..1], &guard(5, false, true));
    assert!(
        p.deletions_blocked
            .as_deref()
            .unwrap()
            .contains("empty or missing")
    );
    assert_eq!(p.actions().count(), 0, "orphaning leaves management too");
    let p = plan(&[], &many, &guard(2, true, true));
    assert_eq!(p.deletions_blocked, None);
    assert_eq!(p.actions().count(), 5);
    // An approval releases exactly the set it names, and nothing that appears later.
    let held = plan(&[], &many, &guard(2, false, false)).held_back();
    let mut approved = guard(2, false, false);
    approved.approved = held;
    let p = plan(&[], &many, &approved);
    assert_eq!(p.deletions_blocked, None);
    assert_eq!(p.actions().count(), 5);
    let mut more = many.clone();
    for i in 3..6 {
        let mut l = leftover("Delete", false);
        l.endpoint.id = format!("vpce-0000000{i}");
        l.endpoint.tags.insert(tags::NAME.into(), format!("ep-{i}"));
        more.push(l);
    }
    let p = plan(&[], &more, &approved);
    assert!(p.deletions_blocked.is_some());
    assert_eq!(p.held_back().len(), 3, "only the new three wait");
    assert_eq!(p.actions().count(), 5, "the approved three go");
}

#[test]
fn a_project_that_is_not_the_clusters_is_an_error_at_that_field() {
    let text = "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\nmetadata: {name: orders}\nspec:\n  tidbCloud: {clusterId: \"1\", projectId: \"7\"}\n  aws:\n    region: us-east-1\n    vpcId: vpc-0a1b2c3d\n    subnetIds: [subnet-0000000a, subnet-0000000b]\n";
    let loaded = crate::yaml::load(text);
    let d = crate::spec::checker().check(&loaded.documents[0]).unwrap();
    let p = plan_of(&d, &converged());
    assert_eq!(p.phase, Phase::Failed);
    assert!(p.actions.is_empty());
    assert!(
        p.message
            .contains("spec.tidbCloud.projectId is 7, but cluster 1 belongs to project 9"),
        "{}",
        p.message
    );
}

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
        c.state = ClusterState::Resuming;
    }
    let (s, message) = status(&plan_of(&d, &o), ConditionType::ClusterAvailable);
    assert_eq!(
        (s, message.as_str()),
        (ConditionStatus::False, "cluster 1 is RESUMING")
    );

    let d = doc("  privateDns: false\n");
    let mut o = converged();
    o.endpoint.as_mut().unwrap().private_dns_enabled = false;
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

#[test]
fn the_latest_document_decides_a_removal_not_the_tags() {
    // Created with Delete (the tag), then edited to Orphan (seen, not yet tagged), then removed.
    let mut l = leftover("Delete", false);
    l.last_seen = Some(LastSeen {
        policy: DeletionPolicy::Orphan,
        file: "orders.yaml".into(),
    });
    let p = plan(&[], &[l], &guard(5, false, false));
    assert_eq!(kinds(&p.removals[0]), ["untag"]);
    assert_eq!(
        p.removals[0].leaving.as_ref().unwrap().kind,
        LeaveKind::Orphan
    );
    assert!(
        p.removals[0].message.contains("in place"),
        "{:?}",
        p.removals[0]
    );
}

#[test]
fn tags_follow_the_document_and_hand_edits_are_restored() {
    let d = doc("  deletionPolicy: Orphan\n");
    let mut o = converged();
    let e = o.endpoint.as_mut().unwrap();
    e.tags.insert(tags::FILE.into(), "old/orders.yaml".into());
    e.tags
        .insert(format!("{}team", tags::LABEL_PREFIX), "gone".into());
    let p = plan_of(&d, &o);
    assert_eq!(p.phase, Phase::Active);
    let [
        Action::Tag {
            tags: written,
            purpose: TagPurpose::Correct,
            ..
        },
        Action::Untag {
            keys,
            purpose: TagPurpose::Correct,
            ..
        },
    ] = p.actions.as_slice()
    else {
        panic!("{:?}", p.actions)
    };
    assert_eq!(
        written,
        &BTreeMap::from([
            (tags::DELETION_POLICY.to_string(), "Orphan".to_string()),
            (tags::FILE.to_string(), "orders.yaml".to_string()),
        ])
    );
    assert_eq!(keys, &[format!("{}team", tags::LABEL_PREFIX)]);
    // Once the tags agree, nothing more to do.
    let mut o = converged();
    let e = o.endpoint.as_mut().unwrap();
    e.tags.insert(tags::DELETION_POLICY.into(), "Orphan".into());
    e.tags.insert(tags::FILE.into(), "orders.yaml".into());
    assert!(plan_of(&d, &o).actions.is_empty());
}

#[test]
fn a_replacement_is_a_departure_the_guard_counts() {
    let d = doc("");
    let mut o = converged();
    o.endpoint.as_mut().unwrap().vpc_id = "vpc-0f0f0f0f".into();
    let replaced = plan(
        &[(
            Desired {
                doc: &d,
                file: "orders.yaml",
            },
            o,
        )],
        &[],
        &guard(5, false, true),
    );
    let p = &replaced.endpoints[0];
    assert_eq!(p.leaving.as_ref().unwrap().kind, LeaveKind::Replace);
    assert!(p.held_by_guard && p.actions.is_empty());
}
