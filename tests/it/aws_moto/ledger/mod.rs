//! The ledger (issue 22) with the real clients: the daemon binary with `aws: real` against
//! the strict moto_server (one request at a time, ClientToken honoured) and `tidbCloud: real`
//! against the fake TiDB Cloud server in this process (its world outlives the daemons, so a
//! daemon that aborts loses nothing of TiDB Cloud's). What the engine tests prove on the
//! simulated cloud (`engine::identity`), proven here through aws-sdk-ec2, reqwest, SQLite on
//! disk and moto's own request log.
//!
//! `tags`: owner tags stripped by hand; `deleted`: an endpoint deleted while the daemon was
//! stopped; `crash`: the daemon killed at each moment of a create; `corrupt`: a corrupt ledger
//! file; `state`: `privatelinkd state` beside the running daemon. The rig is here.

use std::time::Duration;

use privatelinkd::plan::ownership;

use crate::common::moto::MUTATING;
use crate::common::real::Clouds;
use crate::common::*;

mod corrupt;
mod crash;
mod deleted;
mod state;
mod tags;

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
