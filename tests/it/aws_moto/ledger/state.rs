//! `privatelinkd state list`, `show` and `forget` beside the running daemon.

use super::{CONVERGE, Rig};
use crate::common::*;

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
