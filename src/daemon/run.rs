//! The event loop: one `select!` over a closed set of events, a pass at a time.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::info;

use super::{DRAIN, Daemon, Event, PassSummary, STARTUP_LIMIT};
use crate::report;
use crate::systemd;

/// What an event asks of the loop once it has been answered.
#[derive(Debug, Default)]
struct Asked {
    stop: bool,
    reload: bool,
    /// Pass again at once.
    pass: bool,
}

impl Daemon {
    /// Runs until a stop event; passes on start, on file changes, on reload, on approval, and
    /// on a timer.
    pub async fn run(mut self, mut events: mpsc::Receiver<Event>) -> PassSummary {
        let mut next = Instant::now();
        let mut last = PassSummary::default();
        let notifier = self.notifier.clone();
        // The watchdog is fed by this loop, so a wedged loop is restarted by systemd.
        let watchdog_period = systemd::watchdog_period().unwrap_or(Duration::from_secs(3600));
        let mut watchdog = tokio::time::interval(watchdog_period);
        let startup_deadline = Instant::now() + STARTUP_LIMIT;
        let mut ready = false;
        let mut roles = self.role_changes();
        loop {
            let mut asked = Asked::default();
            tokio::select! {
                () = tokio::time::sleep_until(next) => {}
                // Becoming leader (or standby) is a reason to pass at once.
                () = role_changed(&mut roles) => {}
                _ = watchdog.tick() => { notifier.watchdog(); continue; }
                event = events.recv() => {
                    asked = answer(event);
                    if asked.stop {
                        break;
                    }
                    if asked.reload {
                        self.reload().await;
                    }
                    if !asked.pass && !asked.reload {
                        continue;
                    }
                    asked = Asked::default();
                }
            }
            {
                let pass = self.pass(true);
                tokio::pin!(pass);
                loop {
                    tokio::select! {
                        summary = &mut pass => { last = summary; break; }
                        _ = watchdog.tick() => notifier.watchdog(),
                        () = tokio::time::sleep_until(startup_deadline), if !ready => {
                            ready = true;
                            notifier.ready("the first pass is taking long; serving anyway");
                        }
                        event = events.recv() => {
                            let more = answer(event);
                            asked.reload |= more.reload;
                            asked.pass |= more.pass || more.reload;
                            if more.stop {
                                asked.stop = true;
                                notifier.stopping();
                                // In-flight calls may finish, within bounds.
                                if let Ok(summary) = tokio::time::timeout(DRAIN, &mut pass).await {
                                    last = summary;
                                }
                                break;
                            }
                        }
                    }
                }
            }
            if asked.stop {
                break;
            }
            let summary = match (&last.role, &roles) {
                (Some(standby), _) => standby.clone(),
                (None, Some(_)) => format!(
                    "leader; {}",
                    report::summary_line(&last.phases, last.invalid_files, &last.plan)
                ),
                (None, None) => report::summary_line(&last.phases, last.invalid_files, &last.plan),
            };
            if ready {
                notifier.status(&summary);
            } else {
                ready = true;
                notifier.ready(&summary);
            }
            if asked.reload {
                self.reload().await;
            }
            let delay = if asked.pass {
                Duration::ZERO
            } else {
                self.next_pass_in(&last)
            };
            next = Instant::now() + delay;
        }
        notifier.stopping();
        self.shut_down().await;
        info!("stopped");
        last
    }
}

/// Resolves when the role changes; never without election (or once the elector is gone).
async fn role_changed(roles: &mut Option<tokio::sync::watch::Receiver<crate::lease::Role>>) {
    match roles {
        Some(r) => {
            if r.changed().await.is_err() {
                *roles = None;
            }
        }
        None => std::future::pending().await,
    }
}

/// Answers what can be answered at once, and says what else the event asks for.
fn answer(event: Option<Event>) -> Asked {
    match event {
        Some(Event::Stop) | None => Asked {
            stop: true,
            ..Asked::default()
        },
        Some(Event::Reload) => Asked {
            reload: true,
            ..Asked::default()
        },
        Some(Event::FilesChanged | Event::Asked) => Asked {
            pass: true,
            ..Asked::default()
        },
        Some(Event::Ping(reply)) => {
            let _ = reply.send(());
            Asked::default()
        }
    }
}
