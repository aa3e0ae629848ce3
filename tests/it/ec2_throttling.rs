//! EC2 throttling (`RequestLimitExceeded`, `Throttling`) against a stub that answers them the
//! way EC2's query API does: mapped to `Throttled`, waited for by the call gate and retried,
//! and never taken for a failure. (moto never throttles, so a stub on loopback stands in.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use privatelinkd::cloud::aws::{AwsClient, AwsConfig};
use privatelinkd::cloud::budget::{Budgeted, Rates};
use privatelinkd::cloud::{CallObserver, CloudError, Consumer, Outcome, Scope};

use crate::common::*;

/// EC2's error body (the query API's XML) for `code`.
fn error(code: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>{code}</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>5d5e6c62-stub</RequestID></Response>"#
    )
}

const EMPTY_LISTING: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeVpcEndpointsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>stub</requestId><vpcEndpointSet/></DescribeVpcEndpointsResponse>"#;

/// A stub EC2 on loopback: answers the first requests with the given throttling codes, then
/// with an empty DescribeVpcEndpoints page. Returns its URL and the count of requests.
fn stub(throttles: Vec<&'static str>) -> (String, Arc<Mutex<usize>>, std::thread::JoinHandle<()>) {
    let seen = Arc::new(Mutex::new(0usize));
    let counter = seen.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let thread = std::thread::spawn(move || {
        runtime().block_on(async move {
            let app = Router::new().fallback(move || {
                let counter = counter.clone();
                let throttles = throttles.clone();
                async move {
                    let n = {
                        let mut c = counter.lock().unwrap();
                        *c += 1;
                        *c
                    };
                    match throttles.get(n - 1) {
                        // EC2 answers RequestLimitExceeded with 503 and Throttling with 400.
                        Some(&"RequestLimitExceeded") => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            error("RequestLimitExceeded"),
                        )
                            .into_response(),
                        Some(code) => (StatusCode::BAD_REQUEST, error(code)).into_response(),
                        None => (StatusCode::OK, EMPTY_LISTING).into_response(),
                    }
                }
            });
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            // Served until the test process ends (each test is a process of its own).
            axum::serve(listener, app).await.unwrap();
        });
    });
    (url, seen, thread)
}

/// Outcomes seen by the call gate's observer (the metrics hook).
#[derive(Default)]
struct Outcomes(Mutex<Vec<Outcome>>);

impl CallObserver for Outcomes {
    fn call(&self, _: &'static str, _: &'static str, outcome: Outcome, _: Duration) {
        self.0.lock().unwrap().push(outcome);
    }

    fn budget_wait(&self, _: &'static str, _: Duration) {}
}

fn scope() -> Scope {
    Scope::aws("default", "us-east-1")
}

#[test]
fn throttling_answers_are_mapped_waited_for_and_not_failures() {
    aws_test_credentials();
    runtime().block_on(async {
        // The client alone: both codes are `Throttled`, not errors a person must fix.
        let (url, _, _thread) = stub(vec!["RequestLimitExceeded", "Throttling"]);
        let client = AwsClient::new(AwsConfig {
            endpoint_url: Some(url),
            ..AwsConfig::default()
        });
        for _ in 0..2 {
            let e = client
                .list_marked(&scope(), ("k", "v"), None)
                .await
                .unwrap_err();
            assert!(
                matches!(e, CloudError::Throttled { api: "ec2", .. }),
                "{e:?}"
            );
            assert!(e.is_transient());
        }

        // Behind the call gate: waited for and retried; the caller sees the answer.
        let (url, seen, _thread) = stub(vec!["RequestLimitExceeded", "Throttling"]);
        let outcomes = Arc::new(Outcomes::default());
        let gated = Budgeted::new(
            AwsClient::new(AwsConfig {
                endpoint_url: Some(url),
                ..AwsConfig::default()
            }),
            Rates::default(),
        )
        .observed_by(outcomes.clone());
        let page = gated
            .list_marked(&scope(), ("k", "v"), None)
            .await
            .expect("throttling is waited out, not a failure");
        assert!(page.items.is_empty());
        assert_eq!(*seen.lock().unwrap(), 3);
        assert_eq!(
            *outcomes.0.lock().unwrap(),
            [Outcome::Throttled, Outcome::Throttled, Outcome::Ok]
        );
    });
}

#[test]
fn a_throttle_that_does_not_end_is_resent_three_times_then_answered() {
    aws_test_credentials();
    runtime().block_on(async {
        // More throttling answers than the gate resends: the caller gets `Throttled` after the
        // fourth request (a wait from the answer once resends are spent resent forever).
        let (url, seen, _thread) = stub(vec!["Throttling"; 6]);
        let gated = Budgeted::new(
            AwsClient::new(AwsConfig {
                endpoint_url: Some(url),
                ..AwsConfig::default()
            }),
            Rates::default(),
        );
        let e = gated
            .list_marked(&scope(), ("k", "v"), None)
            .await
            .unwrap_err();
        assert!(matches!(e, CloudError::Throttled { .. }), "{e:?}");
        assert_eq!(*seen.lock().unwrap(), 4);
    });
}
