//! Hooks: objects run at a point of the sync. A Component's own hooks are
//! Jobs at `preApply`, `postApply` or `postSync`; Helm's and Argo CD's hook
//! annotations make a hook of any object (see
//! [`render::hooks`](crate::render::hooks)), at `preApply`, `sync` (at its
//! sync wave, among its unit's objects), `postApply` or `syncFail` (only
//! when the sync fails). The engine runs the hooks of one unit and phase
//! together, in the plan's order (weight, kind order, name), one at a
//! time: a Job is waited for until it completes and a Pod until it
//! succeeds; any other object is applied and done, as Helm does.
//!
//! A hook runs when something it belongs to changed: the inventory records,
//! per hook, the [`fingerprint`] of its object and its component's rendered
//! objects at its last successful run, and when every hook of a unit's
//! phase matches, the phase is skipped ([`HookResult::Unchanged`]). So a
//! sync that changes nothing runs nothing (a one-shot Job is not re-run on
//! every sync), while a new image, value or Job spec in the component runs
//! the phase again, like Helm's upgrade hooks; the hooks of a phase run
//! together (a ServiceAccount hook deleted after its Job succeeded is
//! there again when the Job runs again). To force a re-run, change the
//! hook (an annotation will do). `syncFail` hooks run on every failed sync.
//!
//! Delete policies ([`DeletePolicy`](crate::render::hooks::DeletePolicy)),
//! with Helm's semantics:
//! - before creation (`before-hook-creation`, Helm's and Argo CD's default
//!   when none is given): the object of an earlier run is deleted and
//!   created anew, even one that completed with the same spec;
//! - without it (a Component's own hooks, or policies that leave it out),
//!   an object that still exists, completed, with the same spec (weir
//!   labels each hook with a hash of its rendered spec,
//!   `weir.dev/hook-hash`) is not run again, and one with another spec, or
//!   failed, is deleted and created again (where Helm would fail on
//!   "already exists", weir converges);
//! - on success (`hook-succeeded`, a Component's `onSuccess`): deleted once
//!   every hook of its phase succeeded, in reverse order;
//! - on failure (`hook-failed`): deleted when it failed; otherwise a failed
//!   hook is kept for inspection.
//!
//! In every case a hook still running from an interrupted sync (same hash)
//! is waited for, not duplicated.
//!
//! A hook with only `generateName` is created with a POST (the server picks
//! its name, which the report gives), never server-side applied; the
//! objects of its earlier runs are found by its labels (`weir.dev/hook`,
//! `weir.dev/component`). Others are server-side applied like every object.
//!
//! Under `--dry-run`, a hook is only dry-run applied (or created), validated
//! by the server, not run.

use std::time::Duration;

use kube::core::params::PropagationPolicy;
use serde_json::Value;
use tokio::time::Instant;

use super::apply::{self, ApplyOptions, Cluster};
use super::health::{self, Health};
use super::inventory::fnv1a;
use super::plan::HookJob;
use super::rest::WriteError;
use crate::object::{ObjectRef, generate_name};
use crate::render::COMPONENT_LABEL;
use crate::render::hooks::{HookOrigin, label_value};
use crate::render::object::{metadata_mut, sub_object};

/// Label with the hook's name on its object.
pub const HOOK_LABEL: &str = "weir.dev/hook";
/// Annotation with the hash of the hook's rendered spec.
pub const HASH_ANNOTATION: &str = "weir.dev/hook-hash";

/// Errors of a hook.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Apply(#[from] apply::Error),
    #[error("hook {hook} ({job}) failed: {reason}{}", pods_suffix(.pods))]
    Failed {
        hook: String,
        job: String,
        reason: String,
        pods: Vec<String>,
    },
    #[error("hook {hook} ({job}) did not complete within {timeout:?}: {reason}{}", pods_suffix(.pods))]
    Timeout {
        hook: String,
        job: String,
        timeout: Duration,
        reason: String,
        pods: Vec<String>,
    },
    #[error("hook {hook}: old {job} was not deleted within {timeout:?}")]
    StuckDelete {
        hook: String,
        job: String,
        timeout: Duration,
    },
    #[error(
        "hook {hook}: {object} was created by someone else while weir created it; run the sync again"
    )]
    Exists { hook: String, object: String },
}

fn pods_suffix(pods: &[String]) -> String {
    pods.iter().map(|p| format!("\n      {p}")).collect()
}

/// What running a hook did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum HookResult {
    /// It ran and completed (and was deleted, if its policy says so).
    Completed,
    /// A completed object with the same spec already existed.
    AlreadyComplete,
    /// Skipped: its phase completed before for the same hooks and
    /// component content.
    Unchanged,
    /// `--dry-run`: validated by the server, not run.
    DryRun,
    /// It failed (the sync's error says why).
    Failed,
}

impl HookResult {
    /// How output for people says what happened.
    pub fn label(self) -> &'static str {
        match self {
            HookResult::Completed => "completed",
            HookResult::AlreadyComplete => "already complete",
            HookResult::Unchanged => "not run: unchanged since it last succeeded",
            HookResult::DryRun => "validated, not run (dry run)",
            HookResult::Failed => "failed",
        }
    }

    /// It ran to its end, now or before.
    pub fn succeeded(self) -> bool {
        matches!(self, HookResult::Completed | HookResult::AlreadyComplete)
    }
}

/// What one hook's run did, and the object it ran as (with the name the
/// server gave a `generateName` hook).
#[derive(Debug, Clone, PartialEq)]
pub struct Ran {
    pub result: HookResult,
    pub object: Option<ObjectRef>,
}

/// The inventory's key of a hook: `<component>/<hook>` for a Component's
/// own; `<component>/<phase>:<Kind>/<name>` for one from annotations (a
/// chart's ServiceAccount and Job hooks often share a name, and a hook may
/// have several phases).
pub fn key(component: &str, hook: &HookJob) -> String {
    if hook.origin == HookOrigin::Weir {
        return format!("{component}/{}", hook.name);
    }
    let kind = hook.job.get("kind").and_then(Value::as_str).unwrap_or("");
    format!("{component}/{}:{kind}/{}", hook.phase.label(), hook.name)
}

/// What a hook's last run is compared with: a hash of its object and of its
/// component's rendered objects (in plan order; serde_json writes maps with
/// sorted keys, so equal content hashes equally).
pub fn fingerprint(hook: &HookJob, objects: &[Value]) -> String {
    let mut bytes = hook.job.to_string().into_bytes();
    for object in objects {
        bytes.push(b'\n');
        bytes.extend_from_slice(object.to_string().as_bytes());
    }
    format!("{:016x}", fnv1a(&bytes))
}

/// The hook's object, labelled (its hook and, when the renderer did not,
/// its component) and hashed, its namespace filled in.
pub fn prepare(hook: &HookJob, component: &str, default_namespace: Option<&str>) -> Value {
    let mut job = hook.job.clone();
    // A Job's (or Pod's) spec, as weir has always hashed it; another
    // kind's whole content but its metadata.
    let hashed = match job.get("spec") {
        Some(spec) => spec.to_string(),
        None => {
            let mut rest = job.clone();
            if let Some(map) = rest.as_object_mut() {
                map.remove("metadata");
            }
            rest.to_string()
        }
    };
    let hash = format!("{:016x}", fnv1a(hashed.as_bytes()));
    if let Some(meta) = metadata_mut(&mut job) {
        if let Some(labels) = sub_object(meta, "labels") {
            labels.insert(HOOK_LABEL.into(), Value::String(label_value(&hook.name)));
            labels
                .entry(COMPONENT_LABEL)
                .or_insert_with(|| Value::String(component.to_owned()));
        }
        if let Some(annotations) = sub_object(meta, "annotations") {
            annotations.insert(HASH_ANNOTATION.into(), Value::String(hash));
        }
        if !meta.contains_key("namespace")
            && let Some(ns) = default_namespace
        {
            meta.insert("namespace".into(), Value::String(ns.to_owned()));
        }
    }
    job
}

fn hash_of(value: &Value) -> Option<&Value> {
    value
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(HASH_ANNOTATION))
}

/// Runs one hook to its end (a Job completed, a Pod succeeded, any other
/// object applied). Its object is not deleted on success here: the engine
/// does that once its whole phase succeeded ([`delete`]).
pub async fn run(
    cluster: &Cluster,
    hook: &HookJob,
    component: &str,
    default_namespace: Option<&str>,
    options: &ApplyOptions,
    default_timeout: Duration,
) -> Result<Ran, Error> {
    let mut value = prepare(hook, component, default_namespace);
    let (object, resolved) = cluster
        .normalise(&mut value, Some(cluster.default_namespace()))
        .await?;
    let generated = generate_name(&value).is_some();
    let timeout = hook.timeout.unwrap_or(default_timeout);
    if options.dry_run {
        if generated {
            create(cluster, hook, &value, true).await?;
        } else {
            let live = cluster.get(&object).await?;
            cluster.apply(&value, live.as_ref(), options).await?;
        }
        return Ok(Ran {
            result: HookResult::DryRun,
            object: None,
        });
    }
    let hash = hash_of(&value).cloned();
    // What earlier runs left: the object of its name, or the objects a
    // `generateName` hook created, by its labels.
    let existing: Vec<Value> = if generated {
        let selector = format!(
            "{HOOK_LABEL}={},{COMPONENT_LABEL}={}",
            label_value(&hook.name),
            label_value(component)
        );
        cluster
            .list(&resolved, object.namespace.as_deref(), Some(&selector))
            .await?
    } else {
        cluster.get(&object).await?.into_iter().collect()
    };
    let mut stale = Vec::new();
    for live in existing {
        let Ok(id) = ObjectRef::from_value(&live) else {
            continue;
        };
        let deleting = live.pointer("/metadata/deletionTimestamp").is_some();
        if !deleting && hash_of(&live) == hash.as_ref() {
            match health::completion(&live) {
                Health::Progressing(_) => {
                    tracing::info!(hook = %hook.name, object = %id, "hook still running from an earlier sync, waiting for it");
                    finish(cluster, hook, &id, timeout).await?;
                    return Ok(Ran {
                        result: HookResult::Completed,
                        object: Some(id),
                    });
                }
                Health::Ready if !hook.delete.before_creation => {
                    tracing::info!(hook = %hook.name, object = %id, "hook already completed with this spec");
                    return Ok(Ran {
                        result: HookResult::AlreadyComplete,
                        object: Some(id),
                    });
                }
                _ => {}
            }
        }
        // A named hook's object must go before it can be created again;
        // a generated one's earlier objects only with before-hook-creation.
        if !generated || hook.delete.before_creation || deleting {
            stale.push(id);
        }
    }
    for id in &stale {
        cluster
            .delete(id, PropagationPolicy::Foreground, false)
            .await?;
    }
    for id in &stale {
        wait_gone(cluster, hook, id, timeout).await?;
    }
    let created = if generated {
        let live = create(cluster, hook, &value, false).await?;
        ObjectRef::from_value(&live).map_err(apply::Error::Object)?
    } else {
        cluster.apply(&value, None, options).await?;
        object
    };
    if health::runs_to_completion(&value) {
        tracing::info!(hook = %hook.name, object = %created, "hook created, waiting for it to complete");
        finish(cluster, hook, &created, timeout).await?;
    }
    Ok(Ran {
        result: HookResult::Completed,
        object: Some(created),
    })
}

async fn create(
    cluster: &Cluster,
    hook: &HookJob,
    value: &Value,
    dry_run: bool,
) -> Result<Value, Error> {
    cluster
        .create_as(value, dry_run)
        .await
        .map_err(|e| match e {
            WriteError::Conflict { object } => Error::Exists {
                hook: hook.name.clone(),
                object,
            },
            WriteError::Cluster(e) => Error::Apply(e),
        })
}

/// Deletes a hook's object that succeeded (its policy says so); its pods
/// go with it.
pub async fn delete(cluster: &Cluster, object: &ObjectRef) -> Result<(), Error> {
    cluster
        .delete(object, PropagationPolicy::Background, false)
        .await?;
    Ok(())
}

/// Waits until the object completes; a failed one is deleted when its
/// policy says `hook-failed`.
async fn finish(
    cluster: &Cluster,
    hook: &HookJob,
    object: &ObjectRef,
    timeout: Duration,
) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(300);
    loop {
        let live = cluster.get(object).await?;
        let state = match &live {
            Some(job) => health::completion(job),
            None => Health::Failed(format!(
                "the {} was deleted while weir waited for it",
                object.kind
            )),
        };
        let failure = match state {
            Health::Ready => return Ok(()),
            Health::Failed(reason) => Error::Failed {
                hook: hook.name.clone(),
                job: object.to_string(),
                reason,
                pods: job_pods(cluster, live.as_ref(), object).await,
            },
            Health::Progressing(reason) if Instant::now() >= deadline => Error::Timeout {
                hook: hook.name.clone(),
                job: object.to_string(),
                timeout,
                reason,
                pods: job_pods(cluster, live.as_ref(), object).await,
            },
            Health::Progressing(_) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 3 / 2).min(Duration::from_secs(2));
                continue;
            }
        };
        if hook.delete.on_failure && live.is_some() {
            cluster
                .delete(object, PropagationPolicy::Background, false)
                .await?;
        }
        return Err(failure);
    }
}

async fn job_pods(cluster: &Cluster, job: Option<&Value>, object: &ObjectRef) -> Vec<String> {
    match job {
        Some(job) if object.kind == "Job" => super::wait::pod_problems(cluster, job, object)
            .await
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

async fn wait_gone(
    cluster: &Cluster,
    hook: &HookJob,
    object: &ObjectRef,
    timeout: Duration,
) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    while cluster.get(object).await?.is_some() {
        if Instant::now() >= deadline {
            return Err(Error::StuckDelete {
                hook: hook.name.clone(),
                job: object.to_string(),
                timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::spec::model::{HookDeletePolicy, HookPhase};

    fn hook(job: Value) -> HookJob {
        HookJob::own(
            "migrate",
            HookPhase::PostApply,
            job,
            HookDeletePolicy::OnSuccess,
        )
    }

    #[test]
    fn prepares_hooks() {
        let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "m"}, "spec": {"template": {}}});
        let a = prepare(&hook(job.clone()), "db", Some("db"));
        assert_eq!(a["metadata"]["namespace"], "db");
        assert_eq!(a["metadata"]["labels"][HOOK_LABEL], "migrate");
        assert_eq!(a["metadata"]["labels"][COMPONENT_LABEL], "db");
        let mut changed = job.clone();
        changed["spec"]["backoffLimit"] = json!(1);
        let b = prepare(&hook(changed), "db", Some("db"));
        assert_ne!(
            a["metadata"]["annotations"][HASH_ANNOTATION],
            b["metadata"]["annotations"][HASH_ANNOTATION]
        );
        let h = hook(job.clone());
        let objects = vec![json!({"kind": "ConfigMap", "data": {"v": "1"}})];
        assert_eq!(fingerprint(&h, &objects), fingerprint(&h, &objects.clone()));
        assert_ne!(
            fingerprint(&h, &objects),
            fingerprint(&h, &[json!({"kind": "ConfigMap", "data": {"v": "2"}})])
        );
        assert_eq!(key("db", &h), "db/migrate");

        // Any kind, hashed by its content; labels that are not maps are
        // replaced, never a panic.
        let cm = |v: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": "x"}, "data": {"v": v}});
        let mut annotated = hook(cm("1"));
        annotated.origin = HookOrigin::Helm;
        annotated.phase = HookPhase::PreApply;
        let c1 = prepare(&annotated, "db", None);
        assert_eq!(c1["metadata"]["labels"][HOOK_LABEL], "migrate");
        annotated.job = cm("2");
        assert_ne!(
            hash_of(&c1),
            hash_of(&prepare(&annotated, "db", None)),
            "a ConfigMap hook's data is in its hash"
        );
        assert_eq!(key("db", &annotated), "db/pre-apply:ConfigMap/migrate");
    }
}
