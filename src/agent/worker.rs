//! One worker per Sync (or per `weir agent --path` directory): an explicit
//! [`State`] and a [`Worker::step`] that performs one state and returns
//! the next, driven by [`Worker::run`].
//!
//! ```text
//! Idle ──poll / webhook / spec change──> Fetch ──new commit──> Check
//!   ^                                      │                     │ valid
//!   │<──────same commit, or fetch failed───┘   invalid: Rejected │
//!   │<──────────────────────────────────────────────────────────┤
//!   │<──────applied or failed (backoff)────────── Apply <────────┘
//!   │<──────put back──── Heal <── an object changed or deleted by hand
//! Suspended: no writes at all until spec.suspend is false again.
//! ```
//!
//! A commit goes through the whole pipeline ([`pipeline`](crate::pipeline))
//! and, valid, through the sync engine exactly as `weir sync` runs it
//! (preflight, waves, health gates, hooks, inventory, prune), holding the
//! target's Lease. An invalid or untrusted commit is not applied: the
//! cluster keeps the last good one and the status names each finding.
//! Between commits, [`drift`](super::drift) watches report objects changed
//! or deleted by hand, and the worker puts back just those. With nothing
//! changing, a worker sends no request at all: polling reads Git, not the
//! API server.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Context;
use super::board::{EventView, Phase, UnitHealth, UnitView, WaveView};
use super::drift::{Desired, DriftWatch, Drifted};
use super::events::{self, Reason};
use super::resource::{AGE_KEY_SUFFIX, SOPS_PROVIDER, SyncObject, SyncStatus};
use super::source::{self, Origin, Snapshot};
use super::status::{self, Outcome, Rejection};
use crate::object::ObjectKey;
use crate::pipeline::{self, WithoutHelm};
use crate::render::HelmBinary;
use crate::render::sops::{AgeKey, Decrypter};
use crate::repo::{AllowedSigners, FetchOptions, Remote, verify_commit};
use crate::sync::apply::{Action, ApplyOptions};
use crate::sync::lease;
use crate::sync::report::{Event, Report};
use crate::sync::{self, Cluster, SyncPlan};

/// What wakes a worker besides its poll timer.
#[derive(Debug)]
pub enum Trigger {
    /// The Sync object changed (its spec, annotations or status).
    Spec(Box<SyncObject>),
    /// Fetch now (a webhook, a file saved under `--path`): a new commit
    /// is synced at once.
    Fetch,
    /// The Sync is gone, or the agent stops leading.
    Stop,
}

/// Where the worker is.
#[derive(Debug)]
pub enum State {
    /// Waiting for a trigger, the next poll, or the end of a backoff.
    Idle,
    /// Reading the source. `forced`: look at the commit even if it is the
    /// one applied (a spec change, a request).
    Fetch { forced: bool },
    /// A commit through the pipeline.
    Check { snapshot: Snapshot },
    /// A valid commit through the sync engine.
    Apply {
        revision: String,
        plan: Box<SyncPlan>,
    },
    /// Objects changed or deleted by hand are put back.
    Heal,
    /// `spec.suspend`: nothing is written until it is lifted.
    Suspended,
    /// The worker ends.
    Stopped,
}

/// What one worker syncs, and how.
#[derive(Debug, Clone)]
pub struct Spec {
    /// How logs and metrics name it: `namespace/name`, or the directory.
    pub name: String,
    pub origin: Origin,
    /// The inventory target; `None`: the Repository's name, else the
    /// directory's (as `weir sync` names it).
    pub target: Option<String>,
    /// Where the commits come from, as the inventory records it; `None`:
    /// as `weir sync` names the source it reads.
    pub source: Option<crate::sync::SourceId>,
    /// Take over a target whose inventory records another source.
    pub adopt: bool,
    pub prune: bool,
    /// The health timeout of a wave, when not the default.
    pub timeout: Option<Duration>,
    pub interval: Duration,
}

/// The last commit applied, and what it applied (normalised), for drift.
#[derive(Debug, Clone)]
struct Applied {
    revision: String,
    /// The inventory target it was applied as.
    target: String,
    desired: Desired,
    /// The wave of each object, for the diff of the next change.
    waves: Arc<HashMap<ObjectKey, u32>>,
}

/// A worker: its state and what it remembers between states.
pub struct Worker {
    ctx: Arc<Context>,
    spec: Spec,
    /// The Sync it reports to; `None` for `weir agent --path`.
    sync: Option<SyncObject>,
    triggers: mpsc::Receiver<Trigger>,
    drift_tx: mpsc::Sender<Drifted>,
    drift_rx: mpsc::Receiver<Drifted>,
    state: State,
    applied: Option<Applied>,
    /// A commit that was rejected, not looked at again until it changes.
    rejected: Option<String>,
    /// The status as last written.
    status: SyncStatus,
    /// Failures in a row, for the backoff.
    failures: u32,
    next_poll: Instant,
    watch: Option<DriftWatch>,
    drifted: BTreeMap<ObjectKey, Drifted>,
    /// When the current reconcile started, for its duration metric.
    started: Option<Instant>,
    /// A trigger read while coalescing others, handled next.
    deferred: std::collections::VecDeque<Trigger>,
    /// The Git remote with its credentials, once read.
    remote: Option<Remote>,
    /// The connection acting as the Sync's `spec.serviceAccountName`, once
    /// made (see [`Worker::applier`]).
    impersonating: Option<Arc<Cluster>>,
}

/// Shortest and longest wait after a failure.
const BACKOFF_MIN: Duration = Duration::from_secs(2);
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// Fetch triggers arriving this close together are one fetch.
const FETCH_SETTLE: Duration = Duration::from_millis(100);
/// Drift reports arriving this close together are healed together.
const DRIFT_SETTLE: Duration = Duration::from_millis(200);

impl Worker {
    pub fn new(
        ctx: Arc<Context>,
        spec: Spec,
        sync: Option<SyncObject>,
        triggers: mpsc::Receiver<Trigger>,
    ) -> Self {
        let (drift_tx, drift_rx) = mpsc::channel(1024);
        let status = sync
            .as_ref()
            .and_then(|s| s.status.clone())
            .unwrap_or_default();
        let state = if sync.as_ref().is_some_and(SyncObject::suspended) {
            State::Suspended
        } else {
            State::Fetch { forced: true }
        };
        Self {
            ctx,
            spec,
            sync,
            triggers,
            drift_tx,
            drift_rx,
            state,
            applied: None,
            rejected: None,
            status,
            failures: 0,
            next_poll: Instant::now(),
            watch: None,
            drifted: BTreeMap::new(),
            started: None,
            deferred: std::collections::VecDeque::new(),
            remote: None,
            impersonating: None,
        }
    }

    /// Runs until stopped.
    pub async fn run(mut self) {
        self.describe_source();
        let status = self.status.clone();
        self.ctx
            .board
            .update(&self.spec.name, |v| v.status = status);
        loop {
            let state = std::mem::replace(&mut self.state, State::Idle);
            if matches!(state, State::Stopped) {
                return;
            }
            self.state = self.step(state).await;
        }
    }

    /// Performs `state` and returns the next.
    pub async fn step(&mut self, state: State) -> State {
        match state {
            State::Idle => self.idle().await,
            State::Fetch { forced } => self.fetch(forced).await,
            State::Check { snapshot } => self.check(snapshot).await,
            State::Apply { revision, plan } => self.apply(revision, *plan).await,
            State::Heal => self.heal().await,
            State::Suspended => self.suspended().await,
            State::Stopped => State::Stopped,
        }
    }

    // --------------------------------------------------------------- board

    fn phase(&self, phase: Phase) {
        self.ctx.board.update(&self.spec.name, |v| v.phase = phase);
    }

    /// What the page says of the source.
    fn describe_source(&self) {
        let (source, git_ref, path) = match &self.sync {
            Some(sync) => {
                let r = sync.spec.git_ref.clone().unwrap_or_default();
                let git_ref = r
                    .branch
                    .map(|b| format!("branch {b}"))
                    .or(r.tag.map(|t| format!("tag {t}")))
                    .or(r.commit.map(|c| format!("commit {c}")))
                    .unwrap_or_else(|| "branch main".to_owned());
                (
                    crate::repo::redact_url(&sync.spec.url),
                    git_ref,
                    sync.spec.path.clone().unwrap_or_default(),
                )
            }
            None => (self.spec.origin.describe(), String::new(), String::new()),
        };
        self.ctx.board.update(&self.spec.name, |v| {
            v.source = source;
            v.git_ref = git_ref;
            v.path = path;
        });
    }

    // ---------------------------------------------------------------- idle

    async fn idle(&mut self) -> State {
        self.phase(Phase::Idle);
        if let Some(trigger) = self.deferred.pop_front() {
            return self.on_trigger(Some(trigger)).await;
        }
        let next_poll = self.next_poll;
        tokio::select! {
            trigger = self.triggers.recv() => self.on_trigger(trigger).await,
            Some(drifted) = self.drift_rx.recv() => {
                self.drifted.insert(drifted.key.clone(), drifted);
                // More of one `kubectl delete -f` arrive together.
                let settle = tokio::time::sleep(DRIFT_SETTLE);
                tokio::pin!(settle);
                loop {
                    tokio::select! {
                        () = &mut settle => break,
                        Some(more) = self.drift_rx.recv() => {
                            self.drifted.insert(more.key.clone(), more);
                        }
                    }
                }
                State::Heal
            }
            () = tokio::time::sleep_until(next_poll) => State::Fetch { forced: false },
        }
    }

    async fn on_trigger(&mut self, trigger: Option<Trigger>) -> State {
        match trigger {
            None | Some(Trigger::Stop) => State::Stopped,
            Some(Trigger::Fetch) => {
                // A burst (a push's webhooks, an editor's save) is one fetch.
                tokio::time::sleep(FETCH_SETTLE).await;
                while let Ok(next) = self.triggers.try_recv() {
                    if !matches!(next, Trigger::Fetch) {
                        self.deferred.push_back(next);
                        break;
                    }
                }
                State::Fetch { forced: false }
            }
            Some(Trigger::Spec(sync)) => self.on_spec(*sync),
        }
    }

    /// The Sync changed: a new spec is looked at at once; a new request
    /// annotation asks for a fetch; anything else (its status, written by
    /// this worker) changes nothing.
    fn on_spec(&mut self, sync: SyncObject) -> State {
        let old = self.sync.replace(sync.clone());
        if sync.suspended() {
            return State::Suspended;
        }
        let generation_changed = old
            .as_ref()
            .is_none_or(|o| o.metadata.generation != sync.metadata.generation);
        if generation_changed {
            match self.ctx.spec_of(&sync) {
                Ok(spec) => self.spec = spec,
                Err(e) => tracing::warn!(sync = %sync.key(), "the new spec is not served: {e}"),
            }
            self.remote = None;
            self.impersonating = None;
            self.describe_source();
            self.rejected = None;
            return State::Fetch { forced: true };
        }
        let requested = old.as_ref().and_then(SyncObject::requested_at) != sync.requested_at();
        if requested {
            return State::Fetch { forced: true };
        }
        State::Idle
    }

    // --------------------------------------------------------------- fetch

    async fn fetch(&mut self, forced: bool) -> State {
        self.phase(Phase::Fetching);
        self.started = Some(Instant::now());
        let remote = match self.remote().await {
            Ok(remote) => remote,
            Err(message) => {
                return self
                    .failed(Outcome::FetchFailed { message }, Reason::FetchFailed)
                    .await;
            }
        };
        let origin = self.spec.origin.clone();
        let fetch = FetchOptions {
            timeout: self.ctx.options.fetch_timeout,
            ..FetchOptions::default()
        };
        let started = Instant::now();
        let snapshot =
            tokio::task::spawn_blocking(move || origin.snapshot(remote.as_ref(), &fetch)).await;
        let seconds = started.elapsed().as_secs_f64();
        let snapshot = match snapshot {
            Ok(Ok(snapshot)) => snapshot,
            Ok(Err(e)) => {
                self.ctx.metrics.fetched(&self.spec.name, seconds, false);
                // Read the credentials again next time: they may be what is wrong.
                self.remote = None;
                let message = format!("cannot read {}: {}", self.spec.origin.describe(), chain(&e));
                return self
                    .failed(Outcome::FetchFailed { message }, Reason::FetchFailed)
                    .await;
            }
            Err(e) => {
                let message = format!("reading the source stopped: {e}");
                return self
                    .failed(Outcome::FetchFailed { message }, Reason::FetchFailed)
                    .await;
            }
        };
        self.ctx.metrics.fetched(&self.spec.name, seconds, true);
        if let Origin::Git(git) = &self.spec.origin {
            let (root, max) = (
                self.ctx.options.cache_dir.clone(),
                self.ctx.options.cache_max_bytes,
            );
            let keep = git.mirror.path().to_path_buf();
            tokio::task::spawn_blocking(move || {
                if let Err(e) = crate::repo::prune_cache(&root, max, &[keep.as_path()]) {
                    tracing::debug!("pruning the Git cache: {e}");
                }
            });
        }
        let current = self
            .applied
            .as_ref()
            .is_some_and(|a| a.revision == snapshot.revision);
        let rejected = self.rejected.as_deref() == Some(snapshot.revision.as_str());
        if !forced && self.failures == 0 && (current || rejected) {
            self.started = None;
            self.next_poll = Instant::now() + jittered(self.spec.interval);
            return State::Idle;
        }
        State::Check { snapshot }
    }

    /// The Git remote with the credentials of the Sync's Secret (read once,
    /// again after a failed fetch); `None` for a directory.
    async fn remote(&mut self) -> Result<Option<Remote>, String> {
        let Origin::Git(git) = &self.spec.origin else {
            return Ok(None);
        };
        if let Some(remote) = &self.remote {
            return Ok(Some(remote.clone()));
        }
        let url = git.url.clone();
        let Some(sync) = &self.sync else {
            return Ok(None);
        };
        let (secret, name) = match &sync.spec.secret_ref {
            Some(r) => {
                let name = format!("{}/{}", sync.metadata.namespace, r.name);
                match self.read_secret(&r.name).await {
                    Ok(Some(secret)) => (Some(secret), name),
                    Ok(None) => {
                        return Err(format!(
                            "the credentials Secret {name} does not exist: create it (keys username and password, or identity and known_hosts)"
                        ));
                    }
                    Err(e) => {
                        return Err(format!("cannot read the credentials Secret {name}: {e}"));
                    }
                }
            }
            None => (None, String::new()),
        };
        let remote = source::remote_of(&url, secret.as_ref(), &name).map_err(|e| e.to_string())?;
        self.remote = Some(remote.clone());
        Ok(Some(remote))
    }

    /// The connection this Sync's objects are applied, checked, watched
    /// and put back with: the agent's own, or, for a Sync that names
    /// `spec.serviceAccountName`, one acting as that ServiceAccount (never
    /// the agent's own instead). Status, Events, Secrets, the Lease and the
    /// inventory stay with the agent's identity.
    fn applier(&mut self) -> Result<Arc<Cluster>, String> {
        let Some(user) = self.sync.as_ref().and_then(SyncObject::impersonates) else {
            return Ok(self.ctx.cluster.clone());
        };
        if let Some(cluster) = &self.impersonating
            && cluster.impersonated() == Some(user.as_str())
        {
            return Ok(cluster.clone());
        }
        let cluster = Arc::new(
            self.ctx
                .cluster
                .impersonating(&user)
                .map_err(|e| format!("cannot apply as {user}: {e}"))?,
        );
        self.impersonating = Some(cluster.clone());
        Ok(cluster)
    }

    /// The chart repository credentials of the Sync's
    /// `chartCredentials` Secret (read on every check: a rotated password
    /// is taken at the next commit or retry); `None` when it names none
    /// (then the agent's own `$WEIR_CHART_CREDENTIALS`, if set).
    async fn chart_credentials(
        &self,
    ) -> Result<Option<crate::render::remote::Credentials>, String> {
        let Some(sync) = &self.sync else {
            return Ok(None);
        };
        let Some(holder) = &sync.spec.chart_credentials else {
            return Ok(None);
        };
        let name = format!("{}/{}", sync.metadata.namespace, holder.secret_ref.name);
        match self.read_secret(&holder.secret_ref.name).await {
            Ok(Some(secret)) => source::chart_credentials(&secret, &name)
                .map(Some)
                .map_err(|e| e.to_string()),
            Ok(None) => Err(format!(
                "the chart credentials Secret {name} does not exist: create it (key \
                 credentials.yaml with a list of {{url, username, password}}, or keys url, \
                 username and password); nothing is applied until it does"
            )),
            Err(e) => Err(format!(
                "cannot read the chart credentials Secret {name}: {e}"
            )),
        }
    }

    /// A Secret of the Sync's namespace.
    async fn read_secret(
        &self,
        name: &str,
    ) -> Result<Option<serde_json::Value>, crate::sync::apply::Error> {
        let namespace = self
            .sync
            .as_ref()
            .map(|s| s.metadata.namespace.clone())
            .unwrap_or_default();
        let reference = crate::object::ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: "Secret".into(),
            namespace: Some(namespace),
            name: name.to_owned(),
        };
        self.ctx.cluster.get(&reference).await
    }

    /// Under a signature policy (`spec.verify`), whether the commit is
    /// signed by a trusted key; `Err` says why not.
    async fn verify(&self, snapshot: &Snapshot) -> Result<(), String> {
        let (Some(sync), Origin::Git(git)) = (&self.sync, &self.spec.origin) else {
            return Ok(());
        };
        let Some(policy) = &sync.spec.verify else {
            return Ok(());
        };
        let name = format!("{}/{}", sync.metadata.namespace, policy.secret_ref.name);
        let secret = match self.read_secret(&policy.secret_ref.name).await {
            Ok(Some(secret)) => secret,
            Ok(None) => {
                return Err(format!(
                    "the signers Secret {name} does not exist: nothing is applied until it does"
                ));
            }
            Err(e) => return Err(format!("cannot read the signers Secret {name}: {e}")),
        };
        let text = super::http::secret_value(&secret, "allowed_signers")
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        let signers =
            AllowedSigners::parse(&text).map_err(|e| format!("the signers Secret {name}: {e}"))?;
        if signers.is_empty() {
            return Err(format!(
                "the signers Secret {name} has no key allowed_signers with a public key in it"
            ));
        }
        let repo = git.mirror.path().to_path_buf();
        let commit = snapshot.revision.clone();
        match tokio::task::spawn_blocking(move || verify_commit(&repo, &commit, &signers)).await {
            Ok(Ok(signer)) => {
                tracing::info!(sync = %self.spec.name, commit = %status::short(&snapshot.revision), signer = %signer.principals.join(","), "signature verified");
                Ok(())
            }
            Ok(Err(e)) => Err(format!("{e}: not applied")),
            Err(e) => Err(format!("verifying the signature stopped: {e}")),
        }
    }

    // --------------------------------------------------------------- check

    async fn check(&mut self, snapshot: Snapshot) -> State {
        self.phase(Phase::Checking);
        if let Err(message) = self.verify(&snapshot).await {
            self.rejected = Some(snapshot.revision.clone());
            self.failures = 0;
            self.next_poll = Instant::now() + jittered(self.spec.interval);
            self.report(Outcome::Rejected {
                revision: &snapshot.revision,
                why: Rejection::Untrusted,
                message: message.clone(),
                findings: &[],
            })
            .await;
            self.record(Reason::UntrustedCommit, &message).await;
            self.finished("rejected");
            return State::Idle;
        }
        let options = pipeline::Options {
            target: self.spec.target.clone(),
            source: self.spec.source.clone(),
            prune_floor: self.ctx.options.prune_floor.clone(),
            without_helm: WithoutHelm::Fail,
            ..pipeline::Options::default()
        };
        let helm = match self.chart_credentials().await {
            Ok(Some(credentials)) => HelmBinary::new().with_credentials(credentials),
            Ok(None) => HelmBinary::new(),
            Err(message) => {
                return self
                    .failed(Outcome::FetchFailed { message }, Reason::FetchFailed)
                    .await;
            }
        };
        let source = snapshot.source.clone();
        let limits = self.ctx.options.limits;
        let checked = tokio::task::spawn_blocking(move || {
            let loaded = pipeline::load(&source, &limits)?;
            pipeline::check(loaded, &options, &helm)
        })
        .await;
        let checked = match checked {
            Ok(Ok(checked)) => checked,
            Ok(Err(e)) => {
                let message = format!(
                    "cannot check {} at {}: {}",
                    self.spec.origin.describe(),
                    status::short(&snapshot.revision),
                    chain(&e)
                );
                return self
                    .failed(Outcome::FetchFailed { message }, Reason::FetchFailed)
                    .await;
            }
            Err(e) => {
                let message = format!("checking the commit stopped: {e}");
                return self
                    .failed(Outcome::FetchFailed { message }, Reason::FetchFailed)
                    .await;
            }
        };
        let Some(planned) = checked.planned else {
            let errors: Vec<_> = checked
                .report
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .collect();
            let first = errors.first().map(|d| format!(": {d}")).unwrap_or_default();
            if !errors.is_empty()
                && errors
                    .iter()
                    .all(|d| d.code == crate::render::codes::CHART_FETCH_FAILED)
            {
                // A chart repository down (or a credential being rotated)
                // is not the commit's fault: tried again with backoff, not
                // rejected until the next commit.
                let message = format!(
                    "cannot fetch the charts of {}, nothing was applied{first}",
                    status::short(&snapshot.revision)
                );
                return self
                    .failed(Outcome::FetchFailed { message }, Reason::FetchFailed)
                    .await;
            }
            let message = format!(
                "commit {} is invalid, nothing was applied ({} error{}{first})",
                status::short(&snapshot.revision),
                errors.len(),
                if errors.len() == 1 { "" } else { "s" },
            );
            self.rejected = Some(snapshot.revision.clone());
            self.failures = 0;
            self.next_poll = Instant::now() + jittered(self.spec.interval);
            self.report(Outcome::Rejected {
                revision: &snapshot.revision,
                why: Rejection::Invalid,
                message: message.clone(),
                findings: &checked.report.diagnostics,
            })
            .await;
            self.record(Reason::CommitRejected, &message).await;
            self.finished("rejected");
            return State::Idle;
        };
        let planned = match self.decrypt(planned, &snapshot.revision).await {
            Ok(planned) => planned,
            Err(message) => {
                return self
                    .failed(Outcome::FetchFailed { message }, Reason::SyncFailed)
                    .await;
            }
        };
        let mut plan = planned.into_sync_plan();
        plan.revision = Some(snapshot.revision.clone());
        State::Apply {
            revision: snapshot.revision,
            plan: Box::new(plan),
        }
    }

    /// Decrypts the commit's SOPS-encrypted manifests in memory (nothing
    /// to do without them) with the key of the Sync's `spec.decryption`
    /// Secret, or `--sops-age-key-file` under `--path`. `Err` says why not
    /// and that nothing was applied.
    async fn decrypt(
        &self,
        mut planned: pipeline::Planned,
        revision: &str,
    ) -> Result<pipeline::Planned, String> {
        if planned.encrypted_files().next().is_none() {
            return Ok(planned);
        }
        let not_applied = |why: String| {
            format!(
                "commit {}: {why}; nothing was applied",
                status::short(revision)
            )
        };
        let key = self.decryption_key().await.map_err(not_applied)?;
        let limits = self.ctx.options.limits.work;
        let decrypted = tokio::task::spawn_blocking(move || {
            let result = planned.decrypt(&Decrypter::new(key, &limits));
            (planned, result)
        })
        .await;
        match decrypted {
            Ok((planned, Ok(()))) => Ok(planned),
            Ok((_, Err(e))) => Err(not_applied(e.to_string())),
            Err(e) => Err(not_applied(format!("decrypting stopped: {e}"))),
        }
    }

    /// The age key of the Sync's `spec.decryption` Secret (its keys ending
    /// in `.agekey`), or `--sops-age-key-file` under `--path`; `None`
    /// when neither names one.
    async fn decryption_key(&self) -> Result<Option<AgeKey>, String> {
        let Some(sync) = &self.sync else {
            return Ok(self.ctx.options.sops_key.clone());
        };
        let Some(decryption) = &sync.spec.decryption else {
            return Ok(None);
        };
        if decryption.provider != SOPS_PROVIDER {
            return Err(format!(
                "spec.decryption.provider `{}` is not one weir knows: use `{SOPS_PROVIDER}`",
                decryption.provider
            ));
        }
        let name = format!("{}/{}", sync.metadata.namespace, decryption.secret_ref.name);
        let secret = match self.read_secret(&decryption.secret_ref.name).await {
            Ok(Some(secret)) => secret,
            Ok(None) => {
                return Err(format!(
                    "the decryption Secret {name} does not exist: create it with the age key \
                     (kubectl -n {} create secret generic {} --from-file=age.agekey=<key file>)",
                    sync.metadata.namespace, decryption.secret_ref.name
                ));
            }
            Err(e) => return Err(format!("cannot read the decryption Secret {name}: {e}")),
        };
        let mut text = Vec::new();
        if let Some(data) = secret.get("data").and_then(serde_json::Value::as_object) {
            for key in data.keys().filter(|k| k.ends_with(AGE_KEY_SUFFIX)) {
                if let Some(bytes) = super::http::secret_value(&secret, key) {
                    text.extend_from_slice(&bytes);
                    text.push(b'\n');
                }
            }
        }
        AgeKey::from_bytes(
            &text,
            &format!("the decryption Secret {name} (its keys ending in {AGE_KEY_SUFFIX})"),
        )
        .map(Some)
        .map_err(|e| e.to_string())
    }

    // --------------------------------------------------------------- apply

    async fn apply(&mut self, revision: String, plan: SyncPlan) -> State {
        self.report(Outcome::Progressing {
            revision: &revision,
            wave: None,
            waves: plan.waves.len(),
        })
        .await;
        let options = sync::Options {
            prune: self.spec.prune,
            timeout: self
                .spec
                .timeout
                .unwrap_or(sync::plan::DEFAULT_HEALTH_TIMEOUT),
            concurrency: self.ctx.options.concurrency,
            // The repo is the truth: fields someone took over by hand are
            // taken back (as Flux does).
            force_conflicts: true,
            holder: self.ctx.identity.clone(),
            // Long enough for a Lease of an agent that died to expire.
            lease_wait: lease::TARGET_LEASE * 2,
            adopt: self.spec.adopt,
            ..sync::Options::default()
        };
        let waves: Vec<WaveView> = plan
            .waves
            .iter()
            .map(|w| WaveView {
                index: w.index,
                name: w.name.clone(),
                units: w
                    .units
                    .iter()
                    .map(|u| UnitView {
                        name: u.name.clone(),
                        objects: u.objects.len(),
                        health: UnitHealth::Pending,
                    })
                    .collect(),
            })
            .collect();
        let applying = revision.clone();
        self.ctx.board.update(&self.spec.name, |v| {
            v.phase = Phase::Applying;
            v.revision = Some(applying);
            v.waves = waves;
            v.current_wave = None;
            v.not_ready.clear();
        });
        let (wave_tx, mut wave_rx) = tokio::sync::watch::channel(None::<(u32, String)>);
        let board_ctx = self.ctx.clone();
        let board_key = self.spec.name.clone();
        let progress = move |event: &Event| {
            let board = &board_ctx.board;
            match event {
                Event::WaveStarted { index, name, .. } => {
                    let _ = wave_tx.send(Some((*index, name.clone())));
                    board.update(&board_key, |v| {
                        v.current_wave = Some(*index);
                        v.not_ready.clear();
                        for w in &mut v.waves {
                            let health = match w.index.cmp(index) {
                                std::cmp::Ordering::Less => UnitHealth::Healthy,
                                std::cmp::Ordering::Equal => UnitHealth::InProgress,
                                std::cmp::Ordering::Greater => UnitHealth::Pending,
                            };
                            w.units.iter_mut().for_each(|u| u.health = health);
                        }
                    });
                }
                Event::Waiting { objects, .. } => board.update(&board_key, |v| {
                    v.not_ready = objects.iter().map(|(o, r)| format!("{o}: {r}")).collect();
                }),
                Event::WaveDone { index, .. } => board.update(&board_key, |v| {
                    v.not_ready.clear();
                    for w in v.waves.iter_mut().filter(|w| w.index == *index) {
                        w.units
                            .iter_mut()
                            .for_each(|u| u.health = UnitHealth::Healthy);
                    }
                }),
                _ => {}
            }
        };
        let cluster = match self.applier() {
            Ok(cluster) => cluster,
            Err(message) => {
                let report = Report::new(&plan.target, Some(&revision), false);
                let outcome = Outcome::SyncFailed {
                    revision: &revision,
                    report: &report,
                    message,
                };
                return self.failed(outcome, Reason::SyncFailed).await;
            }
        };
        let ctx = sync::Context {
            cluster: &cluster,
            options,
            progress: &progress,
        };
        let waves = plan.waves.len();
        let result = {
            let engine = sync::reconcile(&plan, &ctx);
            tokio::pin!(engine);
            loop {
                tokio::select! {
                    result = &mut engine => break result,
                    Ok(()) = wave_rx.changed() => {
                        let wave = wave_rx.borrow_and_update().clone();
                        let outcome = Outcome::Progressing { revision: &revision, wave, waves };
                        let next = status::next(&self.status, self.generation(), &outcome, Timestamp::now());
                        self.write_status(next).await;
                    }
                }
            }
        };
        drop(ctx);
        let target = plan.target.clone();
        match result {
            Ok(report) => {
                let (desired, object_waves) = self.desired(plan).await;
                let managed = desired.len() as u64;
                let diff = self
                    .applied
                    .as_ref()
                    .map(|before| change_diff(before, &revision, &desired, &object_waves));
                self.ctx.board.update(&self.spec.name, |v| {
                    v.current_wave = None;
                    v.revision = None;
                    v.not_ready.clear();
                    for w in &mut v.waves {
                        w.units
                            .iter_mut()
                            .for_each(|u| u.health = UnitHealth::Healthy);
                    }
                    if diff.is_some() {
                        v.diff = diff;
                    }
                });
                self.applied = Some(Applied {
                    revision: revision.clone(),
                    target,
                    desired: desired.clone(),
                    waves: object_waves,
                });
                self.rejected = None;
                self.failures = 0;
                self.next_poll = Instant::now() + jittered(self.spec.interval);
                let changed: usize = report.waves.iter().map(|w| w.created + w.configured).sum();
                self.report(Outcome::Applied {
                    revision: &revision,
                    report: &report,
                    managed,
                })
                .await;
                self.ctx.metrics.managed(&self.spec.name, managed);
                self.ctx
                    .metrics
                    .applied_at(&self.spec.name, Timestamp::now().as_second());
                if changed > 0 || !report.prune.pruned.is_empty() {
                    let message = format!(
                        "applied {}: {changed} objects created or changed, {} pruned, {managed} managed",
                        status::short(&revision),
                        report.prune.pruned.len()
                    );
                    self.record(Reason::Applied, &message).await;
                }
                self.watch =
                    Some(DriftWatch::start(&cluster, desired, self.drift_tx.clone()).await);
                self.drifted.clear();
                self.finished("applied");
                State::Idle
            }
            Err(failed) => {
                let not_ready: Vec<String> = match &failed.error {
                    sync::Error::Health { not_ready, .. } => {
                        not_ready.iter().map(ToString::to_string).collect()
                    }
                    _ => Vec::new(),
                };
                self.ctx.board.update(&self.spec.name, |v| {
                    v.revision = None;
                    if !not_ready.is_empty() {
                        v.not_ready = not_ready;
                    }
                    let current = v.current_wave;
                    for w in v.waves.iter_mut().filter(|w| Some(w.index) == current) {
                        w.units
                            .iter_mut()
                            .for_each(|u| u.health = UnitHealth::Failed);
                    }
                });
                if matches!(failed.error, sync::Error::Lease(lease::Error::Held { .. })) {
                    // Another writer has the target (a hand-run sync, or a
                    // leader that just died): try again soon, not a failure.
                    tracing::info!(sync = %self.spec.name, "{}", failed.error);
                    self.next_poll = Instant::now() + BACKOFF_MIN;
                    self.finished("waiting");
                    return State::Idle;
                }
                let message = format!(
                    "sync of {} failed: {}",
                    status::short(&revision),
                    failed.error
                );
                let outcome = Outcome::SyncFailed {
                    revision: &revision,
                    report: &failed.report,
                    message,
                };
                self.failed(outcome, Reason::SyncFailed).await
            }
        }
    }

    /// The objects of `plan`, normalised as the engine applied them, by
    /// identity (what drift is judged against), and the wave of each.
    async fn desired(&self, plan: SyncPlan) -> (Desired, Arc<HashMap<ObjectKey, u32>>) {
        let mut desired = HashMap::new();
        let mut waves = HashMap::new();
        for wave in plan.waves {
            for unit in wave.units {
                for mut value in unit.objects {
                    if let Ok((object, _)) = self
                        .ctx
                        .cluster
                        .normalise(&mut value, unit.namespace.as_deref())
                        .await
                    {
                        waves.insert(object.key(), wave.index);
                        desired.insert(object.key(), value);
                    }
                }
            }
        }
        (Arc::new(desired), Arc::new(waves))
    }

    // ---------------------------------------------------------------- heal

    async fn heal(&mut self) -> State {
        let drifted = std::mem::take(&mut self.drifted);
        let Some(applied) = self.applied.clone() else {
            return State::Idle;
        };
        let cluster = match self.applier() {
            Ok(cluster) => cluster,
            Err(e) => {
                tracing::warn!(sync = %self.spec.name, "drift correction: {e}");
                return State::Idle;
            }
        };
        self.phase(Phase::Healing);
        self.started = Some(Instant::now());
        let spec = lease::target_lease(&applied.target, &self.ctx.identity);
        let on_wait = |_: &lease::Error| {};
        let held = match cluster
            .records()
            .acquire_lease_waiting(&spec, lease::TARGET_LEASE, &on_wait)
            .await
        {
            Ok(held) => held,
            Err(e) => {
                // A sync of the target is under way; it puts them back too.
                tracing::info!(sync = %self.spec.name, "drift correction waits: {e}");
                self.drifted = drifted;
                self.next_poll = Instant::now() + BACKOFF_MIN;
                return State::Idle;
            }
        };
        let options = ApplyOptions {
            dry_run: false,
            force_conflicts: true,
            concurrency: self.ctx.options.concurrency,
        };
        let mut healed = Vec::new();
        for (key, drift) in &drifted {
            let Some(desired) = applied.desired.get(key) else {
                continue;
            };
            let Ok(object) = crate::object::ObjectRef::from_value(desired) else {
                continue;
            };
            // The object as it is now (the event may be old news).
            let live = match cluster.get(&object).await {
                Ok(live) => live,
                Err(e) => {
                    tracing::warn!(sync = %self.spec.name, %object, "drift correction: {e}");
                    continue;
                }
            };
            match cluster.apply(desired, live.as_ref(), &options).await {
                Ok(done) if done.action != Action::Unchanged => {
                    healed.push(format!("{object} ({})", drift.why));
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(sync = %self.spec.name, %object, "drift correction failed: {e}")
                }
            }
        }
        cluster.records().release_lease(held).await;
        if !healed.is_empty() {
            let count = healed.len() as u64;
            self.report(Outcome::Healed { objects: count }).await;
            self.ctx.metrics.drift_corrected(&self.spec.name, count);
            let message = format!(
                "put back {count} object{} changed by hand: {}",
                if count == 1 { "" } else { "s" },
                healed.join(", ")
            );
            self.record(Reason::DriftCorrected, &message).await;
            self.finished("healed");
        } else {
            self.started = None;
        }
        State::Idle
    }

    // ----------------------------------------------------------- suspended

    async fn suspended(&mut self) -> State {
        self.phase(Phase::Suspended);
        self.watch = None;
        self.drifted.clear();
        loop {
            match self.triggers.recv().await {
                None | Some(Trigger::Stop) => return State::Stopped,
                Some(Trigger::Fetch) => {}
                Some(Trigger::Spec(sync)) => {
                    let suspended = sync.suspended();
                    if let Ok(spec) = self.ctx.spec_of(&sync) {
                        self.spec = spec;
                    }
                    self.sync = Some(*sync);
                    if !suspended {
                        return State::Fetch { forced: true };
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------- reports

    fn generation(&self) -> Option<i64> {
        self.sync.as_ref().and_then(|s| s.metadata.generation)
    }

    /// A failure: reported, then the next try after a backoff.
    async fn failed(&mut self, outcome: Outcome<'_>, reason: Reason) -> State {
        self.failures = self.failures.saturating_add(1);
        self.next_poll = Instant::now() + backoff(self.failures);
        let message = match &outcome {
            Outcome::FetchFailed { message } | Outcome::SyncFailed { message, .. } => {
                message.clone()
            }
            _ => String::new(),
        };
        self.report(outcome).await;
        self.record(reason, &message).await;
        self.finished(if reason == Reason::FetchFailed {
            "fetch_failed"
        } else {
            "failed"
        });
        State::Idle
    }

    /// The duration and count of the reconcile that just ended.
    fn finished(&mut self, result: &str) {
        if let Some(started) = self.started.take() {
            self.ctx
                .metrics
                .reconciled(&self.spec.name, result, started.elapsed().as_secs_f64());
        }
    }

    /// Moves the status on by `outcome`; written when it changed. Without
    /// a Sync (`--path`), logged.
    async fn report(&mut self, outcome: Outcome<'_>) {
        match &outcome {
            Outcome::Applied {
                revision, managed, ..
            } => {
                tracing::info!(sync = %self.spec.name, revision = %status::short(revision), managed, "applied")
            }
            Outcome::Rejected {
                message, findings, ..
            } => {
                tracing::warn!(sync = %self.spec.name, "{message}");
                for d in findings.iter().filter(|d| d.is_error()) {
                    tracing::warn!(sync = %self.spec.name, "{d}");
                }
            }
            Outcome::FetchFailed { message }
            | Outcome::SyncFailed { message, .. }
            | Outcome::InvalidSpec { message } => {
                tracing::warn!(sync = %self.spec.name, "{message}")
            }
            Outcome::Healed { objects } => {
                tracing::info!(sync = %self.spec.name, objects, "drift corrected")
            }
            Outcome::Progressing { .. } => {}
        }
        let next = status::next(&self.status, self.generation(), &outcome, Timestamp::now());
        self.write_status(next).await;
    }

    async fn write_status(&mut self, next: SyncStatus) {
        if next == self.status {
            return;
        }
        if let Some(sync) = &self.sync {
            let patch = json!({"status": next});
            if let Err(e) = self
                .ctx
                .cluster
                .merge_patch(&sync.object_ref(), &patch, true)
                .await
            {
                tracing::warn!(sync = %self.spec.name, "writing the status failed: {e}");
                return;
            }
        }
        let copy = next.clone();
        self.ctx.board.update(&self.spec.name, |v| v.status = copy);
        self.status = next;
    }

    /// Records an Event on the Sync (none for `--path`).
    async fn record(&self, reason: Reason, message: &str) {
        self.ctx.board.event(
            &self.spec.name,
            EventView {
                time: Timestamp::now().strftime("%Y-%m-%d %H:%M:%S").to_string(),
                warning: reason.kind() == events::Kind::Warning,
                reason: reason.as_str().to_owned(),
                message: message.to_owned(),
            },
        );
        let Some(sync) = &self.sync else {
            return;
        };
        let event = events::event(sync, reason, message, &self.ctx.identity, Timestamp::now());
        if let Err(e) = self.ctx.cluster.create(&event).await {
            tracing::debug!(sync = %self.spec.name, "recording an event failed: {e}");
        }
    }
}

/// Longest diff of a change the page keeps.
const MAX_DIFF: usize = 256 * 1024;

/// The rendered, secret-free diff from what `before` applied to `desired`
/// (as `weir diff` prints it), cut at [`MAX_DIFF`].
fn change_diff(
    before: &Applied,
    revision: &str,
    desired: &Desired,
    waves: &HashMap<ObjectKey, u32>,
) -> String {
    use crate::diff::{self, Labels, Side, format};
    let side = |objects: &Desired, waves: &HashMap<ObjectKey, u32>| {
        let mut side = Side::default();
        for (key, value) in objects.iter() {
            let Ok(id) = crate::object::ObjectRef::from_value(value) else {
                continue;
            };
            let text = |pointer: &str| value.pointer(pointer).and_then(serde_json::Value::as_str);
            side.push_rendered(
                id,
                text("/metadata/labels/weir.dev~1component").unwrap_or(""),
                waves.get(key).copied().unwrap_or(0),
                text("/metadata/annotations/weir.dev~1source").map(str::to_owned),
                value.clone(),
            );
        }
        side
    };
    let report = diff::diff(
        side(&before.desired, &before.waves),
        side(desired, waves),
        &diff::Options::default(),
    );
    let labels = Labels {
        base: status::short(&before.revision).to_owned(),
        head: status::short(revision).to_owned(),
    };
    let mut text = format::text::render(&report, &labels, false);
    if text.len() > MAX_DIFF {
        let mut cut = MAX_DIFF;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("\n… (cut: see weir diff for the whole of it)\n");
    }
    text
}

/// An error and its causes, in one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// The wait after `failures` failures in a row: doubling from
/// [`BACKOFF_MIN`] to [`BACKOFF_MAX`], with jitter.
pub fn backoff(failures: u32) -> Duration {
    let exp = BACKOFF_MIN.saturating_mul(1 << failures.saturating_sub(1).min(16));
    jittered(exp.min(BACKOFF_MAX))
}

/// `interval`, give or take a tenth, so Syncs spread out.
pub fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(0.9 + 0.2 * fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_a_cap() {
        assert!(backoff(1) <= BACKOFF_MIN.mul_f64(1.1));
        assert!(backoff(3) >= BACKOFF_MIN.mul_f64(4.0 * 0.9));
        assert!(backoff(40) <= BACKOFF_MAX.mul_f64(1.1));
        let j = jittered(Duration::from_secs(60));
        assert!(j >= Duration::from_secs(54) && j <= Duration::from_secs(66));
    }
}
