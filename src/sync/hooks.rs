//! Hooks: a component's Job run at a point of the sync (`preApply`,
//! `postApply`, `postSync`), waited for until it completes, then deleted
//! (`deletePolicy: onSuccess`, the default; a failed Job is kept for
//! inspection) or kept (`keep`).
//!
//! A hook runs when something it belongs to changed: the inventory records,
//! per hook, the [`fingerprint`] of its Job and its component's rendered
//! objects at its last successful run, and a sync whose fingerprint matches
//! skips it ([`HookResult::Unchanged`]). So a sync that changes nothing runs
//! nothing (a one-shot Job is not re-run on every sync), while a new image,
//! value or Job spec in the component runs it again, like Helm's upgrade
//! hooks. To force a re-run, change the Job (an annotation will do).
//!
//! When a hook does run: a Job that still exists, completed, with the same
//! spec (weir labels each hook Job with a hash of its rendered spec,
//! `weir.dev/hook-hash`) is not run again (the case of `keep` hooks whose
//! component changed but whose Job did not). A Job that exists with another
//! spec, or failed, is deleted (with its pods) and created again. A Job
//! still running from an interrupted sync is waited for, not duplicated.
//!
//! Under `--dry-run`, the Job is only dry-run applied (validated by the
//! server), not run.

use std::time::Duration;

use kube::core::params::PropagationPolicy;
use serde_json::Value;
use tokio::time::Instant;

use super::apply::{self, ApplyOptions, Cluster};
use super::health::{self, Health, HealthContext};
use super::inventory::fnv1a;
use super::plan::HookJob;
use crate::object::ObjectRef;
use crate::spec::model::HookDeletePolicy;

/// Label with the hook's name on its Job.
pub const HOOK_LABEL: &str = "weir.dev/hook";
/// Annotation with the hash of the Job's rendered spec.
pub const HASH_ANNOTATION: &str = "weir.dev/hook-hash";

/// Errors of a hook.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Apply(#[from] apply::Error),
    #[error("hook {hook} is not a batch/v1 Job (it is {found})")]
    NotAJob { hook: String, found: String },
    #[error("hook {hook} (Job {job}) failed: {reason}{}", pods_suffix(.pods))]
    Failed {
        hook: String,
        job: String,
        reason: String,
        pods: Vec<String>,
    },
    #[error("hook {hook} (Job {job}) did not complete within {timeout:?}: {reason}{}", pods_suffix(.pods))]
    Timeout {
        hook: String,
        job: String,
        timeout: Duration,
        reason: String,
        pods: Vec<String>,
    },
    #[error("hook {hook}: old Job {job} was not deleted within {timeout:?}")]
    StuckDelete {
        hook: String,
        job: String,
        timeout: Duration,
    },
}

fn pods_suffix(pods: &[String]) -> String {
    pods.iter().map(|p| format!("\n      {p}")).collect()
}

/// What running a hook did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum HookResult {
    /// It ran and completed (and was deleted, unless kept).
    Completed,
    /// A completed Job with the same spec already existed.
    AlreadyComplete,
    /// Skipped: it completed before for the same Job and component content.
    Unchanged,
    /// `--dry-run`: validated by the server, not run.
    DryRun,
}

impl HookResult {
    /// How output for people says what happened.
    pub fn label(self) -> &'static str {
        match self {
            HookResult::Completed => "completed",
            HookResult::AlreadyComplete => "already complete",
            HookResult::Unchanged => "not run: unchanged since it last succeeded",
            HookResult::DryRun => "validated, not run (dry run)",
        }
    }
}

/// The inventory's key of a hook: `<component>/<hook>`.
pub fn key(component: &str, hook: &HookJob) -> String {
    format!("{component}/{}", hook.name)
}

/// What a hook's last run is compared with: a hash of its Job and of its
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

/// The hook's Job, labelled and hashed, its namespace filled in.
pub fn prepare(hook: &HookJob, default_namespace: Option<&str>) -> Result<Value, Error> {
    let mut job = hook.job.clone();
    let found = format!(
        "{} {}",
        job.get("apiVersion").and_then(Value::as_str).unwrap_or("?"),
        job.get("kind").and_then(Value::as_str).unwrap_or("?")
    );
    if found != "batch/v1 Job" {
        return Err(Error::NotAJob {
            hook: hook.name.clone(),
            found,
        });
    }
    let hash = format!(
        "{:016x}",
        fnv1a(
            job.get("spec")
                .map(Value::to_string)
                .unwrap_or_default()
                .as_bytes()
        )
    );
    let meta = &mut job["metadata"];
    meta["labels"][HOOK_LABEL] = Value::String(hook.name.clone());
    meta["annotations"][HASH_ANNOTATION] = Value::String(hash);
    if meta.get("namespace").is_none()
        && let Some(ns) = default_namespace
    {
        meta["namespace"] = Value::String(ns.to_owned());
    }
    Ok(job)
}

/// Runs one hook to completion.
pub async fn run(
    cluster: &Cluster,
    hook: &HookJob,
    default_namespace: Option<&str>,
    options: &ApplyOptions,
    default_timeout: Duration,
) -> Result<HookResult, Error> {
    let mut job = prepare(hook, default_namespace)?;
    let (object, _) = cluster
        .normalise(&mut job, Some(cluster.default_namespace()))
        .await?;
    let timeout = hook.timeout.unwrap_or(default_timeout);
    if options.dry_run {
        let live = cluster.get(&object).await?;
        cluster.apply(&job, live.as_ref(), options).await?;
        return Ok(HookResult::DryRun);
    }
    let hash = job
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(HASH_ANNOTATION))
        .cloned();
    let ctx = HealthContext::default();
    if let Some(existing) = cluster.get(&object).await? {
        let same = existing
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(HASH_ANNOTATION))
            == hash.as_ref();
        let state = health::assess(&existing, &ctx);
        let deleting = existing.pointer("/metadata/deletionTimestamp").is_some();
        match state {
            Health::Ready if same && !deleting => {
                tracing::info!(hook = %hook.name, job = %object, "hook already completed with this spec");
                return Ok(HookResult::AlreadyComplete);
            }
            Health::Progressing(_) if same && !deleting => {
                tracing::info!(hook = %hook.name, job = %object, "hook Job still running from an earlier sync, waiting for it");
                return finish(cluster, hook, &object, timeout).await;
            }
            _ => {
                cluster
                    .delete(&object, PropagationPolicy::Foreground, false)
                    .await?;
                wait_gone(cluster, hook, &object, timeout).await?;
            }
        }
    }
    cluster.apply(&job, None, options).await?;
    finish(cluster, hook, &object, timeout).await
}

async fn finish(
    cluster: &Cluster,
    hook: &HookJob,
    object: &ObjectRef,
    timeout: Duration,
) -> Result<HookResult, Error> {
    let deadline = Instant::now() + timeout;
    let ctx = HealthContext::default();
    let mut delay = Duration::from_millis(300);
    loop {
        let live = cluster.get(object).await?;
        let state = match &live {
            Some(job) => health::assess(job, &ctx),
            None => Health::Failed("the Job was deleted while weir waited for it".into()),
        };
        match state {
            Health::Ready => break,
            Health::Failed(reason) => {
                return Err(Error::Failed {
                    hook: hook.name.clone(),
                    job: object.to_string(),
                    reason,
                    pods: job_pods(cluster, live.as_ref(), object).await,
                });
            }
            Health::Progressing(reason) if Instant::now() >= deadline => {
                return Err(Error::Timeout {
                    hook: hook.name.clone(),
                    job: object.to_string(),
                    timeout,
                    reason,
                    pods: job_pods(cluster, live.as_ref(), object).await,
                });
            }
            Health::Progressing(_) => {}
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 3 / 2).min(Duration::from_secs(2));
    }
    if hook.delete_policy == HookDeletePolicy::OnSuccess {
        cluster
            .delete(object, PropagationPolicy::Background, false)
            .await?;
    }
    Ok(HookResult::Completed)
}

async fn job_pods(cluster: &Cluster, job: Option<&Value>, object: &ObjectRef) -> Vec<String> {
    match job {
        Some(job) => super::wait::pod_problems(cluster, job, object)
            .await
            .unwrap_or_default(),
        None => Vec::new(),
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
    use crate::spec::model::HookPhase;

    fn hook(job: Value) -> HookJob {
        HookJob {
            name: "migrate".into(),
            phase: HookPhase::PostApply,
            job,
            delete_policy: HookDeletePolicy::OnSuccess,
            timeout: None,
        }
    }

    #[test]
    fn prepares_jobs() {
        let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "m"}, "spec": {"template": {}}});
        let a = prepare(&hook(job.clone()), Some("db")).unwrap();
        assert_eq!(a["metadata"]["namespace"], "db");
        assert_eq!(a["metadata"]["labels"][HOOK_LABEL], "migrate");
        let mut changed = job.clone();
        changed["spec"]["backoffLimit"] = json!(1);
        let b = prepare(&hook(changed), Some("db")).unwrap();
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
        let not_job = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "m"}});
        assert!(matches!(
            prepare(&hook(not_job), None),
            Err(Error::NotAJob { .. })
        ));
    }
}
