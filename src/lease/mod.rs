//! Leader election: one acting daemon per ownerId, through a lease item in DynamoDB
//! (`store.rs` says what the item holds and why no decision reads another host's clock).
//!
//! The elector runs on a thread and runtime of its own, so a long pass never delays a renewal.
//! Every `renewEvery`:
//! - the leader renews (a conditional write on its last version). Its lease is valid until
//!   the moment it sent the last successful renewal plus `leaseDuration`, on this process's
//!   monotonic clock; the fence (`cloud::fence`) lets mutating calls start only until that
//!   instant minus `renewEvery` (the safety margin). When the margin is reached without a
//!   renewal, or a renewal finds the item changed, it stops acting at once and competes again;
//! - a standby reads the item: a free one (absent, or released) it takes at once; a held one it
//!   takes when the version has not moved for the holder's `leaseDuration` on its own clock
//!   (the holder's validity, counted from a write the standby saw after it was made, has ended
//!   by then). Every takeover is a conditional write on the version it saw.
//!
//! SIGTERM releases the lease (a conditional write that empties the holder), so a standby takes
//! over within `renewEvery`; kill -9 or a lost network frees it after `leaseDuration`.

mod store;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};
use tracing::{info, warn};

pub use store::{LeaseError, Record, Store, StoreConfig};

use crate::cloud::fence::Fence;
use crate::metrics::Metrics;

/// What the elector needs to know.
#[derive(Debug, Clone)]
pub struct ElectionConfig {
    pub owner_id: String,
    /// This daemon, as the item and the User-Agent name it: `HOST.PID.RANDOM`.
    pub holder: String,
    pub lease_duration: Duration,
    pub renew_every: Duration,
    pub store: StoreConfig,
}

/// This daemon's part in its group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// It acts (passes, mutating calls while the fence is open). `term` counts this daemon's
    /// acquisitions: a daemon that lost the lease and won it back, even within one of its
    /// passes, sees a new term and observes afresh (another leader may have acted between).
    Leader { term: u64 },
    /// It reads and validates files, and waits; `leader` is the holder it saw, if any.
    Standby { leader: Option<String> },
}

impl Role {
    pub fn is_leader(&self) -> bool {
        matches!(self, Role::Leader { .. })
    }

    /// The systemd STATUS and status-file wording.
    pub fn describe(&self) -> String {
        match self {
            Role::Leader { .. } => "leader".into(),
            Role::Standby { leader: Some(h) } => format!("standby (leader: {h})"),
            Role::Standby { leader: None } => "standby (no leader)".into(),
        }
    }
}

/// A running elector: its role as it changes, and the fence it moves.
pub struct Election {
    pub role: watch::Receiver<Role>,
    pub fence: Fence,
    pub holder: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Election {
    /// Starts competing, on a thread of its own.
    /// `fence` is the one the clients' call gates read.
    pub fn start(
        config: ElectionConfig,
        fence: Fence,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Election> {
        let (role_tx, role) = watch::channel(Role::Standby { leader: None });
        let (stop, stopped) = oneshot::channel();
        let holder = config.holder.clone();
        let elector = Elector {
            fence: fence.clone(),
            role: role_tx,
            metrics,
            state: State::Standby { seen: None },
            last_error: None,
            terms: 0,
            config,
        };
        let thread = std::thread::Builder::new()
            .name("privatelinkd-lease".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the lease");
                runtime.block_on(elector.run(stopped));
            })?;
        Ok(Election {
            role,
            fence,
            holder,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Waits (at most `limit`) for the first round to say leader or standby (with its leader),
    /// so that the daemon's first pass does not show a role that lasts milliseconds.
    pub async fn first_role(&mut self, limit: Duration) {
        let _ = tokio::time::timeout(limit, self.role.changed()).await;
    }

    /// Releases the lease if held (a standby may take over at once) and stops competing.
    pub fn release(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.fence.close();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Election {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// `HOST.PID.RANDOM`: unique per process, readable in logs, valid as an AWS SDK app name.
pub fn holder_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(30)
        .collect();
    let mut random = [0u8; 3];
    let _ = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut random));
    let random: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let host = if host.is_empty() { "host".into() } else { host };
    format!("{host}.{}.{random}", std::process::id())
}

enum State {
    /// Holds the lease at version `rvn`, valid until `valid_until`.
    Leader { rvn: u64, valid_until: Instant },
    /// Does not hold it; `seen` is the version last seen and since when.
    Standby { seen: Option<(Record, Instant)> },
}

struct Elector {
    config: ElectionConfig,
    fence: Fence,
    role: watch::Sender<Role>,
    metrics: Arc<Metrics>,
    state: State,
    /// The last failure logged (the same one is not logged every round).
    last_error: Option<String>,
    /// Acquisitions so far: the term of the leadership published.
    terms: u64,
}

impl Elector {
    async fn run(mut self, mut stopped: oneshot::Receiver<()>) {
        let store = Store::connect(&self.config.store).await;
        self.publish();
        let mut tick = tokio::time::interval(self.config.renew_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut table_ready = false;
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                _ = tick.tick() => {}
            }
            if !table_ready {
                match store.ensure_table(self.config.store.create_table).await {
                    Ok(()) => table_ready = true,
                    Err(e) => {
                        self.failed(&e);
                        continue;
                    }
                }
            }
            self.round(&store).await;
        }
        self.release(&store).await;
    }

    /// One renewal (leader) or one look (standby).
    async fn round(&mut self, store: &Store) {
        let config = self.config.clone();
        let c = &config;
        match self.state {
            State::Leader { rvn, valid_until } => {
                let sent = Instant::now();
                let renewed = store
                    .replace(
                        &c.owner_id,
                        rvn,
                        &c.holder,
                        c.lease_duration,
                        Some(&c.holder),
                    )
                    .await;
                match renewed {
                    Ok(next) => {
                        self.last_error = None;
                        self.lead(next, sent);
                    }
                    Err(LeaseError::Conflict) => {
                        warn!("lost the lease: another daemon took it; standing by");
                        self.stand_by(None);
                    }
                    Err(e) => {
                        self.failed(&e);
                        if Instant::now() + c.renew_every >= valid_until {
                            warn!(
                                "stopped acting: the lease could not be renewed and is valid for less than {}",
                                humantime::format_duration(c.renew_every)
                            );
                            self.stand_by(None);
                        }
                    }
                }
            }
            State::Standby { ref seen } => {
                let seen = seen.clone();
                let read = match store.read(&c.owner_id).await {
                    Ok(read) => read,
                    Err(e) => return self.failed(&e),
                };
                self.last_error = None;
                let sent = Instant::now();
                let taken = match read {
                    None => store.create(&c.owner_id, &c.holder, c.lease_duration).await,
                    // Released, or ours still (we stopped acting, nobody took it since).
                    Some(r) if r.holder.is_empty() || r.holder == c.holder => {
                        store
                            .replace(&c.owner_id, r.rvn, &c.holder, c.lease_duration, None)
                            .await
                    }
                    Some(r) => {
                        let since = match seen {
                            Some((old, since)) if old == r => since,
                            _ => Instant::now(),
                        };
                        if since.elapsed() < r.lease_duration {
                            self.stand_by(Some((r, since)));
                            return;
                        }
                        info!(
                            "the lease of {} has not been renewed for {}: taking over",
                            r.holder,
                            humantime::format_duration(r.lease_duration)
                        );
                        store
                            .replace(&c.owner_id, r.rvn, &c.holder, c.lease_duration, None)
                            .await
                    }
                };
                match taken {
                    Ok(rvn) => self.lead(rvn, sent),
                    Err(LeaseError::Conflict) => self.stand_by(None),
                    Err(e) => self.failed(&e),
                }
            }
        }
    }

    fn lead(&mut self, rvn: u64, sent: Instant) {
        let valid_until = sent + self.config.lease_duration;
        // Opened before the role changes, closed (in stand_by) before it does.
        self.fence.open_until(
            valid_until
                .checked_sub(self.config.renew_every)
                .unwrap_or(sent),
        );
        let was = matches!(self.state, State::Leader { .. });
        self.state = State::Leader { rvn, valid_until };
        if !was {
            self.terms += 1;
            info!(
                "leading ownerId {} as {}",
                self.config.owner_id, self.config.holder
            );
            self.metrics.leader_transition();
            self.publish();
        }
    }

    fn stand_by(&mut self, seen: Option<(Record, Instant)>) {
        self.fence.close();
        let was_leader = matches!(self.state, State::Leader { .. });
        self.state = State::Standby { seen };
        if was_leader {
            self.metrics.leader_transition();
        }
        self.publish();
    }

    fn publish(&self) {
        let role = match &self.state {
            State::Leader { .. } => Role::Leader { term: self.terms },
            State::Standby { seen } => Role::Standby {
                leader: seen.as_ref().map(|(r, _)| r.holder.clone()),
            },
        };
        self.metrics
            .set_leader(&self.config.owner_id, role.is_leader());
        self.role.send_if_modified(|old| {
            let changed = *old != role;
            *old = role;
            changed
        });
    }

    fn failed(&mut self, error: &LeaseError) {
        self.metrics.lease_failure();
        let text = error.to_string();
        if self.last_error.as_ref() != Some(&text) {
            warn!("leader election: {text}");
            self.last_error = Some(text);
        }
    }

    /// On the way out: a standby may take over at once.
    async fn release(&mut self, store: &Store) {
        self.fence.close();
        if let State::Leader { rvn, .. } = self.state {
            let c = &self.config;
            match store
                .replace(&c.owner_id, rvn, "", c.lease_duration, Some(&c.holder))
                .await
            {
                Ok(_) => info!("released the lease"),
                Err(e) => {
                    warn!("could not release the lease ({e}); it frees itself after leaseDuration")
                }
            }
            self.state = State::Standby { seen: None };
            self.metrics.leader_transition();
            self.publish();
        }
    }
}
