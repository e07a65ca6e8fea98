//! `sync`: apply a planned config repo to a cluster, wave by wave.
//!
//! The engine ([`engine`]) walks a [`SyncPlan`]: preflight checks, then per
//! wave a CRD upgrade check, server-side apply, waiting for CRDs and health
//! gates, hooks; then pruning and the inventory. Only [`apply::Cluster`]
//! talks to the API server; the rest computes plain values. [`dry_run`]
//! asks the same questions without changing anything, for `weir diff
//! --cluster`.

pub mod apply;
pub mod compare;
pub mod crd;
pub mod dry_run;
pub mod engine;
pub mod health;
pub mod hooks;
pub mod inventory;
pub mod lease;
pub mod plan;
pub mod preflight;
pub mod prune;
pub mod report;
pub mod rest;
pub mod retry;
pub mod wait;

pub use apply::{ApplyOptions, Cluster, ConnectOptions};
pub use engine::{Context, Error, Failed, Options, State, reconcile};
pub use inventory::SourceId;
pub use plan::{HealthRules, HookJob, SyncPlan, SyncUnit, SyncWave};
pub use report::{Event, Report};

/// Items as an indented bullet list, one per line, for error messages.
fn list<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| format!("  - {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}
