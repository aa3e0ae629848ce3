//! VPC endpoints of ours that AWS no longer has, and the TiDB Cloud connections they leave.
//!
//! A VPC endpoint deleted in the AWS console leaves its TiDB Cloud connection behind: the
//! daemon creates and registers a new endpoint, and the old connection names an endpoint that
//! is gone, so nothing can ever use it. Connections carry no tags (their labels are read-only),
//! so the only proof that one was ours is that its endpoint was: an endpoint listed with our
//! owner tag in one pass and missing from a complete listing in a later one. Missing from the
//! listing is not gone, though: an orphaned endpoint (our tags removed on purpose) or a hand
//! edit of the owner tag leaves the listing too, and its connection still serves. So each
//! endpoint that leaves the listing is described by ID, and only one that AWS does not have,
//! or is deleting, counts as gone.
//!
//! What is remembered lives as long as the process: after a restart, an endpoint deleted while
//! the daemon was down is not known to have been ours, and its connection stays.
//!
//! Not a cache, so not a `Store`: nothing here goes stale with time. Each entry moves on when a
//! listing shows or misses its endpoint (counted in passes) or a describe answers for it.

use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet};

use super::store::EndpointKey;
use crate::cloud::{Connection, ConnectionState, Consumer, ConsumerEndpoint, Lifecycle, Scope};

/// One owned endpoint as a listing showed it.
#[derive(Debug, Clone)]
struct Listed {
    scope: Scope,
    /// The endpoint's name (its name tag).
    name: String,
    /// The pass that listed it last.
    pass: u64,
    /// AWS was deleting it then.
    deleting: bool,
}

#[derive(Debug, Default)]
pub struct Gone {
    pass: u64,
    /// Owned endpoints as the latest complete listing of their scope showed them, by ID.
    listed: FxHashMap<EndpointKey, Listed>,
    /// Left the listing; not yet known whether AWS still has them.
    unsure: BTreeMap<EndpointKey, Listed>,
    /// AWS does not have them (or is deleting them): their connections are stale.
    gone: BTreeMap<EndpointKey, Listed>,
}

impl Gone {
    /// A new owned listing begins.
    pub fn begin(&mut self) {
        self.pass += 1;
    }

    /// One owned endpoint of the listing (deleting ones included). Costs no allocation for an
    /// endpoint listed before: this runs for every endpoint in every pass.
    pub fn saw(&mut self, scope: &Scope, endpoint: &impl ConsumerEndpoint, name: &str) {
        let deleting = endpoint.lifecycle() == Lifecycle::Going;
        let id = endpoint.id();
        if let Some(l) = self.listed.get_mut(id) {
            l.pass = self.pass;
            l.deleting = deleting;
            if l.name != name {
                l.name = name.to_string();
            }
        } else {
            let listed = Listed {
                scope: scope.clone(),
                name: name.to_string(),
                pass: self.pass,
                deleting,
            };
            self.listed.insert(EndpointKey::from(id), listed);
        }
        if deleting && !self.gone.contains_key(id) {
            self.gone
                .insert(EndpointKey::from(id), self.listed[id].clone());
        }
    }

    /// The listing is over: what it no longer shows, in the scopes it could list, is suspect.
    pub fn end(&mut self, unlisted: &BTreeSet<Scope>) {
        let pass = self.pass;
        let left: Vec<EndpointKey> = self
            .listed
            .iter()
            .filter(|(_, l)| l.pass != pass && !unlisted.contains(&l.scope))
            .map(|(id, _)| id.clone())
            .collect();
        for id in left {
            let Some(l) = self.listed.remove(&id) else {
                continue;
            };
            // Seen deleting, it is known gone already.
            if !l.deleting {
                self.unsure.insert(id, l);
            }
        }
    }

    /// Describes the endpoints that left the listing, by ID, one call per scope: those AWS does
    /// not have (or is deleting) are gone; the others (orphaned, retagged) are not ours to
    /// follow. Returns the number of failed calls (they are asked again next pass).
    pub async fn confirm(&mut self, ec2: &impl Consumer) -> usize {
        let mut by_scope: BTreeMap<Scope, Vec<String>> = BTreeMap::new();
        for (id, l) in &self.unsure {
            by_scope
                .entry(l.scope.clone())
                .or_default()
                .push(id.to_string());
        }
        let mut errors = 0;
        for (scope, ids) in by_scope {
            for ids in ids.chunks(super::firewall::CHUNK) {
                errors += self.confirm_some(ec2, &scope, ids).await;
            }
        }
        errors
    }

    async fn confirm_some(&mut self, ec2: &impl Consumer, scope: &Scope, ids: &[String]) -> usize {
        match ec2.describe_endpoints(scope, ids).await {
            Ok(found) => {
                let alive: BTreeSet<&str> = found
                    .iter()
                    .filter(|e| e.lifecycle() != Lifecycle::Going)
                    .map(|e| e.id())
                    .collect();
                for id in ids {
                    let Some(l) = self.unsure.remove(id.as_str()) else {
                        continue;
                    };
                    if !alive.contains(id.as_str()) {
                        self.gone.insert(EndpointKey::from(id.as_str()), l);
                    }
                }
                0
            }
            Err(_) => 1,
        }
    }

    /// Whether `endpoint_id` is one AWS no longer has (its connection is a cleanup, not the
    /// endpoint's own business).
    pub fn is_gone(&self, endpoint_id: &str) -> bool {
        self.gone.contains_key(endpoint_id)
    }

    /// Stops cleaning up after `endpoint_id` (its connection could not be deleted for good).
    pub fn give_up(&mut self, endpoint_id: &str) {
        self.gone.remove(endpoint_id);
    }

    /// The connections of gone endpoints, by the endpoint's name, as `connection_of` knows
    /// them: those not being deleted already. A gone endpoint whose connection is gone too (or
    /// going) is forgotten.
    pub fn stale<'a>(
        &mut self,
        connection_of: impl Fn(&str) -> Option<&'a Connection>,
    ) -> BTreeMap<String, Vec<Connection>> {
        let mut stale: BTreeMap<String, Vec<Connection>> = BTreeMap::new();
        self.gone.retain(|id, l| {
            match connection_of(id.as_str()).filter(|c| c.state != ConnectionState::Deleting) {
                Some(c) => {
                    stale.entry(l.name.clone()).or_default().push(c.clone());
                    true
                }
                None => false,
            }
        });
        stale
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::VpcEndpoint;

    fn scope() -> Scope {
        Scope::aws("default", "us-east-1")
    }

    fn endpoint(id: &str, state: &str) -> VpcEndpoint {
        VpcEndpoint {
            id: id.into(),
            vpc_id: "vpc-1".into(),
            service_name: "com.amazonaws.vpce.us-east-1.vpce-svc-1".into(),
            state: state.into(),
            private_dns_enabled: false,
            subnet_ids: Vec::new(),
            security_group_ids: Vec::new(),
            tags: Default::default(),
        }
    }

    fn connection(endpoint_id: &str, state: ConnectionState) -> Connection {
        Connection {
            id: format!("c-{endpoint_id}"),
            cluster_id: "1".into(),
            node_group_id: "2".into(),
            endpoint_id: endpoint_id.into(),
            state,
            message: String::new(),
            host: String::new(),
            port: 4000,
        }
    }

    #[test]
    fn a_deleting_endpoint_is_gone_at_once_and_forgotten_with_its_connection() {
        let (s, mut gone) = (scope(), Gone::default());
        gone.begin();
        gone.saw(&s, &endpoint("vpce-1", "deleting"), "orders");
        gone.end(&BTreeSet::new());
        let active = connection("vpce-1", ConnectionState::Active);
        let stale = gone.stale(|id| (id == "vpce-1").then_some(&active));
        assert_eq!(stale["orders"], vec![active.clone()]);
        // Being deleted (by this daemon): nothing more to do, nothing more to remember.
        let deleting = connection("vpce-1", ConnectionState::Deleting);
        assert!(gone.stale(|_| Some(&deleting)).is_empty());
        assert!(gone.stale(|_| Some(&active)).is_empty());
    }

    #[test]
    fn an_endpoint_that_leaves_an_unlisted_scope_is_not_suspected() {
        let (s, mut gone) = (scope(), Gone::default());
        gone.begin();
        gone.saw(&s, &endpoint("vpce-1", "available"), "orders");
        gone.end(&BTreeSet::new());
        gone.begin();
        gone.end(&BTreeSet::from([s.clone()]));
        assert!(gone.unsure.is_empty());
        // The listing works again and the endpoint is missing: now it is suspected.
        gone.begin();
        gone.end(&BTreeSet::new());
        let unsure: Vec<&str> = gone.unsure.keys().map(EndpointKey::as_str).collect();
        assert_eq!(unsure, ["vpce-1"]);
    }
}
