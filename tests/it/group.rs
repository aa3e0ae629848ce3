//! Daemons as a group: three processes with one ownerId against moto_server (EC2 and the
//! DynamoDB lease) and the fake TiDB Cloud server; one acts, kill -9 hands over, and the
//! providers' own request logs show one holder's mutating calls at a time; a leader cut off
//! from DynamoDB alone (a proxy that is cut) stops mutating before another starts. And the
//! stateDir lock that keeps a second daemon off one host's state.
//!
//! `PRIVATELINKD_CAMPAIGN=full` kills the leader 10 times (once in CI) and prints the failover
//! times BENCHMARKS.md quotes.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::moto::{MUTATING, requests};
use crate::common::proxy::Proxy;
use crate::common::real::{Clouds, PRIVATE, holder_of};
use crate::common::*;

fn full() -> bool {
    std::env::var("PRIVATELINKD_CAMPAIGN").is_ok_and(|v| v == "full")
}

/// CLOCK_MONOTONIC in nanoseconds: the clock moto's request log uses (Python's
/// `time.monotonic_ns`), so the two can be compared.
fn monotonic_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the struct; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// A mutating EC2 call in moto's log: (when, holder).
fn ec2_mutations(log: &std::path::Path) -> Vec<(u64, String)> {
    requests(log)
        .into_iter()
        .filter(|r| r.service == "ec2" && MUTATING.contains(&r.action.as_str()))
        .filter_map(|r| Some((r.at, r.app?)))
        .collect()
}

/// The holders in the order they acted: a holder never acts again once another has.
fn assert_one_holder_at_a_time(holders: impl IntoIterator<Item = String>, what: &str) {
    let mut blocks: Vec<String> = Vec::new();
    for h in holders {
        if blocks.last() != Some(&h) {
            assert!(
                !blocks.contains(&h),
                "{what}: {h} acted again after another holder: {blocks:?}"
            );
            blocks.push(h);
        }
    }
}

/// The clouds (moto with its request log, the fake TiDB Cloud server), and `members` daemon
/// set-ups of one group.
struct Group {
    clouds: Clouds,
    setups: Vec<Setup>,
}

impl Group {
    fn new(members: usize) -> Group {
        let clouds = Clouds::start();
        let election = clouds.leader_election("privatelinkd-leases");
        let setups = (0..members).map(|_| clouds.setup(&election)).collect();
        Group { clouds, setups }
    }

    /// The same endpoint file in every member's checkout.
    fn write_endpoints(&self, range: std::ops::Range<usize>) {
        for i in range {
            let doc = self.clouds.document(&format!("ep-{i:02}"));
            for s in &self.setups {
                s.write(&format!("ep-{i:02}.yaml"), &doc);
            }
        }
    }

    /// Live VPC endpoints in moto, by their name tag (a name twice is a duplicate).
    fn live_endpoint_names(&self) -> Vec<String> {
        self.clouds
            .live_endpoints()
            .into_iter()
            .filter_map(|(_, tags)| {
                tags.into_iter()
                    .find(|(k, _)| k == "privatelinkd.io/name")
                    .map(|(_, v)| v)
            })
            .collect()
    }
}

fn leader_index(daemons: &[Option<Daemon>]) -> Option<usize> {
    let leaders: Vec<usize> = daemons
        .iter()
        .enumerate()
        .filter(|(_, d)| {
            d.as_ref()
                .is_some_and(|d| d.metric("privatelinkd_leader").unwrap_or(0.0) == 1.0)
        })
        .map(|(i, _)| i)
        .collect();
    assert!(leaders.len() <= 1, "two leaders: {leaders:?}");
    leaders.first().copied()
}

fn all_active(setup: &Setup, n: usize) -> bool {
    (0..n).all(|i| {
        let stem = format!("ep-{i:02}");
        setup.phase(&stem, &stem).as_deref() == Some("Active")
    })
}

#[test]
fn three_daemons_one_leader_kill_nine_hands_over_and_nothing_is_duplicated() {
    let group = Group::new(3);
    group.write_endpoints(0..20);
    let mut daemons: Vec<Option<Daemon>> = group
        .setups
        .iter()
        .map(|s| Some(Daemon::start(s, &[])))
        .collect();
    let mut leader = None;
    wait_for("one leader", Duration::from_secs(30), || {
        leader = leader_index(&daemons);
        leader.is_some()
    });
    let mut leader = leader.unwrap();
    wait_for("20 Active", Duration::from_secs(90), || {
        all_active(&group.setups[leader], 20)
    });
    let mut holder = holder_of(daemons[leader].as_ref().unwrap());
    // Standbys say who leads instead of phases.
    for (i, s) in group
        .setups
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != leader)
    {
        wait_for("a standby's status", Duration::from_secs(10), || {
            s.status("ep-00")
                .and_then(|st| st["standby"].as_str().map(String::from))
                == Some(format!("standby (leader: {holder})"))
        });
        assert_eq!(
            daemons[i]
                .as_ref()
                .unwrap()
                .metric("privatelinkd_config_files"),
            Some(20.0),
            "a standby keeps validating its files"
        );
    }
    let mut names = group.live_endpoint_names();
    names.sort();
    assert_eq!(names.len(), 20, "{names:?}");

    // kill -9 the leader (while the next files arrive), as often as the campaign asks.
    let kills = if full() { 10 } else { 1 };
    let mut documents = 20;
    let mut failovers = Vec::new();
    for round in 0..kills {
        let killed_at = monotonic_ns();
        let mut dead = daemons[leader].take().unwrap();
        dead.child.kill().unwrap();
        dead.child.wait().unwrap();
        let added = if round == 0 { 10 } else { 1 };
        group.write_endpoints(documents..documents + added);
        documents += added;
        // Its host comes back (a new process: a new holder) and stands by.
        daemons[leader] = Some(Daemon::start(&group.setups[leader], &[]));
        let mut next = None;
        wait_for("a new leader", Duration::from_secs(30), || {
            next = leader_index(&daemons);
            next.is_some_and(|n| holder_of(daemons[n].as_ref().unwrap()) != holder)
        });
        leader = next.unwrap();
        let new_holder = holder_of(daemons[leader].as_ref().unwrap());
        holder = new_holder.clone();
        wait_for("every document Active", Duration::from_secs(90), || {
            all_active(&group.setups[leader], documents)
        });
        // Lease free (the kill) -> the new leader's first mutating call, in moto's log.
        let first = ec2_mutations(&group.clouds.moto_log())
            .into_iter()
            .find(|(at, h)| *at > killed_at && *h == new_holder)
            .map(|(at, _)| Duration::from_nanos(at - killed_at));
        if let Some(first) = first {
            failovers.push(first);
        }
    }
    println!("failover (kill -9 -> new leader's first mutating call): {failovers:?}");

    // Exactly one endpoint and one connection per document.
    let mut names = group.live_endpoint_names();
    names.sort();
    let unique: BTreeSet<&String> = names.iter().collect();
    assert_eq!(names.len(), documents, "{names:?}");
    assert_eq!(unique.len(), documents, "duplicates: {names:?}");
    let connections = group.clouds.fake.sim.all_connections();
    assert_eq!(connections.len(), documents);

    // The providers' logs: one holder's mutating calls at a time.
    let moto = ec2_mutations(&group.clouds.moto_log());
    assert!(!moto.is_empty());
    assert_one_holder_at_a_time(moto.into_iter().map(|(_, h)| h), "moto");
    let fake = group
        .clouds
        .fake
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| r.user_agent);
    assert_one_holder_at_a_time(fake, "the fake TiDB Cloud server");
    for d in daemons.iter().flatten() {
        assert!(!d.log().contains(PRIVATE), "the key in a log");
    }

    // SIGTERM releases the lease: a standby leads within renewEvery (1s here), not a lease.
    let stopped = std::time::Instant::now();
    assert_eq!(daemons[leader].take().unwrap().stop(), Some(0));
    wait_for("a leader after SIGTERM", Duration::from_secs(3), || {
        leader_index(&daemons).is_some()
    });
    println!("SIGTERM -> a new leader: {:?}", stopped.elapsed());
}

#[test]
fn a_second_daemon_on_the_same_state_dir_exits_naming_the_first() {
    let setup = Setup::new(&world(1000, false), "");
    setup.write(
        "orders.yaml",
        &endpoint("orders", CLUSTER, &[SUBNET_AZ1], ""),
    );
    let first = Daemon::start(&setup, &[]);
    first.addr();
    let second = Daemon::start(&setup, &[]);
    let (code, log) = second.wait(Duration::from_secs(30));
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains(&format!("another privatelinkd (pid {})", first.child.id())),
        "{log}"
    );
    assert_eq!(first.stop(), Some(0));
}

#[test]
fn the_two_host_example_loads_and_a_renewal_slower_than_half_a_lease_is_refused_where_written() {
    let path = std::path::Path::new("examples/ha/privatelinkd.yaml");
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("CHANGE-ME-PUBLIC-KEY", "PUBKEY01");
    let settings = privatelinkd::settings::Settings::parse(path, &text).unwrap();
    let election = settings.file.leader_election.unwrap();
    assert_eq!(election.dynamodb.table, "privatelinkd-leases");
    assert_eq!(election.lease_duration.0, Duration::from_secs(15));
    let text = "endpointsDir: ./e\nownerId: a\nleaderElection:\n  dynamodb: {table: t, region: us-east-1}\n  leaseDuration: 15s\n  renewEvery: 10s\n";
    let problems =
        privatelinkd::settings::Settings::parse(std::path::Path::new("c.yaml"), text).unwrap_err();
    let text = problems[0].to_string();
    assert!(
        text.starts_with("c.yaml:6:3: error: leaderElection.renewEvery (10s) must be at most half"),
        "{text}"
    );
}

#[test]
fn a_leader_cut_off_from_dynamodb_stops_mutating_before_another_takes_over() {
    let group = Group::new(2);
    // Member 0 reaches DynamoDB (only DynamoDB) through a proxy that will be cut.
    let proxy = Proxy::to(&group.clouds.moto.url);
    let config = std::fs::read_to_string(group.setups[0].config()).unwrap();
    let config = config.replacen(
        &format!(
            "region: us-east-1, endpointUrl: \"{}\"}}",
            group.clouds.moto.url
        ),
        &format!("region: us-east-1, endpointUrl: \"{}\"}}", proxy.addr),
        1,
    );
    assert!(config.contains(&proxy.addr), "{config}");
    std::fs::write(group.setups[0].config(), config).unwrap();
    group.write_endpoints(0..10);
    let a = Daemon::start(&group.setups[0], &[]);
    wait_for("a leads", Duration::from_secs(30), || {
        a.metric("privatelinkd_leader") == Some(1.0)
    });
    let b = Daemon::start(&group.setups[1], &[]);
    wait_for("b stands by", Duration::from_secs(30), || {
        b.metric("privatelinkd_leader") == Some(0.0)
    });
    wait_for("10 Active", Duration::from_secs(60), || {
        all_active(&group.setups[0], 10)
    });
    let a_holder = holder_of(&a);
    let b_holder = holder_of(&b);

    // The partition, while there is work to do: a may still act on it while its lease is
    // valid on its own clock (less the margin)...
    proxy.cut();
    let cut = monotonic_ns();
    group.write_endpoints(10..15);
    wait_for("a says it stopped", Duration::from_secs(10), || {
        a.metric("privatelinkd_leader") == Some(0.0)
    });
    // ...and what comes after it stopped is b's to do.
    group.write_endpoints(15..20);
    wait_for(
        "b leads and all 20 are Active",
        Duration::from_secs(60),
        || b.metric("privatelinkd_leader") == Some(1.0) && all_active(&group.setups[1], 20),
    );
    assert!(
        a.metric("privatelinkd_lease_renewal_failures_total")
            .unwrap()
            >= 1.0
    );

    // In moto's log: nothing of a's after b's first mutating call, and nothing of a's later
    // than its lease (3 s) after the cut.
    let calls = ec2_mutations(&group.clouds.moto_log());
    let b_first = calls
        .iter()
        .find(|(_, h)| *h == b_holder)
        .map(|(at, _)| *at)
        .expect("b made the new endpoints");
    let a_last = calls
        .iter()
        .filter(|(_, h)| *h == a_holder)
        .map(|(at, _)| *at)
        .max()
        .unwrap();
    assert!(a_last < b_first, "a mutated after b started");
    assert!(
        a_last < cut + 3_000_000_000,
        "a mutated {} ms after the cut",
        (a_last.saturating_sub(cut)) / 1_000_000
    );
    assert_one_holder_at_a_time(calls.into_iter().map(|(_, h)| h), "moto");
    let mut names = group.live_endpoint_names();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 20);
    assert_eq!(group.clouds.fake.sim.all_connections().len(), 20);
}
