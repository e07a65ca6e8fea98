//! Loading for `weir render` and `weir plan`: the repo's files from the
//! working copy or a Git revision (through `repo`), and its YAML documents
//! (through `spec::yaml`), honouring weir.yaml's `include`/`exclude`.

use std::path::Path;

use anyhow::Context as _;
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::repo::{self, FileTree, Limits};
use crate::spec::yaml::{self, Document, YamlLimits};

/// The files of the repo at `path`: the working copy, or revision `rev` of
/// the Git repository holding `path` (limited to `path`'s directory in it).
/// Files over `max_file_bytes` (`--max-file-size`) are refused.
pub fn read(path: &Path, rev: Option<&str>, max_file_bytes: u64) -> anyhow::Result<FileTree> {
    let limits = Limits {
        max_file_bytes,
        ..Limits::default()
    };
    let Some(rev) = rev else {
        return Ok(repo::read_worktree(path, &limits)?);
    };
    let git = git2::Repository::discover(path)
        .with_context(|| format!("{} is not inside a Git repository", path.display()))?;
    let workdir = git
        .workdir()
        .context("--rev needs a repository with a working directory")?;
    let abs = std::fs::canonicalize(path)?;
    let sub = abs
        .strip_prefix(std::fs::canonicalize(workdir)?)
        .unwrap_or(Path::new(""))
        .to_string_lossy()
        .replace('\\', "/");
    let subdir = (!sub.is_empty()).then_some(sub.as_str());
    Ok(repo::read_revision(workdir, rev, subdir, &limits)?)
}

/// Every manifest and weir document of the tree, with the tree's own
/// findings (skipped symlinks, oversized files) and parse errors.
pub fn documents(tree: &FileTree) -> (Vec<Document>, Vec<Diagnostic>) {
    let (include, exclude) = filters(tree);
    let (docs, mut diags) = yaml::load_documents(
        tree,
        include.as_ref(),
        exclude.as_ref(),
        &YamlLimits::default(),
    );
    diags.extend(tree.diagnostics().iter().cloned());
    (docs, diags)
}

/// weir.yaml's `include`/`exclude` globs. Bad globs are left to validation.
fn filters(tree: &FileTree) -> (Option<GlobSet>, Option<GlobSet>) {
    let spec = tree
        .get("weir.yaml")
        .and_then(|bytes| yaml::parse_documents("weir.yaml", bytes, &YamlLimits::default()).ok())
        .and_then(|docs| docs.into_iter().next())
        .and_then(|doc| doc.value.get("spec").cloned());
    let set = |field: &str| -> Option<GlobSet> {
        let globs = spec.as_ref()?.get(field)?.as_array()?;
        let mut builder = GlobSetBuilder::new();
        for g in globs.iter().filter_map(Value::as_str) {
            builder.add(Glob::new(g).ok()?);
        }
        builder.build().ok()
    };
    (set("include"), set("exclude"))
}
