//! The pipeline as the commands call it: a source from the path and
//! revision arguments, then [`pipeline::load`] and [`pipeline::check`]
//! with the real helm. Every command that reads a config repo comes
//! through here, so all of them judge it the same way; and [`decrypt`],
//! the SOPS-encrypted manifests of a checked repo with the key given.

use std::path::Path;

use super::args::{LimitArgs, SopsArgs};
use crate::pipeline::{self, Checked, Planned, Source};
use crate::render::HelmBinary;
use crate::render::sops::{AgeKey, Decrypter};

/// The source named by a command's `PATH` and `--rev`.
pub fn source(path: &Path, rev: Option<&str>) -> Source {
    match rev {
        None => Source::Directory(path.to_path_buf()),
        Some(rev) => Source::Revision {
            repo: path.to_path_buf(),
            rev: rev.to_owned(),
            subdir: None,
        },
    }
}

/// Loads `source` within `limits` and checks it (the prune floor of
/// `limits` is the one `options` gets).
pub fn run(
    source: &Source,
    limits: &LimitArgs,
    options: pipeline::Options,
) -> anyhow::Result<Checked> {
    let loaded = match pipeline::load(source, &limits.limits()) {
        Ok(loaded) => loaded,
        Err(e @ pipeline::Error::NotFound { .. }) => return Err(e.into()),
        Err(e) => return Err(anyhow::Error::new(e).context(describe(source))),
    };
    let options = pipeline::Options {
        prune_floor: limits.floor(),
        ..options
    };
    Ok(pipeline::check(loaded, &options, &HelmBinary::new())?)
}

/// What a failure to read `source` is about.
pub fn describe(source: &Source) -> String {
    match source {
        Source::Directory(path) => format!("reading {}", path.display()),
        Source::Revision { repo, rev, .. } => {
            format!("reading revision `{rev}` of {}", repo.display())
        }
    }
}

/// Decrypts `planned`'s SOPS-encrypted manifests in memory with the key of
/// `sops` (read only when there are some). `Err` names the files and says
/// how to give the key.
pub fn decrypt(planned: &mut Planned, sops: &SopsArgs, limits: &LimitArgs) -> anyhow::Result<()> {
    if planned.encrypted_files().next().is_none() {
        return Ok(());
    }
    let key = sops
        .sops_age_key_file
        .as_deref()
        .map(AgeKey::from_file)
        .transpose()?;
    planned.decrypt(&Decrypter::new(key, &limits.limits().work))?;
    Ok(())
}
