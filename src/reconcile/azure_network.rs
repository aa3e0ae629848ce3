//! What Resource Manager said of Azure endpoints' subnets: read by the check before a create
//! and by the probe (where clients are). A subnet that exists is kept for the firewall's
//! lifetime; one that does not is asked again every pass, so that a person's fix shows at
//! once (as `network.rs` and `gcp_network.rs` do).

use std::sync::Arc;

use super::network::FIREWALL_TTL;
use super::store::{Lifetime, Store};
use crate::cloud::CloudResult;
use crate::cloud::azure::{Arm, Subnet};

/// Subnets by resource ID (lowercased: Resource Manager's IDs ignore case).
#[derive(Debug, Default)]
pub struct AzureSubnets {
    store: Store<String, Arc<Subnet>>,
}

impl AzureSubnets {
    /// The subnet `id`, kept while fresh; `None` when it does not exist.
    pub async fn describe(&mut self, arm: &impl Arm, id: &str) -> CloudResult<Option<Arc<Subnet>>> {
        let key = id.to_ascii_lowercase();
        if let Some(subnet) = self.store.fresh(key.as_str()) {
            return Ok(Some(subnet.clone()));
        }
        let Some(subnet) = arm.get_subnet(id).await? else {
            return Ok(None);
        };
        let subnet = Arc::new(subnet);
        self.store
            .insert(key, subnet.clone(), Lifetime::About(FIREWALL_TTL));
        Ok(Some(subnet))
    }

    pub fn forget(&mut self) {
        self.store.expire_all();
    }
}
