//! Bad requests, refused with Resource Manager's and Microsoft.Network's codes: 400 for bodies,
//! names, references and tags, 404 for missing groups and subscriptions, and case-insensitive
//! paths.

mod common;

use common::*;
use fake_azure_network::Options;
use serde_json::json;

#[tokio::test]
async fn bad_requests_are_refused_with_resource_managers_codes() {
    let env = start(Options::instant()).await;
    let put = |name: &str, body: serde_json::Value| {
        let env = &env;
        let url = env.endpoint_url(name);
        async move { env.put(&url, &body).await }
    };
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut b = endpoint_body("endpoints");
        f(&mut b);
        b
    };
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        (
            "pe",
            with(&|b| {
                b.as_object_mut().unwrap().remove("location");
            }),
            "LocationRequired",
        ),
        (
            "pe",
            with(&|b| b["properties"]["subnet"]["id"] = json!("endpoints")),
            "LinkedInvalidPropertyId",
        ),
        (
            "pe",
            with(&|b| b["properties"]["subnet"]["id"] = json!(subnet("nope"))),
            "InvalidResourceReference",
        ),
        (
            "pe",
            with(&|b| {
                b["properties"]["subnet"]["id"] = json!(format!(
                    "/subscriptions/{SUB}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/west-vnet/subnets/west"
                ))
            }),
            "InvalidResourceReference",
        ),
        (
            "pe",
            with(&|b| {
                b["properties"]["manualPrivateLinkServiceConnections"][0]["properties"]["privateLinkServiceId"] =
                    json!(format!("{PLS}-gone"))
            }),
            "ThirdPartyPrivateLinkServiceProvidedDuringPrivateEndpointCreationDoesNotExistOrIsNotVisible",
        ),
        (
            "pe",
            with(&|b| {
                b["properties"]["manualPrivateLinkServiceConnections"][0]["properties"]["privateLinkServiceId"] =
                    json!(HIDDEN_PLS)
            }),
            "ThirdPartyPrivateLinkServiceProvidedDuringPrivateEndpointCreationDoesNotExistOrIsNotVisible",
        ),
        (
            "pe",
            with(&|b| {
                b["properties"]["manualPrivateLinkServiceConnections"][0]["properties"]["privateLinkServiceId"] =
                    json!("pls-1")
            }),
            "LinkedInvalidPropertyId",
        ),
        (
            "pe",
            with(&|b| {
                b["properties"]["manualPrivateLinkServiceConnections"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("name");
            }),
            "InvalidRequestFormat",
        ),
        (
            "pe",
            with(&|b| b["properties"]["manualPrivateLinkServiceConnections"] = json!([])),
            "PrivateEndpointMustHaveOnePrivateLinkServiceConnection",
        ),
        (
            "pe",
            with(&|b| b["tags"] = json!({"a?b": "c"})),
            "InvalidTagNameCharacters",
        ),
        (
            "pe",
            with(&|b| b["tags"] = json!({"k": "v".repeat(257)})),
            "InvalidTagValueLength",
        ),
        (
            "pe",
            with(&|b| {
                b["tags"] = json!(
                    (0..51)
                        .map(|i| (format!("k{i}"), json!("v")))
                        .collect::<serde_json::Map<_, _>>()
                )
            }),
            "InvalidTagCount",
        ),
        ("-pe", endpoint_body("endpoints"), "InvalidResourceName"),
    ];
    for (name, body, code) in cases {
        let answer = put(name, body).await;
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (400, code),
            "{}",
            answer.body
        );
    }
    let raw = env
        .http
        .put(env.endpoint_url("pe"))
        .bearer_auth(TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let body: serde_json::Value = raw.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidRequestContent");
    assert_eq!(
        env.get(&env.endpoint_url("pe")).await.status,
        404,
        "nothing was made"
    );

    let no_group = env.arm(&format!(
        "/subscriptions/{SUB}/resourceGroups/nope/providers/Microsoft.Network/privateEndpoints/pe"
    ));
    for answer in [
        env.get(&no_group).await,
        env.put(&no_group, &endpoint_body("endpoints")).await,
    ] {
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (404, "ResourceGroupNotFound")
        );
    }
    let unknown = env.get(&env.arm("/subscriptions/9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a/providers/Microsoft.Network/privateEndpoints")).await;
    assert_eq!(
        (unknown.status, unknown.code().as_str()),
        (404, "SubscriptionNotFound")
    );
    let malformed = env
        .get(&env.arm("/subscriptions/my-sub/providers/Microsoft.Network/privateEndpoints"))
        .await;
    assert_eq!(
        (malformed.status, malformed.code().as_str()),
        (400, "InvalidSubscriptionId")
    );
    let nic = env.get(&env.arm(&format!("/subscriptions/{SUB}/resourceGroups/apps/providers/Microsoft.Network/networkInterfaces/nope"))).await;
    assert_eq!((nic.status, nic.code().as_str()), (404, "ResourceNotFound"));
    let other = env
        .get(&env.arm(&format!(
            "/subscriptions/{SUB}/resourceGroups/apps/providers/Microsoft.Network/loadBalancers/lb"
        )))
        .await;
    assert_eq!(
        (other.status, other.code().as_str()),
        (501, "NotImplementedByFake")
    );
    // Paths and keywords are case-insensitive, as Resource Manager's.
    env.create("case", &endpoint_body("endpoints")).await;
    let shouted = env.get(&env.arm(&format!("/SUBSCRIPTIONS/{SUB}/RESOURCEGROUPS/APPS/PROVIDERS/microsoft.network/PRIVATEENDPOINTS/CASE"))).await;
    assert_eq!(shouted.status, 200, "{}", shouted.body);
    assert_eq!(shouted.body["name"], "case");
}
