//! `Microsoft.Network/privateEndpoints`: CreateOrUpdate (PUT), Get, Delete, List (by resource
//! group) and ListBySubscription, as the 2024-05-01 spec defines them.
//!
//! A PUT answers 201 (created) or 200 (updated) with the resource in `Updating` and an
//! `Azure-AsyncOperation` header (the spec's final-state-via); a DELETE answers 202 with
//! `Location` and `Azure-AsyncOperation`, or 204 when there is nothing to delete.

use std::time::Instant;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::request::{self, Request, normalize_location};
use super::{Ctx, with_header};
use crate::error::{API_VERSION, ApiError, ApiResult, json_response};
use crate::ids::{ResourceId, is_valid_name};
use crate::lock;
use crate::model::{Connection, ConnectionStatus, PrivateEndpoint, Provisioning, endpoint_json};
use crate::ops::{OpKind, OpStatus, Operation};
use crate::state::{NewEndpoint, State, default_description};

fn not_found(id: &ResourceId) -> ApiError {
    ApiError::ResourceNotFound {
        kind: id.type_name(),
        name: id.name.clone(),
        group: id.group.clone(),
    }
}

pub fn get(ctx: &Ctx, id: &ResourceId) -> ApiResult {
    let mut state = lock(&ctx.shared.state);
    state.advance(Instant::now(), &ctx.shared.guids);
    let endpoint = state
        .endpoints
        .get(&id.key())
        .ok_or_else(|| not_found(id))?;
    Ok(json_response(StatusCode::OK, &endpoint_json(endpoint)))
}

/// One page of the endpoints in a subscription (or one of its resource groups).
pub fn list(ctx: &Ctx, subscription: &str, group: Option<&str>) -> ApiResult {
    let mut state = lock(&ctx.shared.state);
    state.advance(Instant::now(), &ctx.shared.guids);
    let all: Vec<&PrivateEndpoint> = state
        .endpoints
        .values()
        .filter(|e| e.id.subscription.eq_ignore_ascii_case(subscription))
        .filter(|e| group.is_none_or(|g| e.id.group.eq_ignore_ascii_case(g)))
        .collect();
    let skip = match ctx.query.get("$skipToken") {
        None => 0,
        Some(token) => token
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= all.len())
            .ok_or_else(|| ApiError::InvalidSkipToken(token.to_string()))?,
    };
    let size = ctx.shared.options.page_size.max(1);
    let page: Vec<Value> = all
        .iter()
        .skip(skip)
        .take(size)
        .map(|e| endpoint_json(e))
        .collect();
    let mut body = json!({"value": page});
    if skip + size < all.len() {
        body["nextLink"] = json!(format!(
            "{}{}?api-version={API_VERSION}&$skipToken={}",
            ctx.base,
            ctx.path,
            skip + size
        ));
    }
    Ok(json_response(StatusCode::OK, &body))
}

pub fn put(ctx: &Ctx, id: &ResourceId, body: &Bytes) -> ApiResult {
    if !is_valid_name(&id.name) {
        return Err(ApiError::InvalidResourceName(id.name.clone()));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::InvalidRequestContent(e.to_string()))?;
    let req = request::parse(&value, id)?;
    let shared = ctx.shared;
    let mut state = lock(&shared.state);
    state.advance(Instant::now(), &shared.guids);
    let key = id.key();
    let existing = state.endpoints.get(&key).cloned();
    request::preconditions(ctx.headers, existing.as_ref().map(|e| e.etag.as_str()))?;
    if let Some(op) = state.busy(&key) {
        return Err(ApiError::AnotherOperationInProgress(
            op.url(&ctx.base, "operations"),
        ));
    }
    let location = req.location.clone();
    let (status, kind) = match existing {
        Some(current) => {
            update(ctx, &mut state, current, req)?;
            (StatusCode::OK, OpKind::Update)
        }
        None => {
            create(ctx, &mut state, id, req)?;
            (StatusCode::CREATED, OpKind::Create)
        }
    };
    let op = start(ctx, &mut state, &key, kind, &location);
    state.advance(Instant::now(), &shared.guids);
    let body = state
        .endpoints
        .get(&key)
        .map(endpoint_json)
        .unwrap_or(Value::Null);
    let response = json_response(status, &body);
    Ok(lro_headers(ctx, response, &op, false))
}

fn create(ctx: &Ctx, state: &mut State, id: &ResourceId, req: Request) -> Result<(), ApiError> {
    let subnet_sub = state
        .subscriptions
        .get(&req.subnet.subscription.to_ascii_lowercase())
        .cloned();
    let reference_error = || ApiError::InvalidResourceReference {
        referenced: req.subnet.display(),
        by: id.display(),
    };
    if subnet_sub.as_ref().is_some_and(|s| s.forbidden) {
        return Err(ApiError::LinkedAuthorizationFailed {
            principal: ctx.principal.object_id.clone(),
            action: "Microsoft.Network/privateEndpoints/write".to_string(),
            scope: id.display(),
            linked: req.subnet.display(),
        });
    }
    let vnet = state
        .vnets
        .get(&req.subnet.parent().key())
        .filter(|_| state.subnets.contains_key(&req.subnet.key()))
        .ok_or_else(reference_error)?;
    // The subnet must be in the endpoint's region.
    if normalize_location(&vnet.location) != req.location {
        return Err(reference_error());
    }
    let connections = req
        .connections
        .iter()
        .map(|c| initial_state(state, &id.subscription, c))
        .collect::<Result<Vec<_>, _>>()?;
    let new = NewEndpoint {
        id: id.clone(),
        location: req.location,
        tags: req.tags,
        subnet: req.subnet,
        connections,
        custom_nic_name: req.custom_nic_name,
        static_ip: req.static_ip,
        provisioning: Provisioning::Updating,
    };
    state.insert_endpoint(new, &ctx.shared.guids)
}

/// A new connection is Pending ("Awaiting approval") until the producer decides; an automatic
/// one to a service that auto-approves the subscription is Approved at once.
fn initial_state(
    state: &State,
    subscription: &str,
    c: &Connection,
) -> Result<Connection, ApiError> {
    let service = state
        .services
        .get(&c.service.to_ascii_lowercase())
        .filter(|s| s.visible_to(subscription))
        .ok_or_else(|| ApiError::PrivateLinkServiceNotVisible(c.service.clone()))?;
    let auto = !c.manual
        && service
            .auto_approval
            .iter()
            .any(|s| s.eq_ignore_ascii_case(subscription));
    let (status, description) = if auto {
        (ConnectionStatus::Approved, "Auto-Approved")
    } else {
        (
            ConnectionStatus::Pending,
            default_description(ConnectionStatus::Pending),
        )
    };
    Ok(Connection {
        status,
        description: description.to_string(),
        ..c.clone()
    })
}

/// A PUT on an existing endpoint may change its tags (and request messages); what the endpoint
/// was created with stays.
fn update(
    ctx: &Ctx,
    state: &mut State,
    current: PrivateEndpoint,
    req: Request,
) -> Result<(), ApiError> {
    if normalize_location(&current.location) != req.location {
        return Err(ApiError::InvalidResourceLocation {
            name: current.id.name.clone(),
            existing: current.location.clone(),
            requested: req.location,
            group: current.id.group.clone(),
        });
    }
    let changed = |p: &str| Err(ApiError::PropertyChangeNotAllowed(p.to_string()));
    if current.subnet.key() != req.subnet.key() {
        return changed("subnet");
    }
    let same_connections = current.connections.len() == req.connections.len()
        && current
            .connections
            .iter()
            .zip(&req.connections)
            .all(|(a, b)| {
                a.name == b.name
                    && a.manual == b.manual
                    && a.service.eq_ignore_ascii_case(&b.service)
            });
    if !same_connections {
        return changed("manualPrivateLinkServiceConnections");
    }
    if req.custom_nic_name.is_some() && current.custom_nic_name != req.custom_nic_name {
        return changed("customNetworkInterfaceName");
    }
    if req.static_ip.is_some() && current.static_ip != req.static_ip {
        return changed("ipConfigurations");
    }
    let etag = ctx.shared.guids.etag();
    let Some(endpoint) = state.endpoints.get_mut(&current.id.key()) else {
        return Err(not_found(&current.id));
    };
    endpoint.tags = req.tags;
    for (c, asked) in endpoint.connections.iter_mut().zip(req.connections) {
        c.request_message = asked.request_message;
    }
    endpoint.provisioning = Provisioning::Updating;
    endpoint.etag = etag;
    Ok(())
}

pub fn delete(ctx: &Ctx, id: &ResourceId) -> ApiResult {
    let shared = ctx.shared;
    let mut state = lock(&shared.state);
    state.advance(Instant::now(), &shared.guids);
    let key = id.key();
    let Some(current) = state.endpoints.get(&key).cloned() else {
        request::preconditions(ctx.headers, None)?;
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    request::preconditions(ctx.headers, Some(&current.etag))?;
    if let Some(op) = state.busy(&key) {
        return Err(ApiError::AnotherOperationInProgress(
            op.url(&ctx.base, "operations"),
        ));
    }
    let etag = shared.guids.etag();
    if let Some(e) = state.endpoints.get_mut(&key) {
        e.provisioning = Provisioning::Deleting;
        e.etag = etag;
    }
    if let Some(nic) = state.nics.get_mut(&current.nic.key()) {
        nic.provisioning = Provisioning::Deleting;
    }
    let op = start(ctx, &mut state, &key, OpKind::Delete, &current.location);
    state.advance(Instant::now(), &shared.guids);
    let response = StatusCode::ACCEPTED.into_response();
    Ok(lro_headers(ctx, response, &op, true))
}

/// Starts the operation that finishes a mutation after `Options::operation_delay`.
fn start(ctx: &Ctx, state: &mut State, key: &str, kind: OpKind, location: &str) -> Operation {
    let shared = ctx.shared;
    let op = Operation {
        id: shared.guids.next(),
        subscription: state
            .endpoints
            .get(key)
            .map(|e| e.id.subscription.clone())
            .unwrap_or_default(),
        location: location.to_string(),
        kind,
        target: key.to_string(),
        done_at: Instant::now() + shared.options.operation_delay,
        planned_error: crate::injected_operation_failure(shared),
        status: OpStatus::InProgress,
        error: None,
    };
    state.operations.insert(op.id.clone(), op.clone());
    op
}

/// `Azure-AsyncOperation`, `Location` (for a DELETE), `Retry-After`, and the operation's ID as
/// `x-ms-request-id`, as Microsoft.Network answers.
fn lro_headers(
    ctx: &Ctx,
    response: axum::response::Response,
    op: &Operation,
    location: bool,
) -> axum::response::Response {
    let mut response = with_header(
        response,
        "azure-asyncoperation",
        &op.url(&ctx.base, "operations"),
    );
    if location {
        response = with_header(response, "location", &op.url(&ctx.base, "operationResults"));
    }
    let response = with_header(
        response,
        "retry-after",
        &ctx.shared.options.retry_after_secs.to_string(),
    );
    with_header(response, "x-ms-request-id", &op.id)
}
