//! `weir validate` and `weir schema`: read the repo (working tree or a Git
//! revision), run the whole pipeline on it (validation, rendering with the
//! real helm, planning, the sync plan) and print every finding.

use std::io::Write;

use anyhow::{Context, Result};

use super::Outcome;
use super::args::{SchemaArgs, SchemaKind, ValidateArgs};
use super::check;
use super::report::{self, Display};
use crate::pipeline::{self, WithoutHelm};
use crate::validate::weir_schemas;

pub fn run(args: &ValidateArgs) -> Result<Outcome> {
    let options = pipeline::Options {
        strict: args.strict,
        without_helm: WithoutHelm::Warn,
        ..pipeline::Options::default()
    };
    let source = check::source(&args.path, args.rev.as_deref());
    let checked = check::run(&source, &args.limits, options)?;
    let mut out = anstream::stdout().lock();
    report::write(
        &mut out,
        args.output,
        &checked.report,
        &Display::for_path(&args.path),
    )
    .context("writing the report")?;
    out.flush().ok();
    let outcome = if checked.report.is_valid() {
        Outcome::Success
    } else {
        Outcome::Findings
    };
    super::discard(checked);
    Ok(outcome)
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
