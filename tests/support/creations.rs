//! The order in which the API server created objects, read from the server
//! itself: [`Creations::watch`] starts a watch per kind on a namespace
//! (from the resourceVersion of a list made first, so nothing created
//! after it returns is missed) and records each ADDED event with its
//! object's `resourceVersion`. With etcd behind the API server that is the
//! etcd revision of the write that created the object: one counter for
//! every kind, so it orders creations across kinds, whatever the order in
//! which the watches deliver them.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use kube::Client;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, WatchEvent, WatchParams,
};

/// One creation the server reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub kind: String,
    pub name: String,
    pub uid: String,
    /// The object's `resourceVersion` when it was created (etcd's revision).
    pub revision: u64,
}

/// Watches recording creations until dropped.
pub struct Creations {
    seen: Arc<Mutex<Vec<Created>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Creations {
    /// Starts recording the creations of objects of `kinds` (`(group,
    /// version, kind, plural)`) in `namespace`. Returns once every watch
    /// has its starting point.
    pub async fn watch(
        client: &Client,
        namespace: &str,
        kinds: &[(&str, &str, &str, &str)],
    ) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (group, version, kind, plural) in kinds {
            let resource = ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk(group, version, kind),
                plural,
            );
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), namespace, &resource);
            let list = api
                .list(&ListParams::default().limit(1))
                .await
                .unwrap_or_else(|e| panic!("listing {kind} in {namespace}: {e}"));
            let mut from = list.metadata.resource_version.unwrap_or_default();
            let seen = seen.clone();
            let kind = (*kind).to_owned();
            tasks.push(tokio::spawn(async move {
                // A watch ends after its timeout: start again where it was.
                loop {
                    let Ok(stream) = api.watch(&WatchParams::default().timeout(290), &from).await
                    else {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    };
                    let mut stream = stream.boxed();
                    while let Some(event) = stream.next().await {
                        let (object, added) = match event {
                            Ok(WatchEvent::Added(o)) => (o, true),
                            Ok(WatchEvent::Modified(o) | WatchEvent::Deleted(o)) => (o, false),
                            Ok(WatchEvent::Bookmark(b)) => {
                                from = b.metadata.resource_version;
                                continue;
                            }
                            _ => break,
                        };
                        let revision = object.metadata.resource_version.clone().unwrap_or_default();
                        from = revision.clone();
                        if added {
                            seen.lock().unwrap().push(Created {
                                kind: kind.clone(),
                                name: object.metadata.name.clone().unwrap_or_default(),
                                uid: object.metadata.uid.clone().unwrap_or_default(),
                                revision: revision.parse().unwrap_or(0),
                            });
                        }
                    }
                }
            }));
        }
        Self { seen, tasks }
    }

    /// The creations recorded so far, in creation order.
    pub fn in_order(&self) -> Vec<Created> {
        let mut all = self.seen.lock().unwrap().clone();
        all.sort_by_key(|c| c.revision);
        all
    }

    /// The creations of objects of `kind` whose name `matches`.
    pub fn of(&self, kind: &str, matches: impl Fn(&str) -> bool) -> Vec<Created> {
        self.in_order()
            .into_iter()
            .filter(|c| c.kind == kind && matches(&c.name))
            .collect()
    }

    /// Waits (up to `timeout`) until the creation of `kind` `name` (or a
    /// name starting with it, for `generateName`) is recorded: the watch
    /// may deliver it a moment after the request that made it returned.
    pub async fn wait_for(&self, kind: &str, name: &str, timeout: Duration) -> Created {
        super::eventually(
            &format!("the creation of {kind} {name}"),
            timeout,
            || async { self.of(kind, |n| n.starts_with(name)).into_iter().next() },
        )
        .await
    }
}

impl Drop for Creations {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
