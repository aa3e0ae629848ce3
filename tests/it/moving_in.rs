//! `privatelinkd import` on the simulated world, as a new user runs it: endpoints made by
//! hand become documents whose plan is empty, and what does not match is reported.

use std::time::Duration;

use crate::common::*;

const REGISTERED: &str = "vpce-0e0000000000000a1";
const FAILED: &str = "vpce-0e0000000000000b2";
const UNREGISTERED: &str = "vpce-0e0000000000000c3";
const DELETED: &str = "vpce-0e0000000000000d4";
const MANAGED: &str = "vpce-0e0000000000000e5";

/// The test world, with endpoints made by hand before privatelinkd came.
fn estate() -> String {
    let world = world(20, false).replace("serviceCreate: 1s", "serviceCreate: 0s");
    format!(
        "{world}existing:
  - {{id: {REGISTERED}, cluster: \"{CLUSTER}\", vpc: {VPC}, subnets: [{SUBNET_AZ1}, {SUBNET_AZ4}], securityGroups: [{SG}], privateDns: true}}
  - {{id: {FAILED}, cluster: \"{FAILING_CLUSTER}\", vpc: {VPC}, subnets: [{SUBNET_AZ6}], connection: failed}}
  - {{id: {UNREGISTERED}, cluster: \"{CLUSTER}\", vpc: {VPC}, subnets: [{SUBNET_AZ6}], connection: none}}
  - {{id: {DELETED}, cluster: \"{CLUSTER}\", vpc: {VPC}, subnets: [{SUBNET_AZ1}], connection: endpointDeleted}}
  - {{id: {MANAGED}, cluster: \"{CLUSTER}\", vpc: {VPC}, subnets: [{SUBNET_AZ4}], securityGroups: [{SG}]}}
"
    )
}

fn privatelinkd(setup: &Setup, args: &[&str]) -> (Option<i32>, String, String) {
    let out = privatelinkd_command()
        .args(args)
        .arg("--config")
        .arg(setup.config())
        .current_dir(setup.dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn import_writes_documents_whose_plan_is_empty_and_reports_what_does_not_match() {
    let setup = Setup::new(&estate(), "");
    // One endpoint a document already adopts: named, not imported again.
    setup.write(
        "mine.yaml",
        &endpoint("mine", CLUSTER, &[SUBNET_AZ4], "  privateDns: false\n").replace(
            "    securityGroupIds",
            &format!("    endpointId: {MANAGED}\n    securityGroupIds"),
        ),
    );

    let (code, stdout, stderr) = privatelinkd(&setup, &["import", "--dry-run"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stderr.contains("2 cluster(s); at least 5 more TiDB Cloud requests"),
        "{stderr}"
    );
    assert!(stdout.contains("(not written: --dry-run)"), "{stdout}");
    let files = |setup: &Setup| {
        let mut names: Vec<String> = std::fs::read_dir(setup.path("endpoints"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yaml") && !n.contains(".status."))
            .collect();
        names.sort();
        names
    };
    assert_eq!(files(&setup), ["mine.yaml"], "a dry run writes nothing");

    let (code, stdout, stderr) = privatelinkd(&setup, &["import", "--output", "json"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let ids = |key: &str, field: &str| -> Vec<String> {
        report[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d[field].as_str().unwrap().to_string())
            .collect()
    };
    let mut written = ids("documents", "endpointId");
    written.sort();
    assert_eq!(written, [REGISTERED, FAILED]);
    assert_eq!(ids("skipped", "id"), [MANAGED]);
    let unmatched = report["unmatched"].as_array().unwrap();
    assert_eq!(unmatched.len(), 2, "{unmatched:?}");
    let text = serde_json::to_string(unmatched).unwrap();
    assert!(
        text.contains(UNREGISTERED) && text.contains("never registered"),
        "{text}"
    );
    assert!(
        text.contains(DELETED) && text.contains("curl --digest"),
        "{text}"
    );
    assert_eq!(files(&setup).len(), 3, "{:?}", files(&setup));

    // The documents say what the cloud has: nothing to change, only to tag; but a FAILED
    // connection is registered again (what the daemon does for any FAILED one).
    let name_of = |id: &str| {
        let docs = report["documents"].as_array().unwrap();
        let doc = docs.iter().find(|d| d["endpointId"] == id).unwrap();
        doc["name"].as_str().unwrap().to_string()
    };
    let (registered, failed) = (name_of(REGISTERED), name_of(FAILED));
    let (code, stdout, stderr) = privatelinkd(
        &setup,
        &[
            "plan",
            "--detailed-exitcode",
            "--name",
            &registered,
            "--name",
            "mine",
        ],
    );
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let (code, stdout, stderr) = privatelinkd(&setup, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("  ~ update {failed} ")),
        "{stdout}"
    );
    assert!(stdout.contains("(FAILED) -> registered again"), "{stdout}");
    assert!(
        stdout.contains("Plan: 0 to create, 1 to update"),
        "{stdout}"
    );

    // Again: everything is managed now, and no file is overwritten.
    let before: Vec<String> = files(&setup)
        .iter()
        .map(|f| std::fs::read_to_string(setup.path(&format!("endpoints/{f}"))).unwrap())
        .collect();
    let (code, stdout, stderr) = privatelinkd(&setup, &["import", "--output", "json"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let again: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(again["documents"].as_array().unwrap().len(), 0, "{stdout}");
    assert_eq!(again["skipped"].as_array().unwrap().len(), 3, "{stdout}");
    let after: Vec<String> = files(&setup)
        .iter()
        .map(|f| std::fs::read_to_string(setup.path(&format!("endpoints/{f}"))).unwrap())
        .collect();
    assert_eq!(before, after);

    // The daemon takes them over: tags written, no endpoint created, no connection made.
    let daemon = Daemon::start(&setup, &[]);
    wait_for(
        "the imported endpoint Active",
        Duration::from_secs(30),
        || setup.phase(&registered, &registered).as_deref() == Some("Active"),
    );
    // Another checkout with no documents, against the running daemon: what it manages is
    // named as managed, whatever that checkout says.
    let other = Setup::new("", "");
    let world = setup.path("world.yaml");
    let world_state = setup.path("world-state.json");
    other.edit_config(|c| {
        c.replace("./world.yaml", world.to_str().unwrap())
            .replace("./world-state.json", world_state.to_str().unwrap())
    });
    let url = format!("http://{}", daemon.addr());
    let (code, stdout, stderr) = privatelinkd(
        &other,
        &["import", "--from", &url, "--dry-run", "--output", "json"],
    );
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let from_daemon: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let skipped = serde_json::to_string(&from_daemon["skipped"]).unwrap();
    assert!(
        skipped.contains(REGISTERED) && skipped.contains(&format!("document `{registered}`")),
        "{stdout}"
    );
    drop(daemon);
    let state = setup.world_state();
    let endpoints = state["endpoints"].as_object().unwrap();
    assert_eq!(endpoints.len(), 5, "no endpoint created");
    let tags = &endpoints[REGISTERED]["endpoint"]["tags"];
    assert_eq!(tags["privatelinkd.io/owner"], "test-host", "{tags}");
    assert_eq!(tags["privatelinkd.io/name"], registered.as_str(), "{tags}");
    let connections = state["connections"].as_object().unwrap();
    let of_registered = connections
        .values()
        .filter(|c| c["connection"]["endpointId"] == REGISTERED)
        .count();
    assert_eq!(
        of_registered, 1,
        "no connection made for the registered one"
    );
    let (_, stdout, _) = privatelinkd(&setup, &["status"]);
    let row = stdout
        .lines()
        .find(|l| l.starts_with(&registered))
        .unwrap_or_default();
    assert!(
        row.contains("(adopted)") && row.contains("Active"),
        "{stdout}"
    );
}

/// `--from-terraform-state`: a state file (format 4) and `terraform show -json` of the same
/// estate write the same documents: endpoints in modules, `count` and `for_each` instances,
/// each with the connection that registers it; what does not pair up is reported; other
/// resources, data sources, tainted and deposed objects are not imported.
#[test]
fn import_from_a_terraform_state_writes_the_paired_endpoints() {
    let setup = Setup::new("clusters: []\n", "");
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/terraform");
    let mut written = Vec::new();
    for (state, out) in [
        ("v4_modules.json", "out-v4"),
        ("show_modules.json", "out-show"),
    ] {
        let state = fixtures.join(state);
        let (code, stdout, stderr) = privatelinkd(
            &setup,
            &[
                "import",
                "--from-terraform-state",
                state.to_str().unwrap(),
                "--out",
                out,
                "--output",
                "json",
            ],
        );
        assert_eq!(code, Some(0), "{stdout}{stderr}");
        assert!(
            stderr.contains("(tainted)") && stderr.contains("(deposed object"),
            "{stderr}"
        );
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let mut ids: Vec<&str> = report["documents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["endpointId"].as_str().unwrap())
            .collect();
        ids.sort();
        assert_eq!(
            ids,
            [
                "vpce-0aaa111bbb222ccc3",
                "vpce-0ccc333ddd444eee5",
                "vpce-0ddd444eee555fff6"
            ],
            "{stdout}"
        );
        let unmatched = serde_json::to_string(&report["unmatched"]).unwrap();
        assert!(unmatched.contains("vpce-0bbb222ccc333ddd4"), "{unmatched}");
        assert!(
            unmatched.contains("which the state does not hold"),
            "{unmatched}"
        );
        // What is written is what the daemon reads: one file per document, all valid.
        let (code, stdout, stderr) = privatelinkd_command()
            .args(["validate", out])
            .current_dir(setup.dir.path())
            .output()
            .map(|o| {
                (
                    o.status.code(),
                    String::from_utf8(o.stdout).unwrap(),
                    String::from_utf8(o.stderr).unwrap(),
                )
            })
            .unwrap();
        assert_eq!(code, Some(0), "{stdout}{stderr}");
        let mut files: Vec<(String, String)> = std::fs::read_dir(setup.path(out))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let text = std::fs::read_to_string(e.path()).unwrap();
                // The header names the state file read: the rest must be the same.
                let body: String = text.lines().skip(2).collect::<Vec<_>>().join("\n");
                (e.file_name().to_string_lossy().into_owned(), body)
            })
            .collect();
        files.sort();
        written.push(files);
    }
    assert_eq!(written[0].len(), 3);
    assert_eq!(
        written[0], written[1],
        "both forms of the state, the same documents"
    );
}

/// The README's moving-in demo, as a new user runs it (on a copy of `examples/demo/`): import
/// writes a document per registered hand-made endpoint, reports the rest, and the plan is empty.
#[test]
fn the_moving_in_demo_imports_documents_whose_plan_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo");
    for file in ["world.yaml", "moving-in.yaml"] {
        std::fs::copy(demo.join(file), dir.path().join(file)).unwrap();
    }
    let run = |args: &[&str]| {
        let out = privatelinkd_command()
            .args(args)
            .args(["--config", "moving-in.yaml"])
            .current_dir(dir.path())
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (code, stdout, stderr) = run(&["import"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stderr.contains("2 document(s) written, 0 skipped, 2 not matched"),
        "{stderr}"
    );
    let mut written: Vec<String> = std::fs::read_dir(dir.path().join("imported"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            "legacy-vpc-0c0ffee00c0ffee00.yaml",
            "orders-vpc-0c0ffee00c0ffee00.yaml"
        ]
    );
    let (code, stdout, stderr) = run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("2 unchanged"), "{stdout}");
}
