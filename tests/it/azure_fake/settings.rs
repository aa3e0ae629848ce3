//! The daemon config's `azure:` section: parsed and checked with places like the rest, each
//! kind of credentials, the backend choice, and `build_clouds` giving the engine the real
//! client behind the call gate with the configured budgets, against the fake.

use std::path::Path;
use std::sync::Arc;

use fake_azure_network::Options;
use privatelinkd::cloud::Rate;
use privatelinkd::cloud::azure::{Arm, AzureCredentials};
use privatelinkd::daemon::build_clouds;
use privatelinkd::metrics::Metrics;
use privatelinkd::settings::{AzureCredentialsSettings, Backend, Settings};

use super::*;

fn parse(dir: &Path, text: &str) -> Result<Settings, String> {
    Settings::parse(&dir.join("privatelinkd.yaml"), text).map_err(|problems| {
        problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })
}

const HEAD: &str = "endpointsDir: ./endpoints\nownerId: test-host\n";

#[test]
fn azure_settings_take_each_kind_of_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{HEAD}azure:\n  credentials:\n    clientSecret: {{tenantId: {TENANT}, clientId: {CLIENT_ID}, secretFile: secrets/azure}}\n"
    );
    let s = parse(dir.path(), &text).unwrap();
    let azure = s.file.azure.as_ref().unwrap();
    assert_eq!(azure.endpoint_url, None);
    // Microsoft's published buckets unless configured.
    assert_eq!(azure.rate_limits.reads_per_second, 25.0);
    assert_eq!(azure.rate_limits.reads_burst, 250);
    assert_eq!(azure.rate_limits.writes_per_second, 10.0);
    assert_eq!(azure.rate_limits.writes_burst, 200);
    // A relative secretFile is the config directory's.
    assert_eq!(
        azure.credentials().unwrap(),
        AzureCredentials::ClientSecret {
            tenant_id: TENANT.into(),
            client_id: CLIENT_ID.into(),
            secret_file: dir.path().join("secrets/azure"),
        }
    );

    let text = format!(
        "{HEAD}azure:\n  credentials: {{managedIdentity: {{clientId: {USER_IDENTITY}}}}}\n"
    );
    let s = parse(dir.path(), &text).unwrap();
    assert_eq!(
        s.file.azure.unwrap().credentials().unwrap(),
        AzureCredentials::ManagedIdentity {
            client_id: Some(USER_IDENTITY.into()),
            endpoint: None
        }
    );
    let text = format!("{HEAD}azure: {{credentials: {{managedIdentity: {{}}}}}}\n");
    let s = parse(dir.path(), &text).unwrap();
    assert!(matches!(
        s.file.azure.unwrap().credentials,
        AzureCredentialsSettings::ManagedIdentity(_)
    ));

    let text = format!(
        "{HEAD}azure:\n  credentials:\n    workloadIdentity: {{tenantId: {TENANT}, clientId: {FEDERATED_CLIENT}, tokenFile: /var/run/secrets/azure/tokens/azure-identity-token}}\n"
    );
    let s = parse(dir.path(), &text).unwrap();
    assert_eq!(
        s.file.azure.unwrap().credentials().unwrap(),
        AzureCredentials::WorkloadIdentity {
            tenant_id: TENANT.into(),
            client_id: FEDERATED_CLIENT.into(),
            token_file: "/var/run/secrets/azure/tokens/azure-identity-token".into(),
        }
    );

    let text = format!(
        "{HEAD}azure:\n  credentials: {{azureCli: {{}}}}\n  rateLimits: {{readsPerSecond: 5, readsBurst: 20, writesPerSecond: 1, writesBurst: 4}}\n"
    );
    let s = parse(dir.path(), &text).unwrap();
    let azure = s.file.azure.unwrap();
    assert_eq!(
        azure.credentials().unwrap(),
        AzureCredentials::AzureCli {
            program: "az".into()
        }
    );
    assert_eq!(azure.rate_limits.writes_burst, 4);
}

#[test]
fn azure_settings_problems_are_reported_at_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("privatelinkd.yaml");
    // A misspelt key inside the credentials: at its place, and the value (here a secret, written inline by mistake) never quoted.
    let text = format!(
        "{HEAD}azure:\n  credentials:\n    clientSecret: {{tenantId: {TENANT}, clientId: {CLIENT_ID}, secret: hunter2-inline}}\n"
    );
    let err = parse(dir.path(), &text).unwrap_err();
    assert!(err.starts_with(&format!("{}:5:", file.display())), "{err}");
    assert!(
        err.contains("unknown field `secret` in `azure.credentials.clientSecret`"),
        "{err}"
    );
    assert!(!err.contains("hunter2-inline"), "{err}");
    // Two kinds at once, or a kind misspelt.
    for credentials in [
        "{azureCli: {}, managedIdentity: {}}",
        "{clientSecrets: {tenantId: t}}",
    ] {
        let text = format!("{HEAD}azure:\n  credentials: {credentials}\n");
        let err = parse(dir.path(), &text).unwrap_err();
        assert_eq!(
            err,
            format!(
                "{}:4:16: error: `azure.credentials` needs exactly one of `managedIdentity`, `workloadIdentity`, `clientSecret`, `azureCli`",
                file.display()
            )
        );
    }
    // No credentials.
    let text = format!("{HEAD}azure:\n  endpointUrl: https://management.azure.com\n");
    let err = parse(dir.path(), &text).unwrap_err();
    assert!(
        err.contains(":4:3: error: missing required field `azure.credentials`"),
        "{err}"
    );
    // Unknown keys in its limits; a section of the wrong type.
    let text = format!(
        "{HEAD}azure:\n  credentials: {{azureCli: {{}}}}\n  rateLimits: {{deletesPerSecond: 1}}\n"
    );
    let err = parse(dir.path(), &text).unwrap_err();
    assert!(
        err.contains(":5:16: error: unknown field `deletesPerSecond` in `azure.rateLimits`"),
        "{err}"
    );
    // A rate of 0 would stop Azure calls for good.
    let text = format!(
        "{HEAD}azure:\n  credentials: {{azureCli: {{}}}}\n  rateLimits: {{writesPerSecond: 0}}\n"
    );
    let err = parse(dir.path(), &text).unwrap_err();
    assert!(err.contains(":5:33: error: azure.rateLimits.writesPerSecond: 0 is less than or equal to the minimum of 0"), "{err}");
    let err = parse(dir.path(), &format!("{HEAD}azure: yes\n")).unwrap_err();
    assert!(
        err.contains(":3:8: error: azure: expected a mapping"),
        "{err}"
    );
}

#[test]
fn azure_settings_choose_a_backend_like_the_other_clouds() {
    let dir = tempfile::tempdir().unwrap();
    let backend = |cloud: &str| {
        parse(dir.path(), &format!("{HEAD}cloud: {cloud}\n"))
            .unwrap()
            .azure_backend()
    };
    assert_eq!(backend("real"), Backend::Real);
    assert_eq!(backend("simulated"), Backend::Simulated);
    assert_eq!(
        backend("{tidbCloud: simulated, aws: real}"),
        Backend::Real,
        "as aws"
    );
    assert_eq!(
        backend("{tidbCloud: real, aws: real, azure: simulated}"),
        Backend::Simulated
    );
}

#[test]
fn azure_settings_without_a_secret_say_where_it_was_looked_for() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{HEAD}azure:\n  credentials:\n    clientSecret: {{tenantId: {TENANT}, clientId: {CLIENT_ID}}}\n"
    );
    let s = parse(dir.path(), &text).unwrap();
    // (Unless this test runs under systemd with that credential.)
    if std::env::var_os("CREDENTIALS_DIRECTORY").is_none() {
        let err = s.file.azure.unwrap().credentials().unwrap_err();
        assert!(
            err.contains("secretFile") && err.contains("azure-client-secret"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn azure_settings_build_the_real_client_behind_the_gate() {
    let env = start(Options::instant()).await;
    let dir = env.dir.path();
    std::fs::write(dir.join("tidb.key"), "PRIVATE").unwrap();
    std::fs::write(dir.join("azure.secret"), CLIENT_SECRET).unwrap();
    let text = format!(
        "{HEAD}cloud: real\n\
         tidbCloud: {{publicKey: PUBKEY01, privateKeyFile: tidb.key}}\n\
         azure:\n  endpointUrl: {url}\n  authorityHost: {url}\n\
         \x20 credentials:\n    clientSecret: {{tenantId: {TENANT}, clientId: {CLIENT_ID}, secretFile: azure.secret}}\n\
         \x20 rateLimits: {{readsPerSecond: 5, readsBurst: 20, writesPerSecond: 1, writesBurst: 4}}\n",
        url = env.endpoint()
    );
    let settings = parse(dir, &text).unwrap();
    let clouds = build_clouds(&settings, Arc::new(Metrics::new()), None).unwrap();
    let rates = clouds.azure.rates();
    assert_eq!(
        rates.arm_read,
        Rate {
            per_second: 5.0,
            burst: 20
        }
    );
    assert_eq!(
        rates.arm_write,
        Rate {
            per_second: 1.0,
            burst: 4
        }
    );
    let page = clouds
        .azure
        .list_private_endpoints(SUB, None)
        .await
        .unwrap();
    assert_eq!(page.items[0].name, "by-hand");
    assert_eq!(env.token_requests(), 1, "the client secret was used");

    // A remote endpoint over plain http: the daemon does not start.
    let text = text.replace(
        &format!("endpointUrl: {}", env.endpoint()),
        "endpointUrl: http://management.example.com",
    );
    let settings = parse(dir, &text).unwrap();
    let err = build_clouds(&settings, Arc::new(Metrics::new()), None)
        .err()
        .unwrap();
    assert!(err.to_string().starts_with("azure: "), "{err}");
    assert!(err.to_string().contains("must be https"), "{err}");

    // No `azure:` section: Azure documents are told to add one.
    let settings = parse(
        dir,
        &format!(
            "{HEAD}cloud: real\ntidbCloud: {{publicKey: PUBKEY01, privateKeyFile: tidb.key}}\n"
        ),
    )
    .unwrap();
    let clouds = build_clouds(&settings, Arc::new(Metrics::new()), None).unwrap();
    let err = clouds
        .azure
        .list_private_endpoints(SUB, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("add an `azure:` section"), "{err}");
}
