//! Private endpoints over HTTP: create, read, list (paged), update by PUT, delete; their
//! network interfaces and addresses; ETags and conditional headers; the 400s and 404s.

mod common;

use common::*;
use fake_azure_network::Options;
use serde_json::json;

#[tokio::test]
async fn an_endpoint_is_created_read_and_deleted_with_its_network_interface() {
    let env = start(Options::instant()).await;
    let url = env.endpoint_url("pe-a");
    let created = env
        .send(
            "PUT",
            &url,
            Some(&endpoint_body("endpoints")),
            &[("x-ms-correlation-request-id", "corr-1")],
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let operation = created.header("azure-asyncoperation").to_string();
    let prefix = format!(
        "{}/subscriptions/{SUB}/providers/Microsoft.Network/locations/eastus/operations/",
        env.server.endpoint()
    );
    assert!(operation.starts_with(&prefix), "{operation}");
    assert!(operation.ends_with("?api-version=2024-05-01"));
    assert!(
        operation.contains(created.header("x-ms-request-id")),
        "the request ID is the operation's"
    );
    assert_eq!(created.header("retry-after"), "0");
    assert_eq!(created.header("x-ms-correlation-request-id"), "corr-1");
    assert!(
        created
            .header("x-ms-ratelimit-remaining-subscription-writes")
            .parse::<u64>()
            .is_ok()
    );
    assert!(
        created
            .header("x-ms-ratelimit-remaining-subscription-global-writes")
            .parse::<u64>()
            .is_ok()
    );
    assert_eq!(env.wait(&operation).await["status"], "Succeeded");

    let got = env.get(&url).await;
    assert_eq!(got.status, 200);
    assert!(
        got.header("x-ms-ratelimit-remaining-subscription-reads")
            .parse::<u64>()
            .is_ok()
    );
    let e = &got.body;
    assert_eq!(e["id"], endpoint_id("pe-a"));
    assert_eq!(e["type"], "Microsoft.Network/privateEndpoints");
    assert_eq!(e["location"], "eastus");
    assert_eq!(e["tags"]["managed-by"], "privatelinkd");
    assert!(e["etag"].as_str().unwrap().starts_with("W/\""));
    let p = &e["properties"];
    assert_eq!(p["provisioningState"], "Succeeded");
    assert_eq!(p["subnet"]["id"], subnet("endpoints"));
    let connection = &p["manualPrivateLinkServiceConnections"][0];
    assert_eq!(connection["name"], "tidb");
    assert_eq!(
        connection["id"],
        format!(
            "{}/manualPrivateLinkServiceConnections/tidb",
            endpoint_id("pe-a")
        )
    );
    assert_eq!(connection["properties"]["privateLinkServiceId"], PLS);
    assert_eq!(connection["properties"]["requestMessage"], "privatelinkd");
    assert_eq!(
        connection["properties"]["privateLinkServiceConnectionState"],
        json!({"status": "Pending", "description": "Awaiting approval", "actionsRequired": "None"})
    );

    let nic_id = p["networkInterfaces"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let nic_name = nic_id.rsplit('/').next().unwrap();
    let (prefix, guid) = nic_name.split_once(".nic.").unwrap();
    assert_eq!(prefix, "pe-a");
    assert_eq!(guid.len(), 36, "{nic_name}");
    let nic = env.get(&env.arm(&nic_id)).await;
    assert_eq!(nic.status, 200, "{}", nic.body);
    let ipc = &nic.body["properties"]["ipConfigurations"][0];
    assert_eq!(
        ipc["properties"]["privateIPAddress"], "10.0.1.4",
        "the first address after Azure's reserved four"
    );
    assert_eq!(ipc["properties"]["subnet"]["id"], subnet("endpoints"));
    assert!(
        ipc["name"]
            .as_str()
            .unwrap()
            .starts_with("privateEndpointIpConfig.")
    );
    assert_eq!(
        nic.body["properties"]["privateEndpoint"]["id"],
        endpoint_id("pe-a")
    );

    let second = env.create("pe-b", &endpoint_body("endpoints")).await;
    let second_nic = env
        .get(
            &env.arm(
                second["properties"]["networkInterfaces"][0]["id"]
                    .as_str()
                    .unwrap(),
            ),
        )
        .await;
    assert_eq!(
        second_nic.body["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"],
        "10.0.1.5"
    );
    let sub = env.get(&env.arm(&subnet("endpoints"))).await.body;
    assert_eq!(
        sub["properties"]["privateEndpoints"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        sub["properties"]["ipConfigurations"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let deleted = env.delete(&url).await;
    assert_eq!(deleted.status, 202, "{}", deleted.body);
    let location = deleted.header("location").to_string();
    assert!(location.contains("/operationResults/"), "{location}");
    assert!(
        deleted
            .header("azure-asyncoperation")
            .contains("/operations/")
    );
    assert!(
        deleted
            .header("x-ms-ratelimit-remaining-subscription-deletes")
            .parse::<u64>()
            .is_ok()
    );
    assert!(
        deleted
            .header("x-ms-ratelimit-remaining-subscription-global-deletes")
            .parse::<u64>()
            .is_ok()
    );
    assert_eq!(env.get(&location).await.status, 204);
    let gone = env.get(&url).await;
    assert_eq!(
        (gone.status, gone.code().as_str()),
        (404, "ResourceNotFound")
    );
    assert!(
        gone.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Microsoft.Network/privateEndpoints/pe-a")
    );
    assert_eq!(
        env.get(&env.arm(&nic_id)).await.status,
        404,
        "the interface goes with it"
    );
    assert_eq!(env.delete(&url).await.status, 204, "nothing left to delete");
    // Its address is free again.
    let third = env.create("pe-c", &endpoint_body("endpoints")).await;
    let third_nic = env
        .get(
            &env.arm(
                third["properties"]["networkInterfaces"][0]["id"]
                    .as_str()
                    .unwrap(),
            ),
        )
        .await;
    assert_eq!(
        third_nic.body["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"],
        "10.0.1.4"
    );
}

#[tokio::test]
async fn custom_interface_names_and_static_addresses() {
    let env = start(Options::instant()).await;
    let mut body = endpoint_body("endpoints");
    body["properties"]["customNetworkInterfaceName"] = json!("pe-nic");
    body["properties"]["ipConfigurations"] =
        json!([{"name": "fixed", "properties": {"privateIPAddress": "10.0.1.200"}}]);
    let e = env.create("pe", &body).await;
    assert_eq!(e["properties"]["customNetworkInterfaceName"], "pe-nic");
    assert_eq!(
        e["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"],
        "10.0.1.200"
    );
    let nic_url = env.arm(&format!("/subscriptions/{SUB}/resourceGroups/apps/providers/Microsoft.Network/networkInterfaces/pe-nic"));
    let nic = env.get(&nic_url).await;
    assert_eq!(nic.status, 200);
    let ipc = &nic.body["properties"]["ipConfigurations"][0]["properties"];
    assert_eq!(ipc["privateIPAddress"], "10.0.1.200");
    assert_eq!(ipc["privateIPAllocationMethod"], "Static");
    for (ip, code) in [
        ("10.0.9.9", "PrivateIPAddressNotInSubnet"),
        ("10.0.1.3", "PrivateIPAddressInReservedRange"),
        ("10.0.1.255", "PrivateIPAddressInReservedRange"),
        ("10.0.1.200", "PrivateIPAddressInUse"),
    ] {
        let mut body = endpoint_body("endpoints");
        body["properties"]["ipConfigurations"] =
            json!([{"name": "fixed", "properties": {"privateIPAddress": ip}}]);
        let answer = env.put(&env.endpoint_url("other"), &body).await;
        assert_eq!((answer.status, answer.code().as_str()), (400, code), "{ip}");
    }
    let mut taken = endpoint_body("endpoints");
    taken["properties"]["customNetworkInterfaceName"] = json!("pe-nic");
    assert_eq!(
        env.put(&env.endpoint_url("other"), &taken).await.status,
        400,
        "the name is taken"
    );
}

#[tokio::test]
async fn a_full_subnet_refuses_the_next_endpoint() {
    let env = start(Options::instant()).await;
    // 10.0.2.0/29: eight addresses, five reserved by Azure.
    for name in ["t1", "t2", "t3"] {
        env.create(name, &endpoint_body("tiny")).await;
    }
    let full = env
        .put(&env.endpoint_url("t4"), &endpoint_body("tiny"))
        .await;
    assert_eq!((full.status, full.code().as_str()), (400, "SubnetIsFull"));
    assert_eq!(
        full.body["error"]["message"],
        "Subnet tiny with address prefix 10.0.2.0/29 does not have enough capacity for 1 IP addresses."
    );
    assert_eq!(
        env.get(&env.endpoint_url("t4")).await.status,
        404,
        "nothing was made"
    );
    assert_eq!(env.delete(&env.endpoint_url("t2")).await.status, 202);
    env.create("t4", &endpoint_body("tiny")).await;
}

#[tokio::test]
async fn tags_change_by_put_and_the_rest_stays() {
    let env = start(Options::instant()).await;
    let first = env.create("pe", &endpoint_body("endpoints")).await;
    let mut body = first.clone();
    body["tags"] = json!({"managed-by": "privatelinkd", "owner": "data"});
    let updated = env.put(&env.endpoint_url("pe"), &body).await;
    assert_eq!(updated.status, 200, "an update is 200: {}", updated.body);
    assert!(
        updated
            .header("azure-asyncoperation")
            .contains("/operations/")
    );
    env.wait(updated.header("azure-asyncoperation")).await;
    let got = env.get(&env.endpoint_url("pe")).await.body;
    assert_eq!(
        got["tags"],
        json!({"managed-by": "privatelinkd", "owner": "data"})
    );
    assert_ne!(got["etag"], first["etag"], "every write changes the ETag");
    assert_eq!(
        got["properties"]["networkInterfaces"],
        first["properties"]["networkInterfaces"]
    );
    let mut untagged = got.clone();
    untagged.as_object_mut().unwrap().remove("tags");
    assert_eq!(
        env.put(&env.endpoint_url("pe"), &untagged).await.status,
        200
    );
    assert!(
        env.get(&env.endpoint_url("pe"))
            .await
            .body
            .get("tags")
            .is_none(),
        "a PUT replaces them all"
    );

    let mut moved = got.clone();
    moved["properties"]["subnet"]["id"] = json!(subnet("tiny"));
    let answer = env.put(&env.endpoint_url("pe"), &moved).await;
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (400, "PropertyChangeNotAllowed")
    );
    let mut elsewhere = got.clone();
    elsewhere["location"] = json!("westus");
    let answer = env.put(&env.endpoint_url("pe"), &elsewhere).await;
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (400, "InvalidResourceLocation")
    );
    let mut located = got.clone();
    located["location"] = json!("East US");
    assert_eq!(
        env.put(&env.endpoint_url("pe"), &located).await.status,
        200,
        "location names normalize"
    );
    // privateEndpoints has no Update Tags (PATCH) in 2024-05-01.
    let patch = env
        .send(
            "PATCH",
            &env.endpoint_url("pe"),
            Some(&json!({"tags": {}})),
            &[],
        )
        .await;
    assert_eq!(
        (patch.status, patch.code().as_str()),
        (405, "MethodNotAllowed")
    );
}

#[tokio::test]
async fn etags_guard_puts_and_deletes() {
    let env = start(Options::instant()).await;
    let url = env.endpoint_url("pe");
    let body = endpoint_body("endpoints");
    let put = |headers: &'static [(&'static str, &'static str)]| {
        let (env, url, body) = (&env, url.clone(), body.clone());
        async move { env.send("PUT", &url, Some(&body), headers).await }
    };
    let stale = put(&[("If-Match", "W/\"nope\"")]).await;
    assert_eq!(
        (stale.status, stale.code().as_str()),
        (412, "PreconditionFailed"),
        "nothing to match"
    );
    let created = put(&[("If-None-Match", "*")]).await;
    assert_eq!(created.status, 201);
    let first = created.body["etag"].as_str().unwrap().to_string();
    assert_eq!(
        put(&[("If-None-Match", "*")]).await.status,
        412,
        "it exists now"
    );
    let matched = env
        .send("PUT", &url, Some(&body), &[("If-Match", &first)])
        .await;
    assert_eq!(matched.status, 200, "{}", matched.body);
    let current = env.get(&url).await.body["etag"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(current, first, "every write changes the ETag");
    let with_stale = env
        .send("PUT", &url, Some(&body), &[("If-Match", &first)])
        .await;
    assert_eq!(with_stale.status, 412, "stale");
    assert_eq!(put(&[("If-Match", "*")]).await.status, 200);
    let now = env.get(&url).await.body["etag"]
        .as_str()
        .unwrap()
        .to_string();
    let stale_delete = env
        .send("DELETE", &url, None, &[("If-Match", &first)])
        .await;
    assert_eq!(stale_delete.status, 412);
    let delete = env.send("DELETE", &url, None, &[("If-Match", &now)]).await;
    assert_eq!(delete.status, 202);
}

#[tokio::test]
async fn lists_page_by_next_link() {
    let env = start(Options {
        page_size: 2,
        ..Options::instant()
    })
    .await;
    for name in ["e1", "e2", "e3", "e4"] {
        env.create(name, &endpoint_body("endpoints")).await;
    }
    let in_net = env.arm(&format!(
        "/subscriptions/{SUB}/resourceGroups/net/providers/Microsoft.Network/privateEndpoints/n1"
    ));
    assert_eq!(
        env.put(&in_net, &endpoint_body("endpoints")).await.status,
        201
    );
    let collect = |first: String| {
        let env = &env;
        async move {
            let (mut names, mut pages, mut next) = (Vec::new(), 0, Some(first));
            while let Some(url) = next {
                let page = env.get(&url).await;
                assert_eq!(page.status, 200, "{}", page.body);
                pages += 1;
                for e in page.body["value"].as_array().unwrap() {
                    names.push(e["name"].as_str().unwrap().to_string());
                }
                next = page.body["nextLink"].as_str().map(str::to_string);
            }
            (names, pages)
        }
    };
    let (all, pages) = collect(env.arm(&format!(
        "/subscriptions/{SUB}/providers/Microsoft.Network/privateEndpoints"
    )))
    .await;
    assert_eq!((all.len(), pages), (5, 3), "{all:?}");
    let (apps, pages) = collect(env.arm(&format!(
        "/subscriptions/{SUB}/resourceGroups/apps/providers/Microsoft.Network/privateEndpoints"
    )))
    .await;
    assert_eq!(
        (apps, pages),
        (
            vec!["e1".to_string(), "e2".into(), "e3".into(), "e4".into()],
            2
        )
    );
    let bad = env
        .get(&env.arm(&format!(
            "/subscriptions/{SUB}/providers/Microsoft.Network/privateEndpoints?$skipToken=zzz"
        )))
        .await;
    assert_eq!((bad.status, bad.code().as_str()), (400, "InvalidSkipToken"));
    let empty = env
        .get(&env.arm(&format!(
            "/subscriptions/{READER_SUB}/providers/Microsoft.Network/privateEndpoints"
        )))
        .await;
    assert_eq!(empty.body, json!({"value": []}));
}
