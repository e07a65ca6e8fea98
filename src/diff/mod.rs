//! The rendered diff: what a change to the config repo (or a sync against
//! the live cluster) changes, object by object and field by field.
//!
//! Pure: two [`Side`]s in, a [`Report`] out ([`diff`]), then printed by
//! one of the [`format`]s. Getting the sides — rendering two Git revisions,
//! or reading the cluster — happens at the edges (the CLI, `sync`).
//!
//! What counts as a change:
//! - objects are matched by group, kind, namespace and name, never by
//!   version or by the file or component they come from;
//! - both sides are [normalised](normalize) first: weir's tracking
//!   metadata, `status` and server-managed fields are dropped, an empty
//!   map, empty list or `null` equals an absent field, and lists that
//!   Kubernetes merges by key (containers by `name`, ports by
//!   `containerPort`...) are matched by key, so reordering them is not a
//!   change ([`listkeys`]);
//! - a Secret's `data` and `stringData` are [redacted](secret) before
//!   anything is compared or printed;
//! - weir's own documents (`weir.yaml`, Components, Workloads) are
//!   compared too, and a change to one that changes no rendered object is
//!   reported as such.

pub mod cluster;
pub mod engine;
pub mod fields;
pub mod format;
pub mod listkeys;
pub mod model;
pub mod normalize;
pub mod path;
pub mod secret;
pub mod unified;

pub use engine::{Options, diff};
pub use format::Labels;
pub use model::{
    Change, DiffObject, FieldChange, GroupSummary, ObjectDiff, Report, Scope, Side, Summary,
    WeirDoc, WeirDocDiff,
};
