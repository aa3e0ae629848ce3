//! moto_server (EC2, DynamoDB) on loopback for the real AWS clients, its request log, and the
//! network the tests seed in it.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::AttributeBooleanValue;
use privatelinkd::cloud::aws::{AwsClient, AwsConfig};

use super::{CLUSTER, aws_test_credentials, free_port, runtime};

/// A moto_server of our own on a free loopback port, stopped when dropped.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        Moto::start_logging(None)
    }

    /// With a request log (`tests/support/moto_server.py` says its format).
    pub fn start_logging(log: Option<&std::path::Path>) -> Moto {
        aws_test_credentials();
        let found = Command::new("python3")
            .args(["-c", "import moto.server"])
            .output()
            .unwrap();
        assert!(
            found.status.success(),
            "moto[server] is not installed (scripts/test installs it)"
        );
        let port = free_port();
        // A launcher around moto's own server (it adds ModifyVpcEndpoint's PrivateDnsEnabled,
        // which moto ignores); run by `python3`, so no PATH or pyenv shim is involved.
        let child = Command::new("python3")
            .args([
                "tests/support/moto_server.py",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .envs(log.map(|l| ("PRIVATELINKD_REQUEST_LOG", l)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "moto_server did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The client under test, pointed at this server.
    pub fn client(&self) -> AwsClient {
        AwsClient::new(AwsConfig {
            endpoint_url: Some(self.url.clone()),
            ..AwsConfig::default()
        })
    }

    /// The SDK itself, for seeding and for looking behind the client's back.
    pub async fn sdk(&self) -> aws_sdk_ec2::Client {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .load()
            .await;
        aws_sdk_ec2::Client::new(&config)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The EC2 calls that change something (`DescribeVpcEndpoints` and the like do not).
pub const MUTATING: [&str; 5] = [
    "CreateVpcEndpoint",
    "ModifyVpcEndpoint",
    "DeleteVpcEndpoints",
    "CreateTags",
    "DeleteTags",
];

/// One line of moto's request log: `MONOTONIC_NS SERVICE ACTION USER_AGENT`, with the AWS
/// SDK's app name (a daemon's lease identity) taken out of the User-Agent.
#[derive(Debug, Clone)]
pub struct Request {
    /// CLOCK_MONOTONIC, in nanoseconds (Python's `time.monotonic_ns`).
    pub at: u64,
    pub service: String,
    pub action: String,
    pub app: Option<String>,
}

/// The requests in the log at `log`, in the order moto served them (none if there is no log
/// yet).
pub fn requests(log: &std::path::Path) -> Vec<Request> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(4, ' ');
            let at = parts.next()?.parse().ok()?;
            let service = parts.next()?.to_string();
            let action = parts.next()?.to_string();
            let app = parts.next().and_then(|agent| {
                agent
                    .split_whitespace()
                    .find_map(|t| t.strip_prefix("app/"))
                    .map(String::from)
            });
            Some(Request {
                at,
                service,
                action,
                app,
            })
        })
        .collect()
}

/// A moto_server already seeded with a network, for tests that run the daemon against it.
pub fn seeded(log: Option<&std::path::Path>) -> (Moto, Network) {
    aws_test_credentials();
    let moto = Moto::start_logging(log);
    let net = runtime().block_on(async { seed(&moto.sdk().await).await });
    (moto, net)
}

/// A simulated world whose one cluster offers the zones of `net`'s subnets, with these
/// `timing` and `extra` lines.
pub fn world_for(net: &Network, timing: &str, extra: &str) -> String {
    let zones: Vec<&str> = net.subnets.iter().map(|(_, az)| az.as_str()).collect();
    format!(
        "clusters:\n  - id: \"{CLUSTER}\"\n    projectId: \"1372813089454548012\"\n    region: us-east-1\n    nodeGroups: [{{id: \"1379661944646413144\", default: true, availableZones: [{}]}}]\ntiming: {timing}\n{extra}",
        zones.join(", ")
    )
}

/// What `seed` made in moto.
pub struct Network {
    pub vpc: String,
    /// (subnet ID, AZ ID)
    pub subnets: Vec<(String, String)>,
    pub groups: Vec<String>,
    /// A service name moto accepts in CreateVpcEndpoint.
    pub service: String,
}

/// A VPC with DNS on, a subnet in four zones, and two security groups.
pub async fn seed(ec2: &aws_sdk_ec2::Client) -> Network {
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    for on in [true] {
        ec2.modify_vpc_attribute()
            .vpc_id(&vpc)
            .enable_dns_hostnames(AttributeBooleanValue::builder().value(on).build())
            .send()
            .await
            .unwrap();
    }
    let mut subnets = Vec::new();
    for (i, zone) in ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"]
        .iter()
        .enumerate()
    {
        let out = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.0.{i}.0/24"))
            .availability_zone(*zone)
            .send()
            .await
            .unwrap();
        let subnet = out.subnet().unwrap();
        subnets.push((
            subnet.subnet_id().unwrap().to_string(),
            subnet.availability_zone_id().unwrap().to_string(),
        ));
    }
    let mut groups = Vec::new();
    for name in ["tidb-a", "tidb-b"] {
        let out = ec2
            .create_security_group()
            .group_name(name)
            .description(name)
            .vpc_id(&vpc)
            .send()
            .await
            .unwrap();
        groups.push(out.group_id().unwrap().to_string());
    }
    // An endpoint service of our own would need a network load balancer, which moto only
    // has through the ELBv2 API; moto accepts any service name in CreateVpcEndpoint.
    let service = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0".to_string();
    Network {
        vpc,
        subnets,
        groups,
        service,
    }
}
