//! What the planner read of one endpoint beyond what the report shows (`Seen`): the cluster,
//! the network checked before a create, the endpoint a document adopts, retries. A running
//! daemon serves it with each sighting so that `plan --from` (and `import --from`) plan as the
//! daemon does: a subnet in a zone the service does not offer fails there as it fails here.
//!
//! Made only when an endpoint's plan is made again (`memo.rs`), so a converged pass pays
//! nothing for it. The network facts are cut down to the document's own IDs (the pass's
//! description covers every document of an account and region), and say which IDs were
//! asked about: a fact about an ID that was never asked must not read as "does not exist".

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cloud::gcp::Placement;
use crate::cloud::{CloudEndpoint, Cluster, Connection, ConsumerEndpoint, Network};
use crate::plan::{Observed, Retry};
use crate::spec::{EndpointDocument, GcpSide, Side};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Facts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Arc<Cluster>>,
    /// TiDB Cloud's answer for good when there is no cluster to have (not found, no rights).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_error: Option<String>,
    /// The VPC, subnets and groups of the document, as described for a create or modify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Arc<Network>>,
    /// The IDs `network` answers for (absent from it: they do not exist).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub asked: BTreeSet<String>,
    /// Google Cloud: the network facts, and which network and subnetwork they are of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp_place: Option<Arc<Placement>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp_place_of: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adoptee: Option<CloudEndpoint>,
    /// The `endpointId` (`endpointName`) looked up for adoption, found or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adoptee_checked: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recreating: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stale_connections: Vec<Connection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trouble: Option<String>,
}

/// The key of a Google Cloud endpoint's network facts (project, region, network, subnetwork).
pub(crate) fn gcp_place_key(gcp: &GcpSide) -> String {
    format!(
        "{}/{}/{}/{}",
        gcp.project,
        gcp.region,
        gcp.network.name(),
        gcp.subnetwork.name()
    )
}

/// The VPC, subnet and group IDs an AWS document names.
fn ids_of(doc: &EndpointDocument) -> BTreeSet<String> {
    let Side::Aws(aws) = &doc.spec.side else {
        return BTreeSet::new();
    };
    std::iter::once(aws.vpc_id.to_string())
        .chain(aws.subnet_ids.iter().map(ToString::to_string))
        .chain(aws.security_group_ids.iter().map(ToString::to_string))
        .collect()
}

impl Facts {
    /// What `o` holds beyond `Seen`, for `doc`.
    pub fn of(doc: &EndpointDocument, o: &Observed) -> Facts {
        let (cluster, cluster_error) = match &o.cluster {
            Some(Ok(c)) => (Some(c.clone()), None),
            Some(Err(why)) => (None, Some(why.clone())),
            None => (None, None),
        };
        let (network, asked) = match &o.network {
            Some(n) => {
                let asked = ids_of(doc);
                (Some(Arc::new(only(n, &asked))), asked)
            }
            None => (None, BTreeSet::new()),
        };
        let gcp_place_of = o.gcp_place.as_ref().and(doc.spec.gcp()).map(gcp_place_key);
        Facts {
            cluster,
            cluster_error,
            network,
            asked,
            gcp_place: o.gcp_place.clone(),
            gcp_place_of,
            adoptee: o.adoptee.clone(),
            adoptee_checked: doc
                .spec
                .adopts()
                .filter(|_| o.adoptee_checked)
                .map(String::from),
            recreating: o.recreating,
            stale_connections: o.stale_connections.clone(),
            retry: o.retry.clone(),
            trouble: o.trouble.clone(),
        }
    }

    /// The planner's input for `doc` (which may differ from the document these facts were
    /// gathered for): network facts only where they answer for every ID `doc` names, an
    /// adoptee only for the same `endpointId`.
    pub fn observed(&self, seen: &super::Seen, doc: &EndpointDocument) -> Observed {
        let ids = ids_of(doc);
        let network = self
            .network
            .clone()
            .filter(|_| !ids.is_empty() && ids.is_subset(&self.asked));
        let gcp_place = self
            .gcp_place
            .clone()
            .filter(|_| doc.spec.gcp().map(gcp_place_key) == self.gcp_place_of);
        let adopts = |e: &CloudEndpoint| doc.spec.adopts() == Some(e.id());
        let adoptee_checked =
            doc.spec.adopts().is_some() && doc.spec.adopts() == self.adoptee_checked.as_deref();
        let cluster = match (&self.cluster, &self.cluster_error) {
            (Some(c), _) => Some(Ok(c.clone())),
            (None, Some(why)) => Some(Err(why.clone())),
            (None, None) => None,
        };
        Observed {
            cluster,
            node_group_id: seen.node_group_id.clone(),
            service: seen.service.clone(),
            endpoint: seen.endpoint.clone(),
            adoptee: self.adoptee.clone().filter(adopts),
            adoptee_checked,
            connection: seen.connection.clone(),
            recreating: self.recreating,
            stale_connections: self.stale_connections.clone(),
            network,
            firewall: None,
            gcp_place,
            // Azure's subnet facts are not served yet: a create is checked by the daemon.
            azure_subnet: None,
            azure_subnet_checked: false,
            azure_dns: None,
            probe: None,
            retry: self.retry.clone(),
            trouble: self.trouble.clone(),
        }
    }
}

/// `n` cut down to `ids`.
fn only(n: &Network, ids: &BTreeSet<String>) -> Network {
    let keep = |id: &String| ids.contains(id);
    Network {
        vpcs: n
            .vpcs
            .iter()
            .filter(|(id, _)| keep(id))
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        subnets: n
            .subnets
            .iter()
            .filter(|(id, _)| keep(id))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        security_groups: n
            .security_groups
            .iter()
            .filter(|(id, _)| keep(id))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}
