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

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use privatelinkd::cloud::Scope;
use privatelinkd::lease::{Store, StoreConfig};
use privatelinkd::ledger::dynamo::{self, Dynamo};
use privatelinkd::ledger::{
    Change, ConnectionRecord, EndpointRecord, Entry, How, Intent, LedgerError,
};
use privatelinkd::plan::ownership;
use privatelinkd::spec::DeletionPolicy;
use privatelinkd::stable::fnv;

use crate::common::moto::{Moto, Request, requests};
use crate::common::real::{Clouds, holder_of};
use crate::common::*;

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

// The Dynamo ledger against moto, no daemon -----------------------------------------------------

fn shard(name: &str) -> u64 {
    fnv(name) % SHARDS
}

/// An entry that says which document and which version of it it is, in every field.
fn entry(name: &str, version: u64) -> Entry {
    let endpoint = format!("vpce-{:017x}", fnv(name) ^ version);
    Entry {
        scope: Scope {
            account: "default".into(),
            region: "us-east-1".into(),
        },
        file: format!("team/{name}.yaml"),
        policy: if version.is_multiple_of(2) {
            DeletionPolicy::Delete
        } else {
            DeletionPolicy::Orphan
        },
        endpoints: vec![EndpointRecord {
            id: endpoint.clone(),
            how: How::Created,
            since: 1_700_000_000 + version,
            last_seen: 1_699_999_200,
            gone_since: (version == 3).then_some(1_700_000_100),
        }],
        connections: vec![ConnectionRecord {
            cluster_id: CLUSTER.into(),
            node_group_id: "1379661944646413144".into(),
            id: format!("conn-{name}-{version}"),
            endpoint_id: endpoint,
            last_seen: 1_699_999_200,
        }],
        creating: (version == 2).then(|| Intent {
            client_token: format!("privatelinkd-{:016x}", fnv(name)),
            since: 1_700_000_000,
        }),
    }
}

fn puts(names: &[String], version: u64) -> Vec<Change> {
    names
        .iter()
        .map(|n| Change::Put(n.clone(), entry(n, version)))
        .collect()
}

/// `change` applied to the model of the ledger.
fn apply(model: &mut BTreeMap<String, Entry>, changes: &[Change]) {
    for c in changes {
        match c {
            Change::Put(name, e) => {
                model.insert(name.clone(), e.clone());
            }
            Change::Remove(name) => {
                model.remove(name);
            }
        }
    }
}

#[test]
fn ledger_group_dynamo_reads_back_what_the_lease_holder_wrote_and_fences_every_other_writer() {
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("moto.log");
    let moto = Moto::start_logging(Some(&log));
    // Twelve documents on twelve shards, and 45 on one other shard: more than one Update
    // expression (40 names) can hold, so a write to it goes out in two rounds.
    let crowded_shard = shard("crowded-0");
    let mut crowded: Vec<String> = (0..)
        .map(|i| format!("crowded-{i}"))
        .filter(|n| shard(n) == crowded_shard)
        .take(60)
        .collect();
    let more_crowded = crowded.split_off(45);
    let mut used = BTreeSet::from([crowded_shard]);
    let spread: Vec<String> = (0..)
        .map(|i| format!("spread-{i}"))
        .filter(|n| used.insert(shard(n)))
        .take(12)
        .collect();

    runtime().block_on(async {
        let store_a = Store::connect(&store_config(&moto.url, "holder-a")).await;
        let store_b = Store::connect(&store_config(&moto.url, "holder-b")).await;
        store_a.ensure_table(true).await.unwrap();
        // The lease names A.
        let rvn = store_a
            .create(OWNER, "holder-a", Duration::from_secs(60))
            .await
            .unwrap();
        let (client, table) = store_a.client();
        let a = Dynamo::new(client.clone(), table, OWNER, "holder-a");
        let (client_b, _) = store_b.client();
        let b = Dynamo::new(client_b.clone(), table, OWNER, "holder-b");
        let mut model = BTreeMap::new();

        // A writes 57 documents: every one comes back as written, in one BatchGetItem.
        let before = requests(&log);
        let first: Vec<Change> = [puts(&spread, 0), puts(&crowded, 0)].concat();
        a.write(&first).await.unwrap();
        apply(&mut model, &first);
        let after_write = requests(&log);
        assert_eq!(
            count(&after_write, "TransactWriteItems") - count(&before, "TransactWriteItems"),
            2,
            "45 changes to one shard go out as two transactions (40 + 5)"
        );
        let mut reader = Dynamo::new(client.clone(), table, OWNER, "");
        assert_eq!(reader.load().await.unwrap(), model);
        let after_load = requests(&log);
        assert_eq!(
            count(&after_load, "BatchGetItem") - count(&after_write, "BatchGetItem"),
            1,
            "the whole ledger in one BatchGetItem"
        );

        // The layout the module documents: one item per shard, `OWNER#ledger#NN` (hex), one
        // attribute `e.NAME` per document holding its entry as JSON.
        for name in [&spread[0], &crowded[44]] {
            let key = format!("{OWNER}#ledger#{:02x}", shard(name));
            let item = client
                .get_item()
                .table_name(TABLE)
                .key("ownerId", AttributeValue::S(key.clone()))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item
                .unwrap_or_else(|| panic!("no item {key}"));
            let body = item[&format!("e.{name}")].as_s().unwrap();
            let read: Entry = serde_json::from_str(body).unwrap();
            assert_eq!(read, entry(name, 0), "{key}");
        }
        let keys: BTreeSet<String> = client
            .scan()
            .table_name(TABLE)
            .send()
            .await
            .unwrap()
            .items()
            .iter()
            .map(|i| i["ownerId"].as_s().unwrap().clone())
            .collect();
        let expected: BTreeSet<String> = std::iter::once(OWNER.to_string())
            .chain(
                spread
                    .iter()
                    .chain(&crowded)
                    .map(|n| format!("{OWNER}#ledger#{:02x}", shard(n))),
            )
            .collect();
        assert_eq!(keys, expected, "the lease item and one item per shard used");
        // The lease item is the lease's alone.
        let lease = store_a.read(OWNER).await.unwrap().unwrap();
        assert_eq!((lease.holder.as_str(), lease.rvn), ("holder-a", rvn));

        // Changes of every kind in one write: entries replaced, removed (one on a quiet shard,
        // several in the second chunk of the crowded one), added, on both kinds of shard: 45
        // changes to the crowded shard again, the removals last.
        let mut second = vec![
            Change::Remove(spread[1].clone()),
            Change::Put(spread[2].clone(), entry(&spread[2], 1)),
            Change::Put(spread[5].clone(), entry(&spread[5], 3)),
        ];
        second.extend(puts(&more_crowded, 1));
        for (i, name) in crowded.iter().enumerate() {
            match i % 3 {
                0 => second.push(Change::Put(name.clone(), entry(name, 3))),
                1 => second.push(Change::Remove(name.clone())),
                _ => {}
            }
        }
        a.write(&second).await.unwrap();
        apply(&mut model, &second);
        assert!(!model.contains_key(&spread[1]) && !model.contains_key(&crowded[43]));
        assert_eq!(model.len(), 12 - 1 + 45 - 15 + 15);
        assert_eq!(reader.load().await.unwrap(), model);

        // B, whom the lease does not name, cannot write: not a small change, not one that
        // needs several rounds, and nothing of it shows.
        let small = vec![
            Change::Put("b-only".into(), entry("b-only", 0)),
            Change::Put(spread[0].clone(), entry(&spread[0], 2)),
            Change::Remove(spread[3].clone()),
        ];
        let big: Vec<Change> = crowded
            .iter()
            .map(|n| Change::Put(n.clone(), entry(n, 2)))
            .chain(std::iter::once(Change::Remove(spread[4].clone())))
            .collect();
        for changes in [&small, &big] {
            match b.write(changes).await {
                Err(LedgerError::Fenced) => {}
                other => panic!("a write the lease does not allow answered {other:?}"),
            }
            assert_eq!(reader.load().await.unwrap(), model, "nothing of B's write");
        }

        // B takes the lease over: now B writes and A is fenced.
        let taken = store_b
            .replace(OWNER, rvn, "holder-b", Duration::from_secs(60), None)
            .await
            .unwrap();
        b.write(&small).await.unwrap();
        apply(&mut model, &small);
        assert_eq!(reader.load().await.unwrap(), model);
        let stale = vec![Change::Put("a-after".into(), entry("a-after", 0))];
        assert!(matches!(a.write(&stale).await, Err(LedgerError::Fenced)));
        // Released (an empty holder): nobody writes.
        store_b
            .replace(OWNER, taken, "", Duration::from_secs(60), Some("holder-b"))
            .await
            .unwrap();
        for writer in [&a, &b] {
            assert!(matches!(
                writer.write(&stale).await,
                Err(LedgerError::Fenced)
            ));
        }
        assert_eq!(reader.load().await.unwrap(), model);
        // A writer of another group (another ownerId, no lease of its own) neither reads nor
        // writes this one.
        let other = Dynamo::new(client.clone(), table, "another-group", "holder-a");
        assert!(matches!(
            other.write(&stale).await,
            Err(LedgerError::Fenced)
        ));
        let mut other = other;
        assert!(other.load().await.unwrap().is_empty());

        // `state forget` beside the group: one entry goes, whoever leads; a second time it
        // says there was nothing.
        assert!(
            dynamo::forget(client, table, OWNER, &crowded[0])
                .await
                .unwrap()
        );
        assert!(
            !dynamo::forget(client, table, OWNER, &crowded[0])
                .await
                .unwrap()
        );
        model.remove(&crowded[0]);
        assert_eq!(reader.load().await.unwrap(), model);
    });
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

#[test]
fn ledger_group_an_endpoint_deleted_during_a_failover_has_its_connection_cleaned_up_by_the_new_leader()
 {
    let rig = Rig::new(2);
    let names = ["ep-00", "ep-01", "ep-02", "ep-03"];
    // What the old leader leaves behind: every document Active, and the ledger in DynamoDB
    // naming every endpoint and connection.
    let (a, b, _a_holder, b_holder) = rig.start_pair_recorded(&names);
    assert_eq!(count(&rig.requests(), "CreateVpcEndpoint"), names.len());
    let victim = rig.live_by_name()["ep-01"][0].clone();
    let (old_connection, _) = rig
        .connections()
        .into_iter()
        .find(|(_, e)| *e == victim)
        .unwrap();
    let others: BTreeMap<String, Vec<String>> = rig
        .live_by_name()
        .into_iter()
        .filter(|(n, _)| n != "ep-01")
        .collect();
    let tidb_before = rig.clouds.fake.fake.requests().len();

    // kill -9 the leader; a person deletes ep-01's endpoint in the console, by ID, before the
    // standby takes over (the lease is 3 s; the standby never listed the endpoint).
    kill_nine(a);
    rig.clouds.delete_endpoint_by_hand(&victim);
    assert_eq!(
        b.metric("privatelinkd_leader"),
        Some(0.0),
        "the standby took over before the endpoint was deleted: the test proves nothing"
    );
    let log_at_delete = rig.requests().len();
    wait_for("the standby leads", Duration::from_secs(30), || {
        b.metric("privatelinkd_leader") == Some(1.0)
    });

    // The new leader reads the ledger, finds ep-01's endpoint gone, deletes its connection
    // and gives ep-01 a new endpoint; the others are left as they are.
    rig.settle(
        &[&b],
        "ep-01 on a new endpoint, its old connection deleted",
        || {
            rig.converged(&rig.setups[1], &names)
                && rig.connections().iter().all(|(c, _)| *c != old_connection)
                && !rig.live().contains_key(&victim)
        },
    );
    rig.settle(&[&b], "the ledger as moto and TiDB Cloud are", || {
        rig.ledger_matches(&names)
    });
    let live = rig.live_by_name();
    for (name, ids) in &others {
        assert_eq!(&live[name], ids, "{name} keeps its endpoint");
    }
    let new = live["ep-01"][0].clone();
    assert_ne!(new, victim);

    // TiDB Cloud: exactly one change after the failover besides the new registration: the
    // old connection's deletion, by the new leader.
    let after: Vec<_> = rig.clouds.fake.fake.requests()[tidb_before..]
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| (r.method.clone(), r.path.clone(), r.user_agent.clone()))
        .collect();
    let deletes: Vec<_> = after.iter().filter(|(m, _, _)| m == "DELETE").collect();
    assert_eq!(deletes.len(), 1, "{after:?}");
    assert!(deletes[0].1.contains(&old_connection), "{after:?}");
    assert!(deletes[0].2.contains(&b_holder), "{after:?}");
    assert_eq!(
        after.iter().filter(|(m, _, _)| m == "POST").count(),
        1,
        "one registration, of the new endpoint: {after:?}"
    );

    // moto: the new leader read the ledger (one BatchGetItem at least) before acting, and
    // no endpoint was made twice: the documents' four and ep-01's new one, nothing else.
    let log = rig.requests();
    let by_b: Vec<&Request> = log[log_at_delete..]
        .iter()
        .filter(|r| r.app.as_deref() == Some(b_holder.as_str()))
        .collect();
    let first_read = by_b.iter().position(|r| r.action == "BatchGetItem");
    let first_mutation = by_b
        .iter()
        .position(|r| r.service == "ec2" && r.action == "CreateVpcEndpoint");
    assert!(
        first_read.is_some() && first_read < first_mutation,
        "the ledger read before the first create: {by_b:?}"
    );
    let all = rig.clouds.endpoints();
    assert_eq!(all.len(), names.len() + 1, "{all:?}");
    // One CreateVpcEndpoint per document, and ep-01's re-creation: its first create's
    // ClientToken again (EC2 answers it with the deleted endpoint, and a new token is derived
    // from that one), then the new token. Two requests, one endpoint.
    assert_eq!(
        count(&log, "CreateVpcEndpoint"),
        names.len() + 2,
        "{:?}",
        log.iter()
            .filter(|r| r.action == "CreateVpcEndpoint")
            .collect::<Vec<_>>()
    );
    let log_b = b.log();
    assert!(
        log_b.contains(&format!(
            "VPC endpoint {victim} (in the ledger) no longer exists"
        )),
        "{log_b}"
    );
    assert_eq!(b.stop(), Some(0));
}

#[test]
fn ledger_group_owner_tags_stripped_during_a_failover_are_restored_by_the_new_leader_and_nothing_is_created()
 {
    let rig = Rig::new(2);
    let names = ["ep-00", "ep-01", "ep-02"];
    let (a, b, a_holder, b_holder) = rig.start_pair_recorded(&names);
    let before = rig.live();
    assert!(before.values().all(|t| ours(t).len() >= 3), "{before:?}");
    let connections = rig.connections();
    let tidb_before = rig.clouds.fake.fake.requests().len();

    // The leader is frozen (so it cannot see the change and undo it itself), a tag-cleanup
    // script takes every privatelinkd.io/* tag off every endpoint, and the leader is killed.
    a.signal("STOP");
    runtime().block_on(async {
        let sdk = rig.clouds.moto.sdk().await;
        for (id, tags) in &before {
            strip_ours(&sdk, id, tags).await;
        }
    });
    assert!(rig.live().values().all(|t| ours(t).is_empty()));
    let log_at_strip = rig.requests().len();
    kill_nine(a);

    // The new leader knows them from the ledger: the same tags back on the same endpoints.
    wait_for("the standby leads", Duration::from_secs(30), || {
        b.metric("privatelinkd_leader") == Some(1.0)
    });
    rig.settle(&[&b], "the tags restored", || rig.tags_restored(&before));
    rig.settle(&[&b], "every document Active on the new leader", || {
        rig.converged(&rig.setups[1], &names)
    });
    // A few seconds more: still nothing created.
    std::thread::sleep(Duration::from_secs(4));
    let after = rig.live();
    assert!(after.keys().eq(before.keys()), "{after:?}");
    assert_eq!(rig.connections(), connections, "the same connections");
    let log = rig.requests();
    assert_eq!(
        count(&log, "CreateVpcEndpoint"),
        names.len(),
        "no CreateVpcEndpoint after the tags were stripped"
    );
    let tagged_by: BTreeSet<Option<String>> = log[log_at_strip..]
        .iter()
        .filter(|r| r.action == "CreateTags")
        .map(|r| r.app.clone())
        .collect();
    assert_eq!(
        tagged_by,
        BTreeSet::from([Some(b_holder.clone())]),
        "the new leader restored them (not {a_holder})"
    );
    let tidb_changes: Vec<_> = rig.clouds.fake.fake.requests()[tidb_before..]
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(tidb_changes.is_empty(), "{tidb_changes:?}");
    assert!(rig.ledger_matches(&names), "{:?}", rig.ledger());
    let log_b = b.log();
    assert!(log_b.contains("its owner tags were removed"), "{log_b}");
    assert_eq!(b.stop(), Some(0));
}

#[test]
fn ledger_group_a_daemon_that_leads_again_reads_what_the_other_leader_wrote_meanwhile() {
    let rig = Rig::new(2);
    let (a, b, a_holder, b_holder) = rig.start_pair_recorded(&["ep-00", "ep-01"]);

    // A is frozen past its lease: B leads. A, thawed, finds the lease taken and stands by,
    // with the ledger it read when it led still in memory (read less than 5 minutes ago, so
    // not read again on its own).
    a.signal("STOP");
    wait_for("b leads", Duration::from_secs(30), || {
        b.metric("privatelinkd_leader") == Some(1.0)
    });
    a.signal("CONT");
    wait_for("a stands by", Duration::from_secs(30), || {
        a.metric("privatelinkd_leader") == Some(0.0) && a.log().contains("standing by")
    });
    // B creates a third document's endpoint and records it; then B is frozen, a script strips
    // that endpoint's owner tags, and B is killed.
    let names = ["ep-00", "ep-01", "ep-02"];
    rig.write(&names);
    rig.settle(&[&a, &b], "ep-02 Active, made by b", || {
        rig.converged(&rig.setups[1], &names)
    });
    rig.settle(&[&a, &b], "b's ledger in DynamoDB", || {
        rig.ledger_matches(&names)
    });
    let before = rig.live();
    let made_by_b = rig.live_by_name()["ep-02"][0].clone();
    let creates: Vec<Option<String>> = rig
        .requests()
        .into_iter()
        .filter(|r| r.action == "CreateVpcEndpoint")
        .map(|r| r.app)
        .collect();
    assert_eq!(
        creates,
        [
            Some(a_holder.clone()),
            Some(a_holder.clone()),
            Some(b_holder)
        ],
        "two by a, then ep-02's by b"
    );
    b.signal("STOP");
    runtime().block_on(async {
        let sdk = rig.clouds.moto.sdk().await;
        strip_ours(&sdk, &made_by_b, &before[&made_by_b]).await;
    });
    let log_at_strip = rig.requests().len();
    kill_nine(b);

    // A leads again: it reads the ledger again (B's entry for ep-02 is in it), so it finds
    // ep-02's endpoint by ID, restores its tags and creates nothing.
    wait_for("a leads again", Duration::from_secs(30), || {
        a.metric("privatelinkd_leader") == Some(1.0)
    });
    rig.settle(&[&a], "ep-02's tags restored by a", || {
        rig.tags_restored(&before)
    });
    rig.settle(&[&a], "every document Active on a", || {
        rig.converged(&rig.setups[0], &names)
    });
    let log = rig.requests();
    assert_eq!(
        count(&log, "CreateVpcEndpoint"),
        names.len(),
        "nothing created"
    );
    let by_a: Vec<&Request> = log[log_at_strip..]
        .iter()
        .filter(|r| r.app.as_deref() == Some(a_holder.as_str()))
        .collect();
    let read = by_a.iter().position(|r| r.action == "BatchGetItem");
    let tagged = by_a.iter().position(|r| r.action == "CreateTags");
    assert!(
        read.is_some() && tagged.is_some() && read < tagged,
        "a read the ledger again before restoring the tags: {by_a:?}"
    );
    assert!(rig.ledger_matches(&names), "{:?}", rig.ledger());
    assert_eq!(a.stop(), Some(0));
}

#[test]
fn ledger_group_state_list_with_the_group_config_reads_the_ledger_in_dynamodb() {
    let rig = Rig::new(2);
    let names = ["ep-00", "ep-01", "ep-02", "ep-03", "ep-04"];
    rig.write(&names);
    let (a, b, a_holder, _) = rig.start_pair();
    rig.settle(&[&a, &b], "five documents Active", || {
        rig.converged(&rig.setups[0], &names)
    });
    let live = rig.live_by_name();
    let connection_of = |endpoint: &str| {
        rig.connections()
            .into_iter()
            .find(|(_, e)| e == endpoint)
            .map(|(c, _)| c)
            .unwrap()
    };
    // `state list --output json`, from the standby's config (its stateDir holds no ledger):
    // every document with the endpoint moto has and the connection TiDB Cloud has.
    let matches = || {
        let out = rig.setups[1].state(&["list", "--output", "json"]);
        if !out.status.success() {
            return false;
        }
        let Ok(listed) = serde_json::from_slice::<BTreeMap<String, Entry>>(&out.stdout) else {
            return false;
        };
        listed.len() == names.len()
            && names.iter().all(|n| {
                listed.get(*n).is_some_and(|e| {
                    let endpoints: Vec<&str> = e.endpoints.iter().map(|r| r.id.as_str()).collect();
                    let connections: Vec<&str> =
                        e.connections.iter().map(|c| c.id.as_str()).collect();
                    endpoints == [live[*n][0].as_str()]
                        && connections == [connection_of(&live[*n][0]).as_str()]
                        && e.file == format!("{n}.yaml")
                })
            })
    };
    rig.settle(&[&a, &b], "`state list` showing every document", matches);
    for s in &rig.setups {
        assert!(
            !s.path("state")
                .join(privatelinkd::ledger::local::FILE)
                .exists(),
            "a group member keeps no local ledger"
        );
    }

    // The text form: a header and one line per document, from either member's config.
    for member in [0, 1] {
        let text = rig.setups[member].state_ok(&["list"]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "NAME\tENDPOINTS\tCONNECTIONS\tFILE", "{text}");
        assert_eq!(lines.len(), names.len() + 1, "{text}");
        for (line, name) in lines[1..].iter().zip(names) {
            let endpoint = &live[name][0];
            assert_eq!(
                *line,
                format!(
                    "{name}\t{endpoint}\t{}\t{name}.yaml",
                    connection_of(endpoint)
                ),
                "{text}"
            );
        }
    }
    let shown = rig.setups[1].state_ok(&["show", "ep-03"]);
    assert!(shown.contains(&live["ep-03"][0]), "{shown}");
    // Reading the ledger takes nothing from the lease.
    let lease = runtime().block_on(async {
        let store = Store::connect(&store_config(&rig.clouds.moto.url, "lease-reader")).await;
        store.read(OWNER).await.unwrap().unwrap()
    });
    assert_eq!(lease.holder, a_holder);
    assert_eq!(a.metric("privatelinkd_leader"), Some(1.0));
    assert_eq!(b.stop(), Some(0));
    assert_eq!(a.stop(), Some(0));
}

#[test]
fn ledger_group_a_new_leader_that_cannot_read_the_ledger_acts_on_nothing_until_it_can() {
    let rig = Rig::new(2);
    // Passes every 5 s even when settled: the new leader tries the ledger again soon.
    for s in &rig.setups {
        s.edit_config(|c| c.replace("interval: 60s", "interval: 5s"));
    }
    let names = ["ep-00", "ep-01", "ep-02"];
    let (a, b, _, b_holder) = rig.start_pair_recorded(&names);
    let before = rig.live();
    let connections = rig.connections();
    let tidb_before = rig.clouds.fake.fake.requests().len();

    // The leader frozen, every owner tag stripped, one attribute of a ledger item made
    // unreadable (a number where an entry's JSON belongs), the leader killed.
    a.signal("STOP");
    let items = runtime().block_on(async {
        let sdk = rig.clouds.moto.sdk().await;
        for (id, tags) in &before {
            strip_ours(&sdk, id, tags).await;
        }
        let store = Store::connect(&store_config(&rig.clouds.moto.url, "a-person")).await;
        let (client, _) = store.client();
        client
            .update_item()
            .table_name(TABLE)
            .key(
                "ownerId",
                AttributeValue::S(format!("{OWNER}#ledger#{:02x}", shard("broken"))),
            )
            .update_expression("SET #n = :v")
            .expression_attribute_names("#n", "e.broken")
            .expression_attribute_values(":v", AttributeValue::N("1".into()))
            .send()
            .await
            .unwrap();
        ledger_items(client).await
    });
    let log_at_strip = rig.requests().len();
    kill_nine(a);
    wait_for("the standby leads", Duration::from_secs(30), || {
        b.metric("privatelinkd_leader") == Some(1.0)
    });
    // Two passes of the new leader that could not read the ledger...
    rig.settle(&[&b], "two passes that could not read the ledger", || {
        b.log().matches("cannot read the ledger").count() >= 2
    });
    // ...changed nothing: no endpoint created, no tag written, no connection touched, and
    // the ledger in DynamoDB as the old leader left it.
    let log = rig.requests();
    let by_b: Vec<&Request> = log[log_at_strip..]
        .iter()
        .filter(|r| r.app.as_deref() == Some(b_holder.as_str()))
        .filter(|r| {
            !r.action.starts_with("Describe")
                && !matches!(r.action.as_str(), "GetItem" | "BatchGetItem")
        })
        .filter(|r| !(r.action == "UpdateItem" && r.service == "dynamodb"))
        .collect();
    assert!(by_b.is_empty(), "the new leader changed {by_b:?}");
    assert_eq!(count(&log, "CreateVpcEndpoint"), names.len());
    assert!(rig.live().values().all(|t| ours(t).is_empty()));
    assert_eq!(rig.connections(), connections);
    assert!(
        rig.clouds.fake.fake.requests()[tidb_before..]
            .iter()
            .all(|r| r.method == "GET")
    );
    let now = runtime().block_on(async {
        let store = Store::connect(&store_config(&rig.clouds.moto.url, "a-person")).await;
        ledger_items(store.client().0).await
    });
    assert_eq!(now, items, "the ledger items are untouched");

    // `state list` says which entry it cannot read; `state forget` removes it, and the new
    // leader, reading the ledger at last, restores the tags on the same endpoints.
    let out = rig.setups[1].state(&["list"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("broken"), "{said}");
    rig.setups[1].state_ok(&["forget", "broken"]);
    rig.settle(&[&b], "the tags restored", || rig.tags_restored(&before));
    rig.settle(&[&b], "every document Active on the new leader", || {
        rig.converged(&rig.setups[1], &names)
    });
    assert_eq!(count(&rig.requests(), "CreateVpcEndpoint"), names.len());
    assert!(rig.ledger_matches(&names), "{:?}", rig.ledger());
    assert_eq!(b.stop(), Some(0));
}

/// The group's ledger items as stored: key -> attributes (the lease item left out).
async fn ledger_items(
    client: &aws_sdk_dynamodb::Client,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let out = client.scan().table_name(TABLE).send().await.unwrap();
    out.items()
        .iter()
        .filter_map(|item| {
            let key = item["ownerId"].as_s().ok()?.clone();
            key.contains("#ledger#").then(|| {
                let attributes = item
                    .iter()
                    .map(|(k, v)| (k.clone(), format!("{v:?}")))
                    .collect();
                (key, attributes)
            })
        })
        .collect()
}

// The IAM policy ----------------------------------------------------------------------------------

/// DynamoDB operations as the SDK's client calls them, and the IAM actions each needs. A
/// transaction needs those of its parts (AWS: "Using IAM with DynamoDB transactions"), found
/// below by their builders.
const OPERATIONS: [(&str, &[&str]); 17] = [
    (".describe_table()", &["DescribeTable"]),
    (".create_table()", &["CreateTable"]),
    (".update_table()", &["UpdateTable"]),
    (".delete_table()", &["DeleteTable"]),
    (".get_item()", &["GetItem"]),
    (".put_item()", &["PutItem"]),
    (".update_item()", &["UpdateItem"]),
    (".delete_item()", &["DeleteItem"]),
    (".batch_get_item()", &["BatchGetItem"]),
    (".batch_write_item()", &["BatchWriteItem"]),
    (".query()", &["Query"]),
    (".scan()", &["Scan"]),
    (".transact_write_items()", &[]),
    (".transact_get_items()", &[]),
    ("ConditionCheck::builder()", &["ConditionCheckItem"]),
    ("Update::builder()", &["UpdateItem"]),
    ("Put::builder()", &["PutItem"]),
];

/// A policy statement's `Resource` or `Action`: one string or a list of them.
fn strings(value: &serde_json::Value) -> Vec<&str> {
    match value {
        serde_json::Value::String(s) => vec![s.as_str()],
        serde_json::Value::Array(a) => a.iter().filter_map(|v| v.as_str()).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn ledger_group_the_iam_policy_allows_every_dynamodb_call_of_the_lease_and_the_ledger() {
    let policy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("examples/iam-policy.json").unwrap())
            .unwrap();
    let mut allowed = BTreeSet::new();
    for statement in policy["Statement"].as_array().unwrap() {
        let resources = strings(&statement["Resource"]);
        let actions = strings(&statement["Action"]);
        if statement["Effect"] == "Allow"
            && resources
                .iter()
                .any(|r| *r == "*" || r.ends_with(&format!(":table/{TABLE}")))
        {
            allowed.extend(
                actions
                    .iter()
                    .filter_map(|a| a.strip_prefix("dynamodb:"))
                    .map(String::from),
            );
        }
    }
    let mut needed = BTreeSet::new();
    for file in [
        "src/lease/store.rs",
        "src/ledger/dynamo.rs",
        "src/cli/state.rs",
    ] {
        let code = std::fs::read_to_string(file).unwrap();
        for (call, actions) in OPERATIONS {
            if code.contains(call) {
                needed.extend(actions.iter().map(|a| a.to_string()));
            }
        }
    }
    // What the lease and the ledger are known to call, so a rename of the calls above cannot
    // make this test pass on nothing.
    for known in [
        "DescribeTable",
        "CreateTable",
        "GetItem",
        "PutItem",
        "UpdateItem",
        "BatchGetItem",
        "ConditionCheckItem",
    ] {
        assert!(needed.contains(known), "{known} not found in the sources");
    }
    let missing: Vec<&String> = needed.difference(&allowed).collect();
    assert!(
        missing.is_empty(),
        "examples/iam-policy.json does not allow dynamodb:{missing:?} on table/{TABLE}"
    );
}
