//! Connecting to a cluster, for the commands that do (`weir sync`,
//! `weir diff --cluster`): the async runtime and the apply layer's
//! [`Cluster`] from `--kubeconfig` / `--context`.

use anyhow::Context as _;

use super::args::ConnectionArgs;
use crate::sync::Cluster;

/// The multi-threaded runtime a command's cluster work runs on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The cluster named by the connection flags (else `KUBECONFIG`,
/// `~/.kube/config` or the in-cluster service account). Makes no request.
pub async fn cluster(args: &ConnectionArgs) -> anyhow::Result<Cluster> {
    Ok(Cluster::connect(&args.options()).await?)
}
