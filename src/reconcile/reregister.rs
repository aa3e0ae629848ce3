//! Re-registration of connections TiDB Cloud marked FAILED, as the console allows: delete the
//! failed connection and register the same VPC endpoint again. The first comes 5 minutes after
//! the failure is seen, then 10, 20, 40 minutes, then every hour; at once when the document
//! changes or when a person asks (`privatelinkd retry`).

use rustc_hash::{FxHashMap, FxHashSet};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::plan::Retry;

const FIRST: Duration = Duration::from_secs(300);
const LONGEST: Duration = Duration::from_secs(3600);

#[derive(Debug)]
struct Entry {
    attempts: u32,
    next: Instant,
    next_wall: SystemTime,
    /// The document generation the schedule belongs to: a changed document retries at once.
    generation: String,
}

/// The re-registration schedule of every endpoint whose connection is FAILED.
#[derive(Debug, Default)]
pub struct Reregistrations {
    entries: FxHashMap<String, Entry>,
    /// Asked for by a person, to happen in the next pass.
    requested: FxHashSet<String>,
}

impl Reregistrations {
    /// A person asked for these to be registered again now.
    pub fn request(&mut self, names: impl IntoIterator<Item = String>) {
        self.requested.extend(names);
    }

    /// The schedule of an endpoint whose connection is FAILED now (made at first sight).
    pub fn observe(&mut self, name: &str, generation: &str, now: Instant) -> Retry {
        let asked = self.requested.remove(name);
        let entry = self
            .entries
            .entry(name.to_string())
            .or_insert_with(|| Entry {
                attempts: 0,
                next: now + FIRST,
                next_wall: SystemTime::now() + FIRST,
                generation: generation.to_string(),
            });
        let changed = entry.generation != generation;
        if changed {
            entry.generation = generation.to_string();
        }
        Retry {
            due: asked || changed || now >= entry.next,
            next_at: entry.next_wall,
            attempts: entry.attempts,
        }
    }

    /// The connection is not FAILED (any more), or the endpoint is gone.
    pub fn forget(&mut self, name: &str) {
        self.entries.remove(name);
    }

    /// A re-registration was made: the next one, if it fails again, waits twice as long (an
    /// hour at most).
    pub fn attempted(&mut self, name: &str, now: Instant) {
        if let Some(e) = self.entries.get_mut(name) {
            e.attempts += 1;
            let wait = FIRST.saturating_mul(1 << e.attempts.min(10)).min(LONGEST);
            e.next = now + wait;
            e.next_wall = SystemTime::now() + wait;
        }
    }
}
