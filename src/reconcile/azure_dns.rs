//! Azure's `PrivateDnsReady`: TiDB Cloud publishes a public DNS record for each accepted
//! endpoint (`<name>-<hash>.<serviceDnsName>`) that resolves to the endpoint's private IP, so
//! no Azure Private DNS zone is needed (TiDB Cloud's Azure guide). Whether it does is looked
//! up from this host: once a name resolves to the endpoint's IP it is kept for a while; until
//! then it is asked every pass (one lookup per endpoint waiting, bounded by a timeout).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

/// How long a lookup may take before it counts as not resolving.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a name seen resolving to its endpoint's IP is taken to still do so.
const KEEP: Duration = Duration::from_secs(600);

/// What a lookup of an endpoint's host found.
pub type DnsAnswer = Result<Vec<IpAddr>, String>;

/// Names seen resolving to their endpoints' IPs, and until when that is trusted.
#[derive(Debug, Default)]
pub struct AzureDns {
    confirmed: HashMap<(String, String), Instant>,
}

impl AzureDns {
    /// What `host` resolves to, as far as the check of `ip` needs it.
    pub async fn check(&mut self, host: &str, port: u16, ip: &str) -> DnsAnswer {
        let key = (host.to_string(), ip.to_string());
        if self
            .confirmed
            .get(&key)
            .is_some_and(|until| Instant::now() < *until)
        {
            return Ok(ip.parse().into_iter().collect());
        }
        let answer = lookup(host, port).await;
        if let Ok(ips) = &answer
            && ips.iter().any(|a| a.to_string() == ip)
        {
            self.confirmed.insert(key, Instant::now() + KEEP);
        }
        answer
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
