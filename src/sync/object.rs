//! [`ObjectRef`]: the identity of a Kubernetes object (group, version, kind,
//! namespace, name) as sync, the inventory and the reports name it, and the
//! matching of objects against the model's [`Selector`]s.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::spec::model::Selector;

/// Why a value is not a Kubernetes object sync can address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    #[error("object has no `{0}`")]
    Missing(&'static str),
    #[error("object has an empty `{0}`")]
    Empty(&'static str),
}

/// Who an object is: its API group, version and kind, and where it lives.
///
/// Serialised with short keys (`g`, `v`, `k`, `ns`, `n`) because the
/// inventory stores thousands of them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    /// API group, `""` for the core group.
    #[serde(rename = "g", default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(rename = "v")]
    pub version: String,
    #[serde(rename = "k")]
    pub kind: String,
    /// `None` for cluster-scoped objects.
    #[serde(rename = "ns", default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(rename = "n")]
    pub name: String,
}

impl ObjectRef {
    /// Reads `apiVersion`, `kind`, `metadata.name` and `metadata.namespace`.
    pub fn from_value(value: &Value) -> Result<Self, ObjectError> {
        let api_version = str_at(value, "/apiVersion").ok_or(ObjectError::Missing("apiVersion"))?;
        let kind = str_at(value, "/kind").ok_or(ObjectError::Missing("kind"))?;
        let name = str_at(value, "/metadata/name").ok_or(ObjectError::Missing("metadata.name"))?;
        if name.is_empty() {
            return Err(ObjectError::Empty("metadata.name"));
        }
        if kind.is_empty() {
            return Err(ObjectError::Empty("kind"));
        }
        let (group, version) = split_api_version(api_version);
        if version.is_empty() {
            return Err(ObjectError::Empty("apiVersion"));
        }
        let namespace = str_at(value, "/metadata/namespace")
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

    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The same object regardless of the API version it is addressed by:
    /// `apps/v1 Deployment` and a later `apps/v2 Deployment` are one object.
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

    /// `kind namespace/name` (or `kind name`), the form used in messages.
    pub fn short(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short())
    }
}

/// An object's identity without its API version (see [`ObjectRef::key`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub group: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

/// Splits `apps/v1` into `("apps", "v1")` and `v1` into `("", "v1")`.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// The string at a JSON pointer, if there is one.
pub fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// True when the selector matches the object: every field it sets is equal
/// (`name` may end in `*` to match a prefix), and every label it names is
/// on the object with that value.
pub fn selector_matches(selector: &Selector, object: &ObjectRef, labels: Option<&Value>) -> bool {
    if let Some(group) = &selector.group
        && group != &object.group
    {
        return false;
    }
    if let Some(kind) = &selector.kind
        && kind != &object.kind
    {
        return false;
    }
    if let Some(name) = &selector.name {
        let matched = match name.strip_suffix('*') {
            Some(prefix) => object.name.starts_with(prefix),
            None => name == &object.name,
        };
        if !matched {
            return false;
        }
    }
    if let Some(ns) = &selector.namespace
        && object.namespace.as_deref() != Some(ns.as_str())
    {
        return false;
    }
    selector.labels.iter().all(|(k, v)| {
        labels
            .and_then(|l| l.get(k))
            .and_then(Value::as_str)
            .is_some_and(|actual| actual == v)
    })
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
        let core = ObjectRef::from_value(&json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "edge"}
        }))
        .unwrap();
        assert_eq!(core.group, "");
        assert!(core.is_namespace());
        assert_eq!(core.to_string(), "Namespace edge");
    }

    #[test]
    fn rejects_incomplete() {
        assert_eq!(
            ObjectRef::from_value(&json!({"kind": "X", "metadata": {"name": "a"}})),
            Err(ObjectError::Missing("apiVersion"))
        );
        assert_eq!(
            ObjectRef::from_value(
                &json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": ""}})
            ),
            Err(ObjectError::Empty("metadata.name"))
        );
    }

    #[test]
    fn serialises_compactly() {
        let r = ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("a".into()),
            name: "b".into(),
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"v":"v1","k":"ConfigMap","ns":"a","n":"b"}"#
        );
    }

    #[test]
    fn selectors() {
        let r = ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: "PersistentVolumeClaim".into(),
            namespace: Some("data".into()),
            name: "db-0".into(),
        };
        let labels = json!({"app": "db"});
        let sel = |v: Value| serde_json::from_value::<Selector>(v).unwrap();
        assert!(selector_matches(
            &sel(json!({"kind": "PersistentVolumeClaim"})),
            &r,
            None
        ));
        assert!(selector_matches(&sel(json!({"name": "db-*"})), &r, None));
        assert!(!selector_matches(&sel(json!({"name": "db"})), &r, None));
        assert!(selector_matches(
            &sel(json!({"labels": {"app": "db"}})),
            &r,
            Some(&labels)
        ));
        assert!(!selector_matches(
            &sel(json!({"labels": {"app": "x"}})),
            &r,
            Some(&labels)
        ));
        assert!(!selector_matches(
            &sel(json!({"namespace": "other"})),
            &r,
            None
        ));
    }
}
