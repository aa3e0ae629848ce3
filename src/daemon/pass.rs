//! One pass of the daemon, top to bottom: the files, what they want, the engine's pass
//! (observe, plan, apply), the report. `Daemon::pass` reads as that list; each step is a
//! function below it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tracing::{error, info};

use super::{Daemon, PassSummary, memory, state};
use crate::control::Observation;
use crate::plan::{Phase, Policy};
use crate::reconcile::{Frozen, PassOutcome, Wanted};
use crate::report::Places;
use crate::source::{Catalog, SpecFile, relative};

/// What the endpoint files ask of a pass: the valid documents, and what invalid entries
/// freeze. Kept while the catalog holds the very same files (most passes read nothing), so a
/// converged pass builds no `Wanted` and copies no path.
#[derive(Debug, Default)]
pub struct Inputs {
    files: Vec<Arc<SpecFile>>,
    pub wanted: Arc<Vec<Wanted>>,
    pub frozen: Frozen,
}

impl Inputs {
    fn of(catalog: &Catalog, root: &Path) -> Inputs {
        let rel = |p: &Path| relative(root, p);
        let mut wanted = Vec::new();
        let mut frozen = Frozen::default();
        for file in &catalog.files {
            if file.is_valid() {
                wanted.extend(file.documents.iter().map(|d| {
                    Wanted::from_arc(d.spec.clone(), rel(&file.path), Some(d.generation.clone()))
                }));
            } else if file.directory {
                frozen.dirs.insert(rel(&file.path));
            } else {
                frozen.files.insert(rel(&file.path));
                frozen.names.extend(file.mentions.iter().cloned());
            }
        }
        Inputs {
            files: catalog.files.clone(),
            wanted: Arc::new(wanted),
            frozen,
        }
    }

    /// Made from exactly these files (the same shared entries, not equal copies).
    fn made_from(&self, catalog: &Catalog) -> bool {
        self.files.len() == catalog.files.len()
            && self
                .files
                .iter()
                .zip(&catalog.files)
                .all(|(a, b)| Arc::ptr_eq(a, b))
    }
}

impl Daemon {
    /// Reads the endpoint files, runs one pass, and (when applying) reports it.
    pub async fn pass(&mut self, apply: bool) -> PassSummary {
        if let Some(standby) = self.standby_pass() {
            return standby;
        }
        let started = Instant::now();
        let writes_before = self.reporter.writes();
        let catalog = self.read_endpoints();
        let inputs = self.inputs(&catalog);
        let policy = self.policy(&inputs.wanted);
        self.retry_what_was_asked(&inputs.wanted);
        let known = self.engine.scopes().len();
        let (wanted, frozen) = (&inputs.wanted, &inputs.frozen);
        let outcome = self.engine.pass(wanted, frozen, &policy, apply).await;
        self.remember_scopes(known);
        let mut summary = PassSummary::of(&catalog, &outcome);
        if apply {
            summary.phases = self.report(&catalog, &outcome, &summary, started);
        }
        summary.status_writes = self.reporter.writes();
        if summary.status_writes - writes_before >= memory::TRIM_AFTER_WRITES {
            memory::release_free();
        }
        summary.observation = Some(self.publish(outcome.seen, apply));
        summary.wanted = inputs.wanted.clone();
        summary.plan = outcome.plan;
        summary
    }

    /// The endpoint files as of now: only what the watcher says changed is read again; the
    /// whole directory at start, every `fullResync`, after watcher trouble, or always when
    /// nothing watches it.
    pub(super) fn read_endpoints(&mut self) -> Catalog {
        let changes = std::mem::take(&mut *self.changes.lock().unwrap_or_else(|e| e.into_inner()));
        let due = self
            .last_rescan
            .is_none_or(|at| at.elapsed() >= self.settings.file.full_resync.0);
        if self.watcher.is_none() || changes.rescan || due {
            let read = self.tree.rescan().map_err(|e| format!("{e:#}"));
            if read.as_ref().err() != self.read_error.as_ref() {
                // Said once each time it changes, not every pass.
                match &read {
                    Err(e) => error!("cannot read the endpoints directory: {e}"),
                    Ok(()) => info!("the endpoints directory can be read again"),
                }
                self.read_error = read.err();
            }
            self.last_rescan = Some(Instant::now());
        } else if !changes.paths.is_empty() {
            self.tree.refresh(changes.paths);
        }
        self.tree.catalog()
    }

    /// What the files want: the last pass's, if they are the same files.
    fn inputs(&mut self, catalog: &Catalog) -> Arc<Inputs> {
        if !self.inputs.made_from(catalog) {
            self.inputs = Arc::new(Inputs::of(catalog, &self.settings.file.endpoints_dir));
        }
        self.inputs.clone()
    }

    fn policy(&self, wanted: &[Wanted]) -> Policy {
        Policy {
            owner_id: self.settings.file.owner_id.clone(),
            max_deletes_per_pass: self.settings.file.prune.max_deletes_per_pass,
            allow_mass_delete: self.allow_mass_delete,
            // No valid document at all looks like a checkout gone wrong or a mount missing.
            source_empty: wanted.is_empty(),
            approved: self.lock_approvals().approved().clone(),
            max_recreates_per_pass: self.settings.file.prune.max_recreates_per_pass,
        }
    }

    /// Retries people asked for (`privatelinkd retry`) since the last pass.
    fn retry_what_was_asked(&mut self, wanted: &[Wanted]) {
        let asked = self
            .retries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if !asked.is_empty() {
            info!("retrying now, as asked: {}", asked.join(", "));
            self.engine.retry_now(&asked, wanted);
        }
    }

    /// The accounts and regions the engine lists, remembered across restarts when it found
    /// one it had not `known`. (Not a wrapper around the engine's pass: one more `async`
    /// level takes the pass's future past the compiler's layout depth.)
    fn remember_scopes(&self, known: usize) {
        if let Some(dir) = &self.settings.file.state_dir
            && self.engine.scopes().len() != known
        {
            state::save_scopes(dir, self.engine.scopes());
        }
    }

    /// Status files, metrics, what the guard holds, readiness. Returns the phases shown.
    fn report(
        &mut self,
        catalog: &Catalog,
        outcome: &PassOutcome,
        summary: &PassSummary,
        started: Instant,
    ) -> Arc<BTreeMap<String, Phase>> {
        let places = Places {
            endpoints_dir: &self.settings.file.endpoints_dir,
            status_dir: self.settings.file.status_dir.as_deref(),
            config: &self.settings.path,
        };
        let phases = self
            .reporter
            .report(places, catalog, outcome, &self.metrics);
        self.lock_approvals()
            .after_pass(&outcome.plan, &self.settings.path);
        // Departures only, as the metric's name says; held re-creations have their own gauge.
        let departures = outcome
            .plan
            .all()
            .filter(|p| p.held_by_guard && p.leaving.is_some());
        self.metrics.set_deletions_held_back(departures.count());
        self.retries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .after_pass(&phases);
        let invalid = summary.invalid_files;
        self.metrics
            .set_config_files(catalog.files.len() - invalid, invalid);
        self.metrics
            .set_last_full_listing(self.engine.last_full_listing());
        self.metrics.refresh_budget();
        let blocked = crate::metrics::Guards {
            deletions: outcome.plan.deletions_blocked.is_some(),
            creations: outcome.plan.creations_blocked.is_some(),
        };
        self.metrics
            .record_pass(summary.is_clean(), started.elapsed(), blocked);
        let ledger = self.engine.ledger();
        let rebuilding = matches!(ledger.health(), crate::ledger::Health::Rebuilding(_));
        self.metrics.set_ledger(ledger.len(), rebuilding);
        if summary.observe_errors == 0
            && let Ok(mut r) = self.readiness.lock()
        {
            r.last_full_observe = Some(Instant::now());
        }
        phases
    }

    /// What was seen, for `plan --from` (served only by a pass that applies).
    fn publish(
        &mut self,
        seen: rustc_hash::FxHashMap<Arc<str>, crate::reconcile::Sighting>,
        apply: bool,
    ) -> Arc<Observation> {
        // Moved, not copied: the listener serves it until the next pass replaces it.
        let observation = Arc::new(Observation {
            owner_id: self.settings.file.owner_id.clone(),
            seen,
        });
        if apply {
            *self.observation.lock().unwrap_or_else(|e| e.into_inner()) = Some(observation.clone());
        }
        observation
    }
}

impl PassSummary {
    /// The counts of a pass; what it showed and planned are filled in after.
    fn of(catalog: &Catalog, outcome: &PassOutcome) -> PassSummary {
        let failed = outcome.applied.iter().filter(|a| a.result.is_err()).count();
        PassSummary {
            actions_ok: outcome.applied.len() - failed,
            actions_failed: failed,
            observe_errors: outcome.observe_errors,
            listing_pages: outcome.listing_pages,
            invalid_files: catalog.files.iter().filter(|f| !f.is_valid()).count(),
            ..PassSummary::default()
        }
    }
}
