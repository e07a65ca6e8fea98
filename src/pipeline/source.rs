//! Where a config repo comes from ([`Source`]) and reading it into
//! documents ([`load`]): the files, with the safety limits of
//! [`repo`](crate::repo); the files weir.yaml's `include`/`exclude` select
//! ([`FileFilter`]); their YAML documents, each with its file and position;
//! and which commit they are.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Error, Limits, Result};
use crate::budget::{self, Budget};
use crate::diagnostic::Diagnostic;
use crate::repo::{self, FileTree};
use crate::spec::filter::FileFilter;
use crate::spec::model::API_VERSION;
use crate::spec::yaml::{self, Document, YamlLimits};
use crate::sync::SourceId;

/// Where the files of a config repo are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A directory as it is on disk (a working tree, with its uncommitted
    /// changes).
    Directory(PathBuf),
    /// A revision of a Git repository, read from its object database
    /// without a checkout.
    Revision {
        /// A directory of the repository (or the repository itself, bare
        /// or not).
        repo: PathBuf,
        /// Anything `git rev-parse` accepts: a sha, branch, tag, `HEAD~1`.
        rev: String,
        /// The config repo's directory inside the Git repository; `None`
        /// means where `repo` sits in its work tree (the root of a bare
        /// repository).
        subdir: Option<String>,
    },
}

/// A loaded config repo: its files, their documents and what loading found.
#[derive(Debug)]
pub struct Loaded {
    /// Every file read (charts and values files need more than YAML).
    pub tree: FileTree,
    /// The documents of the files weir.yaml selects, in path order.
    pub documents: Vec<Document>,
    /// Files refused while reading, bad globs, YAML that does not parse.
    pub diagnostics: Vec<Diagnostic>,
    /// The commit the files are, when known: the revision's commit, or for
    /// a directory the commit checked out there, with
    /// [`DIRTY_SUFFIX`](crate::repo::DIRTY_SUFFIX) when files under it
    /// differ from it.
    pub revision: Option<String>,
    /// The config directory's name (the last segment of its path), the
    /// inventory target when neither a `--target` nor a Repository name
    /// gives one.
    pub name: String,
    /// Where the files come from, as the inventory records it; `None` for
    /// a tree made in memory.
    pub source: Option<SourceId>,
    /// The run's work budget: loading charged it, checking goes on with it.
    pub budget: Budget,
}

impl Loaded {
    /// weir's own documents (Repository, Component, Workload) as written,
    /// with their files: what `weir diff` compares beside the objects.
    pub fn weir_documents(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.documents
            .iter()
            .filter(|d| d.value.get("apiVersion").and_then(Value::as_str) == Some(API_VERSION))
            .map(|d| (d.file.as_str(), &d.value))
    }
}

/// Reads `source` and parses its documents. Files over `limits.files` are
/// refused with diagnostics, and parsing charges `limits.work`'s budget;
/// `Err` when the source cannot be read at all (a missing directory, an
/// unknown revision, not a Git repository).
pub fn load(source: &Source, limits: &Limits) -> Result<Loaded> {
    let (tree, revision, name) = match source {
        Source::Directory(path) => {
            if !path.exists() {
                return Err(Error::NotFound { path: path.clone() });
            }
            let tree = repo::read_worktree(path, &limits.files)?;
            (tree, repo::commit_of(path, None), dir_name(path))
        }
        Source::Revision { repo, rev, subdir } => {
            let tree = repo::read_revision(repo, rev, subdir.as_deref(), &limits.files)?;
            let revision = tree.commit().map(str::to_owned);
            let name = match subdir.as_deref().and_then(|s| s.rsplit('/').next()) {
                Some(last) if !last.is_empty() => last.to_owned(),
                _ => dir_name(repo),
            };
            (tree, revision, name)
        }
    };
    let mut loaded = load_tree(tree, revision, name, &limits.work);
    loaded.source = source_id(source);
    Ok(loaded)
}

/// Parses the documents of files already read (or made in memory: tests,
/// fuzzing), as [`load`] does after reading, within a fresh budget of
/// `work`.
pub fn load_tree(
    tree: FileTree,
    revision: Option<String>,
    name: String,
    work: &budget::Limits,
) -> Loaded {
    let budget = Budget::new(*work);
    let (filter, mut diagnostics) = FileFilter::of_tree(&tree);
    let (documents, parse_diagnostics) =
        yaml::load_documents(&tree, &filter, &YamlLimits::default(), &budget);
    diagnostics.extend(tree.diagnostics().iter().cloned());
    diagnostics.extend(parse_diagnostics);
    Loaded {
        tree,
        documents,
        diagnostics,
        revision,
        name,
        source: None,
        budget,
    }
}

/// Where `source`'s files come from, as the inventory records it: the
/// Git repository's remote (`origin`, or its only one) and the config
/// directory inside it, so a working copy and the agent's clone of the same
/// repo are one source; else the directory's absolute path.
pub fn source_id(source: &Source) -> Option<SourceId> {
    let (dir, subdir) = match source {
        Source::Directory(path) => (path, None),
        Source::Revision { repo, subdir, .. } => (repo, subdir.as_deref()),
    };
    if let Some((url, path)) = repo::remote_of(dir, subdir) {
        return Some(SourceId::remote(&url, &path));
    }
    let absolute = std::fs::canonicalize(dir).ok()?;
    Some(SourceId::local(&absolute, subdir.unwrap_or_default()))
}

/// The last segment of a directory's absolute path (`example-repo` for
/// `.` inside it); `default` when it has none (`/`).
fn dir_name(path: &Path) -> String {
    std::fs::canonicalize(path)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .map(|n| n.trim_end_matches(".git").to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}
