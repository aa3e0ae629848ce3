//! The per-endpoint and per-service series, encoded at scrape time from the report's latest
//! table.
//!
//! At 10,000 endpoints these are about 190,000 series. Held as registry entries, each would
//! keep its own copy of its label strings next to the report's copy, and every pass would
//! touch all of them; encoded from the table, they cost no memory of their own and a pass
//! that changes nothing changes nothing here (the report swaps the table only on change).

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
}

impl EndpointSeries {
    pub fn set(&self, table: Arc<EndpointTable>) {
        *self.table.lock().unwrap_or_else(|e| e.into_inner()) = table;
    }
}

const SERVICE_STATES: [ServiceState; 3] = [
    ServiceState::Creating,
    ServiceState::Active,
    ServiceState::Deleting,
];

fn state_name(state: ServiceState) -> &'static str {
    match state {
        ServiceState::Creating => "Creating",
        ServiceState::Active => "Active",
        ServiceState::Deleting => "Deleting",
    }
}

impl Collector for EndpointSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // The lock is held for a pointer copy only: a scrape never delays the report.
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner()).clone();
        {
            let mut family = encoder.encode_descriptor(
                "privatelinkd_endpoint_phase",
                "1 for the endpoint's current phase, 0 for the others",
                None,
                MetricType::Gauge,
            )?;
            for e in &table.endpoints {
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
            for e in &table.endpoints {
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
            for e in table
                .endpoints
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
            for e in &table.endpoints {
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
            for state in SERVICE_STATES {
                let labels = [
                    ("cluster_id", cluster_id.as_str()),
                    ("node_group_id", node_group_id.as_str()),
                    ("state", state_name(state)),
                ];
                family
                    .encode_family(&labels)?
                    .encode_gauge(&i64::from(state == *current))?;
            }
        }
        Ok(())
    }
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
            "privatelinkd_endpoint_info{name=\"a\",file=\"f.yaml\",cluster_id=\"1\",node_group_id=\"2\",region=\"us-east-1\",vpc_id=\"vpc-0a1b2c3d\",vpc_endpoint_id=\"\"} 1"
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
}
