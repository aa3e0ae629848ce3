//! The ledger: what privatelinkd created or adopted, per document, kept durably. Identity lives
//! here; tags are the second witness (how a person sees ownership in the console, and how a
//! daemon whose ledger is lost finds its endpoints again).
//!
//! What it answers that tags cannot:
//! - an endpoint whose tags were removed or changed by hand is still ours (found by ID, its
//!   tags restored), so no second endpoint is created for its document;
//! - an endpoint deleted while no daemon ran is known to have been ours, so its TiDB Cloud
//!   connection is cleaned up at start;
//! - a document that had an endpoint and is about to get a new one is a re-creation, which the
//!   creation guard counts.
//!
//! The engine reads and changes the ledger in memory during a pass and writes what changed
//! in one flush ([`Ledger::flush`]: one transaction locally; in DynamoDB one per 40 changes to
//! an item, each fenced): before the creates of a pass are sent (their
//! intents) and after the apply (their results). A converged pass changes nothing, so it
//! writes nothing; "last seen" moves in storage at most once an hour per entry.
//!
//! Where it lives: `stateDir/ledger.sqlite` on a single host ([`local`]); beside the lease in
//! DynamoDB in a leader-election group ([`dynamo`]), every write conditional on this daemon
//! still holding the lease.

pub mod dynamo;
pub mod local;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::cloud::{Connection, Scope};
use crate::spec::DeletionPolicy;

/// How coarse "last seen" is in storage: finer would make every converged pass write.
pub const SEEN_RESOLUTION: Duration = Duration::from_secs(3600);

/// What the ledger holds of one document (keyed by its `metadata.name`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Where its endpoints are (AWS account name and region).
    pub scope: Scope,
    /// The file it was last seen in (relative to the endpoints directory).
    pub file: String,
    /// Its deletion policy when last seen.
    pub policy: DeletionPolicy,
    #[serde(default)]
    pub endpoints: Vec<EndpointRecord>,
    #[serde(default)]
    pub connections: Vec<ConnectionRecord>,
    /// A create sent (or about to be) whose answer is not recorded yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creating: Option<Intent>,
}

/// One VPC endpoint of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointRecord {
    pub id: String,
    pub how: How,
    /// Unix seconds: when it entered the ledger.
    pub since: u64,
    /// Unix seconds: when an observation last showed it (moved at most once an hour).
    pub last_seen: u64,
    /// Unix seconds: when AWS was seen not to have it (deleted, by us or by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gone_since: Option<u64>,
}

/// How an endpoint entered the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum How {
    /// This daemon created it.
    Created,
    /// A document named it (`endpointId`).
    Adopted,
    /// Found by its tags (an endpoint created before the ledger existed, or a rebuilt ledger).
    Found,
}

/// One TiDB Cloud connection of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionRecord {
    pub cluster_id: String,
    /// With the cluster and the ID, what deleting it takes (its document may be gone).
    #[serde(default)]
    pub node_group_id: String,
    pub id: String,
    /// The VPC endpoint it registers.
    pub endpoint_id: String,
    /// Unix seconds (moved at most once an hour).
    pub last_seen: u64,
}

/// A create in flight: its ClientToken makes a repeat return the same endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Intent {
    pub client_token: String,
    /// Unix seconds.
    pub since: u64,
}

impl Entry {
    pub fn new(scope: Scope, file: &str, policy: DeletionPolicy) -> Entry {
        Entry {
            scope,
            file: file.to_string(),
            policy,
            endpoints: Vec::new(),
            connections: Vec::new(),
            creating: None,
        }
    }

    /// Endpoints not known to be gone.
    pub fn live(&self) -> impl Iterator<Item = &EndpointRecord> {
        self.endpoints.iter().filter(|e| e.gone_since.is_none())
    }

    /// Endpoints AWS no longer has.
    pub fn gone(&self) -> impl Iterator<Item = &EndpointRecord> {
        self.endpoints.iter().filter(|e| e.gone_since.is_some())
    }

    /// The document had an endpoint and has none now: a create would be a re-creation.
    pub fn lost_its_endpoint(&self) -> bool {
        !self.endpoints.is_empty() && self.live().next().is_none()
    }
}

/// Why the ledger could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("the ledger {path} is corrupt: {why}")]
    Corrupt { path: String, why: String },
    #[error("cannot use the ledger {path}: {why}")]
    Io { path: String, why: String },
    /// In a group: this daemon no longer holds the lease, so it may not write.
    #[error("not the leader any more: the ledger was not written")]
    Fenced,
    #[error("DynamoDB: {0}")]
    Dynamo(String),
}

/// How the ledger came to be what it is in memory: people are told when it had to be rebuilt.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Health {
    /// Read from storage as written.
    #[default]
    Loaded,
    /// First start with a ledger: it fills from what tags show.
    New,
    /// Lost or corrupt: it fills from what tags show; nothing is deleted because of it.
    Rebuilding(String),
}

/// Where the ledger is written.
pub enum Backend {
    /// Nowhere: `plan`, the simulated cloud's tests and benchmarks.
    Memory,
    Local(local::Local),
    Dynamo(dynamo::Dynamo),
}

/// One change to storage: the entry as it is now, or its removal.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Put(String, Entry),
    Remove(String),
}

/// The ledger in memory, and where it is written.
pub struct Ledger {
    entries: BTreeMap<String, Entry>,
    /// Names changed since the last flush.
    dirty: BTreeSet<String>,
    backend: Backend,
    health: Health,
    /// Successful writes so far (tests count them; a converged pass makes none).
    writes: u64,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger::in_memory()
    }
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("entries", &self.entries.len())
            .field("dirty", &self.dirty.len())
            .field("health", &self.health)
            .finish()
    }
}

/// Unix seconds now.
pub fn now() -> u64 {
    unix(SystemTime::now())
}

pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Whether "last seen" at `last` is worth moving to `now`: once an hour at most.
fn stale(last: u64, now: u64) -> bool {
    now >= last + SEEN_RESOLUTION.as_secs()
}

impl Ledger {
    pub fn in_memory() -> Ledger {
        Ledger::with(Backend::Memory, BTreeMap::new(), Health::Loaded)
    }

    pub fn with(backend: Backend, entries: BTreeMap<String, Entry>, health: Health) -> Ledger {
        Ledger {
            entries,
            dirty: BTreeSet::new(),
            backend,
            health,
            writes: 0,
        }
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.get(name)
    }

    pub fn entries(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// Whether anything waits to be written.
    pub fn is_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    fn entry_mut(
        &mut self,
        name: &str,
        scope: &Scope,
        file: &str,
        policy: DeletionPolicy,
    ) -> &mut Entry {
        if !self.entries.contains_key(name) {
            let entry = Entry::new(scope.clone(), file, policy);
            self.entries.insert(name.to_string(), entry);
            self.dirty.insert(name.to_string());
        }
        let entry = self.entries.get_mut(name).expect("inserted above");
        if entry.file != file || entry.policy != policy || entry.scope != *scope {
            entry.file = file.to_string();
            entry.policy = policy;
            entry.scope = scope.clone();
            self.dirty.insert(name.to_string());
        }
        entry
    }

    /// An observation showed `endpoint_id` as this document's (tagged, adopted, or found by
    /// the ledger): recorded if new, "last seen" moved if an hour passed.
    pub fn saw_endpoint(&mut self, doc: DocRef<'_>, endpoint_id: &str, how: How, at: u64) {
        let name = doc.name;
        let entry = self.entry_mut(name, doc.scope, doc.file, doc.policy);
        let mut changed = false;
        match entry.endpoints.iter_mut().find(|e| e.id == endpoint_id) {
            Some(e) => {
                if stale(e.last_seen, at) || e.gone_since.is_some() {
                    e.last_seen = at;
                    e.gone_since = None;
                    changed = true;
                }
            }
            None => {
                entry.endpoints.push(EndpointRecord {
                    id: endpoint_id.to_string(),
                    how,
                    since: at,
                    last_seen: at,
                    gone_since: None,
                });
                changed = true;
            }
        }
        // A live endpoint answers the create in flight, and makes earlier ones that are gone
        // and whose connections are cleaned up history.
        if entry.creating.take().is_some() {
            changed = true;
        }
        if changed {
            self.dirty.insert(name.to_string());
        }
    }

    /// AWS does not have `endpoint_id` any more (or is deleting it).
    pub fn endpoint_gone(&mut self, name: &str, endpoint_id: &str, at: u64) {
        let Some(entry) = self.entries.get_mut(name) else {
            return;
        };
        if let Some(e) = entry
            .endpoints
            .iter_mut()
            .find(|e| e.id == endpoint_id && e.gone_since.is_none())
        {
            e.gone_since = Some(at);
            self.dirty.insert(name.to_string());
        }
    }

    /// A gone endpoint with no connection left is history: dropped, unless it is the last
    /// record that the document ever had an endpoint (the creation guard reads that).
    pub fn settle_gone(&mut self, name: &str, has_connection: impl Fn(&str) -> bool) {
        let Some(entry) = self.entries.get_mut(name) else {
            return;
        };
        let before = entry.endpoints.len();
        let live = entry.live().count();
        let mut kept_one = live > 0;
        entry.endpoints.retain(|e| {
            if e.gone_since.is_none() || has_connection(&e.id) {
                return true;
            }
            if !kept_one {
                kept_one = true;
                return true;
            }
            false
        });
        if entry.endpoints.len() != before {
            self.dirty.insert(name.to_string());
        }
    }

    /// An observation showed this document's connection.
    pub fn saw_connection(&mut self, doc: DocRef<'_>, connection: &Connection, at: u64) {
        let name = doc.name;
        let entry = self.entry_mut(name, doc.scope, doc.file, doc.policy);
        match entry.connections.iter_mut().find(|c| c.id == connection.id) {
            Some(c) if stale(c.last_seen, at) => c.last_seen = at,
            Some(_) => return,
            None => entry.connections.push(ConnectionRecord {
                cluster_id: connection.cluster_id.clone(),
                node_group_id: connection.node_group_id.clone(),
                id: connection.id.clone(),
                endpoint_id: connection.endpoint_id.clone(),
                last_seen: at,
            }),
        }
        self.dirty.insert(name.to_string());
    }

    /// A connection of this document was deleted (or TiDB Cloud no longer lists it).
    pub fn connection_gone(&mut self, name: &str, connection_id: &str) {
        if let Some(entry) = self.entries.get_mut(name) {
            let before = entry.connections.len();
            entry.connections.retain(|c| c.id != connection_id);
            if entry.connections.len() != before {
                self.dirty.insert(name.to_string());
            }
        }
    }

    /// A create is about to be sent: written before it is.
    pub fn intend(&mut self, doc: DocRef<'_>, client_token: &str, at: u64) {
        let name = doc.name;
        let entry = self.entry_mut(name, doc.scope, doc.file, doc.policy);
        if entry
            .creating
            .as_ref()
            .is_none_or(|i| i.client_token != client_token)
        {
            entry.creating = Some(Intent {
                client_token: client_token.to_string(),
                since: at,
            });
            self.dirty.insert(name.to_string());
        }
    }

    /// An endpoint left management on purpose (orphaned: our tags removed): no longer this
    /// document's. The entry goes when nothing is left in it and no document names it.
    pub fn drop_endpoint(&mut self, name: &str, endpoint_id: &str, wanted: bool) {
        let Some(entry) = self.entries.get_mut(name) else {
            return;
        };
        entry.endpoints.retain(|e| e.id != endpoint_id);
        entry.connections.retain(|c| c.endpoint_id != endpoint_id);
        if !wanted && entry.endpoints.is_empty() {
            self.entries.remove(name);
        }
        self.dirty.insert(name.to_string());
    }

    /// Read storage again before the next pass (a new leader of a group: the old one wrote).
    pub async fn reload(&mut self) -> Result<(), LedgerError> {
        let fresh = match &mut self.backend {
            Backend::Memory => return Ok(()),
            Backend::Local(local) => local.reload().await?,
            Backend::Dynamo(dynamo) => dynamo.load().await?,
        };
        self.entries = fresh;
        self.dirty.clear();
        Ok(())
    }

    /// A document's endpoint left management on purpose (deleted or orphaned after its
    /// document was removed): the ledger forgets it.
    pub fn release(&mut self, name: &str) {
        if self.entries.remove(name).is_some() {
            self.dirty.insert(name.to_string());
        }
    }

    /// The changes to write, in name order.
    fn changes(&self) -> Vec<Change> {
        self.dirty
            .iter()
            .map(|name| match self.entries.get(name) {
                Some(e) => Change::Put(name.clone(), e.clone()),
                None => Change::Remove(name.clone()),
            })
            .collect()
    }

    /// Writes what changed (one transaction locally, fenced transactions in DynamoDB). On failure the changes stay pending (and the
    /// caller must not act on them: a create whose intent is not written is not sent).
    pub async fn flush(&mut self) -> Result<(), LedgerError> {
        if self.dirty.is_empty() {
            return Ok(());
        }
        let changes = self.changes();
        match &mut self.backend {
            Backend::Memory => {}
            Backend::Local(local) => local.write(changes).await?,
            Backend::Dynamo(dynamo) => dynamo.write(&changes).await?,
        }
        self.dirty.clear();
        self.writes += 1;
        if matches!(self.health, Health::New) {
            self.health = Health::Loaded;
        }
        Ok(())
    }

    /// Someone else changed storage (`privatelinkd state forget` beside a running daemon):
    /// read it again. Pending changes are kept on top.
    pub async fn reload_if_changed(&mut self) -> Result<bool, LedgerError> {
        let fresh = match &mut self.backend {
            Backend::Memory => None,
            Backend::Local(local) => local.reload_if_changed().await?,
            Backend::Dynamo(dynamo) => dynamo.reload_if_changed().await?,
        };
        let Some(mut fresh) = fresh else {
            return Ok(false);
        };
        for name in &self.dirty {
            match self.entries.get(name) {
                Some(e) => fresh.insert(name.clone(), e.clone()),
                None => fresh.remove(name),
            };
        }
        self.entries = fresh;
        Ok(true)
    }
}

/// The moments of a create that a crash test stops the process at (`kill -9` as the process
/// itself can do it: `abort`, no unwinding, nothing flushed). Set
/// `PRIVATELINKD_CRASH_AT=intent-written|create-answered|result-written`; unset (always, in
/// production) it costs one load of a `OnceLock`.
pub fn crash_point(moment: &str) {
    static AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let at = AT.get_or_init(|| std::env::var("PRIVATELINKD_CRASH_AT").ok());
    if at.as_deref() == Some(moment) {
        eprintln!("privatelinkd: crash test: stopping at {moment}");
        std::process::abort();
    }
}

/// A document as the ledger keys and describes it.
#[derive(Debug, Clone, Copy)]
pub struct DocRef<'a> {
    pub name: &'a str,
    pub scope: &'a Scope,
    pub file: &'a str,
    pub policy: DeletionPolicy,
}

#[cfg(test)]
mod tests;
