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
    AccountName, AzureLocation, AzureName, AzureResourceGroup, AzureSubnetId, AzureSubscriptionId,
    ClusterId, GcpName, GcpProject, GcpRegion, GcpResource, HINTS, Name, NodeGroupId, ProjectId,
    Region, SecurityGroupId, SubnetId, VpcEndpointId, VpcId,
};

use crate::checked::Checker;
use crate::cloud::CloudKind;

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
    /// What to connect: the TiDB Cloud cluster and the endpoint in one cloud.
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

/// What to connect: the cluster, and the consumer side in exactly one cloud.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SpecFile", into = "SpecFile")]
pub struct EndpointSpec {
    pub tidb_cloud: TidbCloudTarget,
    /// The consumer side: an AWS VPC endpoint or a Google Cloud Private Service Connect one.
    pub side: Side,
    pub private_dns: bool,
    pub deletion_policy: DeletionPolicy,
    pub suspend: bool,
}

/// Where the consumer-side endpoint lives: exactly one cloud's block of the document.
#[derive(Debug, Clone, PartialEq)]
pub enum Side {
    Aws(AwsSide),
    Gcp(GcpSide),
    Azure(AzureSide),
}

impl EndpointSpec {
    pub fn cloud(&self) -> CloudKind {
        match &self.side {
            Side::Aws(_) => CloudKind::Aws,
            Side::Gcp(_) => CloudKind::Gcp,
            Side::Azure(_) => CloudKind::Azure,
        }
    }

    /// The `aws:` block, when the document is for AWS.
    pub fn aws(&self) -> Option<&AwsSide> {
        match &self.side {
            Side::Aws(aws) => Some(aws),
            _ => None,
        }
    }

    pub fn aws_mut(&mut self) -> Option<&mut AwsSide> {
        match &mut self.side {
            Side::Aws(aws) => Some(aws),
            _ => None,
        }
    }

    /// The `gcp:` block, when the document is for Google Cloud.
    pub fn gcp(&self) -> Option<&GcpSide> {
        match &self.side {
            Side::Gcp(gcp) => Some(gcp),
            _ => None,
        }
    }

    /// The `azure:` block, when the document is for Azure.
    pub fn azure(&self) -> Option<&AzureSide> {
        match &self.side {
            Side::Azure(azure) => Some(azure),
            _ => None,
        }
    }

    /// `endpointId` (AWS) or `endpointName` (Google Cloud) when it names an endpoint to adopt.
    pub fn adopts(&self) -> Option<&str> {
        match &self.side {
            Side::Aws(aws) => aws.endpoint_id.as_ref().map(VpcEndpointId::as_str),
            Side::Gcp(gcp) => gcp
                .adopt
                .then_some(gcp.endpoint_name.as_ref())?
                .map(GcpName::as_str),
            // The private endpoint's resource ID: what TiDB Cloud and the cloud know it by.
            Side::Azure(azure) => azure.adopt.then_some(azure.adopted_id.as_deref())?,
        }
    }
}

/// `spec` as written: the cloud blocks as optional keys, exactly one present (the schema
/// says so, and the checker says which is wrong).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("oneOf" = [{"required": ["aws"]}, {"required": ["gcp"]}, {"required": ["azure"]}]))]
pub struct SpecFile {
    /// The TiDB Cloud Dedicated cluster (and node group) to reach.
    pub tidb_cloud: TidbCloudTarget,
    /// AWS: where the VPC interface endpoint lives (region, account, VPC, subnets, security
    /// groups). Exactly one of `aws` and `gcp`.
    // The block's own schema (not "or null"): a key of it that is wrong is then named as such.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "AwsSide")]
    pub aws: Option<AwsSide>,
    /// Google Cloud: where the Private Service Connect endpoint lives (project, region,
    /// network, subnetwork). Exactly one of `aws` and `gcp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "GcpSide")]
    pub gcp: Option<GcpSide>,
    /// Azure: where the private endpoint lives (subscription, resource group, location,
    /// subnet). Exactly one of `aws`, `gcp` and `azure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "AzureSide")]
    pub azure: Option<AzureSide>,
    /// AWS: enable private DNS on the endpoint once TiDB Cloud accepted it. (Google Cloud
    /// registers the endpoint's DNS name itself.)
    #[serde(default = "yes")]
    pub private_dns: bool,
    /// What happens to the cloud resources when this document is removed.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Observe and report only; change nothing.
    #[serde(default)]
    pub suspend: bool,
}

impl TryFrom<SpecFile> for EndpointSpec {
    type Error = &'static str;

    fn try_from(file: SpecFile) -> Result<EndpointSpec, &'static str> {
        let side = match (file.aws, file.gcp, file.azure) {
            (Some(aws), None, None) => Side::Aws(aws),
            (None, Some(gcp), None) => Side::Gcp(gcp),
            (None, None, Some(azure)) => Side::Azure(azure.checked()?),
            (None, None, None) => return Err("spec needs one of `aws`, `gcp` and `azure`"),
            _ => return Err("spec has more than one cloud's block"),
        };
        Ok(EndpointSpec {
            tidb_cloud: file.tidb_cloud,
            side,
            private_dns: file.private_dns,
            deletion_policy: file.deletion_policy,
            suspend: file.suspend,
        })
    }
}

impl From<EndpointSpec> for SpecFile {
    fn from(spec: EndpointSpec) -> SpecFile {
        let (aws, gcp, azure) = match spec.side {
            Side::Aws(aws) => (Some(aws), None, None),
            Side::Gcp(gcp) => (None, Some(gcp), None),
            Side::Azure(azure) => (None, None, Some(azure)),
        };
        SpecFile {
            tidb_cloud: spec.tidb_cloud,
            aws,
            gcp,
            azure,
            private_dns: spec.private_dns,
            deletion_policy: spec.deletion_policy,
            suspend: spec.suspend,
        }
    }
}

impl JsonSchema for EndpointSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        SpecFile::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        SpecFile::json_schema(generator)
    }
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

/// Where the Private Service Connect endpoint lives (TiDB Cloud's Google Cloud guide: an
/// internal address reserved in the subnetwork, a forwarding rule to the service attachment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GcpSide {
    /// The consumer project (a name from nowhere else: the credentials must reach it).
    pub project: GcpProject,
    /// Must be the cluster's region.
    pub region: GcpRegion,
    /// The VPC network (its name or self link).
    pub network: GcpResource,
    /// Where the endpoint's internal address is reserved (in `region`, in `network`).
    pub subnetwork: GcpResource,
    /// A fixed internal IP in the subnetwork; otherwise Google allocates one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<std::net::Ipv4Addr>,
    /// `allowPscGlobalAccess`: clients in other regions may reach the endpoint.
    #[serde(default)]
    pub global_access: bool,
    /// The forwarding rule's (and the address's) name; `metadata.name` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_name: Option<GcpName>,
    /// Adopt the existing forwarding rule `endpointName` (made by hand or other tooling)
    /// instead of creating one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt: bool,
}

impl GcpSide {
    /// The forwarding rule's name.
    pub fn endpoint_name<'a>(&'a self, metadata_name: &'a Name) -> &'a str {
        self.endpoint_name
            .as_ref()
            .map_or(metadata_name.as_str(), GcpName::as_str)
    }
}

/// Where the Azure private endpoint lives (TiDB Cloud's Azure guide: a private endpoint in a
/// subnet with a manual connection to TiDB Cloud's Private Link service).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AzureSide {
    /// The consumer subscription (the credentials must reach it).
    pub subscription_id: AzureSubscriptionId,
    /// The resource group the private endpoint is made in.
    pub resource_group: AzureResourceGroup,
    /// Must be the cluster's region.
    pub location: AzureLocation,
    /// The subnet's resource ID; or `virtualNetwork` and `subnet` (names in the resource
    /// group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<AzureSubnetId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_network: Option<AzureName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<AzureName>,
    /// The private endpoint's name; `metadata.name` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_name: Option<AzureName>,
    /// Adopt the existing private endpoint `endpointName` (made by hand or other tooling,
    /// perhaps already DISCOVERED by TiDB Cloud) instead of creating one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt: bool,
    /// The resource ID of the endpoint to adopt, worked out once (`adopt`).
    #[serde(skip)]
    #[schemars(skip)]
    pub adopted_id: Option<String>,
}

impl AzureSide {
    /// The subnet written one way or the other; the ID of the endpoint to adopt.
    fn checked(mut self) -> Result<AzureSide, &'static str> {
        match (&self.subnet_id, &self.virtual_network, &self.subnet) {
            (Some(_), None, None) | (None, Some(_), Some(_)) => {}
            _ => {
                return Err(
                    "spec.azure needs `subnetId`, or `virtualNetwork` and `subnet` (one way, not both)",
                );
            }
        }
        if self.adopt {
            let Some(name) = &self.endpoint_name else {
                return Err("spec.azure.adopt needs the `endpointName` to adopt");
            };
            self.adopted_id = Some(crate::cloud::azure::private_endpoint_id(
                self.subscription_id.as_str(),
                self.resource_group.as_str(),
                name.as_str(),
            ));
        }
        Ok(self)
    }

    /// The private endpoint's name.
    pub fn endpoint_name<'a>(&'a self, metadata_name: &'a Name) -> &'a str {
        self.endpoint_name
            .as_ref()
            .map_or(metadata_name.as_str(), AzureName::as_str)
    }

    /// The subnet's resource ID, however it was written.
    pub fn subnet_id(&self) -> String {
        match (&self.subnet_id, &self.virtual_network, &self.subnet) {
            (Some(id), _, _) => id.to_string(),
            (None, Some(vnet), Some(subnet)) => format!(
                "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/virtualNetworks/{vnet}/subnets/{subnet}",
                self.subscription_id, self.resource_group
            ),
            _ => String::new(),
        }
    }

    /// The private endpoint's resource ID.
    pub fn endpoint_id(&self, metadata_name: &Name) -> String {
        crate::cloud::azure::private_endpoint_id(
            self.subscription_id.as_str(),
            self.resource_group.as_str(),
            self.endpoint_name(metadata_name),
        )
    }
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
