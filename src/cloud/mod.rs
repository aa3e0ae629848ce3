//! The cloud boundary: what privatelinkd needs from TiDB Cloud and from AWS EC2, in our words.
//!
//! Two narrow traits, one per provider, each shaped after the real API so that a real client
//! is a thin translation: batched listings (one paginated call for many endpoints), single-item
//! lookups only where the API has nothing else. The simulated cloud (`sim`) implements both.

pub mod any;
pub mod aws;
pub mod budget;
pub mod sim;
pub mod tidb;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Tag keys that mark and describe the endpoints this daemon owns.
pub mod tags {
    /// The daemon's `ownerId`; nothing without it is ever modified or deleted (adoption aside).
    pub const OWNER: &str = "privatelinkd.io/owner";
    /// The endpoint's `metadata.name`: how an endpoint is found again after a crash.
    pub const NAME: &str = "privatelinkd.io/name";
    /// `Delete` or `Orphan`, so a removed document's policy is still known.
    pub const DELETION_POLICY: &str = "privatelinkd.io/deletion-policy";
    /// The endpoint file (relative to the endpoints directory): while that file is invalid,
    /// the endpoint is frozen rather than taken for removed.
    pub const FILE: &str = "privatelinkd.io/file";
    /// Prefix for the document's labels.
    pub const LABEL_PREFIX: &str = "privatelinkd.io/label/";
    /// `Name`, as the AWS console shows it.
    pub const CONSOLE_NAME: &str = "Name";
}

/// Why a call failed, as far as the daemon's reaction is concerned.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum CloudError {
    /// The provider answered with a server error (5xx): retried with backoff, never Failed.
    #[error("{0}")]
    Transient(String),
    /// The provider could not be reached or did not answer in time: retried like `Transient`.
    #[error("{0}")]
    Unreachable(String),
    /// The provider's rate limit answered (HTTP 429, `RequestLimitExceeded`).
    #[error("throttled by {api}; retry in {}s", retry_after.as_secs())]
    Throttled {
        api: &'static str,
        retry_after: Duration,
    },
    /// The request cannot succeed as it is: a person must change something.
    #[error("{0}")]
    Permanent(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
}

impl CloudError {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CloudError::Transient(_) | CloudError::Unreachable(_) | CloudError::Throttled { .. }
        )
    }
}

/// How a call ended, for metrics: a small closed set, never error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Ok,
    Throttled,
    ClientError,
    ServerError,
    TransportError,
}

impl Outcome {
    pub fn of<T>(result: &CloudResult<T>) -> Outcome {
        match result {
            Ok(_) => Outcome::Ok,
            Err(CloudError::Throttled { .. }) => Outcome::Throttled,
            Err(CloudError::Permanent(_) | CloudError::NotFound(_)) => Outcome::ClientError,
            Err(CloudError::Transient(_)) => Outcome::ServerError,
            Err(CloudError::Unreachable(_)) => Outcome::TransportError,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Throttled => "throttled",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
            Outcome::TransportError => "transport_error",
        }
    }
}

/// Receives every provider call as it ends (metrics implement this).
pub trait CallObserver: Send + Sync {
    /// One request: `api` is `tidbcloud` or `ec2`, `operation` the provider's own name.
    fn call(&self, api: &'static str, operation: &'static str, outcome: Outcome, elapsed: Duration);
    /// Time spent waiting for the client-side budget before a request.
    fn budget_wait(&self, api: &'static str, waited: Duration);
}

pub type CloudResult<T> = Result<T, CloudError>;

/// One page of a listing, and the token of the next page if there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// A TiDB Cloud Dedicated cluster, as far as private endpoints care.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    pub id: String,
    pub project_id: String,
    /// The AWS region code (`us-east-1`), taken from TiDB's `regionId` (`aws-us-east-1`).
    pub region: String,
    /// `aws`, `gcp` or `azure`.
    pub cloud_provider: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeGroup {
    pub id: String,
    pub is_default: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceState {
    Creating,
    Active,
    Deleting,
}

/// A node group's private link service (an AWS endpoint service owned by TiDB Cloud).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub state: ServiceState,
    pub name: String,
    pub dns_name: String,
    /// AZ IDs (`use1-az1`), not names.
    pub available_zones: Vec<String>,
}

/// TiDB Cloud's `endpointState` of a private endpoint connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectionState {
    Pending,
    Active,
    Deleting,
    Failed,
    Discovered,
}

/// A private endpoint connection: TiDB Cloud's record of our VPC endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub id: String,
    pub cluster_id: String,
    pub node_group_id: String,
    pub endpoint_id: String,
    pub state: ConnectionState,
    /// Why it is FAILED, in TiDB Cloud's words.
    pub message: String,
    pub host: String,
    pub port: u16,
}

/// An AWS interface endpoint as DescribeVpcEndpoints shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VpcEndpoint {
    pub id: String,
    pub vpc_id: String,
    pub service_name: String,
    /// AWS's lowercase camelCase state (`pendingAcceptance`, `available`, `deleted`, ...),
    /// compared as a string: the Rust SDK parses these as `Unknown`.
    pub state: String,
    pub private_dns_enabled: bool,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

impl VpcEndpoint {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }
}

/// Where an AWS call goes: credentials (account name) and region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Scope {
    pub account: String,
    pub region: String,
}

/// What a VPC offers an endpoint: checked before creating or changing one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    /// VPC ID -> (enableDnsSupport, enableDnsHostnames), for the VPCs that exist.
    pub vpcs: BTreeMap<String, (bool, bool)>,
    /// Subnet ID -> (VPC ID, AZ ID), for the subnets that exist.
    pub subnets: BTreeMap<String, (String, String)>,
    /// Security group ID -> VPC ID, for the groups that exist.
    pub security_groups: BTreeMap<String, String>,
}

/// The VPC attributes private DNS depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VpcAttribute {
    EnableDnsSupport,
    EnableDnsHostnames,
}

/// A CreateVpcEndpoint request (always an interface endpoint, private DNS off at first).
#[derive(Debug, Clone, PartialEq)]
pub struct CreateEndpoint {
    pub vpc_id: String,
    pub service_name: String,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    /// Deterministic, so a retried or repeated create returns the first endpoint.
    pub client_token: String,
    pub tags: BTreeMap<String, String>,
}

/// A ModifyVpcEndpoint request; empty lists and `None` leave that part alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModifyEndpoint {
    pub endpoint_id: String,
    pub add_subnet_ids: Vec<String>,
    pub remove_subnet_ids: Vec<String>,
    pub add_security_group_ids: Vec<String>,
    pub remove_security_group_ids: Vec<String>,
    pub private_dns_enabled: Option<bool>,
}

/// The TiDB Cloud Dedicated API (v1beta1), as privatelinkd uses it.
pub trait TidbCloud: Send + Sync {
    fn get_cluster(&self, cluster_id: &str) -> impl Future<Output = CloudResult<Cluster>> + Send;
    fn list_node_groups(
        &self,
        cluster_id: &str,
    ) -> impl Future<Output = CloudResult<Vec<NodeGroup>>> + Send;
    fn get_service(
        &self,
        cluster_id: &str,
        node_group_id: &str,
    ) -> impl Future<Output = CloudResult<Service>> + Send;
    /// One page (up to 100) of a project's connections (`-`/`-` wildcards with `projectId`).
    fn list_connections(
        &self,
        project_id: &str,
        page_token: Option<&str>,
    ) -> impl Future<Output = CloudResult<Page<Connection>>> + Send;
    fn create_connection(
        &self,
        cluster_id: &str,
        node_group_id: &str,
        endpoint_id: &str,
    ) -> impl Future<Output = CloudResult<Connection>> + Send;
    fn delete_connection(
        &self,
        connection: &Connection,
    ) -> impl Future<Output = CloudResult<()>> + Send;
}

/// AWS EC2, as privatelinkd uses it.
pub trait Ec2: Send + Sync {
    /// One page (up to 1,000) of the endpoints tagged with our owner ID in one account and
    /// region; `deleted` ones are left out of the items (they still fill pages).
    fn list_owned_endpoints(
        &self,
        scope: &Scope,
        owner: &str,
        page_token: Option<&str>,
    ) -> impl Future<Output = CloudResult<Page<VpcEndpoint>>> + Send;
    /// Endpoints by ID (for adoption); unknown IDs are simply absent from the answer.
    fn describe_endpoints(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> impl Future<Output = CloudResult<Vec<VpcEndpoint>>> + Send;
    /// One DNS attribute of a VPC (DescribeVpcAttribute answers one per call); `None` if
    /// the VPC does not exist.
    fn describe_vpc_attribute(
        &self,
        scope: &Scope,
        vpc_id: &str,
        attribute: VpcAttribute,
    ) -> impl Future<Output = CloudResult<Option<bool>>> + Send;
    /// Subnet ID -> (VPC ID, AZ ID) for those of `ids` that exist (a `subnet-id` filter, so
    /// unknown IDs are left out rather than failing the call).
    fn describe_subnets(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> impl Future<Output = CloudResult<BTreeMap<String, (String, String)>>> + Send;
    /// Security group ID -> VPC ID for those of `ids` that exist (a `group-id` filter).
    fn describe_security_groups(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> impl Future<Output = CloudResult<BTreeMap<String, String>>> + Send;
    fn create_endpoint(
        &self,
        scope: &Scope,
        request: &CreateEndpoint,
    ) -> impl Future<Output = CloudResult<VpcEndpoint>> + Send;
    fn modify_endpoint(
        &self,
        scope: &Scope,
        request: &ModifyEndpoint,
    ) -> impl Future<Output = CloudResult<()>> + Send;
    fn delete_endpoint(
        &self,
        scope: &Scope,
        endpoint_id: &str,
    ) -> impl Future<Output = CloudResult<()>> + Send;
    fn create_tags(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        tags: &BTreeMap<String, String>,
    ) -> impl Future<Output = CloudResult<()>> + Send;
    fn delete_tags(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        keys: &[String],
    ) -> impl Future<Output = CloudResult<()>> + Send;
}
