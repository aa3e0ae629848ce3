//! Bearer tokens for Azure Resource Manager (scope `https://management.azure.com/.default`),
//! fetched with Microsoft's documented flows over the same reqwest as everything else:
//!
//! - **managed identity**: the instance metadata service (IMDS) of the VM privatelinkd runs on,
//!   `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=...` with
//!   `Metadata: true` (a user-assigned identity named by `client_id`);
//! - **workload identity** (AKS and other federations): the federated token file, sent to
//!   Entra ID as a client assertion (`client_credentials` grant at
//!   `{authority}/{tenant}/oauth2/v2.0/token`), read again at every fetch (it is rotated);
//! - **client secret**: a file (or a systemd credential) holding an app registration's secret,
//!   the same grant with `client_secret`, read again at every fetch (so a rotated secret is
//!   used without a restart);
//! - **Azure CLI**, for development: `az account get-access-token`.
//!
//! Not `azure_identity` (1.0.0): its authority host must be `https` and its IMDS address is a
//! constant, so neither can be pointed at a loopback fake (tests would need a transport shim
//! rewriting URLs); its client certificate credential needs OpenSSL; it brings about 20 crates
//! (a compression stack, its own HTTP pipeline with retries of its own under our call gate).
//! The flows are a few documented requests. Client certificates are therefore not offered.
//!
//! A token is kept until 5 minutes before it expires (or half its life, when shorter) and
//! fetched again lazily, by the first call that needs it; Resource Manager's 401 drops it.
//! Tokens and secrets are [`Secret`]s: never in a log line or an error (the texts Entra ID and
//! IMDS answer are quoted with any secret of ours cut out).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Url;
use serde::Deserialize;
use tokio::time::Instant;

use crate::cloud::{CloudError, CloudResult};
use crate::secret::Secret;

/// What privatelinkd asks Entra ID for: Resource Manager.
pub const SCOPE: &str = "https://management.azure.com/.default";
/// The same, as IMDS and the Azure CLI name it (a resource, not a scope).
pub const RESOURCE: &str = "https://management.azure.com/";
/// Entra ID (public cloud).
pub const AUTHORITY_HOST: &str = "https://login.microsoftonline.com";
/// The instance metadata service, from inside an Azure VM.
pub const IMDS_ENDPOINT: &str = "http://169.254.169.254";
/// The IMDS token API's version (Microsoft's managed identity documents use this one).
const IMDS_API_VERSION: &str = "2018-02-01";
/// A token is fetched again this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// One token request's bound (IMDS, Entra ID, the Azure CLI).
const TIMEOUT: Duration = Duration::from_secs(30);
/// How long an Azure CLI token is kept when the CLI does not say when it expires (older
/// releases write `expiresOn` in local time only).
const CLI_UNKNOWN_LIFETIME: Duration = Duration::from_secs(60);
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How privatelinkd proves who it is to Azure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AzureCredentials {
    /// The managed identity of the VM (or scale set) privatelinkd runs on: the system-assigned
    /// one, or the user-assigned one with this client ID.
    ManagedIdentity {
        client_id: Option<String>,
        /// Another instance metadata service (tests: the fake's `http://127.0.0.1:PORT`);
        /// `http://169.254.169.254` when absent.
        endpoint: Option<String>,
    },
    /// A federated token (Kubernetes' service account token on AKS) exchanged for an Entra
    /// ID token of the app `client_id` that trusts it.
    WorkloadIdentity {
        tenant_id: String,
        client_id: String,
        token_file: PathBuf,
    },
    /// An app registration's client secret, from a file.
    ClientSecret {
        tenant_id: String,
        client_id: String,
        secret_file: PathBuf,
    },
    /// The Azure CLI's signed-in account (`az login`), for development; `program` is `az`.
    AzureCli { program: PathBuf },
}

impl AzureCredentials {
    /// Its name in messages.
    pub fn kind(&self) -> &'static str {
        match self {
            AzureCredentials::ManagedIdentity { .. } => "managed identity",
            AzureCredentials::WorkloadIdentity { .. } => "workload identity",
            AzureCredentials::ClientSecret { .. } => "client secret",
            AzureCredentials::AzureCli { .. } => "Azure CLI",
        }
    }
}

/// A token in hand and when to fetch the next.
struct Cached {
    token: Secret,
    refresh_at: Instant,
}

/// Bearer tokens for Resource Manager from one kind of credentials, cached.
pub struct Tokens {
    credentials: AzureCredentials,
    /// Entra ID's token endpoints are under it.
    authority: Url,
    http: reqwest::Client,
    /// One fetch at a time: callers waiting for a token get the one just fetched.
    cached: tokio::sync::Mutex<Option<Cached>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("credentials", &self.credentials.kind())
            .field("authority", &self.authority.as_str())
            .finish_non_exhaustive()
    }
}

/// Whether a URL may carry a secret: `https`, or `http` to this host only (tests' fakes).
pub(super) fn may_carry_secrets(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => {
            let host = url.host_str().unwrap_or_default();
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            host.eq_ignore_ascii_case("localhost")
                || bare
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        _ => false,
    }
}

/// Parses a configured base URL (`what` names it in the error).
pub(super) fn base_url(text: &str, what: &str) -> Result<Url, CloudError> {
    let url = Url::parse(text)
        .map_err(|e| CloudError::Permanent(format!("azure: {what} `{text}` is not a URL: {e}")))?;
    if !may_carry_secrets(&url) {
        return Err(CloudError::Permanent(format!(
            "azure: {what} `{text}` must be https (http only to loopback, for tests): a token or \
             secret would travel in clear"
        )));
    }
    if url.host().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err(CloudError::Permanent(format!(
            "azure: {what} `{text}` must be a scheme and host (and optionally a path)"
        )));
    }
    Ok(url)
}

/// A tenant or client ID goes into a URL path or a form: letters, digits, `.` and `-` only
/// (GUIDs and `contoso.onmicrosoft.com`).
fn check_id(value: &str, what: &str) -> Result<(), CloudError> {
    let fine = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if fine {
        Ok(())
    } else {
        Err(CloudError::Permanent(format!(
            "azure: {what} `{value}` is not an ID (letters, digits, `.` and `-`)"
        )))
    }
}

impl Tokens {
    /// Checks the credentials' settings and that their files can be read now (a daemon that
    /// could never get a token should not start); fetches nothing.
    pub fn new(
        credentials: AzureCredentials,
        authority_host: Option<&str>,
    ) -> Result<Tokens, CloudError> {
        let authority = base_url(authority_host.unwrap_or(AUTHORITY_HOST), "authorityHost")?;
        match &credentials {
            AzureCredentials::ManagedIdentity {
                client_id,
                endpoint,
            } => {
                if let Some(id) = client_id {
                    check_id(id, "managedIdentity.clientId")?;
                }
                if let Some(e) = endpoint {
                    imds_url(e, client_id.as_deref())?;
                }
            }
            AzureCredentials::WorkloadIdentity {
                tenant_id,
                client_id,
                token_file,
            } => {
                check_id(tenant_id, "tenantId")?;
                check_id(client_id, "clientId")?;
                read_file(token_file, "federated token")?;
            }
            AzureCredentials::ClientSecret {
                tenant_id,
                client_id,
                secret_file,
            } => {
                check_id(tenant_id, "tenantId")?;
                check_id(client_id, "clientId")?;
                read_file(secret_file, "client secret")?;
            }
            AzureCredentials::AzureCli { .. } => {}
        }
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            // A redirect could carry the secret in the body (307) somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("privatelinkd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CloudError::Permanent(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Tokens {
            credentials,
            authority,
            http,
            cached: tokio::sync::Mutex::new(None),
        })
    }

    pub fn credentials(&self) -> &AzureCredentials {
        &self.credentials
    }

    /// A token for Resource Manager: the one in hand while it is fresh, else a new one.
    pub async fn token(&self) -> CloudResult<Secret> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        let (token, lifetime) = self.fetch().await?;
        // Until 5 minutes before it expires; a short-lived token for half its life.
        let keep = lifetime.saturating_sub(REFRESH_MARGIN).max(lifetime / 2);
        tracing::debug!(
            credentials = self.credentials.kind(),
            lifetime_secs = lifetime.as_secs(),
            "new Resource Manager token"
        );
        *cached = Some(Cached {
            token: token.clone(),
            refresh_at: Instant::now() + keep,
        });
        Ok(token)
    }

    /// Drops the token in hand (Resource Manager refused it): the next call fetches one.
    pub async fn forget(&self) {
        *self.cached.lock().await = None;
    }

    /// A new token and how long it lives.
    async fn fetch(&self) -> CloudResult<(Secret, Duration)> {
        match &self.credentials {
            AzureCredentials::ManagedIdentity {
                client_id,
                endpoint,
            } => {
                let url = imds_url(
                    endpoint.as_deref().unwrap_or(IMDS_ENDPOINT),
                    client_id.as_deref(),
                )?;
                self.imds(url).await
            }
            AzureCredentials::WorkloadIdentity {
                tenant_id,
                client_id,
                token_file,
            } => {
                let assertion = read_file(token_file, "federated token")?;
                let form = [
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", assertion.expose()),
                ];
                self.entra(tenant_id, client_id, &form, &assertion).await
            }
            AzureCredentials::ClientSecret {
                tenant_id,
                client_id,
                secret_file,
            } => {
                let secret = read_file(secret_file, "client secret")?;
                let form = [("client_secret", secret.expose())];
                self.entra(tenant_id, client_id, &form, &secret).await
            }
            AzureCredentials::AzureCli { program } => cli(program).await,
        }
    }

    /// Entra ID's client credentials grant; `hidden` is cut out of anything it answers.
    async fn entra(
        &self,
        tenant: &str,
        client_id: &str,
        credential: &[(&str, &str)],
        hidden: &Secret,
    ) -> CloudResult<(Secret, Duration)> {
        let mut url = self.authority.clone();
        let path = format!(
            "{}/{tenant}/oauth2/v2.0/token",
            url.path().trim_end_matches('/')
        );
        url.set_path(&path);
        let mut fields = vec![
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("scope", SCOPE),
        ];
        fields.extend_from_slice(credential);
        let body = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, NON_ALPHANUMERIC)))
            .collect::<Vec<_>>()
            .join("&");
        let answer = self
            .http
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await;
        let what = self.credentials.kind();
        answered(what, "Entra ID", answer, hidden).await
    }

    /// The instance metadata service's managed identity token.
    async fn imds(&self, url: Url) -> CloudResult<(Secret, Duration)> {
        let answer = self.http.get(url).header("Metadata", "true").send().await;
        let nothing = Secret::new(String::new());
        answered(
            "managed identity",
            "the instance metadata service",
            answer,
            &nothing,
        )
        .await
        .map_err(|e| match e {
            CloudError::Unreachable(why) => CloudError::Unreachable(format!(
                "{why} (is privatelinkd on an Azure VM with a managed identity?)"
            )),
            e => e,
        })
    }
}

fn imds_url(endpoint: &str, client_id: Option<&str>) -> Result<Url, CloudError> {
    let mut url = Url::parse(endpoint).map_err(|e| {
        CloudError::Permanent(format!(
            "azure: the managed identity endpoint `{endpoint}` is not a URL: {e}"
        ))
    })?;
    url.set_path("/metadata/identity/oauth2/token");
    {
        let mut query = url.query_pairs_mut();
        query.clear();
        query.append_pair("api-version", IMDS_API_VERSION);
        query.append_pair("resource", RESOURCE);
        if let Some(id) = client_id {
            query.append_pair("client_id", id);
        }
    }
    Ok(url)
}

/// A token endpoint's answer (Entra ID's numbers, IMDS's strings).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    expires_on: Option<serde_json::Value>,
}

/// An OAuth error (`{"error": "invalid_client", "error_description": "AADSTS7000215: ..."}`).
#[derive(Deserialize)]
struct OAuthError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

fn seconds(v: &serde_json::Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.trim().parse().ok())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// `text` with every occurrence of the secret cut out (never a secret in an error).
fn scrub(text: &str, hidden: &Secret) -> String {
    let secret = hidden.expose();
    if secret.len() < 4 {
        return text.to_string();
    }
    text.replace(secret, "<redacted>")
}

/// A token endpoint's answer as a token, or as privatelinkd's error.
async fn answered(
    what: &str,
    from: &str,
    answer: Result<reqwest::Response, reqwest::Error>,
    hidden: &Secret,
) -> CloudResult<(Secret, Duration)> {
    let response = answer.map_err(|e| {
        CloudError::Unreachable(format!(
            "Azure credentials ({what}): {from} did not answer: {}",
            super::wire::describe(&e)
        ))
    })?;
    let status = response.status().as_u16();
    let retry_after = super::wire::retry_after(response.headers());
    let body = response.bytes().await.map_err(|e| {
        CloudError::Unreachable(format!(
            "Azure credentials ({what}): {from}'s answer was cut off: {}",
            super::wire::describe(&e)
        ))
    })?;
    if (200..300).contains(&status) {
        let token: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            // serde_json's messages quote no input.
            CloudError::Transient(format!(
                "Azure credentials ({what}): {from} answered no token: {e}"
            ))
        })?;
        if token.access_token.is_empty() {
            return Err(CloudError::Transient(format!(
                "Azure credentials ({what}): {from} answered an empty token"
            )));
        }
        let lifetime = token
            .expires_in
            .as_ref()
            .and_then(seconds)
            .or_else(|| {
                let on = token.expires_on.as_ref().and_then(seconds)?;
                Some(on.saturating_sub(unix_now()))
            })
            // Entra ID's tokens live an hour and more; without a word, assume the least.
            .unwrap_or(300);
        return Ok((
            Secret::new(token.access_token),
            Duration::from_secs(lifetime),
        ));
    }
    let said: Option<OAuthError> = serde_json::from_slice(&body).ok();
    let (error, description) = said
        .map(|e| {
            (
                e.error.unwrap_or_default(),
                // Entra ID's descriptions go on with trace and correlation IDs: the first
                // line says it.
                e.error_description
                    .unwrap_or_default()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .unwrap_or_default();
    let why = match (error.is_empty(), description.is_empty()) {
        (true, true) => format!("{from} answered {status}"),
        (false, true) => format!("{from} answered {status} {error}"),
        (_, false) => format!("{from} answered {status} {error}: {description}"),
    };
    let why = scrub(&format!("Azure credentials ({what}): {why}"), hidden);
    Err(match status {
        429 => CloudError::Throttled {
            api: "arm",
            retry_after: retry_after.unwrap_or(super::wire::DEFAULT_RETRY_AFTER),
        },
        // IMDS answers 404 and 410 while it is being updated (Microsoft: retry them).
        404 | 410 | 500.. => CloudError::Transient(why),
        _ => CloudError::Permanent(why),
    })
}

/// A file's text without its trailing newline (errors name the file, never its contents).
fn read_file(path: &Path, what: &str) -> Result<Secret, CloudError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CloudError::Permanent(format!(
            "azure: cannot read the {what} file {}: {e}",
            path.display()
        ))
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(CloudError::Permanent(format!(
            "azure: the {what} file {} is empty",
            path.display()
        )));
    }
    Ok(Secret::new(text))
}

/// `az account get-access-token`'s answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CliToken {
    access_token: String,
    /// Unix seconds (Azure CLI 2.54 and later).
    #[serde(default, rename = "expires_on")]
    expires_on: Option<serde_json::Value>,
}

/// The Azure CLI's token for Resource Manager.
async fn cli(program: &Path) -> CloudResult<(Secret, Duration)> {
    let run = tokio::process::Command::new(program)
        .args([
            "account",
            "get-access-token",
            "--resource",
            RESOURCE,
            "--output",
            "json",
        ])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let shown = program.display();
    let output = tokio::time::timeout(TIMEOUT, run)
        .await
        .map_err(|_| {
            CloudError::Unreachable(format!(
                "Azure credentials (Azure CLI): `{shown} account get-access-token` did not answer within {}s",
                TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| {
            CloudError::Permanent(format!(
                "Azure credentials (Azure CLI): cannot run {shown}: {e}"
            ))
        })?;
    if !output.status.success() {
        // stderr says why (`Please run 'az login'`); stdout is never quoted (it may hold a
        // token).
        let stderr = String::from_utf8_lossy(&output.stderr);
        let why: String = stderr.trim().chars().take(300).collect();
        return Err(CloudError::Permanent(format!(
            "Azure credentials (Azure CLI): `{shown} account get-access-token` failed ({}): {why}",
            output.status
        )));
    }
    let token: CliToken = serde_json::from_slice(&output.stdout).map_err(|e| {
        CloudError::Permanent(format!(
            "Azure credentials (Azure CLI): `{shown} account get-access-token` answered no token: {e}"
        ))
    })?;
    let lifetime = token
        .expires_on
        .as_ref()
        .and_then(seconds)
        .map(|on| Duration::from_secs(on.saturating_sub(unix_now())))
        .unwrap_or(CLI_UNKNOWN_LIFETIME);
    Ok((Secret::new(token.access_token), lifetime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_travel_only_over_https_or_to_loopback() {
        let ok = |u: &str| may_carry_secrets(&Url::parse(u).unwrap());
        assert!(ok("https://login.microsoftonline.com"));
        assert!(ok("http://127.0.0.1:8080"));
        assert!(ok("http://[::1]:8080"));
        assert!(ok("http://localhost:1"));
        assert!(!ok("http://login.microsoftonline.com"));
        assert!(!ok("http://10.0.0.1"));
        assert!(!ok("ftp://127.0.0.1"));
        assert!(base_url("http://example.com", "endpointUrl").is_err());
        assert!(base_url("https://example.com/?a=b", "endpointUrl").is_err());
    }

    #[test]
    fn ids_that_would_bend_a_url_are_refused() {
        assert!(check_id("72f988bf-86f1-41af-91ab-2d7cd011db47", "tenantId").is_ok());
        assert!(check_id("contoso.onmicrosoft.com", "tenantId").is_ok());
        for bad in ["", "a/b", "a?b", "a b", "a#b"] {
            assert!(check_id(bad, "tenantId").is_err(), "{bad}");
        }
    }

    #[test]
    fn a_secret_is_cut_out_of_what_is_quoted() {
        let s = Secret::new("hunter2-secret");
        assert_eq!(
            scrub("bad secret hunter2-secret given", &s),
            "bad secret <redacted> given"
        );
    }

    #[test]
    fn lifetimes_are_numbers_or_strings() {
        assert_eq!(seconds(&serde_json::json!(3599)), Some(3599));
        assert_eq!(seconds(&serde_json::json!("3599")), Some(3599));
        assert_eq!(seconds(&serde_json::json!("soon")), None);
    }
}
