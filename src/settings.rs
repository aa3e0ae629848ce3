//! The daemon's own config file (`--config FILE`).
//!
//! Read through the same located checker as endpoint files, so its problems carry lines and
//! columns too. Relative paths resolve against the config file's directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checked::parse_one;
use crate::cloud::BucketClass;
use crate::cloud::aws::{Account, AwsConfig};
use crate::cloud::azure::AzureCredentials;
use crate::diag::{Diagnostic, Pos};
use crate::duration::{DURATION_HINT, HumanDuration};
use crate::secret::Secret;

/// Which implementation serves each provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Simulated,
    Real,
}

/// `cloud: simulated`, or one choice per provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum CloudChoice {
    Both(Backend),
    #[serde(rename_all = "camelCase")]
    Each {
        tidb_cloud: Backend,
        aws: Backend,
        /// Google Cloud; as `aws` when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gcp: Option<Backend>,
        /// Azure; as `aws` when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        azure: Option<Backend>,
    },
}

/// The file as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsFile {
    /// Where the endpoint files are (searched recursively).
    pub endpoints_dir: PathBuf,
    /// Where status files go; next to each endpoint file when null.
    #[serde(default)]
    pub status_dir: Option<PathBuf>,
    /// Where the daemon keeps what it must remember across restarts (the accounts and regions
    /// it has endpoints in). Null: `$STATE_DIRECTORY` (systemd's `StateDirectory=`), else
    /// nowhere, and a region whose last document goes away while the daemon is down is then
    /// not cleaned up.
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// Full resync period: every endpoint is looked at again in EC2 at least this often.
    #[serde(default = "default_interval")]
    pub interval: HumanDuration,
    /// TiDB Cloud connections are listed in full at least this often (in between, only the
    /// connections in flight are asked for): a connection deleted in the console is noticed
    /// within this long.
    #[serde(default = "default_full_resync")]
    pub full_resync: HumanDuration,
    /// While endpoints are on their way (creating, waiting for acceptance), look again this
    /// often instead of waiting a whole `interval`.
    #[serde(default = "default_settle")]
    pub settle_interval: HumanDuration,
    /// Marks the cloud resources this daemon owns (AWS tags).
    pub owner_id: String,
    #[serde(default = "default_cloud")]
    pub cloud: CloudChoice,
    #[serde(default)]
    pub simulated: Option<SimulatedSettings>,
    /// The TiDB Cloud API (with `cloud: real`).
    #[serde(default)]
    pub tidb_cloud: TidbCloudSettings,
    /// AWS EC2 (with `cloud: real`).
    #[serde(default)]
    pub aws: AwsSettings,
    /// Google Cloud (documents with a `gcp:` block); absent: such documents are told to
    /// configure it.
    #[serde(default)]
    pub gcp: Option<GcpSettings>,
    /// Azure (documents with an `azure:` block); absent: such documents are told to
    /// configure it.
    #[serde(default)]
    pub azure: Option<AzureSettings>,
    #[serde(default)]
    pub metrics: MetricsSettings,
    #[serde(default)]
    pub prune: PruneSettings,
    /// The reachability probe (for hosts inside the VPCs).
    #[serde(default)]
    pub probe: ProbeSettings,
    /// Several daemons with this ownerId, one acting: a lease in DynamoDB. Absent: this
    /// daemon acts alone (and locks its stateDir).
    #[serde(default)]
    pub leader_election: Option<LeaderElection>,
}

/// `leaderElection`: one acting daemon per ownerId, through a lease in a DynamoDB table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeaderElection {
    pub dynamodb: DynamoDbSettings,
    /// A leader that has not renewed for this long has lost the lease; a standby takes over.
    #[serde(default = "default_lease_duration")]
    pub lease_duration: HumanDuration,
    /// The leader renews (and a standby looks) this often; also the fencing margin: the leader
    /// stops acting when its lease is valid for less than this.
    #[serde(default = "default_renew_every")]
    pub renew_every: HumanDuration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DynamoDbSettings {
    /// The table holding one lease item per ownerId.
    pub table: String,
    pub region: String,
    /// A name from `aws.accounts` (its profile or role); the ambient credentials when absent.
    #[serde(default)]
    pub account: Option<String>,
    /// Another DynamoDB endpoint (tests: a moto server).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Create the table (on-demand billing) when it does not exist.
    #[serde(default = "default_true")]
    pub create_table: bool,
}

fn default_lease_duration() -> HumanDuration {
    HumanDuration(Duration::from_secs(15))
}
fn default_renew_every() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}
fn default_true() -> bool {
    true
}

/// The reachability probe: the `Reachable` condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProbeSettings {
    /// Probe each Active endpoint from this host: its DNS name must resolve inside the VPC and
    /// a TCP connection to it succeed. Only for hosts inside the VPCs (off by default).
    #[serde(default)]
    pub enabled: bool,
    /// Per DNS lookup and per connection attempt.
    #[serde(default = "default_probe_timeout")]
    pub timeout: HumanDuration,
    /// An endpoint is probed again after this long.
    #[serde(default = "default_interval")]
    pub every: HumanDuration,
    /// Probes per second, at most.
    #[serde(default = "default_probe_rate")]
    pub per_second: u32,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            enabled: false,
            timeout: default_probe_timeout(),
            every: default_interval(),
            per_second: default_probe_rate(),
        }
    }
}

fn default_probe_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(2))
}
fn default_probe_rate() -> u32 {
    5
}

/// How to reach AWS EC2, with which credentials, at which pace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsSettings {
    /// Another EC2 endpoint (tests: a moto server on loopback).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Named credentials for `spec.aws.account`; `default` is the ambient credential chain.
    #[serde(default)]
    pub accounts: BTreeMap<String, Account>,
    #[serde(default)]
    pub rate_limits: Ec2RateLimits,
}

/// How to reach Compute Engine, with which credentials, at which pace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GcpSettings {
    /// Another Compute Engine endpoint (tests: `privatelinkd-fake-gcp-compute` on loopback).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Application Default Credentials when absent (the metadata server on Google Cloud,
    /// `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's).
    #[serde(default)]
    pub credentials: Option<GcpCredentialsSettings>,
    #[serde(default)]
    pub rate_limits: GcpRateLimits,
}

/// Credentials other than Application Default Credentials (files only: never inline secrets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum GcpCredentialsSettings {
    /// A service account key file (JSON).
    ServiceAccountKeyFile(PathBuf),
    /// A workload identity federation configuration (an `external_account` JSON file, such as
    /// `gcloud iam workload-identity-pools create-cred-config` writes; AWS-sourced ones too).
    WorkloadIdentityFederation(PathBuf),
    /// No credentials (a fixed placeholder token): only for a fake Compute Engine in tests.
    Anonymous,
}

/// Each Compute Engine quota group per project (reads, mutations, operation reads); the
/// defaults keep under Google's 1,500 a minute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GcpRateLimits {
    #[serde(default = "default_gcp_rate")]
    pub per_second: f64,
    #[serde(default = "default_gcp_burst")]
    pub burst: u32,
}

impl Default for GcpRateLimits {
    fn default() -> Self {
        GcpRateLimits {
            per_second: default_gcp_rate(),
            burst: default_gcp_burst(),
        }
    }
}

fn default_gcp_rate() -> f64 {
    BucketClass::GcpRead.published().per_second
}
fn default_gcp_burst() -> u32 {
    BucketClass::GcpRead.published().burst
}

/// How to reach Azure Resource Manager, with which credentials, at which pace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AzureSettings {
    /// Another Resource Manager endpoint (tests: `privatelinkd-fake-azure-network` on
    /// loopback); `https://management.azure.com` when absent. Plain http only to loopback.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Another Entra ID (tests: the fake's token endpoint); `https://login.microsoftonline.com`
    /// when absent. Plain http only to loopback.
    #[serde(default)]
    pub authority_host: Option<String>,
    pub credentials: AzureCredentialsSettings,
    #[serde(default)]
    pub rate_limits: AzureRateLimits,
}

/// How privatelinkd gets its Resource Manager token: exactly one of these (secrets from files
/// only, never inline).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum AzureCredentialsSettings {
    /// The managed identity of the Azure VM privatelinkd runs on (the instance metadata
    /// service).
    ManagedIdentity(ManagedIdentitySettings),
    /// A federated token file exchanged with Entra ID (AKS workload identity).
    WorkloadIdentity(WorkloadIdentitySettings),
    /// An app registration's client secret, from a file or a systemd credential.
    ClientSecret(ClientSecretSettings),
    /// The Azure CLI's signed-in account (`az login`): for development.
    AzureCli(AzureCliSettings),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManagedIdentitySettings {
    /// A user-assigned identity's client ID; the system-assigned identity when absent.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Another instance metadata service (tests: the fake's address); `http://169.254.169.254`
    /// when absent.
    #[serde(default)]
    pub imds_endpoint: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadIdentitySettings {
    /// The Entra ID tenant; else `AZURE_TENANT_ID` (set by AKS's workload identity webhook).
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// The app (or user-assigned identity) that trusts the federated token; else
    /// `AZURE_CLIENT_ID`.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The federated token file, read again at every token fetch (it is rotated); else
    /// `AZURE_FEDERATED_TOKEN_FILE`.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientSecretSettings {
    pub tenant_id: String,
    pub client_id: String,
    /// A file holding the secret (read again at every token fetch); else the systemd
    /// credential `azure-client-secret` (`LoadCredential=azure-client-secret:...`).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

/// Nothing to set: `azureCli: {}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AzureCliSettings {}

/// Resource Manager's token buckets per subscription (the defaults are Microsoft's: reads 250
/// refilled 25 a second, writes and deletes 200 refilled 10 a second).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AzureRateLimits {
    #[serde(default = "default_arm_read_rate")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub reads_per_second: f64,
    #[serde(default = "default_arm_read_burst")]
    #[schemars(range(min = 1))]
    pub reads_burst: u32,
    /// Writes and deletes alike (each has a bucket of this size).
    #[serde(default = "default_arm_write_rate")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub writes_per_second: f64,
    #[serde(default = "default_arm_write_burst")]
    #[schemars(range(min = 1))]
    pub writes_burst: u32,
}

impl Default for AzureRateLimits {
    fn default() -> Self {
        AzureRateLimits {
            reads_per_second: default_arm_read_rate(),
            reads_burst: default_arm_read_burst(),
            writes_per_second: default_arm_write_rate(),
            writes_burst: default_arm_write_burst(),
        }
    }
}

fn default_arm_read_rate() -> f64 {
    BucketClass::ArmRead.published().per_second
}
fn default_arm_read_burst() -> u32 {
    BucketClass::ArmRead.published().burst
}
fn default_arm_write_rate() -> f64 {
    BucketClass::ArmWrite.published().per_second
}
fn default_arm_write_burst() -> u32 {
    BucketClass::ArmWrite.published().burst
}

/// The systemd credential of the Azure client secret (`LoadCredential=azure-client-secret:...`).
pub const AZURE_SECRET_CREDENTIAL: &str = "azure-client-secret";

impl AzureSettings {
    /// The credentials, with what the config leaves out taken from the environment (AKS's
    /// `AZURE_*` variables, systemd's `$CREDENTIALS_DIRECTORY`). Errors name what is missing
    /// and where it was looked for, never a secret.
    pub fn credentials(&self) -> Result<AzureCredentials, String> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Ok(match &self.credentials {
            AzureCredentialsSettings::ManagedIdentity(m) => AzureCredentials::ManagedIdentity {
                client_id: m.client_id.clone(),
                endpoint: m.imds_endpoint.clone(),
            },
            AzureCredentialsSettings::WorkloadIdentity(w) => {
                let missing = |key: &str, var: &str| {
                    format!(
                        "azure.credentials.workloadIdentity: no {key}: set it, or {var} (AKS's workload identity webhook sets it)"
                    )
                };
                AzureCredentials::WorkloadIdentity {
                    tenant_id: w
                        .tenant_id
                        .clone()
                        .or_else(|| env("AZURE_TENANT_ID"))
                        .ok_or_else(|| missing("tenantId", "AZURE_TENANT_ID"))?,
                    client_id: w
                        .client_id
                        .clone()
                        .or_else(|| env("AZURE_CLIENT_ID"))
                        .ok_or_else(|| missing("clientId", "AZURE_CLIENT_ID"))?,
                    token_file: w
                        .token_file
                        .clone()
                        .or_else(|| env("AZURE_FEDERATED_TOKEN_FILE").map(PathBuf::from))
                        .ok_or_else(|| missing("tokenFile", "AZURE_FEDERATED_TOKEN_FILE"))?,
                }
            }
            AzureCredentialsSettings::ClientSecret(c) => {
                let credential = std::env::var_os("CREDENTIALS_DIRECTORY")
                    .map(|dir| PathBuf::from(dir).join(AZURE_SECRET_CREDENTIAL))
                    .filter(|p| p.exists());
                let secret_file = c.secret_file.clone().or(credential).ok_or_else(|| {
                    format!(
                        "azure.credentials.clientSecret: no secret: set secretFile, or the systemd credential {AZURE_SECRET_CREDENTIAL}"
                    )
                })?;
                warn_if_readable_by_others(&secret_file);
                AzureCredentials::ClientSecret {
                    tenant_id: c.tenant_id.clone(),
                    client_id: c.client_id.clone(),
                    secret_file,
                }
            }
            AzureCredentialsSettings::AzureCli(_) => AzureCredentials::AzureCli {
                program: PathBuf::from("az"),
            },
        })
    }
}

/// EC2's token buckets per account, region and action (the defaults are EC2's own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ec2RateLimits {
    #[serde(default = "default_mutating_rate")]
    pub mutating_per_second: f64,
    #[serde(default = "default_mutating_burst")]
    pub mutating_burst: u32,
    #[serde(default = "default_describe_rate")]
    pub describe_per_second: f64,
    #[serde(default = "default_describe_burst")]
    pub describe_burst: u32,
}

impl Default for Ec2RateLimits {
    fn default() -> Self {
        Ec2RateLimits {
            mutating_per_second: default_mutating_rate(),
            mutating_burst: default_mutating_burst(),
            describe_per_second: default_describe_rate(),
            describe_burst: default_describe_burst(),
        }
    }
}

fn default_mutating_rate() -> f64 {
    BucketClass::Ec2Mutating.published().per_second
}
fn default_mutating_burst() -> u32 {
    BucketClass::Ec2Mutating.published().burst
}
fn default_describe_rate() -> f64 {
    BucketClass::Ec2Describe.published().per_second
}
fn default_describe_burst() -> u32 {
    BucketClass::Ec2Describe.published().burst
}

impl AwsSettings {
    /// What the EC2 client needs of this section.
    pub fn client_config(&self) -> AwsConfig {
        AwsConfig {
            endpoint_url: self.endpoint_url.clone(),
            accounts: self.accounts.clone(),
            app_name: None,
        }
    }
}

/// How to reach TiDB Cloud, and with which API key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TidbCloudSettings {
    /// Base URL; `/v1beta1` is appended.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// The API key's public half; else `TIDBCLOUD_PUBLIC_KEY`.
    #[serde(default)]
    pub public_key: Option<String>,
    /// A file holding the private half; else the systemd credential `tidbcloud-private-key`,
    /// else `TIDBCLOUD_PRIVATE_KEY`.
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// The API key's budget (TiDB Cloud allows 100).
    #[serde(default = "default_rpm")]
    pub requests_per_minute: u32,
    /// Per request.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

impl Default for TidbCloudSettings {
    fn default() -> Self {
        TidbCloudSettings {
            api_url: default_api_url(),
            public_key: None,
            private_key_file: None,
            requests_per_minute: default_rpm(),
            timeout: default_timeout(),
        }
    }
}

fn default_api_url() -> String {
    "https://dedicated.tidbapi.com".into()
}
fn default_rpm() -> u32 {
    (BucketClass::Tidb.published().per_second * 60.0).round() as u32
}
fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

/// The systemd credential name (`LoadCredential=tidbcloud-private-key:...`).
pub const PRIVATE_KEY_CREDENTIAL: &str = "tidbcloud-private-key";

impl TidbCloudSettings {
    /// The API key, from the config, files, systemd credentials or the environment.
    /// Errors name where the key was looked for, never the key.
    pub fn credentials(&self) -> Result<(String, Secret), String> {
        let public = self
            .public_key
            .clone()
            .or_else(|| std::env::var("TIDBCLOUD_PUBLIC_KEY").ok())
            .filter(|k| !k.is_empty())
            .ok_or("no TiDB Cloud public key: set tidbCloud.publicKey or TIDBCLOUD_PUBLIC_KEY")?;
        let credential = std::env::var_os("CREDENTIALS_DIRECTORY")
            .map(|dir| PathBuf::from(dir).join(PRIVATE_KEY_CREDENTIAL))
            .filter(|p| p.exists());
        let file = self.private_key_file.clone().or(credential);
        let private = match file {
            Some(path) => {
                warn_if_readable_by_others(&path);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    format!(
                        "cannot read the TiDB Cloud private key from {}: {e}",
                        path.display()
                    )
                })?;
                text.trim_end().to_string()
            }
            None => std::env::var("TIDBCLOUD_PRIVATE_KEY").map_err(|_| {
                "no TiDB Cloud private key: set tidbCloud.privateKeyFile, TIDBCLOUD_PRIVATE_KEY, \
                 or the systemd credential tidbcloud-private-key"
                    .to_string()
            })?,
        };
        if private.is_empty() {
            return Err("the TiDB Cloud private key is empty".into());
        }
        Ok((public, Secret::new(private)))
    }
}

fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            "{} is readable by group or others (mode {:o}); chmod 600 it",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SimulatedSettings {
    /// The simulated cloud's inventory.
    pub world: PathBuf,
    /// Keeps the simulated world across daemon restarts.
    #[serde(default)]
    pub state_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricsSettings {
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Which endpoints get series of their own: `unhealthy` (not Active, or a condition not
    /// True; the default) or `all` (about 20 series an endpoint). Every endpoint counts in
    /// `privatelinkd_endpoints` and `privatelinkd_endpoint_conditions` either way.
    #[serde(default)]
    pub endpoint_detail: crate::metrics::EndpointDetail,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            listen: default_listen(),
            endpoint_detail: Default::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PruneSettings {
    /// More deletions than this in one pass are all held back (unless --allow-mass-delete).
    #[serde(default = "default_max_deletes")]
    pub max_deletes_per_pass: usize,
    /// More re-creations (documents that had an endpoint, per the ledger, getting a new one)
    /// than this in one pass are all held back until approved.
    #[serde(default = "default_max_recreates")]
    pub max_recreates_per_pass: usize,
}

impl Default for PruneSettings {
    fn default() -> Self {
        PruneSettings {
            max_deletes_per_pass: default_max_deletes(),
            max_recreates_per_pass: default_max_recreates(),
        }
    }
}

fn default_interval() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}
fn default_full_resync() -> HumanDuration {
    HumanDuration(Duration::from_secs(600))
}
fn default_settle() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}
fn default_cloud() -> CloudChoice {
    CloudChoice::Both(Backend::Simulated)
}
fn default_listen() -> String {
    "127.0.0.1:9464".into()
}
fn default_max_deletes() -> usize {
    5
}
fn default_max_recreates() -> usize {
    5
}

/// Values a shipped sample leaves for the user to fill in: running with them is a mistake
/// waiting to happen (two hosts with ownerId CHANGE-ME would own each other's endpoints).
const PLACEHOLDER: &str = "CHANGE-ME";

fn placeholders(path: &Path, text: &str) -> Vec<Diagnostic> {
    let loaded = crate::yaml::load(text);
    let Some(doc) = loaded.documents.first() else {
        return Vec::new();
    };
    [
        (
            "/ownerId",
            "ownerId",
            "a name unique to this daemon (or to its group of hosts)",
        ),
        (
            "/tidbCloud/publicKey",
            "tidbCloud.publicKey",
            "your TiDB Cloud API key's public key",
        ),
    ]
    .iter()
    .filter_map(|(pointer, field, what)| {
        let node = doc.at(pointer)?;
        let value = node.to_json();
        let value = value.as_str()?;
        value.contains(PLACEHOLDER).then(|| {
            Diagnostic::new(
                path,
                node.pos,
                format!("{field} is still the placeholder `{value}`: set it to {what}"),
            )
        })
    })
    .collect()
}

/// The settings in force: paths resolved, choices made.
#[derive(Debug, Clone)]
pub struct Settings {
    pub file: SettingsFile,
    /// The config file itself (SIGHUP re-reads it).
    pub path: PathBuf,
}

impl Settings {
    /// Reads and checks a config file; every problem is returned with its place.
    pub fn load(path: &Path) -> Result<Settings, Vec<Diagnostic>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![Diagnostic::new(
                path,
                Pos::START,
                format!("cannot read config: {e}"),
            )]
        })?;
        Settings::parse(path, &text)
    }

    /// Checks a config file's text (`path` names it in problems and anchors relative paths).
    pub fn parse(path: &Path, text: &str) -> Result<Settings, Vec<Diagnostic>> {
        let file = parse_one::<SettingsFile>(path, text, &[DURATION_HINT])?;
        let placeholders = placeholders(path, text);
        if !placeholders.is_empty() {
            return Err(placeholders);
        }
        if let Some(election) = &file.leader_election
            && election.renew_every.0 * 2 > election.lease_duration.0
        {
            // A lease renewed less than twice per duration is lost to one slow renewal.
            let pos = crate::yaml::load(text)
                .documents
                .first()
                .and_then(|d| d.key_pos("/leaderElection/renewEvery"))
                .unwrap_or(Pos::START);
            return Err(vec![Diagnostic::new(
                path,
                pos,
                format!(
                    "leaderElection.renewEvery ({}) must be at most half of leaseDuration ({}): one late renewal would lose the lease",
                    election.renew_every, election.lease_duration
                ),
            )]);
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| base.join(p);
        let mut file = file;
        file.endpoints_dir = resolve(&file.endpoints_dir);
        file.status_dir = file.status_dir.as_deref().map(resolve);
        file.tidb_cloud.private_key_file = file.tidb_cloud.private_key_file.as_deref().map(resolve);
        file.state_dir = file
            .state_dir
            .as_deref()
            .map(resolve)
            .or_else(|| std::env::var_os("STATE_DIRECTORY").map(PathBuf::from));
        if let Some(azure) = &mut file.azure {
            match &mut azure.credentials {
                AzureCredentialsSettings::ClientSecret(c) => {
                    c.secret_file = c.secret_file.as_deref().map(resolve);
                }
                AzureCredentialsSettings::WorkloadIdentity(w) => {
                    w.token_file = w.token_file.as_deref().map(resolve);
                }
                _ => {}
            }
        }
        if let Some(sim) = &mut file.simulated {
            sim.world = resolve(&sim.world);
            sim.state_file = sim.state_file.as_deref().map(resolve);
        }
        Ok(Settings {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn interval(&self) -> Duration {
        self.file.interval.0
    }

    /// (TiDB Cloud, AWS) backends.
    /// TiDB Cloud's, AWS's and Google Cloud's backend.
    pub fn backends(&self) -> (Backend, Backend, Backend) {
        match &self.file.cloud {
            CloudChoice::Both(b) => (*b, *b, *b),
            CloudChoice::Each {
                tidb_cloud,
                aws,
                gcp,
                ..
            } => (*tidb_cloud, *aws, gcp.unwrap_or(*aws)),
        }
    }

    /// Azure's backend (as AWS's when not chosen).
    pub fn azure_backend(&self) -> Backend {
        match &self.file.cloud {
            CloudChoice::Both(b) => *b,
            CloudChoice::Each { aws, azure, .. } => azure.unwrap_or(*aws),
        }
    }
}
