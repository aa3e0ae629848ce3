//! `import --from-terraform-state`: the VPC endpoints and TiDB Cloud connections a Terraform
//! state holds, joined by endpoint ID. Pure: the state's text in, our values out.
//!
//! Two forms are read, told apart by their top-level keys:
//! - the state file itself (`terraform.tfstate`, `terraform state pull`): `version: 4`, a flat
//!   `resources` list whose entries carry their module path and `instances`;
//! - `terraform show -json`: `format_version: "1.x"`, a module tree under
//!   `values.root_module`, one entry per resource instance with its address already printed.
//!
//! Both become the same [`TerraformEstate`], so a user may hand us either.
//!
//! A state holds secrets (database passwords, keys) next to the IDs we want. So only the
//! attributes named here are read, every other resource is skipped without being looked
//! into, and no error repeats an attribute's value: it names the resource, the attribute
//! and the value's type.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{Map, Value};

/// The AWS provider's VPC endpoint (hashicorp/aws, `internal/service/ec2/vpc_endpoint.go`).
const ENDPOINT: &str = "aws_vpc_endpoint";
/// TiDB Cloud's record of it (tidbcloud/tidbcloud,
/// `internal/provider/dedicated_private_endpoint_connection_resource.go`).
const CONNECTION: &str = "tidbcloud_dedicated_private_endpoint_connection";

/// What a Terraform state says about private endpoints to TiDB Cloud.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TerraformEstate {
    /// Managed `aws_vpc_endpoint`s of type `Interface`, by address. Gateway endpoints (S3,
    /// DynamoDB) cannot reach TiDB Cloud and are left out without a word.
    pub endpoints: Vec<TfVpcEndpoint>,
    /// Managed `tidbcloud_dedicated_private_endpoint_connection`s, by address.
    pub connections: Vec<TfConnection>,
    /// Objects of those two types that are not imported, as Terraform prints them:
    /// data sources (`data.aws_vpc_endpoint.x`: read by this configuration, made elsewhere),
    /// `ADDRESS (tainted)` (the next apply replaces it) and
    /// `ADDRESS (deposed object KEY)` (left over from a create-before-destroy). Sorted.
    pub ignored: Vec<String>,
}

/// One interface endpoint, with only the fields a document needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TfVpcEndpoint {
    /// Terraform's address, e.g. `module.net.aws_vpc_endpoint.tidb["orders"]`: how the user
    /// finds it in their configuration (to `terraform state rm` it once imported).
    pub address: String,
    /// `vpce-…`.
    pub id: String,
    /// The endpoint service it connects to (`com.amazonaws.vpce.REGION.vpce-svc-…`): TiDB
    /// Cloud's when it is a node group's private link service.
    pub service_name: String,
    pub vpc_id: String,
    /// The AWS provider v6's `region` attribute, or else the region of the `arn`. None only
    /// when the state has neither.
    pub region: Option<String>,
    /// The owning AWS account's ID (12 digits), from the `arn`, or else `owner_id`. Not a
    /// name from `aws.accounts`: mapping one to the other is the caller's job.
    pub account_id: Option<String>,
    /// Sorted (the provider stores sets, whose order means nothing).
    pub subnet_ids: Vec<String>,
    /// Sorted.
    pub security_group_ids: Vec<String>,
    pub private_dns_enabled: bool,
    /// `tags_all` (what the endpoint carries, the provider's `default_tags` included, as
    /// DescribeVpcEndpoints shows it), or `tags` where a state has no `tags_all`.
    pub tags: BTreeMap<String, String>,
}

/// One private endpoint connection, with only the fields a document needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TfConnection {
    pub address: String,
    pub cluster_id: String,
    pub node_group_id: String,
    /// For AWS the VPC endpoint's ID (the provider's documentation says so); for Google
    /// Cloud the Private Service Connect endpoint's.
    pub endpoint_id: String,
    /// `private_endpoint_connection_id` (computed: set once TiDB Cloud answered).
    pub connection_id: Option<String>,
    /// Set for Azure only, by the provider's documentation.
    pub private_ip_address: Option<String>,
    /// `endpoint_state`: `PENDING`, `ACTIVE`, `FAILED`, … as TiDB Cloud said at the last
    /// refresh.
    pub state: Option<String>,
    /// `private_link_service_name`: the node group's service, to tell which endpoints in the
    /// state point at TiDB Cloud even where no connection was made for them.
    pub service_name: Option<String>,
    /// `cloud_provider`: `aws`, `gcp` or `azure`.
    pub cloud_provider: Option<String>,
}

/// An endpoint and the connections naming it (normally one; none when it was never
/// registered with TiDB Cloud through Terraform; more than one is a state to untangle).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TfPair<'a> {
    pub endpoint: &'a TfVpcEndpoint,
    pub connections: Vec<&'a TfConnection>,
}

/// [`join`]'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TfJoined<'a> {
    /// One per endpoint, in the estate's order.
    pub pairs: Vec<TfPair<'a>>,
    /// Connections whose endpoint is not a managed interface endpoint of this state (made by
    /// hand, in another state, only read by a data source, or a Google Cloud one).
    pub unjoined: Vec<&'a TfConnection>,
}

/// Why a state could not be read. No variant carries an attribute's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TerraformError {
    /// The text is not JSON (a truncated copy, an HCL file, a binary plan).
    #[error("the state is not valid JSON: {reason} at line {line}, column {column}")]
    Json {
        reason: String,
        line: usize,
        column: usize,
    },
    /// JSON, but neither form of state.
    #[error("this is not a Terraform state: {0}")]
    NotAState(&'static str),
    /// A state file of a format other than 4 (Terraform 0.11 wrote 3).
    #[error(
        "Terraform state format version {found}{written_by} is not supported: privatelinkd reads \
         format version 4 (Terraform 0.12 and later) and `terraform show -json`; a current \
         Terraform prints this state in the latter form: `terraform init && terraform show -json`"
    )]
    UnsupportedVersion {
        found: String,
        /// ` (written by Terraform 0.11.14)`, or empty.
        written_by: String,
    },
    /// `terraform show -json` output of a format other than 1.x.
    #[error(
        "`terraform show -json` format version {found} is not supported: privatelinkd reads 1.x"
    )]
    UnsupportedFormat { found: String },
    /// `terraform show -json PLANFILE`: what would be, not what is.
    #[error(
        "this is a plan (`terraform show -json PLANFILE`), not a state: give `terraform show \
         -json` with no plan file, or the state file"
    )]
    Plan,
    /// The state's own structure is broken where a resource we read lives.
    #[error("{at}: {problem}")]
    Malformed { at: String, problem: String },
    /// An attribute we need is missing or is not what the provider writes.
    #[error("{address}: attribute `{attribute}` {problem}")]
    Attribute {
        address: String,
        attribute: &'static str,
        problem: Problem,
    },
}

/// What is wrong with an attribute, in words that never include its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Absent or null.
    Missing,
    /// An empty string where an ID belongs.
    Empty,
    /// JSON's type of the value, not the value.
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    /// Of the right type, but not of the expected form (the form is said).
    NotA(&'static str),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing => f.write_str("is missing"),
            Problem::Empty => f.write_str("is empty"),
            Problem::WrongType { expected, found } => write!(f, "is {found}, not {expected}"),
            Problem::NotA(form) => write!(f, "is not {form}"),
        }
    }
}

type Result<T> = std::result::Result<T, TerraformError>;

/// Reads a state in either form (see the module documentation).
pub fn parse_state(text: &str) -> Result<TerraformEstate> {
    let doc: Value = serde_json::from_str(text).map_err(json_error)?;
    let Value::Object(top) = &doc else {
        return Err(TerraformError::NotAState(
            "its JSON is not an object (a state is one)",
        ));
    };
    let objects = if top.contains_key("format_version") {
        objects_shown(top)?
    } else if let Some(version) = top.get("version") {
        objects_v4(top, version)?
    } else {
        return Err(TerraformError::NotAState(
            "it has neither `version` (a state file) nor `format_version` (`terraform show -json`)",
        ));
    };
    collect(objects)
}

/// Pairs each endpoint with the connections whose `endpoint_id` is its ID.
pub fn join(estate: &TerraformEstate) -> TfJoined<'_> {
    let ids: BTreeSet<&str> = estate.endpoints.iter().map(|e| e.id.as_str()).collect();
    let (known, unjoined): (Vec<&TfConnection>, Vec<&TfConnection>) = estate
        .connections
        .iter()
        .partition(|c| ids.contains(c.endpoint_id.as_str()));
    let pairs = estate
        .endpoints
        .iter()
        .map(|endpoint| TfPair {
            endpoint,
            // The same endpoint at two addresses (imported twice) gets its connections twice.
            connections: known
                .iter()
                .copied()
                .filter(|c| c.endpoint_id == endpoint.id)
                .collect(),
        })
        .collect();
    TfJoined { pairs, unjoined }
}

/// serde_json's message without its location, which the variant carries as numbers. (Parsing
/// into a `Value` only fails on syntax, so the message names no part of the text.)
fn json_error(e: serde_json::Error) -> TerraformError {
    let text = e.to_string();
    let reason = match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    };
    TerraformError::Json {
        reason,
        line: e.line(),
        column: e.column(),
    }
}

/// Which of our two resource types an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Endpoint,
    Connection,
}

impl Kind {
    fn of(resource_type: &str) -> Option<Kind> {
        match resource_type {
            ENDPOINT => Some(Kind::Endpoint),
            CONNECTION => Some(Kind::Connection),
            _ => None,
        }
    }
}

/// One resource instance object of ours, from either form, before its attributes are read.
struct Object<'a> {
    kind: Kind,
    data: bool,
    tainted: bool,
    deposed: Option<&'a str>,
    /// With the object's address.
    attrs: Attrs<'a>,
}

/// Format version 4 (`internal/states/statefile/version4.go`): `resources[]` with `module`
/// (absent for the root), `mode`, `type`, `name` and `instances[]`, each with `index_key`,
/// `status`, `deposed` and `attributes`.
fn objects_v4<'a>(top: &'a Map<String, Value>, version: &Value) -> Result<Vec<Object<'a>>> {
    match version.as_u64() {
        Some(4) => {}
        Some(n) => {
            return Err(TerraformError::UnsupportedVersion {
                found: n.to_string(),
                written_by: match top.get("terraform_version").and_then(Value::as_str) {
                    Some(v) => format!(" (written by Terraform {v})"),
                    None => String::new(),
                },
            });
        }
        None => {
            return Err(TerraformError::NotAState(
                "its `version` is not a whole number",
            ));
        }
    }
    let mut out = Vec::new();
    for (i, resource) in list(top.get("resources"), || "resources".into())?
        .iter()
        .enumerate()
    {
        let at = || format!("resources[{i}]");
        let resource = object(resource, at)?;
        let Some(kind) = Kind::of(text_field(resource, "type", at)?) else {
            continue;
        };
        let name = text_field(resource, "name", at)?;
        let data = is_data(text_field(resource, "mode", at)?, at)?;
        let module = optional_field(resource, "module", at)?.unwrap_or_default();
        let base = resource_address(module, data, kind, name);
        for (j, instance) in list(resource.get("instances"), || format!("{base}: instances"))?
            .iter()
            .enumerate()
        {
            let at = || format!("{base}: instances[{j}]");
            let instance = object(instance, at)?;
            let address = format!("{base}{}", instance_key(instance.get("index_key"), at)?);
            let tainted = match optional_field(instance, "status", at)? {
                None => false,
                Some("tainted") => true,
                Some(_) => {
                    return Err(malformed(at(), "`status` is neither empty nor \"tainted\""));
                }
            };
            if instance.get("attributes").is_none_or(Value::is_null)
                && instance.contains_key("attributes_flat")
            {
                return Err(malformed(
                    address,
                    "its attributes are in Terraform 0.11's flat form: a `terraform \
                     apply -refresh-only` with Terraform 0.12 or later rewrites them",
                ));
            }
            out.push(Object {
                kind,
                data,
                tainted,
                deposed: optional_field(instance, "deposed", at)?,
                attrs: attributes(instance, "attributes", address)?,
            });
        }
    }
    Ok(out)
}

/// `terraform show -json` (`internal/command/jsonstate/state.go`): `values.root_module` with
/// `resources[]` (`address`, `mode`, `type`, `name`, `index`, `values`, `tainted`,
/// `deposed_key`) and `child_modules[]` of the same shape, each with its `address`.
fn objects_shown(top: &Map<String, Value>) -> Result<Vec<Object<'_>>> {
    let Some(Value::String(format)) = top.get("format_version") else {
        return Err(TerraformError::NotAState(
            "its `format_version` is not a string",
        ));
    };
    if format.split('.').next() != Some("1") {
        return Err(TerraformError::UnsupportedFormat {
            found: format.clone(),
        });
    }
    let values = match top.get("values") {
        Some(Value::Object(values)) => values,
        // An empty state is shown as `{"format_version": "1.0"}` and nothing else.
        None | Some(Value::Null)
            if ["planned_values", "resource_changes", "prior_state"]
                .iter()
                .any(|k| top.contains_key(*k)) =>
        {
            return Err(TerraformError::Plan);
        }
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(other) => {
            return Err(malformed(
                "values",
                format!("is {}, not an object", type_name(other)),
            ));
        }
    };
    let mut out = Vec::new();
    if let Some(root) = values.get("root_module").filter(|v| !v.is_null()) {
        let at = "values.root_module".to_owned();
        shown_module(object(root, || at.clone())?, &at, &mut out)?;
    }
    Ok(out)
}

/// One module of the tree; `at` is its JSON path, for errors.
fn shown_module<'a>(
    module: &'a Map<String, Value>,
    at: &str,
    out: &mut Vec<Object<'a>>,
) -> Result<()> {
    let module_address = optional_field(module, "address", || at.to_owned())?.unwrap_or_default();
    let resources = list(module.get("resources"), || format!("{at}.resources"))?;
    for (i, resource) in resources.iter().enumerate() {
        let at = || format!("{at}.resources[{i}]");
        let resource = object(resource, at)?;
        let Some(kind) = Kind::of(text_field(resource, "type", at)?) else {
            continue;
        };
        let data = is_data(text_field(resource, "mode", at)?, at)?;
        // Terraform printed the address; built from the parts only if it did not.
        let address = match optional_field(resource, "address", at)? {
            Some(address) => address.to_owned(),
            None => {
                let name = text_field(resource, "name", at)?;
                let key = instance_key(resource.get("index"), at)?;
                format!(
                    "{}{key}",
                    resource_address(module_address, data, kind, name)
                )
            }
        };
        out.push(Object {
            kind,
            data,
            tainted: matches!(resource.get("tainted"), Some(Value::Bool(true))),
            deposed: optional_field(resource, "deposed_key", at)?,
            attrs: attributes(resource, "values", address)?,
        });
    }
    let children = list(module.get("child_modules"), || {
        format!("{at}.child_modules")
    })?;
    for (i, child) in children.iter().enumerate() {
        let at = format!("{at}.child_modules[{i}]");
        shown_module(object(child, || at.clone())?, &at, out)?;
    }
    Ok(())
}

/// Sorts the objects into the estate: what is imported, what is worth a word, what not.
fn collect(objects: Vec<Object<'_>>) -> Result<TerraformEstate> {
    let mut estate = TerraformEstate::default();
    let mut ignored = BTreeSet::new();
    for object in objects {
        let current = !object.data && !object.tainted && object.deposed.is_none();
        if object.kind == Kind::Endpoint {
            // Gateway endpoints are silent whatever their state. Only a current managed one
            // must say its type; of the others, one that does not is mentioned.
            let interface = if current {
                object.attrs.text("vpc_endpoint_type")? == "Interface"
            } else {
                object
                    .attrs
                    .lenient_text("vpc_endpoint_type")
                    .is_none_or(|t| t == "Interface")
            };
            if !interface {
                continue;
            }
        }
        if current {
            match object.kind {
                Kind::Endpoint => estate.endpoints.push(endpoint(&object.attrs)?),
                Kind::Connection => estate.connections.push(connection(&object.attrs)?),
            }
        } else if let Some(key) = object.deposed {
            ignored.insert(format!("{} (deposed object {key})", object.attrs.address));
        } else if object.tainted {
            ignored.insert(format!("{} (tainted)", object.attrs.address));
        } else {
            ignored.insert(object.attrs.address);
        }
    }
    estate.endpoints.sort_by(|a, b| a.address.cmp(&b.address));
    estate.connections.sort_by(|a, b| a.address.cmp(&b.address));
    estate.ignored = ignored.into_iter().collect();
    Ok(estate)
}

fn endpoint(attrs: &Attrs<'_>) -> Result<TfVpcEndpoint> {
    let arn = match attrs.optional_text("arn")? {
        Some(arn) => Some(
            endpoint_arn(&arn)
                .ok_or_else(|| attrs.error("arn", Problem::NotA("an EC2 VPC endpoint ARN")))?,
        ),
        None => None,
    };
    let (arn_region, arn_account) = arn.unzip();
    Ok(TfVpcEndpoint {
        address: attrs.address.clone(),
        id: attrs.text("id")?,
        service_name: attrs.text("service_name")?,
        vpc_id: attrs.text("vpc_id")?,
        region: attrs.optional_text("region")?.or(arn_region),
        account_id: match arn_account {
            Some(account) => Some(account),
            None => attrs.optional_text("owner_id")?,
        },
        subnet_ids: attrs.texts("subnet_ids")?,
        security_group_ids: attrs.texts("security_group_ids")?,
        private_dns_enabled: attrs.boolean("private_dns_enabled")?,
        tags: match attrs.text_map("tags_all")? {
            Some(tags) => tags,
            None => attrs.text_map("tags")?.unwrap_or_default(),
        },
    })
}

fn connection(attrs: &Attrs<'_>) -> Result<TfConnection> {
    Ok(TfConnection {
        address: attrs.address.clone(),
        cluster_id: attrs.text("cluster_id")?,
        node_group_id: attrs.text("node_group_id")?,
        endpoint_id: attrs.text("endpoint_id")?,
        connection_id: attrs.optional_text("private_endpoint_connection_id")?,
        private_ip_address: attrs.optional_text("private_ip_address")?,
        state: attrs.optional_text("endpoint_state")?,
        service_name: attrs.optional_text("private_link_service_name")?,
        cloud_provider: attrs.optional_text("cloud_provider")?,
    })
}

/// `arn:PARTITION:ec2:REGION:ACCOUNT:vpc-endpoint/vpce-…` -> (region, account). Any
/// partition (`aws`, `aws-cn`, `aws-us-gov`).
fn endpoint_arn(arn: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", partition, "ec2", region, account, resource]
            if !partition.is_empty()
                && !region.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && resource.starts_with("vpc-endpoint/vpce-") =>
        {
            Some(((*region).to_owned(), (*account).to_owned()))
        }
        _ => None,
    }
}

/// One object's attributes, and its address to name in errors.
struct Attrs<'a> {
    address: String,
    map: Option<&'a Map<String, Value>>,
}

impl Attrs<'_> {
    /// The value, when present and not null (show -json writes absent values as null).
    fn get(&self, name: &str) -> Option<&Value> {
        self.map?.get(name).filter(|v| !v.is_null())
    }

    fn error(&self, attribute: &'static str, problem: Problem) -> TerraformError {
        TerraformError::Attribute {
            address: self.address.clone(),
            attribute,
            problem,
        }
    }

    fn wrong(
        &self,
        attribute: &'static str,
        expected: &'static str,
        found: &Value,
    ) -> TerraformError {
        self.error(
            attribute,
            Problem::WrongType {
                expected,
                found: type_name(found),
            },
        )
    }

    /// A string that must be there and not be empty.
    fn text(&self, name: &'static str) -> Result<String> {
        match self.optional_text(name)? {
            Some(s) => Ok(s),
            None if self.get(name).is_some() => Err(self.error(name, Problem::Empty)),
            None => Err(self.error(name, Problem::Missing)),
        }
    }

    /// A string; absent, null and empty are None (the providers write "" for "not set").
    fn optional_text(&self, name: &'static str) -> Result<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.wrong(name, "a string", other)),
        }
    }

    /// A string if it is one, for objects we only mention.
    fn lenient_text(&self, name: &str) -> Option<&str> {
        self.get(name)?.as_str()
    }

    fn boolean(&self, name: &'static str) -> Result<bool> {
        match self.get(name) {
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(self.wrong(name, "a boolean", other)),
            None => Err(self.error(name, Problem::Missing)),
        }
    }

    /// A list (or set) of strings, sorted; absent or null is empty.
    fn texts(&self, name: &'static str) -> Result<Vec<String>> {
        let Some(value) = self.get(name) else {
            return Ok(Vec::new());
        };
        let Value::Array(items) = value else {
            return Err(self.wrong(name, "a list of strings", value));
        };
        let mut out = items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                _ => Err(self.error(
                    name,
                    Problem::WrongType {
                        expected: "a list of strings",
                        found: "a list holding something else",
                    },
                )),
            })
            .collect::<Result<Vec<String>>>()?;
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// A map of strings; None when absent or null.
    fn text_map(&self, name: &'static str) -> Result<Option<BTreeMap<String, String>>> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let Value::Object(map) = value else {
            return Err(self.wrong(name, "a map of strings", value));
        };
        map.iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(self.error(
                    name,
                    Problem::WrongType {
                        expected: "a map of strings",
                        found: "a map holding something else",
                    },
                )),
            })
            .collect::<Result<BTreeMap<_, _>>>()
            .map(Some)
    }
}

/// JSON's type of a value, for messages that must not show the value itself.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn malformed(at: impl Into<String>, problem: impl Into<String>) -> TerraformError {
    TerraformError::Malformed {
        at: at.into(),
        problem: problem.into(),
    }
}

fn object(value: &Value, at: impl Fn() -> String) -> Result<&Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(malformed(
            at(),
            format!("is {}, not an object", type_name(other)),
        )),
    }
}

/// A list; absent or null is empty (Terraform omits empty lists).
fn list(value: Option<&Value>, at: impl Fn() -> String) -> Result<&[Value]> {
    match value {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(malformed(
            at(),
            format!("is {}, not a list", type_name(other)),
        )),
    }
}

/// A structural string field (not an attribute: `type`, `mode`, `module`, …).
fn text_field<'a>(
    map: &'a Map<String, Value>,
    name: &str,
    at: impl Fn() -> String,
) -> Result<&'a str> {
    match map.get(name) {
        Some(Value::String(s)) => Ok(s),
        None => Err(malformed(at(), format!("`{name}` is missing"))),
        Some(other) => Err(malformed(
            at(),
            format!("`{name}` is {}, not a string", type_name(other)),
        )),
    }
}

/// A structural string field that may be absent; absent, null and empty are None.
fn optional_field<'a>(
    map: &'a Map<String, Value>,
    name: &str,
    at: impl Fn() -> String,
) -> Result<Option<&'a str>> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => Ok(Some(text_field(map, name, at)?).filter(|s| !s.is_empty())),
    }
}

/// An instance's attributes (`attributes` in a state file, `values` in show -json).
fn attributes<'a>(map: &'a Map<String, Value>, name: &str, address: String) -> Result<Attrs<'a>> {
    match map.get(name) {
        Some(Value::Object(attrs)) => Ok(Attrs {
            address,
            map: Some(attrs),
        }),
        None | Some(Value::Null) => Ok(Attrs { address, map: None }),
        Some(other) => Err(malformed(
            address,
            format!("`{name}` is {}, not an object", type_name(other)),
        )),
    }
}

fn is_data(mode: &str, at: impl Fn() -> String) -> Result<bool> {
    match mode {
        "managed" => Ok(false),
        "data" => Ok(true),
        _ => Err(malformed(
            at(),
            "`mode` is neither \"managed\" nor \"data\"",
        )),
    }
}

/// `module.a.module.b.` + `data.` for a data source + `type.name`.
fn resource_address(module: &str, data: bool, kind: Kind, name: &str) -> String {
    let resource_type = match kind {
        Kind::Endpoint => ENDPOINT,
        Kind::Connection => CONNECTION,
    };
    let module = if module.is_empty() {
        String::new()
    } else {
        format!("{module}.")
    };
    let data = if data { "data." } else { "" };
    format!("{module}{data}{resource_type}.{name}")
}

/// `[0]` for `count`, `["key"]` for `for_each`, nothing for neither.
fn instance_key(key: Option<&Value>, at: impl Fn() -> String) -> Result<String> {
    match key {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(format!("[{}]", quoted(s))),
        Some(Value::Number(n)) => n
            .as_u64()
            // A whole number written as a float (`1.0`) is still a `count` index.
            .or_else(|| {
                n.as_f64()
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < 9e15)
                    .map(|f| f as u64)
            })
            .map(|n| format!("[{n}]"))
            .ok_or_else(|| malformed(at(), "the instance key is a number but not a count index")),
        Some(other) => Err(malformed(
            at(),
            format!(
                "the instance key is {}, not a number or a string",
                type_name(other)
            ),
        )),
    }
}

/// A `for_each` key as Terraform prints it in an address: an HCL string, so that the address
/// can be pasted into `terraform state rm`. Escapes `\n`, `\r`, `\t`, `"`, `\`, doubles the
/// `$` or `%` of `${` and `%{`, and writes characters that do not print as `\uXXXX` or
/// `\UXXXXXXXX`. What does not print is Go's `unicode.IsPrint`'s opposite, approximated
/// without Unicode tables: control and format characters, private use, and every space but
/// ASCII's (code points not yet assigned print here, and not in Terraform).
fn quoted(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 2);
    out.push('"');
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' | '%' => {
                out.push(c);
                if chars.peek() == Some(&'{') {
                    out.push(c);
                }
            }
            c if !prints(c) => {
                // Writing to a String cannot fail.
                let _ = match u32::from(c) {
                    code @ ..0x10000 => write!(out, "\\u{code:04x}"),
                    code => write!(out, "\\U{code:08x}"),
                };
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn prints(c: char) -> bool {
    let format_or_private = matches!(
        u32::from(c),
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x890..=0x891 | 0x8E2 | 0x180E
            | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
            | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F
            | 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD
    );
    c == ' ' || !(c.is_control() || c.is_whitespace() || format_or_private)
}

#[cfg(test)]
mod tests;
