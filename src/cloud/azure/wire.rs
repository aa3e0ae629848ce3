//! Resource Manager's JSON and headers in privatelinkd's terms: its errors as [`CloudError`],
//! `Retry-After`, the remaining-budget headers, and `Microsoft.Network` resources (2024-05-01
//! shapes) as the seam's types.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::Value;

use super::{LinkStatus, OperationState, PrivateEndpoint, ProvisioningState, Subnet};
use crate::cloud::CloudError;

/// The wait of a 429 that says none (Resource Manager's buckets refill every second; its
/// own `Retry-After`s are whole seconds, commonly a few).
pub(super) const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// `Retry-After`: whole seconds or an HTTP date.
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

/// reqwest's error with its causes (its own text alone says only "error sending request").
pub(super) fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// Resource Manager's error (`{"error": {"code", "message"}}`; the 2024-05-01 spec's
/// `Error` is the same fields unwrapped, accepted too): code and message, empty when the
/// answer is not one.
pub(super) fn error_of(body: &[u8]) -> (String, String) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return (String::new(), String::new());
    };
    let inner = match v.get("error") {
        Some(e) if e.is_object() => e,
        _ => &v,
    };
    let text = |k: &str| {
        inner
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (text("code"), text("message"))
}

/// A Resource Manager error answer in privatelinkd's terms. `request` names the call
/// (`GET privateEndpoints/orders`).
pub(super) fn error(status: u16, headers: &HeaderMap, body: &[u8], request: &str) -> CloudError {
    let (code, message) = error_of(body);
    let text = match (code.is_empty(), message.is_empty()) {
        (true, true) => format!("{request}: Resource Manager answered {status}"),
        (false, true) => format!("{request}: Resource Manager answered {status} {code}"),
        (_, false) => format!("{request}: Resource Manager answered {status} {code}: {message}"),
    };
    match status {
        // Gone, or never was (the resource, its group or the subscription): a get answers None.
        404 => CloudError::NotFound(text),
        // The subscription's bucket is empty (or Microsoft.Network's per-resource limit):
        // Retry-After says when a token is back.
        429 => CloudError::Throttled {
            api: "arm",
            retry_after: retry_after(headers).unwrap_or(DEFAULT_RETRY_AFTER),
        },
        // Another operation on the resource is running, or Resource Manager says to retry:
        // the next attempt can succeed.
        409 if code == "AnotherOperationInProgress" || code.starts_with("Retryable") => {
            CloudError::Transient(text)
        }
        // The resource changed since we read its ETag: read it again.
        412 => CloudError::Transient(text),
        s if s >= 500 => CloudError::Transient(text),
        // 400, 401, 403, other 409s: the request cannot succeed as it is; the code and
        // message say what to change (a role assignment, a name, a subnet).
        _ => CloudError::Permanent(text),
    }
}

/// What the remaining-budget headers of one answer say: reads, writes and deletes left (the
/// lesser of the principal's and the subscription's global bucket), where given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Remaining {
    pub reads: Option<u64>,
    pub writes: Option<u64>,
    pub deletes: Option<u64>,
}

pub(super) fn remaining(headers: &HeaderMap) -> Remaining {
    let left = |kind: &str| {
        let header = |name: String| -> Option<u64> {
            headers
                .get(name.as_str())?
                .to_str()
                .ok()?
                .trim()
                .parse()
                .ok()
        };
        let own = header(format!("x-ms-ratelimit-remaining-subscription-{kind}"));
        let global = header(format!(
            "x-ms-ratelimit-remaining-subscription-global-{kind}"
        ));
        match (own, global) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    };
    Remaining {
        reads: left("reads"),
        writes: left("writes"),
        deletes: left("deletes"),
    }
}

#[derive(Deserialize, Default)]
struct SubResource {
    #[serde(default)]
    id: String,
}

#[derive(Deserialize)]
struct ConnectionState {
    #[serde(default = "unknown_link")]
    status: LinkStatus,
}

fn unknown_link() -> LinkStatus {
    LinkStatus::Unknown
}

fn unknown_state() -> ProvisioningState {
    ProvisioningState::Unknown
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ConnectionProperties {
    #[serde(default)]
    private_link_service_id: Option<String>,
    #[serde(default)]
    private_link_service_connection_state: Option<ConnectionState>,
}

#[derive(Deserialize, Default)]
struct Connection {
    #[serde(default)]
    properties: ConnectionProperties,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EndpointProperties {
    #[serde(default = "unknown_state")]
    provisioning_state: ProvisioningState,
    #[serde(default)]
    subnet: Option<SubResource>,
    #[serde(default)]
    network_interfaces: Option<Vec<SubResource>>,
    #[serde(default)]
    manual_private_link_service_connections: Option<Vec<Connection>>,
    #[serde(default)]
    private_link_service_connections: Option<Vec<Connection>>,
}

impl Default for EndpointProperties {
    fn default() -> Self {
        EndpointProperties {
            provisioning_state: ProvisioningState::Unknown,
            subnet: None,
            network_interfaces: None,
            manual_private_link_service_connections: None,
            private_link_service_connections: None,
        }
    }
}

/// A `Microsoft.Network/privateEndpoints` resource as Resource Manager answers it.
#[derive(Deserialize)]
pub(super) struct WireEndpoint {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    properties: EndpointProperties,
}

impl From<WireEndpoint> for PrivateEndpoint {
    fn from(w: WireEndpoint) -> PrivateEndpoint {
        let p = w.properties;
        // privatelinkd makes manual connections (TiDB Cloud's service is in another tenant);
        // an endpoint made by hand may have an automatic one, approved at once.
        let connection = p
            .manual_private_link_service_connections
            .unwrap_or_default()
            .into_iter()
            .chain(p.private_link_service_connections.unwrap_or_default())
            .next()
            .unwrap_or_default()
            .properties;
        let name = if w.name.is_empty() {
            w.id.rsplit('/').next().unwrap_or_default().to_string()
        } else {
            w.name
        };
        PrivateEndpoint {
            name,
            location: w.location,
            tags: w.tags.unwrap_or_default(),
            provisioning_state: p.provisioning_state,
            subnet_id: p.subnet.map(|s| s.id).unwrap_or_default(),
            network_interface_id: p
                .network_interfaces
                .unwrap_or_default()
                .into_iter()
                .map(|n| n.id)
                .find(|id| !id.is_empty()),
            service_id: connection.private_link_service_id.unwrap_or_default(),
            link_status: connection
                .private_link_service_connection_state
                .map(|s| s.status)
                .unwrap_or(LinkStatus::Unknown),
            private_ip: None,
            id: w.id,
        }
    }
}

/// One page of a listing.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireList {
    #[serde(default)]
    pub value: Vec<WireEndpoint>,
    #[serde(default)]
    pub next_link: Option<String>,
}

/// A network interface's first IP configuration's private IP.
pub(super) fn private_ip(nic: &Value) -> Option<String> {
    nic.pointer("/properties/ipConfigurations/0/properties/privateIPAddress")
        .and_then(Value::as_str)
        .filter(|ip| !ip.is_empty())
        .map(str::to_string)
}

/// A subnet: its `addressPrefix` and `addressPrefixes`, each once.
pub(super) fn subnet(v: &Value, asked: &str) -> Subnet {
    let properties = v.get("properties");
    let mut prefixes: Vec<String> = Vec::new();
    let one = properties
        .and_then(|p| p.get("addressPrefix"))
        .and_then(Value::as_str);
    let many = properties
        .and_then(|p| p.get("addressPrefixes"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    for prefix in one.into_iter().chain(many) {
        if !prefixes.iter().any(|p| p == prefix) {
            prefixes.push(prefix.to_string());
        }
    }
    Subnet {
        id: v
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or(asked)
            .to_string(),
        address_prefixes: prefixes,
    }
}

/// A long-running operation's state from what its URL answered: `Azure-AsyncOperation`'s
/// `{"status"}`, a `Location` URL's 202 / 200 / 204, or (a PUT that named no operation) the
/// resource's own `provisioningState`.
pub(super) fn operation_state(status: u16, body: &[u8]) -> OperationState {
    if status == 202 {
        return OperationState::InProgress;
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        // 204, or 200 with nothing to say: done.
        return OperationState::Succeeded;
    };
    if let Some(s) = v.get("status").and_then(Value::as_str) {
        return match s.to_ascii_lowercase().as_str() {
            "succeeded" => OperationState::Succeeded,
            "failed" => {
                let (code, message) = error_of(&serde_json::to_vec(&v).unwrap_or_default());
                OperationState::Failed(failure(s, &code, &message))
            }
            "canceled" | "cancelled" => {
                let (code, message) = error_of(&serde_json::to_vec(&v).unwrap_or_default());
                OperationState::Canceled(failure(s, &code, &message))
            }
            // InProgress, and the non-terminal states some providers answer.
            _ => OperationState::InProgress,
        };
    }
    match v
        .pointer("/properties/provisioningState")
        .and_then(Value::as_str)
    {
        Some("Succeeded") | None => OperationState::Succeeded,
        Some("Failed") => {
            OperationState::Failed("the resource's provisioningState is Failed".into())
        }
        Some("Canceled") => {
            OperationState::Canceled("the resource's provisioningState is Canceled".into())
        }
        Some(_) => OperationState::InProgress,
    }
}

/// A failed operation's reason, in Resource Manager's words.
pub(super) fn failure(status: &str, code: &str, message: &str) -> String {
    match (code.is_empty(), message.is_empty()) {
        (true, true) => format!("the operation ended {status}"),
        (false, true) => format!("the operation ended {status}: {code}"),
        (_, false) => format!("the operation ended {status}: {code}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")])),
            Some(Duration::from_secs(7))
        );
        let later = SystemTime::now() + Duration::from_secs(30);
        let date = httpdate::fmt_http_date(later);
        let wait = retry_after(&headers(&[("retry-after", &date)])).unwrap();
        assert!(wait > Duration::from_secs(27) && wait <= Duration::from_secs(30));
        let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(30));
        assert_eq!(
            retry_after(&headers(&[("retry-after", &past)])),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
    }

    #[test]
    fn errors_are_read_wrapped_or_not() {
        let wrapped = br#"{"error":{"code":"AuthorizationFailed","message":"no"}}"#;
        assert_eq!(
            error_of(wrapped),
            ("AuthorizationFailed".into(), "no".into())
        );
        let flat = br#"{"code":"InvalidResourceName","message":"bad"}"#;
        assert_eq!(error_of(flat), ("InvalidResourceName".into(), "bad".into()));
        assert_eq!(error_of(b"<html>"), (String::new(), String::new()));
    }

    #[test]
    fn statuses_map_to_what_the_daemon_does_next() {
        let h = headers(&[("retry-after", "3")]);
        let e = |status: u16, code: &str| {
            let body = format!(r#"{{"error":{{"code":"{code}","message":"m"}}}}"#);
            error(status, &h, body.as_bytes(), "GET x")
        };
        assert!(matches!(
            e(404, "ResourceNotFound"),
            CloudError::NotFound(_)
        ));
        assert_eq!(
            e(429, "SubscriptionRequestsThrottled"),
            CloudError::Throttled {
                api: "arm",
                retry_after: Duration::from_secs(3)
            }
        );
        assert!(matches!(
            e(409, "AnotherOperationInProgress"),
            CloudError::Transient(_)
        ));
        assert!(matches!(e(409, "Conflict"), CloudError::Permanent(_)));
        assert!(matches!(
            e(412, "PreconditionFailed"),
            CloudError::Transient(_)
        ));
        assert!(matches!(e(503, "ServerBusy"), CloudError::Transient(_)));
        assert!(matches!(
            e(400, "InvalidResourceName"),
            CloudError::Permanent(_)
        ));
        assert_eq!(
            e(403, "AuthorizationFailed"),
            CloudError::Permanent(
                "GET x: Resource Manager answered 403 AuthorizationFailed: m".into()
            )
        );
    }

    #[test]
    fn remaining_is_the_lesser_of_the_two_buckets() {
        let h = headers(&[
            ("x-ms-ratelimit-remaining-subscription-reads", "249"),
            ("x-ms-ratelimit-remaining-subscription-global-reads", "3749"),
            ("x-ms-ratelimit-remaining-subscription-global-writes", "0"),
        ]);
        assert_eq!(
            remaining(&h),
            Remaining {
                reads: Some(249),
                writes: Some(0),
                deletes: None
            }
        );
    }

    #[test]
    fn an_automatic_connection_is_read_when_there_is_no_manual_one() {
        let v = serde_json::json!({
            "id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/privateEndpoints/e",
            "location": "eastus",
            "properties": {
                "provisioningState": "Succeeded",
                "subnet": {"id": "/subnet"},
                "networkInterfaces": [{"id": "/nic"}],
                "privateLinkServiceConnections": [{"name": "c", "properties": {
                    "privateLinkServiceId": "/pls",
                    "privateLinkServiceConnectionState": {"status": "Approved"}}}],
                "manualPrivateLinkServiceConnections": []
            }
        });
        let e: PrivateEndpoint = serde_json::from_value::<WireEndpoint>(v).unwrap().into();
        assert_eq!(e.name, "e");
        assert_eq!(e.service_id, "/pls");
        assert_eq!(e.link_status, LinkStatus::Approved);
        assert_eq!(e.network_interface_id.as_deref(), Some("/nic"));
        assert!(e.tags.is_empty());
    }

    #[test]
    fn operations_read_every_way_resource_manager_answers() {
        use OperationState as S;
        assert_eq!(operation_state(202, b""), S::InProgress);
        assert_eq!(operation_state(204, b""), S::Succeeded);
        assert_eq!(
            operation_state(200, br#"{"status":"InProgress"}"#),
            S::InProgress
        );
        assert_eq!(
            operation_state(200, br#"{"status":"Succeeded"}"#),
            S::Succeeded
        );
        assert_eq!(
            operation_state(
                200,
                br#"{"status":"Failed","error":{"code":"SubnetIsFull","message":"full"}}"#
            ),
            S::Failed("the operation ended Failed: SubnetIsFull: full".into())
        );
        // Overtaken (the resource deleted meanwhile): not a failure of the request.
        assert_eq!(
            operation_state(
                200,
                br#"{"status":"Canceled","error":{"code":"Canceled","message":"deleted"}}"#
            ),
            S::Canceled("the operation ended Canceled: Canceled: deleted".into())
        );
        assert_eq!(
            operation_state(200, br#"{"properties":{"provisioningState":"Canceled"}}"#),
            S::Canceled("the resource's provisioningState is Canceled".into())
        );
        assert_eq!(
            operation_state(200, br#"{"properties":{"provisioningState":"Updating"}}"#),
            S::InProgress
        );
        assert_eq!(
            operation_state(200, br#"{"properties":{"provisioningState":"Succeeded"}}"#),
            S::Succeeded
        );
    }
}
