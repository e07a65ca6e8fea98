//! Field-level changes between two normalised values, as paths:
//! `spec.template.spec.containers[name=api].image: v1 -> v2`.
//!
//! Maps are compared key by key; lists with a merge key element by key
//! (so a reorder is not a change); other lists by position, aligned with a
//! longest-common-subsequence diff when their lengths differ, so inserting
//! one argument reports one addition rather than a cascade of changes.
//! Indices of removed elements are the base's, all others the head's.
//! An empty map, empty list or `null` counts as absent.

use serde_json::Value;
use similar::{Algorithm, DiffOp, capture_diff_slices};

use super::listkeys::{self, ListKind};
use super::model::{Change, FieldChange};
use super::normalize::{is_empty, semantic_eq};
use super::path::{Path, Segment};

/// Decides which paths hold values that must never be shown.
pub type Sensitive<'a> = &'a dyn Fn(&Path) -> bool;

/// The changed fields from `base` to `head`, in path order. Values at paths
/// for which `sensitive` is true are left out (`redacted: true`); an added
/// or removed sensitive map is reported key by key, by name only.
pub fn field_changes(base: &Value, head: &Value, sensitive: Sensitive<'_>) -> Vec<FieldChange> {
    let mut walker = Walker {
        sensitive,
        path: Path::root(),
        out: Vec::new(),
    };
    walker.walk(None, base, head);
    walker.out
}

struct Walker<'a> {
    sensitive: Sensitive<'a>,
    path: Path,
    out: Vec<FieldChange>,
}

impl Walker<'_> {
    fn walk(&mut self, field: Option<&str>, a: &Value, b: &Value) {
        if semantic_eq(a, b) {
            return;
        }
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for key in keys {
                    self.path.push(Segment::Field(key.clone()));
                    match (x.get(key), y.get(key)) {
                        (Some(v), Some(w)) => self.walk(Some(key), v, w),
                        (Some(v), None) if !is_empty(v) => {
                            self.emit(Change::Removed, Some(v), None);
                        }
                        (None, Some(w)) if !is_empty(w) => self.emit(Change::Added, None, Some(w)),
                        _ => {}
                    }
                    self.path.pop();
                }
            }
            (Value::Array(x), Value::Array(y)) => self.walk_lists(field, x, y),
            _ if is_empty(a) => self.emit(Change::Added, None, Some(b)),
            _ if is_empty(b) => self.emit(Change::Removed, Some(a), None),
            _ => self.emit(Change::Changed, Some(a), Some(b)),
        }
    }

    fn walk_lists(&mut self, field: Option<&str>, x: &[Value], y: &[Value]) {
        match (listkeys::list_kind(field, x), listkeys::list_kind(field, y)) {
            (ListKind::Keyed(fa), ListKind::Keyed(fb)) if fa == fb => self.walk_keyed(fa, x, y),
            (ListKind::Set, ListKind::Set) => {
                self.emit(
                    Change::Changed,
                    Some(&Value::from(x)),
                    Some(&Value::from(y)),
                );
            }
            _ => self.walk_positional(x, y),
        }
    }

    fn walk_keyed(&mut self, fields: &'static [listkeys::KeyField], x: &[Value], y: &[Value]) {
        let index = |items: &[Value]| -> std::collections::BTreeMap<listkeys::ElementKey, usize> {
            items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| listkeys::element_key(fields, v).map(|k| (k, i)))
                .collect()
        };
        let (ix, iy) = (index(x), index(y));
        let mut keys: Vec<&listkeys::ElementKey> = ix.keys().chain(iy.keys()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            self.path
                .push(Segment::Key(listkeys::key_label(fields, key)));
            match (ix.get(key), iy.get(key)) {
                (Some(&i), Some(&j)) => self.walk(None, &x[i], &y[j]),
                (Some(&i), None) => self.emit(Change::Removed, Some(&x[i]), None),
                (None, Some(&j)) => self.emit(Change::Added, None, Some(&y[j])),
                (None, None) => {}
            }
            self.path.pop();
        }
    }

    fn walk_positional(&mut self, x: &[Value], y: &[Value]) {
        if x.len() == y.len() {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                self.at(i, |me| me.walk(None, v, w));
            }
            return;
        }
        let xs: Vec<String> = x.iter().map(Value::to_string).collect();
        let ys: Vec<String> = y.iter().map(Value::to_string).collect();
        for op in capture_diff_slices(Algorithm::Myers, &xs, &ys) {
            match op {
                DiffOp::Equal { .. } => {}
                DiffOp::Delete {
                    old_index, old_len, ..
                } => self.removed(x, old_index, old_len),
                DiffOp::Insert {
                    new_index, new_len, ..
                } => self.added(y, new_index, new_len),
                DiffOp::Replace {
                    old_index,
                    old_len,
                    new_index,
                    new_len,
                } => {
                    let paired = old_len.min(new_len);
                    for k in 0..paired {
                        let (v, w) = (&x[old_index + k], &y[new_index + k]);
                        self.at(new_index + k, |me| me.walk(None, v, w));
                    }
                    self.removed(x, old_index + paired, old_len - paired);
                    self.added(y, new_index + paired, new_len - paired);
                }
            }
        }
    }

    fn removed(&mut self, x: &[Value], from: usize, len: usize) {
        for (i, v) in x.iter().enumerate().skip(from).take(len) {
            self.at(i, |me| me.emit(Change::Removed, Some(v), None));
        }
    }

    fn added(&mut self, y: &[Value], from: usize, len: usize) {
        for (i, w) in y.iter().enumerate().skip(from).take(len) {
            self.at(i, |me| me.emit(Change::Added, None, Some(w)));
        }
    }

    fn at(&mut self, index: usize, f: impl FnOnce(&mut Self)) {
        self.path.push(Segment::Index(index));
        f(self);
        self.path.pop();
    }

    fn emit(&mut self, change: Change, old: Option<&Value>, new: Option<&Value>) {
        if !(self.sensitive)(&self.path) {
            self.out.push(FieldChange {
                path: self.path.to_string(),
                change,
                old: old.cloned(),
                new: new.cloned(),
                redacted: false,
            });
            return;
        }
        // A whole sensitive map added or removed: list its keys by name.
        let whole = match change {
            Change::Added => new,
            Change::Removed => old,
            Change::Changed => None,
        };
        if let Some(Value::Object(map)) = whole
            && !map.is_empty()
        {
            for key in map.keys() {
                self.path.push(Segment::Field(key.clone()));
                self.out.push(redacted(&self.path, change));
                self.path.pop();
            }
            return;
        }
        self.out.push(redacted(&self.path, change));
    }
}

fn redacted(path: &Path, change: Change) -> FieldChange {
    FieldChange {
        path: path.to_string(),
        change,
        old: None,
        new: None,
        redacted: true,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::diff::normalize::normalize;

    fn lines(base: Value, head: Value) -> Vec<String> {
        let never = |_: &Path| false;
        field_changes(&normalize(base), &normalize(head), &never)
            .into_iter()
            .map(|c| {
                let show = |v: &Option<Value>| v.as_ref().map_or("-".to_owned(), Value::to_string);
                format!(
                    "{} {} {} {}",
                    c.change.as_str(),
                    c.path,
                    show(&c.old),
                    show(&c.new)
                )
            })
            .collect()
    }

    #[test]
    fn container_image_by_name() {
        let base = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "sidecar", "image": "s:1"}, {"name": "api", "image": "api:v1"}]}}}});
        let head = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "api", "image": "api:v2"}, {"name": "sidecar", "image": "s:1"}]}}}});
        assert_eq!(
            lines(base, head),
            vec![r#"changed spec.template.spec.containers[name=api].image "api:v1" "api:v2""#]
        );
    }

    #[test]
    fn ports_env_mounts_by_key() {
        let base = json!({"c": {"ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}],
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            "volumeMounts": [{"mountPath": "/a", "name": "x"}]}});
        let head = json!({"c": {"ports": [{"containerPort": 53, "protocol": "UDP", "name": "dns"}, {"containerPort": 80}],
            "env": [{"name": "B", "value": "3"}],
            "volumeMounts": [{"mountPath": "/a", "name": "y"}]}});
        assert_eq!(
            lines(base, head),
            vec![
                r#"removed c.env[name=A] {"name":"A","value":"1"} -"#,
                r#"changed c.env[name=B].value "2" "3""#,
                r#"added c.ports[containerPort=53,protocol=UDP].name - "dns""#,
                r#"changed c.volumeMounts[mountPath=/a].name "x" "y""#,
            ]
        );
    }

    #[test]
    fn positional_lists_align_insertions() {
        assert_eq!(
            lines(
                json!({"args": ["a", "b", "c"]}),
                json!({"args": ["a", "x", "b", "c"]})
            ),
            vec![r#"added args[1] - "x""#]
        );
        assert_eq!(
            lines(json!({"args": ["a", "b"]}), json!({"args": ["a", "c"]})),
            vec![r#"changed args[1] "b" "c""#]
        );
        assert_eq!(
            lines(json!({"args": ["a", "b", "c"]}), json!({"args": ["c"]})),
            vec![r#"removed args[0] "a" -"#, r#"removed args[1] "b" -"#]
        );
    }

    #[test]
    fn empty_and_absent_are_not_changes() {
        assert!(lines(json!({"a": {}, "b": 1}), json!({"b": 1, "c": []})).is_empty());
        assert_eq!(
            lines(json!({"a": [], "b": 1}), json!({"b": 2})),
            vec!["changed b 1 2"]
        );
        assert_eq!(
            lines(json!({"a": null}), json!({"a": {"x": 1}})),
            vec![r#"added a {"x":1} -"#.replace(" {\"x\":1} -", " - {\"x\":1}")]
        );
    }

    #[test]
    fn sensitive_paths_show_names_only() {
        let sensitive = |p: &Path| p.fields().next() == Some("data");
        let changes = field_changes(
            &json!({"data": {"a": "(old value hidden)"}}),
            &json!({"data": {"a": "(changed)"}, "type": "Opaque"}),
            &sensitive,
        );
        assert_eq!(changes.len(), 2);
        assert!(changes[0].redacted && changes[0].old.is_none() && changes[0].new.is_none());
        assert_eq!(changes[0].path, "data.a");
        let changes = field_changes(
            &json!({}),
            &json!({"data": {"a": "x", "b": "y"}}),
            &sensitive,
        );
        let paths: Vec<_> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, vec!["data.a", "data.b"]);
        assert!(changes.iter().all(|c| c.redacted && c.new.is_none()));
    }
}
