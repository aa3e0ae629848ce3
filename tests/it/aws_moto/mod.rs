//! The real EC2 client (aws-sdk-ec2) against moto_server on loopback (`client`), the daemon
//! binary with `aws: real` end to end (`daemon`), and the benchmark's converged pass through
//! the real clients (`bench`). moto itself is `common::moto`.
//!
//! Where moto differs from AWS, the difference is covered by the simulated cloud instead:
//! moto ignores ClientToken (no idempotency), makes interface endpoints `available` at once
//! (there is no acceptance step, and no acceptance API), does not paginate
//! DescribeVpcEndpoints (one page whatever MaxResults says). It also ignores
//! PrivateDnsEnabled in ModifyVpcEndpoint, which the flow needs: `tests/support/moto_server.py`
//! starts moto with that one parameter patched in.

use std::collections::BTreeMap;

use privatelinkd::cloud::aws::AwsClient;
use privatelinkd::cloud::{CreateEndpoint, Ec2, Scope};
use privatelinkd::plan::ownership as tags;

use crate::common::moto::Network;

mod bench;
mod client;
mod daemon;

fn scope() -> Scope {
    Scope {
        account: "default".into(),
        region: "us-east-1".into(),
    }
}

fn request(net: &Network, name: &str, token: &str) -> CreateEndpoint {
    CreateEndpoint {
        vpc_id: net.vpc.clone(),
        service_name: net.service.clone(),
        subnet_ids: vec![net.subnets[0].0.clone()],
        security_group_ids: vec![net.groups[0].clone()],
        client_token: token.into(),
        tags: BTreeMap::from([
            (tags::OWNER.to_string(), "host-a".to_string()),
            (tags::NAME.to_string(), name.to_string()),
            (tags::DELETION_POLICY.to_string(), "Delete".to_string()),
        ]),
    }
}

async fn owned(client: &AwsClient) -> Vec<privatelinkd::cloud::VpcEndpoint> {
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_tagged_endpoints(&scope(), (tags::OWNER, "host-a"), token.as_deref())
            .await
            .unwrap();
        all.extend(page.items);
        match page.next {
            Some(next) => token = Some(next),
            None => return all,
        }
    }
}
