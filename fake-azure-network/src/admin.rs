//! The fake's own API under `/fake/v1/` (not Azure's; no authentication): TiDB Cloud's side of
//! each connection, what a person does in the portal, faults, the request log.
//!
//! | call | body | what |
//! | --- | --- | --- |
//! | `GET requests` / `DELETE requests` | | the request log (method, path, query, status), or clear it |
//! | `POST world` | world document (YAML or JSON) | seed more (all or nothing) |
//! | `POST faults` / `DELETE faults` | a `Fault` (`{"kind": "throttle", "count": 2}`) | inject, or clear all |
//! | `POST connections/state` | `{"endpointId", "status", "description"?}` | the producer approves, rejects, disconnects |
//! | `GET connections?privateLinkService=ID` | | the endpoints connected to a service, as its producer sees them |
//! | `POST portal/delete` | `{"resourceId"}` | delete a private endpoint (and its network interface) at once |
//! | `POST portal/removeTag` | `{"resourceId", "key"}` | remove one tag at once |
//! | `POST portal/setTags` | `{"resourceId", "tags"}` | replace the tags at once |

use std::time::Instant;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, json_response};
use crate::ids::ResourceId;
use crate::model::{ConnectionStatus, PrivateEndpoint, Tags};
use crate::query::Query;
use crate::state::{State, default_description};
use crate::{Fake, Fault, PlsConnection, Shared, World, lock};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateBody {
    endpoint_id: String,
    status: ConnectionStatus,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PortalBody {
    resource_id: String,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    tags: Option<Tags>,
}

pub async fn route(
    shared: &std::sync::Arc<Shared>,
    method: &str,
    rest: &str,
    query: &str,
    body: &Bytes,
) -> Response {
    let fake = Fake {
        shared: shared.clone(),
    };
    let ok = || json_response(StatusCode::OK, &json!({}));
    let parsed = |body: &Bytes| -> Result<Value, ApiError> {
        serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("bad JSON: {e}")))
    };
    fn read<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, ApiError> {
        serde_json::from_value(v).map_err(|e| ApiError::BadRequest(format!("bad body: {e}")))
    }
    let result: Result<Response, ApiError> = match (method, rest) {
        ("GET", "requests") => Ok(json_response(StatusCode::OK, &json!(fake.requests()))),
        ("DELETE", "requests") => {
            fake.clear_requests();
            Ok(ok())
        }
        ("POST", "world") => World::parse(&String::from_utf8_lossy(body))
            .map_err(|e| ApiError::BadRequest(format!("{e:#}")))
            .and_then(|w| fake.seed(&w).map_err(ApiError::BadRequest))
            .map(|()| ok()),
        ("POST", "faults") => parsed(body).and_then(read::<Fault>).map(|f| {
            fake.inject(f);
            ok()
        }),
        ("DELETE", "faults") => {
            fake.clear_faults();
            Ok(ok())
        }
        ("POST", "connections/state") => parsed(body).and_then(read::<StateBody>).and_then(|b| {
            fake.set_connection_state(&b.endpoint_id, b.status, b.description.as_deref())
                .map(|()| ok())
        }),
        ("GET", "connections") => {
            let query = Query::parse(query);
            let service = query.get("privateLinkService").unwrap_or_default();
            fake.connections_to(service)
                .map(|c| json_response(StatusCode::OK, &json!(c)))
        }
        ("POST", "portal/delete" | "portal/removeTag" | "portal/setTags") => {
            parsed(body).and_then(read::<PortalBody>).and_then(|b| {
                match rest {
                    "portal/delete" => fake.portal_delete(&b.resource_id),
                    "portal/removeTag" => {
                        let key = b
                            .key
                            .ok_or_else(|| ApiError::BadRequest("key is required".into()))?;
                        fake.portal_remove_tag(&b.resource_id, &key)
                    }
                    _ => fake.portal_set_tags(&b.resource_id, b.tags.unwrap_or_default()),
                }
                .map(|()| ok())
            })
        }
        _ => Err(ApiError::NotServed {
            method: method.to_string(),
            path: format!("/fake/v1/{rest}"),
        }),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

fn endpoint_id(text: &str) -> Result<ResourceId, ApiError> {
    ResourceId::parse(text)
        .filter(|id| id.is("privateEndpoints", None))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "'{text}' is not a Microsoft.Network/privateEndpoints resource ID"
            ))
        })
}

fn endpoint<'a>(
    shared: &Shared,
    state: &'a mut State,
    id: &ResourceId,
) -> Result<&'a mut PrivateEndpoint, ApiError> {
    state.advance(Instant::now(), &shared.guids);
    state
        .endpoints
        .get_mut(&id.key())
        .ok_or_else(|| ApiError::ResourceNotFound {
            kind: id.type_name(),
            name: id.name.clone(),
            group: id.group.clone(),
        })
}

pub fn set_connection_state(
    shared: &Shared,
    endpoint_id: &str,
    status: ConnectionStatus,
    description: Option<&str>,
) -> Result<(), ApiError> {
    let id = self::endpoint_id(endpoint_id)?;
    let mut state = lock(&shared.state);
    let e = endpoint(shared, &mut state, &id)?;
    for c in &mut e.connections {
        c.status = status;
        c.description = description
            .unwrap_or(default_description(status))
            .to_string();
    }
    e.etag = shared.guids.etag();
    Ok(())
}

pub fn connections_to(shared: &Shared, service: &str) -> Result<Vec<PlsConnection>, ApiError> {
    let service = ResourceId::parse(service)
        .ok_or_else(|| ApiError::BadRequest(format!("'{service}' is not a resource ID")))?
        .key();
    let mut state = lock(&shared.state);
    state.advance(Instant::now(), &shared.guids);
    Ok(state
        .endpoints
        .values()
        .flat_map(|e| {
            e.connections
                .iter()
                .filter(|c| c.service.to_ascii_lowercase() == service)
                .map(move |c| PlsConnection {
                    endpoint_id: e.id.display(),
                    connection_name: c.name.clone(),
                    location: e.location.clone(),
                    private_ip_address: e.ip.to_string(),
                    status: c.status,
                    description: c.description.clone(),
                    request_message: c.request_message.clone(),
                    provisioning_state: e.provisioning.as_str().to_string(),
                })
        })
        .collect())
}

pub fn portal_delete(shared: &Shared, resource_id: &str) -> Result<(), ApiError> {
    let id = endpoint_id(resource_id)?;
    let mut state = lock(&shared.state);
    endpoint(shared, &mut state, &id)?;
    state.cancel_operations(&id.key());
    state.remove_endpoint(&id.key());
    Ok(())
}

pub fn portal_set_tags(
    shared: &Shared,
    resource_id: &str,
    change: impl FnOnce(&mut Tags) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let id = endpoint_id(resource_id)?;
    let mut state = lock(&shared.state);
    let e = endpoint(shared, &mut state, &id)?;
    change(&mut e.tags)?;
    e.etag = shared.guids.etag();
    Ok(())
}
