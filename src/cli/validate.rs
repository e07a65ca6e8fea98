//! `weir validate` and `weir schema`: read the repo (working tree or a Git
//! revision), validate it, print the report.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::Outcome;
use super::args::{SchemaArgs, SchemaKind, ValidateArgs};
use super::report::{self, Checked, Display};
use crate::diagnostic::Diagnostic;
use crate::repo;
use crate::spec::yaml::{self, Document};
use crate::validate::{self, Options, weir_schemas};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

pub fn run(args: &ValidateArgs) -> Result<Outcome> {
    if !args.path.exists() {
        bail!(
            "{} does not exist; give the config repository's directory (default: the current one)",
            args.path.display()
        );
    }
    let limits = repo::Limits {
        max_file_bytes: args.max_file_size,
        ..repo::Limits::default()
    };
    let tree = match &args.rev {
        Some(rev) => repo::read_revision(&args.path, rev, None, &limits)
            .with_context(|| format!("reading revision `{rev}` of {}", args.path.display()))?,
        None => repo::read_worktree(&args.path, &limits)
            .with_context(|| format!("reading {}", args.path.display()))?,
    };
    let (docs, load_diags) = load_documents(&tree)?;
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

/// Loads the YAML documents of the tree, honouring `include` and `exclude`
/// of weir.yaml; the tree's own findings (refused files) come first.
fn load_documents(tree: &repo::FileTree) -> Result<(Vec<Document>, Vec<Diagnostic>)> {
    let (include, exclude) = globs(tree.get("weir.yaml"))?;
    let (docs, diags) = yaml::load_documents(
        tree,
        include.as_ref(),
        exclude.as_ref(),
        &yaml::YamlLimits::default(),
    );
    let mut all = tree.diagnostics().to_vec();
    all.extend(diags);
    Ok((docs, all))
}

/// `include` and `exclude` of weir.yaml, as glob sets (`None` when absent;
/// a weir.yaml that does not parse is reported by validation itself).
fn globs(weir_yaml: Option<&[u8]>) -> Result<(Option<GlobSet>, Option<GlobSet>)> {
    let Some(bytes) = weir_yaml else {
        return Ok((None, None));
    };
    let Ok(docs) = yaml::parse_documents("weir.yaml", bytes, &yaml::YamlLimits::default()) else {
        return Ok((None, None));
    };
    let Some(value) = docs.first().map(|d| &d.value) else {
        return Ok((None, None));
    };
    let set = |key: &str| -> Result<Option<GlobSet>> {
        let Some(list) = value
            .pointer(&format!("/spec/{key}"))
            .and_then(|v| v.as_array())
        else {
            return Ok(None);
        };
        let mut builder = GlobSetBuilder::new();
        for glob in list.iter().filter_map(|g| g.as_str()) {
            builder.add(
                GlobBuilder::new(glob)
                    .literal_separator(true)
                    .build()
                    .with_context(|| {
                        format!("weir.yaml: `{glob}` in spec.{key} is not a valid glob")
                    })?,
            );
        }
        Ok(Some(builder.build()?))
    };
    Ok((set("include")?, set("exclude")?))
}
