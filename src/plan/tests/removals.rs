//! Removals: the deletion policy, the latest document's word, and the mass-deletion guard.

use super::*;

fn leftover(policy: &str, frozen: bool) -> Leftover {
    let mut e = endpoint();
    e.tags.insert(tags::DELETION_POLICY.into(), policy.into());
    Leftover {
        scope: Scope::aws("default", "us-east-1"),
        endpoint: e.into(),
        connection: Some(connection(ConnectionState::Active)),
        frozen,
        last_seen: None,
    }
}

fn guard(max: usize, allow: bool, empty: bool) -> Policy {
    Policy {
        owner_id: "me".into(),
        max_deletes_per_pass: max,
        allow_mass_delete: allow,
        source_empty: empty,
        approved: BTreeSet::new(),
        max_recreates_per_pass: 2,
    }
}

/// A desired endpoint's plan that re-creates its endpoint.
fn recreation(name: &str) -> std::sync::Arc<EndpointPlan> {
    let mut p = EndpointPlan::new(name, Phase::NotConfigured, "creating the VPC endpoint");
    p.recreating = true;
    p.actions.push(Action::RegisterConnection {
        cluster_id: "c1".into(),
        node_group_id: "ng".into(),
        endpoint_id: None,
        private_ip: None,
    });
    std::sync::Arc::new(p)
}

#[test]
fn the_creation_guard_holds_every_recreation_beyond_its_limit_until_approved() {
    let few = assemble(
        vec![recreation("a"), recreation("b")],
        &[],
        &guard(5, false, false),
    );
    assert_eq!(few.creations_blocked, None);
    assert!(few.endpoints.iter().all(|p| !p.actions.is_empty()));

    let three = || vec![recreation("a"), recreation("b"), recreation("c")];
    let held = assemble(three(), &[], &guard(5, false, false));
    assert_eq!(
        held.creations_blocked.as_deref(),
        Some(
            "3 documents that had an endpoint would get a new one in one pass, more than \
             prune.maxRecreatesPerPass (2)"
        )
    );
    assert!(
        held.endpoints
            .iter()
            .all(|p| p.held_by_guard && p.actions.is_empty())
    );
    let keys = held.held_back();
    assert_eq!(keys.len(), 3);
    assert!(keys.contains("a - recreate"));
    // `--allow-mass-delete` is about deletions: it does not release re-creations.
    assert!(
        assemble(three(), &[], &guard(5, true, false))
            .creations_blocked
            .is_some()
    );

    let mut approved = guard(5, false, false);
    approved.approved = keys;
    let released = assemble(three(), &[], &approved);
    assert_eq!(released.creations_blocked, None);
    assert!(released.endpoints.iter().all(|p| !p.actions.is_empty()));
}

#[test]
fn removals_follow_the_deletion_policy() {
    let p = plan(&[], &[leftover("Delete", false)], &guard(5, false, false));
    assert_eq!(
        kinds(&p.removals[0]),
        ["delete_connection", "delete_vpc_endpoint"]
    );
    let p = plan(&[], &[leftover("Orphan", false)], &guard(5, false, false));
    let Action::Untag { keys, .. } = &p.removals[0].actions[0] else {
        panic!()
    };
    assert!(keys.iter().all(|k| k.starts_with("privatelinkd.io/")));
    assert!(keys.contains(&tags::OWNER.to_string()));
    let p = plan(&[], &[leftover("Delete", true)], &guard(5, false, false));
    assert!(
        p.removals.is_empty(),
        "an endpoint of an invalid file is frozen"
    );
}

#[test]
fn the_mass_deletion_guard_holds_back_every_departure() {
    let many: Vec<Leftover> = (0..3)
        .map(|i| {
            let mut l = leftover(if i == 0 { "Orphan" } else { "Delete" }, false);
            l.endpoint.aws_mut().unwrap().id = format!("vpce-0000000{i}");
            l.endpoint
                .aws_mut()
                .unwrap()
                .tags
                .insert(tags::NAME.into(), format!("ep-{i}"));
            l
        })
        .collect();
    let p = plan(&[], &many, &guard(2, false, false));
    assert!(p.deletions_blocked.as_deref().unwrap().contains(
        "3 endpoints would leave management in one pass, more than prune.maxDeletesPerPass (2)"
    ));
    assert_eq!(p.actions().count(), 0);
    assert!(p.removals.iter().all(|r| r.held_by_guard));
    assert_eq!(
        p.held_back(),
        BTreeSet::from([
            "ep-0 vpce-00000000 orphan".to_string(),
            "ep-1 vpce-00000001 delete".to_string(),
            "ep-2 vpce-00000002 delete".to_string(),
        ])
    );
    let p = plan(&[], &many[..1], &guard(5, false, true));
    assert!(
        p.deletions_blocked
            .as_deref()
            .unwrap()
            .contains("empty or missing")
    );
    assert_eq!(p.actions().count(), 0, "orphaning leaves management too");
    let p = plan(&[], &many, &guard(2, true, true));
    assert_eq!(p.deletions_blocked, None);
    assert_eq!(p.actions().count(), 5);
    // An approval releases exactly the set it names, and nothing that appears later.
    let held = plan(&[], &many, &guard(2, false, false)).held_back();
    let mut approved = guard(2, false, false);
    approved.approved = held;
    let p = plan(&[], &many, &approved);
    assert_eq!(p.deletions_blocked, None);
    assert_eq!(p.actions().count(), 5);
    let mut more = many.clone();
    for i in 3..6 {
        let mut l = leftover("Delete", false);
        l.endpoint.aws_mut().unwrap().id = format!("vpce-0000000{i}");
        l.endpoint
            .aws_mut()
            .unwrap()
            .tags
            .insert(tags::NAME.into(), format!("ep-{i}"));
        more.push(l);
    }
    let p = plan(&[], &more, &approved);
    assert!(p.deletions_blocked.is_some());
    assert_eq!(p.held_back().len(), 3, "only the new three wait");
    assert_eq!(p.actions().count(), 5, "the approved three go");
}

#[test]
fn the_latest_document_decides_a_removal_not_the_tags() {
    // Created with Delete (the tag), then edited to Orphan (seen, not yet tagged), then removed.
    let mut l = leftover("Delete", false);
    l.last_seen = Some(LastSeen {
        policy: DeletionPolicy::Orphan,
        file: "orders.yaml".into(),
    });
    let p = plan(&[], &[l], &guard(5, false, false));
    assert_eq!(kinds(&p.removals[0]), ["untag"]);
    assert_eq!(
        p.removals[0].leaving.as_ref().unwrap().kind,
        LeaveKind::Orphan
    );
    assert!(
        p.removals[0].message.contains("in place"),
        "{:?}",
        p.removals[0]
    );
}

#[test]
fn a_replacement_is_a_departure_the_guard_counts() {
    let d = doc("");
    let mut o = converged();
    o.endpoint.as_mut().unwrap().aws_mut().unwrap().vpc_id = "vpc-0f0f0f0f".into();
    let replaced = plan(
        &[(
            Desired {
                doc: &d,
                file: "orders.yaml",
            },
            o,
        )],
        &[],
        &guard(5, false, true),
    );
    let p = &replaced.endpoints[0];
    assert_eq!(p.leaving.as_ref().unwrap().kind, LeaveKind::Replace);
    assert!(p.held_by_guard && p.actions.is_empty());
}
