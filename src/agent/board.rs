//! The agent's live view of its work, for the status page: per Sync, what
//! only its worker knows as it happens (the phase, the wave in progress and
//! how each unit of the plan stands, the objects not yet healthy and why,
//! recent events, the rendered diff of the last change) beside what its
//! status says. Workers write it; the page reads it. In memory only: it
//! starts empty with the agent.

use std::collections::{BTreeMap, VecDeque};
use std::sync::RwLock;

use super::resource::{Finding, SyncStatus};

/// Most events kept per Sync.
const EVENTS: usize = 20;

/// What a worker is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    #[default]
    Idle,
    Fetching,
    Checking,
    Applying,
    Healing,
    Suspended,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Fetching => "fetching",
            Phase::Checking => "checking",
            Phase::Applying => "applying",
            Phase::Healing => "putting back drift",
            Phase::Suspended => "suspended",
        }
    }
}

/// How a unit of the plan stands in the sync under way (or the last one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnitHealth {
    /// Its wave has not started.
    #[default]
    Pending,
    /// Its wave is applying or waiting for health.
    InProgress,
    Healthy,
    /// Its wave failed.
    Failed,
}

/// One unit (component or workload) of a wave.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnitView {
    pub name: String,
    pub objects: usize,
    pub health: UnitHealth,
}

/// One wave of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WaveView {
    pub index: u32,
    pub name: String,
    pub units: Vec<UnitView>,
}

/// An Event as the page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventView {
    pub time: String,
    pub warning: bool,
    pub reason: String,
    pub message: String,
}

/// Everything the page shows of one Sync.
#[derive(Debug, Clone, Default)]
pub struct SyncView {
    /// `namespace/name`, or the directory for `--path`.
    pub key: String,
    /// The Git URL (without credentials) or the directory.
    pub source: String,
    /// `branch main`, `tag v1`, `commit abc`, or empty.
    pub git_ref: String,
    pub path: String,
    pub phase: Phase,
    /// The commit being applied (while `Applying`).
    pub revision: Option<String>,
    pub waves: Vec<WaveView>,
    /// The wave in progress.
    pub current_wave: Option<u32>,
    /// Objects the health gate still waits for (or that failed it), each
    /// with its reason, down to its pods when the gate gave up.
    pub not_ready: Vec<String>,
    pub status: SyncStatus,
    pub events: VecDeque<EventView>,
    /// The rendered diff of the last change the agent applied (text, cut).
    pub diff: Option<String>,
}

impl SyncView {
    /// Findings of the last rejected commit.
    pub fn findings(&self) -> &[Finding] {
        &self.status.findings
    }
}

/// The views of every Sync the agent serves.
#[derive(Debug, Default)]
pub struct Board {
    views: RwLock<BTreeMap<String, SyncView>>,
}

impl Board {
    /// Changes the view of `key` (made when missing).
    pub fn update(&self, key: &str, change: impl FnOnce(&mut SyncView)) {
        if let Ok(mut views) = self.views.write() {
            let view = views.entry(key.to_owned()).or_insert_with(|| SyncView {
                key: key.to_owned(),
                ..SyncView::default()
            });
            change(view);
        }
    }

    /// Adds an event to `key`'s recent ones.
    pub fn event(&self, key: &str, event: EventView) {
        self.update(key, |v| {
            v.events.push_back(event);
            while v.events.len() > EVENTS {
                v.events.pop_front();
            }
        });
    }

    /// A Sync is gone.
    pub fn remove(&self, key: &str) {
        if let Ok(mut views) = self.views.write() {
            views.remove(key);
        }
    }

    /// All views, by key.
    pub fn all(&self) -> Vec<SyncView> {
        self.views
            .read()
            .map(|v| v.values().cloned().collect())
            .unwrap_or_default()
    }

    /// One view.
    pub fn get(&self, key: &str) -> Option<SyncView> {
        self.views.read().ok().and_then(|v| v.get(key).cloned())
    }
}
