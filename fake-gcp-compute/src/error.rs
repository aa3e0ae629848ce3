//! Errors in Google's JSON error shape:
//! `{"error": {"code", "message", "errors": [{"message", "domain", "reason", ...}], "status"}}`.
//!
//! The legacy `errors` array is what Compute Engine clients key on (`reason`: `notFound`,
//! `alreadyExists`, `conditionNotMet`, ...); `status` is the canonical gRPC code name, which the
//! Rust client (`google-cloud-gax`) maps to its `Code`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub http: StatusCode,
    /// The legacy `errors[].reason`.
    pub reason: String,
    pub message: String,
    /// `errors[].location` and `locationType`, where Google sets them (412 and 401 do).
    pub location: Option<(&'static str, &'static str)>,
    pub domain: &'static str,
}

impl ApiError {
    fn new(http: StatusCode, reason: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            http,
            reason: reason.to_string(),
            message: message.into(),
            location: None,
            domain: "global",
        }
    }

    /// 404 for a resource path such as `projects/p/regions/r/addresses/a`.
    pub fn not_found(resource: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "notFound",
            format!("The resource '{resource}' was not found"),
        )
    }

    pub fn already_exists(resource: &str) -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            "alreadyExists",
            format!("The resource '{resource}' already exists"),
        )
    }

    /// 412 on a stale or missing `labelFingerprint`; Google names the If-Match header.
    pub fn fingerprint_mismatch() -> ApiError {
        ApiError {
            location: Some(("If-Match", "header")),
            ..ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "conditionNotMet",
                "Labels fingerprint either invalid or resource labels have changed",
            )
        }
    }

    /// 400 invalid.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", message)
    }

    /// 400 for a field, worded as Compute Engine words it.
    pub fn invalid_field(field: &str, value: &str, why: &str) -> ApiError {
        ApiError::invalid(format!(
            "Invalid value for field '{field}': '{value}'. {why}"
        ))
    }

    pub fn required(field: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "required",
            format!("Required field '{field}' not specified"),
        )
    }

    /// 400: another operation on the resource has not finished.
    pub fn not_ready(resource: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "resourceNotReady",
            format!("The resource '{resource}' is not ready"),
        )
    }

    /// 400: deleting something another resource still uses.
    pub fn in_use(kind: &str, resource: &str, user: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "resourceInUseByAnotherResource",
            format!("The {kind} resource '{resource}' is already being used by '{user}'"),
        )
    }

    /// A rate quota exhausted: Google documents 403 `rateLimitExceeded`; `http` may be 429.
    pub fn rate_limited(http: StatusCode, metric: &str, project: &str) -> ApiError {
        ApiError {
            domain: "usageLimits",
            ..ApiError::new(
                http,
                "rateLimitExceeded",
                format!(
                    "Quota exceeded for quota metric '{metric}' and limit '{metric} per minute' of service 'compute.googleapis.com' for consumer 'project:{project}'."
                ),
            )
        }
    }

    /// 403 resource quota (when the fake answers quota errors synchronously).
    pub fn quota_exceeded(message: impl Into<String>) -> ApiError {
        ApiError {
            domain: "usageLimits",
            ..ApiError::new(StatusCode::FORBIDDEN, "quotaExceeded", message)
        }
    }

    /// 401: no `Authorization: Bearer` header. The text is Google's.
    pub fn unauthenticated() -> ApiError {
        ApiError {
            location: Some(("Authorization", "header")),
            ..ApiError::new(
                StatusCode::UNAUTHORIZED,
                "required",
                "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
            )
        }
    }

    /// Any status and reason (injected faults).
    pub fn other(http: StatusCode, reason: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(http, reason, message)
    }

    /// The canonical code name for `status`.
    pub fn status_name(&self) -> &'static str {
        match self.http.as_u16() {
            400 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 if self.domain == "usageLimits" => "RESOURCE_EXHAUSTED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            409 => "ALREADY_EXISTS",
            412 => "FAILED_PRECONDITION",
            429 => "RESOURCE_EXHAUSTED",
            501 => "UNIMPLEMENTED",
            503 => "UNAVAILABLE",
            504 => "DEADLINE_EXCEEDED",
            _ if self.http.is_server_error() => "INTERNAL",
            _ => "UNKNOWN",
        }
    }

    pub fn body(&self) -> Value {
        let mut item = json!({
            "message": self.message,
            "domain": self.domain,
            "reason": self.reason,
        });
        if let Some((location, kind)) = self.location {
            item["location"] = json!(location);
            item["locationType"] = json!(kind);
        }
        json!({"error": {
            "code": self.http.as_u16(),
            "message": self.message,
            "errors": [item],
            "status": self.status_name(),
        }})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.http,
            [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
            self.body().to_string(),
        )
            .into_response();
        if self.http == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"https://accounts.google.com/\""),
            );
        }
        response
    }
}

/// A JSON 200.
pub fn ok(value: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        value.to_string(),
    )
        .into_response()
}

pub type ApiResult = Result<Response, ApiError>;
