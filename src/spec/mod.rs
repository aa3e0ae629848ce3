//! The endpoint file format: one `PrivateEndpoint` document per VPC endpoint.
//!
//! These types are the contract. The JSON Schema that `privatelinkd schema` prints and that
//! [`crate::checked`] validates against is generated from them, so a field added here is
//! documented and checked with no further work.

mod ids;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use ids::{
    AccountName, ClusterId, HINTS, Name, NodeGroupId, ProjectId, Region, SecurityGroupId, SubnetId,
    VpcEndpointId, VpcId,
};

use crate::checked::Checker;

/// One endpoint, as a user writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(
    title = "PrivateEndpoint",
    description = "A privatelinkd endpoint file document"
)]
pub struct EndpointDocument {
    /// The format's version: `privatelinkd.io/v1`.
    pub api_version: ApiVersion,
    /// Always `PrivateEndpoint`.
    pub kind: Kind,
    /// The endpoint's name and labels.
    pub metadata: Metadata,
    /// What to connect: the TiDB Cloud cluster and the AWS side.
    pub spec: EndpointSpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    #[serde(rename = "privatelinkd.io/v1")]
    V1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Kind {
    PrivateEndpoint,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// Unique in the endpoints directory; names the endpoint in tags, status and metrics.
    pub name: Name,
    /// Free-form labels, copied to the VPC endpoint's tags under `privatelinkd.io/label/`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointSpec {
    /// The TiDB Cloud Dedicated cluster (and node group) to reach.
    pub tidb_cloud: TidbCloudTarget,
    /// Where the VPC interface endpoint lives: region, account, VPC, subnets, security groups.
    pub aws: AwsSide,
    /// Enable private DNS on the endpoint once TiDB Cloud accepted it.
    #[serde(default = "yes")]
    pub private_dns: bool,
    /// What happens to the cloud resources when this document is removed.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Observe and report only; change nothing.
    #[serde(default)]
    pub suspend: bool,
}

fn yes() -> bool {
    true
}

/// The cluster whose private link service the endpoint connects to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TidbCloudTarget {
    /// Looked up from the cluster when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
    pub cluster_id: ClusterId,
    /// The cluster's default TiDB node group when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_group_id: Option<NodeGroupId>,
}

/// Where the interface endpoint lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsSide {
    pub region: Region,
    /// A name from the daemon config's `aws.accounts`; `default` is the ambient credentials.
    #[serde(default = "AccountName::default_account")]
    pub account: AccountName,
    pub vpc_id: VpcId,
    /// One subnet per availability zone the endpoint should serve.
    #[schemars(length(min = 1), extend("uniqueItems" = true))]
    pub subnet_ids: Vec<SubnetId>,
    /// The endpoint's security groups; they must let the cluster's port (4000) in from the
    /// clients. The VPC's default group when empty.
    #[serde(default)]
    #[schemars(extend("uniqueItems" = true))]
    pub security_group_ids: Vec<SecurityGroupId>,
    /// Adopt this existing endpoint instead of creating one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<VpcEndpointId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the connection, then the endpoint.
    #[default]
    Delete,
    /// Drop our ownership tags and leave both in place.
    Orphan,
}

/// The checker for endpoint documents, built once (compiling the schema is not free).
pub fn checker() -> &'static Checker<EndpointDocument> {
    static CHECKER: LazyLock<Checker<EndpointDocument>> = LazyLock::new(|| Checker::new(HINTS));
    &CHECKER
}

/// A hash of the document, written to the status file as `observedGeneration`: a changed
/// document is a new generation (and gets a fresh start after failures).
pub fn generation(doc: &EndpointDocument) -> String {
    let json = serde_json::to_string(doc).expect("documents serialize");
    format!("{:016x}", crate::stable::fnv(&json))
}
