//! Conditions: what the phase alone does not say about whether people can connect.
//!
//! Kubernetes-style (`type`, `status`, `reason`, `message`); pure, like the rest of the
//! planner: everything comes from `Observed`.
//!
//! - `ClusterAvailable`: the cluster is serving (not paused, pausing, resuming, gone).
//! - `PortAllowed`: one of the endpoint's security groups lets TCP on the cluster's port in
//!   from the VPC's CIDR blocks (or a broader source).
//! - `PrivateDnsReady`: private DNS is on, so the service's DNS name resolves inside the VPC.
//! - `Reachable` (with `probe.enabled`): from this host, the DNS name resolves to addresses
//!   inside the VPC and a TCP connection to it succeeds.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{Desired, Observed};
use crate::cloud::gcp::{FirewallRule, PscEndpoint, PscStatus};
use crate::cloud::{CloudEndpoint, Firewall, IngressRule, VpcEndpoint};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConditionType {
    ClusterAvailable,
    PortAllowed,
    PrivateDnsReady,
    Reachable,
}

impl ConditionType {
    pub const ALL: [ConditionType; 4] = [
        ConditionType::ClusterAvailable,
        ConditionType::PortAllowed,
        ConditionType::PrivateDnsReady,
        ConditionType::Reachable,
    ];

    /// The type a status file names (`as_str`'s inverse).
    pub fn parse(name: &str) -> Option<ConditionType> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ConditionType::ClusterAvailable => "ClusterAvailable",
            ConditionType::PortAllowed => "PortAllowed",
            ConditionType::PrivateDnsReady => "PrivateDnsReady",
            ConditionType::Reachable => "Reachable",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub const ALL: [ConditionStatus; 3] = [
        ConditionStatus::True,
        ConditionStatus::False,
        ConditionStatus::Unknown,
    ];

    /// The status a status file names (`as_str`'s inverse).
    pub fn parse(name: &str) -> Option<ConditionStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

/// One condition of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: ConditionType,
    pub status: ConditionStatus,
    /// One CamelCase word, for machines.
    pub reason: String,
    /// For people: what is wrong and what to do.
    pub message: String,
}

fn condition(
    kind: ConditionType,
    status: ConditionStatus,
    reason: &str,
    message: impl Into<String>,
) -> Condition {
    Condition {
        kind,
        status,
        reason: reason.into(),
        message: message.into(),
    }
}

/// What a probe from this host found (with `probe.enabled`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProbeResult {
    /// Not probed yet.
    Pending,
    /// Resolved to these addresses, and a TCP connection succeeded.
    Reached { addresses: Vec<String> },
    /// The name resolved, but not only to addresses inside the VPC.
    OutsideVpc { addresses: Vec<String> },
    /// The name did not resolve, or the connection failed or timed out.
    Failed { why: String },
}

/// Every condition of a desired endpoint.
pub fn conditions(desired: &Desired<'_>, o: &Observed) -> Vec<Condition> {
    let mut all = vec![
        cluster_available(o),
        port_allowed(o),
        private_dns_ready(desired, o),
    ];
    if let Some(probe) = &o.probe {
        all.push(reachable(probe));
    }
    all
}

fn cluster_available(o: &Observed) -> Condition {
    use ConditionStatus::*;
    let kind = ConditionType::ClusterAvailable;
    match &o.cluster {
        None => condition(
            kind,
            Unknown,
            "NotObserved",
            "the cluster was not looked up yet",
        ),
        Some(Err(why)) => condition(kind, False, "NotFound", why.clone()),
        Some(Ok(c)) if c.state.is_available() => condition(
            kind,
            True,
            "Serving",
            format!("cluster {} is {}", c.id, c.state.as_str()),
        ),
        Some(Ok(c)) => condition(
            kind,
            False,
            "NotServing",
            format!("cluster {} is {}", c.id, c.state.as_str()),
        ),
    }
}

/// The port clients connect to: the connection's, else the cluster's.
fn port(o: &Observed) -> u16 {
    o.connection
        .as_ref()
        .map(|c| c.port)
        .filter(|p| *p != 0)
        .or_else(|| o.cluster.as_ref()?.as_ref().ok().map(|c| c.port))
        .filter(|p| *p != 0)
        .unwrap_or(4000)
}

fn port_allowed(o: &Observed) -> Condition {
    use ConditionStatus::*;
    let kind = ConditionType::PortAllowed;
    let endpoint = match &o.endpoint {
        None => {
            return condition(
                kind,
                Unknown,
                "NoEndpoint",
                "the endpoint does not exist yet",
            );
        }
        Some(CloudEndpoint::Gcp(psc)) => return egress_allowed(o, psc),
        // Network security groups apply to private endpoints only when the subnet's
        // `privateEndpointNetworkPolicies` enables them (off by default); they are not read.
        Some(CloudEndpoint::Azure(_)) => {
            return condition(
                kind,
                Unknown,
                "NotChecked",
                "network security groups are not read for Azure private endpoints",
            );
        }
        Some(CloudEndpoint::Aws(e)) => e,
    };
    let Some(firewall) = &o.firewall else {
        return condition(
            kind,
            Unknown,
            "NotObserved",
            "the security groups were not looked at yet",
        );
    };
    let port = port(o);
    match verdict(endpoint, firewall, port) {
        Verdict::Open { group, source } => condition(
            kind,
            True,
            "RuleFound",
            format!("{group} allows TCP {port} from {source}"),
        ),
        Verdict::Maybe { what } => condition(kind, Unknown, "IndirectSource", what),
        Verdict::Closed { vpc_cidrs } => {
            let groups = endpoint.security_group_ids.join(", ");
            let first = endpoint
                .security_group_ids
                .first()
                .map_or("the endpoint's security group", String::as_str);
            let cidrs = vpc_cidrs.join(", ");
            condition(
                kind,
                False,
                "NoRule",
                format!(
                    "none of the endpoint's security groups ({groups}) allows inbound TCP {port} \
                     from the VPC's CIDR ({cidrs}): add an inbound rule to {first}: TCP, port \
                     {port}, source {cidrs}"
                ),
            )
        }
    }
}

enum Verdict {
    Open { group: String, source: String },
    Maybe { what: String },
    Closed { vpc_cidrs: Vec<String> },
}

fn verdict(endpoint: &VpcEndpoint, firewall: &Firewall, port: u16) -> Verdict {
    let vpc_cidrs = firewall
        .vpc_cidrs
        .get(&endpoint.vpc_id)
        .cloned()
        .unwrap_or_default();
    let vpc: Vec<IpNet> = vpc_cidrs.iter().filter_map(|c| c.parse().ok()).collect();
    let mut maybe = Vec::new();
    for group_id in &endpoint.security_group_ids {
        let Some(group) = firewall.groups.get(group_id) else {
            continue;
        };
        for rule in group.ingress.iter().filter(|r| lets_in(r, port)) {
            // Open when a source covers every IPv4 block of the VPC (IPv6 clients are rare
            // here, and a VPC always has an IPv4 block).
            let v4: Vec<&IpNet> = vpc.iter().filter(|n| matches!(n, IpNet::V4(_))).collect();
            for source in &rule.cidrs {
                let Ok(net) = source.parse::<IpNet>() else {
                    continue;
                };
                if !v4.is_empty() && v4.iter().all(|v| net.contains(*v)) {
                    return Verdict::Open {
                        group: group_id.clone(),
                        source: source.clone(),
                    };
                }
                if vpc.iter().any(|v| v.contains(&net) || net.contains(v)) {
                    maybe.push(format!(
                        "{group_id} allows TCP {port} only from {source}, part of the VPC"
                    ));
                }
            }
            for other in rule.groups.iter().chain(&rule.prefix_lists) {
                maybe.push(format!(
                    "{group_id} allows TCP {port} from {other}, which privatelinkd cannot \
                     resolve to addresses"
                ));
            }
        }
    }
    if maybe.is_empty() {
        Verdict::Closed { vpc_cidrs }
    } else {
        Verdict::Maybe {
            what: maybe.join("; "),
        }
    }
}

/// Does the rule let TCP on `port` in (whatever the source)?
fn lets_in(rule: &IngressRule, port: u16) -> bool {
    match rule.protocol.as_str() {
        "-1" | "all" => true,
        "tcp" | "6" => match (rule.from_port, rule.to_port) {
            (Some(from), Some(to)) => from <= port && port <= to,
            (Some(from), None) => from == port,
            (None, _) => true,
        },
        _ => false,
    }
}

/// Google Cloud's counterpart of the security-group check: VPC firewall rules apply to the
/// clients' egress, and the highest-priority (lowest number) enabled rule that matches TCP on
/// the port to the endpoint's IP decides; with none, the implied rule allows egress
/// (https://cloud.google.com/firewall/docs/firewalls#default_firewall_rules).
fn egress_allowed(o: &Observed, psc: &PscEndpoint) -> Condition {
    use ConditionStatus::*;
    let kind = ConditionType::PortAllowed;
    let (Some(place), Some(ip)) = (&o.gcp_place, psc.ip()) else {
        return condition(
            kind,
            Unknown,
            "NotObserved",
            "the network's firewall rules were not looked at yet",
        );
    };
    let port = port(o);
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
        return condition(
            kind,
            Unknown,
            "NoAddress",
            "the endpoint has no address yet",
        );
    };
    let applies = |r: &&FirewallRule| {
        r.egress
            && !r.disabled
            && (r.destination_ranges.is_empty()
                || r.destination_ranges
                    .iter()
                    .filter_map(|c| c.parse::<IpNet>().ok())
                    .any(|n| n.contains(&ip)))
            && r.rules.iter().any(|(protocol, ports)| {
                matches!(protocol.as_str(), "tcp" | "all" | "6") && covers(ports, port)
            })
    };
    let mut matching: Vec<&FirewallRule> = place.firewalls.iter().filter(applies).collect();
    // At equal priority a deny wins (Google's rule).
    matching.sort_by_key(|r| (r.priority, !r.deny));
    match matching.first() {
        Some(r) if r.deny && !r.targeted => condition(
            kind,
            False,
            "EgressDenied",
            format!(
                "firewall rule {} (priority {}) denies egress TCP {port} to {ip}: allow it with                  an egress rule of a higher priority (a lower number)",
                r.name, r.priority
            ),
        ),
        Some(r) if r.deny => condition(
            kind,
            Unknown,
            "TargetedDeny",
            format!(
                "firewall rule {} denies egress TCP {port} to {ip} for some instances (its                  target tags or service accounts)",
                r.name
            ),
        ),
        Some(r) => condition(
            kind,
            True,
            "RuleFound",
            format!("firewall rule {} allows egress TCP {port} to {ip}", r.name),
        ),
        None => condition(
            kind,
            True,
            "ImpliedAllow",
            format!("no firewall rule denies egress TCP {port} to {ip}"),
        ),
    }
}

/// Whether Google's port list (`["4000", "3000-3999"]`; empty: every port) holds `port`.
fn covers(ports: &[String], port: u16) -> bool {
    ports.is_empty()
        || ports.iter().any(|p| match p.split_once('-') {
            Some((from, to)) => {
                from.parse().is_ok_and(|f: u16| f <= port)
                    && to.parse().is_ok_and(|t: u16| port <= t)
            }
            None => p.parse() == Ok(port),
        })
}

fn private_dns_ready(desired: &Desired<'_>, o: &Observed) -> Condition {
    use ConditionStatus::*;
    let kind = ConditionType::PrivateDnsReady;
    let dns = o.service.as_ref().map_or("", |s| s.dns_name.as_str());
    if let Some(CloudEndpoint::Gcp(psc)) = &o.endpoint {
        // Private Service Connect registers the endpoint's name in a Cloud DNS zone of its own
        // once the producer accepted it (TiDB Cloud's prerequisites: the Service Directory and
        // Cloud DNS APIs); privatelinkd reads no Cloud DNS, so acceptance is the evidence.
        return match psc.status() {
            Some(PscStatus::Accepted) => condition(
                kind,
                True,
                "RegisteredByPsc",
                format!(
                    "{}.{dns} is registered by Private Service Connect",
                    psc.name
                ),
            ),
            _ => condition(
                kind,
                False,
                "NotAccepted",
                format!(
                    "Private Service Connect registers {}.{dns} once TiDB Cloud accepts the \
                     endpoint",
                    psc.name
                ),
            ),
        };
    }
    if let Some(CloudEndpoint::Azure(e)) = &o.endpoint {
        return azure_dns_ready(e, o);
    }
    if !desired.doc.spec.private_dns {
        return condition(
            kind,
            False,
            "Disabled",
            "privateDns: false in the document: connect through the endpoint's own DNS names",
        );
    }
    match &o.endpoint {
        None => condition(
            kind,
            Unknown,
            "NoEndpoint",
            "the VPC endpoint does not exist yet",
        ),
        Some(CloudEndpoint::Aws(e)) if e.private_dns_enabled => condition(
            kind,
            True,
            "Enabled",
            format!("{dns} resolves to the endpoint inside {}", e.vpc_id),
        ),
        Some(_) => condition(
            kind,
            False,
            "NotEnabled",
            format!("private DNS is not on yet: {dns} does not resolve inside the VPC"),
        ),
    }
}

fn reachable(probe: &ProbeResult) -> Condition {
    use ConditionStatus::*;
    let kind = ConditionType::Reachable;
    match probe {
        ProbeResult::Pending => condition(kind, Unknown, "NotProbed", "not probed yet"),
        ProbeResult::Reached { addresses } => condition(
            kind,
            True,
            "Connected",
            format!("connected to {}", addresses.join(", ")),
        ),
        ProbeResult::OutsideVpc { addresses } => condition(
            kind,
            False,
            "ResolvesOutsideVpc",
            format!(
                "the DNS name resolves to {}, not only inside the VPC: is private DNS on, and \
                 does this host use the VPC's resolver?",
                addresses.join(", ")
            ),
        ),
        ProbeResult::Failed { why } => condition(kind, False, "ConnectFailed", why.clone()),
    }
}

/// Azure: TiDB Cloud publishes `<name>-<hash>.<serviceDnsName>` for the endpoint's private IP
/// once it accepts it; the condition is whether that name resolves to that IP from here.
fn azure_dns_ready(e: &crate::cloud::azure::PrivateEndpoint, o: &Observed) -> Condition {
    use ConditionStatus::*;
    let kind = ConditionType::PrivateDnsReady;
    let host = o.connection.as_ref().map_or("", |c| c.host.as_str());
    let ip = e.private_ip.as_deref().unwrap_or("its private IP");
    let accepted = o
        .connection
        .as_ref()
        .is_some_and(|c| c.state == crate::cloud::ConnectionState::Active);
    match &o.azure_dns {
        None if accepted => condition(
            kind,
            Unknown,
            "LookingUp",
            format!("looking up {host} from this host"),
        ),
        None => condition(
            kind,
            Unknown,
            "NotAccepted",
            "TiDB Cloud publishes the endpoint's DNS name once it accepts the endpoint",
        ),
        Some(Ok(found)) if found.iter().any(|a| a.to_string() == ip) => {
            condition(kind, True, "Published", format!("{host} resolves to {ip}"))
        }
        Some(Ok(found)) => {
            let found: Vec<String> = found.iter().map(ToString::to_string).collect();
            condition(
                kind,
                False,
                "WrongAddress",
                format!(
                    "{host} resolves to {}, not to the endpoint's {ip}",
                    if found.is_empty() {
                        "nothing".to_string()
                    } else {
                        found.join(", ")
                    }
                ),
            )
        }
        Some(Err(why)) => condition(
            kind,
            False,
            "NotResolving",
            format!("{host} does not resolve from this host: {why}"),
        ),
    }
}
