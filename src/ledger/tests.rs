use super::*;

fn scope() -> Scope {
    Scope::aws("default", "us-east-1")
}

fn doc<'a>(name: &'a str, scope: &'a Scope) -> DocRef<'a> {
    DocRef {
        name,
        scope,
        file: "orders.yaml",
        policy: DeletionPolicy::Delete,
    }
}

const T0: u64 = 1_800_000_000;

#[tokio::test]
async fn a_converged_observation_writes_nothing_until_an_hour_passed() {
    let s = scope();
    let mut ledger = Ledger::in_memory();
    ledger.saw_endpoint(doc("orders", &s), "vpce-1", How::Created, T0);
    ledger.flush().await.unwrap();
    assert_eq!(ledger.writes(), 1);
    for minute in 1..30 {
        ledger.saw_endpoint(doc("orders", &s), "vpce-1", How::Found, T0 + minute * 60);
        assert!(!ledger.is_dirty(), "minute {minute}");
    }
    ledger.saw_endpoint(doc("orders", &s), "vpce-1", How::Found, T0 + 3600);
    assert!(ledger.is_dirty(), "an hour later, last seen moves");
    assert_eq!(ledger.get("orders").unwrap().endpoints[0].how, How::Created);
}

#[tokio::test]
async fn an_intent_is_answered_by_the_endpoint_seen_next() {
    let s = scope();
    let mut ledger = Ledger::in_memory();
    ledger.intend(doc("orders", &s), "privatelinkd-0001", T0);
    assert!(ledger.get("orders").unwrap().creating.is_some());
    ledger.flush().await.unwrap();
    ledger.saw_endpoint(doc("orders", &s), "vpce-1", How::Created, T0 + 1);
    let entry = ledger.get("orders").unwrap();
    assert!(entry.creating.is_none());
    assert_eq!(entry.live().count(), 1);
}

#[test]
fn a_gone_endpoint_makes_the_next_create_a_recreation_until_one_is_live() {
    let s = scope();
    let mut ledger = Ledger::in_memory();
    ledger.saw_endpoint(doc("orders", &s), "vpce-1", How::Created, T0);
    ledger.endpoint_gone("orders", "vpce-1", T0 + 10);
    assert!(ledger.get("orders").unwrap().lost_its_endpoint());
    // Its connection is cleaned up: the record stays, the only proof it had one.
    ledger.settle_gone("orders", |_| false);
    assert_eq!(ledger.get("orders").unwrap().endpoints.len(), 1);
    ledger.saw_endpoint(doc("orders", &s), "vpce-2", How::Created, T0 + 20);
    assert!(!ledger.get("orders").unwrap().lost_its_endpoint());
    // While vpce-1's connection exists it stays; then it is history.
    ledger.settle_gone("orders", |id| id == "vpce-1");
    assert_eq!(ledger.get("orders").unwrap().endpoints.len(), 2);
    ledger.settle_gone("orders", |_| false);
    let ids: Vec<_> = ledger
        .get("orders")
        .unwrap()
        .endpoints
        .iter()
        .map(|e| e.id.clone())
        .collect();
    assert_eq!(ids, ["vpce-2"]);
}

#[tokio::test]
async fn the_local_ledger_keeps_what_was_written_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let s = scope();
    let mut ledger = local::open(dir.path()).unwrap();
    assert_eq!(*ledger.health(), Health::New);
    ledger.saw_endpoint(doc("orders", &s), "vpce-1", How::Created, T0);
    let connection = Connection {
        id: "conn-1".into(),
        cluster_id: "c1".into(),
        node_group_id: "ng".into(),
        endpoint_id: "vpce-1".into(),
        state: crate::cloud::ConnectionState::Active,
        message: String::new(),
        host: String::new(),
        port: 4000,
    };
    ledger.saw_connection(doc("orders", &s), &connection, T0);
    ledger.intend(doc("billing", &s), "privatelinkd-0002", T0);
    ledger.flush().await.unwrap();
    ledger.release("billing");
    ledger.flush().await.unwrap();
    drop(ledger);

    let again = local::open(dir.path()).unwrap();
    assert_eq!(*again.health(), Health::Loaded);
    assert_eq!(again.len(), 1);
    let entry = again.get("orders").unwrap();
    assert_eq!(entry.connections[0].id, "conn-1");
    assert_eq!(local::read_only(dir.path()).unwrap().len(), 1);
}

#[tokio::test]
async fn a_forget_beside_the_daemon_is_read_before_the_next_pass() {
    let dir = tempfile::tempdir().unwrap();
    let s = scope();
    let mut ledger = local::open(dir.path()).unwrap();
    ledger.saw_endpoint(doc("orders", &s), "vpce-1", How::Created, T0);
    ledger.saw_endpoint(doc("billing", &s), "vpce-2", How::Created, T0);
    ledger.flush().await.unwrap();
    assert!(
        !ledger.reload_if_changed().await.unwrap(),
        "its own writes are no news"
    );

    assert!(local::forget(dir.path(), "orders").unwrap());
    assert!(!local::forget(dir.path(), "orders").unwrap());
    assert!(ledger.reload_if_changed().await.unwrap());
    assert!(ledger.get("orders").is_none());
    assert!(ledger.get("billing").is_some());
}

#[test]
fn a_corrupt_ledger_is_moved_aside_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(local::FILE),
        b"this is not a database, just bytes....",
    )
    .unwrap();
    let ledger = local::open(dir.path()).unwrap();
    assert!(matches!(ledger.health(), Health::Rebuilding(why) if why.contains("corrupt")));
    assert!(ledger.is_empty());
    let aside = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().contains(".corrupt-"));
    assert!(aside, "the corrupt file is kept for a person to look at");
}

#[tokio::test]
async fn an_unreadable_entry_is_corruption_too() {
    let dir = tempfile::tempdir().unwrap();
    let s = scope();
    let mut ledger = local::open(dir.path()).unwrap();
    ledger.saw_endpoint(doc("orders", &s), "vpce-1", How::Created, T0);
    ledger.flush().await.unwrap();
    drop(ledger);
    let conn = rusqlite::Connection::open(dir.path().join(local::FILE)).unwrap();
    conn.execute("UPDATE entries SET body = '{\"scope\": 1}'", [])
        .unwrap();
    drop(conn);
    let ledger = local::open(dir.path()).unwrap();
    assert!(matches!(ledger.health(), Health::Rebuilding(why) if why.contains("orders")));
}

#[test]
fn a_lost_ledger_is_told_from_a_first_one() {
    let dir = tempfile::tempdir().unwrap();
    drop(local::open(dir.path()).unwrap());
    std::fs::remove_file(dir.path().join(local::FILE)).unwrap();
    let ledger = local::open(dir.path()).unwrap();
    assert!(matches!(ledger.health(), Health::Rebuilding(why) if why.contains("missing")));
}
