//! The real Compute Engine client behind [`Gcp`]: Google's own Rust crates
//! (`google-cloud-compute-v1`), one REST request per trait method.
//!
//! What it leaves to the rest of privatelinkd: retries (the call gate, `budget::Budgeted`,
//! retries and meters every attempt, so the crate's own retry policy is replaced by one that
//! never retries), waiting on operations (a mutation answers its operation's name at once, and
//! the next pass reads it with `regionOperations.get`), and the order of steps (`Psc`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use google_cloud_auth::credentials::{
    self as auth, CacheableResource, Credentials, CredentialsProvider, EntityTag, external_account,
    service_account,
};
use google_cloud_compute_v1::client::{
    Addresses, Firewalls, ForwardingRules, Networks, RegionOperations, Subnetworks,
};
use google_cloud_compute_v1::model;
use google_cloud_gax::retry_policy::NeverRetry;

use super::wire::*;
use super::{
    Address, FirewallRule, ForwardingRule, Gcp, InsertAddress, InsertForwardingRule, Labelled,
    OperationState, Subnetwork,
};
use crate::cloud::{CloudError, CloudResult, Page, Scope};

/// One attempt's bound: a request Compute Engine has not answered by then is `Unreachable`,
/// and the gate decides whether to send it again.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Google's largest page (`maxResults`), so that a listing is as few requests as possible.
const MAX_RESULTS: u32 = 500;

/// How privatelinkd proves who it is to Google Cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcpCredentials {
    /// Application Default Credentials: `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's file, or
    /// the metadata server of the VM privatelinkd runs on.
    ApplicationDefault,
    /// A service account key file (JSON).
    ServiceAccountKey(PathBuf),
    /// A workload identity federation configuration file (`external_account` JSON): no
    /// long-lived key on the host.
    ExternalAccount(PathBuf),
    /// No Google credentials: a fixed placeholder bearer token that no Google endpoint
    /// accepts. For tests against `fake-gcp-compute`, which wants any bearer token.
    Anonymous,
}

/// Where the client connects and with what credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcpConfig {
    /// `None`: Google's (`https://compute.googleapis.com`); a fake's `http://127.0.0.1:PORT`.
    pub endpoint_url: Option<String>,
    pub credentials: GcpCredentials,
}

/// Compute Engine over REST; clones share the connections and the credentials' token cache.
#[derive(Clone)]
pub struct GcpClient {
    addresses: Addresses,
    rules: ForwardingRules,
    operations: RegionOperations,
    networks: Networks,
    subnetworks: Subnetworks,
    firewalls: Firewalls,
    page_size: u32,
}

impl std::fmt::Debug for GcpClient {
    // The credentials inside the crate's clients are none of a log's business.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcpClient")
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

/// The same builder calls for each of the crate's clients (each has a builder type of its own).
macro_rules! build {
    ($client:ty, $config:expr, $credentials:expr) => {{
        let mut builder = <$client>::builder()
            .with_credentials($credentials.clone())
            .with_retry_policy(NeverRetry)
            .with_attempt_timeout(TIMEOUT);
        if let Some(url) = &$config.endpoint_url {
            builder = builder.with_endpoint(url.clone());
        }
        builder.build().await.map_err(|e| {
            CloudError::Permanent(format!("cannot set up the Compute Engine client: {e}"))
        })?
    }};
}

impl GcpClient {
    /// Builds the clients; reads the credentials' file (not the token: that is fetched, and
    /// refreshed, on the first request).
    pub async fn new(config: &GcpConfig) -> Result<GcpClient, CloudError> {
        let credentials = credentials(&config.credentials)?;
        Ok(GcpClient {
            addresses: build!(Addresses, config, credentials),
            rules: build!(ForwardingRules, config, credentials),
            operations: build!(RegionOperations, config, credentials),
            networks: build!(Networks, config, credentials),
            subnetworks: build!(Subnetworks, config, credentials),
            firewalls: build!(Firewalls, config, credentials),
            page_size: MAX_RESULTS,
        })
    }

    /// Smaller pages (1 to 500): tests use them to see paging without seeding hundreds.
    pub fn with_page_size(mut self, size: u32) -> GcpClient {
        self.page_size = size.clamp(1, MAX_RESULTS);
        self
    }
}

fn credentials(which: &GcpCredentials) -> Result<Credentials, CloudError> {
    let built = match which {
        GcpCredentials::ApplicationDefault => auth::Builder::default().build(),
        GcpCredentials::ServiceAccountKey(path) => {
            service_account::Builder::new(json_file(path, "service account key")?).build()
        }
        GcpCredentials::ExternalAccount(path) => {
            external_account::Builder::new(json_file(path, "workload identity federation")?).build()
        }
        GcpCredentials::Anonymous => return Ok(Credentials::from(Placeholder)),
    };
    // The builders' errors name what is wrong with the file, never its secrets.
    built.map_err(|e| CloudError::Permanent(format!("Google Cloud credentials: {e}")))
}

/// A credentials file's JSON. Errors name the file and the position, never its contents
/// (serde_json's messages quote no input).
fn json_file(path: &Path, what: &str) -> Result<serde_json::Value, CloudError> {
    let shown = path.display();
    let text = std::fs::read(path)
        .map_err(|e| CloudError::Permanent(format!("cannot read the {what} file {shown}: {e}")))?;
    serde_json::from_slice(&text)
        .map_err(|e| CloudError::Permanent(format!("the {what} file {shown} is not JSON: {e}")))
}

/// Sends `Authorization: Bearer anonymous` without asking Google for a token.
#[derive(Debug)]
struct Placeholder;

impl CredentialsProvider for Placeholder {
    async fn headers(
        &self,
        _: http::Extensions,
    ) -> Result<CacheableResource<http::HeaderMap>, google_cloud_auth::errors::CredentialsError>
    {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer anonymous"),
        );
        Ok(CacheableResource::New {
            entity_tag: EntityTag::new(),
            data: headers,
        })
    }

    async fn universe_domain(&self) -> Option<String> {
        None
    }
}

impl GcpClient {
    /// One page of a region's forwarding rules matching `filter`.
    async fn rules_page(
        &self,
        scope: &Scope,
        filter: String,
        page_token: Option<&str>,
    ) -> CloudResult<Page<ForwardingRule>> {
        let page = self
            .rules
            .list()
            .set_project(&scope.account)
            .set_region(&scope.region)
            .set_filter(filter)
            .set_max_results(self.page_size)
            .set_or_clear_page_token(page_token)
            .send()
            .await
            .map_err(error)?;
        Ok(Page {
            items: page.items.into_iter().map(rule).collect(),
            next: next(page.next_page_token),
        })
    }
}

impl Gcp for GcpClient {
    async fn list_forwarding_rules(
        &self,
        scope: &Scope,
        label: (&str, &str),
        page_token: Option<&str>,
    ) -> CloudResult<Page<ForwardingRule>> {
        self.rules_page(scope, label_filter(label), page_token)
            .await
    }

    async fn list_forwarding_rules_to(
        &self,
        scope: &Scope,
        targets: &[String],
        page_token: Option<&str>,
    ) -> CloudResult<Page<ForwardingRule>> {
        self.rules_page(scope, target_filter(targets), page_token)
            .await
    }

    async fn list_addresses(
        &self,
        scope: &Scope,
        label: (&str, &str),
        page_token: Option<&str>,
    ) -> CloudResult<Page<Address>> {
        let page = self
            .addresses
            .list()
            .set_project(&scope.account)
            .set_region(&scope.region)
            .set_filter(label_filter(label))
            .set_max_results(self.page_size)
            .set_or_clear_page_token(page_token)
            .send()
            .await
            .map_err(error)?;
        Ok(Page {
            items: page.items.into_iter().map(address).collect(),
            next: next(page.next_page_token),
        })
    }

    async fn get_forwarding_rule(
        &self,
        scope: &Scope,
        name: &str,
    ) -> CloudResult<Option<ForwardingRule>> {
        let got = self
            .rules
            .get()
            .set_project(&scope.account)
            .set_region(&scope.region)
            .set_forwarding_rule(name)
            .send()
            .await;
        match got.map_err(error) {
            Ok(r) => Ok(Some(rule(r))),
            Err(CloudError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn get_address(&self, scope: &Scope, name: &str) -> CloudResult<Option<Address>> {
        let got = self
            .addresses
            .get()
            .set_project(&scope.account)
            .set_region(&scope.region)
            .set_address(name)
            .send()
            .await;
        match got.map_err(error) {
            Ok(a) => Ok(Some(address(a))),
            Err(CloudError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn insert_address(&self, scope: &Scope, request: &InsertAddress) -> CloudResult<String> {
        let subnetwork = reference(
            &request.subnetwork,
            &scope.account,
            &format!("regions/{}/subnetworks", scope.region),
        );
        let body = model::Address::new()
            .set_name(&request.name)
            .set_address_type(model::address::AddressType::Internal)
            .set_subnetwork(subnetwork)
            .set_or_clear_address(request.address.clone())
            .set_labels(request.labels.clone());
        let op = self
            .addresses
            .insert()
            .set_project(&scope.account)
            .set_region(&scope.region)
            .set_request_id(&request.request_id)
            .set_body(body)
            .send()
            .await
            .map_err(error)?;
        operation_name(op)
    }

    async fn insert_forwarding_rule(
        &self,
        scope: &Scope,
        request: &InsertForwardingRule,
    ) -> CloudResult<String> {
        let network = reference(&request.network, &scope.account, "global/networks");
        let ip_address = reference(
            &request.address,
            &scope.account,
            &format!("regions/{}/addresses", scope.region),
        );
        // No load balancing scheme: a rule whose target is a service attachment is a Private
        // Service Connect endpoint, and Compute Engine refuses one with a scheme.
        let body = model::ForwardingRule::new()
            .set_name(&request.name)
            .set_network(network)
            .set_ip_address(ip_address)
            .set_target(&request.target)
            .set_allow_psc_global_access(request.allow_psc_global_access)
            .set_labels(request.labels.clone());
        let op = self
            .rules
            .insert()
            .set_project(&scope.account)
            .set_region(&scope.region)
            .set_request_id(&request.request_id)
            .set_body(body)
            .send()
            .await
            .map_err(error)?;
        operation_name(op)
    }

    async fn delete_forwarding_rule(&self, scope: &Scope, name: &str) -> CloudResult<String> {
        let op = self
            .rules
            .delete()
            .set_project(&scope.account)
            .set_region(&scope.region)
            .set_forwarding_rule(name)
            .send()
            .await
            .map_err(error)?;
        operation_name(op)
    }

    async fn delete_address(&self, scope: &Scope, name: &str) -> CloudResult<String> {
        let op = self
            .addresses
            .delete()
            .set_project(&scope.account)
            .set_region(&scope.region)
            .set_address(name)
            .send()
            .await
            .map_err(error)?;
        operation_name(op)
    }

    async fn set_labels(
        &self,
        scope: &Scope,
        kind: Labelled,
        name: &str,
        labels: &BTreeMap<String, String>,
        fingerprint: &str,
    ) -> CloudResult<String> {
        let body = labels_request(labels, fingerprint);
        let sent = match kind {
            Labelled::Address => {
                self.addresses
                    .set_labels()
                    .set_project(&scope.account)
                    .set_region(&scope.region)
                    .set_resource(name)
                    .set_body(body)
                    .send()
                    .await
            }
            Labelled::ForwardingRule => {
                self.rules
                    .set_labels()
                    .set_project(&scope.account)
                    .set_region(&scope.region)
                    .set_resource(name)
                    .set_body(body)
                    .send()
                    .await
            }
        };
        operation_name(sent.map_err(error)?)
    }

    async fn get_operation(&self, scope: &Scope, operation: &str) -> CloudResult<OperationState> {
        let op = self
            .operations
            .get()
            .set_project(&scope.account)
            .set_region(&scope.region)
            .set_operation(operation)
            .send()
            .await
            .map_err(error)?;
        Ok(operation_state(op))
    }

    async fn network_exists(&self, project: &str, network: &str) -> CloudResult<bool> {
        let got = self
            .networks
            .get()
            .set_project(project)
            .set_network(network)
            .send()
            .await;
        match got.map_err(error) {
            Ok(_) => Ok(true),
            Err(CloudError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn get_subnetwork(&self, scope: &Scope, name: &str) -> CloudResult<Option<Subnetwork>> {
        let got = self
            .subnetworks
            .get()
            .set_project(&scope.account)
            .set_region(&scope.region)
            .set_subnetwork(name)
            .send()
            .await;
        match got.map_err(error) {
            Ok(s) => Ok(Some(Subnetwork {
                name: s.name.unwrap_or_default(),
                network: last(s.network.as_deref()),
                region: last(s.region.as_deref()),
                ip_cidr_range: s.ip_cidr_range.unwrap_or_default(),
            })),
            Err(CloudError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn list_firewalls(&self, project: &str, network: &str) -> CloudResult<Vec<FirewallRule>> {
        // Firewall rules name their network by its full URL, which is what the filter
        // compares; the client-side check below keeps the answer right should a server read
        // the filter differently.
        let link = format!(
            "https://www.googleapis.com/compute/v1/projects/{project}/global/networks/{network}"
        );
        let mut rules = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .firewalls
                .list()
                .set_project(project)
                .set_filter(format!("network = \"{link}\""))
                .set_max_results(self.page_size)
                .set_or_clear_page_token(token.take())
                .send()
                .await
                .map_err(error)?;
            rules.extend(
                page.items
                    .into_iter()
                    .filter(|f| last(f.network.as_deref()) == network)
                    .map(firewall),
            );
            match next(page.next_page_token) {
                Some(t) => token = Some(t),
                None => return Ok(rules),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn retry_after_is_the_rest_of_the_minute_and_at_least_a_second() {
        let at = |secs: u64, millis: u64| UNIX_EPOCH + Duration::from_millis(secs * 1000 + millis);
        assert_eq!(until_next_minute(at(600, 0)), Duration::from_secs(60));
        assert_eq!(until_next_minute(at(615, 0)), Duration::from_secs(45));
        assert_eq!(until_next_minute(at(659, 500)), Duration::from_secs(1));
    }

    #[test]
    fn urls_become_names_and_paths() {
        let link = "https://www.googleapis.com/compute/v1/projects/p/global/networks/prod-vpc";
        assert_eq!(last(Some(link)), "prod-vpc");
        let sa =
            "https://compute.googleapis.com/compute/v1/projects/t/regions/r/serviceAttachments/s";
        assert_eq!(relative(sa), "projects/t/regions/r/serviceAttachments/s");
        assert_eq!(
            reference("n", "p", "global/networks"),
            "projects/p/global/networks/n"
        );
        assert_eq!(
            reference("global/networks/n", "p", "global/networks"),
            "global/networks/n"
        );
    }

    #[test]
    fn a_fingerprint_goes_back_as_it_came() {
        let text = "--KE24GB4T0=";
        let request = labels_request(&BTreeMap::new(), text);
        assert!(request.label_fingerprint.is_some());
        assert_eq!(fingerprint_text(request), text);
    }
}
