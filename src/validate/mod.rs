//! Validation of a whole config repository: documents in, a [`ValidRepo`]
//! and [`Diagnostic`]s that point into files out.
//!
//! What is checked, in order:
//! 1. weir's kinds against the JSON Schemas of `schemas/` ([`weir_kinds`]);
//! 2. Kubernetes objects of built-in kinds against the OpenAPI of the pinned
//!    Kubernetes version, and custom resources against the CRDs the repo
//!    defines ([`objects`]);
//! 3. with [`validate_rendered`], what rendering and planning the repo
//!    found: the rules about the repo as a whole (objects defined twice,
//!    namespaces nobody creates, references that name nothing, paths,
//!    dependency cycles, wave conflicts, ...) live there, once; and the
//!    objects Helm charts render, checked like the repo's own manifests,
//!    their CRDs included in the catalog.
//!
//! Validation is pure: it never reads files (rendering is the caller's
//! closure). Every finding has a stable code from [`codes`]; a
//! [`ValidRepo`] exists only when there is no error.

pub mod codes;
pub mod objects;
pub mod paths;
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
/// given the assembled repo and returns [`RenderFindings`] (the pipeline
/// renders, plans and builds the sync plan).
///
/// Validation checks documents against schemas; every rule about the repo
/// as a whole (references, duplicates, namespaces, paths) is render's or
/// plan's, and reported through `render`, so there is one rule for each.
/// Weir documents that fail their schema are left out of the repo that is
/// rendered; findings that are only the consequence of leaving them out
/// (see [`LeftOut`]) are not reported, and neither is a render finding at
/// a file and line where validation already found an error.
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

    // 1. weir's kinds; documents that fail their schema (or do not
    // assemble) are left out of the repo.
    let weir_docs: Vec<Document> = docs.iter().filter(|d| is_weir(d)).cloned().collect();
    let docs = weir_kinds::check(docs, &mut diags);
    let (repo, assemble_diags) = ConfigRepo::assemble(docs);
    diags.extend(assemble_diags);
    let left_out = LeftOut::new(&weir_docs, &repo);
    let skip = crate::render::values_files(&repo);
    let manifests: Vec<&Document> = repo
        .manifests
        .iter()
        .filter(|d| !skip.contains(d.file.as_str()))
        .collect();

    // SOPS-encrypted manifests: their structure, without the key.
    diags.extend(manifests.iter().flat_map(|d| crate::render::sops::check(d)));

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
        let rendered = render(&repo);
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
    let RenderFindings {
        chart_objects,
        diagnostics: render_diags,
    } = rendered;
    let mut chart_sources = Vec::with_capacity(chart_objects.len());
    let chart_docs: Vec<Document> = chart_objects
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            chart_sources.push((o.file.clone(), o.component));
            Document::from_value(o.file, i, Span::default(), o.value)
        })
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
            .map(|d| from_chart(d, &chart_sources)),
    );

    // 3. What rendering and planning found, placed at the field it is
    // about, less what only follows from documents left out and what
    // repeats an error validation found at the same place.
    let new: Vec<Diagnostic> = render_diags
        .into_iter()
        .filter(|d| !left_out.explains(d, &weir_docs))
        .map(|d| at_field(d, weir_docs.iter().chain(&repo.manifests)))
        .filter(|d| !repeats_validation(d, &diags))
        .collect();
    diags.extend(new);

    finish(repo, diags, documents, files, opts)
}

fn is_weir(doc: &Document) -> bool {
    doc.value.get("apiVersion").and_then(|v| v.as_str()) == Some(model::API_VERSION)
}

/// The weir documents left out of the rendered repo because they failed
/// their schema or did not assemble, and what that leaves behind: without
/// a Component, its manifests belong to no component and its name is
/// unknown to `dependsOn` and `valuesFrom`; without weir.yaml, wave names,
/// node pools and the default namespace are unknown. Those findings are
/// not reported: the document's own error is, and they come back if they
/// still hold once it is fixed.
struct LeftOut {
    /// weir.yaml did not make it.
    repository: bool,
    /// Names of Components and Workloads left out.
    names: BTreeSet<String>,
    /// `source.path` directories of Components left out.
    dirs: Vec<String>,
}

impl LeftOut {
    fn new(weir_docs: &[Document], repo: &ConfigRepo) -> Self {
        let assembled: BTreeSet<(&str, Span)> = repo
            .components
            .iter()
            .map(|c| (c.file.as_str(), c.span))
            .chain(repo.workloads.iter().map(|w| (w.file.as_str(), w.span)))
            .chain(repo.repository.iter().map(|r| (r.file.as_str(), r.span)))
            .collect();
        let mut left = Self {
            repository: false,
            names: BTreeSet::new(),
            dirs: Vec::new(),
        };
        for doc in weir_docs {
            if assembled.contains(&(doc.file.as_str(), doc.span)) {
                continue;
            }
            let text = |pointer: &str| doc.value.pointer(pointer).and_then(|v| v.as_str());
            match text("/kind") {
                Some("Repository") => left.repository = true,
                _ => {
                    left.names.extend(text("/metadata/name").map(str::to_owned));
                    // Its source directory, or where it sits (its source
                    // may be what is broken).
                    let dir = doc.file.rsplit_once('/').map_or("", |(dir, _)| dir);
                    match text("/spec/source/path")
                        .and_then(|path| crate::repo::resolve_in_repo(dir, path).ok())
                    {
                        Some(resolved) => left.dirs.push(resolved),
                        None if text("/kind") == Some("Component") && !dir.is_empty() => {
                            left.dirs.push(dir.to_owned());
                        }
                        None => {}
                    }
                }
            }
        }
        left
    }

    /// Whether `d` only follows from leaving the documents out.
    fn explains(&self, d: &Diagnostic, weir_docs: &[Document]) -> bool {
        use crate::plan::codes as plan;
        use crate::render::codes as render;
        let code = d.code;
        if self.repository
            && [
                plan::UNKNOWN_WAVE,
                render::UNDEFINED_POOL,
                render::UNDEFINED_NAMESPACE,
            ]
            .contains(&code)
        {
            return true;
        }
        if code == render::ORPHAN_MANIFEST {
            return d.file.as_deref().is_some_and(|f| {
                self.dirs
                    .iter()
                    .any(|dir| crate::render::files::is_within(f, dir))
            });
        }
        if [
            plan::UNKNOWN_DEPENDENCY,
            render::VALUES_FROM_UNKNOWN,
            render::VALUES_FROM_NOT_CHART,
        ]
        .contains(&code)
        {
            return referenced(d, weir_docs).is_some_and(|name| self.names.contains(name));
        }
        false
    }
}

/// The name a reference finding is about: the string at its path in the
/// weir document it points at.
fn referenced<'a>(d: &Diagnostic, weir_docs: &'a [Document]) -> Option<&'a str> {
    let pointer = paths::pointer_of_path(d.path.as_deref()?)?;
    weir_docs
        .iter()
        .find(|doc| Some(doc.file.as_str()) == d.file.as_deref() && Some(doc.span) == d.span)?
        .value
        .pointer(&pointer)?
        .as_str()
}

/// Render and plan findings about a document (a weir document, or a
/// manifest) point at the document and name the field's path; point them
/// at the field's line instead, and those about the whole document at its
/// content (where validation points), not at its `---`.
fn at_field<'a>(mut d: Diagnostic, docs: impl IntoIterator<Item = &'a Document>) -> Diagnostic {
    let (Some(file), Some(span)) = (&d.file, d.span) else {
        return d;
    };
    let Some(pointer) = d
        .path
        .as_deref()
        .map_or(Some(String::new()), paths::pointer_of_path)
    else {
        return d;
    };
    if let Some(doc) = docs
        .into_iter()
        .find(|doc| &doc.file == file && doc.span == span)
    {
        d.span = Some(doc.span_of(&pointer));
    }
    d
}

/// A finding about a chart's output: it names the chart file, but no line
/// (the line of helm's output is in no file of the repo), and which
/// component's chart rendered it. `sources` are the chart objects' files
/// and components.
fn from_chart(mut d: Diagnostic, sources: &[(String, String)]) -> Diagnostic {
    d.span = None;
    if let Some((_, component)) = d
        .file
        .as_deref()
        .and_then(|f| sources.iter().find(|(file, _)| file == f))
    {
        d.message = format!(
            "{} (in what component `{component}`'s chart renders)",
            d.message
        );
    }
    d
}

/// Whether a finding of rendering or planning repeats an error validation
/// already found at the same file and line (a document that is no object
/// at all, a source that is not exactly one of `path` or `helm`): the
/// error validation found says it better.
fn repeats_validation(d: &Diagnostic, found: &[Diagnostic]) -> bool {
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
