//! A Terraform state as an estate: each `aws_vpc_endpoint` that a
//! `tidbcloud_dedicated_private_endpoint_connection` of the state registers, with that
//! connection, as if the clouds had been listed; what does not pair up is reported here.
//!
//! The state knows an AWS account by its number, the config by a name (`aws.accounts`): an
//! account whose `roleArn` names that number is the one; anything else is `default` (the
//! ambient credentials), which the document then omits.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::cloud::{
    CloudEndpoint, Cluster, ClusterState, Connection, ConnectionState, EndpointState, Scope,
    Service, ServiceState, VpcEndpoint,
};

use super::terraform::{TerraformEstate, TfConnection, join};
use super::{Estate, Finding, Offered};

/// The estate in `state`, and what in it does not pair up. `clusters`: what TiDB Cloud said of
/// the clusters the state names (their names); `accounts`: AWS account number -> config name.
pub fn estate_of(
    state: &TerraformEstate,
    clusters: &BTreeMap<String, Arc<Cluster>>,
    accounts: &BTreeMap<String, String>,
) -> (Estate, Vec<Finding>) {
    let joined = join(state);
    let mut estate = Estate::default();
    let mut findings = Vec::new();
    for pair in &joined.pairs {
        let e = pair.endpoint;
        let Some(c) = pair.connections.first() else {
            findings.push(Finding {
                id: e.id.clone(),
                cluster_id: String::new(),
                why: format!(
                    "{}: no tidbcloud_dedicated_private_endpoint_connection in the state registers it (not TiDB Cloud's, or registered elsewhere)",
                    e.address
                ),
                hint: None,
            });
            continue;
        };
        let Some(region) = e.region.clone() else {
            findings.push(Finding {
                id: e.id.clone(),
                cluster_id: c.cluster_id.clone(),
                why: format!(
                    "{}: the state says no region (no `arn` or `region`)",
                    e.address
                ),
                hint: None,
            });
            continue;
        };
        let account = e
            .account_id
            .as_ref()
            .and_then(|id| accounts.get(id))
            .cloned()
            .unwrap_or_else(|| "default".to_string());
        let cluster = clusters
            .get(&c.cluster_id)
            .cloned()
            .unwrap_or_else(|| Arc::new(unnamed_cluster(c, &region)));
        estate.offered.push(Offered {
            cluster,
            node_group_id: c.node_group_id.clone(),
            service: Service {
                state: ServiceState::Active,
                name: e.service_name.clone(),
                dns_name: String::new(),
                available_zones: Vec::new(),
            },
        });
        estate.connections.push(connection(c));
        let endpoint = VpcEndpoint {
            id: e.id.clone(),
            vpc_id: e.vpc_id.clone(),
            service_name: e.service_name.clone(),
            state: EndpointState::Available,
            private_dns_enabled: e.private_dns_enabled,
            subnet_ids: e.subnet_ids.clone(),
            security_group_ids: e.security_group_ids.clone(),
            tags: e.tags.clone(),
        };
        let scope = Scope::aws(account, region);
        estate.covered.push(scope.clone());
        estate.endpoints.push((scope, CloudEndpoint::Aws(endpoint)));
        for extra in pair.connections.iter().skip(1) {
            findings.push(Finding {
                id: e.id.clone(),
                cluster_id: extra.cluster_id.clone(),
                why: format!(
                    "{} registers it too: only {} is imported",
                    extra.address, c.address
                ),
                hint: None,
            });
        }
    }
    for c in &joined.unjoined {
        findings.push(Finding {
            id: c.connection_id.clone().unwrap_or_else(|| c.address.clone()),
            cluster_id: c.cluster_id.clone(),
            why: format!(
                "{} registers endpoint {}, which the state does not hold",
                c.address, c.endpoint_id
            ),
            hint: None,
        });
    }
    estate.covered.sort();
    estate.covered.dedup();
    (estate, findings)
}

/// A cluster TiDB Cloud did not describe: its ID names the documents.
fn unnamed_cluster(c: &TfConnection, region: &str) -> Cluster {
    Cluster {
        id: c.cluster_id.clone(),
        name: String::new(),
        project_id: String::new(),
        region: region.to_string(),
        cloud_provider: c.cloud_provider.clone().unwrap_or_else(|| "aws".into()),
        port: 4000,
        state: ClusterState::Active,
    }
}

fn connection(c: &TfConnection) -> Connection {
    let state = match c.state.as_deref().map(str::to_ascii_uppercase).as_deref() {
        Some("FAILED") => ConnectionState::Failed,
        Some("PENDING") => ConnectionState::Pending,
        Some("DELETING") => ConnectionState::Deleting,
        Some("DISCOVERED") => ConnectionState::Discovered,
        _ => ConnectionState::Active,
    };
    Connection {
        id: c.connection_id.clone().unwrap_or_default(),
        cluster_id: c.cluster_id.clone(),
        node_group_id: c.node_group_id.clone(),
        endpoint_id: c.endpoint_id.clone(),
        state,
        message: String::new(),
        host: String::new(),
        port: 0,
    }
}
