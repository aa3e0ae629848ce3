//! The token endpoints: Entra ID's client credentials grant (secrets and client assertions)
//! and the instance metadata service; and how Resource Manager takes the tokens they issue.

mod common;

use std::time::Duration;

use common::*;
use fake_azure_network::{AuthMode, Options, World};
use serde_json::{Value, json};

#[tokio::test]
async fn the_client_credentials_grant_takes_the_worlds_secrets() {
    let env = start(Options {
        auth: AuthMode::IssuedTokens,
        ..Options::instant()
    })
    .await;
    let (status, body) = token(&env, TENANT, &secret_form(CLIENT_ID, CLIENT_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(access.split('.').count(), 3, "JWT-shaped");
    let opened = arm_get(&env, &env.endpoint_url("pe"), Some(access)).await;
    assert_eq!(opened.status, 404, "it opens Resource Manager");
    let refused = arm_get(&env, &env.endpoint_url("pe"), Some(TOKEN)).await;
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (401, "InvalidAuthenticationToken"),
        "only issued tokens in this mode"
    );

    let (status, body) = token(&env, TENANT, &secret_form(CLIENT_ID, "wrong")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert_eq!(body["error_codes"], json!([7000215]));
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with("AADSTS7000215: Invalid client secret provided."),
        "{description}"
    );
    let stranger = secret_form("00000000-1111-4222-8333-444444444444", "x");
    let (status, body) = token(&env, TENANT, &stranger).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let (status, body) = token(&env, "other-tenant", &secret_form(CLIENT_ID, CLIENT_SECRET)).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(90002))
    );
    let (status, body) = token(&env, TENANT, &[("client_id", CLIENT_ID)]).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(900144))
    );
    let mut form = secret_form(CLIENT_ID, CLIENT_SECRET);
    form[3] = ("scope", "https://management.azure.com/user_impersonation");
    let (status, body) = token(&env, TENANT, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let mut neither = secret_form(CLIENT_ID, CLIENT_SECRET);
    neither.remove(2);
    let (status, body) = token(&env, TENANT, &neither).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (401, Some(7000218))
    );
    let get = env
        .http
        .get(env.url(&format!("/{TENANT}/oauth2/v2.0/token")))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 400);
    let log = serde_json::to_string(&env.fake().requests()).unwrap();
    assert!(!log.contains(CLIENT_SECRET), "{log}");
}

#[tokio::test]
async fn federated_apps_take_client_assertions() {
    let env = start(Options::instant()).await;
    let jwt = assertion(4_102_444_800); // 2100-01-01
    let federated = [
        ("grant_type", "client_credentials"),
        ("client_id", FEDERATED_CLIENT),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", jwt.as_str()),
        ("scope", "https://management.azure.com/.default"),
    ];
    let (status, body) = token(&env, TENANT, &federated).await;
    assert_eq!(status, 200, "{body}");
    let mut not_federated = federated;
    not_federated[1] = ("client_id", CLIENT_ID);
    let (status, body) = token(&env, TENANT, &not_federated).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(70021))
    );
    let expired = assertion(1_000);
    let mut old = federated;
    old[3] = ("client_assertion", expired.as_str());
    let (status, body) = token(&env, TENANT, &old).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(700024))
    );
    let mut garbled = federated;
    garbled[3] = ("client_assertion", "not-a-jwt");
    let (status, body) = token(&env, TENANT, &garbled).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client"))
    );
    let log = serde_json::to_string(&env.fake().requests()).unwrap();
    assert!(!log.contains(&jwt), "{log}");
}

#[tokio::test]
async fn issued_tokens_expire_and_are_for_one_audience_and_tenant() {
    let env = start(Options {
        token_lifetime: Duration::ZERO,
        ..Options::instant()
    })
    .await;
    let expired = app_token(&env).await;
    let answer = arm_get(&env, &env.endpoint_url("pe"), Some(&expired)).await;
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (401, "ExpiredAuthenticationToken")
    );

    let env = start(Options::instant()).await;
    let mut storage = secret_form(CLIENT_ID, CLIENT_SECRET);
    storage[3] = ("scope", "https://storage.azure.com/.default");
    let (_, body) = token(&env, TENANT, &storage).await;
    let answer = arm_get(&env, &env.endpoint_url("pe"), body["access_token"].as_str()).await;
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (401, "InvalidAuthenticationToken")
    );
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("wrong audience")
    );

    let other_tenant = "6b5a4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d";
    let other = World::parse(&format!(
        "tenants: [{{id: {other_tenant}, apps: [{{clientId: c, clientSecret: s}}]}}]"
    ))
    .unwrap();
    env.fake().seed(&other).unwrap();
    let (_, body) = token(&env, other_tenant, &secret_form("c", "s")).await;
    let answer = arm_get(&env, &env.endpoint_url("pe"), body["access_token"].as_str()).await;
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (401, "InvalidAuthenticationTokenTenant")
    );
}

#[tokio::test]
async fn the_instance_metadata_service_gives_managed_identity_tokens() {
    let env = start(Options {
        auth: AuthMode::IssuedTokens,
        ..Options::instant()
    })
    .await;
    let url = env.url(
        "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/",
    );
    let imds = |url: String, metadata: bool| {
        let http = env.http.clone();
        async move {
            let mut request = http.get(url);
            if metadata {
                request = request.header("Metadata", "true");
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = imds(url.clone(), false).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": "invalid_request", "error_description": "Required metadata header not specified"})
    );
    let (status, body) = imds(url.clone(), true).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["resource"], "https://management.azure.com/");
    assert_eq!(body["client_id"], IDENTITY);
    assert_eq!(body["expires_in"], "3599", "IMDS writes numbers as strings");
    assert!(body["expires_on"].as_str().unwrap().parse::<u64>().is_ok());
    assert!(body["not_before"].as_str().unwrap().parse::<u64>().is_ok());
    let answer = arm_get(&env, &env.endpoint_url("pe"), body["access_token"].as_str()).await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    let (status, body) = imds(
        format!("{url}&client_id=0a0b0c0d-0e0f-4a1b-8c2d-3e4f5a6b7c8d"),
        true,
    )
    .await;
    assert_eq!(
        (status, &body["error_description"]),
        (400, &json!("Identity not found"))
    );
    let (status, _) = imds(format!("{url}&client_id={IDENTITY}"), true).await;
    assert_eq!(status, 200);
    let (status, body) = imds(
        env.url("/metadata/identity/oauth2/token?api-version=2018-02-01"),
        true,
    )
    .await;
    assert_eq!(status, 400, "{body}");
}
