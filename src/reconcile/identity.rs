//! The ledger in a pass: what it finds that tags no longer show, what it learns from an
//! observation, and what it records around the apply (a create's intent before it is sent,
//! every result after).
//!
//! Costs nothing in a converged pass: each desired endpoint is one map lookup, no call is made
//! (an endpoint the tagged listing shows is ours already) and nothing is written.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;
use tracing::{info, warn};

use super::{Applied, Engine, Frozen, PassOutcome, Wanted};
use crate::cloud::gcp::Gcp;
use crate::cloud::{
    CloudEndpoint, Connection, ConnectionState, Consumer, ConsumerEndpoint, Ec2, EndpointState,
    Lifecycle, Scope, TidbCloud, VpcEndpoint,
};
use crate::ledger::{self, ConnectionRecord, DocRef, Entry, How};
use crate::plan::{Action, LastSeen, Leftover, Observed, Plan, ownership};
use crate::spec::DeletionPolicy;

/// The desired documents by name (only built in a pass that acted).
fn by_name(wanted: &[Wanted]) -> FxHashMap<&str, &Wanted> {
    wanted
        .iter()
        .map(|w| (w.doc.metadata.name.as_str(), w))
        .collect()
}

fn doc_of(w: &Wanted) -> DocRef<'_> {
    DocRef {
        name: w.doc.metadata.name.as_str(),
        scope: &w.scope,
        file: &w.file,
        policy: w.doc.spec.deletion_policy,
    }
}

impl<T, E, G> Engine<T, E, G>
where
    T: TidbCloud + Clone + 'static,
    E: Ec2 + Clone + 'static,
    G: Gcp + Clone + 'static,
{
    /// Desired endpoints the tagged listing shows none for, whose ledger entry names live
    /// endpoints: those are described by ID (one call per scope). One AWS still has is ours
    /// (its tags were removed or changed by hand: the plan restores them); one it does not
    /// is gone, and its document converges again.
    pub(super) async fn find_by_ledger(
        &mut self,
        wanted: &[Wanted],
        per: &mut [Observed],
        unlisted: &BTreeSet<Scope>,
        outcome: &mut PassOutcome,
    ) {
        let mut asked: BTreeMap<Scope, Vec<(usize, String)>> = BTreeMap::new();
        for (i, (w, o)) in wanted.iter().zip(per.iter()).enumerate() {
            if o.endpoint.is_some() || unlisted.contains(&w.scope) {
                continue;
            }
            let Some(entry) = self.ledger.get(w.doc.metadata.name.as_str()) else {
                continue;
            };
            // A document moved to another region: its old endpoint is not where it is now.
            if entry.scope != w.scope {
                continue;
            }
            for e in entry.live() {
                asked
                    .entry(entry.scope.clone())
                    .or_default()
                    .push((i, e.id.clone()));
            }
        }
        let now = ledger::now();
        for (scope, asked) in asked {
            let ids: Vec<String> = asked.iter().map(|(_, id)| id.clone()).collect();
            let mut found: FxHashMap<String, CloudEndpoint> = FxHashMap::default();
            let mut answered = true;
            for chunk in ids.chunks(super::firewall::CHUNK) {
                match self.clouds.describe_endpoints(&scope, chunk).await {
                    Ok(list) => found.extend(list.into_iter().map(|e| (e.id().to_string(), e))),
                    Err(_) => {
                        outcome.observe_errors += 1;
                        answered = false;
                    }
                }
            }
            if !answered {
                continue;
            }
            for (i, id) in asked {
                let name = wanted[i].doc.metadata.name.as_str();
                match found
                    .remove(&id)
                    .filter(|e| e.lifecycle() != Lifecycle::Going)
                {
                    Some(e) if per[i].endpoint.is_none() => {
                        warn!(
                            endpoint = name,
                            "VPC endpoint {id} is in the ledger but its owner tags were removed \
                             or changed: it is still this document's, its tags are restored"
                        );
                        per[i].endpoint = Some(e);
                    }
                    Some(_) => {}
                    None => {
                        info!(
                            endpoint = name,
                            "VPC endpoint {id} (in the ledger) no longer exists: the document \
                             converges again, its connection is cleaned up"
                        );
                        self.ledger.endpoint_gone(name, &id, now);
                    }
                }
            }
        }
    }

    /// What the observation tells the ledger (new endpoints and connections, "last seen"),
    /// and what the ledger tells the plan: a create is a re-creation; the connections of
    /// endpoints that are gone are stale (deletion policy `Delete`). Returns whether the
    /// ledger holds entries no desired endpoint accounted for (`ledger_leftovers` looks at
    /// them; a converged pass has none and skips it).
    pub(super) fn reconcile_ledger(
        &mut self,
        wanted: &[Wanted],
        per: &mut [Observed],
        unlisted: &BTreeSet<Scope>,
        connections_known: bool,
    ) -> bool {
        let now = ledger::now();
        let mut accounted = 0;
        for (w, o) in wanted.iter().zip(per.iter_mut()) {
            if unlisted.contains(&w.scope) {
                continue;
            }
            let doc = doc_of(w);
            let going = o
                .endpoint
                .as_ref()
                .filter(|e| e.lifecycle() == Lifecycle::Going);
            if let Some(e) = going {
                self.ledger.endpoint_gone(doc.name, e.id(), now);
            } else if let Some(e) = &o.endpoint {
                let how = match self.ledger.get(doc.name) {
                    Some(entry) if entry.creating.is_some() => How::Created,
                    _ if w.doc.spec.adopts() == Some(e.id()) => How::Adopted,
                    _ => How::Found,
                };
                self.ledger.saw_endpoint(doc, e.id(), how, now);
                if let Some(c) = &o.connection {
                    self.ledger.saw_connection(doc, c, now);
                }
            }
            let Some(entry) = self.ledger.get(doc.name) else {
                continue;
            };
            accounted += 1;
            let alive = o
                .endpoint
                .as_ref()
                .is_some_and(|e| e.lifecycle() != Lifecycle::Going);
            o.recreating = !alive && entry.lost_its_endpoint();
            if !connections_known {
                continue;
            }
            if doc.policy == DeletionPolicy::Delete {
                for gone in entry.gone() {
                    let Some(c) = self.connections.of(&gone.id) else {
                        continue;
                    };
                    let known = o.stale_connections.iter().any(|s| s.id == c.id);
                    if c.state != ConnectionState::Deleting && !known {
                        o.stale_connections.push((**c).clone());
                    }
                }
            }
            let book = &self.connections;
            self.ledger
                .settle_gone(doc.name, |id| book.of(id).is_some());
        }
        self.ledger.len() > accounted
    }

    /// Entries of documents that are gone (no valid document names them) whose endpoints
    /// the tagged listing does not show: described by ID. One AWS no longer has leaves its
    /// connections to delete (policy `Delete`): a removal of those connections alone. One
    /// AWS still has, untagged, is not touched (its document and its tags are both gone: nothing
    /// says it is wanted, nor that it may be deleted). An entry with nothing left goes.
    pub(super) async fn ledger_leftovers(
        &mut self,
        wanted: &[Wanted],
        tagged: &BTreeSet<String>,
        unlisted: &BTreeSet<Scope>,
        frozen: &Frozen,
        outcome: &mut PassOutcome,
    ) -> Vec<Leftover> {
        let wanted_names: BTreeSet<&str> = wanted
            .iter()
            .map(|w| w.doc.metadata.name.as_str())
            .collect();
        let orphans: Vec<(String, Entry)> = self
            .ledger
            .entries()
            .filter(|(name, e)| {
                !wanted_names.contains(name.as_str())
                    && !tagged.contains(*name)
                    && !unlisted.contains(&e.scope)
                    && !frozen.covers(name, [e.file.as_str()])
            })
            .map(|(name, e)| (name.clone(), e.clone()))
            .collect();
        if orphans.is_empty() {
            return Vec::new();
        }
        let now = ledger::now();
        let mut by_scope: BTreeMap<&Scope, Vec<String>> = BTreeMap::new();
        for (_, e) in &orphans {
            by_scope
                .entry(&e.scope)
                .or_default()
                .extend(e.live().map(|r| r.id.clone()));
        }
        let mut alive = BTreeSet::new();
        let mut unanswered = BTreeSet::new();
        for (scope, ids) in by_scope.into_iter().filter(|(_, ids)| !ids.is_empty()) {
            for chunk in ids.chunks(super::firewall::CHUNK) {
                match self.clouds.describe_endpoints(scope, chunk).await {
                    Ok(list) => alive.extend(
                        list.into_iter()
                            .filter(|e| e.lifecycle() != Lifecycle::Going)
                            .map(|e| e.id().to_string()),
                    ),
                    Err(_) => {
                        outcome.observe_errors += 1;
                        unanswered.insert(scope.clone());
                    }
                }
            }
        }
        let mut leftovers = Vec::new();
        for (name, entry) in orphans {
            if unanswered.contains(&entry.scope) {
                continue;
            }
            for r in entry.live() {
                if alive.contains(&r.id) {
                    warn!(
                        endpoint = %name,
                        "VPC endpoint {} (in the ledger) lost its owner tags and its document: \
                         it is left alone and forgotten",
                        r.id
                    );
                    self.ledger.drop_endpoint(&name, &r.id, false);
                } else {
                    self.ledger.endpoint_gone(&name, &r.id, now);
                }
            }
            let Some(entry) = self.ledger.get(&name).cloned() else {
                continue;
            };
            let gone: BTreeSet<&str> = entry.gone().map(|r| r.id.as_str()).collect();
            let stale: Vec<&ConnectionRecord> = entry
                .connections
                .iter()
                .filter(|c| gone.contains(c.endpoint_id.as_str()))
                .collect();
            if stale.is_empty() || entry.policy == DeletionPolicy::Orphan {
                self.ledger.release(&name);
                continue;
            }
            for c in stale {
                leftovers.push(gone_leftover(&name, &entry, c, &self.owner_id));
            }
        }
        leftovers
    }

    /// Before the apply: the intent of every create, written durably before any is sent.
    /// If the ledger cannot be written, no create goes out this pass.
    pub(super) async fn record_intents(&mut self, wanted: &[Wanted], plan: &mut Plan) {
        let creates: Vec<(&str, &str)> = plan
            .all()
            .flat_map(|p| {
                p.actions.iter().filter_map(|a| match a {
                    Action::CreateVpcEndpoint { request, .. } => {
                        Some((p.name.as_str(), request.client_token.as_str()))
                    }
                    _ => None,
                })
            })
            .collect();
        if creates.is_empty() {
            return;
        }
        let by_name = by_name(wanted);
        let now = ledger::now();
        for (name, token) in creates {
            if let Some(w) = by_name.get(name) {
                self.ledger.intend(doc_of(w), token, now);
            }
        }
        match self.ledger.flush().await {
            Ok(()) => ledger::crash_point("intent-written"),
            Err(e) => {
                warn!("the ledger cannot be written, so no endpoint is created this pass: {e}");
                let creating = |p: &crate::plan::EndpointPlan| {
                    p.actions
                        .iter()
                        .any(|a| matches!(a, Action::CreateVpcEndpoint { .. }))
                };
                plan.change_where(creating, |p| {
                    p.actions.clear();
                    p.message = format!("{}; waiting to record the create: {e}", p.message);
                });
            }
        }
    }

    /// The endpoints whose connections this pass deleted that the ledger knows to be gone
    /// (a cleanup, not the endpoint's own business), with their documents.
    pub(super) fn ledger_gone(&self, applied: &[Applied]) -> BTreeMap<String, String> {
        applied
            .iter()
            .filter_map(|a| {
                let id = a.deleted_connection_of.as_deref()?;
                let entry = self.ledger.get(&a.name)?;
                entry
                    .gone()
                    .any(|e| e.id == id)
                    .then(|| (id.to_string(), a.name.clone()))
            })
            .collect()
    }

    /// A cleanup TiDB Cloud refused for good is given up (the error policy says so once):
    /// the ledger stops asking for it.
    pub(super) fn give_up_cleanups(
        &mut self,
        applied: &[Applied],
        gone: &BTreeMap<String, String>,
    ) {
        for a in applied {
            let (Some(id), Err(e)) = (a.deleted_connection_of.as_deref(), &a.result) else {
                continue;
            };
            if let Some(name) = gone.get(id).filter(|_| !e.is_transient()) {
                self.ledger.drop_endpoint(name, id, true);
            }
        }
    }

    /// After the apply: what was created, registered, deleted or released, written.
    pub(super) async fn record_results(&mut self, wanted: &[Wanted], applied: &[Applied]) {
        if applied.is_empty() && !self.ledger.is_dirty() {
            return;
        }
        // The hourly "last seen" flush of a pass that applied nothing needs no index.
        let by_name = if applied.is_empty() {
            FxHashMap::default()
        } else {
            by_name(wanted)
        };
        let now = ledger::now();
        for a in applied.iter().filter(|a| a.result.is_ok()) {
            let w = by_name.get(a.name.as_str()).copied();
            let Some(endpoint_id) = a.endpoint_id.as_deref() else {
                continue;
            };
            match (a.kind, w) {
                ("create_vpc_endpoint", Some(w)) => {
                    self.ledger
                        .saw_endpoint(doc_of(w), endpoint_id, How::Created, now);
                }
                ("register_connection", Some(w)) => {
                    if let Some(c) = &a.connection {
                        self.ledger.saw_connection(doc_of(w), c, now);
                    }
                }
                ("delete_connection", _) => {
                    if let Some(c) = &a.connection {
                        self.ledger.connection_gone(&a.name, &c.id);
                    }
                }
                ("delete_vpc_endpoint", Some(_)) => {
                    self.ledger.endpoint_gone(&a.name, endpoint_id, now);
                }
                ("delete_vpc_endpoint", None) => self.ledger.release(&a.name),
                _ if a.released => {
                    self.ledger.drop_endpoint(&a.name, endpoint_id, w.is_some());
                }
                _ => {}
            }
        }
        if let Err(e) = self.ledger.flush().await {
            // Kept in memory and written with the next flush; tags and ClientTokens cover
            // the meantime.
            warn!("the ledger cannot be written (retried next pass): {e}");
        } else {
            ledger::crash_point("result-written");
        }
    }
}

/// A removal of the connection a gone endpoint left, as the planner takes removals: the
/// endpoint as AWS would show a deleted one, marked as the ledger remembers it. Whatever its
/// cloud, only its ID, marks and lifecycle (gone) are read: the removal deletes the
/// connection and nothing in the cloud.
fn gone_leftover(name: &str, entry: &Entry, c: &ConnectionRecord, owner_id: &str) -> Leftover {
    let tags = [
        (ownership::OWNER, owner_id),
        (ownership::NAME, name),
        (ownership::FILE, entry.file.as_str()),
    ];
    let endpoint = VpcEndpoint {
        id: c.endpoint_id.clone(),
        vpc_id: String::new(),
        service_name: String::new(),
        state: EndpointState::Deleted,
        private_dns_enabled: false,
        subnet_ids: Vec::new(),
        security_group_ids: Vec::new(),
        tags: tags
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let connection = Connection {
        id: c.id.clone(),
        cluster_id: c.cluster_id.clone(),
        node_group_id: c.node_group_id.clone(),
        endpoint_id: c.endpoint_id.clone(),
        state: ConnectionState::Active,
        message: String::new(),
        host: String::new(),
        port: 0,
    };
    Leftover {
        scope: entry.scope.clone(),
        endpoint: endpoint.into(),
        connection: Some(connection),
        frozen: false,
        last_seen: Some(LastSeen {
            policy: entry.policy,
            file: entry.file.clone(),
        }),
    }
}
