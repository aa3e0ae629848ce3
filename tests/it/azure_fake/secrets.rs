//! No token or secret in any log line (every crate's, down to trace level) or error, whatever
//! the flow: tokens fetched and used, refused secrets, refused tokens, throttles, failures.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fake_azure_network::{AuthMode, Fault, Options};
use privatelinkd::cloud::azure::{Arm, AzureCredentials};
use tracing_subscriber::fmt::MakeWriter;

use super::*;

/// Everything logged, in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test]
async fn no_token_or_secret_is_ever_logged_or_said() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    // This test's thread only (the runtime is current-thread): other tests are untouched.
    let _guard = tracing::subscriber::set_default(subscriber);

    let env = start(Options {
        auth: AuthMode::IssuedTokens,
        operation_delay: Duration::from_millis(50),
        ..Options::instant()
    })
    .await;
    let mut errors: Vec<String> = Vec::new();
    let mut note = |r: Result<(), privatelinkd::cloud::CloudError>| {
        if let Err(e) = r {
            errors.push(format!("{e} / {e:?}"));
        }
    };

    // Client secret: fetch, use, a whole create and delete.
    let arm = &env.client;
    let op = arm
        .put_private_endpoint(&put_request("orders"))
        .await
        .unwrap();
    settle(arm, &op).await;
    note(
        arm.update_tags(&endpoint_id("orders"), &Default::default())
            .await,
    );
    note(
        arm.get_private_endpoint(&endpoint_id("orders"))
            .await
            .map(drop),
    );
    // A throttle, a server error, a failed operation.
    env.fake().inject(Fault::Throttle {
        count: 1,
        retry_after_secs: 1,
        code: None,
    });
    note(arm.list_private_endpoints(SUB, None).await.map(drop));
    env.fake().inject(Fault::HttpError {
        count: 1,
        status: 500,
        code: "InternalServerError".into(),
        message: "boom".into(),
        method: None,
        path_contains: None,
    });
    note(
        arm.get_private_endpoint(&endpoint_id("orders"))
            .await
            .map(drop),
    );
    // Refused: a wrong secret, a token from the wrong tenant, a forbidden subscription.
    let wrong = env.client_with(client_secret(
        env.dir.path(),
        TENANT,
        CLIENT_ID,
        "wrong-S3cret-value-77",
    ));
    note(wrong.list_private_endpoints(SUB, None).await.map(drop));
    let stranger = env.client_with(client_secret(
        env.dir.path(),
        OTHER_TENANT,
        STRANGER_ID,
        STRANGER_SECRET,
    ));
    note(stranger.list_private_endpoints(SUB, None).await.map(drop));
    note(
        arm.list_private_endpoints(FORBIDDEN_SUB, None)
            .await
            .map(drop),
    );
    // Workload identity and managed identity.
    let assertion = federated_token(Duration::from_secs(600));
    let token_file = write(env.dir.path(), "federated", &assertion);
    let federated = env.client_with(AzureCredentials::WorkloadIdentity {
        tenant_id: TENANT.into(),
        client_id: FEDERATED_CLIENT.into(),
        token_file,
    });
    note(federated.list_private_endpoints(SUB, None).await.map(drop));
    let untrusted_file = write(env.dir.path(), "untrusted", &assertion);
    let untrusted = env.client_with(AzureCredentials::WorkloadIdentity {
        tenant_id: TENANT.into(),
        client_id: CLIENT_ID.into(),
        token_file: untrusted_file,
    });
    note(untrusted.list_private_endpoints(SUB, None).await.map(drop));
    let managed = env.client_with(AzureCredentials::ManagedIdentity {
        client_id: None,
        endpoint: Some(env.endpoint()),
    });
    note(managed.list_private_endpoints(SUB, None).await.map(drop));
    let op = arm
        .delete_private_endpoint(&endpoint_id("orders"))
        .await
        .unwrap()
        .unwrap();
    settle(arm, &op).await;

    // The tokens each client holds.
    let tokens = [
        arm.tokens().token().await.unwrap(),
        federated.tokens().token().await.unwrap(),
        managed.tokens().token().await.unwrap(),
    ];
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("Resource Manager"),
        "the client's debug lines were captured"
    );
    assert!(errors.len() >= 6, "{errors:#?}");
    let everything = format!("{logs}\n{}", errors.join("\n"));
    let mut secrets: Vec<String> = tokens.iter().map(|t| t.expose().to_string()).collect();
    for t in &tokens {
        // Any one segment of a JWT would do harm enough: its signature especially.
        secrets.extend(t.expose().split('.').map(str::to_string));
    }
    secrets.extend(
        [
            CLIENT_SECRET,
            STRANGER_SECRET,
            "wrong-S3cret-value-77",
            &assertion,
        ]
        .map(str::to_string),
    );
    secrets.extend(assertion.split('.').map(str::to_string));
    for secret in &secrets {
        assert!(
            !everything.contains(secret.as_str()),
            "{secret} leaked:\n{everything}"
        );
    }
    // JWTs start with a base64 `{"`: none anywhere.
    assert!(!everything.contains("eyJ"), "{everything}");
    assert!(
        !everything.to_ascii_lowercase().contains("bearer ey"),
        "{everything}"
    );
}
