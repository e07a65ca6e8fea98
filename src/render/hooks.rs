//! Hooks, sync waves and sync options that other tools write as
//! annotations, read into weir's terms. Pure: an object's value in, what
//! its annotations mean out. The one place these annotations are read:
//! rendering makes hooks of them, `plan` orders and shows them, and sync
//! steps through sync waves and keeps `Prune=false` objects with the
//! functions here.
//!
//! | annotation | weir |
//! |---|---|
//! | `helm.sh/hook: pre-install`, `pre-upgrade` | a hook at `preApply` (before the component's objects) |
//! | `helm.sh/hook: post-install`, `post-upgrade` | a hook at `postApply` (after them, once healthy) |
//! | `helm.sh/hook: test`, `*-delete`, `*-rollback` | dropped from the sync (`plan` lists it) |
//! | `helm.sh/hook-weight: "-5"` | the hook's weight: hooks of a phase run by weight, then kind order, then name |
//! | `helm.sh/hook-delete-policy` | `before-hook-creation` (the default when none is given), `hook-succeeded`, `hook-failed` |
//! | `argocd.argoproj.io/hook: PreSync` / `Sync` / `PostSync` / `SyncFail` | `preApply` / `sync` (at its sync wave, among the objects) / `postApply` / `syncFail` (only when the sync fails) |
//! | `argocd.argoproj.io/hook: Skip`, `PostDelete` | dropped from the sync |
//! | `argocd.argoproj.io/hook-delete-policy` | `BeforeHookCreation` (the default), `HookSucceeded`, `HookFailed` |
//! | `argocd.argoproj.io/sync-wave: "-1"` | orders objects within their component (and is an Argo CD hook's weight, before `hook-weight`) |
//! | `argocd.argoproj.io/sync-options: Prune=false` | never pruned (the rule of `weir.dev/prune: never`, [`crate::sync::prune`]) |
//!
//! As Argo CD does, an object with an `argocd.argoproj.io/hook` annotation
//! is an Argo CD hook and its `helm.sh/hook` is not read. A hook of several
//! phases (`pre-install,post-install`) is a hook of each. Values weir
//! cannot use (an unknown phase or policy, a weight that is no integer) are
//! [`Problem`]s, reported as `E0231`; nothing is guessed.

use serde::Serialize;
use serde_json::Value;

use crate::spec::model::{HookDeletePolicy, HookPhase};

/// Helm's hook annotation: the phases of a hook.
pub const HELM_HOOK: &str = "helm.sh/hook";
/// Helm's hook weight (an integer, as a string).
pub const HELM_WEIGHT: &str = "helm.sh/hook-weight";
/// Helm's hook delete policies.
pub const HELM_DELETE_POLICY: &str = "helm.sh/hook-delete-policy";
/// Argo CD's hook annotation.
pub const ARGO_HOOK: &str = "argocd.argoproj.io/hook";
/// Argo CD's hook delete policies.
pub const ARGO_DELETE_POLICY: &str = "argocd.argoproj.io/hook-delete-policy";
/// Argo CD's sync wave (an integer, as a string; may be negative).
pub const ARGO_SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
/// Argo CD's sync options (comma-separated `Name=value`).
pub const ARGO_SYNC_OPTIONS: &str = "argocd.argoproj.io/sync-options";

/// Who declared a hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HookOrigin {
    /// A Component's `hooks`.
    Weir,
    /// `helm.sh/hook`.
    Helm,
    /// `argocd.argoproj.io/hook`.
    Argocd,
}

/// What happens to a hook's object around its run: Helm's and Argo CD's
/// three policies, which may be combined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DeletePolicy {
    /// Before the hook runs, its object of an earlier run is deleted and
    /// created anew (even one that completed with the same spec).
    pub before_creation: bool,
    /// Once every hook of its phase succeeded, it is deleted.
    pub on_success: bool,
    /// When it failed, it is deleted (otherwise kept for inspection).
    pub on_failure: bool,
}

impl DeletePolicy {
    /// Helm's and Argo CD's default when a hook names no policy.
    pub const BEFORE_CREATION: Self = Self {
        before_creation: true,
        on_success: false,
        on_failure: false,
    };

    /// The policies in Argo CD's spelling, in a fixed order
    /// (`beforeHookCreation`, `hookSucceeded`, `hookFailed`, camel-cased
    /// as weir's JSON is).
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.before_creation, "beforeHookCreation"),
            (self.on_success, "hookSucceeded"),
            (self.on_failure, "hookFailed"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }

    /// Whether the object is deleted once it succeeded, as weir's own
    /// `deletePolicy` says it (`onSuccess`, else `keep`).
    pub fn summary(&self) -> HookDeletePolicy {
        if self.on_success {
            HookDeletePolicy::OnSuccess
        } else {
            HookDeletePolicy::Keep
        }
    }

    /// How output for people says it: `delete before-hook-creation,
    /// hook-succeeded` (Helm's words), or `keep`.
    pub fn describe(&self) -> String {
        let words: Vec<&str> = [
            (self.before_creation, "before-hook-creation"),
            (self.on_success, "hook-succeeded"),
            (self.on_failure, "hook-failed"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        if words.is_empty() {
            "keep".to_owned()
        } else {
            format!("delete {}", words.join(", "))
        }
    }
}

impl Serialize for DeletePolicy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(serializer)
    }
}

impl From<HookDeletePolicy> for DeletePolicy {
    /// weir's own hooks: `onSuccess` deletes a Job once it succeeded,
    /// `keep` never does.
    fn from(policy: HookDeletePolicy) -> Self {
        Self {
            before_creation: false,
            on_success: policy == HookDeletePolicy::OnSuccess,
            on_failure: false,
        }
    }
}

/// A hook declared by annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotated {
    pub origin: HookOrigin,
    /// The phases weir runs it at, each once, in the order of the sync.
    pub phases: Vec<HookPhase>,
    pub weight: i64,
    pub delete: DeletePolicy,
}

/// What an object's hook annotations make of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// No hook annotation: an ordinary object.
    NotAHook,
    Hook(Annotated),
    /// A hook only of phases a sync never reaches (Helm's tests, deletes
    /// and rollbacks; Argo CD's `Skip` and `PostDelete`): not applied.
    Dropped {
        /// `helm.sh/hook: test`, as written.
        annotation: String,
    },
}

/// An annotation whose value weir cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("annotation `{annotation}: {value}`: {why}")]
pub struct Problem {
    pub annotation: &'static str,
    pub value: String,
    pub why: String,
}

impl Problem {
    /// The JSON pointer of the annotation in its object.
    pub fn pointer(&self) -> String {
        format!(
            "/metadata/annotations/{}",
            self.annotation.replace('~', "~0").replace('/', "~1")
        )
    }
}

/// The annotation `key` of an object, when it is a string.
pub fn annotation<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value
        .get("metadata")?
        .get("annotations")?
        .get(key)?
        .as_str()
}

fn problem(annotation: &'static str, value: &str, why: impl Into<String>) -> Problem {
    Problem {
        annotation,
        value: value.to_owned(),
        why: why.into(),
    }
}

/// Comma-separated entries, trimmed, empty ones left out.
fn entries(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|e| !e.is_empty())
}

/// An integer annotation (a weight, a wave); absent is `None`.
fn integer(value: &Value, key: &'static str) -> Result<Option<i64>, Problem> {
    match annotation(value, key) {
        None => Ok(None),
        Some(text) => text.trim().parse::<i64>().map(Some).map_err(|_| {
            problem(
                key,
                text,
                "not an integer; write a whole number such as \"-1\", \"0\" or \"5\"",
            )
        }),
    }
}

/// The object's Argo CD sync wave: `argocd.argoproj.io/sync-wave`, 0 when
/// absent. Objects of a component are applied wave by wave, ascending,
/// each wave healthy before the next.
pub fn sync_wave(value: &Value) -> Result<i64, Problem> {
    Ok(integer(value, ARGO_SYNC_WAVE)?.unwrap_or(0))
}

/// [`sync_wave`] of an object rendering already checked (0 for one it
/// reported).
pub fn sync_wave_or_zero(value: &Value) -> i64 {
    sync_wave(value).unwrap_or(0)
}

/// Whether the object carries `argocd.argoproj.io/sync-options` with
/// `Prune=false`.
pub fn prune_disabled(value: &Value) -> bool {
    annotation(value, ARGO_SYNC_OPTIONS).is_some_and(|options| {
        entries(options).any(|o| {
            o.split_once('=')
                .is_some_and(|(k, v)| k.trim() == "Prune" && v.trim() == "false")
        })
    })
}

/// Reads the hook annotations of an object (see the module's table).
pub fn read(value: &Value) -> Result<Reading, Problem> {
    if let Some(types) = annotation(value, ARGO_HOOK) {
        return read_argo(value, types);
    }
    if let Some(types) = annotation(value, HELM_HOOK) {
        return read_helm(value, types);
    }
    Ok(Reading::NotAHook)
}

fn push_phase(phases: &mut Vec<HookPhase>, phase: HookPhase) {
    if !phases.contains(&phase) {
        phases.push(phase);
    }
}

fn read_helm(value: &Value, types: &str) -> Result<Reading, Problem> {
    let mut phases = Vec::new();
    let mut any = false;
    for t in entries(types) {
        any = true;
        match t {
            "pre-install" | "pre-upgrade" => push_phase(&mut phases, HookPhase::PreApply),
            "post-install" | "post-upgrade" => push_phase(&mut phases, HookPhase::PostApply),
            "pre-delete" | "post-delete" | "pre-rollback" | "post-rollback" | "test"
            | "test-success" | "test-failure" | "crd-install" => {}
            other => {
                return Err(problem(
                    HELM_HOOK,
                    types,
                    format!(
                        "`{other}` is not a Helm hook; Helm's hooks are pre-install, \
                         post-install, pre-upgrade, post-upgrade, pre-delete, post-delete, \
                         pre-rollback, post-rollback and test"
                    ),
                ));
            }
        }
    }
    if !any {
        return Err(problem(
            HELM_HOOK,
            types,
            "names no hook; write e.g. `pre-install,pre-upgrade`",
        ));
    }
    if phases.is_empty() {
        return Ok(Reading::Dropped {
            annotation: format!("{HELM_HOOK}: {types}"),
        });
    }
    phases.sort_by_key(|p| phase_order(*p));
    let weight = match integer(value, ARGO_SYNC_WAVE)? {
        Some(w) => w,
        None => integer(value, HELM_WEIGHT)?.unwrap_or(0),
    };
    Ok(Reading::Hook(Annotated {
        origin: HookOrigin::Helm,
        phases,
        weight,
        delete: delete_policy(value)?,
    }))
}

fn read_argo(value: &Value, types: &str) -> Result<Reading, Problem> {
    let mut phases = Vec::new();
    let mut any = false;
    for t in entries(types) {
        any = true;
        match t {
            "PreSync" => push_phase(&mut phases, HookPhase::PreApply),
            "Sync" => push_phase(&mut phases, HookPhase::Sync),
            "PostSync" => push_phase(&mut phases, HookPhase::PostApply),
            "SyncFail" => push_phase(&mut phases, HookPhase::SyncFail),
            "Skip" | "PostDelete" => {}
            other => {
                return Err(problem(
                    ARGO_HOOK,
                    types,
                    format!(
                        "`{other}` is not an Argo CD hook; its hooks are PreSync, Sync, \
                         PostSync, SyncFail, PostDelete and Skip"
                    ),
                ));
            }
        }
    }
    if !any {
        return Err(problem(
            ARGO_HOOK,
            types,
            "names no hook; write e.g. `PreSync`",
        ));
    }
    if phases.is_empty() {
        return Ok(Reading::Dropped {
            annotation: format!("{ARGO_HOOK}: {types}"),
        });
    }
    phases.sort_by_key(|p| phase_order(*p));
    let weight = match integer(value, ARGO_SYNC_WAVE)? {
        Some(w) => w,
        None => integer(value, HELM_WEIGHT)?.unwrap_or(0),
    };
    Ok(Reading::Hook(Annotated {
        origin: HookOrigin::Argocd,
        phases,
        weight,
        delete: delete_policy(value)?,
    }))
}

/// Where a phase comes in a sync.
fn phase_order(phase: HookPhase) -> u8 {
    match phase {
        HookPhase::PreApply => 0,
        HookPhase::Sync => 1,
        HookPhase::PostApply => 2,
        HookPhase::PostSync => 3,
        HookPhase::SyncFail => 4,
    }
}

/// The union of the Helm and Argo CD delete policies an object names;
/// [`DeletePolicy::BEFORE_CREATION`] when it names none.
fn delete_policy(value: &Value) -> Result<DeletePolicy, Problem> {
    let mut policy = DeletePolicy::default();
    let mut named = false;
    for key in [HELM_DELETE_POLICY, ARGO_DELETE_POLICY] {
        let Some(text) = annotation(value, key) else {
            continue;
        };
        for p in entries(text) {
            named = true;
            match (key, p) {
                (HELM_DELETE_POLICY, "before-hook-creation")
                | (ARGO_DELETE_POLICY, "BeforeHookCreation") => policy.before_creation = true,
                (HELM_DELETE_POLICY, "hook-succeeded") | (ARGO_DELETE_POLICY, "HookSucceeded") => {
                    policy.on_success = true
                }
                (HELM_DELETE_POLICY, "hook-failed") | (ARGO_DELETE_POLICY, "HookFailed") => {
                    policy.on_failure = true
                }
                _ => {
                    let known = if key == HELM_DELETE_POLICY {
                        "before-hook-creation, hook-succeeded and hook-failed"
                    } else {
                        "BeforeHookCreation, HookSucceeded and HookFailed"
                    };
                    return Err(problem(
                        key,
                        text,
                        format!("`{p}` is not a delete policy; the policies are {known}"),
                    ));
                }
            }
        }
    }
    Ok(if named {
        policy
    } else {
        DeletePolicy::BEFORE_CREATION
    })
}

/// A label value naming a hook (`weir.dev/hook`): the hook's name when it
/// is one (at most 63 characters, alphanumeric at both ends), else its
/// alphanumeric core, shortened with a hash of the whole name.
pub fn label_value(name: &str) -> String {
    let core: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let core = core.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if core.len() <= 63 && core == name {
        return core.to_owned();
    }
    let hash = format!("{:016x}", crate::sync::inventory::fnv1a(name.as_bytes()));
    let keep: String = core.chars().take(63 - 17).collect();
    let keep = keep.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    if keep.is_empty() {
        hash
    } else {
        format!("{keep}-{hash}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(annotations: Value) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "m", "annotations": annotations}})
    }

    fn hook(annotations: Value) -> Annotated {
        match read(&object(annotations)) {
            Ok(Reading::Hook(h)) => h,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn helm_hooks() {
        let h =
            hook(json!({"helm.sh/hook": "pre-install,pre-upgrade", "helm.sh/hook-weight": "-5"}));
        assert_eq!(h.origin, HookOrigin::Helm);
        assert_eq!(h.phases, [HookPhase::PreApply]);
        assert_eq!(h.weight, -5);
        assert_eq!(h.delete, DeletePolicy::BEFORE_CREATION, "Helm's default");
        let h = hook(json!({"helm.sh/hook": "post-install, pre-install",
            "helm.sh/hook-delete-policy": "hook-succeeded,hook-failed"}));
        assert_eq!(h.phases, [HookPhase::PreApply, HookPhase::PostApply]);
        assert_eq!(
            h.delete,
            DeletePolicy {
                before_creation: false,
                on_success: true,
                on_failure: true
            }
        );
        assert_eq!(h.delete.names(), ["hookSucceeded", "hookFailed"]);
        assert_eq!(h.delete.describe(), "delete hook-succeeded, hook-failed");
        assert_eq!(
            read(&object(json!({"helm.sh/hook": "test"}))),
            Ok(Reading::Dropped {
                annotation: "helm.sh/hook: test".into()
            })
        );
        for bad in [
            json!({"helm.sh/hook": "pre-instal"}),
            json!({"helm.sh/hook": " , "}),
            json!({"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "first"}),
            json!({"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "99999999999999999999"}),
            json!({"helm.sh/hook": "pre-install", "helm.sh/hook-delete-policy": "HookSucceeded"}),
        ] {
            assert!(read(&object(bad.clone())).is_err(), "{bad}");
        }
        let p = read(&object(json!({"helm.sh/hook": "pre-instal"}))).unwrap_err();
        assert_eq!(p.pointer(), "/metadata/annotations/helm.sh~1hook");
        assert!(
            p.to_string().contains("`pre-instal` is not a Helm hook"),
            "{p}"
        );
    }

    #[test]
    fn argo_hooks_win_over_helm() {
        let h = hook(
            json!({"argocd.argoproj.io/hook": "Sync", "helm.sh/hook": "bogus",
            "argocd.argoproj.io/sync-wave": "2",
            "argocd.argoproj.io/hook-delete-policy": "HookSucceeded"}),
        );
        assert_eq!(h.origin, HookOrigin::Argocd);
        assert_eq!(h.phases, [HookPhase::Sync]);
        assert_eq!(h.weight, 2);
        assert_eq!(h.delete.names(), ["hookSucceeded"]);
        let h = hook(json!({"argocd.argoproj.io/hook": "PostSync,PreSync,SyncFail"}));
        assert_eq!(
            h.phases,
            [
                HookPhase::PreApply,
                HookPhase::PostApply,
                HookPhase::SyncFail
            ]
        );
        assert_eq!(h.delete, DeletePolicy::BEFORE_CREATION, "Argo CD's default");
        assert!(matches!(
            read(&object(json!({"argocd.argoproj.io/hook": "Skip"}))),
            Ok(Reading::Dropped { .. })
        ));
        assert!(read(&object(json!({"argocd.argoproj.io/hook": "presync"}))).is_err());
        assert_eq!(read(&object(json!({}))), Ok(Reading::NotAHook));
        assert_eq!(
            read(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})),
            Ok(Reading::NotAHook)
        );
    }

    #[test]
    fn waves_and_options() {
        assert_eq!(sync_wave(&object(json!({}))), Ok(0));
        assert_eq!(
            sync_wave(&object(json!({"argocd.argoproj.io/sync-wave": " -3 "}))),
            Ok(-3)
        );
        assert!(sync_wave(&object(json!({"argocd.argoproj.io/sync-wave": "1.5"}))).is_err());
        assert_eq!(
            sync_wave_or_zero(&object(json!({"argocd.argoproj.io/sync-wave": "x"}))),
            0
        );
        assert!(prune_disabled(&object(
            json!({"argocd.argoproj.io/sync-options": "Validate=false, Prune=false"})
        )));
        assert!(!prune_disabled(&object(
            json!({"argocd.argoproj.io/sync-options": "Prune=true"})
        )));
        assert!(!prune_disabled(&object(json!({}))));
    }

    #[test]
    fn label_values() {
        assert_eq!(label_value("migrate"), "migrate");
        assert_eq!(
            label_value("migrate-"),
            format!(
                "migrate-{:016x}",
                crate::sync::inventory::fnv1a(b"migrate-")
            )
        );
        let long = "a".repeat(100);
        let v = label_value(&long);
        assert!(v.len() <= 63, "{v}");
        assert_ne!(label_value(&"a".repeat(99)), v);
        assert!(label_value("--").len() == 16);
    }
}
