//! The credentials against the fake's Entra ID and instance metadata service, with Resource
//! Manager taking only the tokens the fake issued (`AuthMode::IssuedTokens`): a call that
//! succeeds proves the token was fetched the documented way.

use std::time::Duration;

use fake_azure_network::{AuthMode, Options};
use privatelinkd::cloud::CloudError;
use privatelinkd::cloud::azure::{Arm, AzureCredentials, Tokens};

use super::*;

fn issued_only() -> Options {
    Options {
        auth: AuthMode::IssuedTokens,
        ..Options::instant()
    }
}

/// A Resource Manager read that needs a token the fake issued.
async fn works(arm: &ArmClient) {
    let page = arm.list_private_endpoints(SUB, None).await.unwrap();
    assert_eq!(page.items.len(), 1, "the endpoint made by hand");
}

#[tokio::test]
async fn a_client_secret_gets_a_token_kept_until_near_its_expiry() {
    let env = start(issued_only()).await;
    works(&env.client).await;
    works(&env.client).await;
    works(&env.client).await;
    assert_eq!(env.token_requests(), 1, "an hour's token is fetched once");
    let token = env.client.tokens().token().await.unwrap();
    assert_eq!(token.expose().split('.').count(), 3, "a JWT");
    // Clones share the token.
    works(&env.client.clone()).await;
    assert_eq!(env.token_requests(), 1);
}

#[tokio::test]
async fn a_short_lived_token_is_fetched_again_lazily() {
    // Tokens of 2 s: kept for half their life, then fetched by the next call that needs one.
    let env = start(Options {
        token_lifetime: Duration::from_secs(2),
        ..issued_only()
    })
    .await;
    works(&env.client).await;
    works(&env.client).await;
    assert_eq!(env.token_requests(), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        env.token_requests(),
        1,
        "nothing is fetched before it is needed"
    );
    works(&env.client).await;
    assert_eq!(env.token_requests(), 2);
}

#[tokio::test]
async fn a_wrong_secret_is_permanent_in_entra_ids_words() {
    let env = start(issued_only()).await;
    let arm = env.client_with(client_secret(
        env.dir.path(),
        TENANT,
        CLIENT_ID,
        "a-wrong-secret-value",
    ));
    match arm.list_private_endpoints(SUB, None).await {
        Err(CloudError::Permanent(m)) => {
            assert!(m.starts_with("Azure credentials (client secret): Entra ID answered 401 invalid_client: AADSTS7000215"), "{m}");
            assert!(!m.contains("a-wrong-secret-value"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        env.arm_requests().is_empty(),
        "no Resource Manager call without a token"
    );
    // An unknown app in the tenant, an unknown tenant.
    let unknown = env.client_with(client_secret(
        env.dir.path(),
        TENANT,
        STRANGER_ID,
        "x-y-z-w",
    ));
    let err = unknown.list_private_endpoints(SUB, None).await.unwrap_err();
    assert!(err.to_string().contains("AADSTS700016"), "{err}");
}

#[tokio::test]
async fn a_secret_file_is_read_at_each_fetch_so_a_rotated_secret_is_used() {
    let env = start(Options {
        token_lifetime: Duration::from_secs(1),
        ..issued_only()
    })
    .await;
    let credentials = client_secret(env.dir.path(), TENANT, CLIENT_ID, "an-old-revoked-secret");
    let AzureCredentials::ClientSecret { secret_file, .. } = &credentials else {
        unreachable!()
    };
    let secret_file = secret_file.clone();
    let arm = env.client_with(credentials);
    assert!(arm.list_private_endpoints(SUB, None).await.is_err());
    std::fs::write(&secret_file, CLIENT_SECRET).unwrap();
    works(&arm).await;
}

#[tokio::test]
async fn workload_identity_sends_the_federated_token_file_as_a_client_assertion() {
    let env = start(issued_only()).await;
    let token_file = write(
        env.dir.path(),
        "azure-identity-token",
        &federated_token(Duration::from_secs(3600)),
    );
    let arm = env.client_with(AzureCredentials::WorkloadIdentity {
        tenant_id: TENANT.into(),
        client_id: FEDERATED_CLIENT.into(),
        token_file: token_file.clone(),
    });
    works(&arm).await;
    // An app that trusts no federation.
    let untrusted = env.client_with(AzureCredentials::WorkloadIdentity {
        tenant_id: TENANT.into(),
        client_id: CLIENT_ID.into(),
        token_file: token_file.clone(),
    });
    let err = untrusted
        .list_private_endpoints(SUB, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("AADSTS70021"), "{err}");
    // An expired projected token (the kubelet stopped rotating it).
    write(
        env.dir.path(),
        "expired-token",
        &federated_token(Duration::ZERO),
    );
    let expired = env.client_with(AzureCredentials::WorkloadIdentity {
        tenant_id: TENANT.into(),
        client_id: FEDERATED_CLIENT.into(),
        token_file: env.dir.path().join("expired-token"),
    });
    let err = expired.list_private_endpoints(SUB, None).await.unwrap_err();
    assert!(matches!(err, CloudError::Permanent(_)), "{err:?}");
    assert!(err.to_string().contains("AADSTS700024"), "{err}");
}

#[tokio::test]
async fn managed_identity_asks_the_instance_metadata_service() {
    let env = start(issued_only()).await;
    // The system-assigned identity.
    let arm = env.client_with(AzureCredentials::ManagedIdentity {
        client_id: None,
        endpoint: Some(env.endpoint()),
    });
    works(&arm).await;
    // A user-assigned one, by client ID.
    let arm = env.client_with(AzureCredentials::ManagedIdentity {
        client_id: Some(USER_IDENTITY.into()),
        endpoint: Some(env.endpoint()),
    });
    works(&arm).await;
    let imds: Vec<String> = env
        .fake()
        .requests()
        .into_iter()
        .filter(|r| r.path == "/metadata/identity/oauth2/token")
        .map(|r| r.query)
        .collect();
    assert_eq!(imds.len(), 2);
    assert!(imds[0].contains("api-version=2018-02-01"), "{imds:?}");
    assert!(
        imds[0].contains("resource=https%3A%2F%2Fmanagement.azure.com%2F"),
        "{imds:?}"
    );
    assert!(
        imds[1].contains(&format!("client_id={USER_IDENTITY}")),
        "{imds:?}"
    );
    // An identity the VM does not have.
    let arm = env.client_with(AzureCredentials::ManagedIdentity {
        client_id: Some(CLIENT_ID.into()),
        endpoint: Some(env.endpoint()),
    });
    match arm.list_private_endpoints(SUB, None).await {
        Err(CloudError::Permanent(m)) => assert!(m.contains("Identity not found"), "{m}"),
        other => panic!("{other:?}"),
    }
    let _ = IDENTITY;
}

#[tokio::test]
async fn no_metadata_service_is_unreachable_and_says_where_it_looked() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let tokens = Tokens::new(
        AzureCredentials::ManagedIdentity {
            client_id: None,
            endpoint: Some(format!("http://127.0.0.1:{port}")),
        },
        None,
    )
    .unwrap();
    match tokens.token().await {
        Err(CloudError::Unreachable(m)) => {
            assert!(
                m.contains("is privatelinkd on an Azure VM with a managed identity?"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_azure_cli_gives_its_signed_in_accounts_token() {
    let dir = tempfile::tempdir().unwrap();
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    // A stand-in for `az` that checks its arguments, as the real one would take them.
    let az = write(
        dir.path(),
        "az",
        &format!(
            "#!/bin/sh\n\
             [ \"$*\" = 'account get-access-token --resource https://management.azure.com/ --output json' ] || {{ echo \"ERROR: unexpected: $*\" >&2; exit 2; }}\n\
             echo '{{\"accessToken\": \"cli.token.value\", \"expiresOn\": \"2026-01-01 00:00:00.000000\", \"expires_on\": {expires}, \"subscription\": \"{SUB}\", \"tenant\": \"{TENANT}\", \"tokenType\": \"Bearer\"}}'\n"
        ),
    );
    make_executable(&az);
    let tokens = Tokens::new(AzureCredentials::AzureCli { program: az }, None).unwrap();
    assert_eq!(tokens.token().await.unwrap().expose(), "cli.token.value");

    // Not signed in: the CLI's own words, never its output.
    let failing = write(
        dir.path(),
        "az-logged-out",
        "#!/bin/sh\necho '{\"accessToken\": \"must-not-show\"}'\necho \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1\n",
    );
    make_executable(&failing);
    let tokens = Tokens::new(AzureCredentials::AzureCli { program: failing }, None).unwrap();
    match tokens.token().await {
        Err(CloudError::Permanent(m)) => {
            assert!(m.contains("Please run 'az login'"), "{m}");
            assert!(!m.contains("must-not-show"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    // No CLI at all.
    let tokens = Tokens::new(
        AzureCredentials::AzureCli {
            program: dir.path().join("no-such-az"),
        },
        None,
    )
    .unwrap();
    assert!(matches!(
        tokens.token().await,
        Err(CloudError::Permanent(_))
    ));
}

#[tokio::test]
async fn unreadable_files_and_unsafe_hosts_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let missing = AzureCredentials::ClientSecret {
        tenant_id: TENANT.into(),
        client_id: CLIENT_ID.into(),
        secret_file: dir.path().join("absent"),
    };
    let err = Tokens::new(missing, None).unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot read the client secret file"),
        "{err}"
    );
    let empty = write(dir.path(), "empty", "\n");
    let err = Tokens::new(
        AzureCredentials::ClientSecret {
            tenant_id: TENANT.into(),
            client_id: CLIENT_ID.into(),
            secret_file: empty,
        },
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("is empty"), "{err}");
    // A secret over plain http to a remote host.
    let credentials = client_secret(dir.path(), TENANT, CLIENT_ID, CLIENT_SECRET);
    let err = Tokens::new(credentials.clone(), Some("http://login.example.com")).unwrap_err();
    assert!(err.to_string().contains("must be https"), "{err}");
    let err = ArmClient::new(&ArmConfig {
        endpoint_url: Some("http://management.example.com".into()),
        authority_host: None,
        credentials: credentials.clone(),
        caller: None,
    })
    .unwrap_err();
    assert!(err.to_string().contains("endpointUrl"), "{err}");
    // A tenant that would bend the token URL.
    let AzureCredentials::ClientSecret { secret_file, .. } = credentials else {
        unreachable!()
    };
    let err = Tokens::new(
        AzureCredentials::ClientSecret {
            tenant_id: "../evil".into(),
            client_id: CLIENT_ID.into(),
            secret_file,
        },
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("tenantId"), "{err}");
}

fn make_executable(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
