//! Drift detection between commits: watches on the objects a worker last
//! applied (one per resource and namespace, `app.kubernetes.io/managed-by=weir`
//! selected) that tell the worker, within moments, about an object someone
//! deleted or changed by hand (`kubectl edit`, `kubectl delete`).
//!
//! Whether an object drifted is decided from the watch event alone, with
//! the sync's own comparison ([`compare::in_sync`](crate::sync::compare::in_sync)):
//! a field weir set that now differs, or is gone. Status updates of
//! controllers, and the agent's own applies, are not drift. Nothing here
//! writes: the worker heals.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::StreamExt as _;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::object::{ObjectKey, ObjectRef};
use crate::render::{MANAGED_BY, MANAGED_BY_LABEL};
use crate::sync::Cluster;
use crate::sync::apply::FIELD_MANAGER;
use crate::sync::compare;
use crate::sync::rest::Change;

/// The objects a worker keeps as applied: normalised, by identity.
pub type Desired = Arc<HashMap<ObjectKey, Value>>;

/// A drifted object, as the watch saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Drifted {
    pub key: ObjectKey,
    /// Its state now; `None` when it was deleted.
    pub live: Option<Value>,
    /// What differs, in words (`deleted`, `.spec.replicas differs`).
    pub why: String,
}

/// Running watches for one worker; they stop when this is dropped.
#[derive(Debug)]
pub struct DriftWatch {
    task: JoinHandle<()>,
}

impl Drop for DriftWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DriftWatch {
    /// Starts watching the resources and namespaces of `desired`; drifted
    /// objects are sent to `tx`. Kinds the cluster does not serve (a CRD
    /// removed since) are skipped.
    pub async fn start(
        cluster: &Arc<Cluster>,
        desired: Desired,
        tx: mpsc::Sender<Drifted>,
    ) -> Self {
        // One watch per (resource, namespace).
        let mut scopes: BTreeMap<(String, String, String, Option<String>), ObjectRef> =
            BTreeMap::new();
        for value in desired.values() {
            if let Ok(object) = ObjectRef::from_value(value) {
                scopes
                    .entry((
                        object.group.clone(),
                        object.version.clone(),
                        object.kind.clone(),
                        object.namespace.clone(),
                    ))
                    .or_insert(object);
            }
        }
        let selector = format!("{MANAGED_BY_LABEL}={MANAGED_BY}");
        let mut streams = Vec::new();
        for ((.., namespace), object) in scopes {
            match cluster.resolve(&object).await {
                Ok(resolved) => streams.push(cluster.watch_changes(
                    &resolved,
                    namespace.as_deref(),
                    Some(&selector),
                )),
                Err(e) => tracing::debug!(%object, error = %e, "not watched for drift"),
            }
        }
        let task = tokio::spawn(async move {
            let mut changes = futures::stream::select_all(streams.into_iter().map(Box::pin));
            while let Some(change) = changes.next().await {
                if let Some(drifted) = drifted(&desired, change)
                    && tx.send(drifted).await.is_err()
                {
                    return;
                }
            }
        });
        Self { task }
    }
}

/// Whether a watch event shows an object of `desired` drifted.
pub fn drifted(desired: &HashMap<ObjectKey, Value>, change: Change) -> Option<Drifted> {
    let (live, deleted) = match change {
        Change::Applied(v) => (v, false),
        Change::Deleted(v) => (v, true),
    };
    let key = ObjectRef::from_value(&live).ok()?.key();
    let want = desired.get(&key)?;
    if deleted {
        return Some(Drifted {
            key,
            live: None,
            why: "deleted".to_owned(),
        });
    }
    // Being deleted (finalizers): it will be gone and reported then.
    if live.pointer("/metadata/deletionTimestamp").is_some() {
        return None;
    }
    match compare::in_sync(want, &live, FIELD_MANAGER) {
        Ok(()) => None,
        Err(drift) => Some(Drifted {
            key,
            live: Some(live),
            why: drift.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cm(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "n",
                "managedFields": [{"manager": FIELD_MANAGER, "operation": "Apply", "apiVersion": "v1",
                    "fieldsV1": {"f:data": {"f:k": {}}}}]},
            "data": data})
    }

    #[test]
    fn drift_is_a_changed_field_or_a_deletion() {
        let want = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "n"}, "data": {"k": "v"}});
        let key = ObjectRef::from_value(&want).unwrap().key();
        let desired: HashMap<ObjectKey, Value> = [(key.clone(), want)].into_iter().collect();
        assert_eq!(
            drifted(&desired, Change::Applied(cm(json!({"k": "v"})))),
            None
        );
        let changed = drifted(&desired, Change::Applied(cm(json!({"k": "edited"})))).unwrap();
        assert_eq!(changed.key, key);
        assert!(changed.why.contains("data"), "{}", changed.why);
        let gone = drifted(&desired, Change::Deleted(cm(json!({"k": "v"})))).unwrap();
        assert_eq!(gone.live, None);
        // Not ours: ignored.
        let mut other = cm(json!({"k": "edited"}));
        other["metadata"]["name"] = json!("other");
        assert_eq!(drifted(&desired, Change::Applied(other)), None);
    }
}
