//! [`ObjectRef`]: who a Kubernetes object is — API group, version, kind,
//! namespace and name — read from a manifest, as render, plan, diff, sync
//! and the inventory all name it; and [`ObjectKey`], the same without the
//! version, which is what makes two manifests the same object in a cluster.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a value is not a Kubernetes object weir can address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    #[error("it has no `{field}`{hint}", field = .0, hint = by_name(.0))]
    Missing(&'static str),
    #[error("it has an empty `{0}`")]
    Empty(&'static str),
}

fn by_name(field: &str) -> &'static str {
    if field == "metadata.name" {
        " (weir applies objects by name; `generateName` alone is only for hooks)"
    } else {
        ""
    }
}

/// The identity of a Kubernetes object: `apiVersion` split into group and
/// version, kind, namespace (`None` when cluster-scoped or not set yet) and
/// name.
///
/// Two refs name the same object in a cluster when their [`ObjectRef::key`]s
/// are equal: the version is only the representation, so `apps/v1beta2` and
/// `apps/v1` of one Deployment are one object.
///
/// Serialised with its field names; `namespace` is `null` for
/// cluster-scoped objects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    /// API group, `""` for the core group.
    #[serde(default)]
    pub group: String,
    pub version: String,
    pub kind: String,
    #[serde(default)]
    pub namespace: Option<String>,
    pub name: String,
}

/// An object's identity without its API version (see [`ObjectRef::key`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub group: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    /// Reads `apiVersion`, `kind`, `metadata.name` and `metadata.namespace`
    /// of a manifest. An empty namespace is no namespace. Without
    /// `metadata.name` it fails: weir addresses objects by name (a hook
    /// with only `generateName` is read by
    /// [`from_value_or_generated`](Self::from_value_or_generated)).
    pub fn from_value(value: &Value) -> Result<Self, ObjectError> {
        let text = |pointer: &str, field: &'static str| match value.pointer(pointer) {
            None | Some(Value::Null) => Err(ObjectError::Missing(field)),
            Some(v) => match v.as_str() {
                Some("") => Err(ObjectError::Empty(field)),
                Some(s) => Ok(s),
                None => Err(ObjectError::Missing(field)),
            },
        };
        let api_version = text("/apiVersion", "apiVersion")?;
        let kind = text("/kind", "kind")?;
        let name = text("/metadata/name", "metadata.name")?;
        let (group, version) = split_api_version(api_version);
        if version.is_empty() {
            return Err(ObjectError::Empty("apiVersion"));
        }
        let namespace = value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|ns| !ns.is_empty())
            .map(str::to_owned);
        Ok(Self {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
            namespace,
            name: name.to_owned(),
        })
    }

    /// [`from_value`](Self::from_value), or for an object with only
    /// `metadata.generateName` (no `metadata.name`), its ref named by that
    /// prefix, and `true`: the server picks its name when it is created.
    pub fn from_value_or_generated(value: &Value) -> Result<(Self, bool), ObjectError> {
        match Self::from_value(value) {
            Ok(id) => Ok((id, false)),
            Err(ObjectError::Missing("metadata.name")) => match generate_name(value) {
                Some(prefix) => {
                    let mut named = value.clone();
                    if let Some(meta) = named.get_mut("metadata").and_then(Value::as_object_mut) {
                        meta.insert("name".into(), Value::String(prefix.to_owned()));
                    }
                    Self::from_value(&named).map(|id| (id, true))
                }
                None => Err(ObjectError::Missing("metadata.name")),
            },
            Err(e) => Err(e),
        }
    }

    /// `group/version`, or `version` for the core group, as a manifest
    /// writes it.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The same object regardless of the API version it is addressed by.
    pub fn key(&self) -> ObjectKey {
        ObjectKey {
            group: self.group.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    pub fn is_kind(&self, group: &str, kind: &str) -> bool {
        self.group == group && self.kind == kind
    }

    pub fn is_crd(&self) -> bool {
        self.is_kind("apiextensions.k8s.io", "CustomResourceDefinition")
    }

    pub fn is_namespace(&self) -> bool {
        self.is_kind("", "Namespace")
    }

    /// A core Secret, whose `data` and `stringData` never appear in output.
    pub fn is_secret(&self) -> bool {
        self.is_kind("", "Secret")
    }

    /// `Kind namespace/name` (or `Kind name`): how messages and reviewers
    /// name an object. Also its [`Display`](fmt::Display).
    pub fn short(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }

    /// `Kind.group namespace/name`: [`short`](Self::short) with the group,
    /// for diagnostics where two groups may define the same kind.
    pub fn qualified(&self) -> String {
        let kind = if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        };
        match &self.namespace {
            Some(ns) => format!("{kind} {ns}/{}", self.name),
            None => format!("{kind} {}", self.name),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short())
    }
}

/// Whether a manifest is a list of objects rather than one object: `kind:
/// List` (the `v1` List of `kubectl get -o yaml`), or any kind ending in
/// `List` (`ConfigMapList`) that holds an `items` array. Its objects are
/// the `items`. The one rule for it: loading, validation and rendering all
/// ask here.
pub fn is_list(value: &Value) -> bool {
    match value.get("kind").and_then(Value::as_str) {
        Some("List") => true,
        Some(kind) => kind.ends_with("List") && value.get("items").is_some_and(Value::is_array),
        None => false,
    }
}

/// `metadata.generateName` of an object without `metadata.name` (the
/// prefix the server makes its name from when it is created), when it is
/// a non-empty string.
pub fn generate_name(value: &Value) -> Option<&str> {
    let meta = value.get("metadata")?;
    if meta
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty())
    {
        return None;
    }
    meta.get("generateName")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
}

/// Splits `apps/v1` into `("apps", "v1")` and `v1` into `("", "v1")`.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// `text` in the characters of a Kubernetes object name: ASCII letters
/// lower-cased, digits kept, anything else `-`. The one mapping of names
/// weir makes up (components named after directories, a target's inventory
/// and Lease); callers trim, bound and suffix the result.
pub fn name_chars(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_identity() {
        let r = ObjectRef::from_value(&json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "edge"}
        }))
        .unwrap();
        assert_eq!(r.group, "apps");
        assert_eq!(r.api_version(), "apps/v1");
        assert_eq!(r.to_string(), "Deployment edge/api");
        assert_eq!(r.qualified(), "Deployment.apps edge/api");
        let core = ObjectRef::from_value(&json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "edge", "namespace": ""}
        }))
        .unwrap();
        assert_eq!(core.group, "");
        assert_eq!(core.namespace, None);
        assert!(core.is_namespace());
        assert_eq!(core.to_string(), "Namespace edge");
        assert_eq!(core.qualified(), "Namespace edge");
    }

    #[test]
    fn rejects_incomplete() {
        let err = |v: Value| ObjectRef::from_value(&v).unwrap_err();
        assert_eq!(
            err(json!({"kind": "X", "metadata": {"name": "a"}})),
            ObjectError::Missing("apiVersion")
        );
        assert_eq!(
            err(json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": ""}})),
            ObjectError::Empty("metadata.name")
        );
        assert_eq!(
            err(json!({"apiVersion": "v1", "kind": "X", "metadata": {"generateName": "a-"}})),
            ObjectError::Missing("metadata.name")
        );
        let generated =
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generateName": "a-"}});
        let (id, is_generated) = ObjectRef::from_value_or_generated(&generated).unwrap();
        assert!(is_generated);
        assert_eq!(id.name, "a-");
        assert_eq!(generate_name(&generated), Some("a-"));
        assert!(
            ObjectRef::from_value_or_generated(
                &json!({"apiVersion": "v1", "kind": "X", "metadata": {}})
            )
            .is_err()
        );
        assert_eq!(
            err(json!({"apiVersion": "v1", "kind": 3, "metadata": {"name": "a"}})),
            ObjectError::Missing("kind")
        );
        assert_eq!(
            err(json!({"apiVersion": "apps/", "kind": "X", "metadata": {"name": "a"}})),
            ObjectError::Empty("apiVersion")
        );
    }

    #[test]
    fn lists() {
        assert!(is_list(
            &json!({"apiVersion": "v1", "kind": "List", "items": []})
        ));
        assert!(is_list(&json!({"apiVersion": "v1", "kind": "List"})));
        assert!(is_list(
            &json!({"apiVersion": "v1", "kind": "ConfigMapList", "items": []})
        ));
        assert!(!is_list(
            &json!({"apiVersion": "x/v1", "kind": "AccessList", "spec": {}})
        ));
        assert!(!is_list(&json!({"apiVersion": "v1", "kind": "ConfigMap"})));
    }

    #[test]
    fn versions_are_one_object() {
        let at = |v: &str| {
            ObjectRef::from_value(&json!({"apiVersion": v, "kind": "Deployment",
                "metadata": {"name": "a", "namespace": "n"}}))
            .unwrap()
        };
        assert_ne!(at("apps/v1"), at("apps/v1beta2"));
        assert_eq!(at("apps/v1").key(), at("apps/v1beta2").key());
    }

    #[test]
    fn serialises_with_field_names() {
        let r = ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: "Namespace".into(),
            namespace: None,
            name: "b".into(),
        };
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json,
            json!({"group": "", "version": "v1", "kind": "Namespace", "namespace": null, "name": "b"})
        );
        assert_eq!(serde_json::from_value::<ObjectRef>(json).unwrap(), r);
    }
}
