//! A component's `patches` applied to its rendered objects: a selector
//! picks the targets ([`Selector::matches`](crate::spec::model::Selector::matches),
//! the same rule as pruning and health overrides), then a JSON merge patch (RFC 7386) or a JSON Patch
//! (RFC 6902) changes each of them.
//!
//! Patches run after namespace defaulting (so a target's `namespace`
//! matches the namespace the object will have) and before weir adds its
//! tracking labels (so a patch cannot remove them).

use serde_json::Value;

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
}

/// Applies one patch to one object's value.
pub fn apply(patch: &Patch, value: &mut Value) -> Result<(), PatchFailure> {
    match (&patch.merge, &patch.json) {
        (Some(merge), None) => {
            json_patch::merge(value, merge);
            Ok(())
        }
        (None, Some(ops)) => {
            let ops: json_patch::Patch = serde_json::from_value(Value::Array(ops.clone()))
                .map_err(|e| PatchFailure::BadOperations(e.to_string()))?;
            json_patch::patch(value, &ops).map_err(|e| PatchFailure::Failed(e.to_string()))
        }
        _ => Err(PatchFailure::NotExactlyOne),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
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
        apply(&merge, &mut v).unwrap();
        assert_eq!(v, json!({"spec": {"b": 2, "c": 3}}));
        let json_ops = Patch {
            target: Selector::default(),
            merge: None,
            json: Some(vec![
                json!({"op": "replace", "path": "/spec/b", "value": 5}),
            ]),
        };
        apply(&json_ops, &mut v).unwrap();
        assert_eq!(v["spec"]["b"], 5);
        let failing = Patch {
            target: Selector::default(),
            merge: None,
            json: Some(vec![json!({"op": "remove", "path": "/spec/zzz"})]),
        };
        assert!(matches!(
            apply(&failing, &mut v),
            Err(PatchFailure::Failed(_))
        ));
        assert_eq!(
            v["spec"]["b"], 5,
            "a failed patch leaves the object as it was"
        );
    }
}
