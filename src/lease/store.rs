//! The lease item in DynamoDB, through aws-sdk-dynamodb: one item per ownerId, changed only by
//! conditional writes, so two daemons can never both believe a write made them the holder.
//!
//! | attribute | type | meaning |
//! |---|---|---|
//! | `ownerId` | S (hash key) | the group |
//! | `holder` | S | `HOST.PID.RANDOM` of the leader; empty when released |
//! | `rvn` | N | record version: +1 on every acquisition, renewal and release (the fencing counter) |
//! | `leaseDurationMs` | N | the holder's `leaseDuration`: a standby that sees `rvn` unchanged for this long on its own clock may take over |
//! | `renewedAt` | S | RFC 3339 wall time of the last write, for people; never used to decide |
//!
//! No decision reads a clock across hosts: a standby measures how long `rvn` stayed the same on
//! its own monotonic clock, and the leader counts its validity from the moment it sent the
//! write that succeeded.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{AppName, BehaviorVersion, Region};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};

/// What the lease calls can answer, as far as the elector's reaction is concerned.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The condition did not hold: someone else wrote first.
    #[error("another daemon changed the lease first")]
    Conflict,
    /// The table does not exist (and `createTable` is false).
    #[error(
        "the DynamoDB table {0} does not exist (set leaderElection.dynamodb.createTable: true, or create it with hash key ownerId (S))"
    )]
    NoTable(String),
    /// The credentials lack a permission (see examples/iam-policy.json).
    #[error("not allowed: {0} (grant it to privatelinkd's role, see examples/iam-policy.json)")]
    Denied(String),
    /// DynamoDB answered, but not with what we asked (throttling, a server error, ...).
    #[error("DynamoDB: {0}")]
    Service(String),
    /// DynamoDB could not be reached or did not answer in time.
    #[error("cannot reach DynamoDB: {0}")]
    Unreachable(String),
}

/// The lease item as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub holder: String,
    pub rvn: u64,
    pub lease_duration: Duration,
}

/// Where the lease lives and how to reach it.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub table: String,
    pub region: String,
    /// A named profile (from `aws.accounts`).
    pub profile: Option<String>,
    /// A role to assume (from `aws.accounts`), with its external ID.
    pub role: Option<(String, Option<String>)>,
    pub endpoint_url: Option<String>,
    pub create_table: bool,
    /// Sent as the AWS SDK's app name (User-Agent), so request logs tell holders apart.
    pub app_name: String,
}

/// The lease table; one client, shared.
#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
}

const KEY: &str = "ownerId";

impl Store {
    pub async fn connect(config: &StoreConfig) -> Store {
        let timeouts = TimeoutConfig::builder()
            .operation_attempt_timeout(Duration::from_secs(2))
            .connect_timeout(Duration::from_secs(2))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            // One attempt: the elector's own rhythm is the retry, and a renewal must not
            // outlive the lease it renews.
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .timeout_config(timeouts);
        if let Ok(name) = AppName::new(config.app_name.clone()) {
            loader = loader.app_name(name);
        }
        if let Some(profile) = &config.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &config.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let base = loader.load().await;
        let mut builder = aws_sdk_dynamodb::config::Builder::from(&base);
        if let Some((role, external_id)) = &config.role {
            let mut assume = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name("privatelinkd")
                .configure(&base);
            if let Some(id) = external_id {
                assume = assume.external_id(id);
            }
            builder = builder.credentials_provider(assume.build().await);
        }
        Store {
            client: Client::from_conf(builder.build()),
            table: config.table.clone(),
        }
    }

    /// The client and table, shared with the ledger (`crate::ledger::dynamo`), which lives
    /// beside the lease.
    pub fn client(&self) -> (&Client, &str) {
        (&self.client, &self.table)
    }

    /// Makes sure the table exists: creates it (on-demand billing) when allowed.
    pub async fn ensure_table(&self, create: bool) -> Result<(), LeaseError> {
        let described = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await;
        match described {
            Ok(_) => return Ok(()),
            Err(e) if e.code() == Some("ResourceNotFoundException") && create => {}
            Err(e) if e.code() == Some("ResourceNotFoundException") => {
                return Err(LeaseError::NoTable(self.table.clone()));
            }
            Err(e) => return Err(classify("DescribeTable", e)),
        }
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(KEY)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("name and type are set"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(KEY)
                    .key_type(KeyType::Hash)
                    .build()
                    .expect("name and type are set"),
            )
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            // Another daemon of the group created it meanwhile.
            Err(e) if e.code() == Some("ResourceInUseException") => Ok(()),
            Err(e) => Err(classify("CreateTable", e)),
        }
    }

    /// The group's lease item, read consistently.
    pub async fn read(&self, owner_id: &str) -> Result<Option<Record>, LeaseError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(owner_id.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        Ok(item.item.map(|item| {
            let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
            let n = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            Record {
                holder: s("holder").unwrap_or_default(),
                rvn: n("rvn"),
                lease_duration: Duration::from_millis(n("leaseDurationMs")),
            }
        }))
    }

    /// Creates the item for a group that has none: `holder` holds it at version 1.
    pub async fn create(
        &self,
        owner_id: &str,
        holder: &str,
        lease_duration: Duration,
    ) -> Result<u64, LeaseError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(KEY, AttributeValue::S(owner_id.into()))
            .item("holder", AttributeValue::S(holder.into()))
            .item("rvn", AttributeValue::N("1".into()))
            .item("leaseDurationMs", millis(lease_duration))
            .item("renewedAt", AttributeValue::S(now_rfc3339()))
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", KEY)
            .send()
            .await
            .map_err(|e| classify("PutItem", e))?;
        Ok(1)
    }

    /// Writes `holder` (empty: released) at `rvn + 1`, only if the item is still at `rvn`
    /// (and, when `only_if_holder`, still held by it). Returns the new version.
    pub async fn replace(
        &self,
        owner_id: &str,
        rvn: u64,
        holder: &str,
        lease_duration: Duration,
        only_if_holder: Option<&str>,
    ) -> Result<u64, LeaseError> {
        let mut condition = "rvn = :seen".to_string();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(owner_id.into()))
            .update_expression(
                "SET holder = :holder, rvn = :next, leaseDurationMs = :duration, renewedAt = :at",
            )
            .expression_attribute_values(":seen", AttributeValue::N(rvn.to_string()))
            .expression_attribute_values(":next", AttributeValue::N((rvn + 1).to_string()))
            .expression_attribute_values(":holder", AttributeValue::S(holder.into()))
            .expression_attribute_values(":duration", millis(lease_duration))
            .expression_attribute_values(":at", AttributeValue::S(now_rfc3339()));
        if let Some(me) = only_if_holder {
            condition.push_str(" AND holder = :me");
            update = update.expression_attribute_values(":me", AttributeValue::S(me.into()));
        }
        update
            .condition_expression(condition)
            .send()
            .await
            .map_err(|e| classify("UpdateItem", e))?;
        Ok(rvn + 1)
    }
}

fn millis(d: Duration) -> AttributeValue {
    AttributeValue::N(d.as_millis().to_string())
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

fn classify<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    action: &str,
    error: SdkError<E, R>,
) -> LeaseError {
    match &error {
        SdkError::ServiceError(_) => {
            let code = error.code().unwrap_or("Unknown");
            match code {
                "ConditionalCheckFailedException" => LeaseError::Conflict,
                "ResourceNotFoundException" => LeaseError::NoTable(action.to_string()),
                "AccessDeniedException" | "UnrecognizedClientException" | "AccessDenied" => {
                    LeaseError::Denied(format!("dynamodb:{action} ({code})"))
                }
                _ => LeaseError::Service(format!(
                    "{action}: {code}: {}",
                    error.message().unwrap_or_default()
                )),
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            LeaseError::Unreachable(format!("{action}: no answer"))
        }
        _ => LeaseError::Service(format!("{action}: unreadable answer")),
    }
}
