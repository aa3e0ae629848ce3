//! Building status files: from a pass's plans and observations (keeping each endpoint's
//! transition times and conditions' histories from the last status), for a file that turned
//! invalid (frozen as it was), and for a file that is gone while its endpoints leave.

use super::*;
use crate::cloud::{CloudEndpoint, ConsumerEndpoint};
use crate::spec::Side;

/// A status file being built from a pass.
pub(super) struct Built {
    display: String,
    previous: Option<StatusFile>,
}

impl Built {
    /// Starts from what the status file at `path` shows now (transition times are kept).
    pub(super) fn new(display: String, path: &Path) -> Built {
        let previous = StatusWriter::read(path);
        Built { display, previous }
    }

    fn old(&self) -> FxHashMap<&str, &EndpointStatus> {
        self.previous
            .iter()
            .flat_map(|s| s.endpoints.iter().map(|e| (e.name.as_str(), e)))
            .collect()
    }

    /// The status of a valid file: its documents' endpoints, then those that left it.
    pub(super) fn valid(
        self,
        file: &SpecFile,
        plans: &FxHashMap<&str, &EndpointPlan>,
        outcome: &PassOutcome,
        removed: &[&EndpointPlan],
        context: &Context<'_>,
    ) -> (StatusFile, Shown) {
        let old = self.old();
        let mut endpoints = Vec::new();
        let mut views = Vec::new();
        let mut services = Vec::new();
        for d in &file.documents {
            let name = d.spec.metadata.name.as_str();
            let Some(plan) = plans.get(name) else {
                continue;
            };
            let seen = outcome.seen.get(name).map_or(&UNSEEN, |s| &*s.seen);
            let last = old.get(name).copied();
            let (phase, message) = shown(plan, outcome.held.get(name), last, context);
            let mut status =
                endpoint_status(name, phase, message, seen, last, d.generation.clone());
            status.adopted = d.spec.spec.adopts().is_some_and(|id| {
                seen.endpoint
                    .as_ref()
                    .is_some_and(|e| crate::cloud::ConsumerEndpoint::id(e) == id)
            });
            status.conditions = conditions(plan, last);
            log_transition(last, &status);
            let group = seen.node_group_id.clone().unwrap_or_default();
            let cluster_id = d.spec.spec.tidb_cloud.cluster_id.to_string();
            if let Some(service) = &seen.service {
                services.push((cluster_id.clone(), group.clone(), service.state));
            }
            let info = EndpointInfo {
                name: name.to_string(),
                file: self.display.clone(),
                cluster_id,
                node_group_id: group,
                // The metric's labels keep their names; on Google Cloud they hold the
                // network and the forwarding rule.
                region: crate::plan::scope_of(&d.spec.spec).region,
                cloud: d.spec.spec.cloud().as_str().to_string(),
                vpc_id: match &d.spec.spec.side {
                    Side::Aws(aws) => aws.vpc_id.to_string(),
                    Side::Gcp(gcp) => gcp.network.name().to_string(),
                    Side::Azure(azure) => {
                        crate::cloud::azure::segment(&azure.subnet_id(), "virtualNetworks")
                            .unwrap_or_default()
                            .to_string()
                    }
                },
                vpc_endpoint_id: seen
                    .endpoint
                    .as_ref()
                    .map(|e| e.id().to_string())
                    .unwrap_or_default(),
            };
            views.push(Arc::new(EndpointView {
                info,
                phase,
                conditions: view_conditions(&status.conditions),
                message: status.message.clone(),
            }));
            endpoints.push(status);
        }
        let (departing, departing_views) =
            departures(removed, &self.display, outcome, &old, context);
        endpoints.extend(departing);
        views.extend(departing_views);
        let status = StatusFile {
            file: self.display,
            standby: None,
            errors: Vec::new(),
            endpoints,
        };
        let shown = Shown {
            inputs: None,
            views,
            services,
        };
        (status, shown)
    }

    /// The status of a file that is gone while its documents' endpoints leave.
    pub(super) fn departing(
        self,
        removed: &[&EndpointPlan],
        outcome: &PassOutcome,
        context: &Context<'_>,
    ) -> (StatusFile, Shown) {
        let old = self.old();
        let (endpoints, views) = departures(removed, &self.display, outcome, &old, context);
        let status = StatusFile {
            file: self.display.clone(),
            standby: None,
            errors: Vec::new(),
            endpoints,
        };
        let shown = Shown {
            inputs: None,
            views,
            services: Vec::new(),
        };
        (status, shown)
    }
}

/// The statuses and series of endpoints whose documents are gone, while they leave
/// management.
pub(super) fn departures(
    plans: &[&EndpointPlan],
    file: &str,
    outcome: &PassOutcome,
    old: &FxHashMap<&str, &EndpointStatus>,
    context: &Context<'_>,
) -> (Vec<EndpointStatus>, Vec<Arc<EndpointView>>) {
    let mut statuses = Vec::new();
    let mut views = Vec::new();
    for p in plans {
        let old = old.get(p.name.as_str()).copied();
        let (phase, message) = shown(p, outcome.held.get(&p.name), old, context);
        let id = p.leaving.as_ref().map(|l| l.endpoint_id.clone());
        let mut status = endpoint_status(&p.name, phase, message, &UNSEEN, old, String::new());
        status.removed = true;
        log_transition(old, &status);
        let info = EndpointInfo {
            name: p.name.clone(),
            file: file.to_string(),
            vpc_endpoint_id: id.unwrap_or_default(),
            ..EndpointInfo::default()
        };
        views.push(Arc::new(EndpointView {
            info,
            phase,
            conditions: Vec::new(),
            message: status.message.clone(),
        }));
        statuses.push(status);
    }
    (statuses, views)
}

/// The (type, status) of each condition a status file shows, for the metrics.
pub(super) fn view_conditions(entries: &[ConditionEntry]) -> Vec<(ConditionType, ConditionStatus)> {
    entries.iter().map(|c| (c.kind, c.status)).collect()
}

/// What an endpoint the observation did not reach shows: nothing.
static UNSEEN: Seen = Seen {
    node_group_id: None,
    service: None,
    endpoint: None,
    connection: None,
};

/// An invalid file keeps its endpoints' last known status and series, untouched.
pub(super) fn frozen(
    file: &SpecFile,
    display: String,
    previous: Option<Shown>,
    path: &Path,
) -> (StatusFile, Shown) {
    let endpoints = StatusWriter::read(path)
        .map(|s| s.endpoints)
        .unwrap_or_default();
    let (views, services) = previous.map_or_else(Default::default, |p| (p.views, p.services));
    let views = views
        .into_iter()
        .map(|v| {
            let phase = endpoints
                .iter()
                .find(|e| e.name == v.info.name)
                .map_or(v.phase, |e| e.phase);
            Arc::new(EndpointView {
                phase,
                ..(*v).clone()
            })
        })
        .collect();
    let status = StatusFile {
        file: display,
        standby: None,
        errors: file.problems.iter().map(|p| p.to_string()).collect(),
        endpoints,
    };
    let shown = Shown {
        inputs: None,
        views,
        services,
    };
    (status, shown)
}

/// The status of one endpoint after a pass.
pub(super) fn endpoint_status(
    name: &str,
    phase: Phase,
    message: String,
    seen: &Seen,
    old: Option<&EndpointStatus>,
    generation: String,
) -> EndpointStatus {
    let last_transition_time = match old {
        Some(o) if o.phase == phase => o.last_transition_time.clone(),
        _ => status::now_rfc3339(),
    };
    EndpointStatus {
        name: name.to_string(),
        removed: false,
        adopted: false,
        conditions: Vec::new(),
        phase,
        message,
        observed_generation: generation,
        last_transition_time,
        service: seen.service.as_ref().map(|s| ServiceStatus {
            state: s.state,
            name: s.name.clone(),
            dns_name: s.dns_name.clone(),
            available_zones: s.available_zones.clone(),
        }),
        vpc_endpoint: seen
            .endpoint
            .as_ref()
            .and_then(CloudEndpoint::aws)
            .map(|e| VpcEndpointStatus {
                id: e.id.clone(),
                state: e.state.clone(),
                private_dns_enabled: e.private_dns_enabled,
                subnet_ids: e.subnet_ids.clone(),
                security_group_ids: e.security_group_ids.clone(),
            }),
        psc_endpoint: seen
            .endpoint
            .as_ref()
            .and_then(CloudEndpoint::gcp)
            .map(|e| PscEndpointStatus {
                name: e.name.clone(),
                project: e.project.clone(),
                region: e.region.clone(),
                psc_connection_status: e.status(),
                ip_address: e.ip().map(String::from),
                network: e.network().map(String::from),
                subnetwork: e.subnetwork().map(String::from),
            }),
        private_endpoint: seen
            .endpoint
            .as_ref()
            .and_then(CloudEndpoint::azure)
            .map(|e| crate::status::PrivateEndpointStatus {
                id: e.id.clone(),
                name: e.name.clone(),
                location: e.location.clone(),
                provisioning_state: e.provisioning_state,
                link_status: e.link_status,
                subnet_id: e.subnet_id.clone(),
                private_ip: e.private_ip.clone(),
            }),
        connection: seen.connection.as_ref().map(|c| ConnectionStatus {
            id: c.id.clone(),
            state: c.state,
            host: c.host.clone(),
            port: c.port,
        }),
    }
}

/// The plan's conditions as the status file shows them: a transition time kept while the
/// status stays; an uncertain plan (observed in part) keeps the last known conditions.
pub(super) fn conditions(plan: &EndpointPlan, old: Option<&EndpointStatus>) -> Vec<ConditionEntry> {
    let before: BTreeMap<ConditionType, &ConditionEntry> = old
        .iter()
        .flat_map(|o| o.conditions.iter().map(|c| (c.kind, c)))
        .collect();
    if plan.uncertain && !before.is_empty() {
        // Only what could be seen is news: the cluster's condition (paused, gone).
        return before
            .values()
            .map(|c| {
                let fresh = plan
                    .conditions
                    .iter()
                    .find(|n| n.kind == ConditionType::ClusterAvailable && n.kind == c.kind);
                match fresh {
                    Some(n) => entry(n, Some(c)),
                    None => (*c).clone(),
                }
            })
            .collect();
    }
    plan.conditions
        .iter()
        .map(|c| entry(c, before.get(&c.kind).copied()))
        .collect()
}

pub(super) fn entry(c: &Condition, old: Option<&ConditionEntry>) -> ConditionEntry {
    let last_transition_time = match old {
        Some(o) if o.status == c.status => o.last_transition_time.clone(),
        _ => status::now_rfc3339(),
    };
    ConditionEntry {
        kind: c.kind,
        status: c.status,
        reason: c.reason.clone(),
        message: c.message.clone(),
        last_transition_time,
    }
}
