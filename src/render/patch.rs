//! A component's `patches` applied to its rendered objects: a selector
//! picks the targets ([`Selector::matches`](crate::spec::model::Selector::matches),
//! the same rule as pruning and health overrides), then a JSON merge patch (RFC 7386) or a JSON Patch
//! (RFC 6902) changes each of them.
//!
//! Patches run after namespace defaulting (so a target's `namespace`
//! matches the namespace the object will have) and before weir adds its
//! tracking labels (so a patch cannot remove them).

use serde::Deserialize as _;
use serde_json::Value;

use crate::budget::{self, Budget, Exhausted};
use crate::spec::model::Patch;

/// Why a patch could not be applied to an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchFailure {
    /// `json` is not a list of JSON Patch operations.
    BadOperations(String),
    /// An operation failed (a path that does not exist, a failed `test`).
    Failed(String),
    /// Both or neither of `merge` and `json` are given.
    NotExactlyOne,
    /// What the patch adds (JSON Patch operation `op`, or the merge patch
    /// when `None`) would take the run past its budget; nothing more is
    /// applied.
    Budget {
        op: Option<usize>,
        exhausted: Exhausted,
    },
}

/// A patch ready to be applied to many objects: its JSON Patch operations
/// are parsed once.
#[derive(Debug)]
pub enum Prepared<'a> {
    Merge(&'a Value),
    Json(Vec<json_patch::PatchOperation>),
}

/// Parses a patch's operations.
pub fn prepare(patch: &Patch) -> Result<Prepared<'_>, PatchFailure> {
    match (&patch.merge, &patch.json) {
        (Some(merge), None) => Ok(Prepared::Merge(merge)),
        (None, Some(ops)) => ops
            .iter()
            .map(json_patch::PatchOperation::deserialize)
            .collect::<Result<Vec<_>, _>>()
            .map(Prepared::Json)
            .map_err(|e| PatchFailure::BadOperations(e.to_string())),
        _ => Err(PatchFailure::NotExactlyOne),
    }
}

/// Applies one prepared patch to one object's value, charging what each
/// operation adds to `budget` before it runs: a patch that copies an
/// object into itself again and again is stopped at the operation that
/// passes the budget, not after it took all memory. On failure `value` may
/// be half patched: patch a copy.
pub fn apply(patch: &Prepared<'_>, value: &mut Value, budget: &Budget) -> Result<(), PatchFailure> {
    match patch {
        Prepared::Merge(merge) => {
            budget
                .charge_value(merge)
                .map_err(|exhausted| PatchFailure::Budget {
                    op: None,
                    exhausted,
                })?;
            json_patch::merge(value, merge);
            Ok(())
        }
        Prepared::Json(ops) => {
            for (i, op) in ops.iter().enumerate() {
                let cap = budget.remaining().saturating_add(1);
                let adds = match op {
                    json_patch::PatchOperation::Add(add) => budget::weight(&add.value, cap),
                    json_patch::PatchOperation::Replace(r) => budget::weight(&r.value, cap),
                    json_patch::PatchOperation::Copy(copy) => value
                        .pointer(copy.from.as_str())
                        .map_or(0, |from| budget::weight(from, cap)),
                    _ => 0,
                };
                budget
                    .charge(adds)
                    .map_err(|exhausted| PatchFailure::Budget {
                        op: Some(i),
                        exhausted,
                    })?;
                json_patch::patch_unsafe(value, std::slice::from_ref(op))
                    .map_err(|e| PatchFailure::Failed(format!("operation {i}: {e}")))?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::budget::Limits;
    use crate::object::ObjectRef;
    use crate::render::object::RenderedObject;
    use crate::spec::model::Selector;

    fn object(value: Value) -> RenderedObject {
        RenderedObject {
            component: "c".into(),
            source_file: "f.yaml".into(),
            source_span: None,
            id: ObjectRef::from_value(&value).unwrap(),
            value,
            wave: None,
            implied: false,
        }
    }

    #[test]
    fn selects_by_kind_name_and_labels() {
        let o = object(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "n", "labels": {"app": "x"}}}),
        );
        let mut sel = Selector {
            kind: Some("Service".into()),
            ..Default::default()
        };
        assert!(o.selected_by(&sel));
        sel.labels.insert("app".into(), "x".into());
        assert!(o.selected_by(&sel));
        sel.labels.insert("app".into(), "y".into());
        assert!(!o.selected_by(&sel));
        let sel = Selector {
            group: Some("apps".into()),
            ..Default::default()
        };
        assert!(!o.selected_by(&sel));
    }

    #[test]
    fn merge_and_json_patches() {
        let mut v = json!({"spec": {"a": 1, "b": 2}});
        let merge = Patch {
            target: Selector::default(),
            merge: Some(json!({"spec": {"a": null, "c": 3}})),
            json: None,
        };
        let budget = Budget::default();
        apply(&prepare(&merge).unwrap(), &mut v, &budget).unwrap();
        assert_eq!(v, json!({"spec": {"b": 2, "c": 3}}));
        let json_ops = Patch {
            target: Selector::default(),
            merge: None,
            json: Some(vec![
                json!({"op": "replace", "path": "/spec/b", "value": 5}),
            ]),
        };
        apply(&prepare(&json_ops).unwrap(), &mut v, &budget).unwrap();
        assert_eq!(v["spec"]["b"], 5);
        let failing = Patch {
            target: Selector::default(),
            merge: None,
            json: Some(vec![json!({"op": "remove", "path": "/spec/zzz"})]),
        };
        assert!(matches!(
            apply(&prepare(&failing).unwrap(), &mut v, &budget),
            Err(PatchFailure::Failed(_))
        ));
        assert_eq!(v["spec"]["b"], 5);
    }

    #[test]
    fn copies_that_double_the_object_stop_at_the_budget() {
        let ops: Vec<Value> = (0..64)
            .map(|i| json!({"op": "copy", "from": "/data", "path": format!("/data/x{i}")}))
            .collect();
        let doubling = Patch {
            target: Selector::default(),
            merge: None,
            json: Some(ops),
        };
        let budget = Budget::new(Limits {
            max_nodes: 100_000,
            ..Limits::default()
        });
        let mut v = json!({"data": {"a": "b"}});
        match apply(&prepare(&doubling).unwrap(), &mut v, &budget) {
            Err(PatchFailure::Budget { op: Some(op), .. }) => {
                assert!((10..20).contains(&op), "{op}")
            }
            other => panic!("{other:?}"),
        }
        assert!(budget.used() <= 100_000);
    }
}
