//! The TiDB Cloud Dedicated API client: reqwest, HTTP Digest (RFC 7616) via `http-auth`.
//!
//! Digest costs one extra round trip only for the first request and when the server's nonce
//! goes stale: the challenge is kept and answered with increasing nonce counts, which matters
//! under a budget of 100 requests per minute. The server's own view of the budget
//! (`X-Ratelimit-Remaining-Minute`, `X-Ratelimit-Reset`) is obeyed before each request;
//! retries and the client-side limiter live in the call gate (`cloud::budget`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_auth::{PasswordClient, PasswordParams};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{AUTHORIZATION, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::{
    WireCluster, WireClusterList, WireConnection, WireConnectionList, WireNodeGroupList,
    WireService, WireStatus,
};
use crate::cloud::{
    CloudError, CloudResult, Cluster, Connection, NodeGroup, Page, Service, TidbCloud,
};
use crate::secret::Secret;

/// Connections per listing page: the API's maximum.
const PAGE_SIZE: usize = 100;

/// How to reach the API, with which key.
#[derive(Debug, Clone)]
pub struct TidbSettings {
    /// Base URL without `/v1beta1`, e.g. `https://dedicated.tidbapi.com`.
    pub api_url: String,
    pub public_key: String,
    pub private_key: Secret,
    pub timeout: Duration,
    /// Who is calling, after `privatelinkd/VERSION` in the User-Agent (the lease holder in a
    /// leader-election group, so the server's logs tell daemons apart).
    pub caller: Option<String>,
}

/// What the server last said about the budget.
#[derive(Debug, Default)]
struct ServerBudget {
    remaining: Option<u64>,
    resets_at: Option<Instant>,
}

struct Inner {
    http: reqwest::Client,
    base: String,
    /// The path part of `base`, which digest responses must name.
    base_path: String,
    public_key: String,
    private_key: Secret,
    digest: Mutex<Option<PasswordClient>>,
    budget: Mutex<ServerBudget>,
}

/// A TiDB Cloud API client; clones share the connection pool, the digest state and the
/// server's budget.
#[derive(Clone)]
pub struct TidbClient {
    inner: Arc<Inner>,
}

impl TidbClient {
    pub fn new(settings: TidbSettings) -> Result<TidbClient, CloudError> {
        let http = reqwest::Client::builder()
            .user_agent(match &settings.caller {
                Some(caller) => format!("privatelinkd/{} ({caller})", env!("CARGO_PKG_VERSION")),
                None => format!("privatelinkd/{}", env!("CARGO_PKG_VERSION")),
            })
            .timeout(settings.timeout)
            .build()
            .map_err(|e| CloudError::Permanent(format!("cannot build the HTTP client: {e}")))?;
        let base = format!("{}/v1beta1", settings.api_url.trim_end_matches('/'));
        let url = reqwest::Url::parse(&base).map_err(|e| {
            CloudError::Permanent(format!("tidbCloud.apiUrl {}: {e}", settings.api_url))
        })?;
        Ok(TidbClient {
            inner: Arc::new(Inner {
                http,
                base_path: url.path().trim_end_matches('/').to_string(),
                base,
                public_key: settings.public_key,
                private_key: settings.private_key,
                digest: Mutex::new(None),
                budget: Mutex::new(ServerBudget::default()),
            }),
        })
    }

    /// One API request, answered as `T`. `path` starts after `/v1beta1`.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> CloudResult<T> {
        self.wait_for_server_budget().await;
        let uri = format!("{}{path}", self.inner.base_path);
        let mut response = self
            .send(&method, path, body, self.answer(&method, &uri, None))
            .await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            // A first request, or a nonce the server no longer accepts: answer its challenge.
            let challenge = response
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if let Some(challenge) = challenge {
                let authorization = self.answer(&method, &uri, Some(&challenge));
                response = self.send(&method, path, body, authorization).await?;
            }
        }
        self.note_budget(response.headers());
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            CloudError::Unreachable(format!(
                "TiDB Cloud {method} {path}: reading the answer: {e}"
            ))
        })?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                CloudError::Transient(format!(
                    "TiDB Cloud {method} {path}: unexpected answer: {e}"
                ))
            });
        }
        Err(self.error(status, &bytes, &method, path))
    }

    async fn send(
        &self,
        method: &Method,
        path: &str,
        body: Option<&serde_json::Value>,
        authorization: Option<String>,
    ) -> CloudResult<reqwest::Response> {
        let mut request = self
            .inner
            .http
            .request(method.clone(), format!("{}{path}", self.inner.base));
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.map_err(|e| {
            // reqwest's message names the URL, never the credentials.
            CloudError::Unreachable(format!("TiDB Cloud {method} {path}: {}", e.without_url()))
        })
    }

    /// The `Authorization` header for a request: from a new challenge, or from the kept one.
    fn answer(&self, method: &Method, uri: &str, challenge: Option<&str>) -> Option<String> {
        let mut digest = self.inner.digest.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(challenge) = challenge {
            *digest = PasswordClient::try_from(challenge).ok();
        }
        let client = digest.as_mut()?;
        client
            .respond(&PasswordParams {
                username: &self.inner.public_key,
                password: self.inner.private_key.expose(),
                uri,
                method: method.as_str(),
                body: None,
            })
            .ok()
    }

    /// Sleeps while the server has said the minute's budget is spent.
    async fn wait_for_server_budget(&self) {
        let until = {
            let budget = self.inner.budget.lock().unwrap_or_else(|e| e.into_inner());
            match (budget.remaining, budget.resets_at) {
                (Some(0), Some(at)) if at > Instant::now() => Some(at),
                _ => None,
            }
        };
        if let Some(at) = until {
            tokio::time::sleep_until(at).await;
        }
    }

    fn note_budget(&self, headers: &HeaderMap) {
        let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
        let mut budget = self.inner.budget.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(remaining) = number("x-ratelimit-remaining-minute") {
            budget.remaining = Some(remaining);
        }
        if let Some(reset) = number("x-ratelimit-reset") {
            budget.resets_at = Some(Instant::now() + Duration::from_secs(reset));
        }
    }

    /// A failed answer in our words; the key itself never appears.
    fn error(&self, status: StatusCode, body: &[u8], method: &Method, path: &str) -> CloudError {
        let detail = serde_json::from_slice::<WireStatus>(body)
            .map(|s| s.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(body).chars().take(200).collect());
        let what = format!("TiDB Cloud {method} {path}");
        match status.as_u16() {
            429 => {
                let reset = self.inner.budget.lock().ok().and_then(|b| b.resets_at);
                let retry_after = reset.map_or(Duration::from_secs(60), |at| {
                    at.saturating_duration_since(Instant::now())
                });
                CloudError::Throttled {
                    api: "tidbcloud",
                    retry_after: retry_after.max(Duration::from_millis(100)),
                }
            }
            401 => CloudError::Permanent(format!(
                "{what}: TiDB Cloud rejected the API key (HTTP 401): check the public key {} and the private key",
                self.inner.public_key
            )),
            403 => CloudError::Permanent(format!(
                "{what}: the API key lacks the rights for this (HTTP 403): {detail}"
            )),
            404 => CloudError::NotFound(format!("{what}: not found: {detail}")),
            400..=499 => CloudError::Permanent(format!("{what}: {detail} (HTTP {status})")),
            _ => CloudError::Transient(format!("{what}: HTTP {}: {detail}", status.as_u16())),
        }
    }
}

impl TidbCloud for TidbClient {
    async fn list_clusters(
        &self,
        project_id: Option<&str>,
        page_token: Option<&str>,
    ) -> CloudResult<Page<Cluster>> {
        let mut path = format!("/clusters?pageSize={PAGE_SIZE}");
        if let Some(project) = project_id {
            path += &format!("&projectId={}", utf8_percent_encode(project, UNRESERVED));
        }
        if let Some(token) = page_token {
            path += &format!("&pageToken={}", utf8_percent_encode(token, UNRESERVED));
        }
        let wire: WireClusterList = self.call(Method::GET, &path, None).await?;
        let items = wire.clusters.iter().map(WireCluster::to_domain).collect();
        let next = wire.next_page_token.filter(|t| !t.is_empty());
        Ok(Page { items, next })
    }

    async fn get_cluster(&self, cluster_id: &str) -> CloudResult<Cluster> {
        let wire: WireCluster = self
            .call(Method::GET, &format!("/clusters/{cluster_id}"), None)
            .await?;
        Ok(wire.to_domain())
    }

    async fn list_node_groups(&self, cluster_id: &str) -> CloudResult<Vec<NodeGroup>> {
        let path = format!("/clusters/{cluster_id}/tidbNodeGroups?pageSize=100");
        let wire: WireNodeGroupList = self.call(Method::GET, &path, None).await?;
        Ok(wire
            .tidb_node_groups
            .iter()
            .map(|g| g.to_domain())
            .collect())
    }

    async fn get_service(&self, cluster_id: &str, node_group_id: &str) -> CloudResult<Service> {
        let path =
            format!("/clusters/{cluster_id}/tidbNodeGroups/{node_group_id}/privateLinkService");
        let wire: WireService = self.call(Method::GET, &path, None).await?;
        wire.to_domain().map_err(CloudError::Transient)
    }

    async fn list_connections(
        &self,
        project_id: &str,
        page_token: Option<&str>,
    ) -> CloudResult<Page<Connection>> {
        let mut path = format!(
            "/clusters/-/tidbNodeGroups/-/privateEndpointConnections?projectId={project_id}&pageSize={PAGE_SIZE}"
        );
        if let Some(token) = page_token {
            path += &format!("&pageToken={}", utf8_percent_encode(token, UNRESERVED));
        }
        let wire: WireConnectionList = self.call(Method::GET, &path, None).await?;
        let items = wire
            .private_endpoint_connections
            .iter()
            .map(WireConnection::to_domain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(CloudError::Transient)?;
        let next = wire.next_page_token.filter(|t| !t.is_empty());
        Ok(Page { items, next })
    }

    async fn get_connection(
        &self,
        cluster_id: &str,
        node_group_id: &str,
        connection_id: &str,
    ) -> CloudResult<Connection> {
        let path = format!(
            "/clusters/{cluster_id}/tidbNodeGroups/{node_group_id}/privateEndpointConnections/{connection_id}"
        );
        let wire: WireConnection = self.call(Method::GET, &path, None).await?;
        wire.to_domain().map_err(CloudError::Transient)
    }

    async fn create_connection(
        &self,
        cluster_id: &str,
        node_group_id: &str,
        endpoint_id: &str,
        private_ip: Option<&str>,
    ) -> CloudResult<Connection> {
        let path = format!(
            "/clusters/{cluster_id}/tidbNodeGroups/{node_group_id}/privateEndpointConnections"
        );
        let mut body = serde_json::json!({ "endpointId": endpoint_id });
        if let Some(ip) = private_ip {
            body["privateIpAddress"] = ip.into();
        }
        let wire: WireConnection = self.call(Method::POST, &path, Some(&body)).await?;
        wire.to_domain().map_err(CloudError::Transient)
    }

    async fn delete_connection(&self, connection: &Connection) -> CloudResult<()> {
        let path = format!(
            "/clusters/{}/tidbNodeGroups/{}/privateEndpointConnections/{}",
            connection.cluster_id, connection.node_group_id, connection.id
        );
        let _: serde_json::Value = self.call(Method::DELETE, &path, None).await?;
        Ok(())
    }
}

/// Page tokens are opaque: everything outside RFC 3986's unreserved characters is escaped
/// (the digest is computed over the URI exactly as sent).
pub const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
