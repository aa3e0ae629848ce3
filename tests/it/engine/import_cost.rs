//! What `import` spends: exact request counts on the simulated clouds. The TiDB Cloud key is
//! shared with the daemon, so the count that matters is per cluster and per 100 connections,
//! never per endpoint; the clouds get one filtered listing per account and region.

use privatelinkd::cloud::clouds::Clouds;
use privatelinkd::import::estate::{Reach, discover};
use privatelinkd::import::{Managed, Options, matched};

use crate::common::sim::*;
use crate::common::*;

/// `n` endpoints made by hand and registered, spread over the world's two clusters.
fn estate_world(n: usize) -> String {
    let mut world = world(1_000_000, false).replace("serviceCreate: 1s", "serviceCreate: 0s");
    world += "existing:\n";
    for i in 0..n {
        let cluster = if i % 2 == 0 { CLUSTER } else { FAILING_CLUSTER };
        world += &format!(
            "  - {{id: vpce-{i:017x}, cluster: \"{cluster}\", vpc: {VPC}, subnets: [{SUBNET_AZ1}]}}\n"
        );
    }
    world
}

#[test]
fn import_costs_requests_per_cluster_and_page_not_per_endpoint() {
    let n = 250;
    let cloud = cloud_of(&estate_world(n));
    cloud.reset_calls();
    let mut announced = None;
    let report = runtime().block_on(async {
        let reach = Reach {
            aws_accounts: vec!["default".into()],
            ..Reach::default()
        };
        let consumer = Clouds::new(cloud.clone(), cloud.clone());
        let estate = discover(&cloud, &consumer, &reach, |clusters, requests| {
            announced = Some((clusters, requests));
        })
        .await
        .expect("the estate");
        let options = Options {
            owner_id: "owner".into(),
            deletion_policy: privatelinkd::spec::DeletionPolicy::Orphan,
            source: "the test".into(),
            api_url: "http://127.0.0.1:1".into(),
        };
        matched(&estate, &Managed::default(), &options)
    });
    assert_eq!(report.documents.len(), n);
    assert!(report.unmatched.is_empty(), "{:?}", report.unmatched);
    let names: std::collections::BTreeSet<&str> =
        report.documents.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names.len(), n, "every name unique");
    let calls = cloud.calls();
    let count = |key: &str| calls.get(key).copied().unwrap_or(0);
    // One page of clusters; a node-group listing and a service per cluster; 250
    // connections in three pages of 100.
    assert_eq!(count("tidbcloud.ListClusters"), 1, "{calls:?}");
    assert_eq!(count("tidbcloud.ListTidbNodeGroups"), 2, "{calls:?}");
    assert_eq!(count("tidbcloud.GetPrivateLinkService"), 2, "{calls:?}");
    assert_eq!(
        count("tidbcloud.ListPrivateEndpointConnections"),
        3,
        "{calls:?}"
    );
    // Announced before it was spent: two a cluster and a page per project, the floor (the
    // pages past the first 100 connections cannot be known before listing them).
    assert_eq!(announced, Some((2, 5)));
    // One filtered listing for the one account and region, whatever the number of endpoints.
    assert_eq!(count("ec2.DescribeVpcEndpoints"), 1, "{calls:?}");
    let mutating: u64 = [
        "CreateVpcEndpoint",
        "CreateTags",
        "CreatePrivateEndpointConnection",
    ]
    .iter()
    .map(|op| {
        calls
            .iter()
            .filter(|(k, _)| k.ends_with(op))
            .map(|(_, v)| v)
            .sum::<u64>()
    })
    .sum();
    assert_eq!(mutating, 0, "import changes nothing: {calls:?}");
}
