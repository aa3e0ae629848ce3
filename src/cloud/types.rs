//! What the providers show us, in our words: the observed types and the requests we send.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One page of a listing, and the token of the next page if there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// A TiDB Cloud Dedicated cluster, as far as private endpoints care.
#[derive(Debug, Clone, PartialEq, Hash, Serialize, Deserialize)]
pub struct Cluster {
    pub id: String,
    /// `displayName`: what people call it (`import` names documents after it).
    #[serde(default)]
    pub name: String,
    pub project_id: String,
    /// The AWS region code (`us-east-1`), taken from TiDB's `regionId` (`aws-us-east-1`).
    pub region: String,
    /// `aws`, `gcp` or `azure`.
    pub cloud_provider: String,
    pub port: u16,
    pub state: ClusterState,
}

/// A cluster's state, as the API's `commonv1beta1ClusterState` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClusterState {
    Creating,
    Deleting,
    Active,
    Restoring,
    Maintenance,
    Deleted,
    Inactive,
    Upgrading,
    Importing,
    Modifying,
    Pausing,
    Paused,
    Resuming,
}

impl ClusterState {
    pub const ALL: [ClusterState; 13] = [
        ClusterState::Creating,
        ClusterState::Deleting,
        ClusterState::Active,
        ClusterState::Restoring,
        ClusterState::Maintenance,
        ClusterState::Deleted,
        ClusterState::Inactive,
        ClusterState::Upgrading,
        ClusterState::Importing,
        ClusterState::Modifying,
        ClusterState::Pausing,
        ClusterState::Paused,
        ClusterState::Resuming,
    ];

    /// The API's name (`PAUSED`).
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterState::Creating => "CREATING",
            ClusterState::Deleting => "DELETING",
            ClusterState::Active => "ACTIVE",
            ClusterState::Restoring => "RESTORING",
            ClusterState::Maintenance => "MAINTENANCE",
            ClusterState::Deleted => "DELETED",
            ClusterState::Inactive => "INACTIVE",
            ClusterState::Upgrading => "UPGRADING",
            ClusterState::Importing => "IMPORTING",
            ClusterState::Modifying => "MODIFYING",
            ClusterState::Pausing => "PAUSING",
            ClusterState::Paused => "PAUSED",
            ClusterState::Resuming => "RESUMING",
        }
    }

    pub fn parse(name: &str) -> Option<ClusterState> {
        ClusterState::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Serving: a private endpoint to it can be registered and used. A cluster that is paused,
    /// on its way into or out of a pause, being created or going away is not.
    pub fn is_available(self) -> bool {
        matches!(
            self,
            ClusterState::Active
                | ClusterState::Modifying
                | ClusterState::Upgrading
                | ClusterState::Importing
                | ClusterState::Maintenance
                | ClusterState::Restoring
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeGroup {
    pub id: String,
    pub is_default: bool,
}

/// A private link service's state, as the status file and the metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub enum ServiceState {
    Creating,
    Active,
    Deleting,
}

impl ServiceState {
    pub const ALL: [ServiceState; 3] = [
        ServiceState::Creating,
        ServiceState::Active,
        ServiceState::Deleting,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Creating => "Creating",
            ServiceState::Active => "Active",
            ServiceState::Deleting => "Deleting",
        }
    }
}

/// A node group's private link service (an AWS endpoint service owned by TiDB Cloud).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub state: ServiceState,
    pub name: String,
    pub dns_name: String,
    /// AZ IDs (`use1-az1`), not names.
    pub available_zones: Vec<String>,
}

/// TiDB Cloud's `endpointState` of a private endpoint connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectionState {
    Pending,
    Active,
    Deleting,
    Failed,
    Discovered,
}

impl ConnectionState {
    /// The API's name (`ACTIVE`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Pending => "PENDING",
            ConnectionState::Active => "ACTIVE",
            ConnectionState::Deleting => "DELETING",
            ConnectionState::Failed => "FAILED",
            ConnectionState::Discovered => "DISCOVERED",
        }
    }
}

/// A private endpoint connection: TiDB Cloud's record of our VPC endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub id: String,
    pub cluster_id: String,
    pub node_group_id: String,
    pub endpoint_id: String,
    pub state: ConnectionState,
    /// Why it is FAILED, in TiDB Cloud's words.
    pub message: String,
    pub host: String,
    pub port: u16,
}

/// An AWS interface endpoint as DescribeVpcEndpoints shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "camelCase")]
pub struct VpcEndpoint {
    pub id: String,
    pub vpc_id: String,
    pub service_name: String,
    pub state: EndpointState,
    pub private_dns_enabled: bool,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

impl VpcEndpoint {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }
}

/// AWS's side of the seam: marks are tags, the service is the endpoint service's name.
impl super::ConsumerEndpoint for VpcEndpoint {
    fn id(&self) -> &str {
        &self.id
    }

    fn lifecycle(&self) -> super::Lifecycle {
        self.state.lifecycle()
    }

    fn mark(&self, key: &str) -> Option<&str> {
        self.tag(key)
    }

    fn mark_keys(&self) -> impl Iterator<Item = &str> {
        let ours = |k: &&String| k.starts_with(super::consumer::MARK_PREFIX);
        self.tags.keys().filter(ours).map(String::as_str)
    }

    fn service(&self) -> &str {
        &self.service_name
    }
}

/// An interface endpoint's state, in EC2's lowercase camelCase (`pendingAcceptance`).
///
/// Read from EC2's own text, not from the SDK's enum: the Rust SDK parses these lowercase
/// names as `Unknown`. A state this version does not know is kept as EC2 wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EndpointState {
    PendingAcceptance,
    Pending,
    Available,
    Deleting,
    Deleted,
    Rejected,
    Failed,
    Expired,
    Partial,
    #[serde(untagged)]
    Other(String),
}

impl EndpointState {
    const KNOWN: [EndpointState; 9] = [
        EndpointState::PendingAcceptance,
        EndpointState::Pending,
        EndpointState::Available,
        EndpointState::Deleting,
        EndpointState::Deleted,
        EndpointState::Rejected,
        EndpointState::Failed,
        EndpointState::Expired,
        EndpointState::Partial,
    ];

    /// EC2's name, any case: the API sends `pendingAcceptance`, its documentation and
    /// older responses `PendingAcceptance`.
    pub fn parse(name: &str) -> EndpointState {
        EndpointState::KNOWN
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
            .unwrap_or_else(|| EndpointState::Other(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        match self {
            EndpointState::PendingAcceptance => "pendingAcceptance",
            EndpointState::Pending => "pending",
            EndpointState::Available => "available",
            EndpointState::Deleting => "deleting",
            EndpointState::Deleted => "deleted",
            EndpointState::Rejected => "rejected",
            EndpointState::Failed => "failed",
            EndpointState::Expired => "expired",
            EndpointState::Partial => "partial",
            EndpointState::Other(name) => name,
        }
    }

    /// Deleting or deleted: going away whatever anyone does.
    pub fn is_going(&self) -> bool {
        self.lifecycle() == super::Lifecycle::Going
    }

    /// EC2's states in the words every cloud's map onto.
    pub fn lifecycle(&self) -> super::Lifecycle {
        use super::Lifecycle;
        match self {
            EndpointState::Pending => Lifecycle::Creating,
            EndpointState::PendingAcceptance => Lifecycle::AwaitingAcceptance,
            EndpointState::Available => Lifecycle::Available,
            EndpointState::Deleting | EndpointState::Deleted => Lifecycle::Going,
            EndpointState::Rejected | EndpointState::Failed | EndpointState::Expired => {
                Lifecycle::Broken
            }
            EndpointState::Partial | EndpointState::Other(_) => Lifecycle::Unknown,
        }
    }
}

impl From<&str> for EndpointState {
    fn from(name: &str) -> EndpointState {
        EndpointState::parse(name)
    }
}

impl std::fmt::Display for EndpointState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an AWS call goes: credentials (account name) and region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Scope {
    /// Which cloud's client the call goes to (absent in what older versions wrote: AWS).
    #[serde(default)]
    pub cloud: CloudKind,
    /// AWS: the account's name in the daemon config; Google Cloud: the project ID.
    pub account: String,
    pub region: String,
}

impl Scope {
    pub fn aws(account: impl Into<String>, region: impl Into<String>) -> Scope {
        Scope {
            cloud: CloudKind::Aws,
            account: account.into(),
            region: region.into(),
        }
    }

    /// Azure: the subscription, and the location (a resource group is part of a resource ID).
    pub fn azure(subscription: impl Into<String>, location: impl Into<String>) -> Scope {
        Scope {
            cloud: CloudKind::Azure,
            account: subscription.into(),
            region: location.into(),
        }
    }

    pub fn gcp(project: impl Into<String>, region: impl Into<String>) -> Scope {
        Scope {
            cloud: CloudKind::Gcp,
            account: project.into(),
            region: region.into(),
        }
    }
}

/// The clouds a consumer-side endpoint can live in, named as TiDB Cloud's `cloudProvider`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum CloudKind {
    #[default]
    Aws,
    Gcp,
    Azure,
}

impl CloudKind {
    /// TiDB Cloud's `cloudProvider` (`aws`, `gcp`).
    pub fn as_str(self) -> &'static str {
        match self {
            CloudKind::Aws => "aws",
            CloudKind::Gcp => "gcp",
            CloudKind::Azure => "azure",
        }
    }

    /// How people call it in messages.
    pub fn title(self) -> &'static str {
        match self {
            CloudKind::Aws => "AWS",
            CloudKind::Gcp => "Google Cloud",
            CloudKind::Azure => "Azure",
        }
    }
}

/// What a VPC offers an endpoint: checked before creating or changing one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    /// VPC ID -> (enableDnsSupport, enableDnsHostnames), for the VPCs that exist.
    pub vpcs: BTreeMap<String, (bool, bool)>,
    /// Subnet ID -> (VPC ID, AZ ID), for the subnets that exist.
    pub subnets: BTreeMap<String, (String, String)>,
    /// Security group ID -> VPC ID, for the groups that exist.
    pub security_groups: BTreeMap<String, String>,
}

/// A security group and its inbound rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroup {
    pub vpc_id: String,
    pub ingress: Vec<IngressRule>,
}

/// One inbound rule: a protocol and port range, from some sources.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressRule {
    /// `tcp`, `udp`, `icmp`... or `-1` for all traffic.
    pub protocol: String,
    /// The port range (inclusive); `None` with protocol `-1` means every port.
    pub from_port: Option<u16>,
    pub to_port: Option<u16>,
    /// IPv4 and IPv6 CIDR blocks.
    pub cidrs: Vec<String>,
    /// Referenced security groups (a source privatelinkd cannot resolve to addresses).
    pub groups: Vec<String>,
    /// Referenced prefix lists (likewise).
    pub prefix_lists: Vec<String>,
}

/// What decides whether an endpoint's port is open: its security groups and its VPC's CIDRs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Firewall {
    pub groups: BTreeMap<String, SecurityGroup>,
    /// VPC ID -> its CIDR blocks (IPv4 and IPv6).
    pub vpc_cidrs: BTreeMap<String, Vec<String>>,
}

/// The VPC attributes private DNS depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VpcAttribute {
    EnableDnsSupport,
    EnableDnsHostnames,
}

/// A CreateVpcEndpoint request (always an interface endpoint, private DNS off at first).
#[derive(Debug, Clone, PartialEq)]
pub struct CreateEndpoint {
    pub vpc_id: String,
    pub service_name: String,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    /// Deterministic, so a retried or repeated create returns the first endpoint.
    pub client_token: String,
    pub tags: BTreeMap<String, String>,
}

/// A ModifyVpcEndpoint request; empty lists and `None` leave that part alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModifyEndpoint {
    pub endpoint_id: String,
    pub add_subnet_ids: Vec<String>,
    pub remove_subnet_ids: Vec<String>,
    pub add_security_group_ids: Vec<String>,
    pub remove_security_group_ids: Vec<String>,
    pub private_dns_enabled: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_states_read_and_write_as_ec2_names_them() {
        for state in EndpointState::KNOWN {
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
            assert_eq!(serde_json::from_str::<EndpointState>(&json).unwrap(), state);
            assert_eq!(EndpointState::parse(state.as_str()), state);
        }
        assert_eq!(
            EndpointState::parse("PendingAcceptance"),
            EndpointState::PendingAcceptance
        );
        let new = EndpointState::parse("hibernating");
        assert_eq!(new, EndpointState::Other("hibernating".into()));
        assert_eq!(serde_json::to_string(&new).unwrap(), "\"hibernating\"");
        assert_eq!(
            serde_json::from_str::<EndpointState>("\"hibernating\"").unwrap(),
            new
        );
        assert!(EndpointState::Deleted.is_going() && !EndpointState::Pending.is_going());
    }
}
