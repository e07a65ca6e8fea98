//! What `weir status` reads about the agent's work: the Syncs (with their
//! status) and the Events recorded on one. Read-only.

use serde_json::Value;

use super::controller::sync_kind;
use super::resource::SyncObject;
use crate::object::ObjectRef;
use crate::sync::Cluster;
use crate::sync::apply::Result;

/// The Syncs in `namespace` (all namespaces when `None`), by namespace and
/// name. Objects that do not read as Syncs are left out.
pub async fn syncs(cluster: &Cluster, namespace: Option<&str>) -> Result<Vec<SyncObject>> {
    let resolved = cluster.resolve(&sync_kind()).await?;
    let mut syncs: Vec<SyncObject> = cluster
        .list(&resolved, namespace, None)
        .await?
        .into_iter()
        .filter_map(|v| SyncObject::from_value(v).ok())
        .collect();
    syncs.sort_by_key(SyncObject::key);
    Ok(syncs)
}

/// One Sync, `None` when it does not exist.
pub async fn sync(cluster: &Cluster, namespace: &str, name: &str) -> Result<Option<SyncObject>> {
    let reference = ObjectRef {
        namespace: Some(namespace.to_owned()),
        name: name.to_owned(),
        ..sync_kind()
    };
    Ok(cluster
        .get(&reference)
        .await?
        .and_then(|v| SyncObject::from_value(v).ok()))
}

/// The Events on `sync`, newest last.
pub async fn events(cluster: &Cluster, sync: &SyncObject) -> Result<Vec<Value>> {
    let kind = ObjectRef {
        group: String::new(),
        version: "v1".into(),
        kind: "Event".into(),
        namespace: None,
        name: String::new(),
    };
    let resolved = cluster.resolve(&kind).await?;
    let selector = format!(
        "involvedObject.kind={},involvedObject.name={}",
        super::resource::KIND,
        sync.metadata.name
    );
    let mut events = cluster
        .list_selected(
            &resolved,
            Some(&sync.metadata.namespace),
            None,
            Some(&selector),
        )
        .await?;
    let time = |e: &Value| {
        e.get("eventTime")
            .and_then(Value::as_str)
            .or_else(|| e.get("lastTimestamp").and_then(Value::as_str))
            .unwrap_or("")
            .to_owned()
    };
    events.sort_by_key(time);
    Ok(events)
}
