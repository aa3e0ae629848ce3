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
        let mut child = Command::new(env!("CARGO_BIN_EXE_privatelinkd-fake-gcp-compute"))
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
        "--operation-pending-ms",
        "0",
        "--operation-running-ms",
        "0",
        "--writes-per-window",
        "2",
        "--rate-limit-status",
        "429",
    ]);
    assert!(fake.addr.starts_with("127.0.0.1:"), "{}", fake.addr);
    let base = format!("http://{}/compute/v1/projects/my-project", fake.addr);
    let (status, network) = call("GET", &format!("{base}/global/networks/prod-vpc"), None).await;
    assert_eq!(status, 200, "{network}");
    let addresses = format!("{base}/regions/us-central1/addresses");
    let body = json!({"name": "a", "addressType": "INTERNAL", "subnetwork": "prod-us-central1"});
    let (status, op) = call("POST", &addresses, Some(body)).await;
    assert_eq!(status, 200);
    assert_eq!(op["status"], "DONE", "no delays: done at once");
    let (status, answer) = call("POST", &addresses, Some(json!({}))).await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = call("POST", &addresses, Some(json!({}))).await;
    assert_eq!(status, 429, "{answer}");
    let (_, log) = call(
        "GET",
        &format!("http://{}/fake/v1/requests", fake.addr),
        None,
    )
    .await;
    assert_eq!(log.as_array().unwrap().len(), 4);

    let empty = Program::start(&[]);
    let (status, _) = call(
        "GET",
        &format!(
            "http://{}/compute/v1/projects/my-project/global/networks/prod-vpc",
            empty.addr
        ),
        None,
    )
    .await;
    assert_eq!(status, 404, "no world: no projects");
}

#[test]
fn a_bad_world_file_is_an_error_exit() {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("world.yaml");
    std::fs::write(&world, "projects: [{id: p, colour: red}]").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_privatelinkd-fake-gcp-compute"))
        .args(["--listen", "127.0.0.1:0", "--world"])
        .arg(&world)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid world file"), "{stderr}");
}
