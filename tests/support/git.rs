//! Git fixtures: a work tree committed (additions and deletions) and tagged
//! with git2, with a fixed author and time so ids are reproducible; a
//! directory copied into a fresh repository.

use std::path::Path;

use git2::{IndexAddOption, Repository, Signature, Time};

/// Commits the whole work tree of `repo` on HEAD and tags the commit `tag`.
pub fn commit(repo: &Repository, tag: &str) {
    let mut index = repo.index().unwrap();
    index.add_all(["*"], IndexAddOption::DEFAULT, None).unwrap();
    index.update_all(["*"], None).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = Signature::new("weir test", "test@weir.dev", &Time::new(1_700_000_000, 0)).unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    let id = repo
        .commit(Some("HEAD"), &sig, &sig, tag, &tree, &parents)
        .unwrap();
    repo.tag_lightweight(tag, &repo.find_object(id, None).unwrap(), false)
        .unwrap();
}

/// Copies the directory `from` (recursively) to `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
