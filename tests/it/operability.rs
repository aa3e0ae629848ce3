//! Operability with the real tools: promtool on the rules and a live scrape, systemd-analyze on
//! the unit, the notify protocol over a real datagram socket, and the log formats.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::*;

const LIMIT: Duration = Duration::from_secs(30);

/// Runs a tool CI installs; a missing tool is a failed test, not a skipped one.
fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{name} is not installed (scripts/test installs it)"
    );
    Command::new(name)
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A plain HTTP/1.1 GET: (status, content type, body).
fn get(port: u16, path: &str, accept: &str) -> Option<(u16, String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or_default()
        .to_string();
    Some((status, content_type, body.to_string()))
}

fn start(setup: &Setup, envs: &[(&str, &str)]) -> Running {
    let mut command = privatelinkd_command();
    command
        .args(["run", "--config"])
        .arg(setup.config())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in envs {
        command.env(k, v);
    }
    Running(command.spawn().unwrap())
}

#[test]
fn shipped_alert_rules_pass_promtool_check_and_their_unit_tests() {
    let check = tool("promtool")
        .args(["check", "rules", "examples/prometheus/alerts.yaml"])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let test = tool("promtool")
        .args(["test", "rules", "examples/prometheus/alerts_test.yaml"])
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "{}",
        String::from_utf8_lossy(&test.stdout)
    );
}

#[test]
fn a_live_scrape_passes_promtool_and_shows_the_failed_endpoint() {
    let port = free_port();
    let setup = Setup::new(&world(20, true), "");
    let config = std::fs::read_to_string(setup.config()).unwrap();
    std::fs::write(
        setup.config(),
        config.replace("127.0.0.1:0", &format!("127.0.0.1:{port}")),
    )
    .unwrap();
    setup.write(
        "orders.yaml",
        &endpoint("orders", CLUSTER, &[SUBNET_AZ1], ""),
    );
    setup.write(
        "legacy.yaml",
        &endpoint("legacy", FAILING_CLUSTER, &[SUBNET_AZ4], ""),
    );
    setup.write(
        "broken.yaml",
        "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\n",
    );
    let _daemon = start(&setup, &[]);
    wait_for("both settled", LIMIT, || {
        setup.phase("orders", "orders").as_deref() == Some("Active")
            && setup.phase("legacy", "legacy").as_deref() == Some("Failed")
    });
    let mut body = String::new();
    wait_for("metrics reflect the pass", LIMIT, || {
        let Some((200, content_type, text)) = get(port, "/metrics", "*/*") else {
            return false;
        };
        assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
        body = text;
        body.contains("privatelinkd_endpoint_phase{name=\"legacy\",phase=\"Failed\"} 1")
    });
    // A healthy endpoint (Active, every condition True) counts in the aggregates only.
    assert!(
        !body.contains("privatelinkd_endpoint_phase{name=\"orders\""),
        "{body}"
    );
    for line in [
        "privatelinkd_endpoints{phase=\"Active\"} 1",
        "privatelinkd_endpoints{phase=\"Failed\"} 1",
        "privatelinkd_endpoint_phase{name=\"legacy\",phase=\"Active\"} 0",
        "privatelinkd_config_files{result=\"invalid\"} 1",
        "privatelinkd_config_files{result=\"valid\"} 2",
        "privatelinkd_deletions_blocked 0",
        "privatelinkd_resync_interval_seconds 60",
        "# TYPE privatelinkd_api_requests_total counter",
        "privatelinkd_api_requests_total{api=\"ec2\",operation=\"CreateVpcEndpoint\",outcome=\"ok\"} 2",
        "privatelinkd_actions_total{action=\"create_vpc_endpoint\",result=\"ok\"} 2",
        "privatelinkd_actions_total{action=\"enable_private_dns\",result=\"ok\"} 1",
        "privatelinkd_service_state{cluster_id=\"1379661944646413143\",node_group_id=\"1379661944646413144\",state=\"Active\"} 1",
        &format!(
            "privatelinkd_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        ),
    ] {
        assert!(body.contains(line), "missing {line:?} in\n{body}");
    }
    assert!(
        body.contains(
            "privatelinkd_endpoint_info{name=\"legacy\",file=\"legacy.yaml\",cluster_id=\""
        )
    );
    assert!(!body.contains("privatelinkd_endpoint_info{name=\"orders\""));
    assert!(body.contains("privatelinkd_api_budget_wait_seconds_total{api=\"tidbcloud\"}"));
    assert!(body.contains("privatelinkd_reconcile_pass_duration_seconds_bucket"));
    assert!(body.contains("privatelinkd_last_successful_sync_timestamp_seconds "));

    let mut promtool = tool("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let (status, content_type, open) = get(
        port,
        "/metrics",
        "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
    )
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(open.ends_with("# EOF\n"));
    assert!(open.contains("# TYPE privatelinkd_actions counter"));

    assert_eq!(get(port, "/healthz", "*/*").unwrap().0, 200);
    let (status, _, text) = get(port, "/readyz", "*/*").unwrap();
    assert_eq!((status, text.as_str()), (200, "ready\n"));
}

#[test]
fn the_unit_verifies_with_systemd_analyze() {
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string("systemd/privatelinkd.service").unwrap();
    assert!(unit.contains(
        "ExecStart=/usr/local/bin/privatelinkd run --config /etc/privatelinkd/privatelinkd.yaml"
    ));
    // verify checks that ExecStart exists: point it at the binary under test. The
    // credentials drop-in's lines go into [Service] too (verify reads no drop-in directory).
    let drop_in = std::fs::read_to_string("examples/systemd/aws-credentials.conf").unwrap();
    let extra: String = drop_in
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('[') && !l.trim().is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(extra.contains("LoadCredential=aws-credentials:"), "{extra}");
    let path = dir.path().join("privatelinkd.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/privatelinkd", binary().to_str().unwrap())
            .replace("[Install]", &format!("{extra}\n[Install]")),
    )
    .unwrap();
    let out = tool("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Unknown keys are only warnings to systemd-analyze; here they are failures.
    assert!(stderr.trim().is_empty(), "{stderr}");
}

/// Reads notify datagrams until one contains `want`, returning everything read.
fn expect_notify(socket: &UnixDatagram, want: &str, seen: &mut Vec<String>) {
    let start = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    while start.elapsed() < LIMIT {
        if let Ok(n) = socket.recv(&mut buf) {
            let message = String::from_utf8_lossy(&buf[..n]).to_string();
            seen.push(message.clone());
            if message.lines().any(|l| l == want || l.starts_with(want)) {
                return;
            }
        }
    }
    panic!("no {want:?} among {seen:?}");
}

#[test]
fn the_notify_protocol_over_a_real_socket() {
    let setup = Setup::new(&world(20, true), "");
    setup.write(
        "orders.yaml",
        &endpoint("orders", CLUSTER, &[SUBNET_AZ1], ""),
    );
    let socket_path = setup.path("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let daemon = start(
        &setup,
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    let mut seen = Vec::new();
    expect_notify(&socket, "READY=1", &mut seen);
    let ready = seen.last().unwrap();
    assert!(
        ready.contains("STATUS=1 endpoint(s): 1 NotConfigured"),
        "{ready}"
    );
    expect_notify(&socket, "WATCHDOG=1", &mut seen);
    expect_notify(&socket, "STATUS=1 endpoint(s): 1 Active", &mut seen);

    let kill = |signal: &str| {
        Command::new("kill")
            .args(["-s", signal, &daemon.0.id().to_string()])
            .status()
            .unwrap();
    };
    kill("HUP");
    expect_notify(&socket, "RELOADING=1", &mut seen);
    assert!(seen.last().unwrap().contains("MONOTONIC_USEC="), "{seen:?}");
    expect_notify(&socket, "READY=1", &mut seen);
    kill("TERM");
    expect_notify(&socket, "STOPPING=1", &mut seen);
}

#[test]
fn logs_drop_timestamps_under_journald_and_can_be_json() {
    let run = |envs: &[(&str, &str)], args: &[&str]| {
        // A fresh world each time, so the first pass has phase changes to log.
        let setup = Setup::new(&world(20, true), "");
        setup.write(
            "orders.yaml",
            &endpoint("orders", CLUSTER, &[SUBNET_AZ1], ""),
        );
        let mut command = privatelinkd_command();
        command
            .args(args)
            .arg("run")
            .arg("--once")
            .arg("--config")
            .arg(setup.config())
            .env("RUST_LOG", "info");
        for (k, v) in envs {
            command.env(k, v);
        }
        String::from_utf8(command.output().unwrap().stderr).unwrap()
    };
    let journal = run(&[("JOURNAL_STREAM", "8:1234")], &[]);
    assert!(!journal.is_empty());
    for line in journal.lines() {
        assert!(
            line.starts_with(" INFO") || line.starts_with(" WARN") || line.starts_with("ERROR"),
            "{line:?}"
        );
        assert!(!line.contains('\u{1b}'), "no colours: {line:?}");
    }
    let json = run(&[], &["--log-format", "json"]);
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.iter().any(|l| {
        l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("phase changed"))
            && l["endpoint"] == "orders"
    }));
}

#[test]
fn a_notify_socket_nobody_reads_never_stalls_the_daemon() {
    let setup = Setup::new(&world(20, true), "");
    setup.write(
        "orders.yaml",
        &endpoint("orders", CLUSTER, &[SUBNET_AZ1], ""),
    );
    let socket_path = setup.path("notify.sock");
    // Bound, never read: its queue (a few datagrams) is full in moments.
    let _socket = UnixDatagram::bind(&socket_path).unwrap();
    let daemon = Daemon::start_with(
        &setup,
        &[],
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            // A watchdog ping every 10 ms.
            ("WATCHDOG_USEC", "20000"),
        ],
    );
    wait_for("dropped notifications counted", LIMIT, || {
        daemon
            .metric("privatelinkd_systemd_notify_dropped_total")
            .is_some_and(|n| n > 20.0)
    });
    let addr = daemon.addr();
    for _ in 0..5 {
        assert_eq!(http_get(&addr, "/healthz").map(|(s, _)| s), Some(200));
    }
    wait_for("orders Active", LIMIT, || {
        setup.phase("orders", "orders").as_deref() == Some("Active")
    });
    let asked = std::time::Instant::now();
    assert_eq!(daemon.stop(), Some(0));
    assert!(asked.elapsed() < Duration::from_secs(10));
}

#[test]
fn status_is_sent_to_systemd_only_when_it_changes() {
    let setup = Setup::new(&world(20, true), "");
    let text = endpoint("orders", CLUSTER, &[SUBNET_AZ1], "");
    setup.write("orders.yaml", &text);
    let socket_path = setup.path("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let daemon = Daemon::start_with(
        &setup,
        &[],
        &[("NOTIFY_SOCKET", socket_path.to_str().unwrap())],
    );
    let mut seen = Vec::new();
    expect_notify(&socket, "STATUS=1 endpoint(s): 1 Active", &mut seen);
    // Five more passes (the file rewritten as it was): nothing new to say.
    let passes = |d: &Daemon| {
        d.metric("privatelinkd_reconcile_passes_total")
            .unwrap_or(0.0)
    };
    let before = passes(&daemon);
    for _ in 0..5 {
        let now = passes(&daemon);
        setup.write("orders.yaml", &text);
        wait_for("another pass", LIMIT, || passes(&daemon) > now);
    }
    assert!(passes(&daemon) >= before + 5.0);
    let mut buf = [0u8; 4096];
    let mut statuses = Vec::new();
    while let Ok(n) = socket.recv(&mut buf) {
        let message = String::from_utf8_lossy(&buf[..n]).to_string();
        if message.contains("STATUS=") {
            statuses.push(message);
        }
    }
    assert!(statuses.is_empty(), "{statuses:?}");
    assert_eq!(daemon.stop(), Some(0));
}

/// A pass made long by a slow provider (every call takes 2 s) never keeps `/healthz`,
/// `/readyz`, `/metrics` or the watchdog waiting: they are answered while the first pass is
/// still under way (no pass has finished when the window ends), each within a 1 s timeout.
#[test]
fn a_long_pass_keeps_answering_health_metrics_and_the_watchdog() {
    let port = free_port();
    let slow = world(20, true).replace("faults: {", "faults: {latency: 2s, ");
    let setup = Setup::new(&slow, "");
    let config = std::fs::read_to_string(setup.config()).unwrap();
    std::fs::write(
        setup.config(),
        config.replace("127.0.0.1:0", &format!("127.0.0.1:{port}")),
    )
    .unwrap();
    setup.write(
        "orders.yaml",
        &endpoint("orders", CLUSTER, &[SUBNET_AZ1], ""),
    );
    let socket_path = setup.path("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_nonblocking(true).unwrap();
    let _daemon = start(
        &setup,
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            // systemd's convention: ping at half the period, so every 150 ms here.
            ("WATCHDOG_USEC", "300000"),
        ],
    );
    wait_for("the listener", LIMIT, || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    // A GET that must answer within 1 s.
    let answer = |path: &str| {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        stream
            .read_to_string(&mut raw)
            .unwrap_or_else(|e| panic!("{path} did not answer within 1 s: {e}"));
        raw
    };
    let mut watchdog_pings = 0;
    let mut buf = [0u8; 4096];
    let window = std::time::Instant::now();
    let mut asked = 0;
    while window.elapsed() < Duration::from_secs(4) {
        assert!(answer("/healthz").starts_with("HTTP/1.1 200"));
        // Not ready yet (the first pass has not finished), but answering.
        assert!(answer("/readyz").starts_with("HTTP/1.1 "));
        let metrics = answer("/metrics");
        assert!(
            metrics.contains("privatelinkd_reconcile_passes_total{result=\"ok\"} 0"),
            "the first pass ended within the window: the test proves nothing\n{metrics}"
        );
        asked += 1;
        while let Ok(n) = socket.recv(&mut buf) {
            let message = String::from_utf8_lossy(&buf[..n]);
            watchdog_pings += message.lines().filter(|l| *l == "WATCHDOG=1").count();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(asked >= 10, "only {asked} rounds of questions");
    // 4 s at one ping per 150 ms is about 26; the loop must not have starved them.
    assert!(
        watchdog_pings >= 15,
        "only {watchdog_pings} watchdog pings in 4 s"
    );
}
