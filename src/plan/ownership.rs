//! Ownership: the one place that knows how an endpoint is marked as ours, what the marks say
//! about it, and how a create is made repeatable.
//!
//! Everything privatelinkd may ever change carries the owner tag; the other tags let a
//! restarted daemon find an endpoint again (name), know what to do when its document goes
//! away (deletion policy) and which file to blame while that file is invalid (file).

use std::collections::BTreeMap;

use super::Desired;
use crate::cloud::{CloudEndpoint, ConsumerEndpoint, VpcEndpoint};
use crate::spec::{DeletionPolicy, EndpointDocument, Side};
use crate::stable::fnv;

/// Every tag key of ours starts with this.
pub const PREFIX: &str = crate::cloud::consumer::MARK_PREFIX;
/// The daemon's `ownerId`; nothing without it is ever modified or deleted (adoption aside).
pub const OWNER: &str = "privatelinkd.io/owner";
/// The endpoint's `metadata.name`: how an endpoint is found again after a crash.
pub const NAME: &str = "privatelinkd.io/name";
/// `Delete` or `Orphan`, so a removed document's policy is still known.
pub const DELETION_POLICY: &str = "privatelinkd.io/deletion-policy";
/// The endpoint file (relative to the endpoints directory): while that file is invalid,
/// the endpoint is frozen rather than taken for removed.
pub const FILE: &str = "privatelinkd.io/file";
/// Prefix for the document's labels.
pub const LABEL_PREFIX: &str = "privatelinkd.io/label/";
/// `Name`, as the AWS console shows it.
pub const CONSOLE_NAME: &str = "Name";

/// The tag that the owned-endpoint listing filters on.
pub fn owner_tag(owner_id: &str) -> (&'static str, &str) {
    (OWNER, owner_id)
}

// Reading the marks back goes through the seam (`ConsumerEndpoint`), so any cloud's
// endpoint answers; writing them (below) is still AWS's tags.

/// The document name an owned endpoint belongs to (its ID if the mark is missing).
pub fn name_of(endpoint: &impl ConsumerEndpoint) -> &str {
    endpoint.mark(NAME).unwrap_or(endpoint.id())
}

/// The file an owned endpoint's document was last seen in.
pub fn file_of(endpoint: &impl ConsumerEndpoint) -> Option<&str> {
    endpoint.mark(FILE)
}

/// The deletion policy marked on an endpoint; `Delete` unless it says `Orphan`.
pub fn policy_of(endpoint: &impl ConsumerEndpoint) -> DeletionPolicy {
    match endpoint.mark(DELETION_POLICY) {
        Some("Orphan") => DeletionPolicy::Orphan,
        _ => DeletionPolicy::Delete,
    }
}

/// The owner named on an endpoint, if any.
pub fn owner_of(endpoint: &impl ConsumerEndpoint) -> Option<&str> {
    endpoint.mark(OWNER)
}

/// Whether `owner_id` owns the endpoint (as the cloud spells it: a Google Cloud label holds
/// a respelled owner).
pub fn owned_by(endpoint: &impl ConsumerEndpoint, owner_id: &str) -> bool {
    endpoint.marked(OWNER, owner_id)
}

/// Our mark keys on an endpoint: what orphaning removes.
pub fn our_keys(endpoint: &impl ConsumerEndpoint) -> Vec<String> {
    endpoint.mark_keys().map(String::from).collect()
}

fn policy_name(policy: DeletionPolicy) -> &'static str {
    match policy {
        DeletionPolicy::Delete => "Delete",
        DeletionPolicy::Orphan => "Orphan",
    }
}

/// Tags that make an endpoint ours and findable again after a crash.
pub fn ownership_tags(desired: &Desired<'_>, owner_id: &str) -> BTreeMap<String, String> {
    let doc = desired.doc;
    let policy = policy_name(doc.spec.deletion_policy);
    let mut t = BTreeMap::from([
        (OWNER.to_string(), owner_id.to_string()),
        (NAME.to_string(), doc.metadata.name.to_string()),
        (DELETION_POLICY.to_string(), policy.to_string()),
        (FILE.to_string(), desired.file.to_string()),
    ]);
    for (k, v) in &doc.metadata.labels {
        t.insert(format!("{LABEL_PREFIX}{k}"), v.clone());
    }
    t
}

/// How an endpoint's tags differ from what the document says: the tags to write (ours that
/// are missing or say something else, a hand edit included) and the label keys to drop
/// (labels the document no longer has).
pub fn tag_drift(
    desired: &Desired<'_>,
    owner_id: &str,
    endpoint: &CloudEndpoint,
) -> (BTreeMap<String, String>, Vec<String>) {
    // The usual answer (nothing to correct), found without building the wanted tags.
    if endpoint
        .aws()
        .is_some_and(|e| tags_match(desired, owner_id, e))
    {
        return (BTreeMap::new(), Vec::new());
    }
    let wanted = ownership_tags(desired, owner_id);
    let label_prefix = endpoint.spell(LABEL_PREFIX).trim_end_matches('-');
    let drop = endpoint
        .mark_keys()
        .filter(|k| k.starts_with(label_prefix))
        .filter(|k| !wanted.keys().any(|w| endpoint.spell(w) == *k))
        .map(String::from)
        .collect();
    let write = wanted
        .into_iter()
        .filter(|(k, v)| !endpoint.marked(k, v))
        .collect();
    (write, drop)
}

/// Whether `endpoint` carries exactly the ownership tags and labels `ownership_tags` wants.
fn tags_match(desired: &Desired<'_>, owner_id: &str, endpoint: &VpcEndpoint) -> bool {
    let doc = desired.doc;
    let labels = &doc.metadata.labels;
    let mut ours = 0;
    for (key, value) in &endpoint.tags {
        if let Some(label) = key.strip_prefix(LABEL_PREFIX) {
            if labels.get(label) != Some(value) {
                return false;
            }
            ours += 1;
        }
    }
    ours == labels.len()
        && endpoint.tag(OWNER) == Some(owner_id)
        && endpoint.tag(NAME) == Some(doc.metadata.name.as_str())
        && endpoint.tag(DELETION_POLICY) == Some(policy_name(doc.spec.deletion_policy))
        && endpoint.tag(FILE) == Some(desired.file)
}

/// The tags a new endpoint is created with: ours, and a name for the console.
pub fn creation_tags(desired: &Desired<'_>, owner_id: &str) -> BTreeMap<String, String> {
    let mut tags = ownership_tags(desired, owner_id);
    tags.insert(
        CONSOLE_NAME.into(),
        format!("privatelinkd-{}", desired.doc.metadata.name),
    );
    tags
}

/// The ClientToken of a create: the same owner, name and request give the same token, so a
/// create retried after a timeout or a crash returns the first endpoint instead of a second.
pub fn client_token(owner_id: &str, doc: &EndpointDocument, service_name: &str) -> String {
    let key = match &doc.spec.side {
        Side::Aws(aws) => format!(
            "{owner_id}\n{}\n{}\n{}\n{service_name}\n{:?}\n{:?}",
            doc.metadata.name, aws.region, aws.vpc_id, aws.subnet_ids, aws.security_group_ids
        ),
        Side::Gcp(gcp) => format!(
            "{owner_id}\n{}\n{}\n{}\n{}\n{service_name}\n{}\n{:?}",
            doc.metadata.name, gcp.project, gcp.region, gcp.network, gcp.subnetwork, gcp.address
        ),
        // Azure is idempotent by name (a PUT on the resource ID); kept for the ledger's intent.
        Side::Azure(azure) => format!(
            "{owner_id}\n{}\n{}\n{}\n{service_name}",
            doc.metadata.name,
            azure.endpoint_id(&doc.metadata.name),
            azure.subnet_id()
        ),
    };
    format!("privatelinkd-{:016x}", fnv(&key))
}

/// The token to use when `token`'s endpoint `dead_id` was deleted: deterministic as well.
pub fn next_client_token(token: &str, dead_id: &str) -> String {
    format!("privatelinkd-{:016x}", fnv(&format!("{token}\n{dead_id}")))
}
