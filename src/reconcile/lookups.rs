//! Cached lookups of what hardly changes: clusters (with their default node group) and private
//! link services, each a `Store` entry. An answer that holds is kept about its lifetime, with
//! jitter (`Lifetime::About`), so that refreshes spread over passes instead of all falling in
//! the same one. What is on its way (a paused cluster, a service being created) is looked at
//! again soon, but paced by the key's budget, not by the passes: those come every few seconds
//! while other endpoints settle, and a cluster may stay paused for days.

use rustc_hash::FxHashSet;
use std::sync::Arc;
use std::time::Duration;

use super::Engine;
use super::store::{Lifetime, NodeGroupKey, Store};
use crate::cloud::gcp::Gcp;
use crate::cloud::{CloudError, Cluster, Ec2, Service, ServiceState, TidbCloud};
use crate::spec::ClusterId;

/// A serving cluster is looked at again after about this long (its state can change: pause).
const CLUSTER_TTL: Duration = Duration::from_secs(300);
/// An Active service, after about this long.
const SERVICE_TTL: Duration = Duration::from_secs(3600);
/// A cluster's default node group, after about this long: node groups change far less often
/// than a cluster's state, and listing them with every look at the state doubled what an
/// estate of many clusters spends of the key (Google Cloud's ten endpoints per cluster).
const GROUPS_TTL: Duration = Duration::from_secs(3600);
/// After a lookup that failed for good (not found, no rights), this long.
pub const FAILED_TTL: Duration = Duration::from_secs(300);
/// A cluster that does not serve (paused, resuming) is asked about again after the time the
/// key takes to earn this many requests: a minute at the published 100 per minute.
const WAITING_CLUSTER_REQUESTS: f64 = 100.0;
/// A service being created (which takes minutes): 15 seconds at the published rate.
const CREATING_SERVICE_REQUESTS: f64 = 25.0;

/// A cluster and the node group used when a document names none.
#[derive(Debug, Clone)]
pub struct ClusterFacts {
    pub cluster: Arc<Cluster>,
    pub default_group: String,
}

/// A private link service: one per cluster and node group.
type ServiceKey = (ClusterId, NodeGroupKey);

/// The lookups' stores, and what paces what is on its way.
#[derive(Debug)]
pub struct Lookups {
    /// Cluster facts, or why they cannot be had.
    clusters: Store<ClusterId, Result<ClusterFacts, String>>,
    services: Store<ServiceKey, Arc<Service>>,
    /// Each cluster's default node group (`ListTidbNodeGroups`).
    default_groups: Store<ClusterId, String>,
    /// Clusters seen to exist since start: a 404 for one of them means it was deleted. Not a
    /// cache (nothing in it goes stale): a memory of what existed.
    known: FxHashSet<ClusterId>,
    /// The time the key takes to earn one request (the gate's rate: a simulated world's is
    /// scaled with its clock, and so is this pacing).
    per_request: Duration,
}

impl Default for Lookups {
    fn default() -> Self {
        Lookups {
            clusters: Store::default(),
            services: Store::default(),
            default_groups: Store::default(),
            known: FxHashSet::default(),
            per_request: Duration::from_secs_f64(
                1.0 / crate::cloud::BucketClass::Tidb.published().per_second,
            ),
        }
    }
}

impl Lookups {
    /// The TiDB Cloud rate the gate allows, which paces what is on its way.
    pub fn set_rate(&mut self, requests_per_second: f64) {
        self.per_request = Duration::from_secs_f64(1.0 / requests_per_second);
    }

    /// Exactly the time the key takes to earn `requests`.
    fn after_requests(&self, requests: f64) -> Lifetime {
        Lifetime::Exactly(self.per_request.mul_f64(requests))
    }

    /// The clusters of `project` looked up before (stale answers too: a cluster's project
    /// never changes).
    pub fn clusters_in<'a>(&'a self, project: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.clusters
            .iter()
            .filter_map(move |(id, facts)| match facts {
                Ok(f) if f.cluster.project_id == project => Some(id.as_str()),
                _ => None,
            })
    }

    /// Every lookup stale: the next pass asks again (new clients after a reload).
    pub fn expire_all(&mut self) {
        self.clusters.expire_all();
        self.services.expire_all();
        self.default_groups.expire_all();
    }

    /// Forget a failed cluster lookup, so it is asked again now (`privatelinkd retry`).
    pub fn forget_failure(&mut self, cluster: &str) {
        self.clusters
            .forget_where(|id, facts| id.as_str() == cluster && facts.is_err());
    }
}

impl<T, E, G> Engine<T, E, G>
where
    T: TidbCloud + Clone + 'static,
    E: Ec2 + Clone + 'static,
    G: Gcp + Clone + 'static,
{
    /// The cluster and its default node group, cached. `Err` is a transient failure;
    /// `Ok(Err)` a permanent one to show.
    pub(super) async fn cluster(
        &mut self,
        id: &ClusterId,
    ) -> Result<Result<ClusterFacts, String>, CloudError> {
        if let Some(facts) = self.lookups.clusters.fresh(id) {
            return Ok(facts.clone());
        }
        let known = self.lookups.known.contains(id);
        let answer = match self.tidb.get_cluster(id.as_str()).await {
            Ok(cluster) => match self.default_group(id).await {
                Ok(Some(group)) => Ok(ClusterFacts {
                    cluster: Arc::new(cluster),
                    default_group: group,
                }),
                Ok(None) => Err(format!("cluster {id} has no TiDB node group")),
                Err(e) if e.is_transient() => return Err(e),
                Err(e) => Err(e.to_string()),
            },
            Err(e) if e.is_transient() => return Err(e),
            Err(CloudError::NotFound(_)) if known => {
                // Gone: whatever was cached for it is wrong now.
                self.lookups.services.forget_where(|(c, _), _| c == id);
                self.lookups.default_groups.forget(id);
                Err(format!(
                    "cluster {id} no longer exists in TiDB Cloud; remove this document (its \
                     endpoint is then deleted or orphaned as deletionPolicy says)"
                ))
            }
            Err(CloudError::NotFound(_)) => Err(format!(
                "cluster {id} was not found in TiDB Cloud Dedicated: check clusterId. Only \
                 Dedicated clusters have private endpoints of this kind (Starter and Essential \
                 clusters use a different, shared private endpoint)"
            )),
            Err(e) => Err(e.to_string()),
        };
        if answer.is_ok() && !known {
            self.lookups.known.insert(id.clone());
        }
        let life = match &answer {
            Ok(facts) if facts.cluster.state.is_available() => Lifetime::About(CLUSTER_TTL),
            // Paused, pausing, resuming...: looked at again soon, so activity resumes with it.
            Ok(_) => self.lookups.after_requests(WAITING_CLUSTER_REQUESTS),
            Err(_) => Lifetime::About(FAILED_TTL),
        };
        self.lookups
            .clusters
            .insert(id.clone(), answer.clone(), life);
        Ok(answer)
    }

    /// The cluster's default node group (or its first), kept for `GROUPS_TTL`.
    async fn default_group(&mut self, id: &ClusterId) -> Result<Option<String>, CloudError> {
        if let Some(group) = self.lookups.default_groups.fresh(id) {
            return Ok(Some(group.clone()));
        }
        let groups = self.tidb.list_node_groups(id.as_str()).await?;
        let Some(group) = groups.iter().find(|g| g.is_default).or(groups.first()) else {
            return Ok(None);
        };
        let life = Lifetime::About(GROUPS_TTL);
        self.lookups
            .default_groups
            .insert(id.clone(), group.id.clone(), life);
        Ok(Some(group.id.clone()))
    }

    pub(super) async fn service(
        &mut self,
        cluster: &ClusterId,
        group: &str,
    ) -> Result<Arc<Service>, CloudError> {
        let key = (cluster.clone(), NodeGroupKey::from(group));
        if let Some(s) = self.lookups.services.fresh(&key) {
            return Ok(s.clone());
        }
        let s = Arc::new(self.tidb.get_service(cluster.as_str(), group).await?);
        let life = if s.state == ServiceState::Active {
            Lifetime::About(SERVICE_TTL)
        } else {
            self.lookups.after_requests(CREATING_SERVICE_REQUESTS)
        };
        self.lookups.services.insert(key, s.clone(), life);
        Ok(s)
    }
}
