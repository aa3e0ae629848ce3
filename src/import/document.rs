//! The document `import` writes for one endpoint: every field as it is in the cloud, the
//! endpoint adopted by ID, and a name derived from the cluster and the network.
//!
//! Written as text rather than serialized: the key order a person expects, the defaults left
//! out, and a header saying where it came from. `matching.rs` parses every text back through
//! the same checker as the daemon before it is written (a test holds them to it too).

use crate::cloud::{CloudEndpoint, Connection, Scope};
use crate::spec::DeletionPolicy;

use super::{Offered, Options};

/// The longest name a document may have (`metadata.name`).
const NAME_MAX: usize = 63;

/// `s` in a name's alphabet: lowercase letters, digits and single dashes.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// The name of an endpoint's document: the cluster's name (its ID when it has none) and the
/// network's (a VPC's ID, a Google Cloud network's name), with `suffix` (an endpoint's ID,
/// when several share a cluster and network). Valid, and the same on every run.
pub fn name_for(cluster: &Offered, network: &str, suffix: Option<&str>) -> String {
    let cluster_part = match slug(&cluster.cluster.name) {
        s if s.is_empty() => format!("cluster-{}", cluster.cluster.id),
        s => s,
    };
    let tail: Vec<String> = std::iter::once(slug(network))
        .chain(suffix.map(slug))
        .filter(|s| !s.is_empty())
        .collect();
    let tail = tail.join("-");
    // The network and suffix tell endpoints apart: the cluster's part gives way.
    let room = NAME_MAX.saturating_sub(tail.len() + 1);
    let mut head: String = cluster_part.chars().take(room).collect();
    head = head.trim_end_matches('-').to_string();
    if !head.starts_with(|c: char| c.is_ascii_lowercase()) {
        head = format!("c-{head}");
    }
    let mut name = format!("{head}-{tail}");
    name.truncate(NAME_MAX);
    name.trim_end_matches('-').to_string()
}

/// A YAML scalar: plain when that cannot be misread, else double-quoted (JSON's quoting is
/// YAML's).
fn scalar(s: &str) -> String {
    let plain = s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && !matches!(
            s,
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("a string serializes")
    }
}

fn list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| scalar(s)).collect();
    format!("[{}]", items.join(", "))
}

/// The document for `endpoint` in `scope`, connected to `offered`'s service.
pub fn document_text(
    name: &str,
    scope: &Scope,
    endpoint: &CloudEndpoint,
    offered: &Offered,
    connection: &Connection,
    options: &Options,
) -> String {
    let policy = match options.deletion_policy {
        DeletionPolicy::Delete => "Delete",
        DeletionPolicy::Orphan => "Orphan",
    };
    let registered = match connection.id.as_str() {
        "" => format!("registered, {}", connection.state.as_str()),
        id => format!("connection {id}, {}", connection.state.as_str()),
    };
    let mut out = format!(
        "# Imported by `privatelinkd import` from {}: adopts {} as it is\n# ({registered}).\n",
        options.source,
        endpoint_label(endpoint),
    );
    out += "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\n";
    out += &format!("metadata: {{name: {}}}\nspec:\n", scalar(name));
    out += &format!(
        "  tidbCloud: {{clusterId: \"{}\", nodeGroupId: \"{}\"}}\n",
        offered.cluster.id, offered.node_group_id
    );
    let mut private_dns = None;
    match endpoint {
        CloudEndpoint::Aws(e) => {
            out += "  aws:\n";
            out += &format!("    region: {}\n", scalar(&scope.region));
            if scope.account != "default" {
                out += &format!("    account: {}\n", scalar(&scope.account));
            }
            out += &format!("    vpcId: {}\n", scalar(&e.vpc_id));
            out += &format!("    subnetIds: {}\n", list(&e.subnet_ids));
            if !e.security_group_ids.is_empty() {
                out += &format!("    securityGroupIds: {}\n", list(&e.security_group_ids));
            }
            out += &format!("    endpointId: {}\n", scalar(&e.id));
            private_dns = Some(e.private_dns_enabled);
        }
        CloudEndpoint::Gcp(e) => {
            out += "  gcp:\n";
            out += &format!("    project: {}\n", scalar(&e.project));
            out += &format!("    region: {}\n", scalar(&e.region));
            if let Some(network) = e.network() {
                out += &format!("    network: {}\n", scalar(network));
            }
            if let Some(subnetwork) = e.subnetwork() {
                out += &format!("    subnetwork: {}\n", scalar(subnetwork));
            }
            if let Some(ip) = e.ip() {
                out += &format!("    address: {}\n", scalar(ip));
            }
            if e.rule.as_ref().is_some_and(|r| r.allow_psc_global_access) {
                out += "    globalAccess: true\n";
            }
            out += &format!("    endpointName: {}\n    adopt: true\n", scalar(&e.name));
        }
        CloudEndpoint::Azure(e) => {
            out += "  azure:\n";
            out += &format!("    subscriptionId: {}\n", scalar(e.subscription()));
            out += &format!("    resourceGroup: {}\n", scalar(e.resource_group()));
            out += &format!("    location: {}\n", scalar(&e.location));
            out += &format!("    subnetId: {}\n", scalar(&e.subnet_id));
            out += &format!("    endpointName: {}\n    adopt: true\n", scalar(&e.name));
        }
    }
    // AWS's default is on: say it only when it is off.
    if private_dns == Some(false) {
        out += "  privateDns: false\n";
    }
    out += &format!("  deletionPolicy: {policy}\n");
    out
}

fn endpoint_label(endpoint: &CloudEndpoint) -> String {
    match endpoint {
        CloudEndpoint::Aws(e) => format!("VPC endpoint {}", e.id),
        CloudEndpoint::Gcp(e) => format!("Private Service Connect endpoint {}", e.name),
        CloudEndpoint::Azure(e) => format!("private endpoint {}", e.id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::{Cluster, ClusterState, Service, ServiceState};
    use std::sync::Arc;

    fn offered(name: &str) -> Offered {
        Offered {
            cluster: Arc::new(Cluster {
                id: "1379661944646413143".into(),
                name: name.into(),
                project_id: "9".into(),
                region: "us-east-1".into(),
                cloud_provider: "aws".into(),
                port: 4000,
                state: ClusterState::Active,
            }),
            node_group_id: "1379661944646413144".into(),
            service: Service {
                state: ServiceState::Active,
                name: "com.amazonaws.vpce.us-east-1.vpce-svc-0".into(),
                dns_name: "x".into(),
                available_zones: vec![],
            },
        }
    }

    #[test]
    fn names_are_valid_stable_and_fit() {
        let vpc = "vpc-0a1b2c3d4e5f67890";
        assert_eq!(
            name_for(&offered("Orders DB"), vpc, None),
            "orders-db-vpc-0a1b2c3d4e5f67890"
        );
        assert_eq!(
            name_for(&offered(""), vpc, None),
            "cluster-1379661944646413143-vpc-0a1b2c3d4e5f67890"
        );
        assert_eq!(
            name_for(&offered("9lives"), "prod-vpc", None),
            "c-9lives-prod-vpc"
        );
        let long = name_for(
            &offered(&"x".repeat(80)),
            vpc,
            Some("vpce-0123456789abcdef0"),
        );
        assert!(long.len() <= NAME_MAX, "{long}");
        assert!(
            long.ends_with("-vpc-0a1b2c3d4e5f67890-vpce-0123456789abcdef0"),
            "{long}"
        );
        let checker = regex::Regex::new("^[a-z][a-z0-9-]{0,62}$").unwrap();
        for name in ["--", "ÄÖ", "a", "Z_z", &"-".repeat(70)] {
            let made = name_for(&offered(name), vpc, None);
            assert!(checker.is_match(&made), "{name:?} -> {made}");
        }
    }

    #[test]
    fn scalars_that_yaml_could_misread_are_quoted() {
        assert_eq!(scalar("us-east-1"), "us-east-1");
        assert_eq!(scalar("123"), "\"123\"");
        assert_eq!(scalar("no"), "\"no\"");
        assert_eq!(scalar("a: b"), "\"a: b\"");
        assert_eq!(scalar("10.8.0.20"), "\"10.8.0.20\"");
    }
}
