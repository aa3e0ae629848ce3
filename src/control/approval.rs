//! Departures the mass-deletion guard holds back, and the approvals that release them.
//!
//! `privatelinkd approve-deletions` asks the running daemon what is held back now, and approves
//! exactly that set by its digest: a different set (say, a larger mass deletion that appears
//! later) has another digest and is not approved by accident. An approval lasts while the
//! departures it names are under way.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::plan::{self, Plan};
use crate::report::release_command;

/// What the guard holds back (the answer of `GET /v1/deletions`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HeldBack {
    /// Names the exact set below; an approval must quote it.
    pub digest: Option<String>,
    /// Why the guard holds them back.
    pub reason: Option<String>,
    /// `NAME VPC-ENDPOINT-ID delete|orphan|replace`, one per departure.
    pub endpoints: Vec<String>,
}

/// The approved departures, and what the last pass held back.
#[derive(Debug, Default)]
pub struct Approvals {
    approved: BTreeSet<String>,
    held: HeldBack,
}

impl Approvals {
    /// The departures a person approved, for the next pass's policy.
    pub fn approved(&self) -> &BTreeSet<String> {
        &self.approved
    }

    pub fn held(&self) -> &HeldBack {
        &self.held
    }

    /// After a pass: approvals of departures that are over are forgotten, and the held set is
    /// logged when it changes (not every pass).
    pub fn after_pass(&mut self, plan: &Plan, config: &Path) {
        let departing: BTreeSet<String> = plan.all().filter_map(Plan::key).collect();
        self.approved.retain(|k| departing.contains(k));
        let keys = plan.held_back();
        let held = HeldBack {
            digest: plan::digest(&keys),
            reason: plan.blocked_reason().filter(|_| !keys.is_empty()),
            endpoints: keys.into_iter().collect(),
        };
        if held.digest != self.held.digest {
            match (&held.digest, &held.reason) {
                (Some(digest), Some(reason)) => warn!(
                    "{} held back: {reason}: {}; release exactly these with `{}`",
                    plan.held_what(),
                    held.endpoints.join(", "),
                    release_command(config, digest)
                ),
                _ => info!("nothing is held back any more"),
            }
        }
        self.held = held;
    }

    /// Approves the held-back set if `digest` names it.
    pub fn approve(&mut self, digest: &str) -> Result<HeldBack, String> {
        match &self.held.digest {
            Some(current) if current == digest => {
                self.approved.extend(self.held.endpoints.iter().cloned());
                info!(
                    "deletions approved ({digest}): {}",
                    self.held.endpoints.join(", ")
                );
                Ok(self.held.clone())
            }
            Some(current) => Err(format!(
                "the held-back set is now {current} ({} endpoint(s)), not {digest}; look again \
                 with `privatelinkd approve-deletions --config FILE` before approving",
                self.held.endpoints.len()
            )),
            None => Err("nothing is held back".into()),
        }
    }
}
