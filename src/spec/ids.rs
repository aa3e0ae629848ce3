//! Identifiers as types: a `VpcId` is known to be well-formed wherever it travels.
//!
//! Each type's pattern appears once, in its JSON Schema, in its own check, and in the hint
//! that turns a pattern mismatch into words.

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::checked::PatternHint;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $pattern:literal, $expected:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const HINT: PatternHint = PatternHint { pattern: $pattern, expected: $expected };

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(text: String) -> Result<Self, String> {
                static RE: LazyLock<Regex> =
                    LazyLock::new(|| Regex::new($pattern).expect("the pattern is a literal"));
                if RE.is_match(&text) {
                    Ok($name(text))
                } else {
                    Err(format!("`{text}` is not {}", $expected))
                }
            }
        }

        impl TryFrom<&str> for $name {
            type Error = String;

            fn try_from(text: &str) -> Result<Self, String> {
                Self::try_from(text.to_string())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }

            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "pattern": $pattern, "description": $expected })
            }
        }
    };
}

id_type!(
    /// An endpoint's name: unique in the endpoints directory, used in tags and metrics.
    Name,
    "^[a-z][a-z0-9-]{0,62}$",
    "a valid name (1-63 characters of a-z, 0-9 and -, starting with a letter)"
);
id_type!(ProjectId, "^[0-9]{1,20}$", "a TiDB Cloud ID (digits only)");
id_type!(ClusterId, "^[0-9]{1,20}$", "a TiDB Cloud ID (digits only)");
id_type!(
    NodeGroupId,
    "^[0-9]{1,20}$",
    "a TiDB Cloud ID (digits only)"
);
id_type!(
    /// An AWS region code such as `us-east-1` (GovCloud and ISO partitions included).
    Region,
    "^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$",
    "an AWS region code such as us-east-1"
);
id_type!(
    VpcId,
    "^vpc-([0-9a-f]{8}|[0-9a-f]{17})$",
    "a VPC ID (vpc- and 8 or 17 lowercase hex digits)"
);
id_type!(
    SubnetId,
    "^subnet-([0-9a-f]{8}|[0-9a-f]{17})$",
    "a subnet ID (subnet- and 8 or 17 lowercase hex digits)"
);
id_type!(
    SecurityGroupId,
    "^sg-([0-9a-f]{8}|[0-9a-f]{17})$",
    "a security group ID (sg- and 8 or 17 lowercase hex digits)"
);
id_type!(
    VpcEndpointId,
    "^vpce-([0-9a-f]{8}|[0-9a-f]{17})$",
    "a VPC endpoint ID (vpce- and 8 or 17 lowercase hex digits)"
);
id_type!(
    /// A name from the daemon config's AWS accounts; `default` is the ambient credentials.
    AccountName,
    "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
    "an account name (letters, digits, _ . -)"
);

id_type!(
    /// A Google Cloud project ID (6-30 characters, Google's rule).
    GcpProject,
    "^[a-z][a-z0-9-]{4,28}[a-z0-9]$",
    "a Google Cloud project ID (6-30 characters of a-z, 0-9 and -, starting with a letter)"
);
id_type!(
    /// A Google Cloud region such as `us-central1`.
    GcpRegion,
    "^[a-z]+-[a-z]+[0-9]+$",
    "a Google Cloud region such as us-central1"
);
id_type!(
    /// A VPC network or subnetwork: its name, or its self link (`projects/P/global/networks/N`,
    /// with or without `https://www.googleapis.com/compute/v1/`).
    GcpResource,
    "^((https://www\\.googleapis\\.com/compute/v1/)?projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/(global|regions/[a-z]+-[a-z]+[0-9]+)/(networks|subnetworks)/)?[a-z]([-a-z0-9]{0,61}[a-z0-9])?$",
    "a network or subnetwork name (a-z, 0-9 and -, 1-63 characters), or its self link"
);
id_type!(
    /// A forwarding rule's name (Compute Engine's RFC 1035 rule).
    GcpName,
    "^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$",
    "a Compute Engine name (1-63 characters of a-z, 0-9 and -, starting with a letter, not ending with -)"
);

id_type!(
    /// An Azure subscription ID (a GUID).
    AzureSubscriptionId,
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    "an Azure subscription ID (a GUID such as 00000000-0000-0000-0000-000000000000)"
);
id_type!(
    /// A resource group's name (Azure's rule: 1-90 of letters, digits, `_ - . ( )`, not
    /// ending with a period).
    AzureResourceGroup,
    "^[-\\w._()]{0,89}[-\\w_()]$",
    "a resource group name (1-90 letters, digits, _ - . ( ), not ending with .)"
);
id_type!(
    /// An Azure location such as `eastus2`.
    AzureLocation,
    "^[a-z][a-z0-9]{1,39}$",
    "an Azure location such as eastus2 (lowercase letters and digits)"
);
id_type!(
    /// A subnet's resource ID (its names any characters but `/`: Unicode word classes
    /// repeated this often compile past the regex crate's size limit, and Resource Manager
    /// checks the names itself).
    AzureSubnetId,
    "^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[^/]{1,90}/providers/Microsoft\\.Network/virtualNetworks/[^/]{2,64}/subnets/[^/]{1,80}$",
    "a subnet's resource ID (/subscriptions/S/resourceGroups/G/providers/Microsoft.Network/virtualNetworks/V/subnets/N)"
);
id_type!(
    /// A virtual network's, subnet's or private endpoint's name (Azure's rule for
    /// `Microsoft.Network` names: letters, digits, `_ . -`, starting with a letter or digit,
    /// ending with a letter, digit or `_`).
    AzureName,
    "^[A-Za-z0-9]([-\\w.]{0,78}\\w)?$",
    "an Azure resource name (1-80 letters, digits, _ . -, starting with a letter or digit, ending with a letter, digit or _)"
);

impl GcpResource {
    /// The name, whether a name or a self link was written.
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

/// Every hint, for the checker to put patterns into words (the three TiDB IDs share one).
pub const HINTS: &[PatternHint] = &[
    GcpProject::HINT,
    AzureSubscriptionId::HINT,
    AzureResourceGroup::HINT,
    AzureLocation::HINT,
    AzureSubnetId::HINT,
    AzureName::HINT,
    GcpRegion::HINT,
    GcpResource::HINT,
    GcpName::HINT,
    Name::HINT,
    ClusterId::HINT,
    Region::HINT,
    VpcId::HINT,
    SubnetId::HINT,
    SecurityGroupId::HINT,
    VpcEndpointId::HINT,
    AccountName::HINT,
];

impl AccountName {
    pub fn default_account() -> AccountName {
        AccountName("default".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_short_and_long_forms_only() {
        for ok in ["vpc-0a1b2c3d", "vpc-0a1b2c3d4e5f67890"] {
            assert!(VpcId::try_from(ok).is_ok(), "{ok}");
        }
        for bad in [
            "vpc-0A1B2C3D",
            "vpc-123",
            "vpc-0a1b2c3d4e5f6789",
            "subnet-0a1b2c3d",
            " vpc-0a1b2c3d",
        ] {
            assert!(VpcId::try_from(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn regions_and_names() {
        for ok in [
            "us-east-1",
            "ap-southeast-2",
            "us-gov-west-1",
            "eu-central-1",
        ] {
            assert!(Region::try_from(ok).is_ok(), "{ok}");
        }
        for bad in ["us-east", "US-EAST-1", "aws-us-east-1", "useast1"] {
            assert!(Region::try_from(bad).is_err(), "{bad}");
        }
        assert!(Name::try_from("orders-prod").is_ok());
        assert!(Name::try_from("a".repeat(63)).is_ok());
        for bad in ["", "1orders", "Orders", "orders_prod", &"a".repeat(64)] {
            assert!(Name::try_from(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod pattern_tests {
    use super::*;

    /// Every pattern compiles within the regex crate's limits (a Unicode class repeated too
    /// often does not, and would fail only when a document first used the field).
    #[test]
    fn every_pattern_compiles() {
        for hint in HINTS {
            regex::Regex::new(hint.pattern).unwrap_or_else(|e| panic!("{}: {e}", hint.pattern));
        }
        assert!(AzureSubnetId::try_from(
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/prod-network/providers/Microsoft.Network/virtualNetworks/prod/subnets/db"
        )
        .is_ok());
    }
}
