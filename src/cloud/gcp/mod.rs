//! Google Cloud, as privatelinkd uses it: a Private Service Connect endpoint is an internal
//! address reserved in a subnetwork and a forwarding rule in the VPC network that targets
//! TiDB Cloud's service attachment (TiDB Cloud's Google Cloud guide; Compute Engine v1).
//!
//! Two layers. [`Gcp`] is Compute Engine itself, one method per API request, so the call
//! gate meters each request against the project's rate quota exactly (`client.rs` is the real
//! one). [`Psc`] (`psc.rs`) builds the
//! consumer-side endpoint of the seam ([`super::Consumer`]) from those requests: it joins an
//! address and a forwarding rule of one name into a [`PscEndpoint`], creates one step per
//! pass (reserve the address; once it is reserved, the forwarding rule), deletes in the
//! reverse order, and keeps the operations it started, read when the next pass observes, so
//! that a failed operation becomes the next create's error instead of a silent retry.

pub mod client;
pub mod labels;
mod psc;
mod wire;

use std::collections::BTreeMap;
use std::future::Future;

use serde::{Deserialize, Serialize};

use super::{CloudResult, ConsumerEndpoint, Lifecycle, Page, Scope};

pub use client::{GcpClient, GcpConfig, GcpCredentials};
pub use psc::{CreatePsc, CreateStep, Psc};

/// A forwarding rule's `pscConnectionStatus`: the producer's side of the story.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PscStatus {
    /// Waiting for the producer (TiDB Cloud) to accept it.
    Pending,
    Accepted,
    Rejected,
    /// Accepted, but the producer's limits are reached: traffic may not flow.
    NeedsAttention,
    /// The service attachment went away.
    Closed,
    #[serde(other)]
    StatusUnspecified,
}

impl PscStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PscStatus::Pending => "PENDING",
            PscStatus::Accepted => "ACCEPTED",
            PscStatus::Rejected => "REJECTED",
            PscStatus::NeedsAttention => "NEEDS_ATTENTION",
            PscStatus::Closed => "CLOSED",
            PscStatus::StatusUnspecified => "STATUS_UNSPECIFIED",
        }
    }
}

/// A forwarding rule, as far as privatelinkd reads one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwardingRule {
    pub name: String,
    /// The network's name (the last part of Google's URL).
    pub network: String,
    /// The internal IP the endpoint answers on.
    pub ip_address: String,
    /// The service attachment, as `projects/P/regions/R/serviceAttachments/S` (Google's URL
    /// with its host and version cut off): how TiDB Cloud's `serviceName` is written.
    pub target: String,
    pub psc_connection_status: PscStatus,
    pub allow_psc_global_access: bool,
    pub labels: BTreeMap<String, String>,
    /// What `setLabels` must send back (optimistic locking).
    pub label_fingerprint: String,
}

/// An internal address reserved for an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub name: String,
    pub address: String,
    /// The subnetwork's name.
    pub subnetwork: String,
    pub labels: BTreeMap<String, String>,
    pub label_fingerprint: String,
}

/// A subnetwork, for the checks before a create.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subnetwork {
    pub name: String,
    /// The network's name.
    pub network: String,
    pub region: String,
    pub ip_cidr_range: String,
}

/// A VPC firewall rule, for the egress check (the counterpart of AWS's security groups).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirewallRule {
    pub name: String,
    pub egress: bool,
    /// Lower wins.
    pub priority: u32,
    /// A deny rule (else an allow rule).
    pub deny: bool,
    /// Protocol and ports (`tcp`, `["4000", "3000-3999"]`; no ports: every port).
    pub rules: Vec<(String, Vec<String>)>,
    /// Where an egress rule applies (CIDRs); empty: everywhere.
    pub destination_ranges: Vec<String>,
    /// Applies only to instances with these tags or service accounts: not to every client.
    pub targeted: bool,
    pub disabled: bool,
}

/// A request to reserve an endpoint's internal address.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InsertAddress {
    pub name: String,
    pub subnetwork: String,
    /// A fixed IP, or `None` for one Google allocates.
    pub address: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Google's idempotency key (a UUID): a resent insert is the same insert.
    pub request_id: String,
}

/// A request to create the forwarding rule of an endpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InsertForwardingRule {
    pub name: String,
    pub network: String,
    /// The reserved address's name.
    pub address: String,
    /// `projects/P/regions/R/serviceAttachments/S`.
    pub target: String,
    pub allow_psc_global_access: bool,
    pub labels: BTreeMap<String, String>,
    pub request_id: String,
}

/// Which resource `setLabels` goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labelled {
    Address,
    ForwardingRule,
}

/// A region operation as far as privatelinkd waits on one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationState {
    Running,
    Done,
    /// Done, with Google's error (its message: what a person must fix).
    Failed(String),
}

/// Compute Engine, one method per API request (each metered by the call gate).
pub trait Gcp: Send + Sync {
    /// One page of a region's forwarding rules carrying the label `key` = `value`.
    fn list_forwarding_rules(
        &self,
        scope: &Scope,
        label: (&str, &str),
        page_token: Option<&str>,
    ) -> impl Future<Output = CloudResult<Page<ForwardingRule>>> + Send;
    /// One page of a region's forwarding rules targeting any of `targets` (service
    /// attachments, as TiDB Cloud names them: `projects/P/regions/R/serviceAttachments/S`).
    fn list_forwarding_rules_to(
        &self,
        scope: &Scope,
        targets: &[String],
        page_token: Option<&str>,
    ) -> impl Future<Output = CloudResult<Page<ForwardingRule>>> + Send;
    /// One page of a region's addresses carrying the label `key` = `value`.
    fn list_addresses(
        &self,
        scope: &Scope,
        label: (&str, &str),
        page_token: Option<&str>,
    ) -> impl Future<Output = CloudResult<Page<Address>>> + Send;
    /// `None` when there is no such rule.
    fn get_forwarding_rule(
        &self,
        scope: &Scope,
        name: &str,
    ) -> impl Future<Output = CloudResult<Option<ForwardingRule>>> + Send;
    fn get_address(
        &self,
        scope: &Scope,
        name: &str,
    ) -> impl Future<Output = CloudResult<Option<Address>>> + Send;
    /// Starts reserving the address: the operation's name.
    fn insert_address(
        &self,
        scope: &Scope,
        request: &InsertAddress,
    ) -> impl Future<Output = CloudResult<String>> + Send;
    /// Starts creating the forwarding rule: the operation's name.
    fn insert_forwarding_rule(
        &self,
        scope: &Scope,
        request: &InsertForwardingRule,
    ) -> impl Future<Output = CloudResult<String>> + Send;
    fn delete_forwarding_rule(
        &self,
        scope: &Scope,
        name: &str,
    ) -> impl Future<Output = CloudResult<String>> + Send;
    fn delete_address(
        &self,
        scope: &Scope,
        name: &str,
    ) -> impl Future<Output = CloudResult<String>> + Send;
    /// Replaces the labels; `fingerprint` is the one last read (412 when it is stale).
    fn set_labels(
        &self,
        scope: &Scope,
        kind: Labelled,
        name: &str,
        labels: &BTreeMap<String, String>,
        fingerprint: &str,
    ) -> impl Future<Output = CloudResult<String>> + Send;
    /// A region operation (`get`, not `wait`: a pass never blocks on one).
    fn get_operation(
        &self,
        scope: &Scope,
        operation: &str,
    ) -> impl Future<Output = CloudResult<OperationState>> + Send;
    /// Whether the project has this VPC network.
    fn network_exists(
        &self,
        project: &str,
        network: &str,
    ) -> impl Future<Output = CloudResult<bool>> + Send;
    fn get_subnetwork(
        &self,
        scope: &Scope,
        name: &str,
    ) -> impl Future<Output = CloudResult<Option<Subnetwork>>> + Send;
    /// The firewall rules of a network (one filtered listing, every page).
    fn list_firewalls(
        &self,
        project: &str,
        network: &str,
    ) -> impl Future<Output = CloudResult<Vec<FirewallRule>>> + Send;
}

/// An endpoint's two halves, joined by name: both exist once it is made; an address alone is
/// a create half done (or a delete half done).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PscEndpoint {
    /// The forwarding rule's name (the address has the same one): what TiDB Cloud is told as
    /// `endpointId`, with the project (`accountId`) it lives in.
    pub name: String,
    pub project: String,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<ForwardingRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
}

impl PscEndpoint {
    /// The labels that carry our marks: the rule's, or the address's before there is a rule.
    fn labels(&self) -> &BTreeMap<String, String> {
        match (&self.rule, &self.address) {
            (Some(r), _) => &r.labels,
            (None, Some(a)) => &a.labels,
            (None, None) => {
                static EMPTY: BTreeMap<String, String> = BTreeMap::new();
                &EMPTY
            }
        }
    }

    /// The internal IP, once reserved.
    pub fn ip(&self) -> Option<&str> {
        self.rule
            .as_ref()
            .map(|r| r.ip_address.as_str())
            .or(self.address.as_ref().map(|a| a.address.as_str()))
    }

    pub fn network(&self) -> Option<&str> {
        self.rule.as_ref().map(|r| r.network.as_str())
    }

    pub fn subnetwork(&self) -> Option<&str> {
        self.address.as_ref().map(|a| a.subnetwork.as_str())
    }

    pub fn status(&self) -> Option<PscStatus> {
        self.rule.as_ref().map(|r| r.psc_connection_status)
    }
}

impl ConsumerEndpoint for PscEndpoint {
    fn id(&self) -> &str {
        &self.name
    }

    fn lifecycle(&self) -> Lifecycle {
        match self.status() {
            None => Lifecycle::Creating,
            Some(PscStatus::Pending | PscStatus::NeedsAttention) => Lifecycle::AwaitingAcceptance,
            Some(PscStatus::Accepted) => Lifecycle::Available,
            Some(PscStatus::Rejected | PscStatus::Closed) => Lifecycle::Broken,
            Some(PscStatus::StatusUnspecified) => Lifecycle::Unknown,
        }
    }

    fn mark(&self, key: &str) -> Option<&str> {
        self.labels().get(labels::key(key)?).map(String::as_str)
    }

    fn mark_keys(&self) -> impl Iterator<Item = &str> {
        let ours = |k: &&String| k.starts_with(labels::LABEL_PREFIX);
        self.labels().keys().filter(ours).map(String::as_str)
    }

    fn spell<'k>(&self, key: &'k str) -> &'k str {
        labels::key(key).unwrap_or(key)
    }

    fn marked(&self, key: &str, value: &str) -> bool {
        self.mark(key) == Some(labels::value(key, value).as_ref())
    }

    fn service(&self) -> &str {
        self.rule.as_ref().map_or("", |r| r.target.as_str())
    }
}

/// What the checks before a create read of the network side, per endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    pub network_exists: bool,
    /// The subnetwork, if it exists in the endpoint's region.
    pub subnetwork: Option<Subnetwork>,
    /// The network's firewall rules (the egress check).
    pub firewalls: Vec<FirewallRule>,
}
