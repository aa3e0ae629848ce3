//! The security groups and VPC CIDR blocks that decide `PortAllowed`, observed in batches:
//! per account and region, one DescribeSecurityGroups for every group the owned endpoints use
//! and one DescribeVpcs for their VPCs (200 IDs a call), never a call per endpoint.
//!
//! Both are entries of the scope's stores (`network.rs`; a group is the same entry the checks
//! before a create read). A scope is described again, groups and VPCs in one batch, when one
//! of them has no fresh entry: one is new, or the batch's lifetime is over (stored together,
//! they come due together). And while an endpoint there misses the rule, every pass, so that a
//! rule added by hand shows within a pass.

use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::network::{FIREWALL_TTL, VpcFacts, store_groups};
use super::store::{Lifetime, VpcKey};
use super::{Engine, PassOutcome};
use crate::cloud::gcp::Gcp;
use crate::cloud::{CloudEndpoint, CloudError, Ec2, Firewall, Scope, TidbCloud};
use crate::plan::{ConditionStatus, ConditionType, Observed, Plan};
use crate::reconcile::Wanted;

/// EC2 takes at most 200 values in a filter.
pub(super) const CHUNK: usize = 200;

/// A scope's firewall as its endpoints are shown it, and the versions of the stores it was
/// built from.
#[derive(Debug)]
struct Shown {
    /// Shared by every endpoint of the scope.
    firewall: Arc<Firewall>,
    built_from: (u64, u64),
}

/// Which scopes have an endpoint without the rule, and what each scope's endpoints are shown.
#[derive(Debug, Default)]
pub struct Firewalls {
    /// Scopes where the last pass found a port closed: looked at again every pass.
    unsettled: BTreeSet<Scope>,
    /// Built again only when the stores changed: this runs every pass, and a converged
    /// estate's stores do not change for minutes.
    shown: FxHashMap<Scope, Shown>,
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

    /// The scope's groups and VPC CIDRs as they are stored (stale ones too: after a failed
    /// describe, the last answer is the best there is).
    fn show(&mut self, scope: &Scope, facts: &VpcFacts) {
        let versions = (facts.groups.version(), facts.vpc_cidrs.version());
        if self
            .shown
            .get(scope)
            .is_some_and(|s| s.built_from == versions)
        {
            return;
        }
        let firewall = Firewall {
            groups: facts
                .groups
                .iter()
                .map(|(id, g)| (id.to_string(), g.clone()))
                .collect(),
            vpc_cidrs: facts
                .vpc_cidrs
                .iter()
                .map(|(id, c)| (id.to_string(), c.clone()))
                .collect(),
        };
        // A describe that found what was there before is no change: the endpoints keep the
        // firewall they were planned with (`memo.rs` compares it by identity).
        match self.shown.get_mut(scope) {
            Some(s) if *s.firewall == firewall => s.built_from = versions,
            _ => {
                let shown = Shown {
                    firewall: Arc::new(firewall),
                    built_from: versions,
                };
                self.shown.insert(scope.clone(), shown);
            }
        }
    }
}

impl<T, E, G> Engine<T, E, G>
where
    T: TidbCloud + Clone + 'static,
    E: Ec2 + Clone + 'static,
    G: Gcp + Clone + 'static,
{
    /// Fills in each observed endpoint's firewall, describing what is not known yet.
    pub(super) async fn observe_firewalls(
        &mut self,
        wanted: &[Wanted],
        per: &mut [Observed],
        outcome: &mut PassOutcome,
    ) {
        // Borrowed: this runs over every endpoint every pass, and usually finds all fresh.
        let mut needed: BTreeMap<&Scope, (BTreeSet<&str>, BTreeSet<&str>)> = BTreeMap::new();
        for (w, o) in wanted.iter().zip(per.iter()) {
            if let Some(e) = o.endpoint.as_ref().and_then(CloudEndpoint::aws) {
                let (groups, vpcs) = needed.entry(&w.scope).or_default();
                groups.extend(e.security_group_ids.iter().map(String::as_str));
                vpcs.insert(&e.vpc_id);
            }
        }
        for (scope, (groups, vpcs)) in &needed {
            let facts = self.networks.of(scope);
            let fresh = !self.firewalls.unsettled.contains(*scope)
                && groups.iter().all(|g| facts.groups.is_fresh(*g))
                && vpcs.iter().all(|v| facts.vpc_cidrs.is_fresh(*v));
            if !fresh
                && describe(&self.clouds.ec2, scope, facts, groups, vpcs)
                    .await
                    .is_err()
            {
                outcome.observe_errors += 1;
            }
            self.firewalls.show(scope, facts);
        }
        for (w, o) in wanted.iter().zip(per.iter_mut()) {
            if let Some(e) = o.endpoint.as_ref().and_then(CloudEndpoint::aws) {
                // Known once its VPC's CIDRs are: only this batch describes them.
                o.firewall = self
                    .firewalls
                    .shown
                    .get(&w.scope)
                    .filter(|s| s.firewall.vpc_cidrs.contains_key(&e.vpc_id))
                    .map(|s| s.firewall.clone());
            }
        }
    }
}

/// Describes every group and VPC of a scope, in one batch each, into its stores.
async fn describe(
    ec2: &impl Ec2,
    scope: &Scope,
    facts: &mut VpcFacts,
    groups: &BTreeSet<&str>,
    vpcs: &BTreeSet<&str>,
) -> Result<(), CloudError> {
    let groups: Vec<String> = groups.iter().map(ToString::to_string).collect();
    for chunk in groups.chunks(CHUNK) {
        let found = ec2.describe_security_groups(scope, chunk).await?;
        store_groups(&mut facts.groups, chunk, found);
    }
    let vpcs: Vec<String> = vpcs.iter().map(ToString::to_string).collect();
    for chunk in vpcs.chunks(CHUNK) {
        let found = ec2.describe_vpcs(scope, chunk).await?;
        // One that is not found does not exist (any more).
        for id in chunk {
            facts.vpc_cidrs.forget(id.as_str());
        }
        for (id, cidrs) in found {
            let life = Lifetime::Exactly(FIREWALL_TTL);
            facts.vpc_cidrs.insert(VpcKey::from(id), cidrs, life);
        }
    }
    Ok(())
}
