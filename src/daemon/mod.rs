//! The daemon: files -> pass -> report, on change, on a timer, until told to stop.
//!
//! One loop owns all state and reacts to one closed set of events; a pass runs inside the loop
//! but stays interruptible by a stop signal, after which in-flight calls get a bounded drain.
//! Wiring is in `clouds.rs`, what wakes the loop in `watch.rs` and `signals.rs`, what survives
//! restarts in `state.rs`.

mod approval;
mod clouds;
mod run;
mod signals;
mod state;
mod watch;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tracing::{error, warn};

use crate::cloud::any::{AnyEc2, AnyTidb};
use crate::cloud::budget::Budgeted;
use crate::metrics::Metrics;
use crate::plan::{Phase, Plan, Policy};
use crate::reconcile::{Engine, Frozen, Wanted};
use crate::report::{Places, Reporter};
use crate::settings::Settings;
use crate::source::{Catalog, FileCache};
use crate::systemd::Notifier;

pub use approval::{Approvals, HeldBack};
pub use clouds::{Clouds, StartError, build_clouds};
pub use signals::forward_signals;
pub use watch::watch;

/// After a pass that changed something, look again this soon.
const AFTER_CHANGE: Duration = Duration::from_secs(1);
/// How long in-flight calls may finish after SIGTERM before the daemon exits anyway.
pub const DRAIN: Duration = Duration::from_secs(10);
/// Without a first pass by then, systemd is told READY anyway (the pass goes on).
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

/// Everything that makes the loop act.
#[derive(Debug)]
pub enum Event {
    /// Endpoint files changed (debounced).
    FilesChanged,
    /// SIGHUP: re-read the daemon config, then resync.
    Reload,
    /// SIGTERM / SIGINT.
    Stop,
    /// `/healthz`: the loop answers, proving it is not stuck.
    Ping(oneshot::Sender<()>),
    /// Deletions were approved (`POST /v1/deletions/approve`): pass now.
    Approved,
}

/// What `/readyz` decides on, updated by the loop after each pass.
#[derive(Debug, Clone)]
pub struct Readiness {
    /// When the last pass that observed everything ended (`None` before the first).
    pub last_full_observe: Option<std::time::Instant>,
    pub interval: Duration,
}

impl Readiness {
    pub fn new(interval: Duration) -> Self {
        Readiness {
            last_full_observe: None,
            interval,
        }
    }

    /// Ready once a full pass completed, and while the last full observe is recent.
    pub fn check(&self) -> Result<(), String> {
        let Some(at) = self.last_full_observe else {
            return Err("the first full pass has not completed yet".into());
        };
        let age = at.elapsed();
        let limit = self.interval * 3;
        if age > limit {
            return Err(format!(
                "the last complete observation is {}s old (more than 3 intervals, {}s)",
                age.as_secs(),
                limit.as_secs()
            ));
        }
        Ok(())
    }
}

/// What one pass amounted to.
#[derive(Debug, Clone, Default)]
pub struct PassSummary {
    pub plan: Plan,
    /// What each endpoint shows after the pass (empty when not applying).
    pub phases: std::collections::BTreeMap<String, Phase>,
    /// TiDB Cloud listing pages read (what spaces passes apart).
    pub listing_pages: usize,
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
            .all(|p| !p.phase.is_transitional())
            && self.plan.removals.is_empty()
    }
}

/// The daemon's state between passes.
pub struct Daemon {
    settings: Settings,
    engine: Engine<Budgeted<AnyTidb>, Budgeted<AnyEc2>>,
    reporter: Reporter,
    allow_mass_delete: bool,
    metrics: Arc<Metrics>,
    readiness: Arc<Mutex<Readiness>>,
    /// TiDB Cloud requests per second the gate allows (on the simulated clock when simulated).
    tidb_rate: f64,
    /// Endpoint files as last parsed.
    files: FileCache,
    /// What the mass-deletion guard holds back, and what a person approved (shared with the
    /// HTTP listener, which answers and approves without waiting for the loop).
    approvals: Arc<Mutex<Approvals>>,
    notifier: Arc<Notifier>,
}

impl Daemon {
    pub fn new(
        settings: Settings,
        clouds: Clouds,
        allow_mass_delete: bool,
        metrics: Arc<Metrics>,
    ) -> Daemon {
        let tidb_rate = clouds.tidb.rates().tidb.per_second;
        let mut engine = Engine::new(clouds.tidb, clouds.ec2, settings.file.owner_id.clone());
        engine.set_apply_window(settings.file.settle_interval.0);
        match &settings.file.state_dir {
            Some(dir) => engine.remember_scopes(state::load_scopes(dir)),
            None => warn!(
                "no stateDir: a region whose last endpoint file is removed while privatelinkd is down is not cleaned up"
            ),
        }
        let interval = settings.interval();
        metrics.set_interval(interval);
        Daemon {
            settings,
            engine,
            reporter: Reporter::default(),
            allow_mass_delete,
            readiness: Arc::new(Mutex::new(Readiness::new(interval))),
            metrics,
            tidb_rate,
            files: FileCache::default(),
            approvals: Arc::new(Mutex::new(Approvals::default())),
            notifier: Arc::new(Notifier::none()),
        }
    }

    /// Tells systemd through `notifier` (the daemon is silent without one).
    pub fn with_notifier(mut self, notifier: Notifier) -> Daemon {
        self.notifier = Arc::new(notifier);
        self
    }

    /// What the HTTP listener reads and approves.
    pub fn approvals(&self) -> Arc<Mutex<Approvals>> {
        self.approvals.clone()
    }

    /// When to pass again after `last`: soon while things move, every interval once settled,
    /// and never so often that listings take more than half of TiDB Cloud's budget (a pass
    /// over N endpoints lists ceil(N/100) pages; the budget is shared with registrations).
    pub fn next_pass_in(&self, last: &PassSummary) -> Duration {
        let interval = self.settings.interval();
        let wanted = if last.actions_ok + last.actions_failed > 0 {
            AFTER_CHANGE
        } else if !last.settled() {
            self.settings.file.settle_interval.0.min(interval)
        } else {
            interval
        };
        let listing_floor =
            Duration::from_secs_f64(2.0 * last.listing_pages as f64 / self.tidb_rate);
        wanted.max(listing_floor.min(interval))
    }

    /// Status files written since start (a converged pass writes none).
    pub fn status_writes(&self) -> u64 {
        self.reporter.writes()
    }

    fn lock_approvals(&self) -> std::sync::MutexGuard<'_, Approvals> {
        // Approvals are plain data; a panic elsewhere while holding the lock leaves them usable.
        self.approvals.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What `/readyz` reads.
    pub fn readiness(&self) -> Arc<Mutex<Readiness>> {
        self.readiness.clone()
    }

    /// Reads the endpoint files, runs one pass, and (when applying) reports it.
    pub async fn pass(&mut self, apply: bool) -> PassSummary {
        let started = std::time::Instant::now();
        let root = self.settings.file.endpoints_dir.clone();
        let catalog = match Catalog::read_cached(std::slice::from_ref(&root), &mut self.files) {
            Ok(c) => c,
            Err(e) => {
                error!("cannot read the endpoints directory: {e}");
                Catalog::default()
            }
        };
        let rel = |p: &Path| {
            p.strip_prefix(&root)
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned()
        };
        let mut wanted = Vec::new();
        let mut frozen = Frozen::default();
        for file in &catalog.files {
            if file.is_valid() {
                wanted.extend(file.documents.iter().map(|d| Wanted {
                    doc: d.spec.clone(),
                    file: rel(&file.path),
                    generation: d.generation.clone(),
                }));
            } else if file.directory {
                frozen.dirs.insert(rel(&file.path));
            } else {
                frozen.files.insert(rel(&file.path));
                frozen.names.extend(file.mentions.iter().cloned());
            }
        }
        let policy = Policy {
            owner_id: self.settings.file.owner_id.clone(),
            max_deletes_per_pass: self.settings.file.prune.max_deletes_per_pass,
            allow_mass_delete: self.allow_mass_delete,
            // No valid document at all looks like a checkout gone wrong or a mount missing.
            source_empty: wanted.is_empty(),
            approved: self.lock_approvals().approved().clone(),
        };
        let known = self.engine.scopes().len();
        let outcome = self.engine.pass(&wanted, &frozen, &policy, apply).await;
        if let Some(dir) = &self.settings.file.state_dir
            && self.engine.scopes().len() != known
        {
            state::save_scopes(dir, self.engine.scopes());
        }
        let failed = outcome.applied.iter().filter(|a| a.result.is_err()).count();
        let mut summary = PassSummary {
            actions_ok: outcome.applied.len() - failed,
            actions_failed: failed,
            observe_errors: outcome.observe_errors,
            listing_pages: outcome.listing_pages,
            invalid_files: catalog.files.iter().filter(|f| !f.is_valid()).count(),
            ..PassSummary::default()
        };
        if apply {
            let places = Places {
                endpoints_dir: &root,
                status_dir: self.settings.file.status_dir.as_deref(),
                config: &self.settings.path,
            };
            summary.phases = self
                .reporter
                .report(places, &catalog, &outcome, &self.metrics);
            let held = {
                let mut approvals = self.lock_approvals();
                approvals.after_pass(&outcome.plan, &self.settings.path);
                approvals.held().endpoints.len()
            };
            self.metrics.set_deletions_held_back(held);
            let invalid = summary.invalid_files;
            self.metrics
                .set_config_files(catalog.files.len() - invalid, invalid);
            let blocked = outcome.plan.deletions_blocked.is_some();
            self.metrics
                .record_pass(summary.is_clean(), started.elapsed(), blocked);
            if summary.observe_errors == 0
                && let Ok(mut r) = self.readiness.lock()
            {
                r.last_full_observe = Some(std::time::Instant::now());
            }
        }
        summary.status_writes = self.reporter.writes();
        summary.plan = outcome.plan;
        summary
    }
}
