//! TiDB Cloud connections, observed where change happens.
//!
//! TiDB Cloud allows 100 requests a minute per API key, and its connection listing pages at
//! 100 with no state filter: at 10,000 endpoints one full listing is a whole minute of the
//! key's budget. Connections change rarely once ACTIVE, so the engine keeps a book of them:
//!
//! - a project is listed in full when it never was, and at least every `fullResync` (so a
//!   connection deleted in the console is noticed);
//! - otherwise only the connections in flight (not ACTIVE yet, or whose VPC endpoint is not
//!   available) are asked for one by one, unless a full listing would cost less;
//! - and TiDB Cloud is looked at no more often than its budget allows for observation (half
//!   of it: the other half is for registrations and for `plan` in a config repo's CI), whatever
//!   the pace of passes. EC2, whose describes are cheap, is looked at every pass.
//!
//! Registrations made by this daemon go into the book at once.

use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::store::{self, EndpointKey, Lifetime, ProjectKey, Store};
use super::{Engine, PassOutcome, observe::all_pages};
use crate::cloud::gcp::Gcp;
use crate::cloud::{
    CloudEndpoint, CloudError, Connection, ConnectionState, ConsumerEndpoint, Ec2, Lifecycle,
    TidbCloud,
};

/// The share of the key's budget that observation may spend.
const OBSERVE_SHARE: f64 = 0.5;

/// A project's last full listing: when (for the `fullResync` gauge) and how many pages it took
/// (a listing is cheaper than that many fetches one by one).
#[derive(Debug, Clone, Copy)]
struct Listing {
    wall: SystemTime,
    pages: usize,
}

/// Every connection seen, by VPC endpoint ID, and when TiDB Cloud may be asked again.
///
/// Not a cache: the connections are kept until a listing or a fetch says otherwise. What has a
/// lifetime is each project's listing, a `Store` entry fresh for `fullResync`: a stale one is a
/// listing due.
#[derive(Debug, Default)]
pub struct ConnectionBook {
    by_endpoint: FxHashMap<EndpointKey, Arc<Connection>>,
    listings: Store<ProjectKey, Listing>,
    /// The `fullResync` the listings were stored for: when a reload changes it, their due
    /// times move with it.
    resync: Duration,
    /// Observation spends its share of the budget: TiDB Cloud is not asked before this.
    next_look: Option<Instant>,
}

impl ConnectionBook {
    /// The connection of a VPC endpoint, as last seen.
    pub fn of(&self, endpoint_id: &str) -> Option<&Arc<Connection>> {
        self.by_endpoint.get(endpoint_id)
    }

    /// A project has been listed in full at least once: "no connection" in the book is
    /// news for its endpoints, not ignorance.
    pub fn knows(&self, project: &str) -> bool {
        self.listings.get(project).is_some()
    }

    /// The oldest of the projects' last full listings (what `fullResync` bounds).
    pub fn oldest_listing(&self) -> Option<SystemTime> {
        self.listings.iter().map(|(_, l)| l.wall).min()
    }

    /// A connection this daemon just made (or learnt of).
    pub fn record(&mut self, connection: Connection) {
        let key = EndpointKey::from(connection.endpoint_id.as_str());
        self.by_endpoint.insert(key, Arc::new(connection));
    }

    /// Forget a connection that is gone (deleted by us, or not found).
    pub fn forget(&mut self, endpoint_id: &str) {
        self.by_endpoint.remove(endpoint_id);
    }

    /// Listings are due every `resync` from now on, counted from when each was made.
    fn set_resync(&mut self, resync: Duration) {
        if resync != self.resync {
            self.listings.retime(self.resync, resync);
            self.resync = resync;
        }
    }
}

/// What one pass asks of TiDB Cloud for a project.
enum Look {
    /// Everything, page by page.
    List,
    /// These connections, one by one.
    Get(Vec<Connection>),
    Nothing,
}

impl<T, E, G> Engine<T, E, G>
where
    T: TidbCloud + Clone + 'static,
    E: Ec2 + Clone + 'static,
    G: Gcp + Clone + 'static,
{
    /// Brings the book up to date as far as the budget allows; `false` if a listing that was
    /// needed failed (then what was not listed is unknown, not absent).
    pub(super) async fn observe_connections(
        &mut self,
        projects: &BTreeSet<ProjectKey>,
        endpoints: &[(&str, &CloudEndpoint)],
        outcome: &mut PassOutcome,
    ) -> Result<(), CloudError> {
        self.connections.set_resync(self.full_resync);
        let book = &self.connections;
        let never = projects.iter().any(|p| !book.knows(p.as_str()));
        if !never && book.next_look.is_some_and(store::holds) {
            return Ok(());
        }
        // In flight: not ACTIVE yet, or its VPC endpoint not available yet.
        let mut in_flight: BTreeMap<&str, Vec<Connection>> = BTreeMap::new();
        for (project, e) in endpoints {
            if let Some(c) = book.of(e.id())
                && (c.state != ConnectionState::Active || e.lifecycle() != Lifecycle::Available)
            {
                in_flight.entry(project).or_default().push((**c).clone());
            }
        }
        let mut looks = Vec::new();
        for project in projects {
            let gets = in_flight.remove(project.as_str()).unwrap_or_default();
            let look = match book.listings.get(project) {
                None => Look::List,
                // Due: `fullResync` has passed since it was listed.
                Some(_) if !book.listings.is_fresh(project) => Look::List,
                Some(l) if gets.len() >= l.pages.max(1) => Look::List,
                Some(_) if gets.is_empty() => Look::Nothing,
                Some(_) => Look::Get(gets),
            };
            looks.push((project, look));
        }
        let mut cost = 0usize;
        for (project, look) in looks {
            match look {
                Look::Nothing => {}
                Look::List => {
                    let tidb = &self.tidb;
                    let (list, pages) = all_pages(|token| async move {
                        tidb.list_connections(project.as_str(), token.as_deref())
                            .await
                    })
                    .await?;
                    cost += pages;
                    outcome.listing_pages += pages;
                    // What was listed replaces what was known of that project.
                    let listed: FxHashMap<EndpointKey, Arc<Connection>> = list
                        .into_iter()
                        .map(|c| (EndpointKey::from(c.endpoint_id.as_str()), Arc::new(c)))
                        .collect();
                    let clusters: FxHashSet<&str> =
                        self.lookups.clusters_in(project.as_str()).collect();
                    let book = &mut self.connections;
                    book.by_endpoint.retain(|id, c| {
                        listed.contains_key(id) || !clusters.contains(c.cluster_id.as_str())
                    });
                    book.by_endpoint.extend(listed);
                    let listing = Listing {
                        wall: SystemTime::now(),
                        pages,
                    };
                    let life = Lifetime::Exactly(book.resync);
                    book.listings.insert(project.clone(), listing, life);
                }
                Look::Get(connections) => {
                    for c in connections {
                        cost += 1;
                        let found = self
                            .tidb
                            .get_connection(&c.cluster_id, &c.node_group_id, &c.id)
                            .await;
                        match found {
                            Ok(now) => self.connections.record(now),
                            Err(CloudError::NotFound(_)) => self.connections.forget(&c.endpoint_id),
                            Err(e) => return Err(e),
                        }
                    }
                }
            }
        }
        // Spend no more than the observation share of the key's budget.
        let pace = Duration::from_secs_f64(cost as f64 / (OBSERVE_SHARE * self.tidb_rate));
        self.connections.next_look = Some(store::later(pace));
        Ok(())
    }
}
