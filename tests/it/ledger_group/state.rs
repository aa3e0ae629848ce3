//! `privatelinkd state list` with the group's config reads the ledger in DynamoDB.

use std::collections::BTreeMap;

use privatelinkd::lease::Store;
use privatelinkd::ledger::Entry;

use super::{OWNER, Rig, store_config};
use crate::common::*;

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
