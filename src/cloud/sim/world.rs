//! The world file: the simulated cloud's inventory, timings and faults.

use std::path::Path;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checked::parse_one;
use crate::diag::Diagnostic;
use crate::duration::{DURATION_HINT, HumanDuration};

/// The world file: the simulated cloud's inventory.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct World {
    #[serde(default)]
    pub clusters: Vec<ClusterSeed>,
    #[serde(default)]
    pub vpcs: Vec<VpcSeed>,
    /// Google Cloud VPC networks (for clusters whose `cloudProvider` is `gcp`).
    #[serde(default)]
    pub gcp_networks: Vec<GcpNetworkSeed>,
    /// Azure virtual networks (for clusters whose `cloudProvider` is `azure`).
    #[serde(default)]
    pub azure_networks: Vec<AzureNetworkSeed>,
    /// Endpoints made by hand before privatelinkd came (what `privatelinkd import` finds):
    /// there, and registered as said, when the world begins.
    #[serde(default)]
    pub existing: Vec<ExistingSeed>,
    #[serde(default)]
    pub timing: Timing,
    /// Simulated seconds per real second.
    #[serde(default = "one")]
    pub time_scale: f64,
    #[serde(default)]
    pub faults: Faults,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSeed {
    pub id: String,
    pub project_id: String,
    #[serde(default)]
    pub name: String,
    pub region: String,
    #[serde(default = "aws")]
    pub cloud_provider: String,
    #[serde(default = "port")]
    pub port: u16,
    pub node_groups: Vec<NodeGroupSeed>,
    /// The cluster's life: from `after` (simulated time since the world began) on, it is in
    /// `state`. ACTIVE before the first entry; `DELETED` makes it vanish (404).
    #[serde(default)]
    pub lifecycle: Vec<LifecycleSeed>,
}

/// One step of a cluster's life.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LifecycleSeed {
    pub after: HumanDuration,
    /// A state of the API's enum: ACTIVE, PAUSED, PAUSING, RESUMING, MODIFYING, DELETING,
    /// DELETED, ...
    pub state: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeGroupSeed {
    pub id: String,
    #[serde(default)]
    pub default: bool,
    /// AZ IDs (AWS only).
    #[serde(default)]
    pub available_zones: Vec<String>,
    /// The service's DNS name, instead of the made-up one (`localhost` lets the reachability
    /// probe reach a listener of a test).
    #[serde(default)]
    pub dns_name: Option<String>,
}

/// A VPC endpoint made by hand (the console's seven steps), in a VPC of the world.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExistingSeed {
    /// `vpce-` and 17 hex digits.
    pub id: String,
    pub cluster: String,
    /// The cluster's default node group when absent.
    #[serde(default)]
    pub node_group: Option<String>,
    pub vpc: String,
    pub subnets: Vec<String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    #[serde(default)]
    pub private_dns: bool,
    /// What TiDB Cloud knows of it.
    #[serde(default)]
    pub connection: ExistingConnection,
}

/// Whether an existing endpoint was registered with TiDB Cloud, and how that went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ExistingConnection {
    /// Registered: Active once TiDB Cloud accepted it.
    #[default]
    Registered,
    /// Registered, and TiDB Cloud marked it FAILED.
    Failed,
    /// Never registered.
    None,
    /// Registered, and the endpoint deleted since (the connection is left behind).
    EndpointDeleted,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VpcSeed {
    pub id: String,
    pub region: String,
    #[serde(default = "default_account")]
    pub account: String,
    #[serde(default = "yes")]
    pub dns_support: bool,
    #[serde(default = "yes")]
    pub dns_hostnames: bool,
    /// The VPC's IPv4 CIDR block.
    #[serde(default = "default_cidr")]
    pub cidr: String,
    #[serde(default)]
    pub subnets: Vec<SubnetSeed>,
    #[serde(default)]
    pub security_groups: Vec<GroupSeed>,
}

/// A security group: a plain ID allows TCP on every port from the VPC's CIDR; the long form
/// lists its inbound rules.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum GroupSeed {
    Id(String),
    Rules {
        id: String,
        #[serde(default)]
        ingress: Vec<RuleSeed>,
    },
}

impl GroupSeed {
    pub fn id(&self) -> &str {
        match self {
            GroupSeed::Id(id) | GroupSeed::Rules { id, .. } => id,
        }
    }
}

/// An inbound rule of a simulated security group.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleSeed {
    /// `tcp`, `udp` or `-1` (all traffic).
    #[serde(default = "tcp")]
    pub protocol: String,
    #[serde(default)]
    pub from_port: Option<u16>,
    /// Defaults to `fromPort`.
    #[serde(default)]
    pub to_port: Option<u16>,
    /// A CIDR block, a security group ID (`sg-...`) or a prefix list ID (`pl-...`).
    pub source: String,
}

/// A Google Cloud VPC network of a consumer project.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GcpNetworkSeed {
    pub project: String,
    pub name: String,
    #[serde(default)]
    pub subnetworks: Vec<GcpSubnetworkSeed>,
    /// Its firewall rules (the egress check reads them).
    #[serde(default)]
    pub firewalls: Vec<GcpFirewallSeed>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GcpSubnetworkSeed {
    pub name: String,
    pub region: String,
    pub ip_cidr_range: String,
}

/// A firewall rule: by default an egress rule denying TCP to `destinationRanges`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GcpFirewallSeed {
    pub name: String,
    #[serde(default = "yes")]
    pub egress: bool,
    #[serde(default = "priority")]
    pub priority: u32,
    #[serde(default = "yes")]
    pub deny: bool,
    /// Ports (`4000`, `3000-3999`); empty: every port.
    #[serde(default)]
    pub ports: Vec<String>,
    #[serde(default)]
    pub destination_ranges: Vec<String>,
}

/// An Azure virtual network of a consumer subscription, with its subnets.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AzureNetworkSeed {
    pub subscription_id: String,
    pub resource_group: String,
    /// Its location (`eastus2`): a private endpoint must be in its subnet's.
    pub location: String,
    pub virtual_network: String,
    #[serde(default)]
    pub subnets: Vec<AzureSubnetSeed>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AzureSubnetSeed {
    pub name: String,
    /// Its CIDR block (`10.1.0.0/24`).
    pub address_prefix: String,
}

impl AzureNetworkSeed {
    /// A subnet's resource ID, as Azure writes it.
    pub fn subnet_id(&self, subnet: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/virtualNetworks/{}/subnets/{subnet}",
            self.subscription_id, self.resource_group, self.virtual_network
        )
    }
}

fn priority() -> u32 {
    1000
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubnetSeed {
    pub id: String,
    pub az_id: String,
}

/// How long the providers take, in simulated time.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Timing {
    #[serde(default = "d180")]
    pub service_create: HumanDuration,
    #[serde(default = "d60")]
    pub accept: HumanDuration,
    #[serde(default = "d120")]
    pub activate: HumanDuration,
    #[serde(default = "d30")]
    pub private_dns: HumanDuration,
    #[serde(default = "d60")]
    pub delete: HumanDuration,
    /// How long a Compute Engine operation (reserving an address, creating or deleting a
    /// forwarding rule) or a Resource Manager operation (creating, updating or deleting a
    /// private endpoint) runs.
    #[serde(default = "d5")]
    pub operation: HumanDuration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            service_create: d180(),
            accept: d60(),
            activate: d120(),
            private_dns: d30(),
            delete: d60(),
            operation: d5(),
        }
    }
}

fn d5() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Faults {
    /// Share of calls failing transiently (5xx / timeout).
    #[serde(default)]
    pub error_rate: f64,
    /// Enforce the real APIs' limits.
    #[serde(default = "yes")]
    pub rate_limits: bool,
    /// Added to every call (real time): a slow provider.
    #[serde(default = "zero")]
    pub latency: HumanDuration,
    /// Clusters whose connections TiDB Cloud puts in FAILED: a cluster ID (always), or
    /// `{cluster, until}` (connections registered before `until`, simulated time since the
    /// world began, fail; those registered later do not).
    #[serde(default)]
    pub fail_connections: Vec<FailSeed>,
}

/// Which connections TiDB Cloud fails.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum FailSeed {
    Always(String),
    Until {
        cluster: String,
        until: HumanDuration,
    },
}

impl FailSeed {
    /// Does a connection to `cluster` registered at `at_ms` (simulated) fail?
    pub fn fails(&self, cluster: &str, at_ms: u64) -> bool {
        match self {
            FailSeed::Always(c) => c == cluster,
            FailSeed::Until { cluster: c, until } => {
                c == cluster && u128::from(at_ms) < until.0.as_millis()
            }
        }
    }
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            error_rate: 0.0,
            rate_limits: true,
            latency: zero(),
            fail_connections: Vec::new(),
        }
    }
}

fn one() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}
fn aws() -> String {
    "aws".into()
}
fn zero() -> HumanDuration {
    secs(0)
}
fn tcp() -> String {
    "tcp".into()
}
fn default_cidr() -> String {
    "10.0.0.0/16".into()
}
fn port() -> u16 {
    4000
}
fn default_account() -> String {
    "default".into()
}
fn secs(n: u64) -> HumanDuration {
    HumanDuration(Duration::from_secs(n))
}
fn d30() -> HumanDuration {
    secs(30)
}
fn d60() -> HumanDuration {
    secs(60)
}
fn d120() -> HumanDuration {
    secs(120)
}
fn d180() -> HumanDuration {
    secs(180)
}

impl World {
    pub fn load(path: &Path) -> Result<World, Vec<Diagnostic>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![Diagnostic::new(
                path,
                crate::diag::Pos::START,
                format!("cannot read world: {e}"),
            )]
        })?;
        parse_one(path, &text, &[DURATION_HINT])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misplaced_key_is_told_where_it_belongs_not_suggested_to_itself() {
        let text = "clusters:\n  - id: \"1\"\n    projectId: \"2\"\n    region: us-east-1\n    nodeGroups: []\n    state: PAUSED\n";
        let problems = parse_one::<World>(Path::new("world.yaml"), text, &[DURATION_HINT])
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>();
        assert_eq!(
            problems,
            [
                "world.yaml:6:5: error: unknown field `state` in `clusters[0]`; `state` belongs in each item of `clusters[].lifecycle`"
            ]
        );
    }
}
