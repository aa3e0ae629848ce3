//! Client-side rate limits: the providers' published budgets, shared by every endpoint.
//!
//! `Budgeted<C>` wraps any cloud client and waits for a token before each call, so the daemon
//! schedules itself to the providers' limits instead of running into throttling errors. One
//! bucket for the TiDB Cloud API key; for EC2 one bucket per account, region and action, as
//! EC2 meters them. Token buckets are `governor`'s.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
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

struct Limits {
    tidb: DefaultDirectRateLimiter,
    mutating: DefaultKeyedRateLimiter<String>,
    describe: DefaultKeyedRateLimiter<String>,
    /// Time spent waiting for a token, per API: a metric.
    waited: Mutex<BTreeMap<&'static str, Duration>>,
}

/// A cloud client that keeps to the budgets; clones share them.
#[derive(Clone)]
pub struct Budgeted<C> {
    inner: C,
    limits: Arc<Limits>,
}

impl<C> Budgeted<C> {
    pub fn new(inner: C, rates: Rates) -> Self {
        Budgeted {
            inner,
            limits: Arc::new(Limits {
                tidb: RateLimiter::direct(quota(rates.tidb)),
                mutating: RateLimiter::keyed(quota(rates.ec2_mutating)),
                describe: RateLimiter::keyed(quota(rates.ec2_describe)),
                waited: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// Total time spent waiting for the budget, per API (`tidbcloud`, `ec2`).
    pub fn waited(&self) -> BTreeMap<&'static str, Duration> {
        self.limits
            .waited
            .lock()
            .map(|w| w.clone())
            .unwrap_or_default()
    }

    async fn tidb(&self) {
        let start = Instant::now();
        self.limits.tidb.until_ready().await;
        self.note("tidbcloud", start);
    }

    async fn ec2(&self, scope: &Scope, action: &str, mutating: bool) {
        let start = Instant::now();
        let key = format!("{}/{}/{action}", scope.account, scope.region);
        let limiter = if mutating {
            &self.limits.mutating
        } else {
            &self.limits.describe
        };
        limiter.until_key_ready(&key).await;
        self.note("ec2", start);
    }

    fn note(&self, api: &'static str, start: Instant) {
        if let Ok(mut waited) = self.limits.waited.lock() {
            *waited.entry(api).or_default() += start.elapsed();
        }
    }
}

impl<C: TidbCloud> TidbCloud for Budgeted<C> {
    async fn get_cluster(&self, cluster_id: &str) -> CloudResult<Cluster> {
        self.tidb().await;
        self.inner.get_cluster(cluster_id).await
    }

    async fn list_node_groups(&self, cluster_id: &str) -> CloudResult<Vec<NodeGroup>> {
        self.tidb().await;
        self.inner.list_node_groups(cluster_id).await
    }

    async fn get_service(&self, cluster_id: &str, node_group_id: &str) -> CloudResult<Service> {
        self.tidb().await;
        self.inner.get_service(cluster_id, node_group_id).await
    }

    async fn list_connections(
        &self,
        project_id: &str,
        page_token: Option<&str>,
    ) -> CloudResult<Page<Connection>> {
        self.tidb().await;
        self.inner.list_connections(project_id, page_token).await
    }

    async fn create_connection(
        &self,
        cluster_id: &str,
        node_group_id: &str,
        endpoint_id: &str,
    ) -> CloudResult<Connection> {
        self.tidb().await;
        self.inner
            .create_connection(cluster_id, node_group_id, endpoint_id)
            .await
    }

    async fn delete_connection(&self, connection: &Connection) -> CloudResult<()> {
        self.tidb().await;
        self.inner.delete_connection(connection).await
    }
}

impl<C: Ec2> Ec2 for Budgeted<C> {
    async fn list_owned_endpoints(
        &self,
        scope: &Scope,
        owner: &str,
        page_token: Option<&str>,
    ) -> CloudResult<Page<VpcEndpoint>> {
        self.ec2(scope, "DescribeVpcEndpoints", false).await;
        self.inner
            .list_owned_endpoints(scope, owner, page_token)
            .await
    }

    async fn describe_endpoints(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<Vec<VpcEndpoint>> {
        self.ec2(scope, "DescribeVpcEndpoints", false).await;
        self.inner.describe_endpoints(scope, ids).await
    }

    async fn describe_vpc_attribute(
        &self,
        scope: &Scope,
        vpc_id: &str,
        attribute: VpcAttribute,
    ) -> CloudResult<Option<bool>> {
        self.ec2(scope, "DescribeVpcAttribute", false).await;
        self.inner
            .describe_vpc_attribute(scope, vpc_id, attribute)
            .await
    }

    async fn describe_subnets(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<BTreeMap<String, (String, String)>> {
        self.ec2(scope, "DescribeSubnets", false).await;
        self.inner.describe_subnets(scope, ids).await
    }

    async fn describe_security_groups(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<BTreeMap<String, String>> {
        self.ec2(scope, "DescribeSecurityGroups", false).await;
        self.inner.describe_security_groups(scope, ids).await
    }

    async fn create_endpoint(
        &self,
        scope: &Scope,
        request: &CreateEndpoint,
    ) -> CloudResult<VpcEndpoint> {
        self.ec2(scope, "CreateVpcEndpoint", true).await;
        self.inner.create_endpoint(scope, request).await
    }

    async fn modify_endpoint(&self, scope: &Scope, request: &ModifyEndpoint) -> CloudResult<()> {
        self.ec2(scope, "ModifyVpcEndpoint", true).await;
        self.inner.modify_endpoint(scope, request).await
    }

    async fn delete_endpoint(&self, scope: &Scope, endpoint_id: &str) -> CloudResult<()> {
        self.ec2(scope, "DeleteVpcEndpoints", true).await;
        self.inner.delete_endpoint(scope, endpoint_id).await
    }

    async fn create_tags(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        tags: &BTreeMap<String, String>,
    ) -> CloudResult<()> {
        self.ec2(scope, "CreateTags", false).await;
        self.inner.create_tags(scope, endpoint_id, tags).await
    }

    async fn delete_tags(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        keys: &[String],
    ) -> CloudResult<()> {
        self.ec2(scope, "DeleteTags", false).await;
        self.inner.delete_tags(scope, endpoint_id, keys).await
    }
}
