//! The in-cluster agent (`weir agent`): syncs every commit of every `Sync`
//! through the same pipeline and engine as `weir sync`, puts back what
//! people change by hand, and reports.
//!
//! ```text
//! weir agent ── http (/healthz /readyz /metrics /hooks) ── webhook ──┐
//!     │                                                              v
//!     └─ leader ── controller (watch Syncs) ── worker per Sync: Idle → Fetch → Check → Apply
//!                                                  ^ drift watches ──> Heal
//! ```
//!
//! - [`resource`]: the `Sync` custom resource; [`status`] and [`events`]:
//!   what the agent reports, as plain values; [`metrics`].
//! - [`worker`]: one state machine per Sync; [`source`]: where it reads the
//!   commit; [`drift`]: the watches that tell it about drift.
//! - [`controller`]: one worker per Sync; [`leader`]: only the leader
//!   runs it; [`http`] and [`webhook`]: the HTTP port.
//! - [`rbac`]: every permission the agent needs, and why (the chart's
//!   rules are checked against it); [`chart`]: the chart, built in;
//!   [`bootstrap`]: `weir bootstrap`, which installs it.
//!
//! `weir agent --path DIR` runs one worker on a directory instead, synced
//! on every change `notify` reports: the inner loop on a laptop.
//!
//! All requests go through one [`Cluster`], the only owner of the client.

pub mod board;
pub mod bootstrap;
pub mod chart;
pub mod controller;
pub mod drift;
pub mod events;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod page;
pub mod rbac;
pub mod resource;
pub mod source;
pub mod status;
pub mod view;
pub mod webhook;
pub mod worker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::sync::Cluster;
use crate::sync::lease::LeaseSpec;
use controller::Workers;
use leader::Leading;
use metrics::Metrics;
use resource::SyncObject;
use source::Origin;
use worker::{Spec, Trigger, Worker};

/// What stops the agent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Connect(#[from] crate::sync::apply::Error),
    #[error("cannot serve HTTP on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Watch(#[from] crate::repo::watch::WatchError),
}

/// The `Result` of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How the agent works, whatever it syncs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The longest a Git fetch may take.
    pub fetch_timeout: Duration,
    /// Requests in flight at once within a wave.
    pub concurrency: usize,
    /// Where Git mirrors are kept.
    pub cache_dir: PathBuf,
    /// The most the Git mirrors may take together.
    pub cache_max_bytes: u64,
    /// What checking one commit may cost (files, work, Helm).
    pub limits: crate::pipeline::Limits,
    /// The prune limits the synced commits may only make stricter.
    pub prune_floor: crate::sync::prune::Floor,
    /// Who may see the status page.
    pub ui: UiAccess,
    /// Whether a Sync may name a repository on the agent's own disk
    /// (`file://`, a path): off, so a Sync cannot read the agent's files.
    pub allow_local_git: bool,
    /// With `--path`: the age key of the directory's SOPS-encrypted
    /// manifests (`--sops-age-key-file`). A Sync names its own, in a Secret
    /// (`spec.decryption`).
    pub sops_key: Option<crate::render::sops::AgeKey>,
}

/// Who may see the read-only status page.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum UiAccess {
    /// No page (the default).
    #[default]
    Off,
    /// Whoever presents this token, as `Authorization: Bearer <token>` or
    /// as the password of HTTP basic authentication (what a browser asks).
    Token(String),
    /// Whoever presents a token the cluster accepts (a TokenReview).
    TokenReview,
    /// Anyone who can reach the port (for `--path` on a laptop).
    Open,
}

impl std::fmt::Debug for UiAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UiAccess::Off => "Off",
            UiAccess::Token(_) => "Token(..)",
            UiAccess::TokenReview => "TokenReview",
            UiAccess::Open => "Open",
        })
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            fetch_timeout: Duration::from_secs(60),
            concurrency: 16,
            cache_dir: std::env::temp_dir().join("weir-agent-cache"),
            cache_max_bytes: 2 * 1024 * 1024 * 1024,
            limits: crate::pipeline::Limits::default(),
            prune_floor: crate::sync::prune::Floor::default(),
            ui: UiAccess::Off,
            allow_local_git: false,
            sops_key: None,
        }
    }
}

/// What the agent serves.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Every `Sync` in `namespaces` (empty: all namespaces), on the leader
    /// only when `leader_lease` names the Lease the replicas elect on.
    Cluster {
        namespaces: Vec<String>,
        leader_lease: Option<(String, String)>,
    },
    /// One directory, synced on every change and at `interval`.
    Path {
        dir: PathBuf,
        /// The inventory target; `None`: as `weir sync` names it.
        target: Option<String>,
        interval: Duration,
        prune: bool,
    },
}

/// Everything `weir agent` was told.
#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    pub listen: SocketAddr,
    /// Who this replica is, as Leases and Events name it.
    pub identity: String,
    pub options: Options,
}

/// What every part of the agent shares.
pub struct Context {
    pub cluster: Arc<Cluster>,
    pub metrics: Metrics,
    /// What the status page shows.
    pub board: board::Board,
    pub identity: String,
    pub options: Options,
}

impl Context {
    /// What a worker of `sync` syncs; `Err` says why the Sync cannot be
    /// served (its spec names a source the agent cannot read).
    pub fn spec_of(&self, sync: &SyncObject) -> Result<Spec, String> {
        let origin = source::git_origin(sync, &self.options)?;
        Ok(Spec {
            name: sync.key(),
            source: Some(sync.source()),
            adopt: sync.spec.adopt == Some(true),
            origin,
            target: Some(sync.target()),
            prune: sync.prune(),
            timeout: sync.timeout(),
            interval: sync.interval(),
        })
    }
}

/// Runs the agent until SIGINT or SIGTERM.
pub async fn run(config: Config, cluster: Cluster) -> Result<()> {
    let ctx = Arc::new(Context {
        cluster: Arc::new(cluster),
        metrics: Metrics::default(),
        board: board::Board::default(),
        identity: config.identity.clone(),
        options: config.options.clone(),
    });
    let workers = Workers::default();
    let leading = Leading::default();
    let ready = Arc::new(AtomicBool::new(false));
    let shared = http::Shared {
        ctx: ctx.clone(),
        workers: workers.clone(),
        leading: leading.clone(),
        ready: ready.clone(),
        reviews: Arc::default(),
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().unwrap_or(config.listen);
    tracing::info!(
        %addr,
        identity = %config.identity,
        status_page = ?config.options.ui,
        "weir agent: serving /healthz, /readyz, /metrics and /hooks"
    );
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, http::router(shared))
            .with_graceful_shutdown(shutdown())
            .await
        {
            tracing::error!("the HTTP server stopped: {e}");
        }
    });
    // Ready once the API server answers.
    {
        let ctx = ctx.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            loop {
                match ctx.cluster.server_version().await {
                    Ok(_) => {
                        ready.store(true, Ordering::SeqCst);
                        return;
                    }
                    Err(e) => {
                        tracing::warn!("the API server does not answer yet: {e}");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
            }
        });
    }
    let work = async {
        match config.mode.clone() {
            Mode::Cluster {
                namespaces,
                leader_lease,
            } => match leader_lease {
                Some((namespace, name)) => {
                    let spec = LeaseSpec {
                        namespace,
                        name,
                        holder: config.identity.clone(),
                        duration: Duration::from_secs(15),
                        what: "the agent's leadership".into(),
                    };
                    leader::lead(&ctx.cluster, &spec, &leading, || {
                        controller::run(ctx.clone(), workers.clone(), namespaces.clone())
                    })
                    .await;
                    Ok(())
                }
                None => {
                    controller::run(ctx.clone(), workers.clone(), namespaces).await;
                    Ok(())
                }
            },
            Mode::Path {
                dir,
                target,
                interval,
                prune,
            } => run_path(ctx.clone(), dir, target, interval, prune).await,
        }
    };
    let result = tokio::select! {
        result = work => result,
        () = shutdown() => {
            tracing::info!("stopping");
            Ok(())
        }
    };
    let _ = server.await;
    result
}

/// `weir agent --path`: one worker on a directory, woken by `notify`.
async fn run_path(
    ctx: Arc<Context>,
    dir: PathBuf,
    target: Option<String>,
    interval: Duration,
    prune: bool,
) -> Result<()> {
    let (tx, rx) = mpsc::channel(8);
    let changed = tx.clone();
    let _watcher = crate::repo::watch::watch(&dir, move || {
        // A full channel already holds a fetch: bursts coalesce.
        let _ = changed.try_send(Trigger::Fetch);
    })?;
    let spec = Spec {
        name: dir.display().to_string(),
        // As `weir sync` names the directory.
        source: None,
        adopt: false,
        origin: Origin::Directory(dir),
        target,
        prune,
        timeout: None,
        interval,
    };
    tracing::info!(dir = %spec.name, "syncing on every change");
    Worker::new(ctx, spec, None, rx).run().await;
    drop(tx);
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
