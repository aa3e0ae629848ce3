//! `addresses.insert` and `addresses.delete`: internal addresses reserved in a subnetwork.
//!
//! The fake reserves INTERNAL addresses with purpose GCE_ENDPOINT only (what a Private
//! Service Connect endpoint uses); other kinds are refused with a 400 that says so.

use std::net::Ipv4Addr;

use serde_json::Value;

use super::{Started, labels_of};
use crate::error::ApiError;
use crate::labels;
use crate::model::{Address, Ref};
use crate::ops::{Effect, OpError};
use crate::state::{State, ip_in_use};

fn text<'v>(body: &'v Value, field: &str) -> Option<&'v str> {
    body.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

pub fn insert(
    state: &mut State,
    project: &str,
    region: &str,
    body: &Value,
) -> Result<Started, ApiError> {
    let name = text(body, "name").ok_or_else(|| ApiError::required("resource.name"))?;
    labels::check_name("resource.name", name)?;
    let labels = labels_of(body)?;
    // Compute Engine's default is EXTERNAL.
    let address_type = text(body, "addressType").unwrap_or("EXTERNAL");
    if address_type != "INTERNAL" {
        return Err(ApiError::invalid_field(
            "resource.addressType",
            address_type,
            "The fake reserves INTERNAL addresses only (Private Service Connect endpoints).",
        ));
    }
    if let Some(purpose) = text(body, "purpose").filter(|p| *p != "GCE_ENDPOINT") {
        return Err(ApiError::invalid_field(
            "resource.purpose",
            purpose,
            "The fake reserves GCE_ENDPOINT addresses only.",
        ));
    }
    let subnet_text =
        text(body, "subnetwork").ok_or_else(|| ApiError::required("resource.subnetwork"))?;
    let subnet_ref =
        Ref::parse(subnet_text, project, Some(region), "subnetworks").ok_or_else(|| {
            ApiError::invalid_field("resource.subnetwork", subnet_text, "Not a subnetwork.")
        })?;
    if subnet_ref.region.as_deref() != Some(region) {
        return Err(ApiError::invalid_field(
            "resource.subnetwork",
            subnet_text,
            &format!("The subnetwork must be in the address's region, '{region}'."),
        ));
    }
    let subnet = state
        .subnetworks
        .get(&subnet_ref)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&subnet_ref.path()))?;
    let me = Ref::regional(project, region, "addresses", name);
    if state.addresses.contains_key(&me) || state.pending.contains(&me) {
        return Err(ApiError::already_exists(&me.path()));
    }
    let mut error = None;
    let ip = match text(body, "address") {
        Some(wanted) => {
            let ip: Ipv4Addr = wanted.parse().map_err(|_| {
                ApiError::invalid_field("resource.address", wanted, "Invalid IPv4 address.")
            })?;
            if !subnet.range.contains(ip) {
                return Err(ApiError::invalid_field(
                    "resource.address",
                    wanted,
                    &format!(
                        "Requested internal IP address is outside the subnetwork's IP range {}.",
                        subnet.range
                    ),
                ));
            }
            if subnet.range.is_reserved(ip) {
                return Err(ApiError::invalid_field(
                    "resource.address",
                    wanted,
                    "Requested internal IP address is reserved by Compute Engine in the subnetwork.",
                ));
            }
            // Found while processing, as Compute Engine reports it: the operation fails.
            let user = state.ip_user(&subnet.network, ip).or_else(|| {
                state
                    .pending_ips(&subnet.network)
                    .contains(&ip)
                    .then(|| "an operation in progress".to_string())
            });
            error = user.map(|u| ip_in_use(ip, &u));
            ip
        }
        None => match state.allocate(&subnet) {
            Some(ip) => ip,
            None => {
                error = Some(OpError::new(
                    "IP_SPACE_EXHAUSTED",
                    format!("IP space of '{}' is exhausted.", subnet_ref.path()),
                    400,
                ));
                Ipv4Addr::UNSPECIFIED
            }
        },
    };
    let id = state.next_id();
    let address = Address {
        id,
        created: State::now_timestamp(),
        r#ref: me,
        description: text(body, "description").unwrap_or_default().to_string(),
        ip,
        subnetwork: subnet_ref,
        network: subnet.network.clone(),
        labels,
        users: Vec::new(),
    };
    Ok(Started {
        effect: Effect::InsertAddress(Box::new(address)),
        target_id: id,
        error,
    })
}

pub fn delete(state: &State, target: &Ref) -> Result<Started, ApiError> {
    let address = state
        .addresses
        .get(target)
        .ok_or_else(|| ApiError::not_found(&target.path()))?;
    if state.busy.contains(target) {
        return Err(ApiError::not_ready(&target.path()));
    }
    let pending_user = state.operations.values().find_map(|op| match &op.effect {
        Some(Effect::InsertForwardingRule(f)) if f.address.as_ref() == Some(target) => {
            Some(f.r#ref.link())
        }
        _ => None,
    });
    if let Some(user) = address.users.first().cloned().or(pending_user) {
        return Err(ApiError::in_use("address", &target.path(), &user));
    }
    Ok(Started {
        effect: Effect::DeleteAddress(target.clone()),
        target_id: address.id,
        error: None,
    })
}
