//! The ledger of a leader-election group: beside the lease, in the same DynamoDB table, so a
//! new leader knows exactly what the old one created, and no local file can disagree with it.
//!
//! | item (`ownerId`) | attributes |
//! |---|---|
//! | `OWNER` | the lease (`crate::lease::store`) |
//! | `OWNER#ledger#NN`, NN = 00..3f | one attribute per document, `e.NAME`, its entry as JSON |
//!
//! Documents are spread over 64 items by a stable hash of their name: all of them are read in
//! one `BatchGetItem` (a new leader's first pass), an item stays far below DynamoDB's 400 KB
//! up to ~80,000 documents, and a pass's changes go out as `TransactWriteItems` (one, unless
//! more than 40 changes fall on one item, as in a first fill of thousands), each with a
//! `ConditionCheck` that the lease item still names this daemon as holder. A daemon that lost
//! the lease cannot write, even one whose clock or fence is wrong: DynamoDB checks it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, KeysAndAttributes, TransactWriteItem, Update,
};

use super::{Change, Entry, LedgerError};
use crate::lease::{Store, StoreConfig};
use crate::stable::fnv;

const KEY: &str = "ownerId";
const SHARDS: u64 = 64;
const ATTRIBUTE: &str = "e.";
/// Names changed in one Update: DynamoDB caps an expression at 4 KB.
const PER_UPDATE: usize = 40;
/// A transaction holds at most 100 actions; one is the lease check.
const PER_TRANSACTION: usize = 99;
/// How often a leader reads the ledger again (`state forget` writes beside it).
const REREAD: Duration = Duration::from_secs(300);

/// The group's ledger items.
pub struct Dynamo {
    client: Client,
    table: String,
    owner_id: String,
    /// This daemon's lease identity: writes are conditional on the lease naming it.
    holder: String,
    last_read: Option<Instant>,
}

fn shard_key(owner_id: &str, name: &str) -> String {
    format!("{owner_id}#ledger#{:02x}", fnv(name) % SHARDS)
}

fn dynamo(action: &str, e: impl ProvideErrorMetadata + std::fmt::Debug) -> LedgerError {
    match e.code() {
        Some("TransactionCanceledException") | Some("ConditionalCheckFailedException") => {
            LedgerError::Fenced
        }
        code => LedgerError::Dynamo(format!(
            "{action}: {}: {}",
            code.unwrap_or("no answer"),
            e.message().unwrap_or_default()
        )),
    }
}

/// A cancelled transaction is fenced only when its first part, the lease check, failed; any
/// other cancellation (a conflict with a concurrent `state forget`) is said as it is.
fn cancelled(e: TransactWriteItemsError) -> LedgerError {
    if let TransactWriteItemsError::TransactionCanceledException(t) = &e {
        let lease = t.cancellation_reasons().first().and_then(|r| r.code());
        if lease != Some("ConditionalCheckFailed") {
            return LedgerError::Dynamo(format!(
                "TransactWriteItems cancelled: {}",
                t.message().unwrap_or_default()
            ));
        }
    }
    dynamo("TransactWriteItems", e)
}

impl Dynamo {
    /// The ledger of `owner_id`'s group, in the lease's table with the lease's client settings.
    /// `holder` is this daemon's lease identity (empty for a reader, who never writes).
    pub async fn connect(config: &StoreConfig, owner_id: &str, holder: &str) -> Dynamo {
        let lease = Store::connect(config).await;
        let (client, table) = lease.client();
        Dynamo::new(client.clone(), table, owner_id, holder)
    }

    /// Removes one entry (`privatelinkd state forget`); see [`forget`].
    pub async fn forget(&self, name: &str) -> Result<bool, LedgerError> {
        forget(&self.client, &self.table, &self.owner_id, name).await
    }

    pub fn new(client: Client, table: &str, owner_id: &str, holder: &str) -> Dynamo {
        Dynamo {
            client,
            table: table.to_string(),
            owner_id: owner_id.to_string(),
            holder: holder.to_string(),
            last_read: None,
        }
    }

    /// Every entry of the group, read consistently.
    pub async fn load(&mut self) -> Result<BTreeMap<String, Entry>, LedgerError> {
        let mut keys: Vec<_> = (0..SHARDS)
            .map(|n| {
                let key = format!("{}#ledger#{n:02x}", self.owner_id);
                std::collections::HashMap::from([(KEY.to_string(), AttributeValue::S(key))])
            })
            .collect();
        let mut entries = BTreeMap::new();
        // BatchGetItem may leave keys unprocessed (throttled, or 16 MB): ask for them again.
        for _ in 0..10 {
            if keys.is_empty() {
                break;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut keys)))
                .consistent_read(true)
                .build()
                .expect("keys are set");
            let answer = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| dynamo("BatchGetItem", e.into_service_error()))?;
            for item in answer
                .responses
                .unwrap_or_default()
                .remove(&self.table)
                .unwrap_or_default()
            {
                for (attribute, value) in item {
                    let Some(name) = attribute.strip_prefix(ATTRIBUTE) else {
                        continue;
                    };
                    let body = value.as_s().map_err(|_| {
                        LedgerError::Dynamo(format!("the entry of {name} is not a string"))
                    })?;
                    let entry: Entry = serde_json::from_str(body)
                        .map_err(|e| LedgerError::Dynamo(format!("the entry of {name}: {e}")))?;
                    entries.insert(name.to_string(), entry);
                }
            }
            if let Some(rest) = answer
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
            {
                keys = rest.keys;
            }
        }
        if !keys.is_empty() {
            return Err(LedgerError::Dynamo(
                "BatchGetItem left keys unprocessed ten times".into(),
            ));
        }
        self.last_read = Some(Instant::now());
        Ok(entries)
    }

    /// Writes `changes`, each transaction conditional on this daemon holding the lease.
    pub async fn write(&self, changes: &[Change]) -> Result<(), LedgerError> {
        // Per item, the changes in chunks an expression can hold; a transaction may touch an
        // item once, so chunk i of every item goes in round i.
        let mut by_item: BTreeMap<String, Vec<&Change>> = BTreeMap::new();
        for change in changes {
            let name = match change {
                Change::Put(name, _) | Change::Remove(name) => name,
            };
            by_item
                .entry(shard_key(&self.owner_id, name))
                .or_default()
                .push(change);
        }
        let rounds = by_item
            .values()
            .map(|c| c.len().div_ceil(PER_UPDATE))
            .max()
            .unwrap_or(0);
        for round in 0..rounds {
            let updates: Vec<TransactWriteItem> = by_item
                .iter()
                .filter_map(|(key, changes)| {
                    let chunk = changes.chunks(PER_UPDATE).nth(round)?;
                    Some(self.update(key, chunk))
                })
                .collect();
            for batch in updates.chunks(PER_TRANSACTION) {
                let mut request = self
                    .client
                    .transact_write_items()
                    .transact_items(self.lease_check());
                for item in batch {
                    request = request.transact_items(item.clone());
                }
                request
                    .send()
                    .await
                    .map_err(|e| cancelled(e.into_service_error()))?;
            }
        }
        Ok(())
    }

    /// The lease item still names this daemon.
    fn lease_check(&self) -> TransactWriteItem {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(self.owner_id.clone()))
            .condition_expression("holder = :me")
            .expression_attribute_values(":me", AttributeValue::S(self.holder.clone()))
            .build()
            .expect("table, key and condition are set");
        TransactWriteItem::builder().condition_check(check).build()
    }

    fn update(&self, key: &str, changes: &[&Change]) -> TransactWriteItem {
        let (mut sets, mut removes) = (Vec::new(), Vec::new());
        let mut update = Update::builder()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(key.to_string()));
        for (i, change) in changes.iter().enumerate() {
            match change {
                Change::Put(name, entry) => {
                    let body = serde_json::to_string(entry).expect("an entry serializes");
                    sets.push(format!("#n{i} = :v{i}"));
                    update = update
                        .expression_attribute_names(format!("#n{i}"), format!("{ATTRIBUTE}{name}"))
                        .expression_attribute_values(format!(":v{i}"), AttributeValue::S(body));
                }
                Change::Remove(name) => {
                    removes.push(format!("#n{i}"));
                    update = update
                        .expression_attribute_names(format!("#n{i}"), format!("{ATTRIBUTE}{name}"));
                }
            }
        }
        let mut expression = String::new();
        if !sets.is_empty() {
            expression.push_str(&format!("SET {}", sets.join(", ")));
        }
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let update = update
            .update_expression(expression.trim())
            .build()
            .expect("table, key and expression are set");
        TransactWriteItem::builder().update(update).build()
    }

    /// The entries again when they were last read long enough ago (`state forget` writes to
    /// the table beside the leader).
    pub async fn reload_if_changed(
        &mut self,
    ) -> Result<Option<BTreeMap<String, Entry>>, LedgerError> {
        if self.last_read.is_some_and(|t| t.elapsed() < REREAD) {
            return Ok(None);
        }
        self.load().await.map(Some)
    }
}

/// For `privatelinkd state forget` in a group: removes one entry. Not fenced: a person
/// decides it, whoever leads.
pub async fn forget(
    client: &Client,
    table: &str,
    owner_id: &str,
    name: &str,
) -> Result<bool, LedgerError> {
    let answer = client
        .update_item()
        .table_name(table)
        .key(KEY, AttributeValue::S(shard_key(owner_id, name)))
        .update_expression("REMOVE #n")
        .condition_expression("attribute_exists(#n)")
        .expression_attribute_names("#n", format!("{ATTRIBUTE}{name}"))
        .send()
        .await;
    match answer {
        Ok(_) => Ok(true),
        Err(e) => match dynamo("UpdateItem", e.into_service_error()) {
            LedgerError::Fenced => Ok(false),
            other => Err(other),
        },
    }
}
