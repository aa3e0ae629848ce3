//! The cloud boundary: what privatelinkd needs from TiDB Cloud and from AWS EC2, in our words.
//!
//! Two narrow traits, one per provider, each shaped after the real API so that a real client
//! is a thin translation: batched listings (one paginated call for many endpoints), single-item
//! lookups only where the API has nothing else. The simulated cloud (`sim`) implements both.
//!
//! The providers' facts that the rest of the code must agree on live here once: the
//! [`op`] table (every operation's name, the budget it draws from, whether a retry is safe)
//! and the budgets the providers publish ([`BucketClass::published`]).

pub mod any;
pub mod aws;
pub mod azure;
pub mod budget;
pub mod clouds;
pub mod consumer;
pub mod fence;
pub mod gcp;
pub mod sim;
pub mod tidb;
mod types;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use thiserror::Error;

pub use consumer::{CloudEndpoint, Consumer, ConsumerEndpoint, Lifecycle};
pub use types::*;

/// A token bucket: its refill rate and its size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
}

/// Which of a provider's budgets a call draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BucketClass {
    /// The TiDB Cloud API key: one bucket per key.
    Tidb,
    /// EC2 CreateVpcEndpoint / ModifyVpcEndpoint / DeleteVpcEndpoints: one bucket per
    /// account, region and action.
    Ec2Mutating,
    /// EC2 describes (and tag calls, whose own bucket is at least as large): one bucket per
    /// account, region and action.
    Ec2Describe,
    /// Compute Engine reads (get, list): one bucket per project.
    GcpRead,
    /// Compute Engine mutations (insert, delete, setLabels): one bucket per project.
    GcpWrite,
    /// Compute Engine operation reads: one bucket per project.
    GcpOperationRead,
    /// Azure Resource Manager reads (GET): one bucket per subscription.
    ArmRead,
    /// Resource Manager writes (PUT, PATCH): one bucket per subscription.
    ArmWrite,
    /// Resource Manager deletes: one bucket per subscription.
    ArmDelete,
}

impl BucketClass {
    /// The API's name in metrics and logs.
    pub const fn api(self) -> &'static str {
        match self {
            BucketClass::Tidb => "tidbcloud",
            BucketClass::Ec2Mutating | BucketClass::Ec2Describe => "ec2",
            BucketClass::GcpRead | BucketClass::GcpWrite | BucketClass::GcpOperationRead => {
                "compute"
            }
            BucketClass::ArmRead | BucketClass::ArmWrite | BucketClass::ArmDelete => "arm",
        }
    }

    /// The budget the provider publishes: TiDB Cloud 100 requests per minute per API key;
    /// EC2 4 burst + 0.3/s for endpoint create/modify/delete, 100 burst + 20/s for describes.
    /// Compute Engine: 1,500 requests a minute per project in each group (reads, mutations,
    /// operation reads), refilled at synchronized minutes
    /// (https://cloud.google.com/compute/docs/api-rate-limits): a bucket of 300 refilling
    /// 20 a second never sends more than 1,500 in any 60 seconds, wherever the minute starts.
    /// Azure Resource Manager: a token bucket per subscription (and Resource Manager region):
    /// reads 250 refilled 25 a second, writes and deletes 200 refilled 10 a second each
    /// (https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling).
    pub const fn published(self) -> Rate {
        match self {
            BucketClass::Tidb => Rate {
                per_second: 100.0 / 60.0,
                burst: 100,
            },
            BucketClass::Ec2Mutating => Rate {
                per_second: 0.3,
                burst: 4,
            },
            BucketClass::Ec2Describe => Rate {
                per_second: 20.0,
                burst: 100,
            },
            BucketClass::GcpRead | BucketClass::GcpWrite | BucketClass::GcpOperationRead => Rate {
                per_second: 20.0,
                burst: 300,
            },
            BucketClass::ArmRead => Rate {
                per_second: 25.0,
                burst: 250,
            },
            BucketClass::ArmWrite | BucketClass::ArmDelete => Rate {
                per_second: 10.0,
                burst: 200,
            },
        }
    }
}

/// One provider operation, as the call gate, the simulator and the metrics see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// The provider's own name (`CreateVpcEndpoint`): a metric label.
    pub name: &'static str,
    pub class: BucketClass,
    /// A retry after a lost answer is harmless (a create with a ClientToken is).
    pub idempotent: bool,
    /// It changes the cloud (what a leader must hold its lease for).
    pub mutating: bool,
}

/// Every operation privatelinkd makes.
pub mod op {
    use super::{BucketClass, Operation};

    const fn tidb(name: &'static str, idempotent: bool, mutating: bool) -> Operation {
        Operation {
            name,
            class: BucketClass::Tidb,
            idempotent,
            mutating,
        }
    }

    const fn ec2(name: &'static str, class: BucketClass, mutating: bool) -> Operation {
        Operation {
            name,
            class,
            idempotent: true,
            mutating,
        }
    }

    pub const LIST_CLUSTERS: Operation = tidb("ListClusters", true, false);
    pub const GET_CLUSTER: Operation = tidb("GetCluster", true, false);
    pub const LIST_NODE_GROUPS: Operation = tidb("ListTidbNodeGroups", true, false);
    pub const GET_SERVICE: Operation = tidb("GetPrivateLinkService", true, false);
    pub const LIST_CONNECTIONS: Operation = tidb("ListPrivateEndpointConnections", true, false);
    pub const GET_CONNECTION: Operation = tidb("GetPrivateEndpointConnection", true, false);
    /// Not idempotent: a create whose answer was lost would fail again as a duplicate; the
    /// next pass observes whether it took effect instead.
    pub const CREATE_CONNECTION: Operation = tidb("CreatePrivateEndpointConnection", false, true);
    pub const DELETE_CONNECTION: Operation = tidb("DeletePrivateEndpointConnection", true, true);

    const DESCRIBE: BucketClass = BucketClass::Ec2Describe;
    const MUTATING: BucketClass = BucketClass::Ec2Mutating;
    pub const DESCRIBE_VPC_ENDPOINTS: Operation = ec2("DescribeVpcEndpoints", DESCRIBE, false);
    pub const DESCRIBE_VPC_ATTRIBUTE: Operation = ec2("DescribeVpcAttribute", DESCRIBE, false);
    pub const DESCRIBE_SUBNETS: Operation = ec2("DescribeSubnets", DESCRIBE, false);
    pub const DESCRIBE_SECURITY_GROUPS: Operation = ec2("DescribeSecurityGroups", DESCRIBE, false);
    pub const DESCRIBE_VPCS: Operation = ec2("DescribeVpcs", DESCRIBE, false);
    /// Idempotent thanks to the deterministic ClientToken.
    pub const CREATE_VPC_ENDPOINT: Operation = ec2("CreateVpcEndpoint", MUTATING, true);
    pub const MODIFY_VPC_ENDPOINT: Operation = ec2("ModifyVpcEndpoint", MUTATING, true);
    pub const DELETE_VPC_ENDPOINTS: Operation = ec2("DeleteVpcEndpoints", MUTATING, true);
    pub const CREATE_TAGS: Operation = ec2("CreateTags", DESCRIBE, true);
    pub const DELETE_TAGS: Operation = ec2("DeleteTags", DESCRIBE, true);

    /// Compute Engine's: every mutation carries a `requestId` (or fails cleanly on a stale
    /// fingerprint), so each may be resent.
    const fn compute(name: &'static str, class: BucketClass, mutating: bool) -> Operation {
        Operation {
            name,
            class,
            idempotent: true,
            mutating,
        }
    }
    const READ: BucketClass = BucketClass::GcpRead;
    const WRITE: BucketClass = BucketClass::GcpWrite;
    pub const LIST_FORWARDING_RULES: Operation = compute("forwardingRules.list", READ, false);
    pub const GET_FORWARDING_RULE: Operation = compute("forwardingRules.get", READ, false);
    pub const INSERT_FORWARDING_RULE: Operation = compute("forwardingRules.insert", WRITE, true);
    pub const DELETE_FORWARDING_RULE: Operation = compute("forwardingRules.delete", WRITE, true);
    pub const SET_FORWARDING_RULE_LABELS: Operation =
        compute("forwardingRules.setLabels", WRITE, true);
    pub const LIST_ADDRESSES: Operation = compute("addresses.list", READ, false);
    pub const GET_ADDRESS: Operation = compute("addresses.get", READ, false);
    pub const INSERT_ADDRESS: Operation = compute("addresses.insert", WRITE, true);
    pub const DELETE_ADDRESS: Operation = compute("addresses.delete", WRITE, true);
    pub const SET_ADDRESS_LABELS: Operation = compute("addresses.setLabels", WRITE, true);
    pub const GET_OPERATION: Operation =
        compute("regionOperations.get", BucketClass::GcpOperationRead, false);
    pub const GET_NETWORK: Operation = compute("networks.get", READ, false);
    pub const GET_SUBNETWORK: Operation = compute("subnetworks.get", READ, false);
    pub const LIST_FIREWALLS: Operation = compute("firewalls.list", READ, false);

    /// Azure Resource Manager's: a PUT is idempotent by nature (the same body, the same
    /// resource), a DELETE too; an operation read is a GET.
    const fn arm(name: &'static str, class: BucketClass, mutating: bool) -> Operation {
        Operation {
            name,
            class,
            idempotent: true,
            mutating,
        }
    }
    const ARM_READ: BucketClass = BucketClass::ArmRead;
    pub const LIST_PRIVATE_ENDPOINTS: Operation = arm("privateEndpoints.list", ARM_READ, false);
    pub const GET_PRIVATE_ENDPOINT: Operation = arm("privateEndpoints.get", ARM_READ, false);
    pub const PUT_PRIVATE_ENDPOINT: Operation = arm(
        "privateEndpoints.createOrUpdate",
        BucketClass::ArmWrite,
        true,
    );
    pub const DELETE_PRIVATE_ENDPOINT: Operation =
        arm("privateEndpoints.delete", BucketClass::ArmDelete, true);
    pub const UPDATE_PRIVATE_ENDPOINT_TAGS: Operation =
        arm("privateEndpoints.updateTags", BucketClass::ArmWrite, true);
    pub const GET_ARM_OPERATION: Operation = arm("operations.get", ARM_READ, false);
    pub const GET_NETWORK_INTERFACE: Operation = arm("networkInterfaces.get", ARM_READ, false);
    pub const GET_AZURE_SUBNET: Operation = arm("subnets.get", ARM_READ, false);

    /// Every operation, to find one by name.
    pub const ALL: [Operation; 40] = [
        LIST_CLUSTERS,
        GET_CLUSTER,
        LIST_NODE_GROUPS,
        GET_SERVICE,
        LIST_CONNECTIONS,
        GET_CONNECTION,
        CREATE_CONNECTION,
        DELETE_CONNECTION,
        DESCRIBE_VPC_ENDPOINTS,
        DESCRIBE_VPC_ATTRIBUTE,
        DESCRIBE_SUBNETS,
        DESCRIBE_SECURITY_GROUPS,
        DESCRIBE_VPCS,
        CREATE_VPC_ENDPOINT,
        MODIFY_VPC_ENDPOINT,
        DELETE_VPC_ENDPOINTS,
        CREATE_TAGS,
        DELETE_TAGS,
        LIST_FORWARDING_RULES,
        GET_FORWARDING_RULE,
        INSERT_FORWARDING_RULE,
        DELETE_FORWARDING_RULE,
        SET_FORWARDING_RULE_LABELS,
        LIST_ADDRESSES,
        GET_ADDRESS,
        INSERT_ADDRESS,
        DELETE_ADDRESS,
        SET_ADDRESS_LABELS,
        GET_OPERATION,
        GET_NETWORK,
        GET_SUBNETWORK,
        LIST_FIREWALLS,
        LIST_PRIVATE_ENDPOINTS,
        GET_PRIVATE_ENDPOINT,
        PUT_PRIVATE_ENDPOINT,
        DELETE_PRIVATE_ENDPOINT,
        UPDATE_PRIVATE_ENDPOINT_TAGS,
        GET_ARM_OPERATION,
        GET_NETWORK_INTERFACE,
        GET_AZURE_SUBNET,
    ];

    /// The operation of this name (`api` tells TiDB Cloud's from EC2's).
    pub fn named(api: &str, name: &str) -> Option<Operation> {
        ALL.into_iter()
            .find(|o| o.name == name && o.class.api() == api)
    }
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
    /// Not sent: this daemon does not hold its group's lease (or not for long enough).
    #[error("not sent: this daemon is not the leader of its group (lease not held)")]
    Fenced,
    /// Not sent: the pass's apply window closed while the call waited for its budget; the
    /// next pass observes and sends it then.
    #[error("not sent: the apply window closed while waiting for the rate budget")]
    Deferred,
}

/// What a person can do about an EC2 error, where the error alone does not say it.
pub fn ec2_advice(code: &str, message: &str) -> Option<&'static str> {
    match code {
        "InvalidParameter" if message.contains("conflicting DNS domain") => Some(
            "another endpoint to this service in this VPC already has private DNS (EC2 allows one \
             per service and VPC): delete it, adopt it with spec.aws.endpointId, or set \
             privateDns: false",
        ),
        "VpcEndpointLimitExceeded" => {
            Some("the account's VPC endpoint quota is reached: ask AWS for a higher quota")
        }
        _ => None,
    }
}

impl CloudError {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CloudError::Transient(_)
                | CloudError::Unreachable(_)
                | CloudError::Throttled { .. }
                | CloudError::Fenced
                | CloudError::Deferred
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
            // Never sent, so never observed; for completeness.
            Err(CloudError::Fenced | CloudError::Deferred) => Outcome::ClientError,
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

/// The TiDB Cloud Dedicated API (v1beta1), as privatelinkd uses it.
pub trait TidbCloud: Send + Sync {
    /// One page (up to 100) of a project's clusters; the API key's default project when
    /// `project_id` is `None` (`import`).
    fn list_clusters(
        &self,
        project_id: Option<&str>,
        page_token: Option<&str>,
    ) -> impl Future<Output = CloudResult<Page<Cluster>>> + Send;
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
    /// One connection by ID (`NotFound` when it is gone).
    fn get_connection(
        &self,
        cluster_id: &str,
        node_group_id: &str,
        connection_id: &str,
    ) -> impl Future<Output = CloudResult<Connection>> + Send;
    fn create_connection(
        &self,
        cluster_id: &str,
        node_group_id: &str,
        endpoint_id: &str,
        // Azure's: TiDB Cloud is told the endpoint's private IP too (`privateIpAddress`).
        private_ip: Option<&str>,
    ) -> impl Future<Output = CloudResult<Connection>> + Send;
    fn delete_connection(
        &self,
        connection: &Connection,
    ) -> impl Future<Output = CloudResult<()>> + Send;
}

/// AWS EC2, as privatelinkd uses it: the consumer-side seam (`Consumer`) for VPC endpoints,
/// and what only AWS has (creating and modifying an interface endpoint, the VPC facts the
/// checks before a create read).
pub trait Ec2: Consumer<Endpoint = VpcEndpoint> {
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
    /// The groups of `ids` that exist, with their inbound rules (a `group-id` filter, so
    /// unknown IDs are left out rather than failing the call).
    fn describe_security_groups(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> impl Future<Output = CloudResult<BTreeMap<String, SecurityGroup>>> + Send;
    /// VPC ID -> its CIDR blocks, for those of `ids` that exist (a `vpc-id` filter).
    fn describe_vpcs(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> impl Future<Output = CloudResult<BTreeMap<String, Vec<String>>>> + Send;
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
}
