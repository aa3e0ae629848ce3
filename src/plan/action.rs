//! The changes a plan can ask for, and how people see them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cloud::gcp::CreatePsc;
use crate::cloud::{Connection, CreateEndpoint, ModifyEndpoint, Scope};

/// One change to the cloud.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    CreateVpcEndpoint {
        #[serde(skip)]
        scope: Scope,
        #[serde(skip)]
        request: CreateEndpoint,
        vpc_id: String,
        subnet_ids: Vec<String>,
    },
    ModifyVpcEndpoint {
        #[serde(skip)]
        scope: Scope,
        #[serde(flatten)]
        request: ModifyEndpoint,
    },
    /// Google Cloud: one step of a create (reserve the address; once reserved, the
    /// forwarding rule).
    CreatePscEndpoint {
        #[serde(skip)]
        scope: Scope,
        #[serde(flatten)]
        request: CreatePsc,
    },
    RegisterConnection {
        cluster_id: String,
        node_group_id: String,
        /// `None`: the endpoint the preceding create of this plan returns, so a new endpoint
        /// is registered at once instead of a pass later.
        endpoint_id: Option<String>,
        /// Azure: the private endpoint's IP (TiDB Cloud's `privateIpAddress`).
        #[serde(skip_serializing_if = "Option::is_none")]
        private_ip: Option<String>,
    },
    DeleteConnection {
        #[serde(skip)]
        connection: Connection,
        connection_id: String,
    },
    DeleteVpcEndpoint {
        #[serde(skip)]
        scope: Scope,
        endpoint_id: String,
    },
    /// Google Cloud: the forwarding rule, then (a pass later, once it is gone) the address.
    DeletePscEndpoint {
        #[serde(skip)]
        scope: Scope,
        endpoint_id: String,
    },
    /// Azure: one PUT; the private endpoint is made by Resource Manager's operation.
    CreateAzureEndpoint {
        #[serde(skip)]
        scope: Scope,
        #[serde(skip)]
        request: crate::cloud::azure::PutPrivateEndpoint,
        name: String,
        subnet_id: String,
    },
    /// Azure: DELETE on the private endpoint (its network interface goes with it).
    DeleteAzureEndpoint {
        #[serde(skip)]
        scope: Scope,
        endpoint_id: String,
    },
    /// CreateTags: adopting an endpoint, or bringing its tags up to date.
    Tag {
        #[serde(skip)]
        scope: Scope,
        endpoint_id: String,
        tags: BTreeMap<String, String>,
        purpose: TagPurpose,
    },
    /// DeleteTags: orphaning an endpoint, or dropping labels the document no longer has.
    Untag {
        #[serde(skip)]
        scope: Scope,
        endpoint_id: String,
        keys: Vec<String>,
        purpose: TagPurpose,
    },
}

/// Why tags are written or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TagPurpose {
    /// Our tags go on an endpoint named by `endpointId`.
    Adopt,
    /// The tags say what the latest document says (policy, file, labels; a hand edit undone).
    Correct,
    /// Our tags come off: the endpoint stays, unmanaged.
    Orphan,
}

impl Action {
    /// The metric label and log word for this action.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::CreateVpcEndpoint { .. } => "create_vpc_endpoint",
            Action::ModifyVpcEndpoint { request, .. } if is_dns_only(request) => {
                "enable_private_dns"
            }
            Action::ModifyVpcEndpoint { .. } => "modify_vpc_endpoint",
            Action::RegisterConnection { .. } => "register_connection",
            Action::DeleteConnection { .. } => "delete_connection",
            Action::DeleteVpcEndpoint { .. } => "delete_vpc_endpoint",
            Action::CreatePscEndpoint { .. } => "create_psc_endpoint",
            Action::DeletePscEndpoint { .. } => "delete_psc_endpoint",
            Action::CreateAzureEndpoint { .. } => "create_azure_endpoint",
            Action::DeleteAzureEndpoint { .. } => "delete_azure_endpoint",
            Action::Tag { .. } => "tag",
            Action::Untag { .. } => "untag",
        }
    }

    /// The VPC endpoint this acts on, when it exists already.
    pub fn endpoint_id(&self) -> Option<&str> {
        match self {
            Action::ModifyVpcEndpoint { request, .. } => Some(&request.endpoint_id),
            Action::DeleteVpcEndpoint { endpoint_id, .. }
            | Action::DeletePscEndpoint { endpoint_id, .. }
            | Action::DeleteAzureEndpoint { endpoint_id, .. }
            | Action::Tag { endpoint_id, .. }
            | Action::Untag { endpoint_id, .. } => Some(endpoint_id),
            Action::DeleteConnection { connection, .. } => Some(&connection.endpoint_id),
            Action::RegisterConnection { endpoint_id, .. } => endpoint_id.as_deref(),
            Action::CreateVpcEndpoint { .. } => None,
            // Named before it exists: its name is its ID.
            Action::CreatePscEndpoint { request, .. } => Some(&request.name),
            Action::CreateAzureEndpoint { .. } => None,
        }
    }

    /// `+` create, `~` modify, `-` delete: how `privatelinkd plan` shows it.
    pub fn sign(&self) -> char {
        match self {
            Action::CreateVpcEndpoint { .. }
            | Action::CreatePscEndpoint { .. }
            | Action::CreateAzureEndpoint { .. }
            | Action::RegisterConnection { .. } => '+',
            Action::DeleteConnection { .. }
            | Action::DeleteVpcEndpoint { .. }
            | Action::DeletePscEndpoint { .. }
            | Action::DeleteAzureEndpoint { .. } => '-',
            _ => '~',
        }
    }

    pub fn is_deletion(&self) -> bool {
        self.sign() == '-'
    }

    /// One line for people: what and on which resource.
    pub fn describe(&self) -> String {
        match self {
            Action::CreateVpcEndpoint {
                vpc_id, subnet_ids, ..
            } => {
                format!(
                    "create VPC endpoint in {vpc_id} ({})",
                    subnet_ids.join(", ")
                )
            }
            Action::CreatePscEndpoint { request: r, .. } => format!(
                "create Private Service Connect endpoint {} in {} ({}) to {}",
                r.name, r.network, r.subnetwork, r.target
            ),
            Action::DeletePscEndpoint { endpoint_id, .. } => {
                format!("delete Private Service Connect endpoint {endpoint_id}")
            }
            Action::CreateAzureEndpoint {
                name, subnet_id, ..
            } => format!("create private endpoint {name} in {subnet_id}"),
            Action::DeleteAzureEndpoint { endpoint_id, .. } => {
                format!("delete private endpoint {endpoint_id}")
            }
            Action::ModifyVpcEndpoint { request: r, .. } => {
                let mut parts = Vec::new();
                for (verb, ids) in [
                    ("remove subnets", &r.remove_subnet_ids),
                    ("add subnets", &r.add_subnet_ids),
                    ("remove security groups", &r.remove_security_group_ids),
                    ("add security groups", &r.add_security_group_ids),
                ] {
                    if !ids.is_empty() {
                        parts.push(format!("{verb} {}", ids.join(", ")));
                    }
                }
                if let Some(on) = r.private_dns_enabled {
                    parts.push(format!(
                        "{} private DNS",
                        if on { "enable" } else { "disable" }
                    ));
                }
                format!("modify {}: {}", r.endpoint_id, parts.join("; "))
            }
            Action::RegisterConnection { endpoint_id, .. } => match endpoint_id {
                Some(id) => format!("register {id} with TiDB Cloud"),
                None => "register the new endpoint with TiDB Cloud".into(),
            },
            Action::DeleteConnection { connection_id, .. } => {
                format!("delete TiDB Cloud connection {connection_id}")
            }
            Action::DeleteVpcEndpoint { endpoint_id, .. } => {
                format!("delete VPC endpoint {endpoint_id}")
            }
            Action::Tag {
                endpoint_id,
                purpose: TagPurpose::Adopt,
                ..
            } => format!("adopt {endpoint_id} (add ownership tags)"),
            Action::Tag {
                endpoint_id, tags, ..
            } => {
                let pairs: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("tag {endpoint_id}: {}", pairs.join(", "))
            }
            Action::Untag {
                endpoint_id,
                purpose: TagPurpose::Orphan,
                ..
            } => format!("orphan {endpoint_id} (remove ownership tags)"),
            Action::Untag {
                endpoint_id, keys, ..
            } => format!("untag {endpoint_id}: {}", keys.join(", ")),
        }
    }
}

fn is_dns_only(r: &ModifyEndpoint) -> bool {
    r.private_dns_enabled.is_some()
        && r.add_subnet_ids.is_empty()
        && r.remove_subnet_ids.is_empty()
        && r.add_security_group_ids.is_empty()
        && r.remove_security_group_ids.is_empty()
}
