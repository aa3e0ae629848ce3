//! The daemon binary with `cloud: {tidbCloud: real, aws: simulated, azure: real}`: its real
//! Resource Manager client (a client secret, tokens from the fake's Entra ID) against
//! `fake-azure-network`, and its real TiDB Cloud client against the fake TiDB Cloud server,
//! both served in this process on threads of their own. The two fakes do not know each other:
//! the test plays TiDB Cloud's side between them (`Provider`), as TiDB Cloud's Private Link
//! service would: an endpoint connected to the service is told to the fake TiDB Cloud
//! (`PUT /fake/azure/privateEndpoints`, which lists it DISCOVERED and registers it only with
//! its IP), and once TiDB Cloud's connection is ACTIVE the endpoint's connection is Approved in
//! Azure (Disconnected once that connection is deleted).
//!
//! End to end: a private endpoint created (one PUT) and registered (one POST with its IP) and
//! Active; a tag removed in the portal written back and an endpoint deleted in the portal made
//! again (also while it is being created); a removed Delete document's connection then
//! endpoint deleted; an Orphan one's tags taken off; an endpoint TiDB Cloud already DISCOVERED
//! adopted without a create; a crash between the PUT and the registration leaving no
//! duplicate; the configured `azure.rateLimits` kept to (the fake's buckets set to the same
//! numbers never answer 429); a burst of 429s waited out for its `Retry-After`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fake_azure_network::{
    AuthMode, Bucket, ConnectionStatus, Fake, Fault, Logged, Options, RateLimits, World,
};
use fake_tidbcloud::Algorithm;
use privatelinkd::cloud::azure::{Arm, ArmClient, ArmConfig, AzureCredentials, PrivateEndpoint};
use privatelinkd::cloud::sim::SimCloud;
use privatelinkd::cloud::{Connection, ConnectionState, TidbCloud};
use privatelinkd::secret::Secret;
use serde_json::{Value, json};

use super::{CLIENT_ID, CLIENT_SECRET, SUB, TENANT};
use crate::common::*;

/// The fake TiDB Cloud's cluster on Azure, and its node group.
const AZ_CLUSTER: &str = "1379661944646417777";
const AZ_GROUP: &str = "1379661944646417778";
const LOCATION: &str = "eastus2";
/// The resource group of the virtual network and of the endpoints.
const GROUP: &str = "prod-network";
/// The document's name, so the private endpoint's.
const NAME: &str = "orders-azure";
/// `Setup`'s ownerId.
const OWNER: &str = "test-host";
const PUBLIC: &str = "PUBKEY01";
const PRIVATE: &str = "private-key-never-shown";
/// Where the fake TiDB Cloud is told of Azure endpoints.
const CONTROL: &str = "/fake/azure/privateEndpoints";

/// TiDB Cloud: one cluster on Azure; a simulated minute is 0.6 real seconds (a connection is
/// ACTIVE 20 ms after its registration, deleted 10 ms after its DELETE).
fn sim_world_text() -> String {
    format!(
        r#"clusters:
  - id: "{AZ_CLUSTER}"
    projectId: "1372813089454548012"
    name: orders
    region: {LOCATION}
    cloudProvider: azure
    port: 4000
    nodeGroups:
      - {{id: "{AZ_GROUP}", default: true}}
timing: {{serviceCreate: 0s, accept: 1s, activate: 2s, privateDns: 1s, delete: 1s}}
timeScale: 100
"#
    )
}

/// The Private Link service the fake TiDB Cloud names for the cluster's node group (what the
/// daemon will connect to): asked of the simulation itself.
fn pls() -> String {
    let sim = sim::cloud_of(&sim_world_text());
    runtime()
        .block_on(sim.get_service(AZ_CLUSTER, AZ_GROUP))
        .unwrap()
        .name
}

fn subnet_id() -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/{GROUP}/providers/Microsoft.Network/virtualNetworks/prod/subnets/db"
    )
}

fn endpoint_id(name: &str) -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/{GROUP}/providers/Microsoft.Network/privateEndpoints/{name}"
    )
}

/// fake-azure-network's world: the tenant and the daemon's app, the consumer subscription with
/// its virtual network (and `endpoints`, made by hand, YAML list items), TiDB Cloud's Private
/// Link service.
fn azure_world(pls: &str, endpoints: &str) -> World {
    let made_by_hand = if endpoints.is_empty() {
        String::new()
    } else {
        format!("        privateEndpoints:\n{endpoints}")
    };
    World::parse(&format!(
        r#"tenants:
  - id: {TENANT}
    apps:
      - {{clientId: {CLIENT_ID}, clientSecret: {CLIENT_SECRET}}}
subscriptions:
  - id: {SUB}
    tenant: {TENANT}
    resourceGroups:
      - name: {GROUP}
        location: {LOCATION}
        virtualNetworks:
          - name: prod
            addressPrefixes: [10.9.0.0/16]
            subnets:
              - {{name: db, addressPrefix: 10.9.0.0/24}}
{made_by_hand}privateLinkServices:
  - id: {pls}
"#
    ))
    .unwrap()
}

/// Operations InProgress for `operation`; only tokens the fake's Entra ID issued are taken;
/// Resource Manager's published buckets.
fn options(operation: Duration) -> Options {
    Options {
        operation_delay: operation,
        retry_after_secs: 1,
        auth: AuthMode::IssuedTokens,
        ..Options::default()
    }
}

/// fake-azure-network on a loopback port, served from a thread of its own (the daemon is
/// another process; the test waits with blocking sleeps); stopped when dropped.
struct Azure {
    fake: Fake,
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Azure {
    fn start(world: &World, options: Options) -> Azure {
        let fake = Fake::new(world, options).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = fake.clone();
        let thread = std::thread::spawn(move || {
            runtime().block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let shutdown = async {
                    let _ = stopped.await;
                };
                serving.serve_until(listener, shutdown).await.unwrap();
            });
        });
        Azure {
            fake,
            url,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Resource Manager requests so far (the token endpoint's and the admin calls left out).
    fn requests(&self) -> Vec<Logged> {
        self.fake
            .requests()
            .into_iter()
            .filter(|l| l.path.starts_with("/subscriptions/"))
            .collect()
    }

    /// The endpoints connected to TiDB Cloud's service, as its owner sees them: (ID, IP,
    /// connection status).
    fn connected(&self, pls: &str) -> Vec<(String, String, ConnectionStatus)> {
        self.fake
            .connections_to(pls)
            .unwrap()
            .into_iter()
            .map(|c| (c.endpoint_id, c.private_ip_address, c.status))
            .collect()
    }
}

impl Drop for Azure {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The fake TiDB Cloud server, its budget out of the way.
fn tidb() -> FakeTidb {
    FakeTidb::start(
        &sim_world_text(),
        fake_tidbcloud::Options {
            public_key: PUBLIC.into(),
            private_key: Secret::new(PRIVATE),
            algorithm: Algorithm::Sha256,
            requests_per_minute: 6000,
            window: Duration::from_secs(60),
            faults: fake_tidbcloud::Faults::default(),
        },
    )
}

/// One plain HTTP/1.0 request: (status, `WWW-Authenticate`, body).
fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: &str,
) -> (u16, String, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let authorization = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\n{authorization}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let challenge = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("www-authenticate")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, challenge, body.to_string())
}

/// Tells the fake TiDB Cloud of an Azure endpoint (`PUT`: connected to the service with this
/// IP) or that it is gone (`DELETE`), through its control route, with the API key (HTTP
/// Digest, as the API's other routes).
fn tell_tidb(addr: SocketAddr, method: &str, body: &Value) {
    let body = body.to_string();
    let (status, challenge, _) = exchange(addr, method, CONTROL, None, &body);
    assert_eq!(status, 401, "a challenge first");
    let mut digest = http_auth::PasswordClient::try_from(challenge.as_str()).unwrap();
    let authorization = digest
        .respond(&http_auth::PasswordParams {
            username: PUBLIC,
            password: PRIVATE,
            uri: CONTROL,
            method,
            body: None,
        })
        .unwrap();
    let (status, _, answer) = exchange(addr, method, CONTROL, Some(&authorization), &body);
    assert_eq!(status, 200, "{method} {CONTROL}: {answer}");
}

/// TiDB Cloud's side between the two fakes, every 20 ms on a thread of its own until dropped:
/// an endpoint connected to the Private Link service is told to the fake TiDB Cloud (and its
/// going); its Azure connection is Approved once a registration of it made after it appeared
/// is ACTIVE, and Disconnected once no such registration is left.
struct Provider {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the provider knows of one endpoint: the TiDB Cloud connections of its ID that were
/// there before it appeared (a predecessor's, under a reused name: not its acceptance).
struct Known {
    stale: BTreeSet<String>,
}

impl Provider {
    /// `told`: endpoints the test has already told the fake TiDB Cloud of.
    fn start(azure: &Azure, tidb: &FakeTidb, pls: &str, told: &[&str]) -> Provider {
        let stop = Arc::new(AtomicBool::new(false));
        let (fake, sim, addr, pls) = (
            azure.fake.clone(),
            tidb.sim.clone(),
            tidb.addr,
            pls.to_string(),
        );
        let mut known: BTreeMap<String, Known> = told
            .iter()
            .map(|id| {
                let known = Known {
                    stale: BTreeSet::new(),
                };
                (id.to_ascii_lowercase(), known)
            })
            .collect();
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                step(&fake, &sim, addr, &pls, &mut known);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Provider {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
            && !std::thread::panicking()
        {
            panic!("TiDB Cloud's side (the provider thread) failed: see its panic above");
        }
    }
}

fn step(
    fake: &Fake,
    sim: &SimCloud,
    addr: SocketAddr,
    pls: &str,
    known: &mut BTreeMap<String, Known>,
) {
    let connected = fake.connections_to(pls).unwrap();
    let of = |id: &str| -> Vec<Connection> {
        sim.all_connections()
            .into_iter()
            .filter(|c| c.endpoint_id.eq_ignore_ascii_case(id))
            .collect()
    };
    for c in &connected {
        let key = c.endpoint_id.to_ascii_lowercase();
        if known.contains_key(&key) || c.private_ip_address.is_empty() {
            continue;
        }
        let stale = of(&c.endpoint_id).into_iter().map(|c| c.id).collect();
        tell_tidb(
            addr,
            "PUT",
            &json!({"endpointId": c.endpoint_id, "privateLinkServiceId": pls, "privateIpAddress": c.private_ip_address}),
        );
        known.insert(key, Known { stale });
    }
    let present: BTreeSet<String> = connected
        .iter()
        .map(|c| c.endpoint_id.to_ascii_lowercase())
        .collect();
    let gone: Vec<String> = known
        .keys()
        .filter(|k| !present.contains(*k))
        .cloned()
        .collect();
    for id in gone {
        tell_tidb(addr, "DELETE", &json!({"endpointId": id}));
        known.remove(&id);
    }
    for c in &connected {
        let Some(k) = known.get(&c.endpoint_id.to_ascii_lowercase()) else {
            continue;
        };
        let registered: Vec<ConnectionState> = of(&c.endpoint_id)
            .into_iter()
            .filter(|t| !k.stale.contains(&t.id))
            .map(|t| t.state)
            .collect();
        let next = match c.status {
            ConnectionStatus::Pending if registered.contains(&ConnectionState::Active) => {
                ConnectionStatus::Approved
            }
            ConnectionStatus::Approved
                if !registered
                    .iter()
                    .any(|s| matches!(s, ConnectionState::Pending | ConnectionState::Active)) =>
            {
                ConnectionStatus::Disconnected
            }
            _ => continue,
        };
        // The endpoint may have gone in between: the next step sees it.
        let _ = fake.set_connection_state(&c.endpoint_id, next, None);
    }
}

/// The daemon's set-up: TiDB Cloud real at the fake server, AWS simulated, Azure real at
/// fake-azure-network with the client secret (in a file), with `rate_limits` (an
/// `azure.rateLimits` flow mapping, or none for Microsoft's); settled endpoints looked at every
/// 2 s (for the portal's drift), unsettled ones every `settle_interval`.
fn setup(
    azure: &Azure,
    tidb: &FakeTidb,
    rate_limits: Option<&str>,
    settle_interval: &str,
) -> Setup {
    let limits = rate_limits
        .map(|r| format!("\n  rateLimits: {r}"))
        .unwrap_or_default();
    let setup = Setup::new(
        &sim_world_text(),
        &format!(
            "cloud: {{tidbCloud: real, aws: simulated, azure: real}}\ntidbCloud: {{apiUrl: \"{tidb}\", publicKey: {PUBLIC}, privateKeyFile: ./key.txt, requestsPerMinute: 6000}}\nazure:\n  endpointUrl: \"{url}\"\n  authorityHost: \"{url}\"\n  credentials:\n    clientSecret: {{tenantId: {TENANT}, clientId: {CLIENT_ID}, secretFile: ./azure-secret}}{limits}\n",
            tidb = tidb.url(),
            url = azure.url,
        ),
    );
    for (file, secret) in [("key.txt", PRIVATE), ("azure-secret", CLIENT_SECRET)] {
        let path = setup.path(file);
        std::fs::write(&path, format!("{secret}\n")).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
    }
    setup.edit_config(|c| {
        c.replace("interval: 60s", "interval: 2s").replace(
            "settleInterval: 100ms",
            &format!("settleInterval: {settle_interval}"),
        )
    });
    // `approve-deletions` finds the daemon through the config's address.
    setup.listen_on_free_port();
    setup
}

/// An endpoint document `name` in the virtual network's subnet, with `azure_extra` lines in
/// its `azure:` block and `spec_extra` after it.
fn document(name: &str, azure_extra: &str, spec_extra: &str) -> String {
    format!(
        "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\nmetadata: {{name: {name}}}\nspec:\n  tidbCloud: {{clusterId: \"{AZ_CLUSTER}\"}}\n  azure:\n    subscriptionId: \"{SUB}\"\n    resourceGroup: {GROUP}\n    location: {LOCATION}\n    virtualNetwork: prod\n    subnet: db\n{azure_extra}{spec_extra}"
    )
}

/// Polls `check` for up to `limit`; on a timeout, fails with the daemon's log and the fakes'.
fn settle(
    daemon: &Daemon,
    azure: &Azure,
    tidb: &FakeTidb,
    what: &str,
    limit: Duration,
    check: impl FnMut() -> bool,
) {
    if !eventually(limit, check) {
        let arm: Vec<String> = azure
            .requests()
            .iter()
            .map(|l| format!("{:>6} {} {} {}", l.at_ms, l.status, l.method, l.path))
            .collect();
        let api: Vec<String> = tidb
            .fake
            .requests()
            .iter()
            .map(|l| format!("{} {}", l.method, l.path))
            .collect();
        panic!(
            "timed out waiting for {what}; the daemon said\n{}\nResource Manager was asked\n{}\nTiDB Cloud was asked\n{}\nTiDB Cloud's connections: {:?}",
            daemon.log(),
            arm.join("\n"),
            api.join("\n"),
            tidb.sim.all_connections()
        );
    }
}

const LIMIT: Duration = Duration::from_secs(30);

fn active(setup: &Setup, name: &str) -> bool {
    setup.phase(name, name).as_deref() == Some("Active")
}

/// How many `method` requests on endpoint `name` answered `status`: a PUT answered 201 made
/// the endpoint, 200 changed it (the client writes tags by GET and PUT with If-Match); a
/// DELETE answered 202 started its deletion.
fn count(log: &[Logged], method: &str, name: &str, status: u16) -> usize {
    let path = endpoint_id(name);
    log.iter()
        .filter(|l| l.method == method && l.status == status && l.path.eq_ignore_ascii_case(&path))
        .count()
}

/// The fake TiDB Cloud's log: `method` requests on the node group's connections (POST:
/// registrations; DELETE: on one connection).
fn api_calls(tidb: &FakeTidb, method: &str) -> Vec<fake_tidbcloud::Logged> {
    let connections = format!(
        "/v1beta1/clusters/{AZ_CLUSTER}/tidbNodeGroups/{AZ_GROUP}/privateEndpointConnections"
    );
    tidb.fake
        .requests()
        .into_iter()
        .filter(|l| l.method == method && l.path.starts_with(&connections))
        .collect()
}

/// TiDB Cloud's connections that are not being deleted.
fn live_connections(tidb: &FakeTidb) -> Vec<Connection> {
    tidb.sim
        .all_connections()
        .into_iter()
        .filter(|c| c.state != ConnectionState::Deleting)
        .collect()
}

/// The real client, as the test's own eyes on the fake (its requests are logged like the
/// daemon's: read after the counts), on a runtime of its own (its connections live there).
struct Eyes {
    runtime: tokio::runtime::Runtime,
    client: ArmClient,
}

impl Eyes {
    fn new(setup: &Setup, azure: &Azure) -> Eyes {
        let client = ArmClient::new(&ArmConfig {
            endpoint_url: Some(azure.url.clone()),
            authority_host: Some(azure.url.clone()),
            credentials: AzureCredentials::ClientSecret {
                tenant_id: TENANT.into(),
                client_id: CLIENT_ID.into(),
                secret_file: setup.path("azure-secret"),
            },
            caller: None,
        })
        .unwrap();
        Eyes {
            runtime: runtime(),
            client,
        }
    }

    fn get(&self, name: &str) -> Option<PrivateEndpoint> {
        self.runtime
            .block_on(self.client.get_private_endpoint(&endpoint_id(name)))
            .unwrap()
    }
}

fn tag<'a>(e: &'a PrivateEndpoint, key: &str) -> Option<&'a str> {
    e.tags.get(key).map(String::as_str)
}

/// Removes the document; the directory is empty then, so the mass-deletion guard holds the
/// departure back until a person approves it, which the test does (`approve-deletions`).
fn remove_and_approve(setup: &Setup, daemon: &Daemon, azure: &Azure, tidb: &FakeTidb, name: &str) {
    setup.remove(&format!("{name}.yaml"));
    settle(
        daemon,
        azure,
        tidb,
        "the departure held back",
        LIMIT,
        || {
            setup.status(name).is_some_and(|s| {
                s["endpoints"][0]["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("approve-deletions")
            })
        },
    );
    let out = privatelinkd_command()
        .args(["approve-deletions", "--config"])
        .arg(setup.config())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("approved 1 departure(s)"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_daemon_creates_an_azure_endpoint_with_the_real_client_keeps_it_and_deletes_it() {
    let pls = pls();
    let azure = Azure::start(&azure_world(&pls, ""), options(Duration::from_millis(300)));
    let tidb = tidb();
    let _provider = Provider::start(&azure, &tidb, &pls, &[]);
    let setup = setup(&azure, &tidb, None, "100ms");
    setup.write(
        &format!("{NAME}.yaml"),
        &document(NAME, "", "  deletionPolicy: Delete\n"),
    );
    let started = Instant::now();
    let daemon = Daemon::start(&setup, &[]);
    settle(&daemon, &azure, &tidb, "the endpoint Active", LIMIT, || {
        active(&setup, NAME)
    });
    let to_active = started.elapsed();

    // One PUT made it; one registration, with the IP of its network interface.
    let log = azure.requests();
    assert_eq!(count(&log, "PUT", NAME, 201), 1, "{log:#?}");
    assert_eq!(count(&log, "PUT", NAME, 200), 0, "{log:#?}");
    assert!(
        log.iter().all(|l| l.status < 400),
        "nothing refused: {log:#?}"
    );
    let connected = azure.connected(&pls);
    assert_eq!(connected.len(), 1, "{connected:?}");
    let (id, ip, link) = connected[0].clone();
    assert_eq!(id, endpoint_id(NAME));
    assert!(ip.starts_with("10.9.0."), "in the subnet: {ip}");
    assert_eq!(link, ConnectionStatus::Approved);
    assert_eq!(api_calls(&tidb, "POST").len(), 1, "one registration");
    let live = live_connections(&tidb);
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0].endpoint_id, id);
    assert_eq!(live[0].state, ConnectionState::Active);
    assert_eq!(
        tidb.sim.connection_private_ip(&live[0].id).as_deref(),
        Some(ip.as_str()),
        "privateIpAddress is the interface's IP"
    );
    let first_connection = live[0].id.clone();

    // The status file and the status command show it, and where clients connect.
    let status = setup.status(NAME).unwrap();
    let endpoint = &status["endpoints"][0];
    let pe = &endpoint["privateEndpoint"];
    assert_eq!(pe["id"], id.as_str(), "{status:#}");
    assert_eq!(pe["name"], NAME);
    assert_eq!(pe["location"], LOCATION);
    assert_eq!(pe["provisioningState"], "Succeeded");
    assert_eq!(pe["linkStatus"], "Approved");
    assert_eq!(pe["privateIp"], ip.as_str());
    let host = endpoint["connection"]["host"].as_str().unwrap().to_string();
    assert!(host.starts_with(&format!("{NAME}-")), "{host}");
    assert_eq!(endpoint["connection"]["state"], "ACTIVE", "{status:#}");
    assert_eq!(endpoint["connection"]["id"], first_connection.as_str());
    let out = privatelinkd_command()
        .args(["status", "--config"])
        .arg(setup.config())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.lines()
            .any(|l| l.starts_with(NAME) && l.contains("Active")),
        "{said}"
    );
    assert!(
        said.contains(&format!("  host: {host}:4000")),
        "the status command shows the host: {said}"
    );

    // Our tags, their keys respelled (Azure takes no `/` in a tag name).
    let eyes = Eyes::new(&setup, &azure);
    let e = eyes.get(NAME).unwrap();
    assert_eq!(tag(&e, "privatelinkd-owner"), Some(OWNER), "{:?}", e.tags);
    assert_eq!(tag(&e, "privatelinkd-name"), Some(NAME), "{:?}", e.tags);
    assert_eq!(
        tag(&e, "privatelinkd-deletion-policy"),
        Some("Delete"),
        "{:?}",
        e.tags
    );
    assert!(
        !e.tags.keys().any(|k| k.contains('/')),
        "no mark's key as written: {:?}",
        e.tags
    );

    // Drift: a tag removed in the portal is written back (a PUT that changes the endpoint,
    // no new one).
    azure
        .fake
        .portal_remove_tag(&id, "privatelinkd-name")
        .unwrap();
    settle(
        &daemon,
        &azure,
        &tidb,
        "the tag written back",
        LIMIT,
        || count(&azure.requests(), "PUT", NAME, 200) == 1,
    );
    let e = eyes.get(NAME).unwrap();
    assert_eq!(tag(&e, "privatelinkd-name"), Some(NAME), "{:?}", e.tags);
    let log = azure.requests();
    assert_eq!(
        count(&log, "PUT", NAME, 201),
        1,
        "no new endpoint: {log:#?}"
    );
    assert_eq!(api_calls(&tidb, "POST").len(), 1, "nor a registration");

    // Drift: the endpoint deleted in the portal is made again, registered, Active.
    azure.fake.portal_delete(&id).unwrap();
    let deleted_at = Instant::now();
    settle(
        &daemon,
        &azure,
        &tidb,
        "the endpoint made again, Active",
        LIMIT,
        || {
            count(&azure.requests(), "PUT", NAME, 201) == 2
                && azure
                    .connected(&pls)
                    .iter()
                    .any(|c| c.2 == ConnectionStatus::Approved)
                && active(&setup, NAME)
        },
    );
    let to_recreated = deleted_at.elapsed();
    let log = azure.requests();
    assert_eq!(count(&log, "PUT", NAME, 201), 2, "{log:#?}");
    assert_eq!(
        api_calls(&tidb, "POST").len(),
        2,
        "the new endpoint registered"
    );
    let live = live_connections(&tidb);
    assert_eq!(live.len(), 1, "the old connection is gone: {live:?}");
    assert_ne!(live[0].id, first_connection);
    assert_eq!(live[0].state, ConnectionState::Active);
    let (_, ip, _) = azure.connected(&pls)[0].clone();
    assert_eq!(
        tidb.sim.connection_private_ip(&live[0].id).as_deref(),
        Some(ip.as_str())
    );
    let deletes_before = api_calls(&tidb, "DELETE").len();
    assert_eq!(
        deletes_before,
        1,
        "the stale connection deleted, once: {:?}",
        tidb.fake.requests()
    );

    // Removal, approved: the connection, then the endpoint.
    remove_and_approve(&setup, &daemon, &azure, &tidb, NAME);
    let removed_at = Instant::now();
    settle(
        &daemon,
        &azure,
        &tidb,
        "the connection and the endpoint deleted",
        LIMIT,
        || {
            count(&azure.requests(), "DELETE", NAME, 202) == 1
                && azure.connected(&pls).is_empty()
                && live_connections(&tidb).is_empty()
        },
    );
    let to_deleted = removed_at.elapsed();
    let deletes = api_calls(&tidb, "DELETE");
    assert_eq!(deletes.len(), deletes_before + 1, "one connection deleted");
    // One endpoint's actions run in order, each after the one before it answered.
    let applied: Vec<String> = daemon
        .log()
        .lines()
        .filter(|l| l.contains(" applied "))
        .filter_map(|l| Some(l.split_once("action=")?.1.trim().to_string()))
        .collect();
    let at = |kind: &str| applied.iter().rposition(|a| a == kind);
    let (connection, endpoint) = (at("delete_connection"), at("delete_azure_endpoint"));
    assert!(
        connection.is_some() && connection < endpoint,
        "the connection first, then the endpoint: {applied:?}"
    );
    assert_eq!(
        applied
            .iter()
            .filter(|a| *a == "delete_azure_endpoint")
            .count(),
        1,
        "{applied:?}"
    );
    // Let the deletion's operation end and a pass look again, then stop the daemon.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(daemon.stop(), Some(0));
    let log = azure.requests();
    assert_eq!(count(&log, "DELETE", NAME, 202), 1, "{log:#?}");
    assert_eq!(count(&log, "PUT", NAME, 201), 2, "{log:#?}");
    assert_eq!(eyes.get(NAME), None);
    eprintln!(
        "Active after {to_active:?}, made again {to_recreated:?} after the portal's delete, deleted {to_deleted:?} after the document went; {} Resource Manager requests, {} TiDB Cloud requests",
        log.len(),
        tidb.fake.requests().len()
    );
}

#[test]
fn a_removed_orphan_document_takes_our_tags_off_and_deletes_nothing() {
    let pls = pls();
    let azure = Azure::start(&azure_world(&pls, ""), options(Duration::from_millis(100)));
    let tidb = tidb();
    let _provider = Provider::start(&azure, &tidb, &pls, &[]);
    let setup = setup(&azure, &tidb, None, "100ms");
    setup.write(
        &format!("{NAME}.yaml"),
        &document(NAME, "", "  deletionPolicy: Orphan\n"),
    );
    let daemon = Daemon::start(&setup, &[]);
    settle(&daemon, &azure, &tidb, "the endpoint Active", LIMIT, || {
        active(&setup, NAME)
    });
    let eyes = Eyes::new(&setup, &azure);
    let e = eyes.get(NAME).unwrap();
    assert_eq!(tag(&e, "privatelinkd-owner"), Some(OWNER), "{:?}", e.tags);

    remove_and_approve(&setup, &daemon, &azure, &tidb, NAME);
    settle(&daemon, &azure, &tidb, "our tags taken off", LIMIT, || {
        count(&azure.requests(), "PUT", NAME, 200) >= 1
            && eyes
                .get(NAME)
                .is_some_and(|e| !e.tags.keys().any(|k| k.starts_with("privatelinkd-")))
    });
    // A pass or two more: nothing else happens.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(daemon.stop(), Some(0));
    let log = azure.requests();
    assert_eq!(count(&log, "DELETE", NAME, 202), 0, "{log:#?}");
    assert_eq!(count(&log, "PUT", NAME, 201), 1, "{log:#?}");
    assert_eq!(api_calls(&tidb, "DELETE").len(), 0, "the connection stays");
    let live = live_connections(&tidb);
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0].state, ConnectionState::Active);
    let connected = azure.connected(&pls);
    assert_eq!(connected.len(), 1, "the endpoint stays: {connected:?}");
    assert_eq!(connected[0].2, ConnectionStatus::Approved);
    let e = eyes.get(NAME).unwrap();
    assert!(
        !e.tags.keys().any(|k| k.starts_with("privatelinkd-")),
        "{:?}",
        e.tags
    );
}

/// An endpoint made by hand in the portal (before privatelinkd), which TiDB Cloud found by
/// itself (DISCOVERED): a document naming it with `adopt: true` tags it (a GET and a PUT on
/// an endpoint that exists: no create) and registers that very connection with its IP.
#[test]
fn an_endpoint_tidb_cloud_discovered_is_adopted_and_registered_without_a_create() {
    let pls = pls();
    let by_hand = format!(
        "          - {{name: by-hand, subnet: {}, privateLinkService: {pls}, tags: {{owner: platform}}}}\n",
        subnet_id()
    );
    let azure = Azure::start(
        &azure_world(&pls, &by_hand),
        options(Duration::from_millis(100)),
    );
    let tidb = tidb();
    let id = endpoint_id("by-hand");
    let connected = azure.connected(&pls);
    assert_eq!(connected.len(), 1, "{connected:?}");
    let (_, ip, link) = connected[0].clone();
    assert_eq!(link, ConnectionStatus::Pending);
    // TiDB Cloud sees it connected to its service: DISCOVERED.
    tell_tidb(
        tidb.addr,
        "PUT",
        &json!({"endpointId": id, "privateLinkServiceId": pls, "privateIpAddress": ip}),
    );
    let discovered: Vec<Connection> = runtime()
        .block_on(tidb.sim.list_connections("1372813089454548012", None))
        .unwrap()
        .items;
    assert_eq!(discovered.len(), 1, "{discovered:?}");
    assert_eq!(discovered[0].state, ConnectionState::Discovered);
    assert_eq!(discovered[0].endpoint_id, id);
    let discovered = discovered[0].id.clone();

    let _provider = Provider::start(&azure, &tidb, &pls, &[&id]);
    let setup = setup(&azure, &tidb, None, "100ms");
    setup.write(
        "orders.yaml",
        &document("orders", "    endpointName: by-hand\n    adopt: true\n", ""),
    );
    let daemon = Daemon::start(&setup, &[]);
    settle(
        &daemon,
        &azure,
        &tidb,
        "the adopted endpoint Active",
        LIMIT,
        || active(&setup, "orders"),
    );
    let log = azure.requests();
    assert_eq!(
        log.iter()
            .filter(|l| l.method == "PUT" && l.status == 201)
            .count(),
        0,
        "no endpoint made: {log:#?}"
    );
    assert_eq!(
        count(&log, "PUT", "by-hand", 200),
        1,
        "one PUT, the tags': {log:#?}"
    );
    assert_eq!(api_calls(&tidb, "POST").len(), 1, "one registration");
    let live = live_connections(&tidb);
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(
        live[0].id, discovered,
        "the DISCOVERED connection, registered"
    );
    assert_eq!(live[0].state, ConnectionState::Active);
    assert_eq!(
        tidb.sim.connection_private_ip(&discovered).as_deref(),
        Some(ip.as_str())
    );
    let status = setup.status("orders").unwrap();
    let endpoint = &status["endpoints"][0];
    assert_eq!(endpoint["adopted"], true, "{status:#}");
    assert_eq!(endpoint["privateEndpoint"]["id"], id.as_str());
    assert_eq!(endpoint["connection"]["id"], discovered.as_str());
    assert_eq!(daemon.stop(), Some(0));
    // Ours now, and the portal's own tag kept.
    let e = Eyes::new(&setup, &azure).get("by-hand").unwrap();
    assert_eq!(tag(&e, "privatelinkd-owner"), Some(OWNER), "{:?}", e.tags);
    assert_eq!(tag(&e, "privatelinkd-name"), Some("orders"), "{:?}", e.tags);
    assert_eq!(tag(&e, "owner"), Some("platform"), "{:?}", e.tags);
}

/// The daemon is killed (SIGKILL) as soon as Resource Manager has answered its PUT, while the
/// operation runs and before any registration; the next daemon finds the endpoint by its tags,
/// makes no second one, and registers it once.
#[test]
fn a_crash_between_the_put_and_the_registration_leaves_no_duplicate() {
    let pls = pls();
    // The operation runs a second: the registration cannot come before the kill.
    let azure = Azure::start(&azure_world(&pls, ""), options(Duration::from_secs(1)));
    let tidb = tidb();
    let _provider = Provider::start(&azure, &tidb, &pls, &[]);
    let setup = setup(&azure, &tidb, None, "100ms");
    setup.write(&format!("{NAME}.yaml"), &document(NAME, "", ""));
    let mut first = Daemon::start(&setup, &[]);
    settle(&first, &azure, &tidb, "the PUT", LIMIT, || {
        count(&azure.requests(), "PUT", NAME, 201) == 1
    });
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    assert_eq!(api_calls(&tidb, "POST").len(), 0, "killed before the POST");
    let operations = azure
        .requests()
        .iter()
        .filter(|l| l.path.contains("/operations/"))
        .count();

    let second = Daemon::start(&setup, &[]);
    settle(&second, &azure, &tidb, "the endpoint Active", LIMIT, || {
        active(&setup, NAME)
    });
    assert_eq!(second.stop(), Some(0));
    let log = azure.requests();
    assert_eq!(count(&log, "PUT", NAME, 201), 1, "no second PUT: {log:#?}");
    assert!(
        !log.iter().any(|l| l.method == "PUT" && l.status != 201),
        "{log:#?}"
    );
    let connected = azure.connected(&pls);
    assert_eq!(connected.len(), 1, "one endpoint: {connected:?}");
    assert_eq!(api_calls(&tidb, "POST").len(), 1, "one registration");
    let live = live_connections(&tidb);
    assert_eq!(live.len(), 1, "one connection: {live:?}");
    assert_eq!(live[0].endpoint_id, endpoint_id(NAME));
    assert_eq!(live[0].state, ConnectionState::Active);
    eprintln!(
        "the first daemon read the operation {operations} time(s) before it was killed; {} Resource Manager requests in all",
        log.len()
    );
}

/// The most requests of each kind (reads, writes, deletes) in any window of `window`.
fn busiest(log: &[Logged], window: Duration) -> BTreeMap<&'static str, usize> {
    let window = window.as_millis() as u64;
    let mut times: BTreeMap<&'static str, Vec<u64>> = BTreeMap::new();
    for l in log {
        let kind = match l.method.as_str() {
            "GET" => "reads",
            "DELETE" => "deletes",
            _ => "writes",
        };
        times.entry(kind).or_default().push(l.at_ms);
    }
    times
        .into_iter()
        .map(|(kind, mut at)| {
            at.sort_unstable();
            let mut most = 0;
            let mut start = 0;
            for end in 0..at.len() {
                while at[end] - at[start] >= window {
                    start += 1;
                }
                most = most.max(end - start + 1);
            }
            (kind, most)
        })
        .collect()
}

#[test]
fn the_daemon_keeps_to_its_azure_rate_limits_and_the_same_buckets_never_throttle_it() {
    // The daemon and the fake alike: reads 4 a second in a bucket of 8, writes (and deletes)
    // 1 a second in a bucket of 2, per subscription; five documents need five PUTs, and five
    // tags written back five GETs and PUTs more.
    const READS: (f64, u32) = (4.0, 8);
    const WRITES: (f64, u32) = (1.0, 2);
    const DOCUMENTS: usize = 5;
    let bucket = |(per_second, size): (f64, u32)| Bucket {
        size: f64::from(size),
        refill_per_sec: per_second,
    };
    let pls = pls();
    let azure = Azure::start(
        &azure_world(&pls, ""),
        Options {
            rate_limits: RateLimits {
                reads: bucket(READS),
                writes: bucket(WRITES),
                deletes: bucket(WRITES),
                global_multiplier: 15.0,
            },
            ..options(Duration::from_millis(300))
        },
    );
    let tidb = tidb();
    let _provider = Provider::start(&azure, &tidb, &pls, &[]);
    let setup = setup(
        &azure,
        &tidb,
        Some(&format!(
            "{{readsPerSecond: {}, readsBurst: {}, writesPerSecond: {}, writesBurst: {}}}",
            READS.0, READS.1, WRITES.0, WRITES.1
        )),
        "1s",
    );
    let names: Vec<String> = (0..DOCUMENTS).map(|i| format!("ep-{i}")).collect();
    for name in &names {
        setup.write(&format!("{name}.yaml"), &document(name, "", ""));
    }
    let started = Instant::now();
    let daemon = Daemon::start(&setup, &[]);
    settle(
        &daemon,
        &azure,
        &tidb,
        "every endpoint Active",
        LIMIT,
        || names.iter().all(|n| active(&setup, n)),
    );
    let converged = started.elapsed();
    // A tag removed from each in the portal: each written back by a GET and a PUT, within the
    // same budget.
    for name in &names {
        let id = endpoint_id(name);
        azure
            .fake
            .portal_remove_tag(&id, "privatelinkd-name")
            .unwrap();
    }
    let removed_at = Instant::now();
    settle(
        &daemon,
        &azure,
        &tidb,
        "every tag written back",
        LIMIT,
        || {
            let log = azure.requests();
            names.iter().all(|n| count(&log, "PUT", n, 200) == 1)
        },
    );
    let written_back = removed_at.elapsed();
    assert_eq!(daemon.stop(), Some(0));
    let log = azure.requests();
    let throttled: Vec<&Logged> = log.iter().filter(|l| l.status == 429).collect();
    assert!(throttled.is_empty(), "throttled: {throttled:#?}");
    for name in &names {
        assert_eq!(count(&log, "PUT", name, 201), 1, "{name}: {log:#?}");
    }
    assert_eq!(api_calls(&tidb, "POST").len(), DOCUMENTS);
    assert_eq!(live_connections(&tidb).len(), DOCUMENTS);
    let mut seen = Vec::new();
    for secs in [1, 2, 5] {
        let most = busiest(&log, Duration::from_secs(secs));
        for (kind, n) in &most {
            let (per_second, burst) = if *kind == "reads" { READS } else { WRITES };
            let allowed = burst as usize + (per_second * secs as f64) as usize;
            assert!(
                *n <= allowed,
                "{n} {kind} within {secs} s, more than {allowed}: {log:#?}"
            );
        }
        seen.push(format!("{secs} s: {most:?}"));
    }
    eprintln!(
        "{DOCUMENTS} endpoints Active after {converged:?}, their tags written back {written_back:?} after the portal removed them; {} Resource Manager requests; busiest windows: {}",
        log.len(),
        seen.join("; ")
    );
}

/// Resource Manager answers a burst of 429s with `Retry-After: 2` (Microsoft.Network's lock
/// on a resource, or the subscription's bucket): the endpoint converges anyway, and no request
/// the daemon sent again came before its `Retry-After` was over.
#[test]
fn a_burst_of_429s_is_waited_out_for_its_retry_after_and_the_endpoint_converges() {
    let pls = pls();
    let azure = Azure::start(&azure_world(&pls, ""), options(Duration::from_millis(100)));
    let tidb = tidb();
    let _provider = Provider::start(&azure, &tidb, &pls, &[]);
    let setup = setup(&azure, &tidb, None, "100ms");
    setup.write(&format!("{NAME}.yaml"), &document(NAME, "", ""));
    azure.fake.inject(Fault::Throttle {
        count: 3,
        retry_after_secs: 2,
        code: None,
    });
    let daemon = Daemon::start(&setup, &[]);
    settle(&daemon, &azure, &tidb, "the endpoint Active", LIMIT, || {
        active(&setup, NAME)
    });
    assert_eq!(daemon.stop(), Some(0));
    let log = azure.requests();
    let throttled: Vec<&Logged> = log.iter().filter(|l| l.status == 429).collect();
    assert_eq!(throttled.len(), 3, "{log:#?}");
    // After each 429, its Retry-After (2 s) passed before the next request of any kind, and
    // that request was the throttled one sent again (the same method on the same URL).
    for (i, t) in log.iter().enumerate().filter(|(_, l)| l.status == 429) {
        let next = log.get(i + 1).expect("a request after the 429");
        assert!(
            next.at_ms >= t.at_ms + 2000,
            "{} {} {} ms after a 429 of {} {}: {log:#?}",
            next.method,
            next.path,
            next.at_ms - t.at_ms,
            t.method,
            t.path
        );
        assert!(
            (&next.method, &next.path, &next.query) == (&t.method, &t.path, &t.query),
            "{log:#?}"
        );
    }
    assert_eq!(count(&log, "PUT", NAME, 201), 1, "{log:#?}");
    assert_eq!(api_calls(&tidb, "POST").len(), 1);
}

/// The endpoint deleted in the portal while its create's operation runs: the operation ends
/// Canceled, which is nothing for a person to fix, and the endpoint is made again at once.
/// Before, the cancellation was kept as the next create's (permanent) error: Failed, and no
/// attempt for 5 minutes.
#[test]
fn an_endpoint_deleted_in_the_portal_while_it_is_created_is_made_again() {
    let pls = pls();
    let azure = Azure::start(&azure_world(&pls, ""), options(Duration::from_secs(1)));
    let tidb = tidb();
    let _provider = Provider::start(&azure, &tidb, &pls, &[]);
    let setup = setup(&azure, &tidb, None, "100ms");
    setup.write(&format!("{NAME}.yaml"), &document(NAME, "", ""));
    let daemon = Daemon::start(&setup, &[]);
    settle(&daemon, &azure, &tidb, "the PUT", LIMIT, || {
        count(&azure.requests(), "PUT", NAME, 201) == 1
    });
    azure.fake.portal_delete(&endpoint_id(NAME)).unwrap();
    settle(
        &daemon,
        &azure,
        &tidb,
        "the endpoint made again, Active",
        LIMIT,
        || active(&setup, NAME),
    );
    assert_eq!(daemon.stop(), Some(0));
    let log = azure.requests();
    assert_eq!(
        count(&log, "PUT", NAME, 201),
        2,
        "made again once: {log:#?}"
    );
    assert_eq!(api_calls(&tidb, "POST").len(), 1, "the new one registered");
    let live = live_connections(&tidb);
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0].state, ConnectionState::Active);
}
