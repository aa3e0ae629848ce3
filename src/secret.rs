//! Secrets (the TiDB Cloud API key's private half): never printed, logged or serialized.
//!
//! Its own module because the config reader makes one and the client and the fake server
//! use one, and neither should depend on the other.

use std::fmt;

/// The API key's private half: never printed, logged or serialized.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that needs it: computing a digest response.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}
