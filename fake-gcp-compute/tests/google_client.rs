//! The fake against Google's own Rust client, `google-cloud-compute-v1`: the JSON it returns
//! deserializes into the client's generated model types with no field unknown to them and
//! serializes back to the same JSON; its error bodies parse into `google-cloud-gax` statuses
//! with the right codes; and the real client, pointed at the fake with `with_endpoint`,
//! reserves an address, creates an endpoint, waits on operations and sets labels.

mod common;

use std::fmt::Debug;

use common::*;
use google_cloud_auth::credentials::{
    CacheableResource, Credentials, CredentialsProvider, EntityTag,
};
use google_cloud_compute_v1::client::{Addresses, ForwardingRules, RegionOperations};
use google_cloud_compute_v1::model;
use google_cloud_gax::error::rpc::{Code, Status, StatusDetails};
use google_cloud_lro::Poller;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Parses `value` as `T`, and checks that nothing was unknown to `T` (its Debug shows
/// `_unknown_fields` only when some were) and that `T` writes back the same JSON.
fn typed<T: DeserializeOwned + Serialize + Debug>(value: &Value) -> T {
    let parsed: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("{}: {e}\n{value:#}", std::any::type_name::<T>()));
    let debug = format!("{parsed:?}");
    assert!(!debug.contains("_unknown_fields"), "{debug}");
    assert_eq!(serde_json::to_value(&parsed).unwrap(), *value);
    parsed
}

#[tokio::test]
async fn the_fakes_json_is_the_client_models_json() {
    let env = start(instant()).await;
    let address_json = env.address("orders-ip", None).await;
    let address: model::Address = typed(&address_json);
    assert_eq!(address.address.as_deref(), Some("10.8.0.2"));
    assert_eq!(
        address.address_type,
        Some(model::address::AddressType::Internal)
    );
    assert_eq!(address.status, Some(model::address::Status::Reserved));
    assert_eq!(
        address.label_fingerprint.as_deref(),
        Some(&[0xe3, 0x65, 0xa6, 0x4a, 0x90, 0x7c, 0xad, 0x23][..])
    );
    assert!(address.id.is_some());

    let rule_json = env.endpoint("orders-gcp", &address_json, ATTACHMENT).await;
    let rule: model::ForwardingRule = typed(&rule_json);
    assert_eq!(
        rule.psc_connection_status,
        Some(model::forwarding_rule::PscConnectionStatus::Pending)
    );
    assert!(rule.psc_connection_id.is_some());
    assert_eq!(rule.ip_address.as_deref(), Some("10.8.0.2"));
    assert_eq!(rule.allow_psc_global_access, Some(false));
    let in_use: model::Address = typed(&env.get(&env.regional("addresses/orders-ip")).await.1);
    assert_eq!(in_use.status, Some(model::address::Status::InUse));

    let (_, op) = env
        .delete(&env.regional("forwardingRules/orders-gcp"))
        .await;
    let op: model::Operation = typed(&op);
    assert_eq!(op.status, Some(model::operation::Status::Done));
    assert_eq!(op.operation_type.as_deref(), Some("delete"));
    let (_, list) = env.get(&env.regional("addresses?maxResults=1")).await;
    let list: model::AddressList = typed(&list);
    assert_eq!(list.items.len(), 1);
    let (_, rules) = env.get(&env.regional("forwardingRules")).await;
    let _: model::ForwardingRuleList = typed(&rules);

    env.fake().inject(fake_gcp_compute::Fault::FailOperation {
        operation_type: None,
        error: fake_gcp_compute::OpError::new("QUOTA_EXCEEDED", "Quota exceeded.", 403),
    });
    let (_, failed) = env
        .post(
            &env.regional("addresses"),
            json!({"name": "no", "addressType": "INTERNAL", "subnetwork": "prod-us-central1"}),
        )
        .await;
    let failed: model::Operation = typed(&failed);
    assert_eq!(failed.http_error_status_code, Some(403));
    assert_eq!(
        failed.error.unwrap().errors[0].code.as_deref(),
        Some("QUOTA_EXCEEDED")
    );

    let project = |tail: &str| env.url(&format!("/compute/v1/projects/{PROJECT}/{tail}"));
    let _: model::Network = typed(&env.get(&project("global/networks/prod-vpc")).await.1);
    let _: model::NetworkList = typed(&env.get(&project("global/networks")).await.1);
    let _: model::Subnetwork = typed(
        &env.get(&env.regional("subnetworks/prod-us-central1"))
            .await
            .1,
    );
    let _: model::SubnetworkList = typed(&env.get(&env.regional("subnetworks")).await.1);
    let firewalls: model::FirewallList = typed(&env.get(&project("global/firewalls")).await.1);
    let deny = &firewalls.items[0];
    assert_eq!(deny.direction, Some(model::firewall::Direction::Egress));
    assert_eq!(deny.denied[0].ip_protocol.as_deref(), Some("tcp"));
    let (_, ops) = env.get(&env.regional("operations")).await;
    let _: model::OperationList = typed(&ops);
}

#[tokio::test]
async fn the_fakes_errors_parse_as_google_statuses() {
    let env = start(instant()).await;
    let a = env.address("a", None).await;
    let status = |body: &Value| Status::try_from(&bytes::Bytes::from(body.to_string())).unwrap();
    let (_, missing) = env.get(&env.regional("addresses/none")).await;
    let (_, exists) = env
        .post(
            &env.regional("addresses"),
            json!({"name": "a", "addressType": "INTERNAL", "subnetwork": "prod-us-central1"}),
        )
        .await;
    let (_, stale) = env
        .post(
            &env.regional("addresses/a/setLabels"),
            json!({"labels": {}, "labelFingerprint": "AAAAAAAAAAA="}),
        )
        .await;
    let (_, invalid) = env
        .post(&env.regional("addresses"), json!({"name": "B"}))
        .await;
    env.fake()
        .inject(fake_gcp_compute::Fault::Throttle { count: 1 });
    let (_, throttled) = env.get(&env.regional("addresses")).await;
    let unauthenticated: Value = env
        .http
        .get(env.regional("addresses"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (body, code, reason) in [
        (missing, Code::NotFound, "notFound"),
        (exists, Code::AlreadyExists, "alreadyExists"),
        (stale, Code::FailedPrecondition, "conditionNotMet"),
        (invalid, Code::InvalidArgument, "invalid"),
        (throttled, Code::ResourceExhausted, "rateLimitExceeded"),
        (unauthenticated, Code::Unauthenticated, "required"),
    ] {
        let parsed = status(&body);
        assert_eq!(parsed.code, code, "{body}");
        assert_eq!(parsed.message, body["error"]["message"]);
        match &parsed.details[..] {
            [StatusDetails::ErrorInfo(info)] => assert_eq!(info.reason, reason),
            other => panic!("{other:?}"),
        }
    }
    assert!(a["labelFingerprint"].is_string());
}

/// Sends `Authorization: Bearer ...` without asking Google for a token.
#[derive(Debug)]
struct FakeToken;

impl CredentialsProvider for FakeToken {
    async fn headers(
        &self,
        _: http::Extensions,
    ) -> Result<CacheableResource<http::HeaderMap>, google_cloud_auth::errors::CredentialsError>
    {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer fake-token"),
        );
        Ok(CacheableResource::New {
            entity_tag: EntityTag::new(),
            data: headers,
        })
    }

    async fn universe_domain(&self) -> Option<String> {
        None
    }
}

#[tokio::test]
async fn the_real_client_works_against_the_fake() {
    let env = start(fake_gcp_compute::Options {
        timing: fake_gcp_compute::Timing {
            pending: std::time::Duration::from_millis(20),
            running: std::time::Duration::from_millis(50),
        },
        ..fake_gcp_compute::Options::default()
    })
    .await;
    let endpoint = env.server.endpoint();
    let addresses = Addresses::builder()
        .with_endpoint(&endpoint)
        .with_credentials(Credentials::from(FakeToken))
        .build()
        .await
        .unwrap();
    let rules = ForwardingRules::builder()
        .with_endpoint(&endpoint)
        .with_credentials(Credentials::from(FakeToken))
        .build()
        .await
        .unwrap();
    let operations = RegionOperations::builder()
        .with_endpoint(&endpoint)
        .with_credentials(Credentials::from(FakeToken))
        .build()
        .await
        .unwrap();

    let op = addresses
        .insert()
        .set_project(PROJECT)
        .set_region(REGION)
        .set_request_id("5b7b1f6e-9f3c-4a52-8f1d-0c9e2b7a4d11")
        .set_body(
            model::Address::new()
                .set_name("orders-ip")
                .set_address_type(model::address::AddressType::Internal)
                .set_subnetwork("regions/us-central1/subnetworks/prod-us-central1")
                .set_address("10.8.0.4"),
        )
        .send()
        .await
        .unwrap();
    assert_ne!(
        op.status,
        Some(model::operation::Status::Done),
        "20 ms pending"
    );
    let waited = operations
        .wait()
        .set_project(PROJECT)
        .set_region(REGION)
        .set_operation(op.name.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(waited.status, Some(model::operation::Status::Done));
    let address = addresses
        .get()
        .set_project(PROJECT)
        .set_region(REGION)
        .set_address("orders-ip")
        .send()
        .await
        .unwrap();
    assert_eq!(address.address.as_deref(), Some("10.8.0.4"));

    // The poller the client offers, over the fake's operations.
    let done = rules
        .insert()
        .set_project(PROJECT)
        .set_region(REGION)
        .set_body(
            model::ForwardingRule::new()
                .set_name("orders-gcp")
                .set_network("global/networks/prod-vpc")
                .set_ip_address(address.self_link.clone().unwrap())
                .set_target(ATTACHMENT)
                .set_allow_psc_global_access(false),
        )
        .poller()
        .until_done()
        .await
        .unwrap();
    assert_eq!(done.status, Some(model::operation::Status::Done));
    let rule = rules
        .get()
        .set_project(PROJECT)
        .set_region(REGION)
        .set_forwarding_rule("orders-gcp")
        .send()
        .await
        .unwrap();
    assert_eq!(
        rule.psc_connection_status,
        Some(model::forwarding_rule::PscConnectionStatus::Pending)
    );

    // Labels with the fingerprint the client read; a stale one fails 412 through the client.
    let relabel = |fingerprint: Option<bytes::Bytes>| {
        rules
            .set_labels()
            .set_project(PROJECT)
            .set_region(REGION)
            .set_resource("orders-gcp")
            .set_body(
                model::RegionSetLabelsRequest::new()
                    .set_labels([("managed-by", "privatelinkd")])
                    .set_or_clear_label_fingerprint(fingerprint),
            )
            .poller()
            .until_done()
    };
    relabel(rule.label_fingerprint.clone()).await.unwrap();
    let error = relabel(rule.label_fingerprint.clone()).await.unwrap_err();
    assert_eq!(error.http_status_code(), Some(412), "{error:?}");
    let listed = rules
        .list()
        .set_project(PROJECT)
        .set_region(REGION)
        .set_filter("labels.managed-by = privatelinkd")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);

    // A failed operation is no error of the poller (google-cloud-lro 1.11 completes with
    // Ok(operation)): callers must read its `error`.
    env.fake().inject(fake_gcp_compute::Fault::FailOperation {
        operation_type: Some("insert".into()),
        error: fake_gcp_compute::OpError::new("QUOTA_EXCEEDED", "Quota exceeded.", 403),
    });
    let failed = addresses
        .insert()
        .set_project(PROJECT)
        .set_region(REGION)
        .set_body(
            model::Address::new()
                .set_name("no")
                .set_address_type(model::address::AddressType::Internal)
                .set_subnetwork("prod-us-central1"),
        )
        .poller()
        .until_done()
        .await
        .unwrap();
    assert_eq!(failed.status, Some(model::operation::Status::Done));
    assert_eq!(failed.http_error_status_code, Some(403));
    assert_eq!(
        failed.error.unwrap().errors[0].code.as_deref(),
        Some("QUOTA_EXCEEDED")
    );
    let missing = addresses
        .get()
        .set_project(PROJECT)
        .set_region(REGION)
        .set_address("none")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        missing.status().map(|s| s.code),
        Some(Code::NotFound),
        "{missing:?}"
    );
    assert!(
        env.fake().requests().iter().all(|r| r.status != 401),
        "the client's token was accepted"
    );
}
