//! What a person does in the AWS and TiDB Cloud consoles behind the daemon's back: the drift
//! that tests and demos drive.

use super::SimCloud;
use crate::cloud::ClusterState;

impl SimCloud {
    /// Puts a cluster in `state` from now on (tests; the fake server's control endpoint).
    pub fn set_cluster_state(&self, cluster: &str, state: ClusterState) {
        let mut sim = self.lock();
        sim.state.cluster_states.insert(cluster.to_string(), state);
        sim.persist();
    }

    /// Turns a VPC's DNS attributes on or off, as a person would in the console.
    pub fn set_vpc_dns(&self, vpc: &str, support: bool, hostnames: bool) {
        let mut sim = self.lock();
        for v in sim.world.vpcs.iter_mut().filter(|v| v.id == vpc) {
            v.dns_support = support;
            v.dns_hostnames = hostnames;
        }
    }

    /// Deletes an endpoint as a person would in the console (drift for tests and demos).
    pub fn delete_endpoint_behind_our_back(&self, id: &str) {
        let mut sim = self.lock();
        let now = sim.now();
        if let Some(e) = sim.state.endpoints.get_mut(id) {
            e.deleted_at = Some(now);
        }
        sim.persist();
    }

    /// Removes a tag of an endpoint as a person would in the console.
    pub fn remove_tag_behind_our_back(&self, id: &str, key: &str) {
        let mut sim = self.lock();
        if let Some(e) = sim.state.endpoints.get_mut(id) {
            e.endpoint.tags.remove(key);
        }
        sim.persist();
    }

    /// Deletes the connection of a VPC endpoint as a person would in TiDB Cloud's console.
    pub fn delete_connection_behind_our_back(&self, endpoint_id: &str) {
        let mut sim = self.lock();
        let now = sim.now();
        for c in sim.state.connections.values_mut() {
            if c.connection.endpoint_id == endpoint_id && c.deleted_at.is_none() {
                c.deleted_at = Some(now);
            }
        }
        sim.persist();
    }
}
