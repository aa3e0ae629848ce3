//! The daemon: files -> pass -> status files, on change, on a timer, until told to stop.
//!
//! One loop owns all state and reacts to one closed set of events; a pass runs inside the loop
//! but stays interruptible by a stop signal, after which in-flight calls get a bounded drain.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::cloud::Scope;
use crate::cloud::any::{AnyEc2, AnyTidb};
use crate::cloud::aws::AwsClient;
use crate::cloud::budget::{Budgeted, Rate, Rates};
use crate::cloud::sim::{SimCloud, World};
use crate::cloud::tidb::client::{TidbClient, TidbSettings};
use crate::http::Readiness;
use crate::metrics::{EndpointInfo, EndpointView, Metrics};
use crate::plan::{Phase, Plan, Policy};
use crate::reconcile::{Engine, PassOutcome, Seen, Wanted};
use crate::settings::{Backend, Settings};
use crate::source::{self, Catalog, FileCache};
use crate::status::{
    self, ConnectionStatus, EndpointStatus, ServiceStatus, StatusFile, StatusWriter,
    VpcEndpointStatus,
};
use crate::systemd;

/// After a pass that changed something, look again this soon.
const AFTER_CHANGE: Duration = Duration::from_secs(1);
/// How long in-flight calls may finish after SIGTERM before the daemon exits anyway.
pub const DRAIN: Duration = Duration::from_secs(10);

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

/// Without a first pass by then, systemd is told READY anyway (the pass goes on).
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

/// What one pass amounted to.
#[derive(Debug, Clone, Default)]
pub struct PassSummary {
    pub plan: Plan,
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
    writer: StatusWriter,
    /// The last status of every endpoint, by file: kept for invalid files and transition times.
    last: BTreeMap<PathBuf, StatusFile>,
    allow_mass_delete: bool,
    /// Stale status files are swept once, after the first pass.
    swept: bool,
    metrics: Arc<Metrics>,
    readiness: Arc<Mutex<Readiness>>,
    /// Each endpoint's metric labels, kept for the endpoints of invalid files.
    views: BTreeMap<String, EndpointView>,
    /// TiDB Cloud requests per second the gate allows (on the simulated clock when simulated).
    tidb_rate: f64,
    /// Endpoint files as last parsed.
    files: FileCache,
}

/// Why the daemon cannot start with these settings.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `cloud: simulated` (for either provider) without a world file.
    #[error("cloud: simulated needs `simulated: {{world: FILE}}`")]
    NoWorld,
    /// The world file has problems (each with its place).
    #[error("invalid world file:\n{0}")]
    World(String),
    /// The simulated world's state file cannot be read.
    #[error("cannot read the simulated world's state file")]
    State(#[source] std::io::Error),
    /// The TiDB Cloud client cannot be set up (no key, bad URL).
    #[error("tidbCloud: {0}")]
    Tidb(String),
}

/// The provider clients the settings ask for, each behind its budget.
pub struct Clouds {
    pub tidb: Budgeted<AnyTidb>,
    pub ec2: Budgeted<AnyEc2>,
}

/// Builds the clouds the settings ask for; every call reports to `observer`.
pub fn build_clouds(settings: &Settings, observer: Arc<Metrics>) -> Result<Clouds, StartError> {
    let (tidb_backend, aws_backend) = settings.backends();
    let sim = if (tidb_backend, aws_backend) == (Backend::Real, Backend::Real) {
        None
    } else {
        let sim = settings
            .file
            .simulated
            .as_ref()
            .ok_or(StartError::NoWorld)?;
        let world = World::load(&sim.world).map_err(|problems| {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            StartError::World(lines.join("\n"))
        })?;
        let cloud = SimCloud::new(world, sim.state_file.clone()).map_err(StartError::State)?;
        Some(match (tidb_backend, aws_backend) {
            (Backend::Real, _) => cloud.with_tidb_elsewhere(),
            (_, Backend::Real) => cloud.with_ec2_elsewhere(),
            _ => cloud,
        })
    };
    // The simulated providers meter their budgets on the simulated clock.
    let simulated_rates = |sim: &SimCloud| Rates::default().scaled(sim.time_scale());
    let tidb = match (tidb_backend, &sim) {
        (Backend::Simulated, Some(sim)) => {
            Budgeted::new(AnyTidb::Simulated(sim.clone()), simulated_rates(sim))
        }
        _ => {
            let t = &settings.file.tidb_cloud;
            let (public_key, private_key) = t.credentials().map_err(StartError::Tidb)?;
            let client = TidbClient::new(TidbSettings {
                api_url: t.api_url.clone(),
                public_key,
                private_key,
                timeout: t.timeout.0,
            })
            .map_err(|e| StartError::Tidb(e.to_string()))?;
            let per_minute = f64::from(t.requests_per_minute.max(1));
            let rates = Rates {
                tidb: Rate {
                    per_second: per_minute / 60.0,
                    burst: t.requests_per_minute.max(1),
                },
                ..Rates::default()
            };
            Budgeted::new(AnyTidb::Real(client), rates)
        }
    };
    let ec2 = match (aws_backend, &sim) {
        (Backend::Simulated, Some(sim)) => {
            Budgeted::new(AnyEc2::Simulated(sim.clone()), simulated_rates(sim))
        }
        _ => {
            let aws = &settings.file.aws;
            let limits = &aws.rate_limits;
            let rates = Rates {
                ec2_mutating: Rate {
                    per_second: limits.mutating_per_second,
                    burst: limits.mutating_burst,
                },
                ec2_describe: Rate {
                    per_second: limits.describe_per_second,
                    burst: limits.describe_burst,
                },
                ..Rates::default()
            };
            Budgeted::new(AnyEc2::Real(AwsClient::new(aws.clone())), rates)
        }
    };
    Ok(Clouds {
        tidb: tidb.observed_by(observer.clone()),
        ec2: ec2.observed_by(observer),
    })
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
            Some(dir) => engine.remember_scopes(load_scopes(dir)),
            None => warn!(
                "no stateDir: a region whose last endpoint file is removed while privatelinkd is down is not cleaned up"
            ),
        }
        let settings_interval = settings.interval();
        metrics.set_interval(settings_interval);
        Daemon {
            settings,
            engine,
            writer: StatusWriter::default(),
            last: BTreeMap::new(),
            allow_mass_delete,
            swept: false,
            readiness: Arc::new(Mutex::new(Readiness::new(settings_interval))),
            metrics,
            views: BTreeMap::new(),
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
        self.writer.writes
    }

    /// What `/readyz` reads.
    pub fn readiness(&self) -> Arc<Mutex<Readiness>> {
        self.readiness.clone()
    }

    /// Reads the endpoint files, runs one pass, and (when applying) writes status files.
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
            save_scopes(dir, self.engine.scopes());
        }
        let mut summary = PassSummary {
            actions_ok: outcome.applied.iter().filter(|a| a.2.is_none()).count(),
            actions_failed: outcome.applied.iter().filter(|a| a.2.is_some()).count(),
            observe_errors: outcome.observe_errors,
            listing_pages: outcome.listing_pages,
            invalid_files: frozen.len(),
            ..PassSummary::default()
        };
        if apply {
            for (name, kind, failure) in &outcome.applied {
                self.metrics.record_action(kind, failure.is_none());
                match failure {
                    None => info!(endpoint = %name, action = %kind, "applied"),
                    Some(e) => warn!(endpoint = %name, action = %kind, "action failed: {e}"),
                }
            }
            if let Some(reason) = &outcome.plan.deletions_blocked {
                warn!("deletions blocked: {reason}");
            }
            self.report(&catalog, &outcome);
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
        summary.status_writes = self.writer.writes;
        summary.plan = outcome.plan;
        summary
    }

    /// Writes one status file per endpoint file, and removes those of vanished files.
    fn report(&mut self, catalog: &Catalog, outcome: &PassOutcome) {
        let status_dir = self.settings.file.status_dir.clone();
        let root = &self.settings.file.endpoints_dir;
        let plans: BTreeMap<&str, &crate::plan::EndpointPlan> = outcome
            .plan
            .endpoints
            .iter()
            .map(|p| (p.name.as_str(), p))
            .collect();
        let mut keep = BTreeSet::new();
        let mut views = BTreeMap::new();
        // What an endpoint the observation did not reach shows: nothing.
        let unseen = Seen::default();
        let mut services = BTreeMap::new();
        for file in &catalog.files {
            let path = status::status_path(&file.path, status_dir.as_deref());
            keep.insert(path.clone());
            let previous = self
                .last
                .get(&path)
                .cloned()
                .or_else(|| StatusWriter::read(&path));
            let old: BTreeMap<String, EndpointStatus> = previous
                .iter()
                .flat_map(|s| s.endpoints.iter().map(|e| (e.name.clone(), e.clone())))
                .collect();
            let display = file
                .path
                .strip_prefix(root)
                .unwrap_or(&file.path)
                .to_string_lossy()
                .into_owned();
            if file.is_valid() {
                for d in &file.documents {
                    let name = d.spec.metadata.name.to_string();
                    let seen = outcome.seen.get(&name).unwrap_or(&unseen);
                    let group = seen.node_group_id.clone().unwrap_or_default();
                    if let Some(service) = &seen.service {
                        services.insert(
                            (d.spec.spec.tidb_cloud.cluster_id.to_string(), group.clone()),
                            service.state,
                        );
                    }
                    let phase = plans
                        .get(name.as_str())
                        .map_or(Phase::NotConfigured, |p| p.phase);
                    let info = EndpointInfo {
                        name: name.clone(),
                        file: display.clone(),
                        cluster_id: d.spec.spec.tidb_cloud.cluster_id.to_string(),
                        node_group_id: group,
                        region: d.spec.spec.aws.region.to_string(),
                        vpc_id: d.spec.spec.aws.vpc_id.to_string(),
                        vpc_endpoint_id: seen
                            .endpoint
                            .as_ref()
                            .map(|e| e.id.clone())
                            .unwrap_or_default(),
                    };
                    views.insert(name, EndpointView { info, phase });
                }
            } else {
                // An invalid file's endpoints keep their last labels and phase.
                for e in previous.iter().flat_map(|p| p.endpoints.iter()) {
                    if let Some(view) = self.views.get(&e.name) {
                        views.insert(
                            e.name.clone(),
                            EndpointView {
                                phase: e.phase,
                                ..view.clone()
                            },
                        );
                    }
                }
            }
            let status = if file.is_valid() {
                let endpoints = file
                    .documents
                    .iter()
                    .filter_map(|d| {
                        let name = d.spec.metadata.name.as_str();
                        let plan = plans.get(name)?;
                        let seen = outcome.seen.get(name).unwrap_or(&unseen);
                        Some(endpoint_status(
                            name,
                            plan,
                            seen,
                            old.get(name),
                            d.generation.clone(),
                        ))
                    })
                    .collect();
                StatusFile {
                    file: display,
                    errors: Vec::new(),
                    endpoints,
                }
            } else {
                // An invalid file keeps its endpoints' last known status, untouched.
                StatusFile {
                    file: display,
                    errors: file.problems.iter().map(|p| p.to_string()).collect(),
                    endpoints: previous.map(|p| p.endpoints).unwrap_or_default(),
                }
            };
            for e in &status.endpoints {
                if old.get(&e.name).is_none_or(|o| o.phase != e.phase) {
                    if e.message.is_empty() {
                        info!(endpoint = %e.name, phase = %e.phase.as_str(), "phase changed");
                    } else {
                        info!(endpoint = %e.name, phase = %e.phase.as_str(), "phase changed: {}", e.message);
                    }
                }
            }
            // Serializing is the costly part of an unchanged status: compare first.
            let unchanged = self.last.get(&path) == Some(&status);
            if !unchanged && let Err(e) = self.writer.write(&path, &status) {
                error!("cannot write {}: {e}", path.display());
            }
            self.last.insert(path, status);
        }
        self.last.retain(|p, _| keep.contains(p));
        self.writer.retain(&keep);
        // Uncertain phases were kept from the last status: show the same in metrics.
        for status in self.last.values() {
            for e in &status.endpoints {
                if let Some(v) = views.get_mut(&e.name) {
                    v.phase = e.phase;
                }
            }
        }
        let services: Vec<_> = services.into_iter().map(|((c, g), s)| (c, g, s)).collect();
        self.metrics
            .set_endpoints(&views.values().cloned().collect::<Vec<_>>(), &services);
        self.views = views;
        if !self.swept {
            self.swept = true;
            match &status_dir {
                Some(dir) => status::sweep(dir, false, &keep),
                None => status::sweep(root, true, &keep),
            }
        }
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
            let summary = summary_line(&last);
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

/// One line for `systemctl status`: how many endpoints in which phase.
fn summary_line(summary: &PassSummary) -> String {
    let counts: Vec<String> = phase_counts(&summary.plan)
        .iter()
        .map(|(phase, n)| format!("{n} {}", phase.as_str()))
        .collect();
    let mut line = format!("{} endpoint(s)", summary.plan.endpoints.len());
    if !counts.is_empty() {
        line += &format!(": {}", counts.join(", "));
    }
    if summary.invalid_files > 0 {
        line += &format!("; {} invalid file(s)", summary.invalid_files);
    }
    if summary.plan.deletions_blocked.is_some() {
        line += "; deletions blocked";
    }
    line
}

const SCOPES_FILE: &str = "scopes.json";

/// The accounts and regions remembered in the state directory.
fn load_scopes(dir: &Path) -> Vec<Scope> {
    let path = dir.join(SCOPES_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            warn!("ignoring {}: {e}", path.display());
            Vec::new()
        }),
        Err(_) => Vec::new(),
    }
}

fn save_scopes(dir: &Path, scopes: &BTreeSet<Scope>) {
    let json = serde_json::to_vec_pretty(scopes).expect("scopes serialize");
    if let Err(e) = std::fs::create_dir_all(dir)
        .and_then(|()| status::write_atomically(&dir.join(SCOPES_FILE), &json))
    {
        error!("cannot save {} in {}: {e}", SCOPES_FILE, dir.display());
    }
}

/// The status of one endpoint after a pass.
fn endpoint_status(
    name: &str,
    plan: &crate::plan::EndpointPlan,
    seen: &Seen,
    old: Option<&EndpointStatus>,
    generation: String,
) -> EndpointStatus {
    let (phase, message) = match old {
        Some(o) if plan.uncertain => (o.phase, plan.message.clone()),
        _ => (plan.phase, plan.message.clone()),
    };
    let last_transition_time = match old {
        Some(o) if o.phase == phase => o.last_transition_time.clone(),
        _ => status::now_rfc3339(),
    };
    EndpointStatus {
        name: name.to_string(),
        phase,
        message,
        observed_generation: generation,
        last_transition_time,
        service: seen.service.as_ref().map(|s| ServiceStatus {
            state: format!("{:?}", s.state),
            name: s.name.clone(),
            dns_name: s.dns_name.clone(),
            available_zones: s.available_zones.clone(),
        }),
        vpc_endpoint: seen.endpoint.as_ref().map(|e| VpcEndpointStatus {
            id: e.id.clone(),
            state: e.state.clone(),
            private_dns_enabled: e.private_dns_enabled,
            subnet_ids: e.subnet_ids.clone(),
            security_group_ids: e.security_group_ids.clone(),
        }),
        connection: seen.connection.as_ref().map(|c| ConnectionStatus {
            id: c.id.clone(),
            state: serde_json::to_value(c.state)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            host: c.host.clone(),
            port: c.port,
        }),
    }
}

/// Starts the file watcher: endpoint file changes become `FilesChanged` events.
///
/// The returned debouncer must be kept alive; dropping it stops watching.
pub fn watch(
    dir: &Path,
    events: mpsc::Sender<Event>,
) -> notify::Result<
    notify_debouncer_full::Debouncer<
        notify::RecommendedWatcher,
        notify_debouncer_full::RecommendedCache,
    >,
> {
    use notify::RecursiveMode;
    let mut debouncer = notify_debouncer_full::new_debouncer(
        Duration::from_millis(300),
        None,
        move |result: notify_debouncer_full::DebounceEventResult| {
            let Ok(batch) = result else { return };
            // Our own status files and temp files are not changes to react to.
            let relevant = batch
                .iter()
                .flat_map(|e| e.paths.iter())
                .any(|p| source::is_spec_file(p) || is_directory_name(p));
            if relevant {
                let _ = events.try_send(Event::FilesChanged);
            }
        },
    )?;
    debouncer.watch(dir, RecursiveMode::Recursive)?;
    Ok(debouncer)
}

/// A directory appearing or vanishing may carry endpoint files with it; our own status and
/// temp files all have extensions or are hidden, so they never look like one.
fn is_directory_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    !name.starts_with('.') && path.extension().is_none()
}

/// Forwards SIGHUP, SIGTERM and SIGINT to the loop (signal-hook's iterator on its own thread).
pub fn forward_signals(events: mpsc::Sender<Event>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGHUP, SIGINT, SIGTERM])?;
    std::thread::spawn(move || {
        for signal in signals.forever() {
            let event = if signal == SIGHUP {
                Event::Reload
            } else {
                Event::Stop
            };
            if events.blocking_send(event).is_err() {
                break;
            }
        }
    });
    Ok(())
}

/// Endpoint status files that belong to endpoint files under `root`, for `privatelinkd status`.
pub fn status_files(root: &Path, status_dir: Option<&Path>) -> Vec<(PathBuf, Option<StatusFile>)> {
    let catalog = Catalog::read(&[root.to_path_buf()]).unwrap_or_default();
    catalog
        .files
        .iter()
        .map(|f| {
            let path = status::status_path(&f.path, status_dir);
            let status = StatusWriter::read(&path);
            (path, status)
        })
        .collect()
}

/// Phases counted, for one-line summaries.
pub fn phase_counts(plan: &Plan) -> BTreeMap<Phase, usize> {
    let mut counts = BTreeMap::new();
    for p in &plan.endpoints {
        *counts.entry(p.phase).or_default() += 1;
    }
    counts
}
