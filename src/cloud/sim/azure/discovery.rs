//! TiDB Cloud's side of Azure in the simulation: what it answered (the endpoint's link
//! status follows), what it checks when an endpoint is registered, and the endpoints it finds
//! by itself (DISCOVERED connections).

use super::*;

impl Sim {
    /// What TiDB Cloud answered about endpoints: accepted (by a live connection), or accepted
    /// once and since deleted.
    pub(super) fn az_answers(&self, now: u64) -> Answers {
        let accept = Self::ms(self.world.timing.accept);
        let mut answers = Answers {
            approved: BTreeSet::new(),
            disconnected: BTreeMap::new(),
        };
        for c in self.state.connections.values() {
            let accepted_at = c.created_at + accept;
            if c.discovered || c.fails || now < accepted_at {
                continue;
            }
            let id = c.connection.endpoint_id.to_ascii_lowercase();
            match c.deleted_at {
                None => {
                    answers.approved.insert(id);
                }
                Some(at) if at >= accepted_at => {
                    let latest = answers.disconnected.entry(id).or_insert(at);
                    *latest = (*latest).max(at);
                }
                Some(_) => {}
            }
        }
        answers
    }

    /// TiDB Cloud's view of an Azure endpoint: its IP if it exists, connected to `service`.
    fn azure_endpoint_ip(&self, id: &str, service: &str) -> Option<String> {
        let now = self.now();
        self.az_endpoint(id, now)
            .filter(|e| e.connected(now) && e.endpoint.service_id.eq_ignore_ascii_case(service))
            .map(|e| e.ip.clone())
    }

    /// TiDB Cloud's checks of an Azure registration: a private IP, and (unless Azure lives
    /// elsewhere) the endpoint connected to the node group's service with that IP.
    pub(in crate::cloud::sim) fn check_azure_registration(
        &self,
        endpoint_id: &str,
        service: &str,
        private_ip: Option<&str>,
    ) -> CloudResult<()> {
        let Some(ip) = private_ip.filter(|ip| !ip.is_empty()) else {
            return Err(CloudError::Permanent(
                "privateIpAddress is required for a private endpoint on Azure".into(),
            ));
        };
        if ip.parse::<Ipv4Addr>().is_err() {
            return Err(CloudError::Permanent(format!(
                "invalid privateIpAddress {ip}: an IPv4 address is expected"
            )));
        }
        if self.azure_elsewhere {
            return Ok(());
        }
        match self.azure_endpoint_ip(endpoint_id, service) {
            None => Err(CloudError::Permanent(format!(
                "private endpoint {endpoint_id} was not found connecting to the private link \
                 service {service}"
            ))),
            Some(actual) if actual != ip => Err(CloudError::Permanent(format!(
                "privateIpAddress {ip} is not the private IP address of private endpoint \
                 {endpoint_id}"
            ))),
            Some(_) => Ok(()),
        }
    }

    /// TiDB Cloud finds Azure endpoints by itself: each endpoint connected to an Azure
    /// cluster's service that no connection names is recorded as a DISCOVERED connection (a
    /// stable ID, which registering it keeps); one whose endpoint went away goes with it.
    /// Called before TiDB Cloud's connections are read.
    pub(in crate::cloud::sim) fn discover(&mut self) {
        // No Azure endpoint was ever made (records are kept once gone): nothing to find, and
        // the listings of a world without Azure pay nothing for it.
        if self.state.azure.endpoints.is_empty() {
            return;
        }
        let now = self.now();
        let mut seen: BTreeMap<String, (String, String, String, u16)> = BTreeMap::new();
        for (key, e) in &self.state.azure.endpoints {
            if !e.connected(now) {
                continue;
            }
            if let Some((c, g)) = self.azure_service(&e.endpoint.service_id) {
                let found = (e.endpoint.id.clone(), c.id.clone(), g.id.clone(), c.port);
                seen.insert(key.clone(), found);
            }
        }
        let before = self.state.connections.len();
        self.state.connections.retain(|_, c| {
            !c.discovered || seen.contains_key(&c.connection.endpoint_id.to_ascii_lowercase())
        });
        let mut changed = before != self.state.connections.len();
        let delete = Self::ms(self.world.timing.delete);
        let named: BTreeSet<String> = self
            .state
            .connections
            .values()
            .filter(|c| c.deleted_at.is_none_or(|at| now < at + delete))
            .map(|c| c.connection.endpoint_id.to_ascii_lowercase())
            .collect();
        for (key, (endpoint_id, cluster_id, node_group_id, port)) in seen {
            if named.contains(&key) {
                continue;
            }
            let id = (1_900_000_000_000_000_000 + self.next_id()).to_string();
            let connection = Connection {
                id: id.clone(),
                cluster_id,
                node_group_id,
                endpoint_id,
                state: ConnectionState::Discovered,
                message: String::new(),
                host: String::new(),
                port,
            };
            let record = SimConnection {
                connection,
                created_at: now,
                deleted_at: None,
                fails: false,
                discovered: true,
                private_ip: None,
            };
            self.state.connections.insert(id, record);
            changed = true;
        }
        if changed {
            self.persist();
        }
    }
}
