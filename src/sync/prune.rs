//! Pruning decisions: which objects of the previous inventory that left the
//! repo may be deleted, and the mass-prune guard. Pure; the engine does the
//! deleting, in reverse wave order.
//!
//! An object is kept (never deleted) when:
//! - its live object says `weir.dev/prune: never` (or `protect`), or a
//!   `spec.prune.protect` selector of its component matches it, now or when
//!   it was applied (recorded in the inventory, so protection outlives the
//!   component);
//! - it is a PersistentVolumeClaim, PersistentVolume, Namespace or
//!   CustomResourceDefinition, unless its live object says
//!   `weir.dev/prune: allow` or a `spec.prune.allow` selector of its
//!   component matches it (these hold data, or everything inside them);
//! - weir no longer manages it (another field manager recreated it).
//!
//! A prune that would delete more than the repository's `prune.maxFraction`
//! of the inventory (default 25%) or more than `prune.maxObjects` objects
//! (default 50) stops unless `--allow-mass-prune`: an emptied directory or a
//! wrong path must never wipe a platform.

use serde_json::Value;

use super::apply::FIELD_MANAGER;
use super::inventory::Entry;
use crate::spec::model::ComponentPrune;

/// The annotation an object can carry to opt in (`allow`) or out (`never`).
pub const ANNOTATION: &str = "weir.dev/prune";

/// Kinds that are never pruned without an explicit opt-in.
pub const DATA_KINDS: [(&str, &str); 4] = [
    ("", "PersistentVolumeClaim"),
    ("", "PersistentVolume"),
    ("", "Namespace"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
];

/// What to do with an object that left the repo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delete,
    /// It no longer exists: nothing to do, drop it from the inventory.
    Gone,
    Keep(KeepReason),
}

/// Why an object is kept.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase", tag = "reason")]
pub enum KeepReason {
    /// `weir.dev/prune: never` or a `prune.protect` selector.
    Protected,
    /// A data-holding kind without an opt-in.
    NeedsOptIn,
    /// weir is no longer among its field managers.
    NotManaged,
}

impl KeepReason {
    pub fn describe(&self, kind: &str) -> String {
        match self {
            KeepReason::Protected => "protected (weir.dev/prune: never or prune.protect)".into(),
            KeepReason::NeedsOptIn => format!(
                "a {kind} is only pruned with an opt-in: annotate it weir.dev/prune: allow, or list it in the component's prune.allow"
            ),
            KeepReason::NotManaged => {
                "no longer managed by weir (another field manager owns it)".into()
            }
        }
    }
}

/// Decides the fate of one object that left the repo, from its live state
/// and its component's rules (when the component still exists).
pub fn decide(entry: &Entry, live: Option<&Value>, rules: Option<&ComponentPrune>) -> Verdict {
    let Some(live) = live else {
        return Verdict::Gone;
    };
    if live.pointer("/metadata/deletionTimestamp").is_some() {
        // Already being deleted: wait for it like for our own deletes.
        return Verdict::Delete;
    }
    let labels = live.pointer("/metadata/labels");
    let annotation = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(ANNOTATION))
        .and_then(Value::as_str);
    let object = &entry.object;
    let protected = entry.protected
        || matches!(annotation, Some("never" | "protect"))
        || rules.is_some_and(|r| r.protect.iter().any(|s| s.matches(object, labels)));
    if protected {
        return Verdict::Keep(KeepReason::Protected);
    }
    let data_kind = DATA_KINDS
        .iter()
        .any(|(g, k)| object.group == *g && object.kind == *k);
    let allowed = annotation == Some("allow")
        || rules.is_some_and(|r| r.allow.iter().any(|s| s.matches(object, labels)));
    if data_kind && !allowed {
        return Verdict::Keep(KeepReason::NeedsOptIn);
    }
    if !managed_by_weir(live) {
        return Verdict::Keep(KeepReason::NotManaged);
    }
    Verdict::Delete
}

fn managed_by_weir(live: &Value) -> bool {
    live.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .is_some_and(|entries| {
            entries
                .iter()
                .any(|e| e.get("manager").and_then(Value::as_str) == Some(FIELD_MANAGER))
        })
}

/// The mass-prune guard tripped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "refusing to prune {deletes} of {inventory} objects weir manages (limits: {max_objects} objects, {:.0}% of the inventory): if the repo really dropped them, run again with --allow-mass-prune; if not, check the path and revision being synced",
    max_fraction * 100.0
)]
pub struct MassPrune {
    pub deletes: usize,
    pub inventory: usize,
    pub max_objects: u32,
    pub max_fraction: f64,
}

/// Checks the number of deletions against the limits.
pub fn guard(
    deletes: usize,
    inventory: usize,
    max_objects: u32,
    max_fraction: f64,
) -> Result<(), MassPrune> {
    let too_many = deletes > max_objects as usize;
    let too_large = inventory > 0 && deletes as f64 > max_fraction * inventory as f64;
    if deletes > 0 && (too_many || too_large) {
        Err(MassPrune {
            deletes,
            inventory,
            max_objects,
            max_fraction,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::object::ObjectRef;
    use crate::spec::model::Selector;

    fn entry(group: &str, kind: &str, name: &str) -> Entry {
        Entry {
            object: ObjectRef {
                group: group.into(),
                version: "v1".into(),
                kind: kind.into(),
                namespace: Some("ns".into()),
                name: name.into(),
            },
            wave: 0,
            component: "c".into(),
            protected: false,
        }
    }

    fn live(annotations: Value) -> Value {
        json!({"metadata": {"name": "x", "annotations": annotations, "labels": {"tier": "data"},
            "managedFields": [{"manager": "weir", "operation": "Apply"}]}})
    }

    #[test]
    fn plain_objects_are_deleted() {
        assert_eq!(
            decide(&entry("", "ConfigMap", "a"), Some(&live(json!({}))), None),
            Verdict::Delete
        );
        assert_eq!(
            decide(&entry("", "ConfigMap", "a"), None, None),
            Verdict::Gone
        );
    }

    #[test]
    fn data_kinds_need_opt_in() {
        let pvc = entry("", "PersistentVolumeClaim", "db");
        assert_eq!(
            decide(&pvc, Some(&live(json!({}))), None),
            Verdict::Keep(KeepReason::NeedsOptIn)
        );
        assert_eq!(
            decide(&pvc, Some(&live(json!({ANNOTATION: "allow"}))), None),
            Verdict::Delete
        );
        let rules = ComponentPrune {
            allow: vec![Selector {
                kind: Some("PersistentVolumeClaim".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(
            decide(&pvc, Some(&live(json!({}))), Some(&rules)),
            Verdict::Delete
        );
        let crd = entry("apiextensions.k8s.io", "CustomResourceDefinition", "x.y");
        assert_eq!(
            decide(&crd, Some(&live(json!({}))), None),
            Verdict::Keep(KeepReason::NeedsOptIn)
        );
    }

    #[test]
    fn protection_wins() {
        let cm = entry("", "ConfigMap", "a");
        let rules = ComponentPrune {
            protect: vec![Selector {
                labels: [("tier".to_owned(), "data".to_owned())].into(),
                ..Default::default()
            }],
            allow: vec![Selector::default()],
        };
        assert_eq!(
            decide(&cm, Some(&live(json!({}))), Some(&rules)),
            Verdict::Keep(KeepReason::Protected)
        );
        assert_eq!(
            decide(&cm, Some(&live(json!({ANNOTATION: "never"}))), None),
            Verdict::Keep(KeepReason::Protected)
        );
    }

    #[test]
    fn protection_recorded_in_the_inventory_survives_the_component() {
        let mut cm = entry("", "ConfigMap", "a");
        cm.protected = true;
        assert_eq!(
            decide(&cm, Some(&live(json!({}))), None),
            Verdict::Keep(KeepReason::Protected)
        );
    }

    #[test]
    fn unmanaged_objects_are_kept() {
        let other = json!({"metadata": {"managedFields": [{"manager": "helm"}]}});
        assert_eq!(
            decide(&entry("", "ConfigMap", "a"), Some(&other), None),
            Verdict::Keep(KeepReason::NotManaged)
        );
    }

    #[test]
    fn mass_prune_guard() {
        assert!(guard(0, 0, 50, 0.25).is_ok());
        assert!(guard(25, 100, 50, 0.25).is_ok());
        assert!(guard(26, 100, 50, 0.25).is_err());
        assert!(guard(51, 1000, 50, 0.25).is_err());
        let err = guard(10, 10, 50, 0.25).unwrap_err();
        insta::assert_snapshot!(err.to_string(), @"refusing to prune 10 of 10 objects weir manages (limits: 50 objects, 25% of the inventory): if the repo really dropped them, run again with --allow-mass-prune; if not, check the path and revision being synced");
    }
}
