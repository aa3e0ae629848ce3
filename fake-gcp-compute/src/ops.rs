//! Region operations: every mutating call answers one. An operation is PENDING for
//! `Timing::pending`, RUNNING for `Timing::running`, then DONE; its effect on the resources
//! happens when it becomes DONE (so a resource being inserted is not found until then, and one
//! being deleted is still found), and a failure shows in its `error`, as Compute Engine reports
//! failures found while processing (quota, IP conflicts).
//!
//! Time is evaluated lazily: every request first applies the operations whose time is up.

use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use crate::model::{Address, ForwardingRule, Labels, Ref, compact, region_link};

/// How long an operation stays in each state.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub pending: Duration,
    pub running: Duration,
}

/// What an operation does when it is done.
#[derive(Debug, Clone)]
pub enum Effect {
    InsertAddress(Box<Address>),
    DeleteAddress(Ref),
    SetAddressLabels(Ref, Labels),
    InsertForwardingRule(Box<ForwardingRule>),
    DeleteForwardingRule(Ref),
    SetForwardingRuleLabels(Ref, Labels),
}

impl Effect {
    pub fn operation_type(&self) -> &'static str {
        match self {
            Effect::InsertAddress(_) | Effect::InsertForwardingRule(_) => "insert",
            Effect::DeleteAddress(_) | Effect::DeleteForwardingRule(_) => "delete",
            Effect::SetAddressLabels(..) | Effect::SetForwardingRuleLabels(..) => "setLabels",
        }
    }

    /// The resource it changes.
    pub fn target(&self) -> &Ref {
        match self {
            Effect::InsertAddress(a) => &a.r#ref,
            Effect::InsertForwardingRule(f) => &f.r#ref,
            Effect::DeleteAddress(r)
            | Effect::SetAddressLabels(r, _)
            | Effect::DeleteForwardingRule(r)
            | Effect::SetForwardingRuleLabels(r, _) => r,
        }
    }
}

/// An error found while processing: `error.errors[]` plus the HTTP status Compute Engine
/// reports beside it (`httpErrorStatusCode`, `httpErrorMessage`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpError {
    /// Such as `QUOTA_EXCEEDED`, `IP_IN_USE_BY_ANOTHER_RESOURCE`.
    pub code: String,
    pub message: String,
    pub http_status: u16,
}

impl OpError {
    pub fn new(code: &str, message: impl Into<String>, http_status: u16) -> OpError {
        OpError {
            code: code.into(),
            message: message.into(),
            http_status,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub id: u64,
    pub r#ref: Ref,
    pub operation_type: &'static str,
    pub target: Ref,
    pub target_id: u64,
    pub client_operation_id: Option<String>,
    pub inserted: SystemTime,
    pub created_at: Instant,
    pub timing: Timing,
    /// Taken when the operation is applied.
    pub effect: Option<Effect>,
    /// Decided before it is applied (quota, injected) or while applying.
    pub error: Option<OpError>,
    pub applied: bool,
}

impl Operation {
    pub fn done_at(&self) -> Instant {
        self.created_at + self.timing.pending + self.timing.running
    }

    pub fn status(&self, now: Instant) -> &'static str {
        if self.applied {
            "DONE"
        } else if now >= self.created_at + self.timing.pending {
            "RUNNING"
        } else {
            "PENDING"
        }
    }

    pub fn json(&self, now: Instant) -> Value {
        let status = self.status(now);
        let r = &self.r#ref;
        let region = r.region.as_deref().unwrap_or_default();
        let started = self.inserted + self.timing.pending;
        let ended = started + self.timing.running;
        let mut v = json!({
            "kind": "compute#operation",
            "id": self.id.to_string(),
            "name": r.name,
            "operationType": self.operation_type,
            "targetLink": self.target.link(),
            "targetId": self.target_id.to_string(),
            "status": status,
            "user": "fake-gcp-compute@example.com",
            "progress": if status == "DONE" { 100 } else { 0 },
            "insertTime": timestamp(self.inserted),
            "startTime": (status != "PENDING").then(|| timestamp(started)),
            "endTime": (status == "DONE").then(|| timestamp(ended)),
            "selfLink": r.link(),
            "region": region_link(&r.project, region),
            "clientOperationId": self.client_operation_id,
        });
        if status == "DONE"
            && let Some(e) = &self.error
        {
            v["error"] = json!({"errors": [{"code": e.code, "message": e.message}]});
            v["httpErrorStatusCode"] = json!(e.http_status);
            v["httpErrorMessage"] = json!(http_message(e.http_status));
        }
        compact(v)
    }
}

/// Compute Engine's `httpErrorMessage`: the status's reason phrase in capitals.
fn http_message(status: u16) -> String {
    axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("ERROR")
        .to_uppercase()
}

/// RFC 3339 in UTC, with milliseconds.
pub fn timestamp(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_goes_pending_running_done() {
        let now = Instant::now();
        let mut op = Operation {
            id: 1,
            r#ref: Ref::regional("p", "r1", "operations", "operation-1"),
            operation_type: "insert",
            target: Ref::regional("p", "r1", "addresses", "a"),
            target_id: 2,
            client_operation_id: None,
            inserted: SystemTime::UNIX_EPOCH,
            created_at: now,
            timing: Timing {
                pending: Duration::from_secs(1),
                running: Duration::from_secs(1),
            },
            effect: None,
            error: Some(OpError::new("QUOTA_EXCEEDED", "Quota exceeded", 403)),
            applied: false,
        };
        assert_eq!(op.json(now)["status"], "PENDING");
        assert!(op.json(now).get("startTime").is_none());
        let running = op.json(now + Duration::from_secs(1));
        assert_eq!(running["status"], "RUNNING");
        assert_eq!(running["startTime"], "1970-01-01T00:00:01.000Z");
        assert!(running.get("error").is_none());
        op.applied = true;
        let done = op.json(now + Duration::from_secs(2));
        assert_eq!(done["status"], "DONE");
        assert_eq!(done["progress"], 100);
        assert_eq!(done["error"]["errors"][0]["code"], "QUOTA_EXCEEDED");
        assert_eq!(done["httpErrorStatusCode"], 403);
        assert_eq!(done["httpErrorMessage"], "FORBIDDEN");
        assert_eq!(done["id"], "1");
    }
}
