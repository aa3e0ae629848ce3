//! What `privatelinkd plan` shows: where each endpoint will end up, not only the next pass.
//!
//! A pass's plan says what to do *now* (nothing, while the service is being created; a modify
//! before the DNS step). A reviewer of a config change wants the end state: this endpoint will
//! be created in these subnets and registered, that one moves its subnets from A to B, this one
//! is deleted. So the preview compares each document with what was observed, field by field,
//! and takes from the pass's plan (when there is one) only what it alone knows: what would fail
//! and why, replacements and what the mass-deletion guard holds back.
//!
//! The JSON form is a contract (`examples/plan.schema.json`, `FORMAT_VERSION`).

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::Serialize;

use super::placement::IdDiff;
use super::{Desired, EndpointPlan, LeaveKind, Phase, Plan, ownership};
use crate::cloud::{
    CloudEndpoint, Connection, ConnectionState, ConsumerEndpoint, Service, ServiceState,
};
use crate::spec::Side;

/// Raised when a field's meaning changes; new optional fields do not raise it.
pub const FORMAT_VERSION: u32 = 1;

/// The plan as a reviewer reads it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanReport {
    /// The version of this format (1).
    pub format_version: u32,
    /// Where the observation came from: `cloud` (the providers, now) or the URL of a running
    /// daemon (its latest pass).
    pub observed_from: String,
    pub summary: Summary,
    /// Why the mass-deletion guard would hold departures back, if it would.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletions_blocked: Option<String>,
    /// Every endpoint that changes or fails (and, with `--all`, the unchanged ones).
    pub endpoints: Vec<EndpointPreview>,
}

/// How many endpoints each kind of change touches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub orphan: usize,
    /// Endpoints whose documents cannot be carried out as written (see each one's reason).
    pub fail: usize,
    pub unchanged: usize,
}

impl Summary {
    /// Changes pending (`--detailed-exitcode` exits 2).
    pub fn changes(&self) -> bool {
        self.create + self.update + self.replace + self.delete + self.orphan > 0
    }

    /// The summary of these endpoints.
    pub fn of<'a>(endpoints: impl IntoIterator<Item = &'a EndpointPreview>) -> Summary {
        let mut summary = Summary::default();
        for e in endpoints {
            *match e.action {
                PreviewAction::Create => &mut summary.create,
                PreviewAction::Update => &mut summary.update,
                PreviewAction::Replace => &mut summary.replace,
                PreviewAction::Delete => &mut summary.delete,
                PreviewAction::Orphan => &mut summary.orphan,
                PreviewAction::Fail => &mut summary.fail,
                PreviewAction::None => &mut summary.unchanged,
            } += 1;
        }
        summary
    }
}

/// One endpoint's change.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPreview {
    /// `metadata.name`.
    pub name: String,
    /// The endpoint file, relative to the endpoints directory (for a removal: the file it was
    /// last in, when known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub action: PreviewAction,
    /// What changes, field by field (`-` for nothing).
    pub changes: Vec<Change>,
    /// The phase the endpoint ends in (absent for an endpoint that leaves management).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase_after: Option<Phase>,
    /// Why: what fails, what the change waits for, why an endpoint is replaced or held back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PreviewAction {
    Create,
    Update,
    /// A new endpoint replaces the old one (another VPC or cluster).
    Replace,
    Delete,
    /// Left in place, untagged (`deletionPolicy: Orphan`).
    Orphan,
    /// Cannot be carried out as written.
    Fail,
    None,
}

impl PreviewAction {
    /// Terraform's signs.
    pub fn sign(self) -> &'static str {
        match self {
            PreviewAction::Create => "+",
            PreviewAction::Update => "~",
            PreviewAction::Replace => "-/+",
            PreviewAction::Delete | PreviewAction::Orphan => "-",
            PreviewAction::Fail => "!",
            PreviewAction::None => " ",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PreviewAction::Create => "create",
            PreviewAction::Update => "update",
            PreviewAction::Replace => "replace",
            PreviewAction::Delete => "delete",
            PreviewAction::Orphan => "orphan",
            PreviewAction::Fail => "fail",
            PreviewAction::None => "none",
        }
    }
}

/// One field, before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Change {
    /// `vpcEndpoint`, `subnetIds`, `securityGroupIds`, `privateDns`, `registration`, `tags`.
    pub field: String,
    pub before: String,
    pub after: String,
}

/// What was observed of one desired endpoint.
#[derive(Debug, Clone, Copy, Default)]
pub struct Current<'a> {
    pub service: Option<&'a Service>,
    pub endpoint: Option<&'a CloudEndpoint>,
    pub connection: Option<&'a Connection>,
}

/// An owned endpoint no local document names (observed by a daemon; `--from`).
#[derive(Debug, Clone, Copy)]
pub struct Unnamed<'a> {
    pub name: &'a str,
    pub endpoint: &'a CloudEndpoint,
}

/// The preview of every document against what was observed. `plan` is the planner's verdict
/// on each document (failures, replacements, the guard) and, from a pass here, the removals;
/// `unnamed` are owned endpoints no document names, when the removals were not planned here
/// (`--from`: their tags say what leaving does).
pub fn preview(
    docs: &[(Desired<'_>, Current<'_>)],
    plan: Option<&Plan>,
    unnamed: &[Unnamed<'_>],
    owner_id: &str,
    observed_from: &str,
) -> PlanReport {
    let mut endpoints: Vec<EndpointPreview> = docs
        .iter()
        .map(|(d, c)| {
            let planned = plan.and_then(|p| {
                p.endpoints
                    .iter()
                    .find(|e| e.name == d.doc.metadata.name.as_str())
                    .map(|e| &**e)
            });
            let replaced = plan.and_then(|p| {
                p.removals.iter().find(|r| {
                    r.name == d.doc.metadata.name.as_str()
                        && r.leaving.as_ref().is_some_and(|l| {
                            matches!(l.kind, LeaveKind::Replace | LeaveKind::ReplaceOrphan)
                        })
                })
            });
            one(d, *c, planned, replaced, owner_id)
        })
        .collect();
    let named: BTreeSet<&str> = docs
        .iter()
        .map(|(d, _)| d.doc.metadata.name.as_str())
        .collect();
    let removals = plan.map_or(&[][..], |p| &p.removals[..]);
    for r in removals {
        if named.contains(r.name.as_str()) {
            continue; // the old half of a replacement, shown with its document
        }
        endpoints.push(removal(r));
    }
    // (`unnamed` comes with `--from` only, where the plan has no removals.)
    for u in unnamed.iter().filter(|u| !named.contains(u.name)) {
        endpoints.push(leaving_by_tags(u));
    }
    let summary = Summary::of(&endpoints);
    PlanReport {
        format_version: FORMAT_VERSION,
        observed_from: observed_from.to_string(),
        summary,
        deletions_blocked: plan.and_then(|p| p.deletions_blocked.clone()),
        endpoints,
    }
}

fn list(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let mut items: Vec<String> = items.into_iter().map(|i| i.as_ref().to_string()).collect();
    items.sort();
    format!("[{}]", items.join(", "))
}

const NOTHING: &str = "-";

fn change(field: &str, before: impl Into<String>, after: impl Into<String>) -> Change {
    Change {
        field: field.into(),
        before: before.into(),
        after: after.into(),
    }
}

fn one(
    d: &Desired<'_>,
    c: Current<'_>,
    planned: Option<&EndpointPlan>,
    replaced: Option<&EndpointPlan>,
    owner_id: &str,
) -> EndpointPreview {
    let doc = d.doc;
    let mut preview = EndpointPreview {
        name: doc.metadata.name.to_string(),
        file: Some(d.file.to_string()),
        action: PreviewAction::None,
        changes: Vec::new(),
        phase_after: Some(Phase::Active),
        reason: None,
    };
    // What the planner knows fails (a subnet outside the service's zones, a missing VPC...).
    if let Some(p) = planned
        && p.phase == Phase::Failed
        && p.actions.is_empty()
    {
        preview.action = PreviewAction::Fail;
        preview.phase_after = Some(Phase::Failed);
        preview.reason = Some(p.message.clone());
        return preview;
    }
    let registration = || {
        format!(
            "cluster {}{}",
            doc.spec.tidb_cloud.cluster_id,
            doc.spec
                .tidb_cloud
                .node_group_id
                .as_ref()
                .map(|g| format!(", node group {g}"))
                .unwrap_or_default()
        )
    };
    let waiting = c
        .service
        .filter(|s| s.state != ServiceState::Active)
        .map(|s| {
            format!(
                "after the cluster's private link service is Active (now {:?})",
                s.state
            )
        });
    let endpoint = c.endpoint.filter(|_| replaced.is_none());
    let Some(e) = endpoint else {
        preview.action = if replaced.is_some() {
            PreviewAction::Replace
        } else {
            PreviewAction::Create
        };
        let old = replaced
            .and_then(|r| r.leaving.as_ref())
            .map_or(NOTHING.to_string(), |l| l.endpoint_id.clone());
        let (field, after) = match &doc.spec.side {
            Side::Aws(aws) => {
                let mut after = format!("in {}, subnets {}", aws.vpc_id, list(&aws.subnet_ids));
                if !aws.security_group_ids.is_empty() {
                    after += &format!(", security groups {}", list(&aws.security_group_ids));
                }
                ("vpcEndpoint", after)
            }
            Side::Gcp(gcp) => {
                let name = gcp.endpoint_name(&doc.metadata.name);
                let mut after = format!(
                    "{name} in {}, subnetwork {}",
                    gcp.network.name(),
                    gcp.subnetwork.name()
                );
                if let Some(ip) = gcp.address {
                    after += &format!(", address {ip}");
                }
                ("pscEndpoint", after)
            }
            Side::Azure(azure) => {
                let name = azure.endpoint_name(&doc.metadata.name);
                let after = format!("{name} in {}", azure.subnet_id());
                ("privateEndpoint", after)
            }
        };
        preview.changes.push(change(field, old, after));
        preview
            .changes
            .push(change("registration", NOTHING, registration()));
        if doc.spec.private_dns && doc.spec.aws().is_some() {
            preview.changes.push(change("privateDns", NOTHING, "true"));
        }
        preview.reason = match replaced {
            Some(r) => Some(format!(
                "{}; {}",
                r.message,
                if r.leaving
                    .as_ref()
                    .is_some_and(|l| l.kind == LeaveKind::ReplaceOrphan)
                {
                    "the old endpoint is left in place, untagged (deletionPolicy: Orphan)"
                } else {
                    "the old endpoint is deleted"
                }
            )),
            None => waiting,
        };
        return preview;
    };
    // Each ID once: a repeat is no change.
    if let (Some(aws), Some(vpce)) = (doc.spec.aws(), e.aws()) {
        aws_changes(&mut preview, doc.spec.private_dns, aws, vpce);
    }
    match c.connection {
        None => preview
            .changes
            .push(change("registration", NOTHING, registration())),
        Some(conn) if conn.state == ConnectionState::Failed => preview.changes.push(change(
            "registration",
            format!("{} (FAILED)", conn.id),
            format!("registered again: {}", registration()),
        )),
        Some(_) => {}
    }
    // An endpoint adopted as it is: marking it ours is bookkeeping, not a change to review.
    let adopting = !ownership::owned_by(e, owner_id);
    let (write, drop) = ownership::tag_drift(d, owner_id, e);
    if !adopting && (!write.is_empty() || !drop.is_empty()) {
        let before: Vec<String> = write
            .keys()
            .chain(&drop)
            .map(|k| format!("{k}={}", e.mark(k).unwrap_or(NOTHING)))
            .collect();
        let after: Vec<String> = write
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .chain(drop.iter().map(|k| format!("{k}={NOTHING}")))
            .collect();
        preview
            .changes
            .push(change("tags", list(before), list(after)));
    }
    if !preview.changes.is_empty() {
        preview.action = PreviewAction::Update;
        preview.reason = waiting;
    } else if adopting {
        preview.reason = Some(format!(
            "adopts {} as it is: the first pass marks it as this daemon's",
            e.id()
        ));
    }
    preview
}

/// A removal the planner decided (local mode).
fn removal(r: &EndpointPlan) -> EndpointPreview {
    let leaving = r.leaving.as_ref();
    let orphan =
        leaving.is_some_and(|l| matches!(l.kind, LeaveKind::Orphan | LeaveKind::ReplaceOrphan));
    let mut reason = r.message.clone();
    if r.held_by_guard {
        reason += " (held back by the mass-deletion guard)";
    }
    let file = leaving.and_then(|l| l.file.clone());
    let id = leaving.map_or(NOTHING, |l| l.endpoint_id.as_str());
    departure(&r.name, file, id, orphan, reason)
}

/// An owned endpoint no document names, as its tags say it leaves (`--from`).
/// Subnets, security groups and private DNS: what an AWS endpoint changes in place.
fn aws_changes(
    preview: &mut EndpointPreview,
    private_dns: bool,
    aws: &crate::spec::AwsSide,
    e: &crate::cloud::VpcEndpoint,
) {
    // Each ID once: a repeat is no change.
    let set = |ids: &[&str]| list(ids.iter().collect::<BTreeSet<_>>());
    let placed = [
        ("subnetIds", Some(IdDiff::subnets(aws, e))),
        ("securityGroupIds", IdDiff::security_groups(aws, e)),
    ];
    for (field, diff) in placed {
        if let Some(diff) = diff.filter(IdDiff::differ) {
            preview
                .changes
                .push(change(field, set(&diff.have), set(&diff.want)));
        }
    }
    if e.private_dns_enabled != private_dns {
        preview.changes.push(change(
            "privateDns",
            e.private_dns_enabled.to_string(),
            private_dns.to_string(),
        ));
    }
}

fn leaving_by_tags(u: &Unnamed<'_>) -> EndpointPreview {
    let orphan = ownership::policy_of(u.endpoint) == crate::spec::DeletionPolicy::Orphan;
    let file = ownership::file_of(u.endpoint).map(String::from);
    let reason = "no document names it any more".to_string();
    departure(u.name, file, u.endpoint.id(), orphan, reason)
}

fn departure(
    name: &str,
    file: Option<String>,
    endpoint_id: &str,
    orphan: bool,
    reason: String,
) -> EndpointPreview {
    let (action, after) = if orphan {
        (PreviewAction::Orphan, "left in place, untagged")
    } else {
        (PreviewAction::Delete, NOTHING)
    };
    EndpointPreview {
        name: name.to_string(),
        file,
        action,
        changes: vec![change("vpcEndpoint", endpoint_id, after)],
        phase_after: None,
        reason: Some(reason),
    }
}
