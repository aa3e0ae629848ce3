//! Where an endpoint goes: the project, the subnets' zones, and a subnet swap's order.

use super::*;

#[test]
fn subnet_checks_name_the_subnet_its_zone_and_the_allowed_zones() {
    let d = doc("");
    let mut o = converged();
    o.endpoint = None;
    o.network = Some(network().into());
    let mut wrong_zone = d.clone();
    wrong_zone.spec.aws_mut().unwrap().subnet_ids = vec![
        "subnet-0000000a".try_into().unwrap(),
        "subnet-0000000c".try_into().unwrap(),
    ];
    let p = plan_of(&wrong_zone, &o);
    assert_eq!(p.phase, Phase::Failed);
    assert!(p.message.contains("subnet subnet-0000000c is in availability zone use1-az2, which the cluster's service does not offer (it offers use1-az1, use1-az4, use1-az6)"), "{}", p.message);
    let mut same_zone = d;
    same_zone.spec.aws_mut().unwrap().subnet_ids = vec![
        "subnet-0000000a".try_into().unwrap(),
        "subnet-0000000d".try_into().unwrap(),
    ];
    let p = plan_of(&same_zone, &o);
    assert!(
        p.message
            .contains("subnets subnet-0000000a and subnet-0000000d are both in use1-az1"),
        "{}",
        p.message
    );
}

#[test]
fn a_subnet_swap_removes_before_it_adds() {
    let d = doc("");
    let mut o = converged();
    o.network = Some(network().into());
    o.endpoint.as_mut().unwrap().aws_mut().unwrap().subnet_ids =
        vec!["subnet-0000000a".into(), "subnet-0000000d".into()];
    o.endpoint
        .as_mut()
        .unwrap()
        .aws_mut()
        .unwrap()
        .security_group_ids = vec![];
    let p = plan_of(&d, &o);
    let requests: Vec<&ModifyEndpoint> = p
        .actions
        .iter()
        .map(|a| match a {
            Action::ModifyVpcEndpoint { request, .. } => request,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(requests.len(), 2, "{p:?}");
    assert_eq!(requests[0].remove_subnet_ids, ["subnet-0000000d"]);
    assert!(requests[0].add_subnet_ids.is_empty());
    assert_eq!(requests[0].add_security_group_ids, ["sg-0000000a"]);
    assert_eq!(requests[1].add_subnet_ids, ["subnet-0000000b"]);
    assert!(requests[1].remove_subnet_ids.is_empty());
}

#[test]
fn a_project_that_is_not_the_clusters_is_an_error_at_that_field() {
    let text = "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\nmetadata: {name: orders}\nspec:\n  tidbCloud: {clusterId: \"1\", projectId: \"7\"}\n  aws:\n    region: us-east-1\n    vpcId: vpc-0a1b2c3d\n    subnetIds: [subnet-0000000a, subnet-0000000b]\n";
    let loaded = crate::yaml::load(text);
    let d = crate::spec::checker().check(&loaded.documents[0]).unwrap();
    let p = plan_of(&d, &converged());
    assert_eq!(p.phase, Phase::Failed);
    assert!(p.actions.is_empty());
    assert!(
        p.message
            .contains("spec.tidbCloud.projectId is 7, but cluster 1 belongs to project 9"),
        "{}",
        p.message
    );
}
