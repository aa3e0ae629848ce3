//! privatelinkd's integration tests: one binary, so the AWS SDK is linked once, with a module
//! per area.
//!
//! Outside tools they use are installed by `scripts/test`: moto_server (EC2), promtool,
//! systemd-analyze and curl.

mod common;

mod architecture;
mod aws_moto;
mod azure_fake;
mod campaigns;
mod commands;
mod credentials;
mod daemon_e2e;
mod dashboard;
mod day_two;
mod ec2_throttling;
mod engine;
mod fuzz;
mod gcp_fake;
mod group;
mod histories;
mod lease;
mod ledger_group;
mod moving_in;
mod operability;
mod package;
mod safety;
mod tidb;
mod validate_cli;
