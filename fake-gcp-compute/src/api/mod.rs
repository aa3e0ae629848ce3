//! The Compute Engine API under `/compute/v1/projects/{project}/...`: routing, the read
//! methods, region operations, and starting the operations mutations answer.

mod addresses;
mod forwarding_rules;

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::Bytes;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::{ApiError, ApiResult, ok};
use crate::filter::{ListParams, list};
use crate::model::{Ref, link};
use crate::ops::{Effect, OpError, Operation};
use crate::state::State;
use crate::{Group, Shared, lock, take_quota};

/// A decoded query string.
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(text: &str) -> Query {
        Query(
            text.split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push((hi * 16 + lo) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The collections served.
const REGIONAL: [&str; 4] = ["addresses", "forwardingRules", "subnetworks", "operations"];
const GLOBAL: [&str; 2] = ["networks", "firewalls"];

enum Call {
    List,
    Get,
    Insert,
    Delete,
    SetLabels,
    Wait,
}

pub async fn route(
    shared: &Arc<Shared>,
    method: &Method,
    rest: &str,
    query: &str,
    body: &Bytes,
) -> Response {
    match dispatch(shared, method, rest, &Query::parse(query), body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn dispatch(
    shared: &Arc<Shared>,
    method: &Method,
    rest: &str,
    query: &Query,
    body: &Bytes,
) -> ApiResult {
    let unknown = || ApiError::not_found(&format!("compute/v1/{rest}"));
    let parts: Vec<&str> = rest.split('/').collect();
    let (project, region, collection, name, call) = match (method.as_str(), parts.as_slice()) {
        (m, ["projects", p, "regions", r, c]) if REGIONAL.contains(c) => {
            let call = match m {
                "GET" => Call::List,
                "POST" if *c == "addresses" || *c == "forwardingRules" => Call::Insert,
                _ => return Err(unknown()),
            };
            (*p, Some(*r), *c, None, call)
        }
        (m, ["projects", p, "regions", r, c, n]) if REGIONAL.contains(c) => {
            let call = match m {
                "GET" => Call::Get,
                "DELETE" if *c == "addresses" || *c == "forwardingRules" => Call::Delete,
                _ => return Err(unknown()),
            };
            (*p, Some(*r), *c, Some(*n), call)
        }
        (
            "POST",
            [
                "projects",
                p,
                "regions",
                r,
                c @ ("addresses" | "forwardingRules"),
                n,
                "setLabels",
            ],
        ) => (*p, Some(*r), *c, Some(*n), Call::SetLabels),
        ("POST", ["projects", p, "regions", r, "operations", n, "wait"]) => {
            (*p, Some(*r), "operations", Some(*n), Call::Wait)
        }
        ("GET", ["projects", p, "global", c]) if GLOBAL.contains(c) => {
            (*p, None, *c, None, Call::List)
        }
        ("GET", ["projects", p, "global", c, n]) if GLOBAL.contains(c) => {
            (*p, None, *c, Some(*n), Call::Get)
        }
        _ => return Err(unknown()),
    };
    let group = match call {
        Call::Insert | Call::Delete | Call::SetLabels => Group::Writes,
        _ if collection == "operations" => Group::OperationReads,
        _ => Group::Reads,
    };
    take_quota(shared, project, group)?;
    if let Some(e) = crate::injected_error(shared, method, &format!("/compute/v1/{rest}")) {
        return Err(e);
    }
    {
        let state = lock(&shared.state);
        if !state.projects.contains(project) {
            return Err(ApiError::not_found(&format!("projects/{project}")));
        }
        if let Some(r) = region
            && !state.regions.contains(r)
        {
            return Err(ApiError::invalid_field("region", r, "Unknown region."));
        }
    }
    let target = |n: &str| match region {
        Some(r) => Ref::regional(project, r, collection, n),
        None => Ref::global(project, collection, n),
    };
    let json_body = || -> Result<Value, ApiError> {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::invalid(format!("Invalid JSON payload received. {e}")))
    };
    match (call, name) {
        (Call::Wait, Some(n)) => wait(shared, &target(n)).await,
        (Call::Get, Some(n)) => get(shared, &target(n)),
        (Call::List, _) => {
            let scope = match region {
                Some(r) => format!("projects/{project}/regions/{r}/{collection}"),
                None => format!("projects/{project}/global/{collection}"),
            };
            read_list(shared, project, region, collection, &scope, query)
        }
        (call, name) => {
            let region = region.unwrap_or_default();
            let mut state = lock(&shared.state);
            state.advance(Instant::now());
            if let Some(op) = replayed(&state, project, query)? {
                return Ok(ok(op));
            }
            let started = match (call, collection, name) {
                (Call::Insert, "addresses", _) => {
                    addresses::insert(&mut state, project, region, &json_body()?)?
                }
                (Call::Insert, _, _) => {
                    forwarding_rules::insert(shared, &mut state, project, region, &json_body()?)?
                }
                (Call::Delete, "addresses", Some(n)) => addresses::delete(&state, &target(n))?,
                (Call::Delete, _, Some(n)) => forwarding_rules::delete(&state, &target(n))?,
                (Call::SetLabels, _, Some(n)) => set_labels(&state, &target(n), &json_body()?)?,
                _ => return Err(unknown()),
            };
            Ok(ok(start(shared, &mut state, started, query)))
        }
    }
}

/// A mutation accepted: its effect, the ID of the resource it targets, and an error already
/// known to be its outcome (a resource quota).
pub struct Started {
    pub effect: Effect,
    pub target_id: u64,
    pub error: Option<OpError>,
}

/// A retried mutation with a known `requestId` answers the first one's operation.
fn replayed(state: &State, project: &str, query: &Query) -> Result<Option<Value>, ApiError> {
    let Some(id) = query.get("requestId") else {
        return Ok(None);
    };
    let groups: Vec<&str> = id.split('-').collect();
    let uuid = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
        && id.chars().any(|c| c != '0' && c != '-');
    if !uuid {
        return Err(ApiError::invalid_field(
            "requestId",
            id,
            "The request ID must be a valid UUID, and not the zero UUID.",
        ));
    }
    let key = (project.to_string(), id.to_ascii_lowercase());
    Ok(state
        .request_ids
        .get(&key)
        .and_then(|r| state.operations.get(r))
        .map(|op| op.json(Instant::now())))
}

fn start(shared: &Shared, state: &mut State, started: Started, query: &Query) -> Value {
    let target = started.effect.target().clone();
    let operation_type = started.effect.operation_type();
    let id = state.next_id();
    let inserted = SystemTime::now();
    let millis = inserted
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    // Compute Engine's names look like operation-<ms>-<hex>-<hex>-<hex>.
    let name = format!(
        "operation-{millis}-{id:x}-{:08x}-{:08x}",
        id % 0xffff_ffff,
        started.target_id % 0xffff_ffff
    );
    let op_ref = Ref::regional(
        &target.project,
        target.region.as_deref().unwrap_or_default(),
        "operations",
        &name,
    );
    let error = started
        .error
        .or_else(|| crate::injected_operation_failure(shared, operation_type));
    let request_id = query.get("requestId").map(str::to_ascii_lowercase);
    if let Some(rid) = &request_id {
        state
            .request_ids
            .insert((target.project.clone(), rid.clone()), op_ref.clone());
    }
    if operation_type == "insert" {
        state.pending.insert(target.clone());
    } else {
        state.busy.insert(target.clone());
    }
    state.operations.insert(
        op_ref.clone(),
        Operation {
            id,
            r#ref: op_ref.clone(),
            operation_type,
            target,
            target_id: started.target_id,
            client_operation_id: request_id,
            inserted,
            created_at: Instant::now(),
            timing: shared.options.timing,
            effect: Some(started.effect),
            error,
            applied: false,
        },
    );
    // With no delays the operation is done before the answer, as quick ones are on Google's.
    let now = Instant::now();
    state.advance(now);
    state.operations[&op_ref].json(now)
}

fn set_labels(state: &State, target: &Ref, body: &Value) -> Result<Started, ApiError> {
    let (current, id) = match target.collection.as_str() {
        "addresses" => state.addresses.get(target).map(|a| (&a.labels, a.id)),
        _ => state
            .forwarding_rules
            .get(target)
            .map(|f| (&f.labels, f.id)),
    }
    .ok_or_else(|| ApiError::not_found(&target.path()))?;
    if state.busy.contains(target) {
        return Err(ApiError::not_ready(&target.path()));
    }
    let labels = labels_of(body)?;
    let sent = body
        .get("labelFingerprint")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !crate::labels::same_fingerprint(sent, &crate::labels::fingerprint(current)) {
        return Err(ApiError::fingerprint_mismatch());
    }
    let effect = match target.collection.as_str() {
        "addresses" => Effect::SetAddressLabels(target.clone(), labels),
        _ => Effect::SetForwardingRuleLabels(target.clone(), labels),
    };
    Ok(Started {
        effect,
        target_id: id,
        error: None,
    })
}

/// `labels` of a request body, checked.
pub fn labels_of(body: &Value) -> Result<crate::model::Labels, ApiError> {
    let labels = match body.get("labels") {
        None | Some(Value::Null) => Default::default(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(ApiError::invalid_field(
                    "resource.labels",
                    k,
                    "Label values must be strings.",
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ApiError::invalid_field(
                "resource.labels",
                &other.to_string(),
                "Must be a map.",
            ));
        }
    };
    crate::labels::check_labels(&labels)?;
    Ok(labels)
}

fn get(shared: &Shared, target: &Ref) -> ApiResult {
    let mut state = lock(&shared.state);
    let now = Instant::now();
    state.advance(now);
    let found = match target.collection.as_str() {
        "addresses" => state.addresses.get(target).map(|a| a.json()),
        "forwardingRules" => state.forwarding_rules.get(target).map(|f| f.json()),
        "subnetworks" => state.subnetworks.get(target).map(|s| s.json()),
        "firewalls" => state.firewalls.get(target).map(|f| f.json()),
        "operations" => state.operations.get(target).map(|o| o.json(now)),
        "networks" => state
            .networks
            .get(target)
            .map(|n| n.json(&subnetwork_links(&state, target))),
        _ => None,
    };
    found
        .map(ok)
        .ok_or_else(|| ApiError::not_found(&target.path()))
}

fn subnetwork_links(state: &State, network: &Ref) -> Vec<String> {
    state
        .subnetworks
        .values()
        .filter(|s| s.network == *network)
        .map(|s| s.r#ref.link())
        .collect()
}

fn read_list(
    shared: &Shared,
    project: &str,
    region: Option<&str>,
    collection: &str,
    scope: &str,
    query: &Query,
) -> ApiResult {
    let mut state = lock(&shared.state);
    let now = Instant::now();
    state.advance(now);
    let here = |r: &Ref| r.project == project && r.region.as_deref() == region;
    let (kind, items): (&str, Vec<Value>) = match collection {
        "addresses" => (
            "compute#addressList",
            state
                .addresses
                .values()
                .filter(|a| here(&a.r#ref))
                .map(|a| a.json())
                .collect(),
        ),
        "forwardingRules" => (
            "compute#forwardingRuleList",
            state
                .forwarding_rules
                .values()
                .filter(|f| here(&f.r#ref))
                .map(|f| f.json())
                .collect(),
        ),
        "subnetworks" => (
            "compute#subnetworkList",
            state
                .subnetworks
                .values()
                .filter(|s| here(&s.r#ref))
                .map(|s| s.json())
                .collect(),
        ),
        "operations" => (
            "compute#operationList",
            state
                .operations
                .values()
                .filter(|o| here(&o.r#ref))
                .map(|o| o.json(now))
                .collect(),
        ),
        "firewalls" => (
            "compute#firewallList",
            state
                .firewalls
                .values()
                .filter(|f| here(&f.r#ref))
                .map(|f| f.json())
                .collect(),
        ),
        _ => (
            "compute#networkList",
            state
                .networks
                .values()
                .filter(|n| here(&n.r#ref))
                .map(|n| n.json(&subnetwork_links(&state, &n.r#ref)))
                .collect(),
        ),
    };
    let params = ListParams {
        filter: query.get("filter"),
        max_results: query.get("maxResults"),
        page_token: query.get("pageToken"),
        order_by: query.get("orderBy"),
    };
    list(items, &params, kind, &link(scope)).map(ok)
}

/// `operations.wait`: answers when the operation is DONE or the bound has passed.
async fn wait(shared: &Shared, target: &Ref) -> ApiResult {
    let deadline = Instant::now() + shared.options.wait_bound;
    loop {
        let done_at = {
            let mut state = lock(&shared.state);
            let now = Instant::now();
            state.advance(now);
            let op = state
                .operations
                .get(target)
                .ok_or_else(|| ApiError::not_found(&target.path()))?;
            if op.applied || now >= deadline {
                return Ok(ok(op.json(now)));
            }
            op.done_at()
        };
        tokio::time::sleep_until(done_at.min(deadline).into()).await;
    }
}
