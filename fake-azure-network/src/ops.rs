//! Long-running operations. Every PUT and DELETE of a private endpoint starts one; its
//! `Azure-AsyncOperation` URL answers `{"status": "InProgress"}` until `Options::operation_delay`
//! has passed, then `Succeeded`, or `Failed` with the spec's `Error` (an injected failure), or
//! `Canceled` (the resource was deleted "in the portal" meanwhile). The resource's
//! `provisioningState` is `Updating` (or `Deleting`) meanwhile and follows the outcome.
//!
//! Time is evaluated lazily: every request first applies the operations whose time is up.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Create,
    Update,
    Delete,
}

/// The spec's `NetworkOperationStatus`, with ARM's `Canceled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpStatus {
    InProgress,
    Succeeded,
    Failed,
    Canceled,
}

impl OpStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OpStatus::InProgress => "InProgress",
            OpStatus::Succeeded => "Succeeded",
            OpStatus::Failed => "Failed",
            OpStatus::Canceled => "Canceled",
        }
    }
}

/// An operation's error (the spec's `Error`: `code`, `message`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct OpError {
    pub code: String,
    pub message: String,
}

impl OpError {
    pub fn new(code: &str, message: impl Into<String>) -> OpError {
        OpError {
            code: code.to_string(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Operation {
    /// A GUID; also the `x-ms-request-id` of the call that started it, as Microsoft.Network's.
    pub id: String,
    pub subscription: String,
    pub location: String,
    pub kind: OpKind,
    /// The private endpoint's key.
    pub target: String,
    pub done_at: Instant,
    /// Decided when started (an injected failure), reported when done.
    pub planned_error: Option<OpError>,
    pub status: OpStatus,
    pub error: Option<OpError>,
}

impl Operation {
    pub fn is_done(&self) -> bool {
        self.status != OpStatus::InProgress
    }

    /// The `Azure-AsyncOperation` answer (the spec's `AzureAsyncOperationResult`).
    pub fn json(&self) -> Value {
        let mut value = json!({"status": self.status.as_str()});
        if let Some(e) = &self.error {
            value["error"] = json!({"code": e.code, "message": e.message, "details": []});
        }
        value
    }

    /// `/subscriptions/S/providers/Microsoft.Network/locations/L/{collection}/ID?api-version=V`
    /// under `base` (`operations` for Azure-AsyncOperation, `operationResults` for Location).
    pub fn url(&self, base: &str, collection: &str) -> String {
        format!(
            "{base}/subscriptions/{}/providers/Microsoft.Network/locations/{}/{collection}/{}?api-version={}",
            self.subscription,
            self.location,
            self.id,
            crate::error::API_VERSION
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_reports_status_and_error_in_the_spec_shape() {
        let mut op = Operation {
            id: "a1".into(),
            subscription: "s".into(),
            location: "eastus".into(),
            kind: OpKind::Create,
            target: "t".into(),
            done_at: Instant::now(),
            planned_error: None,
            status: OpStatus::InProgress,
            error: None,
        };
        assert_eq!(op.json(), json!({"status": "InProgress"}));
        assert!(!op.is_done());
        op.status = OpStatus::Failed;
        op.error = Some(OpError::new("InternalServerError", "boom"));
        assert_eq!(
            op.json(),
            json!({"status": "Failed", "error": {"code": "InternalServerError", "message": "boom", "details": []}})
        );
        assert_eq!(
            op.url("http://h", "operations"),
            "http://h/subscriptions/s/providers/Microsoft.Network/locations/eastus/operations/a1?api-version=2024-05-01"
        );
    }
}
