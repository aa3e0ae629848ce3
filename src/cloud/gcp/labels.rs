//! Our marks as Google Cloud labels. Label keys and values are at most 63 lowercase letters,
//! digits, `_` and `-` (keys start with a letter), so the marks' keys (`privatelinkd.io/name`)
//! are respelled (`privatelinkd-name`), values are lowercased with other characters as `_`,
//! and the file, a path no label can hold, is written as its hash: it is compared, never read
//! back (https://cloud.google.com/compute/docs/labeling-resources#requirements).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use super::super::consumer::MARK_PREFIX;
use crate::stable::fnv;

/// What our label keys start with.
pub const LABEL_PREFIX: &str = "privatelinkd-";
const MAX: usize = 63;

/// The label key of a mark (`privatelinkd.io/label/team` -> `privatelinkd-label-team`);
/// a label key of ours is its own key; `None` for keys that are not ours (a console name).
pub fn key(mark: &str) -> Option<&str> {
    if mark.starts_with(LABEL_PREFIX) {
        return Some(mark);
    }
    mark.strip_prefix(MARK_PREFIX)?;
    Some(
        KEYS.iter()
            .find(|(m, _)| *m == mark)
            .map_or_else(|| interned(respell(mark)), |(_, label)| *label),
    )
}

/// A document label's respelled key, kept for the life of the process: a handful of
/// distinct keys, asked for every pass.
fn interned(key: String) -> &'static str {
    static KNOWN: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut known = KNOWN.lock().expect("not poisoned");
    if let Some(k) = known.get(key.as_str()) {
        return k;
    }
    let k: &'static str = Box::leak(key.into_boxed_str());
    known.insert(k);
    k
}

/// The fixed marks, spelled once (and the common case without an allocation).
const KEYS: [(&str, &str); 4] = [
    ("privatelinkd.io/owner", "privatelinkd-owner"),
    ("privatelinkd.io/name", "privatelinkd-name"),
    (
        "privatelinkd.io/deletion-policy",
        "privatelinkd-deletion-policy",
    ),
    ("privatelinkd.io/file", "privatelinkd-file"),
];

fn respell(mark: &str) -> String {
    let rest = &mark[MARK_PREFIX.len()..];
    let mut out: String = LABEL_PREFIX.to_string();
    out.extend(rest.chars().map(|c| match c {
        'a'..='z' | '0'..='9' | '_' | '-' => c,
        'A'..='Z' => c.to_ascii_lowercase(),
        _ => '-',
    }));
    shorten(out)
}

/// The label value of a mark's value.
pub fn value<'a>(mark: &str, value: &'a str) -> Cow<'a, str> {
    if mark == "privatelinkd.io/file" || mark == "privatelinkd-file" {
        return Cow::Owned(format!("{:016x}", fnv(value)));
    }
    let fits = value.len() <= MAX
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if fits {
        return Cow::Borrowed(value);
    }
    let out: String = value
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '_' | '-' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect();
    Cow::Owned(shorten(out))
}

/// Over 63 characters: cut, with a hash of the whole so that two long values stay apart.
fn shorten(text: String) -> String {
    if text.len() <= MAX {
        return text;
    }
    format!("{}-{:08x}", &text[..MAX - 9], fnv(&text) as u32)
}

/// Marks as labels (keys that are not ours, such as AWS's console `Name`, are left out).
pub fn encode(marks: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    marks
        .iter()
        .filter_map(|(k, v)| Some((key(k)?.to_string(), value(k, v).into_owned())))
        .collect()
}

/// A `requestId` (Google wants a UUID): derived from the create's token and its step, so a
/// request resent after a crash is recognised as the same one for as long as Google keeps it.
pub fn request_id(token: &str, step: &str) -> String {
    let a = fnv(&format!("{token}/{step}"));
    let b = fnv(&format!("{step}/{token}"));
    let hex = format!("{a:016x}{b:016x}");
    // Version 4, variant 10: a well-formed UUID whatever the hashes are.
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label_ok(text: &str) -> bool {
        text.len() <= MAX
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    }

    #[test]
    fn every_mark_becomes_a_valid_label() {
        let marks = BTreeMap::from([
            (
                "privatelinkd.io/owner".to_string(),
                "Prod.Host-1".to_string(),
            ),
            ("privatelinkd.io/name".to_string(), "orders-gcp".to_string()),
            (
                "privatelinkd.io/deletion-policy".to_string(),
                "Delete".to_string(),
            ),
            (
                "privatelinkd.io/file".to_string(),
                "team/a/orders.yaml".to_string(),
            ),
            (
                "privatelinkd.io/label/Team.Name".to_string(),
                "x".repeat(80),
            ),
            ("Name".to_string(), "orders-gcp".to_string()),
        ]);
        let labels = encode(&marks);
        assert_eq!(labels.len(), 5, "{labels:?}");
        for (k, v) in &labels {
            assert!(label_ok(k) && k.starts_with(LABEL_PREFIX), "{k}");
            assert!(label_ok(v), "{k}: {v}");
        }
        assert_eq!(labels["privatelinkd-owner"], "prod_host-1");
        assert_eq!(labels["privatelinkd-deletion-policy"], "delete");
        assert_eq!(labels["privatelinkd-label-team-name"].len(), MAX);
        assert_ne!(labels["privatelinkd-file"], "team/a/orders.yaml");
    }

    #[test]
    fn request_ids_are_uuids_stable_per_step() {
        let a = request_id("tok", "address");
        assert_eq!(a, request_id("tok", "address"));
        assert_ne!(a, request_id("tok", "forwarding-rule"));
        let parts: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}
