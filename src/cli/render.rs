//! `weir render`: load → assemble → render → plan, then print every object
//! as YAML (or JSON) in apply order. Also the shared pipeline that
//! `weir plan` runs.

use std::io::Write as _;

use anyhow::Context as _;
use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::plan::{self, Plan};
use crate::render::{self, HelmBinary, RenderOptions, Rendered};
use crate::spec::repo::ConfigRepo;

use super::Outcome;
use super::args::{RenderArgs, RenderFormat, SourceArgs};
use super::load;

/// A repo taken through the pipeline: the plan when there were no errors,
/// and every diagnostic found on the way.
pub(super) struct Pipeline {
    /// The assembled repo (weir.yaml's settings, the Components' specs).
    pub repo: ConfigRepo,
    pub rendered: Rendered,
    pub plan: Option<Plan>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Loads the repo named by `source` and renders and plans it. `Err` for
/// failures of the machine (unreadable directory, no helm).
pub(super) fn run_pipeline(source: &SourceArgs) -> anyhow::Result<Pipeline> {
    let tree = load::read(&source.path, source.rev.as_deref(), source.max_file_size)?;
    let (docs, mut diagnostics) = load::documents(&tree);
    let (repo, assemble_diags) = ConfigRepo::assemble(docs);
    diagnostics.extend(assemble_diags);
    let options = RenderOptions {
        kubernetes_version: source.kube_version.clone(),
        parallelism: None,
    };
    let mut rendered =
        render::render(&repo, &tree, &options, &HelmBinary::new()).context("rendering failed")?;
    diagnostics.append(&mut rendered.diagnostics);
    let plan = if diagnostics.iter().any(Diagnostic::is_error) {
        None
    } else {
        let (plan, plan_diags) = plan::plan(&mut rendered, &repo.settings());
        diagnostics.extend(plan_diags);
        plan
    };
    Ok(Pipeline {
        repo,
        rendered,
        plan,
        diagnostics,
    })
}

/// Prints diagnostics on stderr, one per line (plus hint), errors last.
/// (A minimal printer; the validate stage's report module replaces it.)
pub(super) fn print_diagnostics(diagnostics: &[Diagnostic]) {
    let mut sorted: Vec<&Diagnostic> = diagnostics.iter().collect();
    sorted.sort_by(|a, b| (a.severity, &a.file, a.span).cmp(&(b.severity, &b.file, b.span)));
    let mut err = std::io::stderr().lock();
    for d in sorted {
        let _ = writeln!(err, "{d}");
        if let Some(hint) = &d.hint {
            let _ = writeln!(err, "  hint: {hint}");
        }
    }
}

/// `{"diagnostics": [...]}` on stdout, for `--output json` runs that fail.
pub(super) fn print_diagnostics_json(diagnostics: &[Diagnostic]) -> anyhow::Result<()> {
    let doc = serde_json::json!({ "diagnostics": diagnostics });
    super::output::write_stdout(&format!("{}\n", serde_json::to_string_pretty(&doc)?))
}

pub(super) fn run(args: RenderArgs) -> anyhow::Result<Outcome> {
    let pipeline = run_pipeline(&args.source)?;
    let json = args.output == RenderFormat::Json;
    if pipeline.plan.is_none() {
        if json {
            print_diagnostics_json(&pipeline.diagnostics)?;
        }
        print_diagnostics(&pipeline.diagnostics);
        return Ok(Outcome::Findings);
    }
    print_diagnostics(&pipeline.diagnostics);

    for name in &args.component {
        if pipeline.rendered.unit(name).is_none() {
            anyhow::bail!("no component or workload `{name}` in this repo");
        }
    }
    let wanted = |component: &str, wave: Option<u32>| {
        (args.component.is_empty() || args.component.iter().any(|c| c == component))
            && (args.wave.is_empty() || wave.is_some_and(|w| args.wave.contains(&w)))
    };
    let mut values: Vec<Value> = pipeline
        .rendered
        .objects
        .iter()
        .filter(|o| wanted(&o.component, o.wave))
        .map(|o| o.value.clone())
        .collect();
    if args.hooks {
        values.extend(
            pipeline
                .rendered
                .hooks
                .iter()
                .filter(|h| wanted(&h.component, h.object.wave))
                .map(|h| h.object.value.clone()),
        );
    }
    if !args.show_secrets {
        values.iter_mut().for_each(redact_secret);
    }
    let mut out = std::io::stdout().lock();
    match args.output {
        RenderFormat::Yaml => {
            for v in &values {
                writeln!(out, "---")?;
                out.write_all(serde_yaml::to_string(v)?.as_bytes())?;
            }
        }
        RenderFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &values)?;
            writeln!(out)?;
        }
    }
    Ok(Outcome::Success)
}

/// Replaces every value of a Secret's `data` and `stringData` with
/// `<redacted>`, keeping the keys.
pub(super) fn redact_secret(value: &mut Value) {
    let is_secret = value.get("apiVersion").and_then(Value::as_str) == Some("v1")
        && value.get("kind").and_then(Value::as_str) == Some("Secret");
    if !is_secret {
        return;
    }
    for field in ["data", "stringData"] {
        if let Some(Value::Object(map)) = value.get_mut(field) {
            for v in map.values_mut() {
                *v = Value::String("<redacted>".into());
            }
        }
    }
}
