//! clap derive types for every subcommand. Doc comments here are the
//! `--help` text, so they are written for the person at the terminal.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// weir: GitOps for whole platforms.
///
/// weir reads a config repository, validates it with file-and-line errors,
/// renders it to Kubernetes objects, shows what would change, and applies it
/// in ordered waves, each healthy before the next.
#[derive(Debug, Parser)]
#[command(name = "weir", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options that every subcommand accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Format of log lines on stderr. Filter them with RUST_LOG (e.g. RUST_LOG=weir=debug).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "WEIR_LOG_FORMAT")]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// How a reporting command prints its result on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people: grouped, coloured on a terminal (NO_COLOR turns colour off).
    Text,
    /// For scripts: one stable JSON document.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print weir's version.
    Version,
}
