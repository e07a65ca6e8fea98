//! The I/O half of `weir diff --cluster`: asks the API server what a sync
//! of a [`SyncPlan`] would do, without changing anything, and returns it as
//! the pure half ([`crate::diff::cluster`]) wants it.
//!
//! For every object of the plan, in plan order, exactly as a sync would
//! send it (namespace filled in by [`Cluster::normalise`]):
//! - its kind not served by the cluster → [`DryRun::CrdMissing`];
//! - otherwise the live object is read ([`Cluster::fetch_live`]) and a
//!   server-side-apply dry run with weir's field manager is made through
//!   [`Cluster::apply`] (which skips the request when the live object
//!   already holds everything). A conflict with another field manager is
//!   dry-run again with force, so the diff shows what `--force-conflicts`
//!   would change, and the object gets a note that a plain sync stops there.
//!   An object that does not exist yet in a namespace that does not exist
//!   yet (created by the same sync) is an addition, not an error.
//!
//! Then the objects of weir's inventory for the plan's target that the plan
//! no longer holds are read, and those a `weir sync --prune` would delete
//! (by [`prune::decide`], the rules sync itself applies) are returned as
//! prunable; the ones pruning would keep are logged with the reason.

use std::collections::{HashMap, HashSet};

use futures::{StreamExt, TryStreamExt, stream};
use serde_json::Value;

use super::apply::{self, ApplyOptions, Cluster};
use super::inventory::{self, Inventory};
use super::list;
use super::plan::SyncPlan;
use super::prune::{self, Verdict};
use crate::diff::cluster::{ClusterObject, DryRun};
use crate::diff::model::DiffObject;
use crate::object::{ObjectKey, ObjectRef};

/// Why the cluster could not be compared.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request failed (after retries), or the cluster is unreachable.
    #[error(transparent)]
    Cluster(#[from] apply::Error),
    /// The API server refused the dry run of objects (invalid fields...).
    #[error("the API server rejects {} objects of the repo:\n{}", .0.len(), list(.0))]
    Rejected(Vec<apply::Error>),
    /// The stored inventory cannot be read.
    #[error("cannot read weir's inventory: {0}")]
    Inventory(#[source] inventory::Error),
    /// A value of the plan is not an addressable object.
    #[error("{object}: not an object the API server can address: {source}")]
    Invalid {
        object: String,
        #[source]
        source: crate::object::ObjectError,
    },
}

/// Result alias of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the cluster says about a plan: the input of
/// [`diff::cluster::sides`](crate::diff::cluster::sides).
#[derive(Debug, Clone, Default)]
pub struct Compared {
    pub objects: Vec<ClusterObject>,
    /// Live objects of the inventory that `weir sync --prune` would delete.
    pub prunable: Vec<DiffObject>,
}

/// The note on an object whose dry run conflicted with other managers.
pub fn conflict_note(conflicts: &[apply::FieldConflict]) -> String {
    let fields: Vec<String> = conflicts
        .iter()
        .map(|c| format!("{} (owned by {:?})", c.field, c.manager))
        .collect();
    format!(
        "conflicts with other field managers on {}: `weir sync` stops here unless given \
         --force-conflicts; shown as it would be with it",
        fields.join(", ")
    )
}

/// One object of the plan on its way through the dry run.
struct Pending {
    desired: DiffObject,
    object: ObjectRef,
}

/// Dry-runs every object of `plan` and reads what its target's inventory
/// would prune. Each object's repo file is the one rendering recorded in
/// its `weir.dev/source` annotation. Nothing in the cluster changes.
pub async fn compare(cluster: &Cluster, plan: &SyncPlan, concurrency: usize) -> Result<Compared> {
    let mut compared = Compared::default();
    let mut pending = Vec::new();
    // Kinds found not served: asked once each, not once per object (an
    // unknown kind makes the cluster reload discovery).
    let mut unserved: HashSet<(String, String, String)> = HashSet::new();
    let mut desired_keys: HashSet<ObjectKey> = HashSet::new();
    for wave in &plan.waves {
        for unit in &wave.units {
            let default_ns = unit
                .namespace
                .as_deref()
                .unwrap_or(cluster.default_namespace());
            for value in &unit.objects {
                let original = ObjectRef::from_value(value).map_err(|source| Error::Invalid {
                    object: format!("object of component {}", unit.name),
                    source,
                })?;
                let file = value
                    .pointer("/metadata/annotations")
                    .and_then(|a| a.get(crate::render::SOURCE_ANNOTATION))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let gvk = (
                    original.group.clone(),
                    original.version.clone(),
                    original.kind.clone(),
                );
                let mut value = value.clone();
                let normalised = if unserved.contains(&gvk) {
                    Err(None)
                } else {
                    match cluster.normalise(&mut value, Some(default_ns)).await {
                        Ok((object, _)) => Ok(object),
                        Err(apply::Error::UnknownKind { .. }) => {
                            unserved.insert(gvk);
                            Err(None)
                        }
                        Err(e) => Err(Some(e)),
                    }
                };
                let desired = |value: Value| {
                    Some(DiffObject {
                        id: ObjectRef::from_value(&value).ok()?,
                        component: unit.name.clone(),
                        wave: wave.index,
                        file: file.clone(),
                        notes: Vec::new(),
                        value,
                    })
                };
                match normalised {
                    Ok(object) => {
                        desired_keys.insert(object.key());
                        if let Some(desired) = desired(value) {
                            pending.push(Pending { desired, object });
                        }
                    }
                    Err(None) => {
                        let mut key = original.key();
                        if key.namespace.is_none() {
                            key.namespace = unit.namespace.clone();
                        }
                        desired_keys.insert(key);
                        if let Some(desired) = desired(value) {
                            compared.objects.push(ClusterObject {
                                desired,
                                dry_run: DryRun::CrdMissing,
                            });
                        }
                    }
                    Err(Some(e)) => return Err(e.into()),
                }
            }
        }
    }
    let refs: Vec<ObjectRef> = pending.iter().map(|p| p.object.clone()).collect();
    let live = cluster.fetch_live(&refs, concurrency).await?;
    let values: Vec<&Value> = pending.iter().map(|p| &p.desired.value).collect();
    let options = ApplyOptions {
        dry_run: true,
        force_conflicts: false,
        concurrency,
    };
    let results = cluster
        .apply_all(&values, live.clone(), &options, &|_| {})
        .await;
    let mut rejected = Vec::new();
    for (pending, result) in pending.into_iter().zip(results) {
        let Pending {
            mut desired,
            object,
        } = pending;
        let current = live.get(&object).cloned().flatten();
        let result = match result {
            Ok(applied) => applied.live,
            Err(apply::Error::Conflict { conflicts, .. }) => {
                let forced = ApplyOptions {
                    force_conflicts: true,
                    ..options
                };
                match cluster
                    .apply(&desired.value, current.as_ref(), &forced)
                    .await
                {
                    Ok(applied) => {
                        desired.notes.push(conflict_note(&conflicts));
                        applied.live
                    }
                    Err(e) => {
                        rejected.push(e);
                        continue;
                    }
                }
            }
            // Its namespace does not exist yet: the sync creates it first.
            Err(apply::Error::Api {
                source: kube::Error::Api(status),
                ..
            }) if status.code == 404 && current.is_none() => desired.value.clone(),
            Err(
                e @ apply::Error::Api {
                    source: kube::Error::Api(_),
                    ..
                },
            ) => {
                rejected.push(e);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        compared.objects.push(ClusterObject {
            desired,
            dry_run: DryRun::Applied {
                result,
                live: current,
            },
        });
    }
    if !rejected.is_empty() {
        return Err(Error::Rejected(rejected));
    }
    compared.prunable = prunable(cluster, plan, &desired_keys, concurrency).await?;
    Ok(compared)
}

/// The live objects of the target's inventory that the plan no longer
/// holds and that `weir sync --prune` would delete.
async fn prunable(
    cluster: &Cluster,
    plan: &SyncPlan,
    desired: &HashSet<ObjectKey>,
    concurrency: usize,
) -> Result<Vec<DiffObject>> {
    let inventory_ref = Inventory::object_ref(&plan.target);
    let Some(stored) = cluster.records().get(&inventory_ref).await? else {
        return Ok(Vec::new());
    };
    let inventory = Inventory::from_config_map(&stored).map_err(Error::Inventory)?;
    if let (Some(recorded), Some(ours)) = (&inventory.source, &plan.source)
        && recorded != ours
    {
        // Not this repo's objects: `weir sync` refuses the target unless
        // told to adopt it, and prunes nothing of them before.
        tracing::warn!(
            target = %plan.target,
            "the target holds the objects of {recorded}, not of {ours}: `weir sync` refuses it \
             without --adopt; its objects are not shown as removed"
        );
        return Ok(Vec::new());
    }
    let candidates: Vec<_> = inventory
        .entries
        .into_iter()
        .filter(|e| !desired.contains(&e.object.key()))
        .collect();
    // Futures are built up front (not in `map`) so the stream stays `Send`.
    let gets: Vec<_> = candidates
        .iter()
        .map(|e| async move {
            match cluster.get(&e.object).await {
                Ok(v) => Ok(Some(v)),
                // A kind no longer served (its CRD removed): sync keeps it.
                Err(apply::Error::UnknownKind { .. }) => Ok(None),
                Err(err) => Err(err),
            }
        })
        .collect();
    let lives: Vec<Option<Option<Value>>> = stream::iter(gets)
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    let rules: HashMap<&str, _> = plan
        .waves
        .iter()
        .flat_map(|w| w.units.iter())
        .map(|u| (u.name.as_str(), &u.prune))
        .collect();
    let mut prunable = Vec::new();
    for (entry, current) in candidates.into_iter().zip(lives) {
        let unit_rules = rules.get(entry.component.as_str()).copied();
        let live = match &current {
            None => prune::Live::KindNotServed,
            Some(None) => prune::Live::Gone,
            Some(Some(value)) => prune::Live::Found(value),
        };
        match prune::decide(&entry, live, unit_rules, &plan.prune) {
            Verdict::Delete => {
                let Some(Some(value)) = current else { continue };
                let Some(id) = ObjectRef::from_value(&value).ok() else {
                    continue;
                };
                prunable.push(DiffObject {
                    id,
                    component: entry.component,
                    wave: entry.wave,
                    file: None,
                    notes: Vec::new(),
                    value,
                });
            }
            Verdict::Gone => {}
            Verdict::Keep(reason) => tracing::warn!(
                object = %entry.object,
                "left the repo, but `weir sync --prune` keeps it: {}",
                reason.describe(&entry.object.kind)
            ),
        }
    }
    Ok(prunable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_note_names_fields_and_managers() {
        let note = conflict_note(&[apply::FieldConflict {
            manager: "kubectl".into(),
            field: ".spec.replicas".into(),
        }]);
        assert_eq!(
            note,
            "conflicts with other field managers on .spec.replicas (owned by \"kubectl\"): \
             `weir sync` stops here unless given --force-conflicts; shown as it would be with it"
        );
    }
}
