//! The pure half of `weir diff --cluster`: turning what the API server said
//! about each object into the two [`Side`]s the engine compares.
//!
//! The I/O half ([`crate::sync::dry_run`], on `sync`'s apply layer) asks the API server for a
//! server-side-apply dry run of every rendered object with weir's field
//! manager and reads the live object. Comparing the dry-run *result* with
//! the live object — rather than the repo's manifest with the live object
//! — means defaulted fields and fields owned by other managers are the
//! same on both sides and are not noise. What the server manages itself
//! (`managedFields`, `resourceVersion`, `uid`, `generation`, timestamps,
//! `status`) is dropped by [`normalize`](super::normalize) as for any diff.
//!
//! - an object that does not exist yet is an addition, shown as the repo
//!   writes it (a dry-run create would add every default);
//! - a custom resource whose CRD is not installed yet is an addition with a
//!   note, not an error — an earlier wave of the same sync may install it;
//! - an object of weir's inventory that is no longer rendered is a removal,
//!   with a note that pruning deletes it.

use serde_json::Value;

use super::model::{DiffObject, Side};

/// What the API server said about one rendered object.
#[derive(Debug, Clone, PartialEq)]
pub enum DryRun {
    /// The dry run succeeded. `live` is the object as it is, `None` when it
    /// does not exist yet.
    Applied { result: Value, live: Option<Value> },
    /// The object's kind is not served: its CRD is not installed yet.
    CrdMissing,
}

/// A rendered object and the server's answer for it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterObject {
    /// The object as rendered from the repo (with its component and wave).
    pub desired: DiffObject,
    pub dry_run: DryRun,
}

/// The note on a custom resource whose CRD is missing.
pub fn crd_missing_note(object: &DiffObject) -> String {
    let group = if object.id.group.is_empty() {
        "the core group".to_owned()
    } else {
        format!("group {}", object.id.group)
    };
    format!(
        "kind {} of {group} is not served by the cluster yet: its CRD is not installed; \
         the object will be created once the CRD is applied",
        object.id.kind
    )
}

/// The note on an inventory object that would be pruned.
pub const PRUNE_NOTE: &str =
    "in weir's inventory but no longer in the repo: `weir sync --prune` deletes it";

/// The live side (base) and the would-be side (head) of a cluster diff.
/// `prunable` are live objects of weir's inventory that the repo no longer
/// renders, with the component and wave the inventory recorded.
pub fn sides(objects: Vec<ClusterObject>, prunable: Vec<DiffObject>) -> (Side, Side) {
    let mut live = Side::default();
    let mut would_be = Side::default();
    for ClusterObject { desired, dry_run } in objects {
        match dry_run {
            DryRun::Applied {
                result,
                live: Some(current),
            } => {
                live.objects.push(DiffObject {
                    value: current,
                    notes: Vec::new(),
                    ..desired.clone()
                });
                would_be.objects.push(DiffObject {
                    value: result,
                    ..desired
                });
            }
            DryRun::Applied { live: None, .. } => would_be.objects.push(desired),
            DryRun::CrdMissing => {
                let note = crd_missing_note(&desired);
                let mut desired = desired;
                desired.notes.push(note);
                would_be.objects.push(desired);
            }
        }
    }
    for mut object in prunable {
        object.notes.push(PRUNE_NOTE.to_owned());
        live.objects.push(object);
    }
    (live, would_be)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::diff::{Change, Options, diff};
    use crate::object::ObjectRef;

    fn object(value: Value) -> DiffObject {
        DiffObject {
            id: ObjectRef::from_value(&value).ok().unwrap(),
            component: "api".into(),
            wave: 1,
            file: Some("api/deploy.yaml".into()),
            notes: Vec::new(),
            value,
        }
    }

    fn deployment(replicas: u32) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "shop"},
            "spec": {"replicas": replicas}})
    }

    /// A live object as the API server returns it: server fields,
    /// defaults, status, and a field another manager owns.
    fn live(replicas: u32, resource_version: &str, generation: u32) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "shop", "uid": "0b6c", "resourceVersion": resource_version,
                "generation": generation, "creationTimestamp": "2024-05-01T10:00:00Z",
                "annotations": {"deployment.kubernetes.io/revision": "3", "other.io/owner": "team"},
                "managedFields": [{"manager": "weir", "operation": "Apply"}]},
            "spec": {"replicas": replicas, "revisionHistoryLimit": 10,
                "strategy": {"type": "RollingUpdate"}},
            "status": {"readyReplicas": 2, "observedGeneration": generation}})
    }

    #[test]
    fn server_managed_fields_and_defaults_are_not_changes() {
        let (base, head) = sides(
            vec![ClusterObject {
                desired: object(deployment(2)),
                dry_run: DryRun::Applied {
                    result: live(2, "1001", 5),
                    live: Some(live(2, "1000", 4)),
                },
            }],
            Vec::new(),
        );
        let report = diff(base, head, &Options::default());
        assert!(!report.has_differences(), "{report:#?}");
        assert_eq!(report.summary.unchanged, 1);
    }

    #[test]
    fn a_changed_field_is_a_change() {
        let (base, head) = sides(
            vec![ClusterObject {
                desired: object(deployment(3)),
                dry_run: DryRun::Applied {
                    result: live(3, "1001", 5),
                    live: Some(live(2, "1000", 4)),
                },
            }],
            Vec::new(),
        );
        let report = diff(base, head, &Options::default());
        let o = &report.objects[0];
        assert_eq!(o.change, Change::Changed);
        assert_eq!(o.fields.len(), 1);
        assert_eq!(o.fields[0].path, "spec.replicas");
        assert!(!o.diff.contains("resourceVersion") && !o.diff.contains("readyReplicas"));
    }

    #[test]
    fn missing_objects_crds_and_pruned_objects() {
        let cr = json!({"apiVersion": "serving.example.com/v1", "kind": "InferenceService",
            "metadata": {"name": "m", "namespace": "shop"}, "spec": {"model": "x"}});
        let (base, head) = sides(
            vec![
                ClusterObject {
                    desired: object(deployment(2)),
                    dry_run: DryRun::Applied {
                        result: live(2, "1", 1),
                        live: None,
                    },
                },
                ClusterObject {
                    desired: object(cr),
                    dry_run: DryRun::CrdMissing,
                },
            ],
            vec![object(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "old", "namespace": "shop", "uid": "x"}}))],
        );
        let report = diff(base, head, &Options::default());
        let summary: Vec<_> = report
            .objects
            .iter()
            .map(|o| (o.change, o.id.kind.as_str(), o.notes.len()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (Change::Removed, "ConfigMap", 1),
                (Change::Added, "Deployment", 0),
                (Change::Added, "InferenceService", 1),
            ]
        );
        // An addition shows the repo's manifest, not the dry run's defaults.
        assert!(!report.objects[1].diff.contains("revisionHistoryLimit"));
        assert!(report.objects[2].notes[0].contains("CRD is not installed"));
        assert!(report.objects[0].notes[0].contains("--prune"));
    }

    #[test]
    fn live_secrets_are_redacted() {
        let secret = |pw: &str, rv: &str| {
            json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "s", "namespace": "shop", "resourceVersion": rv,
                    "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                        format!("{{\"data\":{{\"pw\":\"{pw}\"}}}}")}},
                "data": {"pw": pw}})
        };
        let (base, head) = sides(
            vec![ClusterObject {
                desired: object(secret("bmV3", "1")),
                dry_run: DryRun::Applied {
                    result: secret("bmV3", "2"),
                    live: Some(secret("b2xk", "1")),
                },
            }],
            Vec::new(),
        );
        let report = diff(base, head, &Options::default());
        let text = serde_json::to_string(&report).unwrap();
        assert!(!text.contains("bmV3") && !text.contains("b2xk"), "{text}");
        assert_eq!(report.objects[0].fields[0].path, "data.pw");
    }
}
