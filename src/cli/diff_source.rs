//! Where `weir diff` gets its two sides: the config repo at a Git revision
//! (read from Git objects, no checkout) or in the working tree, each taken
//! through the whole pipeline ([`pipeline::check`]) as `weir sync` takes it,
//! so the diff compares what would be applied: Helm charts and Workloads
//! rendered, namespaces defaulted, patches applied ([`Side::of_revision`]),
//! and the repo's weir documents as well (as [`WeirDoc`]s). Hooks (a
//! Component's Jobs, and what Helm and Argo CD hook annotations make
//! hooks) are not objects of the plan and are left out. SOPS-encrypted
//! manifests are decrypted in memory when a key is given.

use std::path::Path;

use crate::diff::{Side, WeirDoc};
use crate::pipeline::{self, Checked, Source};
use crate::render::HelmBinary;
use crate::repo;

use super::args::{LimitArgs, SopsArgs};
use super::check;

/// The config repo at `rev`, or in the working tree when `rev` is `None`,
/// checked; `Ok(Err(checked))` when it has errors (its report says which).
/// A revision where the config directory does not exist is an empty side,
/// so everything in the other one is added or removed. The repo is read
/// and judged within `limits`.
pub fn side(
    path: &Path,
    rev: Option<&str>,
    limits: &LimitArgs,
    sops: &SopsArgs,
) -> anyhow::Result<Result<Side, Box<Checked>>> {
    let source = check::source(path, rev);
    let loaded = match pipeline::load(&source, &limits.limits()) {
        Ok(loaded) => loaded,
        Err(pipeline::Error::Read(repo::Error::SubdirMissing { .. }))
            if matches!(source, Source::Revision { .. }) =>
        {
            return Ok(Ok(Side::default()));
        }
        Err(e) => return Err(anyhow::Error::new(e).context(check::describe(&source))),
    };
    let weir_docs: Vec<WeirDoc> = loaded
        .weir_documents()
        .map(|(file, value)| WeirDoc::new(file, value.clone()))
        .collect();
    let options = pipeline::Options {
        prune_floor: limits.floor(),
        ..pipeline::Options::default()
    };
    let checked = pipeline::check(loaded, &options, &HelmBinary::new())?;
    let Some(mut planned) = checked.planned else {
        return Ok(Err(Box::new(checked)));
    };
    // With the key, encrypted Secrets compare by their values (which
    // redaction hides); without it, by their ciphertext.
    let encrypted = planned.encrypted_files().count();
    if encrypted > 0 && sops.sops_age_key_file.is_some() {
        check::decrypt(&mut planned, sops, limits)?;
    } else if encrypted > 0 {
        tracing::warn!(
            "{encrypted} SOPS-encrypted file(s) at {} compared by their ciphertext: give \
             --sops-age-key-file (or set SOPS_AGE_KEY_FILE) to compare their values",
            rev.unwrap_or("the working tree")
        );
    }
    for warning in &checked.report.diagnostics {
        tracing::warn!("{warning}");
    }
    let rendered = planned.into_rendered();
    let mut side = Side::of_revision(rendered.objects, weir_docs);
    side.charts = Some(rendered.charts);
    Ok(Ok(side))
}
