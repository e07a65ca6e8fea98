//! The agent's controller: a watch on `Sync` objects (in every namespace,
//! or the tenant namespaces it serves) that keeps one [`Worker`] per Sync,
//! hands each the changes of its object, and stops it when the Sync is
//! deleted (what it applied stays: deleting a Sync is not a prune).
//!
//! The workers' trigger channels are kept in [`Workers`], which the HTTP
//! server's webhook handler uses to say "fetch now".

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

use super::Context;
use super::resource::SyncObject;
use super::worker::{Trigger, Worker};
use crate::object::ObjectRef;
use crate::sync::rest::Change;

/// The trigger channel of each running worker, by `namespace/name`.
#[derive(Debug, Default, Clone)]
pub struct Workers {
    inner: Arc<Mutex<HashMap<String, mpsc::Sender<Trigger>>>>,
}

impl Workers {
    /// Asks the worker of `key` to fetch now; `false` when this agent runs
    /// no such worker (it is not the leader, or the Sync does not exist).
    pub async fn fetch_now(&self, key: &str) -> bool {
        let sender = self.inner.lock().await.get(key).cloned();
        match sender {
            // A full channel already holds a trigger: that one fetches.
            Some(tx) => !matches!(
                tx.try_send(Trigger::Fetch),
                Err(mpsc::error::TrySendError::Closed(_))
            ),
            None => false,
        }
    }

    /// How many workers run.
    pub async fn len(&self) -> usize {
        self.inner.lock().await.len()
    }

    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
    }
}

/// The reference of the Sync kind, for discovery.
pub fn sync_kind() -> ObjectRef {
    ObjectRef {
        group: "weir.dev".into(),
        version: "v1alpha1".into(),
        kind: super::resource::KIND.into(),
        namespace: None,
        name: String::new(),
    }
}

/// Runs the controller until it is dropped (leadership lost) or the watch
/// ends. `namespaces`: the namespaces served (empty: all).
pub async fn run(ctx: Arc<Context>, workers: Workers, namespaces: Vec<String>) {
    let resolved = loop {
        match ctx.cluster.resolve(&sync_kind()).await {
            Ok(resolved) => break resolved,
            Err(e) => {
                tracing::warn!(
                    "the Sync kind is not served ({e}); install its CRD: \
                     kubectl apply -f charts/weir/crds/syncs.weir.dev.yaml (the chart does it); \
                     retrying in 10 s"
                );
                tokio::time::sleep(Duration::from_secs(10)).await;
                let _ = ctx.cluster.refresh_discovery().await;
            }
        }
    };
    let streams: Vec<_> = if namespaces.is_empty() {
        vec![ctx.cluster.watch_changes(&resolved, None, None)]
    } else {
        namespaces
            .iter()
            .map(|ns| ctx.cluster.watch_changes(&resolved, Some(ns), None))
            .collect()
    };
    let mut changes = futures::stream::select_all(streams.into_iter().map(Box::pin));
    let mut running = StopAll {
        workers: workers.clone(),
        tasks: HashMap::new(),
    };
    while let Some(change) = changes.next().await {
        let (value, deleted) = match change {
            Change::Applied(v) => (v, false),
            Change::Deleted(v) => (v, true),
        };
        let sync = match SyncObject::from_value(value) {
            Ok(sync) => sync,
            Err(e) => {
                tracing::warn!("a Sync object that does not read: {e}");
                continue;
            }
        };
        let key = sync.key();
        let mut map = workers.inner.lock().await;
        if deleted {
            if let Some(tx) = map.remove(&key) {
                let _ = tx.try_send(Trigger::Stop);
            }
            if let Some(task) = running.tasks.remove(&key) {
                task.abort();
            }
            ctx.metrics.forget(&key);
            ctx.board.remove(&key);
            tracing::info!(sync = %key, "Sync deleted: its worker stops (what it applied stays)");
            continue;
        }
        match map.get(&key) {
            Some(tx) => {
                if tx.send(Trigger::Spec(Box::new(sync))).await.is_err() {
                    map.remove(&key);
                }
            }
            None => {
                let spec = match ctx.spec_of(&sync) {
                    Ok(spec) => spec,
                    Err(why) => {
                        tracing::warn!(sync = %key, "not served: {why}");
                        report_unservable(&ctx, &sync, &why).await;
                        continue;
                    }
                };
                let (tx, rx) = mpsc::channel(8);
                let worker = Worker::new(ctx.clone(), spec, Some(sync), rx);
                tracing::info!(sync = %key, "serving Sync");
                running
                    .tasks
                    .insert(key.clone(), tokio::spawn(worker.run()));
                map.insert(key, tx);
            }
        }
    }
}

/// Says in the Sync's status why it is not served (a `Stalled` spec).
async fn report_unservable(ctx: &Context, sync: &SyncObject, why: &str) {
    let previous = sync.status.clone().unwrap_or_default();
    let next = super::status::next(
        &previous,
        sync.metadata.generation,
        &super::status::Outcome::InvalidSpec {
            message: format!("the Sync cannot be served: {why}"),
        },
        jiff::Timestamp::now(),
    );
    if next != previous {
        let patch = serde_json::json!({"status": next});
        if let Err(e) = ctx
            .cluster
            .merge_patch(&sync.object_ref(), &patch, true)
            .await
        {
            tracing::warn!(sync = %sync.key(), "writing the status failed: {e}");
        }
    }
}

/// The running workers; dropped when the controller ends (its task is
/// aborted when leadership is lost), it aborts them all, mid-sync too: no
/// worker writes once the agent does not lead.
struct StopAll {
    workers: Workers,
    tasks: HashMap<String, JoinHandle<()>>,
}

impl Drop for StopAll {
    fn drop(&mut self) {
        for (_, task) in self.tasks.drain() {
            task.abort();
        }
        if let Ok(mut map) = self.workers.inner.try_lock() {
            map.clear();
        }
    }
}
