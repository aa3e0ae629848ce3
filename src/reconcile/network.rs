//! What EC2 said of each account and region's VPCs, subnets and security groups, one `Store`
//! per kind of fact; and the facts checked before a create or a modify (the VPC's DNS
//! attributes, each subnet's VPC and zone, each group's VPC), described from it.
//!
//! A pass that creates or modifies needs them, and while endpoints are on their way a pass
//! comes every second or so: described afresh each time, a fill of 100 endpoints spent 1,240
//! DescribeVpcAttribute calls (two per VPC per pass). What is kept is only what can be
//! trusted to stay: a subnet's or group's VPC and zone never change while it exists, and a
//! VPC whose DNS attributes are both on is fine for private DNS. What is missing or wrong (a
//! subnet that does not exist, DNS support off) is asked again every pass, so that a person's
//! fix shows at once.
//!
//! A security group is one entry, read here (its VPC) and by `firewall.rs` (its rules, for
//! `PortAllowed`), with the firewall's lifetime: that reader runs every pass over every owned
//! endpoint, so its lifetime is the one a converged estate pays for; this one only needs the
//! group's VPC, which does not change, and a group deleted meanwhile is refused by EC2 itself.

use rustc_hash::FxHashMap;
use std::collections::BTreeSet;
use std::time::Duration;

use super::firewall::CHUNK;
use super::store::{GroupKey, Lifetime, Store, SubnetKey, VpcKey};
use crate::cloud::{CloudError, Ec2, Network, Scope, SecurityGroup, VpcAttribute};
use crate::spec::EndpointDocument;

/// A VPC's DNS attributes and a subnet's place are described again after this long (a subnet
/// deleted since, or DNS support turned off by hand, shows within it).
const TTL: Duration = Duration::from_secs(300);
/// A security group and a VPC's CIDR blocks (what decides `PortAllowed`): a rule removed by
/// hand shows within this long; one missing is looked for every pass (`firewall.rs`).
pub(super) const FIREWALL_TTL: Duration = Duration::from_secs(600);

/// VPCs, subnets and security groups to look up in one account and region.
#[derive(Debug, Default)]
pub struct NetworkQuery {
    vpcs: BTreeSet<String>,
    subnets: BTreeSet<String>,
    groups: BTreeSet<String>,
}

impl NetworkQuery {
    /// Adds an AWS document's VPC, subnets and groups (a document of another cloud has none).
    pub fn add(&mut self, doc: &EndpointDocument) {
        let Some(aws) = doc.spec.aws() else { return };
        self.vpcs.insert(aws.vpc_id.to_string());
        self.subnets
            .extend(aws.subnet_ids.iter().map(ToString::to_string));
        self.groups
            .extend(aws.security_group_ids.iter().map(ToString::to_string));
    }
}

/// What EC2 said of one account and region.
#[derive(Debug, Default)]
pub(super) struct VpcFacts {
    /// VPCs with both DNS attributes on (one that is not is not kept: asked every pass).
    pub dns_ready: Store<VpcKey, ()>,
    /// Subnet -> (VPC, zone ID).
    pub subnets: Store<SubnetKey, (String, String)>,
    /// Security groups: their VPC (checked before a create) and rules (`PortAllowed`).
    pub groups: Store<GroupKey, SecurityGroup>,
    /// VPC -> its CIDR blocks (`PortAllowed`).
    pub vpc_cidrs: Store<VpcKey, Vec<String>>,
}

/// The facts of every account and region.
#[derive(Debug, Default)]
pub struct Networks {
    scopes: FxHashMap<Scope, VpcFacts>,
}

/// The IDs of `ids` that `store` has no fresh answer for.
fn not_fresh<K, V>(store: &Store<K, V>, ids: &BTreeSet<String>) -> Vec<String>
where
    K: std::borrow::Borrow<str> + Eq + std::hash::Hash,
{
    ids.iter()
        .filter(|id| !store.is_fresh(id.as_str()))
        .cloned()
        .collect()
}

impl Networks {
    /// The facts of `scope`, empty at first. (Once per scope and pass: the clone is cheap.)
    pub(super) fn of(&mut self, scope: &Scope) -> &mut VpcFacts {
        self.scopes.entry(scope.clone()).or_default()
    }

    /// The facts `q` needs, from what is known and fresh, describing only the rest.
    pub async fn describe(
        &mut self,
        ec2: &impl Ec2,
        scope: &Scope,
        q: &NetworkQuery,
    ) -> Result<Network, CloudError> {
        let known = self.of(scope);
        let mut network = Network::default();
        for vpc in &q.vpcs {
            if known.dns_ready.is_fresh(vpc.as_str()) {
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
                    let key = VpcKey::from(vpc.as_str());
                    known.dns_ready.insert(key, (), Lifetime::Exactly(TTL));
                } else {
                    known.dns_ready.forget(vpc.as_str());
                }
            }
        }
        let ask = not_fresh(&known.subnets, &q.subnets);
        for chunk in ask.chunks(CHUNK) {
            let found = ec2.describe_subnets(scope, chunk).await?;
            for id in chunk.iter().filter(|id| !found.contains_key(*id)) {
                known.subnets.forget(id.as_str());
            }
            for (id, facts) in found {
                known
                    .subnets
                    .insert(SubnetKey::from(id), facts, Lifetime::Exactly(TTL));
            }
        }
        let ask = not_fresh(&known.groups, &q.groups);
        for chunk in ask.chunks(CHUNK) {
            let found = ec2.describe_security_groups(scope, chunk).await?;
            store_groups(&mut known.groups, chunk, found);
        }
        // Every ID asked for is fresh now or forgotten (it does not exist).
        for id in &q.subnets {
            if let Some(facts) = known.subnets.get(id.as_str()) {
                network.subnets.insert(id.clone(), facts.clone());
            }
        }
        for id in &q.groups {
            if let Some(g) = known.groups.get(id.as_str()) {
                network.security_groups.insert(id.clone(), g.vpc_id.clone());
            }
        }
        Ok(network)
    }
}

/// The answer to a DescribeSecurityGroups of `asked`: the groups it has, each with the one
/// lifetime of groups; those it has not do not exist (any more) and are forgotten.
pub(super) fn store_groups(
    groups: &mut Store<GroupKey, SecurityGroup>,
    asked: &[String],
    found: impl IntoIterator<Item = (String, SecurityGroup)>,
) {
    for id in asked {
        groups.forget(id.as_str());
    }
    for (id, g) in found {
        groups.insert(GroupKey::from(id), g, Lifetime::Exactly(FIREWALL_TTL));
    }
}
