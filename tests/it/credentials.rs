//! AWS credentials the ways the shipped unit supports (DynamicUser and ProtectHome hide
//! ~/.aws), each proven by the daemon reaching EC2 (moto_server) with nothing else to go on:
//! an environment file, a shared credentials file handed over by LoadCredential, a profile in a
//! config file under /etc/privatelinkd (AWS_CONFIG_FILE), and an instance role (a fake IMDS on
//! loopback, through the SDK's AWS_EC2_METADATA_SERVICE_ENDPOINT). And none at all: a clear
//! failure, no crash.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::moto::{seeded, world_for};
use crate::common::*;

/// Every AWS variable the SDK reads, cleared so that only the case's own source is left.
const AWS_VARS: [&str; 9] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
];

/// `run --once` with exactly `env` as AWS's environment (and an empty HOME): its exit code
/// and log.
fn once(setup: &Setup, env: &[(&str, String)]) -> (Option<i32>, String) {
    let home = tempfile::tempdir().unwrap();
    let mut command = privatelinkd_command();
    command
        .args(["run", "--once", "--config"])
        .arg(setup.config())
        .env("RUST_LOG", "info")
        .env("HOME", home.path())
        .env("AWS_REGION", "us-east-1")
        .stdout(Stdio::null());
    for var in AWS_VARS {
        command.env_remove(var);
    }
    // No instance metadata unless the case brings its own.
    if !env
        .iter()
        .any(|(k, _)| *k == "AWS_EC2_METADATA_SERVICE_ENDPOINT")
    {
        command.env("AWS_EC2_METADATA_DISABLED", "true");
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A fake instance metadata service (IMDSv2): a token, a role, its temporary credentials.
fn fake_imds() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            // Headers, up to the blank line.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request.split_whitespace().nth(1).unwrap_or("");
            let body = match path {
                "/latest/api/token" => Some("imds-token".to_string()),
                "/latest/meta-data/iam/security-credentials/" => Some("privatelinkd-role".into()),
                "/latest/meta-data/iam/security-credentials/privatelinkd-role" => {
                    counted.fetch_add(1, Ordering::SeqCst);
                    Some(
                        serde_json::json!({
                            "Code": "Success",
                            "Type": "AWS-HMAC",
                            "AccessKeyId": "ASIAIMDSROLE",
                            "SecretAccessKey": "secret-from-the-role",
                            "Token": "session-token",
                            "Expiration": "2100-01-01T00:00:00Z",
                            "LastUpdated": "2026-01-01T00:00:00Z"
                        })
                        .to_string(),
                    )
                }
                _ => None,
            };
            // A token says how long it lives.
            let ttl = if path == "/latest/api/token" {
                "x-aws-ec2-metadata-token-ttl-seconds: 21600\r\n"
            } else {
                ""
            };
            let answer = match body {
                Some(body) => format!(
                    "HTTP/1.1 200 OK\r\n{ttl}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                ),
                None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string(),
            };
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    (url, hits)
}

#[test]
fn the_daemon_finds_aws_credentials_each_supported_way_and_says_so_when_there_are_none() {
    let (moto, net) = seeded(None);
    let world = world_for(
        &net,
        "{serviceCreate: 0s, accept: 0s, activate: 0s, privateDns: 0s, delete: 0s}",
        "",
    );
    let setup = |account: &str| {
        let setup = Setup::new(
            &world,
            &format!(
                "cloud: {{tidbCloud: simulated, aws: real}}\naws: {{endpointUrl: \"{}\", accounts: {{prod: {{profile: prod}}}}}}\n",
                moto.url
            ),
        );
        setup.write(
            "orders.yaml",
            &format!(
                "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\nmetadata: {{name: orders}}\nspec:\n  tidbCloud: {{clusterId: \"{CLUSTER}\"}}\n  aws:\n    account: {account}\n    region: us-east-1\n    vpcId: {}\n    subnetIds: [{}]\n  privateDns: false\n",
                net.vpc, net.subnets[1].0
            ),
        );
        setup
    };

    // Nothing: the pass fails (exit 1) and the log says credentials are missing.
    let (code, log) = once(&setup("default"), &[]);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.to_lowercase().contains("credential"), "{log}");

    // EnvironmentFile=/etc/privatelinkd/aws.env: systemd puts its lines in the environment.
    // (The shipped unit also names a config file that need not exist.)
    let keys = [
        ("AWS_CONFIG_FILE", "/nonexistent/aws-config".to_string()),
        ("AWS_ACCESS_KEY_ID", "AKIAENVFILE".to_string()),
        (
            "AWS_SECRET_ACCESS_KEY",
            "secret-from-the-env-file".to_string(),
        ),
    ];
    let (code, log) = once(&setup("default"), &keys);
    assert_eq!(code, Some(0), "environment file: {log}");

    // LoadCredential=aws-credentials:... with AWS_SHARED_CREDENTIALS_FILE=%d/aws-credentials.
    let creds = tempfile::tempdir().unwrap();
    let file = creds.path().join("aws-credentials");
    std::fs::write(
        &file,
        "[default]\naws_access_key_id = AKIALOADCRED\naws_secret_access_key = secret-from-loadcredential\n",
    )
    .unwrap();
    let (code, log) = once(
        &setup("default"),
        &[(
            "AWS_SHARED_CREDENTIALS_FILE",
            file.to_string_lossy().into_owned(),
        )],
    );
    assert_eq!(code, Some(0), "LoadCredential: {log}");

    // AWS_CONFIG_FILE=/etc/privatelinkd/aws-config with a profile the config names
    // (aws.accounts.prod.profile), used by an endpoint in account `prod`.
    let config = creds.path().join("aws-config");
    std::fs::write(
        &config,
        "[profile prod]\nregion = us-east-1\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = secret-from-the-profile\n",
    )
    .unwrap();
    let (code, log) = once(
        &setup("prod"),
        &[("AWS_CONFIG_FILE", config.to_string_lossy().into_owned())],
    );
    assert_eq!(code, Some(0), "profile in AWS_CONFIG_FILE: {log}");

    // An instance role: the SDK asks the instance metadata service.
    let (imds, hits) = fake_imds();
    let (code, log) = once(
        &setup("default"),
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds)],
    );
    assert_eq!(code, Some(0), "instance role: {log}");
    assert!(
        hits.load(Ordering::SeqCst) > 0,
        "the role's credentials were never asked for"
    );
    for secret in ["secret-from", "session-token"] {
        assert!(!log.contains(secret), "a secret in the log: {log}");
    }
}
