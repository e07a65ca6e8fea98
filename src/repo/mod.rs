//! Reading a config repository's files, safely: from the working tree
//! ([`read_worktree`]) or from any Git revision without a checkout
//! ([`read_revision`]), into an immutable [`FileTree`]; and which commit
//! they come from ([`commit_of`]).
//!
//! The rules are the same for both sources, so `weir validate` and
//! `weir validate --rev HEAD` see the same files:
//!
//! - Every regular file is read (Helm charts need `*.tpl`, `.helmignore`…),
//!   except `.git/`. Paths are repo-relative, `/`-separated, no leading `./`.
//! - A file over [`Limits::max_file_bytes`] is not read at all (its size is
//!   checked first) and becomes an error diagnostic ([`codes::FILE_TOO_LARGE`]).
//!   Past [`Limits::max_total_bytes`] or [`Limits::max_files`] reading stops
//!   with an error diagnostic.
//! - A symlink to a regular file inside the config repo is followed and its
//!   content appears at the link's path (as Argo CD does). A symlink whose
//!   target leaves the config repo (or points into `.git/`) is refused with an
//!   error ([`codes::SYMLINK_ESCAPES`]) and never read. Symlinks to
//!   directories, dangling symlinks and chains longer than
//!   [`MAX_SYMLINK_HOPS`] are not followed (warning
//!   [`codes::SYMLINK_NOT_FOLLOWED`]), which also rules out loops.
//! - FIFOs, sockets, devices and Git submodules are skipped with a warning.
//!
//! Findings about the repo's content are [`Diagnostic`]s kept in the tree;
//! [`Error`] is for what stops reading altogether (missing root, not a Git
//! repository, unknown revision, I/O failure).
//!
//! Bringing the repository from its Git server, for the agent: a
//! [`Mirror`] (a bare repository per remote URL in a cache directory, bounded
//! by [`prune_cache`]) fetches one [`GitRef`] of a [`Remote`] (URL,
//! [`Auth`], SSH [`KnownHosts`]) within [`FetchOptions`]' time and size
//! bounds, failing with a [`FetchError`]; [`read_revision`] then reads the
//! fetched commit from the mirror. [`verify_commit`] checks a commit's SSH
//! signature against [`AllowedSigners`] ([`SignatureError`] otherwise).
//! No credential reaches a message, a log or the cache's file names:
//! [`redact_url`] and [`redact_text`] take them out.

mod cache;
mod commit;
mod credentials;
mod fetch;
mod fetch_error;
mod known_hosts;
mod path;
mod revision;
mod signature;
#[cfg(test)]
mod testutil;
mod tree;
mod url;
pub mod watch;
mod worktree;

use std::path::PathBuf;

pub use cache::{PruneReport, prune_cache};
pub use commit::{DIRTY_SUFFIX, commit_of, remote_of};
pub use credentials::Auth;
pub use fetch::{FetchError, FetchOptions, Fetched, GitRef, Mirror, Remote};
pub use known_hosts::KnownHosts;
pub use path::resolve_in_repo;
pub use revision::read_revision;
pub use signature::{AllowedSigners, SignatureError, Signer, verify_commit};
pub use tree::{FileTree, Limits};
pub use url::{is_local, redact_text, redact_url};
pub use worktree::read_worktree;

#[cfg(doc)]
use crate::diagnostic::Diagnostic;

/// How many symlinks in a row are followed before giving up.
pub const MAX_SYMLINK_HOPS: usize = 8;

/// Diagnostic codes emitted while reading a repository's files.
///
/// Codes are stable: messages may be reworded, a code never changes meaning.
pub mod codes {
    use crate::diagnostic::Code;

    /// A file is larger than `max_file_bytes`; it was not read.
    pub const FILE_TOO_LARGE: Code = Code("E0001");
    /// A symlink points outside the config repository (or into `.git/`);
    /// it was refused and its target never read.
    pub const SYMLINK_ESCAPES: Code = Code("E0002");
    /// The repository holds more than `max_total_bytes`; reading stopped.
    pub const REPO_TOO_LARGE: Code = Code("E0003");
    /// The repository holds more than `max_files` files; reading stopped.
    pub const TOO_MANY_FILES: Code = Code("E0004");
    /// A symlink was not followed: it dangles, points at a directory, or is
    /// part of a chain that is too long (warning).
    pub const SYMLINK_NOT_FOLLOWED: Code = Code("W0001");
    /// A FIFO, socket, device or Git submodule was skipped (warning).
    pub const SPECIAL_FILE: Code = Code("W0002");
    /// A file or directory whose name is not UTF-8 was skipped (warning).
    pub const NON_UTF8_PATH: Code = Code("W0003");
}

/// What stops reading a repository altogether. Problems with single files
/// are [`Diagnostic`]s in the [`FileTree`] instead.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open the config repository at {}", path.display())]
    Root {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the config repository {} is not a directory", path.display())]
    RootNotDirectory { path: PathBuf },

    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{} is not inside a Git repository", path.display())]
    NotARepository {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },

    #[error("unknown revision `{rev}`")]
    UnknownRevision {
        rev: String,
        #[source]
        source: git2::Error,
    },

    #[error("revision `{rev}` does not name a commit or a tree")]
    NotATree {
        rev: String,
        #[source]
        source: git2::Error,
    },

    #[error("directory `{subdir}` does not exist at revision `{rev}`")]
    SubdirMissing { subdir: String, rev: String },

    #[error("`{subdir}` is not a directory at revision `{rev}`")]
    SubdirNotADirectory { subdir: String, rev: String },

    #[error("{} is outside the Git repository's working tree", path.display())]
    OutsideWorkdir { path: PathBuf },

    #[error("cannot read revision `{rev}` from Git")]
    Git {
        rev: String,
        #[source]
        source: git2::Error,
    },

    #[error("path `{relative}` (from `{base}`) leaves the config repository")]
    EscapesRepo { base: String, relative: String },

    #[error("path `{path}` is absolute; paths in a config repository are relative to it")]
    AbsolutePath { path: String },

    #[error("path `{path}` contains a NUL character")]
    InvalidPath { path: String },
}

/// The `Result` of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
