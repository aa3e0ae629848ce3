//! Fault campaigns against the daemon binary: crashes, flaky providers, bad input, secrets, soak.
//!
//! Quick versions run in CI; `PRIVATELINKD_CAMPAIGN=full` runs the full ones (see
//! BENCHMARKS.md): 50 kills during a 50-endpoint convergence, and an hour of simulated time.

use std::time::{Duration, Instant};

use crate::common::*;

fn full() -> bool {
    std::env::var("PRIVATELINKD_CAMPAIGN").is_ok_and(|v| v == "full")
}

fn all_active(setup: &Setup, names: &[String]) -> bool {
    names
        .iter()
        .all(|n| setup.phase(n, n).as_deref() == Some("Active"))
}

#[test]
fn kill_9_during_convergence_never_duplicates_or_leaks() {
    let (endpoints, kills) = if full() { (50, 50) } else { (50, 12) };
    let setup = Setup::new(&world(30, true), "");
    let names: Vec<String> = (0..endpoints).map(|i| format!("ep-{i:02}")).collect();
    for (i, n) in names.iter().enumerate() {
        setup.write(
            &format!("{n}.yaml"),
            &nth_endpoint(i, n, CLUSTER, &[SUBNET_AZ1, SUBNET_AZ4]),
        );
    }
    let started = Instant::now();
    let daemon = crash_repeatedly(
        &setup,
        kills,
        0x0dd_ba11,
        Duration::from_millis(30),
        Duration::from_millis(600),
    );
    let restarted = Instant::now();
    wait_for("every endpoint Active", Duration::from_secs(120), || {
        all_active(&setup, &names)
    });
    assert_one_endpoint_and_connection_per_document(&setup, endpoints);
    // Leaks: endpoints or connections made and never deleted beyond one per document.
    let made = setup.world_state()["endpoints"].as_object().unwrap().len();
    eprintln!(
        "campaign: {kills} kill -9s during a {endpoints}-endpoint convergence ({:.1} s), then all \
         Active {:.1} s after the last start; {made} endpoints ever made, 0 duplicates, 0 leaks",
        (restarted - started).as_secs_f64(),
        restarted.elapsed().as_secs_f64()
    );
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn flaky_providers_with_throttling_bursts_still_converge_and_show_it() {
    // 20 % of EC2 calls fail (simulated 503s); TiDB Cloud is the fake server, answering 20 %
    // of requests with 500 and every 7th with a burst of two 429s.
    let setup = Setup::new(
        &world(20, true).replace("faults: {", "faults: {errorRate: 0.2, "),
        "",
    );
    std::fs::write(setup.path("key.txt"), "pk-campaign-SECRET-77\n").unwrap();
    let fake = FakeTidb::start(
        &world(20, true),
        fake_tidbcloud::Options {
            public_key: "CAMPAIGN".into(),
            private_key: privatelinkd::secret::Secret::new("pk-campaign-SECRET-77"),
            algorithm: fake_tidbcloud::Algorithm::Sha256,
            requests_per_minute: 1000,
            window: Duration::from_secs(60),
            faults: fake_tidbcloud::Faults {
                server_error_rate: 0.2,
                latency: Duration::ZERO,
                throttle_every: Some(7),
                throttle_burst: 2,
            },
        },
    );
    let port = setup.listen_on_free_port();
    setup.edit_config(|config| format!(
        "{config}cloud: {{tidbCloud: real, aws: simulated}}\ntidbCloud: {{apiUrl: \"{}\", publicKey: CAMPAIGN, privateKeyFile: ./key.txt, requestsPerMinute: 1000}}\n",
        fake.url()
    ));
    let names: Vec<String> = (0..8).map(|i| format!("ep-{i}")).collect();
    for (i, n) in names.iter().enumerate() {
        setup.write(
            &format!("{n}.yaml"),
            &nth_endpoint(i, n, CLUSTER, &[SUBNET_AZ1]),
        );
    }
    let daemon = Daemon::start(&setup, &[]);
    let started = Instant::now();
    let converged = eventually(Duration::from_secs(90), || all_active(&setup, &names));
    let took = started.elapsed();
    let metrics = scrape(port);
    drop(fake);
    assert!(
        converged,
        "did not converge:\n{}",
        std::fs::read_to_string(setup.path("daemon.log")).unwrap()
    );
    for outcome in ["server_error", "throttled"] {
        let count: f64 = metrics
            .lines()
            .filter(|l| {
                l.starts_with("privatelinkd_api_requests_total{api=\"tidbcloud\"")
                    && l.contains(&format!("outcome=\"{outcome}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert!(
            count > 0.0,
            "no tidbcloud {outcome} in the metrics:\n{metrics}"
        );
    }
    assert!(metrics.contains("api=\"ec2\"") && metrics.contains("outcome=\"server_error\""));
    let total = |api: &str, outcome: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| {
                l.starts_with(&format!("privatelinkd_api_requests_total{{api=\"{api}\""))
                    && l.contains(&format!("outcome=\"{outcome}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    eprintln!(
        "campaign: {} endpoints Active in {:.1} s through 20 % provider failures and 429 bursts; \
         metrics: tidbcloud {} ok / {} server_error / {} throttled, ec2 {} ok / {} server_error",
        names.len(),
        took.as_secs_f64(),
        total("tidbcloud", "ok"),
        total("tidbcloud", "server_error"),
        total("tidbcloud", "throttled"),
        total("ec2", "ok"),
        total("ec2", "server_error"),
    );
    // The key is in no log line, status file or metric.
    let log = std::fs::read_to_string(setup.path("daemon.log")).unwrap();
    assert!(!log.contains("pk-campaign-SECRET-77") && !metrics.contains("pk-campaign-SECRET-77"));
    for n in &names {
        let status =
            std::fs::read_to_string(setup.path(&format!("endpoints/{n}.status.yaml"))).unwrap();
        assert!(!status.contains("pk-campaign-SECRET-77"));
    }
    assert_eq!(daemon.stop(), Some(0));
}

fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    let _ = stream.read_to_string(&mut raw);
    raw
}

#[test]
fn every_broken_file_of_the_corpus_while_running_deletes_nothing() {
    let setup = Setup::new(&world(20, true), "");
    let names = [
        "keep-a".to_string(),
        "keep-b".to_string(),
        "victim".to_string(),
    ];
    for (i, n) in names.iter().enumerate() {
        setup.write(
            &format!("{n}.yaml"),
            &nth_endpoint(i, n, CLUSTER, &[SUBNET_AZ1]),
        );
    }
    let mut daemon = Daemon::start(&setup, &[]);
    wait_for("all Active", Duration::from_secs(30), || {
        all_active(&setup, &names)
    });
    let ids: Vec<String> = setup
        .live_endpoints()
        .iter()
        .map(|e| e["endpoint"]["id"].as_str().unwrap().to_string())
        .collect();
    let corpus: Vec<_> = std::fs::read_dir("tests/fixtures/invalid")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for (i, broken) in corpus.iter().enumerate() {
        // Written, then edited (a second broken version), then removed and restored.
        std::fs::copy(broken, setup.path("endpoints/victim.yaml")).unwrap();
        std::thread::sleep(Duration::from_millis(120));
        let other = &corpus[(i + 1) % corpus.len()];
        std::fs::copy(other, setup.path("endpoints/victim.yaml")).unwrap();
        std::thread::sleep(Duration::from_millis(120));
        assert!(daemon.alive(), "the daemon died on {}", broken.display());
        assert_eq!(
            setup.live_endpoints().len(),
            3,
            "something was deleted while {} was in place",
            broken.display()
        );
    }
    setup.write(
        "victim.yaml",
        &another_endpoint("victim", CLUSTER, &[SUBNET_AZ1], ""),
    );
    wait_for("all Active again", Duration::from_secs(30), || {
        all_active(&setup, &names)
    });
    let after: Vec<String> = setup
        .live_endpoints()
        .iter()
        .map(|e| e["endpoint"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(after, ids, "the same endpoints, untouched");

    // Emptying the directory: the guard holds.
    for n in &names {
        setup.remove(&format!("{n}.yaml"));
    }
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(setup.live_endpoints().len(), 3);
    assert!(daemon.alive());
    assert_eq!(daemon.stop(), Some(0));
    assert!(
        std::fs::read_to_string(setup.path("daemon.log"))
            .unwrap()
            .contains("deletions held back")
    );
}

#[test]
fn soak_with_random_edits_keeps_memory_tasks_and_files_flat() {
    let (real, scale) = if full() {
        (Duration::from_secs(120), 30)
    } else {
        (Duration::from_secs(12), 300)
    };
    // An hour of simulated time: 12 s at 300x in the quick run, 2 min at 30x in the full one.
    let setup = Setup::new(&world(scale, true), "");
    let names: Vec<String> = (0..20).map(|i| format!("ep-{i:02}")).collect();
    for (i, n) in names.iter().enumerate() {
        setup.write(
            &format!("{n}.yaml"),
            &nth_endpoint(i, n, CLUSTER, &[SUBNET_AZ1]),
        );
    }
    let mut daemon = Daemon::start(&setup, &[]);
    wait_for("all Active", Duration::from_secs(60), || {
        all_active(&setup, &names)
    });
    let (rss0, threads0, files0) = (
        daemon.proc_status("VmRSS:"),
        daemon.proc_status("Threads:"),
        daemon.open_files(),
    );
    let start = Instant::now();
    let mut seed: u64 = 7;
    let subnet_sets: [&[&str]; 3] = [
        &[SUBNET_AZ1],
        &[SUBNET_AZ1, SUBNET_AZ4],
        &[SUBNET_AZ4, SUBNET_AZ6],
    ];
    let mut peak = rss0;
    while start.elapsed() < real {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let n = &names[(seed >> 33) as usize % names.len()];
        let subnets = subnet_sets[(seed >> 40) as usize % subnet_sets.len()];
        setup.write(
            &format!("{n}.yaml"),
            &another_endpoint(n, CLUSTER, subnets, ""),
        );
        std::thread::sleep(Duration::from_millis(150));
        peak = peak.max(daemon.proc_status("VmRSS:"));
        assert!(daemon.alive());
    }
    let (rss1, threads1, files1) = (
        daemon.proc_status("VmRSS:"),
        daemon.proc_status("Threads:"),
        daemon.open_files(),
    );
    assert!(
        threads1 <= threads0 + 2,
        "threads grew: {threads0} -> {threads1}"
    );
    assert!(
        files1 <= files0 + 4,
        "open files grew: {files0} -> {files1}"
    );
    assert!(
        rss1 < rss0 + 16 * 1024,
        "memory grew: {rss0} KiB -> {rss1} KiB (peak {peak})"
    );
    assert_eq!(daemon.stop(), Some(0));
}
