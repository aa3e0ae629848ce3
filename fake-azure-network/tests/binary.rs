//! The fake as a program: `--world`, `--listen`, the address on the first stdout line, its
//! options, and the admin API over HTTP.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

/// The binary, killed when dropped.
struct Program {
    child: Child,
    addr: String,
}

impl Program {
    fn start(args: &[&str]) -> Program {
        let mut child = Command::new(env!("CARGO_BIN_EXE_privatelinkd-fake-azure-network"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Program {
            child,
            addr: line.trim().to_string(),
        }
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn call(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method.parse().unwrap(), url)
        .bearer_auth("token");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_program_serves_a_world_file_and_its_options() {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("world.yaml");
    std::fs::write(&world, common::WORLD).unwrap();
    let fake = Program::start(&[
        "--world",
        world.to_str().unwrap(),
        "--operation-delay-ms",
        "0",
        "--write-bucket",
        "1",
        "--write-refill-per-sec",
        "0.01",
    ]);
    assert!(fake.addr.starts_with("127.0.0.1:"), "{}", fake.addr);
    let base = format!("http://{}", fake.addr);
    let subnet = format!(
        "{base}{}?api-version=2024-05-01",
        common::subnet("endpoints")
    );
    let (status, body) = call("GET", &subnet, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["properties"]["addressPrefix"], "10.0.1.0/24");
    let endpoint = format!("{base}{}?api-version=2024-05-01", common::endpoint_id("pe"));
    let (status, created) = call("PUT", &endpoint, Some(common::endpoint_body("endpoints"))).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["properties"]["provisioningState"], "Succeeded",
        "no delay"
    );
    let (status, body) = call("PUT", &endpoint, Some(common::endpoint_body("endpoints"))).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (429, &json!("SubscriptionRequestsThrottled"))
    );
    let (_, log) = call("GET", &format!("{base}/fake/v1/requests"), None).await;
    assert_eq!(log.as_array().unwrap().len(), 3);
    let (status, _) = call(
        "POST",
        &format!("{base}/fake/v1/connections/state"),
        Some(json!({"endpointId": common::endpoint_id("pe"), "status": "Approved"})),
    )
    .await;
    assert_eq!(status, 200);

    let empty = Program::start(&["--no-throttling"]);
    let (status, body) = call(
        "GET",
        &format!(
            "http://{}{}?api-version=2024-05-01",
            empty.addr,
            common::endpoint_id("pe")
        ),
        None,
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("SubscriptionNotFound")),
        "no world: no subscriptions"
    );
}

#[test]
fn a_bad_world_file_is_an_error_exit() {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("world.yaml");
    std::fs::write(&world, "subscriptions: [{id: s, colour: red}]").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_privatelinkd-fake-azure-network"))
        .args(["--listen", "127.0.0.1:0", "--world"])
        .arg(&world)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid world file"), "{stderr}");
}
