//! The Grafana dashboard against live data: the demo daemon, a real Prometheus server scraping
//! it, and every panel's PromQL run through Prometheus' query API.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::*;

/// Kills the child when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, privatelinkd::cloud::tidb::client::UNRESERVED)
        .to_string()
}

/// Every PromQL expression of the dashboard, by panel title, with Grafana's variables as a
/// dashboard showing every instance would fill them.
fn panel_queries(dashboard: &Value) -> Vec<(String, String)> {
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap().to_string();
            p["targets"].as_array().unwrap().iter().map(move |t| {
                let expr = t["expr"]
                    .as_str()
                    .unwrap()
                    .replace("$instance", ".*")
                    .replace("$__rate_interval", "1m");
                (title.clone(), expr)
            })
        })
        .collect()
}

#[test]
fn every_dashboard_query_runs_on_a_live_prometheus_and_the_demo_shows() {
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string("examples/grafana/privatelinkd.json").unwrap(),
    )
    .unwrap();
    // Importable anywhere: the datasource is a variable, never a hard-coded UID.
    let text = dashboard.to_string();
    assert!(!text.contains("\"uid\":\"P"), "a hard-coded datasource UID");
    for p in dashboard["panels"].as_array().unwrap() {
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
    }

    // The demo, on ports of its own.
    let dir = tempfile::tempdir().unwrap();
    for name in ["world.yaml", "privatelinkd.yaml"] {
        std::fs::copy(format!("examples/demo/{name}"), dir.path().join(name)).unwrap();
    }
    std::fs::create_dir(dir.path().join("endpoints")).unwrap();
    for entry in std::fs::read_dir("examples/demo/endpoints").unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".yaml")
            && !path.to_string_lossy().ends_with(".status.yaml")
        {
            std::fs::copy(
                &path,
                dir.path().join("endpoints").join(path.file_name().unwrap()),
            )
            .unwrap();
        }
    }
    let daemon_port = free_port();
    let config = std::fs::read_to_string(dir.path().join("privatelinkd.yaml"))
        .unwrap()
        .replace("127.0.0.1:9464", &format!("127.0.0.1:{daemon_port}"));
    std::fs::write(dir.path().join("privatelinkd.yaml"), config).unwrap();
    let daemon = Killed(
        privatelinkd_command()
            .args(["run", "--config"])
            .arg(dir.path().join("privatelinkd.yaml"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("daemon.log")).unwrap())
            .spawn()
            .unwrap(),
    );

    // Prometheus, scraping it every second.
    let prom_port = free_port();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n  - job_name: privatelinkd\n    static_configs: [{{targets: [\"127.0.0.1:{daemon_port}\"]}}]\n"
        ),
    )
    .unwrap();
    let prometheus = Killed(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .expect("prometheus is installed (scripts/test installs it)"),
    );
    let prom = format!("127.0.0.1:{prom_port}");
    let query = |expr: &str| -> Value {
        let (status, body) = http_get(&prom, &format!("/api/v1/query?query={}", encode(expr)))
            .unwrap_or((0, String::new()));
        serde_json::from_str(&body).unwrap_or_else(
            |_| serde_json::json!({"status": "unreachable", "code": status, "body": body}),
        )
    };
    // What a failure here needs to be understood: whether each process still runs, what each
    // logged, and what Prometheus thinks of its target.
    let mut processes = [("daemon", daemon), ("prometheus", prometheus)];
    let mut evidence = |what: &str| -> String {
        let mut text = format!("timed out waiting for {what}\n");
        for (name, process) in &mut processes {
            let state = match process.0.try_wait() {
                Ok(Some(exit)) => format!("exited: {exit}"),
                _ => "running".into(),
            };
            let log =
                std::fs::read_to_string(dir.path().join(format!("{name}.log"))).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            text += &format!(
                "--- {name} ({state}), its log's end:\n{}\n",
                tail.join("\n")
            );
        }
        let targets = http_get(&prom, "/api/v1/targets").map(|(_, body)| body);
        text += &format!("--- Prometheus' targets: {targets:?}\n");
        let scrape =
            http_get(&format!("127.0.0.1:{daemon_port}"), "/metrics").map(|(code, body)| {
                (
                    code,
                    body.lines()
                        .filter(|l| l.contains("phase"))
                        .take(20)
                        .collect::<Vec<_>>()
                        .join("\n"),
                )
            });
        text += &format!("--- the daemon's /metrics (phase lines): {scrape:?}\n");
        text
    };
    // The demo shows: one Failed with its message (the zone), and scraped a few times.
    let shows_failed = || {
        query("privatelinkd_endpoint_message{name=\"orders-az-mismatch\",phase=\"Failed\"}")["data"]
            ["result"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    };
    if !eventually(Duration::from_secs(60), shows_failed) {
        panic!("{}", evidence("the demo's Failed endpoint in Prometheus"));
    }
    let scraped_enough = || {
        query("count_over_time(up{job=\"privatelinkd\"}[1m])")["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|n| n >= 4.0)
    };
    if !eventually(Duration::from_secs(30), scraped_enough) {
        panic!("{}", evidence("enough samples for rate()"));
    }

    let queries = panel_queries(&dashboard);
    assert!(queries.len() >= 10, "{queries:?}");
    for (title, expr) in &queries {
        let answer = query(expr);
        assert_eq!(answer["status"], "success", "{title}: {expr}: {answer}");
    }
    let results = |title: &str| -> Vec<Value> {
        queries
            .iter()
            .filter(|(t, _)| t == title)
            .flat_map(|(_, e)| {
                query(e)["data"]["result"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    };
    let phases = results("Endpoints by phase");
    assert!(
        // Every phase has a count (0 too): the demo's Failed one must be counted.
        phases.iter().any(|r| r["metric"]["phase"] == "Failed"
            && r["value"][1].as_str().is_some_and(|v| v != "0")),
        "{phases:?}"
    );
    let failed = results("Failed and waiting endpoints");
    let mismatch = failed
        .iter()
        .find(|r| r["metric"]["name"] == "orders-az-mismatch")
        .unwrap_or_else(|| panic!("{failed:?}"));
    assert_eq!(mismatch["metric"]["file"], "orders-az-mismatch.yaml");
    assert!(
        mismatch["metric"]["message"]
            .as_str()
            .unwrap()
            .contains("use1-az2"),
        "{mismatch}"
    );
    assert!(!results("API requests by operation").is_empty());
    assert!(!results("Leader").is_empty());
    // The instance variable's own query.
    let (_, body) = http_get(
        &prom,
        "/api/v1/label/instance/values?match%5B%5D=privatelinkd_build_info",
    )
    .unwrap();
    assert!(body.contains(&format!("127.0.0.1:{daemon_port}")), "{body}");
}
