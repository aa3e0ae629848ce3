//! The world file (YAML or JSON) and the admin API's seed document: the projects, networks,
//! subnetworks and firewall rules that exist before privatelinkd runs, and the producers'
//! service attachments (TiDB Cloud's side of Private Service Connect).
//!
//! ```yaml
//! projects:
//!   - id: my-project
//!     networks:
//!       - name: prod-vpc
//!         forwardingRulesLimit: 10        # optional resource quota
//!         subnetworks:
//!           - {name: prod-us-central1, region: us-central1, ipCidrRange: 10.8.0.0/20}
//!         firewalls:
//!           - name: deny-egress-db
//!             direction: EGRESS
//!             priority: 900
//!             destinationRanges: [10.8.0.0/24]
//!             denied: [{IPProtocol: tcp, ports: ["4000"]}]
//! serviceAttachments:
//!   - uri: projects/tidb-prod/regions/us-central1/serviceAttachments/sa-1379661944646413143
//!     connectionPreference: ACCEPT_MANUAL   # or ACCEPT_AUTOMATIC
//! regions: [me-central2]                    # known besides the built-in list
//! ```

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct World {
    #[serde(default)]
    pub projects: Vec<ProjectSeed>,
    #[serde(default)]
    pub service_attachments: Vec<AttachmentSeed>,
    #[serde(default)]
    pub regions: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectSeed {
    pub id: String,
    #[serde(default)]
    pub networks: Vec<NetworkSeed>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkSeed {
    pub name: String,
    #[serde(default)]
    pub forwarding_rules_limit: Option<u32>,
    #[serde(default)]
    pub subnetworks: Vec<SubnetworkSeed>,
    #[serde(default)]
    pub firewalls: Vec<FirewallSeed>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubnetworkSeed {
    pub name: String,
    pub region: String,
    pub ip_cidr_range: String,
}

/// A firewall rule: its name, and the fields of Compute Engine's Firewall resource.
#[derive(Debug, Clone, Deserialize)]
pub struct FirewallSeed {
    pub name: String,
    #[serde(flatten)]
    pub spec: Map<String, Value>,
}

/// Fields a seeded firewall rule may set (the rest are the fake's to fill in).
pub const FIREWALL_FIELDS: [&str; 10] = [
    "description",
    "direction",
    "priority",
    "destinationRanges",
    "sourceRanges",
    "allowed",
    "denied",
    "disabled",
    "targetTags",
    "sourceTags",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttachmentSeed {
    /// `projects/P/regions/R/serviceAttachments/S`, or its full URL.
    pub uri: String,
    #[serde(default)]
    pub connection_preference: ConnectionPreference,
}

/// A service attachment's connection preference. TiDB Cloud accepts endpoints explicitly
/// (its API's registration call), so ACCEPT_MANUAL is the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectionPreference {
    #[default]
    AcceptManual,
    AcceptAutomatic,
}

impl World {
    pub fn parse(text: &str) -> anyhow::Result<World> {
        // JSON is YAML, so one parser reads both.
        serde_saphyr::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))
    }

    pub fn load(path: &Path) -> anyhow::Result<World> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        World::parse(&text).with_context(|| format!("invalid world file {}", path.display()))
    }
}

/// Regions the fake knows without being told (Compute Engine's public regions); any other is
/// answered 400 "Unknown region", as Compute Engine answers it, unless the world names it.
pub const REGIONS: [&str; 42] = [
    "africa-south1",
    "asia-east1",
    "asia-east2",
    "asia-northeast1",
    "asia-northeast2",
    "asia-northeast3",
    "asia-south1",
    "asia-south2",
    "asia-southeast1",
    "asia-southeast2",
    "australia-southeast1",
    "australia-southeast2",
    "europe-central2",
    "europe-north1",
    "europe-north2",
    "europe-southwest1",
    "europe-west1",
    "europe-west10",
    "europe-west12",
    "europe-west2",
    "europe-west3",
    "europe-west4",
    "europe-west6",
    "europe-west8",
    "europe-west9",
    "me-central1",
    "me-central2",
    "me-west1",
    "northamerica-northeast1",
    "northamerica-northeast2",
    "northamerica-south1",
    "southamerica-east1",
    "southamerica-west1",
    "us-central1",
    "us-east1",
    "us-east4",
    "us-east5",
    "us-south1",
    "us-west1",
    "us-west2",
    "us-west3",
    "us-west4",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let doc = include_str!("world.rs")
            .lines()
            .skip_while(|l| !l.starts_with("//! ```yaml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| {
                l.strip_prefix("//! ")
                    .or(l.strip_prefix("//!"))
                    .unwrap_or(l)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let world = World::parse(&doc).unwrap();
        assert_eq!(
            world.projects[0].networks[0].forwarding_rules_limit,
            Some(10)
        );
        assert_eq!(
            world.projects[0].networks[0].firewalls[0].spec["priority"],
            900
        );
        assert_eq!(
            world.service_attachments[0].connection_preference,
            ConnectionPreference::AcceptManual
        );
        assert!(World::parse("projects: [{id: p, colour: red}]").is_err());
        assert!(World::parse(r#"{"projects": [{"id": "p"}]}"#).is_ok());
    }
}
