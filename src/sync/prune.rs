//! Pruning decisions: which objects of the previous inventory that left the
//! repo may be deleted, and the mass-prune guard. Pure; the engine does the
//! deleting, in reverse wave order.
//!
//! An object is kept (never deleted) when:
//! - its live object says `weir.dev/prune: never` (or `protect`), or
//!   Argo CD's `argocd.argoproj.io/sync-options: Prune=false`, or a
//!   `spec.prune.protect` selector of its component matches it, now or when
//!   it was applied (recorded in the inventory, so protection outlives the
//!   component): [`protection`], the one rule of it;
//! - it is a PersistentVolumeClaim, PersistentVolume, Namespace or
//!   CustomResourceDefinition, unless its live object says
//!   `weir.dev/prune: allow` or a `spec.prune.allow` selector of its
//!   component matches it (these hold data, or everything inside them);
//! - weir no longer manages it (another field manager recreated it).
//!
//! - its kind is one the [`Floor`] protects (`--protect-kind`): no opt-in
//!   of the repo applies to those;
//! - it is already being deleted (someone else deleted it; it stays in the
//!   inventory until it is gone), or its kind is no longer served by the
//!   API server (its CRD was removed; it stays in the inventory, and is
//!   pruned if the kind comes back). Both are reported, never forgotten.
//!
//! A prune that would delete more than a share of the inventory (default
//! 25%) or more than a number of objects (default 50) stops unless
//! `--allow-mass-prune`: an emptied directory or a wrong path must never
//! wipe a platform. Those limits and the protected kinds are a [`Floor`]
//! set where weir runs (flags of `weir sync` and `weir agent`), outside the
//! synced commit: weir.yaml's `prune.maxObjects` and `prune.maxFraction`
//! may make them stricter, never looser ([`Limits::of`]), since the commit
//! that removes objects could otherwise raise the limits that guard them.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;

use super::apply::FIELD_MANAGER;
use super::inventory::Entry;
use super::plan::{DEFAULT_MAX_PRUNE_FRACTION, DEFAULT_MAX_PRUNE_OBJECTS};
use crate::object::ObjectRef;
use crate::spec::model::{ComponentPrune, PrunePolicy};

/// The flag that sets [`Floor::max_objects`].
pub const MAX_OBJECTS_FLAG: &str = "--max-prune-objects";
/// The flag that sets [`Floor::max_fraction`].
pub const MAX_FRACTION_FLAG: &str = "--max-prune-fraction";
/// The flag that adds to [`Floor::protected_kinds`].
pub const PROTECT_KIND_FLAG: &str = "--protect-kind";

/// A kind, as flags name it: `Kind` (any group) or `Kind.group`
/// (`Certificate.cert-manager.io`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KindName {
    pub kind: String,
    /// `None`: the kind in any group.
    pub group: Option<String>,
}

impl KindName {
    /// Whether an object is of this kind.
    pub fn matches(&self, object: &ObjectRef) -> bool {
        self.kind == object.kind && self.group.as_ref().is_none_or(|g| *g == object.group)
    }
}

impl FromStr for KindName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (kind, group) = match text.split_once('.') {
            Some((kind, group)) => (kind, Some(group.to_owned())),
            None => (text, None),
        };
        let valid = !kind.is_empty()
            && kind.chars().all(|c| c.is_ascii_alphanumeric())
            && kind.starts_with(|c: char| c.is_ascii_uppercase())
            && group.as_deref().is_none_or(|g| {
                !g.is_empty()
                    && g.split('.').all(|part| {
                        !part.is_empty()
                            && part
                                .chars()
                                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    })
            });
        if valid {
            Ok(Self {
                kind: kind.to_owned(),
                group,
            })
        } else {
            Err(format!(
                "`{text}` is not a kind: write `Kind` or `Kind.group`, e.g. `Secret` or \
                 `Certificate.cert-manager.io`"
            ))
        }
    }
}

impl Serialize for KindName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for KindName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.group {
            Some(group) => write!(f, "{}.{group}", self.kind),
            None => f.write_str(&self.kind),
        }
    }
}

/// The safety limits of pruning set where weir runs, outside the synced
/// commit: a commit may make them stricter, never looser.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Floor {
    /// A prune of more objects stops and asks (default 50).
    pub max_objects: u32,
    /// A prune of a larger share of the inventory stops and asks (default 0.25).
    pub max_fraction: f64,
    /// Kinds never pruned, whatever the repo opts in.
    pub protected_kinds: Vec<KindName>,
}

impl Default for Floor {
    fn default() -> Self {
        Self {
            max_objects: DEFAULT_MAX_PRUNE_OBJECTS,
            max_fraction: DEFAULT_MAX_PRUNE_FRACTION,
            protected_kinds: Vec::new(),
        }
    }
}

/// Who set a limit in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SetBy {
    /// The floor (a flag, or its default).
    Floor,
    /// weir.yaml, stricter than the floor.
    Repo,
}

/// The prune limits a sync applies: the floor, or the repo's where stricter.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    pub max_objects: u32,
    pub max_objects_set_by: SetBy,
    pub max_fraction: f64,
    pub max_fraction_set_by: SetBy,
    /// Never pruned (the floor's `--protect-kind`).
    pub protected_kinds: Vec<KindName>,
    /// The floor these were made from.
    pub floor: Floor,
}

impl Default for Limits {
    fn default() -> Self {
        Self::of(&Floor::default(), &PrunePolicy::default()).0
    }
}

/// A setting of weir.yaml looser than the floor: not applied, an error.
#[derive(Debug, Clone, PartialEq)]
pub struct Looser {
    /// The field under `spec.prune`: `maxObjects` or `maxFraction`.
    pub field: &'static str,
    /// The repo's value and the floor's, as written.
    pub repo: String,
    pub floor: String,
    /// The flag that sets the floor.
    pub flag: &'static str,
}

impl Limits {
    /// The limits of `floor` made stricter by the repo's `policy`, and the
    /// repo's settings that would have made them looser (those are not
    /// applied: the floor stays).
    pub fn of(floor: &Floor, policy: &PrunePolicy) -> (Self, Vec<Looser>) {
        let mut looser = Vec::new();
        let (max_objects, max_objects_set_by) = match policy.max_objects {
            Some(n) if n < floor.max_objects => (n, SetBy::Repo),
            Some(n) if n > floor.max_objects => {
                looser.push(Looser {
                    field: "maxObjects",
                    repo: n.to_string(),
                    floor: floor.max_objects.to_string(),
                    flag: MAX_OBJECTS_FLAG,
                });
                (floor.max_objects, SetBy::Floor)
            }
            _ => (floor.max_objects, SetBy::Floor),
        };
        let (max_fraction, max_fraction_set_by) = match policy.max_fraction {
            Some(f) if f < floor.max_fraction => (f, SetBy::Repo),
            Some(f) if f > floor.max_fraction => {
                looser.push(Looser {
                    field: "maxFraction",
                    repo: f.to_string(),
                    floor: floor.max_fraction.to_string(),
                    flag: MAX_FRACTION_FLAG,
                });
                (floor.max_fraction, SetBy::Floor)
            }
            _ => (floor.max_fraction, SetBy::Floor),
        };
        let limits = Self {
            max_objects,
            max_objects_set_by,
            max_fraction,
            max_fraction_set_by,
            protected_kinds: floor.protected_kinds.clone(),
            floor: floor.clone(),
        };
        (limits, looser)
    }

    /// Whether `object`'s kind is never pruned here.
    pub fn protects_kind(&self, object: &ObjectRef) -> bool {
        self.protected_kinds.iter().any(|k| k.matches(object))
    }

    /// The limits in words, for `weir plan`: `at most 20 objects (weir.yaml,
    /// stricter than --max-prune-objects 50) and 25% of the inventory
    /// (--max-prune-fraction)`.
    pub fn describe(&self) -> String {
        let floor = &self.floor;
        let objects = match self.max_objects_set_by {
            SetBy::Repo => format!(
                "{} objects (weir.yaml, stricter than {MAX_OBJECTS_FLAG} {})",
                self.max_objects, floor.max_objects
            ),
            SetBy::Floor => format!("{} objects ({MAX_OBJECTS_FLAG})", self.max_objects),
        };
        let share = |f: f64| format!("{}%", (f * 100.0 * 100.0).round() / 100.0);
        let fraction = match self.max_fraction_set_by {
            SetBy::Repo => format!(
                "{} of the inventory (weir.yaml, stricter than {MAX_FRACTION_FLAG} {})",
                share(self.max_fraction),
                floor.max_fraction
            ),
            SetBy::Floor => format!(
                "{} of the inventory ({MAX_FRACTION_FLAG})",
                share(self.max_fraction)
            ),
        };
        let mut out = format!("at most {objects} and {fraction} without --allow-mass-prune");
        if !self.protected_kinds.is_empty() {
            let kinds: Vec<String> = self
                .protected_kinds
                .iter()
                .map(ToString::to_string)
                .collect();
            out.push_str(&format!(
                "; never pruned: {} ({PROTECT_KIND_FLAG})",
                kinds.join(", ")
            ));
        }
        out
    }
}

/// The annotation an object can carry to opt in (`allow`) or out (`never`).
pub const ANNOTATION: &str = "weir.dev/prune";

/// Kinds that are never pruned without an explicit opt-in.
pub const DATA_KINDS: [(&str, &str); 4] = [
    ("", "PersistentVolumeClaim"),
    ("", "PersistentVolume"),
    ("", "Namespace"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
];

/// Why an object is protected from pruning, whatever else says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Protection {
    /// `weir.dev/prune: never` (or `protect`) on the object.
    Annotation,
    /// Argo CD's `argocd.argoproj.io/sync-options: Prune=false` on it.
    SyncOption,
    /// A `prune.protect` selector of its component.
    Selector,
}

impl Protection {
    pub fn describe(self) -> &'static str {
        match self {
            Protection::Annotation => "weir.dev/prune: never",
            Protection::SyncOption => "argocd.argoproj.io/sync-options: Prune=false",
            Protection::Selector => "its component's prune.protect",
        }
    }
}

/// Whether an object (`value`: as rendered, or live) is protected from
/// pruning, and why: its annotations, or a `prune.protect` selector of its
/// component's `rules`. The one rule: `plan` shows it, the sync records it
/// in the inventory, and pruning reads it from the live object.
pub fn protection(
    object: &ObjectRef,
    value: &Value,
    rules: Option<&ComponentPrune>,
) -> Option<Protection> {
    let annotation = value
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(ANNOTATION))
        .and_then(Value::as_str);
    if matches!(annotation, Some("never" | "protect")) {
        return Some(Protection::Annotation);
    }
    if crate::render::hooks::prune_disabled(value) {
        return Some(Protection::SyncOption);
    }
    let labels = value.pointer("/metadata/labels");
    rules
        .is_some_and(|r| r.protect.iter().any(|s| s.matches(object, labels)))
        .then_some(Protection::Selector)
}

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
    /// `weir.dev/prune: never`, `Prune=false` or a `prune.protect`
    /// selector ([`protection`]).
    Protected,
    /// Its kind is protected by the floor (`--protect-kind`).
    ProtectedKind,
    /// A data-holding kind without an opt-in.
    NeedsOptIn,
    /// weir is no longer among its field managers.
    NotManaged,
    /// It is already being deleted (it has a `deletionTimestamp`): kept in
    /// the inventory until it is gone.
    BeingDeleted,
    /// The API server no longer serves its kind: kept in the inventory.
    KindNotServed,
}

impl KeepReason {
    pub fn describe(&self, kind: &str) -> String {
        match self {
            KeepReason::Protected => "protected (weir.dev/prune: never, argocd.argoproj.io/sync-options: Prune=false, or prune.protect)".into(),
            KeepReason::ProtectedKind => format!(
                "a {kind} is never pruned here ({PROTECT_KIND_FLAG} where weir runs); delete it by hand if it must go"
            ),
            KeepReason::NeedsOptIn => format!(
                "a {kind} is only pruned with an opt-in: annotate it weir.dev/prune: allow, or list it in the component's prune.allow"
            ),
            KeepReason::NotManaged => {
                "no longer managed by weir (another field manager owns it)".into()
            }
            KeepReason::BeingDeleted => {
                "already being deleted (by someone else, or a finalizer holds it); weir keeps it in its inventory until it is gone".into()
            }
            KeepReason::KindNotServed => format!(
                "the API server no longer serves its kind {kind} (was its CRD removed?); weir keeps it in its inventory and prunes it once the kind is served again"
            ),
        }
    }

    /// Whether the object leaves the inventory: only when weir no longer
    /// manages it. Everything else it may still have to prune later.
    pub fn forget(&self) -> bool {
        *self == KeepReason::NotManaged
    }
}

/// The live state of an object that left the repo.
#[derive(Debug, Clone, Copy)]
pub enum Live<'a> {
    /// Not found.
    Gone,
    /// Its kind is not served by the API server.
    KindNotServed,
    Found(&'a Value),
}

/// Decides the fate of one object that left the repo, from its live state,
/// its component's rules (when the component still exists) and the
/// limits in force.
pub fn decide(
    entry: &Entry,
    live: Live<'_>,
    rules: Option<&ComponentPrune>,
    limits: &Limits,
) -> Verdict {
    let live = match live {
        Live::Gone => return Verdict::Gone,
        Live::KindNotServed => return Verdict::Keep(KeepReason::KindNotServed),
        Live::Found(live) => live,
    };
    if live.pointer("/metadata/deletionTimestamp").is_some() {
        return Verdict::Keep(KeepReason::BeingDeleted);
    }
    let labels = live.pointer("/metadata/labels");
    let annotation = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(ANNOTATION))
        .and_then(Value::as_str);
    let object = &entry.object;
    if limits.protects_kind(object) {
        return Verdict::Keep(KeepReason::ProtectedKind);
    }
    let protected = entry.protected || protection(object, live, rules).is_some();
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

    use super::Live::Found;
    use super::*;
    use crate::spec::model::Selector;

    fn limits() -> Limits {
        Limits::default()
    }

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
            decide(
                &entry("", "ConfigMap", "a"),
                Found(&live(json!({}))),
                None,
                &limits()
            ),
            Verdict::Delete
        );
        assert_eq!(
            decide(&entry("", "ConfigMap", "a"), Live::Gone, None, &limits()),
            Verdict::Gone
        );
    }

    #[test]
    fn objects_being_deleted_or_of_kinds_not_served_are_kept_and_remembered() {
        let mut deleting = live(json!({}));
        deleting["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
        let cm = entry("", "ConfigMap", "a");
        let verdict = decide(&cm, Found(&deleting), None, &limits());
        assert_eq!(verdict, Verdict::Keep(KeepReason::BeingDeleted));
        assert_eq!(
            decide(&cm, Live::KindNotServed, None, &limits()),
            Verdict::Keep(KeepReason::KindNotServed)
        );
        assert!(!KeepReason::BeingDeleted.forget());
        assert!(!KeepReason::KindNotServed.forget());
        assert!(KeepReason::NotManaged.forget());
    }

    #[test]
    fn the_floor_wins_over_the_repo() {
        let floor = Floor {
            max_objects: 50,
            max_fraction: 0.25,
            protected_kinds: vec!["PersistentVolumeClaim".parse().unwrap()],
        };
        let stricter = PrunePolicy {
            max_objects: Some(10),
            max_fraction: Some(0.5),
        };
        let (limits, looser) = Limits::of(&floor, &stricter);
        assert_eq!(
            (limits.max_objects, limits.max_objects_set_by),
            (10, SetBy::Repo)
        );
        assert_eq!(
            (limits.max_fraction, limits.max_fraction_set_by),
            (0.25, SetBy::Floor)
        );
        assert_eq!(looser.len(), 1);
        assert_eq!(
            (looser[0].field, looser[0].flag),
            ("maxFraction", MAX_FRACTION_FLAG)
        );
        insta::assert_snapshot!(limits.describe(), @"at most 10 objects (weir.yaml, stricter than --max-prune-objects 50) and 25% of the inventory (--max-prune-fraction) without --allow-mass-prune; never pruned: PersistentVolumeClaim (--protect-kind)");

        // A protected kind is kept whatever the repo opts in.
        let rules = ComponentPrune {
            allow: vec![Selector::default()],
            ..Default::default()
        };
        let pvc = entry("", "PersistentVolumeClaim", "db");
        assert_eq!(
            decide(
                &pvc,
                Found(&live(json!({ANNOTATION: "allow"}))),
                Some(&rules),
                &limits
            ),
            Verdict::Keep(KeepReason::ProtectedKind)
        );
    }

    #[test]
    fn kind_names() {
        let crd: KindName = "CustomResourceDefinition.apiextensions.k8s.io"
            .parse()
            .unwrap();
        assert_eq!(crd.group.as_deref(), Some("apiextensions.k8s.io"));
        assert_eq!(
            crd.to_string(),
            "CustomResourceDefinition.apiextensions.k8s.io"
        );
        for bad in ["", "secret", "Secret.", "Se cret", "Secret.Bad_Group"] {
            assert!(bad.parse::<KindName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn data_kinds_need_opt_in() {
        let pvc = entry("", "PersistentVolumeClaim", "db");
        assert_eq!(
            decide(&pvc, Found(&live(json!({}))), None, &limits()),
            Verdict::Keep(KeepReason::NeedsOptIn)
        );
        assert_eq!(
            decide(
                &pvc,
                Found(&live(json!({ANNOTATION: "allow"}))),
                None,
                &limits()
            ),
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
            decide(&pvc, Found(&live(json!({}))), Some(&rules), &limits()),
            Verdict::Delete
        );
        let crd = entry("apiextensions.k8s.io", "CustomResourceDefinition", "x.y");
        assert_eq!(
            decide(&crd, Found(&live(json!({}))), None, &limits()),
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
            decide(&cm, Found(&live(json!({}))), Some(&rules), &limits()),
            Verdict::Keep(KeepReason::Protected)
        );
        assert_eq!(
            decide(
                &cm,
                Found(&live(json!({ANNOTATION: "never"}))),
                None,
                &limits()
            ),
            Verdict::Keep(KeepReason::Protected)
        );
    }

    #[test]
    fn protection_recorded_in_the_inventory_survives_the_component() {
        let mut cm = entry("", "ConfigMap", "a");
        cm.protected = true;
        assert_eq!(
            decide(&cm, Found(&live(json!({}))), None, &limits()),
            Verdict::Keep(KeepReason::Protected)
        );
    }

    #[test]
    fn unmanaged_objects_are_kept() {
        let other = json!({"metadata": {"managedFields": [{"manager": "helm"}]}});
        assert_eq!(
            decide(&entry("", "ConfigMap", "a"), Found(&other), None, &limits()),
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
