//! The real EC2 client (aws-sdk-ec2) against moto_server on loopback, and the daemon binary
//! with `aws: real` end to end.
//!
//! Where moto differs from AWS, the difference is covered by the simulated cloud instead:
//! moto ignores ClientToken (no idempotency), makes interface endpoints `available` at once
//! (there is no acceptance step, and no acceptance API), does not paginate
//! DescribeVpcEndpoints (one page whatever MaxResults says). It also ignores
//! PrivateDnsEnabled in ModifyVpcEndpoint, which the flow needs: `tests/support/moto_server.py`
//! starts moto with that one parameter patched in.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use aws_sdk_ec2::types::{AttributeBooleanValue, Filter, VpcEndpointType};
use privatelinkd::cloud::aws::{AwsClient, AwsConfig};
use privatelinkd::cloud::{CloudError, CreateEndpoint, Ec2, ModifyEndpoint, Scope, VpcAttribute};
use privatelinkd::plan::ownership as tags;

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
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
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

    fn client(&self) -> AwsClient {
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
    service: String,
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

fn scope() -> Scope {
    Scope {
        account: "default".into(),
        region: "us-east-1".into(),
    }
}

fn request(net: &Network, name: &str, token: &str) -> CreateEndpoint {
    CreateEndpoint {
        vpc_id: net.vpc.clone(),
        service_name: net.service.clone(),
        subnet_ids: vec![net.subnets[0].0.clone()],
        security_group_ids: vec![net.groups[0].clone()],
        client_token: token.into(),
        tags: BTreeMap::from([
            (tags::OWNER.to_string(), "host-a".to_string()),
            (tags::NAME.to_string(), name.to_string()),
            (tags::DELETION_POLICY.to_string(), "Delete".to_string()),
        ]),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn owned(client: &AwsClient) -> Vec<privatelinkd::cloud::VpcEndpoint> {
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_tagged_endpoints(&scope(), (tags::OWNER, "host-a"), token.as_deref())
            .await
            .unwrap();
        all.extend(page.items);
        match page.next {
            Some(next) => token = Some(next),
            None => return all,
        }
    }
}

#[test]
fn create_find_modify_and_delete_an_interface_endpoint() {
    let moto = Moto::start();
    runtime().block_on(async {
        let sdk = moto.sdk().await;
        let net = seed(&sdk).await;
        let client = moto.client();
        let created = client
            .create_endpoint(&scope(), &request(&net, "orders", "tok-1"))
            .await
            .unwrap();
        assert!(created.id.starts_with("vpce-"));

        // What EC2 itself recorded: an interface endpoint, private DNS off, our tags.
        let raw = sdk
            .describe_vpc_endpoints()
            .vpc_endpoint_ids(&created.id)
            .send()
            .await
            .unwrap();
        let raw = &raw.vpc_endpoints()[0];
        assert_eq!(raw.vpc_endpoint_type(), Some(&VpcEndpointType::Interface));
        assert_eq!(raw.private_dns_enabled(), Some(false));

        let found = owned(&client).await;
        assert_eq!(found.len(), 1);
        let e = &found[0];
        assert_eq!(e.id, created.id);
        // moto makes interface endpoints available at once; the string is compared as sent.
        assert_eq!(e.state, "available");
        assert_eq!(e.tag(tags::NAME), Some("orders"));
        assert_eq!(e.subnet_ids, [net.subnets[0].0.clone()]);
        assert_eq!(e.security_group_ids, [net.groups[0].clone()]);

        client
            .modify_endpoint(
                &scope(),
                &ModifyEndpoint {
                    endpoint_id: e.id.clone(),
                    add_subnet_ids: vec![net.subnets[1].0.clone()],
                    add_security_group_ids: vec![net.groups[1].clone()],
                    remove_security_group_ids: vec![net.groups[0].clone()],
                    ..ModifyEndpoint::default()
                },
            )
            .await
            .unwrap();
        client
            .modify_endpoint(
                &scope(),
                &ModifyEndpoint {
                    endpoint_id: e.id.clone(),
                    remove_subnet_ids: vec![net.subnets[0].0.clone()],
                    // Applied thanks to the launcher's patch (plain moto ignores it).
                    private_dns_enabled: Some(true),
                    ..ModifyEndpoint::default()
                },
            )
            .await
            .unwrap();
        let e = &owned(&client).await[0];
        assert_eq!(e.subnet_ids, [net.subnets[1].0.clone()]);
        assert_eq!(e.security_group_ids, [net.groups[1].clone()]);
        assert!(e.private_dns_enabled);

        client.delete_endpoint(&scope(), &e.id).await.unwrap();
        // moto keeps it, as AWS does for a while, in state `deleted`: the listing leaves it out.
        assert!(owned(&client).await.is_empty());
        let raw = sdk
            .describe_vpc_endpoints()
            .vpc_endpoint_ids(&e.id)
            .send()
            .await
            .unwrap();
        assert_eq!(
            raw.vpc_endpoints()[0].state().map(|s| s.as_str()),
            Some("deleted")
        );
    });
}

#[test]
fn adoption_and_orphaning_by_tags() {
    let moto = Moto::start();
    runtime().block_on(async {
        let sdk = moto.sdk().await;
        let net = seed(&sdk).await;
        let client = moto.client();
        // Someone made this endpoint by hand: no tags of ours.
        let theirs = sdk
            .create_vpc_endpoint()
            .vpc_endpoint_type(VpcEndpointType::Interface)
            .vpc_id(&net.vpc)
            .service_name(&net.service)
            .subnet_ids(&net.subnets[0].0)
            .send()
            .await
            .unwrap();
        let id = theirs
            .vpc_endpoint()
            .unwrap()
            .vpc_endpoint_id()
            .unwrap()
            .to_string();
        assert!(owned(&client).await.is_empty(), "not ours until adopted");
        let described = client
            .describe_endpoints(&scope(), &[id.clone(), "vpce-0000000000000dead".into()])
            .await
            .unwrap();
        assert_eq!(described.len(), 1, "an unknown ID is simply absent");
        assert_eq!(described[0].id, id);

        let ours = request(&net, "adopted", "unused").tags;
        client.create_tags(&scope(), &id, &ours).await.unwrap();
        assert_eq!(owned(&client).await.len(), 1);

        let keys: Vec<String> = ours.keys().cloned().collect();
        client.delete_tags(&scope(), &id, &keys).await.unwrap();
        assert!(
            owned(&client).await.is_empty(),
            "orphaned: still there, no longer ours"
        );
        assert_eq!(
            client
                .describe_endpoints(&scope(), std::slice::from_ref(&id))
                .await
                .unwrap()
                .len(),
            1
        );
    });
}

#[test]
fn network_facts_and_error_mapping() {
    let moto = Moto::start();
    runtime().block_on(async {
        let sdk = moto.sdk().await;
        let net = seed(&sdk).await;
        let client = moto.client();
        let ids: Vec<String> = net.subnets.iter().map(|(id, _)| id.clone()).chain(["subnet-0000000000000dead".to_string()]).collect();
        let subnets = client.describe_subnets(&scope(), &ids).await.unwrap();
        assert_eq!(subnets.len(), 4, "the unknown subnet is left out");
        // moto's zones: us-east-1a is use1-az6, 1b use1-az1, 1c use1-az2, 1d use1-az4.
        let zones: Vec<&str> = net.subnets.iter().map(|(id, _)| subnets[id].1.as_str()).collect();
        assert_eq!(zones, ["use1-az6", "use1-az1", "use1-az2", "use1-az4"]);
        assert!(subnets.values().all(|(vpc, _)| *vpc == net.vpc));
        let groups = client.describe_security_groups(&scope(), &[net.groups[0].clone(), "sg-0000000000000dead".into()]).await.unwrap();
        assert_eq!(groups.keys().collect::<Vec<_>>(), [&net.groups[0]]);
        let support = client.describe_vpc_attribute(&scope(), &net.vpc, VpcAttribute::EnableDnsSupport).await.unwrap();
        let hostnames = client.describe_vpc_attribute(&scope(), &net.vpc, VpcAttribute::EnableDnsHostnames).await.unwrap();
        assert_eq!((support, hostnames), (Some(true), Some(true)));
        let missing = client.describe_vpc_attribute(&scope(), "vpc-0000000000000dead", VpcAttribute::EnableDnsSupport).await.unwrap();
        assert_eq!(missing, None);

        let mut no_vpc = request(&net, "x", "t2");
        no_vpc.vpc_id = "vpc-0000000000000dead".into();
        let e = client.create_endpoint(&scope(), &no_vpc).await.unwrap_err();
        assert!(matches!(&e, CloudError::Permanent(m) if m.contains("NotFound") && m.contains("vpc-0000000000000dead")), "{e:?}");
        let mut no_subnet = request(&net, "x", "t3");
        no_subnet.subnet_ids = vec!["subnet-0000000000000dead".into()];
        let e = client.create_endpoint(&scope(), &no_subnet).await.unwrap_err();
        assert!(matches!(&e, CloudError::Permanent(m) if m.contains("InvalidSubnetID.NotFound") && m.contains("subnet-0000000000000dead")), "{e:?}");
        let e = client.delete_endpoint(&scope(), "vpce-0000000000000dead").await;
        // moto answers an empty `Unsuccessful` list for unknown IDs; AWS lists them there
        // (then it is NotFound, which deletion treats as done).
        assert!(e.is_ok() || matches!(e, Err(CloudError::NotFound(_))), "{e:?}");

        let unknown = AwsClient::new(AwsConfig { endpoint_url: Some(moto.url.clone()), ..AwsConfig::default() });
        let elsewhere = Scope { account: "prod".into(), region: "us-east-1".into() };
        let e = unknown.list_tagged_endpoints(&elsewhere, (tags::OWNER, "host-a"), None).await.unwrap_err();
        assert!(e.to_string().contains("account `prod` is not defined under aws.accounts"), "{e}");
    });
}

#[test]
fn more_than_a_thousand_owned_endpoints_are_all_found() {
    let moto = Moto::start();
    runtime().block_on(async {
        let sdk = moto.sdk().await;
        let net = seed(&sdk).await;
        let client = moto.client();
        for i in 0..1050 {
            let mut r = request(&net, &format!("ep-{i:04}"), &format!("tok-{i}"));
            r.security_group_ids.clear();
            client.create_endpoint(&scope(), &r).await.unwrap();
        }
        // Someone else's endpoint, not ours.
        let mut other = request(&net, "other", "tok-other");
        other.tags.insert(tags::OWNER.into(), "host-b".into());
        client.create_endpoint(&scope(), &other).await.unwrap();
        let found = owned(&client).await;
        assert_eq!(found.len(), 1050);
        let filter = Filter::builder()
            .name(format!("tag:{}", tags::OWNER))
            .values("host-b")
            .build();
        let theirs = sdk
            .describe_vpc_endpoints()
            .filters(filter)
            .send()
            .await
            .unwrap();
        assert_eq!(theirs.vpc_endpoints().len(), 1);
    });
}

#[test]
fn the_daemon_converges_edits_and_deletes_real_endpoints() {
    let moto = Moto::start();
    let net = runtime().block_on(async { seed(&moto.sdk().await).await });
    // The simulated TiDB Cloud's cluster offers the zones of moto's subnets.
    let zones: Vec<&str> = net
        .subnets
        .iter()
        .map(|(_, az)| az.as_str())
        .filter(|az| *az != "use1-az2")
        .collect();
    let world = format!(
        "clusters:\n  - id: \"{CLUSTER}\"\n    projectId: \"1372813089454548012\"\n    region: us-east-1\n    nodeGroups: [{{id: \"1379661944646413144\", default: true, availableZones: [{}]}}]\ntiming: {{serviceCreate: 0s, accept: 1s, activate: 2s, privateDns: 1s, delete: 1s}}\ntimeScale: 20\n",
        zones.join(", ")
    );
    let setup = Setup::new(
        &world,
        &format!(
            "cloud: {{tidbCloud: simulated, aws: real}}\naws: {{endpointUrl: \"{}\"}}\n",
            moto.url
        ),
    );
    // Settled endpoints are looked at every interval: a short one, for the hand-made changes.
    let config = std::fs::read_to_string(setup.config()).unwrap();
    std::fs::write(
        setup.config(),
        config.replace("interval: 60s", "interval: 2s"),
    )
    .unwrap();
    let subnet = |i: usize| net.subnets[i].0.clone();
    // The AZ subnet checks need AWS IDs of the form the spec accepts: moto's are.
    let doc = |name: &str, subnets: &[String]| {
        format!(
            "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\nmetadata: {{name: {name}}}\nspec:\n  tidbCloud: {{clusterId: \"{CLUSTER}\"}}\n  aws:\n    region: us-east-1\n    vpcId: {}\n    subnetIds: [{}]\n    securityGroupIds: [{}]\n  privateDns: true\n",
            net.vpc,
            subnets.join(", "),
            net.groups[0]
        )
    };
    setup.write("orders.yaml", &doc("orders", &[subnet(1)]));
    setup.write("bad-zone.yaml", &doc("bad-zone", &[subnet(2)]));
    let mut daemon = privatelinkd_command()
        .args(["run", "--config"])
        .arg(setup.config())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(setup.path("daemon.log")).unwrap())
        .spawn()
        .unwrap();
    let show_log = || std::fs::read_to_string(setup.path("daemon.log")).unwrap_or_default();
    let settle = |what: &str, check: &dyn Fn() -> bool| {
        if !eventually(Duration::from_secs(60), check) {
            panic!(
                "timed out waiting for {what}; the daemon said\n{}",
                show_log()
            );
        }
    };
    settle("orders Active", &|| {
        setup.phase("orders", "orders").as_deref() == Some("Active")
    });
    let bad = setup.status("bad-zone").unwrap();
    assert_eq!(bad["endpoints"][0]["phase"], "Failed");
    assert!(
        bad["endpoints"][0]["message"]
            .as_str()
            .unwrap()
            .contains("use1-az2")
    );

    let sdk = runtime().block_on(moto.sdk());
    // The group moto made has no inbound rule: PortAllowed says which rule to add, naming the
    // group, the port and the VPC's CIDR (described from moto in batches).
    let port_allowed = || {
        setup.status("orders").and_then(|s| {
            s["endpoints"][0]["conditions"]
                .as_array()?
                .iter()
                .find(|c| c["type"] == "PortAllowed")
                .map(|c| {
                    (
                        c["status"].as_str().unwrap().to_string(),
                        c["message"].as_str().unwrap().to_string(),
                    )
                })
        })
    };
    let (status, message) = port_allowed().unwrap();
    assert_eq!(status, "False");
    assert!(
        message.contains(&format!(
            "add an inbound rule to {}: TCP, port 4000, source 10.0.0.0/16",
            net.groups[0]
        )),
        "{message}"
    );
    // A person adds the rule by hand: True within a pass.
    runtime()
        .block_on(
            sdk.authorize_security_group_ingress()
                .group_id(&net.groups[0])
                .ip_permissions(
                    aws_sdk_ec2::types::IpPermission::builder()
                        .ip_protocol("tcp")
                        .from_port(4000)
                        .to_port(4000)
                        .ip_ranges(
                            aws_sdk_ec2::types::IpRange::builder()
                                .cidr_ip("10.0.0.0/16")
                                .build(),
                        )
                        .build(),
                )
                .send(),
        )
        .unwrap();
    settle("PortAllowed True", &|| {
        port_allowed().is_some_and(|(s, _)| s == "True")
    });
    let live = |sdk: &aws_sdk_ec2::Client| {
        runtime().block_on(async {
            let out = sdk.describe_vpc_endpoints().send().await.unwrap();
            out.vpc_endpoints()
                .iter()
                .filter(|e| e.state().map(|s| s.as_str()) != Some("deleted"))
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    assert_eq!(live(&sdk).len(), 1);
    assert_eq!(
        live(&sdk)[0].private_dns_enabled(),
        Some(true),
        "private DNS turned on after acceptance"
    );
    // Drift: someone turns private DNS off by hand; the daemon turns it on again.
    let id = live(&sdk)[0].vpc_endpoint_id().unwrap().to_string();
    runtime()
        .block_on(
            sdk.modify_vpc_endpoint()
                .vpc_endpoint_id(&id)
                .private_dns_enabled(false)
                .send(),
        )
        .unwrap();
    assert_eq!(live(&sdk)[0].private_dns_enabled(), Some(false));
    settle("private DNS on again", &|| {
        live(&sdk)[0].private_dns_enabled() == Some(true)
            && setup.phase("orders", "orders").as_deref() == Some("Active")
    });
    // Edit: a second subnet, corrected in place.
    setup.write("orders.yaml", &doc("orders", &[subnet(1), subnet(3)]));
    settle("subnet added in moto", &|| {
        live(&sdk)
            .first()
            .is_some_and(|e| e.subnet_ids().len() == 2)
    });
    assert_eq!(live(&sdk).len(), 1, "modified in place, not replaced");
    // Drift: someone removes a subnet by hand; the daemon puts it back.
    runtime()
        .block_on(
            sdk.modify_vpc_endpoint()
                .vpc_endpoint_id(&id)
                .remove_subnet_ids(subnet(3))
                .send(),
        )
        .unwrap();
    settle("drift corrected", &|| {
        live(&sdk)
            .first()
            .is_some_and(|e| e.subnet_ids().len() == 2)
    });
    // Drift: someone deletes the VPC endpoint in the console. The daemon makes a new one, and
    // deletes the connection the old one left in TiDB Cloud once moto, asked by ID, confirms
    // the old endpoint is gone.
    assert_eq!(setup.live_connections(), std::slice::from_ref(&id));
    runtime()
        .block_on(sdk.delete_vpc_endpoints().vpc_endpoint_ids(&id).send())
        .unwrap();
    settle("replaced, and the old connection deleted", &|| {
        let now = live(&sdk);
        now.len() == 1
            && now[0].vpc_endpoint_id() != Some(id.as_str())
            && setup.live_connections() == [now[0].vpc_endpoint_id().unwrap()]
            && setup.phase("orders", "orders").as_deref() == Some("Active")
    });
    // Removal: the endpoint is deleted in moto.
    setup.remove("orders.yaml");
    settle("endpoint deleted in moto", &|| live(&sdk).is_empty());

    Command::new("kill")
        .args(["-s", "TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(daemon.wait().unwrap().code(), Some(0));
    assert!(show_log().contains("delete_vpc_endpoint"));
}

/// Counts calls by operation (the daemon's metrics hook, minus Prometheus).
#[derive(Default)]
struct Counter(std::sync::Mutex<BTreeMap<String, u64>>);

impl privatelinkd::cloud::CallObserver for Counter {
    fn call(
        &self,
        api: &'static str,
        operation: &'static str,
        _: privatelinkd::cloud::Outcome,
        _: Duration,
    ) {
        *self
            .0
            .lock()
            .unwrap()
            .entry(format!("{api}.{operation}"))
            .or_default() += 1;
    }

    fn budget_wait(&self, _: &'static str, _: Duration) {}
}

/// The benchmark's converged pass through the real clients: moto for EC2, the fake server for
/// TiDB Cloud, 1,000 endpoints. Slow (it creates them first), so run on demand:
/// `cargo test --release --test it -- --ignored --nocapture aws_moto::converged_pass`.
#[test]
#[ignore]
fn converged_pass_through_the_real_clients_at_1000() {
    use fake_tidbcloud::{Algorithm, Fake, Faults, Options};
    use privatelinkd::cloud::Rate;
    use privatelinkd::cloud::budget::{Budgeted, Rates};
    use privatelinkd::cloud::sim::{SimCloud, World};
    use privatelinkd::cloud::tidb::client::{TidbClient, TidbSettings};
    use privatelinkd::plan::{Phase, Policy};
    use privatelinkd::reconcile::{Engine, Wanted};
    use privatelinkd::secret::Secret;
    let n = 1000;
    let moto = Moto::start();
    runtime().block_on(async {
        let net = seed(&moto.sdk().await).await;
        let zones: Vec<&str> = net.subnets.iter().map(|(_, az)| az.as_str()).collect();
        let world_text = format!(
            "clusters:\n  - id: \"{CLUSTER}\"\n    projectId: \"1\"\n    region: us-east-1\n    nodeGroups: [{{id: \"2\", default: true, availableZones: [{}]}}]\ntiming: {{serviceCreate: 0s, accept: 0s, activate: 0s, privateDns: 0s, delete: 0s}}\n",
            zones.join(", ")
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("w.yaml"), world_text).unwrap();
        let sim = SimCloud::new(World::load(&dir.path().join("w.yaml")).unwrap(), None).unwrap();
        let options = Options {
            public_key: "P".into(),
            private_key: Secret::new("K"),
            algorithm: Algorithm::Sha256,
            requests_per_minute: 1_000_000,
            window: Duration::from_secs(60),
            faults: Faults::default(),
        };
        let fake = Fake::new(sim, options);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(fake.clone().serve(listener));
        let tidb = TidbClient::new(TidbSettings { api_url: url, public_key: "P".into(), private_key: Secret::new("K"), timeout: Duration::from_secs(30), caller: None }).unwrap();
        let fast = Rate { per_second: 10_000.0, burst: 10_000 };
        let rates = Rates { tidb: fast, ec2_mutating: fast, ec2_describe: fast };
        let counter = std::sync::Arc::new(Counter::default());
        let mut engine = Engine::new(
            Budgeted::new(tidb, rates).observed_by(counter.clone()),
            Budgeted::new(moto.client(), rates).observed_by(counter.clone()),
            "host-a",
        );
        let wanted: Vec<Wanted> = (0..n)
            .map(|i| {
                let text = format!(
                    "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\nmetadata: {{name: ep-{i:04}}}\nspec:\n  tidbCloud: {{clusterId: \"{CLUSTER}\"}}\n  aws:\n    region: us-east-1\n    vpcId: {}\n    subnetIds: [{}]\n  privateDns: false\n",
                    net.vpc, net.subnets[1].0
                );
                let doc = privatelinkd::spec::checker().check(&privatelinkd::yaml::load(&text).documents[0]).unwrap();
                Wanted::new(doc, "f.yaml")
            })
            .collect();
        let policy = Policy { owner_id: "host-a".into(), max_deletes_per_pass: 5, allow_mass_delete: false, source_empty: false, approved: Default::default() };
        engine.set_apply_window(Duration::from_secs(600));
        for _ in 0..20 {
            let pass = engine.pass(&wanted, &Default::default(), &policy, true).await;
            if pass.applied.is_empty() && pass.plan.endpoints.iter().all(|p| p.phase == Phase::Active) {
                break;
            }
        }
        // A converged pass between full listings: EC2 only. (moto answers DescribeVpcEndpoints
        // in one page whatever MaxResults says; AWS would take 1 for 1,000 too.)
        counter.0.lock().unwrap().clear();
        let start = Instant::now();
        let pass = engine.pass(&wanted, &Default::default(), &policy, true).await;
        let took = start.elapsed();
        assert!(pass.plan.endpoints.iter().all(|p| p.phase == Phase::Active));
        let calls = counter.0.lock().unwrap().clone();
        println!("converged pass over {n} endpoints through the real clients: {calls:?} in {took:?}");
        // The endpoints use the VPC's default group, which opens no port to the VPC here:
        // while PortAllowed is False, the scope's VPCs and groups are looked at every pass.
        assert_eq!(calls.get("ec2.DescribeVpcEndpoints"), Some(&1));
        let firewall = ["ec2.DescribeVpcEndpoints", "ec2.DescribeVpcs", "ec2.DescribeSecurityGroups"];
        assert!(calls.keys().all(|k| firewall.contains(&k.as_str())), "{calls:?}");
        // A pass with a full listing due (fullResync elapsed): ten pages of 100 more.
        // (After the last listing, observation waits for its share of the key's budget: ten
        // pages at half of 100 a minute is 12 s.)
        engine.set_tidb_pace(Duration::ZERO, 100.0 / 60.0);
        tokio::time::sleep(Duration::from_secs(13)).await;
        counter.0.lock().unwrap().clear();
        let start = Instant::now();
        engine.pass(&wanted, &Default::default(), &policy, true).await;
        let took = start.elapsed();
        let calls = counter.0.lock().unwrap().clone();
        println!("with a full listing: {calls:?} in {took:?}");
        assert_eq!(calls.get("tidbcloud.ListPrivateEndpointConnections"), Some(&10));
        assert_eq!(calls.get("ec2.DescribeVpcEndpoints"), Some(&1));
    });
}
