//! `weir status`: the Syncs in a table, or one Sync in detail, read from
//! the cluster ([`agent::view`](crate::agent::view)); `--output json` prints
//! the Sync objects.

use std::fmt::Write as _;

use anyhow::Context as _;
use serde_json::Value;

use super::Outcome;
use super::args::{OutputFormat, StatusArgs};
use crate::agent::resource::SyncObject;
use crate::agent::status::{condition, short};
use crate::agent::view;

pub fn run(args: StatusArgs) -> anyhow::Result<Outcome> {
    super::connect::runtime()?.block_on(async move {
        let cluster = super::connect::cluster(&args.connection).await?;
        match &args.name {
            None => {
                let syncs = view::syncs(&cluster, args.namespace.as_deref())
                    .await
                    .context("listing Syncs (is weir's CRD installed?)")?;
                let text = match args.output {
                    OutputFormat::Json => format!("{}\n", serde_json::to_string_pretty(&syncs)?),
                    OutputFormat::Text => table(&syncs),
                };
                super::output::write_stdout(&text)?;
                Ok(if syncs.iter().all(is_ready) {
                    Outcome::Success
                } else {
                    Outcome::Findings
                })
            }
            Some(name) => {
                let namespace = args
                    .namespace
                    .clone()
                    .unwrap_or_else(|| cluster.default_namespace().to_owned());
                let Some(sync) = view::sync(&cluster, &namespace, name).await? else {
                    anyhow::bail!("no Sync {namespace}/{name}; `weir status` lists them");
                };
                let events = view::events(&cluster, &sync).await.unwrap_or_default();
                let text = match args.output {
                    OutputFormat::Json => format!(
                        "{}\n",
                        serde_json::to_string_pretty(
                            &serde_json::json!({"sync": sync, "events": events})
                        )?
                    ),
                    OutputFormat::Text => detail(&sync, &events),
                };
                super::output::write_stdout(&text)?;
                Ok(if is_ready(&sync) {
                    Outcome::Success
                } else {
                    Outcome::Findings
                })
            }
        }
    })
}

fn is_ready(sync: &SyncObject) -> bool {
    sync.suspended()
        || sync
            .status
            .as_ref()
            .and_then(|s| condition(s, "Ready"))
            .is_some_and(|c| c.status == "True")
}

fn ready_of(sync: &SyncObject) -> (String, String) {
    let c = sync.status.as_ref().and_then(|s| condition(s, "Ready"));
    (
        c.map_or("Unknown", |c| c.status.as_str()).to_owned(),
        c.and_then(|c| c.message.clone()).unwrap_or_default(),
    )
}

/// `NAMESPACE NAME READY REVISION SUSPENDED LAST SYNC MESSAGE`.
fn table(syncs: &[SyncObject]) -> String {
    if syncs.is_empty() {
        return "no Syncs found\n".to_owned();
    }
    let mut rows = vec![[
        "NAMESPACE".to_owned(),
        "NAME".to_owned(),
        "READY".to_owned(),
        "REVISION".to_owned(),
        "SUSPENDED".to_owned(),
        "LAST SYNC".to_owned(),
        "MESSAGE".to_owned(),
    ]];
    for s in syncs {
        let (ready, message) = ready_of(s);
        let status = s.status.clone().unwrap_or_default();
        rows.push([
            s.metadata.namespace.clone(),
            s.metadata.name.clone(),
            ready,
            status
                .last_applied_revision
                .as_deref()
                .map(short)
                .unwrap_or("-")
                .to_owned(),
            s.suspended().to_string(),
            status.last_sync_time.unwrap_or_else(|| "-".to_owned()),
            message,
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < 6 {
                let _ = write!(out, "{cell:<w$}  ", w = widths[i]);
            } else {
                out.push_str(cell);
            }
        }
        out.push('\n');
    }
    out
}

/// One Sync in detail.
fn detail(sync: &SyncObject, events: &[Value]) -> String {
    let mut out = String::new();
    let spec = &sync.spec;
    let status = sync.status.clone().unwrap_or_default();
    let _ = writeln!(out, "Sync {}", sync.key());
    let git_ref = spec.git_ref.clone().unwrap_or_default();
    let at = git_ref
        .branch
        .map(|b| format!("branch {b}"))
        .or(git_ref.tag.map(|t| format!("tag {t}")))
        .or(git_ref.commit.map(|c| format!("commit {c}")))
        .unwrap_or_else(|| "branch main".to_owned());
    let _ = writeln!(
        out,
        "  source:     {} ({at}){}",
        crate::repo::redact_url(&spec.url),
        spec.path
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(|p| format!(", path {p}"))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "  target:     {}", sync.target());
    let _ = writeln!(
        out,
        "  applied:    {}",
        status.last_applied_revision.as_deref().unwrap_or("-")
    );
    let _ = writeln!(
        out,
        "  attempted:  {}",
        status.last_attempted_revision.as_deref().unwrap_or("-")
    );
    let _ = writeln!(
        out,
        "  objects:    {} managed, {} changed and {} pruned by the last sync, {} put back after drift",
        status.managed.unwrap_or(0),
        status.changed.unwrap_or(0),
        status.pruned.unwrap_or(0),
        status.drift_corrected.unwrap_or(0)
    );
    if sync.suspended() {
        let _ = writeln!(out, "  suspended:  yes (nothing is written)");
    }
    let _ = writeln!(out, "\nConditions:");
    for c in &status.conditions {
        let _ = writeln!(
            out,
            "  {:<12} {:<8} {:<20} {}",
            c.type_,
            c.status,
            c.reason.as_deref().unwrap_or(""),
            c.message.as_deref().unwrap_or("")
        );
    }
    if let Some(e) = &status.last_error {
        let _ = writeln!(out, "\nLast error:\n  {e}");
    }
    if !status.findings.is_empty() {
        let _ = writeln!(out, "\nFindings of the rejected commit:");
        for f in &status.findings {
            let _ = writeln!(out, "  {f}");
        }
    }
    if !status.waves.is_empty() {
        let _ = writeln!(out, "\nWaves of the last sync:");
        for w in &status.waves {
            let _ = writeln!(
                out,
                "  wave {} {:<16} {:>4} created {:>4} configured {:>5} unchanged {:>3} pruned  {:.1}s",
                w.index, w.name, w.created, w.configured, w.unchanged, w.pruned, w.seconds
            );
        }
    }
    if !status.charts.is_empty() {
        let _ = writeln!(out, "\nCharts of the last sync:");
        for c in &status.charts {
            let _ = writeln!(out, "  {}: {}", c.component, c.chart.describe());
        }
    }
    if !events.is_empty() {
        let _ = writeln!(out, "\nEvents:");
        for e in events.iter().rev().take(10).rev() {
            let text = |p: &str| e.pointer(p).and_then(Value::as_str).unwrap_or("");
            let _ = writeln!(
                out,
                "  {}  {:<7} {:<16} {}",
                text("/lastTimestamp"),
                text("/type"),
                text("/reason"),
                text("/message")
            );
        }
    }
    out
}
