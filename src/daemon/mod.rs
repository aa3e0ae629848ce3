//! The daemon: files -> pass -> report, on change, on a timer, until told to stop.
//!
//! One loop owns all state and reacts to one closed set of events; a pass runs inside the loop
//! but stays interruptible by a stop signal, after which in-flight calls get a bounded drain.
//! Wiring is in `clouds.rs`, what wakes the loop in `watch.rs` and `signals.rs`, what survives
//! restarts in `state.rs`.

mod clouds;
mod group;
mod memory;
mod pass;
mod reload;
mod run;
mod serve;
mod signals;
mod state;
mod watch;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::info;

use crate::cloud::any::{AnyEc2, AnyGcp, AnyTidb};
use crate::cloud::budget::Budgeted;
use crate::control::{Approvals, Event, Observation, Readiness, RetryRequests};
use crate::metrics::Metrics;
use crate::plan::{Phase, Plan};
use crate::probe::{ProbeConfig, Prober};
use crate::reconcile::{Engine, Wanted};
use crate::report::Reporter;
use crate::settings::Settings;
use crate::source::Tree;
use crate::systemd::Notifier;

pub use clouds::{Clouds, Member, StartError, build_clouds, build_clouds_reusing};
pub use group::lock_state_dir;
pub use signals::forward_signals;
pub use state::{claim_owner, open_ledger, read_ledger};
pub use watch::{Changes, Watcher, watch};

/// After a pass that changed something, look again this soon.
const AFTER_CHANGE: Duration = Duration::from_secs(1);
/// How long in-flight calls may finish after SIGTERM before the daemon exits anyway.
pub const DRAIN: Duration = Duration::from_secs(10);
/// Without a first pass by then, systemd is told READY anyway (the pass goes on).
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

/// What one pass amounted to.
#[derive(Debug, Clone, Default)]
pub struct PassSummary {
    pub plan: Plan,
    /// What each endpoint shows after the pass (empty when not applying).
    pub phases: Arc<std::collections::BTreeMap<String, Phase>>,
    /// TiDB Cloud listing pages read (what spaces passes apart).
    pub listing_pages: usize,
    /// A standby's pass: what it says instead of phases (`standby (leader: HOLDER)`).
    pub role: Option<String>,
    /// What was observed of each desired endpoint, and the documents planned (for `plan`).
    pub observation: Option<Arc<Observation>>,
    pub wanted: Arc<Vec<Wanted>>,
    pub actions_ok: usize,
    pub actions_failed: usize,
    pub observe_errors: usize,
    pub invalid_files: usize,
    pub status_writes: u64,
}

impl PassSummary {
    pub fn is_clean(&self) -> bool {
        self.actions_failed == 0 && self.observe_errors == 0
    }

    fn settled(&self) -> bool {
        self.plan
            .endpoints
            .iter()
            .all(|p| !p.phase.is_transitional() || p.waits_for_cluster())
            && self.plan.removals.is_empty()
    }
}

/// The reachability prober the settings ask for.
fn prober(settings: &Settings) -> Option<Prober> {
    let p = &settings.file.probe;
    p.enabled.then(|| {
        Prober::new(ProbeConfig {
            timeout: p.timeout.0,
            every: p.every.0,
            per_second: p.per_second,
        })
    })
}

/// The daemon's state between passes.
pub struct Daemon {
    settings: Settings,
    engine: Engine<Budgeted<AnyTidb>, Budgeted<AnyEc2>, Budgeted<AnyGcp>>,
    reporter: Reporter,
    allow_mass_delete: bool,
    metrics: Arc<Metrics>,
    readiness: Arc<Mutex<Readiness>>,
    /// The endpoint files as last read.
    tree: Tree,
    /// What the watcher saw since the last pass.
    changes: Arc<Mutex<Changes>>,
    last_rescan: Option<std::time::Instant>,
    /// Why the endpoints directory could not be read, as last said.
    read_error: Option<String>,
    /// What the mass-deletion guard holds back, and what a person approved (shared with the
    /// HTTP listener, which answers and approves without waiting for the loop).
    approvals: Arc<Mutex<Approvals>>,
    /// Retries people asked for (`privatelinkd retry`), shared with the HTTP listener too.
    retries: Arc<Mutex<RetryRequests>>,
    notifier: Arc<Notifier>,
    /// Where watcher and listener send their events (set by `start`).
    events: Option<mpsc::Sender<Event>>,
    server: Option<serve::Server>,
    /// Kept alive: dropping it stops watching.
    watcher: Option<Watcher>,
    /// With leader election: the elector, and this daemon's part in the group.
    election: Option<crate::lease::Election>,
    member: Option<Member>,
    /// The term of the leadership this daemon last acted in (`None`: standing by).
    led_term: Option<u64>,
    /// The latest pass's observation, served to `plan --from`.
    observation: Arc<Mutex<Option<Arc<Observation>>>>,
    /// What the files asked for in the last pass, kept while they are the same files.
    inputs: Arc<pass::Inputs>,
}

impl Daemon {
    pub fn new(
        settings: Settings,
        clouds: Clouds,
        allow_mass_delete: bool,
        metrics: Arc<Metrics>,
    ) -> Daemon {
        let tidb_rate = clouds.tidb.rates().tidb.per_second;
        let mut engine = Engine::new(
            clouds.tidb,
            clouds.ec2,
            clouds.gcp,
            settings.file.owner_id.clone(),
        );
        engine.set_azure(clouds.azure);
        engine.set_apply_window(settings.file.settle_interval.0);
        engine.set_tidb_pace(settings.file.full_resync.0, tidb_rate);
        engine.set_prober(prober(&settings));
        // Without a stateDir there is nothing to remember; `run` says what that costs.
        if let Some(dir) = &settings.file.state_dir {
            engine.remember_scopes(state::load_scopes(dir));
        }
        let interval = settings.interval();
        metrics.set_interval(interval);
        metrics.set_endpoint_detail(settings.file.metrics.endpoint_detail);
        let tree = Tree::new(settings.file.endpoints_dir.clone());
        Daemon {
            settings,
            engine,
            reporter: Reporter::default(),
            allow_mass_delete,
            readiness: Arc::new(Mutex::new(Readiness::new(interval))),
            metrics,
            tree,
            changes: Arc::default(),
            last_rescan: None,
            read_error: None,
            approvals: Arc::new(Mutex::new(Approvals::default())),
            retries: Arc::new(Mutex::new(RetryRequests::default())),
            notifier: Arc::new(Notifier::none()),
            events: None,
            server: None,
            watcher: None,
            election: None,
            member: None,
            led_term: Some(0),
            observation: Arc::default(),
            inputs: Arc::default(),
        }
    }

    /// Where identity is kept; says loudly when it had to be rebuilt.
    pub fn set_ledger(&mut self, ledger: crate::ledger::Ledger) {
        match ledger.health() {
            crate::ledger::Health::Rebuilding(why) => tracing::error!(
                "{why}. Until every endpoint has been seen again, an endpoint whose tags were \
                 removed by hand is not known to be ours; nothing is deleted because of the loss"
            ),
            crate::ledger::Health::New => {
                info!("a new ledger: it fills from the owner tags of the endpoints found")
            }
            crate::ledger::Health::Loaded => {
                info!(entries = ledger.len(), "ledger read")
            }
        }
        self.engine.set_ledger(ledger);
    }

    /// Tells systemd through `notifier` (the daemon is silent without one).
    pub fn with_notifier(mut self, notifier: Notifier) -> Daemon {
        self.notifier = Arc::new(notifier);
        self
    }

    /// Takes over the endpoints tagged with another owner (`run --reown-from`).
    pub fn reown_from(&mut self, old_owner: Option<String>) {
        if let Some(old) = &old_owner {
            info!("taking over the endpoints of ownerId `{old}` that documents name");
        }
        self.engine.set_reown_from(old_owner);
    }

    /// What the HTTP listener reads and approves.
    pub fn approvals(&self) -> Arc<Mutex<Approvals>> {
        self.approvals.clone()
    }

    /// What the HTTP listener asks retries of.
    pub fn retries(&self) -> Arc<Mutex<RetryRequests>> {
        self.retries.clone()
    }

    /// When to pass again after `last`: soon while things move, every interval once settled.
    /// (TiDB Cloud's budget paces itself: see `reconcile::connections`.)
    pub fn next_pass_in(&self, last: &PassSummary) -> Duration {
        let interval = self.settings.interval();
        if last.actions_ok + last.actions_failed > 0 {
            AFTER_CHANGE
        } else if !last.settled() {
            self.settings.file.settle_interval.0.min(interval)
        } else {
            interval
        }
    }

    /// Status files written since start (a converged pass writes none).
    pub fn status_writes(&self) -> u64 {
        self.reporter.writes()
    }

    /// Ledger flushes since start (a converged pass makes none), and its size.
    pub fn ledger_writes(&self) -> (u64, usize) {
        let ledger = self.engine.ledger();
        (ledger.writes(), ledger.len())
    }

    /// The simulated world in use, if any provider is simulated.
    fn simulated(&self) -> Option<crate::cloud::sim::SimCloud> {
        match (self.engine.tidb().inner(), self.engine.ec2().inner()) {
            (AnyTidb::Simulated(sim), _) | (_, AnyEc2::Simulated(sim)) => Some(sim.clone()),
            _ => None,
        }
    }

    fn lock_approvals(&self) -> std::sync::MutexGuard<'_, Approvals> {
        // Approvals are plain data; a panic elsewhere while holding the lock leaves them usable.
        self.approvals.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What `/readyz` reads.
    pub fn readiness(&self) -> Arc<Mutex<Readiness>> {
        self.readiness.clone()
    }
}
