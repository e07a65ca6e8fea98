//! The assembled config repository: loaded documents sorted into weir's
//! kinds and plain Kubernetes manifests.
//!
//! [`ConfigRepo::assemble`] only classifies and deserialises; it trusts that
//! `validate` has already run the schemas over weir's kinds, and reports a
//! document that still does not deserialise as a diagnostic, never a panic.

use serde::de::DeserializeOwned;

use super::model::{self, Component, Repository, RepositorySpec, Workload};
use super::yaml::Document;
use crate::diagnostic::{Code, Diagnostic, Span};

/// Codes of the findings made while assembling.
pub mod codes {
    use crate::diagnostic::Code;
    /// A `weir.dev/v1alpha1` document of a kind weir does not know.
    pub const UNKNOWN_KIND: Code = Code("E0301");
    /// A weir kind that does not deserialise (schemas should catch it first).
    pub const BAD_SPEC: Code = Code("E0302");
    /// More than one `Repository` document.
    pub const DUPLICATE_REPOSITORY: Code = Code("E0303");
    /// A `Repository` outside the root `weir.yaml`.
    pub const MISPLACED_REPOSITORY: Code = Code("E0304");
}

/// The name of the implicit component of a repo that defines none.
pub const IMPLICIT_COMPONENT: &str = "default";

/// A value with the file and position of the document it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    pub file: String,
    pub span: Span,
    pub value: T,
}

impl<T> Located<T> {
    /// The directory of the file, `""` at the repo root.
    pub fn dir(&self) -> &str {
        self.file.rsplit_once('/').map_or("", |(dir, _)| dir)
    }
}

/// A whole config repository, as loaded.
#[derive(Debug, Clone, Default)]
pub struct ConfigRepo {
    /// `weir.yaml`, when the repo has one.
    pub repository: Option<Located<Repository>>,
    pub components: Vec<Located<Component>>,
    pub workloads: Vec<Located<Workload>>,
    /// Every document that is not one of weir's kinds.
    pub manifests: Vec<Document>,
}

impl ConfigRepo {
    /// Sorts documents into weir's kinds and plain manifests.
    pub fn assemble(docs: Vec<Document>) -> (Self, Vec<Diagnostic>) {
        let mut repo = ConfigRepo::default();
        let mut diags = Vec::new();
        for doc in docs {
            if doc.value.get("apiVersion").and_then(|v| v.as_str()) != Some(model::API_VERSION) {
                repo.manifests.push(doc);
                continue;
            }
            let kind = doc.value.get("kind").and_then(|v| v.as_str()).unwrap_or("");
            match kind {
                "Repository" => {
                    if doc.file != "weir.yaml" {
                        diags.push(
                            at(
                                &doc,
                                codes::MISPLACED_REPOSITORY,
                                "a Repository must be the root `weir.yaml`",
                            )
                            .with_hint("move it to weir.yaml at the root of the config repo"),
                        );
                    } else if repo.repository.is_some() {
                        diags.push(at(
                            &doc,
                            codes::DUPLICATE_REPOSITORY,
                            "weir.yaml holds more than one Repository",
                        ));
                    } else if let Some(r) = typed::<Repository>(&doc, &mut diags) {
                        repo.repository = Some(r);
                    }
                }
                "Component" => repo.components.extend(typed::<Component>(&doc, &mut diags)),
                "Workload" => repo.workloads.extend(typed::<Workload>(&doc, &mut diags)),
                other => diags.push(
                    at(
                        &doc,
                        codes::UNKNOWN_KIND,
                        format!("unknown weir kind `{other}`"),
                    )
                    .with_path(".kind")
                    .with_hint(format!("weir kinds are {}", model::KINDS.join(", "))),
                ),
            }
        }
        (repo, diags)
    }

    /// Repository settings, or the defaults for a repo without `weir.yaml`.
    pub fn settings(&self) -> RepositorySpec {
        self.repository
            .as_ref()
            .map(|r| r.value.spec.clone())
            .unwrap_or_default()
    }

    /// True when the repo is a plain manifest directory: no components and
    /// no workloads, so all manifests form one implicit component.
    pub fn is_plain_directory(&self) -> bool {
        self.components.is_empty() && self.workloads.is_empty()
    }

    pub fn component(&self, name: &str) -> Option<&Located<Component>> {
        self.components
            .iter()
            .find(|c| c.value.metadata.name == name)
    }
}

fn at(doc: &Document, code: Code, message: impl Into<String>) -> Diagnostic {
    Diagnostic::error(code, message)
        .in_file(doc.file.clone())
        .at(doc.span)
}

fn typed<T: DeserializeOwned>(doc: &Document, diags: &mut Vec<Diagnostic>) -> Option<Located<T>> {
    match serde_json::from_value::<T>(doc.value.clone()) {
        Ok(value) => Some(Located {
            file: doc.file.clone(),
            span: doc.span,
            value,
        }),
        Err(err) => {
            diags.push(at(doc, codes::BAD_SPEC, err.to_string()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc(file: &str, value: serde_json::Value) -> Document {
        Document::from_value(file, 0, Span { line: 1, column: 1 }, value)
    }

    #[test]
    fn sorts_kinds_and_manifests() {
        let docs = vec![
            doc(
                "weir.yaml",
                json!({"apiVersion": "weir.dev/v1alpha1", "kind": "Repository", "metadata": {"name": "r"}, "spec": {}}),
            ),
            doc(
                "a/component.yaml",
                json!({"apiVersion": "weir.dev/v1alpha1", "kind": "Component", "metadata": {"name": "a"}, "spec": {"source": {"path": "m"}}}),
            ),
            doc(
                "a/m/cm.yaml",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
            ),
            doc(
                "b.yaml",
                json!({"apiVersion": "weir.dev/v1alpha1", "kind": "Gadget", "metadata": {"name": "g"}, "spec": {}}),
            ),
        ];
        let (repo, diags) = ConfigRepo::assemble(docs);
        assert!(repo.repository.is_some());
        assert_eq!(repo.components.len(), 1);
        assert_eq!(repo.components[0].dir(), "a");
        assert_eq!(repo.manifests.len(), 1);
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, codes::UNKNOWN_KIND);
    }
}
