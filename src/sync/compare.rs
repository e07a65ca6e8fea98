//! Does the live object already hold what weir would apply? Pure
//! comparisons that let a sync skip objects without sending any request.
//!
//! [`in_sync`] is the fast path, decided from the live object alone:
//!
//! 1. every value weir wants is in the live object (a subset comparison:
//!    the server adds defaults and status, and other managers add fields);
//! 2. weir's own managed-fields entry (the `Apply` entry of its field
//!    manager) claims no field that the desired object no longer has, so a
//!    server-side apply would not remove anything.
//!
//! When it says "maybe not" (the server normalised a value, e.g. a quantity
//! `1000m` stored as `1`, or a Secret's `stringData`), the apply layer asks
//! the server with a dry-run apply and compares the result with
//! [`same_object`]; only a real difference leads to a real apply.

use serde_json::{Map, Value};

/// Why the fast path could not prove an object unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// weir has no `Apply` entry in the object's managed fields (the object
    /// was created by someone else, or weir's entry is for another version).
    NotManaged,
    /// A desired value differs from (or is missing in) the live object.
    Value { path: String },
    /// weir manages a field the desired object no longer sets: applying
    /// removes it.
    Removed { path: String },
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Drift::NotManaged => f.write_str("not yet applied by weir"),
            Drift::Value { path } => write!(f, "{path} differs"),
            Drift::Removed { path } => write!(f, "{path} is no longer in the repo"),
        }
    }
}

/// Decides without a request whether applying `desired` as `manager` would
/// change `live`. `Ok(())` means it certainly would not.
pub fn in_sync(desired: &Value, live: &Value, manager: &str) -> Result<(), Drift> {
    let api_version = desired.get("apiVersion").and_then(Value::as_str);
    let entry = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .and_then(|entries| {
            entries.iter().find(|e| {
                e.get("manager").and_then(Value::as_str) == Some(manager)
                    && e.get("operation").and_then(Value::as_str) == Some("Apply")
                    && e.get("subresource")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .is_empty()
            })
        })
        .ok_or(Drift::NotManaged);
    let entry = match entry {
        Ok(entry) => entry,
        // Applying an object that sets nothing but its identity leaves no
        // managed-fields entry: there is nothing to compare but presence.
        Err(_) if !has_own_fields(desired) => return Ok(()),
        Err(e) => return Err(e),
    };
    if api_version.is_some() && entry.get("apiVersion").and_then(Value::as_str) != api_version {
        return Err(Drift::NotManaged);
    }
    let mut path = String::new();
    if !subset(desired, live, &mut path) {
        return Err(Drift::Value { path });
    }
    let empty = Map::new();
    let fields = entry
        .get("fieldsV1")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut path = String::new();
    if !claimed_fields_desired(fields, desired, &mut path) {
        return Err(Drift::Removed { path });
    }
    Ok(())
}

/// True when the object sets anything besides `apiVersion`, `kind`,
/// `metadata.name` and `metadata.namespace`.
fn has_own_fields(desired: &Value) -> bool {
    let Some(map) = desired.as_object() else {
        return false;
    };
    map.iter().any(|(k, v)| match k.as_str() {
        "apiVersion" | "kind" => false,
        "metadata" => v.as_object().is_some_and(|m| {
            m.iter()
                .any(|(k, v)| !matches!(k.as_str(), "name" | "namespace") && !is_empty(v))
        }),
        _ => !is_empty(v),
    })
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// True when every value of `desired` is in `live`. Objects compare key by
/// key, arrays element by element (same length), `null` in `desired` means
/// "not set" and matches anything. On a mismatch `path` names where.
fn subset(desired: &Value, live: &Value, path: &mut String) -> bool {
    match (desired, live) {
        (Value::Null, _) => true,
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, dv)| {
            let len = path.len();
            path.push('.');
            path.push_str(k);
            let ok = match l.get(k) {
                Some(lv) => subset(dv, lv, path),
                None => dv.is_null(),
            };
            if ok {
                path.truncate(len);
            }
            ok
        }),
        (Value::Array(d), Value::Array(l)) => {
            if d.len() != l.len() {
                return false;
            }
            d.iter().zip(l).enumerate().all(|(i, (dv, lv))| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let ok = subset(dv, lv, path);
                if ok {
                    path.truncate(len);
                }
                ok
            })
        }
        (Value::Number(d), Value::Number(l)) => d == l || d.as_f64() == l.as_f64(),
        // Quantities written as numbers come back as strings (`cpu: 1`).
        (Value::Number(d), Value::String(l)) => &d.to_string() == l,
        (d, l) => d == l,
    }
}

/// True when every field in weir's managed set (`fieldsV1`) is still in
/// `desired`. Keys are `f:<field>`, `k:<json key of a list item>`,
/// `v:<json value of a set item>`, `i:<index>` and `.` (the node itself).
fn claimed_fields_desired(fields: &Map<String, Value>, desired: &Value, path: &mut String) -> bool {
    for (key, sub) in fields {
        let len = path.len();
        let children = sub.as_object().filter(|m| m.keys().any(|k| k != "."));
        let ok = if key == "." {
            true
        } else if let Some(name) = key.strip_prefix("f:") {
            path.push('.');
            path.push_str(name);
            match desired.get(name) {
                None | Some(Value::Null) => false,
                Some(child) => children.is_none_or(|c| claimed_fields_desired(c, child, path)),
            }
        } else if let Some(item_key) = key.strip_prefix("k:") {
            path.push_str(&format!("[{item_key}]"));
            let Ok(Value::Object(item_key)) = serde_json::from_str::<Value>(item_key) else {
                return false;
            };
            let item = desired.as_array().and_then(|items| {
                items.iter().find(|item| {
                    // The server records defaulted key fields (a port's
                    // `protocol: TCP`) that the desired item may omit.
                    item_key
                        .iter()
                        .all(|(k, v)| item.get(k).is_none_or(|iv| key_value_eq(iv, v)))
                })
            });
            match item {
                None => false,
                Some(item) => children.is_none_or(|c| claimed_fields_desired(c, item, path)),
            }
        } else if let Some(value) = key.strip_prefix("v:") {
            path.push_str(&format!("[{value}]"));
            match serde_json::from_str::<Value>(value) {
                Ok(value) => desired
                    .as_array()
                    .is_some_and(|items| items.iter().any(|i| key_value_eq(i, &value))),
                Err(_) => false,
            }
        } else if let Some(index) = key.strip_prefix("i:") {
            path.push_str(&format!("[{index}]"));
            match index.parse::<usize>().ok().and_then(|i| desired.get(i)) {
                None => false,
                Some(item) => children.is_none_or(|c| claimed_fields_desired(c, item, path)),
            }
        } else {
            // A key format weir does not know: be safe, let the server decide.
            false
        };
        if !ok {
            return false;
        }
        path.truncate(len);
    }
    true
}

fn key_value_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// True when a dry-run result equals the live object: same content, same
/// field ownership. Ignores what a no-op apply may report differently:
/// `resourceVersion`, `generation` and the timestamps of managed fields.
pub fn same_object(dry_run: &Value, live: &Value) -> bool {
    normalise(dry_run) == normalise(live)
}

fn normalise(value: &Value) -> Value {
    let mut value = value.clone();
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
        meta.remove("generation");
        if let Some(Value::Array(entries)) = meta.get_mut("managedFields") {
            for entry in entries.iter_mut() {
                if let Some(e) = entry.as_object_mut() {
                    e.remove("time");
                }
            }
            entries.sort_by_key(|e| e.to_string());
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn live(fields: Value, body: Value) -> Value {
        let mut v = body;
        v["metadata"]["managedFields"] = json!([{
            "manager": "weir", "operation": "Apply", "apiVersion": "v1",
            "fieldsType": "FieldsV1", "fieldsV1": fields
        }]);
        v["metadata"]["resourceVersion"] = json!("42");
        v
    }

    fn cm(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "n"}, "data": data})
    }

    #[test]
    fn unchanged_config_map() {
        let desired = cm(json!({"k": "v"}));
        let l = live(
            json!({"f:data": {".": {}, "f:k": {}}}),
            cm(json!({"k": "v"})),
        );
        assert_eq!(in_sync(&desired, &l, "weir"), Ok(()));
    }

    #[test]
    fn identity_only_objects_have_no_entry() {
        let desired =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}});
        let live = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo",
            "labels": {"kubernetes.io/metadata.name": "demo"}}, "spec": {"finalizers": ["kubernetes"]}});
        assert_eq!(in_sync(&desired, &live, "weir"), Ok(()));
        let labelled = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo", "labels": {"a": "b"}}});
        assert_eq!(in_sync(&labelled, &live, "weir"), Err(Drift::NotManaged));
    }

    #[test]
    fn changed_value() {
        let desired = cm(json!({"k": "new"}));
        let l = live(json!({"f:data": {"f:k": {}}}), cm(json!({"k": "v"})));
        assert_eq!(
            in_sync(&desired, &l, "weir"),
            Err(Drift::Value {
                path: ".data.k".into()
            })
        );
    }

    #[test]
    fn removed_field_is_drift() {
        let desired = cm(json!({"k": "v"}));
        let l = live(
            json!({"f:data": {"f:k": {}, "f:old": {}}}),
            cm(json!({"k": "v", "old": "x"})),
        );
        assert_eq!(
            in_sync(&desired, &l, "weir"),
            Err(Drift::Removed {
                path: ".data.old".into()
            })
        );
    }

    #[test]
    fn fields_of_other_managers_are_fine() {
        let desired = cm(json!({"k": "v"}));
        let l = live(
            json!({"f:data": {"f:k": {}}}),
            cm(json!({"k": "v", "other": "x"})),
        );
        assert_eq!(in_sync(&desired, &l, "weir"), Ok(()));
    }

    #[test]
    fn not_managed_without_entry() {
        let desired = cm(json!({"k": "v"}));
        assert_eq!(
            in_sync(&desired, &cm(json!({"k": "v"})), "weir"),
            Err(Drift::NotManaged)
        );
    }

    #[test]
    fn associative_lists_with_defaulted_keys() {
        let desired = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]}});
        let mut l = desired.clone();
        l["spec"]["containers"][0]["ports"][0]["protocol"] = json!("TCP");
        l["spec"]["containers"][0]["imagePullPolicy"] = json!("IfNotPresent");
        let fields = json!({"f:spec": {"f:containers": {
            "k:{\"name\":\"c\"}": {".": {}, "f:image": {}, "f:name": {},
                "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}
        }}});
        let l = live(fields.clone(), l);
        assert_eq!(in_sync(&desired, &l, "weir"), Ok(()));

        // The container was renamed: weir still claims the old one.
        let mut renamed = desired.clone();
        renamed["spec"]["containers"][0]["name"] = json!("d");
        assert!(matches!(
            in_sync(&renamed, &l, "weir"),
            Err(Drift::Value { .. })
        ));
    }

    #[test]
    fn set_lists() {
        let desired = json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "x"}, "finalizers": ["a"]});
        let l = live(
            json!({"f:finalizers": {"v:\"a\"": {}, "v:\"b\"": {}}}),
            json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "x"}, "finalizers": ["a"]}),
        );
        assert!(matches!(
            in_sync(&desired, &l, "weir"),
            Err(Drift::Removed { .. })
        ));
    }

    #[test]
    fn numbers_and_quantities() {
        let desired = cm(json!({"n": 1}));
        let l = live(json!({"f:data": {"f:n": {}}}), cm(json!({"n": "1"})));
        assert_eq!(in_sync(&desired, &l, "weir"), Ok(()));
        let desired = cm(json!({"n": 1.0}));
        let l = live(json!({"f:data": {"f:n": {}}}), cm(json!({"n": 1})));
        assert_eq!(in_sync(&desired, &l, "weir"), Ok(()));
    }

    #[test]
    fn dry_run_comparison_ignores_bookkeeping() {
        let a = json!({"metadata": {"name": "a", "resourceVersion": "1", "managedFields": [
            {"manager": "weir", "time": "2024-01-01T00:00:00Z", "fieldsV1": {"f:data": {}}}]}, "data": {"k": "v"}});
        let mut b = a.clone();
        b["metadata"]["resourceVersion"] = json!("2");
        b["metadata"]["managedFields"][0]["time"] = json!("2025-01-01T00:00:00Z");
        assert!(same_object(&a, &b));
        b["data"]["k"] = json!("w");
        assert!(!same_object(&a, &b));
    }
}
