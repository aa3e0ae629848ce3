//! `privatelinkd plan`, `status` and `validate --config`, as a user runs them.

use std::time::Duration;

use crate::common::*;

fn privatelinkd(args: &[&str]) -> (Option<i32>, String, String) {
    let out = privatelinkd_command()
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
fn plan_shows_where_each_endpoint_ends_up_with_terraforms_exit_codes_and_changes_nothing() {
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
        stdout.contains("  + create orders (orders.yaml)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "      vpcEndpoint: - -> in {VPC}, subnets [{SUBNET_AZ1}, {SUBNET_AZ4}]"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("      registration: - -> cluster {CLUSTER}\n")),
        "{stdout}"
    );
    assert!(stdout.contains("      privateDns: - -> true\n"), "{stdout}");
    assert!(
        stdout.contains("  ! fail bad-zone (bad-zone.yaml)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "      fails: subnet {SUBNET_AZ2} is in availability zone use1-az2"
        )),
        "{stdout}"
    );
    assert!(
        stdout.ends_with(
            "Plan: 1 to create, 0 to update, 0 to replace, 0 to delete, 0 to orphan. 1 cannot be carried out as written.\n"
        ),
        "{stdout}"
    );
    let (code, _, _) = privatelinkd(&["plan", "--config", config, "--detailed-exitcode"]);
    assert_eq!(code, Some(2), "changes pending");

    // The documented JSON, checked against the schema we ship.
    let (code, stdout, _) = privatelinkd(&["plan", "--config", config, "--output", "json"]);
    assert_eq!(code, Some(0));
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("examples/plan.schema.json").unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(validator.is_valid(&report), "{report}");
    assert_eq!(report["formatVersion"], 1);
    assert_eq!(report["summary"]["create"], 1);
    assert_eq!(report["summary"]["fail"], 1);
    let orders = report["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "orders")
        .unwrap();
    assert_eq!(orders["action"], "create");
    assert_eq!(orders["phaseAfter"], "Active");
    assert_eq!(orders["changes"][1]["field"], "registration");

    // Filters: only the file asked for.
    let (_, stdout, _) = privatelinkd(&[
        "plan",
        "--config",
        config,
        "--output",
        "json",
        "--file",
        "bad-zone.yaml",
    ]);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["endpoints"].as_array().unwrap().len(), 1);
    assert_eq!(report["endpoints"][0]["name"], "bad-zone");
    let (code, _, _) = privatelinkd(&[
        "plan",
        "--config",
        config,
        "--name",
        "bad-zone",
        "--detailed-exitcode",
    ]);
    assert_eq!(code, Some(0), "a failing endpoint alone is no change");

    // Markdown for a pull request.
    let (_, stdout, _) = privatelinkd(&["plan", "--config", config, "--output", "markdown"]);
    assert!(stdout.starts_with("### privatelinkd plan\n"), "{stdout}");
    assert!(
        stdout.contains("| + create | `orders` | orders.yaml |"),
        "{stdout}"
    );

    // Nothing was created and no status file written.
    assert!(setup.live_endpoints().is_empty());
    assert!(setup.status("orders").is_none());
    // An error is 1 under --detailed-exitcode.
    let (code, _, _) = privatelinkd(&[
        "plan",
        "--config",
        "/nonexistent.yaml",
        "--detailed-exitcode",
    ]);
    assert_eq!(code, Some(1));
}

#[test]
fn plan_from_a_running_daemon_shows_a_changed_checkout_without_a_cloud_call() {
    let setup = Setup::new(&ready_world(), "");
    setup.write(
        "orders.yaml",
        &endpoint("orders", CLUSTER, &[SUBNET_AZ1], ""),
    );
    // (One private DNS name per service and VPC: the second endpoint goes without.)
    setup.write(
        "legacy.yaml",
        &endpoint("legacy", CLUSTER, &[SUBNET_AZ4], "  privateDns: false\n"),
    );
    let daemon = Daemon::start(&setup, &[]);
    wait_for("both Active", Duration::from_secs(30), || {
        setup.phase("orders", "orders").as_deref() == Some("Active")
            && setup.phase("legacy", "legacy").as_deref() == Some("Active")
    });
    // A pull request's checkout: orders moves to two subnets, legacy is removed, api is new.
    // Its config points at a world that does not exist: a cloud call would fail.
    let pr = Setup::new("not a world", "");
    pr.write(
        "orders.yaml",
        &endpoint("orders", CLUSTER, &[SUBNET_AZ1, SUBNET_AZ4], ""),
    );
    pr.write(
        "api.yaml",
        &endpoint("api", CLUSTER, &[SUBNET_AZ1], "  privateDns: false\n"),
    );
    let url = format!("http://{}", daemon.addr());
    let config = pr.config();
    let (code, stdout, stderr) = privatelinkd(&[
        "plan",
        "--config",
        config.to_str().unwrap(),
        "--from",
        &url,
        "--detailed-exitcode",
    ]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("Observed from: {url}")),
        "{stdout}"
    );
    assert!(
        stdout.contains("  ~ update orders (orders.yaml)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "      subnetIds: [{SUBNET_AZ1}] -> [{SUBNET_AZ1}, {SUBNET_AZ4}]\n"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("  + create api (api.yaml)\n"), "{stdout}");
    assert!(
        stdout.contains("  - delete legacy (legacy.yaml)\n"),
        "{stdout}"
    );
    // Unchanged: the daemon's own checkout.
    let (code, stdout, _) = privatelinkd(&[
        "plan",
        "--config",
        setup.config().to_str().unwrap(),
        "--from",
        &url,
        "--detailed-exitcode",
    ]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("2 unchanged"), "{stdout}");
}

/// `plan --from` plans with the daemon's facts: what `plan` against the cloud tells (a subnet
/// in a zone the service does not offer, a cluster in another region), it tells too, and the
/// two agree endpoint by endpoint.
#[test]
fn plan_from_a_daemon_and_plan_from_the_cloud_agree() {
    let setup = Setup::new(&ready_world(), "");
    setup.write(
        "orders.yaml",
        &endpoint("orders", CLUSTER, &[SUBNET_AZ1], ""),
    );
    setup.write(
        "bad-zone.yaml",
        &endpoint("bad-zone", CLUSTER, &[SUBNET_AZ2], "  privateDns: false\n"),
    );
    let daemon = Daemon::start(&setup, &[]);
    wait_for(
        "orders Active, bad-zone Failed",
        Duration::from_secs(30),
        || {
            setup.phase("orders", "orders").as_deref() == Some("Active")
                && setup.phase("bad-zone", "bad-zone").as_deref() == Some("Failed")
        },
    );
    let url = format!("http://{}", daemon.addr());
    let json = |config: &str, extra: &[&str]| {
        let mut args = vec!["plan", "--config", config, "--output", "json", "--all"];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = privatelinkd(&args);
        assert_eq!(code, Some(0), "{stdout}{stderr}");
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let mut rows: Vec<(String, String, String)> = report["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let field = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                (field("name"), field("action"), field("reason"))
            })
            .collect();
        rows.sort();
        rows
    };
    let config = setup.config();
    let config = config.to_str().unwrap();
    let from_daemon = json(config, &["--from", &url]);
    let from_cloud = json(config, &[]);
    assert_eq!(from_daemon, from_cloud);
    let action = |name: &str| {
        let row = from_daemon.iter().find(|r| r.0 == name).unwrap();
        (row.1.as_str(), row.2.clone())
    };
    let (bad_zone, why) = action("bad-zone");
    assert_eq!(bad_zone, "fail", "{from_daemon:?}");
    assert!(why.contains(SUBNET_AZ2), "{why}");
    assert_eq!(action("orders").0, "none", "{from_daemon:?}");

    // A pull request's new document for the same cluster in another region: the daemon's
    // sighting of the cluster says where it is, without a cloud call.
    let pr = Setup::new("not a world", "");
    pr.write(
        "elsewhere.yaml",
        &endpoint("elsewhere", CLUSTER, &[SUBNET_AZ1], "  privateDns: false\n")
            .replace("region: us-east-1", "region: eu-west-1"),
    );
    let config = pr.config();
    let rows = json(config.to_str().unwrap(), &["--from", &url]);
    // (and orders, which that checkout does not name, leaves; bad-zone never had an endpoint)
    assert_eq!(rows.len(), 2, "{rows:?}");
    let elsewhere = rows.iter().find(|r| r.0 == "elsewhere").unwrap();
    assert_eq!(elsewhere.1, "fail", "{rows:?}");
    assert!(elsewhere.2.contains("us-east-1"), "{rows:?}");
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
        stdout.contains("5 file(s), 5 endpoint(s): all valid"),
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
fn the_shipped_production_config_refuses_its_placeholders_and_is_valid_once_filled() {
    let path = std::path::Path::new("config/privatelinkd.yaml");
    let problems = privatelinkd::settings::Settings::load(path).unwrap_err();
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with(
            "config/privatelinkd.yaml:8:10: error: ownerId is still the placeholder `CHANGE-ME`"
        ),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with(
            "config/privatelinkd.yaml:12:14: error: tidbCloud.publicKey is still the placeholder"
        ),
        "{lines:?}"
    );
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("ownerId: CHANGE-ME", "ownerId: host-a")
        .replace("publicKey: CHANGE-ME", "publicKey: PUBKEY01");
    let settings = privatelinkd::settings::Settings::parse(path, &text).unwrap();
    assert_eq!(
        settings.backends(),
        (
            privatelinkd::settings::Backend::Real,
            privatelinkd::settings::Backend::Real,
            privatelinkd::settings::Backend::Real
        )
    );
    assert_eq!(settings.file.tidb_cloud.requests_per_minute, 100);
}

#[test]
fn a_config_with_a_syntax_error_reports_that_error_only() {
    let setup = Setup::new(&ready_world(), "");
    let config = setup.config();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}prune: {{maxDeletesPerPass: 5\n")).unwrap();
    let (code, _, stderr) = privatelinkd(&["validate", "--config", config.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].starts_with(&format!("{}:", config.display()))
            && errors[0].contains(": error: YAML syntax:"),
        "{stderr}"
    );
    assert!(!stderr.contains("the file is empty"), "{stderr}");
}

#[test]
fn only_the_daemon_warns_that_it_has_no_state_dir() {
    let setup = Setup::new(&ready_world(), "");
    setup.write(
        "orders.yaml",
        &endpoint("orders", CLUSTER, &[SUBNET_AZ1, SUBNET_AZ4], ""),
    );
    let config = setup.config();
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("stateDir: ./state\n"), "{text}");
    std::fs::write(&config, text.replace("stateDir: ./state\n", "")).unwrap();
    let config = config.to_str().unwrap();
    for args in [
        &["plan", "--config", config][..],
        &["validate", "--config", config],
    ] {
        let (code, _, stderr) = privatelinkd(args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("stateDir"), "{args:?}: {stderr}");
    }
    let (code, _, stderr) = privatelinkd(&["run", "--once", "--config", config]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("no stateDir: a region whose last endpoint file is removed while privatelinkd is down is not cleaned up"), "{stderr}");
}
