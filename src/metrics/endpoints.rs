//! The per-endpoint and per-service series, encoded at scrape time from the report's latest
//! table.
//!
//! Every endpoint counts in the aggregates (`privatelinkd_endpoints{phase}`,
//! `privatelinkd_endpoint_conditions{type, status}`); the per-endpoint series (phase, info,
//! condition, message: about 20 each) are written only for endpoints whose detail carries
//! information: not Active, or with a condition that is not True. A healthy endpoint's 20
//! series say nothing an aggregate does not, and at 10,000 endpoints they were 14 MB and
//! 200,000 series per scrape. `metrics.endpointDetail: all` writes them for every endpoint.
//!
//! Encoded from the table, the series cost no memory of their own and a pass that changes
//! nothing changes nothing here (the report swaps the table only on change).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};
use prometheus_client::metrics::MetricType;

use crate::cloud::ServiceState;
use crate::plan::{ConditionStatus, ConditionType, Phase};

/// One endpoint as `privatelinkd_endpoint_info` shows it.
#[derive(Debug, Clone, Default, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct EndpointInfo {
    pub name: String,
    pub file: String,
    pub cluster_id: String,
    pub node_group_id: String,
    pub region: String,
    pub vpc_id: String,
    pub vpc_endpoint_id: String,
    /// `aws` or `gcp` (empty for an endpoint leaving management: its document is gone).
    pub cloud: String,
}

/// One endpoint's state after a pass, as the metrics need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointView {
    pub info: EndpointInfo,
    pub phase: Phase,
    pub conditions: Vec<(ConditionType, ConditionStatus)>,
    /// What the status says, for `privatelinkd_endpoint_message` (not shown while Active).
    pub message: String,
}

impl EndpointView {
    /// Active with every condition True: nothing to see beyond the aggregates.
    pub fn healthy(&self) -> bool {
        self.phase == Phase::Active
            && self
                .conditions
                .iter()
                .all(|(_, status)| *status == ConditionStatus::True)
    }
}

/// Which endpoints get series of their own (`metrics.endpointDetail`).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum EndpointDetail {
    /// Endpoints that are not Active, or have a condition that is not True.
    #[default]
    Unhealthy,
    /// Every endpoint (about 20 series each).
    All,
}

/// A message in a label stays short: the status file has the whole text.
const MESSAGE_LABEL_CHARS: usize = 200;

/// Every endpoint and private link service the report shows, in a stable order.
#[derive(Debug, Default)]
pub struct EndpointTable {
    pub endpoints: Vec<Arc<EndpointView>>,
    /// (cluster ID, node group ID, state).
    pub services: Vec<(String, String, ServiceState)>,
}

/// The registry's view of the latest table.
#[derive(Debug, Default)]
pub(super) struct EndpointSeries {
    table: Mutex<Arc<EndpointTable>>,
    /// `metrics.endpointDetail: all` (a reload may change it).
    all: AtomicBool,
}

impl EndpointSeries {
    pub fn set(&self, table: Arc<EndpointTable>) {
        *self.table.lock().unwrap_or_else(|e| e.into_inner()) = table;
    }

    pub fn set_detail(&self, detail: EndpointDetail) {
        self.all
            .store(detail == EndpointDetail::All, Ordering::Relaxed);
    }
}

impl Collector for EndpointSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // The lock is held for a pointer copy only: a scrape never delays the report.
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner()).clone();
        aggregates(&table, &mut encoder)?;
        let all = self.all.load(Ordering::Relaxed);
        let detailed: Vec<&EndpointView> = table
            .endpoints
            .iter()
            .map(|e| &**e)
            .filter(|e| all || !e.healthy())
            .collect();
        {
            let mut family = encoder.encode_descriptor(
                "privatelinkd_endpoint_phase",
                "1 for the endpoint's current phase, 0 for the others",
                None,
                MetricType::Gauge,
            )?;
            for e in &detailed {
                for phase in Phase::ALL {
                    let labels = [("name", e.info.name.as_str()), ("phase", phase.as_str())];
                    family
                        .encode_family(&labels)?
                        .encode_gauge(&i64::from(phase == e.phase))?;
                }
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "privatelinkd_endpoint_info",
                "Where each endpoint is (always 1)",
                None,
                MetricType::Gauge,
            )?;
            for e in &detailed {
                family.encode_family(&e.info)?.encode_gauge(&1i64)?;
            }
        }
        {
            // One series per endpoint that is not Active and says why: a dashboard's table of
            // Failed and held-back endpoints with their messages. It changes only when the
            // message does.
            let mut family = encoder.encode_descriptor(
                "privatelinkd_endpoint_message",
                "1 for each endpoint that is not Active, labelled with its status message (cut at 200 characters)",
                None,
                MetricType::Gauge,
            )?;
            for e in detailed
                .iter()
                .filter(|e| e.phase != Phase::Active && !e.message.is_empty())
            {
                let message: String = e.message.chars().take(MESSAGE_LABEL_CHARS).collect();
                let labels = [
                    ("name", e.info.name.as_str()),
                    ("phase", e.phase.as_str()),
                    ("message", message.as_str()),
                ];
                family.encode_family(&labels)?.encode_gauge(&1i64)?;
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "privatelinkd_endpoint_condition",
                "1 for each condition's current status (True, False, Unknown), 0 for the others",
                None,
                MetricType::Gauge,
            )?;
            for e in &detailed {
                for (kind, current) in &e.conditions {
                    for status in ConditionStatus::ALL {
                        let labels = [
                            ("name", e.info.name.as_str()),
                            ("type", kind.as_str()),
                            ("status", status.as_str()),
                        ];
                        family
                            .encode_family(&labels)?
                            .encode_gauge(&i64::from(status == *current))?;
                    }
                }
            }
        }
        let mut family = encoder.encode_descriptor(
            "privatelinkd_service_state",
            "1 for the private link service's current state, 0 for the others",
            None,
            MetricType::Gauge,
        )?;
        for (cluster_id, node_group_id, current) in &table.services {
            for state in ServiceState::ALL {
                let labels = [
                    ("cluster_id", cluster_id.as_str()),
                    ("node_group_id", node_group_id.as_str()),
                    ("state", state.as_str()),
                ];
                family
                    .encode_family(&labels)?
                    .encode_gauge(&i64::from(state == *current))?;
            }
        }
        Ok(())
    }
}

/// How many endpoints are in each phase, and in each condition's status: every endpoint,
/// whatever `endpointDetail` says, every combination written (0 too) so that a panel or an
/// alert sees a count fall to zero.
fn aggregates(
    table: &EndpointTable,
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let mut phases = [0i64; Phase::ALL.len()];
    let mut conditions = [[0i64; ConditionStatus::ALL.len()]; ConditionType::ALL.len()];
    for e in &table.endpoints {
        phases[Phase::ALL.iter().position(|p| *p == e.phase).unwrap_or(0)] += 1;
        for (kind, status) in &e.conditions {
            let k = ConditionType::ALL.iter().position(|t| t == kind);
            let s = ConditionStatus::ALL.iter().position(|t| t == status);
            if let (Some(k), Some(s)) = (k, s) {
                conditions[k][s] += 1;
            }
        }
    }
    {
        let mut family = encoder.encode_descriptor(
            "privatelinkd_endpoints",
            "Endpoints in each phase",
            None,
            MetricType::Gauge,
        )?;
        for (phase, n) in Phase::ALL.iter().zip(phases) {
            family
                .encode_family(&[("phase", phase.as_str())])?
                .encode_gauge(&n)?;
        }
    }
    let mut family = encoder.encode_descriptor(
        "privatelinkd_endpoint_conditions",
        "Endpoints whose condition of this type has this status",
        None,
        MetricType::Gauge,
    )?;
    for (kind, counts) in ConditionType::ALL.iter().zip(conditions) {
        for (status, n) in ConditionStatus::ALL.iter().zip(counts) {
            let labels = [("type", kind.as_str()), ("status", status.as_str())];
            family.encode_family(&labels)?.encode_gauge(&n)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    fn view(name: &str, phase: Phase) -> Arc<EndpointView> {
        Arc::new(EndpointView {
            conditions: vec![(ConditionType::PortAllowed, ConditionStatus::False)],
            info: EndpointInfo {
                name: name.into(),
                file: "f.yaml".into(),
                cluster_id: "1".into(),
                node_group_id: "2".into(),
                region: "us-east-1".into(),
                vpc_id: "vpc-0a1b2c3d".into(),
                vpc_endpoint_id: String::new(),
                cloud: "aws".into(),
            },
            phase,
            message: format!("{name} is {}", phase.as_str()),
        })
    }

    #[test]
    fn endpoint_series_appear_with_all_six_phases_and_vanish_with_the_endpoint() {
        let m = Metrics::new();
        m.set_endpoints(Arc::new(EndpointTable {
            endpoints: vec![view("a", Phase::Failed), view("b", Phase::Active)],
            services: vec![("1".into(), "2".into(), ServiceState::Active)],
        }));
        let text = m.prometheus_text();
        assert_eq!(
            text.matches("privatelinkd_endpoint_phase{name=\"a\"")
                .count(),
            6
        );
        assert!(text.contains("# TYPE privatelinkd_endpoint_phase gauge\n"));
        assert!(text.contains("privatelinkd_endpoint_phase{name=\"a\",phase=\"Failed\"} 1"));
        assert!(text.contains("privatelinkd_endpoint_phase{name=\"a\",phase=\"Active\"} 0"));
        assert!(text.contains(
            "privatelinkd_endpoint_info{name=\"a\",file=\"f.yaml\",cluster_id=\"1\",node_group_id=\"2\",region=\"us-east-1\",vpc_id=\"vpc-0a1b2c3d\",vpc_endpoint_id=\"\",cloud=\"aws\"} 1"
        ));
        assert!(text.contains(
            "privatelinkd_endpoint_condition{name=\"a\",type=\"PortAllowed\",status=\"False\"} 1"
        ));
        assert!(text.contains(
            "privatelinkd_endpoint_condition{name=\"a\",type=\"PortAllowed\",status=\"True\"} 0"
        ));
        assert!(text.contains(
            "privatelinkd_service_state{cluster_id=\"1\",node_group_id=\"2\",state=\"Active\"} 1"
        ));
        assert!(text.contains(
            "privatelinkd_endpoint_message{name=\"a\",phase=\"Failed\",message=\"a is Failed\"} 1"
        ));
        assert!(
            !text.contains("privatelinkd_endpoint_message{name=\"b\""),
            "not while Active"
        );
        m.set_endpoints(Arc::new(EndpointTable {
            endpoints: vec![view("b", Phase::Active)],
            services: Vec::new(),
        }));
        let text = m.prometheus_text();
        assert!(!text.contains("name=\"a\""), "{text}");
        assert!(!text.contains("privatelinkd_service_state{"), "{text}");
    }

    #[test]
    fn a_healthy_endpoint_counts_in_the_aggregates_and_has_series_only_when_asked() {
        let healthy = |name: &str| {
            let mut v = (*view(name, Phase::Active)).clone();
            v.conditions = vec![(ConditionType::PortAllowed, ConditionStatus::True)];
            Arc::new(v)
        };
        let m = Metrics::new();
        m.set_endpoints(Arc::new(EndpointTable {
            endpoints: vec![
                view("sick", Phase::Failed),
                healthy("fine"),
                healthy("well"),
            ],
            services: Vec::new(),
        }));
        let text = m.prometheus_text();
        assert!(
            text.contains("privatelinkd_endpoints{phase=\"Active\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("privatelinkd_endpoints{phase=\"Failed\"} 1\n"));
        assert!(text.contains("privatelinkd_endpoints{phase=\"Pending\"} 0\n"));
        assert!(text.contains(
            "privatelinkd_endpoint_conditions{type=\"PortAllowed\",status=\"True\"} 2\n"
        ));
        assert!(text.contains(
            "privatelinkd_endpoint_conditions{type=\"PortAllowed\",status=\"False\"} 1\n"
        ));
        assert!(text.contains(
            "privatelinkd_endpoint_conditions{type=\"Reachable\",status=\"Unknown\"} 0\n"
        ));
        assert!(text.contains("privatelinkd_endpoint_phase{name=\"sick\""));
        assert!(!text.contains("name=\"fine\""), "{text}");

        m.set_endpoint_detail(EndpointDetail::All);
        let text = m.prometheus_text();
        for family in ["phase", "info", "condition"] {
            assert!(
                text.contains(&format!("privatelinkd_endpoint_{family}{{name=\"fine\"")),
                "{family}: {text}"
            );
        }
        assert!(!text.contains("privatelinkd_endpoint_message{name=\"fine\""));
    }

    /// The budget: a scrape of a converged 10,000-endpoint estate under 2 MB, here
    /// with 1 % of the endpoints unhealthy (each of those still writes its ~20 series).
    #[test]
    fn a_converged_estate_of_10000_endpoints_scrapes_in_under_2_mb() {
        let endpoints = (0..10_000)
            .map(|i| {
                let name = format!("orders-{i:05}");
                let mut v = (*view(&name, Phase::Active)).clone();
                v.conditions = ConditionType::ALL
                    .iter()
                    .map(|t| (*t, ConditionStatus::True))
                    .collect();
                if i % 100 == 0 {
                    v.phase = Phase::Failed;
                }
                Arc::new(v)
            })
            .collect();
        let services = (0..10)
            .map(|i| (format!("{i}"), format!("ng-{i}"), ServiceState::Active))
            .collect();
        let m = Metrics::new();
        m.set_endpoints(Arc::new(EndpointTable {
            endpoints,
            services,
        }));
        let text = m.prometheus_text();
        assert!(text.len() < 2_000_000, "{} bytes", text.len());
        assert_eq!(
            text.matches("privatelinkd_endpoint_phase{").count(),
            100 * 6,
            "six phase series for each of the 100 Failed, none for the healthy"
        );
        assert!(text.contains("privatelinkd_endpoints{phase=\"Active\"} 9900\n"));
    }
}
