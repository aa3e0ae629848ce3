//! privatelinkd keeps AWS PrivateLink endpoints to TiDB Cloud Dedicated clusters equal to YAML
//! files in a config repo.
//!
//! # Layout
//!
//! The data path is one straight line, run once per pass; the modules below follow it. See
//! `ARCHITECTURE.md` for the map, who may use whom, and the invariants.
//!
//! ```text
//!  files --source--> documents --reconcile (observe, plan, backoff, apply)--> outcome
//!        --report--> status files, metrics, logs
//! ```
//!
//! Reading the files:
//! - [`yaml`]: YAML read into a tree that remembers line and column of every node.
//! - [`checked`]: typed values from that tree, every problem reported at once.
//! - [`spec`]: the endpoint file format (the user-facing contract).
//! - [`source`]: reads an endpoints directory into valid documents and located problems.
//!
//! The cloud and the pass:
//! - [`cloud`]: the provider traits, observed types, the operation table and published rates;
//!   the simulated, real and gated clients.
//! - [`plan`]: `(desired, observed, policy) -> Plan`, pure; ownership marks.
//! - [`reconcile`]: the engine: observe in batches, plan, hold back what is in backoff, apply.
//! - [`probe`]: the reachability probe (off the loop, rate-limited).
//! - [`report`]: what people see: status files, metric series, log lines, systemd STATUS.
//!
//! The daemon around it:
//! - [`daemon`]: the event loop, wiring, file watcher, signals, state directory.
//! - [`import`]: `privatelinkd import` (existing endpoints, Terraform states -> documents).
//! - [`lease`]: leader election through a DynamoDB lease (one acting daemon per ownerId).
//! - [`control`]: what the loop and the HTTP listener share (events, readiness, approvals).
//! - [`http`]: `/metrics`, `/healthz`, `/readyz`.
//! - [`metrics`], [`status`], [`systemd`]: the outputs' formats and protocols.
//!
//! Shared pieces: [`settings`] (the daemon config), [`duration`], [`secret`], [`diag`]
//! (`PATH:LINE:COL: error: MESSAGE`), [`stable`] (hashes and randomness that never change).

// Reading the files.
pub mod checked;
pub mod source;
pub mod spec;
pub mod yaml;

// The cloud and the pass.
pub mod cloud;
pub mod plan;
pub mod probe;
pub mod reconcile;
pub mod report;

// Bringing existing endpoints under management.
pub mod import;

// The daemon around it, and the outputs' formats.
pub mod control;
pub mod daemon;
pub mod http;
pub mod lease;
pub mod ledger;
pub mod metrics;
pub mod status;
pub mod systemd;

// Shared pieces.
pub mod diag;
pub mod duration;
pub mod secret;
pub mod settings;
pub mod stable;
