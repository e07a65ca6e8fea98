//! Health of live objects, per kind: pure functions from a live object to
//! [`Health`]. The wave's health gate ([`wait`](super::wait)) polls these.
//!
//! | kind | ready when |
//! |---|---|
//! | Deployment | controller observed the generation; all replicas updated and available, no old ones left (`ProgressDeadlineExceeded` fails) |
//! | StatefulSet | observed; ready/available = replicas; updated = replicas − partition, and the update revision is current |
//! | DaemonSet | observed; updated and available = desired scheduled |
//! | ReplicaSet | observed; ready = replicas |
//! | Job | `Complete`; `Failed` fails with its reason |
//! | Pod | `Succeeded`, or `Running` and `Ready`; `Failed` fails (a hook Pod: only `Succeeded`, [`completion`]) |
//! | CustomResourceDefinition | `Established` and `NamesAccepted` (`NamesAccepted=False` fails) |
//! | Namespace | `Active` |
//! | PersistentVolumeClaim | `Bound`, or `Pending` on a `WaitForFirstConsumer` StorageClass; `Lost` fails |
//! | APIService | `Available` |
//! | anything with `status.conditions` | its `Ready` (else `Available`) condition is `True` at the current generation |
//! | anything else | ready once applied |
//!
//! A component's `health.conditions` add conditions that must hold on
//! objects of a kind.

use std::collections::HashMap;

use serde_json::Value;

use crate::spec::model::ExtraCondition;

/// Whether an object is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ready,
    /// Not yet; the reason says what it is waiting for.
    Progressing(String),
    /// It will not become ready by waiting (a failed Job, a rollout past its
    /// deadline).
    Failed(String),
}

impl Health {
    pub fn is_ready(&self) -> bool {
        matches!(self, Health::Ready)
    }
}

/// What health assessment needs besides the object itself.
#[derive(Debug, Clone, Default)]
pub struct HealthContext {
    /// StorageClass name → `volumeBindingMode`.
    pub storage_classes: HashMap<String, String>,
    /// The StorageClass marked default, if any.
    pub default_storage_class: Option<String>,
    /// Extra conditions from the component's `health.conditions`.
    pub extra: Vec<ExtraCondition>,
}

/// The health of a live object.
pub fn assess(obj: &Value, ctx: &HealthContext) -> Health {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let base = match (group, kind) {
        ("apps", "Deployment") => deployment(obj),
        ("apps", "StatefulSet") => stateful_set(obj),
        ("apps", "DaemonSet") => daemon_set(obj),
        ("apps", "ReplicaSet") => replica_set(obj),
        ("batch", "Job") => job(obj),
        ("", "Pod") => pod(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd(obj),
        ("", "Namespace") => namespace(obj),
        ("", "PersistentVolumeClaim") => pvc(obj, ctx),
        ("apiregistration.k8s.io", "APIService") => condition_true(obj, "Available")
            .unwrap_or_else(|| Health::Progressing("waiting for condition Available".into())),
        _ => generic(obj),
    };
    if base != Health::Ready {
        return base;
    }
    for extra in ctx.extra.iter().filter(|c| c.kind == kind) {
        let want = extra.status.as_deref().unwrap_or("True");
        let have = condition(obj, &extra.condition_type);
        let status = have.and_then(|c| c.get("status")).and_then(Value::as_str);
        if status != Some(want) {
            return Health::Progressing(format!(
                "waiting for condition {}={want}{}",
                extra.condition_type,
                have.map(condition_detail).unwrap_or_default()
            ));
        }
    }
    Health::Ready
}

/// Whether a hook's object has run to completion, as Helm waits for
/// hooks: a Job until `Complete` (`Failed` fails), a Pod until
/// `Succeeded` (`Failed` fails; `Running` and `Ready` is still running);
/// any other kind is done once it exists.
pub fn completion(obj: &Value) -> Health {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    match (api_version, kind) {
        ("batch/v1", "Job") => job(obj),
        ("v1", "Pod") => match text(obj, "/status/phase") {
            Some("Succeeded") => Health::Ready,
            Some("Failed") => {
                Health::Failed(pod_problem(obj).unwrap_or_else(|| "pod failed".to_owned()))
            }
            phase => Health::Progressing(format!(
                "pod {}, not Succeeded yet",
                phase.unwrap_or("Pending")
            )),
        },
        _ => Health::Ready,
    }
}

/// Whether a hook of this kind is waited for until it completes (Jobs and
/// Pods); any other is applied and done, as Helm does.
pub fn runs_to_completion(obj: &Value) -> bool {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    matches!((api_version, kind), ("batch/v1", "Job") | ("v1", "Pod"))
}

fn int(obj: &Value, pointer: &str) -> Option<i64> {
    obj.pointer(pointer).and_then(Value::as_i64)
}

fn text<'a>(obj: &'a Value, pointer: &str) -> Option<&'a str> {
    obj.pointer(pointer).and_then(Value::as_str)
}

/// The condition of a type in `status.conditions`.
pub fn condition<'a>(obj: &'a Value, condition_type: &str) -> Option<&'a Value> {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(condition_type))
}

/// ` (Reason: message)` of a condition, or empty.
fn condition_detail(c: &Value) -> String {
    let reason = c.get("reason").and_then(Value::as_str).unwrap_or("");
    let message = c.get("message").and_then(Value::as_str).unwrap_or("");
    match (reason.is_empty(), message.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!(" ({reason})"),
        (true, false) => format!(" ({message})"),
        (false, false) => format!(" ({reason}: {message})"),
    }
}

/// `Some(Ready)` when the condition is True, `Some(Progressing)` when it is
/// present but not True, `None` when absent.
fn condition_true(obj: &Value, condition_type: &str) -> Option<Health> {
    let c = condition(obj, condition_type)?;
    if c.get("status").and_then(Value::as_str) == Some("True") {
        Some(Health::Ready)
    } else {
        Some(Health::Progressing(format!(
            "condition {condition_type} is not True{}",
            condition_detail(c)
        )))
    }
}

/// `Progressing` while the controller has not seen the latest spec.
fn observed(obj: &Value) -> Option<Health> {
    let generation = int(obj, "/metadata/generation")?;
    let observed = int(obj, "/status/observedGeneration").unwrap_or(0);
    (observed < generation).then(|| {
        Health::Progressing(format!(
            "waiting for the controller to observe generation {generation} (seen {observed})"
        ))
    })
}

fn deployment(obj: &Value) -> Health {
    if let Some(h) = observed(obj) {
        return h;
    }
    if let Some(c) = condition(obj, "Progressing")
        && text(c, "/reason") == Some("ProgressDeadlineExceeded")
    {
        return Health::Failed(format!("rollout failed{}", condition_detail(c)));
    }
    let replicas = int(obj, "/spec/replicas").unwrap_or(1);
    let updated = int(obj, "/status/updatedReplicas").unwrap_or(0);
    let total = int(obj, "/status/replicas").unwrap_or(0);
    let available = int(obj, "/status/availableReplicas").unwrap_or(0);
    let failure = condition(obj, "ReplicaFailure")
        .filter(|c| text(c, "/status") == Some("True"))
        .map(condition_detail)
        .unwrap_or_default();
    if updated < replicas {
        Health::Progressing(format!("{updated} of {replicas} replicas updated{failure}"))
    } else if total > updated {
        Health::Progressing(format!(
            "{} old replicas pending termination",
            total - updated
        ))
    } else if available < updated {
        Health::Progressing(format!(
            "{available} of {updated} updated replicas available{failure}"
        ))
    } else {
        Health::Ready
    }
}

fn stateful_set(obj: &Value) -> Health {
    if let Some(h) = observed(obj) {
        return h;
    }
    if text(obj, "/spec/updateStrategy/type") == Some("OnDelete") {
        return Health::Ready;
    }
    let replicas = int(obj, "/spec/replicas").unwrap_or(1);
    let ready = int(obj, "/status/readyReplicas").unwrap_or(0);
    let partition = int(obj, "/spec/updateStrategy/rollingUpdate/partition").unwrap_or(0);
    let updated = int(obj, "/status/updatedReplicas").unwrap_or(0);
    if ready < replicas {
        return Health::Progressing(format!("{ready} of {replicas} replicas ready"));
    }
    if let Some(available) = int(obj, "/status/availableReplicas")
        && available < replicas
    {
        return Health::Progressing(format!("{available} of {replicas} replicas available"));
    }
    if partition > 0 {
        let want = replicas - partition;
        return if updated < want {
            Health::Progressing(format!(
                "{updated} of {want} replicas updated (partition {partition})"
            ))
        } else {
            Health::Ready
        };
    }
    let current = text(obj, "/status/currentRevision");
    let update = text(obj, "/status/updateRevision");
    if update.is_some() && current != update {
        return Health::Progressing(format!("{updated} of {replicas} replicas updated"));
    }
    Health::Ready
}

fn daemon_set(obj: &Value) -> Health {
    if let Some(h) = observed(obj) {
        return h;
    }
    if text(obj, "/spec/updateStrategy/type") == Some("OnDelete") {
        return Health::Ready;
    }
    let desired = int(obj, "/status/desiredNumberScheduled").unwrap_or(0);
    let updated = int(obj, "/status/updatedNumberScheduled").unwrap_or(0);
    let available = int(obj, "/status/numberAvailable").unwrap_or(0);
    if updated < desired {
        Health::Progressing(format!("{updated} of {desired} pods updated"))
    } else if available < desired {
        Health::Progressing(format!("{available} of {desired} pods available"))
    } else {
        Health::Ready
    }
}

fn replica_set(obj: &Value) -> Health {
    if let Some(h) = observed(obj) {
        return h;
    }
    let replicas = int(obj, "/spec/replicas").unwrap_or(1);
    let ready = int(obj, "/status/readyReplicas").unwrap_or(0);
    if ready < replicas {
        Health::Progressing(format!("{ready} of {replicas} replicas ready"))
    } else {
        Health::Ready
    }
}

fn job(obj: &Value) -> Health {
    let is_true = |t: &str| condition(obj, t).and_then(|c| text(c, "/status")) == Some("True");
    if is_true("Complete") {
        return Health::Ready;
    }
    if is_true("Failed") {
        let detail = condition(obj, "Failed")
            .map(condition_detail)
            .unwrap_or_default();
        return Health::Failed(format!("Job failed{detail}"));
    }
    let succeeded = int(obj, "/status/succeeded").unwrap_or(0);
    let completions = int(obj, "/spec/completions").unwrap_or(1);
    let active = int(obj, "/status/active").unwrap_or(0);
    let failed = int(obj, "/status/failed").unwrap_or(0);
    let mut reason = format!("{succeeded} of {completions} completions, {active} active");
    if failed > 0 {
        reason.push_str(&format!(", {failed} failed"));
    }
    Health::Progressing(reason)
}

fn pod(obj: &Value) -> Health {
    match text(obj, "/status/phase") {
        Some("Succeeded") => Health::Ready,
        Some("Failed") => {
            Health::Failed(pod_problem(obj).unwrap_or_else(|| "pod failed".to_owned()))
        }
        Some("Running")
            if condition(obj, "Ready").and_then(|c| text(c, "/status")) == Some("True") =>
        {
            Health::Ready
        }
        _ => Health::Progressing(pod_problem(obj).unwrap_or_else(|| "pod not ready".to_owned())),
    }
}

fn crd(obj: &Value) -> Health {
    if let Some(c) = condition(obj, "NamesAccepted")
        && text(c, "/status") == Some("False")
    {
        return Health::Failed(format!("names not accepted{}", condition_detail(c)));
    }
    for t in ["NamesAccepted", "Established"] {
        match condition_true(obj, t) {
            Some(Health::Ready) => {}
            Some(h) => return h,
            None => return Health::Progressing(format!("waiting for condition {t}")),
        }
    }
    Health::Ready
}

fn namespace(obj: &Value) -> Health {
    match text(obj, "/status/phase") {
        Some("Active") | None => Health::Ready,
        Some(phase) => Health::Progressing(format!("namespace is {phase}")),
    }
}

fn pvc(obj: &Value, ctx: &HealthContext) -> Health {
    match text(obj, "/status/phase") {
        Some("Bound") => Health::Ready,
        Some("Lost") => Health::Failed("claim lost its volume".into()),
        phase => {
            let class = text(obj, "/spec/storageClassName")
                .map(str::to_owned)
                .or_else(|| ctx.default_storage_class.clone());
            let mode = class.as_deref().and_then(|c| ctx.storage_classes.get(c));
            if mode.is_some_and(|m| m == "WaitForFirstConsumer") {
                return Health::Ready;
            }
            let why = match (class.as_deref(), mode) {
                (Some(c), Some(m)) => format!("StorageClass {c} binds {m}"),
                (Some(c), None) => format!("StorageClass {c} does not exist"),
                (None, _) => "no storageClassName and no default StorageClass".to_owned(),
            };
            Health::Progressing(format!(
                "claim is {} (not Bound; {why})",
                phase.unwrap_or("Pending")
            ))
        }
    }
}

/// Custom resources: a `Ready` (else `Available`) condition must be True,
/// and not stale: the condition's (or status's) observedGeneration, when
/// given, must have caught up with `metadata.generation`.
fn generic(obj: &Value) -> Health {
    let Some(c) = condition(obj, "Ready").or_else(|| condition(obj, "Available")) else {
        return Health::Ready;
    };
    let t = text(c, "/type").unwrap_or("Ready");
    if let Some(generation) = int(obj, "/metadata/generation") {
        let seen = c
            .get("observedGeneration")
            .and_then(Value::as_i64)
            .or_else(|| int(obj, "/status/observedGeneration"));
        if let Some(seen) = seen
            && seen < generation
        {
            return Health::Progressing(format!(
                "condition {t} is for generation {seen}, waiting for {generation}"
            ));
        }
    }
    if text(c, "/status") == Some("True") {
        Health::Ready
    } else {
        Health::Progressing(format!("condition {t} is not True{}", condition_detail(c)))
    }
}

/// Why a pod is not running and ready, from its conditions and container
/// states: `Unschedulable: 0/7 nodes are available: …`,
/// `ImagePullBackOff: …`, `CrashLoopBackOff`, `Error (exit code 1)`.
pub fn pod_problem(pod: &Value) -> Option<String> {
    if let Some(c) = condition(pod, "PodScheduled")
        && text(c, "/status") == Some("False")
    {
        let reason = text(c, "/reason").unwrap_or("NotScheduled");
        return Some(match text(c, "/message") {
            Some(m) => format!("{reason}: {m}"),
            None => reason.to_owned(),
        });
    }
    let statuses = ["/status/initContainerStatuses", "/status/containerStatuses"];
    for pointer in statuses {
        for cs in pod
            .pointer(pointer)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = text(cs, "/name").unwrap_or("?");
            if let Some(waiting) = cs.pointer("/state/waiting") {
                let reason = text(waiting, "/reason").unwrap_or("Waiting");
                if reason == "PodInitializing" || reason == "ContainerCreating" {
                    continue;
                }
                return Some(match text(waiting, "/message") {
                    Some(m) => format!("container {name}: {reason}: {m}"),
                    None => format!("container {name}: {reason}"),
                });
            }
            if let Some(term) = cs.pointer("/state/terminated")
                && int(term, "/exitCode").unwrap_or(0) != 0
            {
                let reason = text(term, "/reason").unwrap_or("Terminated");
                let code = int(term, "/exitCode").unwrap_or(0);
                return Some(match text(term, "/message") {
                    Some(m) => format!("container {name}: {reason} (exit code {code}): {m}"),
                    None => format!("container {name}: {reason} (exit code {code})"),
                });
            }
        }
    }
    if let Some(reason) = text(pod, "/status/reason") {
        return Some(match text(pod, "/status/message") {
            Some(m) => format!("{reason}: {m}"),
            None => reason.to_owned(),
        });
    }
    if let Some(c) = condition(pod, "Ready")
        && text(c, "/status") != Some("True")
    {
        return Some(format!("not ready{}", condition_detail(c)));
    }
    None
}

/// The pods' problems, identical ones merged: `2 pods: Unschedulable: …`.
pub fn summarise_pod_problems(pods: &[Value]) -> Vec<String> {
    let mut seen: Vec<(String, Vec<String>)> = Vec::new();
    for p in pods {
        if pod(p).is_ready() {
            continue;
        }
        let Some(problem) = pod_problem(p) else {
            continue;
        };
        let name = text(p, "/metadata/name").unwrap_or("?").to_owned();
        match seen.iter_mut().find(|(p, _)| *p == problem) {
            Some((_, names)) => names.push(name),
            None => seen.push((problem, vec![name])),
        }
    }
    seen.into_iter()
        .map(|(problem, names)| match names.as_slice() {
            [one] => format!("pod {one}: {problem}"),
            many => format!("{} pods ({}, …): {problem}", many.len(), many[0]),
        })
        .collect()
}

/// The label selector of a workload (`spec.selector`) in the syntax of
/// `?labelSelector=`, or `None` when it has none.
pub fn selector_string(obj: &Value) -> Option<String> {
    let selector = obj.pointer("/spec/selector")?;
    let mut parts = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            parts.push(format!("{k}={}", v.as_str()?));
        }
    }
    if let Some(exprs) = selector.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let key = text(e, "/key")?;
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            parts.push(match text(e, "/operator")? {
                "In" => format!("{key} in ({})", values.join(",")),
                "NotIn" => format!("{key} notin ({})", values.join(",")),
                "Exists" => key.to_owned(),
                "DoesNotExist" => format!("!{key}"),
                _ => return None,
            });
        }
    }
    (!parts.is_empty()).then(|| parts.join(","))
}

/// True for kinds whose pods are worth listing when they are not ready.
pub fn has_pods(obj: &Value) -> bool {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    matches!(
        kind,
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job"
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ctx() -> HealthContext {
        HealthContext::default()
    }

    fn deploy(status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "generation": 2},
            "spec": {"replicas": 3}, "status": status})
    }

    #[test]
    fn deployments() {
        assert_eq!(
            assess(&deploy(json!({"observedGeneration": 1})), &ctx()),
            Health::Progressing(
                "waiting for the controller to observe generation 2 (seen 1)".into()
            )
        );
        assert_eq!(
            assess(
                &deploy(json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1})),
                &ctx()
            ),
            Health::Progressing("1 of 3 replicas updated".into())
        );
        assert_eq!(
            assess(
                &deploy(json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3})),
                &ctx()
            ),
            Health::Progressing("1 old replicas pending termination".into())
        );
        assert_eq!(
            assess(
                &deploy(
                    json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 2})
                ),
                &ctx()
            ),
            Health::Progressing("2 of 3 updated replicas available".into())
        );
        assert_eq!(
            assess(
                &deploy(
                    json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3})
                ),
                &ctx()
            ),
            Health::Ready
        );
        let stuck = deploy(json!({"observedGeneration": 2, "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": "ReplicaSet \"d-1\" has timed out progressing."}]}));
        assert!(
            matches!(assess(&stuck, &ctx()), Health::Failed(m) if m.contains("ProgressDeadlineExceeded"))
        );
    }

    #[test]
    fn stateful_sets_and_daemon_sets() {
        let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"generation": 1},
            "spec": {"replicas": 2}, "status": {"observedGeneration": 1, "readyReplicas": 2,
            "availableReplicas": 2, "updatedReplicas": 2, "currentRevision": "a", "updateRevision": "a"}});
        assert_eq!(assess(&sts, &ctx()), Health::Ready);
        let mut rolling = sts.clone();
        rolling["status"]["updateRevision"] = json!("b");
        assert!(matches!(assess(&rolling, &ctx()), Health::Progressing(_)));
        let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"generation": 1},
            "status": {"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 2}});
        assert_eq!(
            assess(&ds, &ctx()),
            Health::Progressing("2 of 3 pods available".into())
        );
    }

    #[test]
    fn hook_completion() {
        let pod = |phase: &str| {
            json!({"apiVersion": "v1", "kind": "Pod", "status": {"phase": phase,
            "conditions": [{"type": "Ready", "status": "True"}]}})
        };
        assert_eq!(completion(&pod("Succeeded")), Health::Ready);
        assert!(matches!(completion(&pod("Failed")), Health::Failed(_)));
        assert!(
            matches!(completion(&pod("Running")), Health::Progressing(_)),
            "a hook Pod that is Running and Ready has not completed"
        );
        assert_eq!(assess(&pod("Running"), &ctx()), Health::Ready);
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert_eq!(completion(&cm), Health::Ready);
        assert!(!runs_to_completion(&cm));
        assert!(runs_to_completion(&pod("Pending")));
        let job = json!({"apiVersion": "batch/v1", "kind": "Job",
            "status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(completion(&job), Health::Ready);
        assert!(runs_to_completion(&job));
    }

    #[test]
    fn jobs() {
        let done = json!({"apiVersion": "batch/v1", "kind": "Job", "status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(assess(&done, &ctx()), Health::Ready);
        let failed = json!({"apiVersion": "batch/v1", "kind": "Job", "status": {"conditions": [
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}});
        assert_eq!(
            assess(&failed, &ctx()),
            Health::Failed(
                "Job failed (BackoffLimitExceeded: Job has reached the specified backoff limit)"
                    .into()
            )
        );
        let running = json!({"apiVersion": "batch/v1", "kind": "Job", "status": {"active": 1}});
        assert_eq!(
            assess(&running, &ctx()),
            Health::Progressing("0 of 1 completions, 1 active".into())
        );
    }

    #[test]
    fn crds_namespaces_apiservices() {
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "status": {"conditions": [{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "True"}]}});
        assert_eq!(assess(&crd, &ctx()), Health::Ready);
        let pending = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "status": {"conditions": [{"type": "NamesAccepted", "status": "True"}]}});
        assert_eq!(
            assess(&pending, &ctx()),
            Health::Progressing("waiting for condition Established".into())
        );
        let clash = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "status": {"conditions": [{"type": "NamesAccepted", "status": "False", "reason": "ListKindConflict"}]}});
        assert!(matches!(assess(&clash, &ctx()), Health::Failed(_)));
        let ns =
            json!({"apiVersion": "v1", "kind": "Namespace", "status": {"phase": "Terminating"}});
        assert_eq!(
            assess(&ns, &ctx()),
            Health::Progressing("namespace is Terminating".into())
        );
        let api = json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "status": {"conditions": [{"type": "Available", "status": "False", "reason": "MissingEndpoints"}]}});
        assert_eq!(
            assess(&api, &ctx()),
            Health::Progressing("condition Available is not True (MissingEndpoints)".into())
        );
    }

    #[test]
    fn pvcs() {
        let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "spec": {}, "status": {"phase": "Pending"}});
        assert_eq!(
            assess(&pvc, &ctx()),
            Health::Progressing(
                "claim is Pending (not Bound; no storageClassName and no default StorageClass)"
                    .into()
            )
        );
        let mut c = ctx();
        c.storage_classes.insert("fast".into(), "Immediate".into());
        let fast = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "spec": {"storageClassName": "fast"}, "status": {"phase": "Pending"}});
        assert_eq!(
            assess(&fast, &c),
            Health::Progressing(
                "claim is Pending (not Bound; StorageClass fast binds Immediate)".into()
            )
        );
        c.storage_classes
            .insert("local".into(), "WaitForFirstConsumer".into());
        c.default_storage_class = Some("local".into());
        assert_eq!(assess(&pvc, &c), Health::Ready);
        let bound = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {"phase": "Bound"}});
        assert_eq!(assess(&bound, &ctx()), Health::Ready);
    }

    #[test]
    fn custom_resources() {
        let cr = |status: &str, observed: i64| {
            json!({"apiVersion": "x.dev/v1", "kind": "Thing",
            "metadata": {"generation": 2},
            "status": {"conditions": [{"type": "Ready", "status": status, "observedGeneration": observed, "reason": "Reconciling"}]}})
        };
        assert_eq!(assess(&cr("True", 2), &ctx()), Health::Ready);
        assert!(
            matches!(assess(&cr("True", 1), &ctx()), Health::Progressing(m) if m.contains("generation 1"))
        );
        assert_eq!(
            assess(&cr("False", 2), &ctx()),
            Health::Progressing("condition Ready is not True (Reconciling)".into())
        );
        let no_status = json!({"apiVersion": "x.dev/v1", "kind": "Thing"});
        assert_eq!(assess(&no_status, &ctx()), Health::Ready);
    }

    #[test]
    fn extra_conditions() {
        let mut c = ctx();
        c.extra.push(ExtraCondition {
            kind: "Thing".into(),
            condition_type: "Synced".into(),
            status: None,
        });
        let cr = json!({"apiVersion": "x.dev/v1", "kind": "Thing", "status": {"conditions": [{"type": "Synced", "status": "False", "reason": "Pending"}]}});
        assert_eq!(
            assess(&cr, &c),
            Health::Progressing("waiting for condition Synced=True (Pending)".into())
        );
    }

    #[test]
    fn pod_reasons() {
        let unschedulable = json!({"metadata": {"name": "p-1"}, "status": {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": "0/7 nodes are available: 7 node(s) didn't match Pod's node affinity/selector."}]}});
        let mut second = unschedulable.clone();
        second["metadata"]["name"] = json!("p-2");
        let crash = json!({"metadata": {"name": "q"}, "status": {"phase": "Running", "containerStatuses": [
            {"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}}}]}});
        insta::assert_debug_snapshot!(summarise_pod_problems(&[unschedulable, second, crash]), @r#"
        [
            "2 pods (p-1, …): Unschedulable: 0/7 nodes are available: 7 node(s) didn't match Pod's node affinity/selector.",
            "pod q: container app: CrashLoopBackOff: back-off 10s",
        ]
        "#);
    }

    #[test]
    fn selectors() {
        let d = json!({"spec": {"selector": {"matchLabels": {"app": "a"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["x", "y"]}, {"key": "legacy", "operator": "DoesNotExist"}]}}});
        assert_eq!(selector_string(&d).unwrap(), "app=a,tier in (x,y),!legacy");
        assert_eq!(selector_string(&json!({"spec": {}})), None);
    }
}
