//! Everything the fake knows, behind one lock: seeded networks, subnetworks, firewall rules and
//! service attachments; the addresses, forwarding rules and operations clients create.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::time::{Instant, SystemTime};

use crate::model::{Address, Cidr, Firewall, ForwardingRule, Network, PscStatus, Ref, Subnetwork};
use crate::ops::{Effect, OpError, Operation, timestamp};
use crate::world::{ConnectionPreference, FIREWALL_FIELDS, REGIONS, World};

#[derive(Debug, Clone)]
pub struct Attachment {
    pub preference: ConnectionPreference,
    /// Deleted by its producer: endpoints to it are CLOSED, new ones are refused.
    pub deleted: bool,
}

#[derive(Debug)]
pub struct State {
    pub regions: BTreeSet<String>,
    pub projects: BTreeSet<String>,
    pub networks: BTreeMap<Ref, Network>,
    pub subnetworks: BTreeMap<Ref, Subnetwork>,
    pub firewalls: BTreeMap<Ref, Firewall>,
    pub addresses: BTreeMap<Ref, Address>,
    pub forwarding_rules: BTreeMap<Ref, ForwardingRule>,
    pub attachments: BTreeMap<Ref, Attachment>,
    pub operations: BTreeMap<Ref, Operation>,
    /// `requestId`s seen, per project: a retried insert answers the first operation.
    pub request_ids: HashMap<(String, String), Ref>,
    /// Names taken by inserts not yet done.
    pub pending: HashSet<Ref>,
    /// Resources with an operation not yet done.
    pub busy: HashSet<Ref>,
    next_id: u64,
}

impl State {
    pub fn new() -> State {
        State {
            regions: REGIONS.iter().map(|r| r.to_string()).collect(),
            projects: BTreeSet::new(),
            networks: BTreeMap::new(),
            subnetworks: BTreeMap::new(),
            firewalls: BTreeMap::new(),
            addresses: BTreeMap::new(),
            forwarding_rules: BTreeMap::new(),
            attachments: BTreeMap::new(),
            operations: BTreeMap::new(),
            request_ids: HashMap::new(),
            pending: HashSet::new(),
            busy: HashSet::new(),
            // 19 digits, like Compute Engine's IDs, so clients meet realistic sizes.
            next_id: 4_204_203_150_000_000_000,
        }
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 7_919;
        self.next_id
    }

    pub fn now_timestamp() -> String {
        timestamp(SystemTime::now())
    }

    /// Adds (or replaces) what `world` describes. All or nothing: problems leave state as is.
    pub fn seed(&mut self, world: &World) -> Result<(), String> {
        let mut next = self.clone_seeded();
        next.seed_into(world)?;
        self.regions = next.regions;
        self.projects = next.projects;
        self.networks = next.networks;
        self.subnetworks = next.subnetworks;
        self.firewalls = next.firewalls;
        self.attachments = next.attachments;
        self.next_id = next.next_id;
        Ok(())
    }

    fn clone_seeded(&self) -> State {
        State {
            regions: self.regions.clone(),
            projects: self.projects.clone(),
            networks: self.networks.clone(),
            subnetworks: self.subnetworks.clone(),
            firewalls: self.firewalls.clone(),
            attachments: self.attachments.clone(),
            next_id: self.next_id,
            ..State::new()
        }
    }

    fn seed_into(&mut self, world: &World) -> Result<(), String> {
        let name_ok = |n: &str| crate::labels::check_name("name", n).map_err(|e| e.message);
        self.regions.extend(world.regions.iter().cloned());
        for project in &world.projects {
            self.projects.insert(project.id.clone());
            for net in &project.networks {
                name_ok(&net.name)?;
                let net_ref = Ref::global(&project.id, "networks", &net.name);
                let id = self.next_id();
                self.networks.insert(
                    net_ref.clone(),
                    Network {
                        id,
                        created: Self::now_timestamp(),
                        r#ref: net_ref.clone(),
                        forwarding_rules_limit: net.forwarding_rules_limit,
                    },
                );
                for sub in &net.subnetworks {
                    name_ok(&sub.name)?;
                    if !self.regions.contains(&sub.region) {
                        return Err(format!(
                            "subnetwork {}: unknown region {}",
                            sub.name, sub.region
                        ));
                    }
                    let range = Cidr::parse(&sub.ip_cidr_range).ok_or_else(|| {
                        format!(
                            "subnetwork {}: bad ipCidrRange {}",
                            sub.name, sub.ip_cidr_range
                        )
                    })?;
                    let sub_ref = Ref::regional(&project.id, &sub.region, "subnetworks", &sub.name);
                    let overlapping = self.subnetworks.values().find(|s| {
                        s.network == net_ref
                            && s.r#ref != sub_ref
                            && (s.range.contains(range.base) || range.contains(s.range.base))
                    });
                    if let Some(other) = overlapping {
                        return Err(format!(
                            "subnetwork {} overlaps {}",
                            sub.name, other.r#ref.name
                        ));
                    }
                    let id = self.next_id();
                    self.subnetworks.insert(
                        sub_ref.clone(),
                        Subnetwork {
                            id,
                            created: Self::now_timestamp(),
                            r#ref: sub_ref,
                            network: net_ref.clone(),
                            range,
                        },
                    );
                }
                for fw in &net.firewalls {
                    name_ok(&fw.name)?;
                    if let Some(bad) = fw
                        .spec
                        .keys()
                        .find(|k| !FIREWALL_FIELDS.contains(&k.as_str()))
                    {
                        return Err(format!("firewall {}: unknown field {bad}", fw.name));
                    }
                    let fw_ref = Ref::global(&project.id, "firewalls", &fw.name);
                    let id = self.next_id();
                    self.firewalls.insert(
                        fw_ref.clone(),
                        Firewall {
                            id,
                            created: Self::now_timestamp(),
                            r#ref: fw_ref,
                            network: net_ref.clone(),
                            spec: fw.spec.clone(),
                        },
                    );
                }
            }
        }
        for attachment in &world.service_attachments {
            let r = Ref::parse(&attachment.uri, "", None, "serviceAttachments")
                .filter(|r| r.region.is_some() && !r.project.is_empty())
                .ok_or_else(|| format!("bad service attachment {}", attachment.uri))?;
            self.attachments.insert(
                r,
                Attachment {
                    preference: attachment.connection_preference,
                    deleted: false,
                },
            );
        }
        Ok(())
    }

    /// Applies the operations whose time is up, in the order they finish.
    pub fn advance(&mut self, now: Instant) {
        let mut due: Vec<(Instant, Ref)> = self
            .operations
            .values()
            .filter(|op| !op.applied && op.done_at() <= now)
            .map(|op| (op.done_at(), op.r#ref.clone()))
            .collect();
        due.sort();
        for (_, name) in due {
            let Some(op) = self.operations.get_mut(&name) else {
                continue;
            };
            op.applied = true;
            let effect = op.effect.take();
            let failed = op.error.is_some();
            let target = op.target.clone();
            self.pending.remove(&target);
            self.busy.remove(&target);
            if let (Some(effect), false) = (effect, failed)
                && let Err(e) = self.apply(effect)
                && let Some(op) = self.operations.get_mut(&name)
            {
                op.error = Some(e);
            }
        }
    }

    fn apply(&mut self, effect: Effect) -> Result<(), OpError> {
        match effect {
            Effect::InsertAddress(a) => {
                if let Some(user) = self.ip_user(&a.network, a.ip) {
                    return Err(ip_in_use(a.ip, &user));
                }
                self.addresses.insert(a.r#ref.clone(), *a);
            }
            Effect::DeleteAddress(r) => {
                self.addresses.remove(&r);
            }
            Effect::SetAddressLabels(r, labels) => {
                if let Some(a) = self.addresses.get_mut(&r) {
                    a.labels = labels;
                }
            }
            Effect::InsertForwardingRule(mut rule) => {
                if let Some(address) = &rule.address {
                    let link = rule.r#ref.link();
                    let a = self.addresses.get_mut(address).ok_or_else(|| {
                        OpError::new(
                            "RESOURCE_NOT_FOUND",
                            format!("The resource '{}' was not found", address.path()),
                            404,
                        )
                    })?;
                    a.users.push(link);
                } else if let Some(user) = self.ip_user(&rule.network, rule.ip) {
                    return Err(ip_in_use(rule.ip, &user));
                }
                rule.psc_status = self.initial_psc_status(&rule.target);
                self.forwarding_rules.insert(rule.r#ref.clone(), *rule);
            }
            Effect::DeleteForwardingRule(r) => self.remove_forwarding_rule(&r),
            Effect::SetForwardingRuleLabels(r, labels) => {
                if let Some(f) = self.forwarding_rules.get_mut(&r) {
                    f.labels = labels;
                }
            }
        }
        Ok(())
    }

    pub fn remove_forwarding_rule(&mut self, r: &Ref) {
        if let Some(rule) = self.forwarding_rules.remove(r) {
            let link = rule.r#ref.link();
            if let Some(a) = rule.address.and_then(|a| self.addresses.get_mut(&a)) {
                a.users.retain(|u| *u != link);
            }
        }
    }

    pub fn initial_psc_status(&self, attachment: &Ref) -> PscStatus {
        match self.attachments.get(attachment) {
            Some(a) if a.deleted => PscStatus::Closed,
            Some(a) if a.preference == ConnectionPreference::AcceptAutomatic => PscStatus::Accepted,
            _ => PscStatus::Pending,
        }
    }

    /// What holds `ip` in `network` (an address or a forwarding rule), if anything.
    pub fn ip_user(&self, network: &Ref, ip: Ipv4Addr) -> Option<String> {
        let address = self
            .addresses
            .values()
            .find(|a| a.network == *network && a.ip == ip)
            .map(|a| a.r#ref.path());
        address.or_else(|| {
            self.forwarding_rules
                .values()
                .find(|f| f.network == *network && f.ip == ip)
                .map(|f| f.r#ref.path())
        })
    }

    /// The IPs inserts not yet done will take in `network`.
    pub fn pending_ips(&self, network: &Ref) -> Vec<Ipv4Addr> {
        self.operations
            .values()
            .filter(|op| !op.applied && op.error.is_none())
            .filter_map(|op| match &op.effect {
                Some(Effect::InsertAddress(a)) if a.network == *network => Some(a.ip),
                Some(Effect::InsertForwardingRule(f))
                    if f.network == *network && f.address.is_none() =>
                {
                    Some(f.ip)
                }
                _ => None,
            })
            .collect()
    }

    /// The lowest free address of a subnetwork.
    pub fn allocate(&self, subnetwork: &Subnetwork) -> Option<Ipv4Addr> {
        let pending = self.pending_ips(&subnetwork.network);
        let range = subnetwork.range;
        (0..range.size())
            .map(|n| range.nth(n))
            .filter(|ip| !range.is_reserved(*ip))
            .find(|ip| !pending.contains(ip) && self.ip_user(&subnetwork.network, *ip).is_none())
    }

    /// Forwarding rules in `network`, counting inserts not yet done (for the quota).
    pub fn forwarding_rules_in(&self, network: &Ref) -> usize {
        let pending = self
            .operations
            .values()
            .filter(|op| !op.applied && op.error.is_none())
            .filter(|op| matches!(&op.effect, Some(Effect::InsertForwardingRule(f)) if f.network == *network))
            .count();
        pending
            + self
                .forwarding_rules
                .values()
                .filter(|f| f.network == *network)
                .count()
    }

    /// Whether a resource of a collection the fake keeps exists.
    pub fn resource_exists(&self, r: &Ref) -> bool {
        match r.collection.as_str() {
            "addresses" => self.addresses.contains_key(r),
            "forwardingRules" => self.forwarding_rules.contains_key(r),
            "networks" => self.networks.contains_key(r),
            "subnetworks" => self.subnetworks.contains_key(r),
            "firewalls" => self.firewalls.contains_key(r),
            _ => false,
        }
    }
}

pub fn ip_in_use(ip: Ipv4Addr, user: &str) -> OpError {
    OpError::new(
        "IP_IN_USE_BY_ANOTHER_RESOURCE",
        format!("IP '{ip}' is already being used by another resource ({user})."),
        409,
    )
}
