//! The IAM policy: examples/iam-policy.json allows every DynamoDB call the lease and the
//! ledger make.

use std::collections::BTreeSet;

use super::TABLE;

/// DynamoDB operations as the SDK's client calls them, and the IAM actions each needs. A
/// transaction needs those of its parts (AWS: "Using IAM with DynamoDB transactions"), found
/// below by their builders.
const OPERATIONS: [(&str, &[&str]); 17] = [
    (".describe_table()", &["DescribeTable"]),
    (".create_table()", &["CreateTable"]),
    (".update_table()", &["UpdateTable"]),
    (".delete_table()", &["DeleteTable"]),
    (".get_item()", &["GetItem"]),
    (".put_item()", &["PutItem"]),
    (".update_item()", &["UpdateItem"]),
    (".delete_item()", &["DeleteItem"]),
    (".batch_get_item()", &["BatchGetItem"]),
    (".batch_write_item()", &["BatchWriteItem"]),
    (".query()", &["Query"]),
    (".scan()", &["Scan"]),
    (".transact_write_items()", &[]),
    (".transact_get_items()", &[]),
    ("ConditionCheck::builder()", &["ConditionCheckItem"]),
    ("Update::builder()", &["UpdateItem"]),
    ("Put::builder()", &["PutItem"]),
];

/// A policy statement's `Resource` or `Action`: one string or a list of them.
fn strings(value: &serde_json::Value) -> Vec<&str> {
    match value {
        serde_json::Value::String(s) => vec![s.as_str()],
        serde_json::Value::Array(a) => a.iter().filter_map(|v| v.as_str()).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn ledger_group_the_iam_policy_allows_every_dynamodb_call_of_the_lease_and_the_ledger() {
    let policy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("examples/iam-policy.json").unwrap())
            .unwrap();
    let mut allowed = BTreeSet::new();
    for statement in policy["Statement"].as_array().unwrap() {
        let resources = strings(&statement["Resource"]);
        let actions = strings(&statement["Action"]);
        if statement["Effect"] == "Allow"
            && resources
                .iter()
                .any(|r| *r == "*" || r.ends_with(&format!(":table/{TABLE}")))
        {
            allowed.extend(
                actions
                    .iter()
                    .filter_map(|a| a.strip_prefix("dynamodb:"))
                    .map(String::from),
            );
        }
    }
    let mut needed = BTreeSet::new();
    for file in [
        "src/lease/store.rs",
        "src/ledger/dynamo.rs",
        "src/cli/state.rs",
    ] {
        let code = std::fs::read_to_string(file).unwrap();
        for (call, actions) in OPERATIONS {
            if code.contains(call) {
                needed.extend(actions.iter().map(|a| a.to_string()));
            }
        }
    }
    // What the lease and the ledger are known to call, so a rename of the calls above cannot
    // make this test pass on nothing.
    for known in [
        "DescribeTable",
        "CreateTable",
        "GetItem",
        "PutItem",
        "UpdateItem",
        "BatchGetItem",
        "ConditionCheckItem",
    ] {
        assert!(needed.contains(known), "{known} not found in the sources");
    }
    let missing: Vec<&String> = needed.difference(&allowed).collect();
    assert!(
        missing.is_empty(),
        "examples/iam-policy.json does not allow dynamodb:{missing:?} on table/{TABLE}"
    );
}
