//! The real Compute Engine client (`GcpClient`, Google's own crates) against the fake
//! Compute Engine API served in this process: every `Gcp` method and its error mapping, the
//! Private Service Connect consumer (`Psc`) over it end to end, and the call gate over it
//! (one metered call, one request); and the daemon binary with `gcp: real` against it
//! (`daemon`). The fake's own conformance to Google's client is tested in its package
//! (`fake-gcp-compute/tests/google_client.rs`).

mod budget;
mod client;
mod daemon;
mod psc;

use std::time::{Duration, Instant};

use fake_gcp_compute::{Fake, Options, Server, Timing, World};
use privatelinkd::cloud::Scope;
use privatelinkd::cloud::gcp::{Gcp, GcpClient, GcpConfig, GcpCredentials, OperationState};

const PROJECT: &str = "my-project";
const REGION: &str = "us-central1";
const ATTACHMENT: &str =
    "projects/tidb-prod/regions/us-central1/serviceAttachments/sa-1379661944646413143";

const WORLD: &str = r#"
projects:
  - id: my-project
    networks:
      - name: prod-vpc
        subnetworks:
          - {name: prod-us-central1, region: us-central1, ipCidrRange: 10.8.0.0/24}
        firewalls:
          - name: deny-egress-db
            direction: EGRESS
            priority: 900
            destinationRanges: [10.8.0.0/24]
            denied: [{IPProtocol: tcp, ports: ["4000", "3000-3999"]}]
          - name: allow-ssh-tagged
            direction: INGRESS
            sourceRanges: [10.0.0.0/8]
            targetTags: [bastion]
            allowed: [{IPProtocol: tcp, ports: ["22"]}]
      - name: other-vpc
        subnetworks:
          - {name: other-us-central1, region: us-central1, ipCidrRange: 10.20.0.0/24}
        firewalls:
          - name: other-allow-all
            direction: EGRESS
            allowed: [{IPProtocol: all}]
serviceAttachments:
  - uri: projects/tidb-prod/regions/us-central1/serviceAttachments/sa-1379661944646413143
"#;

fn scope() -> Scope {
    Scope::gcp(PROJECT, REGION)
}

/// Operations done within their answer: for tests about resources, not time.
fn instant() -> Options {
    timed(Duration::ZERO)
}

/// Operations PENDING then RUNNING for `each` apiece.
fn timed(each: Duration) -> Options {
    Options {
        timing: Timing {
            pending: each,
            running: each,
        },
        ..Options::default()
    }
}

/// The fake on a loopback port and the real client pointed at it.
async fn start(options: Options) -> (Server, GcpClient) {
    let fake = Fake::new(&World::parse(WORLD).unwrap(), options).unwrap();
    let server = fake.spawn().await.unwrap();
    let client = GcpClient::new(&GcpConfig {
        endpoint_url: Some(server.endpoint()),
        credentials: GcpCredentials::Anonymous,
    })
    .await
    .unwrap();
    (server, client)
}

/// Reads `op` until it is no longer Running (bounded: the fake's timings are milliseconds).
async fn settled(client: &impl Gcp, op: &str) -> OperationState {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = client.get_operation(&scope(), op).await.unwrap();
        if state != OperationState::Running {
            return state;
        }
        assert!(Instant::now() < deadline, "operation {op} still running");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
