//! Owner tags stripped by hand come back on the same endpoints, and nothing is created.

use std::time::Duration;

use super::{CONVERGE, Rig, ours};
use crate::common::*;

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
