//! The real Azure Resource Manager client (`ArmClient`, reqwest) and its token flows against
//! `fake-azure-network` served in this process on loopback: every `Arm` method and its error
//! mapping (`client`), the credentials (`tokens`), that no token or secret ever shows in a log
//! line or an error (`secrets`), the daemon config's `azure:` section wired to the client
//! (`settings`), the call gate over it (`budget`: every request metered as the subscription's
//! buckets count it), and the daemon binary with `azure: real` against it and the fake TiDB
//! Cloud (`daemon`). The fake's own conformance to the 2024-05-01 spec is tested in its
//! package.

mod budget;
mod client;
mod daemon;
mod secrets;
mod settings;
mod tokens;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fake_azure_network::{Fake, Options, Server, World};
use privatelinkd::cloud::azure::{
    Arm, ArmClient, ArmConfig, AzureCredentials, OperationState, PutPrivateEndpoint,
};

pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// A tenant the subscription does not trust (its tokens are refused with 401).
pub const OTHER_TENANT: &str = "8a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d";
pub const SUB: &str = "0b1f6471-1bf0-4dda-aec3-cb9272f09590";
pub const FORBIDDEN_SUB: &str = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
pub const CLIENT_ID: &str = "3c1d5a8e-2f0b-4c5e-9a7d-6b8f1e2d3c4a";
/// Long enough to be found if it leaked, unlike anything else in a log.
pub const CLIENT_SECRET: &str = "s3cr3t-Value-never-to-be-seen-4f1c";
pub const STRANGER_ID: &str = "4d2e6b9f-3a1c-4e7d-9b8a-2c5f7e1d3a6b";
pub const STRANGER_SECRET: &str = "stranger-s3cr3t-Value-9d2a";
pub const FEDERATED_CLIENT: &str = "9d8e7f6a-5b4c-4d3e-8f2a-1b0c9d8e7f6a";
pub const IDENTITY: &str = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9";
pub const USER_IDENTITY: &str = "6f7a8b9c-0d1e-4f2a-b3c4-d5e6f7a8b9c0";
pub const PLS: &str = "/subscriptions/aa8b1bd4-2b2c-4d6b-9a77-6d1f0e3c2b1a/resourceGroups/tidb/providers/Microsoft.Network/privateLinkServices/pls-eastus-1";

pub const WORLD: &str = r#"
tenants:
  - id: 72f988bf-86f1-41af-91ab-2d7cd011db47
    apps:
      - {clientId: 3c1d5a8e-2f0b-4c5e-9a7d-6b8f1e2d3c4a, clientSecret: s3cr3t-Value-never-to-be-seen-4f1c}
      - {clientId: 9d8e7f6a-5b4c-4d3e-8f2a-1b0c9d8e7f6a, federated: true}
  - id: 8a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d
    apps:
      - {clientId: 4d2e6b9f-3a1c-4e7d-9b8a-2c5f7e1d3a6b, clientSecret: stranger-s3cr3t-Value-9d2a}
managedIdentities:
  - {clientId: 5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9, tenant: 72f988bf-86f1-41af-91ab-2d7cd011db47, systemAssigned: true}
  - {clientId: 6f7a8b9c-0d1e-4f2a-b3c4-d5e6f7a8b9c0, tenant: 72f988bf-86f1-41af-91ab-2d7cd011db47}
subscriptions:
  - id: 0b1f6471-1bf0-4dda-aec3-cb9272f09590
    tenant: 72f988bf-86f1-41af-91ab-2d7cd011db47
    resourceGroups:
      - name: net
        location: eastus
        virtualNetworks:
          - name: prod-vnet
            addressPrefixes: [10.0.0.0/16]
            subnets:
              - {name: endpoints, addressPrefix: 10.0.1.0/24}
      - name: apps
        location: eastus
        privateEndpoints:
          - name: by-hand
            subnet: /subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/prod-vnet/subnets/endpoints
            privateLinkService: /subscriptions/aa8b1bd4-2b2c-4d6b-9a77-6d1f0e3c2b1a/resourceGroups/tidb/providers/Microsoft.Network/privateLinkServices/pls-eastus-1
            status: Approved
            tags: {owner: platform}
  - id: 1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f
    tenant: 72f988bf-86f1-41af-91ab-2d7cd011db47
    forbidden: true
privateLinkServices:
  - id: /subscriptions/aa8b1bd4-2b2c-4d6b-9a77-6d1f0e3c2b1a/resourceGroups/tidb/providers/Microsoft.Network/privateLinkServices/pls-eastus-1
"#;

pub fn subnet_id() -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/prod-vnet/subnets/endpoints"
    )
}

pub fn endpoint_id(name: &str) -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/apps/providers/Microsoft.Network/privateEndpoints/{name}"
    )
}

/// What `AzureLink` would send for an endpoint of this name.
pub fn put_request(name: &str) -> PutPrivateEndpoint {
    PutPrivateEndpoint {
        subscription: SUB.into(),
        resource_group: "apps".into(),
        name: name.into(),
        location: "eastus".into(),
        subnet_id: subnet_id(),
        service_id: PLS.into(),
        request_message: format!("privatelinkd owner test-host, document {name}.yaml"),
        tags: [("privatelinkd-owner".to_string(), "test-host".to_string())].into(),
    }
}

/// The fake, its temp directory (secret and token files), and a client with the client
/// secret credential against the fake's Entra ID.
pub struct Env {
    pub server: Server,
    pub dir: tempfile::TempDir,
    pub client: ArmClient,
}

impl Env {
    pub fn fake(&self) -> &Fake {
        &self.server.fake
    }

    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// Another client of the same fake.
    pub fn client_with(&self, credentials: AzureCredentials) -> ArmClient {
        ArmClient::new(&config(&self.server, credentials)).unwrap()
    }

    /// How many token requests the fake's Entra ID and IMDS have answered.
    pub fn token_requests(&self) -> usize {
        self.fake()
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/oauth2/v2.0/token") || r.path.starts_with("/metadata/"))
            .count()
    }

    /// Resource Manager requests the fake saw (the token endpoints' left out).
    pub fn arm_requests(&self) -> Vec<(String, String, u16)> {
        self.fake()
            .requests()
            .into_iter()
            .filter(|r| r.path.starts_with("/subscriptions/"))
            .map(|r| (r.method, r.path, r.status))
            .collect()
    }
}

pub fn client_secret(dir: &Path, tenant: &str, client: &str, secret: &str) -> AzureCredentials {
    let secret_file = dir.join(format!("{client}.secret"));
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    AzureCredentials::ClientSecret {
        tenant_id: tenant.into(),
        client_id: client.into(),
        secret_file,
    }
}

pub fn config(server: &Server, credentials: AzureCredentials) -> ArmConfig {
    ArmConfig {
        endpoint_url: Some(server.endpoint()),
        authority_host: Some(server.endpoint()),
        credentials,
        caller: None,
    }
}

/// The fake (`options`) on a loopback port, and the real client with the client secret.
pub async fn start(options: Options) -> Env {
    let fake = Fake::new(&World::parse(WORLD).unwrap(), options).unwrap();
    let server = fake.spawn().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let credentials = client_secret(dir.path(), TENANT, CLIENT_ID, CLIENT_SECRET);
    let client = ArmClient::new(&config(&server, credentials)).unwrap();
    Env {
        server,
        dir,
        client,
    }
}

/// Operations take `delay`; everything else as `Options::instant()`.
pub fn delayed(delay: Duration) -> Options {
    Options {
        operation_delay: delay,
        ..Options::instant()
    }
}

/// Reads the operation until it is no longer in progress (at most 5 s).
pub async fn settle(arm: &impl Arm, url: &str) -> OperationState {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let state = arm.get_operation(url).await.unwrap();
        if state != OperationState::InProgress || Instant::now() > deadline {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Base64url without padding (JWT segments).
pub fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// A JWT-shaped federated token as AKS projects one (the fake reads its `exp`).
pub fn federated_token(valid_for: Duration) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + valid_for.as_secs();
    let header = b64url(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = b64url(
        format!(
            r#"{{"aud":["api://AzureADTokenExchange"],"iss":"https://oidc.example","sub":"system:serviceaccount:privatelinkd:privatelinkd","exp":{exp}}}"#
        )
        .as_bytes(),
    );
    format!("{header}.{claims}.c2lnbmF0dXJlLW9mLWt1YmVybmV0ZXM")
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}
