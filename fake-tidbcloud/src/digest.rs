//! Server-side HTTP Digest (RFC 7616, `qop=auth`, MD5 or SHA-256): challenges with nonces
//! that expire, and verification of the client's answer with nonce counts that cannot be
//! replayed.
//!
//! Written here because no maintained crate verifies digests on the server side, and it is a
//! few hashes. The client side (privatelinkd) uses `http-auth`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use md5::Md5;
use privatelinkd::secret::Secret;
use sha2::{Digest as _, Sha256};

pub const REALM: &str = "tidb.cloud";
/// A nonce is honoured this long; then the client is told it is stale and gets a new one.
const NONCE_LIFETIME: Duration = Duration::from_secs(300);

/// The digest algorithm the server challenges with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    fn hash(self, text: &str) -> String {
        match self {
            Algorithm::Md5 => hex::encode(Md5::digest(text.as_bytes())),
            Algorithm::Sha256 => hex::encode(Sha256::digest(text.as_bytes())),
        }
    }
}

/// The API key a request must be signed with.
pub struct Key<'a> {
    pub public: &'a str,
    pub private: &'a Secret,
    pub algorithm: Algorithm,
}

struct Nonce {
    issued: Instant,
    /// Nonce counts already used: a replayed request is refused.
    seen: BTreeSet<u64>,
}

/// The nonces handed out, and the counts already used with each.
#[derive(Default)]
pub struct Nonces {
    issued: Mutex<HashMap<String, Nonce>>,
}

impl Nonces {
    /// A fresh challenge (the `WWW-Authenticate` value).
    pub fn challenge(&self, algorithm: Algorithm, stale: bool) -> String {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the OS provides randomness");
        let nonce = hex::encode(bytes);
        self.issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                nonce.clone(),
                Nonce {
                    issued: Instant::now(),
                    seen: BTreeSet::new(),
                },
            );
        let mut value = format!(
            "Digest realm=\"{REALM}\", qop=\"auth\", algorithm={}, nonce=\"{nonce}\", opaque=\"privatelinkd-fake\"",
            algorithm.name()
        );
        if stale {
            value += ", stale=true";
        }
        value
    }

    /// Checks the `Authorization: Digest ...` header; `Err(stale)` asks for a new challenge.
    pub fn verify(
        &self,
        key: &Key<'_>,
        method: &str,
        request_uri: &str,
        authorization: Option<&str>,
    ) -> Result<(), bool> {
        let value = authorization.ok_or(false)?;
        let parsed = http_auth::parse_challenges(value).map_err(|_| false)?;
        let credentials = parsed
            .first()
            .filter(|c| c.scheme.eq_ignore_ascii_case("Digest"))
            .ok_or(false)?;
        let param = |name: &str| {
            credentials
                .params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_unescaped())
        };
        let algorithm = match param("algorithm").as_deref().unwrap_or("MD5") {
            "MD5" => Algorithm::Md5,
            "SHA-256" => Algorithm::Sha256,
            _ => return Err(false),
        };
        let (Some(username), Some(nonce), Some(uri), Some(response), Some(nc), Some(cnonce)) = (
            param("username"),
            param("nonce"),
            param("uri"),
            param("response"),
            param("nc"),
            param("cnonce"),
        ) else {
            return Err(false);
        };
        if algorithm != key.algorithm
            || username != key.public
            || param("realm").as_deref() != Some(REALM)
            || param("qop").as_deref() != Some("auth")
            || uri != request_uri
        {
            return Err(false);
        }
        let count = u64::from_str_radix(&nc, 16).map_err(|_| false)?;
        let ha1 = algorithm.hash(&format!("{username}:{REALM}:{}", key.private.expose()));
        let ha2 = algorithm.hash(&format!("{method}:{uri}"));
        let expected = algorithm.hash(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
        if expected != response {
            return Err(false);
        }
        let mut nonces = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        let known = nonces.get_mut(&nonce).ok_or(true)?;
        if known.issued.elapsed() > NONCE_LIFETIME {
            nonces.remove(&nonce);
            return Err(true);
        }
        if !known.seen.insert(count) {
            return Err(false);
        }
        Ok(())
    }
}
