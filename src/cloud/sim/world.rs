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
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeGroupSeed {
    pub id: String,
    #[serde(default)]
    pub default: bool,
    pub available_zones: Vec<String>,
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
    #[serde(default)]
    pub subnets: Vec<SubnetSeed>,
    #[serde(default)]
    pub security_groups: Vec<String>,
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
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            service_create: d180(),
            accept: d60(),
            activate: d120(),
            private_dns: d30(),
            delete: d60(),
        }
    }
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
    /// Cluster IDs whose connections TiDB Cloud puts in FAILED.
    #[serde(default)]
    pub fail_connections: Vec<String>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            error_rate: 0.0,
            rate_limits: true,
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
