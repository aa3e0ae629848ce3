//! The call gate: client-side rate limits and per-call observation, in front of any client.
//!
//! `Budgeted<C>` waits for a token before each call, so the daemon schedules itself to the
//! providers' published budgets instead of running into throttling errors: one bucket for the
//! TiDB Cloud API key; for EC2 one bucket per account, region and action, as EC2 meters them.
//! Token buckets are `governor`'s. Each call's outcome and latency, and each wait, go to an
//! optional [`CallObserver`] (the metrics).

use std::collections::BTreeMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::*;

/// One bucket's refill rate and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
}

/// The budgets to keep to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub tidb: Rate,
    pub ec2_mutating: Rate,
    pub ec2_describe: Rate,
}

impl Default for Rates {
    /// The providers' published limits: TiDB Cloud 100 requests per minute per key; EC2
    /// CreateVpcEndpoint / ModifyVpcEndpoint / DeleteVpcEndpoints 4 burst + 0.3/s, and
    /// Describe* 100 burst + 20/s, per account, region and action.
    fn default() -> Self {
        Rates {
            tidb: Rate {
                per_second: 100.0 / 60.0,
                burst: 100,
            },
            ec2_mutating: Rate {
                per_second: 0.3,
                burst: 4,
            },
            ec2_describe: Rate {
                per_second: 20.0,
                burst: 100,
            },
        }
    }
}

impl Rates {
    /// The same budgets on a clock that runs `factor` times faster (the simulated cloud's).
    pub fn scaled(self, factor: f64) -> Rates {
        let scale = |r: Rate| Rate {
            per_second: r.per_second * factor,
            ..r
        };
        Rates {
            tidb: scale(self.tidb),
            ec2_mutating: scale(self.ec2_mutating),
            ec2_describe: scale(self.ec2_describe),
        }
    }
}

fn quota(rate: Rate) -> Quota {
    // A whisker under the provider's rate: its bucket and ours start at slightly different
    // instants, and we would rather wait a millisecond than be throttled.
    let period = Duration::from_secs_f64(1.0 / (rate.per_second * 0.98));
    Quota::with_period(period)
        .expect("rates are positive")
        .allow_burst(NonZeroU32::new(rate.burst.max(1)).expect("at least 1"))
}

/// Which bucket a call draws from.
enum Bucket<'a> {
    Tidb,
    /// EC2 create/modify/delete of endpoints.
    Mutating(&'a Scope),
    /// EC2 describes (and tags, which have a bucket of their own at least as large).
    Describe(&'a Scope),
}

struct Limits {
    tidb: DefaultDirectRateLimiter,
    mutating: DefaultKeyedRateLimiter<String>,
    describe: DefaultKeyedRateLimiter<String>,
}

/// A cloud client that keeps to the budgets; clones share them.
#[derive(Clone)]
pub struct Budgeted<C> {
    inner: C,
    limits: Arc<Limits>,
    observer: Option<Arc<dyn CallObserver>>,
}

impl<C> Budgeted<C> {
    pub fn new(inner: C, rates: Rates) -> Self {
        Budgeted {
            inner,
            limits: Arc::new(Limits {
                tidb: RateLimiter::direct(quota(rates.tidb)),
                mutating: RateLimiter::keyed(quota(rates.ec2_mutating)),
                describe: RateLimiter::keyed(quota(rates.ec2_describe)),
            }),
            observer: None,
        }
    }

    /// Reports every call and every wait to `observer`.
    pub fn observed_by(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// Waits for the budget, makes the call, and reports both.
    async fn gated<T>(
        &self,
        bucket: Bucket<'_>,
        operation: &'static str,
        call: impl Future<Output = CloudResult<T>>,
    ) -> CloudResult<T> {
        let start = Instant::now();
        let api = match bucket {
            Bucket::Tidb => {
                self.limits.tidb.until_ready().await;
                "tidbcloud"
            }
            Bucket::Mutating(scope) | Bucket::Describe(scope) => {
                let key = format!("{}/{}/{operation}", scope.account, scope.region);
                let limiter = match bucket {
                    Bucket::Mutating(_) => &self.limits.mutating,
                    _ => &self.limits.describe,
                };
                limiter.until_key_ready(&key).await;
                "ec2"
            }
        };
        let sent = Instant::now();
        let result = call.await;
        if let Some(observer) = &self.observer {
            observer.budget_wait(api, sent - start);
            observer.call(api, operation, Outcome::of(&result), sent.elapsed());
        }
        result
    }
}

impl<C: TidbCloud> TidbCloud for Budgeted<C> {
    async fn get_cluster(&self, cluster_id: &str) -> CloudResult<Cluster> {
        let call = self.inner.get_cluster(cluster_id);
        self.gated(Bucket::Tidb, "GetCluster", call).await
    }

    async fn list_node_groups(&self, cluster_id: &str) -> CloudResult<Vec<NodeGroup>> {
        let call = self.inner.list_node_groups(cluster_id);
        self.gated(Bucket::Tidb, "ListTidbNodeGroups", call).await
    }

    async fn get_service(&self, cluster_id: &str, node_group_id: &str) -> CloudResult<Service> {
        let call = self.inner.get_service(cluster_id, node_group_id);
        self.gated(Bucket::Tidb, "GetPrivateLinkService", call)
            .await
    }

    async fn list_connections(
        &self,
        project_id: &str,
        page_token: Option<&str>,
    ) -> CloudResult<Page<Connection>> {
        let call = self.inner.list_connections(project_id, page_token);
        self.gated(Bucket::Tidb, "ListPrivateEndpointConnections", call)
            .await
    }

    async fn create_connection(
        &self,
        cluster_id: &str,
        node_group_id: &str,
        endpoint_id: &str,
    ) -> CloudResult<Connection> {
        let call = self
            .inner
            .create_connection(cluster_id, node_group_id, endpoint_id);
        self.gated(Bucket::Tidb, "CreatePrivateEndpointConnection", call)
            .await
    }

    async fn delete_connection(&self, connection: &Connection) -> CloudResult<()> {
        let call = self.inner.delete_connection(connection);
        self.gated(Bucket::Tidb, "DeletePrivateEndpointConnection", call)
            .await
    }
}

impl<C: Ec2> Ec2 for Budgeted<C> {
    async fn list_owned_endpoints(
        &self,
        scope: &Scope,
        owner: &str,
        page_token: Option<&str>,
    ) -> CloudResult<Page<VpcEndpoint>> {
        let call = self.inner.list_owned_endpoints(scope, owner, page_token);
        self.gated(Bucket::Describe(scope), "DescribeVpcEndpoints", call)
            .await
    }

    async fn describe_endpoints(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<Vec<VpcEndpoint>> {
        let call = self.inner.describe_endpoints(scope, ids);
        self.gated(Bucket::Describe(scope), "DescribeVpcEndpoints", call)
            .await
    }

    async fn describe_vpc_attribute(
        &self,
        scope: &Scope,
        vpc_id: &str,
        attribute: VpcAttribute,
    ) -> CloudResult<Option<bool>> {
        let call = self.inner.describe_vpc_attribute(scope, vpc_id, attribute);
        self.gated(Bucket::Describe(scope), "DescribeVpcAttribute", call)
            .await
    }

    async fn describe_subnets(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<BTreeMap<String, (String, String)>> {
        let call = self.inner.describe_subnets(scope, ids);
        self.gated(Bucket::Describe(scope), "DescribeSubnets", call)
            .await
    }

    async fn describe_security_groups(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<BTreeMap<String, String>> {
        let call = self.inner.describe_security_groups(scope, ids);
        self.gated(Bucket::Describe(scope), "DescribeSecurityGroups", call)
            .await
    }

    async fn create_endpoint(
        &self,
        scope: &Scope,
        request: &CreateEndpoint,
    ) -> CloudResult<VpcEndpoint> {
        let call = self.inner.create_endpoint(scope, request);
        self.gated(Bucket::Mutating(scope), "CreateVpcEndpoint", call)
            .await
    }

    async fn modify_endpoint(&self, scope: &Scope, request: &ModifyEndpoint) -> CloudResult<()> {
        let call = self.inner.modify_endpoint(scope, request);
        self.gated(Bucket::Mutating(scope), "ModifyVpcEndpoint", call)
            .await
    }

    async fn delete_endpoint(&self, scope: &Scope, endpoint_id: &str) -> CloudResult<()> {
        let call = self.inner.delete_endpoint(scope, endpoint_id);
        self.gated(Bucket::Mutating(scope), "DeleteVpcEndpoints", call)
            .await
    }

    async fn create_tags(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        tags: &BTreeMap<String, String>,
    ) -> CloudResult<()> {
        let call = self.inner.create_tags(scope, endpoint_id, tags);
        self.gated(Bucket::Describe(scope), "CreateTags", call)
            .await
    }

    async fn delete_tags(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        keys: &[String],
    ) -> CloudResult<()> {
        let call = self.inner.delete_tags(scope, endpoint_id, keys);
        self.gated(Bucket::Describe(scope), "DeleteTags", call)
            .await
    }
}
