//! Normalisation: what two objects are compared as.
//!
//! Before comparing, every object loses what says nothing about what weir
//! asks of the cluster:
//! - weir's own tracking metadata (the `weir.dev/source` annotation and the
//!   `weir.dev/component` label), so moving an object between files or
//!   components without changing it is not a change;
//! - what the API server manages: `status`, `metadata.managedFields`,
//!   `resourceVersion`, `uid`, `generation`, `creationTimestamp`,
//!   `selfLink`, deletion timestamps, and the annotations kubectl and
//!   controllers write (`kubectl.kubernetes.io/last-applied-configuration`,
//!   which would also carry a Secret's data, `deployment.kubernetes.io/revision`);
//! - the order of lists that Kubernetes merges by key (see
//!   [`listkeys`](super::listkeys)), which are sorted by key.
//!
//! An empty map, empty list or `null` compares equal to an absent field
//! ([`semantic_eq`]). Of two sides, [`align_empties`] drops the empty fields
//! the other side does not have, so the unified diff does not show them
//! either, while empty fields on both sides (`emptyDir: {}` means
//! something) stay in the YAML a reviewer reads.

use serde_json::{Map, Value};

use super::listkeys;

/// Annotations weir writes to remember where an object came from.
pub const TRACKING_ANNOTATIONS: &[&str] = &["weir.dev/source"];
/// Labels weir writes to remember which component owns an object.
pub const TRACKING_LABELS: &[&str] = &["weir.dev/component"];
/// Annotations written by kubectl and controllers, not by the repo.
pub const SERVER_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
];
/// `metadata` fields the API server owns.
pub const SERVER_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Normalises one object (see the module documentation).
pub fn normalize(mut value: Value) -> Value {
    if let Value::Object(object) = &mut value {
        object.remove("status");
        if let Some(Value::Object(metadata)) = object.get_mut("metadata") {
            for field in SERVER_METADATA {
                metadata.remove(*field);
            }
            strip_keys(metadata, "annotations", TRACKING_ANNOTATIONS);
            strip_keys(metadata, "annotations", SERVER_ANNOTATIONS);
            strip_keys(metadata, "labels", TRACKING_LABELS);
        }
    }
    sort_lists(&mut value, None);
    value
}

/// Removes `keys` from the map at `metadata[field]`, and the map itself
/// when that leaves it empty.
fn strip_keys(metadata: &mut Map<String, Value>, field: &str, keys: &[&str]) {
    let Some(Value::Object(map)) = metadata.get_mut(field) else {
        return;
    };
    let before = map.len();
    for key in keys {
        map.remove(*key);
    }
    if map.is_empty() && before > 0 {
        metadata.remove(field);
    }
}

/// Puts every keyed list and set into canonical order, depth first.
fn sort_lists(value: &mut Value, field: Option<&str>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                sort_lists(child, Some(key));
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                sort_lists(item, None);
            }
            listkeys::canonical_sort(field, items);
        }
        _ => {}
    }
}

/// `null`, `{}` and `[]`: values that mean the same as an absent field.
pub fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// Drops, on each side, the empty fields (`{}`, `[]`, `null`) that the
/// other side does not have, or has as a different empty value; matching
/// list elements by merge key as the field diff does. Both sides must be
/// [normalised](normalize).
pub fn align_empties(a: &mut Value, b: &mut Value) {
    align(None, a, b);
}

fn align(field: Option<&str>, a: &mut Value, b: &mut Value) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.retain(|k, v| !is_empty(v) || y.get(k).is_some_and(|w| w == v));
            y.retain(|k, w| !is_empty(w) || x.get(k).is_some_and(|v| v == w));
            for (k, v) in x.iter_mut() {
                if let Some(w) = y.get_mut(k) {
                    align(Some(k), v, w);
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            match (listkeys::list_kind(field, x), listkeys::list_kind(field, y)) {
                (listkeys::ListKind::Keyed(fa), listkeys::ListKind::Keyed(fb)) if fa == fb => {
                    let keys: std::collections::HashMap<_, usize> = y
                        .iter()
                        .enumerate()
                        .filter_map(|(i, w)| listkeys::element_key(fb, w).map(|k| (k, i)))
                        .collect();
                    for v in x.iter_mut() {
                        let partner = listkeys::element_key(fa, v).and_then(|k| keys.get(&k));
                        if let Some(&i) = partner
                            && let Some(w) = y.get_mut(i)
                        {
                            align(None, v, w);
                        }
                    }
                }
                _ if x.len() == y.len() => {
                    for (v, w) in x.iter_mut().zip(y.iter_mut()) {
                        align(None, v, w);
                    }
                }
                _ => {}
            }
        }
        _ => {}
    }
}

/// Equality that treats an empty map, an empty list, `null` and an absent
/// field as the same. Lists compare by position: sort them first
/// ([`normalize`]) so keyed lists compare by key.
pub fn semantic_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.iter().all(|(k, v)| match y.get(k) {
                Some(w) => semantic_eq(v, w),
                None => is_empty(v),
            }) && y.iter().all(|(k, w)| x.contains_key(k) || is_empty(w))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| semantic_eq(v, w))
        }
        _ => a == b || (is_empty(a) && is_empty(b)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn drops_tracking_and_server_fields() {
        let v = normalize(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": "x", "uid": "u", "resourceVersion": "1", "generation": 2,
                "creationTimestamp": "2024-01-01T00:00:00Z", "managedFields": [{}],
                "annotations": {"weir.dev/source": "a.yaml",
                    "kubectl.kubernetes.io/last-applied-configuration": "{}"},
                "labels": {"weir.dev/component": "c", "app": "x"}
            },
            "data": {"k": "v"},
            "status": {"phase": "x"}
        }));
        assert_eq!(
            v,
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "x", "labels": {"app": "x"}},
                "data": {"k": "v"}
            })
        );
    }

    #[test]
    fn keeps_maps_the_repo_wrote_empty() {
        let v = normalize(json!({"metadata": {"name": "x", "annotations": {}}}));
        assert_eq!(v, json!({"metadata": {"name": "x", "annotations": {}}}));
    }

    #[test]
    fn empty_equals_absent() {
        assert!(semantic_eq(
            &json!({"a": 1, "b": {}, "c": [], "d": null}),
            &json!({"a": 1})
        ));
        assert!(semantic_eq(&json!({"a": {"x": {}}}), &json!({"a": {}})));
        assert!(!semantic_eq(&json!({"a": [{}]}), &json!({})));
        assert!(!semantic_eq(&json!({"a": 0}), &json!({})));
        assert!(!semantic_eq(&json!({"a": ""}), &json!({})));
    }

    #[test]
    fn aligns_empties_with_the_other_side() {
        let mut a = json!({"spec": {"volumes": [], "containers": [{"name": "x", "env": [], "resources": {}}],
            "emptyDir": {}, "n": null}});
        let mut b = json!({"spec": {"containers": [{"name": "y"}, {"name": "x", "resources": {}}],
            "emptyDir": {}, "n": {}}});
        align_empties(&mut a, &mut b);
        assert_eq!(
            a,
            json!({"spec": {"containers": [{"name": "x", "resources": {}}], "emptyDir": {}}})
        );
        assert_eq!(
            b,
            json!({"spec": {"containers": [{"name": "y"}, {"name": "x", "resources": {}}],
            "emptyDir": {}}})
        );
    }

    #[test]
    fn sorts_keyed_lists_so_reorders_compare_equal() {
        let a = normalize(json!({"spec": {"containers": [{"name": "b"}, {"name": "a"}]}}));
        let b = normalize(json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}));
        assert!(semantic_eq(&a, &b));
        let a = normalize(json!({"args": ["b", "a"]}));
        let b = normalize(json!({"args": ["a", "b"]}));
        assert!(!semantic_eq(&a, &b));
    }
}
