//! Where `weir diff --cluster` gets its two sides: the working tree taken
//! through the same pipeline as `weir sync` (load → render → plan → the
//! sync plan, so the same target, namespaces and objects), and the live
//! cluster's answer to a server-side-apply dry run of it
//! ([`sync::dry_run`](crate::sync::dry_run)), turned into the live and
//! would-be [`Side`]s by [`diff::cluster::sides`](crate::diff::cluster::sides).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context as _;

use super::args::{DiffArgs, SourceArgs};
use super::render::{print_diagnostics, run_pipeline};
use super::{connect, sync_plan};
use crate::diff::{Side, cluster};
use crate::sync::ObjectRef;
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
/// does not render (its diagnostics are printed).
pub fn sides(args: &DiffArgs) -> anyhow::Result<Option<(Side, Side)>> {
    let source = SourceArgs {
        path: args.path.clone(),
        rev: None,
        kube_version: None,
        max_file_size: args.max_file_size,
    };
    let pipeline = run_pipeline(&source)?;
    let Some(planned) = &pipeline.plan else {
        eprintln!("weir diff: the config repo does not render:");
        print_diagnostics(&pipeline.diagnostics);
        return Ok(None);
    };
    for warning in pipeline.diagnostics.iter().filter(|d| !d.is_error()) {
        tracing::warn!("{warning}");
    }
    let plan = sync_plan::build(
        &args.path,
        args.target.as_deref(),
        None,
        &pipeline.repo,
        &pipeline.rendered,
        planned,
    )?;
    let files: HashMap<_, _> = pipeline
        .rendered
        .objects
        .iter()
        .filter_map(|o| {
            let key = ObjectRef::from_value(&o.value).ok()?.key();
            Some((key, o.source_file.clone()))
        })
        .collect();
    let compared = connect::runtime()?.block_on(async {
        let cluster = connect::cluster(&args.connection)
            .await?
            .with_backoff(BACKOFF);
        let server = cluster.server().unwrap_or("(unknown)").to_owned();
        dry_run::compare(&cluster, &plan, &files, CONCURRENCY)
            .await
            .with_context(|| {
                format!(
                    "cannot compare the repo with the cluster at {server} (target {})",
                    plan.target
                )
            })
    })?;
    Ok(Some(cluster::sides(compared.objects, compared.prunable)))
}
