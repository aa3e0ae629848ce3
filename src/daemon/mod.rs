//! The daemon: files -> pass -> report, on change, on a timer, until told to stop.
//!
//! One loop owns all state and reacts to one closed set of events; a pass runs inside the loop
//! but stays interruptible by a stop signal, after which in-flight calls get a bounded drain.
//! Wiring is in `clouds.rs`, what wakes the loop in `watch.rs` and `signals.rs`, what survives
//! restarts in `state.rs`.

mod clouds;
mod signals;
mod state;
mod watch;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::cloud::any::{AnyEc2, AnyTidb};
use crate::cloud::budget::Budgeted;
use crate::metrics::Metrics;
use crate::plan::{Phase, Plan, Policy};
use crate::reconcile::{Engine, Wanted};
use crate::report::{self, Places, Reporter};
use crate::settings::Settings;
use crate::source::{Catalog, FileCache};
use crate::systemd;

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
        }
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
        let mut frozen = BTreeSet::new();
        for file in &catalog.files {
            if file.is_valid() {
                wanted.extend(file.documents.iter().map(|d| Wanted {
                    doc: d.spec.clone(),
                    file: rel(&file.path),
                    generation: d.generation.clone(),
                }));
            } else {
                frozen.insert(rel(&file.path));
            }
        }
        let policy = Policy {
            owner_id: self.settings.file.owner_id.clone(),
            max_deletes_per_pass: self.settings.file.prune.max_deletes_per_pass,
            allow_mass_delete: self.allow_mass_delete,
            source_empty: catalog.files.is_empty(),
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
            invalid_files: frozen.len(),
            ..PassSummary::default()
        };
        if apply {
            let places = Places {
                endpoints_dir: &root,
                status_dir: self.settings.file.status_dir.as_deref(),
            };
            summary.phases = self
                .reporter
                .report(places, &catalog, &outcome, &self.metrics);
            let valid = catalog.files.len() - frozen.len();
            self.metrics.set_config_files(valid, frozen.len());
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

    /// Re-reads the config file; a bad one is reported and the old one kept.
    fn reload(&mut self) {
        systemd::reloading();
        let result = Settings::load(&self.settings.path);
        systemd::ready("configuration reloaded");
        match result {
            Ok(new) => {
                self.engine.set_owner(&new.file.owner_id);
                self.engine.set_apply_window(new.file.settle_interval.0);
                if let Ok(mut r) = self.readiness.lock() {
                    r.interval = new.interval();
                }
                self.metrics.set_interval(new.interval());
                self.settings = new;
                info!("configuration reloaded");
            }
            Err(problems) => {
                for p in problems {
                    error!("{p}");
                }
                warn!("the new configuration is invalid; keeping the old one");
            }
        }
    }

    /// Runs until a stop event; passes on start, on file changes, on reload, and on a timer.
    pub async fn run(mut self, mut events: mpsc::Receiver<Event>) -> PassSummary {
        let mut next = Instant::now();
        let mut last = PassSummary::default();
        // The watchdog is fed by this loop, so a wedged loop is restarted by systemd.
        let watchdog_period = systemd::watchdog_period().unwrap_or(Duration::from_secs(3600));
        let mut watchdog = tokio::time::interval(watchdog_period);
        let startup_deadline = Instant::now() + STARTUP_LIMIT;
        let mut ready = false;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(next) => {}
                _ = watchdog.tick() => { systemd::watchdog(); continue; }
                event = events.recv() => match event {
                    Some(Event::Stop) | None => break,
                    Some(Event::Reload) => self.reload(),
                    Some(Event::FilesChanged) => {}
                    Some(Event::Ping(reply)) => { let _ = reply.send(()); continue; }
                },
            }
            let mut again = false;
            let mut stop = false;
            let mut reload = false;
            {
                let pass = self.pass(true);
                tokio::pin!(pass);
                loop {
                    tokio::select! {
                        summary = &mut pass => { last = summary; break; }
                        _ = watchdog.tick() => systemd::watchdog(),
                        () = tokio::time::sleep_until(startup_deadline), if !ready => {
                            ready = true;
                            systemd::ready("the first pass is taking long; serving anyway");
                        }
                        event = events.recv() => match event {
                            Some(Event::Stop) | None => {
                                stop = true;
                                systemd::stopping();
                                // In-flight calls may finish, within bounds.
                                if let Ok(summary) = tokio::time::timeout(DRAIN, &mut pass).await {
                                    last = summary;
                                }
                                break;
                            }
                            Some(Event::Reload) => { reload = true; again = true; }
                            Some(Event::FilesChanged) => again = true,
                            Some(Event::Ping(reply)) => { let _ = reply.send(()); }
                        },
                    }
                }
            }
            if stop {
                break;
            }
            let summary = report::summary_line(&last.phases, last.invalid_files, &last.plan);
            if ready {
                systemd::status(&summary);
            } else {
                ready = true;
                systemd::ready(&summary);
            }
            if reload {
                self.reload();
            }
            let delay = if again {
                Duration::ZERO
            } else {
                self.next_pass_in(&last)
            };
            next = Instant::now() + delay;
        }
        systemd::stopping();
        info!("stopped");
        last
    }
}
