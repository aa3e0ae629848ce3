//! The planner, table by table: each case starts from a converged endpoint and changes one
//! observed fact. The fixtures are here, the cases one topic a file under `tests/`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::ownership::{self as tags, client_token};
use super::*;
use crate::cloud::{ConnectionState, ModifyEndpoint, Network, ServiceState, VpcEndpoint};
use crate::spec::DeletionPolicy;

mod conditions;
mod decision_table;
mod ownership;
mod placement;
mod removals;
mod rules;

const SERVICE: &str = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0";

pub(crate) fn doc(extra: &str) -> EndpointDocument {
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

pub(crate) fn connection(state: ConnectionState) -> Connection {
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
pub(crate) fn converged() -> Observed {
    Observed {
        cluster: Some(Ok(Arc::new(Cluster {
            id: "1".into(),
            name: "orders".into(),
            project_id: "9".into(),
            region: "us-east-1".into(),
            cloud_provider: "aws".into(),
            port: 4000,
            state: crate::cloud::ClusterState::Active,
        }))),
        node_group_id: Some("2".into()),
        service: Some(Arc::new(Service {
            state: ServiceState::Active,
            name: SERVICE.into(),
            dns_name: "d".into(),
            available_zones: vec!["use1-az1".into(), "use1-az4".into(), "use1-az6".into()],
        })),
        endpoint: Some(endpoint().into()),
        connection: Some(Arc::new(connection(ConnectionState::Active))),
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
