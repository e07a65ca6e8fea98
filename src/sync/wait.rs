//! The health gate: waits until objects are ready, watching their live state
//! (one watch per resource and namespace, each change judged as it arrives,
//! a LIST every 5 s should a watch go quiet) and judging it with
//! [`health`](super::health). When time runs out, or an object fails, the
//! error names every object that is not ready and why, down to its pods'
//! reasons (`Unschedulable: 0/7 nodes are available: …`).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::{FutureExt as _, StreamExt as _, stream};
use serde_json::Value;
use tokio::time::Instant;

use super::apply::{Cluster, Result as ApplyResult};
use super::health::{self, Health, HealthContext};
use crate::object::ObjectRef;

/// How often the objects are listed when their watches report nothing.
const POLL_EVERY: Duration = Duration::from_secs(5);
/// How often progress is reported while the count of pending objects moves.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// An object to wait for, with its own deadline and health rules.
#[derive(Debug, Clone)]
pub struct Pending {
    pub object: ObjectRef,
    pub deadline: Instant,
    /// Index into the health contexts passed to [`wait_ready`].
    pub context: usize,
}

/// An object that did not become ready.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NotReady {
    pub object: String,
    pub reason: String,
    /// Problems of its pods, merged when identical.
    pub pods: Vec<String>,
    /// True when it failed for good, false when time ran out.
    pub failed: bool,
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.object, self.reason)?;
        for p in &self.pods {
            write!(f, "\n      {p}")?;
        }
        Ok(())
    }
}

/// How waiting ended.
#[derive(Debug)]
pub enum Outcome {
    Ready,
    /// Some objects failed or timed out (already diagnosed).
    NotReady(Vec<NotReady>),
}

/// Progress callback: how many objects are still pending, and one of them
/// with its reason.
pub type OnPoll<'a> = &'a (dyn Fn(usize, &[(&ObjectRef, &str)]) + Send + Sync);

/// How many of the objects still waited for a progress report names.
pub const REPORTED_PENDING: usize = 20;

/// Waits until every pending object is ready, one fails, or deadlines pass.
/// `initial` holds live objects already known (from the apply), which are
/// judged first without a request.
pub async fn wait_ready(
    cluster: &Cluster,
    mut pending: Vec<Pending>,
    contexts: &[HealthContext],
    initial: &HashMap<ObjectRef, Value>,
    concurrency: usize,
    on_poll: OnPoll<'_>,
) -> ApplyResult<Outcome> {
    let default_ctx = HealthContext::default();
    let ctx_of = |p: &Pending| contexts.get(p.context).unwrap_or(&default_ctx);
    let mut last: HashMap<ObjectRef, (Health, Option<Value>)> = HashMap::new();
    // First pass on what the apply returned. Only what is still waited
    // for is kept (a wave of 10,000 ConfigMaps is not copied).
    pending.retain(|p| match initial.get(&p.object) {
        Some(live) => {
            let h = health::assess(live, ctx_of(p));
            if h.is_ready() {
                return false;
            }
            last.insert(p.object.clone(), (h, Some(live.clone())));
            true
        }
        None => true,
    });
    if pending.is_empty() {
        on_poll(0, &[]);
        return Ok(Outcome::Ready);
    }
    // Watch what is left: one watch per resource and namespace (by name
    // when it holds one object). Each change is judged as it arrives; a
    // LIST every few seconds covers a watch that went quiet.
    let mut groups: BTreeMap<(String, String, Option<String>), Vec<&ObjectRef>> = BTreeMap::new();
    for p in &pending {
        groups
            .entry((
                p.object.api_version(),
                p.object.kind.clone(),
                p.object.namespace.clone(),
            ))
            .or_default()
            .push(&p.object);
    }
    let mut watches = Vec::with_capacity(groups.len());
    for members in groups.values() {
        let resolved = cluster.resolve(members[0]).await?;
        let name = (members.len() == 1).then(|| members[0].name.as_str());
        watches.push(
            cluster
                .watch(&resolved, members[0].namespace.as_deref(), name)
                .boxed(),
        );
    }
    let mut changes = stream::select_all(watches);
    let mut last_poll = Instant::now();
    let mut reported: Option<(usize, Instant)> = None;
    while !pending.is_empty() {
        let now = Instant::now();
        let due = reported.is_none_or(|(n, at)| {
            (n != pending.len() && now.duration_since(at) >= PROGRESS_EVERY)
                || now.duration_since(at) >= PROGRESS_EVERY * 5
        });
        if due {
            let named: Vec<(&ObjectRef, &str)> = pending
                .iter()
                .filter_map(|p| last.get(&p.object).map(|(h, _)| (&p.object, reason_of(h))))
                .take(REPORTED_PENDING)
                .collect();
            on_poll(pending.len(), &named);
            reported = Some((pending.len(), now));
        }
        let failed: Vec<&Pending> = pending
            .iter()
            .filter(|p| matches!(last.get(&p.object), Some((Health::Failed(_), _))))
            .collect();
        let expired = pending.iter().any(|p| p.deadline <= now);
        if !failed.is_empty() || expired {
            let report: Vec<&Pending> = if failed.is_empty() {
                pending.iter().collect()
            } else {
                failed
            };
            let mut out = Vec::new();
            for p in report {
                out.push(diagnose(cluster, &p.object, last.get(&p.object)).await);
            }
            return Ok(Outcome::NotReady(out));
        }
        let next_deadline = pending.iter().map(|p| p.deadline).min().unwrap_or(now);
        let wake = next_deadline.min(last_poll + POLL_EVERY);
        let mut seen: Vec<Value> = Vec::new();
        match tokio::time::timeout_at(wake, changes.next()).await {
            Ok(Some(v)) => {
                seen.push(v);
                // Take whatever else already arrived, judged together.
                while let Some(Some(v)) = changes.next().now_or_never() {
                    seen.push(v);
                }
            }
            Ok(None) => tokio::time::sleep_until(wake).await,
            Err(_) => {}
        }
        if seen.is_empty() {
            // Nothing arrived in time: look for ourselves.
            last_poll = Instant::now();
            let objects: Vec<ObjectRef> = pending.iter().map(|p| p.object.clone()).collect();
            let live = cluster.fetch_live(&objects, concurrency).await?;
            for p in &pending {
                let (h, obj) = match live.get(&p.object).cloned().flatten() {
                    Some(obj) => (health::assess(&obj, ctx_of(p)), Some(obj)),
                    None => (
                        Health::Progressing("does not exist (deleted by someone else?)".into()),
                        None,
                    ),
                };
                last.insert(p.object.clone(), (h, obj));
            }
        } else {
            let index: HashMap<&ObjectRef, &Pending> =
                pending.iter().map(|p| (&p.object, p)).collect();
            for v in seen {
                let Ok(object) = ObjectRef::from_value(&v) else {
                    continue;
                };
                if let Some(&p) = index.get(&object) {
                    let h = health::assess(&v, ctx_of(p));
                    last.insert(object, (h, Some(v)));
                }
            }
        }
        pending.retain(|p| !matches!(last.get(&p.object), Some((Health::Ready, _))));
    }
    on_poll(0, &[]);
    Ok(Outcome::Ready)
}

fn reason_of(h: &Health) -> &str {
    match h {
        Health::Ready => "ready",
        Health::Progressing(r) | Health::Failed(r) => r,
    }
}

/// Explains why an object is not ready, listing its pods when it has any.
pub async fn diagnose(
    cluster: &Cluster,
    object: &ObjectRef,
    last: Option<&(Health, Option<Value>)>,
) -> NotReady {
    let (reason, failed) = match last {
        Some((Health::Failed(r), _)) => (r.clone(), true),
        Some((Health::Progressing(r), _)) => (r.clone(), false),
        Some((Health::Ready, _)) => ("ready".into(), false),
        None => ("not yet observed".into(), false),
    };
    let pods = match last.and_then(|(_, live)| live.as_ref()) {
        Some(live) if health::has_pods(live) => pod_problems(cluster, live, object)
            .await
            .unwrap_or_else(|e| vec![format!("could not list its pods: {e}")]),
        Some(_) if object.is_kind("", "PersistentVolumeClaim") => {
            events_of(cluster, object).await.unwrap_or_default()
        }
        _ => Vec::new(),
    };
    NotReady {
        object: object.to_string(),
        reason,
        pods,
        failed,
    }
}

/// Problems of the pods a workload selects.
pub async fn pod_problems(
    cluster: &Cluster,
    workload: &Value,
    object: &ObjectRef,
) -> ApplyResult<Vec<String>> {
    let Some(selector) = health::selector_string(workload) else {
        return Ok(Vec::new());
    };
    let pod_ref = ObjectRef {
        group: String::new(),
        version: "v1".into(),
        kind: "Pod".into(),
        namespace: object.namespace.clone(),
        name: String::new(),
    };
    let resolved = cluster.resolve(&pod_ref).await?;
    let pods = cluster
        .list(&resolved, object.namespace.as_deref(), Some(&selector))
        .await?;
    let mut problems = health::summarise_pod_problems(&pods);
    if pods.is_empty() {
        problems.push(format!("no pods match {selector} yet"));
    }
    problems.truncate(5);
    Ok(problems)
}

/// The latest events of an object (newest last, identical ones merged), as
/// `Reason: message`: why a claim stays Pending (`ProvisioningFailed`,
/// `FailedBinding: no persistent volumes available for this claim …`).
pub async fn events_of(cluster: &Cluster, object: &ObjectRef) -> ApplyResult<Vec<String>> {
    let event_ref = ObjectRef {
        group: String::new(),
        version: "v1".into(),
        kind: "Event".into(),
        namespace: object.namespace.clone(),
        name: String::new(),
    };
    let resolved = cluster.resolve(&event_ref).await?;
    let fields = format!(
        "involvedObject.kind={},involvedObject.name={}",
        object.kind, object.name
    );
    let mut events = cluster
        .list_selected(&resolved, object.namespace.as_deref(), None, Some(&fields))
        .await?;
    let time = |e: &Value| {
        [
            "/lastTimestamp",
            "/eventTime",
            "/metadata/creationTimestamp",
        ]
        .iter()
        .find_map(|p| e.pointer(p).and_then(Value::as_str))
        .unwrap_or("")
        .to_owned()
    };
    events.sort_by_key(time);
    let mut lines: Vec<String> = Vec::new();
    for e in events.iter().rev() {
        let reason = e.get("reason").and_then(Value::as_str).unwrap_or("");
        let message = e.get("message").and_then(Value::as_str).unwrap_or("");
        let line = format!("{reason}: {}", message.trim());
        if !lines.contains(&line) {
            lines.push(line);
        }
        if lines.len() == 3 {
            break;
        }
    }
    lines.reverse();
    Ok(lines)
}
