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
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use super::fence::Fence;
use super::*;

/// The budgets to keep to: the providers' published ones unless configured otherwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub tidb: Rate,
    pub ec2_mutating: Rate,
    pub ec2_describe: Rate,
    /// Each Compute Engine quota group of a project (reads, mutations, operation reads).
    pub gcp: Rate,
    /// Azure Resource Manager per subscription: reads, and writes (deletes alike).
    pub arm_read: Rate,
    pub arm_write: Rate,
}

impl Default for Rates {
    fn default() -> Self {
        Rates {
            tidb: BucketClass::Tidb.published(),
            ec2_mutating: BucketClass::Ec2Mutating.published(),
            ec2_describe: BucketClass::Ec2Describe.published(),
            gcp: BucketClass::GcpRead.published(),
            arm_read: BucketClass::ArmRead.published(),
            arm_write: BucketClass::ArmWrite.published(),
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
            gcp: scale(self.gcp),
            arm_read: scale(self.arm_read),
            arm_write: scale(self.arm_write),
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

/// tokio's clock, for governor: the buckets refill on the clock everything else waits on, so
/// tests and benchmarks on tokio's paused clock see budgets refill in virtual time (and no
/// timer thread of governor's own is needed).
#[derive(Debug, Clone, Copy, Default)]
struct TokioClock;

impl Clock for TokioClock {
    type Instant = std::time::Instant;

    fn now(&self) -> std::time::Instant {
        tokio::time::Instant::now().into_std()
    }
}

type Middleware = NoOpMiddleware<std::time::Instant>;
type Bucket = RateLimiter<NotKeyed, InMemoryState, TokioClock, Middleware>;
type Buckets = RateLimiter<String, HashMapStateStore<String>, TokioClock, Middleware>;

struct Limits {
    tidb: Bucket,
    mutating: Buckets,
    describe: Buckets,
    /// Compute Engine: one per project and quota group.
    gcp: Buckets,
    /// Resource Manager: reads, and writes and deletes, each per subscription.
    arm_read: Buckets,
    arm_write: Buckets,
}

/// A cloud client that keeps to the budgets; clones share them.
#[derive(Clone)]
pub struct Budgeted<C> {
    inner: C,
    rates: Rates,
    limits: Arc<Limits>,
    observer: Option<Arc<dyn CallObserver>>,
    /// With leader election: mutating calls start only while the lease is held.
    fence: Option<Fence>,
}

impl<C> Budgeted<C> {
    pub fn new(inner: C, rates: Rates) -> Self {
        Budgeted {
            inner,
            rates,
            limits: Arc::new(Limits {
                tidb: RateLimiter::direct_with_clock(quota(rates.tidb), TokioClock),
                mutating: RateLimiter::hashmap_with_clock(quota(rates.ec2_mutating), TokioClock),
                describe: RateLimiter::hashmap_with_clock(quota(rates.ec2_describe), TokioClock),
                gcp: RateLimiter::hashmap_with_clock(quota(rates.gcp), TokioClock),
                arm_read: RateLimiter::hashmap_with_clock(quota(rates.arm_read), TokioClock),
                arm_write: RateLimiter::hashmap_with_clock(quota(rates.arm_write), TokioClock),
            }),
            observer: None,
            fence: None,
        }
    }

    /// Mutating calls start only while `fence` is open (leader election).
    pub fn fenced_by(mut self, fence: Fence) -> Self {
        self.fence = Some(fence);
        self
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
        op: Operation,
        scope: Option<&Scope>,
        call: impl Fn() -> Fut,
    ) -> CloudResult<T>
    where
        Fut: Future<Output = CloudResult<T>>,
    {
        let attempt = || async {
            let start = Instant::now();
            self.wait(op, scope).await?;
            // Checked after the wait for the budget, which may be long: the lease must hold
            // when the call starts.
            if op.mutating && self.fence.as_ref().is_some_and(|f| !f.is_open()) {
                return Err(CloudError::Fenced);
            }
            let sent = Instant::now();
            let result = call().await;
            if let Some(observer) = &self.observer {
                let api = op.class.api();
                observer.budget_wait(api, sent - start);
                observer.call(api, op.name, Outcome::of(&result), sent.elapsed());
            }
            // Every call gives the event loop a turn: a pass of many calls never holds it
            // (health probes, the watchdog, a stop signal wait for one call at most).
            tokio::task::yield_now().await;
            result
        };
        let retries = if op.idempotent { RETRIES } else { 0 };
        attempt
            .retry(
                ExponentialBuilder::default()
                    .with_jitter()
                    .with_min_delay(Duration::from_millis(200))
                    .with_max_delay(Duration::from_secs(10))
                    .with_max_times(retries),
            )
            .when(|e| e.is_transient() && !matches!(e, CloudError::Fenced | CloudError::Deferred))
            // A 429 says when the budget resets: waiting less is pointless, more is waste. Only
            // while resends are left: `backoff` is `None` once they are spent, and a wait given
            // then would resend forever (a persistent throttle hung a pass).
            .adjust(|e, backoff| match e {
                CloudError::Throttled { retry_after, .. } => backoff.map(|_| *retry_after),
                _ => backoff,
            })
            .await
    }

    /// Takes a token from the call's bucket: the key's, or the account's, region's and
    /// action's. Inside [`within_window`], a wait that would end past the window is not
    /// begun (no token is taken): the call is `Deferred` to the next pass.
    async fn wait(&self, op: Operation, scope: Option<&Scope>) -> CloudResult<()> {
        // EC2 meters per account, region and action; Compute Engine per project and group;
        // Resource Manager per subscription and kind (reads, writes, deletes).
        let key = scope.map(|s| match op.class {
            BucketClass::GcpRead
            | BucketClass::GcpWrite
            | BucketClass::GcpOperationRead
            | BucketClass::ArmRead
            | BucketClass::ArmWrite
            | BucketClass::ArmDelete => format!("{}/{:?}", s.account, op.class),
            _ => format!("{}/{}/{}", s.account, s.region, op.name),
        });
        loop {
            let taken = match (op.class, &key) {
                (BucketClass::Tidb, _) => self.limits.tidb.check(),
                (BucketClass::Ec2Mutating, Some(key)) => self.limits.mutating.check_key(key),
                (BucketClass::Ec2Describe, Some(key)) => self.limits.describe.check_key(key),
                (BucketClass::ArmRead, Some(key)) => self.limits.arm_read.check_key(key),
                (BucketClass::ArmWrite | BucketClass::ArmDelete, Some(key)) => {
                    self.limits.arm_write.check_key(key)
                }
                (_, Some(key)) => self.limits.gcp.check_key(key),
                (_, None) => unreachable!("cloud operations have a scope"),
            };
            match taken {
                Ok(()) => return Ok(()),
                Err(later) => {
                    let wait = later.wait_time_from(TokioClock.now());
                    let closes =
                        APPLY_WINDOW.try_with(|end| tokio::time::Instant::now() + wait > *end);
                    if closes == Ok(true) {
                        return Err(CloudError::Deferred);
                    }
                    tokio::time::sleep(wait).await
                }
            }
        }
    }
}

tokio::task_local! {
    /// The end of the apply window of the task that runs a pass's actions.
    static APPLY_WINDOW: tokio::time::Instant;
}

/// Runs `f` (one endpoint's actions) with an apply window: a call whose budget would let it
/// start only after `end` is not sent (`CloudError::Deferred`). The window cuts waits for the
/// budget, never a call in flight: cut, an answer already on its way would be lost (a
/// registration TiDB Cloud made, unknown to the daemon until its next full listing).
pub async fn within_window<F: Future>(end: tokio::time::Instant, f: F) -> F::Output {
    APPLY_WINDOW.scope(end, f).await
}

impl<C: TidbCloud> TidbCloud for Budgeted<C> {
    async fn list_clusters(
        &self,
        project_id: Option<&str>,
        page_token: Option<&str>,
    ) -> CloudResult<Page<Cluster>> {
        self.gated(op::LIST_CLUSTERS, None, || {
            self.inner.list_clusters(project_id, page_token)
        })
        .await
    }

    async fn get_cluster(&self, cluster_id: &str) -> CloudResult<Cluster> {
        self.gated(op::GET_CLUSTER, None, || self.inner.get_cluster(cluster_id))
            .await
    }

    async fn list_node_groups(&self, cluster_id: &str) -> CloudResult<Vec<NodeGroup>> {
        self.gated(op::LIST_NODE_GROUPS, None, || {
            self.inner.list_node_groups(cluster_id)
        })
        .await
    }

    async fn get_service(&self, cluster_id: &str, node_group_id: &str) -> CloudResult<Service> {
        self.gated(op::GET_SERVICE, None, || {
            self.inner.get_service(cluster_id, node_group_id)
        })
        .await
    }

    async fn list_connections(
        &self,
        project_id: &str,
        page_token: Option<&str>,
    ) -> CloudResult<Page<Connection>> {
        self.gated(op::LIST_CONNECTIONS, None, || {
            self.inner.list_connections(project_id, page_token)
        })
        .await
    }

    async fn get_connection(
        &self,
        cluster_id: &str,
        node_group_id: &str,
        connection_id: &str,
    ) -> CloudResult<Connection> {
        self.gated(op::GET_CONNECTION, None, || {
            self.inner
                .get_connection(cluster_id, node_group_id, connection_id)
        })
        .await
    }

    async fn create_connection(
        &self,
        cluster_id: &str,
        node_group_id: &str,
        endpoint_id: &str,
        private_ip: Option<&str>,
    ) -> CloudResult<Connection> {
        self.gated(op::CREATE_CONNECTION, None, || {
            self.inner
                .create_connection(cluster_id, node_group_id, endpoint_id, private_ip)
        })
        .await
    }

    async fn delete_connection(&self, connection: &Connection) -> CloudResult<()> {
        self.gated(op::DELETE_CONNECTION, None, || {
            self.inner.delete_connection(connection)
        })
        .await
    }
}

impl<C: Ec2> Consumer for Budgeted<C> {
    type Endpoint = VpcEndpoint;

    async fn list_marked(
        &self,
        scope: &Scope,
        tag: (&str, &str),
        page_token: Option<&str>,
    ) -> CloudResult<Page<VpcEndpoint>> {
        self.gated(op::DESCRIBE_VPC_ENDPOINTS, Some(scope), || {
            self.inner.list_marked(scope, tag, page_token)
        })
        .await
    }

    async fn list_connected(
        &self,
        scope: &Scope,
        services: &[String],
        page_token: Option<&str>,
    ) -> CloudResult<Page<VpcEndpoint>> {
        self.gated(op::DESCRIBE_VPC_ENDPOINTS, Some(scope), || {
            self.inner.list_connected(scope, services, page_token)
        })
        .await
    }

    async fn describe_endpoints(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<Vec<VpcEndpoint>> {
        self.gated(op::DESCRIBE_VPC_ENDPOINTS, Some(scope), || {
            self.inner.describe_endpoints(scope, ids)
        })
        .await
    }

    async fn delete_endpoint(&self, scope: &Scope, endpoint_id: &str) -> CloudResult<()> {
        self.gated(op::DELETE_VPC_ENDPOINTS, Some(scope), || {
            self.inner.delete_endpoint(scope, endpoint_id)
        })
        .await
    }

    async fn set_marks(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        tags: &BTreeMap<String, String>,
    ) -> CloudResult<()> {
        self.gated(op::CREATE_TAGS, Some(scope), || {
            self.inner.set_marks(scope, endpoint_id, tags)
        })
        .await
    }

    async fn remove_marks(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        keys: &[String],
    ) -> CloudResult<()> {
        self.gated(op::DELETE_TAGS, Some(scope), || {
            self.inner.remove_marks(scope, endpoint_id, keys)
        })
        .await
    }
}

impl<C: Ec2> Ec2 for Budgeted<C> {
    async fn describe_vpc_attribute(
        &self,
        scope: &Scope,
        vpc_id: &str,
        attribute: VpcAttribute,
    ) -> CloudResult<Option<bool>> {
        self.gated(op::DESCRIBE_VPC_ATTRIBUTE, Some(scope), || {
            self.inner.describe_vpc_attribute(scope, vpc_id, attribute)
        })
        .await
    }

    async fn describe_subnets(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<BTreeMap<String, (String, String)>> {
        self.gated(op::DESCRIBE_SUBNETS, Some(scope), || {
            self.inner.describe_subnets(scope, ids)
        })
        .await
    }

    async fn describe_security_groups(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<BTreeMap<String, SecurityGroup>> {
        self.gated(op::DESCRIBE_SECURITY_GROUPS, Some(scope), || {
            self.inner.describe_security_groups(scope, ids)
        })
        .await
    }

    async fn describe_vpcs(
        &self,
        scope: &Scope,
        ids: &[String],
    ) -> CloudResult<BTreeMap<String, Vec<String>>> {
        self.gated(op::DESCRIBE_VPCS, Some(scope), || {
            self.inner.describe_vpcs(scope, ids)
        })
        .await
    }

    async fn create_endpoint(
        &self,
        scope: &Scope,
        request: &CreateEndpoint,
    ) -> CloudResult<VpcEndpoint> {
        self.gated(op::CREATE_VPC_ENDPOINT, Some(scope), || {
            self.inner.create_endpoint(scope, request)
        })
        .await
    }

    async fn modify_endpoint(&self, scope: &Scope, request: &ModifyEndpoint) -> CloudResult<()> {
        self.gated(op::MODIFY_VPC_ENDPOINT, Some(scope), || {
            self.inner.modify_endpoint(scope, request)
        })
        .await
    }
}

impl<C: gcp::Gcp> gcp::Gcp for Budgeted<C> {
    async fn list_forwarding_rules(
        &self,
        scope: &Scope,
        label: (&str, &str),
        page_token: Option<&str>,
    ) -> CloudResult<Page<gcp::ForwardingRule>> {
        self.gated(op::LIST_FORWARDING_RULES, Some(scope), || {
            self.inner.list_forwarding_rules(scope, label, page_token)
        })
        .await
    }

    async fn list_forwarding_rules_to(
        &self,
        scope: &Scope,
        targets: &[String],
        page_token: Option<&str>,
    ) -> CloudResult<Page<gcp::ForwardingRule>> {
        self.gated(op::LIST_FORWARDING_RULES, Some(scope), || {
            self.inner
                .list_forwarding_rules_to(scope, targets, page_token)
        })
        .await
    }

    async fn list_addresses(
        &self,
        scope: &Scope,
        label: (&str, &str),
        page_token: Option<&str>,
    ) -> CloudResult<Page<gcp::Address>> {
        self.gated(op::LIST_ADDRESSES, Some(scope), || {
            self.inner.list_addresses(scope, label, page_token)
        })
        .await
    }

    async fn get_forwarding_rule(
        &self,
        scope: &Scope,
        name: &str,
    ) -> CloudResult<Option<gcp::ForwardingRule>> {
        self.gated(op::GET_FORWARDING_RULE, Some(scope), || {
            self.inner.get_forwarding_rule(scope, name)
        })
        .await
    }

    async fn get_address(&self, scope: &Scope, name: &str) -> CloudResult<Option<gcp::Address>> {
        self.gated(op::GET_ADDRESS, Some(scope), || {
            self.inner.get_address(scope, name)
        })
        .await
    }

    async fn insert_address(
        &self,
        scope: &Scope,
        request: &gcp::InsertAddress,
    ) -> CloudResult<String> {
        self.gated(op::INSERT_ADDRESS, Some(scope), || {
            self.inner.insert_address(scope, request)
        })
        .await
    }

    async fn insert_forwarding_rule(
        &self,
        scope: &Scope,
        request: &gcp::InsertForwardingRule,
    ) -> CloudResult<String> {
        self.gated(op::INSERT_FORWARDING_RULE, Some(scope), || {
            self.inner.insert_forwarding_rule(scope, request)
        })
        .await
    }

    async fn delete_forwarding_rule(&self, scope: &Scope, name: &str) -> CloudResult<String> {
        self.gated(op::DELETE_FORWARDING_RULE, Some(scope), || {
            self.inner.delete_forwarding_rule(scope, name)
        })
        .await
    }

    async fn delete_address(&self, scope: &Scope, name: &str) -> CloudResult<String> {
        self.gated(op::DELETE_ADDRESS, Some(scope), || {
            self.inner.delete_address(scope, name)
        })
        .await
    }

    async fn set_labels(
        &self,
        scope: &Scope,
        kind: gcp::Labelled,
        name: &str,
        labels: &BTreeMap<String, String>,
        fingerprint: &str,
    ) -> CloudResult<String> {
        let op = match kind {
            gcp::Labelled::Address => op::SET_ADDRESS_LABELS,
            gcp::Labelled::ForwardingRule => op::SET_FORWARDING_RULE_LABELS,
        };
        self.gated(op, Some(scope), || {
            self.inner
                .set_labels(scope, kind, name, labels, fingerprint)
        })
        .await
    }

    async fn get_operation(
        &self,
        scope: &Scope,
        operation: &str,
    ) -> CloudResult<gcp::OperationState> {
        self.gated(op::GET_OPERATION, Some(scope), || {
            self.inner.get_operation(scope, operation)
        })
        .await
    }

    async fn network_exists(&self, project: &str, network: &str) -> CloudResult<bool> {
        let scope = Scope::gcp(project, "global");
        self.gated(op::GET_NETWORK, Some(&scope), || {
            self.inner.network_exists(project, network)
        })
        .await
    }

    async fn get_subnetwork(
        &self,
        scope: &Scope,
        name: &str,
    ) -> CloudResult<Option<gcp::Subnetwork>> {
        self.gated(op::GET_SUBNETWORK, Some(scope), || {
            self.inner.get_subnetwork(scope, name)
        })
        .await
    }

    async fn list_firewalls(
        &self,
        project: &str,
        network: &str,
    ) -> CloudResult<Vec<gcp::FirewallRule>> {
        let scope = Scope::gcp(project, "global");
        self.gated(op::LIST_FIREWALLS, Some(&scope), || {
            self.inner.list_firewalls(project, network)
        })
        .await
    }
}

impl<C: azure::Arm> Budgeted<C> {
    /// A tag update: a GET and a PUT, each attempt metered as a write and a read.
    async fn read_then_write<Fut>(&self, id: &str, call: impl Fn() -> Fut) -> CloudResult<()>
    where
        Fut: Future<Output = CloudResult<()>>,
    {
        let scope = arm_scope(id);
        self.gated(op::UPDATE_PRIVATE_ENDPOINT_TAGS, Some(&scope), || async {
            self.wait(op::GET_PRIVATE_ENDPOINT, Some(&scope)).await?;
            // The read's wait may be long: the lease must still hold when the PUT starts.
            if self.fence.as_ref().is_some_and(|f| !f.is_open()) {
                return Err(CloudError::Fenced);
            }
            call().await
        })
        .await
    }
}

/// The subscription a Resource Manager call is metered against: from the resource ID or URL.
fn arm_scope(id: &str) -> Scope {
    Scope::azure(azure::segment(id, "subscriptions").unwrap_or_default(), "")
}

impl<C: azure::Arm> azure::Arm for Budgeted<C> {
    async fn list_private_endpoints(
        &self,
        subscription: &str,
        page_token: Option<&str>,
    ) -> CloudResult<Page<azure::PrivateEndpoint>> {
        let scope = Scope::azure(subscription, "");
        self.gated(op::LIST_PRIVATE_ENDPOINTS, Some(&scope), || {
            self.inner.list_private_endpoints(subscription, page_token)
        })
        .await
    }

    async fn get_private_endpoint(&self, id: &str) -> CloudResult<Option<azure::PrivateEndpoint>> {
        self.gated(op::GET_PRIVATE_ENDPOINT, Some(&arm_scope(id)), || {
            self.inner.get_private_endpoint(id)
        })
        .await
    }

    async fn put_private_endpoint(
        &self,
        request: &azure::PutPrivateEndpoint,
    ) -> CloudResult<String> {
        let scope = Scope::azure(request.subscription.as_str(), "");
        self.gated(op::PUT_PRIVATE_ENDPOINT, Some(&scope), || {
            self.inner.put_private_endpoint(request)
        })
        .await
    }

    async fn delete_private_endpoint(&self, id: &str) -> CloudResult<Option<String>> {
        self.gated(op::DELETE_PRIVATE_ENDPOINT, Some(&arm_scope(id)), || {
            self.inner.delete_private_endpoint(id)
        })
        .await
    }

    /// The real client's tag update is a GET and a conditional PUT (privateEndpoints has no
    /// PATCH in 2024-05-01): each attempt takes a read token as well as the write token.
    async fn update_tags(&self, id: &str, tags: &BTreeMap<String, String>) -> CloudResult<()> {
        self.read_then_write(id, || self.inner.update_tags(id, tags))
            .await
    }

    /// Likewise one read and one write (the real client's; the simulated cloud's is a read
    /// and a tag update).
    async fn change_tags(
        &self,
        id: &str,
        set: &BTreeMap<String, String>,
        remove: &[String],
    ) -> CloudResult<()> {
        self.read_then_write(id, || self.inner.change_tags(id, set, remove))
            .await
    }

    async fn get_operation(&self, url: &str) -> CloudResult<azure::OperationState> {
        self.gated(op::GET_ARM_OPERATION, Some(&arm_scope(url)), || {
            self.inner.get_operation(url)
        })
        .await
    }

    async fn get_private_ip(&self, network_interface_id: &str) -> CloudResult<Option<String>> {
        let scope = arm_scope(network_interface_id);
        self.gated(op::GET_NETWORK_INTERFACE, Some(&scope), || {
            self.inner.get_private_ip(network_interface_id)
        })
        .await
    }

    async fn get_subnet(&self, id: &str) -> CloudResult<Option<azure::Subnet>> {
        self.gated(op::GET_AZURE_SUBNET, Some(&arm_scope(id)), || {
            self.inner.get_subnet(id)
        })
        .await
    }
}
