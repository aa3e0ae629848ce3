//! The resources the fake keeps and their JSON as Microsoft.Network 2024-05-01 returns it: the
//! spec's field names (`privateIPAddress`, `manualPrivateLinkServiceConnections`, ...), child
//! objects with `id`, `etag` (the parent's) and `type`, weak ETags, and only fields the spec
//! declares (checked by `tests/spec_conformance.rs`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ids::ResourceId;

pub type Tags = BTreeMap<String, String>;

/// `provisioningState` (the spec's `ProvisioningState` enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provisioning {
    Succeeded,
    Updating,
    Deleting,
    Failed,
}

impl Provisioning {
    pub fn as_str(self) -> &'static str {
        match self {
            Provisioning::Succeeded => "Succeeded",
            Provisioning::Updating => "Updating",
            Provisioning::Deleting => "Deleting",
            Provisioning::Failed => "Failed",
        }
    }
}

/// `privateLinkServiceConnectionState.status`: the producer's decision on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum ConnectionStatus {
    Pending,
    Approved,
    Rejected,
    Disconnected,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Pending => "Pending",
            ConnectionStatus::Approved => "Approved",
            ConnectionStatus::Rejected => "Rejected",
            ConnectionStatus::Disconnected => "Disconnected",
        }
    }
}

/// An IPv4 prefix (`10.0.1.0/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub base: u32,
    pub len: u8,
}

impl Cidr {
    /// Reads a prefix whose host bits are zero, as Azure requires of address prefixes.
    pub fn parse(text: &str) -> Option<Cidr> {
        let (ip, len) = text.split_once('/')?;
        let ip: Ipv4Addr = ip.parse().ok()?;
        let len: u8 = len.parse().ok()?;
        let cidr = Cidr {
            base: u32::from(ip),
            len,
        };
        (len <= 32 && cidr.base & !cidr.mask() == 0).then_some(cidr)
    }

    fn mask(self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - self.len)
        }
    }

    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == self.base
    }

    pub fn within(self, outer: Cidr) -> bool {
        self.len >= outer.len && outer.contains(Ipv4Addr::from(self.base))
    }

    pub fn overlaps(self, other: Cidr) -> bool {
        self.within(other) || other.within(self)
    }

    /// Azure reserves five addresses in every subnet: the network address, .1 (the default
    /// gateway), .2 and .3 (Azure DNS), and the broadcast address.
    pub fn is_reserved(self, ip: Ipv4Addr) -> bool {
        let offset = u32::from(ip).wrapping_sub(self.base);
        let last = (!self.mask()) as u64;
        offset <= 3 || offset as u64 == last
    }

    /// The addresses an endpoint may get, lowest first.
    pub fn usable(self) -> impl Iterator<Item = Ipv4Addr> {
        let size = 1u64 << (32 - self.len);
        (0..size)
            .map(move |n| Ipv4Addr::from(self.base.wrapping_add(n as u32)))
            .filter(move |ip| !self.is_reserved(*ip))
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.len)
    }
}

#[derive(Debug, Clone)]
pub struct VirtualNetwork {
    pub id: ResourceId,
    pub location: String,
    pub tags: Tags,
    pub etag: String,
    pub resource_guid: String,
    pub prefixes: Vec<Cidr>,
}

#[derive(Debug, Clone)]
pub struct Subnet {
    pub id: ResourceId,
    pub etag: String,
    pub prefix: Cidr,
    pub policies: String,
}

/// A producer's Private Link service, known only by its ID (it lives in another tenant).
#[derive(Debug, Clone)]
pub struct Service {
    pub auto_approval: Vec<String>,
    pub visibility: Option<Vec<String>>,
    pub fqdns: Vec<String>,
}

impl Service {
    pub fn visible_to(&self, subscription: &str) -> bool {
        self.visibility.as_ref().is_none_or(|subs| {
            subs.iter()
                .any(|s| s == "*" || s.eq_ignore_ascii_case(subscription))
        })
    }
}

/// One private link service connection of an endpoint.
#[derive(Debug, Clone)]
pub struct Connection {
    pub name: String,
    pub service: String,
    /// `manualPrivateLinkServiceConnections` (approval asked of the producer) or not.
    pub manual: bool,
    pub group_ids: Option<Vec<String>>,
    pub request_message: Option<String>,
    pub status: ConnectionStatus,
    pub description: String,
}

/// A static IP configuration asked for in `properties.ipConfigurations`.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticIp {
    pub name: String,
    pub group_id: Option<String>,
    pub member_name: Option<String>,
    pub ip: Ipv4Addr,
}

#[derive(Debug, Clone)]
pub struct PrivateEndpoint {
    pub id: ResourceId,
    pub location: String,
    pub tags: Tags,
    pub etag: String,
    pub provisioning: Provisioning,
    pub subnet: ResourceId,
    pub connections: Vec<Connection>,
    pub nic: ResourceId,
    pub custom_nic_name: Option<String>,
    pub static_ip: Option<StaticIp>,
    pub ip: Ipv4Addr,
    /// The service's FQDNs at creation (`customDnsConfigs`).
    pub fqdns: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct NetworkInterface {
    pub id: ResourceId,
    pub location: String,
    pub etag: String,
    pub provisioning: Provisioning,
    pub resource_guid: String,
    /// `privateEndpointIpConfig.<guid>`, as Azure names a private endpoint's IP configuration.
    pub ip_config: String,
    pub ip: Ipv4Addr,
    pub static_ip: bool,
    pub subnet: ResourceId,
    pub endpoint: ResourceId,
}

fn tags_into(value: &mut Value, tags: &Tags) {
    // Resource Manager leaves `tags` out of a resource that has none.
    if !tags.is_empty() {
        value["tags"] = json!(tags);
    }
}

pub fn endpoint_json(e: &PrivateEndpoint) -> Value {
    let state = e.provisioning.as_str();
    let connections = |manual: bool| -> Vec<Value> {
        let collection = if manual {
            "manualPrivateLinkServiceConnections"
        } else {
            "privateLinkServiceConnections"
        };
        e.connections
            .iter()
            .filter(|c| c.manual == manual)
            .map(|c| {
                let mut properties = json!({
                    "provisioningState": state,
                    "privateLinkServiceId": c.service,
                    "privateLinkServiceConnectionState": {
                        "status": c.status.as_str(),
                        "description": c.description,
                        "actionsRequired": "None",
                    },
                });
                if let Some(ids) = &c.group_ids {
                    properties["groupIds"] = json!(ids);
                }
                if let Some(message) = &c.request_message {
                    properties["requestMessage"] = json!(message);
                }
                json!({
                    "name": c.name,
                    "id": format!("{}/{collection}/{}", e.id.display(), c.name),
                    "etag": e.etag,
                    "type": format!("Microsoft.Network/privateEndpoints/{collection}"),
                    "properties": properties,
                })
            })
            .collect()
    };
    let ip_configurations: Vec<Value> = e
        .static_ip
        .iter()
        .map(|s| {
            let mut properties = json!({"privateIPAddress": s.ip.to_string()});
            if let Some(g) = &s.group_id {
                properties["groupId"] = json!(g);
            }
            if let Some(m) = &s.member_name {
                properties["memberName"] = json!(m);
            }
            json!({
                "name": s.name,
                "etag": e.etag,
                "type": "Microsoft.Network/privateEndpoints/ipConfigurations",
                "properties": properties,
            })
        })
        .collect();
    let dns: Vec<Value> = e
        .fqdns
        .iter()
        .map(|fqdn| json!({"fqdn": fqdn, "ipAddresses": [e.ip.to_string()]}))
        .collect();
    let mut properties = json!({
        "provisioningState": state,
        "privateLinkServiceConnections": connections(false),
        "manualPrivateLinkServiceConnections": connections(true),
        "subnet": {"id": e.subnet.display()},
        "networkInterfaces": [{"id": e.nic.display()}],
        "customDnsConfigs": dns,
        "applicationSecurityGroups": [],
        "ipConfigurations": ip_configurations,
    });
    if let Some(name) = &e.custom_nic_name {
        properties["customNetworkInterfaceName"] = json!(name);
    }
    let mut value = json!({
        "name": e.id.name,
        "id": e.id.display(),
        "etag": e.etag,
        "type": "Microsoft.Network/privateEndpoints",
        "location": e.location,
        "properties": properties,
    });
    tags_into(&mut value, &e.tags);
    value
}

pub fn nic_json(n: &NetworkInterface) -> Value {
    let state = n.provisioning.as_str();
    json!({
        "name": n.id.name,
        "id": n.id.display(),
        "etag": n.etag,
        "type": "Microsoft.Network/networkInterfaces",
        "location": n.location,
        "properties": {
            "provisioningState": state,
            "resourceGuid": n.resource_guid,
            "privateEndpoint": {"id": n.endpoint.display()},
            "ipConfigurations": [{
                "name": n.ip_config,
                "id": format!("{}/ipConfigurations/{}", n.id.display(), n.ip_config),
                "etag": n.etag,
                "type": "Microsoft.Network/networkInterfaces/ipConfigurations",
                "properties": {
                    "provisioningState": state,
                    "privateIPAddress": n.ip.to_string(),
                    "privateIPAllocationMethod": if n.static_ip { "Static" } else { "Dynamic" },
                    "subnet": {"id": n.subnet.display()},
                    "primary": true,
                    "privateIPAddressVersion": "IPv4",
                    "privateLinkConnectionProperties": {
                        "groupId": "",
                        "requiredMemberName": "",
                        "fqdns": [],
                    },
                },
            }],
            "dnsSettings": {"dnsServers": [], "appliedDnsServers": []},
            "macAddress": "",
            "enableAcceleratedNetworking": false,
            "vnetEncryptionSupported": false,
            "enableIPForwarding": false,
            "disableTcpStateTracking": false,
            "hostedWorkloads": [],
            "tapConfigurations": [],
            "nicType": "Standard",
        },
    })
}

/// What uses a subnet: its private endpoints and their network interfaces' IP configurations.
#[derive(Debug, Default)]
pub struct SubnetUsers {
    pub endpoints: Vec<String>,
    pub ip_configurations: Vec<String>,
}

pub fn subnet_json(s: &Subnet, users: &SubnetUsers) -> Value {
    let ids = |list: &[String]| -> Vec<Value> { list.iter().map(|id| json!({"id": id})).collect() };
    let mut properties = json!({
        "provisioningState": "Succeeded",
        "addressPrefix": s.prefix.to_string(),
        "delegations": [],
        "privateEndpointNetworkPolicies": s.policies,
        "privateLinkServiceNetworkPolicies": "Enabled",
    });
    // Azure lists only what is there.
    if !users.endpoints.is_empty() {
        properties["privateEndpoints"] = json!(ids(&users.endpoints));
    }
    if !users.ip_configurations.is_empty() {
        properties["ipConfigurations"] = json!(ids(&users.ip_configurations));
    }
    json!({
        "name": s.id.child.as_ref().map(|(_, n)| n.as_str()).unwrap_or_default(),
        "id": s.id.display(),
        "etag": s.etag,
        "type": "Microsoft.Network/virtualNetworks/subnets",
        "properties": properties,
    })
}

pub fn vnet_json(v: &VirtualNetwork, subnets: Vec<Value>) -> Value {
    let mut value = json!({
        "name": v.id.name,
        "id": v.id.display(),
        "etag": v.etag,
        "type": "Microsoft.Network/virtualNetworks",
        "location": v.location,
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": v.resource_guid,
            "addressSpace": {
                "addressPrefixes": v.prefixes.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            },
            "subnets": subnets,
            "virtualNetworkPeerings": [],
            "enableDdosProtection": false,
            "privateEndpointVNetPolicies": "Disabled",
        },
    });
    tags_into(&mut value, &v.tags);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subnet_keeps_five_addresses_for_azure() {
        let c = Cidr::parse("10.0.2.0/29").unwrap();
        let usable: Vec<String> = c.usable().map(|ip| ip.to_string()).collect();
        assert_eq!(usable, ["10.0.2.4", "10.0.2.5", "10.0.2.6"]);
        assert!(c.is_reserved("10.0.2.7".parse().unwrap()));
        assert!(c.contains("10.0.2.7".parse().unwrap()));
        assert!(!c.contains("10.0.3.0".parse().unwrap()));
        assert!(Cidr::parse("10.0.2.1/29").is_none(), "host bits set");
        assert!(Cidr::parse("10.0.2.0/33").is_none());
        let vnet = Cidr::parse("10.0.0.0/16").unwrap();
        assert!(c.within(vnet) && !vnet.within(c) && c.overlaps(vnet));
        assert_eq!(c.to_string(), "10.0.2.0/29");
    }
}
