//! The Dynamo ledger against moto, no daemon.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use privatelinkd::cloud::Scope;
use privatelinkd::lease::Store;
use privatelinkd::ledger::dynamo::{self, Dynamo};
use privatelinkd::ledger::{
    Change, ConnectionRecord, EndpointRecord, Entry, How, Intent, LedgerError,
};
use privatelinkd::spec::DeletionPolicy;
use privatelinkd::stable::fnv;

use super::{OWNER, TABLE, count, shard, store_config};
use crate::common::moto::{Moto, requests};
use crate::common::*;

/// An entry that says which document and which version of it it is, in every field.
fn entry(name: &str, version: u64) -> Entry {
    let endpoint = format!("vpce-{:017x}", fnv(name) ^ version);
    Entry {
        scope: Scope::aws("default", "us-east-1"),
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
