//! [`read_worktree`]: reading a config repository from a directory on disk,
//! never leaving it (symlinks are resolved and checked against the root,
//! sizes are checked before reading, special files are never opened).

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostic;

use super::path::{in_git_dir, join, parent};
use super::tree::Collector;
use super::{Error, FileTree, Limits, Result, codes, resolve_in_repo};

/// Reads every regular file below `root` (skipping `.git`) into a
/// [`FileTree`], following the rules of the [module docs](super).
///
/// The walk is iterative and visits directories in sorted order, so the
/// result (and which file a repo-wide limit stops at) is deterministic.
///
/// # Errors
/// [`Error::Root`] / [`Error::RootNotDirectory`] when `root` is missing or
/// not a directory, [`Error::Io`] when a directory or file inside cannot be
/// read (permissions, I/O failure).
pub fn read_worktree(root: &Path, limits: &Limits) -> Result<FileTree> {
    let root = fs::canonicalize(root).map_err(|source| Error::Root {
        path: root.to_path_buf(),
        source,
    })?;
    if !root.is_dir() {
        return Err(Error::RootNotDirectory { path: root });
    }
    let mut collector = Collector::new(limits);
    // Directories still to visit: (absolute path, repo-relative path).
    let mut pending: Vec<(PathBuf, String)> = vec![(root.clone(), String::new())];
    while let Some((dir, rel_dir)) = pending.pop() {
        let mut entries = fs::read_dir(&dir)
            .and_then(|entries| entries.collect::<std::io::Result<Vec<_>>>())
            .map_err(|source| Error::Io {
                path: dir.clone(),
                source,
            })?;
        entries.sort_by_key(|entry| entry.file_name());
        let mut subdirs = Vec::new();
        for entry in entries {
            if collector.stopped() {
                return Ok(collector.finish());
            }
            let abs = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                collector.diagnose(
                    Diagnostic::warning(
                        codes::NON_UTF8_PATH,
                        format!("skipped `{}`: its name is not UTF-8", abs.display()),
                    )
                    .in_file(rel_dir.clone()),
                );
                continue;
            };
            if name == ".git" {
                continue;
            }
            let rel = join(&rel_dir, &name);
            let file_type = entry.file_type().map_err(|source| Error::Io {
                path: abs.clone(),
                source,
            })?;
            if file_type.is_dir() {
                subdirs.push((abs, rel));
            } else if file_type.is_file() {
                read_file(&abs, rel, &mut collector)?;
            } else if file_type.is_symlink() {
                follow_symlink(&root, &abs, rel, &mut collector)?;
            } else {
                collector.diagnose(
                    Diagnostic::warning(
                        codes::SPECIAL_FILE,
                        "skipped: not a regular file (FIFO, socket or device)",
                    )
                    .in_file(rel),
                );
            }
        }
        // Popped in reverse, so directories are visited in sorted order.
        pending.extend(subdirs.into_iter().rev());
    }
    Ok(collector.finish())
}

/// Reads one regular file, checking its size on the open handle first and
/// bounding the read in case it grows meanwhile.
fn read_file(abs: &Path, rel: String, collector: &mut Collector<'_>) -> Result<()> {
    let io_error = |source| Error::Io {
        path: abs.to_path_buf(),
        source,
    };
    let file = File::open(abs).map_err(io_error)?;
    let size = file.metadata().map_err(io_error)?.len();
    if !collector.admit(&rel, size) {
        return Ok(());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(collector.max_file_bytes().saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    collector.insert(rel, bytes);
    Ok(())
}

/// Follows a symlink found at `rel` if it leads to a regular file inside
/// `root` (not in `.git/`); refuses it otherwise.
fn follow_symlink(
    root: &Path,
    abs: &Path,
    rel: String,
    collector: &mut Collector<'_>,
) -> Result<()> {
    let link = fs::read_link(abs).map_err(|source| Error::Io {
        path: abs.to_path_buf(),
        source,
    })?;
    let link_text = link.display().to_string();
    let escapes = |collector: &mut Collector<'_>| {
        collector.diagnose(
            Diagnostic::error(
                codes::SYMLINK_ESCAPES,
                format!(
                    "symlink points outside the repository (to `{link_text}`); it was not read"
                ),
            )
            .in_file(rel.clone())
            .with_hint(
                "weir reads only files inside the config repository; copy the file into the \
                 repository or point the link at a file inside it",
            ),
        );
    };
    // A relative target that climbs out is refused on its text alone, as in
    // a Git revision, whether or not it exists.
    if link.is_relative()
        && link
            .to_str()
            .is_none_or(|text| resolve_in_repo(parent(&rel), text).is_err())
    {
        escapes(collector);
        return Ok(());
    }
    let not_followed = |why: &str| {
        Diagnostic::warning(
            codes::SYMLINK_NOT_FOLLOWED,
            format!("symlink to `{link_text}` was not followed: {why}"),
        )
        .in_file(rel.clone())
    };
    // canonicalize resolves every link in the chain; a loop or a dangling
    // target fails here without anything being read.
    let target = match fs::canonicalize(abs) {
        Ok(target) => target,
        Err(err) => {
            collector.diagnose(not_followed(&format!(
                "its target cannot be resolved ({err})"
            )));
            return Ok(());
        }
    };
    let inside = target
        .strip_prefix(root)
        .ok()
        .and_then(Path::to_str)
        .is_some_and(|target_rel| !in_git_dir(target_rel));
    if !inside {
        escapes(collector);
        return Ok(());
    }
    let metadata = fs::metadata(&target).map_err(|source| Error::Io {
        path: target.clone(),
        source,
    })?;
    if metadata.is_dir() {
        collector.diagnose(not_followed(
            "it points at a directory (weir follows symlinks to files only)",
        ));
    } else if metadata.is_file() {
        read_file(&target, rel, collector)?;
    } else {
        collector.diagnose(not_followed("its target is not a regular file"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, content: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    #[test]
    fn reads_all_regular_files_sorted_and_skips_git() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "b.yaml", "b: 1");
        write(dir.path(), "a/x.yaml", "x: 1");
        write(dir.path(), "chart/templates/_helpers.tpl", "{{ }}");
        write(dir.path(), ".git/config", "[core]");
        write(dir.path(), "sub/.git", "gitdir: ../.git/modules/sub");
        let tree = read_worktree(dir.path(), &Limits::default()).unwrap();
        let paths: Vec<_> = tree.paths().collect();
        assert_eq!(
            paths,
            ["a/x.yaml", "b.yaml", "chart/templates/_helpers.tpl"]
        );
        assert_eq!(tree.get("b.yaml"), Some(&b"b: 1"[..]));
        assert!(tree.diagnostics().is_empty());
    }

    #[test]
    fn follows_symlinks_inside_and_refuses_the_rest() {
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "secret.yaml", "token: x");
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "real/a.yaml", "a: 1");
        write(dir.path(), ".git/config", "[core]");
        let link = |target: &Path, at: &str| {
            std::os::unix::fs::symlink(target, dir.path().join(at)).unwrap()
        };
        link(Path::new("real/a.yaml"), "inside.yaml");
        link(&outside.path().join("secret.yaml"), "outside.yaml");
        link(Path::new("../../etc/passwd"), "dotdot.yaml");
        link(Path::new("../nowhere/x.yaml"), "dotdot-dangling.yaml");
        link(Path::new("real"), "dirlink");
        link(Path::new("missing.yaml"), "dangling.yaml");
        link(Path::new(".git/config"), "gitconfig.yaml");
        link(Path::new("loop.yaml"), "loop.yaml");
        let tree = read_worktree(dir.path(), &Limits::default()).unwrap();
        let paths: Vec<_> = tree.paths().collect();
        assert_eq!(paths, ["inside.yaml", "real/a.yaml"]);
        assert_eq!(tree.get("inside.yaml"), Some(&b"a: 1"[..]));
        let found: Vec<_> = tree
            .diagnostics()
            .iter()
            .map(|d| (d.file.as_deref().unwrap(), d.code))
            .collect();
        assert_eq!(
            found,
            [
                ("dangling.yaml", codes::SYMLINK_NOT_FOLLOWED),
                ("dirlink", codes::SYMLINK_NOT_FOLLOWED),
                ("dotdot-dangling.yaml", codes::SYMLINK_ESCAPES),
                ("dotdot.yaml", codes::SYMLINK_ESCAPES),
                ("gitconfig.yaml", codes::SYMLINK_ESCAPES),
                ("loop.yaml", codes::SYMLINK_NOT_FOLLOWED),
                ("outside.yaml", codes::SYMLINK_ESCAPES),
            ]
        );
    }

    #[test]
    fn missing_root_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_worktree(&dir.path().join("nope"), &Limits::default()).unwrap_err();
        assert!(matches!(err, Error::Root { .. }), "{err}");
        write(dir.path(), "file", "");
        let err = read_worktree(&dir.path().join("file"), &Limits::default()).unwrap_err();
        assert!(matches!(err, Error::RootNotDirectory { .. }), "{err}");
    }
}
