//! The simulated cloud: TiDB Cloud, EC2, Compute Engine and Azure Resource Manager in memory,
//! behind the same traits as the real clients.
//!
//! A product feature (demos, CI of config repos, benchmarks, fault tests), so it behaves like
//! the real services where the daemon can tell: lowercase AWS states, `deleted` endpoints that
//! linger, ClientToken idempotency, tags, AZ-ID checks with the real error codes, services that
//! take minutes to appear, connections that go PENDING -> ACTIVE or FAILED, the providers' rate
//! limits, and transient faults. Time runs `timeScale` times faster than the wall clock. Every
//! call is counted by API and operation so tests can assert exact numbers.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::*;
use crate::duration::HumanDuration;
use crate::stable::{XorShift, fnv};

mod azure;
mod console;
mod ec2;
mod existing;
mod gcp;
mod tidb;
mod view;
mod world;

pub use world::{
    AzureNetworkSeed, AzureSubnetSeed, ClusterSeed, ExistingConnection, ExistingSeed, FailSeed,
    Faults, GcpFirewallSeed, GcpNetworkSeed, GcpSubnetworkSeed, GroupSeed, LifecycleSeed,
    NodeGroupSeed, RuleSeed, SubnetSeed, Timing, VpcSeed, World,
};

/// Which connections a listing covers: a whole project (`-`/`-`), or one node group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionFilter {
    Project(String),
    NodeGroup(String, String),
}

/// What changes as the simulation runs; saved to `stateFile` after every change.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// Wall-clock time (ms since the Unix epoch) at which simulated time began: the cloud's
    /// clock keeps running while the daemon is down, as a real cloud's does.
    epoch_ms: u64,
    endpoints: BTreeMap<String, SimEndpoint>,
    connections: BTreeMap<String, SimConnection>,
    /// ClientToken -> endpoint ID, as EC2 remembers them.
    tokens: BTreeMap<String, String>,
    next_id: u64,
    /// Cluster states set by tests or the fake server's control endpoint; they win over the
    /// world file's lifecycle.
    #[serde(default)]
    cluster_states: BTreeMap<String, ClusterState>,
    /// Google Cloud: addresses, forwarding rules and operations (`gcp.rs`).
    #[serde(default)]
    gcp: gcp::GcpState,
    /// Azure: private endpoints and Resource Manager operations (`azure.rs`).
    #[serde(default)]
    azure: azure::AzureState,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SimEndpoint {
    endpoint: VpcEndpoint,
    scope: Scope,
    #[serde(default)]
    created_at: u64,
    /// When TiDB Cloud was told about it (a connection was created).
    registered_at: Option<u64>,
    /// A private DNS change in progress: the value and when it takes effect.
    dns_change: Option<(bool, u64)>,
    deleted_at: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SimConnection {
    connection: Connection,
    created_at: u64,
    deleted_at: Option<u64>,
    /// TiDB Cloud will put it in FAILED (decided when it is registered, as the world's faults
    /// say then: a failed connection stays failed; a new one may succeed).
    #[serde(default)]
    fails: bool,
    /// DISCOVERED: TiDB Cloud found the Azure endpoint by itself; nobody registered it yet.
    #[serde(default)]
    discovered: bool,
    /// Azure: the private IP it was registered with (`privateIpAddress`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    private_ip: Option<String>,
}

/// A token bucket in simulated time: the provider's limit, as the provider enforces it.
#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    last_ms: u64,
}

struct Sim {
    world: World,
    state: State,
    state_file: Option<PathBuf>,
    buckets: BTreeMap<String, Bucket>,
    calls: BTreeMap<String, u64>,
    /// Fault injection, seeded so that a campaign can be replayed.
    rng: XorShift,
    /// Off behind the fake TiDB Cloud server, which meters requests the way the API does.
    tidb_limited: bool,
    /// The VPC endpoints live in another world (a moto server, another simulation): TiDB
    /// Cloud takes any endpoint ID it is given.
    ec2_elsewhere: bool,
    /// Google Cloud lives elsewhere (the real API, `fake-gcp-compute`): TiDB Cloud takes any
    /// forwarding rule's name it is given.
    gcp_elsewhere: bool,
    /// Azure lives elsewhere (the real API, `fake-azure-network`): TiDB Cloud takes any
    /// private endpoint and IP it is given.
    azure_elsewhere: bool,
    /// TiDB Cloud lives elsewhere (the real API or the fake server): this EC2 cannot see it
    /// accept endpoints, so it accepts them `timing.accept` after creation, as if it had.
    tidb_elsewhere: bool,
    /// Errors injected by tests, by operation name: every call of it answers with the error.
    injected: BTreeMap<&'static str, CloudError>,
    /// Answers to lose, by operation name: the call is carried out, then its answer is lost
    /// (as a timeout after the provider committed looks to a client).
    lost: BTreeMap<&'static str, u32>,
    /// Mutating calls received (tests crash the engine after a number of them).
    mutations: u64,
    /// The wall clock (Unix µs) at start, and tokio's instant then: the world's time moves
    /// with tokio's clock, so a test or benchmark on tokio's paused clock moves it too.
    started: (u64, tokio::time::Instant),
    /// The latest time read: outside a runtime on a paused clock, tokio's clock is the wall
    /// clock again, which may lag the virtual one; the world's time never goes back.
    latest: std::cell::Cell<u64>,
}

/// The simulated cloud; cheap to clone, all clones share one world.
#[derive(Clone)]
pub struct SimCloud {
    sim: Arc<Mutex<Sim>>,
}

const PAGE_TIDB: usize = 100;
const PAGE_EC2: usize = 1000;

impl SimCloud {
    /// A world from its inventory; with a state file, what happened before a restart is kept.
    pub fn new(world: World, state_file: Option<PathBuf>) -> std::io::Result<SimCloud> {
        let (state, fresh) = match &state_file {
            Some(path) if path.exists() => {
                let state = serde_json::from_slice(&std::fs::read(path)?)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                (state, false)
            }
            _ => {
                let state = State {
                    epoch_ms: unix_ms(),
                    ..State::default()
                };
                (state, true)
            }
        };
        let mut sim = Sim {
            world,
            state,
            state_file,
            buckets: BTreeMap::new(),
            calls: BTreeMap::new(),
            rng: XorShift::new(0x9e37_79b9_7f4a_7c15),
            tidb_limited: true,
            ec2_elsewhere: false,
            gcp_elsewhere: false,
            azure_elsewhere: false,
            tidb_elsewhere: false,
            injected: BTreeMap::new(),
            lost: BTreeMap::new(),
            mutations: 0,
            started: (unix_us(), tokio::time::Instant::now()),
            latest: std::cell::Cell::new(0),
        };
        if fresh {
            sim.seed_existing()
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            sim.persist();
        }
        Ok(SimCloud {
            sim: Arc::new(Mutex::new(sim)),
        })
    }

    /// The configured latency of every call, waited for without holding the loop (a slow
    /// provider makes passes long, not the daemon busy).
    async fn latency(&self) {
        let latency = self.lock().world.faults.latency.0;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Sim> {
        // A panic while holding the lock is a bug in the simulator itself; the data stays usable.
        self.sim.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Calls made so far, by `api.Operation`; throttled answers also count under `api.throttled`.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.lock().calls.clone()
    }

    /// From now on every call of `operation` answers with `error` (counted, not carried out);
    /// `None` heals it.
    pub fn fail(&self, operation: Operation, error: Option<CloudError>) {
        let mut sim = self.lock();
        match error {
            Some(e) => sim.injected.insert(operation.name, e),
            None => sim.injected.remove(operation.name),
        };
    }

    /// The next `count` calls of `operation` are carried out, but their answers are lost.
    pub fn lose_answers(&self, operation: Operation, count: u32) {
        self.lock().lost.insert(operation.name, count);
    }

    /// Mutating calls received so far (whatever their answer).
    pub fn mutations(&self) -> u64 {
        self.lock().mutations
    }

    /// From now on, TiDB Cloud fails (or stops failing) new connections to `cluster`.
    pub fn set_failing(&self, cluster: &str, failing: bool) {
        let mut sim = self.lock();
        let faults = &mut sim.world.faults.fail_connections;
        faults.retain(|f| !f.fails(cluster, u64::MAX) && !f.fails(cluster, 0));
        if failing {
            faults.push(FailSeed::Always(cluster.to_string()));
        }
    }

    /// The state of a cluster now (`None` for one the world does not have).
    pub fn cluster_state(&self, cluster: &str) -> Option<ClusterState> {
        let sim = self.lock();
        let seed = sim.world.clusters.iter().find(|c| c.id == cluster)?;
        Some(sim.cluster_state(seed))
    }

    pub fn reset_calls(&self) {
        self.lock().calls.clear();
    }

    pub fn time_scale(&self) -> f64 {
        self.lock().world.time_scale
    }

    /// The simulated clock: milliseconds since the world began.
    pub fn now_ms(&self) -> u64 {
        self.lock().now()
    }

    /// Every endpoint EC2 knows, `deleted` ones included (for tests and leak checks).
    pub fn all_endpoints(&self) -> Vec<VpcEndpoint> {
        let sim = self.lock();
        let now = sim.now();
        sim.state
            .endpoints
            .values()
            .map(|e| sim.view_endpoint(e, now))
            .collect()
    }

    /// Every connection TiDB Cloud knows.
    pub fn all_connections(&self) -> Vec<Connection> {
        let mut sim = self.lock();
        sim.discover();
        let now = sim.now();
        sim.state
            .connections
            .values()
            .filter_map(|c| sim.view_connection(c, now))
            .collect()
    }

    /// This world serves TiDB Cloud over HTTP (the fake server), which applies the API's own
    /// limit, while the VPC endpoints live elsewhere.
    pub fn serving_tidb_over_http(self) -> SimCloud {
        self.lock().tidb_limited = false;
        self.with_ec2_elsewhere()
    }

    /// This world serves TiDB Cloud only; the VPC endpoints are real (or in moto).
    pub fn with_gcp_elsewhere(self) -> SimCloud {
        self.lock().gcp_elsewhere = true;
        self
    }

    /// The Google Cloud project that has a forwarding rule of this name (TiDB Cloud's
    /// `accountId`), if this simulation holds it.
    pub fn gcp_project_of(&self, rule: &str) -> Option<String> {
        let sim = self.lock();
        sim.state.gcp_project_of(rule)
    }

    pub fn with_ec2_elsewhere(self) -> SimCloud {
        self.lock().ec2_elsewhere = true;
        self
    }

    /// This world serves EC2 only; TiDB Cloud is elsewhere.
    pub fn with_tidb_elsewhere(self) -> SimCloud {
        self.lock().tidb_elsewhere = true;
        self
    }

    /// A cluster's inventory entry (the fake server renders more of it than the trait carries).
    pub fn cluster_seed(&self, id: &str) -> Option<ClusterSeed> {
        self.lock()
            .world
            .clusters
            .iter()
            .find(|c| c.id == id)
            .cloned()
    }

    /// One connection by ID, as TiDB Cloud shows it now.
    pub fn connection(&self, id: &str) -> Option<Connection> {
        let mut sim = self.lock();
        sim.discover();
        let now = sim.now();
        sim.state
            .connections
            .get(id)
            .and_then(|c| sim.view_connection(c, now))
    }

    /// A page of connections of a project (or of one node group), after `after`, and how
    /// many there are in all.
    pub fn connections_page(
        &self,
        filter: &ConnectionFilter,
        after: Option<&str>,
        size: usize,
    ) -> CloudResult<(Page<Connection>, usize)> {
        let mut sim = self.lock();
        sim.call(op::LIST_CONNECTIONS, None)?;
        sim.discover();
        let now = sim.now();
        // Counted and selected on the stored records; only the page itself is rendered,
        // so listing N connections page by page stays linear.
        let gone = |c: &SimConnection| {
            c.deleted_at
                .is_some_and(|at| now >= at + Sim::ms(sim.world.timing.delete))
        };
        let matches = |c: &SimConnection| {
            let c = &c.connection;
            match filter {
                ConnectionFilter::Project(project) => sim
                    .cluster(&c.cluster_id)
                    .is_ok_and(|cl| cl.project_id == *project),
                ConnectionFilter::NodeGroup(cluster, group) => {
                    c.cluster_id == *cluster && c.node_group_id == *group
                }
            }
        };
        let total = sim
            .state
            .connections
            .values()
            .filter(|c| !gone(c) && matches(c))
            .count();
        let after = after.unwrap_or_default();
        let mut items: Vec<(&String, &SimConnection)> = sim
            .state
            .connections
            .range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
            .filter(|(_, c)| !gone(c) && matches(c))
            .take(size + 1)
            .collect();
        let next = (items.len() > size).then(|| {
            items.truncate(size);
            items[size - 1].0.clone()
        });
        let page = Page {
            items: items
                .into_iter()
                .filter_map(|(_, c)| sim.view_connection(c, now))
                .collect(),
            next,
        };
        Ok((page, total))
    }
}

impl Sim {
    fn now(&self) -> u64 {
        // Microseconds: at a time scale of 1000, whole milliseconds would make the simulated
        // clock jump by seconds, and its rate limits disagree with the client's.
        let (unix, at) = self.started;
        let wall_us = unix + at.elapsed().as_micros() as u64;
        let real_ms = (wall_us.saturating_sub(self.state.epoch_ms * 1000)) as f64 / 1000.0;
        let now = ((real_ms * self.world.time_scale) as u64).max(self.latest.get());
        self.latest.set(now);
        now
    }

    fn ms(d: HumanDuration) -> u64 {
        d.0.as_millis() as u64
    }

    fn persist(&mut self) {
        let Some(path) = &self.state_file else { return };
        let tmp = path.with_extension("tmp");
        let json = serde_json::to_vec(&self.state).expect("the state is plain data");
        // A crash leaves either the old or the new state, never half of one.
        if std::fs::write(&tmp, json)
            .and_then(|()| std::fs::rename(&tmp, path))
            .is_err()
        {
            eprintln!("simulated cloud: cannot save state to {}", path.display());
        }
    }

    /// Counts a call and applies the provider's published rate limit (as the provider
    /// enforces it: per key, or per account, region and action) and the configured faults.
    fn call(&mut self, op: Operation, scope: Option<&Scope>) -> CloudResult<()> {
        let api = op.class.api();
        // Behind the fake server, TiDB Cloud's budget is the server's to meter.
        let limited =
            self.world.faults.rate_limits && (op.class != BucketClass::Tidb || self.tidb_limited);
        if limited {
            let now = self.now();
            let Rate { per_second, burst } = op.class.published();
            let burst = f64::from(burst);
            let key = match (scope, op.class) {
                // Compute Engine meters per project and quota group, Resource Manager per
                // subscription and kind (reads, writes, deletes).
                (
                    Some(s),
                    BucketClass::GcpRead
                    | BucketClass::GcpWrite
                    | BucketClass::GcpOperationRead
                    | BucketClass::ArmRead
                    | BucketClass::ArmWrite
                    | BucketClass::ArmDelete,
                ) => format!("{api}/{}/{:?}", s.account, op.class),
                (Some(s), _) => format!("{api}/{}/{}/{}", s.account, s.region, op.name),
                (None, _) => api.to_string(),
            };
            let b = self.buckets.entry(key).or_insert(Bucket {
                tokens: burst,
                last_ms: now,
            });
            b.tokens = (b.tokens + (now - b.last_ms) as f64 / 1000.0 * per_second).min(burst);
            b.last_ms = now;
            if b.tokens < 1.0 {
                *self.calls.entry(format!("{api}.throttled")).or_default() += 1;
                let wait = (1.0 - b.tokens) / per_second / self.world.time_scale;
                return Err(CloudError::Throttled {
                    api,
                    retry_after: Duration::from_secs_f64(wait),
                });
            }
            b.tokens -= 1.0;
        }
        *self.calls.entry(format!("{api}.{}", op.name)).or_default() += 1;
        if op.mutating {
            self.mutations += 1;
        }
        if let Some(e) = self.injected.get(op.name) {
            return Err(e.clone());
        }
        if self.world.faults.error_rate > 0.0 && self.rng.next_f64() < self.world.faults.error_rate
        {
            return Err(CloudError::Transient(format!(
                "{api} {}: simulated server error (HTTP 503)",
                op.name
            )));
        }
        Ok(())
    }

    /// A mutating call's answer, unless a test asked for it to be lost after the fact.
    fn answer<T>(&mut self, op: Operation, value: T) -> CloudResult<T> {
        match self.lost.get_mut(op.name) {
            Some(n) if *n > 0 => {
                *n -= 1;
                Err(CloudError::Unreachable(format!(
                    "{} {}: the answer was lost (simulated timeout after the change was made)",
                    op.class.api(),
                    op.name
                )))
            }
            _ => Ok(value),
        }
    }

    fn next_id(&mut self) -> u64 {
        self.state.next_id += 1;
        self.state.next_id
    }
}

fn unix_us() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| d.as_micros() as u64)
}

fn unix_ms() -> u64 {
    unix_us() / 1000
}
