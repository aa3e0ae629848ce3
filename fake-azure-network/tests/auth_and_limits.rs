//! Authentication and authorization (401, 403), api-version, the subscription's throttling
//! buckets (429 with Retry-After, the remaining headers), and the token endpoints: Entra ID's
//! client credentials grant and the instance metadata service.

mod common;

use std::time::Duration;

use common::*;
use fake_azure_network::{Bucket, Fault, Options, RateLimits};
use serde_json::json;

#[tokio::test]
async fn calls_without_a_bearer_token_are_401_and_tokens_are_never_logged() {
    let env = start(Options::instant()).await;
    let url = env.endpoint_url("pe");
    let none = arm_get(&env, &url, None).await;
    assert_eq!(
        (none.status, none.code().as_str()),
        (401, "AuthenticationFailed")
    );
    assert!(
        none.header("www-authenticate").starts_with(&format!(
            "Bearer authorization_uri=\"https://login.windows.net/{TENANT}\""
        )),
        "{}",
        none.header("www-authenticate")
    );
    let basic = env
        .http
        .get(&url)
        .header("authorization", "Basic dXNlcjpwdw==")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    assert_eq!(
        arm_get(&env, &url, Some(TOKEN)).await.status,
        404,
        "any bearer token passes"
    );
    let log = serde_json::to_string(&env.fake().requests()).unwrap();
    assert!(!log.contains("secret-token"), "{log}");
    assert_eq!(env.fake().requests()[0].status, 401);
}

#[tokio::test]
async fn api_version_is_required_and_must_be_the_served_one() {
    let env = start(Options::instant()).await;
    let path = format!("{}{}", env.server.endpoint(), endpoint_id("pe"));
    let missing = env.get(&path).await;
    assert_eq!(
        (missing.status, missing.code().as_str()),
        (400, "MissingApiVersionParameter")
    );
    assert_eq!(
        missing.body["error"]["message"],
        "The api-version query parameter (?api-version=) is required for all requests."
    );
    let other = env.get(&format!("{path}?api-version=2023-09-01")).await;
    assert_eq!(
        (other.status, other.code().as_str()),
        (400, "InvalidResourceType")
    );
    assert!(
        other.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'2024-05-01'")
    );
}

#[tokio::test]
async fn roles_the_world_withholds_are_403() {
    let env = start(Options::instant()).await;
    let forbidden = env
        .get(&env.arm(&format!(
            "/subscriptions/{FORBIDDEN_SUB}/providers/Microsoft.Network/privateEndpoints"
        )))
        .await;
    assert_eq!(
        (forbidden.status, forbidden.code().as_str()),
        (403, "AuthorizationFailed")
    );
    let message = forbidden.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("'Microsoft.Network/privateEndpoints/read'"),
        "{message}"
    );
    assert!(message.contains(&format!(
        "/subscriptions/{FORBIDDEN_SUB}/providers/Microsoft.Network/privateEndpoints"
    )));
    let reader = env.arm(&format!("/subscriptions/{READER_SUB}/resourceGroups/apps/providers/Microsoft.Network/privateEndpoints/pe"));
    assert_eq!(env.get(&reader).await.status, 404, "a reader reads");
    let write = env.put(&reader, &endpoint_body("endpoints")).await;
    assert_eq!(
        (write.status, write.code().as_str()),
        (403, "AuthorizationFailed")
    );
    assert!(
        write.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("privateEndpoints/write")
    );
    // A subnet in a subscription the caller may not use.
    let mut body = endpoint_body("endpoints");
    body["properties"]["subnet"]["id"] = json!(format!(
        "/subscriptions/{FORBIDDEN_SUB}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
    ));
    let linked = env.put(&env.endpoint_url("pe"), &body).await;
    assert_eq!(
        (linked.status, linked.code().as_str()),
        (403, "LinkedAuthorizationFailed")
    );
}

#[tokio::test]
async fn buckets_throttle_per_principal_and_subscription_and_refill() {
    let limits = RateLimits {
        reads: Bucket {
            size: 3.0,
            refill_per_sec: 2.0,
        },
        writes: Bucket {
            size: 1.0,
            refill_per_sec: 0.5,
        },
        deletes: Bucket {
            size: 5.0,
            refill_per_sec: 1.0,
        },
        global_multiplier: 1.5,
    };
    let env = start(Options {
        rate_limits: limits,
        ..Options::instant()
    })
    .await;
    let url = env.endpoint_url("pe");
    let mut left = Vec::new();
    for _ in 0..3 {
        let answer = env.get(&url).await;
        left.push((
            answer
                .header("x-ms-ratelimit-remaining-subscription-reads")
                .to_string(),
            answer
                .header("x-ms-ratelimit-remaining-subscription-global-reads")
                .to_string(),
        ));
    }
    let pairs: Vec<(&str, &str)> = left.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(pairs, [("2", "3"), ("1", "2"), ("0", "1")]);
    let throttled = env.get(&url).await;
    assert_eq!(
        (throttled.status, throttled.code().as_str()),
        (429, "SubscriptionRequestsThrottled")
    );
    assert_eq!(throttled.header("retry-after"), "1");
    assert!(
        throttled.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Number of 'read' requests for subscription")
    );
    // Writes have their own bucket (one token, refilled every two seconds).
    let first = env.put(&url, &endpoint_body("endpoints")).await;
    assert_eq!(first.status, 201);
    assert_eq!(
        first.header("x-ms-ratelimit-remaining-subscription-writes"),
        "0"
    );
    let second = env.put(&url, &endpoint_body("endpoints")).await;
    assert_eq!(second.status, 429);
    assert_eq!(second.header("retry-after"), "2");
    assert_eq!(
        env.delete(&url)
            .await
            .header("x-ms-ratelimit-remaining-subscription-deletes"),
        "4"
    );
    // Reads refill at two a second.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(env.get(&url).await.status, 404);
    // The global bucket (1.5 times, about 2.3 tokens now) is shared: another principal soon
    // finds it empty.
    let other = app_token(&env).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(arm_get(&env, &url, Some(&other)).await.status);
    }
    assert_eq!(
        statuses,
        [404, 404, 429],
        "a fresh principal bucket, an emptied global one"
    );
}

#[tokio::test]
async fn injected_throttles_answer_429_with_their_code() {
    let env = start(Options::instant()).await;
    env.fake().inject(Fault::Throttle {
        count: 2,
        retry_after_secs: 7,
        code: Some("TooManyRequests".into()),
    });
    let url = env.endpoint_url("pe");
    for _ in 0..2 {
        let answer = env.get(&url).await;
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (429, "TooManyRequests")
        );
        assert_eq!(answer.header("retry-after"), "7");
    }
    assert_eq!(env.get(&url).await.status, 404);
}
