//! The engine against the simulated cloud, in-process: exact call counts and convergence.
//! The harness is `common::sim`.

use crate::common::*;

mod azure;
mod budgets;
mod convergence;
mod cost;
mod documents;
mod drift;
mod gcp;
mod identity;
mod import_cost;
mod lost_answers;
mod network;
mod removals;

/// `count` endpoints `ep-00000`, `ep-00001`... in one subnet, without private DNS (EC2 allows
/// one private DNS domain per service and VPC).
fn numbered(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            endpoint(
                &format!("ep-{i:05}"),
                CLUSTER,
                &[SUBNET_AZ1],
                "  privateDns: false\n",
            )
        })
        .collect()
}
