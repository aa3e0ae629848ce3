//! Compute Engine's answers in privatelinkd's words: errors mapped once (what is transient,
//! what a person must fix, when a throttle ends) and the generated model converted to ours
//! (names out of Google's URLs, attachments as TiDB Cloud writes them, fingerprints kept as
//! Google sent them). `client.rs` sends the requests; this is what it reads back.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use google_cloud_compute_v1::model;
use google_cloud_gax::error::Error as GaxError;
use google_cloud_gax::error::rpc::{Code, StatusDetails};

use super::{Address, FirewallRule, ForwardingRule, OperationState, PscStatus};
use crate::cloud::{CloudError, CloudResult};

/// A Compute Engine error in privatelinkd's terms.
pub(super) fn error(e: GaxError) -> CloudError {
    let status = e.status();
    // Compute Engine's legacy `errors[].reason`, which the crate parses into an ErrorInfo.
    let reason = status
        .and_then(|s| {
            s.details.iter().find_map(|d| match d {
                StatusDetails::ErrorInfo(info) => Some(info.reason.as_str()),
                _ => None,
            })
        })
        .unwrap_or("");
    let code = status.map(|s| s.code);
    let message = status
        .map(|s| s.message.clone())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| e.to_string());
    let http = e.http_status_code().or_else(|| code.map(http_of));
    match http {
        // Gone, or never was: the caller decides (a get answers None).
        Some(404) => CloudError::NotFound(message),
        // The project's rate quota (Google documents 403 `rateLimitExceeded`; 429 is the
        // status other Google APIs use). Quotas refill at synchronized minutes, so the next
        // whole minute is when a retry can succeed. A resource quota (`quotaExceeded`, also
        // RESOURCE_EXHAUSTED) is not a rate: it waits for a person, below.
        Some(403 | 429) if throttling(reason, code) => CloudError::Throttled {
            api: "compute",
            retry_after: until_next_minute(SystemTime::now()),
        },
        // A stale label fingerprint: someone changed the labels since we read them; the next
        // pass reads them again.
        Some(412) => CloudError::Transient(message),
        // Another operation on the resource is not done yet: it will be.
        Some(400) if reason == "resourceNotReady" => CloudError::Transient(message),
        // Google's side failed; the request may succeed when sent again.
        Some(code) if code >= 500 => CloudError::Transient(message),
        // 409 alreadyExists, 400 invalid, 403 permission or resource quota, 401: the request
        // cannot succeed as it is; Google's message says what to change.
        Some(_) => CloudError::Permanent(message),
        None => transport(e),
    }
}

/// Errors without an HTTP answer.
pub(super) fn transport(e: GaxError) -> CloudError {
    if e.is_timeout() || e.is_connect() || e.is_io() || e.is_transport() {
        // No answer in time, or no connection: retried like a 5xx.
        return CloudError::Unreachable(e.to_string());
    }
    if e.is_authentication() {
        // The token could not be had: a token endpoint down is worth a retry, a revoked key
        // or a broken federation config is not.
        let transient = std::error::Error::source(&e)
            .and_then(|s| s.downcast_ref::<google_cloud_auth::errors::CredentialsError>())
            .is_some_and(|c| c.is_transient());
        return if transient {
            CloudError::Unreachable(e.to_string())
        } else {
            CloudError::Permanent(e.to_string())
        };
    }
    if e.is_deserialization() {
        // An answer that is not Compute Engine's JSON (a proxy's page, a cut-off body).
        return CloudError::Transient(e.to_string());
    }
    // A request the crate could not build (a missing path parameter): our bug, not the
    // cloud's; retrying would not help.
    CloudError::Permanent(e.to_string())
}

pub(super) fn throttling(reason: &str, code: Option<Code>) -> bool {
    match reason {
        "rateLimitExceeded" | "userRateLimitExceeded" => true,
        "quotaExceeded" => false,
        _ => code == Some(Code::ResourceExhausted),
    }
}

/// The HTTP status a canonical code is answered with, for errors that carry only the code.
pub(super) fn http_of(code: Code) -> u16 {
    match code {
        Code::NotFound => 404,
        Code::ResourceExhausted => 429,
        Code::FailedPrecondition => 412,
        Code::Unavailable | Code::Internal | Code::DeadlineExceeded | Code::Unknown => 503,
        Code::PermissionDenied => 403,
        Code::Unauthenticated => 401,
        Code::AlreadyExists => 409,
        _ => 400,
    }
}

/// Until the next whole minute of the wall clock, at least a second.
pub(super) fn until_next_minute(now: SystemTime) -> Duration {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let into_minute = Duration::from_nanos((since.as_nanos() % 60_000_000_000) as u64);
    (Duration::from_secs(60) - into_minute).max(Duration::from_secs(1))
}

/// A label filter as Compute Engine's `filter` takes it. Label keys and values are lowercase
/// letters, digits, `_` and `-`, so the quotes need no escaping.
pub(super) fn label_filter((key, value): (&str, &str)) -> String {
    format!("labels.{key} = \"{value}\"")
}

/// Rules whose `target` (a full URL) ends in one of `targets`: `eq` takes a regular
/// expression that must match the whole field (the names' characters quoted where special).
pub(super) fn target_filter(targets: &[String]) -> String {
    let one = |t: &String| format!("(target eq \".*/{}\")", regex_quote(t));
    targets.iter().map(one).collect::<Vec<_>>().join(" OR ")
}

fn regex_quote(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$\"".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

/// The last part of a resource URL (`.../global/networks/prod-vpc` -> `prod-vpc`).
pub(super) fn last(link: Option<&str>) -> String {
    let link = link.unwrap_or("");
    link.rsplit('/').next().unwrap_or(link).to_string()
}

/// A resource URL without its host and API version
/// (`https://www.googleapis.com/compute/v1/projects/P/...` -> `projects/P/...`), whichever
/// host or version it names.
pub(super) fn relative(link: &str) -> String {
    match link.find("projects/") {
        Some(at) => link[at..].to_string(),
        None => link.to_string(),
    }
}

/// A reference in the form requests take: as given when it is a path, else
/// `projects/P/<tail>/NAME`.
pub(super) fn reference(name: &str, project: &str, tail: &str) -> String {
    if name.contains('/') {
        name.to_string()
    } else {
        format!("projects/{project}/{tail}/{name}")
    }
}

/// A label fingerprint as text: the model keeps it as bytes and writes it as base64, so the
/// text is exactly what the model reads back into the bytes `setLabels` must send.
pub(super) fn fingerprint_text(request: model::RegionSetLabelsRequest) -> String {
    serde_json::to_value(&request)
        .ok()
        .and_then(|v| v.get("labelFingerprint")?.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The labels request carrying `fingerprint` as the model decodes it. One it cannot decode
/// is sent as none, which Compute Engine answers 412 (read again), as for a stale one.
pub(super) fn labels_request(
    labels: &BTreeMap<String, String>,
    fingerprint: &str,
) -> model::RegionSetLabelsRequest {
    let parsed: Option<model::RegionSetLabelsRequest> =
        serde_json::from_value(serde_json::json!({ "labelFingerprint": fingerprint })).ok();
    model::RegionSetLabelsRequest::new()
        .set_labels(labels.clone())
        .set_or_clear_label_fingerprint(parsed.and_then(|p| p.label_fingerprint))
}

pub(super) fn psc_status(status: Option<model::forwarding_rule::PscConnectionStatus>) -> PscStatus {
    use model::forwarding_rule::PscConnectionStatus as S;
    match status {
        Some(S::Pending) => PscStatus::Pending,
        Some(S::Accepted) => PscStatus::Accepted,
        Some(S::Rejected) => PscStatus::Rejected,
        Some(S::NeedsAttention) => PscStatus::NeedsAttention,
        Some(S::Closed) => PscStatus::Closed,
        // A status newer than this crate, or none: the lifecycle says Unknown.
        _ => PscStatus::StatusUnspecified,
    }
}

pub(super) fn rule(r: model::ForwardingRule) -> ForwardingRule {
    ForwardingRule {
        network: last(r.network.as_deref()),
        ip_address: r.ip_address.unwrap_or_default(),
        target: relative(r.target.as_deref().unwrap_or("")),
        psc_connection_status: psc_status(r.psc_connection_status),
        allow_psc_global_access: r.allow_psc_global_access.unwrap_or(false),
        labels: r.labels.into_iter().collect(),
        label_fingerprint: fingerprint_text(
            model::RegionSetLabelsRequest::new()
                .set_or_clear_label_fingerprint(r.label_fingerprint),
        ),
        name: r.name.unwrap_or_default(),
    }
}

pub(super) fn address(a: model::Address) -> Address {
    Address {
        address: a.address.unwrap_or_default(),
        subnetwork: last(a.subnetwork.as_deref()),
        labels: a.labels.into_iter().collect(),
        label_fingerprint: fingerprint_text(
            model::RegionSetLabelsRequest::new()
                .set_or_clear_label_fingerprint(a.label_fingerprint),
        ),
        name: a.name.unwrap_or_default(),
    }
}

pub(super) fn firewall(f: model::Firewall) -> FirewallRule {
    let deny = !f.denied.is_empty();
    let rules = if deny {
        f.denied
            .into_iter()
            .map(|d| (d.ip_protocol.unwrap_or_default(), d.ports))
            .collect()
    } else {
        f.allowed
            .into_iter()
            .map(|a| (a.ip_protocol.unwrap_or_default(), a.ports))
            .collect()
    };
    FirewallRule {
        name: f.name.unwrap_or_default(),
        egress: f.direction == Some(model::firewall::Direction::Egress),
        // Google's default priority.
        priority: f
            .priority
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or(1000),
        deny,
        rules,
        destination_ranges: f.destination_ranges,
        targeted: !f.target_tags.is_empty() || !f.target_service_accounts.is_empty(),
        disabled: f.disabled.unwrap_or(false),
    }
}

/// A mutation's answer: its operation's name, not waited on.
pub(super) fn operation_name(op: model::Operation) -> CloudResult<String> {
    // Without a name there is nothing to follow; resent (same requestId), it answers the
    // same operation.
    op.name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| CloudError::Transient("Compute Engine answered no operation".into()))
}

pub(super) fn operation_state(op: model::Operation) -> OperationState {
    if op.status != Some(model::operation::Status::Done) {
        return OperationState::Running;
    }
    let first = op
        .error
        .and_then(|e| e.errors.into_iter().next())
        .map(|e| e.message.or(e.code).unwrap_or_default());
    let failed_http = op.http_error_status_code.is_some_and(|c| c >= 400);
    match first {
        Some(why) => OperationState::Failed(why),
        None if failed_http => OperationState::Failed(
            op.http_error_message
                .unwrap_or_else(|| "the operation failed".into()),
        ),
        None => OperationState::Done,
    }
}

/// The next page's token, if any (an empty one is none).
pub(super) fn next(token: Option<String>) -> Option<String> {
    token.filter(|t| !t.is_empty())
}
