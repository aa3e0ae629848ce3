//! The daemon binary as a process: its command line without what systemd hands a unit, and a
//! running daemon with its log, address, metrics and signals.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Setup, http_get, wait_for};

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_privatelinkd"))
}

/// What a systemd unit hands its processes, and the TiDB Cloud keys' environment: the daemon
/// acts on every one of them (a state directory it locks, a socket it notifies, journald's log
/// format, credentials). A suite run under systemd, or from a shell that has them, must not
/// pass them to the daemons it starts; a test that wants one sets it itself.
const INHERITED_BY_SYSTEMD: [&str; 13] = [
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "JOURNAL_STREAM",
    "STATE_DIRECTORY",
    "RUNTIME_DIRECTORY",
    "CREDENTIALS_DIRECTORY",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "INVOCATION_ID",
    "TIDBCLOUD_PUBLIC_KEY",
    "TIDBCLOUD_PRIVATE_KEY",
];

/// The privatelinkd binary, with none of the environment above.
pub fn privatelinkd_command() -> Command {
    let mut command = Command::new(binary());
    for var in INHERITED_BY_SYSTEMD {
        command.env_remove(var);
    }
    command
}

/// The daemon binary running on a setup, killed when dropped. Its log goes to
/// `<setup>/daemon.log` (appended across restarts): a pipe nobody reads could fill and stall it.
pub struct Daemon {
    pub child: Child,
    log: PathBuf,
    /// Where this process's part of the log begins: evidence is read from this process only,
    /// never from what an earlier one wrote.
    offset: usize,
}

impl Daemon {
    pub fn start(setup: &Setup, args: &[&str]) -> Daemon {
        Daemon::start_with(setup, args, &[])
    }

    pub fn start_with(setup: &Setup, args: &[&str], envs: &[(&str, &str)]) -> Daemon {
        let log = setup.path("daemon.log");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let offset = file.metadata().unwrap().len() as usize;
        let child = privatelinkd_command()
            .args(["run", "--config"])
            .arg(setup.config())
            .args(args)
            .env("RUST_LOG", "info")
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        Daemon { child, log, offset }
    }

    /// This process's log so far.
    pub fn log(&self) -> String {
        let all = std::fs::read(&self.log).unwrap_or_default();
        String::from_utf8_lossy(all.get(self.offset..).unwrap_or_default()).into_owned()
    }

    /// The address this process serves `/metrics` on (from its first log line, written once
    /// its signal handlers are in and its listener is bound).
    pub fn addr(&self) -> String {
        let mut found = None;
        wait_for("the daemon's listener", Duration::from_secs(30), || {
            found = self.log().lines().find_map(|l| {
                let (_, addr) = l.split_once("/readyz on http://")?;
                Some(addr.trim().to_string())
            });
            found.is_some()
        });
        found.unwrap()
    }

    /// Waits until this process says it is ready (`/readyz` 200: a full pass completed).
    pub fn wait_ready(&self) {
        let addr = self.addr();
        wait_for("the daemon to be ready", Duration::from_secs(60), || {
            http_get(&addr, "/readyz").is_some_and(|(status, _)| status == 200)
        });
    }

    /// A metric of this process, summed over its series (`None` while it does not answer).
    pub fn metric(&self, name: &str) -> Option<f64> {
        let (_, body) = http_get(&self.addr(), "/metrics")?;
        Some(
            body.lines()
                .filter(|l| {
                    l.strip_prefix(name)
                        .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum(),
        )
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the process to end by itself: its exit code and the log so far.
    pub fn wait(mut self, limit: Duration) -> (Option<i32>, String) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (
                    status.code(),
                    std::fs::read_to_string(&self.log).unwrap_or_default(),
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the daemon did not exit within {limit:?}");
    }

    /// SIGTERM, then the exit code. Waits first for this process to say it has started, so
    /// the signal cannot arrive before its handlers are in.
    pub fn stop(self) -> Option<i32> {
        self.addr();
        self.signal("TERM");
        self.wait(Duration::from_secs(30)).0
    }

    /// A number from /proc/PID/status (`VmRSS:`, `Threads:`).
    pub fn proc_status(&self, key: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    pub fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the daemon `kills` times and kills it with SIGKILL at a pseudo-random instant each
/// time (replayable from `seed`, between `earliest` and `earliest + spread`), then starts it
/// once more and returns it: what a crash campaign leaves behind.
pub fn crash_repeatedly(
    setup: &Setup,
    kills: usize,
    mut seed: u64,
    earliest: Duration,
    spread: Duration,
) -> Daemon {
    for _ in 0..kills {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let after = earliest + Duration::from_millis((seed >> 33) % spread.as_millis() as u64);
        let mut daemon = Daemon::start(setup, &[]);
        std::thread::sleep(after);
        daemon.child.kill().unwrap(); // SIGKILL, at an arbitrary instant
        daemon.child.wait().unwrap();
    }
    Daemon::start(setup, &[])
}
