//! What a person does in the Azure portal behind the daemon's back, what the fake TiDB Cloud
//! server is told of an Azure that lives elsewhere, and what tests read of the simulated
//! Resource Manager.

use super::*;

impl SimCloud {
    /// This world serves TiDB Cloud; the private endpoints are in another Azure (the real
    /// one, `fake-azure-network`): TiDB Cloud takes any endpoint ID and private IP it is
    /// given (an IP is still required).
    pub fn with_azure_elsewhere(self) -> SimCloud {
        self.lock().azure_elsewhere = true;
        self
    }

    /// Creates a private endpoint by hand (no tags), as TiDB Cloud's Azure guide does in the
    /// portal: `Succeeded` at once, with an address from its subnet; something to adopt.
    /// Its ID. Panics when the subnet is not the world's or is full (a test's mistake).
    pub fn azure_create_by_hand(
        &self,
        subscription: &str,
        resource_group: &str,
        name: &str,
        subnet_id: &str,
        service_id: &str,
    ) -> String {
        let mut sim = self.lock();
        let now = sim.now();
        let (network, subnet) = sim.az_subnet(subnet_id).expect("a subnet of the world");
        let (location, prefix) = (network.location.clone(), subnet.address_prefix.clone());
        let subnet_id = network.subnet_id(&subnet.name);
        let ip = sim
            .az_allocate(&subnet_id, &prefix, now)
            .expect("room in the subnet");
        let id = private_endpoint_id(subscription, resource_group, name);
        let nic = format!(
            "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Network/networkInterfaces/{name}.nic.{}",
            guid(&format!("nic/{}", sim.next_id()))
        );
        let endpoint = PrivateEndpoint {
            id: id.clone(),
            name: name.into(),
            location,
            tags: BTreeMap::new(),
            provisioning_state: ProvisioningState::Succeeded,
            subnet_id,
            network_interface_id: Some(nic),
            service_id: service_id.into(),
            link_status: LinkStatus::Pending,
            private_ip: None,
        };
        sim.az_insert(endpoint, ip, now);
        id
    }

    /// A private endpoint in an Azure this world does not hold (the fake TiDB Cloud server's
    /// control endpoint): TiDB Cloud sees it connected to `service_id` with `private_ip`, lists
    /// it as DISCOVERED, and registers it only with that IP.
    pub fn azure_connection_request(&self, endpoint_id: &str, service_id: &str, private_ip: &str) {
        let mut sim = self.lock();
        let now = sim.now();
        let location = sim
            .azure_service(service_id)
            .map(|(c, _)| c.region.clone())
            .unwrap_or_default();
        let endpoint = PrivateEndpoint {
            id: endpoint_id.into(),
            name: segment(endpoint_id, "privateEndpoints")
                .unwrap_or(endpoint_id)
                .into(),
            location,
            tags: BTreeMap::new(),
            provisioning_state: ProvisioningState::Succeeded,
            subnet_id: String::new(),
            network_interface_id: None,
            service_id: service_id.into(),
            link_status: LinkStatus::Pending,
            private_ip: None,
        };
        sim.az_insert(endpoint, private_ip.into(), now);
    }

    /// Deletes a private endpoint in the portal: `Deleting`, gone when the operation is done
    /// (an operation of ours still running on it is overtaken).
    pub fn azure_delete_behind_our_back(&self, id: &str) {
        let mut sim = self.lock();
        let now = sim.now();
        if sim.az_endpoint(id, now).is_some() {
            sim.az_start_delete(&id.to_ascii_lowercase());
            sim.persist();
        }
    }

    /// Removes a tag of a private endpoint, as a person would in the portal.
    pub fn azure_remove_tag_behind_our_back(&self, id: &str, key: &str) {
        let mut sim = self.lock();
        if let Some(e) = sim.state.azure.endpoints.get_mut(&id.to_ascii_lowercase()) {
            e.endpoint.tags.remove(key);
        }
        sim.persist();
    }

    /// Every private endpoint Resource Manager holds now, with its private IP (tests and leak
    /// checks; no call is counted).
    pub fn azure_endpoints(&self) -> Vec<PrivateEndpoint> {
        let sim = self.lock();
        let now = sim.now();
        let answers = sim.az_answers(now);
        sim.state
            .azure
            .endpoints
            .values()
            .filter_map(|e| {
                let mut view = sim.az_view(e, now, &answers)?;
                view.private_ip = (now >= e.created_at && !e.ip.is_empty()).then(|| e.ip.clone());
                Some(view)
            })
            .collect()
    }

    /// The private IP TiDB Cloud was told with a connection's registration (Azure's
    /// `privateIpAddress`).
    pub fn connection_private_ip(&self, id: &str) -> Option<String> {
        self.lock()
            .state
            .connections
            .get(id)
            .and_then(|c| c.private_ip.clone())
    }
}

impl Sim {
    /// A private endpoint made outside the API: there, created, at `now`.
    fn az_insert(&mut self, endpoint: PrivateEndpoint, ip: String, now: u64) {
        let record = AzEndpoint {
            endpoint,
            ip,
            created_at: now,
            busy_until: now,
            operation: String::new(),
            failed: false,
            deleting: false,
        };
        let key = record.endpoint.id.to_ascii_lowercase();
        self.state.azure.endpoints.insert(key, record);
        self.persist();
    }
}
