//! The Private Service Connect consumer over a Compute Engine client (`Gcp`): the seam's
//! implementation for Google Cloud. It joins an address and a forwarding rule of one name into
//! a `PscEndpoint`, creates one step per pass (reserve the address; once observed reserved, the
//! rule), deletes in the reverse order, and keeps the operations it started, read when the next
//! pass observes, so that a failed operation becomes the next create's error.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::{
    Address, ForwardingRule, Gcp, InsertAddress, InsertForwardingRule, Labelled, OperationState,
    PscEndpoint, labels,
};
use crate::cloud::{CloudError, CloudResult, Consumer, Page, Scope};

/// What a create did this time: each step is one pass's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateStep {
    /// The address is being reserved; the forwarding rule comes when it is.
    ReservingAddress,
    /// Still reserving: nothing sent.
    WaitingForAddress,
    /// The forwarding rule is being created.
    CreatingRule,
}

/// A create, as the planner asks for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePsc {
    pub name: String,
    pub network: String,
    pub subnetwork: String,
    pub address: Option<String>,
    pub target: String,
    pub allow_psc_global_access: bool,
    /// Our marks (`plan::ownership`'s keys), written as labels.
    #[serde(skip)]
    pub marks: BTreeMap<String, String>,
    /// Derives both requests' IDs: a create resent after a crash is the same create.
    #[serde(skip)]
    pub token: String,
    /// The address, when the observation found it reserved: the step is then the rule's (no
    /// read spent to find out, so a pass's listing cannot starve its create of read budget).
    #[serde(skip)]
    pub reserved: Option<String>,
}

/// How many spent `requestId`s one create steps past before giving up for this pass.
const SPENT_TOKENS: usize = 8;

/// Operations started and not yet seen done, by scope and resource name.
type Inflight = BTreeMap<(Scope, String), String>;

/// The Private Service Connect consumer over a Compute Engine client: the seam's
/// implementation for Google Cloud. Clones share the operations in flight.
#[derive(Clone)]
pub struct Psc<G> {
    gcp: G,
    inflight: Arc<Mutex<Inflight>>,
    /// Operations that failed, by scope and name: the next create of that name says why.
    failed: Arc<Mutex<BTreeMap<(Scope, String), String>>>,
    /// Operations seen done: an insert answered with one of them was spent on an earlier
    /// resource (Google answers a known `requestId` with its operation), not a new one.
    finished: Arc<Mutex<std::collections::BTreeSet<String>>>,
    /// The last operation seen done on each name: the next insert of that name derives its
    /// `requestId` from it, so that a re-creation (the rule deleted in the console, the
    /// document back) is a new request, not the spent one.
    last_done: Arc<Mutex<BTreeMap<(Scope, String), String>>>,
}

impl<G: Gcp> Psc<G> {
    pub fn new(gcp: G) -> Psc<G> {
        Psc {
            gcp,
            inflight: Arc::default(),
            failed: Arc::default(),
            finished: Arc::default(),
            last_done: Arc::default(),
        }
    }

    pub fn inner(&self) -> &G {
        &self.gcp
    }

    fn started(&self, scope: &Scope, name: &str, operation: String) {
        let mut inflight = self.inflight.lock().expect("not poisoned");
        inflight.insert((scope.clone(), name.to_string()), operation);
    }

    /// Reads the operations started in `scope` (one operation read each, only while some
    /// are in flight): failures are kept for the next create of that name.
    async fn settle(&self, scope: &Scope) -> CloudResult<()> {
        let pending: Vec<(String, String)> = {
            let inflight = self.inflight.lock().expect("not poisoned");
            inflight
                .iter()
                .filter(|((s, _), _)| s == scope)
                .map(|((_, name), op)| (name.clone(), op.clone()))
                .collect()
        };
        for (name, op) in pending {
            let state = match self.gcp.get_operation(scope, &op).await {
                // An operation Google no longer has is long done.
                Err(CloudError::NotFound(_)) => OperationState::Done,
                other => other?,
            };
            if state == OperationState::Running {
                continue;
            }
            self.finished
                .lock()
                .expect("not poisoned")
                .insert(op.clone());
            let done_on = (scope.clone(), name.clone());
            self.last_done
                .lock()
                .expect("not poisoned")
                .insert(done_on, op.clone());
            let key = (scope.clone(), name);
            if let OperationState::Failed(why) = state {
                self.failed
                    .lock()
                    .expect("not poisoned")
                    .insert(key.clone(), why);
            }
            self.inflight.lock().expect("not poisoned").remove(&key);
        }
        Ok(())
    }

    /// Whether an operation on `name` is still running (a second mutation would be refused).
    fn busy(&self, scope: &Scope, name: &str) -> bool {
        let inflight = self.inflight.lock().expect("not poisoned");
        inflight.contains_key(&(scope.clone(), name.to_string()))
    }

    /// One step of a create: reserve the address, or, once it is reserved, create the
    /// forwarding rule. An earlier step's operation that failed fails this call with
    /// Google's words (so the endpoint backs off and says why).
    pub async fn create(&self, scope: &Scope, request: &CreatePsc) -> CloudResult<CreateStep> {
        let key = (scope.clone(), request.name.clone());
        if let Some(why) = self.failed.lock().expect("not poisoned").remove(&key) {
            return Err(CloudError::Permanent(why));
        }
        if self.busy(scope, &request.name) {
            return Ok(CreateStep::WaitingForAddress);
        }
        let labels = labels::encode(&request.marks);
        let last = self
            .last_done
            .lock()
            .expect("not poisoned")
            .get(&key)
            .cloned();
        let token = match last {
            Some(op) => format!("{}/{op}", request.token),
            None => request.token.clone(),
        };
        let Some(address) = request.reserved.clone() else {
            let mut insert = InsertAddress {
                name: request.name.clone(),
                subnetwork: request.subnetwork.clone(),
                address: request.address.clone(),
                labels,
                request_id: labels::request_id(&token, "address"),
            };
            let mut op = self.gcp.insert_address(scope, &insert).await?;
            for _ in 0..SPENT_TOKENS {
                let Some(next) = self.spent(&op, &token, "address") else {
                    break;
                };
                insert.request_id = next;
                op = self.gcp.insert_address(scope, &insert).await?;
            }
            self.started(scope, &request.name, op);
            return Ok(CreateStep::ReservingAddress);
        };
        let mut insert = InsertForwardingRule {
            name: request.name.clone(),
            network: request.network.clone(),
            address,
            target: request.target.clone(),
            allow_psc_global_access: request.allow_psc_global_access,
            labels,
            request_id: labels::request_id(&token, "forwarding-rule"),
        };
        let mut op = self.gcp.insert_forwarding_rule(scope, &insert).await?;
        for _ in 0..SPENT_TOKENS {
            let Some(next) = self.spent(&op, &token, "forwarding-rule") else {
                break;
            };
            insert.request_id = next;
            op = self.gcp.insert_forwarding_rule(scope, &insert).await?;
        }
        self.started(scope, &request.name, op);
        Ok(CreateStep::CreatingRule)
    }

    /// When an insert was answered with an operation already seen done (its `requestId`
    /// made a resource that is gone since, or failed), the `requestId` to send instead:
    /// derived from that operation, so it is as repeatable after a crash as the first.
    fn spent(&self, op: &str, token: &str, step: &str) -> Option<String> {
        let finished = self.finished.lock().expect("not poisoned");
        finished
            .contains(op)
            .then(|| labels::request_id(&format!("{token}/{op}"), step))
    }

    /// Pages through one listing to its end.
    async fn all<T, F, Fut>(&self, list: F) -> CloudResult<Vec<T>>
    where
        F: Fn(Option<String>) -> Fut,
        Fut: Future<Output = CloudResult<Page<T>>>,
    {
        let mut items = Vec::new();
        let mut token = None;
        loop {
            let page = list(token).await?;
            items.extend(page.items);
            match page.next {
                Some(next) => token = Some(next),
                None => return Ok(items),
            }
        }
    }
}

/// Joins rules and addresses by name.
fn join(scope: &Scope, rules: Vec<ForwardingRule>, addresses: Vec<Address>) -> Vec<PscEndpoint> {
    let mut by_name: BTreeMap<String, PscEndpoint> = BTreeMap::new();
    let blank = |name: &str| PscEndpoint {
        name: name.to_string(),
        project: scope.account.clone(),
        region: scope.region.clone(),
        rule: None,
        address: None,
    };
    for rule in rules {
        let name = rule.name.clone();
        by_name
            .entry(name.clone())
            .or_insert_with(|| blank(&name))
            .rule = Some(rule);
    }
    for address in addresses {
        let name = address.name.clone();
        by_name
            .entry(name.clone())
            .or_insert_with(|| blank(&name))
            .address = Some(address);
    }
    by_name.into_values().collect()
}

impl<G: Gcp> Consumer for Psc<G> {
    type Endpoint = PscEndpoint;

    /// Both listings of the region, to their ends, in one call: a region holds few endpoints
    /// (TiDB Cloud allows 10 per cluster), and a rule is only whole with its address.
    async fn list_marked(
        &self,
        scope: &Scope,
        mark: (&str, &str),
        _page_token: Option<&str>,
    ) -> CloudResult<Page<PscEndpoint>> {
        self.settle(scope).await?;
        let (key, value) = (
            labels::key(mark.0).unwrap_or(mark.0),
            labels::value(mark.0, mark.1),
        );
        let label = (key, value.as_ref());
        let rules = self
            .all(|t| async move {
                self.gcp
                    .list_forwarding_rules(scope, label, t.as_deref())
                    .await
            })
            .await?;
        let addresses = self
            .all(|t| async move { self.gcp.list_addresses(scope, label, t.as_deref()).await })
            .await?;
        Ok(Page {
            items: join(scope, rules, addresses),
            next: None,
        })
    }

    /// The rules targeting the attachments, each with its address (by the rule's name, as
    /// privatelinkd and TiDB Cloud's guide name them): one listing, then one read per rule
    /// (TiDB Cloud allows ten a cluster).
    async fn list_connected(
        &self,
        scope: &Scope,
        services: &[String],
        _page_token: Option<&str>,
    ) -> CloudResult<Page<PscEndpoint>> {
        let rules = self
            .all(|t| async move {
                self.gcp
                    .list_forwarding_rules_to(scope, services, t.as_deref())
                    .await
            })
            .await?;
        let mut addresses = Vec::new();
        for rule in &rules {
            addresses.extend(self.gcp.get_address(scope, &rule.name).await?);
        }
        Ok(Page {
            items: join(scope, rules, addresses),
            next: None,
        })
    }

    async fn describe_endpoints(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<Vec<PscEndpoint>> {
        let mut found = Vec::new();
        for name in ids {
            let rule = self.gcp.get_forwarding_rule(scope, name).await?;
            let address = self.gcp.get_address(scope, name).await?;
            found.extend(join(
                scope,
                rule.into_iter().collect(),
                address.into_iter().collect(),
            ));
        }
        Ok(found)
    }

    /// The rule first (an address in use cannot go); the address once the rule is gone, which
    /// is a later pass's delete when the rule's deletion is still running.
    async fn delete_endpoint(&self, scope: &Scope, name: &str) -> CloudResult<()> {
        if self.busy(scope, name) {
            return Err(CloudError::Transient(format!(
                "an operation on {name} is still running"
            )));
        }
        if self.gcp.get_forwarding_rule(scope, name).await?.is_some() {
            let op = self.gcp.delete_forwarding_rule(scope, name).await?;
            self.started(scope, name, op);
            return Ok(());
        }
        match self.gcp.delete_address(scope, name).await {
            Ok(op) => {
                self.started(scope, name, op);
                Ok(())
            }
            Err(CloudError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn set_marks(
        &self,
        scope: &Scope,
        name: &str,
        marks: &BTreeMap<String, String>,
    ) -> CloudResult<()> {
        let add = labels::encode(marks);
        self.relabel(scope, name, |labels| labels.extend(add.clone()))
            .await
    }

    async fn remove_marks(&self, scope: &Scope, name: &str, keys: &[String]) -> CloudResult<()> {
        let gone: Vec<&str> = keys.iter().filter_map(|k| labels::key(k)).collect();
        self.relabel(scope, name, |labels| {
            labels.retain(|k, _| !gone.contains(&k.as_str()))
        })
        .await
    }
}

impl<G: Gcp> Psc<G> {
    /// Reads both halves and writes each one's labels changed by `change` (a fresh
    /// fingerprint each time: a 412 means someone else changed them in between, and the
    /// next pass reads again).
    async fn relabel(
        &self,
        scope: &Scope,
        name: &str,
        change: impl Fn(&mut BTreeMap<String, String>),
    ) -> CloudResult<()> {
        let mut found = false;
        if let Some(rule) = self.gcp.get_forwarding_rule(scope, name).await? {
            found = true;
            let mut labels = rule.labels.clone();
            change(&mut labels);
            if labels != rule.labels {
                let kind = Labelled::ForwardingRule;
                let fp = &rule.label_fingerprint;
                self.gcp.set_labels(scope, kind, name, &labels, fp).await?;
            }
        }
        if let Some(address) = self.gcp.get_address(scope, name).await? {
            found = true;
            let mut labels = address.labels.clone();
            change(&mut labels);
            if labels != address.labels {
                let fp = &address.label_fingerprint;
                self.gcp
                    .set_labels(scope, Labelled::Address, name, &labels, fp)
                    .await?;
            }
        }
        if found {
            Ok(())
        } else {
            Err(CloudError::NotFound(format!(
                "Private Service Connect endpoint {name} does not exist in {} ({})",
                scope.region, scope.account
            )))
        }
    }
}
