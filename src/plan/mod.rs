//! The planner: `(desired, observed, policy) -> Plan`. Pure: no I/O, no clock, cannot fail.
//!
//! For one desired endpoint (`endpoint.rs`), the decision walks the seven console steps in
//! order and stops at the first one not done:
//!
//! ```text
//!  observation complete?         --no-->  no action; phase as last known, say why
//!  cluster known, Dedicated?     --no-->  Failed (gone, or not a Dedicated cluster)
//!  on AWS, same region, project? --no-->  Failed (says what to change)
//!  cluster serving?              --no-->  no action; phase as last known (paused...)
//!  service Active?               --no-->  NotConfigured, wait (Deleting: Deleting)
//!  our VPC endpoint exists?      --no-->  adopt (tag it) | check VPC, subnets, SGs -> create
//!  endpoint failed/rejected?     --yes->  Failed
//!  subnets / SGs as desired?     --no-->  modify (in place), and go on
//!  connection registered?        --no-->  register
//!  connection FAILED?            --yes->  Failed (TiDB Cloud's message); when its retry
//!                                          is due: delete it, and register again
//!  accepted (available + ACTIVE)?--no-->  Initiating, wait
//!  private DNS as desired?       --no-->  modify -> Pending
//!                                          Active
//! ```
//!
//! An owned endpoint that no valid document names (`removal.rs`) leaves management (Delete:
//! connection, then endpoint; Orphan: our tags dropped) only when all of these hold:
//! 1. no file names it: not a valid document, and not an invalid or unreadable file (those
//!    freeze what came from them and what they seem to name);
//! 2. what happens is what the latest valid document said: its policy as this daemon last saw
//!    it, else the tags (which every pass brings up to date with the document);
//! 3. the mass-deletion guard (`guard.rs`) lets it go: it counts every departure of a pass,
//!    deletions, orphanings and the old half of replacements, and holds them all back when
//!    there are too many or the directory is empty, unless a person approved exactly them.
//!
//! What marks an endpoint as ours, and what the marks say, is `ownership.rs`.

mod action;
pub mod conditions;
mod endpoint;
mod guard;
pub mod ownership;
mod placement;
pub mod preview;
mod removal;

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Serialize;

use crate::cloud::{CloudEndpoint, Cluster, Connection, Firewall, Network, Scope, Service};
use crate::spec::{DeletionPolicy, EndpointDocument};

pub use action::{Action, TagPurpose};
pub use conditions::{Condition, ConditionStatus, ConditionType, ProbeResult};
pub use endpoint::{plan_endpoint, scope_of};
pub use placement::{drift, in_place};

/// The phase a user sees (status file, metric).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
pub enum Phase {
    NotConfigured,
    Initiating,
    Pending,
    Active,
    Deleting,
    Failed,
}

impl Phase {
    pub const ALL: [Phase; 6] = [
        Phase::NotConfigured,
        Phase::Initiating,
        Phase::Pending,
        Phase::Active,
        Phase::Deleting,
        Phase::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::NotConfigured => "NotConfigured",
            Phase::Initiating => "Initiating",
            Phase::Pending => "Pending",
            Phase::Active => "Active",
            Phase::Deleting => "Deleting",
            Phase::Failed => "Failed",
        }
    }

    /// Still moving on its own: worth observing again soon.
    pub fn is_transitional(self) -> bool {
        !matches!(self, Phase::Active | Phase::Failed)
    }
}

/// What the cloud looked like for one desired endpoint.
///
/// `None` means "not known this pass" (a lookup failed transiently or was not needed).
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The cluster, or why it could not be had (not found, no rights).
    pub cluster: Option<Result<Arc<Cluster>, String>>,
    pub node_group_id: Option<String>,
    pub service: Option<Arc<Service>>,
    /// Our endpoint (owner and name marks), or the adopted one.
    pub endpoint: Option<CloudEndpoint>,
    /// For `endpointId` (`endpointName` with `adopt` on Google Cloud): the endpoint as
    /// described by ID when it is not ours yet.
    pub adoptee: Option<CloudEndpoint>,
    /// Whether `adoptee` was looked up (so `None` there means "does not exist").
    pub adoptee_checked: bool,
    pub connection: Option<Arc<Connection>>,
    /// The ledger says this document had an endpoint, and none is left: a create is a
    /// re-creation, which the creation guard counts.
    pub recreating: bool,
    /// Connections of earlier VPC endpoints of this name that AWS no longer has (deleted in
    /// the console): nothing can use them.
    pub stale_connections: Vec<Connection>,
    /// VPC, subnets and groups, looked up only when a create or modify needs checking.
    pub network: Option<std::sync::Arc<Network>>,
    /// The endpoint's security groups with their rules, and its VPC's CIDR blocks (shared by
    /// the endpoints of an account and region).
    pub firewall: Option<std::sync::Arc<Firewall>>,
    /// Google Cloud: the network, subnetwork and firewall rules, looked up only when a create
    /// needs checking (and for the egress check).
    pub gcp_place: Option<std::sync::Arc<crate::cloud::gcp::Placement>>,
    /// Azure: the document's subnet (`None` until looked up; looked up before a create).
    pub azure_subnet: Option<std::sync::Arc<crate::cloud::azure::Subnet>>,
    /// Azure: the subnet was looked up (so `None` above means "does not exist").
    pub azure_subnet_checked: bool,
    /// Azure: what the connection's host resolves to from here (`None`: not looked up, the
    /// connection is not ACTIVE yet).
    pub azure_dns: Option<Result<Vec<std::net::IpAddr>, String>>,
    /// What this host's probe found (`None` unless `probe.enabled`).
    pub probe: Option<ProbeResult>,
    /// The connection is FAILED: when TiDB Cloud may be asked again.
    pub retry: Option<Retry>,
    /// A transient problem while observing this endpoint.
    pub trouble: Option<String>,
}

/// The schedule of retries of a connection TiDB Cloud marked FAILED: delete it and register
/// the same VPC endpoint again, after 5 minutes, then 10, 20, 40, and every hour.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Retry {
    /// Retry now: the time came, the document changed, or a person asked (`privatelinkd retry`).
    pub due: bool,
    /// When the next automatic retry is (wall clock).
    pub next_at: std::time::SystemTime,
    /// Retries so far.
    pub attempts: u32,
}

/// Everything the planner knows about one desired endpoint.
#[derive(Debug, Clone)]
pub struct Desired<'a> {
    pub doc: &'a EndpointDocument,
    /// The file (relative to the endpoints directory), written into the FILE tag.
    pub file: &'a str,
}

/// The plan for one endpoint: where it stands and what to do next.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointPlan {
    pub name: String,
    pub phase: Phase,
    pub message: String,
    pub actions: Vec<Action>,
    /// Observation was incomplete: the phase is a guess, keep showing the last known one.
    #[serde(skip)]
    pub uncertain: bool,
    /// The actions take the endpoint out of management (what the mass-deletion guard counts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaving: Option<Leaving>,
    /// A guard took the actions away (see `Plan::deletions_blocked` and
    /// `Plan::creations_blocked`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub held_by_guard: bool,
    /// The actions create an endpoint for a document that had one (the ledger says so): what
    /// the creation guard counts.
    #[serde(skip)]
    pub recreating: bool,
    /// What the phase does not say: cluster, port, DNS, reachability.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The actions retry a FAILED connection (the engine counts the attempt).
    #[serde(skip)]
    pub retrying: bool,
}

impl EndpointPlan {
    fn new(name: &str, phase: Phase, message: impl Into<String>) -> Self {
        EndpointPlan {
            name: name.into(),
            phase,
            message: message.into(),
            actions: Vec::new(),
            uncertain: false,
            leaving: None,
            held_by_guard: false,
            recreating: false,
            conditions: Vec::new(),
            retrying: false,
        }
    }

    /// Nothing can happen until the cluster serves again (paused, or on its way back): such
    /// an endpoint is no reason to pass again sooner than `interval`.
    pub fn waits_for_cluster(&self) -> bool {
        self.conditions.iter().any(|c| {
            c.kind == ConditionType::ClusterAvailable && c.status == ConditionStatus::False
        })
    }
}

/// An endpoint on its way out of management.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Leaving {
    pub kind: LeaveKind,
    /// The VPC endpoint that leaves.
    pub endpoint_id: String,
    /// For a removed document: the file it was last in (its status goes there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// How an endpoint leaves: as its document's `deletionPolicy` says, whether the document is
/// gone or asks for another VPC or cluster (then a new endpoint replaces it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LeaveKind {
    /// The document is gone and said `deletionPolicy: Delete`.
    Delete,
    /// The document is gone and said `deletionPolicy: Orphan`.
    Orphan,
    /// The document moved to another VPC or cluster; the old endpoint is deleted.
    Replace,
    /// The same, with `deletionPolicy: Orphan`: the old endpoint is left in place, untagged.
    ReplaceOrphan,
}

impl LeaveKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LeaveKind::Delete => "delete",
            LeaveKind::Orphan => "orphan",
            LeaveKind::Replace => "replace",
            LeaveKind::ReplaceOrphan => "replace-orphan",
        }
    }
}

/// Policy knobs: ownership and the mass-deletion guard.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub owner_id: String,
    pub max_deletes_per_pass: usize,
    pub allow_mass_delete: bool,
    /// The endpoints directory is empty or missing: removals then look like an accident.
    pub source_empty: bool,
    /// Departures and re-creations a person approved (`privatelinkd approve`), by
    /// [`Plan::key`]: the guards let exactly these through.
    pub approved: BTreeSet<String>,
    /// More re-creations than this in one pass are all held back (`prune.maxRecreatesPerPass`).
    pub max_recreates_per_pass: usize,
}

/// An owned endpoint that no valid document names.
#[derive(Debug, Clone)]
pub struct Leftover {
    pub scope: Scope,
    pub endpoint: CloudEndpoint,
    pub connection: Option<Connection>,
    /// A file that is invalid or unreadable right now names it (or it came from one): leave
    /// it exactly as it is.
    pub frozen: bool,
    /// The latest valid document for it that this daemon saw since it started, if any: its
    /// policy wins over the tags (which may lag behind).
    pub last_seen: Option<LastSeen>,
}

/// What the latest valid document of an endpoint said, as far as its removal cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastSeen {
    pub policy: DeletionPolicy,
    /// Relative to the endpoints directory.
    pub file: String,
}

/// The whole pass: per-endpoint plans, plus removals.
///
/// An endpoint's plan is shared (`Arc`): the engine reuses the last one for an endpoint
/// whose document and observation did not change, and only what backoff or the guard
/// changes is copied (`Arc::make_mut`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub endpoints: Vec<Arc<EndpointPlan>>,
    pub removals: Vec<EndpointPlan>,
    /// Why the mass-deletion guard held departures back this pass, if it did.
    pub deletions_blocked: Option<String>,
    /// Why the creation guard held re-creations back this pass, if it did.
    pub creations_blocked: Option<String>,
}

impl Plan {
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.all().flat_map(|p| p.actions.iter())
    }

    /// Desired endpoints and removals alike.
    pub fn all(&self) -> impl Iterator<Item = &EndpointPlan> {
        self.endpoints.iter().map(|p| &**p).chain(&self.removals)
    }

    /// Desired endpoints and removals alike, for changing those that `pick` selects: only
    /// they are copied out of a shared plan.
    pub fn change_where(
        &mut self,
        pick: impl Fn(&EndpointPlan) -> bool,
        mut change: impl FnMut(&mut EndpointPlan),
    ) {
        for p in self.endpoints.iter_mut().filter(|p| pick(p)) {
            change(Arc::make_mut(p));
        }
        for p in self.removals.iter_mut().filter(|p| pick(p)) {
            change(p);
        }
    }

    /// What identifies a departure or a re-creation for approval: name, endpoint (`-` for
    /// one to be created) and what happens to it.
    pub fn key(p: &EndpointPlan) -> Option<String> {
        if p.recreating {
            return Some(format!("{} - recreate", p.name));
        }
        let l = p.leaving.as_ref()?;
        Some(format!("{} {} {}", p.name, l.endpoint_id, l.kind.as_str()))
    }

    /// The departures and re-creations the guards hold back, by key.
    pub fn held_back(&self) -> BTreeSet<String> {
        self.all()
            .filter(|p| p.held_by_guard)
            .filter_map(Plan::key)
            .collect()
    }

    /// Why the guards hold what they hold, as people read it.
    pub fn guard_reason(&self) -> Option<String> {
        let deletions = self
            .deletions_blocked
            .as_ref()
            .map(|r| format!("held back by the mass-deletion guard: {r}"));
        let creations = self
            .creations_blocked
            .as_ref()
            .map(|r| format!("held back by the creation guard: {r}"));
        match (deletions, creations) {
            (Some(d), Some(c)) => Some(format!("{d}; {c}")),
            (d, c) => d.or(c),
        }
    }

    /// The guards' own reasons, joined (what `approve` shows).
    pub fn blocked_reason(&self) -> Option<String> {
        match (&self.deletions_blocked, &self.creations_blocked) {
            (Some(d), Some(c)) => Some(format!("{d}; {c}")),
            (d, c) => d.clone().or(c.clone()),
        }
    }

    /// What the guards hold back, in a word: for log lines.
    pub fn held_what(&self) -> &'static str {
        match (&self.deletions_blocked, &self.creations_blocked) {
            (Some(_), Some(_)) => "deletions and re-creations",
            (None, Some(_)) => "re-creations",
            _ => "deletions",
        }
    }

    /// A short digest of the held-back set: an approval names it, so a different (say,
    /// larger) set that appears later is not approved by accident.
    pub fn held_back_digest(&self) -> Option<String> {
        digest(&self.held_back())
    }
}

/// The digest of a set of departure keys (`None` for the empty set).
pub fn digest(keys: &BTreeSet<String>) -> Option<String> {
    if keys.is_empty() {
        return None;
    }
    let text: Vec<&str> = keys.iter().map(String::as_str).collect();
    Some(format!("{:016x}", crate::stable::fnv(&text.join("\n"))))
}

/// The pass plan over every desired endpoint and every leftover.
pub fn plan(desired: &[(Desired<'_>, Observed)], leftovers: &[Leftover], policy: &Policy) -> Plan {
    let endpoints = desired
        .iter()
        .map(|(d, o)| Arc::new(plan_endpoint(d, o, &policy.owner_id)))
        .collect();
    assemble(endpoints, leftovers, policy)
}

/// The pass plan from the desired endpoints' plans (made by [`plan_endpoint`], or reused
/// when nothing they depend on changed) and every leftover.
pub fn assemble(
    endpoints: Vec<Arc<EndpointPlan>>,
    leftovers: &[Leftover],
    policy: &Policy,
) -> Plan {
    let mut plan = Plan {
        endpoints,
        removals: leftovers
            .iter()
            .filter(|l| !l.frozen)
            .map(removal::plan_removal)
            .collect(),
        deletions_blocked: None,
        creations_blocked: None,
    };
    guard::hold_mass_departures(&mut plan, policy);
    guard::hold_mass_recreations(&mut plan, policy);
    plan
}

#[cfg(test)]
pub(crate) mod tests;
