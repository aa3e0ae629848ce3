//! Which endpoint is which connection's, and what becomes a document. Pure: the estate and
//! the directory in, the report out.
//!
//! An endpoint is written when TiDB Cloud has a connection for it (registered by hand, even
//! FAILED: the daemon retries it) and no document or other owner manages it. An endpoint
//! with no connection was never registered: reported, with what to write to have privatelinkd
//! register it. A connection whose endpoint is not in any account and region looked in is
//! reported with the command that would clean it up: it may be deleted, or live where the
//! config does not reach.

use std::collections::{BTreeMap, BTreeSet};

use crate::cloud::{CloudEndpoint, CloudKind, ConnectionState, ConsumerEndpoint, Scope};
use crate::plan::ownership;

use super::{
    Estate, Finding, ImportReport, Imported, Managed, Offered, Options, document_text, name_for,
};

/// The report for `estate` against what `managed` already covers: documents named and filed
/// so that none collides with another or with an existing one.
pub fn matched(estate: &Estate, managed: &Managed, options: &Options) -> ImportReport {
    let by_service: BTreeMap<&str, &Offered> = estate
        .offered
        .iter()
        .map(|o| (o.service.name.as_str(), o))
        .collect();
    let mut report = ImportReport::default();
    let mut found: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut candidates = Vec::new();
    for (scope, endpoint) in &estate.endpoints {
        let Some(offered) = by_service.get(endpoint.service()).copied() else {
            continue; // listed for another service of the same filter: not TiDB Cloud's
        };
        if endpoint.is_going() {
            continue; // being deleted: as good as gone (its connection is reported below)
        }
        let id = endpoint.id();
        found.insert((offered.cluster.id.as_str(), id));
        let finding = |why: String, hint: Option<String>| Finding {
            id: id.to_string(),
            cluster_id: offered.cluster.id.clone(),
            why,
            hint,
        };
        if let Some(doc) = managed.adopted.get(id) {
            report
                .skipped
                .push(finding(format!("document `{doc}` already adopts it"), None));
            continue;
        }
        if let Some(owner) = ownership::owner_of(endpoint) {
            let name = ownership::name_of(endpoint);
            let why = if ownership::owned_by(endpoint, &options.owner_id) {
                format!("this daemon manages it as `{name}`")
            } else {
                format!("privatelinkd owner `{owner}` manages it as `{name}`")
            };
            report.skipped.push(finding(why, None));
            continue;
        }
        let connection = estate.connections.iter().find(|c| {
            c.endpoint_id == id
                && c.cluster_id == offered.cluster.id
                && c.state != ConnectionState::Deleting
        });
        let Some(connection) = connection else {
            report.unmatched.push(finding(
                format!(
                    "it connects to cluster {}'s service, but was never registered with TiDB Cloud",
                    offered.cluster.id
                ),
                Some(format!(
                    "write a document with `{}: {id}` and privatelinkd registers it",
                    adopt_key(scope)
                )),
            ));
            continue;
        };
        candidates.push((scope, endpoint, offered, connection));
    }
    report.documents = named(candidates, managed, options);
    for c in &estate.connections {
        if c.state == ConnectionState::Deleting
            || found.contains(&(c.cluster_id.as_str(), c.endpoint_id.as_str()))
        {
            continue;
        }
        report
            .unmatched
            .push(missing_endpoint(estate, c, &options.api_url));
    }
    report.skipped.sort();
    report.unmatched.sort();
    report
}

fn adopt_key(scope: &Scope) -> &'static str {
    match scope.cloud {
        CloudKind::Aws => "spec.aws.endpointId",
        CloudKind::Gcp => "spec.gcp.endpointName (with adopt: true)",
        CloudKind::Azure => "spec.azure.endpointName (with adopt: true)",
    }
}

type Candidate<'a> = (
    &'a Scope,
    &'a CloudEndpoint,
    &'a Offered,
    &'a crate::cloud::Connection,
);

/// Names from the cluster and the network; where two endpoints would share one, or an
/// existing document has it, each such endpoint's ID is added (the same on every run).
fn named(candidates: Vec<Candidate<'_>>, managed: &Managed, options: &Options) -> Vec<Imported> {
    let network = |e: &CloudEndpoint| match e {
        CloudEndpoint::Aws(v) => v.vpc_id.clone(),
        CloudEndpoint::Gcp(p) => p.network().unwrap_or_default().to_string(),
        // The virtual network, from the subnet's ID.
        CloudEndpoint::Azure(a) => crate::cloud::azure::segment(&a.subnet_id, "virtualNetworks")
            .unwrap_or_default()
            .to_string(),
    };
    let mut uses: BTreeMap<String, usize> = BTreeMap::new();
    for (_, e, o, _) in &candidates {
        *uses.entry(name_for(o, &network(e), None)).or_default() += 1;
    }
    let mut documents: Vec<Imported> = candidates
        .into_iter()
        .map(|(scope, e, o, c)| {
            let plain = name_for(o, &network(e), None);
            let name = if uses[&plain] > 1 || managed.names.contains(&plain) {
                name_for(o, &network(e), Some(e.id()))
            } else {
                plain
            };
            let note = (c.state == ConnectionState::Failed).then(|| {
                format!(
                    "TiDB Cloud marked its connection FAILED ({}): the daemon registers it again on its retry schedule (first after 5 minutes; `privatelinkd retry {name}` for now)",
                    c.message
                )
            });
            Imported {
                file: format!("{name}.yaml"),
                yaml: document_text(&name, scope, e, o, c, options),
                name,
                endpoint_id: e.id().to_string(),
                cluster_id: o.cluster.id.clone(),
                cloud: scope.cloud.as_str().to_string(),
                connection_state: c.state.as_str().to_string(),
                note,
            }
        })
        .collect();
    documents.sort_by(|a, b| a.name.cmp(&b.name));
    documents
}

/// A connection whose endpoint was not found where `import` looked.
fn missing_endpoint(estate: &Estate, c: &crate::cloud::Connection, api_url: &str) -> Finding {
    let looked: Vec<String> = estate
        .covered
        .iter()
        .map(|s| format!("{}/{}", s.account, s.region))
        .collect();
    Finding {
        id: c.id.clone(),
        cluster_id: c.cluster_id.clone(),
        why: format!(
            "connection to endpoint {} ({}): no such endpoint in the accounts and regions looked in ({}); it was deleted, or lives where the config does not reach",
            c.endpoint_id,
            c.state.as_str(),
            if looked.is_empty() {
                "none".to_string()
            } else {
                looked.join(", ")
            }
        ),
        hint: Some(format!(
            "if it was deleted: curl --digest -u \"$TIDBCLOUD_PUBLIC_KEY:$TIDBCLOUD_PRIVATE_KEY\" -X DELETE {}/v1beta1/clusters/{}/tidbNodeGroups/{}/privateEndpointConnections/{}",
            api_url.trim_end_matches('/'),
            c.cluster_id,
            c.node_group_id,
            c.id
        )),
    }
}
