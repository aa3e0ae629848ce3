//! The world's inventory as the providers show it at a moment: clusters (and their lifecycle),
//! node groups and their services, endpoints and connections as their timings make them look
//! now, and the VPCs, subnets and security groups of an account and region.

use super::*;

impl Sim {
    /// A cluster that exists now (a deleted one answers 404, as the API does).
    pub(super) fn cluster(&self, id: &str) -> CloudResult<&ClusterSeed> {
        self.world
            .clusters
            .iter()
            .find(|c| c.id == id)
            .filter(|c| self.cluster_state(c) != ClusterState::Deleted)
            .ok_or_else(|| CloudError::NotFound(format!("cluster {id} not found")))
    }

    /// A cluster as the API shows it now.
    pub(super) fn cluster_of(&self, c: &ClusterSeed) -> Cluster {
        Cluster {
            id: c.id.clone(),
            name: c.name.clone(),
            project_id: c.project_id.clone(),
            region: c.region.clone(),
            cloud_provider: c.cloud_provider.clone(),
            port: c.port,
            state: self.cluster_state(c),
        }
    }

    /// The state a test set, else the world's lifecycle at this moment, else ACTIVE.
    pub(super) fn cluster_state(&self, cluster: &ClusterSeed) -> ClusterState {
        if let Some(state) = self.state.cluster_states.get(&cluster.id) {
            return *state;
        }
        let now = self.now();
        cluster
            .lifecycle
            .iter()
            .filter(|step| u128::from(now) >= step.after.0.as_millis())
            .filter_map(|step| ClusterState::parse(&step.state))
            .next_back()
            .unwrap_or(ClusterState::Active)
    }

    pub(super) fn group(&self, cluster: &str, group: &str) -> CloudResult<&NodeGroupSeed> {
        self.cluster(cluster)?
            .node_groups
            .iter()
            .find(|g| g.id == group)
            .ok_or_else(|| {
                CloudError::NotFound(format!("node group {group} not found in cluster {cluster}"))
            })
    }

    /// The node group's `serviceName`: an AWS endpoint service name, on Google Cloud the
    /// service attachment's resource name, on Azure the Private Link service's resource ID.
    pub(super) fn service_name(cluster: &ClusterSeed, group: &str) -> String {
        match cluster.cloud_provider.as_str() {
            "gcp" => return Self::attachment(cluster, group),
            "azure" => return Self::private_link_service(cluster, group),
            _ => {}
        }
        let hex = format!("{:017x}", fnv(&format!("{}/{group}", cluster.id)));
        format!(
            "com.amazonaws.vpce.{}.vpce-svc-{}",
            cluster.region,
            &hex[..17]
        )
    }

    /// A Google Cloud cluster's service attachment, in TiDB Cloud's project.
    pub(super) fn attachment(cluster: &ClusterSeed, group: &str) -> String {
        let id = fnv(&format!("{}/{group}", cluster.id)) % 10_000_000_000_000_000_000;
        format!(
            "projects/tidbcloud-dp-{}/regions/{}/serviceAttachments/sa-{id}",
            cluster.id, cluster.region
        )
    }

    pub(super) fn service(
        &self,
        cluster: &ClusterSeed,
        group: &NodeGroupSeed,
        now: u64,
    ) -> Service {
        let state = if self.cluster_state(cluster) == ClusterState::Deleting {
            ServiceState::Deleting
        } else if now < Self::ms(self.world.timing.service_create)
            // Endpoints made by hand before the world began connect to a service that was there.
            && !self.world.existing.iter().any(|e| e.cluster == cluster.id)
        {
            ServiceState::Creating
        } else {
            ServiceState::Active
        };
        let made_up = || match cluster.cloud_provider.as_str() {
            // A zone suffix: each endpoint's host is `<endpoint name>.<zone>`.
            "gcp" => format!(
                "{}.{}.{}.gcp.tidbcloud.com",
                group.id, cluster.id, cluster.region
            ),
            // A public zone: each endpoint's host is `<endpoint name>-<hash>.<zone>`.
            "azure" => format!(
                "{}.{}.{}.azure.tidbcloud.com",
                group.id, cluster.id, cluster.region
            ),
            _ => format!(
                "privatelink-{}.{}.{}.aws.tidbcloud.com",
                group.id, cluster.id, cluster.region
            ),
        };
        Service {
            state,
            name: Self::service_name(cluster, &group.id),
            dns_name: group.dns_name.clone().unwrap_or_else(made_up),
            available_zones: group.available_zones.clone(),
        }
    }

    /// Whether a Google Cloud forwarding rule named `name` targets `attachment`.
    pub(super) fn gcp_endpoint_targets(&self, name: &str, attachment: &str) -> bool {
        self.state
            .gcp_rules()
            .any(|r| r.name == name && r.target == attachment)
    }

    pub(super) fn view_endpoint(&self, e: &SimEndpoint, now: u64) -> VpcEndpoint {
        let t = &self.world.timing;
        let mut view = e.endpoint.clone();
        let registered = match e.registered_at {
            None if self.tidb_elsewhere => Some(e.created_at),
            registered => registered,
        };
        view.state = match (e.deleted_at, registered) {
            (Some(at), _) if now >= at + Self::ms(t.delete) => EndpointState::Deleted,
            (Some(_), _) => EndpointState::Deleting,
            (None, None) => EndpointState::PendingAcceptance,
            (None, Some(at)) if now < at + Self::ms(t.accept) => EndpointState::PendingAcceptance,
            (None, Some(at)) if now < at + Self::ms(t.activate) => EndpointState::Pending,
            (None, Some(_)) => match e.dns_change {
                Some((_, at)) if now < at => EndpointState::Pending,
                _ => EndpointState::Available,
            },
        };
        if let Some((value, at)) = e.dns_change
            && now >= at
        {
            view.private_dns_enabled = value;
        }
        view
    }

    pub(super) fn view_connection(&self, c: &SimConnection, now: u64) -> Option<Connection> {
        let t = &self.world.timing;
        let mut view = c.connection.clone();
        view.state = match c.deleted_at {
            Some(at) if now >= at + Self::ms(t.delete) => return None,
            Some(_) => ConnectionState::Deleting,
            None if c.discovered => ConnectionState::Discovered,
            None if now < c.created_at + Self::ms(t.accept) => ConnectionState::Pending,
            None if c.fails => {
                view.message = "the endpoint service rejected the connection: the VPC endpoint is in an account not allowed by the service".into();
                ConnectionState::Failed
            }
            None if now < c.created_at + Self::ms(t.activate) => ConnectionState::Pending,
            None => ConnectionState::Active,
        };
        Some(view)
    }

    /// An endpoint of this account and region, to change.
    pub(super) fn endpoint_mut(
        &mut self,
        scope: &Scope,
        id: &str,
    ) -> CloudResult<&mut SimEndpoint> {
        self.state
            .endpoints
            .get_mut(id)
            .filter(|e| e.scope == *scope)
            .ok_or_else(|| CloudError::NotFound(format!("InvalidVpcEndpointId.NotFound: {id}")))
    }

    pub(super) fn vpc(&self, scope: &Scope, id: &str) -> Option<&VpcSeed> {
        self.world
            .vpcs
            .iter()
            .find(|v| v.id == id && v.region == scope.region && v.account == scope.account)
    }

    pub(super) fn subnet(&self, scope: &Scope, id: &str) -> Option<(&VpcSeed, &SubnetSeed)> {
        self.world
            .vpcs
            .iter()
            .filter(|v| v.region == scope.region && v.account == scope.account)
            .find_map(|v| v.subnets.iter().find(|s| s.id == id).map(|s| (v, s)))
    }

    /// A security group of this account and region, and its VPC.
    pub(super) fn security_group(&self, scope: &Scope, id: &str) -> Option<(&VpcSeed, &GroupSeed)> {
        self.world
            .vpcs
            .iter()
            .filter(|v| v.region == scope.region && v.account == scope.account)
            .find_map(|v| {
                v.security_groups
                    .iter()
                    .find(|g| g.id() == id)
                    .map(|g| (v, g))
            })
    }

    /// The service behind a service name, if TiDB Cloud has one.
    pub(super) fn service_by_name(&self, name: &str) -> Option<(&ClusterSeed, &NodeGroupSeed)> {
        self.world.clusters.iter().find_map(|c| {
            c.node_groups
                .iter()
                .find(|g| Self::service_name(c, &g.id) == name)
                .map(|g| (c, g))
        })
    }
}
