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
//!    nothing ([`repo_checks`]).
//!
//! Validation is pure: it never reads files. Every finding has a stable
//! code from [`codes`]; a [`ValidRepo`] exists only when there is no error.

pub mod codes;
pub mod objects;
pub mod paths;
pub mod repo_checks;
pub mod weir_kinds;
pub mod weir_schemas;

use std::collections::BTreeSet;
use std::ops::Deref;

use crate::diagnostic::{Diagnostic, Severity};
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

/// Validates every loaded document of a repository.
///
/// `earlier` are findings of the stages before (loading: unreadable files,
/// bad YAML); they count towards validity and are part of the report.
pub fn validate_documents(
    docs: Vec<Document>,
    earlier: Vec<Diagnostic>,
    opts: &Options,
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
    let docs = weir_kinds::check(docs, &mut diags);
    let weir_docs: Vec<Document> = docs
        .iter()
        .filter(|d| d.value.get("apiVersion").and_then(|v| v.as_str()) == Some(model::API_VERSION))
        .cloned()
        .collect();
    let (repo, assemble_diags) = ConfigRepo::assemble(docs);
    diags.extend(assemble_diags);

    // 2. Kubernetes objects.
    let skip = repo_checks::non_manifest_files(&repo);
    let manifests: Vec<&Document> = repo
        .manifests
        .iter()
        .filter(|d| !skip.contains(d.file.as_str()))
        .collect();
    let crds = objects::crd_catalog(manifests.iter().copied(), &mut diags);
    if let Some(catalog) = catalog {
        for doc in &manifests {
            objects::check_document(doc, catalog, &crds, &mut diags);
        }
    }

    // 3. The repo as a whole.
    let weir = repo_checks::WeirDocs {
        valid: &weir_docs,
        names: &all_weir_names,
    };
    repo_checks::check(&repo, &weir, &manifests, catalog, &crds, &mut diags);

    finish(repo, diags, documents, files, opts)
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
        Ok(catalog) => {
            for doc in objects {
                objects::check_document(doc, catalog, crds, &mut diags);
            }
        }
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
