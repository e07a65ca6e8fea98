//! Where `weir diff` gets its two sides: the config repo at a Git revision
//! (read from Git objects, no checkout) or in the working tree, taken
//! through the same pipeline as `weir render`.
//!
//! Files are read by the loader ([`repo::read_revision`] /
//! [`repo::read_worktree`], [`load::documents`] with `weir.yaml`'s
//! include/exclude globs); a file it refuses makes the diff fail rather
//! than be silently incomplete. The documents then go through
//! [`ConfigRepo::assemble`] → [`render::render`] (with that revision's
//! files; helm from `$WEIR_HELM` or `PATH`) → [`plan::plan`] for each
//! unit's wave, and each rendered object becomes one
//! [`Side::push_rendered`], so the diff compares what would be applied:
//! Helm charts and Workloads rendered, namespaces defaulted, patches
//! applied. The repo's weir documents are compared as well (as
//! [`WeirDoc`]s). Hook Jobs are not objects of the plan and are left out.

use std::path::Path;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::diff::{ObjectRef, Side, WeirDoc};
use crate::plan;
use crate::render::{self, HelmBinary, RenderOptions};
use crate::repo::{self, Limits};
use crate::spec::model::API_VERSION;
use crate::spec::repo::ConfigRepo;

use super::load;

/// The config repo at `rev`, or in the working tree when `rev` is `None`,
/// rendered and planned. `Ok(Err(diagnostics))` when it does not render
/// (error diagnostics from assembling, rendering or planning).
/// Files over `max_file_bytes` (`--max-file-size`) are refused.
pub fn side(
    path: &Path,
    rev: Option<&str>,
    max_file_bytes: u64,
) -> anyhow::Result<Result<Side, Vec<Diagnostic>>> {
    let limits = Limits {
        max_file_bytes,
        ..Limits::default()
    };
    let tree = match rev {
        Some(rev) => match repo::read_revision(path, rev, None, &limits) {
            Ok(tree) => tree,
            // The config directory does not exist at this revision: an
            // empty side, so everything in the other one is added/removed.
            Err(repo::Error::SubdirMissing { .. }) => return Ok(Ok(Side::default())),
            Err(e) => return Err(e.into()),
        },
        None => repo::read_worktree(path, &limits)?,
    };
    let (documents, mut diagnostics) = load::documents(&tree);
    let errors: Vec<&Diagnostic> = diagnostics.iter().filter(|d| d.is_error()).collect();
    if !errors.is_empty() {
        let list: Vec<String> = errors.iter().map(|d| format!("  {d}")).collect();
        bail!(
            "the config repo has files weir cannot read; fix them (`weir validate` explains) \
             and diff again:\n{}",
            list.join("\n")
        );
    }
    let mut side = Side::default();
    for doc in &documents {
        if doc.value.get("apiVersion").and_then(Value::as_str) == Some(API_VERSION) {
            side.weir_docs
                .push(WeirDoc::new(doc.file.clone(), doc.value.clone()));
        }
    }
    let (config, assemble_diags) = ConfigRepo::assemble(documents);
    diagnostics.extend(assemble_diags);
    let options = RenderOptions {
        kubernetes_version: None,
        parallelism: None,
    };
    let mut rendered =
        render::render(&config, &tree, &options, &HelmBinary::new()).context("rendering failed")?;
    diagnostics.append(&mut rendered.diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Ok(Err(diagnostics));
    }
    let (plan, plan_diags) = plan::plan(&mut rendered, &config.settings());
    diagnostics.extend(plan_diags);
    if plan.is_none() || diagnostics.iter().any(Diagnostic::is_error) {
        return Ok(Err(diagnostics));
    }
    for warning in &diagnostics {
        tracing::warn!("{warning}");
    }
    for object in rendered.objects {
        let id = ObjectRef {
            group: object.id.group,
            version: object.id.version,
            kind: object.id.kind,
            namespace: object.id.namespace,
            name: object.id.name,
        };
        side.push_rendered(
            id,
            object.component,
            object.wave.unwrap_or(0),
            Some(object.source_file),
            object.value,
        );
    }
    Ok(Ok(side))
}
