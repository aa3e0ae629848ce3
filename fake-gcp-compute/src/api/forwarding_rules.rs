//! `forwardingRules.insert` and `forwardingRules.delete` for Private Service Connect endpoints:
//! a forwarding rule with no load balancing scheme whose `target` is a service attachment.
//! Other kinds of forwarding rule (load balancers) are refused with a 400 that says so.

use std::net::Ipv4Addr;

use serde_json::Value;

use super::{Started, labels_of};
use crate::error::ApiError;
use crate::model::{ForwardingRule, PscStatus, Ref};
use crate::ops::{Effect, OpError};
use crate::state::State;
use crate::{QuotaErrors, Shared, labels};

fn text<'v>(body: &'v Value, field: &str) -> Option<&'v str> {
    body.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn flag(body: &Value, field: &str) -> Result<Option<bool>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ApiError::invalid_field(
            &format!("resource.{field}"),
            &other.to_string(),
            "Must be a boolean.",
        )),
    }
}

pub fn insert(
    shared: &Shared,
    state: &mut State,
    project: &str,
    region: &str,
    body: &Value,
) -> Result<Started, ApiError> {
    let name = text(body, "name").ok_or_else(|| ApiError::required("resource.name"))?;
    labels::check_name("resource.name", name)?;
    let labels = labels_of(body)?;
    if let Some(scheme) = text(body, "loadBalancingScheme") {
        return Err(ApiError::invalid_field(
            "resource.loadBalancingScheme",
            scheme,
            "A forwarding rule whose target is a service attachment has no load balancing scheme.",
        ));
    }
    if let Some(backend) = text(body, "backendService") {
        return Err(ApiError::invalid_field(
            "resource.backendService",
            backend,
            "The fake serves Private Service Connect endpoints only (target = a service attachment).",
        ));
    }
    let target_text = text(body, "target").ok_or_else(|| ApiError::required("resource.target"))?;
    let target = Ref::parse(target_text, project, Some(region), "serviceAttachments")
        .filter(|t| t.region.is_some())
        .ok_or_else(|| {
            ApiError::invalid_field(
                "resource.target",
                target_text,
                "The fake serves Private Service Connect endpoints only: the target must be a service attachment.",
            )
        })?;
    if target.region.as_deref() != Some(region) {
        return Err(ApiError::invalid_field(
            "resource.target",
            target_text,
            &format!("The target must be in the forwarding rule's region, '{region}'."),
        ));
    }
    if state.attachments.get(&target).is_none_or(|a| a.deleted) {
        return Err(ApiError::not_found(&target.path()));
    }
    let subnetwork = match text(body, "subnetwork") {
        None => None,
        Some(s) => {
            let r = Ref::parse(s, project, Some(region), "subnetworks").ok_or_else(|| {
                ApiError::invalid_field("resource.subnetwork", s, "Not a subnetwork.")
            })?;
            if r.region.as_deref() != Some(region) {
                return Err(ApiError::invalid_field(
                    "resource.subnetwork",
                    s,
                    &format!("The subnetwork must be in the forwarding rule's region, '{region}'."),
                ));
            }
            Some(
                state
                    .subnetworks
                    .get(&r)
                    .cloned()
                    .ok_or_else(|| ApiError::not_found(&r.path()))?,
            )
        }
    };
    // IPAddress: an IP number or a reference to a reserved address in this region.
    let address = match text(body, "IPAddress") {
        None => None,
        Some(ip_text) => {
            let found = match ip_text.parse::<Ipv4Addr>() {
                Ok(ip) => state
                    .addresses
                    .values()
                    .find(|a| {
                        a.r#ref.project == project
                            && a.r#ref.region.as_deref() == Some(region)
                            && a.ip == ip
                    })
                    .ok_or_else(|| {
                        ApiError::invalid_field(
                            "resource.IPAddress",
                            ip_text,
                            "The fake needs a reserved internal address of this region here.",
                        )
                    })?,
                Err(_) => {
                    let r = Ref::parse(ip_text, project, Some(region), "addresses").ok_or_else(
                        || {
                            ApiError::invalid_field(
                                "resource.IPAddress",
                                ip_text,
                                "Not an IP address nor an address resource.",
                            )
                        },
                    )?;
                    state
                        .addresses
                        .get(&r)
                        .ok_or_else(|| ApiError::not_found(&r.path()))?
                }
            };
            Some(found.clone())
        }
    };
    let network = match text(body, "network") {
        Some(n) => Ref::parse(n, project, None, "networks")
            .ok_or_else(|| ApiError::invalid_field("resource.network", n, "Not a network."))?,
        None => subnetwork
            .as_ref()
            .map(|s| s.network.clone())
            .or_else(|| address.as_ref().map(|a| a.network.clone()))
            .unwrap_or_else(|| Ref::global(project, "networks", "default")),
    };
    let network_entry = state
        .networks
        .get(&network)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&network.path()))?;
    if let Some(s) = subnetwork.as_ref().filter(|s| s.network != network) {
        return Err(ApiError::invalid_field(
            "resource.subnetwork",
            &s.r#ref.link(),
            &format!("The subnetwork is not in network '{}'.", network.link()),
        ));
    }
    let me = Ref::regional(project, region, "forwardingRules", name);
    let pending_use = |a: &Ref| {
        state.operations.values().any(|op| {
            matches!(&op.effect, Some(Effect::InsertForwardingRule(f)) if f.address.as_ref() == Some(a))
        })
    };
    let ip = match &address {
        Some(a) => {
            if a.network != network {
                return Err(ApiError::invalid_field(
                    "resource.IPAddress",
                    &a.ip.to_string(),
                    &format!("The address is not in network '{}'.", network.link()),
                ));
            }
            if !a.users.is_empty() || pending_use(&a.r#ref) {
                return Err(ApiError::invalid_field(
                    "resource.IPAddress",
                    &a.ip.to_string(),
                    "Specified IP address is in-use and would result in a conflict.",
                ));
            }
            a.ip
        }
        None => {
            let subnet = subnetwork.as_ref().ok_or_else(|| {
                ApiError::invalid("A subnetwork must be specified for an endpoint without an IPAddress in a custom mode network.")
            })?;
            state.allocate(subnet).ok_or_else(|| {
                ApiError::invalid(format!(
                    "IP space of '{}' is exhausted.",
                    subnet.r#ref.path()
                ))
            })?
        }
    };
    if state.forwarding_rules.contains_key(&me) || state.pending.contains(&me) {
        return Err(ApiError::already_exists(&me.path()));
    }
    let mut error = None;
    let limit = network_entry
        .forwarding_rules_limit
        .or(shared.options.forwarding_rules_limit);
    if let Some(limit) = limit.filter(|l| state.forwarding_rules_in(&network) >= *l as usize) {
        // The quota's name is the fake's: Google's name for this limit was not verified.
        let message = format!(
            "Quota 'PSC_FORWARDING_RULES_PER_NETWORK' exceeded.  Limit: {limit}.0 in network {}.",
            network.name
        );
        match shared.options.quota_errors {
            QuotaErrors::Synchronous => return Err(ApiError::quota_exceeded(message)),
            QuotaErrors::InOperation => error = Some(OpError::new("QUOTA_EXCEEDED", message, 403)),
        }
    }
    let id = state.next_id();
    let psc_connection_id = state.next_id() / 3;
    let rule = ForwardingRule {
        id,
        created: State::now_timestamp(),
        r#ref: me,
        description: text(body, "description").unwrap_or_default().to_string(),
        ip,
        address: address.map(|a| a.r#ref),
        network,
        subnetwork: subnetwork.map(|s| s.r#ref),
        target,
        allow_psc_global_access: flag(body, "allowPscGlobalAccess")?,
        no_automate_dns_zone: flag(body, "noAutomateDnsZone")?,
        service_directory_registrations: body
            .get("serviceDirectoryRegistrations")
            .cloned()
            .unwrap_or(Value::Null),
        labels,
        psc_connection_id,
        psc_status: PscStatus::Pending,
    };
    Ok(Started {
        effect: Effect::InsertForwardingRule(Box::new(rule)),
        target_id: id,
        error,
    })
}

pub fn delete(state: &State, target: &Ref) -> Result<Started, ApiError> {
    let rule = state
        .forwarding_rules
        .get(target)
        .ok_or_else(|| ApiError::not_found(&target.path()))?;
    if state.busy.contains(target) {
        return Err(ApiError::not_ready(&target.path()));
    }
    Ok(Started {
        effect: Effect::DeleteForwardingRule(target.clone()),
        target_id: rule.id,
        error: None,
    })
}
