//! Shared by the HTTP tests: a small world, the fake served in-process on loopback, and a
//! client that talks to it as any REST client of Compute Engine would.
#![allow(dead_code)]

use std::time::Duration;

use fake_gcp_compute::{Fake, Options, Server, Timing, World};
use serde_json::{Value, json};

pub const PROJECT: &str = "my-project";
pub const REGION: &str = "us-central1";
pub const ATTACHMENT: &str =
    "projects/tidb-prod/regions/us-central1/serviceAttachments/sa-1379661944646413143";
pub const AUTO_ATTACHMENT: &str =
    "projects/tidb-prod/regions/us-central1/serviceAttachments/sa-automatic";
pub const TOKEN: &str = "ya29.secret-token-never-logged";

pub const WORLD: &str = r#"
projects:
  - id: my-project
    networks:
      - name: prod-vpc
        subnetworks:
          - {name: prod-us-central1, region: us-central1, ipCidrRange: 10.8.0.0/29}
          - {name: prod-us-east1, region: us-east1, ipCidrRange: 10.9.0.0/24}
        firewalls:
          - name: deny-egress-db
            direction: EGRESS
            priority: 900
            destinationRanges: [10.8.0.0/29]
            denied: [{IPProtocol: tcp, ports: ["4000"]}]
      - name: other-vpc
        forwardingRulesLimit: 1
        subnetworks:
          - {name: other-us-central1, region: us-central1, ipCidrRange: 10.20.0.0/24}
  - id: other-project
serviceAttachments:
  - uri: projects/tidb-prod/regions/us-central1/serviceAttachments/sa-1379661944646413143
  - uri: projects/tidb-prod/regions/us-central1/serviceAttachments/sa-automatic
    connectionPreference: ACCEPT_AUTOMATIC
  - uri: projects/tidb-prod/regions/us-east1/serviceAttachments/sa-east
"#;

/// Operations done at once: most tests are about resources, not time.
pub fn instant() -> Options {
    Options {
        timing: Timing {
            pending: Duration::ZERO,
            running: Duration::ZERO,
        },
        ..Options::default()
    }
}

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

impl Env {
    pub fn fake(&self) -> &Fake {
        &self.server.fake
    }

    /// `http://ADDR/compute/v1/projects/my-project/regions/us-central1/<tail>`.
    pub fn regional(&self, tail: &str) -> String {
        format!(
            "{}/compute/v1/projects/{PROJECT}/regions/{REGION}/{tail}",
            self.server.endpoint()
        )
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.endpoint())
    }

    pub async fn call(&self, method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method.parse().unwrap(), url)
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, url: &str) -> (u16, Value) {
        self.call("GET", url, None).await
    }

    pub async fn post(&self, url: &str, body: Value) -> (u16, Value) {
        self.call("POST", url, Some(body)).await
    }

    pub async fn delete(&self, url: &str) -> (u16, Value) {
        self.call("DELETE", url, None).await
    }

    /// Waits on an operation (via `operations.wait`) until DONE.
    pub async fn done(&self, op: &Value) -> Value {
        assert_eq!(op["kind"], "compute#operation", "{op}");
        let name = op["name"].as_str().unwrap();
        let wait = format!("{}/wait", self.local(op["selfLink"].as_str().unwrap()));
        for _ in 0..20 {
            let (status, now) = self.post(&wait, json!({})).await;
            assert_eq!(status, 200, "{now}");
            if now["status"] == "DONE" {
                return now;
            }
        }
        panic!("operation {name} never finished");
    }

    /// Inserts and waits; the operation must succeed.
    pub async fn create(&self, collection: &str, body: Value) -> Value {
        let (status, op) = self.post(&self.regional(collection), body).await;
        assert_eq!(status, 200, "{op}");
        let done = self.done(&op).await;
        assert!(done.get("error").is_none(), "{done}");
        let (status, resource) = self
            .get(
                done["targetLink"]
                    .as_str()
                    .map(|l| self.local(l))
                    .unwrap()
                    .as_str(),
            )
            .await;
        assert_eq!(status, 200, "{resource}");
        resource
    }

    /// A Compute Engine link, on the fake.
    pub fn local(&self, link: &str) -> String {
        let path = link
            .strip_prefix("https://www.googleapis.com/compute/v1/")
            .unwrap_or(link);
        self.url(&format!("/compute/v1/{path}"))
    }

    pub async fn address(&self, name: &str, fixed: Option<&str>) -> Value {
        let mut body = json!({
            "name": name,
            "addressType": "INTERNAL",
            "subnetwork": format!("regions/{REGION}/subnetworks/prod-us-central1"),
        });
        if let Some(ip) = fixed {
            body["address"] = json!(ip);
        }
        self.create("addresses", body).await
    }

    pub async fn endpoint(&self, name: &str, address: &Value, attachment: &str) -> Value {
        self.create(
            "forwardingRules",
            json!({
                "name": name,
                "network": "global/networks/prod-vpc",
                "IPAddress": address["selfLink"],
                "target": format!("https://www.googleapis.com/compute/v1/{attachment}"),
                "allowPscGlobalAccess": false,
                "labels": {"managed-by": "privatelinkd"},
            }),
        )
        .await
    }
}

/// The `errors[0].reason` of a Google error body, after checking its shape.
pub fn reason(status: u16, body: &Value) -> String {
    let error = &body["error"];
    assert_eq!(error["code"], status, "{body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(error["status"].as_str().is_some(), "{body}");
    assert_eq!(error["errors"][0]["message"], error["message"], "{body}");
    assert!(error["errors"][0]["domain"].as_str().is_some(), "{body}");
    error["errors"][0]["reason"].as_str().unwrap().to_string()
}
