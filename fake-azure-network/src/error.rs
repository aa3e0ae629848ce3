//! Every error answer the fake gives, in one enum: Resource Manager's errors in its shape
//! `{"error": {"code", "message", "target"?, "details": []}}` (the spec's `CloudError`), and the
//! token endpoints' OAuth errors `{"error", "error_description", ...}`.
//!
//! Codes and texts are Azure's where a document or a recorded answer showed them (see the
//! README's sources); the rest are marked there as not verified.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The Microsoft.Network API version the fake serves (its shapes are that version's).
pub const API_VERSION: &str = "2024-05-01";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// 400: no `api-version` query parameter.
    #[error("The api-version query parameter (?api-version=) is required for all requests.")]
    MissingApiVersion,
    /// 400: an `api-version` other than the one served.
    #[error(
        "The resource type '{kind}' could not be found in the namespace 'Microsoft.Network' for api version '{version}'. The supported api-versions are '{API_VERSION}'."
    )]
    UnsupportedApiVersion { kind: String, version: String },
    /// 401: no `Authorization: Bearer` header. `tenant` names the authority in the challenge.
    #[error("Authentication failed. The 'Authorization' header is missing.")]
    Unauthenticated { tenant: String },
    /// 401: a token the fake did not issue (when it only takes its own), or a malformed one.
    #[error("The access token is invalid.")]
    InvalidToken,
    /// 401: a token issued for another audience.
    #[error(
        "The access token has been obtained for wrong audience or resource '{audience}'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'."
    )]
    WrongAudience { audience: String },
    /// 401: an expired token.
    #[error(
        "The access token expiry UTC time '{expired}' is earlier than current UTC time '{now}'."
    )]
    ExpiredToken { expired: String, now: String },
    /// 401: a token from another tenant than the subscription's.
    #[error(
        "The access token is from the wrong issuer '{issuer}'. It must match the tenant 'https://sts.windows.net/{tenant}/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/{tenant}' to get the token."
    )]
    WrongTenant { issuer: String, tenant: String },
    /// 403: the subscription is marked forbidden (or read-only, for a write) in the world.
    #[error(
        "The client '{principal}' with object id '{principal}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials."
    )]
    AuthorizationFailed {
        principal: String,
        action: String,
        scope: String,
    },
    /// 403: the subnet is in a subscription the caller may not use.
    #[error(
        "The client '{principal}' with object id '{principal}' has permission to perform action '{action}' on scope '{scope}'; however, it does not have permission to perform action(s) 'Microsoft.Network/virtualNetworks/subnets/join/action' on the linked scope(s) '{linked}' (respectively) or the linked scope(s) are invalid."
    )]
    LinkedAuthorizationFailed {
        principal: String,
        action: String,
        scope: String,
        linked: String,
    },
    #[error("The provided subscription identifier '{0}' is malformed or invalid.")]
    InvalidSubscriptionId(String),
    #[error("The subscription '{0}' could not be found.")]
    SubscriptionNotFound(String),
    #[error("Resource group '{0}' could not be found.")]
    ResourceGroupNotFound(String),
    /// 404 for a resource of `kind` (`Microsoft.Network/privateEndpoints`).
    #[error(
        "The Resource '{kind}/{name}' under resource group '{group}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
    )]
    ResourceNotFound {
        kind: String,
        name: String,
        group: String,
    },
    #[error("Operation {0} not found.")]
    OperationNotFound(String),
    /// A path or method the fake does not serve (it is not all of Resource Manager).
    #[error("privatelinkd-fake-azure-network does not serve {method} {path}.")]
    NotServed { method: String, path: String },
    /// 405: a method the resource type does not have (privateEndpoints has no PATCH in 2024-05-01).
    #[error("The requested resource does not support http method '{0}'.")]
    MethodNotAllowed(String),
    /// 400: the body is not JSON.
    #[error("The request content was invalid and could not be deserialized: '{0}'.")]
    InvalidRequestContent(String),
    /// 400: JSON of the wrong shape (Microsoft.Network's answer, e.g. a connection without a name).
    #[error("Cannot parse the request.")]
    InvalidRequestFormat,
    #[error(
        "Resource name {0} is invalid. The name can be up to 80 characters long. It must begin with a word character, and it must end with a word character or with '_'. The name may contain word characters or '.', '-', '_'."
    )]
    InvalidResourceName(String),
    #[error(
        "Property id '{id}' at path '{path}' is invalid. Expect fully qualified resource Id that start with '/subscriptions/{{subscriptionId}}' or '/providers/{{resourceProviderNamespace}}/'."
    )]
    LinkedInvalidPropertyId { id: String, path: String },
    #[error("The location property is required for this definition.")]
    LocationRequired,
    #[error(
        "The resource '{name}' already exists in location '{existing}' in resource group '{group}'. A resource with the same name cannot be created in location '{requested}'. Please select a new resource name."
    )]
    InvalidResourceLocation {
        name: String,
        existing: String,
        requested: String,
        group: String,
    },
    #[error(
        "Resource {referenced} referenced by resource {by} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region."
    )]
    InvalidResourceReference { referenced: String, by: String },
    #[error(
        "Third-party Private Link Service Id {0} provided during private endpoint creation does not exist or is not visible."
    )]
    PrivateLinkServiceNotVisible(String),
    #[error(
        "Private endpoint {0} must have exactly one private link service connection, in privateLinkServiceConnections or manualPrivateLinkServiceConnections."
    )]
    ConnectionRequired(String),
    #[error(
        "Subnet {name} with address prefix {prefix} does not have enough capacity for 1 IP addresses."
    )]
    SubnetIsFull { name: String, prefix: String },
    /// 400 for a requested static IP: `code` is PrivateIPAddressNotInSubnet, ...InReservedRange, ...InUse.
    #[error("{message}")]
    PrivateIp { code: &'static str, message: String },
    #[error("Changing property '{0}' is not allowed.")]
    PropertyChangeNotAllowed(String),
    /// 400 for tags over Resource Manager's limits; `code` is InvalidTagNameCharacters, ...
    #[error("{message}")]
    InvalidTag { code: &'static str, message: String },
    #[error("The skip token '{0}' is invalid.")]
    InvalidSkipToken(String),
    /// 412: `If-Match` or `If-None-Match` not met.
    #[error("The condition specified using HTTP conditional header(s) is not met.")]
    PreconditionFailed,
    /// 409: a mutation while another operation on the resource is in progress.
    #[error(
        "Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: {0}."
    )]
    AnotherOperationInProgress(String),
    /// 429 with `Retry-After`.
    #[error("{message}")]
    Throttled {
        code: String,
        message: String,
        retry_after: u64,
    },
    /// Any answer (injected faults).
    #[error("{message}")]
    Other {
        status: u16,
        code: String,
        message: String,
    },
    /// 400 from the admin API.
    #[error("{0}")]
    BadRequest(String),
    /// An Entra ID token endpoint error: `error` (invalid_client, ...) and `AADSTS` number.
    #[error("AADSTS{aadsts}: {description}")]
    OAuth {
        status: u16,
        error: &'static str,
        aadsts: u32,
        description: String,
    },
    /// An IMDS (managed identity endpoint) error.
    #[error("{description}")]
    Imds {
        status: u16,
        error: &'static str,
        description: String,
    },
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        let code = match self {
            Unauthenticated { .. }
            | InvalidToken
            | WrongAudience { .. }
            | ExpiredToken { .. }
            | WrongTenant { .. } => 401,
            AuthorizationFailed { .. } | LinkedAuthorizationFailed { .. } => 403,
            SubscriptionNotFound(_)
            | ResourceGroupNotFound(_)
            | ResourceNotFound { .. }
            | OperationNotFound(_) => 404,
            NotServed { .. } => 501,
            MethodNotAllowed(_) => 405,
            PreconditionFailed => 412,
            AnotherOperationInProgress(_) => 409,
            Throttled { .. } => 429,
            Other { status, .. } | OAuth { status, .. } | Imds { status, .. } => *status,
            _ => 400,
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// Resource Manager's `error.code`.
    pub fn code(&self) -> &str {
        use ApiError::*;
        match self {
            MissingApiVersion => "MissingApiVersionParameter",
            UnsupportedApiVersion { .. } => "InvalidResourceType",
            Unauthenticated { .. } => "AuthenticationFailed",
            InvalidToken | WrongAudience { .. } => "InvalidAuthenticationToken",
            ExpiredToken { .. } => "ExpiredAuthenticationToken",
            WrongTenant { .. } => "InvalidAuthenticationTokenTenant",
            AuthorizationFailed { .. } => "AuthorizationFailed",
            LinkedAuthorizationFailed { .. } => "LinkedAuthorizationFailed",
            InvalidSubscriptionId(_) => "InvalidSubscriptionId",
            SubscriptionNotFound(_) => "SubscriptionNotFound",
            ResourceGroupNotFound(_) => "ResourceGroupNotFound",
            ResourceNotFound { .. } => "ResourceNotFound",
            OperationNotFound(_) => "NotFound",
            NotServed { .. } => "NotImplementedByFake",
            MethodNotAllowed(_) => "MethodNotAllowed",
            InvalidRequestContent(_) => "InvalidRequestContent",
            InvalidRequestFormat => "InvalidRequestFormat",
            InvalidResourceName(_) => "InvalidResourceName",
            LinkedInvalidPropertyId { .. } => "LinkedInvalidPropertyId",
            LocationRequired => "LocationRequired",
            InvalidResourceLocation { .. } => "InvalidResourceLocation",
            InvalidResourceReference { .. } => "InvalidResourceReference",
            PrivateLinkServiceNotVisible(_) => {
                "ThirdPartyPrivateLinkServiceProvidedDuringPrivateEndpointCreationDoesNotExistOrIsNotVisible"
            }
            ConnectionRequired(_) => "PrivateEndpointMustHaveOnePrivateLinkServiceConnection",
            SubnetIsFull { .. } => "SubnetIsFull",
            PrivateIp { code, .. } | InvalidTag { code, .. } => code,
            PropertyChangeNotAllowed(_) => "PropertyChangeNotAllowed",
            InvalidSkipToken(_) => "InvalidSkipToken",
            PreconditionFailed => "PreconditionFailed",
            AnotherOperationInProgress(_) => "AnotherOperationInProgress",
            Throttled { code, .. } | Other { code, .. } => code,
            BadRequest(_) => "BadRequest",
            OAuth { error, .. } | Imds { error, .. } => error,
        }
    }

    /// The JSON body: Resource Manager's shape, or the token endpoints' own.
    pub fn body(&self) -> Value {
        match self {
            ApiError::OAuth {
                error,
                aadsts,
                description,
                ..
            } => {
                let now = std::time::SystemTime::now();
                let timestamp = humantime::format_rfc3339_seconds(now)
                    .to_string()
                    .replace('T', " ");
                json!({
                    "error": error,
                    "error_description": format!("AADSTS{aadsts}: {description} Timestamp: {timestamp}"),
                    "error_codes": [aadsts],
                    "timestamp": timestamp,
                    "error_uri": format!("https://login.microsoftonline.com/error?code={aadsts}"),
                })
            }
            ApiError::Imds {
                error, description, ..
            } => json!({"error": error, "error_description": description}),
            _ => json!({"error": {
                "code": self.code(),
                "message": self.to_string(),
                "details": [],
            }}),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status(),
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            self.body().to_string(),
        )
            .into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthenticated { tenant } => {
                let challenge = format!(
                    "Bearer authorization_uri=\"https://login.windows.net/{tenant}\", error=\"invalid_token\", error_description=\"The authentication failed because of missing 'Authorization' header.\""
                );
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            ApiError::Throttled { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            _ => {}
        }
        response
    }
}

/// A JSON answer with `status`.
pub fn json_response(status: StatusCode, value: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        value.to_string(),
    )
        .into_response()
}

pub type ApiResult = Result<Response, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_manager_errors_have_its_shape() {
        let e = ApiError::ResourceGroupNotFound("rg".into());
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            e.body(),
            json!({"error": {"code": "ResourceGroupNotFound", "message": "Resource group 'rg' could not be found.", "details": []}})
        );
        let throttled = ApiError::Throttled {
            code: "SubscriptionRequestsThrottled".into(),
            message: "slow down".into(),
            retry_after: 3,
        }
        .into_response();
        assert_eq!(throttled.status(), 429);
        assert_eq!(throttled.headers()["retry-after"], "3");
        let unauthenticated = ApiError::Unauthenticated { tenant: "t".into() }.into_response();
        assert!(
            unauthenticated.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer authorization_uri=\"https://login.windows.net/t\"")
        );
    }

    #[test]
    fn oauth_errors_have_entra_shape() {
        let e = ApiError::OAuth {
            status: 401,
            error: "invalid_client",
            aadsts: 7000215,
            description: "Invalid client secret provided.".into(),
        };
        let body = e.body();
        assert_eq!(body["error"], "invalid_client");
        assert_eq!(body["error_codes"], json!([7000215]));
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .starts_with("AADSTS7000215: Invalid client secret provided.")
        );
        assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
    }
}
