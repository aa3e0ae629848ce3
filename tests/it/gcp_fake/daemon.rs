//! The daemon binary with `cloud: {tidbCloud: simulated, aws: simulated, gcp: real}`: its real
//! Compute Engine client against the fake Compute Engine served in this process (on a thread of
//! its own), TiDB Cloud simulated (it takes any forwarding rule's name). End to end: a Private
//! Service Connect endpoint created and Active, a rule deleted in the console made again, a
//! removed document's rule then address deleted, and the configured `gcp.rateLimits` kept to
//! (the fake's per-project quota set to the same numbers never answers 403).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fake_gcp_compute::{Fake, Logged, Options, PscStatus, RateLimits, Timing, World};
use privatelinkd::cloud::TidbCloud;
use privatelinkd::cloud::gcp::{Gcp, GcpClient, GcpConfig, GcpCredentials};

use super::{PROJECT, REGION, scope};
use crate::common::*;

/// The simulated TiDB Cloud's cluster on Google Cloud, and its node group.
const GCP_CLUSTER: &str = "1379661944646415555";
const NODE_GROUP: &str = "1379661944646415556";
/// The document's name, so the forwarding rule's and the address's.
const NAME: &str = "analytics-gcp";
/// `Setup`'s ownerId (lowercase: written as it is in the labels).
const OWNER: &str = "test-host";

/// TiDB Cloud, simulated: one cluster on Google Cloud; a simulated minute is 0.6 real seconds.
fn sim_world_text() -> String {
    format!(
        r#"clusters:
  - id: "{GCP_CLUSTER}"
    projectId: "1372813089454548012"
    name: analytics
    region: {REGION}
    cloudProvider: gcp
    port: 4000
    nodeGroups:
      - {{id: "{NODE_GROUP}", default: true}}
timing: {{serviceCreate: 0s, accept: 1s, activate: 2s, privateDns: 1s, delete: 1s}}
timeScale: 100
"#
    )
}

/// The service attachment the simulated TiDB Cloud names for the cluster's node group (what
/// the daemon will target): asked of the simulation itself.
fn attachment() -> String {
    let sim = sim::cloud_of(&sim_world_text());
    runtime()
        .block_on(sim.get_service(GCP_CLUSTER, NODE_GROUP))
        .unwrap()
        .name
}

/// The fake Compute Engine's world: the consumer project's network and subnetwork, and the
/// simulated cluster's service attachment, accepting automatically (as TiDB Cloud does for an
/// allowed project).
fn compute_world(attachment: &str) -> World {
    World::parse(&format!(
        r#"projects:
  - id: {PROJECT}
    networks:
      - name: prod-vpc
        subnetworks:
          - {{name: prod-us-central1, region: {REGION}, ipCidrRange: 10.8.0.0/24}}
serviceAttachments:
  - {{uri: {attachment}, connectionPreference: ACCEPT_AUTOMATIC}}
"#
    ))
    .unwrap()
}

/// Operations PENDING 20 ms, then RUNNING 50 ms.
fn fast() -> Options {
    Options {
        timing: Timing {
            pending: Duration::from_millis(20),
            running: Duration::from_millis(50),
        },
        ..Options::default()
    }
}

/// The fake Compute Engine on a loopback port, served from a thread of its own (the daemon is
/// another process; the test waits with blocking sleeps); stopped when dropped.
struct Compute {
    fake: Fake,
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Compute {
    fn start(world: &World, options: Options) -> Compute {
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
        Compute {
            fake,
            url,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The API requests so far (the admin calls the test makes are not in it).
    fn requests(&self) -> Vec<Logged> {
        self.fake.requests()
    }

    /// Our endpoint as its producer sees it: (IP, connection status), if the rule exists.
    fn endpoint(&self, attachment: &str) -> Option<(String, PscStatus)> {
        self.fake
            .psc_endpoints(attachment)
            .unwrap()
            .into_iter()
            .find(|e| e.name == NAME)
            .map(|e| (e.ip_address, e.psc_connection_status))
    }
}

impl Drop for Compute {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The daemon's set-up: TiDB Cloud and AWS simulated, Google Cloud real at the fake, with
/// `rate_limits` (a `gcp.rateLimits` flow mapping, or none for the defaults); settled
/// endpoints looked at every 2 s (for the console's drift), unsettled ones every
/// `settle_interval` (also how long a pass's actions wait for a budget).
fn setup(compute: &Compute, rate_limits: Option<&str>, settle_interval: &str) -> Setup {
    let limits = rate_limits
        .map(|r| format!(", rateLimits: {r}"))
        .unwrap_or_default();
    let setup = Setup::new(
        &sim_world_text(),
        &format!(
            "cloud: {{tidbCloud: simulated, aws: simulated, gcp: real}}\ngcp: {{endpointUrl: \"{}\", credentials: anonymous{limits}}}\n",
            compute.url
        ),
    );
    setup.edit_config(|c| {
        c.replace("interval: 60s", "interval: 2s").replace(
            "settleInterval: 100ms",
            &format!("settleInterval: {settle_interval}"),
        )
    });
    // `approve-deletions` finds the daemon through the config's address.
    setup.listen_on_free_port();
    setup.write(
        &format!("{NAME}.yaml"),
        &format!(
            "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\nmetadata: {{name: {NAME}}}\nspec:\n  tidbCloud: {{clusterId: \"{GCP_CLUSTER}\"}}\n  gcp:\n    project: {PROJECT}\n    region: {REGION}\n    network: prod-vpc\n    subnetwork: prod-us-central1\n  deletionPolicy: Delete\n"
        ),
    );
    setup
}

/// Polls `check` for up to 60 s; on a timeout, fails with the daemon's log and the fake's.
fn settle(daemon: &Daemon, compute: &Compute, what: &str, check: impl FnMut() -> bool) {
    if !eventually(Duration::from_secs(60), check) {
        let log: Vec<String> = compute
            .requests()
            .iter()
            .map(|l| {
                format!(
                    "{:>6} {} {} {} {}",
                    l.at_ms, l.status, l.method, l.path, l.query
                )
            })
            .collect();
        panic!(
            "timed out waiting for {what}; the daemon said\n{}\nCompute Engine was asked\n{}",
            daemon.log(),
            log.join("\n")
        );
    }
}

fn active(setup: &Setup) -> bool {
    setup.phase(NAME, NAME).as_deref() == Some("Active")
}

const BASE: &str = "/compute/v1/projects/my-project/regions/us-central1";

/// How many `method` requests on exactly `path` (under the region) the log holds.
fn count(log: &[Logged], method: &str, path: &str) -> usize {
    let full = format!("{BASE}/{path}");
    log.iter()
        .filter(|l| l.method == method && l.path == full)
        .count()
}

/// The real client, as the test's own eyes on the fake (after the log has been read: its
/// requests are logged like the daemon's).
fn client(compute: &Compute) -> GcpClient {
    runtime()
        .block_on(GcpClient::new(&GcpConfig {
            endpoint_url: Some(compute.url.clone()),
            credentials: GcpCredentials::Anonymous,
        }))
        .unwrap()
}

fn label<'a>(labels: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    labels.get(key).map(String::as_str)
}

#[test]
fn the_daemon_creates_a_psc_endpoint_with_the_real_client_and_it_goes_active() {
    let attachment = attachment();
    let compute = Compute::start(&compute_world(&attachment), fast());
    let setup = setup(&compute, None, "100ms");
    let started = Instant::now();
    let daemon = Daemon::start(&setup, &[]);
    settle(&daemon, &compute, "the endpoint Active", || active(&setup));
    let to_active = started.elapsed();
    let log = compute.requests();
    eprintln!(
        "Active after {to_active:?}, {} requests to Compute Engine",
        log.len()
    );

    let status = setup.status(NAME).unwrap();
    let endpoint = &status["endpoints"][0];
    assert_eq!(endpoint["phase"], "Active", "{status:#}");
    let psc = &endpoint["pscEndpoint"];
    assert_eq!(psc["name"], NAME, "{status:#}");
    assert_eq!(psc["project"], PROJECT);
    assert_eq!(psc["region"], REGION);
    assert_eq!(psc["pscConnectionStatus"], "ACCEPTED", "{status:#}");
    let ip = psc["ipAddress"].as_str().expect("an ipAddress").to_string();
    assert!(ip.starts_with("10.8.0."), "in the subnetwork: {ip}");
    assert_eq!(
        compute.endpoint(&attachment),
        Some((ip, PscStatus::Accepted)),
        "the producer sees the status file's endpoint"
    );
    assert_eq!(endpoint["connection"]["state"], "ACTIVE", "{status:#}");

    assert_eq!(count(&log, "POST", "addresses"), 1, "{log:#?}");
    assert_eq!(count(&log, "POST", "forwardingRules"), 1, "{log:#?}");
    assert!(
        log.iter().all(|l| l.status != 401 && l.status < 500),
        "the anonymous token is taken, nothing fails: {log:#?}"
    );

    // Both halves carry the daemon's marks.
    let client = client(&compute);
    let (rule, address) = runtime().block_on(async {
        let rule = client.get_forwarding_rule(&scope(), NAME).await.unwrap();
        let address = client.get_address(&scope(), NAME).await.unwrap();
        (rule.unwrap(), address.unwrap())
    });
    assert_eq!(rule.target, attachment);
    assert_eq!(rule.network, "prod-vpc");
    assert_eq!(rule.ip_address, address.address);
    for labels in [&rule.labels, &address.labels] {
        assert_eq!(
            label(labels, "privatelinkd-owner"),
            Some(OWNER),
            "{labels:?}"
        );
        assert_eq!(label(labels, "privatelinkd-name"), Some(NAME), "{labels:?}");
    }
    assert_eq!(daemon.stop(), Some(0));
}

/// What `lifecycle` saw.
struct Run {
    /// The fake's whole request log (nothing of the test's own in it).
    log: Vec<Logged>,
    to_active: Duration,
    to_recreated: Duration,
    to_deleted: Duration,
}

/// Create, Active; the rule deleted in the console, made again, Active; the document removed,
/// the rule then the address deleted, nothing of ours left. The fake answers with `options`;
/// the daemon keeps to `rate_limits`, looking again every `settle_interval` while unsettled.
fn lifecycle(options: Options, rate_limits: Option<&str>, settle_interval: &str) -> Run {
    let attachment = attachment();
    let compute = Compute::start(&compute_world(&attachment), options);
    let setup = setup(&compute, rate_limits, settle_interval);
    let started = Instant::now();
    let daemon = Daemon::start(&setup, &[]);
    settle(&daemon, &compute, "the endpoint Active", || active(&setup));
    let to_active = started.elapsed();
    let before = compute.requests();
    assert_eq!(count(&before, "POST", "addresses"), 1, "{before:#?}");
    assert_eq!(count(&before, "POST", "forwardingRules"), 1, "{before:#?}");
    let (first_ip, _) = compute.endpoint(&attachment).unwrap();

    // Drift: someone deletes the forwarding rule in the console (the address stays).
    let rule = format!("projects/{PROJECT}/regions/{REGION}/forwardingRules/{NAME}");
    compute.fake.console_delete(&rule).unwrap();
    assert_eq!(compute.endpoint(&attachment), None);
    let deleted_at = Instant::now();
    settle(&daemon, &compute, "the rule made again, and Active", || {
        count(&compute.requests(), "POST", "forwardingRules") == 2
            && compute
                .endpoint(&attachment)
                .is_some_and(|(_, s)| s == PscStatus::Accepted)
            && active(&setup)
    });
    let to_recreated = deleted_at.elapsed();
    let (ip, _) = compute.endpoint(&attachment).unwrap();
    assert_eq!(ip, first_ip, "the address kept is used again");
    let status = setup.status(NAME).unwrap();
    assert_eq!(
        status["endpoints"][0]["pscEndpoint"]["pscConnectionStatus"], "ACCEPTED",
        "{status:#}"
    );
    let after = compute.requests();
    assert_eq!(
        count(&after, "POST", "addresses"),
        1,
        "the address is not reserved again: {after:#?}"
    );
    assert_eq!(count(&after, "POST", "forwardingRules"), 2, "{after:#?}");

    // Removal. The directory is empty then: the mass-deletion guard holds the departure back
    // (nothing is deleted) until a person approves it.
    setup.remove(&format!("{NAME}.yaml"));
    let removed_at = Instant::now();
    let rule_path = format!("{BASE}/forwardingRules/{NAME}");
    let address_path = format!("{BASE}/addresses/{NAME}");
    let deletes = || -> Vec<String> {
        compute
            .requests()
            .into_iter()
            .filter(|l| l.method == "DELETE" && l.status == 200)
            .map(|l| l.path)
            .collect()
    };
    settle(&daemon, &compute, "the departure held back", || {
        setup.status(NAME).is_some_and(|s| {
            s["endpoints"][0]["message"]
                .as_str()
                .unwrap_or("")
                .contains("approve-deletions")
        })
    });
    assert_eq!(
        deletes(),
        Vec::<String>::new(),
        "held back: nothing deleted"
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
    // Then the rule, and (its deletion seen done) the address.
    settle(
        &daemon,
        &compute,
        "the rule and the address deleted",
        || deletes().contains(&address_path) && compute.endpoint(&attachment).is_none(),
    );
    let to_deleted = removed_at.elapsed();
    assert_eq!(
        deletes(),
        [rule_path, address_path],
        "rule first, once each"
    );
    // Let the address's operation end and a pass look again, then stop the daemon: the log
    // is whole, and the test's own look below is not in it.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(daemon.stop(), Some(0));
    let log = compute.requests();

    let client = client(&compute);
    let owner = ("privatelinkd-owner", OWNER);
    let (rules, addresses) = runtime().block_on(async {
        let rules = client.list_forwarding_rules(&scope(), owner, None).await;
        let addresses = client.list_addresses(&scope(), owner, None).await;
        (rules.unwrap().items, addresses.unwrap().items)
    });
    assert!(rules.is_empty(), "no rule with our labels: {rules:?}");
    assert!(
        addresses.is_empty(),
        "no address with our labels: {addresses:?}"
    );
    Run {
        log,
        to_active,
        to_recreated,
        to_deleted,
    }
}

#[test]
fn a_rule_deleted_in_the_console_is_made_again_and_a_removed_document_deletes_rule_then_address() {
    let run = lifecycle(fast(), None, "100ms");
    eprintln!(
        "Active after {:?}, made again {:?} after the console's delete, deleted {:?} after the document went; {} requests",
        run.to_active,
        run.to_recreated,
        run.to_deleted,
        run.log.len()
    );
}

/// Which of Compute Engine's per-project rate quota groups a request counts against.
fn group(l: &Logged) -> &'static str {
    match l.method.as_str() {
        "POST" | "DELETE" | "PATCH" | "PUT" => "writes",
        _ if l.path.contains("/operations") => "operation reads",
        _ => "reads",
    }
}

/// The most requests of each group in any window of `window` (by the fake's `atMs`).
fn busiest(log: &[Logged], window: Duration) -> BTreeMap<&'static str, usize> {
    let window = window.as_millis() as u64;
    let mut times: BTreeMap<&'static str, Vec<u64>> = BTreeMap::new();
    for l in log {
        times.entry(group(l)).or_default().push(l.at_ms);
    }
    times
        .into_iter()
        .map(|(g, mut at)| {
            at.sort_unstable();
            let mut most = 0;
            let mut start = 0;
            for end in 0..at.len() {
                while at[end] - at[start] >= window {
                    start += 1;
                }
                most = most.max(end - start + 1);
            }
            (g, most)
        })
        .collect()
}

#[test]
fn the_daemon_keeps_to_its_gcp_rate_limits_and_the_same_quota_never_throttles_it() {
    // The daemon: 2 a second, bursts of 5, per project and quota group. The fake: Google's
    // fixed-window quota with the same numbers over a 10 s window (5 + 2 x 10 = 25 per group),
    // short enough to bind within the test.
    const PER_SECOND: u64 = 2;
    const BURST: u64 = 5;
    let window = Duration::from_secs(10);
    let quota = (BURST + PER_SECOND * window.as_secs()) as u32;
    let options = Options {
        rate_limits: RateLimits {
            reads: Some(quota),
            writes: Some(quota),
            operation_reads: Some(quota),
            window,
            status: 403,
        },
        ..fast()
    };
    // A pass's actions wait for a budget at most `settleInterval`: 1 s, longer than a token
    // takes (0.5 s). (Shorter works too: see the test below.)
    let run = lifecycle(
        options,
        Some(&format!("{{perSecond: {PER_SECOND}, burst: {BURST}}}")),
        "1s",
    );
    let log = &run.log;
    let throttled: Vec<&Logged> = log
        .iter()
        .filter(|l| l.status == 403 || l.status == 429)
        .collect();
    assert!(throttled.is_empty(), "rateLimitExceeded: {throttled:#?}");
    let mut seen = Vec::new();
    for secs in [1, 5, 10, 60] {
        let most = busiest(log, Duration::from_secs(secs));
        // A token bucket lets through at most its burst and its rate over any window.
        let allowed = (BURST + PER_SECOND * secs) as usize;
        for (g, n) in &most {
            assert!(
                *n <= allowed,
                "{n} {g} within {secs} s, more than {allowed}: {log:#?}"
            );
        }
        seen.push(format!("{secs} s: {most:?} (allowed {allowed})"));
    }
    let span = log.last().map_or(0, |l| l.at_ms) - log.first().map_or(0, |l| l.at_ms);
    eprintln!(
        "{} requests over {span} ms; busiest windows: {}; Active after {:?}, made again {:?} after the console's delete, deleted {:?} after the document went",
        log.len(),
        seen.join("; "),
        run.to_active,
        run.to_recreated,
        run.to_deleted
    );
}

#[test]
fn a_gcp_budget_slower_than_the_settle_interval_still_lets_the_create_through() {
    let attachment = attachment();
    let compute = Compute::start(&compute_world(&attachment), fast());
    let setup = setup(&compute, Some("{perSecond: 2, burst: 5}"), "100ms");
    let daemon = Daemon::start(&setup, &[]);
    // Ample: with its 5-token burst and 2 a second, the create needs a few seconds.
    let created = eventually(Duration::from_secs(20), || {
        count(&compute.requests(), "POST", "addresses") == 1
    });
    let log = compute.requests();
    let lists = log
        .iter()
        .filter(|l| {
            l.method == "GET"
                && (l.path.ends_with("/addresses") || l.path.ends_with("/forwardingRules"))
        })
        .count();
    assert!(
        created,
        "no address reserved within 20 s: {} requests ({lists} lists, {} POST), phase {:?}; the daemon said\n{}",
        log.len(),
        log.iter().filter(|l| l.method == "POST").count(),
        setup.phase(NAME, NAME),
        daemon.log()
    );
    settle(&daemon, &compute, "the endpoint Active", || active(&setup));
}
