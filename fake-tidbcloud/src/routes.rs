//! The API's routes (and the fake's own control endpoints): what an authenticated request
//! within budget is answered, from the simulated world, in the wire types of the spec.

use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use privatelinkd::cloud::sim::{ConnectionFilter, SimCloud};
use privatelinkd::cloud::tidb::*;
use privatelinkd::cloud::{CloudError, Cluster, ClusterState, Connection, TidbCloud};

use crate::{RATE_LIMIT_CODE, Shared, error};

fn ok(value: impl serde::Serialize) -> Response {
    let body = serde_json::to_string(&value).expect("plain data");
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn from_cloud(e: CloudError) -> Response {
    match e {
        CloudError::NotFound(m) => error(StatusCode::NOT_FOUND, 5, &m),
        CloudError::Permanent(m) => error(StatusCode::BAD_REQUEST, 3, &m),
        CloudError::Throttled { .. } => error(
            StatusCode::TOO_MANY_REQUESTS,
            RATE_LIMIT_CODE,
            "rate limited",
        ),
        CloudError::Transient(m) | CloudError::Unreachable(m) => {
            error(StatusCode::INTERNAL_SERVER_ERROR, 13, &m)
        }
        // The simulated world never fences nor defers; a server has no lease nor window.
        CloudError::Fenced | CloudError::Deferred => {
            error(StatusCode::INTERNAL_SERVER_ERROR, 13, "not sent")
        }
    }
}

fn query(uri: &Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The API's routes, by path segments after `/v1beta1`.
pub(crate) async fn route(shared: &Shared, method: &Method, uri: &Uri, body: &Bytes) -> Response {
    if let Some(path) = uri.path().strip_prefix("/fake/") {
        return control(shared, method, path, body);
    }
    let Some(path) = uri.path().strip_prefix("/v1beta1/") else {
        return error(StatusCode::NOT_FOUND, 5, "not found");
    };
    let segments: Vec<&str> = path.split('/').collect();
    let sim = &shared.sim;
    match (method.clone(), segments.as_slice()) {
        (Method::GET, ["clusters"]) => list_clusters(sim, uri),
        (Method::GET, ["clusters", cluster]) => get_cluster(sim, cluster).await,
        (Method::GET, ["clusters", cluster, "tidbNodeGroups"]) => {
            match sim.list_node_groups(cluster).await {
                Ok(groups) => {
                    let wire: Vec<WireNodeGroup> = groups
                        .iter()
                        .map(|g| WireNodeGroup {
                            cluster_id: cluster.to_string(),
                            ..WireNodeGroup::from(g)
                        })
                        .collect();
                    ok(WireNodeGroupList {
                        total_size: wire.len() as i32,
                        tidb_node_groups: wire,
                        next_page_token: None,
                    })
                }
                Err(e) => from_cloud(e),
            }
        }
        (
            Method::GET,
            [
                "clusters",
                cluster,
                "tidbNodeGroups",
                group,
                "privateLinkService",
            ],
        ) => match sim.get_service(cluster, group).await {
            Ok(s) => {
                let (cloud, region) = sim
                    .cluster_seed(cluster)
                    .map(|c| (c.cloud_provider, c.region))
                    .unwrap_or_default();
                ok(WireService {
                    name: format!("tidbNodeGroups/{group}/privateLinkService"),
                    tidb_node_group_id: group.to_string(),
                    service_name: s.name,
                    service_dns_name: s.dns_name,
                    available_zones: s.available_zones,
                    state: service_state_name(s.state).into(),
                    region_id: format!("{cloud}-{region}"),
                    cloud_provider: Some(cloud),
                })
            }
            Err(e) => from_cloud(e),
        },
        (
            Method::GET,
            [
                "clusters",
                cluster,
                "tidbNodeGroups",
                group,
                "privateEndpointConnections",
            ],
        ) => list_connections(sim, uri, cluster, group),
        (
            Method::POST,
            [
                "clusters",
                cluster,
                "tidbNodeGroups",
                group,
                "privateEndpointConnections",
            ],
        ) => {
            let body = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
            let field = |k: &str| body.get(k).and_then(Value::as_str).map(String::from);
            let Some(endpoint) = field("endpointId") else {
                return error(StatusCode::BAD_REQUEST, 3, "endpointId is required");
            };
            // Azure only: the private endpoint's IP, which TiDB Cloud publishes a name for.
            let ip = field("privateIpAddress");
            match sim
                .create_connection(cluster, group, &endpoint, ip.as_deref())
                .await
            {
                Ok(c) => ok(wire_connection(sim, &c)),
                Err(e) => from_cloud(e),
            }
        }
        (
            method,
            [
                "clusters",
                cluster,
                "tidbNodeGroups",
                group,
                "privateEndpointConnections",
                id,
            ],
        ) if method == Method::GET || method == Method::DELETE => {
            let found = sim
                .connection(id)
                .filter(|c| c.cluster_id == *cluster && c.node_group_id == *group);
            let Some(connection) = found else {
                return error(
                    StatusCode::NOT_FOUND,
                    5,
                    &format!("private endpoint connection {id} not found"),
                );
            };
            if method == Method::GET {
                return ok(wire_connection(sim, &connection));
            }
            match sim.delete_connection(&connection).await {
                Ok(()) => ok(json!({})),
                Err(e) => from_cloud(e),
            }
        }
        _ => error(
            StatusCode::NOT_FOUND,
            5,
            &format!("no route for {method} {}", uri.path()),
        ),
    }
}

/// The fake's own control endpoints (not TiDB Cloud's API), for tests and demos:
/// `PUT /fake/clusters/{id}/state` with `{"state": "PAUSED"}` moves a cluster through its life.
/// `PUT /fake/psc/{name}` with `{"project", "region", "serviceAttachment"}` says a Google Cloud
/// forwarding rule of that name asks to connect to the attachment (Private Service Connect's
/// connection request, which TiDB Cloud sees and this fake cannot: its Google Cloud is
/// elsewhere); until then, registering that name fails as TiDB Cloud's does.
/// `PUT /fake/azure/privateEndpoints` with `{"endpointId", "privateLinkServiceId",
/// "privateIpAddress"}` says an Azure private endpoint (its resource ID) is connected to a
/// cluster's Private Link service with that IP: TiDB Cloud lists it as a DISCOVERED connection
/// and registers it only with that IP. `DELETE` with `{"endpointId"}` says it was deleted.
fn control(shared: &Shared, method: &Method, path: &str, body: &Bytes) -> Response {
    let segments: Vec<&str> = path.split('/').collect();
    match (method.clone(), segments.as_slice()) {
        (Method::PUT, ["clusters", cluster, "state"]) => {
            let state = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("state")?.as_str().and_then(ClusterState::parse));
            let Some(state) = state else {
                return error(
                    StatusCode::BAD_REQUEST,
                    3,
                    "state must be one of the API's cluster states (ACTIVE, PAUSED, ...)",
                );
            };
            if shared.sim.cluster_state(cluster).is_none() {
                return error(StatusCode::NOT_FOUND, 5, "no such cluster in the world");
            }
            shared.sim.set_cluster_state(cluster, state);
            ok(json!({ "clusterId": cluster, "state": state.as_str() }))
        }
        (Method::PUT, ["psc", name]) => {
            let body = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
            let field = |k: &str| body.get(k).and_then(Value::as_str).map(String::from);
            let (Some(project), Some(region), Some(target)) = (
                field("project"),
                field("region"),
                field("serviceAttachment"),
            ) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    3,
                    "project, region and serviceAttachment are required",
                );
            };
            shared
                .sim
                .gcp_connection_request(&project, &region, name, &target);
            ok(json!({ "endpointId": name, "project": project, "serviceAttachment": target }))
        }
        (method, ["azure", "privateEndpoints"])
            if method == Method::PUT || method == Method::DELETE =>
        {
            azure_endpoint(shared, &method, body)
        }
        _ => error(StatusCode::NOT_FOUND, 5, "no such control endpoint"),
    }
}

/// `PUT` or `DELETE /fake/azure/privateEndpoints`: an Azure private endpoint as TiDB Cloud
/// sees it (its Azure is elsewhere).
fn azure_endpoint(shared: &Shared, method: &Method, body: &Bytes) -> Response {
    let body = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    let field = |k: &str| body.get(k).and_then(Value::as_str).map(String::from);
    let Some(id) = field("endpointId") else {
        return error(StatusCode::BAD_REQUEST, 3, "endpointId is required");
    };
    if method == Method::DELETE {
        shared.sim.azure_delete_behind_our_back(&id);
        return ok(json!({ "endpointId": id }));
    }
    let (Some(service), Some(ip)) = (field("privateLinkServiceId"), field("privateIpAddress"))
    else {
        return error(
            StatusCode::BAD_REQUEST,
            3,
            "privateLinkServiceId and privateIpAddress are required",
        );
    };
    shared.sim.azure_connection_request(&id, &service, &ip);
    ok(json!({ "endpointId": id, "privateLinkServiceId": service, "privateIpAddress": ip }))
}

async fn get_cluster(sim: &SimCloud, id: &str) -> Response {
    match sim.get_cluster(id).await {
        Ok(c) => ok(wire_cluster(sim, c)),
        Err(e) => from_cloud(e),
    }
}

/// `GET /clusters`: a project's clusters (the default project's without `projectId`), paged
/// as the connections are.
fn list_clusters(sim: &SimCloud, uri: &Uri) -> Response {
    let Some(size) = page_size(uri) else {
        return bad_page_size();
    };
    let project = query(uri, "projectId").filter(|p| !p.is_empty());
    let token = query(uri, "pageToken").filter(|t| !t.is_empty());
    match sim.clusters_page(project.as_deref(), token.as_deref(), size) {
        Ok((page, total)) => ok(WireClusterList {
            total_size: total as i32,
            clusters: page
                .items
                .into_iter()
                .map(|c| wire_cluster(sim, c))
                .collect(),
            next_page_token: page.next,
        }),
        Err(e) => from_cloud(e),
    }
}

fn wire_cluster(sim: &SimCloud, cluster: Cluster) -> WireCluster {
    let id = cluster.id.as_str();
    let seed = sim.cluster_seed(id);
    let groups: Vec<Value> = seed
        .iter()
        .flat_map(|s| s.node_groups.iter())
        .map(|g| {
            json!({
                "tidbNodeGroupId": g.id, "clusterId": id, "nodeCount": 2,
                "isDefaultGroup": g.default, "state": "ACTIVE",
            })
        })
        .collect();
    WireCluster {
        name: format!("clusters/{id}"),
        cluster_id: id.to_string(),
        display_name: seed
            .map(|s| s.name)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("cluster-{id}")),
        region_id: format!("{}-{}", cluster.cloud_provider, cluster.region),
        labels: [(PROJECT_LABEL.to_string(), cluster.project_id.clone())].into(),
        tidb_node_setting: json!({ "nodeSpecKey": "8C16G", "tidbNodeGroups": groups }),
        tikv_node_setting: json!({ "nodeCount": 3, "nodeSpecKey": "8C32G", "storageSizeGi": 500 }),
        port: cluster.port,
        state: Some(cluster.state.as_str().into()),
        cloud_provider: Some(cluster.cloud_provider),
    }
}

fn list_connections(sim: &SimCloud, uri: &Uri, cluster: &str, group: &str) -> Response {
    let filter = match (cluster, group, query(uri, "projectId")) {
        ("-", "-", Some(project)) => ConnectionFilter::Project(project),
        ("-", _, _) | (_, "-", _) => {
            return error(
                StatusCode::BAD_REQUEST,
                3,
                "listing across clusters needs clusterId and tidbNodeGroupId both `-` and a projectId",
            );
        }
        (c, g, _) => {
            // As GET on the cluster answers: a cluster (or node group) that does not exist is
            // not an empty list.
            let known = sim
                .cluster_seed(c)
                .is_some_and(|seed| seed.node_groups.iter().any(|n| n.id == g));
            if !known {
                return error(
                    StatusCode::NOT_FOUND,
                    5,
                    &format!("cluster {c} or its node group {g} not found"),
                );
            }
            ConnectionFilter::NodeGroup(c.to_string(), g.to_string())
        }
    };
    let Some(size) = page_size(uri) else {
        return bad_page_size();
    };
    let token = query(uri, "pageToken").filter(|t| !t.is_empty());
    match sim.connections_page(&filter, token.as_deref(), size) {
        Ok((page, total)) => {
            let items: Vec<WireConnection> =
                page.items.iter().map(|c| wire_connection(sim, c)).collect();
            ok(WireConnectionList {
                total_size: total as i32,
                private_endpoint_connections: items,
                next_page_token: page.next,
            })
        }
        Err(e) => from_cloud(e),
    }
}

/// The spec: at most 10 by default (also for 0), at most 100 whatever is asked. What is not a
/// number of 0 or more is refused, as the gateway in front of the real API does.
fn page_size(uri: &Uri) -> Option<usize> {
    match query(uri, "pageSize").map(|s| s.parse::<u32>()) {
        None | Some(Ok(0)) => Some(10),
        Some(Ok(n)) => Some((n as usize).min(100)),
        Some(Err(_)) => None,
    }
}

fn bad_page_size() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        3,
        "invalid value for pageSize: a non-negative integer is expected",
    )
}

fn wire_connection(sim: &SimCloud, c: &Connection) -> WireConnection {
    let seed = sim.cluster_seed(&c.cluster_id);
    let (project, region, cloud) = seed
        .map(|s| (s.project_id, s.region, s.cloud_provider))
        .unwrap_or_else(|| (String::new(), String::new(), "aws".into()));
    // Google Cloud's connections name the consumer project (the spec's `accountId`).
    let account_id = (cloud == "gcp")
        .then(|| sim.gcp_project_of(&c.endpoint_id))
        .flatten();
    WireConnection {
        name: format!(
            "tidbNodeGroups/{}/privateEndpointConnections/{}",
            c.node_group_id, c.id
        ),
        tidb_node_group_id: c.node_group_id.clone(),
        private_endpoint_connection_id: c.id.clone(),
        cluster_id: c.cluster_id.clone(),
        labels: [(PROJECT_LABEL.to_string(), project)].into(),
        endpoint_id: c.endpoint_id.clone(),
        private_ip_address: sim.connection_private_ip(&c.id),
        endpoint_state: Some(connection_state_name(c.state).into()),
        message: c.message.clone(),
        region_id: format!("{cloud}-{region}"),
        cloud_provider: Some(cloud),
        private_link_service_name: String::new(),
        account_id,
        host: c.host.clone(),
        port: c.port,
    }
}
