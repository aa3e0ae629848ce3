//! The simulated Azure Resource Manager (`Microsoft.Network`): private endpoints in the world's
//! subnets with a manual connection to a TiDB Cloud cluster's Private Link service, as
//! `fake-azure-network` (and Azure) shows them. A PUT or DELETE answers with a long-running
//! operation's URL that runs `timing.operation`; meanwhile the endpoint is `Updating` (or
//! `Deleting`), then `Succeeded` with a network interface holding the lowest free address of
//! its subnet (after Azure's five reserved ones), or gone. The connection's status is the
//! provider's: `Pending` until this simulation's TiDB Cloud accepted the endpoint's
//! registration, then `Approved`; `Disconnected` once an accepted connection was deleted.
//!
//! TiDB Cloud's side of the story lives here too: it finds Azure endpoints by itself, and an
//! endpoint to an Azure cluster's service that it has no connection for is listed as a
//! `DISCOVERED` connection (`discovery.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use super::super::azure::{
    API_VERSION, Arm, LinkStatus, OperationState, PrivateEndpoint, ProvisioningState,
    PutPrivateEndpoint, Subnet, private_endpoint_id, segment,
};
use super::*;

mod arm;
mod console;
mod discovery;
#[cfg(test)]
mod tests;

/// What Resource Manager holds.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(super) struct AzureState {
    /// By resource ID, lowercased (Resource Manager matches IDs without regard to case).
    endpoints: BTreeMap<String, AzEndpoint>,
    /// By the operation's name (the last segment of its URL).
    operations: BTreeMap<String, AzOperation>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AzEndpoint {
    /// As it is once its create is done: `Succeeded`, with its network interface.
    endpoint: PrivateEndpoint,
    /// The address on its network interface (empty for a create that fails).
    ip: String,
    /// When its create's operation is done (its interface exists from then on).
    created_at: u64,
    /// When the latest operation on it is done.
    busy_until: u64,
    /// That operation's URL (a conflicting request names it, as Azure's 409 does).
    operation: String,
    /// Its create failed: gone once the operation is done.
    failed: bool,
    /// A delete is under way: gone once the operation is done.
    deleting: bool,
}

impl AzEndpoint {
    fn gone(&self, now: u64) -> bool {
        (self.failed || self.deleting) && now >= self.busy_until
    }

    /// Seen by the Private Link service (and so by TiDB Cloud): created and not going.
    fn connected(&self, now: u64) -> bool {
        !self.failed && !self.deleting && now >= self.created_at
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AzOperation {
    done_at: u64,
    /// Resource Manager's error (`Code: message`) when it fails.
    error: Option<String>,
}

/// The provider's answers on endpoints, from TiDB Cloud's connections (lowercased IDs).
struct Answers {
    approved: BTreeSet<String>,
    /// When an accepted connection of the endpoint was deleted (the latest): an endpoint made
    /// again under the same ID afterwards is not disconnected by it.
    disconnected: BTreeMap<String, u64>,
}

/// A GUID-shaped name, deterministic in `seed`.
fn guid(seed: &str) -> String {
    let (a, b) = (fnv(seed), fnv(&format!("{seed}/guid")));
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0xfff,
        b & 0xffff_ffff_ffff
    )
}

impl Sim {
    /// A cluster's Private Link service (TiDB Cloud's `serviceName` on Azure), in TiDB
    /// Cloud's own subscription.
    pub(super) fn private_link_service(cluster: &ClusterSeed, group: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/tidbcloud-dp-{}/providers/Microsoft.Network/privateLinkServices/pls-{:012x}",
            guid(&format!("tidbcloud/{}", cluster.id)),
            cluster.id,
            fnv(&format!("{}/{group}", cluster.id)) & 0xffff_ffff_ffff
        )
    }

    /// The Azure cluster and node group whose service `service_id` is.
    fn azure_service(&self, service_id: &str) -> Option<(&ClusterSeed, &NodeGroupSeed)> {
        self.world
            .clusters
            .iter()
            .filter(|c| c.cloud_provider == "azure")
            .find_map(|c| {
                c.node_groups
                    .iter()
                    .find(|g| Self::private_link_service(c, &g.id).eq_ignore_ascii_case(service_id))
                    .map(|g| (c, g))
            })
    }

    /// A new operation, done `timing.operation` from now: its URL.
    fn arm_operation(
        &mut self,
        subscription: &str,
        location: &str,
        error: Option<String>,
    ) -> String {
        let name = guid(&format!("operation/{}", self.next_id()));
        let done_at = self.now() + Self::ms(self.world.timing.operation);
        let url = format!(
            "https://management.azure.com/subscriptions/{subscription}/providers/Microsoft.Network/locations/{location}/operations/{name}?api-version={API_VERSION}"
        );
        let op = AzOperation { done_at, error };
        self.state.azure.operations.insert(name, op);
        url
    }

    /// The live (not gone) endpoint of this ID.
    fn az_endpoint(&self, id: &str, now: u64) -> Option<&AzEndpoint> {
        let e = self.state.azure.endpoints.get(&id.to_ascii_lowercase())?;
        (!e.gone(now)).then_some(e)
    }

    /// The endpoint as Resource Manager shows it now (the IP is on its interface).
    fn az_view(&self, e: &AzEndpoint, now: u64, answers: &Answers) -> Option<PrivateEndpoint> {
        if e.gone(now) {
            return None;
        }
        let mut view = e.endpoint.clone();
        let id = view.id.to_ascii_lowercase();
        if now < e.created_at {
            view.network_interface_id = None;
        }
        view.provisioning_state = if e.deleting {
            ProvisioningState::Deleting
        } else if now < e.busy_until {
            ProvisioningState::Updating
        } else {
            ProvisioningState::Succeeded
        };
        // TiDB Cloud elsewhere: this Azure cannot see it accept, and takes it as done.
        let elsewhere =
            self.tidb_elsewhere && now >= e.created_at + Self::ms(self.world.timing.accept);
        view.link_status = if answers.approved.contains(&id) || elsewhere {
            LinkStatus::Approved
        } else if answers
            .disconnected
            .get(&id)
            .is_some_and(|at| *at >= e.created_at)
        {
            LinkStatus::Disconnected
        } else {
            LinkStatus::Pending
        };
        Some(view)
    }

    /// The subnet of this ID in the world, and its network.
    fn az_subnet(&self, id: &str) -> Option<(&AzureNetworkSeed, &AzureSubnetSeed)> {
        self.world.azure_networks.iter().find_map(|n| {
            n.subnets
                .iter()
                .find(|s| n.subnet_id(&s.name).eq_ignore_ascii_case(id))
                .map(|s| (n, s))
        })
    }

    /// The lowest free address of a subnet after Azure's reserved ones (the network address,
    /// the next three, and the broadcast address).
    fn az_allocate(&self, subnet_id: &str, prefix: &str, now: u64) -> CloudResult<String> {
        let full = || {
            CloudError::Permanent(format!(
                "SubnetIsFull: Subnet {} with address prefix {prefix} does not have enough \
                 capacity for 1 IP addresses.",
                segment(subnet_id, "subnets").unwrap_or_default()
            ))
        };
        let (base, bits) = prefix.split_once('/').ok_or_else(full)?;
        let base: Ipv4Addr = base.parse().map_err(|_| full())?;
        let bits: u32 = bits.parse().map_err(|_| full())?;
        if !(8..=29).contains(&bits) {
            return Err(full());
        }
        let size = 1u32 << (32 - bits);
        let used: BTreeSet<&str> = self
            .state
            .azure
            .endpoints
            .values()
            .filter(|e| !e.gone(now) && e.endpoint.subnet_id.eq_ignore_ascii_case(subnet_id))
            .map(|e| e.ip.as_str())
            .collect();
        (4..size - 1)
            .map(|i| Ipv4Addr::from(u32::from(base) + i).to_string())
            .find(|ip| !used.contains(ip.as_str()))
            .ok_or_else(full)
    }

    /// Starts a delete (the console's or the API's): `Deleting`, gone when the operation is.
    fn az_start_delete(&mut self, key: &str) -> Option<String> {
        let e = self.state.azure.endpoints.get(key)?;
        let (subscription, location) = (
            e.endpoint.subscription().to_string(),
            e.endpoint.location.clone(),
        );
        let url = self.arm_operation(&subscription, &location, None);
        let done = self.now() + Self::ms(self.world.timing.operation);
        let e = self.state.azure.endpoints.get_mut(key)?;
        e.deleting = true;
        e.busy_until = done;
        e.operation = url.clone();
        Some(url)
    }

    /// A PUT on an endpoint that exists: the same subnet, service and location (its tags and
    /// request message may change), else Resource Manager's 400.
    fn az_update(&mut self, key: &str, r: &PutPrivateEndpoint) -> CloudResult<String> {
        let now = self.now();
        let e = &self.state.azure.endpoints[key];
        if now < e.busy_until {
            return Err(CloudError::Transient(format!(
                "AnotherOperationInProgress: Another operation on this or dependent resource is \
                 in progress. To retrieve status of the operation use uri: {}.",
                e.operation
            )));
        }
        if !e.endpoint.location.eq_ignore_ascii_case(&r.location) {
            return Err(CloudError::Permanent(format!(
                "InvalidResourceLocation: The resource '{}' already exists in location '{}' in \
                 resource group '{}'. A resource with the same name cannot be created in \
                 location '{}'. Please select a new resource name.",
                r.name, e.endpoint.location, r.resource_group, r.location
            )));
        }
        let changed = if !e.endpoint.subnet_id.eq_ignore_ascii_case(&r.subnet_id) {
            Some("subnet")
        } else if !e.endpoint.service_id.eq_ignore_ascii_case(&r.service_id) {
            Some("manualPrivateLinkServiceConnections")
        } else {
            None
        };
        if let Some(property) = changed {
            return Err(CloudError::Permanent(format!(
                "PropertyChangeNotAllowed: Changing property '{property}' is not allowed."
            )));
        }
        let url = self.arm_operation(&r.subscription, &r.location, None);
        let done = now + Self::ms(self.world.timing.operation);
        let e = self.state.azure.endpoints.get_mut(key).expect("checked");
        e.endpoint.tags = r.tags.clone();
        e.busy_until = done;
        e.operation = url.clone();
        Ok(url)
    }

    /// A PUT of a new endpoint: its subnet must be in its location; a service that is no
    /// TiDB Cloud cluster's fails the operation (the endpoint is `Updating` meanwhile).
    fn az_create(&mut self, key: String, r: &PutPrivateEndpoint) -> CloudResult<String> {
        let now = self.now();
        let id = private_endpoint_id(&r.subscription, &r.resource_group, &r.name);
        let subnet = self
            .az_subnet(&r.subnet_id)
            .filter(|(n, _)| n.location.eq_ignore_ascii_case(&r.location))
            .map(|(n, s)| (n.subnet_id(&s.name), s.address_prefix.clone()));
        let Some((subnet_id, prefix)) = subnet else {
            return Err(CloudError::Permanent(format!(
                "InvalidResourceReference: Resource {} referenced by resource {id} was not found. \
                 Please make sure that the referenced resource exists, and that both resources \
                 are in the same region.",
                r.subnet_id
            )));
        };
        let known = self.azure_service(&r.service_id).is_some();
        let (ip, error) = if known {
            (self.az_allocate(&subnet_id, &prefix, now)?, None)
        } else {
            let error = format!(
                "PrivateLinkServiceNotFound: Private link service {} provided during private \
                 endpoint creation does not exist or is not visible.",
                r.service_id
            );
            (String::new(), Some(error))
        };
        let failed = error.is_some();
        let url = self.arm_operation(&r.subscription, &r.location, error);
        let done = now + Self::ms(self.world.timing.operation);
        let nic = format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/networkInterfaces/{}.nic.{}",
            r.subscription,
            r.resource_group,
            r.name,
            guid(&format!("nic/{}", self.next_id()))
        );
        let endpoint = PrivateEndpoint {
            id,
            name: r.name.clone(),
            location: r.location.clone(),
            tags: r.tags.clone(),
            provisioning_state: ProvisioningState::Succeeded,
            subnet_id,
            network_interface_id: Some(nic),
            service_id: r.service_id.clone(),
            link_status: LinkStatus::Pending,
            private_ip: None,
        };
        let record = AzEndpoint {
            endpoint,
            ip,
            created_at: done,
            busy_until: done,
            operation: url.clone(),
            failed,
            deleting: false,
        };
        self.state.azure.endpoints.insert(key, record);
        Ok(url)
    }
}
