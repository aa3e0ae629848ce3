//! The call gate over the real client: every request Resource Manager receives draws a token
//! from the bucket it counts against there (reads, writes, deletes), so the daemon's
//! `azure.rateLimits` set to the subscription's buckets never runs into a 429.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use privatelinkd::cloud::azure::Arm;
use privatelinkd::cloud::budget::{Budgeted, Rates};
use privatelinkd::cloud::{CloudError, Rate};

use super::*;

/// `update_tags` is a GET and a PUT (no PATCH for privateEndpoints in 2024-05-01): its GET is
/// a read like any other. Before, the gate took only a write token for both, so a daemon
/// writing tags sent more reads than its read budget (and met 429s with the subscription's
/// bucket set to the same numbers).
#[tokio::test]
async fn a_tag_update_draws_a_read_token_for_its_get_as_well_as_a_write_token() {
    let env = start(Options::instant()).await;
    let rates = Rates {
        // Two reads at once, then one a second.
        arm_read: Rate {
            per_second: 1.0,
            burst: 2,
        },
        ..Rates::default()
    };
    let gated = Budgeted::new(env.client.clone(), rates);
    let id = endpoint_id("orders");
    gated
        .put_private_endpoint(&put_request("orders"))
        .await
        .unwrap();
    let started = Instant::now();
    // A read, then a tag update's read (the budget's two), then another tag update: its GET
    // waits for the next read token.
    gated.get_private_endpoint(&id).await.unwrap().unwrap();
    let tags = BTreeMap::from([("privatelinkd-owner".to_string(), "test-host".to_string())]);
    gated.update_tags(&id, &tags).await.unwrap();
    let mut more = tags.clone();
    more.insert("privatelinkd-name".into(), "orders".into());
    gated.update_tags(&id, &more).await.unwrap();
    let took = started.elapsed();

    let reads: Vec<u64> = env
        .fake()
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/subscriptions/") && r.method == "GET")
        .map(|r| r.at_ms)
        .collect();
    assert_eq!(reads.len(), 3, "a GET each: {reads:?}");
    assert!(
        reads[2] - reads[0] >= 900 && took >= Duration::from_millis(900),
        "three reads within {} ms ({took:?}), two allowed at once: {reads:?}",
        reads[2] - reads[0]
    );
}

/// A change of some tags (what the daemon writes: its marks set or removed, the others kept)
/// is one read and one write, the read being the one the conditional PUT needs anyway; none
/// when it changes nothing. Before, the link read the endpoint for its tags and the client
/// read it again for the PUT: three requests, two of them reads.
#[tokio::test]
async fn a_tag_change_is_one_get_and_one_put_and_only_the_get_when_nothing_changes() {
    let env = start(Options::instant()).await;
    let gated = Budgeted::new(env.client.clone(), Rates::default());
    let id = endpoint_id("orders");
    gated
        .put_private_endpoint(&put_request("orders"))
        .await
        .unwrap();
    env.fake()
        .portal_set_tags(
            &id,
            BTreeMap::from([
                ("privatelinkd-owner".to_string(), "test-host".to_string()),
                ("team".to_string(), "payments".to_string()),
            ]),
        )
        .unwrap();
    env.fake().clear_requests();
    let name = BTreeMap::from([("privatelinkd-name".to_string(), "orders".to_string())]);
    gated
        .change_tags(&id, &name, &["privatelinkd-owner".to_string()])
        .await
        .unwrap();
    let methods = |env: &Env| -> Vec<String> {
        env.arm_requests()
            .into_iter()
            .map(|(m, p, _)| format!("{m} {}", p.rsplit('/').next().unwrap()))
            .collect()
    };
    assert_eq!(methods(&env), ["GET orders", "PUT orders"]);
    let e = gated.get_private_endpoint(&id).await.unwrap().unwrap();
    assert_eq!(
        e.tags,
        BTreeMap::from([
            ("privatelinkd-name".to_string(), "orders".to_string()),
            ("team".to_string(), "payments".to_string()),
        ])
    );
    env.fake().clear_requests();
    gated.change_tags(&id, &name, &[]).await.unwrap();
    assert_eq!(methods(&env), ["GET orders"], "nothing to write");
    let gone = gated
        .change_tags(&endpoint_id("nope"), &name, &[])
        .await
        .unwrap_err();
    assert!(matches!(gone, CloudError::NotFound(_)), "{gone:?}");
}
