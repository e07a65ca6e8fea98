//! weir: a GitOps reconciler for Kubernetes.
//!
//! The crate follows the pipeline of `DESIGN.md`: Git (`repo`) → load
//! (`spec`) → validate → render → plan → diff → sync. The core stages are
//! pure (bytes in, values out); only `repo`, `sync` and `agent` do I/O.
//! [`pipeline`] strings the steps from a source to a sync plan together;
//! `cli` drives it once and owns all terminal output.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod agent;
pub mod budget;
pub mod cli;
pub mod diagnostic;
pub mod diff;
pub mod kubernetes;
pub mod object;
pub mod parallel;
pub mod pipeline;
pub mod plan;
pub mod render;
pub mod repo;
pub mod spec;
pub mod sync;
pub mod validate;
