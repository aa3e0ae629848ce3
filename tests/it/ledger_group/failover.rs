//! A group of two daemons across a kill -9: an endpoint deleted by hand during the failover
//! has its TiDB Cloud connection cleaned up by the new leader, which knows it only from the
//! ledger (it never listed it); owner tags stripped during the failover are restored on the
//! same endpoints, and nothing is created; a daemon that leads again reads what the other
//! leader wrote meanwhile; a new leader that cannot read the ledger does nothing (creates
//! nothing, writes nothing) until it can.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use privatelinkd::lease::Store;

use super::{OWNER, Rig, TABLE, count, kill_nine, ours, shard, store_config, strip_ours};
use crate::common::moto::Request;
use crate::common::*;

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
