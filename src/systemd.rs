//! systemd's notify protocol (`Type=notify`): readiness, status, watchdog, reload, stop.
//!
//! sd-notify formats the messages; they are sent here, on a non-blocking socket: a service
//! manager that does not read its socket (busy, or a supervisor that reads slowly) must never
//! stall the event loop, so a message that does not fit is dropped and counted
//! (`privatelinkd_systemd_notify_dropped_total`). `STATUS=` goes out only when its text
//! changes. Outside systemd (no `NOTIFY_SOCKET`) every call is a no-op.

use std::io::ErrorKind;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use sd_notify::NotifyState;
use tracing::debug;

/// The service manager's socket, if there is one.
pub struct Notifier {
    socket: Option<(UnixDatagram, SocketAddr)>,
    /// The last `STATUS=` text sent.
    status: Mutex<String>,
    /// Messages dropped because the socket's queue was full.
    dropped: Counter,
}

impl Notifier {
    /// The socket named by `NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace).
    pub fn from_env(dropped: Counter) -> Notifier {
        let socket = std::env::var_os("NOTIFY_SOCKET").and_then(|name| {
            let name = name.to_string_lossy().into_owned();
            let addr = match name.strip_prefix('@') {
                Some(abstract_name) => SocketAddr::from_abstract_name(abstract_name),
                None => SocketAddr::from_pathname(&name),
            };
            let socket = UnixDatagram::unbound().and_then(|s| {
                s.set_nonblocking(true)?;
                Ok(s)
            });
            match (socket, addr) {
                (Ok(socket), Ok(addr)) => Some((socket, addr)),
                (Err(e), _) | (_, Err(e)) => {
                    debug!("NOTIFY_SOCKET {name} unusable: {e}");
                    None
                }
            }
        });
        Notifier {
            socket,
            status: Mutex::new(String::new()),
            dropped,
        }
    }

    /// A notifier that sends nothing (tests, `--once`).
    pub fn none() -> Notifier {
        Notifier {
            socket: None,
            status: Mutex::new(String::new()),
            dropped: Counter::default(),
        }
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        let Some((socket, addr)) = &self.socket else {
            return;
        };
        let message: String = states.iter().map(|s| format!("{s}\n")).collect();
        match socket.send_to_addr(message.as_bytes(), addr) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                self.dropped.inc();
            }
            Err(e) => debug!("sd_notify failed: {e}"),
        }
    }

    /// READY=1 with a status line.
    pub fn ready(&self, status: &str) {
        self.remember(status);
        self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// STATUS=, only when the text changed since the last one.
    pub fn status(&self, status: &str) {
        if self.remember(status) {
            self.send(&[NotifyState::Status(status)]);
        }
    }

    /// Before re-reading the config; systemd wants the monotonic time with it.
    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(_) => self.send(&[NotifyState::Reloading]),
        }
    }

    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping]);
    }

    pub fn watchdog(&self) {
        self.send(&[NotifyState::Watchdog]);
    }

    /// Records `status` as the last one sent; false if it was already.
    fn remember(&self, status: &str) -> bool {
        let mut last = self.status.lock().unwrap_or_else(|e| e.into_inner());
        if *last == status {
            return false;
        }
        *last = status.to_string();
        true
    }
}

/// How often to ping the watchdog: half its timeout, if systemd set one.
pub fn watchdog_period() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|timeout| timeout / 2)
}
