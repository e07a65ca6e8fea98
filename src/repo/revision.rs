//! [`read_revision`]: reading a config repository as it is at any Git
//! revision, straight from the object database (no checkout, no work tree
//! changes), with the same rules as the working-tree reader.

use std::path::Path;

use git2::{ObjectType, Oid, Repository, Tree};

use crate::diagnostic::Diagnostic;

use super::path::{in_git_dir, join, parent};
use super::tree::Collector;
use super::{Error, FileTree, Limits, MAX_SYMLINK_HOPS, Result, codes, resolve_in_repo};

/// Git tree entry modes.
const MODE_TREE: i32 = 0o040000;
const MODE_BLOB: i32 = 0o100644;
const MODE_BLOB_GROUP_WRITABLE: i32 = 0o100664;
const MODE_BLOB_EXECUTABLE: i32 = 0o100755;
const MODE_LINK: i32 = 0o120000;

/// Longest symlink target read from a link blob.
const MAX_LINK_BYTES: usize = 4096;

/// Reads the config repository at Git revision `rev` into a [`FileTree`].
///
/// - The Git repository is the one containing `repo_dir` (discovered upward,
///   as `git` does).
/// - `rev` is anything `git rev-parse` accepts: a branch, tag, sha,
///   `HEAD~1`, `origin/main`…; it is peeled to its tree.
/// - `subdir` is the config repo's directory inside the Git repository
///   (e.g. `example-repo`). When `None`, it is where `repo_dir` sits in the
///   work tree, so `read_revision(Path::new("example-repo"), "main", None, …)`
///   reads `example-repo/` at `main`; for a bare repository it is the root.
/// - Blob sizes are read from the object header before any content, so an
///   oversized blob is never loaded. Symlink entries resolve within the
///   config repo like [`read_worktree`](super::read_worktree) does; targets
///   that are absolute or climb out are refused.
///
/// # Errors
/// [`Error::NotARepository`], [`Error::UnknownRevision`] (naming `rev`),
/// [`Error::NotATree`], [`Error::SubdirMissing`],
/// [`Error::SubdirNotADirectory`], [`Error::OutsideWorkdir`], and
/// [`Error::Git`] for a corrupt or unreadable object database.
pub fn read_revision(
    repo_dir: &Path,
    rev: &str,
    subdir: Option<&str>,
    limits: &Limits,
) -> Result<FileTree> {
    let repo = Repository::discover(repo_dir).map_err(|source| Error::NotARepository {
        path: repo_dir.to_path_buf(),
        source,
    })?;
    let git = |source| Error::Git {
        rev: rev.to_owned(),
        source,
    };
    let object = repo
        .revparse_single(rev)
        .map_err(|source| Error::UnknownRevision {
            rev: rev.to_owned(),
            source,
        })?;
    let commit = object.peel_to_commit().ok().map(|c| c.id().to_string());
    let top = object.peel_to_tree().map_err(|source| Error::NotATree {
        rev: rev.to_owned(),
        source,
    })?;
    let subdir = match subdir {
        Some(subdir) => resolve_in_repo("", subdir)?,
        None => subdir_of(&repo, repo_dir)?,
    };
    let root = if subdir.is_empty() {
        top
    } else {
        let entry = top
            .get_path(Path::new(&subdir))
            .map_err(|_| Error::SubdirMissing {
                subdir: subdir.clone(),
                rev: rev.to_owned(),
            })?;
        if entry.kind() != Some(ObjectType::Tree) {
            return Err(Error::SubdirNotADirectory {
                subdir,
                rev: rev.to_owned(),
            });
        }
        repo.find_tree(entry.id()).map_err(git)?
    };

    let mut reader = Reader {
        repo: &repo,
        root: &root,
        collector: Collector::new(limits),
    };
    // Trees still to visit: (tree, repo-relative path). Git keeps entries
    // sorted, and popping in reverse keeps the visit order sorted too.
    let mut pending: Vec<(Tree<'_>, String)> = vec![(root.clone(), String::new())];
    while let Some((tree, rel_dir)) = pending.pop() {
        let mut subtrees = Vec::new();
        for entry in tree.iter() {
            if reader.collector.stopped() {
                let mut files = reader.collector.finish();
                files.set_commit(commit);
                return Ok(files);
            }
            let Ok(name) = entry.name() else {
                reader.collector.diagnose(
                    Diagnostic::warning(
                        codes::NON_UTF8_PATH,
                        format!(
                            "skipped `{}`: its name is not UTF-8",
                            String::from_utf8_lossy(entry.name_bytes())
                        ),
                    )
                    .in_file(rel_dir.clone()),
                );
                continue;
            };
            let rel = join(&rel_dir, name);
            match entry.filemode() {
                MODE_TREE => subtrees.push((repo.find_tree(entry.id()).map_err(git)?, rel)),
                MODE_BLOB | MODE_BLOB_EXECUTABLE | MODE_BLOB_GROUP_WRITABLE => {
                    reader.read_blob(entry.id(), rel).map_err(git)?;
                }
                MODE_LINK => reader.follow_link(entry.id(), rel).map_err(git)?,
                _ => reader.collector.diagnose(
                    Diagnostic::warning(
                        codes::SPECIAL_FILE,
                        "skipped: a Git submodule is not read",
                    )
                    .in_file(rel),
                ),
            }
        }
        pending.extend(subtrees.into_iter().rev());
    }
    let mut files = reader.collector.finish();
    files.set_commit(commit);
    Ok(files)
}

/// Where `repo_dir` sits inside the repository's work tree, as a
/// repo-relative path (`""` for the top or a bare repository).
pub(super) fn subdir_of(repo: &Repository, repo_dir: &Path) -> Result<String> {
    let Some(workdir) = repo.workdir() else {
        return Ok(String::new());
    };
    let canonical = |path: &Path| {
        std::fs::canonicalize(path).map_err(|source| Error::Root {
            path: path.to_path_buf(),
            source,
        })
    };
    let (workdir, dir) = (canonical(workdir)?, canonical(repo_dir)?);
    let relative = dir
        .strip_prefix(&workdir)
        .map_err(|_| Error::OutsideWorkdir { path: dir.clone() })?;
    let parts: Option<Vec<&str>> = relative
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect();
    parts
        .map(|parts| parts.join("/"))
        .ok_or(Error::OutsideWorkdir { path: dir.clone() })
}

struct Reader<'a, 'repo> {
    repo: &'repo Repository,
    /// The config repo's root tree: symlinks resolve within it.
    root: &'a Tree<'repo>,
    collector: Collector<'a>,
}

impl Reader<'_, '_> {
    /// Reads a blob into the tree at `rel`, checking its size from the
    /// object header first.
    fn read_blob(&mut self, oid: Oid, rel: String) -> Result<(), git2::Error> {
        let odb = self.repo.odb()?;
        let (size, _) = odb.read_header(oid)?;
        if !self.collector.admit(&rel, size as u64) {
            return Ok(());
        }
        let object = odb.read(oid)?;
        self.collector.insert(rel, object.data().to_vec());
        Ok(())
    }

    /// Resolves the symlink blob `oid` found at `rel` within the config repo
    /// and reads its final target at `rel`, or refuses it.
    fn follow_link(&mut self, oid: Oid, rel: String) -> Result<(), git2::Error> {
        let mut link_at = rel.clone();
        let mut link_oid = oid;
        for _ in 0..MAX_SYMLINK_HOPS {
            let odb = self.repo.odb()?;
            let (size, _) = odb.read_header(link_oid)?;
            if size > MAX_LINK_BYTES {
                self.not_followed(&rel, "…", "its target is too long");
                return Ok(());
            }
            let object = odb.read(link_oid)?;
            let text = String::from_utf8_lossy(object.data()).into_owned();
            let target = match resolve_in_repo(parent(&link_at), &text) {
                Ok(target) if !in_git_dir(&target) => target,
                _ => {
                    self.collector.diagnose(
                        Diagnostic::error(
                            codes::SYMLINK_ESCAPES,
                            format!("symlink points outside the repository (to `{text}`); it was not read"),
                        )
                        .in_file(rel)
                        .with_hint(
                            "weir reads only files inside the config repository; copy the file into \
                             the repository or point the link at a file inside it",
                        ),
                    );
                    return Ok(());
                }
            };
            let entry = if target.is_empty() {
                None
            } else {
                self.root.get_path(Path::new(&target)).ok()
            };
            let Some(entry) = entry else {
                self.not_followed(&rel, &text, "its target does not exist");
                return Ok(());
            };
            match entry.filemode() {
                MODE_BLOB | MODE_BLOB_EXECUTABLE | MODE_BLOB_GROUP_WRITABLE => {
                    return self.read_blob(entry.id(), rel);
                }
                MODE_LINK => {
                    link_at = target;
                    link_oid = entry.id();
                }
                MODE_TREE => {
                    self.not_followed(
                        &rel,
                        &text,
                        "it points at a directory (weir follows symlinks to files only)",
                    );
                    return Ok(());
                }
                _ => {
                    self.not_followed(&rel, &text, "its target is not a regular file");
                    return Ok(());
                }
            }
        }
        self.not_followed(
            &rel,
            "…",
            &format!("more than {MAX_SYMLINK_HOPS} symlinks in a row"),
        );
        Ok(())
    }

    fn not_followed(&mut self, rel: &str, text: &str, why: &str) {
        self.collector.diagnose(
            Diagnostic::warning(
                codes::SYMLINK_NOT_FOLLOWED,
                format!("symlink to `{text}` was not followed: {why}"),
            )
            .in_file(rel),
        );
    }
}
