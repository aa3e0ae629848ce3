//! The reachability probe (`probe.enabled`, for hosts inside the VPC): does the endpoint's DNS
//! name resolve to addresses inside the VPC, and does a TCP connection to it succeed within
//! `probe.timeout`?
//!
//! Probes run on a task of their own, at most `perSecond` of them a second and each endpoint
//! at most once per `probe.every`: a pass only reads the latest results and asks for new ones,
//! so it never waits on DNS or on a connection.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use governor::{Quota, RateLimiter};
use ipnet::IpNet;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::plan::ProbeResult;

/// What to probe for one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    pub host: String,
    pub port: u16,
    /// The VPC's CIDR blocks: the name must resolve inside them.
    pub vpc_cidrs: Vec<String>,
}

/// How the probe behaves.
#[derive(Debug, Clone, Copy)]
pub struct ProbeConfig {
    pub timeout: Duration,
    /// An endpoint is probed again after this long.
    pub every: Duration,
    pub per_second: u32,
}

#[derive(Debug, Default)]
struct Results {
    latest: HashMap<String, (ProbeResult, Option<Instant>)>,
    queued: HashSet<String>,
}

/// The prober: latest results, and a queue to the task that probes.
pub struct Prober {
    config: ProbeConfig,
    results: Arc<Mutex<Results>>,
    /// Started on first use, on the runtime the pass runs on.
    queue: OnceLock<mpsc::UnboundedSender<Target>>,
}

impl Prober {
    pub fn new(config: ProbeConfig) -> Prober {
        Prober {
            config,
            results: Arc::new(Mutex::new(Results::default())),
            queue: OnceLock::new(),
        }
    }

    /// The latest result for the target's endpoint, asking for a fresh probe when it is due.
    pub fn observe(&self, target: Target) -> ProbeResult {
        let mut results = self.results.lock().unwrap_or_else(|e| e.into_inner());
        let (result, probed_at) = results
            .latest
            .get(&target.name)
            .cloned()
            .unwrap_or((ProbeResult::Pending, None));
        let due = probed_at.is_none_or(|at| at.elapsed() >= self.config.every);
        if due && results.queued.insert(target.name.clone()) {
            let queue = self.queue.get_or_init(|| self.start());
            let _ = queue.send(target);
        }
        result
    }

    /// The probing task.
    fn start(&self) -> mpsc::UnboundedSender<Target> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Target>();
        let results = self.results.clone();
        let config = self.config;
        let per_second = NonZeroU32::new(config.per_second.max(1)).expect("at least 1");
        tokio::spawn(async move {
            let limiter = RateLimiter::direct(Quota::per_second(per_second));
            while let Some(target) = rx.recv().await {
                limiter.until_ready().await;
                let result = probe(&target, config.timeout).await;
                let mut r = results.lock().unwrap_or_else(|e| e.into_inner());
                r.queued.remove(&target.name);
                r.latest
                    .insert(target.name.clone(), (result, Some(Instant::now())));
            }
        });
        tx
    }
}

/// Resolves, checks the addresses against the VPC, connects.
pub async fn probe(target: &Target, timeout: Duration) -> ProbeResult {
    let failed = |why: String| ProbeResult::Failed { why };
    let lookup = tokio::time::timeout(
        timeout,
        tokio::net::lookup_host((target.host.as_str(), target.port)),
    )
    .await;
    let addresses: Vec<SocketAddr> = match lookup {
        Err(_) => return failed(format!("resolving {} timed out", target.host)),
        Ok(Err(e)) => return failed(format!("{} does not resolve: {e}", target.host)),
        Ok(Ok(found)) => found.collect(),
    };
    if addresses.is_empty() {
        return failed(format!("{} resolves to no address", target.host));
    }
    let shown: Vec<String> = addresses.iter().map(|a| a.ip().to_string()).collect();
    let vpc: Vec<IpNet> = target
        .vpc_cidrs
        .iter()
        .filter_map(|c| c.parse().ok())
        .collect();
    let inside = addresses
        .iter()
        .all(|a| vpc.iter().any(|net| net.contains(&a.ip())));
    if !inside {
        return ProbeResult::OutsideVpc { addresses: shown };
    }
    let mut last = String::new();
    for address in &addresses {
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address)).await {
            Ok(Ok(_)) => {
                return ProbeResult::Reached {
                    addresses: vec![address.to_string()],
                };
            }
            Ok(Err(e)) => last = format!("connecting to {address} failed: {e}"),
            Err(_) => {
                last = format!(
                    "connecting to {address} timed out after {}",
                    humantime::format_duration(timeout)
                )
            }
        }
    }
    failed(format!(
        "{last}: check the security groups and that the cluster is serving"
    ))
}
