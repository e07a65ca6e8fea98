//! PROVISIONAL loading for `weir render` and `weir plan`: reads a working
//! copy or a Git revision into a file tree and parses its YAML documents.
//! The loader (`repo::read_worktree`, `repo::read_revision`,
//! `spec::yaml::load_documents`) replaces this file once it lands on main.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use serde_json::Value;

use crate::diagnostic::{Code, Diagnostic, Span};
use crate::spec::yaml::Document;

/// Repo-relative path → bytes.
pub type Tree = BTreeMap<String, Vec<u8>>;

/// Largest file read (bytes).
const MAX_FILE: u64 = 8 * 1024 * 1024;

/// Reads the working copy at `root` (no symlinks followed, `.git` skipped).
pub fn read_worktree(root: &Path) -> anyhow::Result<Tree> {
    if !root.is_dir() {
        bail!("{} is not a directory", root.display());
    }
    let mut tree = Tree::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let file_type = entry.file_type()?;
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            if file_type.is_dir() {
                if name != ".git" {
                    stack.push((entry.path(), rel));
                }
            } else if file_type.is_file() && entry.metadata()?.len() <= MAX_FILE {
                tree.insert(rel, std::fs::read(entry.path())?);
            }
        }
    }
    Ok(tree)
}

/// Reads revision `rev` of the Git repository containing `path`, limited to
/// `path`'s directory inside it, without a checkout.
pub fn read_revision(path: &Path, rev: &str) -> anyhow::Result<Tree> {
    let repo = git2::Repository::discover(path)
        .with_context(|| format!("{} is not inside a Git repository", path.display()))?;
    let workdir = repo
        .workdir()
        .context("bare repositories are not supported yet")?;
    let abs = std::fs::canonicalize(path)?;
    let sub = abs
        .strip_prefix(std::fs::canonicalize(workdir)?)
        .unwrap_or(Path::new(""))
        .to_string_lossy()
        .replace('\\', "/");
    let tree = repo
        .revparse_single(rev)
        .with_context(|| format!("no revision `{rev}`"))?
        .peel_to_tree()?;
    let mut out = Tree::new();
    let mut error = None;
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() != Some(git2::ObjectType::Blob) || entry.filemode() == 0o120000 {
            return git2::TreeWalkResult::Ok;
        }
        let full = format!("{dir}{}", entry.name().unwrap_or(""));
        let rel = if sub.is_empty() {
            Some(full.as_str())
        } else {
            full.strip_prefix(&format!("{sub}/"))
        };
        if let Some(rel) = rel {
            match repo.find_blob(entry.id()) {
                Ok(blob) => {
                    out.insert(rel.to_owned(), blob.content().to_vec());
                }
                Err(e) => error = Some(e),
            }
        }
        git2::TreeWalkResult::Ok
    })?;
    if let Some(e) = error {
        return Err(e.into());
    }
    Ok(out)
}

/// weir.yaml's `include`/`exclude` globs, when it has them.
fn filters(tree: &Tree) -> (Option<globset::GlobSet>, Option<globset::GlobSet>) {
    let spec = tree
        .get("weir.yaml")
        .and_then(|bytes| serde_yaml::from_slice::<Value>(bytes).ok())
        .and_then(|v| v.get("spec").cloned());
    let set = |field: &str| -> Option<globset::GlobSet> {
        let globs = spec.as_ref()?.get(field)?.as_array()?;
        let mut builder = globset::GlobSetBuilder::new();
        for g in globs.iter().filter_map(Value::as_str) {
            builder.add(globset::Glob::new(g).ok()?);
        }
        builder.build().ok()
    };
    (set("include"), set("exclude"))
}

/// Parses every `.yaml`/`.yml` file outside Helm chart directories that
/// weir.yaml's `include`/`exclude` globs let through.
pub fn documents(tree: &Tree) -> (Vec<Document>, Vec<Diagnostic>) {
    let (include, exclude) = filters(tree);
    let chart_dirs: Vec<&str> = tree
        .keys()
        .filter_map(|p| p.strip_suffix("Chart.yaml"))
        .map(|d| d.trim_end_matches('/'))
        .collect();
    let mut docs = Vec::new();
    let mut diags = Vec::new();
    for (path, bytes) in tree {
        if !(path.ends_with(".yaml") || path.ends_with(".yml"))
            || include
                .as_ref()
                .is_some_and(|g| !g.is_match(path) && path != "weir.yaml")
            || exclude.as_ref().is_some_and(|g| g.is_match(path))
        {
            continue;
        }
        if chart_dirs
            .iter()
            .any(|d| d.is_empty() || path.starts_with(&format!("{d}/")))
        {
            continue;
        }
        let mut index = 0;
        for de in serde_yaml::Deserializer::from_slice(bytes) {
            match Value::deserialize(de) {
                Ok(Value::Null) => {}
                Ok(value) => {
                    docs.push(Document {
                        file: path.clone(),
                        index,
                        span: Span { line: 1, column: 1 },
                        value,
                    });
                    index += 1;
                }
                Err(e) => {
                    diags.push(
                        Diagnostic::error(Code("E0001"), format!("not valid YAML: {e}"))
                            .in_file(path.clone()),
                    );
                    break;
                }
            }
        }
    }
    (docs, diags)
}
