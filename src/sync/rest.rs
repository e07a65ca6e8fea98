//! Requests of the [`Cluster`] that are not server-side applies: create
//! (an Event, a Lease, a hook with only `generateName`), replace with a `resourceVersion` precondition (a
//! Lease that two writers race for), a merge patch of an object or of its
//! `status` subresource, and a watch of an object kind's changes and
//! deletions (the agent's drift detection and its `Sync` objects).
//!
//! Like every request, each goes through the cluster's retry of transient
//! errors and is counted; `Cluster` stays the one owner of the client.

use futures::StreamExt as _;
use kube::core::params::{Patch, PatchParams, PostParams};
use kube::core::{DynamicObject, Request};
use serde_json::Value;

use super::apply::{Cluster, Error, Resolved, Result};
use crate::object::ObjectRef;

/// What a watch saw happen to one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Created, changed, or listed when the watch (re)started.
    Applied(Value),
    /// Deleted: its last state.
    Deleted(Value),
}

/// Why a write with a precondition did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The object changed (or appeared) since it was read: read it again.
    #[error("{object} was changed by someone else since it was read")]
    Conflict { object: String },
    #[error(transparent)]
    Cluster(#[from] Error),
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// Whether a write changes what weir manages, or only coordinates writers.
fn count(cluster: &Cluster, object: &ObjectRef) {
    if object.is_kind("coordination.k8s.io", "Lease") {
        cluster.count_lease_write();
    } else {
        cluster.count_write(false);
    }
}

impl Cluster {
    /// Creates `value`; [`WriteError::Conflict`] when it already exists.
    pub async fn create(&self, value: &Value) -> Result<Value, WriteError> {
        self.create_as(value, false).await
    }

    /// Creates `value` (with `dry_run`, only as the server would: nothing
    /// is persisted). An object with only `generateName` is created under
    /// a name the server picks; the returned object has it.
    pub async fn create_as(&self, value: &Value, dry_run: bool) -> Result<Value, WriteError> {
        let (object, _) = ObjectRef::from_value_or_generated(value).map_err(Error::Object)?;
        let resolved = self.resolve(&object).await?;
        let url = resolved.url(object.namespace.as_deref());
        if dry_run {
            self.count_write(true);
        } else {
            count(self, &object);
        }
        let params = PostParams {
            dry_run,
            ..PostParams::default()
        };
        let body = serde_json::to_vec(value).map_err(|e| Error::Api {
            action: "create",
            object: object.to_string(),
            source: kube::Error::SerdeError(e),
        })?;
        let result = self
            .call("create", || {
                let req = Request::new(url.clone()).create(&params, body.clone());
                async move {
                    let req = req.map_err(kube::Error::BuildRequest)?;
                    self.client.request::<Value>(req).await
                }
            })
            .await;
        result.map_err(|source| {
            if is_conflict(&source) {
                WriteError::Conflict {
                    object: object.to_string(),
                }
            } else {
                WriteError::Cluster(Error::Api {
                    action: "create",
                    object: object.to_string(),
                    source,
                })
            }
        })
    }

    /// Replaces `value` as a whole; it must carry the `resourceVersion` it
    /// was read at, and [`WriteError::Conflict`] says someone wrote in
    /// between.
    pub async fn replace(&self, value: &Value) -> Result<Value, WriteError> {
        let object = ObjectRef::from_value(value).map_err(Error::Object)?;
        let resolved = self.resolve(&object).await?;
        let url = resolved.url(object.namespace.as_deref());
        count(self, &object);
        let body = serde_json::to_vec(value).map_err(|e| Error::Api {
            action: "replace",
            object: object.to_string(),
            source: kube::Error::SerdeError(e),
        })?;
        let result = self
            .call("replace", || {
                let req = Request::new(url.clone()).replace(
                    &object.name,
                    &PostParams::default(),
                    body.clone(),
                );
                async move {
                    let req = req.map_err(kube::Error::BuildRequest)?;
                    self.client.request::<Value>(req).await
                }
            })
            .await;
        result.map_err(|source| {
            if is_conflict(&source) {
                WriteError::Conflict {
                    object: object.to_string(),
                }
            } else {
                WriteError::Cluster(Error::Api {
                    action: "replace",
                    object: object.to_string(),
                    source,
                })
            }
        })
    }

    /// A JSON merge patch of `object` (`status: true`: of its `status`
    /// subresource). `Ok(None)` when the object does not exist.
    pub async fn merge_patch(
        &self,
        object: &ObjectRef,
        patch: &Value,
        status: bool,
    ) -> Result<Option<Value>> {
        let resolved = self.resolve(object).await?;
        let url = resolved.url(object.namespace.as_deref());
        self.count_write(false);
        let params = PatchParams::default();
        let result = self
            .call("patch", || {
                let patch = Patch::Merge(patch);
                let req = if status {
                    Request::new(url.clone()).patch_subresource(
                        "status",
                        &object.name,
                        &params,
                        &patch,
                    )
                } else {
                    Request::new(url.clone()).patch(&object.name, &params, &patch)
                };
                async move {
                    let req = req.map_err(kube::Error::BuildRequest)?;
                    self.client.request::<Value>(req).await
                }
            })
            .await;
        match result {
            Ok(v) => Ok(Some(v)),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
            Err(source) => Err(Error::Api {
                action: "patch",
                object: object.to_string(),
                source,
            }),
        }
    }

    /// Watches the objects of a resource (in one namespace, or all), with a
    /// label selector, as changes: every object is first reported as
    /// [`Change::Applied`] (the initial list, again after each restart of
    /// the watch), then each change and deletion. Errors are retried with
    /// backoff inside the stream.
    pub fn watch_changes(
        &self,
        resolved: &Resolved,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> impl futures::Stream<Item = Change> + Send + 'static {
        use kube::runtime::{WatchStreamExt as _, watcher};
        self.count_read();
        let api: kube::Api<DynamicObject> = match (resolved.namespaced, namespace) {
            (true, Some(ns)) => {
                kube::Api::namespaced_with(self.watch_client.clone(), ns, &resolved.resource)
            }
            _ => kube::Api::all_with(self.watch_client.clone(), &resolved.resource),
        };
        let mut config = watcher::Config::default();
        if let Some(selector) = label_selector {
            config = config.labels(selector);
        }
        let api_version = resolved.resource.api_version.clone();
        let kind = resolved.resource.kind.clone();
        let typed = move |o: DynamicObject| {
            serde_json::to_value(o).ok().map(|mut v| {
                v["apiVersion"] = Value::String(api_version.clone());
                v["kind"] = Value::String(kind.clone());
                v
            })
        };
        watcher(api, config)
            .default_backoff()
            .filter_map(move |event| {
                let change = match event {
                    Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                        typed(o).map(Change::Applied)
                    }
                    Ok(watcher::Event::Delete(o)) => typed(o).map(Change::Deleted),
                    Ok(_) => None,
                    Err(e) => {
                        tracing::debug!(error = %e, "watch failed, retrying");
                        None
                    }
                };
                std::future::ready(change)
            })
    }
}
