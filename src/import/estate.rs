//! What exists: every cluster the API key sees in the projects asked for, their node groups'
//! private link services and connections, and the cloud-side endpoints connected to those
//! services in every account (project) and region that can hold one.
//!
//! TiDB Cloud requests are the scarce part (the daemon shares the key): the clusters are
//! listed first, then the count of what follows is announced before it is spent, and every
//! request goes through the same budget gate as the daemon's. The clouds get one filtered
//! listing per account and region (a cluster's endpoints are in its region), not one call
//! per endpoint.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::cloud::{
    CloudEndpoint, CloudError, CloudKind, CloudResult, Cluster, Consumer, Page, Scope, TidbCloud,
};

use super::{Estate, Offered};

/// Where to look.
#[derive(Debug, Clone, Default)]
pub struct Reach {
    /// TiDB Cloud projects; empty: the API key's default project.
    pub projects: Vec<String>,
    /// AWS account names (`default` and those of `aws.accounts`).
    pub aws_accounts: Vec<String>,
    /// Google Cloud projects to look for forwarding rules in.
    pub gcp_projects: Vec<String>,
    /// Azure subscriptions to look for private endpoints in.
    pub azure_subscriptions: Vec<String>,
}

/// Filter values per DescribeVpcEndpoints filter (EC2's limit).
const SERVICES_PER_LISTING: usize = 200;

/// The TiDB Cloud requests after the cluster listing: a node-group listing and at least one
/// service per cluster, and a connection listing per project (more for more than 100).
pub fn requests_after_clusters(clusters: usize, projects: usize) -> usize {
    clusters * 2 + projects
}

async fn all_pages<T, F, Fut>(mut page: F) -> CloudResult<Vec<T>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = CloudResult<Page<T>>>,
{
    let (mut items, mut token) = (Vec::new(), None);
    loop {
        let p = page(token.take()).await?;
        items.extend(p.items);
        match p.next {
            Some(next) => token = Some(next),
            None => return Ok(items),
        }
    }
}

/// Lists the estate. `announce` hears how many clusters there are and how many TiDB Cloud
/// requests will follow, before they are made.
pub async fn discover<T, C>(
    tidb: &T,
    clouds: &C,
    reach: &Reach,
    announce: impl FnOnce(usize, usize),
) -> CloudResult<Estate>
where
    T: TidbCloud,
    C: Consumer<Endpoint = CloudEndpoint>,
{
    let projects: Vec<Option<&str>> = if reach.projects.is_empty() {
        vec![None]
    } else {
        reach.projects.iter().map(|p| Some(p.as_str())).collect()
    };
    let mut clusters: Vec<Arc<Cluster>> = Vec::new();
    for project in &projects {
        let listed =
            all_pages(|t| async move { tidb.list_clusters(*project, t.as_deref()).await }).await?;
        clusters.extend(listed.into_iter().map(Arc::new));
    }
    clusters.sort_by(|a, b| a.id.cmp(&b.id));
    clusters.dedup_by(|a, b| a.id == b.id);
    let mut project_ids: Vec<&str> = clusters.iter().map(|c| c.project_id.as_str()).collect();
    project_ids.sort_unstable();
    project_ids.dedup();
    announce(
        clusters.len(),
        requests_after_clusters(clusters.len(), project_ids.len()),
    );

    let mut estate = Estate::default();
    for cluster in &clusters {
        let groups = match tidb.list_node_groups(&cluster.id).await {
            Ok(groups) => groups,
            Err(CloudError::NotFound(_)) => continue, // deleted since the listing
            Err(e) => return Err(e),
        };
        for group in groups {
            match tidb.get_service(&cluster.id, &group.id).await {
                Ok(service) => estate.offered.push(Offered {
                    cluster: cluster.clone(),
                    node_group_id: group.id,
                    service,
                }),
                // No private link service (yet): nothing can connect to it.
                Err(CloudError::NotFound(_)) => {}
                Err(e) => estate.failed.push((
                    format!("cluster {} node group {}", cluster.id, group.id),
                    e.to_string(),
                )),
            }
        }
    }
    for project in project_ids {
        let listed =
            all_pages(|t| async move { tidb.list_connections(project, t.as_deref()).await })
                .await?;
        estate.connections.extend(listed);
    }

    // The services by where their endpoints can be: the cluster's cloud and region.
    let mut by_region: BTreeMap<(CloudKind, &str), Vec<String>> = BTreeMap::new();
    for o in &estate.offered {
        let cloud = match o.cluster.cloud_provider.as_str() {
            "aws" => CloudKind::Aws,
            "gcp" => CloudKind::Gcp,
            "azure" => CloudKind::Azure,
            _ => continue, // a cloud this version does not reach
        };
        by_region
            .entry((cloud, o.cluster.region.as_str()))
            .or_default()
            .push(o.service.name.clone());
    }
    for ((cloud, region), services) in by_region {
        let accounts = match cloud {
            CloudKind::Aws => &reach.aws_accounts,
            CloudKind::Gcp => &reach.gcp_projects,
            CloudKind::Azure => &reach.azure_subscriptions,
        };
        for account in accounts {
            let scope = Scope {
                cloud,
                account: account.clone(),
                region: region.to_string(),
            };
            match connected(clouds, &scope, &services).await {
                Ok(found) => estate
                    .endpoints
                    .extend(found.into_iter().map(|e| (scope.clone(), e))),
                Err(e) => estate
                    .failed
                    .push((format!("{account}/{region}"), e.to_string())),
            }
            estate.covered.push(scope);
        }
    }
    Ok(estate)
}

/// The endpoints of one scope connected to any of `services`.
async fn connected<C>(
    clouds: &C,
    scope: &Scope,
    services: &[String],
) -> CloudResult<Vec<C::Endpoint>>
where
    C: Consumer,
{
    let mut found = Vec::new();
    for chunk in services.chunks(SERVICES_PER_LISTING) {
        let listed =
            all_pages(|t| async move { clouds.list_connected(scope, chunk, t.as_deref()).await })
                .await?;
        found.extend(listed);
    }
    Ok(found)
}
