//! Where `weir diff --cluster` gets its two sides: the working tree taken
//! through the whole pipeline as `weir sync` takes it (the same target,
//! namespaces and objects), and the live cluster's answer to a
//! server-side-apply dry run of its sync plan
//! ([`sync::dry_run`](crate::sync::dry_run)), turned into the live and
//! would-be [`Side`]s by [`diff::cluster::sides`](crate::diff::cluster::sides).

use std::time::Duration;

use anyhow::Context as _;

use super::args::DiffArgs;
use super::report::{self, Display};
use super::{check, connect};
use crate::diff::{Side, cluster};
use crate::pipeline;
use crate::sync::dry_run;
use crate::sync::retry::Backoff;

/// Requests in flight at once.
const CONCURRENCY: usize = 16;

/// A diff is read-only and someone waits for it: a few quick retries of
/// transient errors, not the minute a sync rides out.
const BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(200),
    max_delay: Duration::from_secs(2),
    max_attempts: 4,
};

/// The live side (base) and the would-be side (head); `None` when the repo
/// is invalid (its findings are printed).
pub fn sides(args: &DiffArgs) -> anyhow::Result<Option<(Side, Side)>> {
    let checked = check::run(
        &check::source(&args.path, None),
        &args.limits,
        pipeline::Options {
            target: args.target.clone(),
            ..pipeline::Options::default()
        },
    )?;
    let Some(planned) = checked.planned else {
        eprintln!("weir diff: the config repo is invalid:");
        report::to_stderr(&checked.report, &Display::for_path(&args.path));
        return Ok(None);
    };
    for warning in &checked.report.diagnostics {
        tracing::warn!("{warning}");
    }
    let mut planned = planned;
    check::decrypt(&mut planned, &args.sops, &args.limits)
        .context("cannot compare the repo with the cluster")?;
    let plan = &planned.into_sync_plan();
    let compared = connect::runtime()?.block_on(async {
        let cluster = connect::cluster(&args.connection)
            .await?
            .with_backoff(BACKOFF);
        let server = cluster.server().unwrap_or("(unknown)").to_owned();
        dry_run::compare(&cluster, plan, CONCURRENCY)
            .await
            .with_context(|| {
                format!(
                    "cannot compare the repo with the cluster at {server} (target {})",
                    plan.target
                )
            })
    })?;
    let (live, mut would_be) = cluster::sides(compared.objects, compared.prunable);
    let mut charts = std::collections::BTreeMap::new();
    for unit in plan.waves.iter().flat_map(|w| &w.units) {
        if !unit.charts.is_empty() {
            charts.insert(unit.name.clone(), unit.charts.clone());
        }
    }
    would_be.charts = Some(charts);
    Ok(Some((live, would_be)))
}
