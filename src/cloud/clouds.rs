//! Every cloud's consumer-side client behind one `Consumer`: the cloud-neutral machinery
//! (ownership listings, the ledger, `gone`, removals, marks) calls it with a scope, and the
//! scope's cloud picks the client. Adding a cloud is a field and an arm per method here.

use std::collections::BTreeMap;

use super::any::AnyArm;
use super::azure::AzureLink;
use super::budget::Budgeted;
use super::gcp::{Gcp, Psc};
use super::{CloudEndpoint, CloudKind, CloudResult, Consumer, Ec2, Page, Scope};

/// The consumer-side clients of every cloud; clones share what the clients share.
#[derive(Clone)]
pub struct Clouds<E, G> {
    pub ec2: E,
    pub psc: Psc<G>,
    /// Azure's client is one type whichever backend (simulated, real, none): the engine's
    /// type parameters stay those of the clouds its tests vary.
    pub azure: AzureLink<Budgeted<AnyArm>>,
}

impl<E: Ec2, G: Gcp> Clouds<E, G> {
    /// AWS and Google Cloud; Azure unconfigured (`with_azure`).
    pub fn new(ec2: E, gcp: G) -> Clouds<E, G> {
        let rates = super::budget::Rates::default();
        Clouds {
            ec2,
            psc: Psc::new(gcp),
            azure: AzureLink::new(Budgeted::new(AnyArm::Unconfigured, rates)),
        }
    }

    pub fn with_azure(mut self, arm: Budgeted<AnyArm>) -> Clouds<E, G> {
        self.azure = AzureLink::new(arm);
        self
    }
}

fn all<T: Into<CloudEndpoint>>(page: Page<T>) -> Page<CloudEndpoint> {
    Page {
        items: page.items.into_iter().map(Into::into).collect(),
        next: page.next,
    }
}

fn each<T: Into<CloudEndpoint>>(items: Vec<T>) -> Vec<CloudEndpoint> {
    items.into_iter().map(Into::into).collect()
}

impl<E: Ec2, G: Gcp> Consumer for Clouds<E, G> {
    type Endpoint = CloudEndpoint;

    async fn list_marked(
        &self,
        scope: &Scope,
        mark: (&str, &str),
        page_token: Option<&str>,
    ) -> CloudResult<Page<CloudEndpoint>> {
        match scope.cloud {
            CloudKind::Aws => Ok(all(self.ec2.list_marked(scope, mark, page_token).await?)),
            CloudKind::Gcp => Ok(all(self.psc.list_marked(scope, mark, page_token).await?)),
            CloudKind::Azure => Ok(all(self.azure.list_marked(scope, mark, page_token).await?)),
        }
    }

    async fn list_connected(
        &self,
        scope: &Scope,
        services: &[String],
        page_token: Option<&str>,
    ) -> CloudResult<Page<CloudEndpoint>> {
        match scope.cloud {
            CloudKind::Aws => Ok(all(self
                .ec2
                .list_connected(scope, services, page_token)
                .await?)),
            CloudKind::Gcp => Ok(all(self
                .psc
                .list_connected(scope, services, page_token)
                .await?)),
            CloudKind::Azure => Ok(all(self
                .azure
                .list_connected(scope, services, page_token)
                .await?)),
        }
    }

    async fn describe_endpoints(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<Vec<CloudEndpoint>> {
        match scope.cloud {
            CloudKind::Aws => Ok(each(self.ec2.describe_endpoints(scope, ids).await?)),
            CloudKind::Gcp => Ok(each(self.psc.describe_endpoints(scope, ids).await?)),
            CloudKind::Azure => Ok(each(self.azure.describe_endpoints(scope, ids).await?)),
        }
    }

    async fn delete_endpoint(&self, scope: &Scope, id: &str) -> CloudResult<()> {
        match scope.cloud {
            CloudKind::Aws => self.ec2.delete_endpoint(scope, id).await,
            CloudKind::Gcp => self.psc.delete_endpoint(scope, id).await,
            CloudKind::Azure => self.azure.delete_endpoint(scope, id).await,
        }
    }

    async fn set_marks(
        &self,
        scope: &Scope,
        id: &str,
        marks: &BTreeMap<String, String>,
    ) -> CloudResult<()> {
        match scope.cloud {
            CloudKind::Aws => self.ec2.set_marks(scope, id, marks).await,
            CloudKind::Gcp => self.psc.set_marks(scope, id, marks).await,
            CloudKind::Azure => self.azure.set_marks(scope, id, marks).await,
        }
    }

    async fn remove_marks(&self, scope: &Scope, id: &str, keys: &[String]) -> CloudResult<()> {
        match scope.cloud {
            CloudKind::Aws => self.ec2.remove_marks(scope, id, keys).await,
            CloudKind::Gcp => self.psc.remove_marks(scope, id, keys).await,
            CloudKind::Azure => self.azure.remove_marks(scope, id, keys).await,
        }
    }
}
