//! The command-line layer: parses arguments, sets up logging, runs one
//! subcommand and maps its outcome to weir's exit codes (0 success / no
//! difference, 1 invalid or differences found, 2 usage or runtime error).
//! It holds no pipeline logic of its own.
#![allow(clippy::disallowed_macros)]

mod agent;
mod args;
mod bootstrap;
mod check;
mod connect;
mod diff;
mod diff_cluster;
mod diff_source;
mod logging;
mod output;
mod plan;
mod render;
pub mod report;
mod status;
mod sync;
mod validate;

use std::process::ExitCode;

use clap::Parser;

pub use args::{
    Cli, ColorChoice, Command, ConnectionArgs, DiffArgs, DiffFormat, GlobalArgs, LogFormat,
    OutputFormat, PlanArgs, RenderArgs, RenderFormat, ReportFormat, SourceArgs, SyncArgs,
};

/// What a subcommand reports back to [`main`], mapped to the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0: valid, applied, or no difference.
    Success,
    /// Exit 1: invalid, or differences found.
    Findings,
    /// Exit 2: a runtime failure the subcommand has already reported.
    Failure,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help/version to stdout with exit 0, usage errors
            // to stderr with exit 2, matching weir's contract.
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { 2 } else { 0 });
        }
    };
    logging::init(&cli.global);
    match run(cli) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Findings) => ExitCode::from(1),
        Ok(Outcome::Failure) => ExitCode::from(2),
        // The reader went away (`weir render | head`): nothing to report.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Leaves `value` to the operating system instead of freeing it: for the
/// loaded repo and its rendered objects at the end of a one-shot command,
/// where freeing thousands of small maps one by one is pure cost (about a
/// tenth of `weir validate` on 5,000 manifests) and the process exits next.
/// The library always frees what it allocates; only the CLI may use this.
pub(crate) fn discard<T>(value: T) {
    std::mem::forget(value);
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Schema(args) => validate::schema(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Sync(args) => sync::run(args),
        Command::Render(args) => render::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Agent(args) => agent::run(args),
        Command::Status(args) => status::run(args),
        Command::Bootstrap(args) => bootstrap::run(args),
    }
}
