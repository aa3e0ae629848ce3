//! `privatelinkd retry NAME...`: a person asks the running daemon to try Failed endpoints again
//! now, instead of waiting for their next automatic retry.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::plan::Phase;

/// The answer of `POST /v1/retry`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Retrying {
    pub names: Vec<String>,
}

/// Retries asked for, waiting for the next pass; and what each endpoint showed last.
#[derive(Debug, Default)]
pub struct RetryRequests {
    pending: BTreeSet<String>,
    phases: Arc<BTreeMap<String, Phase>>,
}

impl RetryRequests {
    /// After a pass: what each endpoint shows now.
    pub fn after_pass(&mut self, phases: &Arc<BTreeMap<String, Phase>>) {
        self.phases = phases.clone();
    }

    /// Asks for `names` to be retried; refused (and nothing asked) if one is unknown or not
    /// Failed.
    pub fn request(&mut self, names: &[String]) -> Result<Retrying, String> {
        let mut problems = Vec::new();
        for name in names {
            match self.phases.get(name) {
                None => problems.push(format!("no endpoint is named {name}")),
                Some(Phase::Failed) => {}
                Some(phase) => problems.push(format!(
                    "{name} is {}, not Failed: nothing to retry",
                    phase.as_str()
                )),
            }
        }
        if names.is_empty() {
            problems.push("name at least one endpoint".into());
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        self.pending.extend(names.iter().cloned());
        Ok(Retrying {
            names: names.to_vec(),
        })
    }

    /// The retries asked for since the last pass.
    pub fn take(&mut self) -> Vec<String> {
        std::mem::take(&mut self.pending).into_iter().collect()
    }
}
