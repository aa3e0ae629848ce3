//! Observing in batches: one tagged, paginated endpoint listing per AWS account and region
//! every pass; TiDB Cloud connections where change happens (`connections.rs`); cluster, node
//! group and service lookups cached (`lookups.rs`); security groups per scope (`firewall.rs`);
//! VPC facts fetched only for endpoints about to be created or modified (`network.rs`). What
//! is kept between passes expires in one way, a `Store`'s (`store.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use tokio::time::Instant;

use super::network::NetworkQuery;
use super::store::ProjectKey;
use super::{Engine, Frozen, PassOutcome, Wanted};
use crate::cloud::gcp::Gcp;
use crate::cloud::{
    CloudEndpoint, CloudError, ConnectionState, Consumer, ConsumerEndpoint, Ec2, Page, Scope,
    ServiceState, TidbCloud,
};
use crate::plan::{self, Leftover, Observed, ProbeResult, ownership};
use crate::probe::{Prober, Target};

/// VPC facts are needed only before a create or a modify: never in a converged pass. (A
/// create waiting for its service is checked already, so a mistake shows at once.) Google
/// Cloud's network facts are kept in a store of their own (`gcp_network.rs`).
fn needs_network_check(w: &Wanted, o: &Observed, endpoint: Option<&CloudEndpoint>) -> bool {
    let spec = &w.doc.spec;
    let Some(service) = &o.service else {
        return false;
    };
    if spec.suspend || service.state == ServiceState::Deleting {
        return false;
    }
    let Some(aws) = spec.aws() else { return false };
    let Some(e) = endpoint.and_then(CloudEndpoint::aws) else {
        return endpoint.is_none();
    };
    if service.state != ServiceState::Active {
        return false;
    }
    !plan::in_place(aws, e) || (spec.private_dns && !e.private_dns_enabled)
}

impl<T, E, G> Engine<T, E, G>
where
    T: TidbCloud + Clone + 'static,
    E: Ec2 + Clone + 'static,
    G: Gcp + Clone + 'static,
{
    pub(super) async fn observe(
        &mut self,
        wanted: &[Wanted],
        frozen: &Frozen,
        outcome: &mut PassOutcome,
    ) -> (Vec<Observed>, Vec<Leftover>) {
        let mut per: Vec<Observed> = wanted.iter().map(|_| Observed::default()).collect();
        let projects = self.observe_tidb_targets(wanted, &mut per).await;
        let (mut owned, unlisted) = self.list_owned(wanted, &mut per, outcome).await;
        for (w, o) in wanted.iter().zip(per.iter_mut()) {
            if !unlisted.contains(&w.scope) {
                o.endpoint = owned.remove(w.doc.metadata.name.as_str()).map(|(_, e)| e);
            }
        }
        // Ours by the ledger, though the tags no longer say so (`identity.rs`).
        self.find_by_ledger(wanted, &mut per, &unlisted, outcome)
            .await;
        // One whose name tag went (its owner tag stayed) was listed under its ID: the ledger
        // gave it back to its document, so it is no leftover to remove.
        if !owned.is_empty() {
            let claimed: BTreeSet<&str> = per
                .iter()
                .filter_map(|o| o.endpoint.as_ref().map(|e| e.id()))
                .collect();
            owned.retain(|_, (_, e)| !claimed.contains(e.id()));
        }
        // TiDB Cloud, where change happens (see `connections.rs`).
        let endpoints: Vec<(&str, &CloudEndpoint)> = per
            .iter()
            .filter_map(|o| {
                let project = o.cluster.as_ref()?.as_ref().ok()?.project_id.as_str();
                Some((project, o.endpoint.as_ref()?))
            })
            .collect();
        let observed = self
            .observe_connections(&projects, &endpoints, outcome)
            .await;
        let connections_known = match observed {
            Ok(()) => true,
            Err(e) => {
                outcome.observe_errors += 1;
                for o in per.iter_mut() {
                    o.trouble.get_or_insert_with(|| {
                        format!("cannot observe TiDB Cloud connections: {e}")
                    });
                }
                false
            }
        };

        // Connections whose VPC endpoints AWS no longer has (deleted in the console).
        outcome.observe_errors += self.gone.confirm(&self.clouds).await;
        if connections_known {
            let mut stale = self.gone.stale(|id| self.connections.of(id).map(|c| &**c));
            for (w, o) in wanted.iter().zip(per.iter_mut()) {
                if let Some(mut connections) = stale.remove(w.doc.metadata.name.as_str()) {
                    // Azure and Google Cloud name an endpoint by what it is called: one made
                    // again has the gone one's ID, and the connection is the new one's.
                    if let Some(e) = &o.endpoint {
                        connections.retain(|c| c.endpoint_id != e.id());
                    }
                    o.stale_connections = connections;
                }
            }
        }

        // Match each document with its connection; note what needs a lookup.
        for (w, o) in wanted.iter().zip(per.iter_mut()) {
            if !unlisted.contains(&w.scope) {
                o.connection = o
                    .endpoint
                    .as_ref()
                    .and_then(|e| self.connections.of(e.id()).cloned());
            }
        }
        let unaccounted = self.reconcile_ledger(wanted, &mut per, &unlisted, connections_known);
        let mut adopt_ids: BTreeMap<Scope, Vec<String>> = BTreeMap::new();
        let mut checks: BTreeMap<Scope, NetworkQuery> = BTreeMap::new();
        // Which endpoints asked: only they are shown the VPC facts, so that a check for one
        // endpoint does not change the observation (and the plan's inputs) of its neighbours.
        let mut checking = vec![false; wanted.len()];
        for ((w, o), checking) in wanted.iter().zip(per.iter_mut()).zip(&mut checking) {
            let scope = &w.scope;
            if unlisted.contains(scope) {
                continue;
            }
            let name = w.doc.metadata.name.as_str();
            match &o.connection {
                Some(c) if c.state == ConnectionState::Failed => {
                    o.retry = Some(self.errors.connection_failed(
                        name,
                        &w.generation,
                        Instant::now(),
                    ));
                }
                // Registered again, or accepted: the failure is over.
                Some(c) if c.state == ConnectionState::Active => {
                    self.errors.connection_active(name)
                }
                _ => {}
            }
            match (&o.endpoint, w.doc.spec.adopts()) {
                (None, Some(id)) => adopt_ids
                    .entry(scope.clone())
                    .or_default()
                    .push(id.to_string()),
                (endpoint, _) if needs_network_check(w, o, endpoint.as_ref()) => {
                    *checking = true;
                    checks.entry(scope.clone()).or_default().add(&w.doc)
                }
                _ => {}
            }
        }
        self.observe_firewalls(wanted, &mut per, outcome).await;
        self.observe_gcp_places(wanted, &mut per, &unlisted, outcome)
            .await;
        self.observe_azure_subnets(wanted, &mut per, &unlisted, outcome)
            .await;
        if let Some(prober) = &self.prober {
            for (w, o) in wanted.iter().zip(per.iter_mut()) {
                o.probe = Some(probe(prober, w, o));
            }
        }
        let adoptees = self.describe_adoptees(&adopt_ids, outcome).await;
        let mut networks = BTreeMap::new();
        for (scope, q) in &checks {
            match self.networks.describe(&self.clouds.ec2, scope, q).await {
                Ok(n) => {
                    networks.insert(scope.clone(), std::sync::Arc::new(n));
                }
                Err(_) => outcome.observe_errors += 1,
            }
        }
        for ((w, o), checking) in wanted.iter().zip(per.iter_mut()).zip(checking) {
            if checking {
                o.network = networks.get(&w.scope).cloned();
            }
            if let (Some(id), Some(found)) = (w.doc.spec.adopts(), adoptees.get(&w.scope)) {
                o.adoptee_checked = true;
                o.adoptee = found.get(id).cloned();
                // Registered by hand before the adoption: the connection to keep, not make.
                o.connection = o
                    .connection
                    .take()
                    .or_else(|| self.connections.of(id).cloned());
            }
        }

        // Whatever owned endpoint is left names no valid document.
        let tagged: BTreeSet<String> = owned.keys().cloned().collect();
        let mut leftovers: Vec<Leftover> = owned
            .into_iter()
            .map(|(name, (scope, endpoint))| {
                let last_seen = self.last_seen.get(&name).cloned();
                let files = [
                    ownership::file_of(&endpoint),
                    last_seen.as_ref().map(|s| s.file.as_str()),
                ];
                Leftover {
                    frozen: frozen.covers(&name, files.into_iter().flatten()),
                    connection: self.connections.of(endpoint.id()).map(|c| (**c).clone()),
                    scope,
                    endpoint,
                    last_seen,
                }
            })
            // Without knowing the connections, a removal could leave a connection behind.
            .filter(|l| connections_known || l.frozen)
            // Another owner's endpoint that no document takes over is not ours to remove.
            .filter(|l| ownership::owned_by(&l.endpoint, &self.owner_id))
            .collect();
        // And what the ledger knows of documents that are gone, their tags gone too.
        if connections_known && unaccounted {
            let more = self
                .ledger_leftovers(wanted, &tagged, &unlisted, frozen, outcome)
                .await;
            leftovers.extend(more);
        }
        (per, leftovers)
    }

    /// Clusters, node groups and services (cached); returns the projects to list.
    async fn observe_tidb_targets(
        &mut self,
        wanted: &[Wanted],
        per: &mut [Observed],
    ) -> BTreeSet<ProjectKey> {
        let mut projects = BTreeSet::new();
        for (w, o) in wanted.iter().zip(per.iter_mut()) {
            let t = &w.doc.spec.tidb_cloud;
            match self.cluster(&t.cluster_id).await {
                Ok(Ok(facts)) => {
                    // The cluster's own project: a document that names another is told so.
                    if !projects.contains(facts.cluster.project_id.as_str()) {
                        projects.insert(ProjectKey::from(facts.cluster.project_id.clone()));
                    }
                    let group = t
                        .node_group_id
                        .as_ref()
                        .map_or(facts.default_group, ToString::to_string);
                    let serving = facts.cluster.state.is_available();
                    o.cluster = Some(Ok(facts.cluster));
                    if serving {
                        match self.service(&t.cluster_id, &group).await {
                            Ok(s) => o.service = Some(s),
                            Err(e) if e.is_transient() => o.trouble = Some(e.to_string()),
                            Err(e) => o.cluster = Some(Err(e.to_string())),
                        }
                    }
                    o.node_group_id = Some(group);
                }
                Ok(Err(why)) => o.cluster = Some(Err(why)),
                Err(e) => o.trouble = Some(e.to_string()),
            }
        }
        projects
    }

    /// Our endpoints by name, one tagged listing per account and region, and the scopes
    /// whose listing failed.
    async fn list_owned(
        &mut self,
        wanted: &[Wanted],
        per: &mut [Observed],
        outcome: &mut PassOutcome,
    ) -> (BTreeMap<String, (Scope, CloudEndpoint)>, BTreeSet<Scope>) {
        for w in wanted {
            if !self.scopes.contains(&w.scope) {
                self.scopes.insert(w.scope.clone());
            }
        }
        let mut owned: BTreeMap<String, (Scope, CloudEndpoint)> = BTreeMap::new();
        let mut unlisted = BTreeSet::new();
        // Ours first; then, with `--reown-from`, the other owner's, for the names not found.
        let owners: Vec<&str> = std::iter::once(self.owner_id.as_str())
            .chain(self.reown_from.as_deref())
            .collect();
        self.gone.begin();
        for scope in &self.scopes {
            for owner in &owners {
                let (clouds, tag) = (&self.clouds, ownership::owner_tag(owner));
                let listed = all_pages(|token| async move {
                    clouds.list_marked(scope, tag, token.as_deref()).await
                })
                .await;
                match listed {
                    Ok((list, _)) => {
                        for e in list {
                            let name = ownership::name_of(&e).to_string();
                            if *owner == self.owner_id {
                                self.gone.saw(scope, &e, &name);
                            }
                            // Two endpoints with one name (should not happen): prefer a live
                            // one, and ours.
                            if owned.get(&name).is_none_or(|(_, old)| old.is_going()) {
                                owned.insert(name, (scope.clone(), e));
                            }
                        }
                    }
                    Err(e) => {
                        outcome.observe_errors += 1;
                        unlisted.insert(scope.clone());
                        for (w, o) in wanted.iter().zip(per.iter_mut()) {
                            if w.scope == *scope {
                                o.trouble.get_or_insert_with(|| {
                                    format!("cannot list {} endpoints: {e}", scope.cloud.title())
                                });
                            }
                        }
                    }
                }
            }
        }
        self.gone.end(&unlisted);
        (owned, unlisted)
    }

    /// Google Cloud endpoints' networks (`gcp_network.rs`): for the checks before a create
    /// and the egress condition.
    async fn observe_gcp_places(
        &mut self,
        wanted: &[Wanted],
        per: &mut [Observed],
        unlisted: &BTreeSet<Scope>,
        outcome: &mut PassOutcome,
    ) {
        for (w, o) in wanted.iter().zip(per.iter_mut()) {
            let Some(gcp) = w.doc.spec.gcp() else {
                continue;
            };
            if unlisted.contains(&w.scope) || o.service.is_none() {
                continue;
            }
            match self.gcp_places.describe(self.clouds.psc.inner(), gcp).await {
                Ok(place) => o.gcp_place = Some(place),
                Err(_) => outcome.observe_errors += 1,
            }
        }
    }

    /// Azure documents' subnets (the check before a create; the probe's client range).
    async fn observe_azure_subnets(
        &mut self,
        wanted: &[Wanted],
        per: &mut [Observed],
        unlisted: &BTreeSet<Scope>,
        outcome: &mut PassOutcome,
    ) {
        for (w, o) in wanted.iter().zip(per.iter_mut()) {
            let Some(azure) = w.doc.spec.azure() else {
                continue;
            };
            if unlisted.contains(&w.scope) || o.service.is_none() {
                continue;
            }
            let arm = self.clouds.azure.arm();
            match self.azure_subnets.describe(arm, &azure.subnet_id()).await {
                Ok(subnet) => {
                    o.azure_subnet = subnet;
                    o.azure_subnet_checked = true;
                }
                Err(_) => outcome.observe_errors += 1,
            }
            // TiDB Cloud's public record of an accepted endpoint (`PrivateDnsReady`).
            let accepted = o
                .connection
                .as_ref()
                .filter(|c| c.state == ConnectionState::Active && !c.host.is_empty());
            let ip = o
                .endpoint
                .as_ref()
                .and_then(CloudEndpoint::azure)
                .and_then(|e| e.private_ip.as_deref());
            if let (Some(c), Some(ip)) = (accepted, ip) {
                o.azure_dns = self.azure_dns.check(&c.host, c.port, ip);
            }
        }
    }

    /// Endpoints named by `endpointId` that are not ours yet, per scope that could be asked.
    async fn describe_adoptees(
        &self,
        ids: &BTreeMap<Scope, Vec<String>>,
        outcome: &mut PassOutcome,
    ) -> BTreeMap<Scope, BTreeMap<String, CloudEndpoint>> {
        let mut found = BTreeMap::new();
        for (scope, ids) in ids {
            match self.clouds.describe_endpoints(scope, ids).await {
                Ok(list) => {
                    found.insert(
                        scope.clone(),
                        list.into_iter().map(|e| (e.id().to_string(), e)).collect(),
                    );
                }
                Err(_) => outcome.observe_errors += 1,
            }
        }
        found
    }
}

/// The latest probe of an endpoint that can be probed (registered, with a VPC whose CIDRs are
/// known); asks for the next one when due.
fn probe(prober: &Prober, w: &Wanted, o: &Observed) -> ProbeResult {
    let (Some(endpoint), Some(connection)) = (&o.endpoint, &o.connection) else {
        return ProbeResult::Pending;
    };
    // Where clients are: the VPC's blocks (AWS), the endpoint's subnetwork (Google Cloud).
    let vpc_cidrs = match endpoint {
        CloudEndpoint::Aws(e) => o
            .firewall
            .as_ref()
            .and_then(|f| f.vpc_cidrs.get(&e.vpc_id))
            .map(Vec::as_slice),
        CloudEndpoint::Gcp(_) => o
            .gcp_place
            .as_ref()
            .and_then(|p| p.subnetwork.as_ref())
            .map(|s| std::slice::from_ref(&s.ip_cidr_range)),
        CloudEndpoint::Azure(_) => o
            .azure_subnet
            .as_ref()
            .map(|s| s.address_prefixes.as_slice()),
    };
    let Some(vpc_cidrs) = vpc_cidrs else {
        return ProbeResult::Pending;
    };
    prober.observe(Target {
        name: w.doc.metadata.name.to_string(),
        host: connection.host.clone(),
        port: connection.port,
        vpc_cidrs: vpc_cidrs.to_vec(),
    })
}

/// Every item of a paginated listing, page after page, and how many pages it took.
pub(super) async fn all_pages<T, F, Fut>(mut page: F) -> Result<(Vec<T>, usize), CloudError>
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
