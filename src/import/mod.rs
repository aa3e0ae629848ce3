//! `privatelinkd import`: bring endpoints made by hand (or by Terraform) under management.
//!
//! The same straight path as a pass, once: what exists (`estate.rs`: TiDB Cloud's clusters,
//! their services and connections, and the cloud-side endpoints connected to those services,
//! one filtered listing per account and region) -> matched with what the endpoints directory
//! already manages (`matching.rs`, pure) -> one document per endpoint (`document.rs`), each
//! adopting its endpoint by ID with every field as it is in the cloud, so that the first pass
//! afterwards changes nothing but ownership marks. What does not match is reported, never
//! written. Terraform states are read by `terraform.rs`.

mod document;
pub mod estate;
pub mod from_state;
mod matching;
pub mod terraform;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Serialize;

use crate::cloud::{CloudEndpoint, Cluster, Connection, Scope, Service};
use crate::spec::DeletionPolicy;

pub use document::{document_text, name_for};
pub use matching::matched;

/// A node group's private link service, with its cluster: what endpoints connect to.
#[derive(Debug, Clone)]
pub struct Offered {
    pub cluster: Arc<Cluster>,
    pub node_group_id: String,
    pub service: Service,
}

/// Everything `import` saw.
#[derive(Debug, Clone, Default)]
pub struct Estate {
    pub offered: Vec<Offered>,
    /// Every connection of the projects looked at.
    pub connections: Vec<Connection>,
    /// The cloud-side endpoints connected to an offered service, with where they are.
    pub endpoints: Vec<(Scope, CloudEndpoint)>,
    /// The accounts (projects) and regions looked in.
    pub covered: Vec<Scope>,
    /// Where a listing failed, and why: what is there is not known.
    pub failed: Vec<(String, String)>,
}

/// What the endpoints directory (and the clouds' ownership marks) already say.
#[derive(Debug, Clone, Default)]
pub struct Managed {
    /// Endpoint ID -> the document that adopts it (`endpointId`, `endpointName`).
    pub adopted: BTreeMap<String, String>,
    /// Every document name, and every file (relative to the directory).
    pub names: BTreeSet<String>,
    pub files: BTreeSet<String>,
}

/// How documents are written.
#[derive(Debug, Clone)]
pub struct Options {
    /// This daemon's `ownerId` (an endpoint it owns is managed already).
    pub owner_id: String,
    pub deletion_policy: DeletionPolicy,
    /// Said in each document's header (`TiDB Cloud and AWS`, a Terraform state's path).
    pub source: String,
    /// TiDB Cloud's API (`tidbCloud.apiUrl`), for the cleanup commands suggested.
    pub api_url: String,
}

/// What `import` found, and what it writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    /// One document per endpoint brought under management.
    pub documents: Vec<Imported>,
    /// Endpoints left alone: already managed, or another owner's.
    pub skipped: Vec<Finding>,
    /// What does not match and is not written.
    pub unmatched: Vec<Finding>,
}

/// A document `import` writes.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Imported {
    pub name: String,
    /// Relative to the output directory.
    pub file: String,
    pub endpoint_id: String,
    pub cluster_id: String,
    /// `aws` or `gcp`.
    pub cloud: String,
    /// TiDB Cloud's state of its connection.
    pub connection_state: String,
    /// What the first pass will do beyond tagging it (a FAILED connection is retried).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The document, as written.
    pub yaml: String,
}

/// Something found and not written, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The endpoint ID, or the connection ID.
    pub id: String,
    pub cluster_id: String,
    pub why: String,
    /// A command that would act on it (a cleanup), when there is one to suggest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}
