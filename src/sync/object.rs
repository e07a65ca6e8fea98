//! The matching of objects against the model's [`Selector`]s (protection
//! from pruning, health overrides). Objects are named by the crate's
//! [`ObjectRef`](crate::object::ObjectRef), re-exported here.

use serde_json::Value;

pub use crate::object::{ObjectError, ObjectKey, ObjectRef, split_api_version};
use crate::spec::model::Selector;

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
