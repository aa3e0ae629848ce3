//! A document that moves between files keeps its endpoint.

use crate::common::sim::*;
use crate::common::*;
use privatelinkd::reconcile::{Frozen, Wanted};

#[test]
fn a_document_that_moves_to_another_file_keeps_its_endpoint_and_the_file_tag_follows() {
    let cloud = cloud(1_000_000, false);
    let text = endpoint("orders", CLUSTER, &[SUBNET_AZ1], "");
    runtime().block_on(async {
        let mut engine = engine(&cloud);
        converge(&mut engine, &[Wanted::new(doc(&text), "a.yaml")], 30).await;
        let moved = [Wanted::new(doc(&text), "team/b.yaml")];
        let pass = engine
            .pass(&moved, &Frozen::default(), &policy(), true)
            .await;
        let kinds: Vec<_> = pass.applied.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, ["tag"]);
        // The old file is now invalid and still says `name: orders`: nothing changes.
        let frozen = Frozen {
            files: ["a.yaml".to_string()].into(),
            names: ["orders".to_string()].into(),
            ..Frozen::default()
        };
        let pass = engine.pass(&moved, &frozen, &policy(), true).await;
        assert!(pass.applied.is_empty());
    });
    let e = &cloud.all_endpoints()[0];
    assert_eq!(e.tags["privatelinkd.io/file"], "team/b.yaml");
    assert_eq!(cloud.all_endpoints().len(), 1);
}
