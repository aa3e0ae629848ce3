//! One pass: observe the cloud in batches, plan (pure), hold back what is in backoff, apply,
//! and hand back everything the report needs.
//!
//! ```text
//!  wanted documents --observe.rs--> Observed per endpoint + leftovers
//!                   --plan::plan--> Plan (pure)
//!                   --backoff.rs--> Plan minus the actions of endpoints in backoff
//!                   --apply.rs----> Applied results (and new backoffs)
//! ```

mod apply;
mod backoff;
mod observe;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

// tokio's clock, so that tests can run the engine on virtual time.
use tokio::time::Instant;

use crate::cloud::{Cluster, Connection, Ec2, Scope, Service, TidbCloud, VpcEndpoint};
use crate::plan::{self, Desired, LastSeen, Plan, Policy};
use crate::spec::{self, EndpointDocument};

pub use apply::Applied;
pub use backoff::Held;
use backoff::{Backoffs, FAILED_RETRY};

/// Cluster facts hardly change; re-read them this often.
const CLUSTER_TTL: Duration = Duration::from_secs(3600);
/// An Active service is re-read this often (a Creating one every pass).
const SERVICE_TTL: Duration = Duration::from_secs(3600);

/// One desired endpoint as the daemon hands it over: the document and its file.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub doc: EndpointDocument,
    /// Relative to the endpoints directory.
    pub file: String,
    /// `spec::generation` of `doc`: a changed document gets a fresh start after failures.
    pub generation: String,
}

impl Wanted {
    pub fn new(doc: EndpointDocument, file: impl Into<String>) -> Wanted {
        Wanted {
            generation: spec::generation(&doc),
            doc,
            file: file.into(),
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
    /// Per desired endpoint name: what was observed (for the status file).
    pub seen: BTreeMap<String, Seen>,
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
    backoff: Backoffs,
    /// What the latest valid document of each endpoint said, since start: a removal does what
    /// it said, even if writing the tags that say so has not happened yet.
    last_seen: HashMap<String, LastSeen>,
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
            backoff: Backoffs::default(),
            last_seen: HashMap::new(),
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
    /// `frozen` says what invalid or unreadable entries of the endpoints directory hold: the
    /// endpoints they name or came from are left alone.
    pub async fn pass(
        &mut self,
        wanted: &[Wanted],
        frozen: &Frozen,
        policy: &Policy,
        apply: bool,
    ) -> PassOutcome {
        for w in wanted {
            let seen = LastSeen {
                policy: w.doc.spec.deletion_policy,
                file: w.file.clone(),
            };
            self.last_seen.insert(w.doc.metadata.name.to_string(), seen);
        }
        let mut outcome = PassOutcome::default();
        let (observed, leftovers) = self.observe(wanted, frozen, &mut outcome).await;
        let desired: Vec<(Desired<'_>, plan::Observed)> = wanted
            .iter()
            .zip(observed)
            .map(|(w, o)| {
                let d = Desired {
                    doc: &w.doc,
                    file: &w.file,
                };
                (d, o)
            })
            .collect();
        let mut plan = plan::plan(&desired, &leftovers, policy);

        // What each plan is for, so that a changed document starts afresh after failures:
        // a desired endpoint's generation, or the endpoint a removal removes.
        let mut generations: HashMap<String, String> = wanted
            .iter()
            .map(|w| (w.doc.metadata.name.to_string(), w.generation.clone()))
            .collect();
        for l in &leftovers {
            let name = plan::ownership::name_of(&l.endpoint).to_string();
            generations
                .entry(name)
                .or_insert_with(|| format!("removal of {}", l.endpoint.id));
        }
        let generation = |name: &str| generations.get(name).cloned().unwrap_or_default();
        outcome.held = self
            .backoff
            .hold_back(&mut plan, generation, Instant::now());

        if apply {
            outcome.applied = apply::apply(&self.tidb, &self.ec2, &plan, self.apply_window).await;
            for a in &outcome.applied {
                match &a.result {
                    Ok(()) => self.backoff.succeeded(&a.name),
                    Err(e) => {
                        let held = self.backoff.failed(
                            &a.name,
                            generation(&a.name),
                            a.kind,
                            e,
                            Instant::now(),
                        );
                        outcome.held.insert(a.name.clone(), held);
                    }
                }
            }
        }
        outcome.plan = plan;
        outcome
    }
}

fn scope_of(doc: &EndpointDocument) -> Scope {
    Scope {
        account: doc.spec.aws.account.to_string(),
        region: doc.spec.aws.region.to_string(),
    }
}
