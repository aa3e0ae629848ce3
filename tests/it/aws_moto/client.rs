//! The EC2 client against moto: create, find, modify, delete; adoption by tags; the network
//! facts and the errors; more than a page of owned endpoints.

use aws_sdk_ec2::types::{Filter, VpcEndpointType};
use privatelinkd::cloud::aws::{AwsClient, AwsConfig};
use privatelinkd::cloud::{
    CloudError, Consumer, Ec2, EndpointState, ModifyEndpoint, Scope, VpcAttribute,
};
use privatelinkd::plan::ownership as tags;

use super::{owned, request, scope};
use crate::common::moto::{Moto, seed};
use crate::common::*;

#[test]
fn create_find_modify_and_delete_an_interface_endpoint() {
    let moto = Moto::start();
    runtime().block_on(async {
        let sdk = moto.sdk().await;
        let net = seed(&sdk).await;
        let client = moto.client();
        let created = client
            .create_endpoint(&scope(), &request(&net, "orders", "tok-1"))
            .await
            .unwrap();
        assert!(created.id.starts_with("vpce-"));

        // What EC2 itself recorded: an interface endpoint, private DNS off, our tags.
        let raw = sdk
            .describe_vpc_endpoints()
            .vpc_endpoint_ids(&created.id)
            .send()
            .await
            .unwrap();
        let raw = &raw.vpc_endpoints()[0];
        assert_eq!(raw.vpc_endpoint_type(), Some(&VpcEndpointType::Interface));
        assert_eq!(raw.private_dns_enabled(), Some(false));

        let found = owned(&client).await;
        assert_eq!(found.len(), 1);
        let e = &found[0];
        assert_eq!(e.id, created.id);
        // moto makes interface endpoints available at once; the string is compared as sent.
        assert_eq!(e.state, EndpointState::Available);
        assert_eq!(e.tag(tags::NAME), Some("orders"));
        assert_eq!(e.subnet_ids, [net.subnets[0].0.clone()]);
        assert_eq!(e.security_group_ids, [net.groups[0].clone()]);

        client
            .modify_endpoint(
                &scope(),
                &ModifyEndpoint {
                    endpoint_id: e.id.clone(),
                    add_subnet_ids: vec![net.subnets[1].0.clone()],
                    add_security_group_ids: vec![net.groups[1].clone()],
                    remove_security_group_ids: vec![net.groups[0].clone()],
                    ..ModifyEndpoint::default()
                },
            )
            .await
            .unwrap();
        client
            .modify_endpoint(
                &scope(),
                &ModifyEndpoint {
                    endpoint_id: e.id.clone(),
                    remove_subnet_ids: vec![net.subnets[0].0.clone()],
                    // Applied thanks to the launcher's patch (plain moto ignores it).
                    private_dns_enabled: Some(true),
                    ..ModifyEndpoint::default()
                },
            )
            .await
            .unwrap();
        let e = &owned(&client).await[0];
        assert_eq!(e.subnet_ids, [net.subnets[1].0.clone()]);
        assert_eq!(e.security_group_ids, [net.groups[1].clone()]);
        assert!(e.private_dns_enabled);

        client.delete_endpoint(&scope(), &e.id).await.unwrap();
        // moto keeps it, as AWS does for a while, in state `deleted`: the listing leaves it out.
        assert!(owned(&client).await.is_empty());
        let raw = sdk
            .describe_vpc_endpoints()
            .vpc_endpoint_ids(&e.id)
            .send()
            .await
            .unwrap();
        assert_eq!(
            raw.vpc_endpoints()[0].state().map(|s| s.as_str()),
            Some("deleted")
        );
    });
}

#[test]
fn adoption_and_orphaning_by_tags() {
    let moto = Moto::start();
    runtime().block_on(async {
        let sdk = moto.sdk().await;
        let net = seed(&sdk).await;
        let client = moto.client();
        // Someone made this endpoint by hand: no tags of ours.
        let theirs = sdk
            .create_vpc_endpoint()
            .vpc_endpoint_type(VpcEndpointType::Interface)
            .vpc_id(&net.vpc)
            .service_name(&net.service)
            .subnet_ids(&net.subnets[0].0)
            .send()
            .await
            .unwrap();
        let id = theirs
            .vpc_endpoint()
            .unwrap()
            .vpc_endpoint_id()
            .unwrap()
            .to_string();
        assert!(owned(&client).await.is_empty(), "not ours until adopted");
        let described = client
            .describe_endpoints(&scope(), &[id.clone(), "vpce-0000000000000dead".into()])
            .await
            .unwrap();
        assert_eq!(described.len(), 1, "an unknown ID is simply absent");
        assert_eq!(described[0].id, id);

        let ours = request(&net, "adopted", "unused").tags;
        client.set_marks(&scope(), &id, &ours).await.unwrap();
        assert_eq!(owned(&client).await.len(), 1);

        let keys: Vec<String> = ours.keys().cloned().collect();
        client.remove_marks(&scope(), &id, &keys).await.unwrap();
        assert!(
            owned(&client).await.is_empty(),
            "orphaned: still there, no longer ours"
        );
        assert_eq!(
            client
                .describe_endpoints(&scope(), std::slice::from_ref(&id))
                .await
                .unwrap()
                .len(),
            1
        );
    });
}

#[test]
fn network_facts_and_error_mapping() {
    let moto = Moto::start();
    runtime().block_on(async {
        let sdk = moto.sdk().await;
        let net = seed(&sdk).await;
        let client = moto.client();
        let ids: Vec<String> = net.subnets.iter().map(|(id, _)| id.clone()).chain(["subnet-0000000000000dead".to_string()]).collect();
        let subnets = client.describe_subnets(&scope(), &ids).await.unwrap();
        assert_eq!(subnets.len(), 4, "the unknown subnet is left out");
        // moto's zones: us-east-1a is use1-az6, 1b use1-az1, 1c use1-az2, 1d use1-az4.
        let zones: Vec<&str> = net.subnets.iter().map(|(id, _)| subnets[id].1.as_str()).collect();
        assert_eq!(zones, ["use1-az6", "use1-az1", "use1-az2", "use1-az4"]);
        assert!(subnets.values().all(|(vpc, _)| *vpc == net.vpc));
        let groups = client.describe_security_groups(&scope(), &[net.groups[0].clone(), "sg-0000000000000dead".into()]).await.unwrap();
        assert_eq!(groups.keys().collect::<Vec<_>>(), [&net.groups[0]]);
        let support = client.describe_vpc_attribute(&scope(), &net.vpc, VpcAttribute::EnableDnsSupport).await.unwrap();
        let hostnames = client.describe_vpc_attribute(&scope(), &net.vpc, VpcAttribute::EnableDnsHostnames).await.unwrap();
        assert_eq!((support, hostnames), (Some(true), Some(true)));
        let missing = client.describe_vpc_attribute(&scope(), "vpc-0000000000000dead", VpcAttribute::EnableDnsSupport).await.unwrap();
        assert_eq!(missing, None);

        let mut no_vpc = request(&net, "x", "t2");
        no_vpc.vpc_id = "vpc-0000000000000dead".into();
        let e = client.create_endpoint(&scope(), &no_vpc).await.unwrap_err();
        assert!(matches!(&e, CloudError::Permanent(m) if m.contains("NotFound") && m.contains("vpc-0000000000000dead")), "{e:?}");
        let mut no_subnet = request(&net, "x", "t3");
        no_subnet.subnet_ids = vec!["subnet-0000000000000dead".into()];
        let e = client.create_endpoint(&scope(), &no_subnet).await.unwrap_err();
        assert!(matches!(&e, CloudError::Permanent(m) if m.contains("InvalidSubnetID.NotFound") && m.contains("subnet-0000000000000dead")), "{e:?}");
        let e = client.delete_endpoint(&scope(), "vpce-0000000000000dead").await;
        // moto answers an empty `Unsuccessful` list for unknown IDs; AWS lists them there
        // (then it is NotFound, which deletion treats as done).
        assert!(e.is_ok() || matches!(e, Err(CloudError::NotFound(_))), "{e:?}");

        let unknown = AwsClient::new(AwsConfig { endpoint_url: Some(moto.url.clone()), ..AwsConfig::default() });
        let elsewhere = Scope::aws("prod", "us-east-1");
        let e = unknown.list_marked(&elsewhere, (tags::OWNER, "host-a"), None).await.unwrap_err();
        assert!(e.to_string().contains("account `prod` is not defined under aws.accounts"), "{e}");
    });
}

#[test]
fn more_than_a_thousand_owned_endpoints_are_all_found() {
    let moto = Moto::start();
    runtime().block_on(async {
        let sdk = moto.sdk().await;
        let net = seed(&sdk).await;
        let client = moto.client();
        for i in 0..1050 {
            let mut r = request(&net, &format!("ep-{i:04}"), &format!("tok-{i}"));
            r.security_group_ids.clear();
            client.create_endpoint(&scope(), &r).await.unwrap();
        }
        // Someone else's endpoint, not ours.
        let mut other = request(&net, "other", "tok-other");
        other.tags.insert(tags::OWNER.into(), "host-b".into());
        client.create_endpoint(&scope(), &other).await.unwrap();
        let found = owned(&client).await;
        assert_eq!(found.len(), 1050);
        let filter = Filter::builder()
            .name(format!("tag:{}", tags::OWNER))
            .values("host-b")
            .build();
        let theirs = sdk
            .describe_vpc_endpoints()
            .filters(filter)
            .send()
            .await
            .unwrap();
        assert_eq!(theirs.vpc_endpoints().len(), 1);
    });
}
