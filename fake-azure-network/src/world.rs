//! The world file (YAML or JSON) and the admin API's seed document: what exists before
//! privatelinkd runs. Tenants with their applications (the token endpoint's clients) and
//! managed identities, subscriptions with resource groups, virtual networks, subnets and
//! private endpoints made by hand, and the producers' Private Link services (TiDB Cloud's side,
//! in another tenant).
//!
//! ```yaml
//! tenants:
//!   - id: 72f988bf-86f1-41af-91ab-2d7cd011db47
//!     apps:
//!       - clientId: 3c1d5a8e-2f0b-4c5e-9a7d-6b8f1e2d3c4a
//!         clientSecret: not-a-real-secret        # the secret the token endpoint takes
//!       - clientId: 9d8e7f6a-5b4c-4d3e-8f2a-1b0c9d8e7f6a
//!         federated: true                       # takes client assertions (workload identity)
//! managedIdentities:
//!   - clientId: 5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9
//!     tenant: 72f988bf-86f1-41af-91ab-2d7cd011db47
//!     systemAssigned: true                      # what IMDS answers without client_id
//! subscriptions:
//!   - id: 0b1f6471-1bf0-4dda-aec3-cb9272f09590
//!     tenant: 72f988bf-86f1-41af-91ab-2d7cd011db47
//!     resourceGroups:
//!       - name: net
//!         location: eastus
//!         virtualNetworks:
//!           - name: prod-vnet
//!             addressPrefixes: [10.0.0.0/16]
//!             subnets:
//!               - {name: endpoints, addressPrefix: 10.0.1.0/24}
//!               - {name: tiny, addressPrefix: 10.0.2.0/29, privateEndpointNetworkPolicies: Enabled}
//!       - name: apps
//!         location: eastus
//!         privateEndpoints:                     # made by hand before privatelinkd runs
//!           - name: by-hand
//!             subnet: /subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/prod-vnet/subnets/endpoints
//!             privateLinkService: /subscriptions/aa8b1bd4-2b2c-4d6b-9a77-6d1f0e3c2b1a/resourceGroups/tidb/providers/Microsoft.Network/privateLinkServices/pls-eastus-1
//!             status: Approved
//!             tags: {owner: platform}
//!   - id: 1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f
//!     forbidden: true                           # every call is 403 AuthorizationFailed
//! privateLinkServices:
//!   - id: /subscriptions/aa8b1bd4-2b2c-4d6b-9a77-6d1f0e3c2b1a/resourceGroups/tidb/providers/Microsoft.Network/privateLinkServices/pls-eastus-1
//!     fqdns: []                                 # reported in customDnsConfigs when set
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use crate::model::ConnectionStatus;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct World {
    #[serde(default)]
    pub tenants: Vec<TenantSeed>,
    #[serde(default)]
    pub managed_identities: Vec<IdentitySeed>,
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionSeed>,
    #[serde(default)]
    pub private_link_services: Vec<ServiceSeed>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantSeed {
    pub id: String,
    #[serde(default)]
    pub apps: Vec<AppSeed>,
}

/// An application (service principal) that may ask the token endpoint for tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppSeed {
    pub client_id: String,
    /// The secret it authenticates with (`client_secret`).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Takes client assertions (`client_assertion`, a JWT: workload identity federation).
    #[serde(default)]
    pub federated: bool,
    /// The service principal's object ID (the `oid` of its tokens); derived when absent.
    #[serde(default)]
    pub object_id: Option<String>,
}

/// A managed identity the instance metadata endpoint gives tokens for.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentitySeed {
    pub client_id: String,
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub object_id: Option<String>,
    /// The machine's system-assigned identity (used when the request names none).
    #[serde(default)]
    pub system_assigned: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscriptionSeed {
    pub id: String,
    /// The tenant it trusts (the `tid` of tokens it takes; the 401 challenge's authority).
    #[serde(default)]
    pub tenant: Option<String>,
    /// Every call is 403 AuthorizationFailed (no role assignment).
    #[serde(default)]
    pub forbidden: bool,
    /// Reads are allowed, writes and deletes are 403 (the Reader role).
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub resource_groups: Vec<GroupSeed>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupSeed {
    pub name: String,
    pub location: String,
    #[serde(default)]
    pub virtual_networks: Vec<VnetSeed>,
    #[serde(default)]
    pub private_endpoints: Vec<EndpointSeed>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VnetSeed {
    pub name: String,
    /// Defaults to the resource group's.
    #[serde(default)]
    pub location: Option<String>,
    pub address_prefixes: Vec<String>,
    #[serde(default)]
    pub subnets: Vec<SubnetSeed>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubnetSeed {
    pub name: String,
    pub address_prefix: String,
    /// Enabled, Disabled (Azure's default), NetworkSecurityGroupEnabled, RouteTableEnabled.
    #[serde(default)]
    pub private_endpoint_network_policies: Option<String>,
}

/// A private endpoint that exists already (made in the portal), provisioned and Succeeded.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointSeed {
    pub name: String,
    /// Defaults to the resource group's.
    #[serde(default)]
    pub location: Option<String>,
    /// The subnet's resource ID.
    pub subnet: String,
    /// The Private Link service's resource ID (need not be seeded: it may be gone since).
    pub private_link_service: String,
    /// Defaults to `{name}-connection`.
    #[serde(default)]
    pub connection_name: Option<String>,
    #[serde(default)]
    pub status: Option<ConnectionStatus>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// A producer's Private Link service (TiDB Cloud's), which endpoints connect to by resource ID.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceSeed {
    pub id: String,
    /// Subscriptions whose endpoints it approves at once (`autoApproval`); none by default, as
    /// TiDB Cloud approves each endpoint when it is registered.
    #[serde(default)]
    pub auto_approval: Vec<String>,
    /// Subscriptions that may see it (`visibility`); everyone when absent.
    #[serde(default)]
    pub visibility: Option<Vec<String>>,
    /// FQDNs it publishes, reported in the endpoints' `customDnsConfigs`.
    #[serde(default)]
    pub fqdns: Vec<String>,
}

impl World {
    pub fn parse(text: &str) -> anyhow::Result<World> {
        // JSON is YAML, so one parser reads both.
        serde_saphyr::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))
    }

    pub fn load(path: &Path) -> anyhow::Result<World> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        World::parse(&text).with_context(|| format!("invalid world file {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let doc = include_str!("world.rs")
            .lines()
            .skip_while(|l| !l.starts_with("//! ```yaml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| {
                l.strip_prefix("//! ")
                    .or(l.strip_prefix("//!"))
                    .unwrap_or(l)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let world = World::parse(&doc).unwrap();
        assert_eq!(world.tenants[0].apps.len(), 2);
        assert!(world.tenants[0].apps[1].federated);
        assert!(world.managed_identities[0].system_assigned);
        let groups = &world.subscriptions[0].resource_groups;
        assert_eq!(groups[0].virtual_networks[0].subnets.len(), 2);
        assert_eq!(
            groups[1].private_endpoints[0].status,
            Some(ConnectionStatus::Approved)
        );
        assert!(world.subscriptions[1].forbidden);
        assert!(World::parse("subscriptions: [{id: s, colour: red}]").is_err());
        // The README's example too.
        let readme = include_str!("../README.md");
        let block = readme
            .split("## World file")
            .nth(1)
            .and_then(|s| s.split("```yaml").nth(1))
            .and_then(|s| s.split("```").next())
            .unwrap();
        let world = World::parse(block).unwrap();
        assert_eq!(world.subscriptions.len(), 3);
        assert!(world.subscriptions[2].read_only);
        assert_eq!(
            world.private_link_services[0].visibility,
            Some(vec!["*".to_string()])
        );
        assert!(World::parse(r#"{"subscriptions": [{"id": "s"}]}"#).is_ok());
    }
}
