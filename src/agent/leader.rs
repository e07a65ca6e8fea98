//! Leader election among the agent's replicas, on a Lease (the same
//! [`lease`](crate::sync::lease) mechanics as a target's): only the leader
//! runs the controller and writes; the others wait, and one takes over
//! within the Lease's duration after the leader stops renewing it (killed,
//! partitioned). Losing the Lease stops the leader's work at once.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::sync::Cluster;
use crate::sync::lease::{Error, LeaseSpec};

/// How often a follower tries to take the Lease.
const RETRY: Duration = Duration::from_secs(2);

/// Whether this replica leads, for `/readyz` and the webhook handler.
#[derive(Debug, Default, Clone)]
pub struct Leading(Arc<AtomicBool>);

impl Leading {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    fn set(&self, leading: bool) {
        self.0.store(leading, Ordering::SeqCst);
    }
}

/// Runs `work` whenever this replica holds `spec`'s Lease, forever: takes
/// the Lease (retrying while another holds it), runs `work` while renewing
/// it, and when it is lost drops `work` (stopping it mid-flight) and starts
/// over.
pub async fn lead<F, Fut>(cluster: &Cluster, spec: &LeaseSpec, leading: &Leading, work: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut told = None::<String>;
    loop {
        let mut held = match cluster.acquire_lease(spec).await {
            Ok(held) => held,
            Err(e) => {
                let holder = match &e {
                    Error::Held { holder, .. } => holder.clone(),
                    other => other.to_string(),
                };
                if told.as_deref() != Some(holder.as_str()) {
                    tracing::info!("not leading: {e}");
                    told = Some(holder);
                }
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        told = None;
        tracing::info!(lease = %spec.name, identity = %spec.holder, "leading");
        leading.set(true);
        let lost = tokio::select! {
            () = work() => None,
            lost = cluster.keep_lease(&mut held) => Some(lost),
        };
        leading.set(false);
        match lost {
            Some(e) => tracing::warn!("stopped leading: {e}"),
            None => {
                cluster.release_lease(held).await;
                return;
            }
        }
    }
}
