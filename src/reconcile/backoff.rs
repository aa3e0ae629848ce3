//! Retries after failures: when an endpoint (or a removal) may act again, and why it waits.
//!
//! A named filter applied after planning, to desired endpoints and removals alike: a plan
//! whose endpoint is in backoff keeps its phase but loses its actions until the backoff ends
//! or its document changes. What a held endpoint shows is decided in `report`.

use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::cloud::CloudError;
use crate::plan::Plan;
use crate::stable::XorShift;

/// After a permanent error, an action is retried this late (or when the document changes).
pub const FAILED_RETRY: Duration = Duration::from_secs(300);
/// Transient failures back off exponentially up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Why an endpoint is not acting, as the report shows it.
#[derive(Debug, Clone, PartialEq, Hash)]
pub struct Held {
    /// What failed, in words (`delete_vpc_endpoint failed: ...`).
    pub message: String,
    /// The error needs a person (a permanent one): the endpoint shows Failed.
    pub permanent: bool,
    /// When the next attempt is due, on the wall clock (stable across passes, so a held
    /// endpoint's status file is not rewritten every pass).
    pub retry_at: SystemTime,
}

#[derive(Debug, Clone)]
struct Entry {
    failures: u32,
    until: Instant,
    /// The document generation (or the removal's endpoint) that failed: a changed document
    /// gets a fresh start.
    generation: String,
    held: Held,
}

/// Per-endpoint retry state.
#[derive(Debug)]
pub struct Backoffs {
    entries: FxHashMap<String, Entry>,
    /// Full jitter: retries of many endpoints spread out instead of arriving together.
    jitter: XorShift,
}

impl Default for Backoffs {
    fn default() -> Self {
        Backoffs {
            entries: FxHashMap::default(),
            jitter: XorShift::new(0x2545_f491_4f6c_dd1d),
        }
    }
}

impl Backoffs {
    /// Takes the actions away from every endpoint and removal still in backoff, and says
    /// which were held. `generation` names what each plan is for (see [`Entry`]).
    pub fn hold_back(
        &mut self,
        plan: &mut Plan,
        generation: impl Fn(&str) -> String,
        now: Instant,
    ) -> BTreeMap<String, Held> {
        let mut held = BTreeMap::new();
        for p in plan.all() {
            let Some(entry) = self.entries.get(&p.name) else {
                continue;
            };
            if entry.generation != generation(&p.name) {
                self.entries.remove(&p.name);
                continue;
            }
            if now >= entry.until || p.actions.is_empty() {
                continue;
            }
            held.insert(p.name.clone(), entry.held.clone());
        }
        plan.change_where(|p| held.contains_key(&p.name), |p| p.actions.clear());
        held
    }

    /// An action of `name` succeeded: its failures are forgotten.
    pub fn succeeded(&mut self, name: &str) {
        self.entries.remove(name);
    }

    /// An action of `name` failed: when to try again, and what to show meanwhile.
    pub fn failed(
        &mut self,
        name: &str,
        generation: String,
        kind: &str,
        error: &CloudError,
        now: Instant,
    ) -> Held {
        let failures = self.entries.get(name).map_or(0, |e| e.failures) + 1;
        let delay = match error {
            CloudError::Throttled { retry_after, .. } => *retry_after,
            e if e.is_transient() => {
                let base = Duration::from_secs(1 << failures.min(8)).min(MAX_BACKOFF);
                base / 2 + base.mul_f64(self.jitter.next_f64() / 2.0)
            }
            _ => FAILED_RETRY,
        };
        let held = Held {
            message: format!("{kind} failed: {error}"),
            permanent: !error.is_transient(),
            // Whole seconds: the time is shown, and should not jitter in the status file.
            retry_at: round_up_to_second(SystemTime::now() + delay),
        };
        self.entries.insert(
            name.to_string(),
            Entry {
                failures,
                until: now + delay,
                generation,
                held: held.clone(),
            },
        );
        held
    }
}

fn round_up_to_second(t: SystemTime) -> SystemTime {
    let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    SystemTime::UNIX_EPOCH
        + Duration::from_secs(since.as_secs() + u64::from(since.subsec_nanos() > 0))
}
