//! The consumer side of the seam on Azure: private endpoints from Resource Manager requests.
//!
//! A create is one PUT; Resource Manager answers with a long-running operation, which is read
//! when the next pass observes (never waited on): a failed one becomes the next create's
//! error, in Azure's words. The private IP TiDB Cloud must be told lives on the endpoint's
//! network interface: read once per interface and kept (an interface's IP never changes).
//! The listing of a subscription's endpoints has no tag filter: one listing per subscription
//! and page serves every location and mark asked about in a pass.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use super::{Arm, OperationState, PrivateEndpoint, PutPrivateEndpoint, segment, tag_key};
use crate::cloud::{CloudError, CloudResult, Consumer, Page, Scope};

/// Private endpoints through an [`Arm`] client; clones share what they remember.
#[derive(Clone)]
pub struct AzureLink<A> {
    arm: A,
    memory: Arc<Mutex<Memory>>,
}

#[derive(Default)]
struct Memory {
    /// Operations started, by endpoint ID, not yet seen finished.
    running: HashMap<String, String>,
    /// Why the last operation on an endpoint failed (the next create says it).
    failed: HashMap<String, String>,
    /// Network interface ID -> its private IP.
    ips: HashMap<String, String>,
}

impl<A: Arm> AzureLink<A> {
    pub fn new(arm: A) -> Self {
        AzureLink {
            arm,
            memory: Arc::default(),
        }
    }

    pub fn arm(&self) -> &A {
        &self.arm
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the operations started in `scope`'s subscription: those finished are forgotten,
    /// a failure kept for the next create of that endpoint.
    async fn settle(&self, scope: &Scope) -> CloudResult<()> {
        let running: Vec<(String, String)> = self
            .memory()
            .running
            .iter()
            .filter(|(id, _)| segment(id, "subscriptions") == Some(scope.account.as_str()))
            .map(|(id, url)| (id.clone(), url.clone()))
            .collect();
        for (id, url) in running {
            let state = match self.arm.get_operation(&url).await {
                Ok(state) => state,
                // An operation Resource Manager no longer has is over.
                Err(CloudError::NotFound(_)) => OperationState::Succeeded,
                Err(e) => return Err(e),
            };
            let mut memory = self.memory();
            match state {
                OperationState::InProgress => {}
                OperationState::Succeeded => {
                    memory.running.remove(&id);
                }
                OperationState::Failed(why) => {
                    memory.running.remove(&id);
                    memory.failed.insert(id, why);
                }
                // Overtaken (deleted in the portal meanwhile): not the next create's error.
                OperationState::Canceled(why) => {
                    tracing::info!(endpoint = %id, "{why}");
                    memory.running.remove(&id);
                }
            }
        }
        Ok(())
    }

    /// Whether an operation on `id` is still running (another would conflict: 409).
    pub fn busy(&self, id: &str) -> bool {
        self.memory().running.contains_key(id)
    }

    /// Starts creating the endpoint; a failure of the last attempt is this one's error (it
    /// is reported once: the attempt after it goes ahead).
    pub async fn create(&self, request: &PutPrivateEndpoint) -> CloudResult<()> {
        let id = super::private_endpoint_id(
            &request.subscription,
            &request.resource_group,
            &request.name,
        );
        if self.busy(&id) {
            return Err(CloudError::Transient(format!(
                "an operation on {} is still running",
                request.name
            )));
        }
        if let Some(why) = self.memory().failed.remove(&id) {
            return Err(CloudError::Permanent(why));
        }
        let request = PutPrivateEndpoint {
            tags: tags(&request.tags),
            ..request.clone()
        };
        let url = self.arm.put_private_endpoint(&request).await?;
        self.memory().running.insert(id, url);
        Ok(())
    }

    /// The endpoint with its private IP (the interface read once and kept).
    async fn with_ip(&self, mut e: PrivateEndpoint) -> CloudResult<PrivateEndpoint> {
        let Some(nic) = e.network_interface_id.clone() else {
            return Ok(e);
        };
        let known = self.memory().ips.get(&nic).cloned();
        e.private_ip = match known {
            Some(ip) => Some(ip),
            None => {
                let ip = self.arm.get_private_ip(&nic).await?;
                if let Some(ip) = &ip {
                    self.memory().ips.insert(nic, ip.clone());
                }
                ip
            }
        };
        Ok(e)
    }

    /// Every endpoint of the scope's subscription in its location that `keep` keeps, each
    /// with its IP.
    async fn listed(
        &self,
        scope: &Scope,
        keep: impl Fn(&PrivateEndpoint) -> bool,
    ) -> CloudResult<Vec<PrivateEndpoint>> {
        self.settle(scope).await?;
        let mut token: Option<String> = None;
        let mut found = Vec::new();
        loop {
            let page = self
                .arm
                .list_private_endpoints(&scope.account, token.as_deref())
                .await?;
            found.extend(
                page.items
                    .into_iter()
                    .filter(|e| e.location.eq_ignore_ascii_case(&scope.region) && keep(e)),
            );
            match page.next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        let mut out = Vec::with_capacity(found.len());
        for e in found {
            out.push(self.with_ip(e).await?);
        }
        Ok(out)
    }
}

impl<A: Arm> Consumer for AzureLink<A> {
    type Endpoint = PrivateEndpoint;

    /// The subscription's listing to its end, in one call (there is no tag filter).
    async fn list_marked(
        &self,
        scope: &Scope,
        (key, value): (&str, &str),
        _page_token: Option<&str>,
    ) -> CloudResult<Page<PrivateEndpoint>> {
        let items = self
            .listed(scope, |e| {
                e.tags.get(tag_key(key)).map(String::as_str) == Some(value)
            })
            .await?;
        Ok(Page { items, next: None })
    }

    async fn list_connected(
        &self,
        scope: &Scope,
        services: &[String],
        _page_token: Option<&str>,
    ) -> CloudResult<Page<PrivateEndpoint>> {
        let items = self
            .listed(scope, |e| {
                services
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(&e.service_id))
            })
            .await?;
        Ok(Page { items, next: None })
    }

    async fn describe_endpoints(
        &self,
        _scope: &Scope,
        ids: &[String],
    ) -> CloudResult<Vec<PrivateEndpoint>> {
        let mut found = Vec::new();
        for id in ids {
            if let Some(e) = self.arm.get_private_endpoint(id).await? {
                found.push(self.with_ip(e).await?);
            }
        }
        Ok(found)
    }

    async fn delete_endpoint(&self, _scope: &Scope, id: &str) -> CloudResult<()> {
        if self.busy(id) {
            return Err(CloudError::Transient(format!(
                "an operation on {id} is still running"
            )));
        }
        if let Some(url) = self.arm.delete_private_endpoint(id).await? {
            self.memory().running.insert(id.to_string(), url);
        }
        Ok(())
    }

    /// One read and, when something changes, one conditional write.
    async fn set_marks(
        &self,
        _scope: &Scope,
        id: &str,
        marks: &BTreeMap<String, String>,
    ) -> CloudResult<()> {
        self.arm.change_tags(id, &tags(marks), &[]).await
    }

    async fn remove_marks(&self, _scope: &Scope, id: &str, keys: &[String]) -> CloudResult<()> {
        let gone: Vec<String> = keys.iter().map(|k| tag_key(k).to_string()).collect();
        self.arm.change_tags(id, &BTreeMap::new(), &gone).await
    }
}

/// Marks as tags: their keys respelled (`tag_key`), values as they are.
fn tags(marks: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    marks
        .iter()
        .map(|(k, v)| (tag_key(k).to_string(), v.clone()))
        .collect()
}
