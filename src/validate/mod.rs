//! Validation of a whole config repository: documents in, a [`ValidRepo`]
//! and [`Diagnostic`]s that point into files out.
//!
//! What is checked, in order:
//! 1. weir's kinds against the JSON Schemas of `schemas/` ([`weir_kinds`]);
//! 2. Kubernetes objects of built-in kinds against the OpenAPI of the pinned
//!    Kubernetes version, and custom resources against the CRDs the repo
//!    defines ([`objects`]);
//! 3. the repo as a whole: objects defined twice, namespaces nobody
//!    creates, `dependsOn`, `valuesFrom`, node pools and wave names that name
//!    nothing ([`repo_checks`]);
//! 4. with [`validate_rendered`], what rendering and planning the repo
//!    found (paths that name nothing, `valuesFrom` paths, dependency cycles,
//!    wave conflicts, ...), and the objects Helm charts render, checked like
//!    the repo's own manifests, their CRDs included in the catalog.
//!
//! Validation is pure: it never reads files (rendering is the caller's
//! closure). Every finding has a stable code from [`codes`]; a
//! [`ValidRepo`] exists only when there is no error.

pub mod codes;
pub mod objects;
pub mod paths;
pub mod repo_checks;
pub mod weir_kinds;
pub mod weir_schemas;

use std::collections::BTreeSet;
use std::ops::Deref;

use crate::diagnostic::{Diagnostic, Severity, Span};
use crate::kubernetes::Catalog;
use crate::kubernetes::crd::CrdCatalog;
use crate::spec::model;
use crate::spec::repo::ConfigRepo;
use crate::spec::yaml::Document;

/// How strict validation is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Treat warnings (e.g. a custom resource whose kind has no schema
    /// anywhere) as errors.
    pub strict: bool,
}

/// A config repository that passed validation; only [`validate_documents`]
/// makes one, so holding a `ValidRepo` proves there was no error.
#[derive(Debug, Clone)]
pub struct ValidRepo(ConfigRepo);

impl ValidRepo {
    pub fn into_inner(self) -> ConfigRepo {
        self.0
    }
}

impl Deref for ValidRepo {
    type Target = ConfigRepo;
    fn deref(&self) -> &ConfigRepo {
        &self.0
    }
}

/// The findings of a validation run and what was looked at.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Sorted by file, position and code.
    pub diagnostics: Vec<Diagnostic>,
    /// Documents checked.
    pub documents: usize,
    /// Files the documents came from.
    pub files: usize,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }

    pub fn is_valid(&self) -> bool {
        self.errors() == 0
    }
}

/// The result of [`validate_documents`].
#[derive(Debug)]
pub struct Validation {
    /// `Some` exactly when the report has no error.
    pub repo: Option<ValidRepo>,
    pub report: Report,
}

/// What rendering and planning a repo found, for [`validate_rendered`].
#[derive(Debug, Clone, Default)]
pub struct RenderFindings {
    /// Objects rendered from Helm charts (the repo's files do not hold them
    /// as written), each with the chart file it came from and the
    /// component that rendered it. Checked like manifests; their CRDs
    /// define custom kinds for the whole repo.
    pub chart_objects: Vec<ChartObject>,
    /// Findings of rendering and planning (E02xx, E04xx, W02xx) and of
    /// running the renderer (e.g. no helm, [`codes::NOT_RENDERED`]).
    pub diagnostics: Vec<Diagnostic>,
}

/// One object a component's Helm chart rendered.
#[derive(Debug, Clone)]
pub struct ChartObject {
    /// The component whose chart rendered it.
    pub component: String,
    /// The chart file it came from (repo-relative), as helm's
    /// `# Source:` names it.
    pub file: String,
    pub value: serde_json::Value,
}

/// Validates every loaded document of a repository.
///
/// `earlier` are findings of the stages before (loading: unreadable files,
/// bad YAML); they count towards validity and are part of the report.
pub fn validate_documents(
    docs: Vec<Document>,
    earlier: Vec<Diagnostic>,
    opts: &Options,
) -> Validation {
    validate_rendered(docs, earlier, opts, |_| RenderFindings::default())
}

/// [`validate_documents`], plus what rendering the repo finds: `render` is
/// given the assembled repo and returns [`RenderFindings`] (the CLI renders
/// and plans it, with the real helm).
///
/// `render` is only called when weir's own documents passed their schemas:
/// a broken Component would otherwise show up again as orphaned manifests,
/// unknown dependencies and the like. Findings of rendering that repeat a
/// check validation already made (an unknown `dependsOn`, wave or node
/// pool, an object defined twice, a document that is no object) are left
/// out, as is any render finding at a file and line where validation
/// already found an error.
pub fn validate_rendered(
    docs: Vec<Document>,
    earlier: Vec<Diagnostic>,
    opts: &Options,
    render: impl FnOnce(&ConfigRepo) -> RenderFindings,
) -> Validation {
    let mut diags = earlier;
    let documents = docs.len();
    let mut files: BTreeSet<&str> = docs.iter().map(|d| d.file.as_str()).collect();
    files.extend(diags.iter().filter_map(|d| d.file.as_deref()));
    let files = files.len();

    let catalog = match Catalog::builtin() {
        Ok(c) => Some(c),
        Err(message) => {
            diags.push(Diagnostic::error(codes::INTERNAL, message));
            None
        }
    };

    // 1. weir's kinds; documents that fail their schema go no further.
    // Names of weir documents that failed their schema still count as
    // existing for references, so one mistake is reported once.
    let all_weir_names: Vec<(String, String)> = docs
        .iter()
        .filter(|d| d.value.get("apiVersion").and_then(|v| v.as_str()) == Some(model::API_VERSION))
        .filter_map(|d| {
            let kind = d.value.get("kind")?.as_str()?;
            let name = d.value.pointer("/metadata/name")?.as_str()?;
            Some((kind.to_string(), name.to_string()))
        })
        .collect();
    let weir_count = all_weir_names.len();
    let docs = weir_kinds::check(docs, &mut diags);
    let weir_docs: Vec<Document> = docs
        .iter()
        .filter(|d| d.value.get("apiVersion").and_then(|v| v.as_str()) == Some(model::API_VERSION))
        .cloned()
        .collect();
    let (repo, assemble_diags) = ConfigRepo::assemble(docs);
    let weir_ok = weir_docs.len() == weir_count && !assemble_diags.iter().any(Diagnostic::is_error);
    diags.extend(assemble_diags);
    let skip = repo_checks::non_manifest_files(&repo);
    let manifests: Vec<&Document> = repo
        .manifests
        .iter()
        .filter(|d| !skip.contains(d.file.as_str()))
        .collect();

    // 2a. Objects of built-in kinds need no CRD: they are checked on other
    // threads while the repo renders (which may wait for helm).
    let (builtin, rest): (Vec<&Document>, Vec<&Document>) = match catalog {
        Some(catalog) => manifests
            .iter()
            .partition(|d| objects::needs_no_crd(d, catalog)),
        None => (Vec::new(), Vec::new()),
    };
    let (rendered, builtin_diags) = std::thread::scope(|scope| {
        let builtin = catalog.map(|catalog| {
            let builtin = &builtin;
            scope.spawn(move || objects::check_documents(builtin, catalog, &CrdCatalog::new()))
        });
        let rendered = if weir_ok {
            render(&repo)
        } else {
            RenderFindings::default()
        };
        let builtin_diags = match builtin.map(|handle| handle.join()) {
            None => Vec::new(),
            Some(Ok(found)) => found,
            Some(Err(payload)) => std::panic::resume_unwind(payload),
        };
        (rendered, builtin_diags)
    });
    diags.extend(builtin_diags);

    // 2b. The rest of the repo's manifests (custom resources, lists) and
    // what its charts render, with the CRDs of both.
    let chart_docs: Vec<Document> = rendered
        .chart_objects
        .iter()
        .enumerate()
        .map(|(i, o)| Document::from_value(o.file.clone(), i, Span::default(), o.value.clone()))
        .collect();
    let mut chart_diags = Vec::new();
    let mut crds = objects::crd_catalog(manifests.iter().copied(), &mut diags);
    objects::add_crds(&mut crds, &chart_docs, &mut chart_diags);
    if let Some(catalog) = catalog {
        diags.extend(objects::check_documents(&rest, catalog, &crds));
        chart_diags.extend(objects::check_documents(&chart_docs, catalog, &crds));
    }
    diags.extend(
        chart_diags
            .into_iter()
            .map(|d| from_chart(d, &rendered.chart_objects)),
    );

    // 3. The repo as a whole.
    let weir = repo_checks::WeirDocs {
        valid: &weir_docs,
        names: &all_weir_names,
    };
    repo_checks::check(&repo, &weir, &manifests, catalog, &crds, &mut diags);

    // 4. What rendering and planning found, less what step 3 reported,
    // placed at the field it is about.
    let new: Vec<Diagnostic> = rendered
        .diagnostics
        .into_iter()
        .map(|d| at_field(d, &weir_docs))
        .filter(|d| !repeats_validation(d, &diags))
        .collect();
    diags.extend(new);

    finish(repo, diags, documents, files, opts)
}

/// Render and plan findings about a weir document point at the document
/// and name the field's path; point them at the field's line instead.
fn at_field(mut d: Diagnostic, weir_docs: &[Document]) -> Diagnostic {
    let (Some(file), Some(span), Some(path)) = (&d.file, d.span, &d.path) else {
        return d;
    };
    let Some(pointer) = paths::pointer_of_path(path) else {
        return d;
    };
    if let Some(doc) = weir_docs
        .iter()
        .find(|doc| &doc.file == file && doc.span == span)
    {
        d.span = Some(doc.span_of(&pointer));
    }
    d
}

/// A finding about a chart's output: it names the chart file, but no line
/// (the line of helm's output is in no file of the repo), and which
/// component's chart rendered it.
fn from_chart(mut d: Diagnostic, objects: &[ChartObject]) -> Diagnostic {
    d.span = None;
    if let Some(o) = d
        .file
        .as_deref()
        .and_then(|f| objects.iter().find(|o| o.file == f))
    {
        d.message = format!(
            "{} (in what component `{}`'s chart renders)",
            d.message, o.component
        );
    }
    d
}

/// Whether a finding of rendering or planning repeats one of validation:
/// its code stands for a check validation makes itself, or validation
/// already found an error at the same file and line.
fn repeats_validation(d: &Diagnostic, found: &[Diagnostic]) -> bool {
    const REPEATED: &[&str] = &[
        "E0203", // not an object: E0106 / E0109
        "E0204", // valuesFrom names no component: E0114
        "E0210", // undefined node pool: E0112
        "E0211", // source not exactly one of path / helm: E0105
        "E0401", // unknown wave name: E0113
        "E0402", // unknown dependsOn: E0111
    ];
    if REPEATED.contains(&d.code.0) {
        return true;
    }
    // The same object, or the same unit name, twice: validation's E0110.
    if matches!(d.code.0, "E0212" | "E0405")
        && found.iter().any(|f| f.code == codes::DUPLICATE_OBJECT)
    {
        return true;
    }
    d.file.is_some()
        && found.iter().any(|f| {
            f.is_error() && f.file == d.file && f.span.map(|s| s.line) == d.span.map(|s| s.line)
        })
}

/// Validates Kubernetes objects that did not come from the repo's files
/// directly (e.g. rendered from a Helm chart) against the built-in schemas
/// and `crds`, which the caller builds with [`objects::crd_catalog`] from
/// every CRD it knows (the repo's and the rendered ones).
pub fn validate_objects(
    objects: &[Document],
    crds: &CrdCatalog,
    opts: &Options,
) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    match Catalog::builtin() {
        Ok(catalog) => diags.extend(objects::check_documents(objects, catalog, crds)),
        Err(message) => diags.push(Diagnostic::error(codes::INTERNAL, message)),
    }
    apply_strictness(&mut diags, opts);
    sort(&mut diags);
    diags
}

fn finish(
    repo: ConfigRepo,
    mut diags: Vec<Diagnostic>,
    documents: usize,
    files: usize,
    opts: &Options,
) -> Validation {
    apply_strictness(&mut diags, opts);
    sort(&mut diags);
    let report = Report {
        diagnostics: diags,
        documents,
        files,
    };
    Validation {
        repo: report.is_valid().then_some(ValidRepo(repo)),
        report,
    }
}

fn apply_strictness(diags: &mut [Diagnostic], opts: &Options) {
    if opts.strict {
        for d in diags.iter_mut() {
            d.severity = Severity::Error;
        }
    }
}

/// Sorts diagnostics for output: repo-wide ones first, then by file,
/// position and code; exact duplicates are removed by the caller's dedup.
pub fn sort(diags: &mut Vec<Diagnostic>) {
    diags.sort_by(|a, b| {
        (&a.file, a.span, a.code, &a.path, &a.message)
            .cmp(&(&b.file, b.span, b.code, &b.path, &b.message))
    });
    diags.dedup();
}

#[cfg(test)]
mod tests;
