//! Authentication, rate quotas, injected faults, the request log, the seeded networks,
//! subnetworks and firewall rules, and the admin API's seed and console actions.

mod common;

use std::time::{Duration, Instant};

use common::*;
use fake_gcp_compute::{Fault, Options, RateLimits};
use serde_json::{Value, json};

#[tokio::test]
async fn requests_without_a_bearer_token_are_refused_and_tokens_are_never_logged() {
    let env = start(instant()).await;
    let url = env.regional("addresses");
    for auth in [None, Some("Basic dXNlcjpwdw=="), Some("Bearer ")] {
        let mut request = env.http.get(&url);
        if let Some(value) = auth {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"https://accounts.google.com/\""
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(reason(401, &body), "required");
        assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
    }
    assert_eq!(env.get(&url).await.0, 200);
    let leaky = format!("{url}?access_token={TOKEN}&maxResults=5");
    assert_eq!(
        env.http.get(&leaky).send().await.unwrap().status(),
        401,
        "only the header counts"
    );
    let (_, log) = env.get(&env.url("/fake/v1/requests")).await;
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 5, "admin calls are not logged: {log:?}");
    assert_eq!(log[4]["query"], "access_token=REDACTED&maxResults=5");
    assert_eq!(log[0]["status"], 401);
    assert_eq!(log[3]["method"], "GET");
    assert_eq!(
        log[3]["path"],
        "/compute/v1/projects/my-project/regions/us-central1/addresses"
    );
    assert!(
        !serde_json::to_string(&log)
            .unwrap()
            .contains("secret-token")
    );
}

#[tokio::test]
async fn rate_quotas_are_per_project_and_group_and_refill_each_window() {
    let window = Duration::from_millis(1_500);
    let limits = RateLimits {
        reads: Some(3),
        writes: Some(1),
        operation_reads: None,
        window,
        status: 403,
    };
    let env = start(Options {
        rate_limits: limits,
        ..instant()
    })
    .await;
    // Windows start when the fake does, just before this.
    let started = Instant::now();
    let url = env.regional("addresses");
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(env.get(&url).await.0);
    }
    assert!(
        started.elapsed() < window - Duration::from_millis(200),
        "the burst fits a window"
    );
    assert_eq!(statuses, [200, 200, 200, 403, 403]);
    let (status, body) = env.get(&url).await;
    assert_eq!(
        (status, reason(status, &body).as_str()),
        (403, "rateLimitExceeded")
    );
    assert_eq!(body["error"]["errors"][0]["domain"], "usageLimits");
    // Another project, and another group, have their own.
    let other = env.url("/compute/v1/projects/other-project/regions/us-central1/addresses");
    assert_eq!(env.get(&other).await.0, 200);
    let write = json!({"name": "w", "addressType": "INTERNAL", "subnetwork": "prod-us-central1"});
    assert_eq!(env.post(&url, write.clone()).await.0, 200);
    assert_eq!(env.post(&url, write).await.0, 403);
    tokio::time::sleep_until((started + window + Duration::from_millis(100)).into()).await;
    assert_eq!(env.get(&url).await.0, 200, "refilled in the next window");

    let env = start(Options {
        rate_limits: RateLimits {
            reads: Some(1),
            status: 429,
            ..RateLimits::default()
        },
        ..instant()
    })
    .await;
    assert_eq!(env.get(&env.regional("addresses")).await.0, 200);
    let (status, body) = env.get(&env.regional("addresses")).await;
    assert_eq!(
        (status, reason(status, &body).as_str()),
        (429, "rateLimitExceeded")
    );
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
}

#[tokio::test]
async fn injected_faults_throttle_fail_and_slow_requests() {
    let env = start(instant()).await;
    let url = env.regional("addresses");
    let (status, _) = env
        .post(
            &env.url("/fake/v1/faults"),
            json!({"kind": "throttle", "count": 3}),
        )
        .await;
    assert_eq!(status, 200);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(env.get(&url).await.0);
    }
    assert_eq!(statuses, [403, 403, 403, 200], "a storm of three");
    env.fake().inject(Fault::HttpError {
        count: 2,
        status: 503,
        reason: "backendError".into(),
        message: "The service is currently unavailable.".into(),
        method: Some("POST".into()),
        path_contains: Some("/forwardingRules".into()),
    });
    assert_eq!(env.get(&url).await.0, 200, "only matching requests fail");
    for _ in 0..2 {
        let (status, body) = env.post(&env.regional("forwardingRules"), json!({})).await;
        assert_eq!(
            (status, reason(status, &body).as_str()),
            (503, "backendError")
        );
        assert_eq!(body["error"]["status"], "UNAVAILABLE");
    }
    let (status, _) = env.post(&env.regional("forwardingRules"), json!({})).await;
    assert_eq!(
        status, 400,
        "the fault is spent; the empty body is what fails now"
    );
    env.fake().inject(Fault::Latency { ms: 150 });
    let started = Instant::now();
    env.get(&url).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    let (status, _) = env.delete(&env.url("/fake/v1/faults")).await;
    assert_eq!(status, 200);
    let started = Instant::now();
    env.get(&url).await;
    assert!(started.elapsed() < Duration::from_millis(150));
    let (status, body) = env
        .post(&env.url("/fake/v1/faults"), json!({"kind": "nonsense"}))
        .await;
    assert_eq!((status, reason(status, &body).as_str()), (400, "invalid"));
}

#[tokio::test]
async fn seeded_networks_subnetworks_and_firewalls_are_served() {
    let env = start(instant()).await;
    let project = |tail: &str| env.url(&format!("/compute/v1/projects/{PROJECT}/{tail}"));
    let (status, network) = env.get(&project("global/networks/prod-vpc")).await;
    assert_eq!(status, 200);
    assert_eq!(network["kind"], "compute#network");
    assert_eq!(network["autoCreateSubnetworks"], false);
    assert_eq!(network["subnetworks"].as_array().unwrap().len(), 2);
    let (_, subnet) = env.get(&env.regional("subnetworks/prod-us-central1")).await;
    assert_eq!(subnet["kind"], "compute#subnetwork");
    assert_eq!(subnet["ipCidrRange"], "10.8.0.0/29");
    assert_eq!(subnet["gatewayAddress"], "10.8.0.1");
    assert_eq!(subnet["network"], network["selfLink"]);
    assert_eq!(
        subnet["region"],
        "https://www.googleapis.com/compute/v1/projects/my-project/regions/us-central1"
    );
    let (_, subnets) = env.get(&env.regional("subnetworks")).await;
    assert_eq!(
        subnets["items"].as_array().unwrap().len(),
        2,
        "both networks' subnetworks in us-central1"
    );
    let (_, firewalls) = env
        .get(&project("global/firewalls?filter=direction%3DEGRESS"))
        .await;
    assert_eq!(firewalls["kind"], "compute#firewallList");
    let rule = &firewalls["items"][0];
    assert_eq!(rule["name"], "deny-egress-db");
    assert_eq!(rule["priority"], 900);
    assert_eq!(rule["destinationRanges"], json!(["10.8.0.0/29"]));
    assert_eq!(
        rule["denied"],
        json!([{"IPProtocol": "tcp", "ports": ["4000"]}])
    );
    assert_eq!(rule["network"], network["selfLink"]);
    let (_, one) = env.get(&project("global/firewalls/deny-egress-db")).await;
    assert_eq!(one, *rule);
    for missing in ["global/networks/nope", "global/firewalls/nope"] {
        let (status, body) = env.get(&project(missing)).await;
        assert_eq!((status, reason(status, &body).as_str()), (404, "notFound"));
    }
    let (status, _) = env.get(&env.regional("subnetworks/nope")).await;
    assert_eq!(status, 404);
    // Methods the fake does not serve are not found, as unknown URLs are.
    let (status, _) = env.delete(&project("global/networks/prod-vpc")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_admin_api_seeds_and_acts_in_the_console() {
    let env = start(instant()).await;
    let seed = "projects:\n  - id: new-project\n    networks:\n      - name: n\n        subnetworks: [{name: s, region: europe-west1, ipCidrRange: 10.1.0.0/24}]\n";
    let response = env
        .http
        .post(env.url("/fake/v1/world"))
        .body(seed)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, _) = env
        .get(&env.url("/compute/v1/projects/new-project/regions/europe-west1/subnetworks/s"))
        .await;
    assert_eq!(status, 200);
    let bad = env
        .http
        .post(env.url("/fake/v1/world"))
        .body("projects: [{id: p, networks: [{name: Bad}]}]")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    let a = env.address("console-ip", None).await;
    let rule = env.endpoint("console-rule", &a, ATTACHMENT).await;
    let (status, _) = env
        .post(
            &env.url("/fake/v1/console/setLabels"),
            json!({"resource": rule["selfLink"], "labels": {}}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, relabelled) = env.get(&env.regional("forwardingRules/console-rule")).await;
    assert!(relabelled.get("labels").is_none());
    assert_eq!(relabelled["labelFingerprint"], "42WmSpB8rSM=");
    let (status, body) = env
        .post(
            &env.url("/fake/v1/console/delete"),
            json!({"resource": a["selfLink"]}),
        )
        .await;
    assert_eq!(
        (status, reason(status, &body).as_str()),
        (400, "resourceInUseByAnotherResource")
    );
    let (status, _) = env
        .post(&env.url("/fake/v1/console/delete"), json!({"resource": "projects/my-project/regions/us-central1/forwardingRules/console-rule"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        env.get(&env.regional("forwardingRules/console-rule"))
            .await
            .0,
        404
    );
    let (_, endpoints) = env
        .get(&env.url(&format!("/fake/v1/psc?serviceAttachment={ATTACHMENT}")))
        .await;
    assert_eq!(endpoints, json!([]));
    env.fake()
        .console_delete(a["selfLink"].as_str().unwrap())
        .unwrap();
    assert_eq!(env.get(&env.regional("addresses/console-ip")).await.0, 404);
    let (status, _) = env
        .post(
            &env.url("/fake/v1/console/delete"),
            json!({"resource": "global/firewalls/x"}),
        )
        .await;
    assert_eq!(status, 400, "a console path names its project");
    // Counting calls: the log has every API request, in order; clearing starts over.
    let log = env.fake().requests();
    assert!(
        log.iter()
            .any(|l| l.method == "POST" && l.path.ends_with("/forwardingRules"))
    );
    assert!(log.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    let (status, _) = env.delete(&env.url("/fake/v1/requests")).await;
    assert_eq!(status, 200);
    assert!(env.fake().requests().is_empty());
}
