//! The simulated cloud: TiDB Cloud and EC2 in memory, behind the same traits as the real clients.
//!
//! A product feature (demos, CI of config repos, benchmarks, fault tests), so it behaves like
//! the real services where the daemon can tell: lowercase AWS states, `deleted` endpoints that
//! linger, ClientToken idempotency, tags, AZ-ID checks with the real error codes, services that
//! take minutes to appear, connections that go PENDING -> ACTIVE or FAILED, the providers' rate
//! limits, and transient faults. Time runs `timeScale` times faster than the wall clock. Every
//! call is counted by API and operation so tests can assert exact numbers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;
use crate::diag::Diagnostic;
use crate::settings::{DURATION_HINT, HumanDuration, parse_one};
use crate::stable::{XorShift, fnv};

/// The world file: the simulated cloud's inventory.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct World {
    #[serde(default)]
    pub clusters: Vec<ClusterSeed>,
    #[serde(default)]
    pub vpcs: Vec<VpcSeed>,
    #[serde(default)]
    pub timing: Timing,
    /// Simulated seconds per real second.
    #[serde(default = "one")]
    pub time_scale: f64,
    #[serde(default)]
    pub faults: Faults,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSeed {
    pub id: String,
    pub project_id: String,
    #[serde(default)]
    pub name: String,
    pub region: String,
    #[serde(default = "aws")]
    pub cloud_provider: String,
    #[serde(default = "port")]
    pub port: u16,
    pub node_groups: Vec<NodeGroupSeed>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeGroupSeed {
    pub id: String,
    #[serde(default)]
    pub default: bool,
    pub available_zones: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VpcSeed {
    pub id: String,
    pub region: String,
    #[serde(default = "default_account")]
    pub account: String,
    #[serde(default = "yes")]
    pub dns_support: bool,
    #[serde(default = "yes")]
    pub dns_hostnames: bool,
    #[serde(default)]
    pub subnets: Vec<SubnetSeed>,
    #[serde(default)]
    pub security_groups: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubnetSeed {
    pub id: String,
    pub az_id: String,
}

/// How long the providers take, in simulated time.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Timing {
    #[serde(default = "d180")]
    pub service_create: HumanDuration,
    #[serde(default = "d60")]
    pub accept: HumanDuration,
    #[serde(default = "d120")]
    pub activate: HumanDuration,
    #[serde(default = "d30")]
    pub private_dns: HumanDuration,
    #[serde(default = "d60")]
    pub delete: HumanDuration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            service_create: d180(),
            accept: d60(),
            activate: d120(),
            private_dns: d30(),
            delete: d60(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Faults {
    /// Share of calls failing transiently (5xx / timeout).
    #[serde(default)]
    pub error_rate: f64,
    /// Enforce the real APIs' limits.
    #[serde(default = "yes")]
    pub rate_limits: bool,
    /// Cluster IDs whose connections TiDB Cloud puts in FAILED.
    #[serde(default)]
    pub fail_connections: Vec<String>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            error_rate: 0.0,
            rate_limits: true,
            fail_connections: Vec::new(),
        }
    }
}

fn one() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}
fn aws() -> String {
    "aws".into()
}
fn port() -> u16 {
    4000
}
fn default_account() -> String {
    "default".into()
}
fn secs(n: u64) -> HumanDuration {
    HumanDuration(Duration::from_secs(n))
}
fn d30() -> HumanDuration {
    secs(30)
}
fn d60() -> HumanDuration {
    secs(60)
}
fn d120() -> HumanDuration {
    secs(120)
}
fn d180() -> HumanDuration {
    secs(180)
}

impl World {
    pub fn load(path: &Path) -> Result<World, Vec<Diagnostic>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![Diagnostic::new(
                path,
                crate::diag::Pos::START,
                format!("cannot read world: {e}"),
            )]
        })?;
        parse_one(path, &text, &[DURATION_HINT])
    }
}

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
    /// TiDB Cloud lives elsewhere (the real API or the fake server): this EC2 cannot see it
    /// accept endpoints, so it accepts them `timing.accept` after creation, as if it had.
    tidb_elsewhere: bool,
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
        let state = match &state_file {
            Some(path) if path.exists() => serde_json::from_slice(&std::fs::read(path)?)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?,
            _ => State {
                epoch_ms: unix_ms(),
                ..State::default()
            },
        };
        let sim = Sim {
            world,
            state,
            state_file,
            buckets: BTreeMap::new(),
            calls: BTreeMap::new(),
            rng: XorShift::new(0x9e37_79b9_7f4a_7c15),
            tidb_limited: true,
            ec2_elsewhere: false,
            tidb_elsewhere: false,
        };
        Ok(SimCloud {
            sim: Arc::new(Mutex::new(sim)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Sim> {
        // A panic while holding the lock is a bug in the simulator itself; the data stays usable.
        self.sim.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Calls made so far, by `api.Operation`; throttled answers also count under `api.throttled`.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.lock().calls.clone()
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
        let sim = self.lock();
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
        let sim = self.lock();
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
        sim.tidb("ListPrivateEndpointConnections")?;
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

    /// Deletes an endpoint as a person would in the console (drift for tests and demos).
    pub fn delete_endpoint_behind_our_back(&self, id: &str) {
        let mut sim = self.lock();
        let now = sim.now();
        if let Some(e) = sim.state.endpoints.get_mut(id) {
            e.deleted_at = Some(now);
        }
        sim.persist();
    }
}

impl Sim {
    fn now(&self) -> u64 {
        // Microseconds: at a time scale of 1000, whole milliseconds would make the simulated
        // clock jump by seconds, and its rate limits disagree with the client's.
        let real_ms = (unix_us().saturating_sub(self.state.epoch_ms * 1000)) as f64 / 1000.0;
        (real_ms * self.world.time_scale) as u64
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

    /// Counts a call and applies the provider's rate limit and the configured faults.
    fn call(
        &mut self,
        api: &'static str,
        op: &str,
        bucket: String,
        rate: f64,
        burst: f64,
    ) -> CloudResult<()> {
        let now = self.now();
        if self.world.faults.rate_limits {
            let b = self.buckets.entry(bucket).or_insert(Bucket {
                tokens: burst,
                last_ms: now,
            });
            b.tokens = (b.tokens + (now - b.last_ms) as f64 / 1000.0 * rate).min(burst);
            b.last_ms = now;
            if b.tokens < 1.0 {
                *self.calls.entry(format!("{api}.throttled")).or_default() += 1;
                let wait = (1.0 - b.tokens) / rate / self.world.time_scale;
                return Err(CloudError::Throttled {
                    api,
                    retry_after: Duration::from_secs_f64(wait),
                });
            }
            b.tokens -= 1.0;
        }
        self.count(api, op)
    }

    /// Counts a call and applies the configured transient faults.
    fn count(&mut self, api: &'static str, op: &str) -> CloudResult<()> {
        *self.calls.entry(format!("{api}.{op}")).or_default() += 1;
        if self.world.faults.error_rate > 0.0 && self.rng.next_f64() < self.world.faults.error_rate
        {
            return Err(CloudError::Transient(format!(
                "{api} {op}: simulated server error (HTTP 503)"
            )));
        }
        Ok(())
    }

    fn tidb(&mut self, op: &str) -> CloudResult<()> {
        if !self.tidb_limited {
            return self.count("tidbcloud", op);
        }
        // 100 requests per minute per API key.
        self.call("tidbcloud", op, "tidbcloud".into(), 100.0 / 60.0, 100.0)
    }

    fn ec2(&mut self, scope: &Scope, op: &str, mutating: bool) -> CloudResult<()> {
        let key = format!("ec2/{}/{}/{op}", scope.account, scope.region);
        let (rate, burst) = if mutating { (0.3, 4.0) } else { (20.0, 100.0) };
        self.call("ec2", op, key, rate, burst)
    }

    fn next_id(&mut self) -> u64 {
        self.state.next_id += 1;
        self.state.next_id
    }

    fn cluster(&self, id: &str) -> CloudResult<&ClusterSeed> {
        self.world
            .clusters
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| CloudError::NotFound(format!("cluster {id} not found")))
    }

    fn group(&self, cluster: &str, group: &str) -> CloudResult<&NodeGroupSeed> {
        self.cluster(cluster)?
            .node_groups
            .iter()
            .find(|g| g.id == group)
            .ok_or_else(|| {
                CloudError::NotFound(format!("node group {group} not found in cluster {cluster}"))
            })
    }

    fn service_name(cluster: &ClusterSeed, group: &str) -> String {
        let hex = format!("{:017x}", fnv(&format!("{}/{group}", cluster.id)));
        format!(
            "com.amazonaws.vpce.{}.vpce-svc-{}",
            cluster.region,
            &hex[..17]
        )
    }

    fn service(&self, cluster: &ClusterSeed, group: &NodeGroupSeed, now: u64) -> Service {
        let state = if now < Self::ms(self.world.timing.service_create) {
            ServiceState::Creating
        } else {
            ServiceState::Active
        };
        Service {
            state,
            name: Self::service_name(cluster, &group.id),
            dns_name: format!(
                "privatelink-{}.{}.{}.aws.tidbcloud.com",
                group.id, cluster.id, cluster.region
            ),
            available_zones: group.available_zones.clone(),
        }
    }

    fn view_endpoint(&self, e: &SimEndpoint, now: u64) -> VpcEndpoint {
        let t = &self.world.timing;
        let mut view = e.endpoint.clone();
        let registered = match e.registered_at {
            None if self.tidb_elsewhere => Some(e.created_at),
            registered => registered,
        };
        view.state = match (e.deleted_at, registered) {
            (Some(at), _) if now >= at + Self::ms(t.delete) => "deleted",
            (Some(_), _) => "deleting",
            (None, None) => "pendingAcceptance",
            (None, Some(at)) if now < at + Self::ms(t.accept) => "pendingAcceptance",
            (None, Some(at)) if now < at + Self::ms(t.activate) => "pending",
            (None, Some(_)) => match e.dns_change {
                Some((_, at)) if now < at => "pending",
                _ => "available",
            },
        }
        .to_string();
        if let Some((value, at)) = e.dns_change
            && now >= at
        {
            view.private_dns_enabled = value;
        }
        view
    }

    fn view_connection(&self, c: &SimConnection, now: u64) -> Option<Connection> {
        let t = &self.world.timing;
        let mut view = c.connection.clone();
        view.state = match c.deleted_at {
            Some(at) if now >= at + Self::ms(t.delete) => return None,
            Some(_) => ConnectionState::Deleting,
            None if now < c.created_at + Self::ms(t.accept) => ConnectionState::Pending,
            None if self
                .world
                .faults
                .fail_connections
                .contains(&view.cluster_id) =>
            {
                view.message = "the endpoint service rejected the connection: the VPC endpoint is in an account not allowed by the service".into();
                ConnectionState::Failed
            }
            None if now < c.created_at + Self::ms(t.activate) => ConnectionState::Pending,
            None => ConnectionState::Active,
        };
        Some(view)
    }

    /// An endpoint of this account and region, to change.
    fn endpoint_mut(&mut self, scope: &Scope, id: &str) -> CloudResult<&mut SimEndpoint> {
        self.state
            .endpoints
            .get_mut(id)
            .filter(|e| e.scope == *scope)
            .ok_or_else(|| CloudError::NotFound(format!("InvalidVpcEndpointId.NotFound: {id}")))
    }

    fn vpc(&self, scope: &Scope, id: &str) -> Option<&VpcSeed> {
        self.world
            .vpcs
            .iter()
            .find(|v| v.id == id && v.region == scope.region && v.account == scope.account)
    }

    fn subnet(&self, scope: &Scope, id: &str) -> Option<(&VpcSeed, &SubnetSeed)> {
        self.world
            .vpcs
            .iter()
            .filter(|v| v.region == scope.region && v.account == scope.account)
            .find_map(|v| v.subnets.iter().find(|s| s.id == id).map(|s| (v, s)))
    }

    fn group_exists(&self, scope: &Scope, id: &str) -> Option<&VpcSeed> {
        self.world
            .vpcs
            .iter()
            .filter(|v| v.region == scope.region && v.account == scope.account)
            .find(|v| v.security_groups.iter().any(|g| g == id))
    }

    /// The service behind a service name, if TiDB Cloud has one.
    fn service_by_name(&self, name: &str) -> Option<(&ClusterSeed, &NodeGroupSeed)> {
        self.world.clusters.iter().find_map(|c| {
            c.node_groups
                .iter()
                .find(|g| Self::service_name(c, &g.id) == name)
                .map(|g| (c, g))
        })
    }

    /// EC2's checks of subnets and groups for a create or modify.
    fn check_placement(
        &self,
        scope: &Scope,
        vpc_id: &str,
        service: &str,
        subnets: &[String],
        groups: &[String],
    ) -> CloudResult<()> {
        let (_, group) = self.service_by_name(service).ok_or_else(|| {
            CloudError::Permanent(format!(
                "InvalidServiceName: the service {service} does not exist"
            ))
        })?;
        let mut zones = BTreeSet::new();
        for id in subnets {
            let (vpc, subnet) = self.subnet(scope, id).ok_or_else(|| {
                CloudError::Permanent(format!(
                    "InvalidSubnetID.NotFound: the subnet ID '{id}' does not exist"
                ))
            })?;
            if vpc.id != vpc_id {
                return Err(CloudError::Permanent(format!(
                    "InvalidParameter: subnet {id} is not in VPC {vpc_id}"
                )));
            }
            if !group.available_zones.contains(&subnet.az_id) {
                return Err(CloudError::Permanent(format!(
                    "InvalidParameter: the VPC endpoint service {service} does not support the availability zone of subnet {id} ({})",
                    subnet.az_id
                )));
            }
            if !zones.insert(subnet.az_id.clone()) {
                return Err(CloudError::Permanent(format!(
                    "DuplicateSubnetsInSameZone: subnet {id} shares availability zone {}",
                    subnet.az_id
                )));
            }
        }
        for id in groups {
            if self.group_exists(scope, id).is_none() {
                return Err(CloudError::Permanent(format!(
                    "InvalidGroup.NotFound: the security group '{id}' does not exist"
                )));
            }
        }
        Ok(())
    }
}

fn unix_us() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| d.as_micros() as u64)
}

fn unix_ms() -> u64 {
    unix_us() / 1000
}

impl TidbCloud for SimCloud {
    async fn get_cluster(&self, cluster_id: &str) -> CloudResult<Cluster> {
        let mut sim = self.lock();
        sim.tidb("GetCluster")?;
        let c = sim.cluster(cluster_id)?;
        Ok(Cluster {
            id: c.id.clone(),
            project_id: c.project_id.clone(),
            region: c.region.clone(),
            cloud_provider: c.cloud_provider.clone(),
            port: c.port,
        })
    }

    async fn list_node_groups(&self, cluster_id: &str) -> CloudResult<Vec<NodeGroup>> {
        let mut sim = self.lock();
        sim.tidb("ListTidbNodeGroups")?;
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
        let mut sim = self.lock();
        sim.tidb("GetPrivateLinkService")?;
        let now = sim.now();
        let cluster = sim.cluster(cluster_id)?;
        if cluster.cloud_provider != "aws" {
            return Err(CloudError::Permanent(format!(
                "cluster {cluster_id} is not on AWS"
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
        let filter = ConnectionFilter::Project(project_id.to_string());
        Ok(self.connections_page(&filter, page_token, PAGE_TIDB)?.0)
    }

    async fn create_connection(
        &self,
        cluster_id: &str,
        node_group_id: &str,
        endpoint_id: &str,
    ) -> CloudResult<Connection> {
        let mut sim = self.lock();
        sim.tidb("CreatePrivateEndpointConnection")?;
        let now = sim.now();
        let cluster = sim.cluster(cluster_id)?.clone();
        sim.group(cluster_id, node_group_id)?;
        let service = Sim::service_name(&cluster, node_group_id);
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
        let exists = sim
            .state
            .connections
            .values()
            .any(|c| c.connection.endpoint_id == endpoint_id && c.deleted_at.is_none());
        if exists {
            return Err(CloudError::Permanent(format!(
                "a connection for endpoint {endpoint_id} already exists"
            )));
        }
        let id = (1_900_000_000_000_000_000 + sim.next_id()).to_string();
        let group = sim.group(cluster_id, node_group_id)?.clone();
        let dns = sim.service(&cluster, &group, now).dns_name;
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
        sim.state.connections.insert(
            id,
            SimConnection {
                connection: connection.clone(),
                created_at: now,
                deleted_at: None,
            },
        );
        if let Some(e) = sim.state.endpoints.get_mut(endpoint_id) {
            e.registered_at = Some(now);
        }
        sim.persist();
        Ok(connection)
    }

    async fn delete_connection(&self, connection: &Connection) -> CloudResult<()> {
        let mut sim = self.lock();
        sim.tidb("DeletePrivateEndpointConnection")?;
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
        Ok(())
    }
}

impl Ec2 for SimCloud {
    async fn list_owned_endpoints(
        &self,
        scope: &Scope,
        owner: &str,
        page_token: Option<&str>,
    ) -> CloudResult<Page<VpcEndpoint>> {
        let mut sim = self.lock();
        sim.ec2(scope, "DescribeVpcEndpoints", false)?;
        let now = sim.now();
        let after = page_token.unwrap_or_default();
        let mut page: Vec<VpcEndpoint> = sim
            .state
            .endpoints
            .range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
            .map(|(_, e)| e)
            .filter(|e| e.scope == *scope && e.endpoint.tag(tags::OWNER) == Some(owner))
            .map(|e| sim.view_endpoint(e, now))
            .take(PAGE_EC2 + 1)
            .collect();
        let next = (page.len() > PAGE_EC2).then(|| {
            page.truncate(PAGE_EC2);
            page[PAGE_EC2 - 1].id.clone()
        });
        // The tag filter matches `deleted` endpoints too; they fill pages like the rest.
        page.retain(|e| e.state != "deleted");
        Ok(Page { items: page, next })
    }

    async fn describe_endpoints(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<Vec<VpcEndpoint>> {
        let mut sim = self.lock();
        sim.ec2(scope, "DescribeVpcEndpoints", false)?;
        let now = sim.now();
        Ok(ids
            .iter()
            .filter_map(|id| sim.state.endpoints.get(id))
            .filter(|e| e.scope == *scope)
            .map(|e| sim.view_endpoint(e, now))
            .collect())
    }

    async fn describe_vpc_attribute(
        &self,
        scope: &Scope,
        vpc_id: &str,
        attribute: VpcAttribute,
    ) -> CloudResult<Option<bool>> {
        let mut sim = self.lock();
        sim.ec2(scope, "DescribeVpcAttribute", false)?;
        Ok(sim.vpc(scope, vpc_id).map(|v| match attribute {
            VpcAttribute::EnableDnsSupport => v.dns_support,
            VpcAttribute::EnableDnsHostnames => v.dns_hostnames,
        }))
    }

    async fn describe_subnets(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<BTreeMap<String, (String, String)>> {
        let mut sim = self.lock();
        sim.ec2(scope, "DescribeSubnets", false)?;
        Ok(ids
            .iter()
            .filter_map(|id| {
                let (vpc, subnet) = sim.subnet(scope, id)?;
                Some((id.clone(), (vpc.id.clone(), subnet.az_id.clone())))
            })
            .collect())
    }

    async fn describe_security_groups(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<BTreeMap<String, String>> {
        let mut sim = self.lock();
        sim.ec2(scope, "DescribeSecurityGroups", false)?;
        Ok(ids
            .iter()
            .filter_map(|id| Some((id.clone(), sim.group_exists(scope, id)?.id.clone())))
            .collect())
    }

    async fn create_endpoint(
        &self,
        scope: &Scope,
        request: &CreateEndpoint,
    ) -> CloudResult<VpcEndpoint> {
        let mut sim = self.lock();
        sim.ec2(scope, "CreateVpcEndpoint", true)?;
        let now = sim.now();
        if let Some(id) = sim.state.tokens.get(&request.client_token) {
            // EC2 idempotency: the same token returns the first result, whatever became of it.
            let first = &sim.state.endpoints[id];
            if first.endpoint.vpc_id != request.vpc_id
                || first.endpoint.service_name != request.service_name
            {
                return Err(CloudError::Permanent(
                    "IdempotentParameterMismatch: the client token was used with other parameters"
                        .into(),
                ));
            }
            return Ok(sim.view_endpoint(first, now));
        }
        if sim.vpc(scope, &request.vpc_id).is_none() {
            return Err(CloudError::Permanent(format!(
                "InvalidVpcID.NotFound: the VPC ID '{}' does not exist",
                request.vpc_id
            )));
        }
        sim.check_placement(
            scope,
            &request.vpc_id,
            &request.service_name,
            &request.subnet_ids,
            &request.security_group_ids,
        )?;
        let id = format!("vpce-{:017x}", 0x0a0_0000_0000_0000 + sim.next_id());
        let endpoint = VpcEndpoint {
            id: id.clone(),
            vpc_id: request.vpc_id.clone(),
            service_name: request.service_name.clone(),
            state: String::new(),
            private_dns_enabled: false,
            subnet_ids: request.subnet_ids.clone(),
            security_group_ids: request.security_group_ids.clone(),
            tags: request.tags.clone(),
        };
        let sim_endpoint = SimEndpoint {
            endpoint,
            scope: scope.clone(),
            created_at: now,
            registered_at: None,
            dns_change: None,
            deleted_at: None,
        };
        let view = sim.view_endpoint(&sim_endpoint, now);
        sim.state.endpoints.insert(id.clone(), sim_endpoint);
        sim.state.tokens.insert(request.client_token.clone(), id);
        sim.persist();
        Ok(view)
    }

    async fn modify_endpoint(&self, scope: &Scope, request: &ModifyEndpoint) -> CloudResult<()> {
        let mut sim = self.lock();
        sim.ec2(scope, "ModifyVpcEndpoint", true)?;
        let now = sim.now();
        let delay = Sim::ms(sim.world.timing.private_dns);
        let e = sim
            .state
            .endpoints
            .get(&request.endpoint_id)
            .filter(|e| e.scope == *scope && e.deleted_at.is_none())
            .ok_or_else(|| {
                CloudError::NotFound(format!(
                    "InvalidVpcEndpointId.NotFound: {}",
                    request.endpoint_id
                ))
            })?
            .clone();
        let mut subnets = e.endpoint.subnet_ids.clone();
        subnets.retain(|s| !request.remove_subnet_ids.contains(s));
        subnets.extend(request.add_subnet_ids.iter().cloned());
        let mut groups = e.endpoint.security_group_ids.clone();
        groups.retain(|g| !request.remove_security_group_ids.contains(g));
        groups.extend(request.add_security_group_ids.iter().cloned());
        sim.check_placement(
            scope,
            &e.endpoint.vpc_id,
            &e.endpoint.service_name,
            &subnets,
            &groups,
        )?;
        if request.private_dns_enabled == Some(true) {
            let vpc = sim.vpc(scope, &e.endpoint.vpc_id).cloned();
            if !vpc.is_some_and(|v| v.dns_support && v.dns_hostnames) {
                return Err(CloudError::Permanent(format!(
                    "InvalidParameter: private DNS needs enableDnsSupport and enableDnsHostnames on VPC {}",
                    e.endpoint.vpc_id
                )));
            }
            if sim.view_endpoint(&e, now).state != "available" {
                return Err(CloudError::Permanent(
                    "InvalidParameter: private DNS can only be enabled on an accepted endpoint"
                        .into(),
                ));
            }
        }
        let e = sim
            .state
            .endpoints
            .get_mut(&request.endpoint_id)
            .expect("checked above");
        e.endpoint.subnet_ids = subnets;
        e.endpoint.security_group_ids = groups;
        if let Some(value) = request.private_dns_enabled {
            e.dns_change = Some((value, now + delay));
        }
        sim.persist();
        Ok(())
    }

    async fn delete_endpoint(&self, scope: &Scope, endpoint_id: &str) -> CloudResult<()> {
        let mut sim = self.lock();
        sim.ec2(scope, "DeleteVpcEndpoints", true)?;
        let now = sim.now();
        match sim
            .state
            .endpoints
            .get_mut(endpoint_id)
            .filter(|e| e.scope == *scope)
        {
            Some(e) => {
                e.deleted_at.get_or_insert(now);
            }
            // EC2 reports this in `Unsuccessful`, not as an error of the call.
            None => {
                return Err(CloudError::NotFound(format!(
                    "InvalidVpcEndpoint.NotFound: {endpoint_id}"
                )));
            }
        }
        sim.persist();
        Ok(())
    }

    async fn create_tags(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        tags: &BTreeMap<String, String>,
    ) -> CloudResult<()> {
        let mut sim = self.lock();
        sim.ec2(scope, "CreateTags", false)?;
        sim.endpoint_mut(scope, endpoint_id)?
            .endpoint
            .tags
            .extend(tags.clone());
        sim.persist();
        Ok(())
    }

    async fn delete_tags(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        keys: &[String],
    ) -> CloudResult<()> {
        let mut sim = self.lock();
        sim.ec2(scope, "DeleteTags", false)?;
        let e = sim.endpoint_mut(scope, endpoint_id)?;
        e.endpoint.tags.retain(|k, _| !keys.contains(k));
        sim.persist();
        Ok(())
    }
}
