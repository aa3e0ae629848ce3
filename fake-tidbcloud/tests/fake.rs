//! The fake server as a program: its command line (the address on the first stdout line),
//! `curl --digest` against it, and its answers against the official spec's own schemas.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

const PUBLIC: &str = "PUBKEY01";
const PRIVATE: &str = "pk-SECRET-0a1b2c3d4e5f";
const PROJECT: &str = "1372813089454548012";
const CLUSTER: &str = "1379661944646413143";
const GROUP: &str = "1379661944646413144";

/// One cluster on AWS, one on Google Cloud and one on Azure, their services Active from the
/// start.
const WORLD: &str = r#"clusters:
  - id: "1379661944646413143"
    projectId: "1372813089454548012"
    region: us-east-1
    nodeGroups: [{id: "1379661944646413144", default: true, availableZones: [use1-az1, use1-az4, use1-az6]}]
  - id: "1379661944646415555"
    projectId: "1372813089454548012"
    region: us-central1
    cloudProvider: gcp
    nodeGroups: [{id: "1379661944646415556", default: true}]
  - id: "1379661944646417777"
    projectId: "1372813089454548012"
    region: eastus2
    cloudProvider: azure
    nodeGroups: [{id: "1379661944646417778", default: true}]
timing: {serviceCreate: 0s}
"#;
const GCP_CLUSTER: &str = "1379661944646415555";
const GCP_GROUP: &str = "1379661944646415556";
const AZURE_CLUSTER: &str = "1379661944646417777";
const AZURE_GROUP: &str = "1379661944646417778";

/// The fake server binary, killed when dropped.
struct FakeServer {
    child: Child,
    addr: String,
}

impl FakeServer {
    fn start(dir: &Path, extra: &[&str]) -> FakeServer {
        std::fs::write(dir.join("world.yaml"), WORLD).unwrap();
        std::fs::write(dir.join("key.txt"), format!("{PRIVATE}\n")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_privatelinkd-fake-tidbcloud"))
            .arg("--world")
            .arg(dir.join("world.yaml"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--public-key",
                PUBLIC,
                "--private-key-file",
            ])
            .arg(dir.join("key.txt"))
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        FakeServer {
            child,
            addr: line.trim().to_string(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/v1beta1{path}", self.addr)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `curl --digest`: (HTTP status, body).
fn curl(user: &str, method: &str, url: &str, body: Option<&str>) -> (u16, String) {
    let found = Command::new("sh")
        .args(["-c", "command -v curl"])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "curl is not installed (scripts/test installs it)"
    );
    let mut command = Command::new("curl");
    command.args([
        "-s",
        "--digest",
        "--user",
        user,
        "-X",
        method,
        "-w",
        "\n%{http_code}",
        url,
    ]);
    if let Some(body) = body {
        command.args(["-H", "content-type: application/json", "-d", body]);
    }
    let out = String::from_utf8(command.output().unwrap().stdout).unwrap();
    let (body, code) = out.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_string())
}

/// Validates a response against a definition of the official spec.
fn conforms(definition: &str, value: &Value) {
    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/spec/tidbcloud-dedicated-v1beta1.swagger.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let schema = json!({ "$ref": format!("#/definitions/{definition}"), "definitions": spec["definitions"] });
    let validator = jsonschema::draft4::new(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{definition}: {errors:?}\n{value}");
}

#[test]
fn the_fake_answers_curl_digest_and_follows_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeServer::start(dir.path(), &[]);
    let user = format!("{PUBLIC}:{PRIVATE}");
    let get = |path: &str| {
        let (status, body) = curl(&user, "GET", &fake.url(path), None);
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap_or(Value::Null),
        )
    };
    let (status, cluster) = get(&format!("/clusters/{CLUSTER}"));
    assert_eq!(status, 200);
    conforms("tidb_cloud_open_apidedicatedv1beta1Cluster", &cluster);
    // The listing `import` pages through: the default project without `projectId`.
    let (status, listed) = get("/clusters?pageSize=100");
    assert_eq!(status, 200);
    conforms(
        "tidb_cloud_open_apidedicatedv1beta1ListClustersResponse",
        &listed,
    );
    assert!(
        listed["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["clusterId"] == CLUSTER),
        "{listed}"
    );
    let project = cluster["labels"]["tidb.cloud/project"].as_str().unwrap();
    let (_, same) = get(&format!("/clusters?projectId={project}&pageSize=100"));
    assert_eq!(same, listed);
    let (_, other) = get("/clusters?projectId=1&pageSize=100");
    assert_eq!(other["clusters"], json!([]), "{other}");
    assert_eq!(get("/clusters?pageSize=abc").0, 400);
    let (_, groups) = get(&format!("/clusters/{CLUSTER}/tidbNodeGroups"));
    conforms("dedicatedv1beta1ListTidbNodeGroupsResponse", &groups);
    let (_, service) = get(&format!(
        "/clusters/{CLUSTER}/tidbNodeGroups/{GROUP}/privateLinkService"
    ));
    conforms("dedicatedv1beta1PrivateLinkService", &service);
    let connections =
        format!("/clusters/{CLUSTER}/tidbNodeGroups/{GROUP}/privateEndpointConnections");
    let (status, created) = curl(
        &user,
        "POST",
        &fake.url(&connections),
        Some(r#"{"endpointId": "vpce-0a1b2c3d4e5f67890"}"#),
    );
    assert_eq!(status, 200, "{created}");
    let created: Value = serde_json::from_str(&created).unwrap();
    conforms("dedicatedv1beta1PrivateEndpointConnection", &created);
    let id = created["privateEndpointConnectionId"].as_str().unwrap();
    let (_, list) = get(&format!(
        "/clusters/-/tidbNodeGroups/-/privateEndpointConnections?projectId={PROJECT}&pageSize=5"
    ));
    conforms(
        "dedicatedv1beta1ListPrivateEndpointConnectionsResponse",
        &list,
    );
    assert_eq!(list["totalSize"], 1);
    let (_, one) = get(&format!("{connections}/{id}"));
    conforms("dedicatedv1beta1PrivateEndpointConnection", &one);
    let (status, _) = curl(
        &user,
        "DELETE",
        &fake.url(&format!("{connections}/{id}")),
        None,
    );
    assert_eq!(status, 200);
    let (status, missing) = get("/clusters/999");
    assert_eq!(status, 404);
    conforms("googlerpcStatus", &missing);
    let (status, bad) = get("/clusters/-/tidbNodeGroups/-/privateEndpointConnections");
    assert_eq!(status, 400);
    conforms("googlerpcStatus", &bad);

    let (status, denied) = curl(
        &format!("{PUBLIC}:wrong"),
        "GET",
        &fake.url(&format!("/clusters/{CLUSTER}")),
        None,
    );
    assert_eq!(status, 401);
    conforms("googlerpcStatus", &serde_json::from_str(&denied).unwrap());

    // The fake's own control endpoint moves the cluster through its life; the API shows it.
    let (status, body) = curl(
        &user,
        "PUT",
        &format!("http://{}/fake/clusters/{CLUSTER}/state", fake.addr),
        Some(r#"{"state": "PAUSED"}"#),
    );
    assert_eq!(status, 200, "{body}");
    let (_, paused) = get(&format!("/clusters/{CLUSTER}"));
    assert_eq!(paused["state"], "PAUSED");
    conforms("tidb_cloud_open_apidedicatedv1beta1Cluster", &paused);
    let (status, _) = curl(
        &user,
        "PUT",
        &format!("http://{}/fake/clusters/{CLUSTER}/state", fake.addr),
        Some(r#"{"state": "DELETED"}"#),
    );
    assert_eq!(status, 200);
    let (status, gone) = get(&format!("/clusters/{CLUSTER}"));
    assert_eq!(status, 404);
    conforms("googlerpcStatus", &gone);

    let md5 = FakeServer::start(dir.path(), &["--algorithm", "md5"]);
    let (status, _) = curl(
        &user,
        "GET",
        &md5.url(&format!("/clusters/{CLUSTER}")),
        None,
    );
    assert_eq!(status, 200);
}

#[test]
fn the_fake_paginates_as_the_spec_says() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeServer::start(dir.path(), &[]);
    let user = format!("{PUBLIC}:{PRIVATE}");
    let connections =
        format!("/clusters/{CLUSTER}/tidbNodeGroups/{GROUP}/privateEndpointConnections");
    for i in 0..12 {
        let body = format!(r#"{{"endpointId": "vpce-{i:017x}"}}"#);
        assert_eq!(
            curl(&user, "POST", &fake.url(&connections), Some(&body)).0,
            200
        );
    }
    let list = |query: &str| {
        let (status, body) = curl(
            &user,
            "GET",
            &fake.url(&format!("{connections}{query}")),
            None,
        );
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()
    };
    // 10 by default, then the rest after the token; at most 100 whatever is asked.
    let first = list("");
    assert_eq!(
        first["privateEndpointConnections"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    assert_eq!(first["totalSize"], 12);
    let token = first["nextPageToken"].as_str().unwrap();
    let second = list(&format!("?pageToken={token}"));
    assert_eq!(
        second["privateEndpointConnections"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(second.get("nextPageToken").is_none());
    let big = list("?pageSize=500");
    assert_eq!(
        big["privateEndpointConnections"].as_array().unwrap().len(),
        12
    );
}

#[test]
fn the_fake_agrees_with_itself_on_a_missing_cluster_and_refuses_a_malformed_page_size() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeServer::start(dir.path(), &[]);
    let user = format!("{PUBLIC}:{PRIVATE}");
    let get = |path: &str| curl(&user, "GET", &fake.url(path), None);
    // GET on a cluster that does not exist is 404, and so is listing its connections (or a
    // node group it does not have), rather than an empty list.
    assert_eq!(get("/clusters/42").0, 404);
    let (status, body) = get("/clusters/42/tidbNodeGroups/43/privateEndpointConnections");
    assert_eq!(status, 404, "{body}");
    let (status, body) = get(&format!(
        "/clusters/{CLUSTER}/tidbNodeGroups/43/privateEndpointConnections"
    ));
    assert_eq!(status, 404, "{body}");
    // A pageSize that is not a number of 0 or more is refused, as the API's gateway does.
    let connections =
        format!("/clusters/{CLUSTER}/tidbNodeGroups/{GROUP}/privateEndpointConnections");
    for bad in ["abc", "-5", "1.5"] {
        let (status, body) = get(&format!("{connections}?pageSize={bad}"));
        assert_eq!(status, 400, "pageSize={bad}: {body}");
        assert!(body.contains("pageSize"), "{body}");
    }
    for fine in ["0", "5", "500"] {
        assert_eq!(
            get(&format!("{connections}?pageSize={fine}")).0,
            200,
            "{fine}"
        );
    }
}

#[test]
fn a_google_cloud_cluster_has_a_service_attachment_and_registers_only_a_requesting_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeServer::start(dir.path(), &[]);
    let user = format!("{PUBLIC}:{PRIVATE}");
    let get = |path: &str| {
        let (_, body) = curl(&user, "GET", &fake.url(path), None);
        serde_json::from_str::<Value>(&body).unwrap_or(Value::Null)
    };
    let cluster = get(&format!("/clusters/{GCP_CLUSTER}"));
    conforms("tidb_cloud_open_apidedicatedv1beta1Cluster", &cluster);
    assert_eq!(cluster["cloudProvider"], "gcp");
    assert_eq!(cluster["regionId"], "gcp-us-central1");
    let service = get(&format!(
        "/clusters/{GCP_CLUSTER}/tidbNodeGroups/{GCP_GROUP}/privateLinkService"
    ));
    conforms("dedicatedv1beta1PrivateLinkService", &service);
    assert_eq!(service["cloudProvider"], "gcp");
    assert_eq!(service["regionId"], "gcp-us-central1");
    // The service attachment's resource name, and a zone each endpoint's name goes under.
    let attachment = service["serviceName"].as_str().unwrap().to_string();
    assert!(
        attachment.starts_with("projects/") && attachment.contains("/serviceAttachments/"),
        "{attachment}"
    );
    let zone = service["serviceDnsName"].as_str().unwrap().to_string();
    let connections =
        format!("/clusters/{GCP_CLUSTER}/tidbNodeGroups/{GCP_GROUP}/privateEndpointConnections");
    let register = || {
        curl(
            &user,
            "POST",
            &fake.url(&connections),
            Some(r#"{"endpointId": "orders-gcp"}"#),
        )
    };
    // No forwarding rule asked to connect: TiDB Cloud's own words.
    let (status, refused) = register();
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused.contains("not received connection request from endpoint"),
        "{refused}"
    );
    let (status, body) = curl(
        &user,
        "PUT",
        &format!("http://{}/fake/psc/orders-gcp", fake.addr),
        Some(&format!(
            r#"{{"project": "my-project", "region": "us-central1", "serviceAttachment": "{attachment}"}}"#
        )),
    );
    assert_eq!(status, 200, "{body}");
    let (status, created) = register();
    assert_eq!(status, 200, "{created}");
    let created: Value = serde_json::from_str(&created).unwrap();
    conforms("dedicatedv1beta1PrivateEndpointConnection", &created);
    assert_eq!(created["cloudProvider"], "gcp");
    assert_eq!(created["regionId"], "gcp-us-central1");
    assert_eq!(created["accountId"], "my-project");
    assert_eq!(created["host"], format!("orders-gcp.{zone}"));
}

#[test]
fn an_azure_cluster_has_a_private_link_service_discovers_endpoints_and_registers_them_with_their_ip()
 {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeServer::start(dir.path(), &[]);
    let user = format!("{PUBLIC}:{PRIVATE}");
    let get = |path: &str| {
        let (status, body) = curl(&user, "GET", &fake.url(path), None);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str::<Value>(&body).unwrap()
    };
    let cluster = get(&format!("/clusters/{AZURE_CLUSTER}"));
    conforms("tidb_cloud_open_apidedicatedv1beta1Cluster", &cluster);
    assert_eq!(cluster["cloudProvider"], "azure");
    assert_eq!(cluster["regionId"], "azure-eastus2");
    let service = get(&format!(
        "/clusters/{AZURE_CLUSTER}/tidbNodeGroups/{AZURE_GROUP}/privateLinkService"
    ));
    conforms("dedicatedv1beta1PrivateLinkService", &service);
    assert_eq!(service["cloudProvider"], "azure");
    assert_eq!(service["regionId"], "azure-eastus2");
    // The Private Link service's resource ID (in TiDB Cloud's subscription), and a public zone.
    let pls = service["serviceName"].as_str().unwrap().to_string();
    assert!(
        pls.starts_with("/subscriptions/")
            && pls.contains("/providers/Microsoft.Network/privateLinkServices/"),
        "{pls}"
    );
    let zone = service["serviceDnsName"].as_str().unwrap().to_string();
    let endpoint = "/subscriptions/00000000-0000-0000-0000-0000000000aa/resourceGroups/apps/providers/Microsoft.Network/privateEndpoints/orders-azure";
    let connections = format!(
        "/clusters/{AZURE_CLUSTER}/tidbNodeGroups/{AZURE_GROUP}/privateEndpointConnections"
    );
    let register = |ip: Option<&str>| {
        let body = match ip {
            Some(ip) => json!({"endpointId": endpoint, "privateIpAddress": ip}),
            None => json!({"endpointId": endpoint}),
        };
        curl(
            &user,
            "POST",
            &fake.url(&connections),
            Some(&body.to_string()),
        )
    };
    // No such endpoint connected to the service yet.
    let (status, refused) = register(Some("10.1.0.4"));
    assert_eq!(status, 400, "{refused}");
    conforms("googlerpcStatus", &serde_json::from_str(&refused).unwrap());
    assert!(refused.contains("was not found"), "{refused}");
    // The endpoint, created in Azure: TiDB Cloud finds it by itself (DISCOVERED).
    let control = format!("http://{}/fake/azure/privateEndpoints", fake.addr);
    let seen = json!({"endpointId": endpoint, "privateLinkServiceId": pls, "privateIpAddress": "10.1.0.4"});
    let (status, body) = curl(&user, "PUT", &control, Some(&seen.to_string()));
    assert_eq!(status, 200, "{body}");
    let listed = get(&connections);
    conforms(
        "dedicatedv1beta1ListPrivateEndpointConnectionsResponse",
        &listed,
    );
    assert_eq!(listed["totalSize"], 1, "{listed}");
    let discovered = &listed["privateEndpointConnections"][0];
    assert_eq!(discovered["endpointState"], "DISCOVERED");
    assert_eq!(discovered["endpointId"], endpoint);
    assert!(discovered.get("privateIpAddress").is_none(), "{discovered}");
    let across = get(&format!(
        "/clusters/-/tidbNodeGroups/-/privateEndpointConnections?projectId={PROJECT}"
    ));
    assert_eq!(across["privateEndpointConnections"][0], *discovered);
    // Registration names the endpoint's private IP, the one Azure gave it.
    for (ip, says) in [
        (None, "privateIpAddress is required"),
        (Some("10.1.0.9"), "is not the private IP address"),
    ] {
        let (status, refused) = register(ip);
        assert_eq!(status, 400, "{refused}");
        assert!(refused.contains(says), "{refused}");
    }
    let (status, created) = register(Some("10.1.0.4"));
    assert_eq!(status, 200, "{created}");
    let created: Value = serde_json::from_str(&created).unwrap();
    conforms("dedicatedv1beta1PrivateEndpointConnection", &created);
    assert_eq!(
        created["privateEndpointConnectionId"],
        discovered["privateEndpointConnectionId"]
    );
    assert_eq!(created["endpointState"], "PENDING");
    assert_eq!(created["privateIpAddress"], "10.1.0.4");
    assert_eq!(created["cloudProvider"], "azure");
    assert_eq!(created["regionId"], "azure-eastus2");
    let host = created["host"].as_str().unwrap();
    let hash = host
        .strip_prefix("orders-azure-")
        .and_then(|h| h.strip_suffix(&format!(".{zone}")))
        .unwrap_or_else(|| panic!("{host}"));
    assert!(hash.chars().all(|c| c.is_ascii_hexdigit()), "{host}");
    let id = created["privateEndpointConnectionId"].as_str().unwrap();
    let one = get(&format!("{connections}/{id}"));
    conforms("dedicatedv1beta1PrivateEndpointConnection", &one);
    assert_eq!(one["privateIpAddress"], "10.1.0.4");
    // Another endpoint, then deleted in Azure: no longer found.
    let other = endpoint.replace("orders-azure", "stray");
    let seen =
        json!({"endpointId": other, "privateLinkServiceId": pls, "privateIpAddress": "10.1.0.5"});
    curl(&user, "PUT", &control, Some(&seen.to_string()));
    assert_eq!(get(&connections)["totalSize"], 2);
    let gone = json!({"endpointId": other});
    let (status, _) = curl(&user, "DELETE", &control, Some(&gone.to_string()));
    assert_eq!(status, 200);
    assert_eq!(get(&connections)["totalSize"], 1);
}
