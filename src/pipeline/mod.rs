//! The one pipeline from a config repo to a sync plan, as every command
//! and the agent run it:
//!
//! ```text
//! Source ──load──> Loaded (files, documents, load findings)
//!        ──check──> Checked: validate → render → plan → sync plan,
//!                   every finding in one report, and a Planned only when
//!                   there is no error
//! ```
//!
//! [`load`] reads a [`Source`] (a directory, or a revision of a Git
//! repository) with the safety limits of [`repo`](crate::repo) and parses
//! the files weir.yaml selects ([`FileFilter`](crate::spec::filter::FileFilter)).
//! [`check`] validates the documents ([`validate`](crate::validate)), and
//! when weir's own documents are sound renders the repo (charts through the
//! [`ChartRenderer`](crate::render::ChartRenderer) it is given), plans its
//! waves and builds the [`SyncPlan`](crate::sync::SyncPlan). A
//! [`Planned`] exists only when none of these found an error, and it is the
//! only way to a sync plan: `weir validate` reports exactly what would stop
//! `weir plan`, `weir diff` or `weir sync`, and nothing that fails
//! validation can be applied.
//!
//! Nothing here prints; findings are [`Diagnostic`](crate::diagnostic::Diagnostic)s
//! and failures of the machine are [`Error`]s.

mod check;
mod source;
mod sync_plan;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use check::{Checked, Options, Planned, WithoutHelm, check};
pub use source::{Loaded, Source, load, load_tree, source_id};

/// What one run may cost, set where weir runs (flags), never by the repo:
/// the files read, and the work done on them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bounds on reading files (sizes, counts).
    pub files: crate::repo::Limits,
    /// The work budget after reading, and Helm's limits.
    pub work: crate::budget::Limits,
}

/// What stops the pipeline before it can judge the repo: the source
/// cannot be read, or a renderer cannot run. Findings about the repo's
/// content are diagnostics in [`Checked::report`], never errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config repository's directory does not exist.
    #[error(
        "{} does not exist; give the config repository's directory (default: the current one)",
        path.display()
    )]
    NotFound { path: PathBuf },
    /// The files could not be read (I/O, Git).
    #[error(transparent)]
    Read(#[from] crate::repo::Error),
    /// Rendering could not run (no helm, no temporary directory).
    #[error("rendering failed")]
    Render(#[from] crate::render::Error),
}

/// The `Result` of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
