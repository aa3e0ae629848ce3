//! Resource Manager under `/subscriptions/{subscriptionId}/...`: the checks every call passes in
//! Resource Manager's order (the bearer token, `api-version`, the subscription, the route, the
//! subscription's throttling buckets, role assignments, the resource group), the common
//! response headers (`x-ms-request-id`, `x-ms-correlation-request-id`,
//! `x-ms-ratelimit-remaining-subscription-*`), and the routing to the resource handlers.

mod endpoints;
mod network;
mod operations;
mod request;

use std::time::Instant;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::auth::{Principal, authenticate};
use crate::error::{API_VERSION, ApiError, ApiResult};
use crate::ids::{NETWORK, ResourceId, group_key, is_guid};
use crate::query::Query;
use crate::throttle::{Kind, Remaining};
use crate::{Shared, lock};

/// What a handler knows of its call.
pub struct Ctx<'a> {
    pub shared: &'a Shared,
    pub headers: &'a HeaderMap,
    pub query: Query,
    /// `http://host:port`, for the URLs the fake hands out (operations, next pages).
    pub base: String,
    pub principal: Principal,
    pub path: &'a str,
}

/// What a route names.
enum Target {
    EndpointList(Option<String>),
    Endpoint(ResourceId),
    Nic(ResourceId),
    Vnet(ResourceId),
    SubnetList(ResourceId),
    Subnet(ResourceId),
    Operation {
        location: String,
        id: String,
        results: bool,
    },
}

impl Target {
    /// The resource type, as the api-version error names it.
    fn kind(&self) -> &'static str {
        match self {
            Target::EndpointList(_) | Target::Endpoint(_) => "privateEndpoints",
            Target::Nic(_) => "networkInterfaces",
            Target::Vnet(_) => "virtualNetworks",
            Target::SubnetList(_) | Target::Subnet(_) => "virtualNetworks/subnets",
            Target::Operation { results: false, .. } => "locations/operations",
            Target::Operation { results: true, .. } => "locations/operationResults",
        }
    }

    /// The action a role assignment must allow (`Microsoft.Network/privateEndpoints/write`).
    fn action(&self, kind: Kind) -> String {
        let verb = match kind {
            Kind::Read => "read",
            Kind::Write => "write",
            Kind::Delete => "delete",
        };
        format!("{NETWORK}/{}/{verb}", self.kind())
    }

    /// The resource group it lives in, if any.
    fn group(&self) -> Option<(String, String)> {
        match self {
            Target::EndpointList(group) => group.clone().map(|g| (String::new(), g)),
            Target::Endpoint(id)
            | Target::Nic(id)
            | Target::Vnet(id)
            | Target::SubnetList(id)
            | Target::Subnet(id) => Some((id.subscription.clone(), id.group.clone())),
            Target::Operation { .. } => None,
        }
    }
}

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Matches the path after `/subscriptions/{sub}/` (keywords case-insensitive, as ARM's).
fn target(sub: &str, method: &str, path: &str, rest: &[&str]) -> Result<Target, ApiError> {
    let not_served = || ApiError::NotServed {
        method: method.to_string(),
        path: path.to_string(),
    };
    let net = |p: &str, n: &str| eq(p, "providers") && eq(n, NETWORK);
    let target = match rest {
        [p, n, t] if net(p, n) && eq(t, "privateEndpoints") => Target::EndpointList(None),
        [p, n, l, location, c, id]
            if net(p, n)
                && eq(l, "locations")
                && (eq(c, "operations") || eq(c, "operationResults")) =>
        {
            Target::Operation {
                location: location.to_string(),
                id: id.to_string(),
                results: eq(c, "operationResults"),
            }
        }
        [r, group, p, n, tail @ ..] if eq(r, "resourceGroups") && net(p, n) => {
            let id = |kind: &str, name: &str| ResourceId::network(sub, group, kind, name);
            match tail {
                [t] if eq(t, "privateEndpoints") => Target::EndpointList(Some(group.to_string())),
                [t, name] if eq(t, "privateEndpoints") => {
                    Target::Endpoint(id("privateEndpoints", name))
                }
                [t, name] if eq(t, "networkInterfaces") => {
                    Target::Nic(id("networkInterfaces", name))
                }
                [t, name] if eq(t, "virtualNetworks") => Target::Vnet(id("virtualNetworks", name)),
                [t, name, s] if eq(t, "virtualNetworks") && eq(s, "subnets") => {
                    Target::SubnetList(id("virtualNetworks", name))
                }
                [t, name, s, subnet] if eq(t, "virtualNetworks") && eq(s, "subnets") => {
                    Target::Subnet(id("virtualNetworks", name).with_child("subnets", subnet))
                }
                _ => return Err(not_served()),
            }
        }
        _ => return Err(not_served()),
    };
    match (&target, method) {
        (Target::Endpoint(_), "GET" | "PUT" | "DELETE") | (_, "GET") => Ok(target),
        // privateEndpoints has no Update Tags (PATCH) in 2024-05-01: tags change by PUT.
        (Target::Endpoint(_), "PATCH") => Err(ApiError::MethodNotAllowed(method.to_string())),
        _ => Err(not_served()),
    }
}

/// Serves one Resource Manager call.
pub async fn route(
    shared: &Shared,
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let correlation = headers
        .get("x-ms-correlation-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| shared.guids.next());
    let mut remaining = None;
    let result = dispatch(shared, method, path, query, headers, body, &mut remaining).await;
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    let out = response.headers_mut();
    set(out, "x-ms-correlation-request-id", &correlation);
    set(out, "cache-control", "no-cache");
    if let Some((kind, left)) = remaining {
        let plural = kind.plural();
        let principal = format!("x-ms-ratelimit-remaining-subscription-{plural}");
        set(out, &principal, &left.principal.to_string());
        let global = format!("x-ms-ratelimit-remaining-subscription-global-{plural}");
        set(out, &global, &left.global.to_string());
    }
    // Handlers that start an operation answer with its ID; every other answer gets its own.
    if !out.contains_key("x-ms-request-id") {
        set(out, "x-ms-request-id", &shared.guids.next());
    }
    response
}

async fn dispatch(
    shared: &Shared,
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &Bytes,
    remaining: &mut Option<(Kind, Remaining)>,
) -> ApiResult {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let [_, sub, rest @ ..] = segments.as_slice() else {
        return Err(ApiError::NotServed {
            method: method.to_string(),
            path: path.to_string(),
        });
    };
    let subscription = lock(&shared.state)
        .subscriptions
        .get(&sub.to_ascii_lowercase())
        .cloned();
    let tenant = subscription.as_ref().and_then(|s| s.tenant.clone());
    let principal = authenticate(shared, headers, tenant.as_deref())?;
    let query = Query::parse(query);
    let version = query
        .get("api-version")
        .ok_or(ApiError::MissingApiVersion)?;
    if !is_guid(sub) {
        return Err(ApiError::InvalidSubscriptionId(sub.to_string()));
    }
    let subscription =
        subscription.ok_or_else(|| ApiError::SubscriptionNotFound(sub.to_string()))?;
    let target = target(sub, method, path, rest)?;
    if version != API_VERSION {
        return Err(ApiError::UnsupportedApiVersion {
            kind: target.kind().to_string(),
            version: version.to_string(),
        });
    }
    let kind = Kind::of(method);
    *remaining = Some((kind, throttle(shared, sub, &principal, kind)?));
    let denied = subscription.forbidden || (subscription.read_only && kind != Kind::Read);
    if denied {
        return Err(ApiError::AuthorizationFailed {
            principal: principal.object_id.clone(),
            action: target.action(kind),
            scope: path.to_string(),
        });
    }
    if let Some(e) = crate::injected_error(shared, method, path) {
        return Err(e);
    }
    if let Some((_, group)) = target.group() {
        let state = lock(&shared.state);
        if !state.groups.contains(&group_key(sub, &group)) {
            return Err(ApiError::ResourceGroupNotFound(group));
        }
    }
    let ctx = Ctx {
        shared,
        headers,
        query,
        base: base_url(headers),
        principal,
        path,
    };
    match target {
        Target::EndpointList(group) => endpoints::list(&ctx, &subscription.id, group.as_deref()),
        Target::Endpoint(id) => match method {
            "PUT" => endpoints::put(&ctx, &id, body),
            "DELETE" => endpoints::delete(&ctx, &id),
            _ => endpoints::get(&ctx, &id),
        },
        Target::Nic(id) => network::nic(&ctx, &id),
        Target::Vnet(id) => network::vnet(&ctx, &id),
        Target::SubnetList(id) => network::subnets(&ctx, &id),
        Target::Subnet(id) => network::subnet(&ctx, &id),
        Target::Operation {
            location,
            id,
            results,
        } => operations::poll(&ctx, sub, &location, &id, results),
    }
}

/// An injected throttle, or the subscription's buckets.
fn throttle(
    shared: &Shared,
    sub: &str,
    principal: &Principal,
    kind: Kind,
) -> Result<Remaining, ApiError> {
    let throttled = |code: Option<String>, retry_after: u64| {
        let code = code.unwrap_or_else(|| "SubscriptionRequestsThrottled".to_string());
        ApiError::Throttled {
            message: format!(
                "Number of '{}' requests for subscription '{sub}' actor '{}' exceeded. Please try again after '{retry_after}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling",
                kind.singular(),
                principal.object_id
            ),
            code,
            retry_after,
        }
    };
    if let Some((code, retry_after)) = crate::injected_throttle(shared) {
        return Err(throttled(code, retry_after));
    }
    let limits = &shared.options.rate_limits;
    lock(&shared.buckets)
        .take(limits, sub, &principal.object_id, kind, Instant::now())
        .map_err(|retry_after| throttled(None, retry_after))
}

/// `http://` and the Host the client called, so handed-out URLs lead back here.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// Sets a header (the names and values the fake builds are always valid ones).
fn set(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
        headers.insert(n, v);
    }
}

/// Sets a response header (names and values the fake builds are always valid).
pub fn with_header(mut response: Response, name: &'static str, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, v);
    }
    response
}
