//! The VPC facts checked before a create or a modify (the VPC's DNS attributes, each subnet's
//! VPC and zone, each group's VPC), described per account and region and kept for `TTL`.
//!
//! A pass that creates or modifies needs them, and while endpoints are on their way a pass
//! comes every second or so: described afresh each time, a fill of 100 endpoints spent 1,240
//! DescribeVpcAttribute calls (two per VPC per pass). What is kept is only what can be
//! trusted to stay: a subnet's or group's VPC and zone never change while it exists, and a
//! VPC whose DNS attributes are both on is fine for private DNS. What is missing or wrong (a
//! subnet that does not exist, DNS support off) is asked again every pass, so that a person's
//! fix shows at once.

use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;

use super::firewall::CHUNK;
use crate::cloud::{CloudError, Ec2, Network, Scope, VpcAttribute};
use crate::spec::EndpointDocument;

/// A fact is described again after this long (a subnet or group deleted since, or DNS
/// support turned off by hand, shows within it).
const TTL: Duration = Duration::from_secs(300);

/// VPCs, subnets and security groups to look up in one account and region.
#[derive(Debug, Default)]
pub struct NetworkQuery {
    vpcs: BTreeSet<String>,
    subnets: BTreeSet<String>,
    groups: BTreeSet<String>,
}

impl NetworkQuery {
    pub fn add(&mut self, doc: &EndpointDocument) {
        let aws = &doc.spec.aws;
        self.vpcs.insert(aws.vpc_id.to_string());
        self.subnets
            .extend(aws.subnet_ids.iter().map(ToString::to_string));
        self.groups
            .extend(aws.security_group_ids.iter().map(ToString::to_string));
    }
}

#[derive(Debug, Default)]
struct Known {
    /// VPCs with both DNS attributes on.
    dns_ready: FxHashMap<String, Instant>,
    /// Subnet -> (VPC, zone ID).
    subnets: FxHashMap<String, ((String, String), Instant)>,
    /// Security group -> VPC.
    groups: FxHashMap<String, (String, Instant)>,
}

#[derive(Debug, Default)]
pub struct Networks {
    scopes: FxHashMap<Scope, Known>,
}

fn fresh(at: Instant) -> bool {
    at.elapsed() < TTL
}

/// Copies what is known and fresh of `ids` into `into`; returns the IDs to describe.
fn fresh_or_ask<V: Clone>(
    known: &FxHashMap<String, (V, Instant)>,
    ids: &BTreeSet<String>,
    into: &mut BTreeMap<String, V>,
) -> Vec<String> {
    let mut ask = Vec::new();
    for id in ids {
        match known.get(id) {
            Some((value, at)) if fresh(*at) => {
                into.insert(id.clone(), value.clone());
            }
            _ => ask.push(id.clone()),
        }
    }
    ask
}

impl Networks {
    /// The facts `q` needs, from what is known and fresh, describing only the rest.
    pub async fn describe(
        &mut self,
        ec2: &impl Ec2,
        scope: &Scope,
        q: &NetworkQuery,
    ) -> Result<Network, CloudError> {
        let known = self.scopes.entry(scope.clone()).or_default();
        let mut network = Network::default();
        for vpc in &q.vpcs {
            if known.dns_ready.get(vpc).is_some_and(|at| fresh(*at)) {
                network.vpcs.insert(vpc.clone(), (true, true));
                continue;
            }
            let support = ec2
                .describe_vpc_attribute(scope, vpc, VpcAttribute::EnableDnsSupport)
                .await?;
            let hostnames = ec2
                .describe_vpc_attribute(scope, vpc, VpcAttribute::EnableDnsHostnames)
                .await?;
            if let (Some(support), Some(hostnames)) = (support, hostnames) {
                network.vpcs.insert(vpc.clone(), (support, hostnames));
                if support && hostnames {
                    known.dns_ready.insert(vpc.clone(), Instant::now());
                } else {
                    known.dns_ready.remove(vpc);
                }
            }
        }
        let ask = fresh_or_ask(&known.subnets, &q.subnets, &mut network.subnets);
        for chunk in ask.chunks(CHUNK) {
            for (id, facts) in ec2.describe_subnets(scope, chunk).await? {
                known
                    .subnets
                    .insert(id.clone(), (facts.clone(), Instant::now()));
                network.subnets.insert(id, facts);
            }
        }
        let ask = fresh_or_ask(&known.groups, &q.groups, &mut network.security_groups);
        for chunk in ask.chunks(CHUNK) {
            for (id, g) in ec2.describe_security_groups(scope, chunk).await? {
                known
                    .groups
                    .insert(id.clone(), (g.vpc_id.clone(), Instant::now()));
                network.security_groups.insert(id, g.vpc_id);
            }
        }
        Ok(network)
    }
}
