//! `weir render`: the repo through the pipeline, then every object as
//! YAML (or JSON) in apply order, Secret values redacted unless asked.

use std::io::Write as _;

use serde_json::Value;

use super::Outcome;
use super::args::{RenderArgs, RenderFormat, ReportFormat, SourceArgs};
use super::check;
use super::report::{self, Display};
use crate::diff::secret::redact_object;
use crate::pipeline::{self, Checked};

/// Loads and checks the repo of `source` for `weir render` and `weir plan`.
pub(super) fn checked(source: &SourceArgs) -> anyhow::Result<Checked> {
    let options = pipeline::Options {
        kubernetes_version: source.kube_version.clone(),
        ..pipeline::Options::default()
    };
    check::run(
        &check::source(&source.path, source.rev.as_deref()),
        &source.limits,
        options,
    )
}

/// Prints the findings of a command that stops on them: the JSON report
/// on stdout for `--output json`, the text on stderr always.
pub(super) fn print_findings(
    checked: &Checked,
    json: bool,
    display: &Display,
) -> anyhow::Result<()> {
    if json {
        let mut out = std::io::stdout().lock();
        report::write(&mut out, ReportFormat::Json, &checked.report, display)?;
    }
    report::to_stderr(&checked.report, display);
    Ok(())
}

pub(super) fn run(args: RenderArgs) -> anyhow::Result<Outcome> {
    let checked = checked(&args.source)?;
    let display = Display::for_path(&args.source.path);
    let Some(planned) = &checked.planned else {
        print_findings(&checked, args.output == RenderFormat::Json, &display)?;
        return Ok(Outcome::Findings);
    };
    report::to_stderr(&checked.report, &display);
    let rendered = planned.rendered();
    for name in &args.component {
        if rendered.unit(name).is_none() {
            anyhow::bail!("no component or workload `{name}` in this repo");
        }
    }
    let wanted = |component: &str, wave: Option<u32>| {
        (args.component.is_empty() || args.component.iter().any(|c| c == component))
            && (args.wave.is_empty() || wave.is_some_and(|w| args.wave.contains(&w)))
    };
    let mut values: Vec<Value> = rendered
        .objects
        .iter()
        .filter(|o| wanted(&o.component, o.wave))
        .map(|o| o.value.clone())
        .collect();
    if args.hooks {
        // A hook of several phases is one object: printed once.
        let mut printed = std::collections::HashSet::new();
        values.extend(
            rendered
                .hooks
                .iter()
                .filter(|h| wanted(&h.component, h.object.wave))
                .filter(|h| printed.insert((&h.component, &h.object.id)))
                .map(|h| h.object.value.clone()),
        );
    }
    if !args.show_secrets {
        values.iter_mut().for_each(redact_object);
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
