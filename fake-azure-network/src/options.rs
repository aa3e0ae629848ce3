//! How a fake behaves (`Options`) and what can be injected into it (`Fault`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ops::OpError;
use crate::throttle::RateLimits;

/// Which bearer tokens Resource Manager calls may carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuthMode {
    /// Any non-empty bearer token (tests that do not care about tokens). Tokens this fake
    /// issued are still checked for expiry, audience and tenant.
    #[default]
    AnyBearer,
    /// Only tokens this fake's token endpoints issued, unexpired (tests of token code).
    IssuedTokens,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// How long an operation is `InProgress` (Azure: seconds to minutes for a private endpoint).
    pub operation_delay: Duration,
    /// The `Retry-After` (seconds) of long-running operations' answers (Azure's: 10).
    pub retry_after_secs: u64,
    pub rate_limits: RateLimits,
    /// Items per page of a list; `nextLink` leads to the next.
    pub page_size: usize,
    pub auth: AuthMode,
    /// `expires_in` of issued tokens (Entra ID's: 3599 seconds, about an hour).
    pub token_lifetime: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            operation_delay: Duration::from_millis(250),
            retry_after_secs: 1,
            rate_limits: RateLimits::default(),
            page_size: 100,
            auth: AuthMode::AnyBearer,
            token_lifetime: Duration::from_secs(3599),
        }
    }
}

impl Options {
    /// Operations done at once and no throttling: for tests about resources, not time.
    pub fn instant() -> Options {
        Options {
            operation_delay: Duration::ZERO,
            retry_after_secs: 0,
            rate_limits: RateLimits::unlimited(),
            ..Options::default()
        }
    }
}

/// A fault to inject (the admin API takes the same JSON, `{"kind": "throttle", "count": 2}`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Fault {
    /// The next `count` Resource Manager requests are answered 429 with `Retry-After`, with
    /// `code` (default `SubscriptionRequestsThrottled`; e.g. `TooManyRequests`).
    Throttle {
        count: u32,
        #[serde(default = "one")]
        retry_after_secs: u64,
        #[serde(default)]
        code: Option<String>,
    },
    /// The next `count` Resource Manager requests matching `method` and `path_contains` (when
    /// given) are answered with this error.
    HttpError {
        count: u32,
        status: u16,
        code: String,
        message: String,
        #[serde(default)]
        method: Option<String>,
        #[serde(default)]
        path_contains: Option<String>,
    },
    /// The next long-running operation ends `Failed` with this error, and its resource's
    /// `provisioningState` is `Failed`.
    FailOperation { error: OpError },
    /// Every API answer is delayed by this much.
    Latency { ms: u64 },
}

fn one() -> u64 {
    1
}
