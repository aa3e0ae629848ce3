//! Polling long-running operations, the two ways Resource Manager documents ("Track asynchronous
//! Azure operations"):
//!
//! - `Azure-AsyncOperation` (`.../locations/{l}/operations/{id}`): always 200 with
//!   `{"status": "InProgress" | "Succeeded" | "Failed" | "Canceled", "error"?}`, and
//!   `Retry-After` while in progress.
//! - `Location` (`.../locations/{l}/operationResults/{id}`): 202 with `Location` and
//!   `Retry-After` while in progress; then 204 for a finished delete, 200 with the resource for
//!   a finished create or update, or the operation's error.

use std::time::Instant;

use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::{Ctx, with_header};
use crate::error::{ApiError, ApiResult, json_response};
use crate::lock;
use crate::model::endpoint_json;
use crate::ops::{OpKind, OpStatus};

pub fn poll(ctx: &Ctx, subscription: &str, location: &str, id: &str, results: bool) -> ApiResult {
    let shared = ctx.shared;
    let mut state = lock(&shared.state);
    state.advance(Instant::now(), &shared.guids);
    let op = state
        .operations
        .get(&id.to_ascii_lowercase())
        .filter(|op| {
            op.subscription.eq_ignore_ascii_case(subscription)
                && op.location.eq_ignore_ascii_case(location)
        })
        .cloned()
        .ok_or_else(|| ApiError::OperationNotFound(id.to_string()))?;
    let retry_after = shared.options.retry_after_secs.to_string();
    if !results {
        let response = json_response(StatusCode::OK, &op.json());
        return Ok(if op.is_done() {
            response
        } else {
            with_header(response, "retry-after", &retry_after)
        });
    }
    match op.status {
        OpStatus::InProgress => {
            let response = with_header(
                StatusCode::ACCEPTED.into_response(),
                "location",
                &op.url(&ctx.base, "operationResults"),
            );
            Ok(with_header(response, "retry-after", &retry_after))
        }
        OpStatus::Succeeded if op.kind == OpKind::Delete => {
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        OpStatus::Succeeded => {
            let endpoint = state
                .endpoints
                .get(&op.target)
                .ok_or_else(|| ApiError::OperationNotFound(id.to_string()))?;
            Ok(json_response(StatusCode::OK, &endpoint_json(endpoint)))
        }
        OpStatus::Failed | OpStatus::Canceled => {
            let error = op
                .error
                .unwrap_or_else(|| crate::ops::OpError::new("Failed", ""));
            Err(ApiError::Other {
                status: if op.status == OpStatus::Canceled {
                    409
                } else {
                    400
                },
                code: error.code,
                message: error.message,
            })
        }
    }
}
