//! The report: the one place that turns a pass's outcome (plan, backoff, apply results) and the
//! last status into what people see: status files, metrics, log lines and systemd's STATUS.
//!
//! What an endpoint shows is decided by [`shown`] alone: the planner's phase and message, a
//! held-back endpoint's failure and next attempt, and the last known phase while observation
//! is incomplete.

mod build;

use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::{error, info, warn};

use crate::cloud::ServiceState;
use crate::diag::Diagnostic;
use crate::metrics::{EndpointInfo, EndpointTable, EndpointView, Metrics};
use crate::plan::{Condition, ConditionStatus, ConditionType, EndpointPlan, Phase, Plan};
use crate::reconcile::{Held, PassOutcome, Seen};
use crate::source::{Catalog, SpecFile, relative};
use crate::status::{
    self, ConditionEntry, ConnectionStatus, EndpointStatus, PscEndpointStatus, ServiceStatus,
    StatusFile, StatusWriter, VpcEndpointStatus,
};
use build::{Built, frozen};

/// What one endpoint shows: its phase and message.
///
/// - held back by the mass-deletion guard: what would happen, why it waits, and the command
///   that releases it (`guard` says the last two);
/// - held back after a failure: the failure, and when it is tried again (Failed if a person
///   must act);
/// - observed only in part: the last known phase (a guess is no news), with the planner's
///   message saying why;
/// - otherwise: what the planner decided.
pub fn shown(
    plan: &EndpointPlan,
    held: Option<&Held>,
    last: Option<&EndpointStatus>,
    context: &Context<'_>,
) -> (Phase, String) {
    let (phase, message) = if plan.held_by_guard {
        let guard = context
            .guard
            .unwrap_or("held back by the mass-deletion guard");
        (plan.phase, format!("{}; {guard}", plan.message))
    } else if let Some(held) = held {
        let phase = if held.permanent {
            Phase::Failed
        } else {
            plan.phase
        };
        let at = humantime::format_rfc3339_seconds(held.retry_at);
        (phase, format!("{}; next attempt at {at}", held.message))
    } else {
        match last {
            Some(last) if plan.uncertain => (last.phase, plan.message.clone()),
            _ => (plan.phase, plan.message.clone()),
        }
    };
    // Commands a message suggests name this daemon's config file.
    let config = format!("--config {}", context.config.display());
    (phase, message.replace("--config FILE", &config))
}

/// What a message needs that the plan does not know.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Why the mass-deletion guard holds departures back, and how to release them.
    pub guard: Option<&'a str>,
    /// The daemon config, for the commands a message tells people to run.
    pub config: &'a Path,
}

/// Writes status files and metric series after each pass, remembering what it showed.
///
/// A status file whose inputs (documents, plans, observations, holds) are the same as in the
/// last pass is the same status: it is not built again, and its endpoints' series are not
/// touched. A converged pass over 10,000 endpoints costs a hash per file, not a status each.
#[derive(Debug, Default)]
pub struct Reporter {
    writer: StatusWriter,
    /// What each status file showed after the last pass, by status file path.
    shown: FxHashMap<PathBuf, Shown>,
    /// Every endpoint's phase, rebuilt only when one changes.
    phases: Arc<BTreeMap<String, Phase>>,
    /// Stale status files are swept once, after the first pass.
    swept: bool,
    /// The problems of each invalid file in the last pass: a file's problems are logged when
    /// they change, not every pass.
    last_problems: FxHashMap<PathBuf, Vec<Diagnostic>>,
}

/// One status file as last shown: not the status itself (that is on disk, and read back
/// only when it is about to change), but what decides whether it must, and its endpoints'
/// series. At 10,000 endpoints, keeping the statuses would be another 20 MB.
#[derive(Debug)]
struct Shown {
    /// A hash of what `status` was made from; `None` for what is rebuilt every pass (invalid
    /// files, files with departures).
    inputs: Option<u64>,
    /// Its endpoints' metric series (kept for the endpoints of a file that turns invalid).
    views: Vec<Arc<EndpointView>>,
    /// The private link services its endpoints use: (cluster ID, node group ID, state).
    services: Vec<(String, String, ServiceState)>,
}

/// Where the endpoint files, their status files and the daemon config are.
#[derive(Debug, Clone, Copy)]
pub struct Places<'a> {
    pub endpoints_dir: &'a Path,
    pub status_dir: Option<&'a Path>,
    /// The daemon config, for the commands a message tells people to run.
    pub config: &'a Path,
}

/// The command that releases the departures the mass-deletion guard holds back.
pub fn release_command(config: &Path, digest: &str) -> String {
    format!(
        "privatelinkd approve-deletions --config {} --digest {digest}",
        config.display()
    )
}

/// What a held-back departure says after its own message.
fn guard_note(plan: &Plan, places: Places<'_>) -> Option<String> {
    let reason = plan.guard_reason()?;
    let digest = plan.held_back_digest()?;
    Some(format!(
        "{reason}; release exactly this set with `{}`",
        release_command(places.config, &digest)
    ))
}

impl Reporter {
    /// Status files written since start (a converged pass writes none).
    pub fn writes(&self) -> u64 {
        self.writer.writes
    }

    /// Logs and counts what was applied; writes one status file per endpoint file (removing
    /// those of vanished files); sets the per-endpoint metric series. Returns the phases
    /// shown, endpoint by endpoint.
    pub fn report(
        &mut self,
        places: Places<'_>,
        catalog: &Catalog,
        outcome: &PassOutcome,
        metrics: &Metrics,
    ) -> Arc<BTreeMap<String, Phase>> {
        log_applied(outcome, metrics);
        let guard = guard_note(&outcome.plan, places);
        let context = Context {
            guard: guard.as_deref(),
            config: places.config,
        };
        // Removed documents report into the status file of the file they were last in.
        let mut removals: FxHashMap<PathBuf, Vec<&EndpointPlan>> = FxHashMap::default();
        for p in &outcome.plan.removals {
            let file = p.leaving.as_ref().and_then(|l| l.file.as_deref());
            let path = places.endpoints_dir.join(file.unwrap_or(&p.name));
            removals.entry(path).or_default().push(p);
        }
        let plans: FxHashMap<&str, &EndpointPlan> = outcome
            .plan
            .endpoints
            .iter()
            .map(|p| (p.name.as_str(), &**p))
            .collect();
        let mut keep = FxHashSet::default();
        let mut changed = false;
        for file in &catalog.files {
            log_problems(self.last_problems.get(&file.path), file);
            if file.directory {
                continue;
            }
            let path = status::status_path(&file.path, places.status_dir);
            let removed = removals.remove(&file.path).unwrap_or_default();
            let inputs = inputs(file, &plans, outcome, &removed, &context);
            let same =
                inputs.is_some() && self.shown.get(&path).is_some_and(|s| s.inputs == inputs);
            if !same {
                let previous = self.shown.remove(&path);
                let before = previous.as_ref().map(|p| p.views.clone());
                let display = relative(places.endpoints_dir, &file.path);
                let (status, shown) = if file.is_valid() {
                    let built = Built::new(display, &path);
                    built.valid(file, &plans, outcome, &removed, &context)
                } else {
                    frozen(file, display, previous, &path)
                };
                changed |= self.show(&path, &status, shown, inputs, before.unwrap_or_default());
            }
            keep.insert(path);
        }
        // A file that is gone keeps a status file while its documents' endpoints leave.
        for (file, removed) in removals {
            let path = status::status_path(&file, places.status_dir);
            let display = relative(places.endpoints_dir, &file);
            let before = self.shown.remove(&path).map(|p| p.views);
            let (status, shown) = Built::new(display, &path).departing(&removed, outcome, &context);
            changed |= self.show(&path, &status, shown, None, before.unwrap_or_default());
            keep.insert(path);
        }
        self.remember_problems(catalog);
        let before = self.shown.len();
        self.shown.retain(|p, _| keep.contains(p));
        changed |= self.shown.len() != before;
        self.writer.retain(&keep);
        if changed {
            self.publish(metrics);
        }
        if !self.swept {
            self.swept = true;
            match places.status_dir {
                Some(dir) => status::sweep(dir, false, &keep),
                None => status::sweep(places.endpoints_dir, true, &keep),
            }
        }
        self.phases.clone()
    }

    /// A standby's report: every file's status says who leads and what is wrong with the
    /// file, no endpoint (phases are the leader's to observe); no per-endpoint series.
    pub fn standby(
        &mut self,
        places: Places<'_>,
        catalog: &Catalog,
        role: &str,
        metrics: &Metrics,
    ) {
        let mut keep = FxHashSet::default();
        for file in catalog.files.iter().filter(|f| !f.directory) {
            log_problems(self.last_problems.get(&file.path), file);
            let path = status::status_path(&file.path, places.status_dir);
            let status = StatusFile {
                file: relative(places.endpoints_dir, &file.path),
                standby: Some(role.to_string()),
                errors: file.problems.iter().map(|p| p.to_string()).collect(),
                endpoints: Vec::new(),
            };
            if let Err(e) = self.writer.write(&path, &status) {
                error!("cannot write {}: {e}", path.display());
            }
            keep.insert(path);
        }
        self.remember_problems(catalog);
        self.writer.retain(&keep);
        // What a leader pass showed is stale now: the next one shows every file afresh.
        if !self.shown.is_empty() {
            self.shown.clear();
            self.publish(metrics);
        }
    }

    /// What each invalid file's problems are, so the next pass logs only what changed.
    fn remember_problems(&mut self, catalog: &Catalog) {
        self.last_problems = catalog
            .files
            .iter()
            .filter(|f| !f.is_valid())
            .map(|f| (f.path.clone(), f.problems.clone()))
            .collect();
    }

    /// Writes a status file that may have changed and remembers it. Returns whether its
    /// endpoints' series changed from `before`.
    fn show(
        &mut self,
        path: &Path,
        status: &StatusFile,
        shown: Shown,
        inputs: Option<u64>,
        before: Vec<Arc<EndpointView>>,
    ) -> bool {
        if let Err(e) = self.writer.write(path, status) {
            error!("cannot write {}: {e}", path.display());
        }
        let changed = before != shown.views;
        self.shown
            .insert(path.to_path_buf(), Shown { inputs, ..shown });
        changed
    }

    /// The metrics table and the phases, from every status file shown.
    fn publish(&mut self, metrics: &Metrics) {
        let mut endpoints: Vec<Arc<EndpointView>> = self
            .shown
            .values()
            .flat_map(|s| s.views.iter().cloned())
            .collect();
        endpoints.sort_by(|a, b| a.info.name.cmp(&b.info.name));
        endpoints.dedup_by(|a, b| a.info.name == b.info.name);
        let services: BTreeMap<(&str, &str), ServiceState> = self
            .shown
            .values()
            .flat_map(|s| &s.services)
            .map(|(c, g, state)| ((c.as_str(), g.as_str()), *state))
            .collect();
        let services = services
            .into_iter()
            .map(|((c, g), state)| (c.to_string(), g.to_string(), state))
            .collect();
        self.phases = Arc::new(
            endpoints
                .iter()
                .map(|v| (v.info.name.clone(), v.phase))
                .collect(),
        );
        metrics.set_endpoints(Arc::new(EndpointTable {
            endpoints,
            services,
        }));
    }
}

/// A hash of everything a valid file's status is made from, so that an unchanged one is
/// not built again: what each endpoint's revision stands for (its plan and what was seen,
/// see `reconcile::Sighting`), and what the pass added to it. `None` (build every pass) for
/// invalid files and files with departures.
fn inputs(
    file: &SpecFile,
    plans: &FxHashMap<&str, &EndpointPlan>,
    outcome: &PassOutcome,
    removed: &[&EndpointPlan],
    context: &Context<'_>,
) -> Option<u64> {
    if !file.is_valid() || !removed.is_empty() {
        return None;
    }
    // FxHash: the hash lives in memory for one process, and SipHash over every endpoint's
    // observation was a tenth of a converged pass.
    let mut h = rustc_hash::FxHasher::default();
    (context.guard, context.config).hash(&mut h);
    for d in &file.documents {
        let name = d.spec.metadata.name.as_str();
        (name, &d.generation).hash(&mut h);
        // What the engine made of the endpoint changes its revision; backoff and the guard
        // change only whether it acts (its actions are not shown, whether it is held is).
        let planned = plans.get(name).map(|p| p.held_by_guard);
        let revision = outcome.seen.get(name).map(|s| s.revision);
        (planned, revision).hash(&mut h);
        outcome.held.get(name).hash(&mut h);
    }
    Some(h.finish())
}

/// A file's problems, logged once when they appear or change.
fn log_problems(last: Option<&Vec<Diagnostic>>, file: &SpecFile) {
    if last.map_or(file.is_valid(), |l| *l == file.problems) {
        return;
    }
    for problem in &file.problems {
        warn!("{problem}");
    }
}

/// One log line and one counter per action.
fn log_applied(outcome: &PassOutcome, metrics: &Metrics) {
    for a in &outcome.applied {
        metrics.record_action(a.kind, a.result.is_ok());
        match &a.result {
            Ok(()) => info!(endpoint = %a.name, action = %a.kind, "applied"),
            Err(e) => warn!(endpoint = %a.name, action = %a.kind, "action failed: {e}"),
        }
    }
}

fn log_transition(old: Option<&EndpointStatus>, new: &EndpointStatus) {
    if old.is_some_and(|o| o.phase == new.phase) {
        return;
    }
    if new.message.is_empty() {
        info!(endpoint = %new.name, phase = %new.phase.as_str(), "phase changed");
    } else {
        info!(endpoint = %new.name, phase = %new.phase.as_str(), "phase changed: {}", new.message);
    }
}

/// Phases counted, for one-line summaries.
pub fn phase_counts<'a>(phases: impl IntoIterator<Item = &'a Phase>) -> BTreeMap<Phase, usize> {
    let mut counts = BTreeMap::new();
    for phase in phases {
        *counts.entry(*phase).or_default() += 1;
    }
    counts
}

/// One line for `systemctl status`: how many endpoints in which phase.
pub fn summary_line(phases: &BTreeMap<String, Phase>, invalid_files: usize, plan: &Plan) -> String {
    let counts: Vec<String> = phase_counts(phases.values())
        .iter()
        .map(|(phase, n)| format!("{n} {}", phase.as_str()))
        .collect();
    let mut line = format!("{} endpoint(s)", phases.len());
    if !counts.is_empty() {
        line += &format!(": {}", counts.join(", "));
    }
    if invalid_files > 0 {
        line += &format!("; {invalid_files} invalid file(s)");
    }
    if plan.deletions_blocked.is_some() {
        line += "; deletions blocked";
    }
    if plan.creations_blocked.is_some() {
        line += "; re-creations blocked";
    }
    line
}
