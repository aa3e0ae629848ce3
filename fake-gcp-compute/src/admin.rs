//! The fake's own API under `/fake/v1/` (not Google's; no authentication):
//!
//! | call | body | what |
//! | --- | --- | --- |
//! | `GET requests` / `DELETE requests` | | the request log (method, path, query, status), or clear it |
//! | `POST world` | world document (YAML or JSON) | seed projects, networks, subnetworks, firewalls, attachments |
//! | `POST faults` / `DELETE faults` | a `Fault` (`{"kind": "throttle", "count": 5}`) | inject, or clear all |
//! | `POST psc/accept`, `psc/reject` | `{"serviceAttachment", "forwardingRule"}` | the producer's decision on an endpoint |
//! | `POST psc/status` | `{"serviceAttachment", "forwardingRule", "status"}` | any `pscConnectionStatus` |
//! | `GET psc?serviceAttachment=...` | | the endpoints targeting an attachment |
//! | `POST psc/deleteAttachment` | `{"serviceAttachment"}` | the producer deletes it: its endpoints are CLOSED |
//! | `POST console/delete` | `{"resource"}` | delete an address, forwarding rule or firewall rule at once |
//! | `POST console/setLabels` | `{"resource", "labels"}` | replace a resource's labels at once |

use std::collections::BTreeMap;
use std::time::Instant;

use axum::body::Bytes;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::Query;
use crate::error::{ApiError, ok};
use crate::model::{PscStatus, Ref};
use crate::{Fake, Fault, PscEndpoint, Shared, World, lock};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PscBody {
    service_attachment: String,
    #[serde(default)]
    forwarding_rule: String,
    #[serde(default)]
    status: Option<PscStatus>,
}

#[derive(Deserialize)]
struct ConsoleBody {
    resource: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

pub async fn route(
    shared: &std::sync::Arc<Shared>,
    method: &Method,
    rest: &str,
    query: &str,
    body: &Bytes,
) -> Response {
    let fake = Fake {
        shared: shared.clone(),
    };
    let done = |r: Result<(), ApiError>| r.map(|()| ok(json!({})));
    let parsed = |body: &Bytes| -> Result<Value, ApiError> {
        serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("bad JSON: {e}")))
    };
    let result: Result<Response, ApiError> = match (method.as_str(), rest) {
        ("GET", "requests") => Ok(ok(json!(fake.requests()))),
        ("DELETE", "requests") => {
            fake.clear_requests();
            done(Ok(()))
        }
        ("POST", "world") => {
            let text = String::from_utf8_lossy(body);
            World::parse(&text)
                .map_err(|e| ApiError::invalid(format!("{e:#}")))
                .and_then(|w| fake.seed(&w).map_err(ApiError::invalid))
                .map(|()| ok(json!({})))
        }
        ("POST", "faults") => parsed(body).and_then(|v| {
            serde_json::from_value::<Fault>(v)
                .map_err(|e| ApiError::invalid(format!("bad fault: {e}")))
                .map(|f| {
                    fake.inject(f);
                    ok(json!({}))
                })
        }),
        ("DELETE", "faults") => {
            fake.clear_faults();
            done(Ok(()))
        }
        ("POST", "psc/accept" | "psc/reject" | "psc/status") => parsed(body).and_then(|v| {
            let b: PscBody = serde_json::from_value(v)
                .map_err(|e| ApiError::invalid(format!("bad body: {e}")))?;
            let status = match rest {
                "psc/accept" => PscStatus::Accepted,
                "psc/reject" => PscStatus::Rejected,
                _ => b.status.ok_or_else(|| ApiError::required("status"))?,
            };
            done(fake.set_psc_status(&b.service_attachment, &b.forwarding_rule, status))
        }),
        ("POST", "psc/deleteAttachment") => parsed(body).and_then(|v| {
            let b: PscBody = serde_json::from_value(v)
                .map_err(|e| ApiError::invalid(format!("bad body: {e}")))?;
            done(fake.delete_attachment(&b.service_attachment))
        }),
        ("GET", "psc") => {
            let query = Query::parse(query);
            let attachment = query.get("serviceAttachment").unwrap_or("");
            fake.psc_endpoints(attachment).map(|e| ok(json!(e)))
        }
        ("POST", "console/delete" | "console/setLabels") => parsed(body).and_then(|v| {
            let b: ConsoleBody = serde_json::from_value(v)
                .map_err(|e| ApiError::invalid(format!("bad body: {e}")))?;
            if rest == "console/delete" {
                done(fake.console_delete(&b.resource))
            } else {
                done(fake.console_set_labels(&b.resource, b.labels))
            }
        }),
        _ => Err(ApiError::not_found(&format!("fake/v1/{rest}"))),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

fn attachment_ref(text: &str) -> Result<Ref, ApiError> {
    Ref::parse(text, "", None, "serviceAttachments")
        .filter(|r| r.region.is_some() && !r.project.is_empty())
        .ok_or_else(|| {
            ApiError::invalid_field(
                "serviceAttachment",
                text,
                "Expected projects/P/regions/R/serviceAttachments/S.",
            )
        })
}

fn resource_ref(text: &str, collections: &[&str]) -> Result<Ref, ApiError> {
    collections
        .iter()
        .find_map(|c| Ref::parse(text, "", None, c))
        .filter(|r| !r.project.is_empty())
        .ok_or_else(|| {
            ApiError::invalid_field(
                "resource",
                text,
                &format!("Expected a path or link to one of {collections:?}."),
            )
        })
}

pub fn set_psc_status(
    shared: &Shared,
    attachment: &str,
    rule: &str,
    status: PscStatus,
) -> Result<(), ApiError> {
    let attachment = attachment_ref(attachment)?;
    let rule = resource_ref(rule, &["forwardingRules"])?;
    let mut state = lock(&shared.state);
    state.advance(Instant::now());
    let found = state
        .forwarding_rules
        .get_mut(&rule)
        .filter(|f| f.target == attachment)
        .ok_or_else(|| {
            ApiError::not_found(&format!(
                "{} (targeting {})",
                rule.path(),
                attachment.path()
            ))
        })?;
    found.psc_status = status;
    Ok(())
}

pub fn delete_attachment(shared: &Shared, attachment: &str) -> Result<(), ApiError> {
    let attachment = attachment_ref(attachment)?;
    let mut state = lock(&shared.state);
    state.advance(Instant::now());
    let entry = state
        .attachments
        .get_mut(&attachment)
        .ok_or_else(|| ApiError::not_found(&attachment.path()))?;
    entry.deleted = true;
    for rule in state.forwarding_rules.values_mut() {
        if rule.target == attachment {
            rule.psc_status = PscStatus::Closed;
        }
    }
    Ok(())
}

pub fn psc_endpoints(shared: &Shared, attachment: &str) -> Result<Vec<PscEndpoint>, ApiError> {
    let attachment = attachment_ref(attachment)?;
    let mut state = lock(&shared.state);
    state.advance(Instant::now());
    Ok(state
        .forwarding_rules
        .values()
        .filter(|f| f.target == attachment)
        .map(|f| PscEndpoint {
            forwarding_rule: f.r#ref.path(),
            project: f.r#ref.project.clone(),
            region: f.r#ref.region.clone().unwrap_or_default(),
            name: f.r#ref.name.clone(),
            ip_address: f.ip.to_string(),
            psc_connection_id: f.psc_connection_id.to_string(),
            psc_connection_status: f.psc_status,
        })
        .collect())
}

pub fn console_delete(shared: &Shared, resource: &str) -> Result<(), ApiError> {
    let r = resource_ref(resource, &["forwardingRules", "addresses", "firewalls"])?;
    let mut state = lock(&shared.state);
    state.advance(Instant::now());
    if !state.resource_exists(&r) {
        return Err(ApiError::not_found(&r.path()));
    }
    match r.collection.as_str() {
        "forwardingRules" => state.remove_forwarding_rule(&r),
        "addresses" => {
            if let Some(user) = state.addresses[&r].users.first() {
                return Err(ApiError::in_use("address", &r.path(), user));
            }
            state.addresses.remove(&r);
        }
        _ => {
            state.firewalls.remove(&r);
        }
    }
    Ok(())
}

pub fn console_set_labels(
    shared: &Shared,
    resource: &str,
    labels: BTreeMap<String, String>,
) -> Result<(), ApiError> {
    crate::labels::check_labels(&labels)?;
    let r = resource_ref(resource, &["forwardingRules", "addresses"])?;
    let mut state = lock(&shared.state);
    state.advance(Instant::now());
    let current = match r.collection.as_str() {
        "forwardingRules" => state.forwarding_rules.get_mut(&r).map(|f| &mut f.labels),
        _ => state.addresses.get_mut(&r).map(|a| &mut a.labels),
    };
    *current.ok_or_else(|| ApiError::not_found(&r.path()))? = labels;
    Ok(())
}
