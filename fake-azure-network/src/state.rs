//! Everything the fake knows, behind one lock: the seeded tenants, subscriptions, resource
//! groups, virtual networks, subnets and Private Link services; the private endpoints, their
//! network interfaces and the operations clients start. All maps are keyed by lowercased IDs.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Instant;

use crate::error::ApiError;
use crate::ids::{Guids, ResourceId, group_key, is_guid};
use crate::model::{
    Cidr, Connection, ConnectionStatus, NetworkInterface, PrivateEndpoint, Provisioning, Service,
    StaticIp, Subnet, SubnetUsers, Tags, VirtualNetwork,
};
use crate::ops::{OpError, OpKind, OpStatus, Operation};
use crate::world::{EndpointSeed, World};

/// The values of a subnet's `privateEndpointNetworkPolicies` (the spec's enum).
const POLICIES: [&str; 4] = [
    "Enabled",
    "Disabled",
    "NetworkSecurityGroupEnabled",
    "RouteTableEnabled",
];

#[derive(Debug, Clone)]
pub struct App {
    pub client_id: String,
    pub secret: Option<String>,
    pub federated: bool,
    pub object_id: String,
}

#[derive(Debug, Clone)]
pub struct Identity {
    pub client_id: String,
    pub tenant: Option<String>,
    pub object_id: String,
    pub system_assigned: bool,
}

#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub tenant: Option<String>,
    pub forbidden: bool,
    pub read_only: bool,
}

/// A private endpoint to create (from a PUT or the world).
pub struct NewEndpoint {
    pub id: ResourceId,
    pub location: String,
    pub tags: Tags,
    pub subnet: ResourceId,
    pub connections: Vec<Connection>,
    pub custom_nic_name: Option<String>,
    pub static_ip: Option<StaticIp>,
    pub provisioning: Provisioning,
}

#[derive(Debug, Clone, Default)]
pub struct State {
    /// Tenant ID (lowercased) -> its applications.
    pub tenants: BTreeMap<String, Vec<App>>,
    pub identities: Vec<Identity>,
    pub subscriptions: BTreeMap<String, Subscription>,
    /// `subscription/group`, lowercased.
    pub groups: BTreeSet<String>,
    pub vnets: BTreeMap<String, VirtualNetwork>,
    pub subnets: BTreeMap<String, Subnet>,
    pub services: BTreeMap<String, Service>,
    pub endpoints: BTreeMap<String, PrivateEndpoint>,
    pub nics: BTreeMap<String, NetworkInterface>,
    pub operations: BTreeMap<String, Operation>,
}

impl State {
    /// Adds (or replaces) what `world` describes. All or nothing: problems leave state as is.
    pub fn seed(&mut self, world: &World, guids: &Guids) -> Result<(), String> {
        let mut next = self.clone();
        next.seed_into(world, guids)?;
        *self = next;
        Ok(())
    }

    fn seed_into(&mut self, world: &World, guids: &Guids) -> Result<(), String> {
        for tenant in &world.tenants {
            let apps = self
                .tenants
                .entry(tenant.id.to_ascii_lowercase())
                .or_default();
            for app in &tenant.apps {
                apps.retain(|a| !a.client_id.eq_ignore_ascii_case(&app.client_id));
                apps.push(App {
                    client_id: app.client_id.clone(),
                    secret: app.client_secret.clone(),
                    federated: app.federated,
                    object_id: app.object_id.clone().unwrap_or_else(|| guids.next()),
                });
            }
        }
        for identity in &world.managed_identities {
            self.identities
                .retain(|i| !i.client_id.eq_ignore_ascii_case(&identity.client_id));
            self.identities.push(Identity {
                client_id: identity.client_id.clone(),
                tenant: identity.tenant.clone(),
                object_id: identity.object_id.clone().unwrap_or_else(|| guids.next()),
                system_assigned: identity.system_assigned,
            });
        }
        for service in &world.private_link_services {
            let id = ResourceId::parse(&service.id)
                .ok_or_else(|| format!("bad private link service ID {}", service.id))?;
            self.services.insert(
                id.key(),
                Service {
                    auto_approval: service.auto_approval.clone(),
                    visibility: service.visibility.clone(),
                    fqdns: service.fqdns.clone(),
                },
            );
        }
        let mut endpoints = Vec::new();
        for sub in &world.subscriptions {
            if !is_guid(&sub.id) {
                return Err(format!("subscription ID {} is not a GUID", sub.id));
            }
            self.subscriptions.insert(
                sub.id.to_ascii_lowercase(),
                Subscription {
                    id: sub.id.clone(),
                    tenant: sub.tenant.clone(),
                    forbidden: sub.forbidden,
                    read_only: sub.read_only,
                },
            );
            for group in &sub.resource_groups {
                self.groups.insert(group_key(&sub.id, &group.name));
                for vnet in &group.virtual_networks {
                    self.seed_vnet(&sub.id, &group.name, &group.location, vnet, guids)?;
                }
                for e in &group.private_endpoints {
                    endpoints.push((sub.id.clone(), group.clone(), e.clone()));
                }
            }
        }
        // After every subnet exists, wherever it is.
        for (sub, group, seed) in endpoints {
            self.seed_endpoint(&sub, &group, &seed, guids)?;
        }
        Ok(())
    }

    fn seed_vnet(
        &mut self,
        sub: &str,
        group: &str,
        group_location: &str,
        vnet: &crate::world::VnetSeed,
        guids: &Guids,
    ) -> Result<(), String> {
        let id = ResourceId::network(sub, group, "virtualNetworks", &vnet.name);
        let prefixes = vnet
            .address_prefixes
            .iter()
            .map(|p| Cidr::parse(p).ok_or_else(|| format!("vnet {}: bad prefix {p}", vnet.name)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut subnets: Vec<Subnet> = Vec::new();
        for s in &vnet.subnets {
            let prefix = Cidr::parse(&s.address_prefix)
                .filter(|p| prefixes.iter().any(|v| p.within(*v)))
                .ok_or_else(|| {
                    format!(
                        "subnet {}: {} is not a prefix within the vnet's address space",
                        s.name, s.address_prefix
                    )
                })?;
            if let Some(other) = subnets.iter().find(|o| o.prefix.overlaps(prefix)) {
                return Err(format!("subnet {} overlaps {}", s.name, other.id.display()));
            }
            let policies = s
                .private_endpoint_network_policies
                .clone()
                .unwrap_or_else(|| "Disabled".to_string());
            if !POLICIES.contains(&policies.as_str()) {
                return Err(format!("subnet {}: unknown policies {policies}", s.name));
            }
            subnets.push(Subnet {
                id: id.clone().with_child("subnets", &s.name),
                etag: guids.etag(),
                prefix,
                policies,
            });
        }
        for s in subnets {
            self.subnets.insert(s.id.key(), s);
        }
        self.vnets.insert(
            id.key(),
            VirtualNetwork {
                id,
                location: vnet
                    .location
                    .clone()
                    .unwrap_or_else(|| group_location.to_string()),
                tags: vnet.tags.clone(),
                etag: guids.etag(),
                resource_guid: guids.next(),
                prefixes,
            },
        );
        Ok(())
    }

    fn seed_endpoint(
        &mut self,
        sub: &str,
        group: &crate::world::GroupSeed,
        seed: &EndpointSeed,
        guids: &Guids,
    ) -> Result<(), String> {
        let subnet = ResourceId::parse(&seed.subnet)
            .filter(|s| s.is("virtualNetworks", Some("subnets")))
            .ok_or_else(|| format!("endpoint {}: bad subnet ID {}", seed.name, seed.subnet))?;
        let service = ResourceId::parse(&seed.private_link_service)
            .map(|s| s.display())
            .ok_or_else(|| format!("endpoint {}: bad service ID", seed.name))?;
        let status = seed.status.unwrap_or(ConnectionStatus::Pending);
        let new = NewEndpoint {
            id: ResourceId::network(sub, &group.name, "privateEndpoints", &seed.name),
            location: seed.location.clone().unwrap_or(group.location.clone()),
            tags: seed.tags.clone(),
            subnet,
            connections: vec![Connection {
                name: seed
                    .connection_name
                    .clone()
                    .unwrap_or_else(|| format!("{}-connection", seed.name)),
                service,
                manual: true,
                group_ids: None,
                request_message: None,
                status,
                description: default_description(status).to_string(),
            }],
            custom_nic_name: None,
            static_ip: None,
            provisioning: Provisioning::Succeeded,
        };
        self.insert_endpoint(new, guids)
            .map_err(|e| format!("endpoint {}: {e}", seed.name))
    }

    /// Creates an endpoint and its network interface, with an address from its subnet.
    pub fn insert_endpoint(&mut self, new: NewEndpoint, guids: &Guids) -> Result<(), ApiError> {
        let subnet = self
            .subnets
            .get(&new.subnet.key())
            .cloned()
            .ok_or_else(|| ApiError::InvalidResourceReference {
                referenced: new.subnet.display(),
                by: new.id.display(),
            })?;
        let ip = match &new.static_ip {
            Some(s) => self.check_static_ip(&subnet, s.ip)?,
            None => self.allocate(&subnet)?,
        };
        let nic_name = new
            .custom_nic_name
            .clone()
            .unwrap_or_else(|| format!("{}.nic.{}", new.id.name, guids.next()));
        let nic_id = ResourceId::network(
            &new.id.subscription,
            &new.id.group,
            "networkInterfaces",
            &nic_name,
        );
        if self.nics.contains_key(&nic_id.key()) {
            return Err(ApiError::Other {
                status: 400,
                code: "NetworkInterfaceNameInUse".into(),
                message: format!("Network interface {} already exists.", nic_id.display()),
            });
        }
        let fqdns = new
            .connections
            .iter()
            .filter_map(|c| self.services.get(&c.service.to_ascii_lowercase()))
            .flat_map(|s| s.fqdns.clone())
            .collect();
        let etag = guids.etag();
        self.nics.insert(
            nic_id.key(),
            NetworkInterface {
                id: nic_id.clone(),
                location: new.location.clone(),
                etag: etag.clone(),
                provisioning: new.provisioning,
                resource_guid: guids.next(),
                ip_config: format!("privateEndpointIpConfig.{}", guids.next()),
                ip,
                static_ip: new.static_ip.is_some(),
                subnet: subnet.id.clone(),
                endpoint: new.id.clone(),
            },
        );
        self.endpoints.insert(
            new.id.key(),
            PrivateEndpoint {
                id: new.id,
                location: new.location,
                tags: new.tags,
                etag,
                provisioning: new.provisioning,
                subnet: subnet.id,
                connections: new.connections,
                nic: nic_id,
                custom_nic_name: new.custom_nic_name,
                static_ip: new.static_ip,
                ip,
                fqdns,
            },
        );
        Ok(())
    }

    fn used_ips(&self, subnet: &Subnet) -> Vec<Ipv4Addr> {
        self.nics
            .values()
            .filter(|n| n.subnet.key() == subnet.id.key())
            .map(|n| n.ip)
            .collect()
    }

    /// The lowest free address of a subnet, as Azure's dynamic allocation gives.
    fn allocate(&self, subnet: &Subnet) -> Result<Ipv4Addr, ApiError> {
        let used = self.used_ips(subnet);
        subnet
            .prefix
            .usable()
            .find(|ip| !used.contains(ip))
            .ok_or_else(|| ApiError::SubnetIsFull {
                name: subnet.id.child.clone().unwrap_or_default().1,
                prefix: subnet.prefix.to_string(),
            })
    }

    fn check_static_ip(&self, subnet: &Subnet, ip: Ipv4Addr) -> Result<Ipv4Addr, ApiError> {
        let sub = subnet.id.display();
        if !subnet.prefix.contains(ip) {
            return Err(ApiError::PrivateIp {
                code: "PrivateIPAddressNotInSubnet",
                message: format!(
                    "Private static IP address {ip} does not belong to the range of subnet prefix {} of subnet {sub}.",
                    subnet.prefix
                ),
            });
        }
        if subnet.prefix.is_reserved(ip) {
            return Err(ApiError::PrivateIp {
                code: "PrivateIPAddressInReservedRange",
                message: format!(
                    "Private static IP address {ip} falls within reserved IP range of subnet prefix {}.",
                    subnet.prefix
                ),
            });
        }
        if self.used_ips(subnet).contains(&ip) {
            return Err(ApiError::PrivateIp {
                code: "PrivateIPAddressInUse",
                message: format!(
                    "IP configuration of another resource in subnet {sub} is using the private static IP address {ip}."
                ),
            });
        }
        Ok(ip)
    }

    pub fn remove_endpoint(&mut self, key: &str) {
        if let Some(e) = self.endpoints.remove(key) {
            self.nics.remove(&e.nic.key());
        }
    }

    /// The operation not yet done on this endpoint, if any.
    pub fn busy(&self, key: &str) -> Option<&Operation> {
        self.operations
            .values()
            .find(|op| op.target == key && !op.is_done())
    }

    pub fn subnet_users(&self, subnet: &ResourceId) -> SubnetUsers {
        let key = subnet.key();
        let mut users = SubnetUsers::default();
        for e in self.endpoints.values().filter(|e| e.subnet.key() == key) {
            users.endpoints.push(e.id.display());
        }
        for n in self.nics.values().filter(|n| n.subnet.key() == key) {
            users.ip_configurations.push(format!(
                "{}/ipConfigurations/{}",
                n.id.display(),
                n.ip_config
            ));
        }
        users
    }

    /// Applies the operations whose time is up, in the order they finish.
    pub fn advance(&mut self, now: Instant, guids: &Guids) {
        let mut due: Vec<(Instant, String)> = self
            .operations
            .values()
            .filter(|op| !op.is_done() && op.done_at <= now)
            .map(|op| (op.done_at, op.id.clone()))
            .collect();
        due.sort();
        for (_, id) in due {
            let Some(op) = self.operations.get(&id).cloned() else {
                continue;
            };
            let (status, error) = self.finish(&op, guids);
            if let Some(op) = self.operations.get_mut(&id) {
                op.status = status;
                op.error = error;
            }
        }
    }

    fn finish(&mut self, op: &Operation, guids: &Guids) -> (OpStatus, Option<OpError>) {
        let failed = op.planned_error.is_some();
        if op.kind == OpKind::Delete && !failed {
            self.remove_endpoint(&op.target);
            return (OpStatus::Succeeded, None);
        }
        let Some(endpoint) = self.endpoints.get_mut(&op.target) else {
            return (OpStatus::Canceled, Some(canceled()));
        };
        let state = if failed {
            Provisioning::Failed
        } else {
            Provisioning::Succeeded
        };
        endpoint.provisioning = state;
        endpoint.etag = guids.etag();
        let nic = endpoint.nic.key();
        if let Some(nic) = self.nics.get_mut(&nic) {
            nic.provisioning = state;
            nic.etag = guids.etag();
        }
        match &op.planned_error {
            Some(e) => (OpStatus::Failed, Some(e.clone())),
            None => (OpStatus::Succeeded, None),
        }
    }

    /// Cancels the operations on a resource deleted in the portal.
    pub fn cancel_operations(&mut self, key: &str) {
        for op in self.operations.values_mut() {
            if op.target == key && !op.is_done() {
                op.status = OpStatus::Canceled;
                op.error = Some(canceled());
            }
        }
    }
}

fn canceled() -> OpError {
    OpError::new(
        "Canceled",
        "Operation was canceled: the resource was deleted.",
    )
}

/// The `description` Azure gives a connection in each state ("Awaiting approval" is the text
/// in the 2024-05-01 spec's manual-approval examples).
pub fn default_description(status: ConnectionStatus) -> &'static str {
    match status {
        ConnectionStatus::Pending => "Awaiting approval",
        ConnectionStatus::Approved => "Approved",
        ConnectionStatus::Rejected => "Rejected",
        ConnectionStatus::Disconnected => "Disconnected",
    }
}
