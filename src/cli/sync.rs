//! `weir sync`: the repo through the pipeline (stopping on any finding
//! that is an error), connect, run the engine on its sync plan, show progress
//! (a live view on a terminal, one line per event otherwise) and print the
//! report (text, or JSON with `--output json`).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::Outcome;
use super::args::{OutputFormat, SyncArgs};
use super::check;
use super::report;
use crate::pipeline;
use crate::sync::apply::Action;
use crate::sync::plan::parse_duration;
use crate::sync::report::{Event, Report, Status};
use crate::sync::{Context, Options, reconcile};

pub fn run(args: SyncArgs) -> Result<Outcome> {
    let timeout = parse_duration(&args.timeout).context("--timeout")?;
    // The whole pipeline, validation included; any error stops the sync
    // before the cluster is touched.
    let checked = check::run(
        &check::source(&args.path, args.rev.as_deref()),
        &args.limits,
        pipeline::Options {
            target: args.target.clone(),
            ..pipeline::Options::default()
        },
    )?;
    report::to_stderr(&checked.report, &report::Display::for_path(&args.path));
    let Some(planned) = checked.planned else {
        eprintln!("the repo is invalid: nothing was applied");
        return Ok(Outcome::Findings);
    };
    let mut planned = planned;
    check::decrypt(&mut planned, &args.sops, &args.limits).context("nothing was applied")?;
    let plan = planned.into_sync_plan();
    let options = Options {
        dry_run: args.dry_run,
        prune: args.prune,
        allow_mass_prune: args.allow_mass_prune,
        force_conflicts: args.force_conflicts,
        force_crd_upgrade: args.force_crd_upgrade,
        timeout,
        concurrency: usize::from(args.concurrency),
        lease_wait: parse_duration(&args.lease_wait).context("--lease-wait")?,
        adopt: args.adopt,
        ..Options::default()
    };
    super::connect::runtime()?.block_on(async move {
        let cluster = super::connect::cluster(&args.connection).await?;
        let live_view = args.output == OutputFormat::Text && std::io::stderr().is_terminal();
        let display = Display::new(live_view);
        let progress = |e: &Event| display.event(e);
        let ctx = Context {
            cluster: &cluster,
            options,
            progress: &progress,
        };
        let result = tokio::select! {
            r = reconcile(&plan, &ctx) => r,
            _ = tokio::signal::ctrl_c() => {
                display.clear();
                eprintln!("interrupted: the cluster may hold part of this sync; run `weir sync` again to converge");
                return Ok(Outcome::Failure);
            }
        };
        display.clear();
        let (report, error) = match result {
            Ok(report) => (report, None),
            Err(failed) => (*failed.report, Some(failed.error)),
        };
        match args.output {
            OutputFormat::Json => super::output::write_stdout(&format!(
                "{}\n",
                serde_json::to_string_pretty(&report)?
            ))?,
            OutputFormat::Text => super::output::write_stdout(&text(&report))?,
        }
        match error {
            None => Ok(Outcome::Success),
            Some(e) => {
                match cluster.server() {
                    Some(server) if e.kind() == "cluster" => {
                        eprintln!("error: {e} (API server {server})");
                    }
                    _ => eprintln!("error: {e}"),
                }
                Ok(Outcome::Failure)
            }
        }
    })
}

/// The final summary of a sync, for people.
fn text(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let what = if report.dry_run {
        "dry run of"
    } else {
        "synced"
    };
    let verb = match report.status {
        Status::Synced => what,
        Status::Failed => "FAILED syncing",
    };
    let short = |sha: &str| sha[..sha.len().min(12)].to_owned();
    let rev = report
        .revision
        .as_deref()
        .map(|r| match r.strip_suffix(crate::repo::DIRTY_SUFFIX) {
            Some(sha) => format!(" at {} with uncommitted changes", short(sha)),
            None => format!(" at {}", short(r)),
        })
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{verb} {}{rev} in {:.1}s",
        report.target, report.seconds
    );
    for c in &report.charts {
        let _ = writeln!(out, "  chart {}: {}", c.component, c.chart.describe());
    }
    for w in &report.waves {
        let _ = writeln!(
            out,
            "  wave {} {:<16} {:>4} created {:>4} configured {:>5} unchanged {:>3} pruned  {:.1}s",
            w.index, w.name, w.created, w.configured, w.unchanged, w.pruned, w.seconds
        );
    }
    for h in &report.hooks {
        let _ = write!(
            out,
            "  hook {}/{} ({}): {}",
            h.component,
            h.name,
            h.phase.label(),
            h.result.label()
        );
        let _ = match &h.object {
            Some(o) => writeln!(out, " ({o})"),
            None => writeln!(out),
        };
    }
    for p in &report.prune.pruned {
        let _ = writeln!(out, "  pruned {p}");
    }
    for k in &report.prune.kept {
        let _ = writeln!(out, "  kept {}: {}", k.object, k.reason);
    }
    if !report.prune.pending.is_empty() {
        let _ = writeln!(
            out,
            "  {} objects left the repo; run with --prune to delete them",
            report.prune.pending.len()
        );
    }
    out
}

/// Shows events: a live view of the current wave on a terminal, else one
/// line per event on stderr.
struct Display {
    live: Option<MultiProgress>,
    bar: Mutex<Option<ProgressBar>>,
    /// Non-terminal output: the last waiting line, and when it was printed.
    last_wait: Mutex<Option<(String, Instant)>>,
}

impl Display {
    fn new(live: bool) -> Self {
        Self {
            live: live.then(MultiProgress::new),
            bar: Mutex::new(None),
            last_wait: Mutex::new(None),
        }
    }

    fn event(&self, event: &Event) {
        let Some(mp) = &self.live else {
            if let Event::Waiting { .. } = event {
                // Say it when it changes, else every 10 seconds.
                let line = event.to_string();
                if let Ok(mut last) = self.last_wait.lock() {
                    let repeat = last.as_ref().is_some_and(|(l, at)| {
                        *l == line && at.elapsed() < Duration::from_secs(10)
                    });
                    if !repeat {
                        eprintln!("{line}");
                        *last = Some((line, Instant::now()));
                    }
                }
                return;
            }
            if !matches!(
                event,
                Event::Applied {
                    action: Action::Unchanged,
                    ..
                }
            ) {
                eprintln!("{event}");
            }
            return;
        };
        let Ok(mut bar) = self.bar.lock() else {
            return;
        };
        match event {
            Event::WaveStarted {
                index,
                name,
                objects,
            } => {
                let pb = mp.add(ProgressBar::new(*objects as u64));
                pb.set_style(
                    ProgressStyle::with_template(
                        "{spinner} wave {prefix} [{bar:30}] {pos}/{len} {wide_msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                pb.set_prefix(format!("{index} ({name})"));
                pb.enable_steady_tick(Duration::from_millis(120));
                *bar = Some(pb);
            }
            Event::Applied { object, action, .. } => {
                if let Some(pb) = bar.as_ref() {
                    pb.inc(1);
                    if *action != Action::Unchanged {
                        pb.set_message(format!(
                            "{object} {}",
                            crate::sync::report::action_word(*action)
                        ));
                    }
                }
            }
            Event::Waiting {
                pending, objects, ..
            } => {
                if let Some(pb) = bar.as_ref() {
                    let detail = objects
                        .first()
                        .map(|(o, r)| format!(": {o}: {r}"))
                        .unwrap_or_default();
                    pb.set_message(format!("waiting for {pending}{detail}"));
                }
            }
            Event::WaveDone {
                index,
                name,
                seconds,
            } => {
                if let Some(pb) = bar.take() {
                    pb.set_style(
                        ProgressStyle::with_template("✓ wave {prefix} {wide_msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    pb.set_prefix(format!("{index} ({name})"));
                    pb.finish_with_message(format!("ready in {seconds:.1}s"));
                }
            }
            other => {
                let _ = mp.println(other.to_string());
            }
        }
    }

    fn clear(&self) {
        if let Ok(mut bar) = self.bar.lock()
            && let Some(pb) = bar.take()
        {
            pb.abandon();
        }
    }
}
