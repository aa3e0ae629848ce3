//! The planner: `(desired, observed, policy) -> Plan`. Pure: no I/O, no clock, cannot fail.
//!
//! For one desired endpoint, the decision walks the seven console steps in order and stops at
//! the first one not done:
//!
//! ```text
//!  cluster on AWS, same region?  --no-->  Failed (says what to change)
//!  service Active?               --no-->  NotConfigured, wait
//!  our VPC endpoint exists?      --no-->  adopt (tag it) | check VPC, subnets, SGs -> create
//!  endpoint failed/rejected?     --yes->  Failed
//!  subnets / SGs as desired?     --no-->  modify (in place), and go on
//!  connection registered?        --no-->  register
//!  connection FAILED?            --yes->  Failed (TiDB Cloud's message)
//!  accepted (available + ACTIVE)?--no-->  Initiating, wait
//!  private DNS as desired?       --no-->  modify -> Pending
//!                                          Active
//! ```
//!
//! An owned endpoint that no valid document names is removed (Delete: connection, then
//! endpoint; Orphan: our tags dropped), unless its file is invalid (frozen) or the
//! mass-deletion guard holds.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cloud::{
    Cluster, Connection, ConnectionState, CreateEndpoint, ModifyEndpoint, Network, Scope, Service,
    ServiceState, VpcEndpoint, tags,
};
use crate::spec::{DeletionPolicy, EndpointDocument, EndpointSpec};
use crate::stable::fnv;

/// The phase a user sees (status file, metric).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
pub enum Phase {
    NotConfigured,
    Initiating,
    Pending,
    Active,
    Deleting,
    Failed,
}

impl Phase {
    pub const ALL: [Phase; 6] = [
        Phase::NotConfigured,
        Phase::Initiating,
        Phase::Pending,
        Phase::Active,
        Phase::Deleting,
        Phase::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::NotConfigured => "NotConfigured",
            Phase::Initiating => "Initiating",
            Phase::Pending => "Pending",
            Phase::Active => "Active",
            Phase::Deleting => "Deleting",
            Phase::Failed => "Failed",
        }
    }

    /// Still moving on its own: worth observing again soon.
    pub fn is_transitional(self) -> bool {
        !matches!(self, Phase::Active | Phase::Failed)
    }
}

/// One change to the cloud.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    CreateVpcEndpoint {
        #[serde(skip)]
        scope: Scope,
        #[serde(skip)]
        request: CreateEndpoint,
        vpc_id: String,
        subnet_ids: Vec<String>,
    },
    ModifyVpcEndpoint {
        #[serde(skip)]
        scope: Scope,
        #[serde(flatten)]
        request: ModifyEndpoint,
    },
    RegisterConnection {
        cluster_id: String,
        node_group_id: String,
        /// `None`: the endpoint the preceding create of this plan returns, so a new endpoint
        /// is registered at once instead of a pass later.
        endpoint_id: Option<String>,
    },
    DeleteConnection {
        #[serde(skip)]
        connection: Connection,
        connection_id: String,
    },
    DeleteVpcEndpoint {
        #[serde(skip)]
        scope: Scope,
        endpoint_id: String,
    },
    Tag {
        #[serde(skip)]
        scope: Scope,
        endpoint_id: String,
        tags: BTreeMap<String, String>,
    },
    Untag {
        #[serde(skip)]
        scope: Scope,
        endpoint_id: String,
        keys: Vec<String>,
    },
}

impl Action {
    /// The metric label and log word for this action.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::CreateVpcEndpoint { .. } => "create_vpc_endpoint",
            Action::ModifyVpcEndpoint { request, .. } if is_dns_only(request) => {
                "enable_private_dns"
            }
            Action::ModifyVpcEndpoint { .. } => "modify_vpc_endpoint",
            Action::RegisterConnection { .. } => "register_connection",
            Action::DeleteConnection { .. } => "delete_connection",
            Action::DeleteVpcEndpoint { .. } => "delete_vpc_endpoint",
            Action::Tag { .. } => "tag",
            Action::Untag { .. } => "untag",
        }
    }

    /// `+` create, `~` modify, `-` delete: how `privatelinkd plan` shows it.
    pub fn sign(&self) -> char {
        match self {
            Action::CreateVpcEndpoint { .. } | Action::RegisterConnection { .. } => '+',
            Action::DeleteConnection { .. } | Action::DeleteVpcEndpoint { .. } => '-',
            _ => '~',
        }
    }

    pub fn is_deletion(&self) -> bool {
        self.sign() == '-'
    }

    /// One line for people: what and on which resource.
    pub fn describe(&self) -> String {
        match self {
            Action::CreateVpcEndpoint {
                vpc_id, subnet_ids, ..
            } => {
                format!(
                    "create VPC endpoint in {vpc_id} ({})",
                    subnet_ids.join(", ")
                )
            }
            Action::ModifyVpcEndpoint { request: r, .. } => {
                let mut parts = Vec::new();
                for (verb, ids) in [
                    ("remove subnets", &r.remove_subnet_ids),
                    ("add subnets", &r.add_subnet_ids),
                    ("remove security groups", &r.remove_security_group_ids),
                    ("add security groups", &r.add_security_group_ids),
                ] {
                    if !ids.is_empty() {
                        parts.push(format!("{verb} {}", ids.join(", ")));
                    }
                }
                if let Some(on) = r.private_dns_enabled {
                    parts.push(format!(
                        "{} private DNS",
                        if on { "enable" } else { "disable" }
                    ));
                }
                format!("modify {}: {}", r.endpoint_id, parts.join("; "))
            }
            Action::RegisterConnection { endpoint_id, .. } => match endpoint_id {
                Some(id) => format!("register {id} with TiDB Cloud"),
                None => "register the new endpoint with TiDB Cloud".into(),
            },
            Action::DeleteConnection { connection_id, .. } => {
                format!("delete TiDB Cloud connection {connection_id}")
            }
            Action::DeleteVpcEndpoint { endpoint_id, .. } => {
                format!("delete VPC endpoint {endpoint_id}")
            }
            Action::Tag { endpoint_id, .. } => format!("adopt {endpoint_id} (add ownership tags)"),
            Action::Untag { endpoint_id, .. } => {
                format!("orphan {endpoint_id} (remove ownership tags)")
            }
        }
    }
}

fn is_dns_only(r: &ModifyEndpoint) -> bool {
    r.private_dns_enabled.is_some()
        && r.add_subnet_ids.is_empty()
        && r.remove_subnet_ids.is_empty()
        && r.add_security_group_ids.is_empty()
        && r.remove_security_group_ids.is_empty()
}

/// What the cloud looked like for one desired endpoint.
///
/// `None` means "not known this pass" (a lookup failed transiently or was not needed).
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The cluster, or why it could not be had (not found, no rights).
    pub cluster: Option<Result<Cluster, String>>,
    pub node_group_id: Option<String>,
    pub service: Option<Service>,
    /// Our endpoint (owner and name tags), or the adopted one.
    pub endpoint: Option<VpcEndpoint>,
    /// For `endpointId`: the endpoint as described by ID when it is not ours yet.
    pub adoptee: Option<VpcEndpoint>,
    /// Whether `adoptee` was looked up (so `None` there means "does not exist").
    pub adoptee_checked: bool,
    pub connection: Option<Connection>,
    /// VPC, subnets and groups, looked up only when a create or modify needs checking.
    pub network: Option<Network>,
    /// A transient problem while observing this endpoint.
    pub trouble: Option<String>,
}

/// Everything the planner knows about one desired endpoint.
#[derive(Debug, Clone)]
pub struct Desired<'a> {
    pub doc: &'a EndpointDocument,
    /// The file (relative to the endpoints directory), written into the FILE tag.
    pub file: &'a str,
}

/// The plan for one endpoint: where it stands and what to do next.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointPlan {
    pub name: String,
    pub phase: Phase,
    pub message: String,
    pub actions: Vec<Action>,
    /// Observation was incomplete: the phase is a guess, keep showing the last known one.
    #[serde(skip)]
    pub uncertain: bool,
}

impl EndpointPlan {
    fn new(name: &str, phase: Phase, message: impl Into<String>) -> Self {
        EndpointPlan {
            name: name.into(),
            phase,
            message: message.into(),
            actions: Vec::new(),
            uncertain: false,
        }
    }
}

/// Policy knobs: ownership and the mass-deletion guard.
#[derive(Debug, Clone)]
pub struct Policy {
    pub owner_id: String,
    pub max_deletes_per_pass: usize,
    pub allow_mass_delete: bool,
    /// The endpoints directory is empty or missing: removals then look like an accident.
    pub source_empty: bool,
}

/// An owned endpoint that no valid document names.
#[derive(Debug, Clone)]
pub struct Leftover {
    pub scope: Scope,
    pub endpoint: VpcEndpoint,
    pub connection: Option<Connection>,
    /// Its file is invalid right now: leave it exactly as it is.
    pub frozen: bool,
}

/// The whole pass: per-endpoint plans, plus removals.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub endpoints: Vec<EndpointPlan>,
    pub removals: Vec<EndpointPlan>,
    /// Why deletions were held back this pass, if they were.
    pub deletions_blocked: Option<String>,
}

impl Plan {
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.endpoints
            .iter()
            .chain(&self.removals)
            .flat_map(|p| p.actions.iter())
    }
}

/// The pass plan over every desired endpoint and every leftover.
pub fn plan(desired: &[(Desired<'_>, Observed)], leftovers: &[Leftover], policy: &Policy) -> Plan {
    let endpoints = desired
        .iter()
        .map(|(d, o)| plan_endpoint(d, o, &policy.owner_id))
        .collect();
    let mut removals: Vec<EndpointPlan> = leftovers
        .iter()
        .filter(|l| !l.frozen)
        .map(plan_removal)
        .collect();
    let deletions = removals
        .iter()
        .filter(|r| r.actions.iter().any(Action::is_deletion))
        .count();
    let blocked = if policy.allow_mass_delete || deletions == 0 {
        None
    } else if policy.source_empty {
        Some(format!(
            "the endpoints directory is empty or missing while {deletions} owned endpoint(s) exist; \
             deletions are held back (run with --allow-mass-delete if this is intended)"
        ))
    } else if deletions > policy.max_deletes_per_pass {
        Some(format!(
            "{deletions} deletions in one pass exceed prune.maxDeletesPerPass ({}); \
             deletions are held back (run with --allow-mass-delete if this is intended)",
            policy.max_deletes_per_pass
        ))
    } else {
        None
    };
    if let Some(reason) = &blocked {
        for r in &mut removals {
            r.actions.retain(|a| !a.is_deletion());
            if r.phase == Phase::Deleting && r.actions.is_empty() {
                r.message = reason.clone();
            }
        }
    }
    Plan {
        endpoints,
        removals,
        deletions_blocked: blocked,
    }
}

/// Where one desired endpoint stands and what to do next.
pub fn plan_endpoint(desired: &Desired<'_>, observed: &Observed, owner_id: &str) -> EndpointPlan {
    let doc = desired.doc;
    let name = doc.metadata.name.as_str();
    let spec = &doc.spec;
    let mut plan = decide(desired, observed, owner_id);
    if spec.suspend {
        plan.actions.clear();
        if plan.phase != Phase::Failed {
            plan.message = format!("suspended: {}", plan.message)
                .trim_end_matches(": ")
                .to_string();
        }
    }
    if let Some(trouble) = &observed.trouble {
        if plan.message.is_empty() {
            plan.message = trouble.clone();
        } else {
            plan.message = format!("{}; {trouble}", plan.message);
        }
    }
    plan.name = name.to_string();
    plan
}

fn decide(desired: &Desired<'_>, o: &Observed, owner_id: &str) -> EndpointPlan {
    let doc = desired.doc;
    let name = doc.metadata.name.as_str();
    let spec = &doc.spec;
    let here = |phase, message: String| EndpointPlan::new(name, phase, message);
    let cluster_id = spec.tidb_cloud.cluster_id.as_str();

    let cluster = match &o.cluster {
        None => {
            return here(
                Phase::NotConfigured,
                "waiting to look up the cluster".into(),
            );
        }
        Some(Err(why)) => return here(Phase::Failed, why.clone()),
        Some(Ok(c)) => c,
    };
    if cluster.cloud_provider != "aws" {
        return here(
            Phase::Failed,
            format!(
                "cluster {cluster_id} runs on {}; AWS PrivateLink needs a cluster on AWS",
                cluster.cloud_provider
            ),
        );
    }
    if cluster.region != spec.aws.region.as_str() {
        return here(
            Phase::Failed,
            format!(
                "cluster {cluster_id} is in {} but spec.aws.region is {}; PrivateLink does not cross regions: use a VPC in {}",
                cluster.region, spec.aws.region, cluster.region
            ),
        );
    }
    let Some(node_group_id) = &o.node_group_id else {
        return here(
            Phase::NotConfigured,
            "waiting to look up the TiDB node group".into(),
        );
    };
    let Some(service) = &o.service else {
        return here(
            Phase::NotConfigured,
            "waiting to look up the private link service".into(),
        );
    };
    match service.state {
        ServiceState::Active => {}
        ServiceState::Creating => {
            return here(
                Phase::NotConfigured,
                "the cluster's private link service is being created".into(),
            );
        }
        ServiceState::Deleting => {
            return here(
                Phase::NotConfigured,
                "the cluster's private link service is being deleted".into(),
            );
        }
    }
    let scope = Scope {
        account: spec.aws.account.to_string(),
        region: spec.aws.region.to_string(),
    };

    let Some(endpoint) = &o.endpoint else {
        if let Some(wanted) = &spec.aws.endpoint_id {
            return adopt(desired, o, service, &scope, wanted.as_str(), owner_id);
        }
        if let Some(problem) = placement_problem(desired, o, service, true) {
            return here(Phase::Failed, problem);
        }
        let Some(_) = &o.network else {
            return here(Phase::NotConfigured, "waiting to check the VPC".into());
        };
        let mut plan = here(Phase::NotConfigured, "creating the VPC endpoint".into());
        plan.actions
            .push(create_action(desired, service, &scope, owner_id));
        plan.actions.push(Action::RegisterConnection {
            cluster_id: cluster_id.into(),
            node_group_id: node_group_id.clone(),
            endpoint_id: None,
        });
        return plan;
    };

    match endpoint.state.as_str() {
        "failed" | "rejected" | "expired" => {
            return here(
                Phase::Failed,
                format!(
                    "VPC endpoint {} is {} in AWS; delete it in the console and privatelinkd creates a new one",
                    endpoint.id, endpoint.state
                ),
            );
        }
        "deleting" | "deleted" => {
            return here(
                Phase::Deleting,
                format!(
                    "VPC endpoint {} is being deleted; a new one will be created",
                    endpoint.id
                ),
            );
        }
        _ => {}
    }

    // An endpoint cannot move to another service or VPC: it is replaced.
    let vpc_id = spec.aws.vpc_id.as_str();
    if endpoint.service_name != service.name || endpoint.vpc_id != vpc_id {
        let moved = format!(
            "VPC endpoint {} connects {} to {}, but the document asks for {vpc_id} to {}",
            endpoint.id, endpoint.vpc_id, endpoint.service_name, service.name
        );
        if spec.aws.endpoint_id.is_some() {
            return here(
                Phase::Failed,
                format!(
                    "{moved}; an adopted endpoint is not replaced: fix endpointId or remove it"
                ),
            );
        }
        let mut plan = here(Phase::Deleting, format!("{moved}; replacing it"));
        plan.actions = delete_actions(&scope, endpoint, o.connection.as_ref());
        return plan;
    }

    // Drift in subnets and security groups is corrected in place whatever else is going on.
    let mut modify = drift(spec, endpoint);
    let drift = modify
        != ModifyEndpoint {
            endpoint_id: endpoint.id.clone(),
            ..Default::default()
        };
    if drift {
        if let Some(problem) = placement_problem(desired, o, service, false) {
            return here(Phase::Failed, problem);
        }
        if o.network.is_none() {
            return here(
                Phase::Pending,
                "waiting to check the VPC before correcting subnets and security groups".into(),
            );
        }
    }

    let mut plan = match &o.connection {
        None => {
            let mut p = here(
                Phase::Initiating,
                "registering the endpoint with TiDB Cloud".into(),
            );
            p.actions.push(Action::RegisterConnection {
                cluster_id: cluster_id.into(),
                node_group_id: node_group_id.clone(),
                endpoint_id: Some(endpoint.id.clone()),
            });
            p
        }
        Some(c) => match c.state {
            ConnectionState::Failed => {
                return here(Phase::Failed, format!("TiDB Cloud: {}", c.message));
            }
            ConnectionState::Deleting => here(
                Phase::Initiating,
                "the TiDB Cloud connection is being deleted; it will be registered again".into(),
            ),
            ConnectionState::Pending | ConnectionState::Discovered => here(
                Phase::Initiating,
                "TiDB Cloud is verifying the endpoint".into(),
            ),
            // TiDB Cloud accepted; AWS shows `pending` while it applies acceptance or a change.
            ConnectionState::Active if endpoint.state == "pending" => here(
                Phase::Pending,
                "AWS is applying a change to the endpoint (pending)".into(),
            ),
            ConnectionState::Active if endpoint.state != "available" => here(
                Phase::Initiating,
                format!(
                    "waiting for AWS to accept the endpoint ({})",
                    endpoint.state
                ),
            ),
            ConnectionState::Active => {
                if endpoint.private_dns_enabled != spec.private_dns {
                    let problem = o
                        .network
                        .as_ref()
                        .and_then(|n| dns_problem(n, &endpoint.vpc_id));
                    if let Some(problem) = problem.filter(|_| spec.private_dns) {
                        return here(Phase::Failed, problem);
                    }
                    modify.private_dns_enabled = Some(spec.private_dns);
                    let verb = if spec.private_dns {
                        "enabling"
                    } else {
                        "disabling"
                    };
                    here(Phase::Pending, format!("{verb} private DNS"))
                } else if drift {
                    here(
                        Phase::Pending,
                        "correcting subnets and security groups".into(),
                    )
                } else {
                    let mut p = here(Phase::Active, String::new());
                    p.message = String::new();
                    p
                }
            }
        },
    };
    if drift || modify.private_dns_enabled.is_some() {
        let modifies =
            split_subnet_swap(modify)
                .into_iter()
                .map(|request| Action::ModifyVpcEndpoint {
                    scope: scope.clone(),
                    request,
                });
        plan.actions.splice(0..0, modifies);
    }
    plan
}

/// A subnet swapped for another in the same zone cannot be added while the old one is still
/// there (one subnet per zone): the removal goes first, in a call of its own.
fn split_subnet_swap(modify: ModifyEndpoint) -> Vec<ModifyEndpoint> {
    if modify.remove_subnet_ids.is_empty() || modify.add_subnet_ids.is_empty() {
        return vec![modify];
    }
    let add = ModifyEndpoint {
        endpoint_id: modify.endpoint_id.clone(),
        add_subnet_ids: modify.add_subnet_ids.clone(),
        private_dns_enabled: modify.private_dns_enabled,
        ..ModifyEndpoint::default()
    };
    let remove = ModifyEndpoint {
        add_subnet_ids: Vec::new(),
        private_dns_enabled: None,
        ..modify
    };
    vec![remove, add]
}

/// Takes over an existing endpoint named by `endpointId`.
fn adopt(
    desired: &Desired<'_>,
    o: &Observed,
    service: &Service,
    scope: &Scope,
    wanted: &str,
    owner_id: &str,
) -> EndpointPlan {
    let name = desired.doc.metadata.name.as_str();
    if !o.adoptee_checked {
        return EndpointPlan::new(
            name,
            Phase::NotConfigured,
            format!("waiting to look up {wanted}"),
        );
    }
    let Some(e) = o.adoptee.as_ref().filter(|e| e.state != "deleted") else {
        return EndpointPlan::new(
            name,
            Phase::Failed,
            format!(
                "VPC endpoint {wanted} does not exist in {} (account {})",
                scope.region, scope.account
            ),
        );
    };
    if e.service_name != service.name {
        return EndpointPlan::new(
            name,
            Phase::Failed,
            format!(
                "VPC endpoint {wanted} connects to {}, not to the cluster's service {}",
                e.service_name, service.name
            ),
        );
    }
    if let Some(other) = e.tag(tags::OWNER).filter(|o| *o != owner_id) {
        return EndpointPlan::new(
            name,
            Phase::Failed,
            format!("VPC endpoint {wanted} is owned by privatelinkd instance {other}"),
        );
    }
    let mut plan = EndpointPlan::new(name, Phase::NotConfigured, format!("adopting {wanted}"));
    plan.actions.push(Action::Tag {
        scope: scope.clone(),
        endpoint_id: wanted.to_string(),
        tags: ownership_tags(desired, owner_id),
    });
    plan
}

/// Problems that stop a create or modify, checked against the VPC as observed.
fn placement_problem(
    desired: &Desired<'_>,
    o: &Observed,
    service: &Service,
    creating: bool,
) -> Option<String> {
    let aws = &desired.doc.spec.aws;
    let network = o.network.as_ref()?;
    let vpc = aws.vpc_id.as_str();
    let mut problems = Vec::new();
    if !network.vpcs.contains_key(vpc) {
        problems.push(format!(
            "VPC {vpc} does not exist in {} (account {})",
            aws.region, aws.account
        ));
    }
    let mut zones: BTreeMap<&str, &str> = BTreeMap::new();
    for subnet in &aws.subnet_ids {
        match network.subnets.get(subnet.as_str()) {
            None => problems.push(format!("subnet {subnet} does not exist")),
            Some((subnet_vpc, _)) if subnet_vpc != vpc => {
                problems.push(format!("subnet {subnet} is in {subnet_vpc}, not in {vpc}"))
            }
            Some((_, az)) => {
                if !service.available_zones.contains(az) {
                    problems.push(format!(
                        "subnet {subnet} is in availability zone {az}, which the cluster's service does not offer (it offers {})",
                        service.available_zones.join(", ")
                    ));
                }
                if let Some(first) = zones.insert(az, subnet.as_str()) {
                    problems.push(format!("subnets {first} and {subnet} are both in {az}; use one subnet per availability zone"));
                }
            }
        }
    }
    for group in &aws.security_group_ids {
        match network.security_groups.get(group.as_str()) {
            None => problems.push(format!("security group {group} does not exist")),
            Some(group_vpc) if group_vpc != vpc => problems.push(format!(
                "security group {group} is in {group_vpc}, not in {vpc}"
            )),
            Some(_) => {}
        }
    }
    if creating && desired.doc.spec.private_dns {
        problems.extend(dns_problem(network, vpc));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// Private DNS needs both DNS attributes of the VPC on.
fn dns_problem(network: &Network, vpc: &str) -> Option<String> {
    let (support, hostnames) = network.vpcs.get(vpc)?;
    (!(support & hostnames)).then(|| {
        format!(
            "private DNS needs enableDnsSupport and enableDnsHostnames on {vpc} (now {support} and {hostnames}); \
             turn them on or set privateDns: false"
        )
    })
}

/// How an endpoint's subnets and security groups differ from the spec, as the modify that
/// corrects them (empty lists when they agree).
pub fn drift(spec: &EndpointSpec, endpoint: &VpcEndpoint) -> ModifyEndpoint {
    let want_subnets: Vec<String> = spec
        .aws
        .subnet_ids
        .iter()
        .map(ToString::to_string)
        .collect();
    let want_groups: Vec<String> = spec
        .aws
        .security_group_ids
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut modify = ModifyEndpoint {
        endpoint_id: endpoint.id.clone(),
        remove_subnet_ids: missing_from(&endpoint.subnet_ids, &want_subnets),
        add_subnet_ids: missing_from(&want_subnets, &endpoint.subnet_ids),
        ..ModifyEndpoint::default()
    };
    // An empty list asks for the VPC's default group; only explicit lists are enforced.
    if !want_groups.is_empty() {
        modify.remove_security_group_ids = missing_from(&endpoint.security_group_ids, &want_groups);
        modify.add_security_group_ids = missing_from(&want_groups, &endpoint.security_group_ids);
    }
    modify
}

fn missing_from(have: &[String], other: &[String]) -> Vec<String> {
    have.iter()
        .filter(|x| !other.contains(x))
        .cloned()
        .collect()
}

/// Tags that make an endpoint ours and findable again after a crash.
pub fn ownership_tags(desired: &Desired<'_>, owner_id: &str) -> BTreeMap<String, String> {
    let doc = desired.doc;
    let policy = match doc.spec.deletion_policy {
        DeletionPolicy::Delete => "Delete",
        DeletionPolicy::Orphan => "Orphan",
    };
    let mut t = BTreeMap::from([
        (tags::OWNER.to_string(), owner_id.to_string()),
        (tags::NAME.to_string(), doc.metadata.name.to_string()),
        (tags::DELETION_POLICY.to_string(), policy.to_string()),
        (tags::FILE.to_string(), desired.file.to_string()),
    ]);
    for (k, v) in &doc.metadata.labels {
        t.insert(format!("{}{k}", tags::LABEL_PREFIX), v.clone());
    }
    t
}

fn create_action(
    desired: &Desired<'_>,
    service: &Service,
    scope: &Scope,
    owner_id: &str,
) -> Action {
    let aws = &desired.doc.spec.aws;
    let mut tags = ownership_tags(desired, owner_id);
    tags.insert(
        tags::CONSOLE_NAME.into(),
        format!("privatelinkd-{}", desired.doc.metadata.name),
    );
    let subnet_ids: Vec<String> = aws.subnet_ids.iter().map(ToString::to_string).collect();
    let request = CreateEndpoint {
        vpc_id: aws.vpc_id.to_string(),
        service_name: service.name.clone(),
        subnet_ids: subnet_ids.clone(),
        security_group_ids: aws
            .security_group_ids
            .iter()
            .map(ToString::to_string)
            .collect(),
        client_token: client_token(owner_id, desired.doc, &service.name),
        tags,
    };
    Action::CreateVpcEndpoint {
        scope: scope.clone(),
        vpc_id: request.vpc_id.clone(),
        subnet_ids,
        request,
    }
}

/// The ClientToken of a create: the same owner, name and request give the same token, so a
/// create retried after a timeout or a crash returns the first endpoint instead of a second.
pub fn client_token(owner_id: &str, doc: &EndpointDocument, service_name: &str) -> String {
    let aws = &doc.spec.aws;
    let key = format!(
        "{owner_id}\n{}\n{}\n{}\n{service_name}\n{:?}\n{:?}",
        doc.metadata.name, aws.region, aws.vpc_id, aws.subnet_ids, aws.security_group_ids
    );
    format!("privatelinkd-{:016x}", fnv(&key))
}

/// The token to use when `token`'s endpoint `dead_id` was deleted: deterministic as well.
pub fn next_client_token(token: &str, dead_id: &str) -> String {
    format!("privatelinkd-{:016x}", fnv(&format!("{token}\n{dead_id}")))
}

/// A hash of the spec, written to the status file as `observedGeneration`.
pub fn generation(doc: &EndpointDocument) -> String {
    let json = serde_json::to_string(doc).expect("documents serialize");
    format!("{:016x}", fnv(&json))
}

/// How to remove an owned endpoint that no document names any more.
fn plan_removal(leftover: &Leftover) -> EndpointPlan {
    let e = &leftover.endpoint;
    let name = e.tag(tags::NAME).unwrap_or(&e.id);
    let mut plan = EndpointPlan::new(name, Phase::Deleting, "");
    if e.tag(tags::DELETION_POLICY) == Some("Orphan") {
        plan.message = format!(
            "document removed; leaving {} in place without our tags",
            e.id
        );
        let keys = e
            .tags
            .keys()
            .filter(|k| k.starts_with("privatelinkd.io/"))
            .cloned()
            .collect();
        plan.actions.push(Action::Untag {
            scope: leftover.scope.clone(),
            endpoint_id: e.id.clone(),
            keys,
        });
        return plan;
    }
    plan.message = format!("document removed; deleting {}", e.id);
    plan.actions = delete_actions(&leftover.scope, e, leftover.connection.as_ref());
    plan
}

/// The connection first (TiDB Cloud stops using the endpoint), then the endpoint.
fn delete_actions(
    scope: &Scope,
    endpoint: &VpcEndpoint,
    connection: Option<&Connection>,
) -> Vec<Action> {
    let mut actions = Vec::new();
    if let Some(c) = connection.filter(|c| c.state != ConnectionState::Deleting) {
        actions.push(Action::DeleteConnection {
            connection: c.clone(),
            connection_id: c.id.clone(),
        });
    }
    if endpoint.state != "deleting" {
        actions.push(Action::DeleteVpcEndpoint {
            scope: scope.clone(),
            endpoint_id: endpoint.id.clone(),
        });
    }
    actions
}

#[cfg(test)]
mod tests;
