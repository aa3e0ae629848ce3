//! AWS EC2 through aws-sdk-ec2: the `Ec2` trait, one lazily built client per account and region.
//!
//! The SDK's own retries are off (one attempt): the call gate (`cloud::budget`) retries
//! idempotent calls itself, so that every attempt is metered against EC2's token buckets and
//! counted in the metrics; creates are safe to retry thanks to the deterministic ClientToken.
//! Endpoint states are compared as strings: EC2 sends lowercase camelCase (`pendingAcceptance`),
//! which the SDK's `State` enum does not know and keeps as `Unknown("...")`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{
    Filter, ResourceType, Tag, TagSpecification, VpcAttributeName, VpcEndpointType,
};
use tokio::sync::Mutex;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;

/// Credentials for `spec.aws.account`: a named profile from ~/.aws/config, or a role to
/// assume with the default credentials (optionally with an external ID).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Account {
    /// A profile name from ~/.aws/config.
    #[serde(default)]
    pub profile: Option<String>,
    /// A role to assume (`arn:aws:iam::ACCOUNT:role/NAME`).
    #[serde(default)]
    pub role_arn: Option<String>,
    /// The external ID the role's trust policy asks for.
    #[serde(default)]
    pub external_id: Option<String>,
}

/// What the EC2 client needs from the daemon config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AwsConfig {
    /// Another EC2 endpoint (tests: a moto server on loopback).
    pub endpoint_url: Option<String>,
    /// Named credentials; `default` is the ambient credential chain.
    pub accounts: BTreeMap<String, Account>,
    /// Sent as the SDK's app name in the User-Agent (the lease holder in a leader-election
    /// group, so request logs tell daemons apart).
    pub app_name: Option<String>,
}

/// The EC2 side for real; clones share the clients.
#[derive(Clone)]
pub struct AwsClient {
    config: Arc<AwsConfig>,
    clients: Arc<Mutex<HashMap<Scope, Client>>>,
}

impl AwsClient {
    pub fn new(config: AwsConfig) -> AwsClient {
        AwsClient {
            config: Arc::new(config),
            clients: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The client for an account and region, built on first use.
    async fn client(&self, scope: &Scope) -> CloudResult<Client> {
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(scope) {
            return Ok(c.clone());
        }
        let account = if scope.account == "default" {
            None
        } else {
            let found = self.config.accounts.get(&scope.account).ok_or_else(|| {
                CloudError::Permanent(format!(
                    "account `{}` is not defined under aws.accounts in the daemon config",
                    scope.account
                ))
            })?;
            Some(found)
        };
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(scope.region.clone()))
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .build(),
            );
        if let Some(profile) = account.and_then(|a| a.profile.as_ref()) {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &self.config.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(name) = self.config.app_name.as_ref()
            && let Ok(name) = aws_config::AppName::new(name.clone())
        {
            loader = loader.app_name(name);
        }
        let base = loader.load().await;
        let mut config = aws_sdk_ec2::config::Builder::from(&base);
        if let Some(role) = account.and_then(|a| a.role_arn.as_ref()) {
            let mut assume = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name("privatelinkd")
                .configure(&base);
            if let Some(id) = account.and_then(|a| a.external_id.as_ref()) {
                assume = assume.external_id(id);
            }
            config = config.credentials_provider(assume.build().await);
        }
        let client = Client::from_conf(config.build());
        clients.insert(scope.clone(), client.clone());
        Ok(client)
    }
}

/// EC2's answer, in our error classes. `action` names the API call for "not authorized" errors.
fn classify<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    action: &str,
    error: SdkError<E, R>,
) -> CloudError {
    match &error {
        SdkError::ServiceError(_) => {
            let code = error.code().unwrap_or("Unknown").to_string();
            let message = error.message().unwrap_or_default().to_string();
            match code.as_str() {
                "RequestLimitExceeded" | "Throttling" | "ThrottlingException" => {
                    CloudError::Throttled {
                        api: "ec2",
                        retry_after: Duration::from_secs(1),
                    }
                }
                "UnauthorizedOperation" | "AccessDenied" | "AuthFailure" => {
                    CloudError::Permanent(format!(
                        "not allowed to call ec2:{action} ({code}); grant it to privatelinkd's role (see examples/iam-policy.json)"
                    ))
                }
                "InvalidVpcEndpointId.NotFound" | "InvalidVpcEndpoint.NotFound" => {
                    CloudError::NotFound(format!("{code}: {message}"))
                }
                "InternalError" | "InternalFailure" | "ServiceUnavailable" | "Unavailable" => {
                    CloudError::Transient(format!("ec2:{action}: {code}: {message}"))
                }
                _ => match ec2_advice(&code, &message) {
                    Some(advice) => CloudError::Permanent(format!("{code}: {message}; {advice}")),
                    None => CloudError::Permanent(format!("{code}: {message}")),
                },
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => CloudError::Unreachable(
            format!("ec2:{action}: cannot reach EC2: {error:?}")
                .chars()
                .take(300)
                .collect(),
        ),
        SdkError::ResponseError(_) => {
            CloudError::Transient(format!("ec2:{action}: unreadable answer"))
        }
        _ => CloudError::Permanent(
            format!("ec2:{action}: {error:?}")
                .chars()
                .take(300)
                .collect(),
        ),
    }
}

fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().map(Into::into).collect()))
        .build()
}

/// EC2 states arrive as `available`, `pendingAcceptance`...; should a parsed variant ever come
/// through as `Available`, it reads the same (`EndpointState::parse` ignores case).
fn state_of(state: Option<&aws_sdk_ec2::types::State>) -> EndpointState {
    EndpointState::parse(state.map(|s| s.as_str()).unwrap_or("unknown"))
}

fn endpoint_of(e: &aws_sdk_ec2::types::VpcEndpoint) -> VpcEndpoint {
    VpcEndpoint {
        id: e.vpc_endpoint_id().unwrap_or_default().to_string(),
        vpc_id: e.vpc_id().unwrap_or_default().to_string(),
        service_name: e.service_name().unwrap_or_default().to_string(),
        state: state_of(e.state()),
        private_dns_enabled: e.private_dns_enabled().unwrap_or(false),
        subnet_ids: e.subnet_ids().to_vec(),
        security_group_ids: e
            .groups()
            .iter()
            .filter_map(|g| g.group_id().map(String::from))
            .collect(),
        tags: e
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect(),
    }
}

/// An inbound permission, in our words.
fn rule_of(p: &aws_sdk_ec2::types::IpPermission) -> IngressRule {
    let port = |p: Option<i32>| p.and_then(|p| u16::try_from(p).ok());
    let mut cidrs: Vec<String> = p
        .ip_ranges()
        .iter()
        .filter_map(|r| r.cidr_ip().map(String::from))
        .collect();
    cidrs.extend(
        p.ipv6_ranges()
            .iter()
            .filter_map(|r| r.cidr_ipv6().map(String::from)),
    );
    IngressRule {
        protocol: p.ip_protocol().unwrap_or("-1").to_string(),
        from_port: port(p.from_port()),
        to_port: port(p.to_port()),
        cidrs,
        groups: p
            .user_id_group_pairs()
            .iter()
            .filter_map(|g| g.group_id().map(String::from))
            .collect(),
        prefix_lists: p
            .prefix_list_ids()
            .iter()
            .filter_map(|l| l.prefix_list_id().map(String::from))
            .collect(),
    }
}

fn tags_of(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

impl Consumer for AwsClient {
    type Endpoint = VpcEndpoint;

    async fn list_marked(
        &self,
        scope: &Scope,
        (key, value): (&str, &str),
        page_token: Option<&str>,
    ) -> CloudResult<Page<VpcEndpoint>> {
        let out = self
            .client(scope)
            .await?
            .describe_vpc_endpoints()
            .filters(filter(&format!("tag:{key}"), [value]))
            .max_results(1000)
            .set_next_token(page_token.map(String::from))
            .send()
            .await
            .map_err(|e| classify("DescribeVpcEndpoints", e))?;
        let items = out
            .vpc_endpoints()
            .iter()
            .map(endpoint_of)
            .filter(|e| e.state != EndpointState::Deleted)
            .collect();
        let next = out.next_token().filter(|t| !t.is_empty()).map(String::from);
        Ok(Page { items, next })
    }

    async fn list_connected(
        &self,
        scope: &Scope,
        services: &[String],
        page_token: Option<&str>,
    ) -> CloudResult<Page<VpcEndpoint>> {
        let out = self
            .client(scope)
            .await?
            .describe_vpc_endpoints()
            .filters(filter("service-name", services.iter().cloned()))
            .filters(filter("vpc-endpoint-type", ["Interface"]))
            .max_results(1000)
            .set_next_token(page_token.map(String::from))
            .send()
            .await
            .map_err(|e| classify("DescribeVpcEndpoints", e))?;
        let items = out
            .vpc_endpoints()
            .iter()
            .map(endpoint_of)
            .filter(|e| e.state != EndpointState::Deleted)
            .collect();
        let next = out.next_token().filter(|t| !t.is_empty()).map(String::from);
        Ok(Page { items, next })
    }

    async fn describe_endpoints(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<Vec<VpcEndpoint>> {
        let client = self.client(scope).await?;
        let describe = |ids: Vec<String>| {
            let client = client.clone();
            async move {
                client
                    .describe_vpc_endpoints()
                    .set_vpc_endpoint_ids(Some(ids))
                    .send()
                    .await
                    .map_err(|e| classify("DescribeVpcEndpoints", e))
            }
        };
        match describe(ids.to_vec()).await {
            Ok(out) => Ok(out.vpc_endpoints().iter().map(endpoint_of).collect()),
            // One unknown ID fails the whole call: then ask one by one.
            Err(CloudError::NotFound(_)) if ids.len() > 1 => {
                let mut found = Vec::new();
                for id in ids {
                    match describe(vec![id.clone()]).await {
                        Ok(out) => found.extend(out.vpc_endpoints().iter().map(endpoint_of)),
                        Err(CloudError::NotFound(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(found)
            }
            Err(CloudError::NotFound(_)) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    async fn delete_endpoint(&self, scope: &Scope, endpoint_id: &str) -> CloudResult<()> {
        let out = self
            .client(scope)
            .await?
            .delete_vpc_endpoints()
            .vpc_endpoint_ids(endpoint_id)
            .send()
            .await
            .map_err(|e| classify("DeleteVpcEndpoints", e))?;
        // Per-item failures come back in `Unsuccessful`, not as an error of the call.
        match out.unsuccessful().first().and_then(|item| item.error()) {
            None => Ok(()),
            Some(e) => {
                let code = e.code().unwrap_or_default();
                let message = format!("{code}: {}", e.message().unwrap_or_default());
                if code.ends_with(".NotFound") {
                    Err(CloudError::NotFound(message))
                } else {
                    Err(CloudError::Permanent(message))
                }
            }
        }
    }

    async fn set_marks(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        tags: &BTreeMap<String, String>,
    ) -> CloudResult<()> {
        self.client(scope)
            .await?
            .create_tags()
            .resources(endpoint_id)
            .set_tags(Some(tags_of(tags)))
            .send()
            .await
            .map_err(|e| classify("CreateTags", e))?;
        Ok(())
    }

    async fn remove_marks(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        keys: &[String],
    ) -> CloudResult<()> {
        let tags = keys.iter().map(|k| Tag::builder().key(k).build()).collect();
        self.client(scope)
            .await?
            .delete_tags()
            .resources(endpoint_id)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| classify("DeleteTags", e))?;
        Ok(())
    }
}

impl Ec2 for AwsClient {
    async fn describe_vpc_attribute(
        &self,
        scope: &Scope,
        vpc_id: &str,
        attribute: VpcAttribute,
    ) -> CloudResult<Option<bool>> {
        let name = match attribute {
            VpcAttribute::EnableDnsSupport => VpcAttributeName::EnableDnsSupport,
            VpcAttribute::EnableDnsHostnames => VpcAttributeName::EnableDnsHostnames,
        };
        let answer = self
            .client(scope)
            .await?
            .describe_vpc_attribute()
            .vpc_id(vpc_id)
            .attribute(name)
            .send()
            .await;
        match answer {
            Ok(out) => {
                let value = match attribute {
                    VpcAttribute::EnableDnsSupport => out.enable_dns_support(),
                    VpcAttribute::EnableDnsHostnames => out.enable_dns_hostnames(),
                };
                Ok(Some(value.and_then(|v| v.value()).unwrap_or(false)))
            }
            Err(e) if e.code() == Some("InvalidVpcID.NotFound") => Ok(None),
            Err(e) => Err(classify("DescribeVpcAttribute", e)),
        }
    }

    async fn describe_subnets(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<BTreeMap<String, (String, String)>> {
        let out = self
            .client(scope)
            .await?
            .describe_subnets()
            .filters(filter("subnet-id", ids.iter().cloned()))
            .send()
            .await
            .map_err(|e| classify("DescribeSubnets", e))?;
        Ok(out
            .subnets()
            .iter()
            .filter_map(|s| {
                let id = s.subnet_id()?.to_string();
                Some((
                    id,
                    (
                        s.vpc_id()?.to_string(),
                        s.availability_zone_id()?.to_string(),
                    ),
                ))
            })
            .collect())
    }

    async fn describe_security_groups(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<BTreeMap<String, SecurityGroup>> {
        let out = self
            .client(scope)
            .await?
            .describe_security_groups()
            .filters(filter("group-id", ids.iter().cloned()))
            .send()
            .await
            .map_err(|e| classify("DescribeSecurityGroups", e))?;
        Ok(out
            .security_groups()
            .iter()
            .filter_map(|g| {
                let group = SecurityGroup {
                    vpc_id: g.vpc_id()?.to_string(),
                    ingress: g.ip_permissions().iter().map(rule_of).collect(),
                };
                Some((g.group_id()?.to_string(), group))
            })
            .collect())
    }

    async fn describe_vpcs(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<BTreeMap<String, Vec<String>>> {
        let out = self
            .client(scope)
            .await?
            .describe_vpcs()
            .filters(filter("vpc-id", ids.iter().cloned()))
            .send()
            .await
            .map_err(|e| classify("DescribeVpcs", e))?;
        Ok(out
            .vpcs()
            .iter()
            .filter_map(|v| {
                let mut cidrs: Vec<String> = v
                    .cidr_block_association_set()
                    .iter()
                    .filter_map(|a| a.cidr_block().map(String::from))
                    .collect();
                if cidrs.is_empty() {
                    cidrs.extend(v.cidr_block().map(String::from));
                }
                cidrs.extend(
                    v.ipv6_cidr_block_association_set()
                        .iter()
                        .filter_map(|a| a.ipv6_cidr_block().map(String::from)),
                );
                Some((v.vpc_id()?.to_string(), cidrs))
            })
            .collect())
    }

    async fn create_endpoint(
        &self,
        scope: &Scope,
        request: &CreateEndpoint,
    ) -> CloudResult<VpcEndpoint> {
        let tags = TagSpecification::builder()
            .resource_type(ResourceType::VpcEndpoint)
            .set_tags(Some(tags_of(&request.tags)))
            .build();
        let out = self
            .client(scope)
            .await?
            .create_vpc_endpoint()
            // The default is Gateway; private DNS can only be turned on after acceptance.
            .vpc_endpoint_type(VpcEndpointType::Interface)
            .private_dns_enabled(false)
            .vpc_id(&request.vpc_id)
            .service_name(&request.service_name)
            .set_subnet_ids(Some(request.subnet_ids.clone()))
            .set_security_group_ids(
                Some(request.security_group_ids.clone()).filter(|g| !g.is_empty()),
            )
            .client_token(&request.client_token)
            .tag_specifications(tags)
            .send()
            .await
            .map_err(|e| classify("CreateVpcEndpoint", e))?;
        out.vpc_endpoint().map(endpoint_of).ok_or_else(|| {
            CloudError::Transient("ec2:CreateVpcEndpoint answered without an endpoint".into())
        })
    }

    async fn modify_endpoint(&self, scope: &Scope, request: &ModifyEndpoint) -> CloudResult<()> {
        let some = |ids: &Vec<String>| Some(ids.clone()).filter(|v| !v.is_empty());
        self.client(scope)
            .await?
            .modify_vpc_endpoint()
            .vpc_endpoint_id(&request.endpoint_id)
            .set_add_subnet_ids(some(&request.add_subnet_ids))
            .set_remove_subnet_ids(some(&request.remove_subnet_ids))
            .set_add_security_group_ids(some(&request.add_security_group_ids))
            .set_remove_security_group_ids(some(&request.remove_security_group_ids))
            .set_private_dns_enabled(request.private_dns_enabled)
            .send()
            .await
            .map_err(|e| classify("ModifyVpcEndpoint", e))?;
        Ok(())
    }
}
