//! The security groups and VPC CIDR blocks that decide `PortAllowed`, observed in batches:
//! per account and region, one DescribeSecurityGroups for every group the owned endpoints use
//! and one DescribeVpcs for their VPCs (200 IDs a call), never a call per endpoint.
//!
//! A scope's answer is kept until its groups change (an endpoint with a group not in it), for
//! `TTL` at most; and while an endpoint there misses the rule, it is looked at every pass, so
//! that a rule added by hand shows within a pass.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{Engine, PassOutcome};
use crate::cloud::{CloudError, Ec2, Firewall, Scope, TidbCloud};
use crate::plan::{ConditionStatus, ConditionType, Observed, Plan};
use crate::reconcile::Wanted;

/// A scope whose rules all check out is looked at again after this long.
const TTL: Duration = Duration::from_secs(600);
/// EC2 takes at most 200 values in a filter.
pub(super) const CHUNK: usize = 200;

#[derive(Debug)]
struct Cached {
    /// Shared by every endpoint of the scope.
    firewall: Arc<Firewall>,
    at: Instant,
}

/// What was seen of each scope, and which scopes have an endpoint without the rule.
#[derive(Debug, Default)]
pub struct Firewalls {
    scopes: HashMap<Scope, Cached>,
    /// Scopes where the last pass found a port closed: looked at again every pass.
    unsettled: BTreeSet<Scope>,
}

impl Firewalls {
    /// After planning: scopes with a port that is not open get looked at every pass.
    pub fn settle(&mut self, wanted: &[Wanted], plan: &Plan) {
        self.unsettled = wanted
            .iter()
            .zip(&plan.endpoints)
            .filter(|(_, p)| {
                p.conditions.iter().any(|c| {
                    c.kind == ConditionType::PortAllowed && c.status == ConditionStatus::False
                })
            })
            .map(|(w, _)| w.scope.clone())
            .collect();
    }
}

impl<T, E> Engine<T, E>
where
    T: TidbCloud + Clone + 'static,
    E: Ec2 + Clone + 'static,
{
    /// Fills in each observed endpoint's firewall, describing what is not known yet.
    pub(super) async fn observe_firewalls(
        &mut self,
        wanted: &[Wanted],
        per: &mut [Observed],
        outcome: &mut PassOutcome,
    ) {
        // Borrowed: this runs over every endpoint every pass, and usually finds all cached.
        let mut needed: BTreeMap<&Scope, (BTreeSet<&str>, BTreeSet<&str>)> = BTreeMap::new();
        for (w, o) in wanted.iter().zip(per.iter()) {
            if let Some(e) = &o.endpoint {
                let (groups, vpcs) = needed.entry(&w.scope).or_default();
                groups.extend(e.security_group_ids.iter().map(String::as_str));
                vpcs.insert(&e.vpc_id);
            }
        }
        let now = Instant::now();
        for (scope, (groups, vpcs)) in &needed {
            let fresh = self.firewalls.scopes.get(scope).is_some_and(|c| {
                now.duration_since(c.at) < TTL
                    && !self.firewalls.unsettled.contains(scope)
                    && groups.iter().all(|g| c.firewall.groups.contains_key(*g))
                    && vpcs.iter().all(|v| c.firewall.vpc_cidrs.contains_key(*v))
            });
            if fresh {
                continue;
            }
            match self.describe_firewall(scope, groups, vpcs).await {
                Ok(firewall) => {
                    let firewall = Arc::new(firewall);
                    self.firewalls
                        .scopes
                        .insert((*scope).clone(), Cached { firewall, at: now });
                }
                Err(_) => outcome.observe_errors += 1,
            }
        }
        for (w, o) in wanted.iter().zip(per.iter_mut()) {
            if o.endpoint.is_some() {
                let cached = self.firewalls.scopes.get(&w.scope);
                o.firewall = cached.map(|c| c.firewall.clone());
            }
        }
    }

    async fn describe_firewall(
        &self,
        scope: &Scope,
        groups: &BTreeSet<&str>,
        vpcs: &BTreeSet<&str>,
    ) -> Result<Firewall, CloudError> {
        let mut firewall = Firewall::default();
        let groups: Vec<String> = groups.iter().map(ToString::to_string).collect();
        for chunk in groups.chunks(CHUNK) {
            let found = self.ec2.describe_security_groups(scope, chunk).await?;
            firewall.groups.extend(found);
        }
        let vpcs: Vec<String> = vpcs.iter().map(ToString::to_string).collect();
        for chunk in vpcs.chunks(CHUNK) {
            let found = self.ec2.describe_vpcs(scope, chunk).await?;
            firewall.vpc_cidrs.extend(found);
        }
        Ok(firewall)
    }
}
