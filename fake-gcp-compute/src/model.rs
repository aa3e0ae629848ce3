//! The resources the fake keeps, their references, and their JSON as Compute Engine v1 returns
//! it: camelCase fields, 64-bit integers (`id`, `pscConnectionId`) as decimal strings, links under
//! `https://www.googleapis.com/compute/v1/`, empty fields left out.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_json::{Map, Value, json};

/// The prefix of every `selfLink` Compute Engine returns.
pub const LINK_BASE: &str = "https://www.googleapis.com/compute/v1/";

/// Prefixes a client may put before `projects/...` in a reference.
const ACCEPTED_BASES: [&str; 4] = [
    LINK_BASE,
    "https://compute.googleapis.com/compute/v1/",
    "http://www.googleapis.com/compute/v1/",
    "compute/v1/",
];

pub fn link(path: &str) -> String {
    format!("{LINK_BASE}{path}")
}

/// A resource reference, normalized: `projects/P/global/C/N` or `projects/P/regions/R/C/N`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ref {
    pub project: String,
    pub region: Option<String>,
    pub collection: String,
    pub name: String,
}

impl Ref {
    pub fn regional(project: &str, region: &str, collection: &str, name: &str) -> Ref {
        Ref {
            project: project.into(),
            region: Some(region.into()),
            collection: collection.into(),
            name: name.into(),
        }
    }

    pub fn global(project: &str, collection: &str, name: &str) -> Ref {
        Ref {
            project: project.into(),
            region: None,
            collection: collection.into(),
            name: name.into(),
        }
    }

    pub fn path(&self) -> String {
        match &self.region {
            Some(region) => format!(
                "projects/{}/regions/{region}/{}/{}",
                self.project, self.collection, self.name
            ),
            None => format!(
                "projects/{}/global/{}/{}",
                self.project, self.collection, self.name
            ),
        }
    }

    pub fn link(&self) -> String {
        link(&self.path())
    }

    /// Reads a full URL, a partial URL (`projects/...`, `global/...`, `regions/...`) or a bare
    /// name, as the field docs allow, in the context of a project and (for regional
    /// collections) a region. `None` if it is not a reference to `collection`.
    pub fn parse(
        reference: &str,
        project: &str,
        region: Option<&str>,
        collection: &str,
    ) -> Option<Ref> {
        let rest = ACCEPTED_BASES
            .iter()
            .find_map(|base| reference.strip_prefix(base))
            .unwrap_or(reference);
        let parts: Vec<&str> = rest.split('/').collect();
        let (p, r, c, n) = match parts.as_slice() {
            ["projects", p, "global", c, n] => (*p, None, *c, *n),
            ["projects", p, "regions", r, c, n] => (*p, Some(*r), *c, *n),
            ["global", c, n] => (project, None, *c, *n),
            ["regions", r, c, n] => (project, Some(*r), *c, *n),
            [n] => (project, region, collection, *n),
            _ => return None,
        };
        (c == collection && !n.is_empty() && !p.is_empty()).then(|| Ref {
            project: p.into(),
            region: r.map(Into::into),
            collection: c.into(),
            name: n.into(),
        })
    }
}

pub fn region_link(project: &str, region: &str) -> String {
    link(&format!("projects/{project}/regions/{region}"))
}

/// An IPv4 CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub base: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Cidr> {
        let (ip, prefix) = text.split_once('/')?;
        let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32)?;
        let ip: Ipv4Addr = ip.parse().ok()?;
        let mask = Self::mask(prefix);
        Some(Cidr {
            base: Ipv4Addr::from(u32::from(ip) & mask),
            prefix,
        })
    }

    fn mask(prefix: u8) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & Self::mask(self.prefix) == u32::from(self.base)
    }

    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    pub fn nth(&self, n: u64) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base).wrapping_add(n as u32))
    }

    /// Compute Engine reserves four addresses of every primary range: the network, the
    /// gateway (first host), the second-to-last and the broadcast address.
    pub fn is_reserved(&self, ip: Ipv4Addr) -> bool {
        let offset = u64::from(u32::from(ip).wrapping_sub(u32::from(self.base)));
        offset < 2 || offset + 2 >= self.size()
    }

    pub fn gateway(&self) -> Ipv4Addr {
        self.nth(1)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// Leaves out nulls, empty strings, arrays and objects: Compute Engine omits unset fields.
pub fn compact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, compact(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect::<Map<_, _>>(),
        ),
        other => other,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone)]
pub struct Network {
    pub id: u64,
    pub created: String,
    pub r#ref: Ref,
    /// Forwarding rules allowed in this network (a resource quota), if limited.
    pub forwarding_rules_limit: Option<u32>,
}

impl Network {
    pub fn json(&self, subnetworks: &[String]) -> Value {
        compact(json!({
            "kind": "compute#network",
            "id": self.id.to_string(),
            "creationTimestamp": self.created,
            "name": self.r#ref.name,
            "selfLink": self.r#ref.link(),
            "selfLinkWithId": link(&format!("projects/{}/global/networks/{}", self.r#ref.project, self.id)),
            "autoCreateSubnetworks": false,
            "subnetworks": subnetworks,
            "routingConfig": {"routingMode": "REGIONAL"},
            "mtu": 1460,
            "networkFirewallPolicyEnforcementOrder": "AFTER_CLASSIC_FIREWALL",
        }))
    }
}

#[derive(Debug, Clone)]
pub struct Subnetwork {
    pub id: u64,
    pub created: String,
    pub r#ref: Ref,
    pub network: Ref,
    pub range: Cidr,
}

impl Subnetwork {
    pub fn json(&self) -> Value {
        let region = self.r#ref.region.as_deref().unwrap_or_default();
        compact(json!({
            "kind": "compute#subnetwork",
            "id": self.id.to_string(),
            "creationTimestamp": self.created,
            "name": self.r#ref.name,
            "network": self.network.link(),
            "ipCidrRange": self.range.to_string(),
            "gatewayAddress": self.range.gateway().to_string(),
            "region": region_link(&self.r#ref.project, region),
            "selfLink": self.r#ref.link(),
            "privateIpGoogleAccess": false,
            "purpose": "PRIVATE",
            "stackType": "IPV4_ONLY",
            "fingerprint": crate::labels::fingerprint_of([self.r#ref.path().as_str()]),
        }))
    }
}

#[derive(Debug, Clone)]
pub struct Firewall {
    pub id: u64,
    pub created: String,
    pub r#ref: Ref,
    pub network: Ref,
    /// The rule as seeded (direction, priority, ranges, allowed/denied, disabled), camelCase.
    pub spec: Map<String, Value>,
}

impl Firewall {
    pub fn json(&self) -> Value {
        let mut v = json!({
            "kind": "compute#firewall",
            "id": self.id.to_string(),
            "creationTimestamp": self.created,
            "name": self.r#ref.name,
            "network": self.network.link(),
            "selfLink": self.r#ref.link(),
            "direction": "INGRESS",
            "priority": 1000,
            "disabled": false,
            "logConfig": {"enable": false},
        });
        for (k, val) in &self.spec {
            v[k] = val.clone();
        }
        compact(v)
    }
}

#[derive(Debug, Clone)]
pub struct Address {
    pub id: u64,
    pub created: String,
    pub r#ref: Ref,
    pub description: String,
    pub ip: Ipv4Addr,
    pub subnetwork: Ref,
    pub network: Ref,
    pub labels: Labels,
    /// Links of the forwarding rules using it.
    pub users: Vec<String>,
}

impl Address {
    pub fn json(&self) -> Value {
        let r = &self.r#ref;
        compact(json!({
            "kind": "compute#address",
            "id": self.id.to_string(),
            "creationTimestamp": self.created,
            "name": r.name,
            "description": self.description,
            "address": self.ip.to_string(),
            "status": if self.users.is_empty() { "RESERVED" } else { "IN_USE" },
            "region": region_link(&r.project, r.region.as_deref().unwrap_or_default()),
            "selfLink": r.link(),
            "users": self.users,
            "networkTier": "PREMIUM",
            "addressType": "INTERNAL",
            "purpose": "GCE_ENDPOINT",
            "subnetwork": self.subnetwork.link(),
            "labels": self.labels,
            "labelFingerprint": crate::labels::fingerprint(&self.labels),
        }))
    }
}

/// `pscConnectionStatus`, driven by the producer (TiDB Cloud) through the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PscStatus {
    Pending,
    Accepted,
    Rejected,
    NeedsAttention,
    Closed,
}

impl PscStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PscStatus::Pending => "PENDING",
            PscStatus::Accepted => "ACCEPTED",
            PscStatus::Rejected => "REJECTED",
            PscStatus::NeedsAttention => "NEEDS_ATTENTION",
            PscStatus::Closed => "CLOSED",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ForwardingRule {
    pub id: u64,
    pub created: String,
    pub r#ref: Ref,
    pub description: String,
    pub ip: Ipv4Addr,
    /// The reserved address it uses, if any (otherwise an ephemeral IP).
    pub address: Option<Ref>,
    pub network: Ref,
    pub subnetwork: Option<Ref>,
    /// The service attachment.
    pub target: Ref,
    pub allow_psc_global_access: Option<bool>,
    pub no_automate_dns_zone: Option<bool>,
    pub service_directory_registrations: Value,
    pub labels: Labels,
    pub psc_connection_id: u64,
    pub psc_status: PscStatus,
}

impl ForwardingRule {
    pub fn json(&self) -> Value {
        let r = &self.r#ref;
        let region = r.region.as_deref().unwrap_or_default();
        compact(json!({
            "kind": "compute#forwardingRule",
            "id": self.id.to_string(),
            "creationTimestamp": self.created,
            "name": r.name,
            "description": self.description,
            "region": region_link(&r.project, region),
            "IPAddress": self.ip.to_string(),
            "target": self.target.link(),
            "selfLink": r.link(),
            "selfLinkWithId": link(&format!("projects/{}/regions/{region}/forwardingRules/{}", r.project, self.id)),
            "network": self.network.link(),
            "subnetwork": self.subnetwork.as_ref().map(Ref::link),
            "networkTier": "PREMIUM",
            "labels": self.labels,
            "labelFingerprint": crate::labels::fingerprint(&self.labels),
            "fingerprint": crate::labels::fingerprint_of([r.path().as_str(), &self.id.to_string()]),
            "allowPscGlobalAccess": self.allow_psc_global_access,
            "noAutomateDnsZone": self.no_automate_dns_zone,
            "serviceDirectoryRegistrations": self.service_directory_registrations,
            "pscConnectionId": self.psc_connection_id.to_string(),
            "pscConnectionStatus": self.psc_status.as_str(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_read_in_every_documented_form() {
        let want = Ref::regional("p", "us-central1", "subnetworks", "s");
        for text in [
            "https://www.googleapis.com/compute/v1/projects/p/regions/us-central1/subnetworks/s",
            "https://compute.googleapis.com/compute/v1/projects/p/regions/us-central1/subnetworks/s",
            "projects/p/regions/us-central1/subnetworks/s",
            "regions/us-central1/subnetworks/s",
            "s",
        ] {
            assert_eq!(
                Ref::parse(text, "p", Some("us-central1"), "subnetworks"),
                Some(want.clone()),
                "{text}"
            );
        }
        assert_eq!(
            Ref::parse("global/networks/n", "p", None, "networks"),
            Some(Ref::global("p", "networks", "n"))
        );
        assert_eq!(
            Ref::parse("global/networks/n", "p", None, "subnetworks"),
            None
        );
        assert_eq!(Ref::parse("a/b", "p", None, "networks"), None);
    }

    #[test]
    fn cidr_blocks_reserve_four_addresses() {
        let c = Cidr::parse("10.8.0.0/29").unwrap();
        assert_eq!(c.to_string(), "10.8.0.0/29");
        assert_eq!(c.gateway(), Ipv4Addr::new(10, 8, 0, 1));
        let free: Vec<u64> = (0..c.size())
            .filter(|n| !c.is_reserved(c.nth(*n)))
            .collect();
        assert_eq!(free, vec![2, 3, 4, 5]);
        assert!(c.contains("10.8.0.7".parse().unwrap()));
        assert!(!c.contains("10.8.0.8".parse().unwrap()));
        assert_eq!(
            Cidr::parse("10.8.0.9/24").unwrap().to_string(),
            "10.8.0.0/24"
        );
        assert!(Cidr::parse("10.8.0.0/33").is_none());
    }
}
