//! Where a worker reads the config repo it syncs ([`Origin`]): a Git
//! remote fetched into the agent's cache, or a directory on disk
//! (`weir agent --path`). Reading it gives a [`Snapshot`]: the pipeline's
//! [`Source`] and the revision it is.

use std::path::PathBuf;
use std::time::Duration;

use crate::pipeline::Source;
use crate::repo::{self, Limits};

/// Why the source could not be read (nothing in the cluster changes).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory of `weir agent --path` is gone or unreadable.
    #[error("cannot read {}", path.display())]
    Directory {
        path: PathBuf,
        #[source]
        source: repo::Error,
    },
}

/// The `Result` of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One state of the source, ready for the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub source: Source,
    /// The commit (or, for a directory, the commit with `-dirty` and a
    /// hash of the files when they differ from it): what status and the
    /// inventory record.
    pub revision: String,
}

/// Where the config repo comes from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A directory on disk, read as it is (`weir agent --path`).
    Directory(PathBuf),
}

impl Origin {
    /// Reads the source's current state. Blocking (Git, the disk): call it
    /// from `spawn_blocking`.
    pub fn snapshot(&self, _timeout: Duration) -> Result<Snapshot> {
        match self {
            Origin::Directory(path) => {
                let tree = repo::read_worktree(path, &Limits::default()).map_err(|source| {
                    Error::Directory {
                        path: path.clone(),
                        source,
                    }
                })?;
                let fingerprint =
                    tree.files()
                        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, (path, bytes)| {
                            let hash = crate::sync::inventory::fnv1a(path.as_bytes()) ^ hash;
                            hash.rotate_left(5) ^ crate::sync::inventory::fnv1a(bytes)
                        });
                let revision = match repo::commit_of(path, None) {
                    Some(commit) if !commit.ends_with(repo::DIRTY_SUFFIX) => commit,
                    Some(commit) => format!("{commit}.{fingerprint:016x}"),
                    None => format!("files.{fingerprint:016x}"),
                };
                Ok(Snapshot {
                    source: Source::Directory(path.clone()),
                    revision,
                })
            }
        }
    }

    /// How messages name it (never with credentials).
    pub fn describe(&self) -> String {
        match self {
            Origin::Directory(path) => path.display().to_string(),
        }
    }
}

/// The Git origin of a Sync. (Placeholder until the Git fetch lands.)
pub fn git_origin(
    sync: &super::resource::SyncObject,
    _options: &super::Options,
) -> std::result::Result<Origin, String> {
    Err(format!("cannot fetch {} yet", sync.spec.url))
}
