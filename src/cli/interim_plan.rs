//! PROVISIONAL: builds a [`SyncPlan`] from a directory of plain manifests
//! until the loader, validate, render and plan stages are merged; then
//! `weir sync` runs those and adapts their `Plan` instead.
//!
//! Every `.yaml`/`.yml` file under the path (hidden directories skipped) is
//! read; weir kinds are assembled and checked for errors. Plain manifests
//! form one implicit component; an object's wave is its `weir.dev/wave`
//! annotation (a number, default 0).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::spec::repo::ConfigRepo;
use crate::spec::yaml::Document;
use crate::sync::{SyncPlan, SyncUnit, SyncWave};

/// The annotation that puts a plain manifest in a wave.
pub const WAVE_ANNOTATION: &str = "weir.dev/wave";

/// A plan, or the diagnostics that make the repo invalid.
pub enum Built {
    Plan(SyncPlan),
    Invalid(Vec<Diagnostic>),
}

pub fn build(root: &Path, target: Option<&str>) -> Result<Built> {
    let mut files = Vec::new();
    collect(root, root, &mut files)?;
    files.sort();
    let mut docs = Vec::new();
    for rel in &files {
        let bytes = std::fs::read(root.join(rel)).with_context(|| format!("reading {rel}"))?;
        for (index, de) in serde_yaml::Deserializer::from_slice(&bytes).enumerate() {
            let value: Value = match serde::Deserialize::deserialize(de) {
                Ok(v) => v,
                Err(e) => {
                    return Ok(Built::Invalid(vec![
                        Diagnostic::error(crate::diagnostic::Code("E0001"), e.to_string())
                            .in_file(rel.clone()),
                    ]));
                }
            };
            if value.is_null() {
                continue;
            }
            docs.push(Document::from_value(
                rel.clone(),
                index,
                Default::default(),
                value,
            ));
        }
    }
    let (repo, diags) = ConfigRepo::assemble(docs);
    let errors: Vec<Diagnostic> = diags.into_iter().filter(Diagnostic::is_error).collect();
    if !errors.is_empty() {
        return Ok(Built::Invalid(errors));
    }
    if !repo.is_plain_directory() {
        bail!(
            "this build of weir syncs plain manifest directories only: Components and Workloads need the render stage"
        );
    }
    let settings = repo.settings();
    let mut waves: BTreeMap<u32, Vec<Value>> = BTreeMap::new();
    for doc in repo.manifests {
        let wave = doc
            .value
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(WAVE_ANNOTATION))
            .and_then(Value::as_str)
            .map(|w| {
                w.parse::<u32>().with_context(|| {
                    format!("{}: {WAVE_ANNOTATION} must be a number, is {w:?}", doc.file)
                })
            })
            .transpose()?
            .unwrap_or(0);
        waves.entry(wave).or_default().push(doc.value);
    }
    let target = target
        .map(str::to_owned)
        .or_else(|| {
            repo.repository
                .as_ref()
                .map(|r| r.value.metadata.name.clone())
        })
        .or_else(|| {
            std::fs::canonicalize(root)
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        })
        .unwrap_or_else(|| "default".into());
    Ok(Built::Plan(SyncPlan {
        target,
        revision: revision(root),
        waves: waves
            .into_iter()
            .map(|(index, objects)| SyncWave {
                index,
                name: settings
                    .waves
                    .get(index as usize)
                    .cloned()
                    .unwrap_or_else(|| index.to_string()),
                units: vec![SyncUnit {
                    name: crate::spec::repo::IMPLICIT_COMPONENT.into(),
                    namespace: settings.defaults.namespace.clone(),
                    objects,
                    ..Default::default()
                }],
            })
            .collect(),
        prune: settings.prune,
    }))
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let ty = entry.file_type()?;
        let path = entry.path();
        if ty.is_dir() {
            collect(root, &path, out)?;
        } else if ty.is_file() && (name.ends_with(".yaml") || name.ends_with(".yml")) {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            out.push(rel);
        }
    }
    Ok(())
}

/// The git commit checked out at `root`, when it is in a repository.
fn revision(root: &Path) -> Option<String> {
    let repo = git2::Repository::discover(root).ok()?;
    let head = repo.head().ok()?.peel_to_commit().ok()?;
    Some(head.id().to_string())
}
