//! The planner: `(desired, observed, policy) -> Plan`. Pure: no I/O, no clock, cannot fail.
//!
//! For one desired endpoint (`endpoint.rs`), the decision walks the seven console steps in
//! order and stops at the first one not done:
//!
//! ```text
//!  observation complete?         --no-->  no action; phase as last known, say why
//!  cluster on AWS, same region?  --no-->  Failed (says what to change)
//!  service Active?               --no-->  NotConfigured, wait
//!  our VPC endpoint exists?      --no-->  adopt (tag it) | check VPC, subnets, SGs -> create
//!  endpoint failed/rejected?     --yes->  Failed
//!  subnets / SGs as desired?     --no-->  modify (in place), and go on
//!  connection registered?        --no-->  register
//!  connection FAILED?            --yes->  Failed (TiDB Cloud's message)
//!  accepted (available + ACTIVE)?--no-->  Initiating, wait
//!  private DNS as desired?       --no-->  modify -> Pending
//!                                          Active
//! ```
//!
//! An owned endpoint that no valid document names (`removal.rs`) is removed (Delete:
//! connection, then endpoint; Orphan: our tags dropped), unless its file is invalid (frozen)
//! or the mass-deletion guard holds. What marks an endpoint as ours is `ownership.rs`.

mod action;
mod endpoint;
pub mod ownership;
mod removal;

use serde::Serialize;

use crate::cloud::{Cluster, Connection, Network, Scope, Service, VpcEndpoint};
use crate::spec::EndpointDocument;

pub use action::Action;
pub use endpoint::{drift, plan_endpoint};

/// The phase a user sees (status file, metric).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
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
    pub cluster: Option<Result<Cluster, String>>,
    pub node_group_id: Option<String>,
    pub service: Option<Service>,
    /// Our endpoint (owner and name tags), or the adopted one.
    pub endpoint: Option<VpcEndpoint>,
    /// For `endpointId`: the endpoint as described by ID when it is not ours yet.
    pub adoptee: Option<VpcEndpoint>,
    /// Whether `adoptee` was looked up (so `None` there means "does not exist").
    pub adoptee_checked: bool,
    pub connection: Option<Connection>,
    /// VPC, subnets and groups, looked up only when a create or modify needs checking.
    pub network: Option<Network>,
    /// A transient problem while observing this endpoint.
    pub trouble: Option<String>,
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
}

impl EndpointPlan {
    fn new(name: &str, phase: Phase, message: impl Into<String>) -> Self {
        EndpointPlan {
            name: name.into(),
            phase,
            message: message.into(),
            actions: Vec::new(),
            uncertain: false,
        }
    }
}

/// Policy knobs: ownership and the mass-deletion guard.
#[derive(Debug, Clone)]
pub struct Policy {
    pub owner_id: String,
    pub max_deletes_per_pass: usize,
    pub allow_mass_delete: bool,
    /// The endpoints directory is empty or missing: removals then look like an accident.
    pub source_empty: bool,
}

/// An owned endpoint that no valid document names.
#[derive(Debug, Clone)]
pub struct Leftover {
    pub scope: Scope,
    pub endpoint: VpcEndpoint,
    pub connection: Option<Connection>,
    /// Its file is invalid right now: leave it exactly as it is.
    pub frozen: bool,
}

/// The whole pass: per-endpoint plans, plus removals.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub endpoints: Vec<EndpointPlan>,
    pub removals: Vec<EndpointPlan>,
    /// Why deletions were held back this pass, if they were.
    pub deletions_blocked: Option<String>,
}

impl Plan {
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.endpoints
            .iter()
            .chain(&self.removals)
            .flat_map(|p| p.actions.iter())
    }
}

/// The pass plan over every desired endpoint and every leftover.
pub fn plan(desired: &[(Desired<'_>, Observed)], leftovers: &[Leftover], policy: &Policy) -> Plan {
    let endpoints = desired
        .iter()
        .map(|(d, o)| plan_endpoint(d, o, &policy.owner_id))
        .collect();
    let (removals, deletions_blocked) = removal::plan_removals(leftovers, policy);
    Plan {
        endpoints,
        removals,
        deletions_blocked,
    }
}

#[cfg(test)]
mod tests;
