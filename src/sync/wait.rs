//! The health gate: waits until objects are ready, polling their live state
//! (every 500 ms, backing off to 2 s) and judging it with
//! [`health`](super::health). When time runs out, or an object fails, the
//! error names every object that is not ready and why, down to its pods'
//! reasons (`Unschedulable: 0/7 nodes are available: …`).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::apply::{Cluster, Result as ApplyResult};
use super::health::{self, Health, HealthContext};
use super::object::ObjectRef;

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
pub type OnPoll<'a> = &'a (dyn Fn(usize, Option<(&ObjectRef, &str)>) + Send + Sync);

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
    // First pass on what the apply returned.
    pending.retain(|p| match initial.get(&p.object) {
        Some(live) => {
            let h = health::assess(live, ctx_of(p));
            let ready = h.is_ready();
            last.insert(p.object.clone(), (h, Some(live.clone())));
            !ready
        }
        None => true,
    });
    let mut delay = Duration::from_millis(500);
    while !pending.is_empty() {
        let first = pending
            .first()
            .and_then(|p| last.get(&p.object).map(|(h, _)| (&p.object, reason_of(h))));
        on_poll(pending.len(), first);
        let now = Instant::now();
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
        tokio::time::sleep(delay.min(next_deadline.saturating_duration_since(now))).await;
        delay = (delay * 3 / 2).min(Duration::from_secs(2));
        let objects: Vec<ObjectRef> = pending.iter().map(|p| p.object.clone()).collect();
        let live = cluster.fetch_live(&objects, concurrency).await?;
        pending.retain(|p| {
            let h = match live.get(&p.object).and_then(Option::as_ref) {
                Some(obj) => health::assess(obj, ctx_of(p)),
                None => Health::Progressing("does not exist (deleted by someone else?)".into()),
            };
            let ready = h.is_ready();
            let obj = live.get(&p.object).cloned().flatten();
            last.insert(p.object.clone(), (h, obj));
            !ready
        });
    }
    on_poll(0, None);
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
