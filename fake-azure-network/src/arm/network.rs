//! The network a private endpoint lives in, read-only: its network interface (made and deleted
//! with it), and the seeded virtual networks and subnets, which show the endpoints and IP
//! configurations using them.

use std::time::Instant;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::Ctx;
use crate::error::{ApiError, ApiResult, json_response};
use crate::ids::ResourceId;
use crate::lock;
use crate::model::{nic_json, subnet_json, vnet_json};
use crate::state::State;

fn not_found(id: &ResourceId) -> ApiError {
    let name = match &id.child {
        Some((_, child)) => format!("{}/{child}", id.name),
        None => id.name.clone(),
    };
    ApiError::ResourceNotFound {
        kind: id.type_name(),
        name,
        group: id.group.clone(),
    }
}

fn locked<'a>(ctx: &'a Ctx) -> std::sync::MutexGuard<'a, State> {
    let mut state = lock(&ctx.shared.state);
    state.advance(Instant::now(), &ctx.shared.guids);
    state
}

pub fn nic(ctx: &Ctx, id: &ResourceId) -> ApiResult {
    let state = locked(ctx);
    let nic = state.nics.get(&id.key()).ok_or_else(|| not_found(id))?;
    Ok(json_response(StatusCode::OK, &nic_json(nic)))
}

fn subnets_of(state: &State, vnet: &ResourceId) -> Vec<Value> {
    let prefix = format!("{}/subnets/", vnet.key());
    state
        .subnets
        .iter()
        .filter(|(key, _)| key.starts_with(&prefix))
        .map(|(_, s)| subnet_json(s, &state.subnet_users(&s.id)))
        .collect()
}

pub fn vnet(ctx: &Ctx, id: &ResourceId) -> ApiResult {
    let state = locked(ctx);
    let vnet = state.vnets.get(&id.key()).ok_or_else(|| not_found(id))?;
    Ok(json_response(
        StatusCode::OK,
        &vnet_json(vnet, subnets_of(&state, id)),
    ))
}

pub fn subnets(ctx: &Ctx, vnet: &ResourceId) -> ApiResult {
    let state = locked(ctx);
    if !state.vnets.contains_key(&vnet.key()) {
        return Err(not_found(vnet));
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"value": subnets_of(&state, vnet)}),
    ))
}

pub fn subnet(ctx: &Ctx, id: &ResourceId) -> ApiResult {
    let state = locked(ctx);
    let subnet = state.subnets.get(&id.key()).ok_or_else(|| not_found(id))?;
    Ok(json_response(
        StatusCode::OK,
        &subnet_json(subnet, &state.subnet_users(id)),
    ))
}
