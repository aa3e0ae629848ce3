//! One type per provider whatever serves it (`cloud: simulated | real`, per provider), so the
//! engine is built once and the choice is made at start-up.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::aws::AwsClient;
use super::sim::SimCloud;
use super::tidb::client::TidbClient;
use super::*;

/// The TiDB Cloud side: simulated or real.
#[derive(Clone)]
pub enum AnyTidb {
    Simulated(SimCloud),
    Real(TidbClient),
}

/// The EC2 side: simulated or real.
#[derive(Clone)]
pub enum AnyEc2 {
    Simulated(SimCloud),
    Real(AwsClient),
}

/// The Google Cloud side: simulated, real, or none configured (every call says so).
#[derive(Clone)]
pub enum AnyGcp {
    Simulated(SimCloud),
    /// Built on first use: Google's client builders are async, the wiring is not.
    Real(Arc<LazyGcp>),
    /// No `gcp:` section: a Google Cloud document is told what to configure.
    Unconfigured,
}

macro_rules! tidb {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            AnyTidb::Simulated(c) => c.$method($($arg),*).await,
            AnyTidb::Real(c) => c.$method($($arg),*).await,
        }
    };
}

macro_rules! ec2 {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            AnyEc2::Simulated(c) => c.$method($($arg),*).await,
            AnyEc2::Real(c) => c.$method($($arg),*).await,
        }
    };
}

impl TidbCloud for AnyTidb {
    async fn list_clusters(
        &self,
        project_id: Option<&str>,
        page_token: Option<&str>,
    ) -> CloudResult<Page<Cluster>> {
        tidb!(self.list_clusters(project_id, page_token))
    }

    async fn get_cluster(&self, cluster_id: &str) -> CloudResult<Cluster> {
        tidb!(self.get_cluster(cluster_id))
    }

    async fn list_node_groups(&self, cluster_id: &str) -> CloudResult<Vec<NodeGroup>> {
        tidb!(self.list_node_groups(cluster_id))
    }

    async fn get_service(&self, cluster_id: &str, node_group_id: &str) -> CloudResult<Service> {
        tidb!(self.get_service(cluster_id, node_group_id))
    }

    async fn list_connections(
        &self,
        project_id: &str,
        page_token: Option<&str>,
    ) -> CloudResult<Page<Connection>> {
        tidb!(self.list_connections(project_id, page_token))
    }

    async fn get_connection(
        &self,
        cluster_id: &str,
        node_group_id: &str,
        connection_id: &str,
    ) -> CloudResult<Connection> {
        tidb!(self.get_connection(cluster_id, node_group_id, connection_id))
    }

    async fn create_connection(
        &self,
        cluster_id: &str,
        node_group_id: &str,
        endpoint_id: &str,
        private_ip: Option<&str>,
    ) -> CloudResult<Connection> {
        tidb!(self.create_connection(cluster_id, node_group_id, endpoint_id, private_ip))
    }

    async fn delete_connection(&self, connection: &Connection) -> CloudResult<()> {
        tidb!(self.delete_connection(connection))
    }
}

impl Consumer for AnyEc2 {
    type Endpoint = VpcEndpoint;

    async fn list_marked(
        &self,
        scope: &Scope,
        tag: (&str, &str),
        page_token: Option<&str>,
    ) -> CloudResult<Page<VpcEndpoint>> {
        ec2!(self.list_marked(scope, tag, page_token))
    }

    async fn list_connected(
        &self,
        scope: &Scope,
        services: &[String],
        page_token: Option<&str>,
    ) -> CloudResult<Page<VpcEndpoint>> {
        ec2!(self.list_connected(scope, services, page_token))
    }

    async fn describe_endpoints(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<Vec<VpcEndpoint>> {
        ec2!(self.describe_endpoints(scope, ids))
    }

    async fn delete_endpoint(&self, scope: &Scope, endpoint_id: &str) -> CloudResult<()> {
        ec2!(self.delete_endpoint(scope, endpoint_id))
    }

    async fn set_marks(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        tags: &BTreeMap<String, String>,
    ) -> CloudResult<()> {
        ec2!(self.set_marks(scope, endpoint_id, tags))
    }

    async fn remove_marks(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        keys: &[String],
    ) -> CloudResult<()> {
        ec2!(self.remove_marks(scope, endpoint_id, keys))
    }
}

impl Ec2 for AnyEc2 {
    async fn describe_vpc_attribute(
        &self,
        scope: &Scope,
        vpc_id: &str,
        attribute: VpcAttribute,
    ) -> CloudResult<Option<bool>> {
        ec2!(self.describe_vpc_attribute(scope, vpc_id, attribute))
    }

    async fn describe_subnets(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<BTreeMap<String, (String, String)>> {
        ec2!(self.describe_subnets(scope, ids))
    }

    async fn describe_security_groups(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<BTreeMap<String, SecurityGroup>> {
        ec2!(self.describe_security_groups(scope, ids))
    }

    async fn describe_vpcs(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<BTreeMap<String, Vec<String>>> {
        ec2!(self.describe_vpcs(scope, ids))
    }

    async fn create_endpoint(
        &self,
        scope: &Scope,
        request: &CreateEndpoint,
    ) -> CloudResult<VpcEndpoint> {
        ec2!(self.create_endpoint(scope, request))
    }

    async fn modify_endpoint(&self, scope: &Scope, request: &ModifyEndpoint) -> CloudResult<()> {
        ec2!(self.modify_endpoint(scope, request))
    }
}

/// The real Compute Engine client and the config it is built from on first use.
pub struct LazyGcp {
    config: super::gcp::GcpConfig,
    client: tokio::sync::OnceCell<Result<super::gcp::GcpClient, CloudError>>,
}

impl LazyGcp {
    pub fn new(config: super::gcp::GcpConfig) -> LazyGcp {
        LazyGcp {
            config,
            client: tokio::sync::OnceCell::new(),
        }
    }

    async fn get(&self) -> CloudResult<&super::gcp::GcpClient> {
        let built = self
            .client
            .get_or_init(|| super::gcp::GcpClient::new(&self.config))
            .await;
        built.as_ref().map_err(Clone::clone)
    }
}

macro_rules! gcp {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            AnyGcp::Simulated(c) => c.$method($($arg),*).await,
            AnyGcp::Real(lazy) => lazy.get().await?.$method($($arg),*).await,
            AnyGcp::Unconfigured => Err(CloudError::Permanent(
                "Google Cloud is not configured: add a `gcp:` section to the daemon config".into(),
            )),
        }
    };
}

impl gcp::Gcp for AnyGcp {
    async fn list_forwarding_rules(
        &self,
        scope: &Scope,
        label: (&str, &str),
        page_token: Option<&str>,
    ) -> CloudResult<Page<gcp::ForwardingRule>> {
        gcp!(self.list_forwarding_rules(scope, label, page_token))
    }

    async fn list_forwarding_rules_to(
        &self,
        scope: &Scope,
        targets: &[String],
        page_token: Option<&str>,
    ) -> CloudResult<Page<gcp::ForwardingRule>> {
        gcp!(self.list_forwarding_rules_to(scope, targets, page_token))
    }

    async fn list_addresses(
        &self,
        scope: &Scope,
        label: (&str, &str),
        page_token: Option<&str>,
    ) -> CloudResult<Page<gcp::Address>> {
        gcp!(self.list_addresses(scope, label, page_token))
    }

    async fn get_forwarding_rule(
        &self,
        scope: &Scope,
        name: &str,
    ) -> CloudResult<Option<gcp::ForwardingRule>> {
        gcp!(self.get_forwarding_rule(scope, name))
    }

    async fn get_address(&self, scope: &Scope, name: &str) -> CloudResult<Option<gcp::Address>> {
        gcp!(self.get_address(scope, name))
    }

    async fn insert_address(
        &self,
        scope: &Scope,
        request: &gcp::InsertAddress,
    ) -> CloudResult<String> {
        gcp!(self.insert_address(scope, request))
    }

    async fn insert_forwarding_rule(
        &self,
        scope: &Scope,
        request: &gcp::InsertForwardingRule,
    ) -> CloudResult<String> {
        gcp!(self.insert_forwarding_rule(scope, request))
    }

    async fn delete_forwarding_rule(&self, scope: &Scope, name: &str) -> CloudResult<String> {
        gcp!(self.delete_forwarding_rule(scope, name))
    }

    async fn delete_address(&self, scope: &Scope, name: &str) -> CloudResult<String> {
        gcp!(self.delete_address(scope, name))
    }

    async fn set_labels(
        &self,
        scope: &Scope,
        kind: gcp::Labelled,
        name: &str,
        labels: &BTreeMap<String, String>,
        fingerprint: &str,
    ) -> CloudResult<String> {
        gcp!(self.set_labels(scope, kind, name, labels, fingerprint))
    }

    async fn get_operation(
        &self,
        scope: &Scope,
        operation: &str,
    ) -> CloudResult<gcp::OperationState> {
        gcp!(self.get_operation(scope, operation))
    }

    async fn network_exists(&self, project: &str, network: &str) -> CloudResult<bool> {
        gcp!(self.network_exists(project, network))
    }

    async fn get_subnetwork(
        &self,
        scope: &Scope,
        name: &str,
    ) -> CloudResult<Option<gcp::Subnetwork>> {
        gcp!(self.get_subnetwork(scope, name))
    }

    async fn list_firewalls(
        &self,
        project: &str,
        network: &str,
    ) -> CloudResult<Vec<gcp::FirewallRule>> {
        gcp!(self.list_firewalls(project, network))
    }
}

/// Azure Resource Manager: none until the config has an `azure:` section (or the simulated
/// world serves it).
#[derive(Clone)]
pub enum AnyArm {
    Simulated(SimCloud),
    /// Resource Manager itself (or `fake-azure-network`), from the `azure:` section.
    Real(azure::ArmClient),
    Unconfigured,
}

impl AnyArm {
    fn unconfigured<T>() -> CloudResult<T> {
        Err(CloudError::Permanent(
            "Azure is not configured: add an `azure:` section to the daemon config".into(),
        ))
    }
}

macro_rules! arm {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            AnyArm::Simulated(c) => c.$method($($arg),*).await,
            AnyArm::Real(c) => c.$method($($arg),*).await,
            AnyArm::Unconfigured => {
                let _ = ($(&$arg),*);
                AnyArm::unconfigured()
            }
        }
    };
}

impl azure::Arm for AnyArm {
    async fn list_private_endpoints(
        &self,
        subscription: &str,
        page_token: Option<&str>,
    ) -> CloudResult<Page<azure::PrivateEndpoint>> {
        arm!(self.list_private_endpoints(subscription, page_token))
    }

    async fn get_private_endpoint(&self, id: &str) -> CloudResult<Option<azure::PrivateEndpoint>> {
        arm!(self.get_private_endpoint(id))
    }

    async fn put_private_endpoint(
        &self,
        request: &azure::PutPrivateEndpoint,
    ) -> CloudResult<String> {
        arm!(self.put_private_endpoint(request))
    }

    async fn delete_private_endpoint(&self, id: &str) -> CloudResult<Option<String>> {
        arm!(self.delete_private_endpoint(id))
    }

    async fn update_tags(&self, id: &str, tags: &BTreeMap<String, String>) -> CloudResult<()> {
        arm!(self.update_tags(id, tags))
    }

    async fn change_tags(
        &self,
        id: &str,
        set: &BTreeMap<String, String>,
        remove: &[String],
    ) -> CloudResult<()> {
        arm!(self.change_tags(id, set, remove))
    }

    async fn get_operation(&self, url: &str) -> CloudResult<azure::OperationState> {
        arm!(self.get_operation(url))
    }

    async fn get_private_ip(&self, network_interface_id: &str) -> CloudResult<Option<String>> {
        arm!(self.get_private_ip(network_interface_id))
    }

    async fn get_subnet(&self, id: &str) -> CloudResult<Option<azure::Subnet>> {
        arm!(self.get_subnet(id))
    }
}
