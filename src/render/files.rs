//! The view of the config repo's files that rendering needs: look a file
//! up by its repo-relative path, list the files under a directory, and
//! resolve a path written in a component relative to its file without
//! ever leaving the repository.

use std::collections::BTreeMap;

/// Repo-relative `/`-separated paths to file contents, in path order.
///
/// Rendering reads chart directories and values files through this, so a
/// tree read from a Git revision (no checkout) renders like a working copy.
pub trait Files: Sync {
    /// The bytes of the file at `path`.
    fn get(&self, path: &str) -> Option<&[u8]>;
    /// Every file at or under `dir` (`""` = the whole repo), in path order.
    fn under<'a>(&'a self, dir: &str) -> Vec<(&'a str, &'a [u8])>;
}

impl Files for BTreeMap<String, Vec<u8>> {
    fn get(&self, path: &str) -> Option<&[u8]> {
        BTreeMap::get(self, path).map(Vec::as_slice)
    }

    fn under<'a>(&'a self, dir: &str) -> Vec<(&'a str, &'a [u8])> {
        let all = || self.iter().map(|(k, v)| (k.as_str(), v.as_slice()));
        if dir.is_empty() {
            return all().collect();
        }
        let prefix = format!("{dir}/");
        let exact = self
            .get_key_value(dir)
            .map(|(k, v)| (k.as_str(), v.as_slice()));
        exact
            .into_iter()
            .chain(
                self.range(prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .map(|(k, v)| (k.as_str(), v.as_slice())),
            )
            .collect()
    }
}

impl Files for crate::repo::FileTree {
    fn get(&self, path: &str) -> Option<&[u8]> {
        crate::repo::FileTree::get(self, path)
    }

    fn under<'a>(&'a self, dir: &str) -> Vec<(&'a str, &'a [u8])> {
        let exact = self
            .get(dir)
            .filter(|_| !dir.is_empty())
            .and_then(|bytes| self.paths().find(|p| *p == dir).map(|p| (p, bytes)));
        exact.into_iter().chain(self.files_under(dir)).collect()
    }
}

/// Resolves `relative` against the repo directory `base_dir` (`""` = the
/// root), normalising `.` and `..`. `None` when the result would leave
/// the repository or `relative` is absolute.
pub fn resolve(base_dir: &str, relative: &str) -> Option<String> {
    if relative.starts_with('/') || relative.contains('\\') {
        return None;
    }
    let mut parts: Vec<&str> = base_dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in relative.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// True when `path` is `dir` itself or inside it (`dir` `""` holds all).
pub fn is_within(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || (path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/')
}

/// `name` in the repo directory `dir` (`""` = the root).
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// A repo directory as a message names it (`""` is "the repo root").
pub fn show_dir(dir: &str) -> &str {
    if dir.is_empty() { "the repo root" } else { dir }
}

/// The directory of a repo file, `""` at the root.
pub fn dir_of(file: &str) -> &str {
    file.rsplit_once('/').map_or("", |(dir, _)| dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_inside_the_repo_only() {
        assert_eq!(resolve("a/b", "m").as_deref(), Some("a/b/m"));
        assert_eq!(resolve("a/b", "../c/./d").as_deref(), Some("a/c/d"));
        assert_eq!(resolve("a", "..").as_deref(), Some(""));
        assert_eq!(resolve("a", "../.."), None);
        assert_eq!(resolve("", "/etc/passwd"), None);
        assert_eq!(resolve("", "."), Some(String::new()));
    }

    #[test]
    fn lists_files_under_a_directory() {
        let mut tree = BTreeMap::new();
        for p in [
            "a/x.yaml",
            "a-b/y.yaml",
            "a/b/z.yaml",
            "ab.yaml",
            "b/a/q.yaml",
        ] {
            tree.insert(p.to_owned(), Vec::new());
        }
        let names: Vec<_> = Files::under(&tree, "a")
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(names, ["a/b/z.yaml", "a/x.yaml"]);
        assert_eq!(Files::under(&tree, "").len(), 5);
        assert!(is_within("a/b", "a"));
        assert!(!is_within("ab", "a"));
        assert!(is_within("x", ""));
    }
}
