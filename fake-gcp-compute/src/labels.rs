//! Resource names, labels and their fingerprints, checked as Compute Engine checks them.
//!
//! Label rules (https://cloud.google.com/compute/docs/labeling-resources#requirements): at most
//! 64 labels; keys 1-63 characters, starting with a lowercase letter or an international
//! character; keys and values only lowercase letters, digits, `_` and `-` (international
//! characters allowed); values may be empty. The error texts are the ones Compute Engine
//! returns for values ("... violates format constraints ...").

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

use crate::error::ApiError;

/// RFC 1035, as the field docs of every resource name say.
static NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$").expect("valid"));
static KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$").expect("valid"));
static VALUE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$").expect("valid"));

pub const MAX_LABELS: usize = 64;

/// The fingerprint of an empty label set, as Compute Engine reports it.
pub const EMPTY_FINGERPRINT: &str = "42WmSpB8rSM=";

pub fn check_name(field: &str, name: &str) -> Result<(), ApiError> {
    if NAME.is_match(name) {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            field,
            name,
            "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'",
        ))
    }
}

pub fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if labels.len() > MAX_LABELS {
        return Err(ApiError::invalid_field(
            "resource.labels",
            "",
            &format!("A resource can have at most {MAX_LABELS} labels."),
        ));
    }
    for (key, value) in labels {
        if !KEY.is_match(key) {
            return Err(ApiError::invalid_field(
                "resource.labels",
                "",
                &format!(
                    "Label key '{key}' violates format constraints. The key can only contain lowercase letters, numeric characters, underscores and dashes. The key must start with a lowercase letter and can be at most 63 characters long. International characters are allowed."
                ),
            ));
        }
        if !VALUE.is_match(value) {
            return Err(ApiError::invalid_field(
                "resource.labels",
                "",
                &format!(
                    "Label value '{value}' violates format constraints. The value can only contain lowercase letters, numeric characters, underscores and dashes. The value can be at most 63 characters long. International characters are allowed."
                ),
            ));
        }
    }
    Ok(())
}

/// A hash of the label set: equal sets have equal fingerprints, as Google's do (an empty set
/// is always `42WmSpB8rSM=`). Encoded as URL-safe base64 with padding, the alphabet Compute
/// Engine uses for fingerprints (and the one `google-cloud-compute-v1` decodes).
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return EMPTY_FINGERPRINT.to_string();
    }
    fingerprint_of(labels.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]))
}

/// FNV-1a over the parts, each followed by a 0 byte so that ("ab","c") != ("a","bc").
pub fn fingerprint_of<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    base64_url(&hash.to_be_bytes())
}

/// Two fingerprints are the same if equal once both are in the URL-safe alphabet: a client
/// may send back the standard alphabet.
pub fn same_fingerprint(sent: &str, current: &str) -> bool {
    sent.replace('+', "-").replace('/', "_") == current
}

fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_rules_are_googles() {
        for ok in [
            labels(&[("owner", "")]),
            labels(&[("a", "b"), ("managed-by", "privatelinkd_1")]),
            labels(&[("é", "ü")]),
            labels(&[(&"k".repeat(63), &"v".repeat(63))]),
        ] {
            assert!(check_labels(&ok).is_ok(), "{ok:?}");
        }
        for bad in [
            labels(&[("Owner", "x")]),
            labels(&[("1key", "x")]),
            labels(&[("_key", "x")]),
            labels(&[("", "x")]),
            labels(&[("key", "Upper")]),
            labels(&[("key", "a/b")]),
            labels(&[("key", "a.b")]),
            labels(&[(&"k".repeat(64), "x")]),
            labels(&[("key", &"v".repeat(64))]),
        ] {
            let e = check_labels(&bad).unwrap_err();
            assert_eq!(e.reason, "invalid", "{bad:?}");
        }
        let many: BTreeMap<String, String> =
            (0..65).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(check_labels(&many).is_err());
        let most: BTreeMap<String, String> =
            (0..64).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(check_labels(&most).is_ok());
    }

    #[test]
    fn names_follow_rfc1035() {
        for ok in ["a", "orders-gcp", "a1", &"a".repeat(63)] {
            assert!(check_name("resource.name", ok).is_ok(), "{ok}");
        }
        for bad in ["", "A", "1a", "a-", "a_b", &"a".repeat(64)] {
            assert!(check_name("resource.name", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fingerprints_are_padded_url_safe_base64_of_the_label_set() {
        assert_eq!(fingerprint(&BTreeMap::new()), EMPTY_FINGERPRINT);
        let a = fingerprint(&labels(&[("a", "b")]));
        assert_eq!(a.len(), 12);
        assert!(a.ends_with('='));
        assert!(!a.contains('+') && !a.contains('/'));
        assert_eq!(a, fingerprint(&labels(&[("a", "b")])));
        assert_ne!(a, fingerprint(&labels(&[("a", "c")])));
        assert_ne!(
            fingerprint(&labels(&[("ab", "c")])),
            fingerprint(&labels(&[("a", "bc")]))
        );
        assert_eq!(base64_url(&[0xfb, 0xff]), "-_8=");
        assert_eq!(base64_url(b"Man"), "TWFu");
        assert!(same_fingerprint("-_8=", "-_8="));
        assert!(same_fingerprint("+/8=", "-_8="));
    }
}
