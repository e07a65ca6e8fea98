//! `weir validate` and `weir schema`: read the repo (working tree or a Git
//! revision), validate it, print the report.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::Outcome;
use super::args::{SchemaArgs, SchemaKind, ValidateArgs};
use super::report::{self, Checked, Display};
use crate::diagnostic::Diagnostic;
use crate::spec::yaml::Document;
use crate::validate::{self, Options, weir_schemas};

pub fn run(args: &ValidateArgs) -> Result<Outcome> {
    if !args.path.exists() {
        bail!(
            "{} does not exist; give the config repository's directory (default: the current one)",
            args.path.display()
        );
    }
    let files = match &args.rev {
        Some(rev) => load::revision(&args.path, rev)?,
        None => load::worktree_files(&args.path)?,
    };
    let (docs, load_diags) = load::documents(files, args.max_file_size)?;
    let validation = validate::validate_documents(
        docs,
        load_diags,
        &Options {
            strict: args.strict,
        },
    );
    let report = &validation.report;
    let checked = Checked {
        documents: report.documents,
        files: report.files,
    };
    let display = Display {
        file_prefix: display_prefix(&args.path),
    };
    let mut out = anstream::stdout().lock();
    report::write(
        &mut out,
        args.output,
        &report.diagnostics,
        checked,
        &display,
    )
    .context("writing the report")?;
    out.flush().ok();
    Ok(if report.is_valid() {
        Outcome::Success
    } else {
        Outcome::Findings
    })
}

/// `platform/` for `weir validate platform`, `""` for `.`: what to put in
/// front of repo-relative file names so they make sense where weir runs.
fn display_prefix(path: &Path) -> String {
    let text = path.to_string_lossy();
    let trimmed = text.trim_start_matches("./").trim_end_matches('/');
    if trimmed.is_empty() || trimmed == "." {
        String::new()
    } else {
        format!("{trimmed}/")
    }
}

pub fn schema(args: &SchemaArgs) -> Result<Outcome> {
    let name = match args.kind {
        SchemaKind::Repository => "repository",
        SchemaKind::Component => "component",
        SchemaKind::Workload => "workload",
    };
    let schema = weir_schemas::bundled(name).context("loading the embedded schema")?;
    let mut text = serde_json::to_string_pretty(&schema)?;
    text.push('\n');
    let mut out = std::io::stdout().lock();
    ignore_broken_pipe(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
        .context("writing the schema")?;
    Ok(Outcome::Success)
}

/// A reader that went away (`weir ... | head`) is not an error.
fn ignore_broken_pipe(result: std::io::Result<()>) -> std::io::Result<()> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// PROVISIONAL: reads a working tree until the loader (`repo` and
/// `spec::yaml`) lands; no positions, no hostile-input limits beyond the
/// file size.
mod load {
    use super::*;
    use crate::diagnostic::{Code, Span};

    /// Repo-relative path → bytes.
    pub type Files = Vec<(String, Vec<u8>)>;

    pub fn worktree_files(root: &Path) -> Result<Files> {
        let mut paths = Vec::new();
        walk(root, root, &mut paths)?;
        paths
            .into_iter()
            .map(|(rel, path)| {
                let bytes =
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                Ok((rel, bytes))
            })
            .collect()
    }

    /// The files of `path` (a directory inside a Git repository) as committed
    /// at `rev`, read from Git objects without a checkout.
    pub fn revision(path: &Path, rev: &str) -> Result<Files> {
        let repo = git2::Repository::discover(path)
            .with_context(|| format!("{} is not inside a Git repository", path.display()))?;
        let workdir = repo
            .workdir()
            .context("--rev needs a repository with a working directory")?
            .canonicalize()?;
        let subdir = path.canonicalize()?;
        let subdir = subdir
            .strip_prefix(&workdir)
            .unwrap_or(Path::new(""))
            .to_string_lossy()
            .replace('\\', "/");
        let commit = repo
            .revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .with_context(|| format!("no revision `{rev}` in {}", workdir.display()))?;
        let mut tree = commit.tree()?;
        if !subdir.is_empty() {
            let entry = tree
                .get_path(Path::new(&subdir))
                .with_context(|| format!("`{subdir}` does not exist at revision `{rev}`"))?;
            tree = entry.to_object(&repo)?.peel_to_tree()?;
        }
        let mut files = Vec::new();
        let mut failure = None;
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.name().is_ok_and(|n| n.starts_with('.')) {
                return git2::TreeWalkResult::Skip;
            }
            if entry.kind() == Some(git2::ObjectType::Blob) && entry.filemode() != 0o120000 {
                let name = format!("{dir}{}", entry.name().unwrap_or_default());
                match entry.to_object(&repo).and_then(|o| o.peel_to_blob()) {
                    Ok(blob) => files.push((name, blob.content().to_vec())),
                    Err(e) => {
                        failure = Some(e);
                        return git2::TreeWalkResult::Abort;
                    }
                }
            }
            git2::TreeWalkResult::Ok
        })?;
        if let Some(e) = failure {
            return Err(e.into());
        }
        files.sort();
        Ok(files)
    }

    pub fn documents(files: Files, max_file_size: u64) -> Result<(Vec<Document>, Vec<Diagnostic>)> {
        let charts: Vec<String> = files
            .iter()
            .filter_map(|(rel, _)| rel.strip_suffix("Chart.yaml").map(str::to_string))
            .filter(|d| d.is_empty() || d.ends_with('/'))
            .collect();
        let weir_yaml = files
            .iter()
            .find(|(rel, _)| rel == "weir.yaml")
            .map(|(_, b)| b.as_slice());
        let (include, exclude) = globs(weir_yaml)?;
        let mut docs = Vec::new();
        let mut diags = Vec::new();
        for (rel, bytes) in files {
            if !(rel.ends_with(".yaml") || rel.ends_with(".yml"))
                || charts.iter().any(|c| rel.starts_with(c.as_str()))
                || include.as_ref().is_some_and(|set| !set.is_match(&rel))
                || exclude.as_ref().is_some_and(|set| set.is_match(&rel))
            {
                continue;
            }
            if bytes.len() as u64 > max_file_size {
                diags.push(
                    Diagnostic::error(
                        Code("E0001"),
                        format!("file is larger than {max_file_size} bytes"),
                    )
                    .in_file(rel.clone()),
                );
                continue;
            }
            for (index, de) in serde_yaml::Deserializer::from_slice(&bytes).enumerate() {
                use serde::Deserialize;
                match serde_json::Value::deserialize(de) {
                    Ok(serde_json::Value::Null) => {}
                    Ok(value) => docs.push(Document {
                        file: rel.clone(),
                        index,
                        span: Span { line: 1, column: 1 },
                        value,
                    }),
                    Err(e) => {
                        diags.push(
                            Diagnostic::error(Code("E0002"), e.to_string()).in_file(rel.clone()),
                        );
                        break;
                    }
                }
            }
        }
        Ok((docs, diags))
    }

    /// `include` and `exclude` of weir.yaml, as glob sets.
    fn globs(
        weir_yaml: Option<&[u8]>,
    ) -> Result<(Option<globset::GlobSet>, Option<globset::GlobSet>)> {
        let Some(bytes) = weir_yaml else {
            return Ok((None, None));
        };
        let value: serde_json::Value = serde_yaml::from_slice(bytes).unwrap_or_default();
        let set = |key: &str| -> Result<Option<globset::GlobSet>> {
            let Some(list) = value
                .pointer(&format!("/spec/{key}"))
                .and_then(|v| v.as_array())
            else {
                return Ok(None);
            };
            let mut builder = globset::GlobSetBuilder::new();
            for glob in list.iter().filter_map(|g| g.as_str()) {
                builder.add(
                    globset::GlobBuilder::new(glob)
                        .literal_separator(true)
                        .build()
                        .with_context(|| format!("weir.yaml: bad {key} glob `{glob}`"))?,
                );
            }
            Ok(Some(builder.build()?))
        };
        Ok((set("include")?, set("exclude")?))
    }

    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let ty = entry.file_type()?;
            if ty.is_dir() {
                walk(root, &path, out)?;
            } else if ty.is_file() {
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, path));
            }
        }
        Ok(())
    }
}
