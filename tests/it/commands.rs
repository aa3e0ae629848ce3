//! `privatelinkd plan`, `status` and `validate --config`, as a user runs them.

use std::process::Command;
use std::time::Duration;

use crate::common::*;

fn privatelinkd(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(binary())
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// A world whose services are Active from the start.
fn ready_world() -> String {
    world(20, true).replace("serviceCreate: 1s", "serviceCreate: 0s")
}

#[test]
fn plan_shows_what_would_happen_and_changes_nothing() {
    let setup = Setup::new(&ready_world(), "");
    setup.write(
        "orders.yaml",
        &endpoint("orders", CLUSTER, &[SUBNET_AZ1, SUBNET_AZ4], ""),
    );
    setup.write(
        "bad-zone.yaml",
        &endpoint("bad-zone", CLUSTER, &[SUBNET_AZ2], ""),
    );
    let config = setup.config();
    let config = config.to_str().unwrap();
    let (code, stdout, stderr) = privatelinkd(&["plan", "--config", config]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("orders (NotConfigured): creating the VPC endpoint\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "  + create VPC endpoint in {VPC} ({SUBNET_AZ1}, {SUBNET_AZ4})\n"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("  + register the new endpoint with TiDB Cloud\n"),
        "{stdout}"
    );
    assert!(stdout.contains("bad-zone (Failed): subnet"), "{stdout}");
    assert!(
        stdout.ends_with(
            "Plan: 2 to add, 0 to change, 0 to destroy. Endpoints: 1 NotConfigured, 1 Failed\n"
        ),
        "{stdout}"
    );

    let (code, stdout, _) = privatelinkd(&["plan", "--config", config, "--output", "json"]);
    assert_eq!(code, Some(0));
    let plans: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    let orders = plans.iter().find(|p| p["name"] == "orders").unwrap();
    assert_eq!(orders["phase"], "NotConfigured");
    assert_eq!(orders["actions"][0]["action"], "create_vpc_endpoint");
    assert_eq!(orders["actions"][0]["vpc_id"], VPC);

    // Nothing was created and no status file written.
    assert!(setup.live_endpoints().is_empty());
    assert!(setup.status("orders").is_none());
}

#[test]
fn status_lists_every_endpoint_from_the_status_files() {
    let setup = Setup::new(&ready_world(), "");
    setup.write(
        "orders.yaml",
        &endpoint("orders", CLUSTER, &[SUBNET_AZ1], ""),
    );
    setup.write("bad.yaml", "apiVersion: privatelinkd.io/v1\nkind: Nope\n");
    let config = setup.config();
    let config = config.to_str().unwrap();
    let (_, stdout, _) = privatelinkd(&["status", "--config", config]);
    assert!(stdout.contains("no status yet"), "{stdout}");
    wait_for(
        "orders Active through run --once",
        Duration::from_secs(30),
        || {
            privatelinkd(&["run", "--once", "--config", config]);
            setup.phase("orders", "orders").as_deref() == Some("Active")
        },
    );
    let (code, stdout, _) = privatelinkd(&["status", "--config", config]);
    assert_eq!(code, Some(0));
    let row = stdout.lines().find(|l| l.starts_with("orders ")).unwrap();
    assert!(row.contains("Active") && row.contains("vpce-"), "{row}");
    assert!(stdout.contains("invalid file: "), "{stdout}");
    assert!(
        stdout.contains("bad.yaml:2:7: error: kind: expected one of `PrivateEndpoint`"),
        "{stdout}"
    );

    let (_, stdout, _) = privatelinkd(&["status", "--config", config, "--output", "json"]);
    let files: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(files.len(), 2);
}

#[test]
fn validate_checks_the_daemon_config_and_its_world() {
    let (code, stdout, stderr) =
        privatelinkd(&["validate", "--config", "examples/demo/privatelinkd.yaml"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("3 file(s), 3 endpoint(s): all valid"),
        "{stdout}"
    );

    let setup = Setup::new(
        "clusters: [{id: 1}]\ntimeScale: fast\n",
        "prune: {maxDeletesPerPass: many}\nbogus: true\n",
    );
    let (code, _, stderr) =
        privatelinkd(&["validate", "--config", setup.config().to_str().unwrap()]);
    assert_eq!(code, Some(1));
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.iter().any(|l| l.ends_with("privatelinkd.yaml:8:28: error: prune.maxDeletesPerPass: expected a whole number, found the string \"many\"")), "{stderr}");
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("privatelinkd.yaml:9:1: error: unknown field `bogus`")),
        "{stderr}"
    );
    assert!(
        !stderr.contains("world.yaml"),
        "an invalid config names no world to check: {stderr}"
    );
}

#[test]
fn the_shipped_production_config_is_valid() {
    let settings =
        privatelinkd::settings::Settings::load(std::path::Path::new("config/privatelinkd.yaml"))
            .unwrap();
    assert_eq!(
        settings.backends(),
        (
            privatelinkd::settings::Backend::Real,
            privatelinkd::settings::Backend::Real
        )
    );
    assert_eq!(settings.file.tidb_cloud.requests_per_minute, 100);
}
