//! The simulated Compute Engine: internal addresses, Private Service Connect forwarding rules
//! and the region operations that make them, as `fake-gcp-compute` (and Google's API) shows
//! them: operations that run `timing.operation`, label fingerprints, `requestId`s answered with
//! the same operation, names unique per project and region, and `pscConnectionStatus` that
//! turns ACCEPTED when TiDB Cloud (this simulation's) accepted the endpoint.

use std::collections::{BTreeMap, BTreeSet};

use super::super::gcp::{
    Address, FirewallRule, ForwardingRule, Gcp, InsertAddress, InsertForwardingRule, Labelled,
    OperationState, PscStatus, Subnetwork,
};
use super::*;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(super) struct GcpState {
    /// By `project/region/name`.
    addresses: BTreeMap<String, Address>,
    rules: BTreeMap<String, ForwardingRule>,
    /// Operation name -> when it is done, and its error.
    operations: BTreeMap<String, (u64, Option<String>)>,
    /// `requestId`s seen, with their operation.
    requests: BTreeMap<String, String>,
}

impl State {
    pub(super) fn gcp_rules(&self) -> impl Iterator<Item = &ForwardingRule> {
        self.gcp.rules.values()
    }

    pub(super) fn gcp_project_of(&self, rule: &str) -> Option<String> {
        let (key, _) = self.gcp.rules.iter().find(|(_, r)| r.name == rule)?;
        key.split('/').next().map(String::from)
    }
}

fn key(scope: &Scope, name: &str) -> String {
    format!("{}/{}/{name}", scope.account, scope.region)
}

fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    let text = serde_json::to_string(labels).expect("labels serialize");
    format!("{:016x}", fnv(&text))
}

fn not_found(what: &str, name: &str) -> CloudError {
    CloudError::NotFound(format!("The resource '{what}/{name}' was not found"))
}

impl Sim {
    /// A new operation, done `timing.operation` from now (or the one `request_id` made).
    fn operation(&mut self, request_id: Option<&str>, error: Option<String>) -> String {
        if let Some(op) = request_id.and_then(|r| self.state.gcp.requests.get(r)) {
            return op.clone();
        }
        let name = format!("operation-{}", self.next_id());
        let done = self.now() + Self::ms(self.world.timing.operation);
        self.state
            .gcp
            .operations
            .insert(name.clone(), (done, error));
        if let Some(r) = request_id {
            self.state.gcp.requests.insert(r.to_string(), name.clone());
        }
        name
    }

    /// Before an insert: a known `requestId` is answered with its operation (`Some`); a name
    /// taken is Google's 409 `alreadyExists`; else the insert goes ahead (`None`).
    fn repeated(
        &self,
        scope: &Scope,
        collection: &str,
        name: &str,
        exists: bool,
        request_id: &str,
    ) -> CloudResult<Option<String>> {
        if let Some(op) = self.state.gcp.requests.get(request_id) {
            return Ok(Some(op.clone()));
        }
        if exists {
            return Err(CloudError::Permanent(format!(
                "The resource 'projects/{}/regions/{}/{collection}/{name}' already exists",
                scope.account, scope.region
            )));
        }
        Ok(None)
    }

    /// The forwarding rule as Google shows it now: ACCEPTED once TiDB Cloud accepted it.
    fn view_rule(&self, rule: &ForwardingRule, now: u64) -> ForwardingRule {
        let mut view = rule.clone();
        // TiDB Cloud elsewhere: this Google Cloud cannot see it accept, and takes it as done.
        let accepted = self.tidb_elsewhere
            || self.state.connections.values().any(|c| {
                c.deleted_at.is_none()
                    && c.connection.endpoint_id == rule.name
                    && self
                        .view_connection(c, now)
                        .is_some_and(|v| v.state == ConnectionState::Active)
            });
        view.psc_connection_status = if accepted {
            PscStatus::Accepted
        } else {
            PscStatus::Pending
        };
        view
    }

    fn subnetwork(&self, scope: &Scope, name: &str) -> Option<Subnetwork> {
        self.world
            .gcp_networks
            .iter()
            .filter(|n| n.project == scope.account)
            .flat_map(|n| n.subnetworks.iter().map(move |s| (n, s)))
            .find(|(_, s)| s.name == name && s.region == scope.region)
            .map(|(n, s)| Subnetwork {
                name: s.name.clone(),
                network: n.name.clone(),
                region: s.region.clone(),
                ip_cidr_range: s.ip_cidr_range.clone(),
            })
    }

    /// The next free address in a subnetwork (Google keeps the first two).
    fn allocate(&self, scope: &Scope, sub: &Subnetwork) -> CloudResult<String> {
        let (base, bits) = sub
            .ip_cidr_range
            .split_once('/')
            .unwrap_or(("10.0.0.0", "24"));
        let base: std::net::Ipv4Addr = base.parse().unwrap_or(std::net::Ipv4Addr::new(10, 0, 0, 0));
        let size = 1u32 << (32 - bits.parse::<u32>().unwrap_or(24).min(30));
        let used: BTreeSet<&str> = self
            .state
            .gcp
            .addresses
            .iter()
            .filter(|(k, a)| k.starts_with(&key(scope, "")) && a.subnetwork == sub.name)
            .map(|(_, a)| a.address.as_str())
            .collect();
        (2..size - 1)
            .map(|i| std::net::Ipv4Addr::from(u32::from(base) + i).to_string())
            .find(|ip| !used.contains(ip.as_str()))
            .ok_or_else(|| {
                CloudError::Permanent(format!(
                    "IP_SPACE_EXHAUSTED: no free address in subnetwork {}",
                    sub.name
                ))
            })
    }
}

impl Gcp for SimCloud {
    async fn list_forwarding_rules(
        &self,
        scope: &Scope,
        (key_, value): (&str, &str),
        _page_token: Option<&str>,
    ) -> CloudResult<Page<ForwardingRule>> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::LIST_FORWARDING_RULES, Some(scope))?;
        let now = sim.now();
        let prefix = key(scope, "");
        let items = sim
            .state
            .gcp
            .rules
            .iter()
            .filter(|(k, r)| {
                k.starts_with(&prefix) && r.labels.get(key_).map(String::as_str) == Some(value)
            })
            .map(|(_, r)| sim.view_rule(r, now))
            .collect();
        Ok(Page { items, next: None })
    }

    async fn list_forwarding_rules_to(
        &self,
        scope: &Scope,
        targets: &[String],
        _page_token: Option<&str>,
    ) -> CloudResult<Page<ForwardingRule>> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::LIST_FORWARDING_RULES, Some(scope))?;
        let now = sim.now();
        let prefix = key(scope, "");
        let items = sim
            .state
            .gcp
            .rules
            .iter()
            .filter(|(k, r)| {
                k.starts_with(&prefix) && targets.iter().any(|t| r.target.ends_with(t.as_str()))
            })
            .map(|(_, r)| sim.view_rule(r, now))
            .collect();
        Ok(Page { items, next: None })
    }

    async fn list_addresses(
        &self,
        scope: &Scope,
        (key_, value): (&str, &str),
        _page_token: Option<&str>,
    ) -> CloudResult<Page<Address>> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::LIST_ADDRESSES, Some(scope))?;
        let prefix = key(scope, "");
        let items = sim
            .state
            .gcp
            .addresses
            .iter()
            .filter(|(k, a)| {
                k.starts_with(&prefix) && a.labels.get(key_).map(String::as_str) == Some(value)
            })
            .map(|(_, a)| a.clone())
            .collect();
        Ok(Page { items, next: None })
    }

    async fn get_forwarding_rule(
        &self,
        scope: &Scope,
        name: &str,
    ) -> CloudResult<Option<ForwardingRule>> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::GET_FORWARDING_RULE, Some(scope))?;
        let now = sim.now();
        let rule = sim.state.gcp.rules.get(&key(scope, name)).cloned();
        Ok(rule.map(|r| sim.view_rule(&r, now)))
    }

    async fn get_address(&self, scope: &Scope, name: &str) -> CloudResult<Option<Address>> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::GET_ADDRESS, Some(scope))?;
        Ok(sim.state.gcp.addresses.get(&key(scope, name)).cloned())
    }

    async fn insert_address(&self, scope: &Scope, r: &InsertAddress) -> CloudResult<String> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::INSERT_ADDRESS, Some(scope))?;
        let k = key(scope, &r.name);
        let exists = sim.state.gcp.addresses.contains_key(&k);
        if let Some(op) = sim.repeated(scope, "addresses", &r.name, exists, &r.request_id)? {
            return Ok(op);
        }
        let sub = sim
            .subnetwork(scope, &r.subnetwork)
            .ok_or_else(|| not_found("subnetworks", &r.subnetwork))?;
        let address = match &r.address {
            Some(ip) => ip.clone(),
            None => sim.allocate(scope, &sub)?,
        };
        sim.state.gcp.addresses.insert(
            k,
            Address {
                name: r.name.clone(),
                address,
                subnetwork: sub.name,
                labels: r.labels.clone(),
                label_fingerprint: fingerprint(&r.labels),
            },
        );
        let op = sim.operation(Some(&r.request_id), None);
        sim.persist();
        sim.answer(op::INSERT_ADDRESS, op)
    }

    async fn insert_forwarding_rule(
        &self,
        scope: &Scope,
        r: &InsertForwardingRule,
    ) -> CloudResult<String> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::INSERT_FORWARDING_RULE, Some(scope))?;
        let k = key(scope, &r.name);
        let exists = sim.state.gcp.rules.contains_key(&k);
        if let Some(op) = sim.repeated(scope, "forwardingRules", &r.name, exists, &r.request_id)? {
            return Ok(op);
        }
        let network_known = sim
            .world
            .gcp_networks
            .iter()
            .any(|n| n.project == scope.account && n.name == r.network);
        if !network_known {
            return Err(not_found("networks", &r.network));
        }
        let ip = sim
            .state
            .gcp
            .addresses
            .get(&key(scope, &r.address))
            .map(|a| a.address.clone())
            .ok_or_else(|| not_found("addresses", &r.address))?;
        // An attachment no TiDB Cloud cluster offers: the operation fails, as Google's does.
        let known_target = sim.world.clusters.iter().any(|c| {
            c.node_groups
                .iter()
                .any(|g| Sim::attachment(c, &g.id) == r.target)
        });
        let error = (!known_target).then(|| format!("The resource '{}' was not found", r.target));
        if known_target {
            sim.state.gcp.rules.insert(
                k,
                ForwardingRule {
                    name: r.name.clone(),
                    network: r.network.clone(),
                    ip_address: ip,
                    target: r.target.clone(),
                    psc_connection_status: PscStatus::Pending,
                    allow_psc_global_access: r.allow_psc_global_access,
                    labels: r.labels.clone(),
                    label_fingerprint: fingerprint(&r.labels),
                },
            );
        }
        let op = sim.operation(Some(&r.request_id), error);
        sim.persist();
        sim.answer(op::INSERT_FORWARDING_RULE, op)
    }

    async fn delete_forwarding_rule(&self, scope: &Scope, name: &str) -> CloudResult<String> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::DELETE_FORWARDING_RULE, Some(scope))?;
        sim.state
            .gcp
            .rules
            .remove(&key(scope, name))
            .ok_or_else(|| not_found("forwardingRules", name))?;
        let op = sim.operation(None, None);
        sim.persist();
        sim.answer(op::DELETE_FORWARDING_RULE, op)
    }

    async fn delete_address(&self, scope: &Scope, name: &str) -> CloudResult<String> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::DELETE_ADDRESS, Some(scope))?;
        let k = key(scope, name);
        let Some(address) = sim.state.gcp.addresses.get(&k) else {
            return Err(not_found("addresses", name));
        };
        let in_use = sim
            .state
            .gcp
            .rules
            .iter()
            .any(|(rk, r)| rk.starts_with(&key(scope, "")) && r.ip_address == address.address);
        if in_use {
            return Err(CloudError::Permanent(format!(
                "The address resource '{name}' is already being used by a forwarding rule"
            )));
        }
        sim.state.gcp.addresses.remove(&k);
        let op = sim.operation(None, None);
        sim.persist();
        sim.answer(op::DELETE_ADDRESS, op)
    }

    async fn set_labels(
        &self,
        scope: &Scope,
        kind: Labelled,
        name: &str,
        labels: &BTreeMap<String, String>,
        fp: &str,
    ) -> CloudResult<String> {
        self.latency().await;
        let mut sim = self.lock();
        let op = match kind {
            Labelled::Address => op::SET_ADDRESS_LABELS,
            Labelled::ForwardingRule => op::SET_FORWARDING_RULE_LABELS,
        };
        sim.call(op, Some(scope))?;
        let k = key(scope, name);
        let gcp = &mut sim.state.gcp;
        let (labels_now, fingerprint_now) = match kind {
            Labelled::Address => gcp
                .addresses
                .get_mut(&k)
                .map(|a| (&mut a.labels, &mut a.label_fingerprint))
                .ok_or_else(|| not_found("addresses", name))?,
            Labelled::ForwardingRule => gcp
                .rules
                .get_mut(&k)
                .map(|r| (&mut r.labels, &mut r.label_fingerprint))
                .ok_or_else(|| not_found("forwardingRules", name))?,
        };
        if fingerprint_now != fp {
            return Err(CloudError::Transient(format!(
                "Labels fingerprint either invalid or resource labels have changed \
                 (412 conditionNotMet) on {name}"
            )));
        }
        *labels_now = labels.clone();
        *fingerprint_now = fingerprint(labels);
        let op_name = sim.operation(None, None);
        sim.persist();
        sim.answer(op, op_name)
    }

    async fn get_operation(&self, scope: &Scope, operation: &str) -> CloudResult<OperationState> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::GET_OPERATION, Some(scope))?;
        let now = sim.now();
        match sim.state.gcp.operations.get(operation) {
            None => Err(not_found("operations", operation)),
            Some((done, _)) if now < *done => Ok(OperationState::Running),
            Some((_, Some(error))) => Ok(OperationState::Failed(error.clone())),
            Some((_, None)) => Ok(OperationState::Done),
        }
    }

    async fn network_exists(&self, project: &str, network: &str) -> CloudResult<bool> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::GET_NETWORK, Some(&Scope::gcp(project, "global")))?;
        Ok(sim
            .world
            .gcp_networks
            .iter()
            .any(|n| n.project == project && n.name == network))
    }

    async fn get_subnetwork(&self, scope: &Scope, name: &str) -> CloudResult<Option<Subnetwork>> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::GET_SUBNETWORK, Some(scope))?;
        Ok(sim.subnetwork(scope, name))
    }

    async fn list_firewalls(&self, project: &str, network: &str) -> CloudResult<Vec<FirewallRule>> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::LIST_FIREWALLS, Some(&Scope::gcp(project, "global")))?;
        Ok(sim
            .world
            .gcp_networks
            .iter()
            .filter(|n| n.project == project && n.name == network)
            .flat_map(|n| &n.firewalls)
            .map(|f| FirewallRule {
                name: f.name.clone(),
                egress: f.egress,
                priority: f.priority,
                deny: f.deny,
                rules: vec![("tcp".into(), f.ports.clone())],
                destination_ranges: f.destination_ranges.clone(),
                targeted: false,
                disabled: false,
            })
            .collect())
    }
}

/// What a person does in the Google Cloud console behind the daemon's back, and what tests
/// read of the simulated Compute Engine.
impl SimCloud {
    /// The forwarding rules and addresses of a project and region (as stored, not as viewed).
    pub fn gcp_resources(
        &self,
        project: &str,
        region: &str,
    ) -> (Vec<ForwardingRule>, Vec<Address>) {
        let sim = self.lock();
        let prefix = key(&Scope::gcp(project, region), "");
        let rules = sim
            .state
            .gcp
            .rules
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix));
        let addresses = sim
            .state
            .gcp
            .addresses
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix));
        (
            rules.map(|(_, r)| r.clone()).collect(),
            addresses.map(|(_, a)| a.clone()).collect(),
        )
    }

    /// Adds a subnetwork to a network, as a person would in the console.
    pub fn gcp_add_subnetwork_behind_our_back(
        &self,
        project: &str,
        network: &str,
        subnetwork: super::GcpSubnetworkSeed,
    ) {
        let mut sim = self.lock();
        let found = sim
            .world
            .gcp_networks
            .iter_mut()
            .find(|n| n.project == project && n.name == network);
        if let Some(n) = found {
            n.subnetworks.push(subnetwork);
        }
    }

    /// Deletes a forwarding rule (its address stays), as a person would in the console.
    pub fn gcp_delete_rule_behind_our_back(&self, project: &str, region: &str, name: &str) {
        let mut sim = self.lock();
        sim.state
            .gcp
            .rules
            .remove(&key(&Scope::gcp(project, region), name));
        sim.persist();
    }

    /// Replaces a forwarding rule's and its address's labels, as a person would.
    pub fn gcp_set_labels_behind_our_back(
        &self,
        project: &str,
        region: &str,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) {
        let mut sim = self.lock();
        let k = key(&Scope::gcp(project, region), name);
        if let Some(r) = sim.state.gcp.rules.get_mut(&k) {
            r.labels = labels.clone();
            r.label_fingerprint = fingerprint(labels);
        }
        if let Some(a) = sim.state.gcp.addresses.get_mut(&k) {
            a.labels = labels.clone();
            a.label_fingerprint = fingerprint(labels);
        }
        sim.persist();
    }

    /// A Private Service Connect connection request reaching TiDB Cloud's attachment: a
    /// forwarding rule `name` in `project` and `region` targeting `target`, as far as TiDB
    /// Cloud sees one (the fake TiDB Cloud server's control endpoint: its Google Cloud is
    /// elsewhere).
    pub fn gcp_connection_request(&self, project: &str, region: &str, name: &str, target: &str) {
        let mut sim = self.lock();
        let none = BTreeMap::new();
        sim.state.gcp.rules.insert(
            key(&Scope::gcp(project, region), name),
            ForwardingRule {
                name: name.into(),
                network: String::new(),
                ip_address: String::new(),
                target: target.into(),
                psc_connection_status: PscStatus::Pending,
                allow_psc_global_access: false,
                labels: none.clone(),
                label_fingerprint: fingerprint(&none),
            },
        );
        sim.persist();
    }

    /// Creates an address and a forwarding rule by hand (no labels), as the TiDB Cloud guide's
    /// gcloud commands do: something to adopt.
    pub fn gcp_create_by_hand(&self, scope: &Scope, name: &str, subnetwork: &str, target: &str) {
        let mut sim = self.lock();
        let network = sim
            .subnetwork(scope, subnetwork)
            .expect("a subnetwork of the world")
            .network;
        let sub = sim.subnetwork(scope, subnetwork).expect("checked");
        let ip = sim.allocate(scope, &sub).expect("room in the subnetwork");
        let none = BTreeMap::new();
        sim.state.gcp.addresses.insert(
            key(scope, name),
            Address {
                name: name.into(),
                address: ip.clone(),
                subnetwork: subnetwork.into(),
                labels: none.clone(),
                label_fingerprint: fingerprint(&none),
            },
        );
        sim.state.gcp.rules.insert(
            key(scope, name),
            ForwardingRule {
                name: name.into(),
                network,
                ip_address: ip,
                target: target.into(),
                psc_connection_status: PscStatus::Pending,
                allow_psc_global_access: false,
                labels: none.clone(),
                label_fingerprint: fingerprint(&none),
            },
        );
        sim.persist();
    }
}
