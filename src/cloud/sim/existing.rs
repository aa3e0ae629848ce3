//! Endpoints made by hand before privatelinkd came (`World::existing`): put in place when a
//! world begins, so that `privatelinkd import` has an estate to find in the demo and tests.

use super::*;
use crate::cloud::sim::world::{ExistingConnection, ExistingSeed};

impl Sim {
    /// Each existing endpoint in its VPC, connected to its cluster's service, and registered
    /// as the seed says; at the world's first instant, as if made just before.
    pub(super) fn seed_existing(&mut self) -> Result<(), String> {
        for seed in self.world.existing.clone() {
            self.seed_one(&seed)?;
        }
        Ok(())
    }

    fn seed_one(&mut self, seed: &ExistingSeed) -> Result<(), String> {
        let cluster = self
            .cluster(&seed.cluster)
            .map_err(|e| e.to_string())?
            .clone();
        let group = match &seed.node_group {
            Some(g) => g.clone(),
            None => cluster
                .node_groups
                .iter()
                .find(|g| g.default)
                .or(cluster.node_groups.first())
                .map(|g| g.id.clone())
                .ok_or_else(|| format!("cluster {} has no node group", cluster.id))?,
        };
        let vpc = self
            .world
            .vpcs
            .iter()
            .find(|v| v.id == seed.vpc)
            .ok_or_else(|| format!("existing endpoint {}: no VPC {}", seed.id, seed.vpc))?;
        let scope = Scope::aws(vpc.account.as_str(), vpc.region.as_str());
        let endpoint = VpcEndpoint {
            id: seed.id.clone(),
            vpc_id: seed.vpc.clone(),
            service_name: Sim::service_name(&cluster, &group),
            state: EndpointState::PendingAcceptance,
            private_dns_enabled: seed.private_dns,
            subnet_ids: seed.subnets.clone(),
            security_group_ids: seed.security_groups.clone(),
            tags: BTreeMap::new(),
        };
        let registered = seed.connection != ExistingConnection::None;
        self.state.endpoints.insert(
            seed.id.clone(),
            SimEndpoint {
                endpoint,
                scope,
                created_at: 0,
                registered_at: registered.then_some(0),
                dns_change: None,
                // Deleted before the world began: gone from EC2, its connection left behind.
                deleted_at: (seed.connection == ExistingConnection::EndpointDeleted).then_some(0),
            },
        );
        if registered {
            let id = (1_900_000_000_000_000_000 + self.next_id()).to_string();
            let dns = match cluster.node_groups.iter().find(|g| g.id == group) {
                Some(g) => self.service(&cluster, g, 0).dns_name,
                None => return Err(format!("cluster {} has no node group {group}", cluster.id)),
            };
            let connection = Connection {
                id: id.clone(),
                cluster_id: cluster.id.clone(),
                node_group_id: group,
                endpoint_id: seed.id.clone(),
                state: ConnectionState::Pending,
                message: String::new(),
                host: dns,
                port: cluster.port,
            };
            let fails = seed.connection == ExistingConnection::Failed;
            let record = SimConnection {
                connection,
                created_at: 0,
                deleted_at: None,
                fails,
                discovered: false,
                private_ip: None,
            };
            self.state.connections.insert(id, record);
        }
        Ok(())
    }
}
