//! The sync engine: an explicit [`State`] and a [`Engine::step`] function
//! that performs one state and returns the next, driven to the end by
//! [`reconcile`].
//!
//! ```text
//! Preflight → LoadInventory →
//!   per wave: CrdCheck → PreApplyHooks →
//!     per sync wave of its objects (Argo CD's, ascending; one when none):
//!             ApplyFoundation (Namespaces, CRDs)
//!             → WaitFoundation (CRDs Established, discovery refreshed)
//!             → ApplyRest → SyncHooks → HealthGate →
//!   PostApplyHooks →
//! PostSyncHooks → Prune → RecordInventory → Done
//! ```
//!
//! A sync that fails once it started applying runs the `syncFail` hooks
//! of the units of the waves it reached, then reports the failure.
//!
//! Nothing is applied before preflight passed and every rendered object was
//! found addressable. The inventory is written ahead of each apply (objects
//! are added before they are created), so an interrupted sync never loses
//! track of what it created, and running it again converges: applies are
//! idempotent, unchanged objects are skipped without a request, and a hook
//! Job still running is waited for rather than duplicated.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use futures::{StreamExt, stream};
use kube::core::params::PropagationPolicy;
use serde_json::Value;
use tokio::time::Instant;

use super::apply::{self, Action, Applied, ApplyOptions, Cluster};
use super::crd;
use super::health::HealthContext;
use super::hooks::{self, HookResult, Ran};
use super::inventory::{self, Entry, Inventory, SourceId};
use super::lease;
use super::list;
use super::plan::{DEFAULT_HEALTH_TIMEOUT, HookJob, SyncPlan, SyncUnit};
use super::preflight;
use super::prune::{self, Verdict};
use super::report::{
    ChangedObject, ErrorReport, Event, HookReport, KeptObject, Report, Status, WaveReport,
};
use super::wait::{self, NotReady, Pending};
use crate::object::{ObjectError, ObjectKey, ObjectRef};
use crate::render::hooks::sync_wave_or_zero;
use crate::spec::model::HookPhase;

/// Why a sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request failed (after retries), or the cluster is unreachable.
    #[error(transparent)]
    Cluster(#[from] apply::Error),
    /// Requirements of components are not met; nothing was applied.
    #[error("preflight failed, nothing was applied:\n{}", list(.0))]
    Preflight(Vec<preflight::Failure>),
    /// The plan holds something sync cannot apply; nothing was applied.
    #[error("invalid object in component {component} (object #{index}): {source}")]
    Invalid {
        component: String,
        index: usize,
        #[source]
        source: ObjectError,
    },
    /// Objects of a wave failed to apply (conflicts, invalid fields, …).
    #[error("wave {wave}: {} objects failed to apply:\n{}", .errors.len(), list(.errors))]
    Apply {
        wave: String,
        errors: Vec<apply::Error>,
    },
    /// A changed CRD would make existing resources invalid.
    #[error("a CRD upgrade would make existing resources invalid, nothing of wave {wave} was applied (override with --force-crd-upgrade):\n{}", list(.findings))]
    CrdUpgrade {
        wave: String,
        findings: Vec<crd::Finding>,
    },
    /// Objects did not become ready in time, or failed.
    #[error("wave {wave}: {} objects not ready{}:\n{}", .not_ready.len(), if *.timed_out { " after the timeout" } else { "" }, list(.not_ready))]
    Health {
        wave: String,
        timed_out: bool,
        not_ready: Vec<NotReady>,
    },
    #[error(transparent)]
    Hook(#[from] hooks::Error),
    #[error(transparent)]
    MassPrune(#[from] prune::MassPrune),
    /// Pruned objects still exist after the timeout (finalizers).
    #[error("pruned objects still exist after {timeout:?}:\n{}", list(.remaining))]
    PruneStuck {
        timeout: Duration,
        remaining: Vec<String>,
    },
    #[error(
        "{0}; to start over, delete it (kubectl -n weir-system delete configmap <name>): weir then forgets objects that left the repo earlier"
    )]
    Inventory(#[from] inventory::Error),
    /// Another writer holds the target, or took it over mid-sync.
    #[error(transparent)]
    Lease(#[from] lease::Error),
    /// The target's inventory records another source: this sync would
    /// take that repo's objects for its own and could prune them.
    #[error(
        "target `{target}` holds the objects of {recorded}, and this sync is of {ours}: syncing it \
         would take them for its own and could prune them, so nothing was applied. If this is \
         another repo, give it its own target (--target NAME, or metadata.name in weir.yaml); if \
         it is the same repo under another name (a clone without the remote, another URL), or it \
         is meant to take the target over, run again with --adopt (a Sync: spec.adopt: true)"
    )]
    OtherSource {
        target: String,
        recorded: SourceId,
        ours: SourceId,
    },
}

impl Error {
    /// The stable word for `--output json` (see [`ErrorReport`]).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Cluster(_) => "cluster",
            Error::Preflight(_) => "preflight",
            Error::Invalid { .. } => "invalid",
            Error::Apply { errors, .. }
                if errors
                    .iter()
                    .all(|e| matches!(e, apply::Error::Conflict { .. })) =>
            {
                "conflict"
            }
            Error::Apply { .. } => "apply",
            Error::CrdUpgrade { .. } => "crdUpgrade",
            Error::Health { .. } => "health",
            Error::Hook(_) => "hook",
            Error::MassPrune(_) => "massPrune",
            Error::PruneStuck { .. } => "prune",
            Error::Inventory(_) => "inventory",
            Error::Lease(_) => "lease",
            Error::OtherSource { .. } => "otherSource",
        }
    }
}

/// A failed sync: the error, and the report of what was done before it.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Failed {
    #[source]
    pub error: Error,
    pub report: Box<Report>,
}

/// What the caller chose on the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Server-side dry run: nothing changes.
    pub dry_run: bool,
    /// Delete objects that left the repo.
    pub prune: bool,
    pub allow_mass_prune: bool,
    pub force_conflicts: bool,
    pub force_crd_upgrade: bool,
    /// Default health timeout of a wave (components may override it).
    pub timeout: Duration,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Who this writer is, as the target's Lease records it.
    pub holder: String,
    /// How long to wait for the target's Lease while another writer holds
    /// it (zero: fail at once, naming the holder).
    pub lease_wait: Duration,
    /// Sync into a target whose inventory records another source (its
    /// objects become this source's, and are pruned when not in it).
    pub adopt: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            dry_run: false,
            prune: false,
            allow_mass_prune: false,
            force_conflicts: false,
            force_crd_upgrade: false,
            timeout: DEFAULT_HEALTH_TIMEOUT,
            concurrency: 16,
            holder: lease::cli_holder(),
            lease_wait: Duration::ZERO,
            adopt: false,
        }
    }
}

/// Receives events as the sync runs.
pub type Progress<'a> = &'a (dyn Fn(&Event) + Send + Sync);

/// Everything the engine needs besides the plan.
pub struct Context<'a> {
    pub cluster: &'a Cluster,
    pub options: Options,
    pub progress: Progress<'a>,
}

/// Where the engine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Preflight,
    LoadInventory,
    CrdCheck {
        wave: usize,
    },
    PreApplyHooks {
        wave: usize,
    },
    /// `step`: the index of the sync wave (of the wave's objects) being
    /// applied.
    ApplyFoundation {
        wave: usize,
        step: usize,
    },
    WaitFoundation {
        wave: usize,
        step: usize,
    },
    ApplyRest {
        wave: usize,
        step: usize,
    },
    SyncHooks {
        wave: usize,
        step: usize,
    },
    HealthGate {
        wave: usize,
        step: usize,
    },
    PostApplyHooks {
        wave: usize,
    },
    PostSyncHooks,
    Prune,
    RecordInventory,
    Done,
}

/// Applies a plan: the whole sync, start to end, holding the target's
/// Lease (a dry run writes nothing and takes none).
pub async fn reconcile(plan: &SyncPlan, ctx: &Context<'_>) -> Result<Report, Failed> {
    if ctx.options.dry_run {
        return run(plan, ctx).await;
    }
    let spec = lease::target_lease(&plan.target, &ctx.options.holder);
    let on_wait = |e: &lease::Error| {
        (ctx.progress)(&Event::WaitingForLease {
            message: e.to_string(),
        });
    };
    // weir's own records (the Lease, the inventory) are written with its
    // own identity even when the objects are applied as someone else.
    let records = ctx.cluster.records();
    let mut held = match records
        .acquire_lease_waiting(&spec, ctx.options.lease_wait, &on_wait)
        .await
    {
        Ok(held) => held,
        Err(e) => {
            let error = match e {
                lease::Error::Cluster(e) => Error::Cluster(e),
                other => Error::Lease(other),
            };
            let mut report = Report::of_plan(plan, false);
            report.status = Status::Failed;
            report.error = Some(ErrorReport {
                kind: error.kind(),
                message: error.to_string(),
            });
            return Err(Failed {
                error,
                report: Box::new(report),
            });
        }
    };
    let result = tokio::select! {
        result = run(plan, ctx) => result,
        lost = records.keep_lease(&mut held) => {
            // The work stops here: another writer has the target now.
            let error = Error::Lease(lost);
            let mut report = Report::of_plan(plan, false);
            report.status = Status::Failed;
            report.error = Some(ErrorReport { kind: error.kind(), message: error.to_string() });
            return Err(Failed { error, report: Box::new(report) });
        }
    };
    records.release_lease(held).await;
    result
}

/// The sync itself, once the Lease is held.
async fn run(plan: &SyncPlan, ctx: &Context<'_>) -> Result<Report, Failed> {
    let mut engine = Engine::new(plan, ctx);
    loop {
        match engine.step().await {
            Ok(State::Done) => return Ok(engine.finish(None)),
            Ok(_) => {}
            Err(error) => {
                if engine.sync_fail_applies(&error) {
                    engine.sync_fail_hooks().await;
                }
                let report = engine.finish(Some(&error));
                return Err(Failed {
                    error,
                    report: Box::new(report),
                });
            }
        }
    }
}

/// An object of the previous inventory as the API server returned it.
enum Fetched {
    Gone,
    KindNotServed,
    Found(Value),
}

impl Fetched {
    fn as_live(&self) -> prune::Live<'_> {
        match self {
            Fetched::Gone => prune::Live::Gone,
            Fetched::KindNotServed => prune::Live::KindNotServed,
            Fetched::Found(value) => prune::Live::Found(value),
        }
    }
}

/// An object of the current wave, normalised.
#[derive(Debug, Clone)]
struct WaveObject {
    value: Value,
    object: ObjectRef,
    unit: usize,
}

/// The sync in progress.
pub struct Engine<'a> {
    plan: &'a SyncPlan,
    ctx: &'a Context<'a>,
    state: State,
    report: Report,
    started: Instant,
    wave_started: Instant,
    /// The inventory as stored (or as it will be once written).
    inventory: Inventory,
    previous: Inventory,
    inventory_stored: bool,
    /// The stored inventory's `resourceVersion`: every write is made on
    /// the condition that nobody else wrote it since.
    inventory_version: Option<String>,
    /// Every object of the plan, once applied (or found unchanged).
    desired: Vec<Entry>,
    /// Objects of the current wave and their live state after apply.
    wave_objects: Vec<WaveObject>,
    wave_live: HashMap<ObjectRef, Value>,
    /// CRDs created or changed in the current wave.
    crds_changed: bool,
    /// The sync waves of the current wave's objects and `sync` hooks,
    /// ascending (`[0]` when none has one).
    steps: Vec<i64>,
    /// Per step, its objects: `(unit, object)` indexes in the wave (each
    /// object's sync wave is read once, not once per step).
    step_objects: Vec<Vec<(usize, usize)>>,
}

impl<'a> Engine<'a> {
    pub fn new(plan: &'a SyncPlan, ctx: &'a Context<'a>) -> Self {
        Self {
            plan,
            ctx,
            state: State::Preflight,
            report: Report::of_plan(plan, ctx.options.dry_run),
            started: Instant::now(),
            wave_started: Instant::now(),
            inventory: Inventory::default(),
            previous: Inventory::default(),
            inventory_stored: false,
            inventory_version: None,
            desired: Vec::new(),
            wave_objects: Vec::new(),
            wave_live: HashMap::new(),
            crds_changed: false,
            steps: vec![0],
            step_objects: Vec::new(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    fn emit(&self, event: Event) {
        (self.ctx.progress)(&event);
    }

    fn apply_options(&self) -> ApplyOptions {
        ApplyOptions {
            dry_run: self.ctx.options.dry_run,
            force_conflicts: self.ctx.options.force_conflicts,
            concurrency: self.ctx.options.concurrency,
        }
    }

    fn cluster(&self) -> &'a Cluster {
        self.ctx.cluster
    }

    fn finish(&mut self, error: Option<&Error>) -> Report {
        let mut report = self.report.clone();
        if let Some(e) = error {
            report.status = Status::Failed;
            report.error = Some(ErrorReport {
                kind: e.kind(),
                message: e.to_string(),
            });
        }
        if let Some(w) = report.waves.last_mut()
            && w.seconds == 0.0
        {
            w.seconds = self.wave_started.elapsed().as_secs_f64();
        }
        report.requests = self.cluster().requests();
        report.seconds = self.started.elapsed().as_secs_f64();
        report
    }

    /// Performs the current state and moves to the next.
    pub async fn step(&mut self) -> Result<State, Error> {
        let next = match self.state {
            State::Preflight => self.preflight().await?,
            State::LoadInventory => self.load_inventory().await?,
            State::CrdCheck { wave } => self.crd_check(wave).await?,
            State::PreApplyHooks { wave } => {
                self.hooks(Some(wave), HookPhase::PreApply, None).await?;
                State::ApplyFoundation { wave, step: 0 }
            }
            State::ApplyFoundation { wave, step } => self.apply_stage(wave, step, true).await?,
            State::WaitFoundation { wave, step } => self.wait_foundation(wave, step).await?,
            State::ApplyRest { wave, step } => self.apply_stage(wave, step, false).await?,
            State::SyncHooks { wave, step } => {
                let at = self.steps.get(step).copied().unwrap_or(0);
                self.hooks(Some(wave), HookPhase::Sync, Some(at)).await?;
                if self.ctx.options.dry_run {
                    self.next_step(wave, step)
                } else {
                    State::HealthGate { wave, step }
                }
            }
            State::HealthGate { wave, step } => {
                self.health_gate(wave).await?;
                self.next_step(wave, step)
            }
            State::PostApplyHooks { wave } => {
                self.hooks(Some(wave), HookPhase::PostApply, None).await?;
                self.end_wave(wave);
                if wave + 1 < self.plan.waves.len() {
                    State::CrdCheck { wave: wave + 1 }
                } else {
                    State::PostSyncHooks
                }
            }
            State::PostSyncHooks => {
                self.hooks(None, HookPhase::PostSync, None).await?;
                State::Prune
            }
            State::Prune => self.prune().await?,
            State::RecordInventory => self.record_inventory().await?,
            State::Done => State::Done,
        };
        self.state = next;
        Ok(next)
    }

    // ------------------------------------------------------------ preflight

    async fn preflight(&mut self) -> Result<State, Error> {
        // Every object must be addressable. (That each appears once is the
        // plan's rule, checked before a sync plan exists.)
        let mut count = 0;
        for wave in &self.plan.waves {
            for unit in &wave.units {
                for (index, value) in unit.objects.iter().enumerate() {
                    ObjectRef::from_value(value).map_err(|source| Error::Invalid {
                        component: unit.name.clone(),
                        index,
                        source,
                    })?;
                    count += 1;
                }
            }
        }
        self.emit(Event::Started {
            target: self.plan.target.clone(),
            waves: self.plan.waves.len(),
            objects: count,
        });
        let lookups = preflight::lookups(self.plan);
        let checks = lookups.secrets.len() + lookups.crds.len() + usize::from(lookups.version);
        let observed = preflight::observe(self.cluster(), &lookups).await?;
        let failures = preflight::check(self.plan, &observed);
        if !failures.is_empty() {
            return Err(Error::Preflight(failures));
        }
        if checks > 0 {
            self.emit(Event::PreflightPassed { checks });
        }
        Ok(State::LoadInventory)
    }

    // ------------------------------------------------------------ inventory

    async fn load_inventory(&mut self) -> Result<State, Error> {
        let cm = Inventory::object_ref(&self.plan.target);
        match self.cluster().records().get(&cm).await? {
            Some(value) => {
                self.previous = Inventory::from_config_map(&value)?;
                self.inventory = self.previous.clone();
                self.inventory_stored = true;
                self.inventory_version = resource_version(&value);
            }
            None => {
                self.inventory = Inventory {
                    target: self.plan.target.clone(),
                    ..Inventory::default()
                };
            }
        }
        if let (Some(recorded), Some(ours)) = (&self.previous.source, &self.plan.source)
            && recorded != ours
            && !self.ctx.options.adopt
        {
            return Err(Error::OtherSource {
                target: self.plan.target.clone(),
                recorded: recorded.clone(),
                ours: ours.clone(),
            });
        }
        // The stored revision stays until the sync completes; the source
        // is this sync's from its first write.
        self.inventory.target = self.plan.target.clone();
        if self.plan.source.is_some() {
            self.inventory.source = self.plan.source.clone();
        }
        Ok(if self.plan.waves.is_empty() {
            State::PostSyncHooks
        } else {
            State::CrdCheck { wave: 0 }
        })
    }

    /// Writes the inventory if it changed (never under `--dry-run`).
    async fn store_inventory(&mut self, inventory: Inventory) -> Result<(), Error> {
        if self.ctx.options.dry_run {
            self.inventory = inventory;
            return Ok(());
        }
        if self.inventory_stored && inventory == self.inventory {
            return Ok(());
        }
        if !self.inventory_stored {
            self.cluster()
                .records()
                .ensure_namespace(inventory::NAMESPACE)
                .await?;
        }
        // Written on condition that nobody wrote it since this sync read it
        // (the version it read or last wrote travels with the apply).
        let mut value = inventory.to_config_map();
        if let Some(version) = &self.inventory_version {
            value["metadata"]["resourceVersion"] = Value::String(version.clone());
        }
        let cm_ref = Inventory::object_ref(&inventory.target);
        let written = self
            .cluster()
            .records()
            .apply(&value, None, &self.apply_options())
            .await
            .map(|applied| applied.live);
        let written = match written {
            Ok(v) => v,
            Err(apply::Error::Conflict { conflicts, .. }) if conflicts.is_empty() => {
                return Err(inventory::Error::Changed { name: cm_ref.name }.into());
            }
            Err(e) => return Err(e.into()),
        };
        self.inventory_version = resource_version(&written);
        self.inventory = inventory;
        self.inventory_stored = true;
        Ok(())
    }

    // ------------------------------------------------------------ crd check

    async fn crd_check(&mut self, wave: usize) -> Result<State, Error> {
        self.wave_started = Instant::now();
        let w = &self.plan.waves[wave];
        self.report.waves.push(WaveReport {
            index: w.index,
            name: w.name.clone(),
            ..WaveReport::default()
        });
        self.emit(Event::WaveStarted {
            index: w.index,
            name: w.name.clone(),
            objects: w.units.iter().map(|u| u.objects.len()).sum(),
        });
        let mut by_wave: BTreeMap<i64, Vec<(usize, usize)>> = BTreeMap::new();
        for (u, unit) in w.units.iter().enumerate() {
            for (i, value) in unit.objects.iter().enumerate() {
                by_wave
                    .entry(sync_wave_or_zero(value))
                    .or_default()
                    .push((u, i));
            }
            for h in unit.hooks.iter().filter(|h| h.phase == HookPhase::Sync) {
                by_wave.entry(h.weight).or_default();
            }
        }
        if by_wave.is_empty() {
            by_wave.insert(0, Vec::new());
        }
        (self.steps, self.step_objects) = by_wave.into_iter().unzip();
        let mut findings = Vec::new();
        for unit in &w.units {
            for value in &unit.objects {
                let Ok(object) = ObjectRef::from_value(value) else {
                    continue;
                };
                if !object.is_crd() {
                    continue;
                }
                let Some(live) = self.cluster().get(&object).await? else {
                    continue;
                };
                if super::compare::in_sync(value, &live, apply::FIELD_MANAGER).is_ok() {
                    continue;
                }
                findings.extend(self.check_crd_upgrade(&live, value).await?);
            }
        }
        if !findings.is_empty() {
            if self.ctx.options.force_crd_upgrade {
                for f in &findings {
                    tracing::warn!(finding = %f, "CRD upgrade forced despite");
                }
            } else {
                return Err(Error::CrdUpgrade {
                    wave: w.name.clone(),
                    findings,
                });
            }
        }
        Ok(State::PreApplyHooks { wave })
    }

    async fn check_crd_upgrade(
        &self,
        live: &Value,
        new: &Value,
    ) -> Result<Vec<crd::Finding>, Error> {
        let mut findings = crd::removed_stored_versions(live, new);
        let group = new
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or("");
        let kind = live
            .pointer("/spec/names/kind")
            .and_then(Value::as_str)
            .unwrap_or("");
        let plural = live
            .pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or("");
        let namespaced = live.pointer("/spec/scope").and_then(Value::as_str) == Some("Namespaced");
        for check in crd::checks(live, new) {
            let resource = kube::discovery::ApiResource {
                group: group.to_owned(),
                version: check.list_version.to_owned(),
                api_version: format!("{group}/{}", check.list_version),
                kind: kind.to_owned(),
                plural: plural.to_owned(),
            };
            let resolved = apply::Resolved {
                resource,
                namespaced,
            };
            for cr in self.cluster().list(&resolved, None, None).await? {
                let Ok(object) = ObjectRef::from_value(&cr) else {
                    continue;
                };
                for v in crd::validate(&cr, check.schema) {
                    findings.push(crd::Finding {
                        object: object.to_string(),
                        field: v.path,
                        problem: format!("{} under {}/{}", v.message, group, check.new_version),
                    });
                }
            }
        }
        Ok(findings)
    }

    // ---------------------------------------------------------------- hooks

    /// Runs the hooks of `phase` of the units of `wave` (all waves:
    /// `None`); for `sync` hooks, those of the sync wave `at`.
    async fn hooks(
        &mut self,
        wave: Option<usize>,
        phase: HookPhase,
        at: Option<i64>,
    ) -> Result<(), Error> {
        let waves: Vec<usize> = match wave {
            Some(w) => vec![w],
            None => (0..self.plan.waves.len()).collect(),
        };
        let plan = self.plan;
        for w in waves {
            for unit in &plan.waves[w].units {
                let group: Vec<&HookJob> = unit
                    .hooks
                    .iter()
                    .filter(|h| h.phase == phase && at.is_none_or(|at| h.weight == at))
                    .collect();
                if !group.is_empty() {
                    self.run_group(unit, &group, phase).await?;
                }
            }
        }
        Ok(())
    }

    /// Runs one unit's hooks of one phase, in order: all of them when any
    /// changed since it last succeeded (a `syncFail` hook always), none
    /// otherwise. Once all succeeded, those whose policy says so are
    /// deleted, last first.
    async fn run_group(
        &mut self,
        unit: &SyncUnit,
        group: &[&HookJob],
        phase: HookPhase,
    ) -> Result<(), Error> {
        let always = phase == HookPhase::SyncFail;
        let keyed: Vec<(String, String)> = group
            .iter()
            .map(|h| {
                (
                    hooks::key(&unit.name, h),
                    hooks::fingerprint(h, &unit.objects),
                )
            })
            .collect();
        let unchanged = !always
            && keyed
                .iter()
                .all(|(key, fingerprint)| self.inventory.hooks.get(key) == Some(fingerprint));
        if unchanged {
            tracing::info!(component = %unit.name, phase = phase.label(),
                "hooks skipped: they completed for these hooks and this component content before");
        }
        let mut succeeded: Vec<(&HookJob, ObjectRef)> = Vec::new();
        for (hook, (key, fingerprint)) in group.iter().zip(keyed) {
            let ran = if unchanged {
                Ran {
                    result: HookResult::Unchanged,
                    object: None,
                }
            } else {
                self.emit(Event::HookStarted {
                    component: unit.name.clone(),
                    name: hook.name.clone(),
                    phase,
                });
                match hooks::run(
                    self.cluster(),
                    hook,
                    &unit.name,
                    unit.namespace.as_deref(),
                    &self.apply_options(),
                    self.unit_timeout(unit),
                )
                .await
                {
                    Ok(ran) => ran,
                    Err(e) => {
                        self.record_hook(unit, hook, phase, HookResult::Failed, None);
                        return Err(e.into());
                    }
                }
            };
            if ran.result.succeeded() && !always {
                let mut next = self.inventory.clone();
                next.hooks.insert(key, fingerprint);
                self.store_inventory(next).await?;
            }
            if let (true, Some(object)) = (ran.result.succeeded(), &ran.object) {
                succeeded.push((hook, object.clone()));
            }
            self.record_hook(unit, hook, phase, ran.result, ran.object);
        }
        for (hook, object) in succeeded.iter().rev() {
            if hook.delete.on_success {
                hooks::delete(self.cluster(), object).await?;
            }
        }
        Ok(())
    }

    fn record_hook(
        &mut self,
        unit: &SyncUnit,
        hook: &HookJob,
        phase: HookPhase,
        result: HookResult,
        object: Option<ObjectRef>,
    ) {
        self.emit(Event::HookFinished {
            component: unit.name.clone(),
            name: hook.name.clone(),
            result,
            object: object.clone(),
        });
        self.report.hooks.push(HookReport {
            component: unit.name.clone(),
            name: hook.name.clone(),
            phase,
            result,
            object: object.map(|o| o.to_string()),
        });
    }

    /// Whether a failed sync runs `syncFail` hooks: when it got as far as
    /// applying (not when it stopped before, changing nothing, nor when
    /// another writer took the target), and not in a dry run.
    fn sync_fail_applies(&self, error: &Error) -> bool {
        !self.ctx.options.dry_run
            && !self.report.waves.is_empty()
            && !matches!(
                error,
                Error::Preflight(_)
                    | Error::Invalid { .. }
                    | Error::Lease(_)
                    | Error::OtherSource { .. }
                    | Error::Inventory(_)
            )
    }

    /// Runs the `syncFail` hooks of the units of the waves the failed sync
    /// reached. A failing one is reported (and logged); the sync's own
    /// error stays the one it reports.
    async fn sync_fail_hooks(&mut self) {
        let reached = self.report.waves.len().min(self.plan.waves.len());
        let plan = self.plan;
        for wave in &plan.waves[..reached] {
            for unit in &wave.units {
                let group: Vec<&HookJob> = unit
                    .hooks
                    .iter()
                    .filter(|h| h.phase == HookPhase::SyncFail)
                    .collect();
                if group.is_empty() {
                    continue;
                }
                if let Err(e) = self.run_group(unit, &group, HookPhase::SyncFail).await {
                    tracing::warn!(component = %unit.name, error = %e, "a syncFail hook failed");
                }
            }
        }
    }

    /// After a sync wave of a wave: the next one, or the wave's post-apply
    /// hooks.
    fn next_step(&self, wave: usize, step: usize) -> State {
        if step + 1 < self.steps.len() {
            State::ApplyFoundation {
                wave,
                step: step + 1,
            }
        } else {
            State::PostApplyHooks { wave }
        }
    }

    fn unit_timeout(&self, unit: &SyncUnit) -> Duration {
        unit.health.timeout.unwrap_or(self.ctx.options.timeout)
    }

    // ---------------------------------------------------------------- apply

    /// Applies the foundation (Namespaces, CRDs) or the rest of one sync
    /// wave of a wave.
    async fn apply_stage(
        &mut self,
        wave: usize,
        step: usize,
        foundation: bool,
    ) -> Result<State, Error> {
        let w = &self.plan.waves[wave];
        if foundation {
            self.wave_objects.clear();
            self.wave_live.clear();
            self.crds_changed = false;
        }
        let mut batch = Vec::new();
        let mut unserved = Vec::new();
        let members = self.step_objects.get(step).map_or(&[][..], Vec::as_slice);
        for &(u, i) in members {
            let Some(unit) = w.units.get(u) else {
                continue;
            };
            let Some(value) = unit.objects.get(i) else {
                continue;
            };
            let Ok(object) = ObjectRef::from_value(value) else {
                continue;
            };
            if (object.is_crd() || object.is_namespace()) != foundation {
                continue;
            }
            let mut value = value.clone();
            let default_ns = unit
                .namespace
                .as_deref()
                .unwrap_or(self.cluster().default_namespace());
            match self.cluster().normalise(&mut value, Some(default_ns)).await {
                Ok((object, _)) => batch.push(WaveObject {
                    value,
                    object,
                    unit: u,
                }),
                // Under --dry-run a CRD of this sync is not created, so
                // its resources cannot be checked by the server yet.
                Err(apply::Error::UnknownKind { .. })
                    if self.ctx.options.dry_run && self.plan_defines(&object) =>
                {
                    unserved.push((object, u));
                }
                Err(e) => return Err(e.into()),
            }
        }
        // Write ahead: the inventory knows an object before it exists.
        let protected = |unit: &SyncUnit, object: &ObjectRef, value: &Value| {
            prune::protection(object, value, Some(&unit.prune)).is_some()
        };
        let entries: Vec<Entry> = batch
            .iter()
            .map(|o| Entry {
                object: o.object.clone(),
                wave: w.index,
                component: w.units[o.unit].name.clone(),
                protected: protected(&w.units[o.unit], &o.object, &o.value),
            })
            .chain(unserved.iter().map(|(object, u)| Entry {
                object: object.clone(),
                wave: w.index,
                component: w.units[*u].name.clone(),
                protected: protected(&w.units[*u], object, &Value::Null),
            }))
            .collect();
        let known: HashSet<&Entry> = self.inventory.entries.iter().collect();
        let missing: Vec<Entry> = entries
            .iter()
            .filter(|e| !known.contains(e))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let mut next = self.inventory.clone();
            next.merge(missing);
            self.store_inventory(next).await?;
        }
        self.desired.extend(entries);

        let refs: Vec<ObjectRef> = batch.iter().map(|o| o.object.clone()).collect();
        let live = self
            .cluster()
            .fetch_live(&refs, self.ctx.options.concurrency)
            .await?;
        let values: Vec<&Value> = batch.iter().map(|o| &o.value).collect();
        let index = w.index;
        let on_done = |r: &Result<Applied, apply::Error>| {
            if let Ok(a) = r {
                self.emit(Event::Applied {
                    wave: index,
                    object: a.object.clone(),
                    action: a.action,
                });
            }
        };
        let results = self
            .cluster()
            .apply_all(&values, live, &self.apply_options(), &on_done)
            .await;
        let mut errors = Vec::new();
        for result in results {
            match result {
                Ok(applied) => self.record_applied(applied),
                Err(e) => errors.push(e),
            }
        }
        for (object, _) in unserved {
            self.emit(Event::Applied {
                wave: w.index,
                object: object.clone(),
                action: Action::Created,
            });
            if let Some(r) = self.report.waves.last_mut() {
                r.created += 1;
                r.applied += 1;
                r.changed.push(ChangedObject {
                    object: format!("{object} (not validated: its CRD is created by this sync)"),
                    action: Action::Created,
                });
            }
        }
        self.wave_objects.extend(batch);
        if let Some(r) = self.report.waves.last_mut() {
            r.apply_seconds = self.wave_started.elapsed().as_secs_f64();
        }
        if !errors.is_empty() {
            return Err(Error::Apply {
                wave: w.name.clone(),
                errors,
            });
        }
        Ok(match (foundation, self.ctx.options.dry_run) {
            (true, false) => State::WaitFoundation { wave, step },
            (true, true) => State::ApplyRest { wave, step },
            (false, _) => State::SyncHooks { wave, step },
        })
    }

    /// True when the plan holds the CRD that defines an object's kind.
    fn plan_defines(&self, object: &ObjectRef) -> bool {
        self.plan.objects().any(|v| {
            v.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition")
                && v.pointer("/spec/group").and_then(Value::as_str) == Some(object.group.as_str())
                && v.pointer("/spec/names/kind").and_then(Value::as_str)
                    == Some(object.kind.as_str())
        })
    }

    fn record_applied(&mut self, applied: Applied) {
        let Applied {
            object,
            action,
            live,
        } = applied;
        if object.is_crd() && action != Action::Unchanged {
            self.crds_changed = true;
        }
        if let Some(r) = self.report.waves.last_mut() {
            match action {
                Action::Created => r.created += 1,
                Action::Configured => r.configured += 1,
                Action::Unchanged => r.unchanged += 1,
            }
            if action != Action::Unchanged {
                r.applied += 1;
                r.changed.push(ChangedObject {
                    object: object.to_string(),
                    action,
                });
            }
        }
        self.wave_live.insert(object, live);
    }

    /// Waits for the wave's CRDs and Namespaces, then reloads discovery so
    /// the wave's custom resources can be applied.
    async fn wait_foundation(&mut self, wave: usize, step: usize) -> Result<State, Error> {
        let pending = self.pending(wave, |o| o.is_crd() || o.is_namespace());
        if !pending.is_empty() {
            self.wait(wave, pending, vec![HealthContext::default()])
                .await?;
        }
        if self.crds_changed {
            self.cluster().refresh_discovery().await?;
        }
        Ok(State::ApplyRest { wave, step })
    }

    fn pending(&self, wave: usize, filter: impl Fn(&ObjectRef) -> bool) -> Vec<Pending> {
        let w = &self.plan.waves[wave];
        let now = Instant::now();
        self.wave_objects
            .iter()
            .filter(|o| filter(&o.object))
            .filter(|o| {
                let labels = o.value.pointer("/metadata/labels");
                !w.units[o.unit]
                    .health
                    .ignore
                    .iter()
                    .any(|s| s.matches(&o.object, labels))
            })
            .map(|o| Pending {
                object: o.object.clone(),
                deadline: now + self.unit_timeout(&w.units[o.unit]),
                context: o.unit,
            })
            .collect()
    }

    async fn wait(
        &self,
        wave: usize,
        pending: Vec<Pending>,
        contexts: Vec<HealthContext>,
    ) -> Result<(), Error> {
        let index = self.plan.waves[wave].index;
        let on_poll = |n: usize, named: &[(&ObjectRef, &str)]| {
            if n > 0 {
                self.emit(Event::Waiting {
                    wave: index,
                    pending: n,
                    objects: named
                        .iter()
                        .map(|(o, r)| ((*o).clone(), (*r).to_owned()))
                        .collect(),
                });
            }
        };
        match wait::wait_ready(
            self.cluster(),
            pending,
            &contexts,
            &self.wave_live,
            self.ctx.options.concurrency,
            &on_poll,
        )
        .await?
        {
            wait::Outcome::Ready => Ok(()),
            wait::Outcome::NotReady(not_ready) => Err(Error::Health {
                wave: self.plan.waves[wave].name.clone(),
                timed_out: !not_ready.iter().any(|n| n.failed),
                not_ready,
            }),
        }
    }

    async fn health_gate(&mut self, wave: usize) -> Result<(), Error> {
        let w = &self.plan.waves[wave];
        let pending = self.pending(wave, |_| true);
        let has_pvcs = self
            .wave_objects
            .iter()
            .any(|o| o.object.is_kind("", "PersistentVolumeClaim"));
        let (classes, default_class) = if has_pvcs {
            self.storage_classes().await?
        } else {
            (HashMap::new(), None)
        };
        let contexts = w
            .units
            .iter()
            .map(|u| HealthContext {
                storage_classes: classes.clone(),
                default_storage_class: default_class.clone(),
                extra: u.health.conditions.clone(),
            })
            .collect();
        self.wait(wave, pending, contexts).await?;
        Ok(())
    }

    async fn storage_classes(&self) -> Result<(HashMap<String, String>, Option<String>), Error> {
        let r = ObjectRef {
            group: "storage.k8s.io".into(),
            version: "v1".into(),
            kind: "StorageClass".into(),
            namespace: None,
            name: String::new(),
        };
        let resolved = self.cluster().resolve(&r).await?;
        let mut classes = HashMap::new();
        let mut default = None;
        for sc in self.cluster().list(&resolved, None, None).await? {
            let Some(name) = sc.pointer("/metadata/name").and_then(Value::as_str) else {
                continue;
            };
            let mode = sc
                .get("volumeBindingMode")
                .and_then(Value::as_str)
                .unwrap_or("Immediate");
            classes.insert(name.to_owned(), mode.to_owned());
            let is_default = sc
                .pointer("/metadata/annotations")
                .and_then(|a| a.get("storageclass.kubernetes.io/is-default-class"))
                .and_then(Value::as_str)
                == Some("true");
            if is_default {
                default = Some(name.to_owned());
            }
        }
        Ok((classes, default))
    }

    fn end_wave(&mut self, wave: usize) {
        let w = &self.plan.waves[wave];
        let seconds = self.wave_started.elapsed().as_secs_f64();
        if let Some(r) = self.report.waves.last_mut() {
            r.seconds = seconds;
        }
        self.emit(Event::WaveDone {
            index: w.index,
            name: w.name.clone(),
            seconds,
        });
    }

    // ---------------------------------------------------------------- prune

    async fn prune(&mut self) -> Result<State, Error> {
        let desired: HashSet<ObjectKey> = self.desired.iter().map(|e| e.object.key()).collect();
        let candidates: Vec<Entry> = self
            .previous
            .entries
            .iter()
            .filter(|e| !desired.contains(&e.object.key()))
            .cloned()
            .collect();
        if candidates.is_empty() {
            return Ok(State::RecordInventory);
        }
        self.report.prune.enabled = self.ctx.options.prune;
        if !self.ctx.options.prune {
            self.report.prune.pending = candidates.iter().map(|e| e.object.to_string()).collect();
            self.emit(Event::PrunePending {
                count: candidates.len(),
            });
            return Ok(State::RecordInventory);
        }
        // Decide for each, from its live state and its component's rules.
        let rules: HashMap<&str, &SyncUnit> = self
            .plan
            .waves
            .iter()
            .flat_map(|w| w.units.iter())
            .map(|u| (u.name.as_str(), u))
            .collect();
        let concurrency = self.ctx.options.concurrency;
        let cluster = self.cluster();
        // Which kinds are served now (a CRD may have been deleted since
        // discovery was read): an object of a kind no longer served is
        // kept in the inventory, not taken for gone.
        cluster.refresh_discovery().await?;
        let gets: Vec<_> = candidates
            .into_iter()
            .map(|e| async move {
                let live = match cluster.get(&e.object).await {
                    Ok(v) => v.map(Fetched::Found).unwrap_or(Fetched::Gone),
                    Err(apply::Error::UnknownKind { .. }) => Fetched::KindNotServed,
                    Err(err) => return Err(Error::from(err)),
                };
                Ok((e, live))
            })
            .collect();
        let lives: Vec<Result<(Entry, Fetched), Error>> = stream::iter(gets)
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        let mut deletes: Vec<Entry> = Vec::new();
        let mut forget: HashSet<ObjectKey> = HashSet::new();
        for item in lives {
            let (entry, live) = item?;
            let unit_rules = rules.get(entry.component.as_str()).map(|u| &u.prune);
            match prune::decide(&entry, live.as_live(), unit_rules, &self.plan.prune) {
                Verdict::Delete => deletes.push(entry),
                Verdict::Gone => {
                    forget.insert(entry.object.key());
                }
                Verdict::Keep(reason) => {
                    if reason.forget() {
                        forget.insert(entry.object.key());
                    }
                    let reason = reason.describe(&entry.object.kind);
                    self.emit(Event::Kept {
                        object: entry.object.clone(),
                        reason: reason.clone(),
                    });
                    self.report.prune.kept.push(KeptObject {
                        object: entry.object.to_string(),
                        reason,
                    });
                }
            }
        }
        if !self.ctx.options.allow_mass_prune {
            prune::guard(
                deletes.len(),
                self.previous.entries.len(),
                self.plan.prune.max_objects,
                self.plan.prune.max_fraction,
            )?;
        }
        // Reverse wave order: what was applied last goes first.
        let mut by_wave: BTreeMap<u32, Vec<Entry>> = BTreeMap::new();
        for e in deletes {
            by_wave.entry(e.wave).or_default().push(e);
        }
        let dry_run = self.ctx.options.dry_run;
        for (wave, entries) in by_wave.into_iter().rev() {
            let deletes: Vec<_> = entries
                .iter()
                .map(|e| async move {
                    cluster
                        .delete(&e.object, PropagationPolicy::Background, dry_run)
                        .await
                        .map(|_| ())
                })
                .collect();
            let results: Vec<Result<(), apply::Error>> = stream::iter(deletes)
                .buffer_unordered(concurrency.max(1))
                .collect()
                .await;
            for r in results {
                r?;
            }
            if !dry_run {
                self.wait_gone(&entries).await?;
            }
            for e in &entries {
                forget.insert(e.object.key());
                self.emit(Event::Pruned {
                    object: e.object.clone(),
                });
                self.report.prune.pruned.push(e.object.to_string());
                if let Some(w) = self.report.waves.iter_mut().find(|w| w.index == wave) {
                    w.pruned += 1;
                }
            }
        }
        self.previous
            .entries
            .retain(|e| !forget.contains(&e.object.key()));
        Ok(State::RecordInventory)
    }

    async fn wait_gone(&self, entries: &[Entry]) -> Result<(), Error> {
        let deadline = Instant::now() + self.ctx.options.timeout;
        let mut remaining: Vec<&Entry> = entries.iter().collect();
        let mut delay = Duration::from_millis(200);
        let cluster = self.cluster();
        let concurrency = self.ctx.options.concurrency.max(1);
        loop {
            let gets: Vec<_> = remaining
                .into_iter()
                .map(|e| async move {
                    match cluster.get(&e.object).await {
                        Ok(v) => Ok(v.map(|live| (e, live))),
                        Err(apply::Error::UnknownKind { .. }) => Ok(None),
                        Err(err) => Err(Error::from(err)),
                    }
                })
                .collect();
            let fetched: Vec<Result<Option<(&Entry, Value)>, Error>> = stream::iter(gets)
                .buffer_unordered(concurrency)
                .collect()
                .await;
            let mut still = Vec::new();
            for f in fetched {
                if let Some(found) = f? {
                    still.push(found);
                }
            }
            if still.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::PruneStuck {
                    timeout: self.ctx.options.timeout,
                    remaining: still
                        .iter()
                        .map(|(e, live)| {
                            let finalizers: Vec<&str> = live
                                .pointer("/metadata/finalizers")
                                .and_then(Value::as_array)
                                .map(|f| f.iter().filter_map(Value::as_str).collect())
                                .unwrap_or_default();
                            if finalizers.is_empty() {
                                format!("{} (being deleted)", e.object)
                            } else {
                                format!(
                                    "{} waits for finalizers {} (the controller that owns them must remove them)",
                                    e.object,
                                    finalizers.join(", ")
                                )
                            }
                        })
                        .collect(),
                });
            }
            remaining = still.into_iter().map(|(e, _)| e).collect();
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    // ------------------------------------------------------------- inventory

    async fn record_inventory(&mut self) -> Result<State, Error> {
        // What weir still manages: the repo's objects, plus what left the
        // repo and was not pruned (so a later --prune still knows it).
        // Hooks that left the repo are forgotten: if one comes back, it runs.
        let planned: HashSet<String> = self
            .plan
            .waves
            .iter()
            .flat_map(|w| &w.units)
            .flat_map(|u| u.hooks.iter().map(|h| hooks::key(&u.name, h)))
            .collect();
        let mut next = Inventory {
            target: self.plan.target.clone(),
            source: self.inventory.source.clone(),
            revision: self.plan.revision.clone(),
            entries: self.previous.entries.clone(),
            hooks: self.inventory.hooks.clone(),
        };
        next.hooks.retain(|k, _| planned.contains(k));
        next.merge(self.desired.iter().cloned());
        let objects = next.entries.len();
        self.store_inventory(next).await?;
        if !self.ctx.options.dry_run {
            self.emit(Event::InventoryRecorded { objects });
        }
        Ok(State::Done)
    }
}

#[allow(dead_code)]
fn _assert_send(plan: &SyncPlan, ctx: &Context<'_>) {
    fn send<T: Send>(_: T) {}
    send(reconcile(plan, ctx));
}

/// `metadata.resourceVersion` of an object read from the server.
fn resource_version(value: &Value) -> Option<String> {
    value
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kinds_are_stable() {
        let e = Error::Apply {
            wave: "0".into(),
            errors: vec![apply::Error::Conflict {
                object: Box::new(ObjectRef {
                    group: String::new(),
                    version: "v1".into(),
                    kind: "ConfigMap".into(),
                    namespace: Some("a".into()),
                    name: "b".into(),
                }),
                conflicts: vec![],
            }],
        };
        assert_eq!(e.kind(), "conflict");
        assert_eq!(Error::Preflight(vec![]).kind(), "preflight");
    }

    use crate::sync::hooks::HookResult;

    #[test]
    fn hook_report_is_serialisable() {
        let r = HookReport {
            component: "db".into(),
            name: "migrate".into(),
            phase: HookPhase::PostApply,
            result: HookResult::Completed,
            object: None,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"component":"db","name":"migrate","phase":"postApply","result":"completed"}"#
        );
    }
}
