//! Identity by the ledger (issue 22): tags are the second witness. The engine on the
//! simulated cloud, with the ledger a real `stateDir/ledger.sqlite` where it matters.

use std::time::Duration;

use crate::common::sim::*;
use crate::common::*;
use privatelinkd::cloud::sim::SimCloud;
use privatelinkd::cloud::{ConnectionState, EndpointState, VpcEndpoint};
use privatelinkd::ledger::{self, Health};
use privatelinkd::plan::{Phase, ownership};
use privatelinkd::reconcile::{Engine, Frozen, Wanted};

use super::numbered;

fn live(cloud: &SimCloud) -> Vec<VpcEndpoint> {
    cloud
        .all_endpoints()
        .into_iter()
        .filter(|e| !e.state.is_going())
        .collect()
}

fn live_connections(cloud: &SimCloud) -> usize {
    cloud
        .all_connections()
        .iter()
        .filter(|c| c.state != ConnectionState::Deleting)
        .count()
}

/// Someone deletes every live endpoint in the console; the deletions are given time to finish.
async fn delete_all_behind_our_back(cloud: &SimCloud) {
    for e in live(cloud) {
        cloud.delete_endpoint_behind_our_back(&e.id);
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// The engine with its ledger in `dir` (a daemon with a stateDir).
fn engine_in(cloud: &SimCloud, dir: &std::path::Path) -> Engine<Sim, Sim, Sim> {
    let mut engine = engine(cloud);
    engine.set_ledger(ledger::local::open(dir).expect("a ledger"));
    engine
}

#[test]
fn owner_tags_stripped_by_hand_are_restored_and_no_second_endpoint_is_made() {
    let docs = numbered(3);
    let wanted = wanted(&docs);
    let cloud = cloud(1_000_000, false);
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let mut engine = engine_in(&cloud, dir.path());
        converge(&mut engine, &wanted, 30).await;
        let before: Vec<String> = live(&cloud).iter().map(|e| e.id.clone()).collect();
        assert_eq!(before.len(), 3);
        // A tag-cleanup script takes every tag of ours off, and another sets a wrong owner.
        for e in live(&cloud) {
            for key in e.tags.keys().filter(|k| k.starts_with(ownership::PREFIX)) {
                cloud.remove_tag_behind_our_back(&e.id, key);
            }
        }
        let last = converge(&mut engine, &wanted, 30).await;
        assert!(last.plan.endpoints.iter().all(|p| p.phase == Phase::Active));
        let after = live(&cloud);
        let mut ids: Vec<String> = after.iter().map(|e| e.id.clone()).collect();
        ids.sort();
        let mut expected = before.clone();
        expected.sort();
        assert_eq!(ids, expected, "no endpoint created, none lost");
        for e in &after {
            assert_eq!(ownership::owner_of(e), Some("owner"), "{} retagged", e.id);
        }
        assert_eq!(live_connections(&cloud), 3);
    });
}

#[test]
fn an_endpoint_deleted_while_the_daemon_was_stopped_has_its_connection_cleaned_up_at_start() {
    let docs = numbered(2);
    let wanted = wanted(&docs);
    let cloud = cloud(1_000_000, false);
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let first = {
            let mut engine = engine_in(&cloud, dir.path());
            converge(&mut engine, &wanted, 30).await;
            live(&cloud)[0].clone()
        };
        // The daemon is stopped; someone deletes an endpoint in the console.
        cloud.delete_endpoint_behind_our_back(&first.id);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut engine = engine_in(&cloud, dir.path());
        let last = converge(&mut engine, &wanted, 30).await;
        assert!(last.plan.endpoints.iter().all(|p| p.phase == Phase::Active));
        let connections = cloud.all_connections();
        assert!(
            connections
                .iter()
                .filter(|c| c.endpoint_id == first.id)
                .all(|c| c.state == ConnectionState::Deleting),
            "the dead endpoint's connection is cleaned up: {connections:?}"
        );
        assert_eq!(live(&cloud).len(), 2, "the document converged again");
        assert_eq!(live_connections(&cloud), 2);
    });
}

#[test]
fn the_creation_guard_holds_a_mass_recreation_until_approved() {
    let docs = numbered(8);
    let wanted = wanted(&docs);
    let cloud = cloud(1_000_000, false);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        converge(&mut engine, &wanted, 30).await;
        delete_all_behind_our_back(&cloud).await;
        let mut policy = policy();
        let mut held = None;
        for _ in 0..5 {
            let pass = engine
                .pass(&wanted, &Frozen::default(), &policy, true)
                .await;
            assert!(
                pass.applied.iter().all(|a| a.kind != "create_vpc_endpoint"),
                "nothing is created while the guard holds"
            );
            if pass.plan.creations_blocked.is_some() {
                held = Some(pass.plan.held_back());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let held = held.expect("the guard held the re-creations");
        assert_eq!(held.len(), 8, "{held:?}");
        assert!(held.iter().all(|k| k.ends_with(" - recreate")));
        // A person approves exactly that set.
        policy.approved = held;
        for _ in 0..30 {
            engine
                .pass(&wanted, &Frozen::default(), &policy, true)
                .await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(live(&cloud).len(), 8);
    });
}

#[test]
fn a_few_recreations_pass_the_guard() {
    let docs = numbered(3);
    let wanted = wanted(&docs);
    let cloud = cloud(1_000_000, false);
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        converge(&mut engine, &wanted, 30).await;
        delete_all_behind_our_back(&cloud).await;
        let last = converge(&mut engine, &wanted, 30).await;
        assert!(last.plan.creations_blocked.is_none());
        assert!(last.plan.endpoints.iter().all(|p| p.phase == Phase::Active));
        assert_eq!(live(&cloud).len(), 3);
    });
}

#[test]
fn a_lost_ledger_is_rebuilt_from_tags_and_nothing_is_deleted_because_of_it() {
    let docs = numbered(3);
    let wanted = wanted(&docs);
    let cloud = cloud(1_000_000, false);
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        {
            let mut engine = engine_in(&cloud, dir.path());
            converge(&mut engine, &wanted, 30).await;
            assert_eq!(engine.ledger().len(), 3);
        }
        std::fs::remove_file(dir.path().join(ledger::local::FILE)).unwrap();
        let mut engine = engine_in(&cloud, dir.path());
        assert!(matches!(engine.ledger().health(), Health::Rebuilding(_)));
        let before = cloud.mutations();
        let last = converge(&mut engine, &wanted, 30).await;
        assert_eq!(cloud.mutations(), before, "nothing changed in the cloud");
        assert!(last.plan.endpoints.iter().all(|p| p.phase == Phase::Active));
        assert_eq!(engine.ledger().len(), 3, "rebuilt from the tags");
        let entries = ledger::local::read_only(dir.path()).unwrap();
        assert_eq!(entries.len(), 3, "and written");
    });
}

#[test]
fn a_converged_pass_writes_nothing_to_the_ledger() {
    let docs = numbered(20);
    let wanted: Vec<Wanted> = wanted(&docs);
    let cloud = cloud(1_000_000, false);
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let mut engine = engine_in(&cloud, dir.path());
        converge(&mut engine, &wanted, 30).await;
        let writes = engine.ledger().writes();
        for _ in 0..10 {
            engine
                .pass(&wanted, &Frozen::default(), &policy(), true)
                .await;
        }
        assert_eq!(engine.ledger().writes(), writes);
        assert!(
            live(&cloud)
                .iter()
                .all(|e| e.state == EndpointState::Available)
        );
    });
}

#[test]
fn a_document_removed_while_its_endpoint_was_deleted_by_hand_leaves_no_connection_behind() {
    let docs = numbered(2);
    let both = wanted(&docs);
    let cloud = cloud(1_000_000, false);
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let gone = {
            let mut engine = engine_in(&cloud, dir.path());
            converge(&mut engine, &both, 30).await;
            let name = both[1].doc.metadata.name.to_string();
            live(&cloud)
                .into_iter()
                .find(|e| ownership::name_of(e) == name)
                .unwrap()
        };
        // While the daemon is stopped: the endpoint is deleted in the console, and its
        // document removed from the repository.
        cloud.delete_endpoint_behind_our_back(&gone.id);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let one = &both[..1];
        let mut engine = engine_in(&cloud, dir.path());
        let last = converge(&mut engine, one, 30).await;
        assert!(last.plan.endpoints.iter().all(|p| p.phase == Phase::Active));
        let left: Vec<_> = cloud
            .all_connections()
            .into_iter()
            .filter(|c| c.endpoint_id == gone.id && c.state != ConnectionState::Deleting)
            .collect();
        assert!(left.is_empty(), "its connection is deleted: {left:?}");
        assert_eq!(engine.ledger().len(), 1, "and its entry released");
        assert_eq!(live(&cloud).len(), 1);
    });
}
