//! One pass: observe the cloud in batches, plan (pure), hold back what is in backoff, apply,
//! and hand back everything the report needs.
//!
//! ```text
//!  wanted documents --observe.rs--> Observed per endpoint + leftovers
//!                   --plan::plan--> Plan (pure)
//!                   --error_policy.rs (backoff.rs)--> Plan minus the actions of endpoints in backoff
//!                   --apply.rs----> Applied results
//!                   --error_policy.rs--> new backoffs, re-registration schedules
//! ```

mod apply;
mod azure_dns;
mod azure_network;
mod backoff;
mod connections;
mod error_policy;
mod facts;
mod firewall;
mod gcp_network;
mod gone;
mod identity;
mod lookups;
mod memo;
mod network;
mod observe;
mod reregister;
mod store;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rustc_hash::FxHashMap;

// tokio's clock, so that tests can run the engine on virtual time.
use tokio::time::Instant;

use crate::cloud::clouds::Clouds;
use crate::cloud::gcp::Gcp;
use crate::cloud::{CloudEndpoint, Connection, Ec2, Scope, Service, TidbCloud};
use crate::ledger::Ledger;
use crate::plan::{self, LastSeen, Plan, Policy};
use crate::probe::Prober;
use crate::spec::{self, EndpointDocument};

pub use apply::Applied;
pub use backoff::Held;
use connections::ConnectionBook;
use error_policy::{ErrorPolicy, Generations};
pub use facts::Facts;
use firewall::Firewalls;
use gone::Gone;
use lookups::Lookups;
use memo::Memos;
pub use memo::Sighting;
use network::Networks;

/// One desired endpoint as the daemon hands it over: the document and its file.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub doc: Arc<EndpointDocument>,
    /// Relative to the endpoints directory.
    pub file: String,
    /// `spec::generation` of `doc`: a changed document gets a fresh start after failures.
    pub generation: String,
    /// Where its AWS calls go (said once here: every stage asks).
    pub scope: Scope,
}

impl Wanted {
    pub fn new(doc: EndpointDocument, file: impl Into<String>) -> Wanted {
        Wanted::from_arc(Arc::new(doc), file.into(), None)
    }

    /// `generation`, when the caller has it already, saves hashing the document again.
    pub fn from_arc(
        doc: Arc<EndpointDocument>,
        file: String,
        generation: Option<String>,
    ) -> Wanted {
        Wanted {
            generation: generation.unwrap_or_else(|| spec::generation(&doc)),
            scope: plan::scope_of(&doc.spec),
            doc,
            file,
        }
    }
}

/// What invalid or unreadable entries of the endpoints directory freeze in this pass.
#[derive(Debug, Clone, Default)]
pub struct Frozen {
    /// Files (relative to the endpoints directory) that are invalid or cannot be read.
    pub files: BTreeSet<String>,
    /// Directories that cannot be read: whatever came from under them.
    pub dirs: BTreeSet<String>,
    /// Endpoint names that invalid files seem to name.
    pub names: BTreeSet<String>,
}

impl Frozen {
    /// Does an endpoint with this name, last seen in these files, sit in something frozen?
    pub fn covers<'a>(&self, name: &str, files: impl IntoIterator<Item = &'a str>) -> bool {
        self.names.contains(name)
            || files.into_iter().any(|f| {
                self.files.contains(f)
                    || self.dirs.iter().any(|d| {
                        f.strip_prefix(d.as_str())
                            .is_some_and(|r| r.starts_with('/'))
                    })
            })
    }
}

/// What a pass saw and did: the input of status files, metrics and logs.
#[derive(Debug, Clone, Default)]
pub struct PassOutcome {
    /// The plan as made (minus the actions that backoff held back).
    pub plan: Plan,
    /// Per desired endpoint name: what was observed (for the status file), and whether it
    /// or its plan changed.
    pub seen: FxHashMap<Arc<str>, Sighting>,
    /// Actions carried out, in plan order.
    pub applied: Vec<Applied>,
    /// Endpoints (and removals) that are not acting because an earlier action failed, or
    /// whose action failed in this pass: why, and until when.
    pub held: BTreeMap<String, Held>,
    /// The observe step itself had transient trouble somewhere.
    pub observe_errors: usize,
    /// TiDB Cloud listing pages this pass read: the part of a pass that grows with N.
    pub listing_pages: usize,
}

/// The observed objects of one endpoint, for reporting (and for `plan --from`, which reads
/// them from a running daemon).
#[derive(Debug, Clone, Default, PartialEq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seen {
    /// The node group in use (the document's, or the cluster's default).
    pub node_group_id: Option<String>,
    pub service: Option<Arc<Service>>,
    pub endpoint: Option<CloudEndpoint>,
    pub connection: Option<Arc<Connection>>,
}

/// The reconciler: cloud clients, caches and per-endpoint retry state.
pub struct Engine<T, E, G> {
    tidb: T,
    /// Every cloud's consumer-side client (`clouds.ec2`, `clouds.psc`), one `Consumer` for
    /// the cloud-neutral steps.
    clouds: Clouds<E, G>,
    owner_id: String,
    /// Clusters and services, cached (`Store`s with jittered expiry).
    lookups: Lookups,
    /// TiDB Cloud connections as last seen.
    connections: ConnectionBook,
    /// Our VPC endpoints that AWS no longer has, whose connections are left behind.
    gone: Gone,
    /// Every project is listed in full at least this often.
    full_resync: Duration,
    /// TiDB Cloud requests per second the gate allows (observation spends a share of it).
    tidb_rate: f64,
    /// Scopes with a closed port (looked at every pass), and each scope's `PortAllowed` view.
    firewalls: Firewalls,
    /// What EC2 said of each account and region's VPCs, subnets and security groups: read by
    /// the checks before a create or modify and by `PortAllowed`.
    networks: Networks,
    /// What Compute Engine said of Google Cloud endpoints' networks.
    gcp_places: gcp_network::GcpPlaces,
    /// What Resource Manager said of Azure endpoints' subnets.
    azure_subnets: azure_network::AzureSubnets,
    /// Azure endpoints' public DNS records, as this host resolves them.
    azure_dns: azure_dns::AzureDns,
    /// Backoffs after failed actions and re-registrations of FAILED connections.
    errors: ErrorPolicy,
    /// Each endpoint's last plan, reused while its document and observation stay the same.
    memos: Memos,
    /// The reachability probe, when enabled.
    prober: Option<Prober>,
    /// Another owner whose endpoints documents may take over (`run --reown-from`).
    reown_from: Option<String>,
    /// Every account and region ever desired: a removed document's endpoint is still found.
    scopes: BTreeSet<Scope>,
    /// What the latest valid document of each endpoint said, since start: a removal does what
    /// it said, even if writing the tags that say so has not happened yet.
    last_seen: HashMap<String, LastSeen>,
    /// How long a pass may keep applying; what is still queued for a budget then waits for
    /// the next pass.
    apply_window: Duration,
    /// What this daemon created or adopted, per document (`crate::ledger`).
    ledger: Ledger,
    /// Read the ledger again before the next pass (a new leader: the old one wrote it).
    reread_ledger: bool,
}

impl<T, E, G> Engine<T, E, G>
where
    T: TidbCloud + Clone + 'static,
    E: Ec2 + Clone + 'static,
    G: Gcp + Clone + 'static,
{
    pub fn new(tidb: T, ec2: E, gcp: G, owner_id: impl Into<String>) -> Self {
        Engine {
            tidb,
            clouds: Clouds::new(ec2, gcp),
            owner_id: owner_id.into(),
            lookups: Lookups::default(),
            connections: ConnectionBook::default(),
            gone: Gone::default(),
            full_resync: Duration::from_secs(600),
            tidb_rate: crate::cloud::BucketClass::Tidb.published().per_second,
            firewalls: Firewalls::default(),
            networks: Networks::default(),
            gcp_places: gcp_network::GcpPlaces::default(),
            azure_subnets: azure_network::AzureSubnets::default(),
            azure_dns: azure_dns::AzureDns::default(),
            errors: ErrorPolicy::default(),
            memos: Memos::default(),
            prober: None,
            reown_from: None,
            scopes: BTreeSet::new(),
            last_seen: HashMap::new(),
            apply_window: Duration::from_secs(30),
            ledger: Ledger::in_memory(),
            reread_ledger: false,
        }
    }

    /// Azure's Resource Manager client (the engine starts with none: an Azure document then
    /// fails with "not configured").
    pub fn set_azure(&mut self, arm: crate::cloud::budget::Budgeted<crate::cloud::any::AnyArm>) {
        self.clouds.azure = crate::cloud::azure::AzureLink::new(arm);
    }

    /// Where identity is kept (the engine starts with one in memory).
    pub fn set_ledger(&mut self, ledger: Ledger) {
        self.ledger = ledger;
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Every account and region ever listed: the daemon saves them across restarts.
    pub fn scopes(&self) -> &BTreeSet<Scope> {
        &self.scopes
    }

    pub fn remember_scopes(&mut self, scopes: impl IntoIterator<Item = Scope>) {
        self.scopes.extend(scopes);
    }

    pub fn tidb(&self) -> &T {
        &self.tidb
    }

    pub fn ec2(&self) -> &E {
        &self.clouds.ec2
    }

    pub fn gcp(&self) -> &G {
        self.clouds.psc.inner()
    }

    /// New clients (a reload): what they see is looked up afresh; retry state is kept.
    pub fn set_clients(&mut self, tidb: T, ec2: E, gcp: G) {
        self.tidb = tidb;
        self.clouds = Clouds::new(ec2, gcp);
        self.expire_lookups();
    }

    /// Everything observed is forgotten (a new leader of a group: what this daemon saw when it
    /// last led may have been changed by another since); what documents said is kept.
    pub fn forget_observations(&mut self) {
        self.lookups = Lookups::default();
        self.lookups.set_rate(self.tidb_rate);
        self.connections = ConnectionBook::default();
        self.firewalls = Firewalls::default();
        self.networks = Networks::default();
        self.gcp_places.forget();
        self.azure_subnets.forget();
        self.gone = Gone::default();
        self.errors = ErrorPolicy::default();
        self.reread_ledger = true;
    }

    /// Cached clusters and services are looked up again in the next pass.
    pub fn expire_lookups(&mut self) {
        self.lookups.expire_all();
    }

    /// How often every project is listed in full, and the TiDB Cloud rate the gate allows.
    pub fn set_tidb_pace(&mut self, full_resync: Duration, requests_per_second: f64) {
        self.full_resync = full_resync;
        self.tidb_rate = requests_per_second;
        self.lookups.set_rate(requests_per_second);
    }

    /// When connections were last listed in full (the oldest project's listing).
    pub fn last_full_listing(&self) -> Option<std::time::SystemTime> {
        self.connections.oldest_listing()
    }

    pub fn set_apply_window(&mut self, window: Duration) {
        self.apply_window = window;
    }

    pub fn set_owner(&mut self, owner_id: &str) {
        self.owner_id = owner_id.to_string();
    }

    /// Endpoints tagged with `old_owner` are taken over by the documents that name them (their
    /// tags are rewritten); those no document names are left alone, not ours.
    pub fn set_reown_from(&mut self, old_owner: Option<String>) {
        self.reown_from = old_owner;
    }

    /// Probes reachability from this host (the `Reachable` condition); `None` turns it off.
    pub fn set_prober(&mut self, prober: Option<Prober>) {
        self.prober = prober;
    }

    /// A person asks for these endpoints to be tried again now: their backoff ends, a FAILED
    /// connection is retried, and a failed lookup of their cluster is asked again.
    pub fn retry_now(&mut self, names: &[String], wanted: &[Wanted]) {
        self.errors.force(names);
        for name in names {
            if let Some(w) = wanted.iter().find(|w| w.doc.metadata.name.as_str() == name) {
                self.lookups
                    .forget_failure(w.doc.spec.tidb_cloud.cluster_id.as_str());
            }
        }
    }

    /// Observe and plan; with `apply`, carry the plan out.
    ///
    /// `frozen` says what invalid or unreadable entries of the endpoints directory hold: the
    /// endpoints they name or came from are left alone.
    pub async fn pass(
        &mut self,
        wanted: &[Wanted],
        frozen: &Frozen,
        policy: &Policy,
        apply: bool,
    ) -> PassOutcome {
        self.remember_documents(wanted);
        let mut outcome = PassOutcome::default();
        let ledger_read = self.read_ledger_again(&mut outcome).await;

        let (observed, leftovers) = self.observe(wanted, frozen, &mut outcome).await;

        let (endpoints, seen) = self.memos.plan(wanted, observed, &policy.owner_id);
        let mut plan = plan::assemble(endpoints, &leftovers, policy);
        self.firewalls.settle(wanted, &plan);
        outcome.seen = seen;

        let generations = Generations::new(wanted, &leftovers);
        outcome.held = self
            .errors
            .hold_back(&mut plan, &generations, Instant::now());

        if apply && !ledger_read {
            // A new leader that could not read the group's ledger does not know what the
            // last one created: it would create a second endpoint for a document whose tags
            // were removed, and its writes would replace entries it never read (gone
            // endpoints whose connections are still to clean up). Nothing is done, and
            // nothing written, until the ledger is read.
            plan.change_where(
                |p| !p.actions.is_empty(),
                |p| {
                    p.actions.clear();
                    p.message = format!("{}; waiting to read the ledger", p.message);
                },
            );
        } else if apply {
            self.record_intents(wanted, &mut plan).await;
            outcome.applied =
                apply::apply(&self.tidb, &self.clouds, &plan, self.apply_window).await;
            self.record_results(wanted, &outcome.applied).await;
            for c in outcome.applied.iter().filter_map(|a| a.connection.as_ref()) {
                self.connections.record(c.clone());
            }
            let ledger_gone = self.ledger_gone(&outcome.applied);
            let failed = self.errors.after_apply(
                &outcome.applied,
                &plan,
                &mut self.gone,
                |id| ledger_gone.contains_key(id),
                &generations,
                Instant::now(),
            );
            outcome.held.extend(failed);
            self.give_up_cleanups(&outcome.applied, &ledger_gone);
        }
        outcome.plan = plan;
        outcome
    }

    /// What another writer changed (`state forget`; the last leader of a group), before
    /// anything relies on it. False when the ledger had to be read (this daemon has just
    /// become leader) and could not be: then the pass may not act.
    async fn read_ledger_again(&mut self, outcome: &mut PassOutcome) -> bool {
        let required = std::mem::take(&mut self.reread_ledger);
        let read = if required {
            self.ledger.reload().await.map(|()| true)
        } else {
            // Failing, it is tried again next pass: what is in memory is this daemon's own.
            self.ledger.reload_if_changed().await
        };
        match read {
            Ok(_) => true,
            Err(e) => {
                self.reread_ledger = required;
                outcome.observe_errors += 1;
                if required {
                    tracing::warn!("cannot read the ledger, so nothing is done this pass: {e}");
                } else {
                    tracing::warn!("cannot read the ledger again: {e}");
                }
                !required
            }
        }
    }

    /// What each valid document says of its policy and file, remembered for its removal.
    fn remember_documents(&mut self, wanted: &[Wanted]) {
        for w in wanted {
            let name = w.doc.metadata.name.as_str();
            let policy = w.doc.spec.deletion_policy;
            let known = self.last_seen.get(name);
            if known.is_none_or(|s| s.policy != policy || s.file != w.file) {
                let seen = LastSeen {
                    policy,
                    file: w.file.clone(),
                };
                self.last_seen.insert(name.to_string(), seen);
            }
        }
    }
}
