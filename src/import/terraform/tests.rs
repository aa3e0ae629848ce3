//! The Terraform state reader against state files that follow the documented formats
//! (`tests/fixtures/terraform/`).

use super::*;

const ROOT: &str = include_str!("../../../tests/fixtures/terraform/v4_root.json");
const MODULES: &str = include_str!("../../../tests/fixtures/terraform/v4_modules.json");
const SHOWN: &str = include_str!("../../../tests/fixtures/terraform/show_modules.json");
const V3: &str = include_str!("../../../tests/fixtures/terraform/v3.json");
const TRUNCATED: &str = include_str!("../../../tests/fixtures/terraform/truncated.json");

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn addresses<T>(items: &[T], address: impl Fn(&T) -> &str) -> Vec<&str> {
    items.iter().map(address).collect()
}

#[test]
fn a_root_module_state_gives_its_interface_endpoint_and_connection() {
    let estate = parse_state(ROOT).unwrap();
    assert_eq!(
        estate.endpoints,
        vec![TfVpcEndpoint {
            address: "aws_vpc_endpoint.tidb".into(),
            id: "vpce-01a2b3c4d5e6f7089".into(),
            service_name: "com.amazonaws.vpce.us-west-2.vpce-svc-0c86a47e9b1d2f350".into(),
            vpc_id: "vpc-0a2c4e6f8b1d3a5c7".into(),
            // Provider v5: no `region` attribute, the ARN's.
            region: Some("us-west-2".into()),
            account_id: Some("123456789012".into()),
            subnet_ids: strings(&[
                "subnet-03f1c2d4e5a6b7c81",
                "subnet-07e9d8c6b5a4f3e21",
                "subnet-0b2d4f6a8c1e3d5f7",
            ]),
            security_group_ids: strings(&["sg-0d1c2b3a4f5e6d7c8"]),
            private_dns_enabled: true,
            tags: BTreeMap::from([("Name".into(), "tidb-orders".into())]),
        }]
    );
    assert_eq!(
        estate.connections,
        vec![TfConnection {
            address: "tidbcloud_dedicated_private_endpoint_connection.tidb".into(),
            cluster_id: "10526169212047650314".into(),
            node_group_id: "1934178235447234560".into(),
            endpoint_id: "vpce-01a2b3c4d5e6f7089".into(),
            connection_id: Some("1934178235447239700".into()),
            private_ip_address: None,
            state: Some("ACTIVE".into()),
            service_name: Some("com.amazonaws.vpce.us-west-2.vpce-svc-0c86a47e9b1d2f350".into()),
            cloud_provider: Some("aws".into()),
        }]
    );
    // The Gateway endpoint, the VPC, the security group, the cluster and the caller
    // identity data source are not worth a word.
    assert!(estate.ignored.is_empty(), "{:?}", estate.ignored);
    let joined = join(&estate);
    assert_eq!(joined.pairs.len(), 1);
    assert_eq!(joined.pairs[0].connections, vec![&estate.connections[0]]);
    assert!(joined.unjoined.is_empty());
}

#[test]
fn modules_count_and_for_each_give_terraforms_addresses() {
    let estate = parse_state(MODULES).unwrap();
    assert_eq!(
        addresses(&estate.endpoints, |e| &e.address),
        [
            "module.net.aws_vpc_endpoint.tidb[0]",
            "module.net.aws_vpc_endpoint.tidb[1]",
            r#"module.net.module.tidb.aws_vpc_endpoint.tidb["orders"]"#,
            r#"module.net.module.tidb.aws_vpc_endpoint.tidb["reports \"eu\""]"#,
        ]
    );
    assert_eq!(
        addresses(&estate.connections, |c| &c.address),
        [
            "module.db.tidbcloud_dedicated_private_endpoint_connection.tidb[0]",
            r#"module.net.module.tidb.tidbcloud_dedicated_private_endpoint_connection.this["orders"]"#,
            r#"module.net.module.tidb.tidbcloud_dedicated_private_endpoint_connection.this["reports \"eu\""]"#,
            "tidbcloud_dedicated_private_endpoint_connection.orphan",
        ]
    );
    assert_eq!(
        estate.ignored,
        [
            "data.aws_vpc_endpoint.legacy",
            "module.net.aws_vpc_endpoint.tidb[0] (deposed object 5d3f9a21)",
            r#"module.net.module.tidb.aws_vpc_endpoint.tidb["billing"] (tainted)"#,
        ]
    );
}

#[test]
fn provider_v6_region_attribute_and_sorted_sets() {
    let estate = parse_state(MODULES).unwrap();
    let reports = &estate.endpoints[3];
    assert_eq!(reports.region.as_deref(), Some("eu-west-1"));
    assert_eq!(reports.account_id.as_deref(), Some("123456789012"));
    // `tags` is null; `tags_all` has the provider's default tags.
    assert_eq!(
        reports.tags,
        BTreeMap::from([("managed-by".into(), "terraform".into())])
    );
    let orders = &estate.endpoints[2];
    assert_eq!(
        orders.subnet_ids,
        strings(&["subnet-0aa11bb22cc33dd44", "subnet-0ee55ff66aa77bb88"])
    );
    assert!(!estate.endpoints[1].private_dns_enabled);
    assert!(estate.endpoints[1].security_group_ids.is_empty());
}

#[test]
fn show_json_of_the_same_state_reads_the_same() {
    assert_eq!(parse_state(SHOWN).unwrap(), parse_state(MODULES).unwrap());
}

#[test]
fn join_pairs_endpoints_and_lists_connections_without_one() {
    let estate = parse_state(MODULES).unwrap();
    let joined = join(&estate);
    let pairs: Vec<(&str, Vec<&str>)> = joined
        .pairs
        .iter()
        .map(|p| {
            (
                p.endpoint.address.as_str(),
                p.connections.iter().map(|c| c.address.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            (
                "module.net.aws_vpc_endpoint.tidb[0]",
                vec!["module.db.tidbcloud_dedicated_private_endpoint_connection.tidb[0]"]
            ),
            // Made, never registered with TiDB Cloud.
            ("module.net.aws_vpc_endpoint.tidb[1]", vec![]),
            (
                r#"module.net.module.tidb.aws_vpc_endpoint.tidb["orders"]"#,
                vec![
                    r#"module.net.module.tidb.tidbcloud_dedicated_private_endpoint_connection.this["orders"]"#
                ]
            ),
            (
                r#"module.net.module.tidb.aws_vpc_endpoint.tidb["reports \"eu\""]"#,
                vec![
                    r#"module.net.module.tidb.tidbcloud_dedicated_private_endpoint_connection.this["reports \"eu\""]"#
                ]
            ),
        ]
    );
    // Its endpoint is only read by a data source here.
    assert_eq!(
        addresses(&joined.unjoined, |c| &c.address),
        ["tidbcloud_dedicated_private_endpoint_connection.orphan"]
    );
}

#[test]
fn an_endpoint_with_two_connections_keeps_both() {
    let mut estate = parse_state(ROOT).unwrap();
    let mut second = estate.connections[0].clone();
    second.address = "tidbcloud_dedicated_private_endpoint_connection.again".into();
    estate.connections.insert(0, second);
    let joined = join(&estate);
    assert_eq!(joined.pairs[0].connections.len(), 2);
    assert!(joined.unjoined.is_empty());
}

#[test]
fn secrets_in_the_state_stay_out() {
    for text in [ROOT, MODULES, SHOWN] {
        let seen = format!("{:?}", parse_state(text).unwrap());
        for secret in ["Tr0ub4dor", "correct-horse", "Statement", "eni-"] {
            assert!(!seen.contains(secret), "{secret} in {seen}");
        }
    }
}

#[test]
fn a_version_3_state_is_refused_with_what_is_read() {
    let err = parse_state(V3).unwrap_err();
    assert_eq!(
        err,
        TerraformError::UnsupportedVersion {
            found: "3".into(),
            written_by: " (written by Terraform 0.11.14)".into()
        }
    );
    let text = err.to_string();
    assert!(
        text.contains("format version 3 (written by Terraform 0.11.14)"),
        "{text}"
    );
    assert!(text.contains("format version 4"), "{text}");
    assert!(text.contains("terraform show -json"), "{text}");
}

#[test]
fn truncated_json_says_where() {
    let err = parse_state(TRUNCATED).unwrap_err();
    let TerraformError::Json { line, column, .. } = &err else {
        panic!("{err:?}");
    };
    // The end of the text: the last line, past its last character.
    let last = TRUNCATED.lines().last().unwrap();
    assert_eq!(*line, TRUNCATED.lines().count());
    assert_eq!(*column, last.chars().count());
    assert_eq!(
        err.to_string(),
        format!(
            "the state is not valid JSON: EOF while parsing a string at line {line}, column {column}"
        )
    );
}

#[test]
fn other_documents_are_refused_clearly() {
    let cases = [
        ("[1, 2]", "not an object"),
        (r#"{"resources": []}"#, "neither `version`"),
        (r#"{"version": "4"}"#, "not a whole number"),
        (
            r#"{"version": 5, "resources": []}"#,
            "format version 5 is not supported",
        ),
        (
            r#"{"format_version": "2.0", "values": {}}"#,
            "format version 2.0 is not supported",
        ),
        (
            r#"{"format_version": "1.2", "planned_values": {}, "prior_state": {}}"#,
            "this is a plan",
        ),
        (
            "resource \"aws_vpc\" \"x\" {}",
            "not valid JSON: expected value at line 1, column 1",
        ),
    ];
    for (text, says) in cases {
        let err = parse_state(text).unwrap_err().to_string();
        assert!(err.contains(says), "{text}: {err}");
    }
}

#[test]
fn an_empty_state_in_either_form_is_empty() {
    let empty = TerraformEstate::default();
    assert_eq!(parse_state(r#"{"format_version": "1.0"}"#).unwrap(), empty);
    let v4 = r#"{"version": 4, "terraform_version": "1.9.8", "serial": 1, "lineage": "x",
                 "outputs": {}, "resources": [], "check_results": null}"#;
    assert_eq!(parse_state(v4).unwrap(), empty);
}

/// A v4 state with one endpoint whose attribute `name` is `value` (or removed for null).
fn one_endpoint(name: &str, value: Value) -> String {
    let mut attrs = serde_json::json!({
        "id": "vpce-0aaa111bbb222ccc3",
        "arn": "arn:aws-cn:ec2:cn-north-1:123456789012:vpc-endpoint/vpce-0aaa111bbb222ccc3",
        "owner_id": "123456789012",
        "service_name": "com.amazonaws.vpce.cn-north-1.vpce-svc-0d7e6f5a4b3c2d1e0",
        "vpc_endpoint_type": "Interface",
        "vpc_id": "vpc-0f1e2d3c4b5a69788",
        "subnet_ids": ["subnet-0aa11bb22cc33dd44"],
        "security_group_ids": [],
        "private_dns_enabled": true,
        "tags": {"Name": "x"},
        "tags_all": null
    });
    if value.is_null() {
        attrs.as_object_mut().unwrap().remove(name);
    } else {
        attrs[name] = value;
    }
    serde_json::json!({
        "version": 4, "terraform_version": "1.9.8", "serial": 3, "lineage": "l", "outputs": {},
        "resources": [{
            "module": "module.edge",
            "mode": "managed", "type": "aws_vpc_endpoint", "name": "tidb", "each": "map",
            "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
            "instances": [{"index_key": "a${b}%{c}\\\n\u{7}\u{200b}é😀", "schema_version": 0,
                           "attributes": attrs, "sensitive_attributes": []}]
        }]
    })
    .to_string()
}

const EDGE: &str = r#"module.edge.aws_vpc_endpoint.tidb["a$${b}%%{c}\\\n\u0007\u200bé😀"]"#;

#[test]
fn the_arn_of_any_partition_gives_region_and_account() {
    let estate = parse_state(&one_endpoint("tags", serde_json::json!({"Name": "x"}))).unwrap();
    let e = &estate.endpoints[0];
    assert_eq!(e.address, EDGE);
    assert_eq!(e.region.as_deref(), Some("cn-north-1"));
    assert_eq!(e.account_id.as_deref(), Some("123456789012"));
    // No `tags_all` (null): `tags`.
    assert_eq!(e.tags, BTreeMap::from([("Name".into(), "x".into())]));
}

#[test]
fn wrong_or_missing_attributes_name_the_address_and_the_attribute_not_the_value() {
    let secret = "hunter2-do-not-print";
    let cases = [
        (
            "private_dns_enabled",
            Value::from(secret),
            Problem::WrongType {
                expected: "a boolean",
                found: "a string",
            },
        ),
        (
            "subnet_ids",
            serde_json::json!([secret, 7]),
            Problem::WrongType {
                expected: "a list of strings",
                found: "a list holding something else",
            },
        ),
        (
            "tags",
            serde_json::json!({"k": {"v": secret}}),
            Problem::WrongType {
                expected: "a map of strings",
                found: "a map holding something else",
            },
        ),
        ("vpc_id", Value::Null, Problem::Missing),
        ("service_name", Value::from(""), Problem::Empty),
        (
            "arn",
            Value::from(format!("arn:aws:iam::123456789012:user/{secret}")),
            Problem::NotA("an EC2 VPC endpoint ARN"),
        ),
    ];
    for (name, value, problem) in cases {
        let err = parse_state(&one_endpoint(name, value)).unwrap_err();
        let text = err.to_string();
        assert!(!text.contains(secret), "{text}");
        assert_eq!(
            err,
            TerraformError::Attribute {
                address: EDGE.into(),
                attribute: name,
                problem
            },
            "{text}"
        );
    }
}

#[test]
fn gateway_endpoints_are_silent_and_interface_ones_must_say_their_type() {
    let gateway = parse_state(&one_endpoint("vpc_endpoint_type", Value::from("Gateway"))).unwrap();
    assert_eq!(gateway, TerraformEstate::default());
    let err = parse_state(&one_endpoint("vpc_endpoint_type", Value::Null)).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("attribute `vpc_endpoint_type` is missing"),
        "{err}"
    );
}

#[test]
fn flat_attributes_of_a_terraform_0_11_upgrade_are_explained() {
    let text = r#"{"version": 4, "resources": [{"mode": "managed", "type": "aws_vpc_endpoint",
        "name": "x", "provider": "provider.aws", "instances": [{"schema_version": 0,
        "attributes_flat": {"id": "vpce-1"}}]}]}"#;
    let err = parse_state(text).unwrap_err().to_string();
    assert!(
        err.starts_with("aws_vpc_endpoint.x: its attributes are in Terraform 0.11's flat form"),
        "{err}"
    );
}

#[test]
fn keys_are_quoted_as_terraform_prints_them() {
    let cases = [
        ("orders", r#""orders""#),
        ("", r#""""#),
        ("a\"b\\c", r#""a\"b\\c""#),
        ("${x}", r#""$${x}""#),
        ("%{x}", r#""%%{x}""#),
        ("$x %", r#""$x %""#),
        ("\t\r\n", r#""\t\r\n""#),
        (
            "\u{1}\u{7f}\u{a0}\u{2028}\u{feff}",
            r#""\u0001\u007f\u00a0\u2028\ufeff""#,
        ),
        ("\u{f0000}", r#""\U000f0000""#),
        ("zürich 東京 😀", r#""zürich 東京 😀""#),
    ];
    for (key, printed) in cases {
        assert_eq!(quoted(key), printed, "{key:?}");
    }
}

#[test]
fn count_indexes_may_be_written_as_floats() {
    assert_eq!(
        instance_key(Some(&serde_json::json!(2.0)), String::new).unwrap(),
        "[2]"
    );
    assert!(instance_key(Some(&serde_json::json!(1.5)), String::new).is_err());
    assert!(instance_key(Some(&serde_json::json!(-1)), String::new).is_err());
    assert!(instance_key(Some(&serde_json::json!(true)), String::new).is_err());
}
