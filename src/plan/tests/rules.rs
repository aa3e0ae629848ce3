//! The rows of the decision table (`endpoint.rs`'s `RULES`): each named once, and each reached
//! by the case named after it, so that no row is shadowed by one above it.

use super::*;
use crate::plan::endpoint::{deciding_rule, rule_names};
use std::sync::Arc;

/// (rule, change to the converged document and observation)
type Case = (&'static str, fn(&mut EndpointDocument, &mut Observed));

fn adopting(d: &mut EndpointDocument, o: &mut Observed) {
    d.spec.aws_mut().unwrap().endpoint_id = Some("vpce-0000000a".try_into().unwrap());
    o.endpoint = None;
    o.adoptee_checked = true;
    o.adoptee = Some(endpoint().into());
}

fn no_endpoint(o: &mut Observed) {
    o.endpoint = None;
    o.connection = None;
}

/// The document for Google Cloud, its cluster there, nothing made yet.
fn on_gcp(d: &mut EndpointDocument, o: &mut Observed) {
    use crate::spec::{GcpSide, Side};
    d.spec.side = Side::Gcp(GcpSide {
        project: "my-project".try_into().unwrap(),
        region: "us-central1".try_into().unwrap(),
        network: "prod-vpc".try_into().unwrap(),
        subnetwork: "prod-us-central1".try_into().unwrap(),
        address: None,
        global_access: false,
        endpoint_name: None,
        adopt: false,
    });
    if let Some(Ok(c)) = &mut o.cluster {
        let c = Arc::make_mut(c);
        c.cloud_provider = "gcp".into();
        c.region = "us-central1".into();
    }
    no_endpoint(o);
}

/// The document for Azure, its cluster there, nothing made yet.
fn on_azure(d: &mut EndpointDocument, o: &mut Observed) {
    use crate::spec::{AzureSide, Side};
    d.spec.side = Side::Azure(AzureSide {
        subscription_id: "00000000-0000-0000-0000-000000000001".try_into().unwrap(),
        resource_group: "prod-network".try_into().unwrap(),
        location: "eastus2".try_into().unwrap(),
        subnet_id: None,
        virtual_network: Some("prod".try_into().unwrap()),
        subnet: Some("db".try_into().unwrap()),
        endpoint_name: None,
        adopt: false,
        adopted_id: None,
    });
    if let Some(Ok(c)) = &mut o.cluster {
        let c = Arc::make_mut(c);
        c.cloud_provider = "azure".into();
        c.region = "eastus2".into();
    }
    no_endpoint(o);
}

fn gcp_place(network_exists: bool) -> Arc<crate::cloud::gcp::Placement> {
    Arc::new(crate::cloud::gcp::Placement {
        network_exists,
        subnetwork: Some(crate::cloud::gcp::Subnetwork {
            name: "prod-us-central1".into(),
            network: "prod-vpc".into(),
            region: "us-central1".into(),
            ip_cidr_range: "10.8.0.0/20".into(),
        }),
        firewalls: Vec::new(),
    })
}

#[test]
fn every_rule_is_named_once_and_reached_by_its_case() {
    let cases: &[Case] = &[
        ("cluster not looked up yet", |_, o| o.cluster = None),
        ("cluster lookup failed", |_, o| {
            o.cluster = Some(Err("cluster 1 not found".into()))
        }),
        ("cluster on another cloud", |_, o| {
            if let Some(Ok(c)) = &mut o.cluster {
                Arc::make_mut(c).cloud_provider = "gcp".into()
            }
        }),
        ("cluster in another region", |_, o| {
            if let Some(Ok(c)) = &mut o.cluster {
                Arc::make_mut(c).region = "eu-west-1".into()
            }
        }),
        ("cluster in another project", |d, _| {
            d.spec.tidb_cloud.project_id = Some("7".try_into().unwrap())
        }),
        ("cluster not serving", |_, o| {
            if let Some(Ok(c)) = &mut o.cluster {
                Arc::make_mut(c).state = crate::cloud::ClusterState::Paused
            }
        }),
        ("node group not looked up yet", |_, o| {
            o.node_group_id = None
        }),
        ("service not looked up yet", |_, o| o.service = None),
        ("service being created, placement fails", |_, o| {
            no_endpoint(o);
            Arc::make_mut(o.service.as_mut().unwrap()).state = ServiceState::Creating;
            o.network = Some(Network::default().into());
        }),
        ("service being created", |_, o| {
            Arc::make_mut(o.service.as_mut().unwrap()).state = ServiceState::Creating
        }),
        ("service being deleted", |_, o| {
            Arc::make_mut(o.service.as_mut().unwrap()).state = ServiceState::Deleting
        }),
        ("adoptee not looked up yet", |d, o| {
            adopting(d, o);
            o.adoptee_checked = false;
        }),
        ("adoptee missing", |d, o| {
            adopting(d, o);
            o.adoptee = None;
        }),
        ("adoptee on another service", |d, o| {
            adopting(d, o);
            o.adoptee.as_mut().unwrap().aws_mut().unwrap().service_name =
                "com.amazonaws.vpce.other".into();
        }),
        ("adoptee owned by another instance", |d, o| {
            adopting(d, o);
            let tags = &mut o.adoptee.as_mut().unwrap().aws_mut().unwrap().tags;
            tags.insert(tags::OWNER.into(), "them".into());
        }),
        ("adopt", adopting),
        ("placement fails before a create", |_, o| {
            no_endpoint(o);
            o.network = Some(Network::default().into());
        }),
        ("VPC not checked before a create", |_, o| no_endpoint(o)),
        ("create", |_, o| {
            no_endpoint(o);
            o.network = Some(network().into());
        }),
        ("network fails before a create", |d, o| {
            on_gcp(d, o);
            o.gcp_place = Some(gcp_place(false));
        }),
        ("network not checked before a create", on_gcp),
        ("create, or finish creating, on Google Cloud", |d, o| {
            on_gcp(d, o);
            o.gcp_place = Some(gcp_place(true));
        }),
        ("subnet fails before a create", |d, o| {
            on_azure(d, o);
            o.azure_subnet_checked = true;
        }),
        ("subnet not checked before a create", on_azure),
        ("create on Azure", |d, o| {
            on_azure(d, o);
            o.azure_subnet_checked = true;
            o.azure_subnet = Some(Arc::new(crate::cloud::azure::Subnet {
                id: "s".into(),
                address_prefixes: vec!["10.9.0.0/24".into()],
            }));
        }),
        ("endpoint broken in its cloud", |_, o| {
            o.endpoint.as_mut().unwrap().aws_mut().unwrap().state = "rejected".into()
        }),
        ("endpoint being deleted", |_, o| {
            o.endpoint.as_mut().unwrap().aws_mut().unwrap().state = "deleting".into()
        }),
        ("adopted endpoint moved", |d, o| {
            d.spec.aws_mut().unwrap().endpoint_id = Some("vpce-0000000a".try_into().unwrap());
            o.endpoint.as_mut().unwrap().aws_mut().unwrap().vpc_id = "vpc-0f0f0f0f".into();
        }),
        ("endpoint moved", |_, o| {
            o.endpoint.as_mut().unwrap().aws_mut().unwrap().vpc_id = "vpc-0f0f0f0f".into()
        }),
        ("drift correction fails placement", |_, o| {
            o.endpoint
                .as_mut()
                .unwrap()
                .aws_mut()
                .unwrap()
                .subnet_ids
                .pop();
            o.network = Some(Network::default().into());
        }),
        ("VPC not checked before correcting drift", |_, o| {
            o.endpoint
                .as_mut()
                .unwrap()
                .aws_mut()
                .unwrap()
                .subnet_ids
                .pop();
        }),
        ("not registered", |_, o| o.connection = None),
        ("connection failed, retry due", |_, o| {
            o.connection = Some(Arc::new(connection(ConnectionState::Failed)));
            o.retry = Some(Retry {
                due: true,
                next_at: std::time::UNIX_EPOCH,
                attempts: 1,
            });
        }),
        ("connection failed", |_, o| {
            o.connection = Some(Arc::new(connection(ConnectionState::Failed)))
        }),
        ("connection being deleted", |_, o| {
            o.connection = Some(Arc::new(connection(ConnectionState::Deleting)))
        }),
        ("TiDB Cloud verifying", |_, o| {
            o.connection = Some(Arc::new(connection(ConnectionState::Pending)));
            o.endpoint.as_mut().unwrap().aws_mut().unwrap().state = "pendingAcceptance".into();
        }),
        ("AWS applying a change", |_, o| {
            o.endpoint.as_mut().unwrap().aws_mut().unwrap().state = "pending".into()
        }),
        ("the cloud accepting", |_, o| {
            o.endpoint.as_mut().unwrap().aws_mut().unwrap().state = "pendingAcceptance".into()
        }),
        ("private DNS blocked by the VPC", |_, o| {
            o.endpoint
                .as_mut()
                .unwrap()
                .aws_mut()
                .unwrap()
                .private_dns_enabled = false;
            let mut n = network();
            n.vpcs.insert("vpc-0a1b2c3d".into(), (true, false));
            o.network = Some(n.into());
        }),
        ("private DNS to change", |_, o| {
            o.endpoint
                .as_mut()
                .unwrap()
                .aws_mut()
                .unwrap()
                .private_dns_enabled = false
        }),
        ("drift to correct", |_, o| {
            o.endpoint
                .as_mut()
                .unwrap()
                .aws_mut()
                .unwrap()
                .subnet_ids
                .pop();
            o.network = Some(network().into());
        }),
        ("TiDB Cloud's ACTIVE not seen yet", |_, o| {
            o.connection = Some(Arc::new(connection(ConnectionState::Pending)))
        }),
    ];
    let names: Vec<&str> = rule_names().collect();
    let once: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(once.len(), names.len(), "a name is used twice: {names:?}");
    let covered: Vec<&str> = cases.iter().map(|(rule, _)| *rule).collect();
    assert_eq!(covered, names, "one case per rule, in the table's order");
    for (rule, change) in cases {
        let mut d = doc("");
        let mut o = converged();
        change(&mut d, &mut o);
        let desired = Desired {
            doc: &d,
            file: "orders.yaml",
        };
        assert_eq!(deciding_rule(&desired, &o, "me"), Some(*rule), "{o:?}");
    }
    let d = doc("");
    let converged_one = Desired {
        doc: &d,
        file: "orders.yaml",
    };
    assert_eq!(deciding_rule(&converged_one, &converged(), "me"), None);
}
