//! Deletion safety end to end, with the daemon binary on the simulated cloud: what the latest
//! document said is what happens, held-back departures are visible and released by
//! `approve-deletions`, and hostile entries in the directory are findings, never a hang.

use std::process::Command;
use std::time::Duration;

use crate::common::*;

const LIMIT: Duration = Duration::from_secs(30);

fn privatelinkd(args: &[&str]) -> (Option<i32>, String, String) {
    let out = privatelinkd_command().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn delete_then_orphan_then_remove_leaves_the_endpoint_and_its_connection_untagged() {
    let setup = Setup::new(&world(20, true), "");
    setup.write(
        "orders.yaml",
        &endpoint("orders", CLUSTER, &[SUBNET_AZ1], ""),
    );
    setup.write(
        "stays.yaml",
        &another_endpoint("stays", CLUSTER, &[SUBNET_AZ4], ""),
    );
    let daemon = Daemon::start(&setup, &[]);
    wait_for("both Active", LIMIT, || {
        setup.phase("orders", "orders").as_deref() == Some("Active")
            && setup.phase("stays", "stays").as_deref() == Some("Active")
    });
    let id = setup.status("orders").unwrap()["endpoints"][0]["vpcEndpoint"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let tag = |key: &str| {
        let state = setup.world_state();
        state["endpoints"][&id]["endpoint"]["tags"][key]
            .as_str()
            .map(String::from)
    };
    setup.write(
        "orders.yaml",
        &endpoint(
            "orders",
            CLUSTER,
            &[SUBNET_AZ1],
            "  deletionPolicy: Orphan\n",
        ),
    );
    wait_for("the policy written to the tags", LIMIT, || {
        tag("privatelinkd.io/deletion-policy").as_deref() == Some("Orphan")
    });
    setup.remove("orders.yaml");
    wait_for("orders orphaned", LIMIT, || {
        tag("privatelinkd.io/owner").is_none()
    });
    let state = setup.world_state();
    assert!(
        state["endpoints"][&id]["deleted_at"].is_null(),
        "the endpoint stays"
    );
    let connection = state["connections"]
        .as_object()
        .unwrap()
        .values()
        .find(|c| c["connection"]["endpointId"] == id.as_str())
        .unwrap();
    assert!(connection["deleted_at"].is_null(), "the connection stays");
    // The pass reports after it applied (and wrote the ledger): wait for both lines.
    wait_for("the log says so", LIMIT, || {
        let log = daemon.log();
        log.contains("applied endpoint=orders action=untag")
            && log.contains("in place without privatelinkd's tags")
    });
    let log = daemon.log();
    assert!(
        log.contains("deletionPolicy: Orphan")
            && log.contains("in place without privatelinkd's tags"),
        "{log}"
    );
    assert!(!log.contains("delete_vpc_endpoint"), "{log}");
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn held_back_deletions_are_shown_and_approve_deletions_releases_exactly_them() {
    let setup = Setup::new(&world(20, true), "prune: {maxDeletesPerPass: 1}\n");
    let port = setup.listen_on_free_port();
    let config = setup.config();
    let config = config.to_str().unwrap();
    let names = ["a", "b", "c"];
    for (i, n) in names.into_iter().enumerate() {
        setup.write(
            &format!("{n}.yaml"),
            &nth_endpoint(i, n, CLUSTER, &[SUBNET_AZ1]),
        );
    }
    setup.write(
        "stays.yaml",
        &another_endpoint("stays", CLUSTER, &[SUBNET_AZ4], ""),
    );
    let daemon = Daemon::start(&setup, &[]);
    wait_for("all Active", LIMIT, || {
        names
            .iter()
            .chain(&["stays"])
            .all(|n| setup.phase(n, n).as_deref() == Some("Active"))
    });
    assert_eq!(
        privatelinkd(&["approve-deletions", "--config", config]).1,
        "nothing is held back\n"
    );

    for n in ["a", "b"] {
        setup.remove(&format!("{n}.yaml"));
    }
    // Two departures, one allowed per pass: both are held back, and say so where people look.
    wait_for("a held back", LIMIT, || {
        setup.status("a").is_some_and(|s| {
            s["endpoints"][0]["message"]
                .as_str()
                .unwrap_or("")
                .contains("approve-deletions")
        })
    });
    let held = setup.status("a").unwrap();
    let e = &held["endpoints"][0];
    assert_eq!(e["removed"], true);
    assert_eq!(e["phase"], "Deleting");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains("2 endpoints would leave management in one pass"),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "privatelinkd approve-deletions --config {config} --digest "
        )),
        "{message}"
    );
    // The status file is written before the pass's gauges are set: wait for them too.
    wait_for("the held-back gauge", Duration::from_secs(10), || {
        daemon.metric("privatelinkd_deletions_held_back") == Some(2.0)
    });
    let metrics = http_get(&format!("127.0.0.1:{port}"), "/metrics")
        .unwrap()
        .1;
    assert!(
        metrics.contains("privatelinkd_endpoint_phase{name=\"a\",phase=\"Deleting\"} 1"),
        "{metrics}"
    );
    let (code, out, _) = privatelinkd(&["status", "--config", config]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("a (removed)") && out.contains("b (removed)"),
        "{out}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(setup.live_endpoints().len(), 4, "nothing deleted");

    // The set is listed with its digest; an old digest approves nothing.
    let (code, listed, _) = privatelinkd(&["approve-deletions", "--config", config, "--list"]);
    assert_eq!(code, Some(0));
    assert!(
        listed.contains("  a vpce-") && listed.contains("  b vpce-"),
        "{listed}"
    );
    let digest = listed
        .lines()
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    // A third removal changes the set: the digest seen before no longer approves it.
    setup.remove("c.yaml");
    wait_for("c held back", LIMIT, || {
        daemon.metric("privatelinkd_deletions_held_back") == Some(3.0)
    });
    let (code, _, err) =
        privatelinkd(&["approve-deletions", "--config", config, "--digest", &digest]);
    assert_ne!(code, Some(0));
    assert!(err.contains("not ") && err.contains(&digest), "{err}");
    assert_eq!(setup.live_endpoints().len(), 4, "nothing deleted");
    // Approving what is held now releases exactly that.
    let (code, out, err) = privatelinkd(&["approve-deletions", "--config", config]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("approved 3 departure(s)"), "{out}");
    wait_for("the three deleted", LIMIT, || {
        setup.live_endpoints().len() == 1
    });
    wait_for("their status files gone", LIMIT, || {
        names.iter().all(|n| setup.status(n).is_none())
    });
    assert_eq!(daemon.metric("privatelinkd_deletions_held_back"), Some(0.0));
    // The warning was logged once per held set, not every pass.
    let log = daemon.log();
    assert_eq!(log.matches("WARN deletions held back").count(), 2, "{log}");
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn control_requests_are_answered_on_loopback() {
    let setup = Setup::new(&world(20, true), "");
    let port = setup.listen_on_free_port();
    setup.write("a.yaml", &endpoint("a", CLUSTER, &[SUBNET_AZ1], ""));
    let daemon = Daemon::start(&setup, &[]);
    daemon.wait_ready();
    let addr = format!("127.0.0.1:{port}");
    let (status, body) = http_get(&addr, "/v1/deletions").unwrap();
    assert_eq!(status, 200);
    let held: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(held["endpoints"], serde_json::json!([]));
    let (status, body) = http_request(
        &addr,
        "POST",
        "/v1/deletions/approve",
        r#"{"digest": "0123"}"#,
    )
    .unwrap();
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("nothing is held back"));
    assert_eq!(daemon.stop(), Some(0));
}

/// Entries a config repo should never hold, next to a valid file.
fn hostile(setup: &Setup) {
    let dir = setup.path("endpoints");
    std::os::unix::fs::symlink("/nonexistent/x.yaml", dir.join("dangling.yaml")).unwrap();
    std::os::unix::fs::symlink("loop-b.yaml", dir.join("loop-a.yaml")).unwrap();
    std::os::unix::fs::symlink("loop-a.yaml", dir.join("loop-b.yaml")).unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::os::unix::fs::symlink("..", dir.join("sub/up")).unwrap();
    let fifo = dir.join("pipe.yaml");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
}

#[test]
fn hostile_entries_are_findings_about_their_paths_and_never_stop_the_others() {
    let setup = Setup::new(&world(20, true), "");
    setup.write(
        "orders.yaml",
        &endpoint("orders", CLUSTER, &[SUBNET_AZ1], ""),
    );
    hostile(&setup);
    let dir = setup.path("endpoints");
    let dir = dir.to_str().unwrap();

    // validate: a finding per entry, the valid file read, and no hang on the FIFO.
    let run = std::thread::spawn({
        let dir = dir.to_string();
        move || privatelinkd(&["validate", &dir])
    });
    let started = std::time::Instant::now();
    while !run.is_finished() {
        assert!(started.elapsed() < LIMIT, "validate hangs");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, _, err) = run.join().unwrap();
    assert_eq!(code, Some(1), "{err}");
    for (path, what) in [
        ("dangling.yaml", "dangling symlink"),
        ("loop-a.yaml", "symlink loop"),
        ("sub/up", "a directory already read"),
        ("pipe.yaml", "not a regular file (a FIFO)"),
    ] {
        let line = format!("{dir}/{path}:1:1: error: ");
        assert!(
            err.lines()
                .any(|l| l.starts_with(&line) && l.contains(what)),
            "no `{line}... {what}` in\n{err}"
        );
    }
    assert!(!err.contains("orders.yaml"), "{err}");

    // The daemon: the valid endpoint converges, each entry is logged once, and it answers.
    let daemon = Daemon::start(&setup, &[]);
    wait_for("orders Active", LIMIT, || {
        setup.phase("orders", "orders").as_deref() == Some("Active")
    });
    std::thread::sleep(Duration::from_millis(500));
    let log = daemon.log();
    assert_eq!(
        log.matches("pipe.yaml:1:1: error: not a regular file")
            .count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.matches("dangling.yaml:1:1: error: dangling symlink")
            .count(),
        1,
        "{log}"
    );
    let pipe = std::fs::read_to_string(setup.path("endpoints/pipe.status.yaml")).unwrap();
    assert!(pipe.contains("not a regular file (a FIFO)"), "{pipe}");
    assert_eq!(
        daemon.metric("privatelinkd_config_files{result=\"invalid\"}"),
        Some(5.0),
        "dangling.yaml, loop-a.yaml, loop-b.yaml, sub/up and pipe.yaml"
    );
    let (code, out, _) = privatelinkd(&["status", "--config", setup.config().to_str().unwrap()]);
    assert_eq!(code, Some(0));
    assert!(out.contains("orders") && out.contains("Active"), "{out}");
    assert_eq!(daemon.stop(), Some(0));
}
