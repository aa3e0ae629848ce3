//! Azure, as privatelinkd uses it: a private endpoint (`Microsoft.Network/privateEndpoints`)
//! in a subnet, with a **manual** Private Link service connection to TiDB Cloud's Private
//! Link service (it lives in TiDB Cloud's tenant, so this side cannot approve it), registered
//! with TiDB Cloud by its resource ID and private IP (TiDB Cloud's Azure guide).
//!
//! Two layers, as for Google Cloud. [`Arm`] is Azure Resource Manager itself, one method per
//! REST request, so the call gate meters each one against the subscription's read or write
//! budget (`client.rs` is the real one, over reqwest: there is no maintained Azure management
//! crate for networking). The consumer (`link.rs`) builds the seam's endpoint from those
//! requests: a create is a PUT whose long-running operation is read on a later pass, never
//! waited on; the private IP comes from the endpoint's network interface.

use std::collections::BTreeMap;
use std::future::Future;

use serde::{Deserialize, Serialize};

pub mod client;
mod link;
pub mod token;
mod wire;

use super::{CloudError, CloudResult, ConsumerEndpoint, Lifecycle, Page};

pub use client::{ArmClient, ArmConfig};
pub use link::AzureLink;
pub use token::{AzureCredentials, Tokens};

/// The Resource Manager API version of every `Microsoft.Network` request.
pub const API_VERSION: &str = "2024-05-01";

/// A resource's `provisioningState` (Resource Manager's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProvisioningState {
    Succeeded,
    Updating,
    Deleting,
    Failed,
    Creating,
    Canceled,
    #[serde(other)]
    Unknown,
}

/// The manual connection's `privateLinkServiceConnectionState.status`: the provider's (TiDB
/// Cloud's) side of the story.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LinkStatus {
    Pending,
    Approved,
    Rejected,
    /// The provider removed the connection (or its service went away).
    Disconnected,
    #[serde(other)]
    Unknown,
}

/// A private endpoint, as far as privatelinkd reads one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateEndpoint {
    /// `/subscriptions/S/resourceGroups/G/providers/Microsoft.Network/privateEndpoints/N`:
    /// what TiDB Cloud is told as `endpointId`.
    pub id: String,
    pub name: String,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub provisioning_state: ProvisioningState,
    /// The subnet's resource ID.
    pub subnet_id: String,
    /// The network interface Azure made for it (where its private IP is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_interface_id: Option<String>,
    /// The manual connection's Private Link service (TiDB Cloud's `serviceName`).
    pub service_id: String,
    pub link_status: LinkStatus,
    /// The private IP, from the network interface (`None` until it is read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ip: Option<String>,
}

impl PrivateEndpoint {
    /// The subscription, from the resource ID.
    pub fn subscription(&self) -> &str {
        segment(&self.id, "subscriptions").unwrap_or_default()
    }

    /// The resource group, from the resource ID.
    pub fn resource_group(&self) -> &str {
        segment(&self.id, "resourceGroups").unwrap_or_default()
    }
}

/// The segment after `key` in a resource ID (`subscriptions` -> the subscription), matched
/// without regard to case, as Resource Manager matches IDs.
pub fn segment<'a>(id: &'a str, key: &str) -> Option<&'a str> {
    let mut parts = id.split('/');
    while let Some(part) = parts.next() {
        if part.eq_ignore_ascii_case(key) {
            return parts.next().filter(|p| !p.is_empty());
        }
    }
    None
}

/// The private endpoint resource ID of `name` in a resource group.
pub fn private_endpoint_id(subscription: &str, resource_group: &str, name: &str) -> String {
    format!(
        "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Network/privateEndpoints/{name}"
    )
}

/// A mark's tag name: Azure refuses `<>%&\?/` in tag names, so the marks' keys are respelled
/// as Google Cloud's labels are (`privatelinkd.io/owner` -> `privatelinkd-owner`); values are
/// kept as they are (a tag value holds a file's path).
/// (https://learn.microsoft.com/azure/azure-resource-manager/management/tag-resources#limitations)
pub fn tag_key(mark: &str) -> &str {
    super::gcp::labels::key(mark).unwrap_or(mark)
}

/// Azure's side of the seam: marks are tags (keys respelled), the service is the Private
/// Link service's ID.
impl ConsumerEndpoint for PrivateEndpoint {
    fn id(&self) -> &str {
        &self.id
    }

    fn lifecycle(&self) -> Lifecycle {
        match (self.provisioning_state, self.link_status) {
            (ProvisioningState::Deleting, _) => Lifecycle::Going,
            (ProvisioningState::Failed | ProvisioningState::Canceled, _) => Lifecycle::Broken,
            (_, LinkStatus::Rejected | LinkStatus::Disconnected) => Lifecycle::Broken,
            (ProvisioningState::Creating | ProvisioningState::Updating, _) => Lifecycle::Creating,
            (ProvisioningState::Succeeded, LinkStatus::Pending) => Lifecycle::AwaitingAcceptance,
            (ProvisioningState::Succeeded, LinkStatus::Approved) => Lifecycle::Available,
            _ => Lifecycle::Unknown,
        }
    }

    fn mark(&self, key: &str) -> Option<&str> {
        self.tags.get(tag_key(key)).map(String::as_str)
    }

    fn mark_keys(&self) -> impl Iterator<Item = &str> {
        self.tags
            .keys()
            .map(String::as_str)
            .filter(|k| k.starts_with(super::gcp::labels::LABEL_PREFIX))
    }

    fn spell<'k>(&self, key: &'k str) -> &'k str {
        tag_key(key)
    }

    fn service(&self) -> &str {
        &self.service_id
    }
}

/// What a create sends (`PUT` on the endpoint's ID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutPrivateEndpoint {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
    pub location: String,
    pub subnet_id: String,
    /// TiDB Cloud's Private Link service resource ID (its `serviceName`).
    pub service_id: String,
    /// What the provider sees with the request (names the owner and document).
    pub request_message: String,
    pub tags: BTreeMap<String, String>,
}

/// A long-running operation, read (never waited on) on a later pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationState {
    InProgress,
    Succeeded,
    /// Failed, with Resource Manager's error (code and message).
    Failed(String),
    /// Canceled, with Resource Manager's words: overtaken (the resource deleted meanwhile, or
    /// the operation cancelled), not a failure of the request: the next pass observes what
    /// is there.
    Canceled(String),
}

/// A subnet, as the checks before a create read it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subnet {
    pub id: String,
    /// Its CIDR block(s).
    pub address_prefixes: Vec<String>,
}

/// Azure Resource Manager (`Microsoft.Network`), one method per REST request (each metered
/// by the call gate: GETs against the subscription's reads, the rest against its writes).
pub trait Arm: Send + Sync {
    /// One page of a subscription's private endpoints, every resource group and location
    /// (the listing has no tag filter).
    fn list_private_endpoints(
        &self,
        subscription: &str,
        page_token: Option<&str>,
    ) -> impl Future<Output = CloudResult<Page<PrivateEndpoint>>> + Send;
    /// `None` when there is no such endpoint.
    fn get_private_endpoint(
        &self,
        id: &str,
    ) -> impl Future<Output = CloudResult<Option<PrivateEndpoint>>> + Send;
    /// Starts creating it: the URL of its operation (`Azure-AsyncOperation`).
    fn put_private_endpoint(
        &self,
        request: &PutPrivateEndpoint,
    ) -> impl Future<Output = CloudResult<String>> + Send;
    /// Starts deleting it: the URL of its operation; `None` when it was gone already.
    fn delete_private_endpoint(
        &self,
        id: &str,
    ) -> impl Future<Output = CloudResult<Option<String>>> + Send;
    /// Replaces its tags (the rest of the resource unchanged).
    fn update_tags(
        &self,
        id: &str,
        tags: &BTreeMap<String, String>,
    ) -> impl Future<Output = CloudResult<()>> + Send;
    /// Sets `set` and removes `remove` among its tags, keeping the others; nothing is written
    /// when that changes nothing. Here: a read, then `update_tags`. A client whose
    /// `update_tags` reads the resource anyway (the real one) does both in that one read.
    fn change_tags(
        &self,
        id: &str,
        set: &BTreeMap<String, String>,
        remove: &[String],
    ) -> impl Future<Output = CloudResult<()>> + Send {
        async move {
            let Some(e) = self.get_private_endpoint(id).await? else {
                return Err(not_found(id));
            };
            let tags = changed_tags(&e.tags, set, remove);
            if tags != e.tags {
                self.update_tags(id, &tags).await?;
            }
            Ok(())
        }
    }
    /// A long-running operation by its URL.
    fn get_operation(&self, url: &str) -> impl Future<Output = CloudResult<OperationState>> + Send;
    /// The private IP of a network interface (its first IP configuration); `None` when there
    /// is no such interface.
    fn get_private_ip(
        &self,
        network_interface_id: &str,
    ) -> impl Future<Output = CloudResult<Option<String>>> + Send;
    /// `None` when there is no such subnet.
    fn get_subnet(&self, id: &str) -> impl Future<Output = CloudResult<Option<Subnet>>> + Send;
}

/// `tags` with `set` set and `remove` removed.
pub(crate) fn changed_tags(
    tags: &BTreeMap<String, String>,
    set: &BTreeMap<String, String>,
    remove: &[String],
) -> BTreeMap<String, String> {
    let mut tags = tags.clone();
    tags.retain(|k, _| !remove.contains(k));
    tags.extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
    tags
}

/// A tag change's endpoint is not there.
pub(crate) fn not_found(id: &str) -> CloudError {
    CloudError::NotFound(format!("private endpoint {id} does not exist"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(state: ProvisioningState, link: LinkStatus) -> PrivateEndpoint {
        PrivateEndpoint {
            id: private_endpoint_id("00000000-0000-0000-0000-000000000001", "net", "orders"),
            name: "orders".into(),
            location: "eastus2".into(),
            tags: BTreeMap::new(),
            provisioning_state: state,
            subnet_id: String::new(),
            network_interface_id: None,
            service_id: String::new(),
            link_status: link,
            private_ip: None,
        }
    }

    #[test]
    fn ids_are_read_without_regard_to_case() {
        let e = endpoint(ProvisioningState::Succeeded, LinkStatus::Approved);
        assert_eq!(e.subscription(), "00000000-0000-0000-0000-000000000001");
        assert_eq!(e.resource_group(), "net");
        assert_eq!(
            segment("/SUBSCRIPTIONS/s/RESOURCEGROUPS/g/x", "resourceGroups"),
            Some("g")
        );
        assert_eq!(segment("/subscriptions/", "subscriptions"), None);
    }

    #[test]
    fn the_lifecycle_reads_both_provisioning_and_the_providers_answer() {
        use LinkStatus as L;
        use ProvisioningState as P;
        let cases = [
            (P::Updating, L::Pending, Lifecycle::Creating),
            (P::Succeeded, L::Pending, Lifecycle::AwaitingAcceptance),
            (P::Succeeded, L::Approved, Lifecycle::Available),
            (P::Succeeded, L::Rejected, Lifecycle::Broken),
            (P::Succeeded, L::Disconnected, Lifecycle::Broken),
            (P::Failed, L::Pending, Lifecycle::Broken),
            (P::Deleting, L::Approved, Lifecycle::Going),
        ];
        for (state, link, want) in cases {
            assert_eq!(
                endpoint(state, link).lifecycle(),
                want,
                "{state:?} {link:?}"
            );
        }
    }
}
