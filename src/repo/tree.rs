//! [`FileTree`], the immutable snapshot of a config repository's files, the
//! [`Limits`] that bound reading it, and the bookkeeping both readers share
//! to enforce them.

use std::collections::BTreeMap;

use crate::diagnostic::Diagnostic;

use super::codes;

/// Bounds on what reading a repository may cost. Files over a bound are not
/// read; they become error diagnostics in the [`FileTree`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest single file that is read (default 8 MiB). Checked before the
    /// file is opened for reading, so a 100 GB file costs nothing.
    pub max_file_bytes: u64,
    /// Largest sum of file sizes (default 256 MiB); reading stops past it.
    pub max_total_bytes: u64,
    /// Most files read (default 100,000); reading stops past it.
    pub max_files: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: 8 * 1024 * 1024,
            max_total_bytes: 256 * 1024 * 1024,
            max_files: 100_000,
        }
    }
}

/// An immutable snapshot of a config repository's files: repo-relative path
/// (`/`-separated, no leading `./`) → content, in sorted path order, plus the
/// [`Diagnostic`]s about files that were refused while reading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileTree {
    files: BTreeMap<String, Vec<u8>>,
    diagnostics: Vec<Diagnostic>,
    /// The commit the files were read from, for a tree read from Git.
    commit: Option<String>,
}

impl FileTree {
    /// The id of the commit the files were read from
    /// ([`read_revision`](super::read_revision) of a revision that names a
    /// commit); `None` for a working tree or a bare tree id.
    pub fn commit(&self) -> Option<&str> {
        self.commit.as_deref()
    }

    pub(super) fn set_commit(&mut self, commit: Option<String>) {
        self.commit = commit;
    }

    /// The content of the file at `path`, if the tree holds it.
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    /// Whether the tree holds a file at `path`.
    pub fn contains(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    /// All paths, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// All files as `(path, content)`, sorted by path.
    pub fn files(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files
            .iter()
            .map(|(path, bytes)| (path.as_str(), bytes.as_slice()))
    }

    /// The files below the repo-relative directory `dir` (`""` for all), as
    /// `(path, content)` with the full repo-relative path, sorted.
    pub fn files_under<'a>(
        &'a self,
        dir: &str,
    ) -> impl Iterator<Item = (&'a str, &'a [u8])> + use<'a> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.files
            .range::<str, _>((
                std::ops::Bound::Included(prefix.as_str()),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(path, _)| path.starts_with(&prefix))
            .map(|(path, bytes)| (path.as_str(), bytes.as_slice()))
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the tree holds no file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Sum of the sizes of all files.
    pub fn total_bytes(&self) -> u64 {
        self.files.values().map(|bytes| bytes.len() as u64).sum()
    }

    /// What was refused or skipped while reading (files over the size limit,
    /// symlinks leaving the repo, …). Report these along with the findings
    /// of later stages: they are not repeated anywhere else.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }
}

/// Builds a tree from in-memory files (tests, generated content). Paths are
/// taken as given: they must already be normalised repo-relative paths.
impl<P: Into<String>, B: Into<Vec<u8>>> FromIterator<(P, B)> for FileTree {
    fn from_iter<I: IntoIterator<Item = (P, B)>>(iter: I) -> Self {
        Self {
            files: iter
                .into_iter()
                .map(|(path, bytes)| (path.into(), bytes.into()))
                .collect(),
            diagnostics: Vec::new(),
            commit: None,
        }
    }
}

/// The running state of one read: enforces [`Limits`] and collects files and
/// diagnostics.
pub(crate) struct Collector<'a> {
    limits: &'a Limits,
    files: BTreeMap<String, Vec<u8>>,
    diagnostics: Vec<Diagnostic>,
    total_bytes: u64,
    stopped: bool,
}

impl<'a> Collector<'a> {
    pub(crate) fn new(limits: &'a Limits) -> Self {
        Self {
            limits,
            files: BTreeMap::new(),
            diagnostics: Vec::new(),
            total_bytes: 0,
            stopped: false,
        }
    }

    /// Whether a repo-wide limit was hit; nothing more is read then.
    pub(crate) fn stopped(&self) -> bool {
        self.stopped
    }

    /// The largest file that may be read, for bounded reads.
    pub(crate) fn max_file_bytes(&self) -> u64 {
        self.limits.max_file_bytes
    }

    /// Decides whether a file of `size` bytes at `path` may be read, and
    /// records why not when it may not.
    pub(crate) fn admit(&mut self, path: &str, size: u64) -> bool {
        if self.stopped {
            return false;
        }
        if size > self.limits.max_file_bytes {
            self.too_large(path, size);
            return false;
        }
        if self.files.len() >= self.limits.max_files {
            self.stopped = true;
            self.diagnostics.push(
                Diagnostic::error(
                    codes::TOO_MANY_FILES,
                    format!(
                        "the repository has more than {} files; stopped reading at this file",
                        self.limits.max_files
                    ),
                )
                .in_file(path)
                .with_hint(
                    "point weir at the config repository's own directory: it holds config, not \
                     build output or data",
                ),
            );
            return false;
        }
        if self.total_bytes.saturating_add(size) > self.limits.max_total_bytes {
            self.stopped = true;
            self.diagnostics.push(
                Diagnostic::error(
                    codes::REPO_TOO_LARGE,
                    format!(
                        "the repository's files add up to more than {}; stopped reading at this file",
                        human_bytes(self.limits.max_total_bytes)
                    ),
                )
                .in_file(path)
                .with_hint(
                    "point weir at the config repository's own directory: it holds config, not \
                     build output or data",
                ),
            );
            return false;
        }
        true
    }

    /// Records a file that was read. `bytes` may be longer than the size
    /// admitted if the file grew meanwhile; the limit is enforced again.
    pub(crate) fn insert(&mut self, path: String, bytes: Vec<u8>) {
        let size = bytes.len() as u64;
        if size > self.limits.max_file_bytes {
            self.too_large(&path, size);
            return;
        }
        self.total_bytes = self.total_bytes.saturating_add(size);
        self.files.insert(path, bytes);
    }

    pub(crate) fn diagnose(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    pub(crate) fn finish(self) -> FileTree {
        FileTree {
            files: self.files,
            diagnostics: self.diagnostics,
            commit: None,
        }
    }

    fn too_large(&mut self, path: &str, size: u64) {
        self.diagnostics.push(
            Diagnostic::error(
                codes::FILE_TOO_LARGE,
                format!(
                    "file is {}, over the limit of {} per file; it was not read",
                    human_bytes(size),
                    human_bytes(self.limits.max_file_bytes)
                ),
            )
            .in_file(path)
            .with_hint(
                "split it into smaller files, or, if it really belongs in the repo, raise the \
                 limit with `--max-file-size` (e.g. `--max-file-size 32M`)",
            ),
        );
    }
}

/// `8 MiB`, `100.5 MiB`, `512 bytes`: sizes as people read them.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(8 * 1024 * 1024), "8 MiB");
        assert_eq!(human_bytes(100 * 1024 * 1024 + 512 * 1024), "100.5 MiB");
    }

    #[test]
    fn tree_queries() {
        let tree: FileTree = [
            ("a.yaml", "a"),
            ("dir/b.yaml", "b"),
            ("dir/sub/c", "c"),
            ("dirx/d", "d"),
        ]
        .into_iter()
        .collect();
        assert_eq!(tree.get("dir/b.yaml"), Some(&b"b"[..]));
        assert_eq!(tree.len(), 4);
        let under: Vec<_> = tree.files_under("dir").map(|(p, _)| p).collect();
        assert_eq!(under, ["dir/b.yaml", "dir/sub/c"]);
        assert_eq!(tree.files_under("").count(), 4);
        assert_eq!(tree.total_bytes(), 4);
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits {
            max_file_bytes: 10,
            max_total_bytes: 15,
            max_files: 3,
        };
        let mut collector = Collector::new(&limits);
        assert!(!collector.admit("big", 11));
        assert!(collector.admit("a", 10));
        collector.insert("a".into(), vec![0; 10]);
        assert!(!collector.admit("b", 6));
        assert!(collector.stopped());
        let tree = collector.finish();
        let codes: Vec<_> = tree.diagnostics().iter().map(|d| d.code).collect();
        assert_eq!(codes, [codes::FILE_TOO_LARGE, codes::REPO_TOO_LARGE]);
        assert!(
            tree.diagnostics()[0]
                .message
                .contains("over the limit of 10 bytes")
        );
    }
}
