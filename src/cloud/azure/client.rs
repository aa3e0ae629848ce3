//! The real Azure Resource Manager client behind [`Arm`]: `Microsoft.Network` REST requests
//! (api-version [`API_VERSION`]) over reqwest, one request per trait method (but
//! `update_tags` and `change_tags`: see there), with bearer tokens from [`Tokens`].
//!
//! What it leaves to the rest of privatelinkd, as the Compute Engine client does: retries and
//! budgets (the call gate, `budget::Budgeted`), waiting on operations (a PUT or DELETE answers
//! its operation's URL at once; a later pass reads it), the order of steps (`AzureLink`).
//!
//! Two rules keep the token where it belongs: every URL it is sent to is on the configured
//! Resource Manager host (operation URLs and `nextLink`s Resource Manager hands out are
//! checked; others refused), and redirects are not followed.
//!
//! Resource Manager's remaining-budget headers (`x-ms-ratelimit-remaining-subscription-reads`,
//! `-writes`, `-deletes`, and their `-global-` twins) are logged at debug level; when one says
//! nothing is left, the next request of that kind in that subscription within a second is
//! not sent but answered as a throttle (`Throttled`, 1 s), which the gate waits out as it
//! waits out a 429.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::token::{AzureCredentials, Tokens, base_url};
use super::wire::{self, WireEndpoint, WireList};
use super::{API_VERSION, Arm, OperationState, PrivateEndpoint, PutPrivateEndpoint, Subnet};
use crate::cloud::{CloudError, CloudResult, Page};

/// Azure's public cloud.
pub const ENDPOINT_URL: &str = "https://management.azure.com";
/// One attempt's bound: a request Resource Manager has not answered by then is `Unreachable`.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How long a bucket that a header said was empty is left alone.
const EMPTY_BUCKET_WAIT: Duration = Duration::from_secs(1);
/// Resource Manager takes request messages of up to 140 characters.
const REQUEST_MESSAGE_MAX: usize = 140;

/// Where the client connects and with what credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmConfig {
    /// `None`: [`ENDPOINT_URL`]; a fake's `http://127.0.0.1:PORT` (plain http is taken only
    /// for loopback).
    pub endpoint_url: Option<String>,
    /// Entra ID; `None`: `https://login.microsoftonline.com`.
    pub authority_host: Option<String>,
    pub credentials: AzureCredentials,
    /// Who calls, added to the User-Agent (a group member's name).
    pub caller: Option<String>,
}

/// Which of a subscription's buckets a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Read,
    Write,
    Delete,
}

impl Kind {
    fn of(method: &Method) -> Kind {
        match *method {
            Method::GET | Method::HEAD => Kind::Read,
            Method::DELETE => Kind::Delete,
            _ => Kind::Write,
        }
    }
}

/// An answer: its status, headers and body.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    tokens: Tokens,
    /// (subscription, kind) -> until when a header said that bucket was empty.
    empty: Mutex<HashMap<(String, Kind), Instant>>,
}

/// Azure Resource Manager over REST; clones share the connections and the token cache.
#[derive(Clone)]
pub struct ArmClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmClient")
            .field("base", &self.inner.base.as_str())
            .field("tokens", &self.inner.tokens)
            .finish_non_exhaustive()
    }
}

impl ArmClient {
    /// Checks the config and the credentials' files; fetches no token (the first request
    /// does).
    pub fn new(config: &ArmConfig) -> Result<ArmClient, CloudError> {
        let base = base_url(
            config.endpoint_url.as_deref().unwrap_or(ENDPOINT_URL),
            "endpointUrl",
        )?;
        let tokens = Tokens::new(config.credentials.clone(), config.authority_host.as_deref())?;
        let agent = match &config.caller {
            Some(caller) => format!("privatelinkd/{} ({caller})", env!("CARGO_PKG_VERSION")),
            None => format!("privatelinkd/{}", env!("CARGO_PKG_VERSION")),
        };
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            // A redirect must not take the token to another host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(agent)
            .build()
            .map_err(|e| CloudError::Permanent(format!("cannot set up the HTTP client: {e}")))?;
        Ok(ArmClient {
            inner: Arc::new(Inner {
                http,
                base,
                tokens,
                empty: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The token source (tests read a token to check it never shows).
    pub fn tokens(&self) -> &Tokens {
        &self.inner.tokens
    }

    /// `{base}{id}?api-version=...` for a resource ID.
    fn resource_url(&self, id: &str) -> CloudResult<Url> {
        let lower = id.to_ascii_lowercase();
        let fine = lower.starts_with("/subscriptions/")
            && !id.contains(['?', '#', '\\'])
            && !id.split('/').any(|s| s == ".." || s == ".");
        if !fine {
            return Err(CloudError::Permanent(format!(
                "`{id}` is not a Resource Manager resource ID"
            )));
        }
        let mut url = self.inner.base.clone();
        let path = format!("{}{id}", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url.query_pairs_mut()
            .append_pair("api-version", API_VERSION);
        Ok(url)
    }

    /// A URL Resource Manager handed out (an operation's, a next page's), if it is on the
    /// configured host: the token goes nowhere else.
    fn on_base(&self, text: &str, what: &str) -> CloudResult<Url> {
        let url = Url::parse(text)
            .map_err(|e| CloudError::Permanent(format!("{what} `{text}` is not a URL: {e}")))?;
        let base = &self.inner.base;
        let same = url.scheme() == base.scheme()
            && url
                .host_str()
                .zip(base.host_str())
                .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
            && url.port_or_known_default() == base.port_or_known_default();
        if !same {
            return Err(CloudError::Permanent(format!(
                "refusing the {what} `{}://{}`: only {} gets this daemon's Azure token",
                url.scheme(),
                url.host_str().unwrap_or(""),
                base.origin().ascii_serialization()
            )));
        }
        Ok(url)
    }

    /// Sends one request and reads the whole answer; errors only when there is no answer
    /// (or the subscription's bucket is known to be empty).
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> CloudResult<Answer> {
        let subscription = super::segment(url.path(), "subscriptions")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let kind = Kind::of(&method);
        self.check_bucket(&subscription, kind)?;
        let token = self.inner.tokens.token().await?;
        let mut request = self
            .inner
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(token.expose());
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(tag) = if_match {
            request = request.header(reqwest::header::IF_MATCH, tag);
        }
        let response = request.send().await.map_err(|e| {
            CloudError::Unreachable(format!(
                "{method} {}: Resource Manager did not answer: {}",
                url.path(),
                wire::describe(&e)
            ))
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        self.note_budget(&subscription, &headers);
        let body = response.bytes().await.map_err(|e| {
            CloudError::Unreachable(format!(
                "{method} {}: Resource Manager's answer was cut off: {}",
                url.path(),
                wire::describe(&e)
            ))
        })?;
        tracing::debug!(method = %method, path = url.path(), status, "Resource Manager");
        if status == 401 {
            // Revoked, expired early, or for another tenant: the next call fetches a new one.
            self.inner.tokens.forget().await;
        }
        Ok(Answer {
            status,
            headers,
            body: body.to_vec(),
        })
    }

    /// `send`, with any answer but 2xx as privatelinkd's error.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> CloudResult<Answer> {
        let request = format!("{method} {}", short(url.path()));
        let answer = self.send(method, url, body, if_match).await?;
        if (200..300).contains(&answer.status) {
            Ok(answer)
        } else {
            Err(wire::error(
                answer.status,
                &answer.headers,
                &answer.body,
                &request,
            ))
        }
    }

    /// A GET whose 404 is `None`.
    async fn get(&self, id: &str) -> CloudResult<Option<Answer>> {
        let url = self.resource_url(id)?;
        match self.call(Method::GET, url, None, None).await {
            Ok(answer) => Ok(Some(answer)),
            Err(CloudError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A header said this bucket was empty less than a second ago: answered as a throttle,
    /// not sent.
    fn check_bucket(&self, subscription: &str, kind: Kind) -> CloudResult<()> {
        let now = Instant::now();
        let mut empty = self.inner.empty.lock().unwrap_or_else(|e| e.into_inner());
        empty.retain(|_, until| *until > now);
        match empty.get(&(subscription.to_string(), kind)) {
            Some(until) => Err(CloudError::Throttled {
                api: "arm",
                retry_after: *until - now,
            }),
            None => Ok(()),
        }
    }

    /// Logs what the answer says is left, and remembers an empty bucket.
    fn note_budget(&self, subscription: &str, headers: &HeaderMap) {
        let left = wire::remaining(headers);
        if left == wire::Remaining::default() {
            return;
        }
        tracing::debug!(
            subscription,
            reads_left = left.reads,
            writes_left = left.writes,
            deletes_left = left.deletes,
            "Resource Manager's remaining budget"
        );
        let mut empty = self.inner.empty.lock().unwrap_or_else(|e| e.into_inner());
        for (kind, n) in [
            (Kind::Read, left.reads),
            (Kind::Write, left.writes),
            (Kind::Delete, left.deletes),
        ] {
            if n == Some(0) {
                empty.insert(
                    (subscription.to_string(), kind),
                    Instant::now() + EMPTY_BUCKET_WAIT,
                );
            }
        }
    }

    /// The operation URL of a PUT's or DELETE's answer: `Azure-AsyncOperation`, else
    /// `Location`, else (nothing named) the resource itself, whose `provisioningState`
    /// `get_operation` reads. A URL on another host is not followed (the resource is).
    fn operation_url(&self, headers: &HeaderMap, id: &str) -> CloudResult<String> {
        let named = ["azure-asyncoperation", "location"]
            .into_iter()
            .find_map(|h| headers.get(h)?.to_str().ok().map(str::to_string));
        if let Some(url) = named {
            match self.on_base(&url, "operation URL") {
                Ok(url) => return Ok(url.to_string()),
                Err(e) => tracing::warn!("{e}; following the resource's provisioningState"),
            }
        }
        Ok(self.resource_url(id)?.to_string())
    }

    /// The resource as JSON and its ETag (the header's, else the body's).
    async fn get_raw(&self, id: &str) -> CloudResult<Option<(Value, Option<String>)>> {
        let Some(answer) = self.get(id).await? else {
            return Ok(None);
        };
        let value: Value = json_of(&answer.body, "GET", id)?;
        let etag = answer
            .headers
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| {
                value
                    .get("etag")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
        Ok(Some((value, etag)))
    }

    /// PUTs `resource` (as read, with `etag`) back with `tags`.
    async fn put_tags(
        &self,
        id: &str,
        mut resource: Value,
        etag: Option<String>,
        tags: &BTreeMap<String, String>,
    ) -> CloudResult<()> {
        resource["tags"] = json!(tags);
        let url = self.resource_url(id)?;
        self.call(Method::PUT, url, Some(&resource), etag.as_deref())
            .await?;
        Ok(())
    }
}

/// The body as JSON; an answer that is not (a proxy's page, a cut-off body) is transient.
fn json_of<T: serde::de::DeserializeOwned>(
    body: &[u8],
    method: &str,
    path: &str,
) -> CloudResult<T> {
    serde_json::from_slice(body).map_err(|e| {
        // serde_json's messages quote no input.
        CloudError::Transient(format!(
            "{method} {}: Resource Manager's answer is not what was expected: {e}",
            short(path)
        ))
    })
}

/// A resource ID's tail (`privateEndpoints/orders`) for messages; the whole when short.
fn short(path: &str) -> &str {
    match path.to_ascii_lowercase().rfind("/providers/") {
        Some(at) => {
            let tail = &path[at + "/providers/".len()..];
            // `Microsoft.Network/privateEndpoints/orders` -> `privateEndpoints/orders`
            tail.split_once('/').map(|(_, t)| t).unwrap_or(tail)
        }
        None => path,
    }
}

/// The subscription is a path segment: nothing that would bend the URL.
fn check_subscription(subscription: &str) -> CloudResult<()> {
    let fine = !subscription.is_empty()
        && subscription
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if fine {
        Ok(())
    } else {
        Err(CloudError::Permanent(format!(
            "`{subscription}` is not a subscription ID"
        )))
    }
}

/// `request` cut to Resource Manager's limit (on a character boundary).
fn request_message(request: &str) -> String {
    request.chars().take(REQUEST_MESSAGE_MAX).collect()
}

impl Arm for ArmClient {
    async fn list_private_endpoints(
        &self,
        subscription: &str,
        page_token: Option<&str>,
    ) -> CloudResult<Page<PrivateEndpoint>> {
        let url = match page_token {
            Some(next) => self.on_base(next, "nextLink")?,
            None => {
                check_subscription(subscription)?;
                let mut url = self.inner.base.clone();
                let path = format!(
                    "{}/subscriptions/{subscription}/providers/Microsoft.Network/privateEndpoints",
                    url.path().trim_end_matches('/')
                );
                url.set_path(&path);
                url.query_pairs_mut()
                    .append_pair("api-version", API_VERSION);
                url
            }
        };
        let path = url.path().to_string();
        let answer = self.call(Method::GET, url, None, None).await?;
        let list: WireList = json_of(&answer.body, "GET", &path)?;
        Ok(Page {
            items: list.value.into_iter().map(PrivateEndpoint::from).collect(),
            next: list.next_link.filter(|n| !n.is_empty()),
        })
    }

    async fn get_private_endpoint(&self, id: &str) -> CloudResult<Option<PrivateEndpoint>> {
        let Some(answer) = self.get(id).await? else {
            return Ok(None);
        };
        let endpoint: WireEndpoint = json_of(&answer.body, "GET", id)?;
        Ok(Some(endpoint.into()))
    }

    /// A manual Private Link service connection (TiDB Cloud's service is in its own tenant:
    /// this side cannot approve it), named after the endpoint.
    async fn put_private_endpoint(&self, request: &PutPrivateEndpoint) -> CloudResult<String> {
        check_subscription(&request.subscription)?;
        let id = super::private_endpoint_id(
            &request.subscription,
            &request.resource_group,
            &request.name,
        );
        let body = json!({
            "location": request.location,
            "tags": request.tags,
            "properties": {
                "subnet": {"id": request.subnet_id},
                "manualPrivateLinkServiceConnections": [{
                    "name": request.name,
                    "properties": {
                        "privateLinkServiceId": request.service_id,
                        "requestMessage": request_message(&request.request_message),
                    },
                }],
            },
        });
        let url = self.resource_url(&id)?;
        let answer = self.call(Method::PUT, url, Some(&body), None).await?;
        self.operation_url(&answer.headers, &id)
    }

    async fn delete_private_endpoint(&self, id: &str) -> CloudResult<Option<String>> {
        let url = self.resource_url(id)?;
        match self.call(Method::DELETE, url, None, None).await {
            // Deleting: its operation.
            Ok(answer) if answer.status == 202 => self.operation_url(&answer.headers, id).map(Some),
            // 200 (deleted at once), 204 (there was nothing to delete).
            Ok(_) => Ok(None),
            Err(CloudError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `privateEndpoints` has no Update Tags (PATCH) in 2024-05-01 (the spec has only PUT, GET
    /// and DELETE on the resource): the resource is read and PUT back with the new tags and
    /// `If-Match` its ETag, so a change made in between is not overwritten (412: read again).
    /// Two requests, a read and a write (the gate meters both); the PUT's operation is not
    /// followed (the tags are in the resource at once).
    async fn update_tags(&self, id: &str, tags: &BTreeMap<String, String>) -> CloudResult<()> {
        let Some((resource, etag)) = self.get_raw(id).await? else {
            return Err(super::not_found(id));
        };
        self.put_tags(id, resource, etag, tags).await
    }

    /// As `update_tags`, the change made to the tags of the resource its one read answers.
    async fn change_tags(
        &self,
        id: &str,
        set: &BTreeMap<String, String>,
        remove: &[String],
    ) -> CloudResult<()> {
        let Some((resource, etag)) = self.get_raw(id).await? else {
            return Err(super::not_found(id));
        };
        let current: BTreeMap<String, String> = match resource.get("tags") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(tags) => serde_json::from_value(tags.clone()).map_err(|e| {
                CloudError::Transient(format!(
                    "GET {}: Resource Manager's tags are not what was expected: {e}",
                    short(id)
                ))
            })?,
        };
        let tags = super::changed_tags(&current, set, remove);
        if tags == current {
            return Ok(());
        }
        self.put_tags(id, resource, etag, &tags).await
    }

    /// Reads an operation URL (from `put_private_endpoint` or `delete_private_endpoint`).
    /// A `Location` URL answers a failed operation with its error (400, 409): that is the
    /// operation's failure, not the poll's.
    async fn get_operation(&self, url: &str) -> CloudResult<OperationState> {
        let url = self.on_base(url, "operation URL")?;
        let results = url
            .path()
            .to_ascii_lowercase()
            .contains("/operationresults/");
        let request = format!("GET {}", short(url.path()));
        let answer = self.send(Method::GET, url, None, None).await?;
        match answer.status {
            200..=299 => Ok(wire::operation_state(answer.status, &answer.body)),
            400 | 409 if results => {
                let (code, message) = wire::error_of(&answer.body);
                Ok(OperationState::Failed(wire::failure(
                    "Failed", &code, &message,
                )))
            }
            status => Err(wire::error(status, &answer.headers, &answer.body, &request)),
        }
    }

    async fn get_private_ip(&self, network_interface_id: &str) -> CloudResult<Option<String>> {
        let Some(answer) = self.get(network_interface_id).await? else {
            return Ok(None);
        };
        let nic: Value = json_of(&answer.body, "GET", network_interface_id)?;
        Ok(wire::private_ip(&nic))
    }

    async fn get_subnet(&self, id: &str) -> CloudResult<Option<Subnet>> {
        let Some(answer) = self.get(id).await? else {
            return Ok(None);
        };
        let subnet: Value = json_of(&answer.body, "GET", id)?;
        Ok(Some(wire::subnet(&subnet, id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_resource_briefly() {
        assert_eq!(
            short(
                "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/privateEndpoints/e"
            ),
            "privateEndpoints/e"
        );
        assert_eq!(short("/subscriptions/s"), "/subscriptions/s");
    }

    #[test]
    fn request_messages_are_cut_on_a_character() {
        let long = "é".repeat(200);
        assert_eq!(request_message(&long).chars().count(), 140);
        assert_eq!(request_message("short"), "short");
    }

    #[test]
    fn subscriptions_are_ids() {
        assert!(check_subscription("0b1f6471-1bf0-4dda-aec3-cb9272f09590").is_ok());
        assert!(check_subscription("a/../b").is_err());
        assert!(check_subscription("").is_err());
    }
}
