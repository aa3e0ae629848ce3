//! A corrupt ledger file is said so and rebuilt from the tags; nothing is deleted or created.

use std::time::Duration;

use super::{CONVERGE, Rig};
use crate::common::*;

#[test]
fn a_corrupt_ledger_is_said_so_rebuilt_from_tags_and_nothing_is_deleted_or_created() {
    let rig = Rig::new("60s");
    let names = ["orders", "billing"];
    let daemon = rig.start_recorded(&names);
    let endpoints = rig.live_ids();
    let connections = rig.clouds.live_connections();
    let ledger_before = rig.ledger();
    assert_eq!(daemon.stop(), Some(0));

    // While stopped, the ledger file turns to garbage.
    let state = rig.setup.path("state");
    let file = state.join(privatelinkd::ledger::local::FILE);
    assert!(file.exists());
    std::fs::write(
        &file,
        b"this is not a SQLite database\0\x01\x02 garbage ".repeat(200),
    )
    .unwrap();
    let ec2_before = rig.ec2_actions().len();
    let tidb_before = rig.tidb_mutations();

    let daemon = Daemon::start(&rig.setup, &[]);
    daemon.wait_ready();
    rig.settle(&daemon, "the ledger rebuilt", CONVERGE, || {
        rig.setup
            .state(&["list", "--output", "json"])
            .status
            .success()
            && names.iter().all(|n| rig.ledger_endpoints(n).len() == 1)
    });
    let log = daemon.log();
    let error = log
        .lines()
        .find(|l| l.contains("ERROR") && l.contains("is corrupt"))
        .unwrap_or_else(|| panic!("no ERROR line about the corrupt ledger:\n{log}"));
    assert!(error.contains("rebuilt from the owner tags"), "{error}");
    assert_eq!(daemon.metric("privatelinkd_ledger_rebuilding"), Some(1.0));
    assert_eq!(
        daemon.metric("privatelinkd_ledger_entries"),
        Some(names.len() as f64)
    );
    // The garbage was moved aside, not lost.
    let aside: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("ledger.sqlite.corrupt-"))
        .collect();
    assert!(!aside.is_empty(), "the corrupt file kept aside");

    // A few passes more: nothing deleted, nothing created, on either side.
    std::thread::sleep(Duration::from_secs(2));
    assert!(rig.converged(&names));
    assert_eq!(rig.live_ids(), endpoints);
    assert_eq!(rig.clouds.live_connections(), connections);
    assert_eq!(
        rig.mutations_after(ec2_before),
        Vec::<String>::new(),
        "no mutating EC2 call after the restart"
    );
    assert_eq!(
        rig.tidb_mutations(),
        tidb_before,
        "no mutating TiDB Cloud call after the restart"
    );

    // `state list` shows every document again, with its endpoint and connection.
    let list = rig.setup.state_ok(&["list"]);
    for name in names {
        let before = &ledger_before[name];
        let endpoint = before["endpoints"][0]["id"].as_str().unwrap();
        let connection = before["connections"][0]["id"].as_str().unwrap();
        let line = list
            .lines()
            .find(|l| l.split('\t').next() == Some(name))
            .unwrap_or_else(|| panic!("{name} not in `state list`:\n{list}"));
        assert!(line.contains(endpoint), "{line}");
        assert!(line.contains(connection), "{line}");
        let rebuilt = &rig.ledger()[name];
        assert_eq!(rebuilt["endpoints"][0]["how"], "found", "{rebuilt}");
    }
    assert_eq!(daemon.stop(), Some(0));
}
