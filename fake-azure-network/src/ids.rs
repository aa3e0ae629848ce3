//! Resource Manager resource IDs, GUIDs and ETags.
//!
//! Resource Manager treats IDs case-insensitively (`resourcegroups` and `resourceGroups` name the
//! same thing, so do `RG1` and `rg1`), so the fake keys everything by the lowercased ID and keeps
//! the casing a resource was created with for display, as Azure does.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

/// The provider namespace the fake serves.
pub const NETWORK: &str = "Microsoft.Network";

/// Resource types of `Microsoft.Network` the fake knows, in Azure's casing.
const KNOWN_TYPES: [&str; 6] = [
    "privateEndpoints",
    "networkInterfaces",
    "virtualNetworks",
    "subnets",
    "privateLinkServices",
    "ipConfigurations",
];

/// `/subscriptions/S/resourceGroups/G/providers/P/T/N`, optionally with one child `/CT/CN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceId {
    pub subscription: String,
    pub group: String,
    pub provider: String,
    pub kind: String,
    pub name: String,
    pub child: Option<(String, String)>,
}

impl ResourceId {
    /// A `Microsoft.Network` resource.
    pub fn network(subscription: &str, group: &str, kind: &str, name: &str) -> ResourceId {
        ResourceId {
            subscription: subscription.to_string(),
            group: group.to_string(),
            provider: NETWORK.to_string(),
            kind: canonical_type(kind),
            name: name.to_string(),
            child: None,
        }
    }

    pub fn with_child(mut self, kind: &str, name: &str) -> ResourceId {
        self.child = Some((canonical_type(kind), name.to_string()));
        self
    }

    /// Reads a fully qualified resource ID (case-insensitive keywords). `None` for anything
    /// else: relative IDs, missing segments, extra segments.
    pub fn parse(text: &str) -> Option<ResourceId> {
        let parts: Vec<&str> = text.strip_prefix('/')?.split('/').collect();
        let word = |i: usize, w: &str| parts.get(i).is_some_and(|p| p.eq_ignore_ascii_case(w));
        if !(parts.len() == 8 || parts.len() == 10)
            || !word(0, "subscriptions")
            || !word(2, "resourceGroups")
            || !word(4, "providers")
            || parts.iter().any(|p| p.is_empty())
        {
            return None;
        }
        let provider = if parts[5].eq_ignore_ascii_case(NETWORK) {
            NETWORK.to_string()
        } else {
            parts[5].to_string()
        };
        Some(ResourceId {
            subscription: parts[1].to_string(),
            group: parts[3].to_string(),
            provider,
            kind: canonical_type(parts[6]),
            name: parts[7].to_string(),
            child: (parts.len() == 10).then(|| (canonical_type(parts[8]), parts[9].to_string())),
        })
    }

    /// The ID as Azure writes it.
    pub fn display(&self) -> String {
        let mut id = format!(
            "/subscriptions/{}/resourceGroups/{}/providers/{}/{}/{}",
            self.subscription, self.group, self.provider, self.kind, self.name
        );
        if let Some((kind, name)) = &self.child {
            id.push_str(&format!("/{kind}/{name}"));
        }
        id
    }

    /// The map key: the ID lowercased.
    pub fn key(&self) -> String {
        self.display().to_ascii_lowercase()
    }

    /// The parent of a child resource (a subnet's virtual network).
    pub fn parent(&self) -> ResourceId {
        ResourceId {
            child: None,
            ..self.clone()
        }
    }

    /// `Microsoft.Network/privateEndpoints` (or `.../virtualNetworks/subnets`).
    pub fn type_name(&self) -> String {
        match &self.child {
            Some((kind, _)) => format!("{}/{}/{kind}", self.provider, self.kind),
            None => format!("{}/{}", self.provider, self.kind),
        }
    }

    pub fn is(&self, kind: &str, child: Option<&str>) -> bool {
        self.provider == NETWORK
            && self.kind.eq_ignore_ascii_case(kind)
            && match (&self.child, child) {
                (None, None) => true,
                (Some((k, _)), Some(c)) => k.eq_ignore_ascii_case(c),
                _ => false,
            }
    }
}

pub fn group_key(subscription: &str, group: &str) -> String {
    format!("{subscription}/{group}").to_ascii_lowercase()
}

fn canonical_type(kind: &str) -> String {
    KNOWN_TYPES
        .iter()
        .find(|k| k.eq_ignore_ascii_case(kind))
        .map_or_else(|| kind.to_string(), |k| k.to_string())
}

/// Whether `text` is a GUID (`8-4-4-4-12` hex digits): subscription and tenant IDs are.
pub fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Resource names as Microsoft.Network takes them: 1 to 80 characters, word characters, `.`,
/// `-` and `_`, starting with a word character and ending with one or `_`.
pub fn is_valid_name(name: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    (1..=80).contains(&name.chars().count())
        && name.chars().all(|c| word(c) || c == '.' || c == '-')
        && name.chars().next().is_some_and(word)
        && name.chars().last().is_some_and(word)
}

/// A source of random-looking version 4 GUIDs (request IDs, operation IDs, ETags, resource
/// GUIDs, network interface name suffixes). Not cryptographic: nothing here is a secret.
#[derive(Debug)]
pub struct Guids {
    seed: RandomState,
    counter: AtomicU64,
}

impl Default for Guids {
    fn default() -> Guids {
        Guids {
            seed: RandomState::new(),
            counter: AtomicU64::new(0),
        }
    }
}

impl Guids {
    pub fn next(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let hi = self.seed.hash_one((n, 0u8));
        let lo = self.seed.hash_one((n, 1u8));
        // Version 4, variant 1, as Azure's GUIDs are.
        let hi = (hi & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
        let lo = (lo & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xffff,
            hi & 0xffff,
            lo >> 48,
            lo & 0xffff_ffff_ffff
        )
    }

    /// A weak ETag, `W/"<guid>"`, as Microsoft.Network writes them.
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.next())
    }

    /// A keyed 64-bit hash (token signatures): unpredictable without this fake's seed.
    pub fn keyed_hash(&self, data: &str) -> u64 {
        self.seed.hash_one(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_case_insensitively_and_display_in_azure_casing() {
        let id = ResourceId::parse(
            "/SUBSCRIPTIONS/0b1f6471-1bf0-4dda-aec3-cb9272f09590/resourcegroups/Net/providers/microsoft.network/VIRTUALNETWORKS/vnet/SUBNETS/a",
        )
        .unwrap();
        assert_eq!(
            id.display(),
            "/subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590/resourceGroups/Net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/a"
        );
        assert!(id.is("virtualNetworks", Some("subnets")));
        assert_eq!(id.type_name(), "Microsoft.Network/virtualNetworks/subnets");
        assert_eq!(id.parent().child, None);
        for bad in [
            "subscriptions/s/resourceGroups/g/providers/P/t/n",
            "/subscriptions/s/resourceGroups/g/providers/P/t",
            "/subscriptions/s/resourceGroups/g/providers/P/t/n/c",
            "/subscriptions/s/resourceGroups//providers/P/t/n",
            "/subscriptions/s/groups/g/providers/P/t/n",
        ] {
            assert!(ResourceId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn guids_are_version_4_and_distinct() {
        let guids = Guids::default();
        let (a, b) = (guids.next(), guids.next());
        assert_ne!(a, b);
        assert!(is_guid(&a), "{a}");
        assert_eq!(&a[14..15], "4");
        assert!("89ab".contains(&a[19..20]), "{a}");
        assert!(guids.etag().starts_with("W/\""));
        assert!(!is_guid("not-a-guid"));
    }

    #[test]
    fn names_follow_the_network_rules() {
        for good in ["pe1", "a", "pe.nic.x_", "my-endpoint_01"] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in ["", "-pe", "pe-", "pe.", "pe/x", &"a".repeat(81)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
