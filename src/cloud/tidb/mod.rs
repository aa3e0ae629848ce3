//! TiDB Cloud Dedicated API v1beta1: the wire format and the client.
//!
//! The JSON types here follow the official OpenAPI spec
//! (`shared/reference/tidbcloud-dedicated-v1beta1.swagger.json`); the client reads them and
//! the fake server (the `fake-tidbcloud` workspace member) writes them, and its tests validate
//! its answers against the spec's own schemas, so client, fake and spec cannot drift apart
//! silently.

pub mod client;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cloud::{
    Cluster, ClusterState, Connection, ConnectionState, NodeGroup, Service, ServiceState,
};

/// `tidb_cloud_open_apidedicatedv1beta1Cluster`, the fields we use and those the spec requires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireCluster {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default)]
    pub cluster_id: String,
    #[serde(default)]
    pub display_name: String,
    /// `{cloud_provider}-{region_code}`, e.g. `aws-us-east-1`.
    pub region_id: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub tidb_node_setting: serde_json::Value,
    #[serde(default)]
    pub tikv_node_setting: serde_json::Value,
    #[serde(default)]
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_provider: Option<String>,
}

/// The label that names a cluster's project.
pub const PROJECT_LABEL: &str = "tidb.cloud/project";

impl WireCluster {
    pub fn to_domain(&self) -> Cluster {
        let provider = self.cloud_provider.clone().unwrap_or_else(|| {
            self.region_id
                .split('-')
                .next()
                .unwrap_or_default()
                .to_string()
        });
        let region = self
            .region_id
            .strip_prefix(&format!("{provider}-"))
            .unwrap_or(&self.region_id)
            .to_string();
        Cluster {
            id: self.cluster_id.clone(),
            name: self.display_name.clone(),
            project_id: self.labels.get(PROJECT_LABEL).cloned().unwrap_or_default(),
            region,
            cloud_provider: provider,
            port: self.port,
            // A state this version does not know is taken as serving: better to try and be
            // told no than to stop managing a cluster over a new word.
            state: self
                .state
                .as_deref()
                .and_then(ClusterState::parse)
                .unwrap_or(ClusterState::Active),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireNodeGroup {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub tidb_node_group_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    pub node_count: i32,
    #[serde(default)]
    pub is_default_group: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireNodeGroupList {
    #[serde(default)]
    pub tidb_node_groups: Vec<WireNodeGroup>,
    #[serde(default)]
    pub total_size: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireService {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub tidb_node_group_id: String,
    #[serde(default)]
    pub service_name: String,
    #[serde(default)]
    pub service_dns_name: String,
    #[serde(default)]
    pub available_zones: Vec<String>,
    pub state: String,
    #[serde(default)]
    pub region_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_provider: Option<String>,
}

impl WireService {
    pub fn to_domain(&self) -> Result<Service, String> {
        let state = match self.state.as_str() {
            "CREATING" => ServiceState::Creating,
            "ACTIVE" => ServiceState::Active,
            "DELETING" => ServiceState::Deleting,
            other => return Err(format!("unknown private link service state {other:?}")),
        };
        Ok(Service {
            state,
            name: self.service_name.clone(),
            dns_name: self.service_dns_name.clone(),
            available_zones: self.available_zones.clone(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireConnection {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub tidb_node_group_id: String,
    #[serde(default)]
    pub private_endpoint_connection_id: String,
    #[serde(default)]
    pub cluster_id: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub endpoint_id: String,
    /// Azure only: the private endpoint's IP, as it was registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_state: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub region_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_provider: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub private_link_service_name: String,
    /// Google Cloud only: the consumer project of the Private Service Connect endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub port: u16,
}

impl WireConnection {
    pub fn to_domain(&self) -> Result<Connection, String> {
        let state = match self.endpoint_state.as_deref().unwrap_or("PENDING") {
            "PENDING" => ConnectionState::Pending,
            "ACTIVE" => ConnectionState::Active,
            "DELETING" => ConnectionState::Deleting,
            "FAILED" => ConnectionState::Failed,
            "DISCOVERED" => ConnectionState::Discovered,
            other => return Err(format!("unknown endpoint state {other:?}")),
        };
        Ok(Connection {
            id: self.private_endpoint_connection_id.clone(),
            cluster_id: self.cluster_id.clone(),
            node_group_id: self.tidb_node_group_id.clone(),
            endpoint_id: self.endpoint_id.clone(),
            state,
            message: self.message.clone(),
            host: self.host.clone(),
            port: self.port,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireClusterList {
    #[serde(default)]
    pub clusters: Vec<WireCluster>,
    #[serde(default)]
    pub total_size: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireConnectionList {
    #[serde(default)]
    pub private_endpoint_connections: Vec<WireConnection>,
    #[serde(default)]
    pub total_size: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// `googlerpcStatus`: the body of every error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireStatus {
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub details: Vec<serde_json::Value>,
}

/// The state names of the spec, from ours.
pub fn service_state_name(state: ServiceState) -> &'static str {
    match state {
        ServiceState::Creating => "CREATING",
        ServiceState::Active => "ACTIVE",
        ServiceState::Deleting => "DELETING",
    }
}

pub fn connection_state_name(state: ConnectionState) -> &'static str {
    match state {
        ConnectionState::Pending => "PENDING",
        ConnectionState::Active => "ACTIVE",
        ConnectionState::Deleting => "DELETING",
        ConnectionState::Failed => "FAILED",
        ConnectionState::Discovered => "DISCOVERED",
    }
}

impl From<&NodeGroup> for WireNodeGroup {
    fn from(g: &NodeGroup) -> Self {
        WireNodeGroup {
            name: format!("tidbNodeGroups/{}", g.id),
            tidb_node_group_id: g.id.clone(),
            cluster_id: String::new(),
            display_name: if g.is_default {
                "DefaultGroup".into()
            } else {
                format!("group-{}", g.id)
            },
            node_count: 2,
            is_default_group: g.is_default,
            state: Some("ACTIVE".into()),
        }
    }
}

impl WireNodeGroup {
    pub fn to_domain(&self) -> NodeGroup {
        NodeGroup {
            id: self.tidb_node_group_id.clone(),
            is_default: self.is_default_group,
        }
    }
}
