//! Where `weir diff` gets its two sides: the config repo at a Git revision
//! (read from Git objects, no checkout) or in the working tree.
//!
//! Files are read by the loader ([`repo::read_revision`] /
//! [`repo::read_worktree`], [`yaml::load_documents`] with `weir.yaml`'s
//! include/exclude globs); a file it refuses makes the diff fail rather
//! than be silently incomplete.
//!
//! PROVISIONAL "render": until the render stage lands on main, manifests
//! are taken as they are written: each object belongs to the Component
//! whose `source.path` holds its file (else the implicit `default`
//! component) and to that component's wave. Helm charts and Workloads are
//! not rendered yet (their weir documents are still compared). Once render
//! lands, `build_side` becomes `ConfigRepo::assemble` → `render::render` →
//! `plan` (for each unit's wave) → one [`Side::push_rendered`] per
//! `RenderedObject { component, source_file, id, value }` with its unit's
//! wave, and one [`WeirDoc::new`] per weir document; the engine and the
//! output formats stay as they are.

use std::path::Path;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::diff::{ObjectId, Side, WeirDoc};
use crate::repo::{self, FileTree, Limits};
use crate::spec::model::API_VERSION;
use crate::spec::repo::IMPLICIT_COMPONENT;
use crate::spec::yaml::{self, Document, YamlLimits};

/// The config repo at `rev`, or in the working tree when `rev` is `None`.
pub fn side(path: &Path, rev: Option<&str>) -> anyhow::Result<Side> {
    let limits = Limits::default();
    let tree = match rev {
        Some(rev) => match repo::read_revision(path, rev, None, &limits) {
            Ok(tree) => tree,
            // The config directory does not exist at this revision: an
            // empty side, so everything in the other one is added/removed.
            Err(repo::Error::SubdirMissing { .. }) => FileTree::default(),
            Err(e) => return Err(e.into()),
        },
        None => repo::read_worktree(path, &limits)?,
    };
    let yaml_limits = YamlLimits::default();
    let (include, exclude) = file_globs(&tree, &yaml_limits)?;
    let (documents, diagnostics) =
        yaml::load_documents(&tree, include.as_ref(), exclude.as_ref(), &yaml_limits);
    let errors: Vec<&Diagnostic> = tree
        .diagnostics()
        .iter()
        .chain(&diagnostics)
        .filter(|d| d.is_error())
        .collect();
    if !errors.is_empty() {
        let list: Vec<String> = errors.iter().map(|d| format!("  {d}")).collect();
        bail!(
            "the config repo has files weir cannot read; fix them (`weir validate` explains) \
             and diff again:\n{}",
            list.join("\n")
        );
    }
    for warning in tree.diagnostics().iter().chain(&diagnostics) {
        tracing::warn!("{warning}");
    }
    Ok(build_side(documents))
}

/// `weir.yaml`'s `include`/`exclude` globs (`*` does not cross `/`, `**`
/// does).
fn file_globs(
    tree: &FileTree,
    limits: &YamlLimits,
) -> anyhow::Result<(Option<globset::GlobSet>, Option<globset::GlobSet>)> {
    let settings = tree
        .get("weir.yaml")
        .and_then(|bytes| yaml::parse_documents("weir.yaml", bytes, limits).ok())
        .and_then(|docs| docs.into_iter().next())
        .and_then(|doc| doc.value.get("spec").cloned())
        .unwrap_or(Value::Null);
    let globs = |field: &str| -> anyhow::Result<Option<globset::GlobSet>> {
        let Some(patterns) = settings.get(field).and_then(Value::as_array) else {
            return Ok(None);
        };
        let mut set = globset::GlobSetBuilder::new();
        for pattern in patterns.iter().filter_map(Value::as_str) {
            set.add(
                globset::GlobBuilder::new(pattern)
                    .literal_separator(true)
                    .build()
                    .with_context(|| format!("weir.yaml: invalid glob `{pattern}` in {field}"))?,
            );
        }
        Ok(Some(set.build()?))
    };
    Ok((globs("include")?, globs("exclude")?))
}

/// A component: where its manifests live and its wave.
struct ComponentDir {
    name: String,
    dir: String,
    wave: u32,
}

fn build_side(documents: Vec<Document>) -> Side {
    let mut manifests = Vec::new();
    let mut side = Side::default();
    for doc in documents {
        if doc.value.get("apiVersion").and_then(Value::as_str) == Some(API_VERSION) {
            side.weir_docs.push(WeirDoc::new(doc.file, doc.value));
        } else if let Some(id) = ObjectId::of(&doc.value) {
            manifests.push((doc.file, id, doc.value));
        }
    }
    let waves: Vec<String> = side
        .weir_docs
        .iter()
        .find(|d| d.value.get("kind").and_then(Value::as_str) == Some("Repository"))
        .and_then(|d| d.value.pointer("/spec/waves"))
        .and_then(Value::as_array)
        .map(|w| {
            w.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut components: Vec<ComponentDir> = side
        .weir_docs
        .iter()
        .filter(|d| d.value.get("kind").and_then(Value::as_str) == Some("Component"))
        .filter_map(|d| {
            let name = d.value.pointer("/metadata/name")?.as_str()?.to_owned();
            let source = d.value.pointer("/spec/source/path")?.as_str()?;
            let base = d.file.rsplit_once('/').map_or("", |(dir, _)| dir);
            let wave = match d.value.pointer("/spec/wave") {
                Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
                Some(Value::String(s)) => waves
                    .iter()
                    .position(|w| w == s)
                    .and_then(|i| u32::try_from(i).ok()),
                _ => None,
            };
            Some(ComponentDir {
                name,
                dir: repo::resolve_in_repo(base, source).ok()?,
                wave: wave.unwrap_or(0),
            })
        })
        .collect();
    // Deepest directory first, so nested components win.
    components.sort_by_key(|c| std::cmp::Reverse(c.dir.len()));
    for (file, id, value) in manifests {
        let owner = components
            .iter()
            .find(|c| c.dir.is_empty() || file.starts_with(&format!("{}/", c.dir)));
        let (component, wave) = owner.map_or((IMPLICIT_COMPONENT.to_owned(), 0), |c| {
            (c.name.clone(), c.wave)
        });
        side.push_rendered(id, component, wave, Some(file), value);
    }
    side
}
