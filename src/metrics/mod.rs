//! Prometheus metrics: names and labels are a contract (alert rules and dashboards use them).
//!
//! Labels come only from small closed sets or from names the user chose (endpoint names, IDs);
//! never from error text. Series of endpoints that are gone are removed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::cloud::{BucketClass, CallObserver, Outcome, op};

mod endpoints;

use endpoints::EndpointSeries;
pub use endpoints::{EndpointDetail, EndpointInfo, EndpointTable, EndpointView};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: &'static str,
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiOutcome {
    api: &'static str,
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiOperation {
    api: &'static str,
    operation: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabel {
    api: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OwnerLabel {
    owner_id: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

/// Which guards hold something back after a pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct Guards {
    pub deletions: bool,
    pub creations: bool,
}

/// Every metric of the daemon, in one registry.
pub struct Metrics {
    registry: Registry,
    endpoints: Arc<EndpointSeries>,
    config_files: Family<ResultLabel, Gauge>,
    passes: Family<ResultLabel, Counter>,
    pass_duration: Histogram,
    actions: Family<ActionLabels, Counter>,
    api_requests: Family<ApiOutcome, Counter>,
    api_duration: Family<ApiOperation, Histogram>,
    budget_wait: Family<ApiLabel, Counter<f64, AtomicU64>>,
    deletions_blocked: Gauge,
    deletions_held_back: Gauge,
    creations_blocked: Gauge,
    ledger_entries: Gauge,
    ledger_rebuilding: Gauge,
    notify_dropped: Counter,
    budget_used: Family<ApiLabel, Gauge<f64, AtomicU64>>,
    last_full_listing: Gauge<f64, AtomicU64>,
    /// Calls of the last minute, by API and operation, for the budget ratios.
    recent: Mutex<BTreeMap<(&'static str, &'static str), VecDeque<Instant>>>,
    last_success: Gauge<f64, AtomicU64>,
    interval: Gauge,
    leader: Family<OwnerLabel, Gauge>,
    leader_transitions: Counter,
    lease_renewal_failures: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        // The per-endpoint series are encoded at scrape time from the report's table.
        let endpoints = Arc::new(EndpointSeries::default());
        registry.register_collector(Box::new(endpoints.clone()));
        let config_files = Family::default();
        registry.register(
            "privatelinkd_config_files",
            "Endpoint files by validity",
            config_files.clone(),
        );
        let passes = Family::default();
        registry.register(
            "privatelinkd_reconcile_passes",
            "Reconcile passes by result",
            passes.clone(),
        );
        let pass_duration = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "privatelinkd_reconcile_pass_duration_seconds",
            "Duration of a reconcile pass",
            pass_duration.clone(),
        );
        let actions = Family::default();
        registry.register(
            "privatelinkd_actions",
            "Actions taken by kind and result",
            actions.clone(),
        );
        let api_requests = Family::default();
        registry.register(
            "privatelinkd_api_requests",
            "Provider API requests by outcome",
            api_requests.clone(),
        );
        let api_duration = Family::<ApiOperation, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 12))
        });
        registry.register(
            "privatelinkd_api_request_duration_seconds",
            "Provider API request latency",
            api_duration.clone(),
        );
        let budget_wait = Family::default();
        registry.register(
            "privatelinkd_api_budget_wait_seconds",
            "Time spent waiting for the client-side rate limiters",
            budget_wait.clone(),
        );
        let deletions_blocked = Gauge::default();
        registry.register(
            "privatelinkd_deletions_blocked",
            "1 while the mass-deletion guard holds deletions back",
            deletions_blocked.clone(),
        );
        let creations_blocked = Gauge::default();
        registry.register(
            "privatelinkd_creations_blocked",
            "1 while the creation guard holds re-creations back (prune.maxRecreatesPerPass)",
            creations_blocked.clone(),
        );
        let ledger_entries = Gauge::default();
        registry.register(
            "privatelinkd_ledger_entries",
            "Documents the ledger holds endpoints or connections of",
            ledger_entries.clone(),
        );
        let ledger_rebuilding = Gauge::default();
        registry.register(
            "privatelinkd_ledger_rebuilding",
            "1 when this run found its ledger lost or corrupt and rebuilds it from the owner tags",
            ledger_rebuilding.clone(),
        );
        let deletions_held_back = Gauge::default();
        registry.register(
            "privatelinkd_deletions_held_back",
            "Endpoints the mass-deletion guard holds back from leaving management",
            deletions_held_back.clone(),
        );
        let notify_dropped = Counter::default();
        registry.register(
            "privatelinkd_systemd_notify_dropped",
            "systemd notify messages dropped because the service manager's socket was full",
            notify_dropped.clone(),
        );
        let budget_used = Family::default();
        registry.register(
            "privatelinkd_api_budget_used_ratio",
            "Share of the provider's published budget used over the last minute (EC2: the busiest action's bucket; Compute Engine: the busiest quota group)",
            budget_used.clone(),
        );
        let last_full_listing = Gauge::default();
        registry.register(
            "privatelinkd_last_full_listing_timestamp_seconds",
            "Unix time of the oldest of the last full listings of TiDB Cloud connections (at most fullResync ago)",
            last_full_listing.clone(),
        );
        let last_success = Gauge::default();
        registry.register(
            "privatelinkd_last_successful_sync_timestamp_seconds",
            "Unix time of the last pass that observed everything and whose actions all succeeded",
            last_success.clone(),
        );
        let interval = Gauge::default();
        registry.register(
            "privatelinkd_resync_interval_seconds",
            "The configured full resync interval (alerts measure staleness in intervals)",
            interval.clone(),
        );
        let leader = Family::<OwnerLabel, Gauge>::default();
        registry.register(
            "privatelinkd_leader",
            "1 while this daemon acts for its ownerId (the leader, or alone), 0 on a standby",
            leader.clone(),
        );
        let leader_transitions = Counter::default();
        registry.register(
            "privatelinkd_leader_transitions",
            "Times this daemon became leader or stopped being leader",
            leader_transitions.clone(),
        );
        let lease_renewal_failures = Counter::default();
        registry.register(
            "privatelinkd_lease_renewal_failures",
            "Lease calls to DynamoDB that failed (renewals, reads, takeovers; not lost races)",
            lease_renewal_failures.clone(),
        );
        let build_info = Family::<VersionLabel, Gauge>::default();
        build_info
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            "privatelinkd_build_info",
            "The running version (always 1)",
            build_info,
        );
        // Both series exist from the start, so `rate()` sees the first error.
        for result in ["ok", "error"] {
            let _ = passes.get_or_create(&ResultLabel { result });
        }
        Metrics {
            registry,
            endpoints,
            config_files,
            passes,
            pass_duration,
            actions,
            api_requests,
            api_duration,
            budget_wait,
            deletions_blocked,
            deletions_held_back,
            creations_blocked,
            ledger_entries,
            ledger_rebuilding,
            notify_dropped,
            budget_used,
            last_full_listing,
            recent: Mutex::new(BTreeMap::new()),
            last_success,
            interval,
            leader,
            leader_transitions,
            lease_renewal_failures,
        }
    }

    /// Whether this daemon acts for `owner_id` (leader, or alone without election).
    pub fn set_leader(&self, owner_id: &str, acting: bool) {
        let label = OwnerLabel {
            owner_id: owner_id.to_string(),
        };
        self.leader.get_or_create(&label).set(i64::from(acting));
    }

    pub fn leader_transition(&self) {
        self.leader_transitions.inc();
    }

    pub fn lease_failure(&self) {
        self.lease_renewal_failures.inc();
    }

    /// Replaces the per-endpoint and per-service series with the report's latest table.
    pub fn set_endpoints(&self, table: Arc<EndpointTable>) {
        self.endpoints.set(table);
    }

    /// Which endpoints get series of their own (`metrics.endpointDetail`).
    pub fn set_endpoint_detail(&self, detail: EndpointDetail) {
        self.endpoints.set_detail(detail);
    }

    pub fn set_interval(&self, interval: Duration) {
        self.interval.set(interval.as_secs() as i64);
    }

    pub fn set_config_files(&self, valid: usize, invalid: usize) {
        self.config_files
            .get_or_create(&ResultLabel { result: "valid" })
            .set(valid as i64);
        self.config_files
            .get_or_create(&ResultLabel { result: "invalid" })
            .set(invalid as i64);
    }

    /// The ledger's size, and whether this run rebuilds it.
    pub fn set_ledger(&self, entries: usize, rebuilding: bool) {
        self.ledger_entries.set(entries as i64);
        self.ledger_rebuilding.set(i64::from(rebuilding));
    }

    /// One finished pass: `clean` when it observed everything and no action failed.
    pub fn record_pass(&self, clean: bool, took: Duration, blocked: Guards) {
        let result = if clean { "ok" } else { "error" };
        self.passes.get_or_create(&ResultLabel { result }).inc();
        self.pass_duration.observe(took.as_secs_f64());
        self.deletions_blocked.set(i64::from(blocked.deletions));
        self.creations_blocked.set(i64::from(blocked.creations));
        if clean {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            self.last_success.set(now.as_secs_f64());
        }
    }

    /// When connections were last listed in full.
    pub fn set_last_full_listing(&self, at: Option<SystemTime>) {
        if let Some(at) = at {
            let secs = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64();
            self.last_full_listing.set(secs);
        }
    }

    /// The budget ratios as of now (they fall when calls stop).
    pub fn refresh_budget(&self) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let mut ratios: BTreeMap<&'static str, f64> =
            [("tidbcloud", 0.0), ("ec2", 0.0), ("compute", 0.0)].into();
        let mut tidb_calls = 0usize;
        // Compute Engine meters a quota group, not an operation: its calls are summed per group.
        let mut groups: BTreeMap<BucketClass, usize> = BTreeMap::new();
        for ((api, operation), calls) in recent.iter_mut() {
            while calls
                .front()
                .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
            {
                calls.pop_front();
            }
            let Some(op) = op::named(api, operation) else {
                continue;
            };
            let per_minute = op.class.published().per_second * 60.0;
            if op.class == BucketClass::Tidb {
                // One bucket for every operation: the key's.
                tidb_calls += calls.len();
                continue;
            }
            if op.class.api() == "compute" {
                *groups.entry(op.class).or_default() += calls.len();
                continue;
            }
            let ratio = calls.len() as f64 / per_minute;
            let entry = ratios.entry(api).or_default();
            *entry = entry.max(ratio);
        }
        ratios.insert(
            "tidbcloud",
            tidb_calls as f64 / (BucketClass::Tidb.published().per_second * 60.0),
        );
        for (class, calls) in groups {
            let ratio = calls as f64 / (class.published().per_second * 60.0);
            let entry = ratios.entry("compute").or_default();
            *entry = entry.max(ratio);
        }
        for (api, ratio) in ratios {
            self.budget_used.get_or_create(&ApiLabel { api }).set(ratio);
        }
    }

    pub fn set_deletions_held_back(&self, count: usize) {
        self.deletions_held_back.set(count as i64);
    }

    /// The counter the systemd notifier counts dropped messages in.
    pub fn notify_dropped(&self) -> Counter {
        self.notify_dropped.clone()
    }

    pub fn record_action(&self, action: &'static str, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.actions
            .get_or_create(&ActionLabels { action, result })
            .inc();
    }

    /// The OpenMetrics exposition.
    pub fn openmetrics(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// The Prometheus text exposition (0.0.4), derived from the OpenMetrics one: counters are
    /// declared under their `_total` sample name, and the OpenMetrics-only lines go.
    pub fn prometheus_text(&self) -> String {
        to_prometheus_text(&self.openmetrics())
    }
}

impl CallObserver for Metrics {
    fn call(
        &self,
        api: &'static str,
        operation: &'static str,
        outcome: Outcome,
        elapsed: Duration,
    ) {
        let outcome = outcome.as_str();
        self.api_requests
            .get_or_create(&ApiOutcome {
                api,
                operation,
                outcome,
            })
            .inc();
        self.api_duration
            .get_or_create(&ApiOperation { api, operation })
            .observe(elapsed.as_secs_f64());
        self.recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((api, operation))
            .or_default()
            .push_back(Instant::now());
    }

    fn budget_wait(&self, api: &'static str, waited: Duration) {
        self.budget_wait
            .get_or_create(&ApiLabel { api })
            .inc_by(waited.as_secs_f64());
    }
}

/// OpenMetrics text -> Prometheus text format 0.0.4.
fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: BTreeSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let declared = line
            .strip_prefix("# TYPE ")
            .map(|rest| ("# TYPE ", rest))
            .or_else(|| line.strip_prefix("# HELP ").map(|rest| ("# HELP ", rest)));
        match declared {
            Some((keyword, rest)) => {
                let name = rest.split(' ').next().unwrap_or_default();
                if counters.contains(name) {
                    out.push_str(&format!("{keyword}{name}_total{}", &rest[name.len()..]));
                } else {
                    out.push_str(line);
                }
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_declared_under_their_sample_names_in_text_format() {
        let m = Metrics::new();
        m.record_action("create_vpc_endpoint", true);
        let text = m.prometheus_text();
        assert!(
            text.contains("# TYPE privatelinkd_actions_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("# HELP privatelinkd_actions_total Actions taken"),
            "{text}"
        );
        assert!(
            text.contains(
                "privatelinkd_actions_total{action=\"create_vpc_endpoint\",result=\"ok\"} 1\n"
            ),
            "{text}"
        );
        assert!(!text.contains("# EOF"));
        assert!(m.openmetrics().ends_with("# EOF\n"));
    }
}
