//! `weir diff`: gets the two sides (two revisions through
//! [`diff_source`], or the live cluster and the working tree through
//! [`diff_cluster`]), runs the diff engine, prints the report in the
//! chosen format and maps "differences found" to exit 1.

use std::io::IsTerminal;

use anyhow::{Context, bail};

use super::Outcome;
use super::args::{ColorChoice, DiffArgs, DiffFormat};
use super::report::{self, Display};
use super::{diff_cluster, diff_source};
use crate::diff::{self, Labels, Options, Side, format};

/// Runs `weir diff`.
pub fn run(args: &DiffArgs) -> anyhow::Result<Outcome> {
    if args.cluster {
        let Some((live, would_be)) = diff_cluster::sides(args)? else {
            return Ok(Outcome::Failure);
        };
        let labels = Labels {
            base: "cluster".to_owned(),
            head: "working tree".to_owned(),
        };
        return print(args, live, would_be, &labels);
    }
    if args.connection.kubeconfig.is_some()
        || args.connection.context.is_some()
        || args.target.is_some()
    {
        bail!("--kubeconfig, --kube-context and --target only apply to `weir diff --cluster`");
    }
    let base_rev = args
        .base
        .as_deref()
        .context("give the revision to compare against with --base REV")?;
    let head_label = args
        .head
        .clone()
        .unwrap_or_else(|| "the working tree".to_owned());
    // Both sides are read, rendered and planned at the same time, each on
    // its own thread (and its own handle on the Git repository).
    let (base, head) = std::thread::scope(|scope| {
        let base = scope.spawn(|| {
            diff_source::side(&args.path, Some(base_rev), &args.limits, &args.sops)
                .with_context(|| format!("cannot read the config repo at {base_rev}"))
        });
        let head = diff_source::side(&args.path, args.head.as_deref(), &args.limits, &args.sops)
            .with_context(|| format!("cannot read the config repo at {head_label}"));
        let base = base
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("reading {base_rev} failed")));
        (base, head)
    });
    let (base, head) = (base?, head?);
    let (base, head) = match (base, head) {
        (Ok(base), Ok(head)) => (base, head),
        (base, head) => {
            for (label, side) in [(base_rev, &base), (head_label.as_str(), &head)] {
                if let Err(checked) = side {
                    eprintln!("weir diff: the config repo at {label} is invalid:");
                    report::to_stderr(&checked.report, &Display::for_path(&args.path));
                }
            }
            return Ok(Outcome::Failure);
        }
    };
    let labels = Labels {
        base: base_rev.to_owned(),
        head: args
            .head
            .clone()
            .unwrap_or_else(|| "working tree".to_owned()),
    };
    print(args, base, head, &labels)
}

/// Diffs the two sides, prints the report in the chosen format, and maps
/// "differences found" to exit 1.
fn print(args: &DiffArgs, base: Side, head: Side, labels: &Labels) -> anyhow::Result<Outcome> {
    let report = diff::diff(
        base,
        head,
        &Options {
            context: args.context,
        },
    );
    let text = match args.output {
        DiffFormat::Text => format::text::render(&report, labels, use_color(args.color)),
        DiffFormat::Json => format::json::render(&report, labels),
        DiffFormat::Markdown => format::markdown::render(&report, labels),
    };
    super::output::write_stdout(&text)?;
    Ok(if report.has_differences() {
        Outcome::Findings
    } else {
        Outcome::Success
    })
}

fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}
