//! Leases (`coordination.k8s.io/v1`): one holder at a time for a name.
//!
//! Every writer of a target, the agent or a hand-run `weir sync`, holds
//! the target's Lease ([`target_lease`]) for the whole sync, so two writers
//! never interleave; the agent's replicas elect their leader on a Lease the
//! same way. A Lease is taken when it is free, expired (its holder stopped
//! renewing it for its duration), or held by a `weir sync` of this host
//! whose process is gone (killed); the write carries the `resourceVersion`
//! it read, so of two that race, one wins and the other sees who did.
//! The holder renews it at a third of its duration and gives it up at the
//! end.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::apply::{Cluster, Error as ClusterError};
use super::inventory::{NAMESPACE, target_object_name};
use super::rest::WriteError;
use crate::object::ObjectRef;

/// How long a target's Lease lasts without renewal.
pub const TARGET_LEASE: Duration = Duration::from_secs(20);

/// Why a Lease was not taken, or was lost.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Someone else holds it.
    #[error(
        "{what} is held by {holder} (renewed {renewed}, expires in {}s); \
         it is released when that sync ends, or expires if it stopped",
        expires_in.as_secs()
    )]
    Held {
        what: String,
        holder: String,
        renewed: String,
        expires_in: Duration,
    },
    /// Another holder took it over while this one held it (it was not
    /// renewed in time).
    #[error("{what} was taken over by {holder}: this sync stopped writing")]
    Lost { what: String, holder: String },
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// The `Result` of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A Lease to take: which, by whom, for how long.
#[derive(Debug, Clone)]
pub struct LeaseSpec {
    pub namespace: String,
    pub name: String,
    /// Who takes it, as other writers will read it (e.g. `weir sync on
    /// host (pid 42)`).
    pub holder: String,
    pub duration: Duration,
    /// What it guards, for messages (`target shop`).
    pub what: String,
}

/// A Lease this process holds.
#[derive(Debug, Clone)]
pub struct Held {
    spec: LeaseSpec,
    /// The Lease as last written.
    lease: Value,
}

/// The Lease guarding target `target`, in weir's namespace.
pub fn target_lease(target: &str, holder: &str) -> LeaseSpec {
    LeaseSpec {
        namespace: NAMESPACE.to_owned(),
        name: target_object_name("weir-target-", target),
        holder: holder.to_owned(),
        duration: TARGET_LEASE,
        what: format!("target {target}"),
    }
}

/// How a hand-run `weir sync` names itself as a holder.
pub fn cli_holder() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned());
    format!("weir sync on {host} (pid {})", std::process::id())
}

/// Whether `holder` is a `weir sync` of this host whose process is gone.
fn is_dead_local_cli(holder: &str) -> bool {
    let mine = cli_holder();
    let prefix = |h: &str| h.rsplit_once(" (pid ").map(|(p, _)| p.to_owned());
    let Some(pid) = holder
        .rsplit_once(" (pid ")
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .and_then(|p| p.parse::<u32>().ok())
    else {
        return false;
    };
    prefix(holder) == prefix(&mine)
        && pid != std::process::id()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn micro_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn lease_ref(spec: &LeaseSpec) -> ObjectRef {
    ObjectRef {
        group: "coordination.k8s.io".into(),
        version: "v1".into(),
        kind: "Lease".into(),
        namespace: Some(spec.namespace.clone()),
        name: spec.name.clone(),
    }
}

/// When a Lease expires, by its record: its last renewal plus its duration.
fn expiry(lease: &Value) -> Option<Timestamp> {
    let renewed: Timestamp = lease
        .pointer("/spec/renewTime")
        .or_else(|| lease.pointer("/spec/acquireTime"))?
        .as_str()?
        .parse()
        .ok()?;
    let seconds = lease.pointer("/spec/leaseDurationSeconds")?.as_i64()?;
    renewed
        .checked_add(jiff::SignedDuration::from_secs(seconds))
        .ok()
}

impl Cluster {
    /// Takes the Lease if it is free, expired, or already this holder's;
    /// [`Error::Held`] names who holds it otherwise.
    pub async fn acquire_lease(&self, spec: &LeaseSpec) -> Result<Held> {
        let reference = lease_ref(spec);
        let now = Timestamp::now();
        let seconds = i64::try_from(spec.duration.as_secs()).unwrap_or(i64::MAX);
        let current = match self.get(&reference).await {
            Ok(v) => v,
            // No weir-system namespace yet: nothing holds anything.
            Err(e) => return Err(e.into()),
        };
        let Some(current) = current else {
            self.ensure_namespace(&spec.namespace).await?;
            let lease = json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": spec.name, "namespace": spec.namespace,
                    "labels": {"app.kubernetes.io/managed-by": "weir"}},
                "spec": {"holderIdentity": spec.holder, "leaseDurationSeconds": seconds,
                    "acquireTime": micro_time(now), "renewTime": micro_time(now),
                    "leaseTransitions": 0}
            });
            return match self.create(&lease).await {
                Ok(lease) => Ok(Held {
                    spec: spec.clone(),
                    lease,
                }),
                // Someone created it first: they hold it now.
                Err(WriteError::Conflict { .. }) => Err(self.held_error(spec).await),
                Err(WriteError::Cluster(e)) => Err(e.into()),
            };
        };
        let holder = current
            .pointer("/spec/holderIdentity")
            .and_then(Value::as_str)
            .unwrap_or("");
        let free = holder.is_empty()
            || holder == spec.holder
            || expiry(&current).is_none_or(|at| at <= now)
            || is_dead_local_cli(holder);
        if !free {
            return Err(held(spec, &current));
        }
        let mut lease = current.clone();
        let transitions = lease
            .pointer("/spec/leaseTransitions")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        lease["spec"] = json!({
            "holderIdentity": spec.holder, "leaseDurationSeconds": seconds,
            "acquireTime": micro_time(now), "renewTime": micro_time(now),
            "leaseTransitions": if holder == spec.holder { transitions } else { transitions + 1 },
        });
        match self.replace(&lease).await {
            Ok(lease) => Ok(Held {
                spec: spec.clone(),
                lease,
            }),
            Err(WriteError::Conflict { .. }) => Err(self.held_error(spec).await),
            Err(WriteError::Cluster(e)) => Err(e.into()),
        }
    }

    /// [`acquire_lease`](Self::acquire_lease), retried while someone else
    /// holds it, for at most `wait`; `on_wait` hears why it waits (once per
    /// holder).
    pub async fn acquire_lease_waiting(
        &self,
        spec: &LeaseSpec,
        wait: Duration,
        on_wait: &(dyn Fn(&Error) + Send + Sync),
    ) -> Result<Held> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut told: Option<String> = None;
        loop {
            match self.acquire_lease(spec).await {
                Err(e @ Error::Held { .. }) if tokio::time::Instant::now() < deadline => {
                    if let Error::Held { holder, .. } = &e
                        && told.as_deref() != Some(holder.as_str())
                    {
                        on_wait(&e);
                        told = Some(holder.clone());
                    }
                    let pause = Duration::from_millis(500)
                        .min(deadline.saturating_duration_since(tokio::time::Instant::now()));
                    tokio::time::sleep(pause).await;
                }
                other => return other,
            }
        }
    }

    /// Renews a held Lease; [`Error::Lost`] when someone else took it.
    pub async fn renew_lease(&self, held: &mut Held) -> Result<()> {
        let mut lease = held.lease.clone();
        lease["spec"]["renewTime"] = Value::String(micro_time(Timestamp::now()));
        match self.replace(&lease).await {
            Ok(lease) => {
                held.lease = lease;
                Ok(())
            }
            Err(WriteError::Conflict { .. }) => {
                let current = self.get(&lease_ref(&held.spec)).await?;
                let holder = current
                    .as_ref()
                    .and_then(|l| l.pointer("/spec/holderIdentity"))
                    .and_then(Value::as_str)
                    .unwrap_or("nobody")
                    .to_owned();
                if holder == held.spec.holder
                    && let Some(current) = current
                {
                    // Renewed by this holder elsewhere (a retried write).
                    held.lease = current;
                    return Ok(());
                }
                Err(Error::Lost {
                    what: held.spec.what.clone(),
                    holder,
                })
            }
            Err(WriteError::Cluster(e)) => Err(e.into()),
        }
    }

    /// Renews `held` at a third of its duration until an error: runs
    /// beside the work the Lease guards (`select!` on both), so the work
    /// stops the moment the Lease is lost.
    pub async fn keep_lease(&self, held: &mut Held) -> Error {
        let every = held.spec.duration / 3;
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = self.renew_lease(held).await {
                return e;
            }
        }
    }

    /// Gives the Lease up (clears the holder), unless someone else holds it
    /// by now. Errors are logged: an unreleased Lease expires anyway.
    pub async fn release_lease(&self, held: Held) {
        let mut lease = held.lease;
        lease["spec"]["holderIdentity"] = Value::Null;
        lease["spec"]["renewTime"] = Value::String(micro_time(Timestamp::now()));
        if let Err(e) = self.replace(&lease).await {
            tracing::debug!(lease = %held.spec.name, error = %e, "releasing the lease failed; it expires");
        }
    }

    async fn held_error(&self, spec: &LeaseSpec) -> Error {
        match self.get(&lease_ref(spec)).await {
            Ok(Some(current)) => held(spec, &current),
            Ok(None) => Error::Held {
                what: spec.what.clone(),
                holder: "another writer".into(),
                renewed: "just now".into(),
                expires_in: spec.duration,
            },
            Err(e) => e.into(),
        }
    }

    /// Creates `namespace` when it does not exist (weir's own namespace).
    pub async fn ensure_namespace(&self, namespace: &str) -> Result<(), ClusterError> {
        let reference = ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: "Namespace".into(),
            namespace: None,
            name: namespace.to_owned(),
        };
        if self.get(&reference).await?.is_some() {
            return Ok(());
        }
        let value = json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {"app.kubernetes.io/managed-by": "weir"}}});
        match self.create(&value).await {
            Ok(_) | Err(WriteError::Conflict { .. }) => Ok(()),
            Err(WriteError::Cluster(e)) => Err(e),
        }
    }
}

fn held(spec: &LeaseSpec, current: &Value) -> Error {
    let holder = current
        .pointer("/spec/holderIdentity")
        .and_then(Value::as_str)
        .unwrap_or("another writer")
        .to_owned();
    let renewed = current
        .pointer("/spec/renewTime")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let expires_in = expiry(current)
        .and_then(|at| at.duration_since(Timestamp::now()).try_into().ok())
        .unwrap_or_default();
    Error::Held {
        what: spec.what.clone(),
        holder,
        renewed,
        expires_in,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_renewal_plus_duration() {
        let lease = json!({"spec": {"renewTime": "2026-01-01T00:00:00.000000Z", "leaseDurationSeconds": 20}});
        assert_eq!(
            expiry(&lease).map(|t| t.to_string()),
            Some("2026-01-01T00:00:20Z".to_owned())
        );
        assert_eq!(expiry(&json!({"spec": {}})), None);
    }

    #[test]
    fn a_dead_local_cli_holder_is_recognised() {
        let mine = cli_holder();
        assert!(!is_dead_local_cli(&mine), "this process is alive");
        let host = mine.rsplit_once(" (pid ").map(|(p, _)| p).unwrap();
        assert!(is_dead_local_cli(&format!("{host} (pid 4294967294)")));
        assert!(!is_dead_local_cli("weir agent weir-7d9f"));
        assert!(!is_dead_local_cli(
            "weir sync on elsewhere (pid 4294967294)"
        ));
    }

    #[test]
    fn target_leases_are_named_like_inventories() {
        let spec = target_lease("Shop/Prod", "me");
        assert!(
            spec.name.starts_with("weir-target-shop-prod-"),
            "{}",
            spec.name
        );
        assert_eq!(spec.namespace, NAMESPACE);
    }
}
