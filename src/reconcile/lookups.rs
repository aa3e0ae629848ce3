//! Cached lookups of what hardly changes: clusters (with their default node group) and private
//! link services. Each entry expires on its own, with jitter, so that refreshes spread over
//! passes instead of all falling in the same one. What is on its way (a paused cluster, a
//! service being created) is looked at again soon, but paced by the key's budget, not by the
//! passes: those come every few seconds while other endpoints settle, and a cluster may stay
//! paused for days.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::time::Instant;

use super::Engine;
use crate::cloud::{CloudError, Cluster, Ec2, Service, ServiceState, TidbCloud};
use crate::stable::XorShift;

/// A serving cluster is looked at again after about this long (its state can change: pause).
const CLUSTER_TTL: Duration = Duration::from_secs(300);
/// An Active service, after about this long.
const SERVICE_TTL: Duration = Duration::from_secs(3600);
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
    pub cluster: Cluster,
    pub default_group: String,
}

#[derive(Debug)]
struct Entry<T> {
    value: T,
    expires: Instant,
}

/// The caches, and the jitter that spreads their expiry.
#[derive(Debug)]
pub struct Lookups {
    /// Cluster facts, or why they cannot be had.
    clusters: HashMap<String, Entry<Result<ClusterFacts, String>>>,
    services: HashMap<(String, String), Entry<Service>>,
    /// Clusters seen to exist since start: a 404 for one of them means it was deleted.
    known: HashSet<String>,
    jitter: XorShift,
    /// The time the key takes to earn one request (the gate's rate: a simulated world's is
    /// scaled with its clock, and so is this pacing).
    per_request: Duration,
}

impl Default for Lookups {
    fn default() -> Self {
        Lookups {
            clusters: HashMap::new(),
            services: HashMap::new(),
            known: HashSet::new(),
            jitter: XorShift::new(0x5851_f42d_4c95_7f2d),
            per_request: Duration::from_secs_f64(
                1.0 / crate::cloud::BucketClass::Tidb.published().per_second,
            ),
        }
    }
}

impl Lookups {
    /// `ttl` give or take a fifth.
    fn jittered(&mut self, ttl: Duration) -> Instant {
        Instant::now() + ttl.mul_f64(0.8 + 0.4 * self.jitter.next_f64())
    }

    /// The TiDB Cloud rate the gate allows, which paces what is on its way.
    pub fn set_rate(&mut self, requests_per_second: f64) {
        self.per_request = Duration::from_secs_f64(1.0 / requests_per_second);
    }

    /// Now plus the time the key takes to earn `requests`.
    fn after_requests(&self, requests: f64) -> Instant {
        Instant::now() + self.per_request.mul_f64(requests)
    }

    /// The project of a cluster looked up before.
    pub fn project_of(&self, cluster: &str) -> Option<&str> {
        match &self.clusters.get(cluster)?.value {
            Ok(facts) => Some(facts.cluster.project_id.as_str()),
            Err(_) => None,
        }
    }

    /// Forget everything: the next pass asks again (new clients after a reload).
    pub fn expire_all(&mut self) {
        self.clusters.clear();
        self.services.clear();
    }

    /// Forget a failed cluster lookup, so it is asked again now (`privatelinkd retry`).
    pub fn forget_failure(&mut self, cluster: &str) {
        self.clusters
            .retain(|id, e| id != cluster || e.value.is_ok());
    }
}

impl<T, E> Engine<T, E>
where
    T: TidbCloud + Clone + 'static,
    E: Ec2 + Clone + 'static,
{
    /// The cluster and its default node group, cached. `Err` is a transient failure;
    /// `Ok(Err)` a permanent one to show.
    pub(super) async fn cluster(
        &mut self,
        id: &str,
    ) -> Result<Result<ClusterFacts, String>, CloudError> {
        if let Some(e) = self.lookups.clusters.get(id)
            && Instant::now() < e.expires
        {
            return Ok(e.value.clone());
        }
        let known = self.lookups.known.contains(id);
        let answer = match self.tidb.get_cluster(id).await {
            Ok(cluster) => match self.tidb.list_node_groups(id).await {
                Ok(groups) => match groups.iter().find(|g| g.is_default).or(groups.first()) {
                    Some(g) => Ok(ClusterFacts {
                        cluster,
                        default_group: g.id.clone(),
                    }),
                    None => Err(format!("cluster {id} has no TiDB node group")),
                },
                Err(e) if e.is_transient() => return Err(e),
                Err(e) => Err(e.to_string()),
            },
            Err(e) if e.is_transient() => return Err(e),
            Err(CloudError::NotFound(_)) if known => {
                // Gone: whatever was cached for it is wrong now.
                self.lookups.services.retain(|(c, _), _| c != id);
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
        if answer.is_ok() {
            self.lookups.known.insert(id.to_string());
        }
        let expires = match &answer {
            Ok(facts) if facts.cluster.state.is_available() => self.lookups.jittered(CLUSTER_TTL),
            // Paused, pausing, resuming...: looked at again soon, so activity resumes with it.
            Ok(_) => self.lookups.after_requests(WAITING_CLUSTER_REQUESTS),
            Err(_) => self.lookups.jittered(FAILED_TTL),
        };
        self.lookups.clusters.insert(
            id.to_string(),
            Entry {
                value: answer.clone(),
                expires,
            },
        );
        Ok(answer)
    }

    pub(super) async fn service(
        &mut self,
        cluster: &str,
        group: &str,
    ) -> Result<Service, CloudError> {
        let key = (cluster.to_string(), group.to_string());
        if let Some(e) = self.lookups.services.get(&key)
            && Instant::now() < e.expires
        {
            return Ok(e.value.clone());
        }
        let s = self.tidb.get_service(cluster, group).await?;
        let expires = if s.state == ServiceState::Active {
            self.lookups.jittered(SERVICE_TTL)
        } else {
            self.lookups.after_requests(CREATING_SERVICE_REQUESTS)
        };
        self.lookups.services.insert(
            key,
            Entry {
                value: s.clone(),
                expires,
            },
        );
        Ok(s)
    }
}
