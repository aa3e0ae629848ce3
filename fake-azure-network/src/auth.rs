//! Tokens: Entra ID's client credentials endpoint (`POST /{tenant}/oauth2/v2.0/token`, with a
//! client secret or a client assertion), the instance metadata service's managed identity
//! endpoint (`GET /metadata/identity/oauth2/token`), and the check of Resource Manager's
//! `Authorization: Bearer` header.
//!
//! Issued tokens are JWT-shaped (`header.payload.signature`, base64url) with Entra's claims
//! (`aud`, `iss`, `tid`, `oid`, `appid`, `iat`, `nbf`, `exp`); the signature is a keyed hash
//! with this fake's random key, so the fake recognises its own tokens without keeping them.
//! Tokens and secrets are never stored or logged.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult, json_response};
use crate::options::AuthMode;
use crate::query::Query;
use crate::{Shared, lock};

/// The object ID Resource Manager calls are attributed to when the token is not the fake's.
pub const ANONYMOUS: &str = "00000000-0000-0000-0000-000000000000";

/// Audiences Resource Manager takes.
const ARM_AUDIENCES: [&str; 4] = [
    "https://management.azure.com",
    "https://management.azure.com/",
    "https://management.core.windows.net",
    "https://management.core.windows.net/",
];

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Who a Resource Manager call is from.
#[derive(Debug, Clone)]
pub struct Principal {
    pub object_id: String,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn utc(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64url without padding, as JWTs use.
pub fn b64_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

pub fn b64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut bits, mut n) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let c = if c == b'+' {
            b'-'
        } else if c == b'/' {
            b'_'
        } else {
            c
        };
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        n = n << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((n >> bits) as u8);
            n &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The claims of a JWT, without checking its signature.
fn claims_of(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    serde_json::from_slice(&b64_decode(payload)?).ok()
}

fn mint(shared: &Shared, claims: &Value) -> String {
    let header = b64_encode(br#"{"typ":"JWT","alg":"RS256","kid":"privatelinkd-fake"}"#);
    let signed = format!("{header}.{}", b64_encode(claims.to_string().as_bytes()));
    let signature = shared.guids.keyed_hash(&signed).to_be_bytes();
    format!("{signed}.{}", b64_encode(&signature))
}

/// The claims of a token this fake issued, `None` for any other.
fn verify(shared: &Shared, token: &str) -> Option<Value> {
    let (signed, signature) = token.rsplit_once('.')?;
    let expected = b64_encode(&shared.guids.keyed_hash(signed).to_be_bytes());
    (signature == expected).then(|| claims_of(token)).flatten()
}

fn issue(
    shared: &Shared,
    audience: &str,
    tenant: &str,
    object_id: &str,
    app_id: &str,
) -> (String, u64) {
    let now = unix_now();
    let lifetime = shared.options.token_lifetime.as_secs();
    let claims = json!({
        "aud": audience,
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "appid": app_id,
        "oid": object_id,
        "sub": object_id,
        "tid": tenant,
        "idtyp": "app",
        "ver": "1.0",
    });
    (mint(shared, &claims), lifetime)
}

/// Checks a Resource Manager call's bearer token for a subscription trusting `tenant`.
pub fn authenticate(
    shared: &Shared,
    headers: &HeaderMap,
    tenant: Option<&str>,
) -> Result<Principal, ApiError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .map(|(_, token)| token.trim());
    let Some(token) = token else {
        return Err(ApiError::Unauthenticated {
            tenant: tenant.unwrap_or("common").to_string(),
        });
    };
    let Some(claims) = verify(shared, token) else {
        return match shared.options.auth {
            AuthMode::AnyBearer => Ok(Principal {
                object_id: ANONYMOUS.to_string(),
            }),
            AuthMode::IssuedTokens => Err(ApiError::InvalidToken),
        };
    };
    let text = |k: &str| claims[k].as_str().unwrap_or_default().to_string();
    let now = unix_now();
    let exp = claims["exp"].as_u64().unwrap_or(0);
    if exp <= now {
        return Err(ApiError::ExpiredToken {
            expired: utc(exp),
            now: utc(now),
        });
    }
    if !ARM_AUDIENCES.contains(&text("aud").as_str()) {
        return Err(ApiError::WrongAudience {
            audience: text("aud"),
        });
    }
    if let Some(tenant) = tenant
        && !text("tid").eq_ignore_ascii_case(tenant)
    {
        return Err(ApiError::WrongTenant {
            issuer: text("iss"),
            tenant: tenant.to_string(),
        });
    }
    Ok(Principal {
        object_id: text("oid"),
    })
}

fn oauth(status: u16, error: &'static str, aadsts: u32, description: String) -> ApiError {
    ApiError::OAuth {
        status,
        error,
        aadsts,
        description,
    }
}

fn missing(parameter: &str) -> ApiError {
    oauth(
        400,
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{parameter}'."),
    )
}

/// `POST /{tenant}/oauth2/v2.0/token`: the client credentials grant.
pub fn token_endpoint(shared: &Shared, method: &str, tenant: &str, body: &[u8]) -> ApiResult {
    if method != "POST" {
        return Err(oauth(
            400,
            "invalid_request",
            900561,
            format!(
                "The endpoint only accepts POST, OPTIONS requests. Received a {method} request."
            ),
        ));
    }
    let form = Query::parse(&String::from_utf8_lossy(body));
    let state = lock(&shared.state);
    let apps = state.tenants.get(&tenant.to_ascii_lowercase()).ok_or_else(|| {
        oauth(
            400,
            "invalid_request",
            90002,
            format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        )
    })?;
    let grant = form
        .get("grant_type")
        .ok_or_else(|| missing("grant_type"))?;
    if grant != "client_credentials" {
        return Err(oauth(
            400,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant}'."),
        ));
    }
    let client_id = form.get("client_id").ok_or_else(|| missing("client_id"))?;
    let scope = form.get("scope").ok_or_else(|| missing("scope"))?;
    let Some(audience) = scope.strip_suffix("/.default") else {
        return Err(oauth(
            400,
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        ));
    };
    let app = apps
        .iter()
        .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
        .ok_or_else(|| {
            oauth(
                400,
                "unauthorized_client",
                700016,
                format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."),
            )
        })?;
    match (form.get("client_secret"), form.get("client_assertion")) {
        (Some(secret), _) => {
            if app.secret.as_deref() != Some(secret) {
                return Err(oauth(
                    401,
                    "invalid_client",
                    7000215,
                    format!(
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                    ),
                ));
            }
        }
        (None, Some(assertion)) => {
            if form.get("client_assertion_type") != Some(JWT_BEARER) {
                return Err(missing("client_assertion_type"));
            }
            let claims = claims_of(assertion).ok_or_else(|| {
                oauth(
                    400,
                    "invalid_client",
                    50027,
                    "JWT token is invalid or malformed.".to_string(),
                )
            })?;
            if !app.federated {
                return Err(oauth(
                    400,
                    "invalid_client",
                    70021,
                    "No matching federated identity record found for presented assertion."
                        .to_string(),
                ));
            }
            if claims["exp"].as_u64().is_some_and(|exp| exp <= unix_now()) {
                return Err(oauth(
                    400,
                    "invalid_client",
                    700024,
                    "Client assertion is not within its valid time range.".to_string(),
                ));
            }
        }
        (None, None) => {
            return Err(oauth(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".to_string(),
            ));
        }
    }
    let (token, lifetime) = issue(shared, audience, tenant, &app.object_id, &app.client_id);
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }),
    ))
}

fn imds_error(description: &str) -> ApiError {
    ApiError::Imds {
        status: 400,
        error: "invalid_request",
        description: description.to_string(),
    }
}

/// `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=...` with
/// `Metadata: true`: a managed identity's token, as the instance metadata service gives it
/// (numbers as strings).
pub fn imds(shared: &Shared, headers: &HeaderMap, query: &str) -> Result<Response, ApiError> {
    let metadata = headers
        .get("metadata")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !metadata {
        return Err(imds_error("Required metadata header not specified"));
    }
    let query = Query::parse(query);
    if query.get("api-version").is_none() {
        return Err(imds_error(
            "Required query variable 'api-version' is missing",
        ));
    }
    let resource = query
        .get("resource")
        .ok_or_else(|| imds_error("Required query variable 'resource' is missing"))?;
    let state = lock(&shared.state);
    let wanted = query.get("client_id").or(query.get("object_id"));
    let identity =
        match wanted {
            Some(id) => state.identities.iter().find(|i| {
                i.client_id.eq_ignore_ascii_case(id) || i.object_id.eq_ignore_ascii_case(id)
            }),
            // The system-assigned identity, or the only one there is.
            None => state.identities.iter().find(|i| i.system_assigned).or(
                if state.identities.len() == 1 {
                    state.identities.first()
                } else {
                    None
                },
            ),
        }
        .ok_or_else(|| imds_error("Identity not found"))?;
    let tenant = identity.tenant.as_deref().unwrap_or("common");
    let (token, lifetime) = issue(
        shared,
        resource,
        tenant,
        &identity.object_id,
        &identity.client_id,
    );
    let now = unix_now();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "access_token": token,
            "client_id": identity.client_id,
            "expires_in": lifetime.to_string(),
            "expires_on": (now + lifetime).to_string(),
            "ext_expires_in": lifetime.to_string(),
            "not_before": now.to_string(),
            "resource": resource,
            "token_type": "Bearer",
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips() {
        for text in ["", "a", "ab", "abc", "abcd", "{\"aud\":\"x\"}"] {
            let encoded = b64_encode(text.as_bytes());
            assert!(!encoded.contains('='));
            assert_eq!(b64_decode(&encoded).unwrap(), text.as_bytes(), "{text}");
        }
        assert_eq!(b64_encode(b"\xfb\xff"), "-_8");
        assert!(b64_decode("a*b").is_none());
    }
}
