//! The fake's JSON against Microsoft's REST API spec for Microsoft.Network 2024-05-01.
//!
//! `tests/spec/network-2024-05-01.json` is a trimmed copy of the definitions used here, taken
//! from github.com/Azure/azure-rest-api-specs (paths and commits in its `_source`):
//! `specification/network/resource-manager/Microsoft.Network/Network/stable/2024-05-01/privateEndpoint.json`
//! at d9e04030cbe2cd397045df5a7f6700eab704b63e, and `network.json` (ea83a2a3e90c),
//! `networkInterface.json` (11ae4404233f), `virtualNetwork.json` (4e8108cc8dd6) and
//! `privateLinkService.json` (20fed252552e) under `.../Microsoft.Network/stable/2024-05-01/`.
//!
//! Checked: every property the fake emits is declared with that type (and, for enums, one of
//! the values), nothing the fake emits is a definition trimmed from the copy, required fields
//! are there, and read-only fields sent by a client are never taken.

mod common;

use std::time::Duration;

use common::*;
use fake_azure_network::{Fault, OpError, Options};
use serde_json::{Map, Value, json};

struct Spec {
    defs: Map<String, Value>,
    examples: Map<String, Value>,
}

impl Spec {
    fn load() -> Spec {
        let text = include_str!("spec/network-2024-05-01.json");
        let doc: Value = serde_json::from_str(text).unwrap();
        Spec {
            defs: doc["definitions"].as_object().unwrap().clone(),
            examples: doc["examples"].as_object().unwrap().clone(),
        }
    }

    fn def(&self, name: &str) -> &Value {
        self.defs
            .get(name)
            .unwrap_or_else(|| panic!("no definition {name}"))
    }

    /// Follows `$ref`s.
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => self.resolve(self.def(r.trim_start_matches("#/definitions/"))),
            None => schema,
        }
    }

    /// Properties and required names of a schema and of those it is `allOf`.
    fn members(&self, schema: &Value) -> (Map<String, Value>, Vec<String>) {
        let schema = self.resolve(schema);
        let mut properties = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut required: Vec<String> = schema["required"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        for parent in schema["allOf"].as_array().into_iter().flatten() {
            let (p, r) = self.members(parent);
            properties.extend(p);
            required.extend(r);
        }
        (properties, required)
    }

    /// Every way `value` departs from `schema`, with JSON paths.
    fn check(&self, value: &Value, schema: &Value, path: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if schema.get("x-trimmed").is_some() {
            errors.push(format!(
                "{path}: emits a definition trimmed from the spec copy"
            ));
            return;
        }
        let kind = schema["type"].as_str().unwrap_or("object");
        let ok = match kind {
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            _ => value.is_object(),
        };
        if !ok {
            errors.push(format!("{path}: {value} is not of type {kind}"));
            return;
        }
        if let Some(values) = schema["enum"].as_array()
            && !values.contains(value)
        {
            errors.push(format!("{path}: {value} is not one of {values:?}"));
        }
        match value {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.check(item, &schema["items"], &format!("{path}[{i}]"), errors);
                }
            }
            Value::Object(map) => {
                let (properties, required) = self.members(schema);
                for name in required.iter().filter(|r| !map.contains_key(*r)) {
                    errors.push(format!("{path}: required {name} missing"));
                }
                for (name, v) in map {
                    let at = format!("{path}.{name}");
                    match (properties.get(name), schema.get("additionalProperties")) {
                        (Some(p), _) => self.check(v, p, &at, errors),
                        (None, Some(extra)) => self.check(v, extra, &at, errors),
                        (None, None) => errors.push(format!("{at}: not declared in the spec")),
                    }
                }
            }
            _ => {}
        }
    }

    fn assert_matches(&self, value: &Value, definition: &str) {
        let mut errors = Vec::new();
        self.check(value, self.def(definition), definition, &mut errors);
        assert!(errors.is_empty(), "{errors:#?}\nin {value:#}");
    }

    /// Paths (`properties.provisioningState`, `properties.x[].etag`) of read-only fields.
    fn read_only_paths(&self, schema: &Value, prefix: &str, depth: usize, out: &mut Vec<String>) {
        if depth > 3 {
            return;
        }
        let (properties, _) = self.members(schema);
        for (name, p) in properties {
            let path = format!("{prefix}{name}");
            let resolved = self.resolve(&p);
            let read_only = p["readOnly"] == true || resolved["readOnly"] == true;
            if read_only {
                out.push(path);
            } else if resolved["type"] == "array" {
                self.read_only_paths(&resolved["items"], &format!("{path}[]."), depth + 1, out);
            } else if resolved.get("x-trimmed").is_none()
                && resolved["type"].as_str().is_none_or(|t| t == "object")
            {
                self.read_only_paths(resolved, &format!("{path}."), depth + 1, out);
            }
        }
    }
}

/// Sets `path` (with `[]` for "the first item") in `body` to a bogus value.
fn set_bogus(body: &mut Value, path: &str) {
    let mut at = body;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let (name, array) = match part.strip_suffix("[]") {
            Some(n) => (n, true),
            None => (*part, false),
        };
        let last = i == parts.len() - 1;
        if last && !array {
            at[name] = if at.get(name).is_some_and(Value::is_array) {
                json!([{"id": format!("bogus-{path}")}])
            } else {
                json!(format!("bogus-{path}"))
            };
            return;
        }
        if at.get(name).is_none_or(Value::is_null) {
            at[name] = if array { json!([{}]) } else { json!({}) };
        }
        at = if array {
            &mut at[name][0]
        } else {
            &mut at[name]
        };
    }
}

#[tokio::test]
async fn every_answer_is_declared_in_the_spec() {
    let spec = Spec::load();
    let env = start(Options::instant()).await;
    let mut body = endpoint_body("endpoints");
    body["properties"]["customNetworkInterfaceName"] = json!("pe-static-nic");
    body["properties"]["ipConfigurations"] =
        json!([{"name": "static", "properties": {"privateIPAddress": "10.0.1.50"}}]);
    let endpoint = env.create("pe-static", &body).await;
    spec.assert_matches(&endpoint, "PrivateEndpoint");
    let other = env.create("pe-dynamic", &endpoint_body("endpoints")).await;
    spec.assert_matches(&other, "PrivateEndpoint");
    for (key, field) in [
        ("id", "id"),
        ("name", "name"),
        ("type", "type"),
        ("location", "location"),
        ("etag", "etag"),
    ] {
        assert!(other[field].is_string(), "{key}: {other}");
    }
    let list = env
        .get(&env.arm(&format!(
            "/subscriptions/{SUB}/providers/Microsoft.Network/privateEndpoints"
        )))
        .await;
    spec.assert_matches(&list.body, "PrivateEndpointListResult");

    let nic_id = other["properties"]["networkInterfaces"][0]["id"]
        .as_str()
        .unwrap();
    let nic = env.get(&env.arm(nic_id)).await;
    assert_eq!(nic.status, 200);
    spec.assert_matches(&nic.body, "NetworkInterface");
    let vnet = env
        .get(&env.arm(&format!("/subscriptions/{SUB}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/prod-vnet")))
        .await;
    spec.assert_matches(&vnet.body, "VirtualNetwork");
    let subnet = env.get(&env.arm(&subnet("endpoints"))).await;
    spec.assert_matches(&subnet.body, "Subnet");
    assert_eq!(
        subnet.body["properties"]["privateEndpoints"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let subnets = env
        .get(&env.arm(&format!("/subscriptions/{SUB}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/prod-vnet/subnets")))
        .await;
    spec.assert_matches(&subnets.body, "SubnetListResult");

    // Operations: in progress, succeeded, failed.
    let slow = start(Options {
        operation_delay: Duration::from_millis(300),
        ..Options::instant()
    })
    .await;
    let put = slow
        .put(&slow.endpoint_url("pe"), &endpoint_body("endpoints"))
        .await;
    let op_url = put.header("azure-asyncoperation").to_string();
    spec.assert_matches(&slow.get(&op_url).await.body, "AzureAsyncOperationResult");
    spec.assert_matches(&slow.wait(&op_url).await, "AzureAsyncOperationResult");
    slow.fake().inject(Fault::FailOperation {
        error: OpError::new("InternalServerError", "An error occurred."),
    });
    let put = slow
        .put(&slow.endpoint_url("pe2"), &endpoint_body("endpoints"))
        .await;
    let failed = slow.wait(put.header("azure-asyncoperation")).await;
    assert_eq!(failed["status"], "Failed");
    spec.assert_matches(&failed, "AzureAsyncOperationResult");

    // Errors are CloudError (the spec's privateEndpoints operations name the flat `Error` as
    // their default response, but Resource Manager wraps it in `error`, as CloudError does).
    for answer in [
        env.get(&env.endpoint_url("missing")).await,
        env.put(&env.endpoint_url("bad"), &json!({"properties": {}}))
            .await,
        env.get(&format!(
            "{}/subscriptions/{SUB}/providers/Microsoft.Network/privateEndpoints",
            env.server.endpoint()
        ))
        .await,
    ] {
        assert!(answer.status >= 400);
        spec.assert_matches(&answer.body, "CloudError");
    }
}

#[tokio::test]
async fn read_only_fields_sent_by_a_client_are_never_taken() {
    let spec = Spec::load();
    let mut paths = Vec::new();
    spec.read_only_paths(spec.def("PrivateEndpoint"), "", 0, &mut paths);
    for expected in [
        "etag",
        "name",
        "type",
        "properties.provisioningState",
        "properties.networkInterfaces",
        "properties.manualPrivateLinkServiceConnections[].etag",
        "properties.manualPrivateLinkServiceConnections[].properties.provisioningState",
        "properties.ipConfigurations[].type",
    ] {
        assert!(
            paths.contains(&expected.to_string()),
            "{expected} in {paths:?}"
        );
    }
    // Paths into lists the body leaves empty would add items, not set fields.
    let settable: Vec<&String> = paths
        .iter()
        .filter(|p| {
            !p.starts_with("properties.ipConfigurations[]")
                && !p.starts_with("properties.privateLinkServiceConnections[]")
        })
        .collect();
    let env = start(Options::instant()).await;
    let mut body = endpoint_body("endpoints");
    for path in &settable {
        set_bogus(&mut body, path);
    }
    // Not read-only in the spec, but the consumer cannot approve its own connection.
    body["properties"]["manualPrivateLinkServiceConnections"][0]["properties"]["privateLinkServiceConnectionState"] =
        json!({"status": "Approved", "description": "bogus-self-approval"});
    body["id"] = json!("/subscriptions/bogus");
    let created = env.put(&env.endpoint_url("pe"), &body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let got = env.get(&env.endpoint_url("pe")).await.body;
    let text = got.to_string();
    assert!(
        !text.contains("bogus"),
        "a read-only field was taken: {got:#}"
    );
    spec.assert_matches(&got, "PrivateEndpoint");
    let state = &got["properties"]["manualPrivateLinkServiceConnections"][0]["properties"]["privateLinkServiceConnectionState"];
    assert_eq!(state["status"], "Pending");
    // And again on an update (a GET-modify-PUT sends them all back).
    let mut again = got.clone();
    for path in &settable {
        set_bogus(&mut again, path);
    }
    let updated = env.put(&env.endpoint_url("pe"), &again).await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert!(
        !updated.body.to_string().contains("bogus"),
        "{:#}",
        updated.body
    );
}

#[tokio::test]
async fn a_manual_connection_looks_like_the_specs_example() {
    let spec = Spec::load();
    let example = &spec.examples["PrivateEndpointGetForManualApproval"];
    spec.assert_matches(example, "PrivateEndpoint");
    let env = start(Options::instant()).await;
    let mut body = endpoint_body("endpoints");
    body["properties"]["manualPrivateLinkServiceConnections"][0]["properties"]["groupIds"] =
        json!(["groupIdFromResource"]);
    let got = env.create("pe", &body).await;
    let ours = &got["properties"]["manualPrivateLinkServiceConnections"][0];
    let theirs = &example["properties"]["manualPrivateLinkServiceConnections"][0];
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    for key in keys(&theirs["properties"]) {
        assert!(
            ours["properties"].get(&key).is_some(),
            "{key} missing: {ours:#}"
        );
    }
    assert_eq!(
        ours["properties"]["privateLinkServiceConnectionState"],
        theirs["properties"]["privateLinkServiceConnectionState"],
        "a new manual connection waits as the example's does"
    );
    // customNetworkInterfaceName is there when asked for, as in the example.
    for key in keys(&example["properties"])
        .iter()
        .filter(|k| *k != "customNetworkInterfaceName")
    {
        assert!(
            got["properties"].get(key).is_some(),
            "{key} missing: {got:#}"
        );
    }
    assert_eq!(
        got["properties"]["privateLinkServiceConnections"],
        json!([])
    );
    let nic = got["properties"]["networkInterfaces"][0]["id"]
        .as_str()
        .unwrap();
    assert!(
        nic.rsplit('/').next().unwrap().starts_with("pe.nic."),
        "named {{endpoint}}.nic.{{guid}} as the example's: {nic}"
    );
}

#[test]
fn the_checker_finds_undeclared_and_mistyped_fields() {
    let spec = Spec::load();
    let mut errors = Vec::new();
    let bad = json!({
        "name": 5,
        "colour": "red",
        "properties": {"provisioningState": "Creating", "networkInterfaces": [{"id": "x"}]},
        "extendedLocation": {"name": "edge"},
    });
    spec.check(
        &bad,
        spec.def("PrivateEndpoint"),
        "PrivateEndpoint",
        &mut errors,
    );
    let text = errors.join("\n");
    for expected in [
        "PrivateEndpoint.name: 5 is not of type string",
        "PrivateEndpoint.colour: not declared",
        "provisioningState: \"Creating\" is not one of",
        "PrivateEndpoint.extendedLocation: emits a definition trimmed",
    ] {
        assert!(text.contains(expected), "{expected} not in:\n{text}");
    }
    assert_eq!(errors.len(), 4, "{text}");
}
