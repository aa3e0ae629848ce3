//! privatelinkd keeps AWS PrivateLink endpoints to TiDB Cloud Dedicated clusters equal to YAML
//! files in a config repo.
//!
//! # Layout
//!
//! The data path is one straight line; see `ARCHITECTURE.md` for the map and its invariants.
//!
//! - [`yaml`]: YAML read into a tree that remembers line and column of every node.
//! - [`checked`]: typed values from that tree, every problem reported at once.
//! - [`spec`]: the endpoint file format (the user-facing contract).
//! - [`source`]: reads an endpoints directory into valid documents and located problems.
//! - [`diag`]: `PATH:LINE:COL: error: MESSAGE`.

pub mod checked;
pub mod cloud;
pub mod daemon;
pub mod diag;
pub mod http;
pub mod metrics;
pub mod plan;
pub mod reconcile;
pub mod settings;
pub mod source;
pub mod spec;
pub mod stable;
pub mod status;
pub mod systemd;
pub mod yaml;
