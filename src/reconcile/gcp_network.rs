//! What Compute Engine said of each Google Cloud endpoint's network: whether the network
//! exists, its subnetwork (name, network, region, range) and the network's firewall rules.
//! Read by the checks before a create and by the egress condition (`PortAllowed`), so one
//! `Store` entry per (project, region, network, subnetwork), kept for the firewall's lifetime
//! when all is well and asked again every pass while something is missing, so that a person's
//! fix shows at once (as `network.rs` does for AWS).

use std::sync::Arc;

use super::network::FIREWALL_TTL;
use super::store::{Lifetime, Store};
use crate::cloud::CloudResult;
use crate::cloud::gcp::{Gcp, Placement};
use crate::spec::GcpSide;

/// The network facts of Google Cloud endpoints, by project, region, network and subnetwork.
#[derive(Debug, Default)]
pub struct GcpPlaces {
    store: Store<String, Arc<Placement>>,
}

impl GcpPlaces {
    /// The facts for `gcp`: kept ones while fresh, else three reads (network, subnetwork,
    /// firewall rules).
    pub async fn describe(
        &mut self,
        client: &impl Gcp,
        gcp: &GcpSide,
    ) -> CloudResult<Arc<Placement>> {
        let key = super::facts::gcp_place_key(gcp);
        if let Some(place) = self.store.fresh(key.as_str()) {
            return Ok(place.clone());
        }
        let (project, network) = (gcp.project.as_str(), gcp.network.name());
        let scope = crate::cloud::Scope::gcp(project, gcp.region.as_str());
        let network_exists = client.network_exists(project, network).await?;
        let subnetwork = client.get_subnetwork(&scope, gcp.subnetwork.name()).await?;
        let firewalls = if network_exists {
            client.list_firewalls(project, network).await?
        } else {
            Vec::new()
        };
        let sound = network_exists && subnetwork.is_some();
        let place = Arc::new(Placement {
            network_exists,
            subnetwork,
            firewalls,
        });
        if sound {
            let life = Lifetime::About(FIREWALL_TTL);
            self.store.insert(key, place.clone(), life);
        }
        Ok(place)
    }

    pub fn forget(&mut self) {
        self.store.expire_all();
    }
}
