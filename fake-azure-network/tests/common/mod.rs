//! Shared by the HTTP tests: a small world, the fake served in-process on loopback, and a
//! client that talks to it as any REST client of Resource Manager would.
#![allow(dead_code)]

use std::time::Duration;

use fake_azure_network::{Fake, Options, Server, World};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const SUB: &str = "0b1f6471-1bf0-4dda-aec3-cb9272f09590";
pub const FORBIDDEN_SUB: &str = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
pub const READER_SUB: &str = "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a";
pub const CLIENT_ID: &str = "3c1d5a8e-2f0b-4c5e-9a7d-6b8f1e2d3c4a";
pub const CLIENT_SECRET: &str = "not-a-real-secret";
pub const FEDERATED_CLIENT: &str = "9d8e7f6a-5b4c-4d3e-8f2a-1b0c9d8e7f6a";
pub const IDENTITY: &str = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9";
pub const PLS: &str = "/subscriptions/aa8b1bd4-2b2c-4d6b-9a77-6d1f0e3c2b1a/resourceGroups/tidb/providers/Microsoft.Network/privateLinkServices/pls-eastus-1";
pub const HIDDEN_PLS: &str = "/subscriptions/aa8b1bd4-2b2c-4d6b-9a77-6d1f0e3c2b1a/resourceGroups/tidb/providers/Microsoft.Network/privateLinkServices/pls-hidden";
pub const TOKEN: &str = "eyJ0eXAi.secret-token-never-logged";

pub fn subnet(name: &str) -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/prod-vnet/subnets/{name}"
    )
}

pub fn endpoint_id(name: &str) -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/apps/providers/Microsoft.Network/privateEndpoints/{name}"
    )
}

pub const WORLD: &str = r#"
tenants:
  - id: 72f988bf-86f1-41af-91ab-2d7cd011db47
    apps:
      - {clientId: 3c1d5a8e-2f0b-4c5e-9a7d-6b8f1e2d3c4a, clientSecret: not-a-real-secret, objectId: 11111111-2222-4333-8444-555555555555}
      - {clientId: 9d8e7f6a-5b4c-4d3e-8f2a-1b0c9d8e7f6a, federated: true}
managedIdentities:
  - {clientId: 5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9, tenant: 72f988bf-86f1-41af-91ab-2d7cd011db47, systemAssigned: true}
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
              - {name: tiny, addressPrefix: 10.0.2.0/29, privateEndpointNetworkPolicies: Enabled}
          - name: west-vnet
            location: westus
            addressPrefixes: [10.1.0.0/16]
            subnets:
              - {name: west, addressPrefix: 10.1.0.0/24}
      - name: apps
        location: eastus
  - id: 1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f
    forbidden: true
    resourceGroups:
      - {name: net, location: eastus, virtualNetworks: [{name: v, addressPrefixes: [10.9.0.0/16], subnets: [{name: s, addressPrefix: 10.9.0.0/24}]}]}
  - id: 2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a
    readOnly: true
    resourceGroups:
      - {name: apps, location: eastus}
privateLinkServices:
  - id: /subscriptions/aa8b1bd4-2b2c-4d6b-9a77-6d1f0e3c2b1a/resourceGroups/tidb/providers/Microsoft.Network/privateLinkServices/pls-eastus-1
  - id: /subscriptions/aa8b1bd4-2b2c-4d6b-9a77-6d1f0e3c2b1a/resourceGroups/tidb/providers/Microsoft.Network/privateLinkServices/pls-hidden
    visibility: [2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a]
"#;

pub struct Env {
    pub server: Server,
    pub http: reqwest::Client,
}

pub async fn start(options: Options) -> Env {
    let world = World::parse(WORLD).unwrap();
    let fake = Fake::new(&world, options).unwrap();
    let server = fake.spawn().await.unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    Env { server, http }
}

/// An answer: status, headers, JSON body (`Null` when empty).
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    /// `error.code` of a Resource Manager error, after checking the shape.
    pub fn code(&self) -> String {
        let error = &self.body["error"];
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{}",
            self.body
        );
        error["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{}", self.body))
            .to_string()
    }
}

impl Env {
    pub fn fake(&self) -> &Fake {
        &self.server.fake
    }

    /// `http://ADDR{path}?api-version=2024-05-01`.
    pub fn arm(&self, path: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!(
            "{}{path}{sep}api-version=2024-05-01",
            self.server.endpoint()
        )
    }

    pub fn endpoint_url(&self, name: &str) -> String {
        self.arm(&endpoint_id(name))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.endpoint())
    }

    pub async fn send(
        &self,
        method: &str,
        url: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self
            .http
            .request(method.parse().unwrap(), url)
            .bearer_auth(TOKEN);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        Answer {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    pub async fn get(&self, url: &str) -> Answer {
        self.send("GET", url, None, &[]).await
    }

    pub async fn put(&self, url: &str, body: &Value) -> Answer {
        self.send("PUT", url, Some(body), &[]).await
    }

    pub async fn delete(&self, url: &str) -> Answer {
        self.send("DELETE", url, None, &[]).await
    }

    /// Polls an `Azure-AsyncOperation` URL until the operation is over; its last answer.
    pub async fn wait(&self, operation_url: &str) -> Value {
        for _ in 0..200 {
            let answer = self.get(operation_url).await;
            assert_eq!(answer.status, 200, "{}", answer.body);
            if answer.body["status"] != "InProgress" {
                return answer.body;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("operation {operation_url} never finished");
    }

    /// Creates an endpoint and waits for it; the operation must succeed. Its final GET.
    pub async fn create(&self, name: &str, body: &Value) -> Value {
        let answer = self.put(&self.endpoint_url(name), body).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        let done = self.wait(answer.header("azure-asyncoperation")).await;
        assert_eq!(done["status"], "Succeeded", "{done}");
        let answer = self.get(&self.endpoint_url(name)).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body
    }
}

/// A PUT body for an endpoint with a manual connection to `PLS` in `subnet`.
pub fn endpoint_body(subnet_name: &str) -> Value {
    json!({
        "location": "eastus",
        "tags": {"managed-by": "privatelinkd", "privatelinkd-file": "clusters/prod.yaml"},
        "properties": {
            "subnet": {"id": subnet(subnet_name)},
            "manualPrivateLinkServiceConnections": [{
                "name": "tidb",
                "properties": {
                    "privateLinkServiceId": PLS,
                    "requestMessage": "privatelinkd",
                },
            }],
        },
    })
}

/// Asks the client credentials endpoint of `tenant`.
pub async fn token(env: &Env, tenant: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = env
        .http
        .post(env.url(&format!("/{tenant}/oauth2/v2.0/token")))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

pub fn secret_form<'a>(client: &'a str, secret: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", client),
        ("client_secret", secret),
        ("scope", "https://management.azure.com/.default"),
    ]
}

pub async fn app_token(env: &Env) -> String {
    let (status, body) = token(env, TENANT, &secret_form(CLIENT_ID, CLIENT_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

/// A client assertion (a JWT; the fake reads its claims, not its signature).
pub fn assertion(exp: u64) -> String {
    let part = |v: Value| {
        let bytes = v.to_string().into_bytes();
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    };
    format!(
        "{}.{}.c2ln",
        part(json!({"alg": "RS256"})),
        part(
            json!({"iss": "https://kubernetes.default.svc", "sub": "system:serviceaccount:privatelinkd:daemon", "exp": exp})
        )
    )
}

pub async fn arm_get(env: &Env, url: &str, bearer: Option<&str>) -> Answer {
    let mut request = env.http.get(url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}
