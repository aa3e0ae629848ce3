//! The ledger (issue 22) with the real clients: the daemon binary with `aws: real` against
//! the strict moto_server (one request at a time, ClientToken honoured) and `tidbCloud: real`
//! against the fake TiDB Cloud server in this process (its world outlives the daemons, so a
//! daemon that aborts loses nothing of TiDB Cloud's). What the engine tests prove on the
//! simulated cloud (`engine::identity`), proven here through aws-sdk-ec2, reqwest, SQLite on
//! disk and moto's own request log.

use std::time::Duration;

use privatelinkd::plan::ownership;

use crate::common::moto::MUTATING;
use crate::common::real::Clouds;
use crate::common::*;

/// The clouds (moto with its request log, the fake TiDB Cloud server) and one daemon set-up
/// using both.
struct Rig {
    clouds: Clouds,
    setup: Setup,
}

impl Rig {
    /// `interval`: how often a settled endpoint is looked at again.
    fn new(interval: &str) -> Rig {
        let clouds = Clouds::start();
        let setup = clouds.setup("");
        setup.edit_config(|c| c.replace("interval: 60s", &format!("interval: {interval}")));
        // settleInterval is also the apply window, which today cuts calls already sent: at
        // the harness's 100 ms, a loaded host sees a registration cut after TiDB Cloud made
        // the connection (the next pass registers again: HTTP 400 "already exists", Failed)
        // and re-creations spread over dozens of passes, one CreateVpcEndpoint each. Both
        // are reported against `reconcile/apply.rs`; these tests are about the ledger, so the
        // window leaves room for a loaded moto.
        setup.edit_config(|c| c.replace("settleInterval: 100ms", "settleInterval: 2s"));
        Rig { clouds, setup }
    }

    /// Endpoint files `<name>.yaml`, one document each, all in one VPC (no private DNS, so
    /// several may share the VPC and the service).
    fn write(&self, names: &[&str]) {
        for name in names {
            self.setup
                .write(&format!("{name}.yaml"), &self.clouds.document(name));
        }
    }

    /// The EC2 actions moto served, in order (every client's: the daemon's and this test's).
    fn ec2_actions(&self) -> Vec<String> {
        self.clouds
            .requests()
            .into_iter()
            .filter(|r| r.service == "ec2")
            .map(|r| r.action)
            .collect()
    }

    fn count(&self, action: &str) -> usize {
        self.ec2_actions().iter().filter(|a| *a == action).count()
    }

    /// The mutating EC2 calls moto served after the first `skip` EC2 calls.
    fn mutations_after(&self, skip: usize) -> Vec<String> {
        self.ec2_actions()
            .into_iter()
            .skip(skip)
            .filter(|a| MUTATING.contains(&a.as_str()))
            .collect()
    }

    /// The live endpoints' IDs, sorted.
    fn live_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .clouds
            .live_endpoints()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        ids.sort();
        ids
    }

    /// Our tags of each live endpoint, in moto's order.
    fn our_tags(&self) -> Vec<Vec<(String, String)>> {
        self.clouds
            .live_endpoints()
            .iter()
            .map(|(_, tags)| ours(tags).into_iter().cloned().collect())
            .collect()
    }

    /// Requests to the fake TiDB Cloud server that change something.
    fn tidb_mutations(&self) -> usize {
        self.clouds
            .fake
            .fake
            .requests()
            .iter()
            .filter(|r| r.method != "GET")
            .count()
    }

    /// Every request to the fake TiDB Cloud server: `METHOD PATH`.
    fn tidb_calls(&self) -> Vec<String> {
        self.clouds
            .fake
            .fake
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    /// Every document Active, with exactly one live VPC endpoint and one live connection each
    /// (and nothing else: no endpoint or connection of no document).
    fn converged(&self, names: &[&str]) -> bool {
        names
            .iter()
            .all(|n| self.setup.phase(n, n).as_deref() == Some("Active"))
            && self.live_ids().len() == names.len()
            && self.clouds.live_connections().len() == names.len()
    }

    /// Waits (bounded) for `check`, failing with the daemon's log.
    fn settle(&self, daemon: &Daemon, what: &str, limit: Duration, check: impl FnMut() -> bool) {
        if !eventually(limit, check) {
            panic!(
                "timed out after {limit:?} waiting for {what}\nmoto: {:?}\nconnections: {:?}\nEC2 calls: {:?}\nTiDB Cloud calls: {:?}\nthe daemon said\n{}",
                self.clouds.live_endpoints(),
                self.clouds.live_connections(),
                self.ec2_actions(),
                self.tidb_calls(),
                daemon.log()
            );
        }
    }

    /// Writes `names`, starts a daemon and waits until every document is Active and the
    /// ledger records its one endpoint.
    fn start_recorded(&self, names: &[&str]) -> Daemon {
        self.write(names);
        let daemon = Daemon::start(&self.setup, &[]);
        self.settle(&daemon, "every document Active", CONVERGE, || {
            self.converged(names)
        });
        self.settle(&daemon, "every document in the ledger", CONVERGE, || {
            names.iter().all(|n| self.ledger_endpoints(n).len() == 1)
        });
        daemon
    }

    /// The ledger's entries as `state list --output json` prints them.
    fn ledger(&self) -> serde_json::Map<String, serde_json::Value> {
        let text = self.setup.state_ok(&["list", "--output", "json"]);
        match serde_json::from_str(&text).unwrap() {
            serde_json::Value::Object(map) => map,
            other => panic!("state list --output json printed {other}"),
        }
    }

    /// The endpoint IDs the ledger records for `name` (gone ones included).
    fn ledger_endpoints(&self, name: &str) -> Vec<String> {
        self.ledger()
            .get(name)
            .and_then(|e| e["endpoints"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|e| e["id"].as_str().map(String::from))
            .collect()
    }
}

fn ours(tags: &[(String, String)]) -> Vec<&(String, String)> {
    tags.iter()
        .filter(|(k, _)| k.starts_with(ownership::PREFIX))
        .collect()
}

const CONVERGE: Duration = Duration::from_secs(90);

#[test]
fn owner_tags_stripped_by_hand_come_back_on_the_same_endpoints_and_nothing_is_created() {
    // Settled endpoints are looked at every 2 s: the hand-made change is seen within a pass.
    let rig = Rig::new("2s");
    let names = ["orders", "billing", "search"];
    rig.write(&names);
    let daemon = Daemon::start(&rig.setup, &[]);
    rig.settle(&daemon, "three endpoints Active", CONVERGE, || {
        rig.converged(&names)
    });
    let before = rig.live_ids();
    let tagged_before = rig.our_tags();
    assert!(
        tagged_before.iter().all(|t| t.len() >= 3),
        "{tagged_before:?}"
    );
    let creates = rig.count("CreateVpcEndpoint");
    assert_eq!(creates, 3);

    // A tag-cleanup script takes every privatelinkd.io/* tag off every endpoint of ours.
    let owned = rig.clouds.live_endpoints();
    runtime().block_on(async {
        let sdk = rig.clouds.moto.sdk().await;
        for (id, tags) in owned {
            let mut delete = sdk.delete_tags().resources(&id);
            for (key, _) in ours(&tags) {
                delete = delete.tags(aws_sdk_ec2::types::Tag::builder().key(key).build());
            }
            delete.send().await.unwrap();
        }
    });
    assert!(
        rig.clouds
            .live_endpoints()
            .iter()
            .all(|(_, tags)| ours(tags).is_empty()),
        "the tags are gone from moto"
    );

    // The ledger knows them by ID: the tags come back, as they were.
    rig.settle(&daemon, "the owner tags restored", CONVERGE, || {
        rig.clouds
            .live_endpoints()
            .iter()
            .all(|(_, tags)| ours(tags).len() >= 3)
    });
    let tagged_after = rig.our_tags();
    assert_eq!(
        tagged_after, tagged_before,
        "the same tags, on the same endpoints"
    );
    // A few more passes: still nothing created, the same endpoints, one connection each.
    std::thread::sleep(Duration::from_secs(5));
    assert!(rig.converged(&names), "{:?}", rig.clouds.live_endpoints());
    assert_eq!(rig.live_ids(), before, "the same endpoint IDs");
    assert_eq!(
        rig.count("CreateVpcEndpoint"),
        creates,
        "no CreateVpcEndpoint after the tags were stripped"
    );
    assert!(
        daemon.log().contains("its owner tags were removed"),
        "the daemon says what it found:\n{}",
        daemon.log()
    );
    assert_eq!(daemon.stop(), Some(0));
}

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

#[test]
fn state_list_show_and_forget_beside_the_running_daemon() {
    // A long interval: nothing passes between `forget` and the look that follows it unless
    // the test asks for a pass.
    let rig = Rig::new("60s");
    let names = ["orders", "billing"];
    let daemon = rig.start_recorded(&names);
    let connections = rig.clouds.live_connections();
    let creates = rig.count("CreateVpcEndpoint");

    // list, text: a header, one line per document with its endpoint and connection.
    let list = rig.setup.state_ok(&["list"]);
    let mut lines = list.lines();
    assert_eq!(
        lines.next(),
        Some("NAME\tENDPOINTS\tCONNECTIONS\tFILE"),
        "{list}"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 2, "{list}");
    for row in &rows {
        let (endpoint, connection) = (row[1], row[2]);
        assert!(
            connections
                .iter()
                .any(|(c, e)| c == connection && e == endpoint),
            "{row:?} is not one of {connections:?}"
        );
        assert_eq!(row[3], format!("{}.yaml", row[0]));
    }
    let orders = rows.iter().find(|r| r[0] == "orders").unwrap();
    let (endpoint, connection) = (orders[1].to_string(), orders[2].to_string());

    // show, text and JSON.
    let show = rig.setup.state_ok(&["show", "orders"]);
    assert!(show.starts_with("orders\n  file: orders.yaml\n"), "{show}");
    assert!(
        show.contains("account: default, region: us-east-1"),
        "{show}"
    );
    assert!(
        show.contains(&format!("endpoint {endpoint} (Created ")),
        "{show}"
    );
    assert!(
        show.contains(&format!(
            "connection {connection} of cluster {CLUSTER} for {endpoint}"
        )),
        "{show}"
    );
    assert!(!show.contains("creating since"), "{show}");
    let json: serde_json::Value =
        serde_json::from_str(&rig.setup.state_ok(&["show", "orders", "--output", "json"])).unwrap();
    assert_eq!(json["file"], "orders.yaml");
    assert_eq!(json["scope"]["region"], "us-east-1");
    assert_eq!(json["endpoints"][0]["id"], endpoint.as_str());
    assert_eq!(json["endpoints"][0]["how"], "created");
    assert_eq!(json["connections"][0]["id"], connection.as_str());
    assert_eq!(json["connections"][0]["endpointId"], endpoint.as_str());
    assert_eq!(json["connections"][0]["clusterId"], CLUSTER);
    assert!(json.get("creating").is_none(), "{json}");

    // Nothing to show or forget for a name the ledger does not hold.
    for verb in ["show", "forget"] {
        let out = rig.setup.state(&[verb, "nobody"]);
        assert_eq!(out.status.code(), Some(2), "state {verb} nobody");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("the ledger holds nothing for nobody"), "{err}");
    }

    // forget: the entry goes, the cloud is untouched, and the command says the daemon will
    // find the still-tagged endpoint again.
    let ec2_before = rig.ec2_actions().len();
    let forgot = rig.setup.state_ok(&["forget", "orders"]);
    assert!(
        forgot.starts_with("forgot orders; the cloud is unchanged"),
        "{forgot}"
    );
    assert!(forgot.contains("again by its tags"), "{forgot}");
    assert!(!rig.ledger().contains_key("orders"), "{:?}", rig.ledger());
    assert!(rig.ledger().contains_key("billing"));
    let out = rig.setup.state(&["show", "orders"]);
    assert_eq!(out.status.code(), Some(2));

    // The next pass (brought on now by a file event, the same text written again, rather
    // than in a minute) records it again by its tags: the same endpoint and connection,
    // "found" this time. "found" proves the daemon read the ledger again before that pass
    // (SQLite's data_version moved): from its memory it would still say "created", and
    // write nothing, since nothing changed in it.
    rig.write(&["orders"]);
    rig.settle(&daemon, "orders recorded again", CONVERGE, || {
        rig.ledger().contains_key("orders")
    });
    let json: serde_json::Value =
        serde_json::from_str(&rig.setup.state_ok(&["show", "orders", "--output", "json"])).unwrap();
    assert_eq!(json["endpoints"][0]["id"], endpoint.as_str(), "{json}");
    assert_eq!(json["endpoints"][0]["how"], "found", "{json}");
    assert_eq!(json["connections"][0]["id"], connection.as_str(), "{json}");
    assert!(rig.converged(&names));
    assert_eq!(rig.clouds.live_connections(), connections);
    assert_eq!(rig.count("CreateVpcEndpoint"), creates, "nothing created");
    assert_eq!(
        rig.mutations_after(ec2_before),
        Vec::<String>::new(),
        "forget touches no cloud, and the daemon's re-recording neither"
    );
    assert_eq!(daemon.stop(), Some(0));
}
