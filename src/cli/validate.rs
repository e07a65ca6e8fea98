//! `weir validate` and `weir schema`: read the repo (working tree or a Git
//! revision), validate it, render and plan it (as `weir plan` does, Helm
//! charts with the real helm), print the report.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context, Result, bail};

use super::Outcome;
use super::args::{SchemaArgs, SchemaKind, ValidateArgs};
use super::report::{self, Checked, Display};
use crate::diagnostic::Diagnostic;
use crate::plan;
use crate::render::{self, ChartOutput, ChartRenderer, ChartRequest, HelmBinary, RenderOptions};
use crate::repo;
use crate::spec::repo::ConfigRepo;
use crate::spec::yaml::{self, Document};
use crate::validate::{self, ChartObject, Options, RenderFindings, codes, weir_schemas};
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
    let mut failure = None;
    let validation = validate::validate_rendered(
        docs,
        load_diags,
        &Options {
            strict: args.strict,
        },
        |config| match render_findings(config, &tree) {
            Ok(findings) => findings,
            Err(e) => {
                failure = Some(e);
                RenderFindings::default()
            }
        },
    );
    if let Some(e) = failure {
        return Err(e);
    }
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
    let outcome = if report.is_valid() {
        Outcome::Success
    } else {
        Outcome::Findings
    };
    super::discard(validation);
    super::discard(tree);
    Ok(outcome)
}

/// Renders and plans the repo as `weir plan` does, for validation: the
/// findings of both, and what the Helm charts render. Without helm, chart
/// components render nothing and one warning ([`codes::NOT_RENDERED`]) says
/// so; everything else is still checked. `Err` when rendering cannot run
/// for another reason (helm does not start, no temporary directory).
fn render_findings(config: &ConfigRepo, tree: &repo::FileTree) -> Result<RenderFindings> {
    let helm = HelmOrNothing::default();
    let mut rendered = render::render(config, tree, &RenderOptions::default(), &helm)
        .context("rendering the repo's Helm charts failed")?;
    let mut diagnostics = std::mem::take(&mut rendered.diagnostics);
    if !diagnostics.iter().any(Diagnostic::is_error) {
        let (_, plan_diags) = plan::plan(&mut rendered, &config.settings());
        diagnostics.extend(plan_diags);
    }
    let missing = helm.not_rendered();
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|c| format!("`{c}`")).collect();
        diagnostics.push(
            Diagnostic::warning(
                codes::NOT_RENDERED,
                format!(
                    "helm was not found, so the Helm charts of {} {} were not rendered: \
                     the objects they render and custom resources of the CRDs they define \
                     were not checked",
                    if names.len() == 1 {
                        "component"
                    } else {
                        "components"
                    },
                    names.join(", ")
                ),
            )
            .with_hint(
                "install Helm 3 (https://helm.sh/docs/intro/install/) and put it on PATH, \
                 or set WEIR_HELM to its path",
            ),
        );
    }
    let charts: BTreeSet<&str> = config
        .components
        .iter()
        .filter(|c| c.value.spec.source.helm.is_some())
        .map(|c| c.value.metadata.name.as_str())
        .collect();
    let hooks = rendered.hooks.into_iter().map(|h| h.object);
    let (from_charts, others): (Vec<_>, Vec<_>) = rendered
        .objects
        .into_iter()
        .chain(hooks)
        .partition(|o| charts.contains(o.component.as_str()));
    super::discard(others);
    let chart_objects = from_charts
        .into_iter()
        .map(|o| ChartObject {
            component: o.component,
            file: o.source_file,
            value: o.value,
        })
        .collect();
    Ok(RenderFindings {
        chart_objects,
        diagnostics,
    })
}

/// The real helm, or, when there is none, charts that render nothing
/// (the components are remembered for one warning).
#[derive(Default)]
struct HelmOrNothing {
    helm: HelmBinary,
    not_rendered: Mutex<BTreeSet<String>>,
}

impl HelmOrNothing {
    fn not_rendered(&self) -> BTreeSet<String> {
        self.not_rendered
            .lock()
            .map(|set| set.clone())
            .unwrap_or_default()
    }
}

impl ChartRenderer for HelmOrNothing {
    fn template(&self, request: &ChartRequest<'_>) -> render::Result<ChartOutput> {
        match self.helm.template(request) {
            Err(render::Error::HelmNotFound { .. }) => {
                if let Ok(mut set) = self.not_rendered.lock() {
                    set.insert(request.component.to_owned());
                }
                Ok(ChartOutput::Rendered(String::new()))
            }
            other => other,
        }
    }
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
