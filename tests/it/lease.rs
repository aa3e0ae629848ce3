//! Leader election against a real DynamoDB implementation (moto_server, on loopback): one
//! leader among several electors, hand-over on release, fencing when DynamoDB is cut off, and
//! the failures that must never make a leader.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::moto::Moto;
use crate::common::proxy::Proxy;
use crate::common::*;
use privatelinkd::cloud::fence::Fence;
use privatelinkd::lease::{Election, ElectionConfig, Role, StoreConfig};
use privatelinkd::metrics::Metrics;

const LEASE: Duration = Duration::from_secs(2);
const RENEW: Duration = Duration::from_millis(500);

fn config(url: &str, holder: &str, create_table: bool) -> ElectionConfig {
    ElectionConfig {
        owner_id: "group-a".into(),
        holder: holder.into(),
        lease_duration: LEASE,
        renew_every: RENEW,
        store: StoreConfig {
            table: "privatelinkd-leases".into(),
            region: "us-east-1".into(),
            profile: None,
            role: None,
            endpoint_url: Some(url.into()),
            create_table,
            app_name: holder.into(),
        },
    }
}

struct Member {
    election: Election,
    metrics: Arc<Metrics>,
}

impl Member {
    fn start(url: &str, holder: &str) -> Member {
        Member::start_with(config(url, holder, true))
    }

    fn start_with(config: ElectionConfig) -> Member {
        let metrics = Arc::new(Metrics::new());
        let election = Election::start(config, Fence::default(), metrics.clone()).unwrap();
        Member { election, metrics }
    }

    fn role(&self) -> Role {
        self.election.role.borrow().clone()
    }

    fn leads(&self) -> bool {
        self.role().is_leader()
    }

    fn metric(&self, name: &str) -> f64 {
        self.metrics
            .prometheus_text()
            .lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

#[test]
fn one_leader_among_three_and_a_release_hands_over_within_renew_every() {
    aws_test_credentials();
    let moto = Moto::start();
    let members: Vec<Member> = ["a", "b", "c"]
        .iter()
        .map(|h| Member::start(&moto.url, &format!("host-{h}.1.000000")))
        .collect();
    wait_for("a leader", Duration::from_secs(20), || {
        members.iter().any(Member::leads)
    });
    // For a while (several renewals): never two leaders, never two open fences.
    let until = Instant::now() + 4 * RENEW;
    while Instant::now() < until {
        let leaders = members.iter().filter(|m| m.leads()).count();
        let open = members
            .iter()
            .filter(|m| m.election.fence.is_open())
            .count();
        assert!(
            leaders <= 1 && open <= 1,
            "{leaders} leaders, {open} open fences"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut members = members;
    let leader = members.iter().position(Member::leads).unwrap();
    let holder = members[leader].election.holder.clone();
    for m in members.iter().filter(|m| !m.leads()) {
        assert_eq!(
            m.role(),
            Role::Standby {
                leader: Some(holder.clone())
            }
        );
        assert_eq!(m.metric("privatelinkd_leader{"), 0.0);
    }
    assert_eq!(members[leader].metric("privatelinkd_leader{"), 1.0);
    // SIGTERM's path: the leader releases; a standby leads within renewEvery (and a look).
    let released = Instant::now();
    members.remove(leader).election.release();
    wait_for("a new leader", RENEW * 2 + Duration::from_secs(1), || {
        members.iter().any(Member::leads)
    });
    let took = released.elapsed();
    assert!(
        took < LEASE,
        "hand-over took {took:?}: the release was not seen"
    );
    assert_eq!(members.iter().filter(|m| m.leads()).count(), 1);
}

#[test]
fn a_leader_cut_off_from_dynamodb_stops_acting_before_another_takes_over() {
    aws_test_credentials();
    let moto = Moto::start();
    let proxy = Proxy::to(&moto.url);
    let a = Member::start(&proxy.addr, "host-a.1.000000");
    wait_for("a leads", Duration::from_secs(20), || a.leads());
    let b = Member::start(&moto.url, "host-b.2.000000");
    wait_for("b stands by", Duration::from_secs(20), || {
        b.role()
            == Role::Standby {
                leader: Some("host-a.1.000000".into()),
            }
    });
    proxy.cut();
    let cut = Instant::now();
    // Sample both sides: when a's fence closed, when b started leading.
    let (mut a_closed, mut b_leads) = (None, None);
    while b_leads.is_none() && cut.elapsed() < Duration::from_secs(20) {
        if a_closed.is_none() && !a.election.fence.is_open() {
            a_closed = Some(cut.elapsed());
        }
        if b.leads() {
            b_leads = Some(cut.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let a_closed = a_closed.expect("the cut-off leader never stopped acting");
    let b_leads = b_leads.expect("no takeover");
    println!(
        "cut off: the leader stopped acting after {a_closed:?}, the standby led after {b_leads:?}"
    );
    assert!(
        a_closed < b_leads,
        "a stopped acting at {a_closed:?}, after b took over at {b_leads:?}"
    );
    // a stops no later than its validity minus the margin; b waits a whole lease.
    assert!(a_closed <= LEASE, "{a_closed:?}");
    assert!(b_leads >= LEASE - RENEW, "{b_leads:?}");
    assert!(!a.leads(), "a says it still leads");
    assert!(a.metric("privatelinkd_lease_renewal_failures_total") >= 1.0);
    assert!(a.metric("privatelinkd_leader_transitions_total") >= 2.0);
    // The partition heals and b leaves: a leads again, in a new term (a daemon that acts
    // in a new term observes afresh, whatever it saw in its last one).
    proxy.heal();
    b.election.release();
    wait_for("a leads again", Duration::from_secs(20), || a.leads());
    assert_eq!(a.role(), Role::Leader { term: 2 });
}

#[test]
fn a_missing_table_or_an_unreachable_dynamodb_never_makes_a_leader() {
    aws_test_credentials();
    let moto = Moto::start();
    let no_table = Member::start_with(config(&moto.url, "host-a.1.000000", false));
    // Nothing listens on this port.
    let port = free_port();
    let unreachable = Member::start(&format!("http://127.0.0.1:{port}"), "host-b.2.000000");
    wait_for("failures counted", Duration::from_secs(20), || {
        no_table.metric("privatelinkd_lease_renewal_failures_total") >= 2.0
            && unreachable.metric("privatelinkd_lease_renewal_failures_total") >= 2.0
    });
    for m in [&no_table, &unreachable] {
        assert_eq!(m.role(), Role::Standby { leader: None });
        assert!(!m.election.fence.is_open());
    }
}
