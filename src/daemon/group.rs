//! The daemon in a group: one acting daemon per ownerId (`crate::lease`), and one daemon per
//! state directory on a host (an exclusive lock).
//!
//! A standby passes too, without a cloud call: it reads and validates the files (its findings,
//! `privatelinkd_config_files` and file errors stay live) and writes status files that say who
//! leads. When it becomes leader, it forgets everything it observed before (another leader
//! may have changed it since), so its first pass observes before acting.

use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use tracing::info;

use super::{Daemon, PassSummary};
use crate::lease::{Election, Role};
use crate::report::{Places, Reporter};

const LOCK_FILE: &str = "lock";

/// Takes the state directory's lock for this process's lifetime (keep the file open), or says
/// which process holds it.
pub fn lock_state_dir(dir: &Path) -> Result<std::fs::File, String> {
    let path = dir.join(LOCK_FILE);
    let cannot = |e: std::io::Error| format!("cannot lock {}: {e}", path.display());
    std::fs::create_dir_all(dir).map_err(cannot)?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(cannot)?;
    // SAFETY: flock on a descriptor we own; LOCK_NB never blocks.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    if !locked {
        let mut pid = String::new();
        let _ = file.read_to_string(&mut pid);
        return Err(format!(
            "another privatelinkd (pid {}) is running with the stateDir {}: two daemons on one \
             stateDir would both act on the same endpoints; stop it, or give this one its own \
             stateDir (and, to run them as a group, leaderElection)",
            pid.trim(),
            dir.display()
        ));
    }
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .map_err(cannot)?;
    Ok(file)
}

impl Daemon {
    /// Joins a leader-election group: passes act only while `election` says Leader.
    pub fn join(mut self, election: Election) -> Daemon {
        self.led_term = None;
        self.member = Some(super::Member {
            holder: election.holder.clone(),
            fence: election.fence.clone(),
        });
        self.election = Some(election);
        self
    }

    /// The role now: always Leader without election.
    pub(super) fn role(&self) -> Role {
        self.election
            .as_ref()
            .map_or(Role::Leader { term: 0 }, |e| e.role.borrow().clone())
    }

    /// A watch on the role, for the loop (never changes without election).
    pub(super) fn role_changes(&self) -> Option<tokio::sync::watch::Receiver<Role>> {
        self.election.as_ref().map(|e| e.role.clone())
    }

    /// Before a pass: a standby's pass, or `None` to act (after forgetting what was observed
    /// when this daemon last led).
    pub(super) fn standby_pass(&mut self) -> Option<PassSummary> {
        let role = self.role();
        if let Role::Leader { term } = role {
            // A new term, even one won back within a single pass, follows another leader's.
            if self.led_term != Some(term) {
                self.led_term = Some(term);
                self.engine.forget_observations();
                self.reporter = Reporter::default();
                info!("acting as the leader: observing afresh");
            }
            return None;
        }
        if self.led_term.is_some() {
            info!("standing by: {}", role.describe());
        }
        self.led_term = None;
        let catalog = self.read_endpoints();
        let places = Places {
            endpoints_dir: &self.settings.file.endpoints_dir,
            status_dir: self.settings.file.status_dir.as_deref(),
            config: &self.settings.path,
        };
        let text = role.describe();
        self.reporter
            .standby(places, &catalog, &text, &self.metrics);
        let invalid = catalog.files.iter().filter(|f| !f.is_valid()).count();
        self.metrics
            .set_config_files(catalog.files.len() - invalid, invalid);
        // Healthy and ready to take over.
        if let Ok(mut r) = self.readiness.lock() {
            r.last_full_observe = Some(std::time::Instant::now());
        }
        Some(PassSummary {
            invalid_files: invalid,
            role: Some(text),
            ..PassSummary::default()
        })
    }

    /// On the way out: a standby may take over at once.
    pub(super) async fn leave_group(&mut self) {
        if let Some(election) = self.election.take() {
            let _ = tokio::task::spawn_blocking(move || election.release()).await;
        }
    }
}
