//! The engine in-process against the simulated cloud: exact call counts, virtual time.

use std::time::Duration;

use privatelinkd::cloud::budget::{Budgeted, Rates};
use privatelinkd::cloud::sim::SimCloud;
use privatelinkd::plan::Policy;
use privatelinkd::reconcile::{Engine, Frozen, PassOutcome, Wanted};
use privatelinkd::spec::{self, EndpointDocument};

use super::{sim_world, world};

/// Both clouds, simulated, behind the call gate.
pub type Sim = Budgeted<SimCloud>;

/// One endpoint document, checked.
pub fn doc(text: &str) -> EndpointDocument {
    let loaded = privatelinkd::yaml::load(text);
    spec::checker()
        .check(&loaded.documents[0])
        .expect("test documents are valid")
}

/// The documents, as found in `test.yaml`.
pub fn wanted(docs: &[String]) -> Vec<Wanted> {
    docs.iter()
        .map(|t| Wanted::new(doc(t), "test.yaml"))
        .collect()
}

/// The simulated cloud of a world file's text.
pub fn cloud_of(world_text: &str) -> SimCloud {
    SimCloud::new(sim_world(world_text), None).unwrap()
}

/// The simulated cloud of the common `world(scale, rate_limits)`.
pub fn cloud(scale: u32, rate_limits: bool) -> SimCloud {
    cloud_of(&world(scale, rate_limits))
}

/// Ownership by `owner`, at most five deletions a pass.
pub fn policy() -> Policy {
    Policy {
        owner_id: "owner".into(),
        max_deletes_per_pass: 5,
        max_recreates_per_pass: 5,
        ..Policy::default()
    }
}

/// The engine on `cloud`, owner `owner`, its budgets scaled to the world's time.
pub fn engine(cloud: &SimCloud) -> Engine<Sim, Sim, Sim> {
    let rates = Rates::default().scaled(cloud.time_scale());
    let budgeted = Budgeted::new(cloud.clone(), rates);
    let mut engine = Engine::new(budgeted.clone(), budgeted.clone(), budgeted, "owner");
    // TiDB Cloud is looked at as often as its budget allows: on the simulated clock.
    engine.set_tidb_pace(Duration::from_secs(600), rates.tidb.per_second);
    engine
}

/// Passes until one changes nothing and nothing is on its way, or `limit` passes.
pub async fn converge(
    engine: &mut Engine<Sim, Sim, Sim>,
    wanted: &[Wanted],
    limit: usize,
) -> PassOutcome {
    let mut last = PassOutcome::default();
    for _ in 0..limit {
        last = engine
            .pass(wanted, &Frozen::default(), &policy(), true)
            .await;
        let settled = last
            .plan
            .endpoints
            .iter()
            .all(|p| !p.phase.is_transitional());
        if last.applied.is_empty() && settled && last.plan.removals.is_empty() {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    last
}
