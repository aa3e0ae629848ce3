//! The seam a cloud plugs into: what the cloud-neutral machinery needs of a consumer-side
//! endpoint (an AWS VPC endpoint; a Google Cloud Private Service Connect forwarding rule; an
//! Azure private endpoint) and of the client that manages it.
//!
//! Cloud-neutral here means: ownership marks (`plan::ownership`), the ledger and its pass
//! (`reconcile::identity`), endpoints that vanished (`reconcile::gone`), removals
//! (`plan::removal`) and the endpoint's lifecycle as the planner's generic rows read it. What
//! is particular to a cloud (how an endpoint is created and placed, what drifts, DNS, its
//! firewall check) stays in that cloud's module; ARCHITECTURE.md ("Where a cloud plugs in")
//! lists every piece. AWS (`Ec2`, `VpcEndpoint`) is the first implementation.

use std::collections::BTreeMap;
use std::future::Future;

use super::{CloudResult, Page, Scope};

/// What every mark of ours starts with, in the marks' own spelling (AWS tag keys); a cloud
/// whose marks cannot hold it respells them (Google Cloud's labels, `gcp::labels`).
pub const MARK_PREFIX: &str = "privatelinkd.io/";

/// Where a consumer-side endpoint stands, in words every cloud's states map onto.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lifecycle {
    /// Being made (EC2 `pending`).
    Creating,
    /// Made, waiting for the service to accept it (EC2 `pendingAcceptance`).
    AwaitingAcceptance,
    /// Serving (EC2 `available`).
    Available,
    /// Going away whatever anyone does (EC2 `deleting`, `deleted`).
    Going,
    /// Will not serve again; a person deletes it (EC2 `failed`, `rejected`, `expired`).
    Broken,
    /// A state this version does not know (EC2 `partial`, or a new one).
    Unknown,
}

/// What the cloud-neutral code reads of a consumer-side endpoint.
pub trait ConsumerEndpoint {
    /// What TiDB Cloud is told (`endpointId`) and what the ledger records.
    fn id(&self) -> &str;
    fn lifecycle(&self) -> Lifecycle;
    /// One ownership mark (an AWS tag; a Google Cloud label; an Azure tag).
    fn mark(&self, key: &str) -> Option<&str>;
    /// Whether the mark `key` says `value` (as this cloud writes values: a Google Cloud label
    /// holds a respelled value, a file as its hash).
    fn marked(&self, key: &str, value: &str) -> bool {
        self.mark(key) == Some(value)
    }
    /// The keys of our marks on it, in the cloud's own spelling (what `remove_marks` takes).
    fn mark_keys(&self) -> impl Iterator<Item = &str>;
    /// A mark's key in the cloud's own spelling (a Google Cloud label key is respelled).
    fn spell<'k>(&self, key: &'k str) -> &'k str {
        key
    }
    /// The TiDB Cloud service it connects to (`serviceName` of the node group's private link
    /// service: an endpoint service name, a service attachment, a Private Link service ID).
    fn service(&self) -> &str;
}

/// A cloud's client, for what every cloud does with its consumer-side endpoints: list ours,
/// describe by ID (adoption, the ledger, `gone`), delete, and write or remove marks.
/// Creating and changing one is particular to each cloud (its request types).
pub trait Consumer: Send + Sync {
    type Endpoint: ConsumerEndpoint + Clone + Send + Sync + 'static;

    /// One page of the endpoints carrying the mark `key` = `value` in one scope; those
    /// already gone are left out of the items (they may still fill pages).
    fn list_marked(
        &self,
        scope: &Scope,
        mark: (&str, &str),
        page_token: Option<&str>,
    ) -> impl Future<Output = CloudResult<Page<Self::Endpoint>>> + Send;
    /// One page of the endpoints of one scope connected to any of `services` (up to 200),
    /// ours or not: what `import` finds, one filtered listing per scope rather than a call
    /// per endpoint. Those already gone are left out.
    fn list_connected(
        &self,
        scope: &Scope,
        services: &[String],
        page_token: Option<&str>,
    ) -> impl Future<Output = CloudResult<Page<Self::Endpoint>>> + Send;
    /// Endpoints by ID; unknown IDs are simply absent from the answer.
    fn describe_endpoints(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> impl Future<Output = CloudResult<Vec<Self::Endpoint>>> + Send;
    fn delete_endpoint(
        &self,
        scope: &Scope,
        endpoint_id: &str,
    ) -> impl Future<Output = CloudResult<()>> + Send;
    /// Writes marks (adds them, or overwrites their values).
    fn set_marks(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        marks: &BTreeMap<String, String>,
    ) -> impl Future<Output = CloudResult<()>> + Send;
    fn remove_marks(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        keys: &[String],
    ) -> impl Future<Output = CloudResult<()>> + Send;
}

/// A consumer-side endpoint in whichever cloud it lives: what an observation, an action and
/// a status file hold. The cloud-neutral code reads it through `ConsumerEndpoint`; a cloud's
/// own rules take their variant (`aws()`, `gcp()`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "cloud", rename_all = "lowercase")]
pub enum CloudEndpoint {
    Aws(super::VpcEndpoint),
    Gcp(super::gcp::PscEndpoint),
    Azure(super::azure::PrivateEndpoint),
}

impl CloudEndpoint {
    pub fn aws(&self) -> Option<&super::VpcEndpoint> {
        match self {
            CloudEndpoint::Aws(e) => Some(e),
            _ => None,
        }
    }

    pub fn aws_mut(&mut self) -> Option<&mut super::VpcEndpoint> {
        match self {
            CloudEndpoint::Aws(e) => Some(e),
            _ => None,
        }
    }

    pub fn gcp(&self) -> Option<&super::gcp::PscEndpoint> {
        match self {
            CloudEndpoint::Gcp(e) => Some(e),
            _ => None,
        }
    }

    pub fn azure(&self) -> Option<&super::azure::PrivateEndpoint> {
        match self {
            CloudEndpoint::Azure(e) => Some(e),
            _ => None,
        }
    }

    pub fn cloud(&self) -> super::CloudKind {
        match self {
            CloudEndpoint::Aws(_) => super::CloudKind::Aws,
            CloudEndpoint::Gcp(_) => super::CloudKind::Gcp,
            CloudEndpoint::Azure(_) => super::CloudKind::Azure,
        }
    }

    /// Going away whatever anyone does.
    pub fn is_going(&self) -> bool {
        self.lifecycle() == Lifecycle::Going
    }
}

impl From<super::VpcEndpoint> for CloudEndpoint {
    fn from(e: super::VpcEndpoint) -> CloudEndpoint {
        CloudEndpoint::Aws(e)
    }
}

impl From<super::azure::PrivateEndpoint> for CloudEndpoint {
    fn from(e: super::azure::PrivateEndpoint) -> CloudEndpoint {
        CloudEndpoint::Azure(e)
    }
}

impl From<super::gcp::PscEndpoint> for CloudEndpoint {
    fn from(e: super::gcp::PscEndpoint) -> CloudEndpoint {
        CloudEndpoint::Gcp(e)
    }
}

/// Each variant answers as its cloud does.
macro_rules! each {
    ($self:ident, $e:ident => $body:expr) => {
        match $self {
            CloudEndpoint::Aws($e) => $body,
            CloudEndpoint::Gcp($e) => $body,
            CloudEndpoint::Azure($e) => $body,
        }
    };
}

impl ConsumerEndpoint for CloudEndpoint {
    fn id(&self) -> &str {
        each!(self, e => e.id())
    }

    fn lifecycle(&self) -> Lifecycle {
        each!(self, e => e.lifecycle())
    }

    fn mark(&self, key: &str) -> Option<&str> {
        each!(self, e => e.mark(key))
    }

    fn marked(&self, key: &str, value: &str) -> bool {
        each!(self, e => e.marked(key, value))
    }

    fn mark_keys(&self) -> impl Iterator<Item = &str> {
        let keys: Vec<&str> = each!(self, e => e.mark_keys().collect());
        keys.into_iter()
    }

    fn spell<'k>(&self, key: &'k str) -> &'k str {
        each!(self, e => e.spell(key))
    }

    fn service(&self) -> &str {
        each!(self, e => e.service())
    }
}
