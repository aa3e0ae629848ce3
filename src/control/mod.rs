//! What the event loop and the HTTP listener share: the events the loop reacts to, what
//! `/readyz` decides on, and what people ask of the running daemon (`approve-deletions`,
//! `retry`).
//! Its own module, below both, so that neither imports the other.

mod approval;
mod retry;

use std::sync::Arc;
use std::time::Duration;

use rustc_hash::FxHashMap;
use tokio::sync::oneshot;

use crate::reconcile::{Seen, Sighting};

pub use approval::{Approvals, HeldBack};
pub use retry::{RetryRequests, Retrying};

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
    /// Deletions were approved (`POST /v1/deletions/approve`), or retries asked for
    /// (`POST /v1/retry`): pass now.
    Asked,
}

/// What the latest pass observed of each desired endpoint, for `plan --from` in a config
/// repo's CI (`GET /v1/observation`): the planner runs there, on the repo's files, with no
/// cloud call. Replaced (not copied) after every pass.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    pub owner_id: String,
    /// By endpoint name; served as a map of names to what was seen.
    #[serde(with = "sightings")]
    pub seen: FxHashMap<Arc<str>, Sighting>,
}

/// The pass's sightings as a plain map of names to what was seen (and the rest of what the
/// plan was made from, under `facts`), sorted by name: the pass's own map is moved here, not
/// copied, and the revisions (which mean something only inside the daemon that counted them)
/// stay out of what is served. A daemon from before `facts` serves none: read as empty.
mod sightings {
    use super::*;
    use crate::reconcile::Facts;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize)]
    struct Served<'a> {
        #[serde(flatten)]
        seen: &'a Seen,
        facts: &'a Facts,
    }

    #[derive(Deserialize)]
    struct Read {
        #[serde(flatten)]
        seen: Seen,
        #[serde(default)]
        facts: Facts,
    }

    pub fn serialize<S: Serializer>(
        seen: &FxHashMap<Arc<str>, Sighting>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let sorted: std::collections::BTreeMap<&str, Served<'_>> = seen
            .iter()
            .map(|(n, s)| {
                let served = Served {
                    seen: &s.seen,
                    facts: &s.facts,
                };
                (&**n, served)
            })
            .collect();
        s.collect_map(sorted)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<FxHashMap<Arc<str>, Sighting>, D::Error> {
        let plain = std::collections::BTreeMap::<String, Read>::deserialize(d)?;
        Ok(plain
            .into_iter()
            .map(|(name, read)| {
                let sighting = Sighting {
                    seen: Arc::new(read.seen),
                    facts: Arc::new(read.facts),
                    revision: 0,
                };
                (Arc::from(name), sighting)
            })
            .collect())
    }
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
