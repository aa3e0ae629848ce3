//! Every `Arm` method of the real client against the fake, and its error mapping.

use std::collections::BTreeMap;
use std::time::Duration;

use fake_azure_network::{Bucket, ConnectionStatus, Fault, OpError, Options, RateLimits};
use privatelinkd::cloud::CloudError;
use privatelinkd::cloud::azure::{Arm, LinkStatus, OperationState, ProvisioningState};

use super::*;

#[tokio::test]
async fn a_put_starts_an_operation_read_in_progress_then_succeeded_and_the_endpoint_is_whole() {
    let env = start(delayed(Duration::from_millis(300))).await;
    let arm = &env.client;
    let op = arm
        .put_private_endpoint(&put_request("orders"))
        .await
        .unwrap();
    assert!(
        op.starts_with(&format!(
            "{}/subscriptions/{SUB}/providers/Microsoft.Network/locations/eastus/operations/",
            env.endpoint()
        )),
        "the Azure-AsyncOperation URL: {op}"
    );
    assert_eq!(
        arm.get_operation(&op).await.unwrap(),
        OperationState::InProgress
    );
    let during = arm
        .get_private_endpoint(&endpoint_id("orders"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(during.provisioning_state, ProvisioningState::Updating);
    assert_eq!(settle(arm, &op).await, OperationState::Succeeded);

    let e = arm
        .get_private_endpoint(&endpoint_id("orders"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.id, endpoint_id("orders"));
    assert_eq!(e.name, "orders");
    assert_eq!(e.location, "eastus");
    assert_eq!(e.provisioning_state, ProvisioningState::Succeeded);
    assert_eq!(e.subnet_id, subnet_id());
    assert_eq!(e.service_id, PLS);
    // A manual connection waits for the provider (TiDB Cloud).
    assert_eq!(e.link_status, LinkStatus::Pending);
    assert_eq!(e.tags["privatelinkd-owner"], "test-host");
    let nic = e.network_interface_id.clone().expect("an interface");
    assert!(nic.contains("/networkInterfaces/orders.nic."), "{nic}");
    // The lowest free address after Azure's five reserved ones (.4 is the one made by hand).
    assert_eq!(
        arm.get_private_ip(&nic).await.unwrap().as_deref(),
        Some("10.0.1.5")
    );
    assert_eq!(
        e.private_ip, None,
        "the IP is read from the interface, not the endpoint"
    );

    // TiDB Cloud accepts: Approved.
    env.fake()
        .set_connection_state(&e.id, ConnectionStatus::Approved, None)
        .unwrap();
    let e = arm.get_private_endpoint(&e.id).await.unwrap().unwrap();
    assert_eq!(e.link_status, LinkStatus::Approved);

    // One request a method: PUT, operation, GET, operation..., GET, NIC, GET.
    let methods: Vec<String> = env.arm_requests().into_iter().map(|(m, ..)| m).collect();
    assert_eq!(methods.iter().filter(|m| *m == "PUT").count(), 1);
}

#[tokio::test]
async fn listing_follows_next_links_through_every_page() {
    let env = start(Options {
        page_size: 2,
        ..Options::instant()
    })
    .await;
    let arm = &env.client;
    for name in ["a", "b", "c", "d"] {
        arm.put_private_endpoint(&put_request(name)).await.unwrap();
    }
    let mut token: Option<String> = None;
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let page = arm
            .list_private_endpoints(SUB, token.as_deref())
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= 2);
        all.extend(page.items);
        match page.next {
            Some(next) => {
                assert!(next.starts_with(&env.endpoint()), "{next}");
                token = Some(next);
            }
            None => break,
        }
    }
    let mut names: Vec<&str> = all.iter().map(|e| e.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["a", "b", "by-hand", "c", "d"]);
    assert_eq!(pages, 3);
    // The endpoint made by hand: its tags, its approved connection.
    let by_hand = all.iter().find(|e| e.name == "by-hand").unwrap();
    assert_eq!(by_hand.link_status, LinkStatus::Approved);
    assert_eq!(by_hand.tags["owner"], "platform");
    assert_eq!(by_hand.service_id, PLS);
}

#[tokio::test]
async fn a_subnet_is_read_with_its_prefixes_and_a_missing_one_is_none() {
    let env = start(Options::instant()).await;
    let s = env.client.get_subnet(&subnet_id()).await.unwrap().unwrap();
    assert_eq!(s.id, subnet_id());
    assert_eq!(s.address_prefixes, ["10.0.1.0/24"]);
    let missing = subnet_id().replace("/endpoints", "/nope");
    assert_eq!(env.client.get_subnet(&missing).await.unwrap(), None);
}

#[tokio::test]
async fn a_delete_answers_its_operation_then_the_endpoint_is_gone() {
    let env = start(delayed(Duration::from_millis(300))).await;
    let arm = &env.client;
    let created = arm
        .put_private_endpoint(&put_request("orders"))
        .await
        .unwrap();
    settle(arm, &created).await;
    let nic = arm
        .get_private_endpoint(&endpoint_id("orders"))
        .await
        .unwrap()
        .unwrap()
        .network_interface_id
        .unwrap();

    let op = arm
        .delete_private_endpoint(&endpoint_id("orders"))
        .await
        .unwrap()
        .expect("202: an operation");
    assert!(
        op.contains("/operations/"),
        "Azure-AsyncOperation preferred: {op}"
    );
    assert_eq!(
        arm.get_operation(&op).await.unwrap(),
        OperationState::InProgress
    );
    let deleting = arm
        .get_private_endpoint(&endpoint_id("orders"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(deleting.provisioning_state, ProvisioningState::Deleting);
    // Its Location twin (operationResults) says the same, the other way: 202, then 204.
    let results = op.replace("/operations/", "/operationResults/");
    assert_eq!(
        arm.get_operation(&results).await.unwrap(),
        OperationState::InProgress
    );
    assert_eq!(settle(arm, &op).await, OperationState::Succeeded);
    assert_eq!(
        arm.get_operation(&results).await.unwrap(),
        OperationState::Succeeded
    );

    assert_eq!(
        arm.get_private_endpoint(&endpoint_id("orders"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        arm.get_private_ip(&nic).await.unwrap(),
        None,
        "the interface went with it"
    );
    // Deleting what is gone: 204, no operation.
    assert_eq!(
        arm.delete_private_endpoint(&endpoint_id("orders"))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn tags_are_replaced_by_a_read_and_a_conditional_put() {
    let env = start(Options::instant()).await;
    let arm = &env.client;
    arm.put_private_endpoint(&put_request("orders"))
        .await
        .unwrap();
    env.fake().clear_requests();
    let tags: BTreeMap<String, String> = [
        ("privatelinkd-owner".to_string(), "test-host".to_string()),
        (
            "privatelinkd-document".to_string(),
            "/etc/privatelinkd/endpoints/orders.yaml".to_string(),
        ),
    ]
    .into();
    arm.update_tags(&endpoint_id("orders"), &tags)
        .await
        .unwrap();
    let e = arm
        .get_private_endpoint(&endpoint_id("orders"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.tags, tags);
    // Everything else as it was.
    assert_eq!(e.service_id, PLS);
    assert_eq!(e.subnet_id, subnet_id());
    let calls: Vec<(String, u16)> = env
        .arm_requests()
        .into_iter()
        .map(|(m, _, s)| (m, s))
        .collect();
    assert_eq!(calls[..2], [("GET".into(), 200), ("PUT".into(), 200)]);

    // Someone changed the endpoint between the read and the PUT: 412, read again next time.
    env.fake().inject(Fault::HttpError {
        count: 1,
        status: 412,
        code: "PreconditionFailed".into(),
        message: "The condition specified using HTTP conditional header(s) is not met.".into(),
        method: Some("PUT".into()),
        path_contains: None,
    });
    let stale = arm
        .update_tags(&endpoint_id("orders"), &BTreeMap::new())
        .await;
    assert!(
        matches!(stale, Err(CloudError::Transient(ref m)) if m.contains("PreconditionFailed")),
        "{stale:?}"
    );
    // A missing endpoint's tags: NotFound.
    let gone = arm.update_tags(&endpoint_id("nope"), &tags).await;
    assert!(matches!(gone, Err(CloudError::NotFound(_))), "{gone:?}");
}

#[tokio::test]
async fn what_does_not_exist_is_none() {
    let env = start(Options::instant()).await;
    let arm = &env.client;
    assert_eq!(
        arm.get_private_endpoint(&endpoint_id("nope"))
            .await
            .unwrap(),
        None
    );
    let other_group = endpoint_id("x").replace("/apps/", "/no-such-group/");
    assert_eq!(arm.get_private_endpoint(&other_group).await.unwrap(), None);
    let nic = format!(
        "/subscriptions/{SUB}/resourceGroups/apps/providers/Microsoft.Network/networkInterfaces/nope"
    );
    assert_eq!(arm.get_private_ip(&nic).await.unwrap(), None);
    assert_eq!(
        arm.delete_private_endpoint(&endpoint_id("nope"))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_429_is_throttled_for_its_retry_after() {
    let env = start(Options::instant()).await;
    env.fake().inject(Fault::Throttle {
        count: 1,
        retry_after_secs: 7,
        code: None,
    });
    let got = env
        .client
        .get_private_endpoint(&endpoint_id("orders"))
        .await;
    assert_eq!(
        got,
        Err(CloudError::Throttled {
            api: "arm",
            retry_after: Duration::from_secs(7)
        })
    );
    // The next is answered.
    assert_eq!(
        env.client
            .get_private_endpoint(&endpoint_id("orders"))
            .await,
        Ok(None)
    );
}

#[tokio::test]
async fn an_empty_bucket_in_the_headers_holds_the_next_request_back() {
    // Two reads a subscription, refilled one a second: the second answer says 0 are left.
    let env = start(Options {
        rate_limits: RateLimits {
            reads: Bucket {
                size: 2.0,
                refill_per_sec: 1.0,
            },
            ..RateLimits::unlimited()
        },
        ..Options::instant()
    })
    .await;
    let arm = &env.client;
    let id = endpoint_id("orders");
    assert_eq!(arm.get_private_endpoint(&id).await, Ok(None));
    assert_eq!(arm.get_private_endpoint(&id).await, Ok(None));
    let held = arm.get_private_endpoint(&id).await;
    match held {
        Err(CloudError::Throttled {
            api: "arm",
            retry_after,
        }) => {
            assert!(retry_after <= Duration::from_secs(1), "{retry_after:?}")
        }
        other => panic!("expected a throttle: {other:?}"),
    }
    assert_eq!(env.arm_requests().len(), 2, "the third was not sent");
    // Writes have their own bucket: not held.
    arm.put_private_endpoint(&put_request("orders"))
        .await
        .unwrap();
    // A second later, reads go again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(arm.get_private_endpoint(&id).await.unwrap().is_some());
}

#[tokio::test]
async fn refusals_are_permanent_and_say_resource_managers_code_and_message() {
    let env = start(Options::instant()).await;
    // 403: no role assignment in that subscription.
    let forbidden = format!(
        "/subscriptions/{FORBIDDEN_SUB}/resourceGroups/apps/providers/Microsoft.Network/privateEndpoints/x"
    );
    match env.client.get_private_endpoint(&forbidden).await {
        Err(CloudError::Permanent(m)) => {
            assert!(m.contains("403 AuthorizationFailed"), "{m}");
            assert!(m.contains("does not have authorization to perform action 'Microsoft.Network/privateEndpoints/read'"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    // 401: a token from a tenant the subscription does not trust.
    let stranger = env.client_with(client_secret(
        env.dir.path(),
        OTHER_TENANT,
        STRANGER_ID,
        STRANGER_SECRET,
    ));
    match stranger.get_private_endpoint(&endpoint_id("x")).await {
        Err(CloudError::Permanent(m)) => {
            assert!(m.contains("401 InvalidAuthenticationTokenTenant"), "{m}");
            assert!(
                m.contains("The access token is from the wrong issuer"),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
    // A 401 drops the token: the next call asks Entra ID again.
    let before = env.token_requests();
    let _ = stranger.get_private_endpoint(&endpoint_id("x")).await;
    assert_eq!(env.token_requests(), before + 1);
    // 400: the request as written cannot succeed.
    let mut bad = put_request("orders");
    bad.subnet_id = subnet_id().replace("/endpoints", "/nope");
    match env.client.put_private_endpoint(&bad).await {
        Err(CloudError::Permanent(m)) => assert!(m.contains("400 InvalidResourceReference"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_second_operation_while_one_runs_is_transient() {
    let env = start(delayed(Duration::from_secs(2))).await;
    env.client
        .put_private_endpoint(&put_request("orders"))
        .await
        .unwrap();
    match env
        .client
        .delete_private_endpoint(&endpoint_id("orders"))
        .await
    {
        Err(CloudError::Transient(m)) => {
            assert!(m.contains("409 AnotherOperationInProgress"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    // 5xx likewise.
    env.fake().inject(Fault::HttpError {
        count: 1,
        status: 503,
        code: "ServerBusy".into(),
        message: "busy".into(),
        method: None,
        path_contains: None,
    });
    assert!(matches!(
        env.client
            .get_private_endpoint(&endpoint_id("orders"))
            .await,
        Err(CloudError::Transient(_))
    ));
}

#[tokio::test]
async fn a_failed_operation_says_why_both_ways() {
    let env = start(delayed(Duration::from_millis(100))).await;
    env.fake().inject(Fault::FailOperation {
        error: OpError::new("InternalServerError", "An error occurred."),
    });
    let op = env
        .client
        .put_private_endpoint(&put_request("orders"))
        .await
        .unwrap();
    let want = OperationState::Failed(
        "the operation ended Failed: InternalServerError: An error occurred.".into(),
    );
    assert_eq!(settle(&env.client, &op).await, want);
    // The Location twin answers the error itself (a 400): the operation's failure, not the
    // poll's.
    let results = op.replace("/operations/", "/operationResults/");
    assert_eq!(env.client.get_operation(&results).await.unwrap(), want);
    let e = env
        .client
        .get_private_endpoint(&endpoint_id("orders"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.provisioning_state, ProvisioningState::Failed);
}

#[tokio::test]
async fn urls_on_another_host_are_refused_and_never_called() {
    let env = start(Options::instant()).await;
    // A listener that would see the token if the client went there.
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other = format!("http://{}", elsewhere.local_addr().unwrap());
    let op = format!(
        "{other}/subscriptions/{SUB}/providers/Microsoft.Network/locations/eastus/operations/x?api-version=2024-05-01"
    );
    match env.client.get_operation(&op).await {
        Err(CloudError::Permanent(m)) => {
            assert!(m.contains("refusing the operation URL"), "{m}");
            assert!(m.contains(&env.endpoint()), "names where tokens go: {m}");
        }
        other => panic!("{other:?}"),
    }
    let next = format!(
        "{other}/subscriptions/{SUB}/providers/Microsoft.Network/privateEndpoints?api-version=2024-05-01&$skipToken=2"
    );
    match env.client.list_private_endpoints(SUB, Some(&next)).await {
        Err(CloudError::Permanent(m)) => assert!(m.contains("refusing the nextLink"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Another host on a look-alike name, another scheme.
    for url in [
        op.replace(&other, "http://127.0.0.2:1"),
        op.replace(&other, &env.endpoint().replace("http://", "https://")),
    ] {
        assert!(
            matches!(
                env.client.get_operation(&url).await,
                Err(CloudError::Permanent(_))
            ),
            "{url}"
        );
    }
    let accepted = tokio::time::timeout(Duration::from_millis(200), elsewhere.accept()).await;
    assert!(accepted.is_err(), "nothing connected to the other host");
    // Not even a token was fetched for them.
    assert_eq!(env.token_requests(), 0);
}

#[tokio::test]
async fn ids_that_are_not_resource_ids_are_refused_before_sending() {
    let env = start(Options::instant()).await;
    for id in [
        "orders",
        "/subscriptions/x/../../fake/v1/requests",
        "/subscriptions/x?y",
    ] {
        assert!(
            matches!(
                env.client.get_private_endpoint(id).await,
                Err(CloudError::Permanent(_))
            ),
            "{id}"
        );
    }
    assert!(env.fake().requests().is_empty());
}
