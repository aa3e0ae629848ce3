//! Ownership: creates tagged with a stable token, adoption, and tags that follow the document.

use super::*;

#[test]
fn creates_are_interface_endpoints_tagged_for_ownership_with_a_stable_token() {
    let d = doc("");
    let mut o = converged();
    o.endpoint = None;
    o.network = Some(network().into());
    let p = plan_of(&d, &o);
    let Action::CreateVpcEndpoint { request, .. } = &p.actions[0] else {
        panic!("{p:?}")
    };
    assert_eq!(request.tags[tags::OWNER], "me");
    assert_eq!(request.tags[tags::NAME], "orders");
    assert_eq!(request.tags[tags::DELETION_POLICY], "Delete");
    assert_eq!(request.tags[tags::FILE], "orders.yaml");
    assert_eq!(request.service_name, SERVICE);
    let Action::CreateVpcEndpoint { request: again, .. } = &plan_of(&d, &o).actions[0] else {
        panic!()
    };
    assert_eq!(request.client_token, again.client_token);
    let mut other = d.clone();
    other.spec.aws_mut().unwrap().subnet_ids.pop();
    assert_ne!(
        client_token("me", &d, SERVICE),
        client_token("me", &other, SERVICE)
    );
    assert!(
        request.client_token.len() <= 64,
        "EC2 caps ClientToken at 64 characters"
    );
}

fn adoption(adoptee: Option<VpcEndpoint>) -> EndpointPlan {
    let d = doc("    endpointId: vpce-0000000a\n");
    let mut o = converged();
    o.endpoint = None;
    o.adoptee_checked = true;
    o.adoptee = adoptee.map(Into::into);
    plan_of(&d, &o)
}

#[test]
fn adoption_tags_an_existing_endpoint_and_never_takes_anothers() {
    let mut untagged = endpoint();
    untagged.tags.clear();
    let p = adoption(Some(untagged));
    assert_eq!(kinds(&p), ["tag"]);
    assert!(adoption(None).message.contains("does not exist"));
    let mut elsewhere = endpoint();
    elsewhere.service_name = "com.amazonaws.vpce.us-east-1.vpce-svc-other".into();
    assert!(
        adoption(Some(elsewhere))
            .message
            .contains("not to the cluster's service")
    );
    let mut theirs = endpoint();
    theirs
        .tags
        .insert(tags::OWNER.into(), "another-host".into());
    let p = adoption(Some(theirs));
    assert_eq!(p.phase, Phase::Failed);
    assert!(p.actions.is_empty());
}

#[test]
fn tags_follow_the_document_and_hand_edits_are_restored() {
    let d = doc("  deletionPolicy: Orphan\n");
    let mut o = converged();
    let e = o.endpoint.as_mut().unwrap().aws_mut().unwrap();
    e.tags.insert(tags::FILE.into(), "old/orders.yaml".into());
    e.tags
        .insert(format!("{}team", tags::LABEL_PREFIX), "gone".into());
    let p = plan_of(&d, &o);
    assert_eq!(p.phase, Phase::Active);
    let [
        Action::Tag {
            tags: written,
            purpose: TagPurpose::Correct,
            ..
        },
        Action::Untag {
            keys,
            purpose: TagPurpose::Correct,
            ..
        },
    ] = p.actions.as_slice()
    else {
        panic!("{:?}", p.actions)
    };
    assert_eq!(
        written,
        &BTreeMap::from([
            (tags::DELETION_POLICY.to_string(), "Orphan".to_string()),
            (tags::FILE.to_string(), "orders.yaml".to_string()),
        ])
    );
    assert_eq!(keys, &[format!("{}team", tags::LABEL_PREFIX)]);
    // Once the tags agree, nothing more to do.
    let mut o = converged();
    let e = o.endpoint.as_mut().unwrap().aws_mut().unwrap();
    e.tags.insert(tags::DELETION_POLICY.into(), "Orphan".into());
    e.tags.insert(tags::FILE.into(), "orders.yaml".into());
    assert!(plan_of(&d, &o).actions.is_empty());
}
