//! The simulated TiDB Cloud Dedicated API.

use super::*;
use crate::cloud::azure::segment;

impl TidbCloud for SimCloud {
    async fn list_clusters(
        &self,
        project_id: Option<&str>,
        page_token: Option<&str>,
    ) -> CloudResult<Page<Cluster>> {
        self.latency().await;
        Ok(self.clusters_page(project_id, page_token, PAGE_TIDB)?.0)
    }

    async fn get_cluster(&self, cluster_id: &str) -> CloudResult<Cluster> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::GET_CLUSTER, None)?;
        let c = sim.cluster(cluster_id)?;
        Ok(sim.cluster_of(c))
    }

    async fn list_node_groups(&self, cluster_id: &str) -> CloudResult<Vec<NodeGroup>> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::LIST_NODE_GROUPS, None)?;
        Ok(sim
            .cluster(cluster_id)?
            .node_groups
            .iter()
            .map(|g| NodeGroup {
                id: g.id.clone(),
                is_default: g.default,
            })
            .collect())
    }

    async fn get_service(&self, cluster_id: &str, node_group_id: &str) -> CloudResult<Service> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::GET_SERVICE, None)?;
        let now = sim.now();
        let cluster = sim.cluster(cluster_id)?;
        if !matches!(cluster.cloud_provider.as_str(), "aws" | "gcp" | "azure") {
            return Err(CloudError::Permanent(format!(
                "cluster {cluster_id} runs on {}, which this simulation does not offer",
                cluster.cloud_provider
            )));
        }
        let group = sim.group(cluster_id, node_group_id)?;
        Ok(sim.service(cluster, group, now))
    }

    async fn list_connections(
        &self,
        project_id: &str,
        page_token: Option<&str>,
    ) -> CloudResult<Page<Connection>> {
        self.latency().await;
        let filter = ConnectionFilter::Project(project_id.to_string());
        Ok(self.connections_page(&filter, page_token, PAGE_TIDB)?.0)
    }

    async fn get_connection(
        &self,
        cluster_id: &str,
        node_group_id: &str,
        connection_id: &str,
    ) -> CloudResult<Connection> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::GET_CONNECTION, None)?;
        sim.discover();
        let now = sim.now();
        sim.cluster(cluster_id)?;
        sim.state
            .connections
            .get(connection_id)
            .and_then(|c| sim.view_connection(c, now))
            .filter(|c| c.cluster_id == cluster_id && c.node_group_id == node_group_id)
            .ok_or_else(|| {
                CloudError::NotFound(format!(
                    "private endpoint connection {connection_id} not found"
                ))
            })
    }

    async fn create_connection(
        &self,
        cluster_id: &str,
        node_group_id: &str,
        endpoint_id: &str,
        private_ip: Option<&str>,
    ) -> CloudResult<Connection> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::CREATE_CONNECTION, None)?;
        sim.discover();
        let now = sim.now();
        let cluster = sim.cluster(cluster_id)?.clone();
        sim.group(cluster_id, node_group_id)?;
        let service = Sim::service_name(&cluster, node_group_id);
        if cluster.cloud_provider == "azure" {
            sim.check_azure_registration(endpoint_id, &service, private_ip)?;
        } else if cluster.cloud_provider == "gcp" {
            // TiDB Cloud looks for a forwarding rule of that name targeting its attachment.
            if !sim.gcp_elsewhere && !sim.gcp_endpoint_targets(endpoint_id, &service) {
                return Err(CloudError::Permanent(format!(
                    "not received connection request from endpoint {endpoint_id}"
                )));
            }
        } else {
            let known = sim
                .state
                .endpoints
                .get(endpoint_id)
                .filter(|e| e.deleted_at.is_none() && e.endpoint.service_name == service);
            if known.is_none() && !sim.ec2_elsewhere {
                return Err(CloudError::Permanent(format!(
                    "endpoint {endpoint_id} was not found connecting to the private link service of node group {node_group_id}"
                )));
            }
        }
        // Azure: a DISCOVERED connection of this endpoint is the one registered (its ID kept).
        let discovered = sim
            .state
            .connections
            .iter()
            .find(|(_, c)| {
                c.discovered
                    && c.deleted_at.is_none()
                    && c.connection.endpoint_id.eq_ignore_ascii_case(endpoint_id)
                    && c.connection.cluster_id == cluster_id
                    && c.connection.node_group_id == node_group_id
            })
            .map(|(id, _)| id.clone());
        let exists = sim.state.connections.values().any(|c| {
            c.connection.endpoint_id.eq_ignore_ascii_case(endpoint_id)
                && c.deleted_at.is_none()
                && !c.discovered
        });
        if exists {
            return Err(CloudError::Permanent(format!(
                "a connection for endpoint {endpoint_id} already exists"
            )));
        }
        let id = match discovered {
            Some(id) => id,
            None => (1_900_000_000_000_000_000 + sim.next_id()).to_string(),
        };
        let group = sim.group(cluster_id, node_group_id)?.clone();
        let dns = sim.service(&cluster, &group, now).dns_name;
        // Google Cloud: each endpoint has its own name in the zone (`<endpoint>.<zone>`).
        // Azure: a public name, `<endpoint name>-<hash>.<zone>`.
        let dns = match cluster.cloud_provider.as_str() {
            "gcp" => format!("{endpoint_id}.{dns}"),
            "azure" => format!(
                "{}-{:08x}.{dns}",
                segment(endpoint_id, "privateEndpoints").unwrap_or(endpoint_id),
                fnv(&endpoint_id.to_ascii_lowercase()) & 0xffff_ffff
            ),
            _ => dns,
        };
        let connection = Connection {
            id: id.clone(),
            cluster_id: cluster_id.into(),
            node_group_id: node_group_id.into(),
            endpoint_id: endpoint_id.into(),
            state: ConnectionState::Pending,
            message: String::new(),
            host: dns,
            port: cluster.port,
        };
        let fails = sim
            .world
            .faults
            .fail_connections
            .iter()
            .any(|f| f.fails(cluster_id, now));
        sim.state.connections.insert(
            id,
            SimConnection {
                connection: connection.clone(),
                created_at: now,
                deleted_at: None,
                fails,
                discovered: false,
                private_ip: private_ip
                    .filter(|_| cluster.cloud_provider == "azure")
                    .map(String::from),
            },
        );
        if let Some(e) = sim.state.endpoints.get_mut(endpoint_id) {
            e.registered_at = Some(now);
        }
        sim.persist();
        sim.answer(op::CREATE_CONNECTION, connection)
    }

    async fn delete_connection(&self, connection: &Connection) -> CloudResult<()> {
        self.latency().await;
        let mut sim = self.lock();
        sim.call(op::DELETE_CONNECTION, None)?;
        let now = sim.now();
        let c = sim
            .state
            .connections
            .get_mut(&connection.id)
            .ok_or_else(|| {
                CloudError::NotFound(format!("connection {} not found", connection.id))
            })?;
        c.deleted_at.get_or_insert(now);
        let endpoint = c.connection.endpoint_id.clone();
        if let Some(e) = sim.state.endpoints.get_mut(&endpoint) {
            e.registered_at = None;
        }
        sim.persist();
        sim.answer(op::DELETE_CONNECTION, ())
    }
}

impl SimCloud {
    /// One page of `size` of the world's clusters of `project_id`, in the world's order, and
    /// how many there are; without a project, those of the first cluster's project (the API
    /// key's "default project"). The token is an offset.
    pub fn clusters_page(
        &self,
        project_id: Option<&str>,
        page_token: Option<&str>,
        size: usize,
    ) -> CloudResult<(Page<Cluster>, usize)> {
        let mut sim = self.lock();
        sim.call(op::LIST_CLUSTERS, None)?;
        let project = match project_id {
            Some(p) => p.to_string(),
            None => match sim.world.clusters.first() {
                Some(c) => c.project_id.clone(),
                None => String::new(),
            },
        };
        let Ok(from) = page_token.map_or(Ok(0), str::parse::<usize>) else {
            return Err(CloudError::Permanent("invalid page token".into()));
        };
        let all: Vec<&ClusterSeed> = sim
            .world
            .clusters
            .iter()
            .filter(|c| c.project_id == project)
            .filter(|c| sim.cluster_state(c) != ClusterState::Deleted)
            .collect();
        let items: Vec<Cluster> = all
            .iter()
            .skip(from)
            .take(size)
            .map(|c| sim.cluster_of(c))
            .collect();
        let next = (from + items.len() < all.len()).then(|| (from + items.len()).to_string());
        Ok((Page { items, next }, all.len()))
    }
}
