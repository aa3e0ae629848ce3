//! The ledger of a leader-election group (issue 22): 64 shard items `OWNER#ledger#NN` beside
//! the lease in DynamoDB, read with one BatchGetItem, written by TransactWriteItems that
//! DynamoDB cancels unless the lease item names the writer.
//!
//! Against the strict moto_server (one request at a time, ClientToken honoured) and the fake
//! TiDB Cloud server, on loopback only:
//! - the Dynamo ledger alone (no daemon): what the holder writes is read back, across shards
//!   and across the per-update chunking; a writer the lease does not name is fenced and leaves
//!   nothing behind;
//! - a group of two daemons across a kill -9: an endpoint deleted by hand during the failover
//!   has its TiDB Cloud connection cleaned up by the new leader, which knows it only from the
//!   ledger (it never listed it); owner tags stripped during the failover are restored on the
//!   same endpoints, and nothing is created; a new leader that cannot read the ledger does
//!   nothing (creates nothing, writes nothing) until it can; a daemon that leads again reads
//!   what the other leader wrote meanwhile;
//! - `privatelinkd state list` with the group's config reads the ledger in DynamoDB;
//! - examples/iam-policy.json allows every DynamoDB call the lease and the ledger make.
//!
//! `dynamo`: the Dynamo ledger alone; `failover`: the group of two daemons across a kill -9;
//! `state`: `privatelinkd state list` with the group's config; `iam`: the IAM policy. The rig
//! (moto, the fake TiDB Cloud server, the group's daemons) and the helpers they share are here.

use std::collections::BTreeMap;
use std::time::Duration;

use privatelinkd::lease::{Store, StoreConfig};
use privatelinkd::ledger::Entry;
use privatelinkd::ledger::dynamo::Dynamo;
use privatelinkd::plan::ownership;
use privatelinkd::stable::fnv;

use crate::common::moto::Request;
use crate::common::real::{Clouds, holder_of};
use crate::common::*;

mod dynamo;
mod failover;
mod iam;
mod state;

const TABLE: &str = "privatelinkd-leases";
/// The ownerId `Setup` writes into every config.
const OWNER: &str = "test-host";
const SHARDS: u64 = 64;
const CONVERGE: Duration = Duration::from_secs(90);

fn count(log: &[Request], action: &str) -> usize {
    log.iter().filter(|r| r.action == action).count()
}

fn store_config(url: &str, app: &str) -> StoreConfig {
    StoreConfig {
        table: TABLE.into(),
        region: "us-east-1".into(),
        profile: None,
        role: None,
        endpoint_url: Some(url.to_string()),
        create_table: true,
        app_name: app.into(),
    }
}

/// Reads the group's ledger as `state list` does (a reader, not a holder).
async fn load(url: &str, owner: &str) -> BTreeMap<String, Entry> {
    let store = Store::connect(&store_config(url, "ledger-reader")).await;
    let (client, table) = store.client();
    Dynamo::new(client.clone(), table, owner, "")
        .load()
        .await
        .unwrap()
}

fn shard(name: &str) -> u64 {
    fnv(name) % SHARDS
}

// A group of daemons -----------------------------------------------------------------------------

/// The clouds (moto with its request log, the fake TiDB Cloud server), and `members` daemon
/// set-ups of one group (one ownerId, one lease table in moto's DynamoDB).
struct Rig {
    clouds: Clouds,
    setups: Vec<Setup>,
}

impl Rig {
    fn new(members: usize) -> Rig {
        let clouds = Clouds::start();
        let election = clouds.leader_election(TABLE);
        let setups = (0..members).map(|_| clouds.setup(&election)).collect();
        Rig { clouds, setups }
    }

    /// The same endpoint files in every member's checkout: `NAME.yaml`, one document each, all
    /// in one VPC without private DNS (so they may share it).
    fn write(&self, names: &[&str]) {
        for name in names {
            let doc = self.clouds.document(name);
            for s in &self.setups {
                s.write(&format!("{name}.yaml"), &doc);
            }
        }
    }

    fn requests(&self) -> Vec<Request> {
        self.clouds.requests()
    }

    /// The endpoints not deleted (or being deleted): ID -> tags.
    fn live(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.clouds
            .live_endpoints()
            .into_iter()
            .map(|(id, tags)| (id, tags.into_iter().collect()))
            .collect()
    }

    /// Live endpoints by their name tag (a document's name).
    fn live_by_name(&self) -> BTreeMap<String, Vec<String>> {
        let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (id, tags) in self.live() {
            let name = tags.get(ownership::NAME).cloned().unwrap_or_default();
            by_name.entry(name).or_default().push(id);
        }
        by_name
    }

    /// TiDB Cloud's connections not being deleted: (connection ID, VPC endpoint ID).
    fn connections(&self) -> Vec<(String, String)> {
        self.clouds.live_connections()
    }

    /// The live endpoints are those of `before` (ID -> tags), each with our tags as they were.
    fn tags_restored(&self, before: &BTreeMap<String, BTreeMap<String, String>>) -> bool {
        let live = self.live();
        live.keys().eq(before.keys())
            && live
                .iter()
                .all(|(id, tags)| ours(tags) == ours(&before[id]))
    }

    /// The group's ledger, read from DynamoDB.
    fn ledger(&self) -> BTreeMap<String, Entry> {
        runtime().block_on(load(&self.clouds.moto.url, OWNER))
    }

    /// Every document Active in `setup`'s status, with exactly one live endpoint and one live
    /// connection each, and no other endpoint or connection.
    fn converged(&self, setup: &Setup, names: &[&str]) -> bool {
        if !names
            .iter()
            .all(|n| setup.phase(n, n).as_deref() == Some("Active"))
        {
            return false;
        }
        let live = self.live_by_name();
        let connections = self.connections();
        live.len() == names.len()
            && names
                .iter()
                .all(|n| live.get(*n).is_some_and(|ids| ids.len() == 1))
            && connections.len() == names.len()
            && connections
                .iter()
                .all(|(_, e)| live.values().any(|ids| ids.contains(e)))
    }

    /// The ledger names, for every document, exactly its live endpoint and its connection as
    /// moto and TiDB Cloud have them, and no create in flight.
    fn ledger_matches(&self, names: &[&str]) -> bool {
        let ledger = self.ledger();
        let live = self.live_by_name();
        let connections = self.connections();
        ledger.len() == names.len()
            && names.iter().all(|n| {
                let (Some(entry), Some(ids)) = (ledger.get(*n), live.get(*n)) else {
                    return false;
                };
                let recorded: Vec<&str> = entry.live().map(|e| e.id.as_str()).collect();
                let connection: Vec<(&str, &str)> = entry
                    .connections
                    .iter()
                    .map(|c| (c.id.as_str(), c.endpoint_id.as_str()))
                    .collect();
                let actual: Vec<(&str, &str)> = connections
                    .iter()
                    .filter(|(_, e)| ids.contains(e))
                    .map(|(c, e)| (c.as_str(), e.as_str()))
                    .collect();
                entry.creating.is_none() && recorded == ids.as_slice() && connection == actual
            })
    }

    /// Waits (bounded) for `check`; fails with what moto, TiDB Cloud, the ledger and the
    /// daemons show.
    fn settle(&self, daemons: &[&Daemon], what: &str, check: impl FnMut() -> bool) {
        if !eventually(CONVERGE, check) {
            let logs: Vec<String> = daemons.iter().map(|d| d.log()).collect();
            panic!(
                "timed out after {CONVERGE:?} waiting for {what}\nmoto: {:?}\nconnections: {:?}\nledger: {:?}\ndaemons said:\n{}",
                self.clouds.endpoints(),
                self.connections(),
                self.ledger(),
                logs.join("\n-----\n")
            );
        }
    }

    /// `start_pair` on `names` (written first), and every document Active on member 0 with
    /// the ledger in DynamoDB naming its endpoint and connection.
    fn start_pair_recorded(&self, names: &[&str]) -> (Daemon, Daemon, String, String) {
        self.write(names);
        let (a, b, ha, hb) = self.start_pair();
        self.settle(&[&a, &b], "every document Active", || {
            self.converged(&self.setups[0], names)
        });
        self.settle(&[&a, &b], "the ledger complete in DynamoDB", || {
            self.ledger_matches(names)
        });
        (a, b, ha, hb)
    }

    /// Member 0 leads, member 1 stands by: both started, their roles and identities known.
    fn start_pair(&self) -> (Daemon, Daemon, String, String) {
        let a = Daemon::start(&self.setups[0], &[]);
        wait_for("member 0 leads", Duration::from_secs(30), || {
            a.metric("privatelinkd_leader") == Some(1.0)
        });
        let b = Daemon::start(&self.setups[1], &[]);
        wait_for("member 1 stands by", Duration::from_secs(30), || {
            b.metric("privatelinkd_leader") == Some(0.0)
        });
        let (ha, hb) = (holder_of(&a), holder_of(&b));
        (a, b, ha, hb)
    }
}

/// Our tags (`privatelinkd.io/...`) of an endpoint.
fn ours(tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    tags.iter()
        .filter(|(k, _)| k.starts_with(ownership::PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Takes our tags off endpoint `id` (whose tags are `tags`), as a tag-cleanup script would.
async fn strip_ours(sdk: &aws_sdk_ec2::Client, id: &str, tags: &BTreeMap<String, String>) {
    let mut delete = sdk.delete_tags().resources(id);
    for key in ours(tags).keys() {
        delete = delete.tags(aws_sdk_ec2::types::Tag::builder().key(key).build());
    }
    delete.send().await.unwrap();
}

fn kill_nine(d: Daemon) {
    let mut d = d;
    d.child.kill().unwrap();
    d.child.wait().unwrap();
}
