//! One pass: observe the cloud in batches, plan (pure), apply, and hand back the outcome.
//!
//! Observing costs, per pass, one paginated connection listing per project and one paginated
//! listing of owned endpoints per account and region. Cluster, node group and service lookups
//! are cached; VPC facts are fetched only for endpoints about to be created or modified.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::time::{Duration, Instant};

use crate::cloud::{
    CloudError, Cluster, Connection, CreateEndpoint, Ec2, ModifyEndpoint, Network, Page, Scope,
    Service, ServiceState, TidbCloud, VpcAttribute, VpcEndpoint, tags,
};
use crate::plan::{self, Action, Desired, EndpointPlan, Leftover, Observed, Phase, Plan, Policy};
use crate::spec::EndpointDocument;
use crate::stable::XorShift;

/// Cluster facts hardly change; re-read them this often.
const CLUSTER_TTL: Duration = Duration::from_secs(3600);
/// An Active service is re-read this often (a Creating one every pass).
const SERVICE_TTL: Duration = Duration::from_secs(3600);
/// After a permanent error, an action is retried this late (or when the document changes).
const FAILED_RETRY: Duration = Duration::from_secs(300);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// One desired endpoint as the daemon hands it over: the document and its file.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub doc: EndpointDocument,
    /// Relative to the endpoints directory.
    pub file: String,
    /// `plan::generation` of `doc`: a changed document gets a fresh start after failures.
    pub generation: String,
}

impl Wanted {
    pub fn new(doc: EndpointDocument, file: impl Into<String>) -> Wanted {
        Wanted {
            generation: plan::generation(&doc),
            doc,
            file: file.into(),
        }
    }
}

/// What a pass saw and did, per endpoint: the input of status files and metrics.
#[derive(Debug, Clone, Default)]
pub struct PassOutcome {
    pub plan: Plan,
    /// Per desired endpoint name: what was observed (for the status file).
    pub seen: BTreeMap<String, Seen>,
    /// Actions taken: (endpoint, action kind, error if it failed).
    pub applied: Vec<(String, &'static str, Option<String>)>,
    /// The observe step itself had transient trouble somewhere.
    pub observe_errors: usize,
    /// TiDB Cloud listing pages this pass read: the part of a pass that grows with N.
    pub listing_pages: usize,
}

/// The observed objects of one endpoint, for reporting.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// The node group in use (the document's, or the cluster's default).
    pub node_group_id: Option<String>,
    pub service: Option<Service>,
    pub endpoint: Option<VpcEndpoint>,
    pub connection: Option<Connection>,
}

/// A cluster and the node group used when a document names none.
#[derive(Debug, Clone)]
struct ClusterFacts {
    cluster: Cluster,
    default_group: String,
}

/// VPCs, subnets and security groups to look up in one account and region.
#[derive(Debug, Default)]
struct NetworkQuery {
    vpcs: Vec<String>,
    subnets: Vec<String>,
    groups: Vec<String>,
}

impl NetworkQuery {
    fn add(&mut self, doc: &EndpointDocument) {
        let aws = &doc.spec.aws;
        push_new(&mut self.vpcs, aws.vpc_id.as_str());
        aws.subnet_ids
            .iter()
            .for_each(|s| push_new(&mut self.subnets, s.as_str()));
        aws.security_group_ids
            .iter()
            .for_each(|g| push_new(&mut self.groups, g.as_str()));
    }
}

fn push_new(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|x| x == item) {
        list.push(item.to_string());
    }
}

/// VPC facts are needed only before a create or a modify: never in a converged pass.
fn needs_network_check(w: &Wanted, o: &Observed, endpoint: Option<&VpcEndpoint>) -> bool {
    let spec = &w.doc.spec;
    if spec.suspend
        || !o
            .service
            .as_ref()
            .is_some_and(|s| s.state == ServiceState::Active)
    {
        return false;
    }
    let Some(e) = endpoint else { return true };
    let corrected = plan::drift(spec, e);
    let in_place = ModifyEndpoint {
        endpoint_id: e.id.clone(),
        ..ModifyEndpoint::default()
    };
    corrected != in_place || (spec.private_dns && !e.private_dns_enabled)
}

/// Retry bookkeeping for one endpoint: when it may act again, and why it waits.
#[derive(Debug, Clone)]
struct Backoff {
    failures: u32,
    until: Instant,
    generation: String,
    phase: Option<Phase>,
    message: String,
}

/// The reconciler: cloud clients, caches and per-endpoint retry state.
pub struct Engine<T, E> {
    tidb: T,
    ec2: E,
    owner_id: String,
    /// Cluster facts by ID, or why they cannot be had, with when they were fetched.
    clusters: HashMap<String, (Result<ClusterFacts, String>, Instant)>,
    services: HashMap<(String, String), (Service, Instant)>,
    /// Every account and region ever desired: a removed document's endpoint is still found.
    scopes: BTreeSet<Scope>,
    backoff: HashMap<String, Backoff>,
    jitter: XorShift,
    /// How long a pass may keep applying; what is still queued for a budget then waits for
    /// the next pass.
    apply_window: Duration,
}

impl<T, E> Engine<T, E>
where
    T: TidbCloud + Clone + 'static,
    E: Ec2 + Clone + 'static,
{
    pub fn new(tidb: T, ec2: E, owner_id: impl Into<String>) -> Self {
        Engine {
            tidb,
            ec2,
            owner_id: owner_id.into(),
            clusters: HashMap::new(),
            services: HashMap::new(),
            scopes: BTreeSet::new(),
            backoff: HashMap::new(),
            jitter: XorShift::new(0x2545_f491_4f6c_dd1d),
            apply_window: Duration::from_secs(30),
        }
    }

    /// Every account and region ever listed: the daemon saves them across restarts.
    pub fn scopes(&self) -> &BTreeSet<Scope> {
        &self.scopes
    }

    pub fn remember_scopes(&mut self, scopes: impl IntoIterator<Item = Scope>) {
        self.scopes.extend(scopes);
    }

    pub fn set_apply_window(&mut self, window: Duration) {
        self.apply_window = window;
    }

    pub fn set_owner(&mut self, owner_id: &str) {
        self.owner_id = owner_id.to_string();
    }

    /// Observe and plan; with `apply`, carry the plan out.
    ///
    /// `frozen_files` are files that are invalid right now: their endpoints are left alone.
    pub async fn pass(
        &mut self,
        wanted: &[Wanted],
        frozen_files: &BTreeSet<String>,
        policy: &Policy,
        apply: bool,
    ) -> PassOutcome {
        let mut outcome = PassOutcome::default();
        let observed = self.observe(wanted, frozen_files, &mut outcome).await;
        let (per_endpoint, leftovers) = observed;
        let desired: Vec<(Desired<'_>, Observed)> = wanted
            .iter()
            .zip(per_endpoint)
            .map(|(w, o)| {
                (
                    Desired {
                        doc: &w.doc,
                        file: &w.file,
                    },
                    o,
                )
            })
            .collect();
        let mut plan = plan::plan(&desired, &leftovers, policy);
        let generations: Vec<String> = wanted.iter().map(|w| w.generation.clone()).collect();
        for ((p, (_, o)), generation) in plan.endpoints.iter_mut().zip(&desired).zip(&generations) {
            if o.trouble.is_some() {
                // Half a picture (a listing failed) is no ground to act on: a connection not
                // listed is not a missing connection. Report, and try again next pass.
                p.actions.clear();
                p.uncertain = true;
            }
            self.hold_back(p, generation);
        }
        if apply {
            self.apply(&mut plan, &generations, &mut outcome).await;
        }
        outcome.plan = plan;
        outcome
    }

    /// Keeps an endpoint in backoff from acting, and shows why.
    fn hold_back(&mut self, p: &mut EndpointPlan, generation: &str) {
        let Some(b) = self.backoff.get(&p.name) else {
            return;
        };
        if b.generation != generation || Instant::now() >= b.until {
            // A changed document is retried at once; an expired backoff too.
            if b.generation != generation {
                self.backoff.remove(&p.name);
            }
            return;
        }
        if p.actions.is_empty() {
            return;
        }
        p.actions.clear();
        if let Some(phase) = b.phase {
            p.phase = phase;
        }
        let wait = b.until.saturating_duration_since(Instant::now()).as_secs();
        p.message = format!("{} (retrying in {wait}s)", b.message);
    }

    async fn observe(
        &mut self,
        wanted: &[Wanted],
        frozen_files: &BTreeSet<String>,
        outcome: &mut PassOutcome,
    ) -> (Vec<Observed>, Vec<Leftover>) {
        let mut per: Vec<Observed> = wanted.iter().map(|_| Observed::default()).collect();
        let projects = self.observe_tidb_targets(wanted, &mut per).await;
        let connections = self.list_connections(&projects, &mut per, outcome).await;
        let listed_projects = connections.is_some();
        let connections = connections.unwrap_or_default();
        let (mut owned, unlisted) = self.list_owned(wanted, &mut per, outcome).await;

        // Match each document with its endpoint and connection; note what needs a lookup.
        let mut adopt_ids: BTreeMap<Scope, Vec<String>> = BTreeMap::new();
        let mut checks: BTreeMap<Scope, NetworkQuery> = BTreeMap::new();
        for (w, o) in wanted.iter().zip(per.iter_mut()) {
            let scope = scope_of(&w.doc);
            if unlisted.contains(&scope) {
                continue;
            }
            o.endpoint = owned.remove(w.doc.metadata.name.as_str()).map(|(_, e)| e);
            o.connection = o
                .endpoint
                .as_ref()
                .and_then(|e| connections.get(&e.id).cloned());
            let aws = &w.doc.spec.aws;
            match (&o.endpoint, &aws.endpoint_id) {
                (None, Some(id)) => adopt_ids.entry(scope).or_default().push(id.to_string()),
                (endpoint, _) if needs_network_check(w, o, endpoint.as_ref()) => {
                    checks.entry(scope).or_default().add(&w.doc)
                }
                _ => {}
            }
        }
        let adoptees = self.describe_adoptees(&adopt_ids, outcome).await;
        let mut networks = BTreeMap::new();
        for (scope, q) in &checks {
            match self.describe_network(scope, q).await {
                Ok(n) => {
                    networks.insert(scope.clone(), n);
                }
                Err(_) => outcome.observe_errors += 1,
            }
        }
        for (w, o) in wanted.iter().zip(per.iter_mut()) {
            let scope = scope_of(&w.doc);
            o.network = networks.get(&scope).cloned();
            if let (Some(id), Some(found)) = (&w.doc.spec.aws.endpoint_id, adoptees.get(&scope)) {
                o.adoptee_checked = true;
                o.adoptee = found.get(id.as_str()).cloned();
            }
            outcome.seen.insert(
                w.doc.metadata.name.to_string(),
                Seen {
                    node_group_id: o.node_group_id.clone(),
                    service: o.service.clone(),
                    endpoint: o.endpoint.clone(),
                    connection: o.connection.clone(),
                },
            );
        }

        // Whatever owned endpoint is left names no valid document.
        let leftovers = owned
            .into_values()
            .map(|(scope, endpoint)| Leftover {
                frozen: endpoint
                    .tag(tags::FILE)
                    .is_some_and(|f| frozen_files.contains(f)),
                connection: connections.get(&endpoint.id).cloned(),
                scope,
                endpoint,
            })
            // Without a connection listing, a removal could leave a connection behind.
            .filter(|l| listed_projects || l.frozen)
            .collect();
        (per, leftovers)
    }

    /// Clusters, node groups and services (cached); returns the projects to list.
    async fn observe_tidb_targets(
        &mut self,
        wanted: &[Wanted],
        per: &mut [Observed],
    ) -> BTreeSet<String> {
        let mut projects = BTreeSet::new();
        for (w, o) in wanted.iter().zip(per.iter_mut()) {
            let t = &w.doc.spec.tidb_cloud;
            match self.cluster(t.cluster_id.as_str()).await {
                Ok(Ok(facts)) => {
                    let project = t
                        .project_id
                        .as_ref()
                        .map_or(facts.cluster.project_id.clone(), ToString::to_string);
                    projects.insert(project);
                    let group = t
                        .node_group_id
                        .as_ref()
                        .map_or(facts.default_group, ToString::to_string);
                    o.cluster = Some(Ok(facts.cluster));
                    match self.service(t.cluster_id.as_str(), &group).await {
                        Ok(s) => o.service = Some(s),
                        Err(e) if e.is_transient() => o.trouble = Some(e.to_string()),
                        Err(e) => o.cluster = Some(Err(e.to_string())),
                    }
                    o.node_group_id = Some(group);
                }
                Ok(Err(why)) => o.cluster = Some(Err(why)),
                Err(e) => o.trouble = Some(e.to_string()),
            }
        }
        projects
    }

    /// Every connection of every project, by endpoint ID; `None` if a listing failed.
    async fn list_connections(
        &self,
        projects: &BTreeSet<String>,
        per: &mut [Observed],
        outcome: &mut PassOutcome,
    ) -> Option<HashMap<String, Connection>> {
        let mut connections = HashMap::new();
        let tidb = &self.tidb;
        for project in projects {
            match all_pages(|token| async move {
                tidb.list_connections(project, token.as_deref()).await
            })
            .await
            {
                Ok((list, pages)) => {
                    outcome.listing_pages += pages;
                    connections.extend(list.into_iter().map(|c| (c.endpoint_id.clone(), c)))
                }
                Err(e) => {
                    outcome.observe_errors += 1;
                    for o in per.iter_mut() {
                        o.trouble.get_or_insert_with(|| {
                            format!("cannot list TiDB Cloud connections: {e}")
                        });
                    }
                    return None;
                }
            }
        }
        Some(connections)
    }

    /// Our endpoints by name, one tagged listing per account and region, and the scopes
    /// whose listing failed.
    async fn list_owned(
        &mut self,
        wanted: &[Wanted],
        per: &mut [Observed],
        outcome: &mut PassOutcome,
    ) -> (BTreeMap<String, (Scope, VpcEndpoint)>, BTreeSet<Scope>) {
        self.scopes.extend(wanted.iter().map(|w| scope_of(&w.doc)));
        let mut owned: BTreeMap<String, (Scope, VpcEndpoint)> = BTreeMap::new();
        let mut unlisted = BTreeSet::new();
        for scope in &self.scopes {
            let (ec2, owner) = (&self.ec2, self.owner_id.as_str());
            match all_pages(|token| async move {
                ec2.list_owned_endpoints(scope, owner, token.as_deref())
                    .await
            })
            .await
            {
                Ok((list, _)) => {
                    for e in list {
                        let name = e.tag(tags::NAME).unwrap_or(&e.id).to_string();
                        // Two endpoints with one name (should not happen): prefer a live one.
                        if owned
                            .get(&name)
                            .is_none_or(|(_, old)| old.state == "deleting")
                        {
                            owned.insert(name, (scope.clone(), e));
                        }
                    }
                }
                Err(e) => {
                    outcome.observe_errors += 1;
                    unlisted.insert(scope.clone());
                    for (w, o) in wanted.iter().zip(per.iter_mut()) {
                        if scope_of(&w.doc) == *scope {
                            o.trouble
                                .get_or_insert_with(|| format!("cannot list VPC endpoints: {e}"));
                        }
                    }
                }
            }
        }
        (owned, unlisted)
    }

    /// What exists of the VPCs, subnets and groups about to be used.
    async fn describe_network(
        &self,
        scope: &Scope,
        q: &NetworkQuery,
    ) -> Result<Network, CloudError> {
        let mut network = Network::default();
        for vpc in &q.vpcs {
            let support = self
                .ec2
                .describe_vpc_attribute(scope, vpc, VpcAttribute::EnableDnsSupport)
                .await?;
            let hostnames = self
                .ec2
                .describe_vpc_attribute(scope, vpc, VpcAttribute::EnableDnsHostnames)
                .await?;
            if let (Some(support), Some(hostnames)) = (support, hostnames) {
                network.vpcs.insert(vpc.clone(), (support, hostnames));
            }
        }
        if !q.subnets.is_empty() {
            network.subnets = self.ec2.describe_subnets(scope, &q.subnets).await?;
        }
        if !q.groups.is_empty() {
            network.security_groups = self.ec2.describe_security_groups(scope, &q.groups).await?;
        }
        Ok(network)
    }

    /// Endpoints named by `endpointId` that are not ours yet, per scope that could be asked.
    async fn describe_adoptees(
        &self,
        ids: &BTreeMap<Scope, Vec<String>>,
        outcome: &mut PassOutcome,
    ) -> BTreeMap<Scope, BTreeMap<String, VpcEndpoint>> {
        let mut found = BTreeMap::new();
        for (scope, ids) in ids {
            match self.ec2.describe_endpoints(scope, ids).await {
                Ok(list) => {
                    found.insert(
                        scope.clone(),
                        list.into_iter().map(|e| (e.id.clone(), e)).collect(),
                    );
                }
                Err(_) => outcome.observe_errors += 1,
            }
        }
        found
    }

    /// The cluster and its default node group, cached. `Err` is a transient failure;
    /// `Ok(Err)` a permanent one to show.
    async fn cluster(&mut self, id: &str) -> Result<Result<ClusterFacts, String>, CloudError> {
        if let Some((cached, at)) = self.clusters.get(id) {
            let ttl = if cached.is_ok() {
                CLUSTER_TTL
            } else {
                FAILED_RETRY
            };
            if at.elapsed() < ttl {
                return Ok(cached.clone());
            }
        }
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
            Err(CloudError::NotFound(_)) => Err(format!("cluster {id} not found")),
            Err(e) => Err(e.to_string()),
        };
        self.clusters
            .insert(id.to_string(), (answer.clone(), Instant::now()));
        Ok(answer)
    }

    async fn service(&mut self, cluster: &str, group: &str) -> Result<Service, CloudError> {
        let key = (cluster.to_string(), group.to_string());
        if let Some((s, at)) = self.services.get(&key)
            && s.state == ServiceState::Active
            && at.elapsed() < SERVICE_TTL
        {
            return Ok(s.clone());
        }
        let s = self.tidb.get_service(cluster, group).await?;
        self.services.insert(key, (s.clone(), Instant::now()));
        Ok(s)
    }

    /// Carries out the plan: each endpoint's actions in order, endpoints side by side, so one
    /// endpoint's slow or failing call never delays another's.
    async fn apply(&mut self, plan: &mut Plan, generations: &[String], outcome: &mut PassOutcome) {
        let deadline = Instant::now() + self.apply_window;
        let mut tasks = tokio::task::JoinSet::new();
        for (index, p) in plan.endpoints.iter().chain(&plan.removals).enumerate() {
            if p.actions.is_empty() {
                continue;
            }
            let (tidb, ec2, actions, name) = (
                self.tidb.clone(),
                self.ec2.clone(),
                p.actions.clone(),
                p.name.clone(),
            );
            let deadline = deadline.into();
            tasks.spawn(async move {
                let mut done = Vec::new();
                let mut created: Option<String> = None;
                for action in actions {
                    // Past the deadline (waiting for a budget), the rest waits for a later
                    // pass, which re-observes first: other endpoints' next steps need not wait
                    // for this pass's slowest queue.
                    let Ok(result) = tokio::time::timeout_at(
                        deadline,
                        execute(&tidb, &ec2, &action, created.as_deref()),
                    )
                    .await
                    else {
                        break;
                    };
                    let failed = result.is_err();
                    if let Ok(Some(id)) = &result {
                        created = Some(id.clone());
                    }
                    done.push((action.kind(), result.map(drop)));
                    if failed {
                        break;
                    }
                }
                (index, name, done)
            });
        }
        let mut results = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            // A task only ends by returning; a panic in one is a bug worth surfacing.
            results.push(joined.expect("an apply task panicked"));
        }
        results.sort_by_key(|(i, _, _)| *i);
        for (index, name, done) in results {
            let n_endpoints = plan.endpoints.len();
            let p = if index < n_endpoints {
                &mut plan.endpoints[index]
            } else {
                &mut plan.removals[index - n_endpoints]
            };
            for (kind, result) in done {
                match result {
                    Ok(()) => {
                        outcome.applied.push((name.clone(), kind, None));
                        self.backoff.remove(&name);
                    }
                    Err(e) => {
                        outcome
                            .applied
                            .push((name.clone(), kind, Some(e.to_string())));
                        let generation = generations.get(index).cloned().unwrap_or_default();
                        self.note_failure(p, kind, &e, generation);
                    }
                }
            }
        }
    }

    fn note_failure(
        &mut self,
        p: &mut EndpointPlan,
        kind: &str,
        error: &CloudError,
        generation: String,
    ) {
        let failures = self.backoff.get(&p.name).map_or(0, |b| b.failures) + 1;
        let delay = match error {
            CloudError::Throttled { retry_after, .. } => *retry_after,
            e if e.is_transient() => {
                let base = Duration::from_secs(1 << failures.min(8)).min(MAX_BACKOFF);
                // Full jitter: retries of many endpoints spread out instead of arriving together.
                base / 2 + base.mul_f64(self.jitter.next_f64() / 2.0)
            }
            _ => FAILED_RETRY,
        };
        let (phase, message) = if error.is_transient() {
            (None, format!("{kind} failed: {error}"))
        } else {
            (Some(Phase::Failed), format!("{kind} failed: {error}"))
        };
        if let Some(phase) = phase {
            p.phase = phase;
        }
        p.message = message.clone();
        self.backoff.insert(
            p.name.clone(),
            Backoff {
                failures,
                until: Instant::now() + delay,
                generation,
                phase,
                message,
            },
        );
    }
}

/// Every item of a paginated listing, page after page, and how many pages it took.
async fn all_pages<T, F, Fut>(mut page: F) -> Result<(Vec<T>, usize), CloudError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Page<T>, CloudError>>,
{
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let p = page(token.take()).await?;
        pages += 1;
        items.extend(p.items);
        match p.next {
            Some(next) => token = Some(next),
            None => return Ok((items, pages)),
        }
    }
}

fn scope_of(doc: &EndpointDocument) -> Scope {
    Scope {
        account: doc.spec.aws.account.to_string(),
        region: doc.spec.aws.region.to_string(),
    }
}

/// Creates an endpoint. EC2 answers a reused ClientToken with the token's first endpoint,
/// even if that one was deleted since (behind our back): then a new token, derived from the
/// old one and the dead endpoint's ID, asks for a new endpoint and is just as repeatable.
async fn create<E: Ec2>(
    ec2: &E,
    scope: &Scope,
    request: &CreateEndpoint,
) -> Result<String, CloudError> {
    let mut request = request.clone();
    for _ in 0..8 {
        let endpoint = ec2.create_endpoint(scope, &request).await?;
        if !matches!(endpoint.state.as_str(), "deleted" | "deleting") {
            return Ok(endpoint.id);
        }
        request.client_token = plan::next_client_token(&request.client_token, &endpoint.id);
    }
    Err(CloudError::Permanent(
        "CreateVpcEndpoint keeps answering with deleted endpoints for this ClientToken".into(),
    ))
}

/// Carries out one action; a create answers with the new endpoint's ID, which a following
/// registration without an ID of its own (`created`) uses.
async fn execute<T: TidbCloud, E: Ec2>(
    tidb: &T,
    ec2: &E,
    action: &Action,
    created: Option<&str>,
) -> Result<Option<String>, CloudError> {
    let gone_is_done = |r: Result<(), CloudError>| match r {
        Err(CloudError::NotFound(_)) => Ok(()),
        other => other,
    };
    let result = match action {
        Action::CreateVpcEndpoint { scope, request, .. } => {
            return create(ec2, scope, request).await.map(Some);
        }
        Action::ModifyVpcEndpoint { scope, request } => ec2.modify_endpoint(scope, request).await,
        Action::RegisterConnection {
            cluster_id,
            node_group_id,
            endpoint_id,
        } => match endpoint_id.as_deref().or(created) {
            Some(id) => tidb
                .create_connection(cluster_id, node_group_id, id)
                .await
                .map(drop),
            None => Ok(()),
        },
        Action::DeleteConnection { connection, .. } => {
            gone_is_done(tidb.delete_connection(connection).await)
        }
        Action::DeleteVpcEndpoint { scope, endpoint_id } => {
            gone_is_done(ec2.delete_endpoint(scope, endpoint_id).await)
        }
        Action::Tag {
            scope,
            endpoint_id,
            tags,
        } => ec2.create_tags(scope, endpoint_id, tags).await,
        Action::Untag {
            scope,
            endpoint_id,
            keys,
        } => ec2.delete_tags(scope, endpoint_id, keys).await,
    };
    result.map(|()| None)
}
