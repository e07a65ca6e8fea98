//! What a sync tells the outside: [`Event`]s while it runs (for progress
//! displays and logs) and the final [`Report`] (`weir sync --output json`).
//!
//! The JSON form of [`Report`] is stable: fields are only ever added.
//!
//! ```json
//! {
//!   "status": "synced",            // or "failed"
//!   "error": null,                 // or {"kind": "health", "message": "..."}
//!   "target": "platform", "revision": "3f2a…", "dryRun": false,   // revision: "<sha>-dirty" for uncommitted changes
//!   "waves": [{"index": 0, "name": "crds", "applied": 2, "created": 2,
//!              "configured": 0, "unchanged": 5, "pruned": 0, "seconds": 1.4,
//!              "applySeconds": 0.3,
//!              "changed": [{"object": "CustomResourceDefinition widgets.example.com", "action": "created"}]}],
//!   "hooks": [{"component": "db", "name": "migrate", "phase": "postApply", "result": "completed",
//!              "object": "Job db/migrate-7xk2p"}],   // phase: preApply, sync, postApply, postSync, syncFail;
//!                                                     // result: completed, alreadyComplete, unchanged, dryRun, failed
//!   "prune": {"enabled": true, "pruned": ["ConfigMap app/old"], "kept": [{"object": "PersistentVolumeClaim app/data", "reason": "..."}], "pending": []},
//!   "charts": [{"component": "db", "repo": "https://charts.example.com", "chart": "postgresql",
//!               "version": "15.5.38", "digest": "sha256:…"}],   // dependencyOf: for a chart's dependency
//!   "requests": {"reads": 12, "writes": 3, "dryRuns": 0, "leaseWrites": 2},
//!   "seconds": 3.2
//! }
//! ```

use serde::Serialize;

use super::apply::{Action, RequestCounts};
use super::hooks::HookResult;
use crate::object::ObjectRef;
use crate::spec::model::HookPhase;

/// Something that happened during a sync.
#[derive(Debug, Clone)]
pub enum Event {
    /// Another writer holds the target's Lease; the sync waits for it.
    WaitingForLease {
        message: String,
    },
    Started {
        target: String,
        waves: usize,
        objects: usize,
    },
    PreflightPassed {
        checks: usize,
    },
    WaveStarted {
        index: u32,
        name: String,
        objects: usize,
    },
    Applied {
        wave: u32,
        object: ObjectRef,
        action: Action,
    },
    /// Still waiting for `pending` objects of the wave; `objects` names the
    /// first of them with their reasons (at most
    /// [`REPORTED_PENDING`](super::wait::REPORTED_PENDING)).
    Waiting {
        wave: u32,
        pending: usize,
        objects: Vec<(ObjectRef, String)>,
    },
    HookStarted {
        component: String,
        name: String,
        phase: HookPhase,
    },
    HookFinished {
        component: String,
        name: String,
        result: HookResult,
        /// The object it ran as (for a `generateName` hook, with the name
        /// the server gave it).
        object: Option<ObjectRef>,
    },
    WaveDone {
        index: u32,
        name: String,
        seconds: f64,
    },
    Pruned {
        object: ObjectRef,
    },
    Kept {
        object: ObjectRef,
        reason: String,
    },
    /// Objects that left the repo but are not pruned without `--prune`.
    PrunePending {
        count: usize,
    },
    InventoryRecorded {
        objects: usize,
    },
}

impl std::fmt::Display for Event {
    /// One log line per event, for non-terminal output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::WaitingForLease { message } => write!(f, "waiting: {message}"),
            Event::Started {
                target,
                waves,
                objects,
            } => {
                write!(f, "syncing {target}: {objects} objects in {waves} waves")
            }
            Event::PreflightPassed { checks } => write!(f, "preflight: {checks} requirements met"),
            Event::WaveStarted {
                index,
                name,
                objects,
            } => {
                write!(f, "wave {index} ({name}): applying {objects} objects")
            }
            Event::Applied {
                wave,
                object,
                action,
            } => {
                write!(f, "wave {wave}: {object} {}", action_word(*action))
            }
            Event::Waiting {
                wave,
                pending,
                objects,
            } => {
                write!(f, "wave {wave}: waiting for {pending} objects")?;
                if let Some((o, reason)) = objects.first() {
                    write!(f, " ({o}: {reason})")?;
                }
                Ok(())
            }
            Event::HookStarted {
                component,
                name,
                phase,
            } => {
                write!(f, "hook {component}/{name} ({phase:?}) running")
            }
            Event::HookFinished {
                component,
                name,
                result,
                object,
            } => {
                write!(f, "hook {component}/{name}: {result:?}")?;
                if let Some(o) = object {
                    write!(f, " ({o})")?;
                }
                Ok(())
            }
            Event::WaveDone {
                index,
                name,
                seconds,
            } => {
                write!(f, "wave {index} ({name}) ready in {seconds:.1}s")
            }
            Event::Pruned { object } => write!(f, "pruned {object}"),
            Event::Kept { object, reason } => write!(f, "kept {object}: {reason}"),
            Event::PrunePending { count } => write!(
                f,
                "{count} objects left the repo; run with --prune to delete them"
            ),
            Event::InventoryRecorded { objects } => {
                write!(f, "inventory recorded: {objects} objects")
            }
        }
    }
}

pub fn action_word(action: Action) -> &'static str {
    match action {
        Action::Created => "created",
        Action::Configured => "configured",
        Action::Unchanged => "unchanged",
    }
}

/// The outcome of a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Synced,
    Failed,
}

/// Why a sync failed, for scripts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorReport {
    /// A stable word: `preflight`, `invalid`, `apply`, `conflict`,
    /// `crdUpgrade`, `health`, `hook`, `massPrune`, `prune`, `inventory`,
    /// `cluster`.
    pub kind: &'static str,
    pub message: String,
}

/// The final report of a sync.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub status: Status,
    pub error: Option<ErrorReport>,
    pub target: String,
    pub revision: Option<String>,
    pub dry_run: bool,
    pub waves: Vec<WaveReport>,
    pub hooks: Vec<HookReport>,
    pub prune: PruneReport,
    /// The remote charts the synced objects were rendered from, as
    /// resolved: component by component, its chart, then its dependencies.
    pub charts: Vec<ChartReport>,
    pub requests: RequestCounts,
    pub seconds: f64,
}

/// A remote chart one component was rendered from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartReport {
    pub component: String,
    #[serde(flatten)]
    pub chart: crate::render::Resolved,
}

impl ChartReport {
    /// Every remote chart of `plan`, in its order.
    pub fn of_plan(plan: &super::SyncPlan) -> Vec<ChartReport> {
        plan.waves
            .iter()
            .flat_map(|w| &w.units)
            .flat_map(|u| {
                u.charts.iter().map(|chart| ChartReport {
                    component: u.name.clone(),
                    chart: chart.clone(),
                })
            })
            .collect()
    }
}

/// One wave.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaveReport {
    pub index: u32,
    pub name: String,
    /// Created + configured.
    pub applied: usize,
    pub created: usize,
    pub configured: usize,
    pub unchanged: usize,
    /// Objects of this wave (by the inventory) pruned.
    pub pruned: usize,
    pub seconds: f64,
    /// Of `seconds`, the time until the wave's last object was applied (CRD
    /// check, preApply hooks and foundation included): the rest is the
    /// health gate and postApply hooks.
    pub apply_seconds: f64,
    /// Objects created or configured (unchanged ones are only counted).
    pub changed: Vec<ChangedObject>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChangedObject {
    pub object: String,
    pub action: Action,
}

#[derive(Debug, Clone, Serialize)]
pub struct HookReport {
    pub component: String,
    pub name: String,
    pub phase: HookPhase,
    pub result: HookResult,
    /// The object it ran as, `Kind namespace/name` (a `generateName`
    /// hook's with the name the server gave it); absent when it did not
    /// run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    /// `--prune` was given.
    pub enabled: bool,
    pub pruned: Vec<String>,
    pub kept: Vec<KeptObject>,
    /// Left the repo, not deleted because `--prune` was not given.
    pub pending: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeptObject {
    pub object: String,
    pub reason: String,
}

impl Report {
    /// The report a sync of `plan` starts from (its charts filled in).
    pub fn of_plan(plan: &super::SyncPlan, dry_run: bool) -> Self {
        let mut report = Self::new(&plan.target, plan.revision.as_deref(), dry_run);
        report.charts = ChartReport::of_plan(plan);
        report
    }

    pub fn new(target: &str, revision: Option<&str>, dry_run: bool) -> Self {
        Self {
            status: Status::Synced,
            error: None,
            target: target.to_owned(),
            revision: revision.map(str::to_owned),
            dry_run,
            waves: Vec::new(),
            hooks: Vec::new(),
            prune: PruneReport::default(),
            charts: Vec::new(),
            requests: RequestCounts::default(),
            seconds: 0.0,
        }
    }
}
