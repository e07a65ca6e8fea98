//! Custom resource kinds defined by CustomResourceDefinitions: their scope
//! and the compiled `openAPIV3Schema` of each served version.
//!
//! A [`CrdCatalog`] is built from CRD objects wherever they come from: the
//! repo's manifest files (validate) or rendered Helm charts (render), so
//! custom resources can be checked against the CRDs the repo installs.
//! Each CRD version's schema is compiled once.

use std::collections::HashMap;

use serde_json::Value;

use super::schema::{CompileError, Finding, ListKeys, NodeId, SchemaSet};
use super::{GroupVersionKind, split_api_version};

/// Why a CRD could not be added.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    #[error("the CRD has no `{0}`")]
    Missing(&'static str),
    #[error("the schema of version `{version}` does not compile: {source}")]
    Schema {
        version: String,
        #[source]
        source: CompileError,
    },
}

/// One served version of a custom resource kind.
#[derive(Debug, Clone)]
pub struct CrdKind {
    pub group: String,
    pub version: String,
    pub kind: String,
    /// `spec.scope: Namespaced`.
    pub namespaced: bool,
    /// The CRD's `metadata.name` (`plural.group`).
    pub crd_name: String,
    /// `None`: the version has no schema (anything goes).
    root: Option<NodeId>,
}

/// The custom resource kinds of a set of CRDs.
#[derive(Debug)]
pub struct CrdCatalog {
    schemas: SchemaSet,
    kinds: Vec<CrdKind>,
    by_gvk: HashMap<(String, String, String), usize>,
}

impl Default for CrdCatalog {
    fn default() -> Self {
        Self::new()
    }
}

/// True for a CustomResourceDefinition object (by `apiVersion` and `kind`).
pub fn is_crd(object: &Value) -> bool {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    split_api_version(api_version).0 == "apiextensions.k8s.io"
        && object.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition")
}

impl CrdCatalog {
    pub fn new() -> Self {
        CrdCatalog {
            schemas: SchemaSet::crds(),
            kinds: Vec::new(),
            by_gvk: HashMap::new(),
        }
    }

    /// Adds the served versions of a CRD object. Versions whose schema does
    /// not compile are skipped and reported; the others are added.
    pub fn add(&mut self, crd: &Value) -> Result<(), Vec<CrdError>> {
        let text = |pointer: &'static str| {
            crd.pointer(pointer)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| vec![CrdError::Missing(pointer_field(pointer))])
        };
        let group = text("/spec/group")?.to_string();
        let kind = text("/spec/names/kind")?.to_string();
        let crd_name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let namespaced = crd.pointer("/spec/scope").and_then(Value::as_str) != Some("Cluster");
        let versions = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .ok_or_else(|| vec![CrdError::Missing("spec.versions")])?;
        let mut errors = Vec::new();
        for v in versions {
            let Some(version) = v.get("name").and_then(Value::as_str) else {
                continue;
            };
            if v.get("served").and_then(Value::as_bool) == Some(false) {
                continue;
            }
            let root = match v.pointer("/schema/openAPIV3Schema") {
                Some(schema) => match self.schemas.add_tree(schema) {
                    Ok(root) => Some(root),
                    Err(source) => {
                        errors.push(CrdError::Schema {
                            version: version.to_string(),
                            source,
                        });
                        continue;
                    }
                },
                None => None,
            };
            let index = self.kinds.len();
            self.by_gvk
                .insert((group.clone(), version.to_string(), kind.clone()), index);
            self.kinds.push(CrdKind {
                group: group.clone(),
                version: version.to_string(),
                kind: kind.clone(),
                namespaced,
                crd_name: crd_name.clone(),
                root,
            });
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// True when no CRD was added.
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    pub fn kind(&self, gvk: &GroupVersionKind) -> Option<&CrdKind> {
        self.by_gvk
            .get(&(gvk.group.clone(), gvk.version.clone(), gvk.kind.clone()))
            .map(|i| &self.kinds[*i])
    }

    /// Every served version of a group's kind.
    pub fn versions_of(&self, group: &str, kind: &str) -> Vec<&CrdKind> {
        self.kinds
            .iter()
            .filter(|k| k.group == group && k.kind == kind)
            .collect()
    }

    /// Whether the custom resources of a kind are namespaced; `None` when no
    /// CRD here defines the kind.
    pub fn is_namespaced(&self, group: &str, kind: &str) -> Option<bool> {
        self.kinds
            .iter()
            .find(|k| k.group == group && k.kind == kind)
            .map(|k| k.namespaced)
    }

    /// Checks a custom resource against its version's schema; `apiVersion`,
    /// `kind` and `metadata` are left to the caller.
    pub fn validate(&self, kind: &CrdKind, object: &Value, out: &mut Vec<Finding>, limit: usize) {
        if let Some(root) = kind.root {
            self.schemas.validate_skipping(
                root,
                object,
                &["apiVersion", "kind", "metadata"],
                out,
                limit,
            );
        }
    }

    /// List semantics of the list at `path` (property names, indices
    /// skipped) in a custom resource.
    pub fn list_keys(&self, kind: &CrdKind, path: &[&str]) -> Option<&ListKeys> {
        self.schemas.list_keys(kind.root?, path)
    }
}

fn pointer_field(pointer: &'static str) -> &'static str {
    match pointer {
        "/spec/group" => "spec.group",
        "/spec/names/kind" => "spec.names.kind",
        _ => "a required field",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::schema::Problem;
    use super::*;

    fn widget_crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Namespaced",
                "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [{
                    "name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {
                                    "size": {"type": "integer", "minimum": 1},
                                    "color": {"type": "string", "enum": ["red", "blue"]},
                                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                                }
                            }
                        }
                    }}
                }, {"name": "v0", "served": false}]
            }
        })
    }

    #[test]
    fn validates_custom_resources() {
        let mut cat = CrdCatalog::new();
        cat.add(&widget_crd()).unwrap();
        assert!(is_crd(&widget_crd()));
        assert_eq!(cat.is_namespaced("example.com", "Widget"), Some(true));
        assert!(
            cat.kind(&GroupVersionKind::gvk("example.com", "v0", "Widget"))
                .is_none()
        );
        let kind = cat
            .kind(&GroupVersionKind::gvk("example.com", "v1", "Widget"))
            .unwrap();
        let mut out = Vec::new();
        let cr = json!({
            "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"size": 0, "colour": "red", "color": "green", "extra": {"any": 1}}
        });
        cat.validate(kind, &cr, &mut out, 10);
        let pointers: Vec<&str> = out.iter().map(|f| f.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            vec!["/spec/color", "/spec/colour", "/spec/size"],
            "{out:?}"
        );
        assert!(matches!(out[1].problem, Problem::UnknownField { .. }));

        out.clear();
        cat.validate(kind, &json!({"spec": {"color": "red"}}), &mut out, 10);
        assert_eq!(
            out[0].problem,
            Problem::MissingField {
                name: "size".into()
            }
        );
    }

    #[test]
    fn bad_pattern_is_reported() {
        let mut crd = widget_crd();
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["pattern"] =
            json!("(unclosed");
        let errors = CrdCatalog::new().add(&crd).unwrap_err();
        assert!(matches!(errors[0], CrdError::Schema { .. }));
    }
}
