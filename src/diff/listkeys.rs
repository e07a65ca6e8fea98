//! Which lists are maps in disguise: the merge keys of Kubernetes lists.
//!
//! Kubernetes merges many lists by a key field rather than by position
//! (`x-kubernetes-list-map-keys` / `x-kubernetes-patch-merge-key` in its
//! OpenAPI): containers by `name`, container ports by `containerPort` and
//! `protocol`, volume mounts by `mountPath`... The diff matches elements of
//! such lists by key, so reordering them is not a change, and names them by
//! key in paths (`containers[name=api]`).
//!
//! The keys come from a built-in table by field name, checked against the
//! list's content: a key applies only when every element has it and no two
//! elements share it, otherwise the list is compared by position. Lists of
//! scalars with set semantics (`finalizers`) are compared as sets.

use std::collections::HashSet;

use serde_json::Value;

/// One field of a merge key, with the value the API server defaults it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyField {
    pub name: &'static str,
    /// Value assumed when the element leaves the field out (`protocol`
    /// defaults to `TCP`); `None` means the field is required.
    pub default: Option<&'static str>,
}

const fn req(name: &'static str) -> KeyField {
    KeyField {
        name,
        default: None,
    }
}

const fn tcp(name: &'static str) -> KeyField {
    KeyField {
        name,
        default: Some("TCP"),
    }
}

/// How a list is matched between two sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// By the values of these key fields.
    Keyed(&'static [KeyField]),
    /// As a set of scalars: order does not matter.
    Set,
    /// By position.
    Positional,
}

const NAME: &[KeyField] = &[req("name")];

/// Field name → candidate keys, tried in order.
const TABLE: &[(&str, &[&[KeyField]])] = &[
    ("containers", &[NAME]),
    ("initContainers", &[NAME]),
    ("ephemeralContainers", &[NAME]),
    (
        "ports",
        &[
            &[req("containerPort"), tcp("protocol")],
            &[req("port"), tcp("protocol")],
            NAME,
        ],
    ),
    ("env", &[NAME]),
    ("volumes", &[NAME]),
    ("volumeMounts", &[&[req("mountPath")]]),
    ("volumeDevices", &[&[req("devicePath")]]),
    ("imagePullSecrets", &[NAME]),
    ("secrets", &[NAME]),
    ("hostAliases", &[&[req("ip")]]),
    ("conditions", &[&[req("type")]]),
    ("ownerReferences", &[&[req("uid")]]),
    (
        "topologySpreadConstraints",
        &[&[req("topologyKey"), req("whenUnsatisfiable")]],
    ),
    ("resourceClaims", &[NAME]),
    ("schedulingGates", &[NAME]),
    ("readinessGates", &[&[req("conditionType")]]),
    ("webhooks", &[NAME]),
    ("versions", &[NAME]),
];

/// Lists of scalars whose order means nothing.
const SETS: &[&str] = &["finalizers"];

/// A key value, ordered numbers first (numerically), then text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Atom {
    Int(i64),
    Text(String),
}

impl Atom {
    fn of(value: &Value) -> Option<Atom> {
        match value {
            Value::Number(n) => match n.as_i64() {
                Some(i) => Some(Atom::Int(i)),
                None => Some(Atom::Text(n.to_string())),
            },
            Value::String(s) => Some(Atom::Text(s.clone())),
            Value::Bool(b) => Some(Atom::Text(b.to_string())),
            _ => None,
        }
    }

    fn display(&self) -> String {
        match self {
            Atom::Int(i) => i.to_string(),
            Atom::Text(s) => s.clone(),
        }
    }
}

/// The key of one element: its key values, in key-field order.
pub type ElementKey = Vec<Atom>;

/// The key of an element under `fields`, or `None` when it lacks one.
pub fn element_key(fields: &[KeyField], item: &Value) -> Option<ElementKey> {
    let map = item.as_object()?;
    fields
        .iter()
        .map(|f| match map.get(f.name) {
            Some(v) => Atom::of(v),
            None => f.default.map(|d| Atom::Text(d.to_owned())),
        })
        .collect()
}

/// The `[k=v,...]` form of an element's key: fields at their default are
/// left out, unless all are.
pub fn key_label(fields: &[KeyField], key: &ElementKey) -> Vec<(String, String)> {
    let mut parts: Vec<(String, String)> = fields
        .iter()
        .zip(key)
        .filter(|(f, atom)| match (f.default, atom) {
            (Some(d), Atom::Text(t)) => t != d,
            _ => true,
        })
        .map(|(f, atom)| (f.name.to_owned(), atom.display()))
        .collect();
    if parts.is_empty() {
        parts = fields
            .iter()
            .zip(key)
            .map(|(f, atom)| (f.name.to_owned(), atom.display()))
            .collect();
    }
    parts
}

/// How the list held by map key `field` is matched, given its elements.
pub fn list_kind(field: Option<&str>, items: &[Value]) -> ListKind {
    let Some(field) = field else {
        return ListKind::Positional;
    };
    if SETS.contains(&field) && items.iter().all(|v| Atom::of(v).is_some()) {
        return ListKind::Set;
    }
    let Some((_, candidates)) = TABLE.iter().find(|(name, _)| *name == field) else {
        return ListKind::Positional;
    };
    candidates
        .iter()
        .find(|fields| keys_are_unique(fields, items))
        .map_or(ListKind::Positional, |fields| ListKind::Keyed(fields))
}

fn keys_are_unique(fields: &[KeyField], items: &[Value]) -> bool {
    let mut seen = HashSet::with_capacity(items.len());
    items.iter().all(|item| {
        // A key made only of defaults says nothing about the element.
        let has_required = fields
            .iter()
            .any(|f| f.default.is_none() && item.get(f.name).is_some());
        has_required && element_key(fields, item).is_some_and(|key| seen.insert(key))
    })
}

/// Sorts a list into its canonical order: keyed lists by key, sets by
/// value; positional lists stay as they are.
pub fn canonical_sort(field: Option<&str>, items: &mut [Value]) {
    match list_kind(field, items) {
        ListKind::Keyed(fields) => {
            items.sort_by_cached_key(|item| element_key(fields, item));
        }
        ListKind::Set => items.sort_by_cached_key(Atom::of),
        ListKind::Positional => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn items(v: Value) -> Vec<Value> {
        v.as_array().cloned().unwrap()
    }

    #[test]
    fn containers_are_keyed_by_name() {
        let list = items(json!([{"name": "b"}, {"name": "a"}]));
        assert_eq!(list_kind(Some("containers"), &list), ListKind::Keyed(NAME));
    }

    #[test]
    fn ports_pick_the_key_their_elements_have() {
        let container =
            items(json!([{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}]));
        let ListKind::Keyed(fields) = list_kind(Some("ports"), &container) else {
            panic!("not keyed")
        };
        assert_eq!(fields[0].name, "containerPort");
        let service = items(json!([{"port": 80, "targetPort": 8080}]));
        let ListKind::Keyed(fields) = list_kind(Some("ports"), &service) else {
            panic!("not keyed")
        };
        assert_eq!(fields[0].name, "port");
        let key = element_key(fields, &service[0]).unwrap();
        assert_eq!(key_label(fields, &key), vec![("port".into(), "80".into())]);
    }

    #[test]
    fn duplicate_or_missing_keys_fall_back_to_position() {
        let dup = items(json!([{"name": "a"}, {"name": "a"}]));
        assert_eq!(list_kind(Some("env"), &dup), ListKind::Positional);
        let missing = items(json!([{"name": "a"}, {"value": "x"}]));
        assert_eq!(list_kind(Some("env"), &missing), ListKind::Positional);
        assert_eq!(
            list_kind(Some("args"), &items(json!(["a"]))),
            ListKind::Positional
        );
        assert_eq!(
            list_kind(None, &items(json!([{"name": "a"}]))),
            ListKind::Positional
        );
    }

    #[test]
    fn sorts_numerically_and_sets() {
        let mut ports =
            items(json!([{"containerPort": 8080}, {"containerPort": 443}, {"containerPort": 80}]));
        canonical_sort(Some("ports"), &mut ports);
        assert_eq!(
            ports,
            items(json!([{"containerPort": 80}, {"containerPort": 443}, {"containerPort": 8080}]))
        );
        let mut fin = items(json!(["b", "a"]));
        canonical_sort(Some("finalizers"), &mut fin);
        assert_eq!(fin, items(json!(["a", "b"])));
        let mut args = items(json!(["b", "a"]));
        canonical_sort(Some("args"), &mut args);
        assert_eq!(args, items(json!(["b", "a"])));
    }
}
