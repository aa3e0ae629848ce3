//! The real EC2 client (aws-sdk-ec2) against moto_server on loopback (`client`), the daemon
//! binary with `aws: real` end to end (`daemon`), the ledger with the real clients: tags
//! stripped, endpoints deleted while stopped, kill -9 during a create, a corrupt ledger file,
//! `privatelinkd state` (`ledger`), the benchmark's converged pass through the real clients
//! (`bench`), and an estate made by hand imported and adopted (`adoption`). moto itself is
//! `common::moto`.
//!
//! moto as it ships is laxer than AWS in ways the tests depend on; `tests/support/moto_server.py`
//! starts it made strict: one request at a time (no two conditional writes racing), a repeated
//! CreateVpcEndpoint ClientToken answered with its first endpoint (idempotent creates, as EC2),
//! and ModifyVpcEndpoint's PrivateDnsEnabled honoured (moto ignores it; the flow needs it).
//! Where moto still differs from AWS, the difference is covered by the simulated cloud instead:
//! it makes interface endpoints `available` at once (there is no acceptance step, and no
//! acceptance API), and does not paginate DescribeVpcEndpoints (one page whatever MaxResults
//! says).

use std::collections::BTreeMap;

use privatelinkd::cloud::aws::AwsClient;
use privatelinkd::cloud::{Consumer, CreateEndpoint, Scope};
use privatelinkd::plan::ownership as tags;

use crate::common::moto::Network;

mod adoption;
mod bench;
mod client;
mod daemon;
mod ledger;

fn scope() -> Scope {
    Scope::aws("default", "us-east-1")
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
            .list_marked(&scope(), (tags::OWNER, "host-a"), token.as_deref())
            .await
            .unwrap();
        all.extend(page.items);
        match page.next {
            Some(next) => token = Some(next),
            None => return all,
        }
    }
}
