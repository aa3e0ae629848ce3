//! An endpoint deleted while the daemon was stopped has its connection deleted at start.

use super::{CONVERGE, Rig};
use crate::common::*;
use std::time::Duration;

#[test]
fn an_endpoint_deleted_while_the_daemon_was_stopped_has_its_connection_deleted_at_start() {
    let rig = Rig::new("60s");
    rig.write(&["orders"]);
    let daemon = Daemon::start(&rig.setup, &[]);
    rig.settle(&daemon, "orders Active", CONVERGE, || {
        rig.converged(&["orders"])
    });
    let old = rig.live_ids().remove(0);
    let (old_connection, endpoint) = rig.clouds.live_connections().remove(0);
    assert_eq!(endpoint, old);
    assert_eq!(daemon.stop(), Some(0));

    // While no daemon runs, someone deletes the VPC endpoint in the console.
    rig.clouds.delete_endpoint_by_hand(&old);
    assert!(rig.live_ids().is_empty());
    let tidb_before = rig.clouds.fake.fake.requests().len();
    let creates_before = rig.count("CreateVpcEndpoint");

    // The same stateDir: the ledger knows `old` was orders'.
    let daemon = Daemon::start(&rig.setup, &[]);
    rig.settle(
        &daemon,
        "the old connection deleted, orders on a new endpoint",
        CONVERGE,
        || {
            let live = rig.live_ids();
            live.len() == 1
                && live[0] != old
                && rig.converged(&["orders"])
                && rig
                    .clouds
                    .live_connections()
                    .iter()
                    .all(|(c, e)| *c != old_connection && *e == live[0])
        },
    );
    let deleted: Vec<_> = rig.clouds.fake.fake.requests()[tidb_before..]
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(deleted.len(), 1, "one connection deleted: {deleted:?}");
    assert!(deleted[0].contains(&old_connection), "{deleted:?}");
    // The pass's report (its "phase changed" line) follows its actions by a moment.
    eventually(Duration::from_secs(10), || {
        daemon.log().contains("phase changed")
    });
    let log = daemon.log();
    assert!(
        log.contains(&format!(
            "VPC endpoint {old} (in the ledger) no longer exists"
        )),
        "{log}"
    );
    // At start: the first pass plans the cleanup beside the new create.
    let first = log
        .lines()
        .find(|l| l.contains("phase changed"))
        .unwrap_or_else(|| panic!("no phase in\n{log}"));
    assert!(
        first.contains(&format!("deleting TiDB Cloud connection {old_connection}")),
        "{first}"
    );
    // And nothing else changed in TiDB Cloud: the cleanup, and the new registration.
    let mut mutations: Vec<&str> = rig.clouds.fake.fake.requests()[tidb_before..]
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| {
            if r.method == "DELETE" {
                "DELETE"
            } else {
                "POST"
            }
        })
        .collect();
    mutations.sort();
    assert_eq!(mutations, ["DELETE", "POST"]);
    // Two CreateVpcEndpoint calls for the re-creation: the document's ClientToken is
    // deterministic, so the first repeats the original create's token and moto (honouring
    // it, as EC2 does) answers with the deleted endpoint; the daemon sees it is gone and
    // derives a new token from it, which makes the new endpoint. One new endpoint in all.
    assert_eq!(
        rig.count("CreateVpcEndpoint") - creates_before,
        2,
        "the re-creation: the old token, then a new one\nEC2 calls: {:?}\nTiDB Cloud calls: {:?}\n{log}",
        rig.ec2_actions(),
        rig.tidb_calls()
    );
    // The ledger moved on: the new endpoint, the old one forgotten once its connection went.
    let new = rig.live_ids().remove(0);
    rig.settle(
        &daemon,
        "the ledger to hold only the new endpoint",
        CONVERGE,
        || rig.ledger_endpoints("orders") == [new.clone()],
    );
    assert_eq!(daemon.stop(), Some(0));
}
