//! Helm values as weir computes them: merging layers the way Helm does,
//! and reading and writing values by dotted path for `valuesFrom`.
//!
//! A chart component's values are built in this order, later layers
//! winning (Helm semantics: maps merge key by key, anything else is
//! replaced, `null` deletes a chart default):
//!
//! 1. the chart's own `values.yaml` (defaults),
//! 2. `valuesFiles`, in order,
//! 3. `valuesFrom`, in order,
//! 4. inline `values`.
//!
//! The *effective values* (layers 1–4, with `null`s removed) are what
//! another component's `valuesFrom` reads, like `helm get values --all`.

use serde_json::{Map, Value};

/// Merges `overlay` into `base` like Helm merges `-f` files: maps merge
/// recursively, every other value (including `null`) replaces.
pub fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (k, v) in overlay {
                match base.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        base.insert(k, v);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

/// Lays user values over chart defaults like Helm's coalescing: maps merge
/// recursively, a user `null` deletes the key, and no `null` is left.
pub fn coalesce(defaults: &mut Value, user: &Value) {
    match (defaults, user) {
        (Value::Object(base), Value::Object(user)) => {
            for (k, v) in user {
                if v.is_null() {
                    base.remove(k);
                    continue;
                }
                match base.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => coalesce(slot, v),
                    _ => {
                        base.insert(k.clone(), strip_nulls(v.clone()));
                    }
                }
            }
        }
        (base, user) => *base = strip_nulls(user.clone()),
    }
}

fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Splits a dotted path (`storage.nfs.server`) into keys; `""` or `.` is
/// the root (no keys).
pub fn keys(path: &str) -> Vec<&str> {
    path.split('.').filter(|k| !k.is_empty()).collect()
}

/// The value at a dotted path; a numeric key indexes a list.
pub fn get<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    keys(path).into_iter().try_fold(value, |v, key| match v {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// Writes `new` at a dotted path, creating maps on the way and replacing
/// anything in the way that is not a map. The root path replaces `value`
/// when `new` is not a map, and merges into it when it is.
pub fn set(value: &mut Value, path: &str, new: Value) {
    let keys = keys(path);
    let Some((last, parents)) = keys.split_last() else {
        merge(value, new);
        return;
    };
    let mut cursor = value;
    for key in parents {
        if !cursor.is_object() {
            *cursor = Value::Object(Map::new());
        }
        let Value::Object(map) = cursor else { return };
        cursor = map
            .entry((*key).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !cursor.is_object() {
        *cursor = Value::Object(Map::new());
    }
    if let Value::Object(map) = cursor {
        map.insert((*last).to_owned(), new);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn later_layers_win_and_maps_merge() {
        let mut v = json!({"a": {"b": 1, "c": [1, 2]}, "d": "x"});
        merge(&mut v, json!({"a": {"c": [3], "e": null}, "d": {"y": 1}}));
        assert_eq!(
            v,
            json!({"a": {"b": 1, "c": [3], "e": null}, "d": {"y": 1}})
        );
    }

    #[test]
    fn coalesce_deletes_defaults_on_null() {
        let mut defaults = json!({"a": {"b": 1, "c": 2}, "keep": true});
        coalesce(
            &mut defaults,
            &json!({"a": {"b": null, "n": {"x": null, "y": 1}}}),
        );
        assert_eq!(
            defaults,
            json!({"a": {"c": 2, "n": {"y": 1}}, "keep": true})
        );
    }

    #[test]
    fn dotted_paths() {
        let mut v = json!({"storage": {"nfs": {"server": "s"}}, "list": [{"a": 1}]});
        assert_eq!(get(&v, "storage.nfs.server"), Some(&json!("s")));
        assert_eq!(get(&v, "list.0.a"), Some(&json!(1)));
        assert_eq!(get(&v, ""), Some(&v.clone()));
        assert_eq!(get(&v, "storage.missing"), None);
        set(&mut v, "db.conn.host", json!("h"));
        set(&mut v, "storage.nfs", json!(7));
        assert_eq!(v["db"], json!({"conn": {"host": "h"}}));
        assert_eq!(v["storage"], json!({"nfs": 7}));
        set(&mut v, "storage.nfs.x", json!(1));
        assert_eq!(v["storage"], json!({"nfs": {"x": 1}}));
    }
}
