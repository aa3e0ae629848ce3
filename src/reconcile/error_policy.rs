//! The error policy, in one place: what a failed or successful action leads to, when an
//! endpoint may act again, and what a person can force. The pass hands it what it observed of
//! FAILED connections, its plan (to hold back) and what it applied; nothing else in a pass
//! decides about errors.
//!
//! Four kinds of "trying again", each with its own name:
//! - **resending** a call: `cloud::budget` resends an idempotent call that failed transiently
//!   (within the call; a pass sees one result);
//! - **backoff** (`backoff.rs`): after an action failed, its endpoint's (or removal's) actions
//!   are held back, exponentially with jitter for transient errors, 5 minutes for errors a
//!   person must fix, at once again when the document changes;
//! - **re-registration** (`reregister.rs`): a connection TiDB Cloud marked FAILED is deleted and
//!   the same VPC endpoint registered again, on its own schedule (5 minutes doubling to 1 hour);
//! - **forcing** ([`ErrorPolicy::force`], `privatelinkd retry`): a person ends a backoff and makes
//!   a re-registration due now.
//!
//! Transient or permanent is `CloudError::is_transient`; a permanent error shows Failed.

use std::borrow::Cow;
use std::cell::OnceCell;

use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet};

use tokio::time::Instant;

use super::Wanted;
use super::apply::Applied;
use super::backoff::{Backoffs, Held};
use super::gone::Gone;
use super::reregister::Reregistrations;
use crate::plan::{self, Leftover, Plan, Retry};

/// Per-endpoint error state: backoffs and re-registration schedules.
#[derive(Debug, Default)]
pub struct ErrorPolicy {
    backoff: Backoffs,
    reregister: Reregistrations,
}

/// What each plan is for, so that a changed document starts afresh after failures: a desired
/// endpoint's generation, or the endpoint a removal removes.
///
/// Borrowed from the pass, and indexed only when asked: a pass asks only about the few
/// endpoints that failed, usually none.
pub struct Generations<'a> {
    wanted: &'a [Wanted],
    leftovers: &'a [Leftover],
    by_name: OnceCell<FxHashMap<&'a str, Cow<'a, str>>>,
}

impl<'a> Generations<'a> {
    pub fn new(wanted: &'a [Wanted], leftovers: &'a [Leftover]) -> Generations<'a> {
        Generations {
            wanted,
            leftovers,
            by_name: OnceCell::new(),
        }
    }

    fn of(&self, name: &str) -> String {
        let by_name = self.by_name.get_or_init(|| {
            let mut map: FxHashMap<&str, Cow<'_, str>> = self
                .wanted
                .iter()
                .map(|w| {
                    (
                        w.doc.metadata.name.as_str(),
                        Cow::from(w.generation.as_str()),
                    )
                })
                .collect();
            for l in self.leftovers {
                let name = plan::ownership::name_of(&l.endpoint);
                map.entry(name).or_insert_with(|| {
                    Cow::from(format!(
                        "removal of {}",
                        crate::cloud::ConsumerEndpoint::id(&l.endpoint)
                    ))
                });
            }
            map
        });
        by_name.get(name).map(|g| g.to_string()).unwrap_or_default()
    }
}

impl ErrorPolicy {
    /// An endpoint's connection is FAILED: when it is registered again.
    pub fn connection_failed(&mut self, name: &str, generation: &str, now: Instant) -> Retry {
        self.reregister.observe(name, generation, now)
    }

    /// An endpoint's connection is ACTIVE (registered again, or accepted): its failure is over.
    pub fn connection_active(&mut self, name: &str) {
        self.reregister.forget(name);
    }

    /// A person asks for these endpoints to be tried again now: their backoff ends and a
    /// FAILED connection is registered again in the next pass.
    pub fn force(&mut self, names: &[String]) {
        for name in names {
            self.backoff.succeeded(name);
        }
        self.reregister.request(names.iter().cloned());
    }

    /// Takes the actions away from every endpoint and removal still in backoff.
    pub fn hold_back(
        &mut self,
        plan: &mut Plan,
        generations: &Generations<'_>,
        now: Instant,
    ) -> BTreeMap<String, Held> {
        self.backoff
            .hold_back(plan, |name| generations.of(name), now)
    }

    /// What the pass applied: successes end backoffs, failures start them (returned, to be
    /// shown), a re-registration's deletion moves its schedule on. The cleanup of a
    /// connection whose VPC endpoint AWS no longer has never holds the endpoint back: a
    /// transient failure is tried again next pass, a refusal is given up and said.
    pub fn after_apply(
        &mut self,
        applied: &[Applied],
        plan: &Plan,
        gone: &mut Gone,
        in_ledger_gone: impl Fn(&str) -> bool,
        generations: &Generations<'_>,
        now: Instant,
    ) -> Vec<(String, Held)> {
        let re_registering: BTreeSet<&str> = plan
            .endpoints
            .iter()
            .filter(|p| p.retrying)
            .map(|p| p.name.as_str())
            .collect();
        let mut held = Vec::new();
        for a in applied {
            let stale = a
                .deleted_connection_of
                .as_deref()
                .filter(|id| gone.is_gone(id) || in_ledger_gone(id));
            if a.deleted_connection_of.is_some()
                && stale.is_none()
                && re_registering.contains(a.name.as_str())
            {
                self.reregister.attempted(&a.name, now);
            }
            match (&a.result, stale) {
                (Ok(()), _) => self.backoff.succeeded(&a.name),
                (Err(e), Some(id)) => {
                    if !e.is_transient() {
                        gone.give_up(id);
                        tracing::warn!(
                            endpoint = %a.name,
                            "cannot delete the TiDB Cloud connection of VPC endpoint {id}, which AWS no longer has ({e}); delete it in the TiDB Cloud console"
                        );
                    }
                }
                (Err(e), None) => {
                    let h = self
                        .backoff
                        .failed(&a.name, generations.of(&a.name), a.kind, e, now);
                    held.push((a.name.clone(), h));
                }
            }
        }
        held
    }
}
