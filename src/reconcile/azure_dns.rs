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
//! again after a minute.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// How long a lookup may take before it counts as not resolving.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a name seen resolving to its endpoint's IP is taken to still do so.
const KEEP: Duration = Duration::from_secs(600);
/// How long any other answer stands before the name is asked again.
const RETRY: Duration = Duration::from_secs(60);
/// Lookups running at once (the resolver's threads are shared with everything else).
const IN_FLIGHT: usize = 16;

/// What a lookup of an endpoint's host found.
pub type DnsAnswer = Result<Vec<IpAddr>, String>;

type Key = (String, u16, String);

#[derive(Debug, Default)]
struct Answers {
    /// The latest answer for (host, port, IP), and when it is due again.
    known: HashMap<Key, (DnsAnswer, Instant)>,
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
            .is_none_or(|(_, again)| Instant::now() >= *again);
        if due && !answers.running.contains(&key) && answers.running.len() < IN_FLIGHT {
            answers.running.insert(key.clone());
            let shared = self.clone();
            tokio::spawn(async move {
                let answer = lookup(&key.0, key.1).await;
                let confirmed =
                    matches!(&answer, Ok(ips) if ips.iter().any(|a| a.to_string() == key.2));
                let again = Instant::now() + if confirmed { KEEP } else { RETRY };
                let mut answers = shared.lock();
                answers.running.remove(&key);
                answers.known.insert(key, (answer, again));
            });
        }
        latest.map(|(answer, _)| answer)
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
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {}s", LOOKUP_TIMEOUT.as_secs())),
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
}
