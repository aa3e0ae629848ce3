//! `privatelinkd validate` and `schema`, run as a user runs them.

use std::path::Path;

use assert_cmd::Command;
use predicates::str::contains;
use serde_json::Value;

fn privatelinkd() -> Command {
    Command::cargo_bin("privatelinkd").expect("the binary is built by cargo test")
}

/// Where a problem must be reported (line, column) and words its message must contain.
type Expected = (usize, usize, &'static str);

/// Every broken file of the corpus with every problem it holds.
const INVALID: &[(&str, &[Expected])] = &[
    ("alias-bomb", &[(5, 29, "aliases expand this file beyond")]),
    (
        "aws-is-a-list",
        &[(8, 8, "spec.aws: expected a mapping, found a list")],
    ),
    (
        "bad-cluster-id-letters",
        &[(7, 16, "`13796abc` is not a TiDB Cloud ID")],
    ),
    (
        "bad-deletion-policy",
        &[(12, 19, "expected one of `Delete`, `Orphan`, found `Retain`")],
    ),
    ("bad-endpoint-id", &[(12, 17, "is not a VPC endpoint ID")]),
    (
        "bad-name-digit-start",
        &[(4, 9, "`1orders` is not a valid name")],
    ),
    ("bad-name-too-long", &[(4, 9, "1-63 characters")]),
    (
        "bad-name-uppercase",
        &[(4, 9, "`Orders-Prod` is not a valid name")],
    ),
    (
        "bad-region",
        &[(9, 13, "`aws-us-east-1` is not an AWS region code")],
    ),
    (
        "bad-sg-id",
        &[(
            12,
            24,
            "securityGroupIds[0]: `sg-zz` is not a security group ID",
        )],
    ),
    (
        "bad-subnet-id",
        &[(11, 43, "subnetIds[1]: `subnet-123` is not a subnet ID")],
    ),
    ("bad-vpc-id", &[(10, 12, "is not a VPC ID")]),
    ("binary", &[(1, 1, "not a text file")]),
    (
        "cluster-id-number-float",
        &[(7, 16, "`1.5e3` is read as the number 1500.0; quote it")],
    ),
    (
        "cluster-id-number-leading-zero",
        &[(7, 16, "`01379661944646413143` is read as the number")],
    ),
    (
        "cluster-id-too-large",
        &[(7, 16, "quote it to keep it as written")],
    ),
    ("deep-nesting", &[(1, 68, "recursion limit exceeded")]),
    (
        "duplicate-key",
        &[(10, 5, "duplicate key `region` (first given on line 9)")],
    ),
    (
        "duplicate-sgs",
        &[(12, 37, "`sg-0a1b2c3d` is listed twice")],
    ),
    (
        "duplicate-subnets",
        &[(
            14,
            9,
            "`subnet-0a1b2c3d4e5f67890` is listed twice (first on line 12)",
        )],
    ),
    ("empty", &[(1, 1, "no endpoint documents")]),
    ("empty-subnets", &[(11, 16, "must list at least 1")]),
    (
        "labels-not-strings",
        &[(
            6,
            11,
            "metadata.labels.team: expected a string, found a list",
        )],
    ),
    (
        "many-mistakes",
        &[
            (2, 7, "expected one of `PrivateEndpoint`, found `Endpoint`"),
            (4, 9, "`o_p` is not a valid name"),
            (9, 5, "missing required field `spec.aws.vpcId`"),
            (9, 13, "`east` is not an AWS region code"),
            (
                10,
                5,
                "unknown field `vpcID` in `spec.aws`; did you mean `vpcId`?",
            ),
        ],
    ),
    (
        "missing-cluster-id",
        &[(7, 5, "missing required field `spec.tidbCloud.clusterId`")],
    ),
    (
        "missing-metadata",
        &[(1, 1, "missing required field `metadata`")],
    ),
    (
        "missing-name",
        &[(4, 3, "missing required field `metadata.name`")],
    ),
    (
        "missing-subnets",
        &[(9, 5, "missing required field `spec.aws.subnetIds`")],
    ),
    (
        "missing-vpc",
        &[(9, 5, "missing required field `spec.aws.vpcId`")],
    ),
    (
        "not-a-mapping",
        &[(1, 1, "expected a mapping, found a list")],
    ),
    ("only-comments", &[(1, 1, "no endpoint documents")]),
    (
        "private-dns-string",
        &[(12, 15, "spec.privateDns: expected true or false")],
    ),
    (
        "scalar-document",
        &[(1, 1, "expected a mapping, found the string \"hello\"")],
    ),
    (
        "second-document-bad",
        &[(22, 12, "`vpc-nope` is not a VPC ID")],
    ),
    (
        "subnets-not-a-list",
        &[(11, 16, "spec.aws.subnetIds: expected a list")],
    ),
    (
        "suspend-number",
        &[(12, 12, "expected true or false, found the number 1")],
    ),
    ("syntax-bad-indent", &[(10, 11, "YAML syntax")]),
    ("syntax-tab", &[(4, 2, "YAML syntax: tabs")]),
    (
        "syntax-unclosed-flow",
        &[(11, 16, "YAML syntax: unclosed bracket")],
    ),
    (
        "unknown-field-typo",
        &[
            (9, 5, "missing required field `spec.aws.subnetIds`"),
            (
                11,
                5,
                "unknown field `subnetIDs` in `spec.aws`; did you mean `subnetIds`?",
            ),
        ],
    ),
    (
        "unknown-spec-field",
        &[(
            8,
            3,
            "unknown field `privateDNS` in `spec`; did you mean `privateDns`?",
        )],
    ),
    ("unknown-top-field", &[(12, 1, "unknown field `status`")]),
    (
        "wrong-api-version",
        &[(1, 13, "found `privatelinkd.io/v2`")],
    ),
    (
        "wrong-kind",
        &[(
            2,
            7,
            "expected one of `PrivateEndpoint`, found `PrivateLink`",
        )],
    ),
];

#[test]
fn every_broken_file_is_reported_at_its_exact_place() {
    for (name, expected) in INVALID {
        let path = format!("tests/fixtures/invalid/{name}.yaml");
        let output = privatelinkd().args(["validate", &path]).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{name}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(": error: ")).collect();
        assert_eq!(lines.len(), expected.len(), "{name}: {stderr}");
        for (line, (l, c, words)) in lines.iter().zip(expected.iter()) {
            let prefix = format!("{path}:{l}:{c}: error: ");
            assert!(
                line.starts_with(&prefix),
                "{name}: want {prefix}, got {line}"
            );
            assert!(line.contains(words), "{name}: want {words:?} in {line}");
        }
    }
}

#[test]
fn the_corpus_is_covered_by_the_table() {
    let on_disk = std::fs::read_dir("tests/fixtures/invalid").unwrap().count();
    assert_eq!(on_disk, INVALID.len());
    assert!(INVALID.len() >= 30);
}

#[test]
fn a_directory_reports_every_problem_of_every_file() {
    let output = privatelinkd()
        .args(["validate", "tests/fixtures/invalid"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    // Together, the files also clash: two of them name an endpoint `orders-prod` in documents
    // that are themselves valid (a file with a duplicate key keeps the first value).
    let clash = "second-document-bad.yaml:4:9: error: duplicate endpoint name `orders-prod`";
    assert_eq!(stderr.matches(clash).count(), 1, "{stderr}");
    let want: usize = INVALID.iter().map(|(_, e)| e.len()).sum::<usize>() + 1;
    assert_eq!(
        stderr.lines().filter(|l| l.contains(": error: ")).count(),
        want
    );
    assert!(stderr.contains(&format!(
        "{want} problem(s) in {} of {} file(s)",
        INVALID.len(),
        INVALID.len()
    )));
}

#[test]
fn valid_files_pass_with_a_summary_and_hidden_and_status_files_are_skipped() {
    privatelinkd()
        .args(["validate", "tests/fixtures/valid"])
        .assert()
        .success()
        .stdout("3 file(s), 4 endpoint(s): all valid\n");
}

#[test]
fn problems_between_files_are_charged_to_the_later_file() {
    let output = privatelinkd()
        .args(["validate", "tests/fixtures/crossfile"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines[0].starts_with("tests/fixtures/crossfile/team-b/orders.yml:1:1: error: same file name as tests/fixtures/crossfile/orders.yaml"));
    assert!(lines[1].starts_with(
        "tests/fixtures/crossfile/team-b/payments.yaml:4:9: error: duplicate endpoint name `orders`"
    ));
    assert!(lines[2].starts_with("tests/fixtures/crossfile/team-b/payments.yaml:11:17: error: endpoint `vpce-0a1b2c3d` is already adopted in tests/fixtures/crossfile/orders.yaml:6"));
    assert_eq!(lines.len(), 4, "{stderr}");
}

#[test]
fn json_output_lists_the_same_findings() {
    let output = privatelinkd()
        .args([
            "validate",
            "--output",
            "json",
            "tests/fixtures/invalid/many-mistakes.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let findings: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(findings.len(), 5);
    assert_eq!(
        findings[0]["path"],
        "tests/fixtures/invalid/many-mistakes.yaml"
    );
    assert_eq!(findings[0]["line"], 2);
    assert_eq!(findings[0]["column"], 7);
    assert!(
        findings[4]["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `vpcId`")
    );
}

#[test]
fn usage_and_io_errors_exit_2() {
    privatelinkd()
        .args(["validate", "tests/fixtures/nope"])
        .assert()
        .code(2)
        .stderr(contains("cannot read tests/fixtures/nope"));
    privatelinkd().args(["validate"]).assert().code(2);
    privatelinkd()
        .args(["validate", "--output", "xml", "examples"])
        .assert()
        .code(2);
}

#[test]
fn examples_validate_and_carry_the_schema_modeline() {
    privatelinkd()
        .args(["validate", "examples/endpoints"])
        .assert()
        .success()
        .stdout(contains("all valid"));
    for entry in std::fs::read_dir("examples/endpoints").unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(text.starts_with("# yaml-language-server: $schema=../privatelinkd.schema.json"));
    }
}

#[test]
fn the_published_schema_is_the_generated_one() {
    let printed = privatelinkd().arg("schema").output().unwrap();
    assert!(printed.status.success());
    let generated: Value = serde_json::from_slice(&printed.stdout).unwrap();
    let published: Value = serde_json::from_str(
        &std::fs::read_to_string("examples/privatelinkd.schema.json").unwrap(),
    )
    .unwrap();
    assert_eq!(
        generated, published,
        "run `privatelinkd schema > examples/privatelinkd.schema.json`"
    );
    assert_eq!(
        generated["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
}

/// The schema alone (as an editor or another tool would use it) accepts the examples and
/// rejects a broken file.
#[test]
fn the_schema_accepts_examples_and_rejects_broken_files() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string("examples/privatelinkd.schema.json").unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let load = |path: &Path| -> Vec<Value> {
        let loaded = privatelinkd::yaml::load(&std::fs::read_to_string(path).unwrap());
        loaded.documents.iter().map(|d| d.to_json()).collect()
    };
    for entry in std::fs::read_dir("examples/endpoints").unwrap() {
        for doc in load(&entry.unwrap().path()) {
            assert!(validator.is_valid(&doc), "{doc}");
        }
    }
    for broken in [
        "unknown-field-typo",
        "bad-vpc-id",
        "missing-name",
        "bad-deletion-policy",
    ] {
        let docs = load(Path::new(&format!("tests/fixtures/invalid/{broken}.yaml")));
        assert!(!validator.is_valid(&docs[0]), "{broken}");
    }
}

/// Every field an editor shows on hover has a description; the plan's schema is published too.
#[test]
fn every_schema_field_is_described_and_the_plan_schema_is_the_generated_one() {
    fn undescribed(node: &Value, path: &str, out: &mut Vec<String>) {
        match node {
            Value::Object(map) => {
                if let Some(Value::Object(props)) = map.get("properties") {
                    for (k, v) in props {
                        if v.get("description").is_none() {
                            out.push(format!("{path}/{k}"));
                        }
                        undescribed(v, &format!("{path}/{k}"), out);
                    }
                }
                for (k, v) in map.iter().filter(|(k, _)| *k != "properties") {
                    undescribed(v, &format!("{path}/{k}"), out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| undescribed(v, path, out)),
            _ => {}
        }
    }
    let published: Value = serde_json::from_str(
        &std::fs::read_to_string("examples/privatelinkd.schema.json").unwrap(),
    )
    .unwrap();
    let mut missing = Vec::new();
    undescribed(&published, "", &mut missing);
    assert!(
        missing.is_empty(),
        "fields without a description: {missing:?}"
    );

    let printed = privatelinkd().args(["schema", "plan"]).output().unwrap();
    let generated: Value = serde_json::from_slice(&printed.stdout).unwrap();
    let published: Value =
        serde_json::from_str(&std::fs::read_to_string("examples/plan.schema.json").unwrap())
            .unwrap();
    assert_eq!(
        generated, published,
        "run `privatelinkd schema plan > examples/plan.schema.json`"
    );
}
