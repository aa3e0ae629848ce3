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

use backon::{ExponentialBuilder, Retryable};
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

/// Retries of an idempotent call after a transient failure (so at most 4 attempts).
const RETRIES: usize = 3;

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
    rates: Rates,
    limits: Arc<Limits>,
    observer: Option<Arc<dyn CallObserver>>,
}

impl<C> Budgeted<C> {
    pub fn new(inner: C, rates: Rates) -> Self {
        Budgeted {
            inner,
            rates,
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

    /// The budgets this gate keeps to.
    pub fn rates(&self) -> Rates {
        self.rates
    }

    /// Waits for the budget, makes the call, reports it, and retries transient failures
    /// (timeouts, 5xx, throttling) with jittered exponential backoff, each attempt metered
    /// like the first. Calls that are not idempotent are made once: the next pass observes
    /// whether they took effect before trying again.
    async fn gated<T, Fut>(
        &self,
        bucket: Bucket<'_>,
        operation: &'static str,
        idempotent: bool,
        call: impl Fn() -> Fut,
    ) -> CloudResult<T>
    where
        Fut: Future<Output = CloudResult<T>>,
    {
        let attempt = || async {
            let start = Instant::now();
            let api = self.wait(&bucket, operation).await;
            let sent = Instant::now();
            let result = call().await;
            if let Some(observer) = &self.observer {
                observer.budget_wait(api, sent - start);
                observer.call(api, operation, Outcome::of(&result), sent.elapsed());
            }
            result
        };
        let retries = if idempotent { RETRIES } else { 0 };
        attempt
            .retry(
                ExponentialBuilder::default()
                    .with_jitter()
                    .with_min_delay(Duration::from_millis(200))
                    .with_max_delay(Duration::from_secs(10))
                    .with_max_times(retries),
            )
            .when(CloudError::is_transient)
            // A 429 says when the budget resets: waiting less is pointless, more is waste.
            .adjust(|e, backoff| match e {
                CloudError::Throttled { retry_after, .. } => Some(*retry_after),
                _ => backoff,
            })
            .await
    }

    /// Takes a token from the call's bucket; the API's name for metrics.
    async fn wait(&self, bucket: &Bucket<'_>, operation: &str) -> &'static str {
        match bucket {
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
        }
    }
}

impl<C: TidbCloud> TidbCloud for Budgeted<C> {
    async fn get_cluster(&self, cluster_id: &str) -> CloudResult<Cluster> {
        self.gated(Bucket::Tidb, "GetCluster", true, || {
            self.inner.get_cluster(cluster_id)
        })
        .await
    }

    async fn list_node_groups(&self, cluster_id: &str) -> CloudResult<Vec<NodeGroup>> {
        self.gated(Bucket::Tidb, "ListTidbNodeGroups", true, || {
            self.inner.list_node_groups(cluster_id)
        })
        .await
    }

    async fn get_service(&self, cluster_id: &str, node_group_id: &str) -> CloudResult<Service> {
        self.gated(Bucket::Tidb, "GetPrivateLinkService", true, || {
            self.inner.get_service(cluster_id, node_group_id)
        })
        .await
    }

    async fn list_connections(
        &self,
        project_id: &str,
        page_token: Option<&str>,
    ) -> CloudResult<Page<Connection>> {
        self.gated(Bucket::Tidb, "ListPrivateEndpointConnections", true, || {
            self.inner.list_connections(project_id, page_token)
        })
        .await
    }

    async fn create_connection(
        &self,
        cluster_id: &str,
        node_group_id: &str,
        endpoint_id: &str,
    ) -> CloudResult<Connection> {
        // Not retried here: a create whose answer was lost would fail again as a duplicate.
        self.gated(
            Bucket::Tidb,
            "CreatePrivateEndpointConnection",
            false,
            || {
                self.inner
                    .create_connection(cluster_id, node_group_id, endpoint_id)
            },
        )
        .await
    }

    async fn delete_connection(&self, connection: &Connection) -> CloudResult<()> {
        self.gated(
            Bucket::Tidb,
            "DeletePrivateEndpointConnection",
            true,
            || self.inner.delete_connection(connection),
        )
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
        self.gated(
            Bucket::Describe(scope),
            "DescribeVpcEndpoints",
            true,
            || self.inner.list_owned_endpoints(scope, owner, page_token),
        )
        .await
    }

    async fn describe_endpoints(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<Vec<VpcEndpoint>> {
        self.gated(
            Bucket::Describe(scope),
            "DescribeVpcEndpoints",
            true,
            || self.inner.describe_endpoints(scope, ids),
        )
        .await
    }

    async fn describe_vpc_attribute(
        &self,
        scope: &Scope,
        vpc_id: &str,
        attribute: VpcAttribute,
    ) -> CloudResult<Option<bool>> {
        self.gated(
            Bucket::Describe(scope),
            "DescribeVpcAttribute",
            true,
            || self.inner.describe_vpc_attribute(scope, vpc_id, attribute),
        )
        .await
    }

    async fn describe_subnets(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<BTreeMap<String, (String, String)>> {
        self.gated(Bucket::Describe(scope), "DescribeSubnets", true, || {
            self.inner.describe_subnets(scope, ids)
        })
        .await
    }

    async fn describe_security_groups(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<BTreeMap<String, String>> {
        self.gated(
            Bucket::Describe(scope),
            "DescribeSecurityGroups",
            true,
            || self.inner.describe_security_groups(scope, ids),
        )
        .await
    }

    async fn create_endpoint(
        &self,
        scope: &Scope,
        request: &CreateEndpoint,
    ) -> CloudResult<VpcEndpoint> {
        self.gated(Bucket::Mutating(scope), "CreateVpcEndpoint", true, || {
            self.inner.create_endpoint(scope, request)
        })
        .await
    }

    async fn modify_endpoint(&self, scope: &Scope, request: &ModifyEndpoint) -> CloudResult<()> {
        self.gated(Bucket::Mutating(scope), "ModifyVpcEndpoint", true, || {
            self.inner.modify_endpoint(scope, request)
        })
        .await
    }

    async fn delete_endpoint(&self, scope: &Scope, endpoint_id: &str) -> CloudResult<()> {
        self.gated(Bucket::Mutating(scope), "DeleteVpcEndpoints", true, || {
            self.inner.delete_endpoint(scope, endpoint_id)
        })
        .await
    }

    async fn create_tags(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        tags: &BTreeMap<String, String>,
    ) -> CloudResult<()> {
        self.gated(Bucket::Describe(scope), "CreateTags", true, || {
            self.inner.create_tags(scope, endpoint_id, tags)
        })
        .await
    }

    async fn delete_tags(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        keys: &[String],
    ) -> CloudResult<()> {
        self.gated(Bucket::Describe(scope), "DeleteTags", true, || {
            self.inner.delete_tags(scope, endpoint_id, keys)
        })
        .await
    }
}
