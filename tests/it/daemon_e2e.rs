//! The daemon binary end to end on the simulated cloud: files in, endpoints and status out.
//!
//! Each test runs `privatelinkd run` in a temp directory with a persisted simulated world, so
//! the world can be inspected from outside the process (and survives kill -9).

use std::time::Duration;

use crate::common::*;

const LIMIT: Duration = Duration::from_secs(30);

fn fast_world() -> String {
    world(20, true)
}

#[test]
fn files_converge_to_active_and_failures_say_why() {
    let setup = Setup::new(&fast_world(), "");
    setup.write(
        "orders.yaml",
        &endpoint("orders", CLUSTER, &[SUBNET_AZ1, SUBNET_AZ4], ""),
    );
    setup.write(
        "bad-zone.yaml",
        &endpoint("bad-zone", CLUSTER, &[SUBNET_AZ1, SUBNET_AZ2], ""),
    );
    setup.write(
        "team/legacy.yml",
        &endpoint("legacy", FAILING_CLUSTER, &[SUBNET_AZ4], ""),
    );
    let _daemon = Daemon::start(&setup, &[]);
    wait_for("orders Active", LIMIT, || {
        setup.phase("orders", "orders").as_deref() == Some("Active")
    });
    wait_for("legacy Failed", LIMIT, || {
        std::fs::read_to_string(setup.path("endpoints/team/legacy.status.yaml"))
            .is_ok_and(|t| t.contains("phase: Failed"))
    });
    let bad = setup.status("bad-zone").unwrap();
    assert_eq!(bad["endpoints"][0]["phase"], "Failed");
    let message = bad["endpoints"][0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "subnet {SUBNET_AZ2} is in availability zone use1-az2"
        )),
        "{message}"
    );
    let orders = setup.status("orders").unwrap();
    let e = &orders["endpoints"][0];
    assert_eq!(e["vpcEndpoint"]["privateDnsEnabled"], true);
    assert_eq!(e["connection"]["state"], "ACTIVE");
    assert_eq!(e["service"]["state"], "Active");
    assert_eq!(orders["file"], "orders.yaml");
    // Exactly two endpoints were made (orders, legacy); bad-zone never got one.
    assert_eq!(setup.live_endpoints().len(), 2);
}

#[test]
fn edits_modify_in_place_and_removals_delete_or_orphan() {
    let setup = Setup::new(&fast_world(), "");
    setup.write("a.yaml", &endpoint("a", CLUSTER, &[SUBNET_AZ1], ""));
    setup.write(
        "keep.yaml",
        &another_endpoint("keep", CLUSTER, &[SUBNET_AZ1], "  deletionPolicy: Orphan\n"),
    );
    // A third endpoint stays throughout: a directory without any document holds every
    // departure back (the mass-deletion guard), which is not what this test is about.
    setup.write(
        "stays.yaml",
        &another_endpoint("stays", CLUSTER, &[SUBNET_AZ4], ""),
    );
    let _daemon = Daemon::start(&setup, &[]);
    wait_for("all Active", LIMIT, || {
        ["a", "keep", "stays"]
            .iter()
            .all(|n| setup.phase(n, n).as_deref() == Some("Active"))
    });
    let id = setup.status("a").unwrap()["endpoints"][0]["vpcEndpoint"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // A subnet added: the same endpoint gains it.
    setup.write(
        "a.yaml",
        &endpoint("a", CLUSTER, &[SUBNET_AZ1, SUBNET_AZ6], ""),
    );
    wait_for("subnet added in place", LIMIT, || {
        let s = setup.status("a").unwrap();
        let e = &s["endpoints"][0];
        e["phase"] == "Active"
            && e["vpcEndpoint"]["subnetIds"]
                .as_array()
                .is_some_and(|a| a.len() == 2)
    });
    assert_eq!(
        setup.status("a").unwrap()["endpoints"][0]["vpcEndpoint"]["id"],
        id.as_str()
    );
    assert_eq!(setup.live_endpoints().len(), 3);

    // Removed with Delete: connection and endpoint go, and so does the status file.
    setup.remove("a.yaml");
    wait_for("endpoint a deleted", LIMIT, || {
        setup.live_endpoints().len() == 2
    });
    wait_for("a.status.yaml removed", LIMIT, || {
        setup.status("a").is_none()
    });
    let state = setup.world_state();
    let connections = state["connections"].as_object().unwrap();
    let a_connection = connections
        .values()
        .find(|c| c["connection"]["endpointId"] == id.as_str())
        .unwrap();
    assert!(
        !a_connection["deleted_at"].is_null(),
        "the connection is deleted too"
    );

    // Removed with Orphan: the endpoint stays, without our tags.
    setup.remove("keep.yaml");
    wait_for("keep orphaned", LIMIT, || {
        let live = setup.live_endpoints();
        live.len() == 2
            && live.iter().any(|e| {
                e["endpoint"]["tags"]
                    .as_object()
                    .is_some_and(|t| !t.keys().any(|k| k.starts_with("privatelinkd.io/")))
            })
    });
}

#[test]
fn an_invalid_file_deletes_nothing_and_reports_its_errors() {
    let setup = Setup::new(&fast_world(), "");
    setup.write("a.yaml", &endpoint("a", CLUSTER, &[SUBNET_AZ1], ""));
    setup.write("b.yaml", &another_endpoint("b", CLUSTER, &[SUBNET_AZ4], ""));
    let _daemon = Daemon::start(&setup, &[]);
    wait_for("a Active", LIMIT, || {
        setup.phase("a", "a").as_deref() == Some("Active")
    });
    wait_for("b Active", LIMIT, || {
        setup.phase("b", "b").as_deref() == Some("Active")
    });
    setup.write(
        "a.yaml",
        "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\nmetadata: {name: a\n",
    );
    wait_for("errors in a's status", LIMIT, || {
        setup
            .status("a")
            .is_some_and(|s| s["errors"].as_array().is_some_and(|e| !e.is_empty()))
    });
    let status = setup.status("a").unwrap();
    assert!(
        status["errors"][0].as_str().unwrap().contains("a.yaml:3:"),
        "{status}"
    );
    assert_eq!(
        status["endpoints"][0]["phase"], "Active",
        "the last known phase is kept"
    );
    // Several more passes: still nothing deleted.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(setup.live_endpoints().len(), 2);
    // Fixed again: back to normal, same endpoint.
    setup.write("a.yaml", &endpoint("a", CLUSTER, &[SUBNET_AZ1], ""));
    wait_for("errors cleared", LIMIT, || {
        setup
            .status("a")
            .is_some_and(|s| s["errors"].as_array().is_some_and(|e| e.is_empty()))
    });
    assert_eq!(setup.live_endpoints().len(), 2);
}

#[test]
fn the_mass_deletion_guard_holds_when_the_directory_is_emptied() {
    let setup = Setup::new(&fast_world(), "prune: {maxDeletesPerPass: 1}\n");
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        setup.write(
            &format!("{name}.yaml"),
            &nth_endpoint(i, name, CLUSTER, &[SUBNET_AZ1]),
        );
    }
    let daemon = Daemon::start(&setup, &[]);
    wait_for("three Active", LIMIT, || {
        ["a", "b", "c"]
            .iter()
            .all(|n| setup.phase(n, n).as_deref() == Some("Active"))
    });
    for name in ["a", "b", "c"] {
        setup.remove(&format!("{name}.yaml"));
    }
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(setup.live_endpoints().len(), 3, "nothing deleted");
    daemon.signal("TERM");
    let (code, stderr) = daemon.wait(LIMIT);
    assert_eq!(code, Some(0));
    assert!(
        stderr.contains("deletions held back: the endpoints directory is empty or missing"),
        "{stderr}"
    );
    // Said explicitly: the deletions go ahead.
    let _daemon = Daemon::start(&setup, &["--allow-mass-delete"]);
    wait_for("all deleted", LIMIT, || setup.live_endpoints().is_empty());
}

#[test]
fn sighup_reloads_the_config_and_keeps_the_old_one_when_the_new_is_bad() {
    let setup = Setup::new(&fast_world(), "");
    std::fs::create_dir(setup.path("other")).unwrap();
    setup.write("a.yaml", &endpoint("a", CLUSTER, &[SUBNET_AZ1], ""));
    std::fs::write(
        setup.path("other/z.yaml"),
        another_endpoint("z", CLUSTER, &[SUBNET_AZ4], ""),
    )
    .unwrap();
    let daemon = Daemon::start(&setup, &["--allow-mass-delete"]);
    wait_for("a Active", LIMIT, || {
        setup.phase("a", "a").as_deref() == Some("Active")
    });

    let config = std::fs::read_to_string(setup.config()).unwrap();
    std::fs::write(setup.config(), "endpointsDir: [not, a, path]\n").unwrap();
    daemon.signal("HUP");
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(
        setup.config(),
        config.replace("endpointsDir: ./endpoints", "endpointsDir: ./other"),
    )
    .unwrap();
    daemon.signal("HUP");
    wait_for("z Active after reload", LIMIT, || {
        std::fs::read_to_string(setup.path("other/z.status.yaml"))
            .is_ok_and(|t| t.contains("phase: Active"))
    });
    daemon.signal("TERM");
    let (code, stderr) = daemon.wait(LIMIT);
    assert_eq!(code, Some(0));
    assert!(stderr.contains("keeping the old one"), "{stderr}");
    assert!(stderr.contains("configuration reloaded"), "{stderr}");
}

#[test]
fn sigterm_exits_cleanly_and_once_does_one_pass() {
    let setup = Setup::new(&fast_world(), "");
    setup.write("a.yaml", &endpoint("a", CLUSTER, &[SUBNET_AZ1], ""));
    let daemon = Daemon::start(&setup, &[]);
    wait_for("a status", LIMIT, || setup.status("a").is_some());
    daemon.signal("TERM");
    let (code, stderr) = daemon.wait(Duration::from_secs(15));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("stopped"));

    let (code, _) = Daemon::start(&setup, &["--once"]).wait(LIMIT);
    assert_eq!(code, Some(0));
}

#[test]
fn kill_9_at_random_instants_never_duplicates_or_leaks() {
    let setup = Setup::new(&world(20, true), "");
    for i in 0..20 {
        setup.write(
            &format!("ep-{i:02}.yaml"),
            &nth_endpoint(i, &format!("ep-{i:02}"), CLUSTER, &[SUBNET_AZ1]),
        );
    }
    let daemon = crash_repeatedly(
        &setup,
        8,
        0x5eed,
        Duration::from_millis(50),
        Duration::from_millis(400),
    );
    wait_for("all 20 Active", Duration::from_secs(60), || {
        (0..20).all(|i| {
            let n = format!("ep-{i:02}");
            setup.phase(&n, &n).as_deref() == Some("Active")
        })
    });
    assert_one_endpoint_and_connection_per_document(&setup, 20);
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn status_files_go_to_status_dir_when_one_is_set() {
    let setup = Setup::new(&fast_world(), "statusDir: ./status\n");
    setup.write(
        "team/orders.yaml",
        &endpoint("orders", CLUSTER, &[SUBNET_AZ1], ""),
    );
    let _daemon = Daemon::start(&setup, &[]);
    wait_for("orders Active in statusDir", LIMIT, || {
        std::fs::read_to_string(setup.path("status/orders.status.yaml"))
            .is_ok_and(|t| t.contains("phase: Active"))
    });
    assert!(!setup.path("endpoints/team/orders.status.yaml").exists());
    let status = std::fs::read_to_string(setup.path("status/orders.status.yaml")).unwrap();
    assert!(status.contains("file: team/orders.yaml"), "{status}");
    let out = privatelinkd_command()
        .args(["status", "--config"])
        .arg(setup.config())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("orders ") && l.contains("Active")),
        "{stdout}"
    );
}
