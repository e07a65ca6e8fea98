//! [`commit_of`]: which commit a config repository's files come from, as
//! the inventory and sync reports record it; [`remote_of`]: which remote.

use std::path::Path;

use git2::{Repository, StatusOptions};

use super::revision::subdir_of;

/// What [`commit_of`] appends to the commit of a working tree that has
/// uncommitted changes (as `git describe --dirty` does).
pub const DIRTY_SUFFIX: &str = "-dirty";

/// The commit the files come from: `rev`'s when given (files read from
/// Git), else the one checked out in the repository containing `repo_dir`,
/// with [`DIRTY_SUFFIX`] when files under `repo_dir` (tracked, or untracked
/// and not ignored) differ from it, so a record never claims a commit that
/// is not what was read. `None` outside a Git repository, for an unknown
/// revision, or before the first commit.
pub fn commit_of(repo_dir: &Path, rev: Option<&str>) -> Option<String> {
    let repo = Repository::discover(repo_dir).ok()?;
    if let Some(rev) = rev {
        let commit = repo.revparse_single(rev).ok()?.peel_to_commit().ok()?;
        return Some(commit.id().to_string());
    }
    let id = repo.head().ok()?.peel_to_commit().ok()?.id().to_string();
    Some(if has_uncommitted_changes(&repo, repo_dir) {
        format!("{id}{DIRTY_SUFFIX}")
    } else {
        id
    })
}

/// The remote a config repository comes from, as [`SourceId`] records it:
/// the URL of the Git repository's `origin` remote (or of its only
/// remote), as configured, and the config repo's directory inside it
/// (`subdir` when given, else where `repo_dir` sits in the work tree).
/// `None` outside a Git repository or without such a remote.
///
/// [`SourceId`]: crate::sync::SourceId
pub fn remote_of(repo_dir: &Path, subdir: Option<&str>) -> Option<(String, String)> {
    let repo = Repository::discover(repo_dir).ok()?;
    let remotes = repo.remotes().ok()?;
    let names: Vec<&str> = remotes.iter().flatten().flatten().collect();
    let name = match names.as_slice() {
        [only] => (*only).to_owned(),
        names if names.contains(&"origin") => "origin".to_owned(),
        _ => return None,
    };
    let url = repo.find_remote(&name).ok()?.url().ok()?.to_owned();
    let path = match subdir {
        Some(subdir) => subdir.trim_matches('/').to_owned(),
        None => subdir_of(&repo, repo_dir).ok()?,
    };
    Some((url, path))
}

/// Whether files under `repo_dir` differ from the checked-out commit.
fn has_uncommitted_changes(repo: &Repository, repo_dir: &Path) -> bool {
    let mut options = StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    if let Ok(subdir) = subdir_of(repo, repo_dir)
        && !subdir.is_empty()
    {
        options.pathspec(subdir);
    }
    repo.statuses(Some(&mut options))
        .is_ok_and(|statuses| !statuses.is_empty())
}

#[cfg(test)]
mod tests {
    use git2::{IndexAddOption, Signature, Time};

    use super::*;

    fn commit_all(repo: &Repository) -> String {
        let mut index = repo.index().unwrap();
        index.add_all(["*"], IndexAddOption::DEFAULT, None).unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig =
            Signature::new("weir test", "test@weir.dev", &Time::new(1_700_000_000, 0)).unwrap();
        repo.commit(Some("HEAD"), &sig, &sig, "c", &tree, &[])
            .unwrap()
            .to_string()
    }

    #[test]
    fn clean_dirty_and_revisions() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("platform")).unwrap();
        std::fs::write(root.join("platform/a.yaml"), "a: 1\n").unwrap();
        std::fs::write(root.join("notes.txt"), "x\n").unwrap();
        let repo = Repository::init(root).unwrap();
        assert_eq!(commit_of(root, None), None, "no commit yet");
        let sha = commit_all(&repo);
        let platform = root.join("platform");
        assert_eq!(commit_of(&platform, None), Some(sha.clone()));

        // A change outside the config repo's directory does not count ...
        std::fs::write(root.join("notes.txt"), "y\n").unwrap();
        assert_eq!(commit_of(&platform, None), Some(sha.clone()));
        assert_eq!(commit_of(root, None), Some(format!("{sha}-dirty")));
        // ... one inside does, an untracked file too.
        std::fs::write(platform.join("b.yaml"), "b: 1\n").unwrap();
        assert_eq!(commit_of(&platform, None), Some(format!("{sha}-dirty")));
        // A revision is what Git holds, whatever the working tree says.
        assert_eq!(commit_of(&platform, Some("HEAD")), Some(sha));
        assert_eq!(commit_of(&platform, Some("no-such-branch")), None);

        assert_eq!(remote_of(&platform, None), None, "no remote yet");
        repo.remote("origin", "https://tok@example.com/org/platform.git")
            .unwrap();
        assert_eq!(
            remote_of(&platform, None),
            Some((
                "https://tok@example.com/org/platform.git".to_owned(),
                "platform".to_owned()
            ))
        );
        assert_eq!(
            remote_of(root, Some("clusters/prod/")).map(|(_, p)| p),
            Some("clusters/prod".to_owned())
        );
    }
}
