//! Reading a private endpoint PUT body, and ARM's conditional headers.
//!
//! Read-only fields a client sends back (a GET-modify-PUT sends `etag`, `provisioningState`,
//! `networkInterfaces`, `customDnsConfigs`, connection states, ...) are ignored, as Resource
//! Manager ignores them: only the writable fields below are read.

use std::net::Ipv4Addr;

use axum::http::HeaderMap;
use serde_json::Value;

use crate::error::ApiError;
use crate::ids::{ResourceId, is_valid_name};
use crate::model::{Connection, ConnectionStatus, StaticIp, Tags};

/// What a PUT asks for.
#[derive(Debug)]
pub struct Request {
    pub location: String,
    pub tags: Tags,
    pub subnet: ResourceId,
    pub connections: Vec<Connection>,
    pub custom_nic_name: Option<String>,
    pub static_ip: Option<StaticIp>,
}

/// Azure's location names: `East US` is `eastus`.
pub fn normalize_location(location: &str) -> String {
    location
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

fn text<'a>(value: &'a Value, key: &str) -> Result<Option<&'a str>, ApiError> {
    match value.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::InvalidRequestFormat),
    }
}

/// Resource Manager's tag limits: 50 tags; names up to 512 characters without `<>%&\?/`;
/// values up to 256 characters.
fn tags(body: &Value) -> Result<Tags, ApiError> {
    let map = match body.get("tags") {
        None | Some(Value::Null) => return Ok(Tags::new()),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(ApiError::InvalidRequestFormat),
    };
    if map.len() > 50 {
        return Err(ApiError::InvalidTag {
            code: "InvalidTagCount",
            message: format!(
                "The resource has {} tags; at most 50 are allowed.",
                map.len()
            ),
        });
    }
    let mut tags = Tags::new();
    for (name, value) in map {
        let Value::String(value) = value else {
            return Err(ApiError::InvalidRequestFormat);
        };
        if name.chars().any(|c| "<>%&\\?/".contains(c)) {
            return Err(ApiError::InvalidTag {
                code: "InvalidTagNameCharacters",
                message: format!(
                    "The tag names '{name}' have reserved characters '<,>,%,&,\\,?,/' or control characters."
                ),
            });
        }
        if name.is_empty() || name.chars().count() > 512 {
            return Err(ApiError::InvalidTag {
                code: "InvalidTagNameLength",
                message: format!(
                    "The tag name '{name}' exceeds the maximum length of '512' characters or is empty."
                ),
            });
        }
        if value.chars().count() > 256 {
            return Err(ApiError::InvalidTag {
                code: "InvalidTagValueLength",
                message: format!(
                    "The tag value '{value}' exceeds the maximum length of '256' characters."
                ),
            });
        }
        tags.insert(name.clone(), value.clone());
    }
    Ok(tags)
}

fn connections(properties: &Value, id: &ResourceId) -> Result<Vec<Connection>, ApiError> {
    let mut out = Vec::new();
    for (field, manual) in [
        ("privateLinkServiceConnections", false),
        ("manualPrivateLinkServiceConnections", true),
    ] {
        let list = match properties.get(field) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(list)) => list,
            Some(_) => return Err(ApiError::InvalidRequestFormat),
        };
        for (i, c) in list.iter().enumerate() {
            // Microsoft.Network answers a connection without a name with "Cannot parse the request."
            let name = text(c, "name")?.ok_or(ApiError::InvalidRequestFormat)?;
            let props = c.get("properties").ok_or(ApiError::InvalidRequestFormat)?;
            let path = format!("properties.{field}[{i}].properties.privateLinkServiceId");
            let service =
                text(props, "privateLinkServiceId")?.ok_or(ApiError::InvalidRequestFormat)?;
            let service =
                ResourceId::parse(service).ok_or_else(|| ApiError::LinkedInvalidPropertyId {
                    id: service.to_string(),
                    path,
                })?;
            let group_ids = match props.get("groupIds") {
                None | Some(Value::Null) => None,
                Some(Value::Array(ids)) => Some(
                    ids.iter()
                        .map(|v| v.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                        .ok_or(ApiError::InvalidRequestFormat)?,
                ),
                Some(_) => return Err(ApiError::InvalidRequestFormat),
            };
            let request_message = text(props, "requestMessage")?.map(str::to_string);
            // The spec: "Restricted to 140 chars."
            if request_message
                .as_ref()
                .is_some_and(|m| m.chars().count() > 140)
            {
                return Err(ApiError::InvalidRequestFormat);
            }
            out.push(Connection {
                name: name.to_string(),
                service: service.display(),
                manual,
                group_ids,
                request_message,
                status: ConnectionStatus::Pending,
                description: String::new(),
            });
        }
    }
    if out.len() != 1 {
        return Err(ApiError::ConnectionRequired(id.display()));
    }
    Ok(out)
}

fn static_ip(properties: &Value) -> Result<Option<StaticIp>, ApiError> {
    let list = match properties.get("ipConfigurations") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(ApiError::InvalidRequestFormat),
    };
    let Some(first) = list.first() else {
        return Ok(None);
    };
    if list.len() > 1 {
        return Err(ApiError::InvalidRequestFormat);
    }
    let props = first
        .get("properties")
        .ok_or(ApiError::InvalidRequestFormat)?;
    let ip: Ipv4Addr = text(props, "privateIPAddress")?
        .and_then(|ip| ip.parse().ok())
        .ok_or(ApiError::InvalidRequestFormat)?;
    Ok(Some(StaticIp {
        name: text(first, "name")?
            .ok_or(ApiError::InvalidRequestFormat)?
            .to_string(),
        group_id: text(props, "groupId")?.map(str::to_string),
        member_name: text(props, "memberName")?.map(str::to_string),
        ip,
    }))
}

/// Reads the writable fields of a PUT body.
pub fn parse(body: &Value, id: &ResourceId) -> Result<Request, ApiError> {
    if !body.is_object() {
        return Err(ApiError::InvalidRequestFormat);
    }
    let location = text(body, "location")?
        .filter(|l| !l.trim().is_empty())
        .ok_or(ApiError::LocationRequired)?;
    let tags = tags(body)?;
    let properties = body
        .get("properties")
        .ok_or(ApiError::InvalidRequestFormat)?;
    let subnet = properties
        .get("subnet")
        .and_then(|s| s.get("id"))
        .and_then(Value::as_str)
        .ok_or(ApiError::InvalidRequestFormat)?;
    let subnet = ResourceId::parse(subnet)
        .filter(|s| s.is("virtualNetworks", Some("subnets")))
        .ok_or_else(|| ApiError::LinkedInvalidPropertyId {
            id: subnet.to_string(),
            path: "properties.subnet.id".to_string(),
        })?;
    let custom_nic_name = text(properties, "customNetworkInterfaceName")?.map(str::to_string);
    if let Some(name) = custom_nic_name.as_deref().filter(|n| !is_valid_name(n)) {
        return Err(ApiError::InvalidResourceName(name.to_string()));
    }
    Ok(Request {
        location: normalize_location(location),
        tags,
        subnet,
        connections: connections(properties, id)?,
        custom_nic_name,
        static_ip: static_ip(properties)?,
    })
}

/// `If-Match` (the current ETag, or `*` for "exists") and `If-None-Match: *` ("does not
/// exist"), against the resource's current ETag (`None`: no such resource).
pub fn preconditions(headers: &HeaderMap, current: Option<&str>) -> Result<(), ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let matches = |list: &str| {
        list.split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || current.is_some_and(|c| c == tag))
    };
    if let Some(list) = header("if-match")
        && (current.is_none() || !matches(list))
    {
        return Err(ApiError::PreconditionFailed);
    }
    if let Some(list) = header("if-none-match")
        && current.is_some()
        && matches(list)
    {
        return Err(ApiError::PreconditionFailed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use serde_json::json;

    use super::*;

    fn id() -> ResourceId {
        ResourceId::network("s", "g", "privateEndpoints", "pe")
    }

    fn body() -> Value {
        json!({
            "location": "East US",
            "tags": {"managed-by": "privatelinkd"},
            "properties": {
                "subnet": {"id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v/subnets/a"},
                "manualPrivateLinkServiceConnections": [{
                    "name": "c",
                    "properties": {"privateLinkServiceId": "/subscriptions/t/resourceGroups/h/providers/Microsoft.Network/privateLinkServices/p", "requestMessage": "hi"},
                }],
                "provisioningState": "Failed",
                "networkInterfaces": [{"id": "bogus"}],
            },
        })
    }

    #[test]
    fn a_body_is_read_for_its_writable_fields_only() {
        let req = parse(&body(), &id()).unwrap();
        assert_eq!(req.location, "eastus");
        assert_eq!(req.tags["managed-by"], "privatelinkd");
        assert!(req.connections[0].manual);
        assert_eq!(req.connections[0].request_message.as_deref(), Some("hi"));
        let mut b = body();
        b["properties"]["manualPrivateLinkServiceConnections"][0]
            .as_object_mut()
            .unwrap()
            .remove("name");
        assert_eq!(
            parse(&b, &id()).unwrap_err(),
            ApiError::InvalidRequestFormat
        );
        let mut b = body();
        b["properties"]["subnet"]["id"] = json!("subnets/a");
        assert!(matches!(
            parse(&b, &id()).unwrap_err(),
            ApiError::LinkedInvalidPropertyId { .. }
        ));
        let mut b = body();
        b.as_object_mut().unwrap().remove("location");
        assert_eq!(parse(&b, &id()).unwrap_err(), ApiError::LocationRequired);
        let mut b = body();
        b["tags"] = json!({"a/b": "x"});
        assert!(matches!(
            parse(&b, &id()).unwrap_err(),
            ApiError::InvalidTag {
                code: "InvalidTagNameCharacters",
                ..
            }
        ));
    }

    #[test]
    fn conditional_headers_follow_http() {
        let mut h = HeaderMap::new();
        assert!(preconditions(&h, None).is_ok());
        h.insert("if-match", HeaderValue::from_static("W/\"a\""));
        assert!(preconditions(&h, Some("W/\"a\"")).is_ok());
        assert!(preconditions(&h, Some("W/\"b\"")).is_err());
        assert!(preconditions(&h, None).is_err());
        let mut h = HeaderMap::new();
        h.insert("if-none-match", HeaderValue::from_static("*"));
        assert!(preconditions(&h, None).is_ok());
        assert_eq!(
            preconditions(&h, Some("W/\"a\"")),
            Err(ApiError::PreconditionFailed)
        );
    }
}
