//! The daemon aborted (`PRIVATELINKD_CRASH_AT`, SIGABRT) at each moment of a create: the
//! restart converges to exactly one endpoint and one connection.

use std::time::Duration;

use super::{CONVERGE, Rig};
use crate::common::*;

/// What a crash left behind and what the restart did.
struct Crash {
    /// CreateVpcEndpoint calls the aborted process made.
    before: usize,
    /// CreateVpcEndpoint calls the restarted one made.
    after: usize,
    /// The document's ledger entry as the aborted process left it.
    left: serde_json::Value,
}

impl Crash {
    /// The aborted process left the intent in the ledger (a ClientToken) and no endpoint.
    fn assert_only_the_intent_left(&self) {
        assert!(
            self.left["creating"]["clientToken"].is_string(),
            "{}",
            self.left
        );
        assert!(
            self.left
                .get("endpoints")
                .is_none_or(|e| e == &serde_json::json!([]))
        );
    }
}

/// One document; the daemon aborts at `moment` of its create; restarted without the hook, it
/// converges to exactly one endpoint and one connection.
fn crash_at(moment: &str) -> Crash {
    let rig = Rig::new("60s");
    rig.write(&["orders"]);
    let crashing = Daemon::start_with(&rig.setup, &[], &[("PRIVATELINKD_CRASH_AT", moment)]);
    let (code, log) = crashing.wait(Duration::from_secs(60));
    assert_eq!(code, None, "killed by SIGABRT, not an exit: {log}");
    assert!(
        log.contains(&format!("crash test: stopping at {moment}")),
        "{log}"
    );
    let before = rig.count("CreateVpcEndpoint");
    let left = rig.ledger()["orders"].clone();

    let daemon = Daemon::start(&rig.setup, &[]);
    rig.settle(
        &daemon,
        "one endpoint and one connection after the crash",
        CONVERGE,
        || rig.converged(&["orders"]),
    );
    // Still so a pass later (settleInterval: 2s), and the ledger names that one endpoint.
    std::thread::sleep(Duration::from_secs(3));
    let live = rig.live_ids();
    assert_eq!(live.len(), 1, "exactly one live VPC endpoint: {live:?}");
    let connections = rig.clouds.live_connections();
    assert_eq!(
        connections.len(),
        1,
        "exactly one connection: {connections:?}"
    );
    assert_eq!(
        connections[0].1, live[0],
        "the connection registers that endpoint"
    );
    let all = rig.clouds.fake.sim.all_connections();
    assert_eq!(
        all.len(),
        1,
        "no connection made and deleted either: {all:?}"
    );
    assert_eq!(rig.ledger_endpoints("orders"), live);
    let entry = &rig.ledger()["orders"];
    assert!(
        entry.get("creating").is_none(),
        "no create left in flight: {entry}"
    );
    let after = rig.count("CreateVpcEndpoint") - before;
    assert_eq!(daemon.stop(), Some(0));
    Crash {
        before,
        after,
        left,
    }
}

#[test]
fn killed_once_the_intent_is_written_the_restart_creates_exactly_one_endpoint() {
    let crash = crash_at("intent-written");
    // The intent is durable before the create is sent, and the process died in between: the
    // ledger holds the intent (a ClientToken, no endpoint) and no CreateVpcEndpoint reached
    // moto. The restarted daemon sends the one create.
    crash.assert_only_the_intent_left();
    assert_eq!((crash.before, crash.after), (0, 1));
}

#[test]
fn killed_when_the_create_is_answered_the_restart_finds_the_endpoint_and_creates_none() {
    let crash = crash_at("create-answered");
    // The create reached moto and made the endpoint; its answer died with the process, so
    // the ledger holds only the intent. The restarted daemon finds the endpoint by the tags
    // it was created with and sends no create at all. (Had it sent the create again, moto,
    // which now honours ClientToken as EC2 does, would have answered with the same endpoint:
    // still one endpoint, but `after` would be 1. 0 proves the tags, not the token, found
    // it, and that no second endpoint was even asked for.)
    crash.assert_only_the_intent_left();
    assert_eq!((crash.before, crash.after), (1, 0));
}

#[test]
fn killed_once_the_result_is_written_the_restart_creates_nothing() {
    let crash = crash_at("result-written");
    // The endpoint is recorded (created, the intent answered): the restart reads it from
    // the ledger, finds the endpoint and its connection, and has nothing to create.
    assert!(crash.left.get("creating").is_none(), "{}", crash.left);
    assert_eq!(
        crash.left["endpoints"][0]["how"], "created",
        "{}",
        crash.left
    );
    assert_eq!((crash.before, crash.after), (1, 0));
}
