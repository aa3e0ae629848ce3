//! Azure's `PrivateDnsReady`: TiDB Cloud publishes a public DNS record for each accepted
//! endpoint (`<name>-<hash>.<serviceDnsName>`) that resolves to the endpoint's private IP, so
//! no Azure Private DNS zone is needed (TiDB Cloud's Azure guide). Whether it does is looked
//! up from this host.
//!
//! Never in a pass's way: a lookup can take seconds (no answer from the resolver), and a pass
//! over thousands of endpoints cannot wait for each. A pass reads the latest answer and asks
//! for a new one when it is due; the lookups run on tasks of their own, a bounded number at a
//! time, and their answers are read by a later pass (as the reachability probe's are). A name
//! seen resolving to its endpoint's IP is trusted for ten minutes; any other answer is asked
//! again after a minute, then two, four... up to ten (a zone that does not resolve from this
//! host is not asked a thousand times a minute).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// How long a lookup may take before it counts as not resolving.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a name seen resolving to its endpoint's IP is taken to still do so.
const KEEP: Duration = Duration::from_secs(600);
/// How long any other answer stands before the name is asked again (doubling with each
/// answer in a row that is not the endpoint's IP, up to `KEEP`).
const RETRY: Duration = Duration::from_secs(60);
/// Lookups running at once (the resolver's threads are shared with everything else).
const IN_FLIGHT: usize = 64;

/// What a lookup of an endpoint's host found.
pub type DnsAnswer = Result<Vec<IpAddr>, String>;

type Key = (String, u16, String);

#[derive(Debug, Default)]
struct Answers {
    /// The latest answer for (host, port, IP), when it is due again, and how many answers
    /// in a row were not the endpoint's IP.
    known: HashMap<Key, (DnsAnswer, Instant, u32)>,
    running: HashSet<Key>,
}

/// The latest lookups of Azure endpoints' public names; clones share them.
#[derive(Debug, Clone, Default)]
pub struct AzureDns {
    answers: Arc<Mutex<Answers>>,
}

impl AzureDns {
    fn lock(&self) -> std::sync::MutexGuard<'_, Answers> {
        self.answers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The latest answer for `host` (`None` until the first lookup is in), starting a new
    /// lookup when one is due and there is room for it.
    pub fn check(&self, host: &str, port: u16, ip: &str) -> Option<DnsAnswer> {
        let key: Key = (host.to_string(), port, ip.to_string());
        let mut answers = self.lock();
        let latest = answers.known.get(&key).cloned();
        let due = latest
            .as_ref()
            .is_none_or(|(_, again, _)| Instant::now() >= *again);
        let misses = latest.as_ref().map_or(0, |(_, _, misses)| *misses);
        if due && !answers.running.contains(&key) && answers.running.len() < IN_FLIGHT {
            answers.running.insert(key.clone());
            let shared = self.clone();
            tokio::spawn(async move {
                let answer = lookup(&key.0, key.1).await;
                let confirmed =
                    matches!(&answer, Ok(ips) if ips.iter().any(|a| a.to_string() == key.2));
                let (wait, misses) = if confirmed {
                    (KEEP, 0)
                } else {
                    (
                        RETRY.saturating_mul(1 << misses.min(4)).min(KEEP),
                        misses + 1,
                    )
                };
                let mut answers = shared.lock();
                answers.running.remove(&key);
                answers
                    .known
                    .insert(key, (answer, Instant::now() + wait, misses));
            });
        }
        latest.map(|(answer, _, _)| answer)
    }
}

async fn lookup(host: &str, port: u16) -> DnsAnswer {
    match tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(addrs)) => {
            let mut ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
            ips.sort();
            ips.dedup();
            Ok(ips)
        }
        // One wording for every failure: the resolver's own text varies (a timeout, a failed
        // lookup), and a status that changes with it is rewritten every pass for nothing.
        Ok(Err(_)) | Err(_) => Err(format!(
            "no address from this host's resolver (within {}s)",
            LOOKUP_TIMEOUT.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_comes_on_a_later_pass_and_the_pass_never_waits() {
        let dns = AzureDns::default();
        // The first pass starts the lookup and has no answer yet.
        assert_eq!(dns.check("localhost", 4000, "127.0.0.1"), None);
        let answer = loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if let Some(answer) = dns.check("localhost", 4000, "127.0.0.1") {
                break answer;
            }
        };
        let ips = answer.expect("localhost resolves");
        assert!(ips.iter().any(IpAddr::is_loopback), "{ips:?}");
        // Confirmed: kept, no new lookup started.
        assert!(dns.lock().running.is_empty());
        dns.check("localhost", 4000, "127.0.0.1");
        assert!(dns.lock().running.is_empty());
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_is_asked_again_less_and_less_often() {
        let dns = AzureDns::default();
        let host = "not-a-host.invalid";
        dns.check(host, 4000, "10.0.0.4");
        let wait_for_answer = |misses: u32| {
            let dns = dns.clone();
            async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    let answers = dns.lock();
                    if let Some((answer, again, m)) = answers.known.values().next()
                        && *m == misses
                    {
                        assert!(answer.is_err(), "{answer:?}");
                        return *again - Instant::now();
                    }
                }
            }
        };
        let first = wait_for_answer(1).await;
        assert!(first <= RETRY && first > RETRY / 2, "{first:?}");
        // Due again: the next answer stands twice as long.
        dns.lock()
            .known
            .values_mut()
            .for_each(|(_, again, _)| *again = Instant::now());
        dns.check(host, 4000, "10.0.0.4");
        let second = wait_for_answer(2).await;
        assert!(second > RETRY && second <= RETRY * 2, "{second:?}");
    }
}
