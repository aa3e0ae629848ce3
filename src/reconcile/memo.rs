//! The incremental part of a pass: an endpoint whose document and observation are what they
//! were in the last pass keeps its plan and its sighting, shared rather than made again. A
//! converged pass then costs a comparison per endpoint instead of a plan, a copy of what was
//! seen, and (in the report) a status built and hashed.
//!
//! The planner is pure, so equal inputs give an equal plan: reusing it is not an
//! approximation. The inputs are the document (its generation and file), the owner, and the
//! observation. What the report shows (`Seen`) is compared field by field; the rest of the
//! observation (cluster, retries, probe, trouble...) is small and compared by a hash; the
//! firewall and VPC facts, shared by many endpoints, by identity (the memo holds them, so an
//! address cannot be reused by a different value while it is compared against).

use std::hash::BuildHasher;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::{Facts, Seen, Wanted};
use crate::cloud::gcp::Placement;
use crate::cloud::{Firewall, Network};
use crate::plan::{Desired, EndpointPlan, Observed, plan_endpoint};

/// What a pass saw of one desired endpoint, and a number that changes whenever that or its
/// plan does (the report rebuilds a status only when one of its endpoints' numbers moved).
#[derive(Debug, Clone)]
pub struct Sighting {
    pub seen: Arc<Seen>,
    /// The rest of what the plan was made from (served for `plan --from`).
    pub facts: Arc<Facts>,
    pub revision: u64,
}

/// One endpoint's last plan and what it was made from.
#[derive(Debug)]
struct Memo {
    /// A hash of the document and of the observation's fields that `Seen` does not hold.
    rest: u64,
    firewall: Option<Arc<Firewall>>,
    network: Option<Arc<Network>>,
    /// Google Cloud's network facts (a store entry, shared like the firewall).
    gcp_place: Option<Arc<Placement>>,
    /// Azure's subnet (a store entry, likewise).
    azure_subnet: Option<Arc<crate::cloud::azure::Subnet>>,
    seen: Arc<Seen>,
    facts: Arc<Facts>,
    plan: Arc<EndpointPlan>,
    revision: u64,
}

/// The last plan of every desired endpoint, by name.
#[derive(Debug, Default)]
pub struct Memos {
    entries: FxHashMap<Arc<str>, Memo>,
    /// The owner the plans were made for: another owner plans everything afresh.
    owner: String,
    revisions: u64,
}

impl Memos {
    /// Every desired endpoint's plan, in `wanted`'s order, and what was seen of each.
    pub fn plan(
        &mut self,
        wanted: &[Wanted],
        observed: Vec<Observed>,
        owner_id: &str,
    ) -> (Vec<Arc<EndpointPlan>>, FxHashMap<Arc<str>, Sighting>) {
        if self.owner != owner_id {
            self.entries.clear();
            self.owner = owner_id.to_string();
        }
        let mut plans = Vec::with_capacity(wanted.len());
        let mut sightings = FxHashMap::default();
        sightings.reserve(wanted.len());
        for (w, o) in wanted.iter().zip(observed) {
            let name = w.doc.metadata.name.as_str();
            let rest = rest_of(w, &o);
            if !self
                .entries
                .get(name)
                .is_some_and(|m| m.made_from(rest, &o))
            {
                let (key, last) = match self.entries.remove_entry(name) {
                    Some((key, last)) => (key, Some(last)),
                    None => (Arc::from(name), None),
                };
                let memo = self.made(w, o, rest, owner_id, last);
                self.entries.insert(key, memo);
            }
            let (key, memo) = self.entries.get_key_value(name).expect("made above");
            plans.push(memo.plan.clone());
            let sighting = Sighting {
                seen: memo.seen.clone(),
                facts: memo.facts.clone(),
                revision: memo.revision,
            };
            sightings.insert(key.clone(), sighting);
        }
        // What this pass did not name (a document removed or renamed) is forgotten. Every
        // name it did is an entry, so equal counts mean there is nothing to forget.
        if self.entries.len() != sightings.len() {
            self.entries.retain(|name, _| sightings.contains_key(name));
        }
        (plans, sightings)
    }

    /// A fresh plan for an endpoint whose inputs changed; what was seen moves into it. A plan
    /// and sighting equal to the last ones keep their revision (and are shared again): a
    /// refreshed firewall or VPC description that says what it said before is no news to the
    /// report.
    fn made(
        &mut self,
        w: &Wanted,
        o: Observed,
        rest: u64,
        owner_id: &str,
        last: Option<Memo>,
    ) -> Memo {
        let desired = Desired {
            doc: &w.doc,
            file: &w.file,
        };
        let plan = plan_endpoint(&desired, &o, owner_id);
        let facts = Arc::new(Facts::of(&w.doc, &o));
        let (firewall, network) = (o.firewall.clone(), o.network.clone());
        let gcp_place = o.gcp_place.clone();
        let azure_subnet = o.azure_subnet.clone();
        let seen = Seen {
            node_group_id: o.node_group_id,
            service: o.service,
            endpoint: o.endpoint,
            connection: o.connection,
        };
        let (plan, seen, revision) = match last {
            Some(m) if *m.plan == plan && *m.seen == seen => (m.plan, m.seen, m.revision),
            _ => {
                self.revisions += 1;
                (Arc::new(plan), Arc::new(seen), self.revisions)
            }
        };
        Memo {
            rest,
            firewall,
            network,
            gcp_place,
            azure_subnet,
            seen,
            facts,
            plan,
            revision,
        }
    }
}

impl Memo {
    /// Was the last plan made from exactly these inputs?
    fn made_from(&self, rest: u64, o: &Observed) -> bool {
        self.rest == rest
            && same(&self.firewall, &o.firewall)
            && same(&self.network, &o.network)
            && same(&self.gcp_place, &o.gcp_place)
            && same(&self.azure_subnet, &o.azure_subnet)
            && self.seen.node_group_id == o.node_group_id
            && self.seen.endpoint == o.endpoint
            && self.seen.connection == o.connection
            && self.seen.service == o.service
    }
}

/// The same shared value (a new one, even if equal, is a change: comparing a scope's whole
/// firewall once per endpoint would cost more than planning again).
fn same<T>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// A hash of the document and of the small part of the observation that `Seen` does not
/// hold. SipHash (std's, with fixed keys): a collision would reuse a stale plan, so this is
/// the well-mixed hash, over a few hundred bytes per endpoint.
fn rest_of(w: &Wanted, o: &Observed) -> u64 {
    std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default().hash_one((
        &w.generation,
        &w.file,
        &o.cluster,
        &o.adoptee,
        o.adoptee_checked,
        o.azure_subnet_checked,
        &o.azure_dns,
        o.recreating,
        &o.stale_connections,
        &o.probe,
        &o.retry,
        &o.trouble,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::ConnectionState;
    use crate::plan::tests::{connection, converged, doc};

    fn wanted(extra: &str) -> Vec<Wanted> {
        vec![Wanted::new(doc(extra), "orders.yaml")]
    }

    #[test]
    fn an_unchanged_endpoint_keeps_its_plan_and_revision() {
        let mut memos = Memos::default();
        let w = wanted("");
        let (first, seen) = memos.plan(&w, vec![converged()], "me");
        let (second, again) = memos.plan(&w, vec![converged()], "me");
        assert!(Arc::ptr_eq(&first[0], &second[0]), "planned again");
        assert!(Arc::ptr_eq(&seen["orders"].seen, &again["orders"].seen));
        assert_eq!(seen["orders"].revision, again["orders"].revision);
    }

    #[test]
    fn a_refreshed_description_that_says_the_same_keeps_the_revision() {
        let mut memos = Memos::default();
        let w = wanted("");
        let with = |firewall: &Arc<Firewall>| Observed {
            firewall: Some(firewall.clone()),
            ..converged()
        };
        let firewall = Arc::new(Firewall::default());
        let (first, seen) = memos.plan(&w, vec![with(&firewall)], "me");
        let refreshed = Arc::new(Firewall::default());
        let (second, again) = memos.plan(&w, vec![with(&refreshed)], "me");
        assert!(
            Arc::ptr_eq(&first[0], &second[0]),
            "an equal plan is shared"
        );
        assert_eq!(seen["orders"].revision, again["orders"].revision);
    }

    #[test]
    fn any_changed_input_plans_again() {
        let mut memos = Memos::default();
        let w = wanted("");
        let (first, seen) = memos.plan(&w, vec![converged()], "me");
        let mut failed = converged();
        failed.connection = Some(Arc::new(connection(ConnectionState::Failed)));
        let (second, again) = memos.plan(&w, vec![failed], "me");
        assert_ne!(first[0].phase, second[0].phase);
        assert!(again["orders"].revision > seen["orders"].revision);

        let mut troubled = converged();
        troubled.trouble = Some("cannot list".into());
        let (third, _) = memos.plan(&w, vec![troubled], "me");
        assert!(third[0].uncertain, "a change outside what the report shows");

        let edited = wanted("  privateDns: false\n");
        let (fourth, _) = memos.plan(&edited, vec![converged()], "me");
        assert_ne!(fourth[0], third[0], "a changed document");

        let (fifth, _) = memos.plan(&edited, vec![converged()], "someone-else");
        assert!(!Arc::ptr_eq(&fourth[0], &fifth[0]), "another owner");
    }

    #[test]
    fn what_no_pass_names_is_forgotten() {
        let mut memos = Memos::default();
        let w = wanted("");
        memos.plan(&w, vec![converged()], "me");
        memos.plan(&[], Vec::new(), "me");
        assert!(memos.entries.is_empty());
    }
}
