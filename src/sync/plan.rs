//! The input of a sync: [`SyncPlan`], waves of units (components) holding
//! the rendered objects to apply and the rules that govern them (preflight,
//! health, hooks, pruning).
//!
//! This is sync's own view of the plan, made of plain values so the engine
//! can be driven from the render/plan stages, from tests, or from the agent.
//! Building it from a validated, rendered and planned repo is the job of the
//! caller (see `cli`); nothing here reads files.

use std::time::Duration;

use serde_json::Value;

use crate::spec::model::{
    ComponentPrune, ExtraCondition, HookDeletePolicy, HookPhase, Preflight, PrunePolicy, Selector,
};

/// Default share of the inventory a prune may delete without
/// `--allow-mass-prune`.
pub const DEFAULT_MAX_PRUNE_FRACTION: f64 = 0.25;
/// Default number of objects a prune may delete without `--allow-mass-prune`.
pub const DEFAULT_MAX_PRUNE_OBJECTS: u32 = 50;
/// Default time a wave may take to become healthy.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(300);

/// Everything one sync applies, in order.
#[derive(Debug, Clone, Default)]
pub struct SyncPlan {
    /// Identity of what is synced, used to key the inventory: the
    /// Repository's `metadata.name` or a `--target` name.
    pub target: String,
    /// The revision being synced (a git sha), when known.
    pub revision: Option<String>,
    pub waves: Vec<SyncWave>,
    /// Repository-wide prune limits.
    pub prune: PrunePolicy,
}

/// One wave: its units are applied together, and all must be healthy
/// before the next wave starts.
#[derive(Debug, Clone, Default)]
pub struct SyncWave {
    pub index: u32,
    /// The wave's name from `weir.yaml`, or its number.
    pub name: String,
    pub units: Vec<SyncUnit>,
}

/// One component of a wave (or the implicit component of a plain directory).
#[derive(Debug, Clone, Default)]
pub struct SyncUnit {
    /// The component's name.
    pub name: String,
    /// The component's target namespace, used for its preflight Secrets and
    /// hook Jobs that name none.
    pub namespace: Option<String>,
    /// Rendered Kubernetes objects, with namespaces filled in.
    pub objects: Vec<Value>,
    pub hooks: Vec<HookJob>,
    pub preflight: Preflight,
    pub health: HealthRules,
    pub prune: ComponentPrune,
}

/// A component's health overrides, with the timeout parsed.
#[derive(Debug, Clone, Default)]
pub struct HealthRules {
    /// How long the gate waits for this unit's objects; `None` means the
    /// sync's default.
    pub timeout: Option<Duration>,
    /// Extra conditions that must hold on objects of a kind.
    pub conditions: Vec<ExtraCondition>,
    /// Objects whose health is not waited for.
    pub ignore: Vec<Selector>,
}

/// A hook: a Job run at a point of the sync.
#[derive(Debug, Clone)]
pub struct HookJob {
    pub name: String,
    pub phase: HookPhase,
    /// The rendered Job (`batch/v1`), namespace filled in.
    pub job: Value,
    pub delete_policy: HookDeletePolicy,
    pub timeout: Option<Duration>,
}

impl SyncPlan {
    /// All objects of the plan, in wave order.
    pub fn objects(&self) -> impl Iterator<Item = &Value> {
        self.waves
            .iter()
            .flat_map(|w| w.units.iter())
            .flat_map(|u| u.objects.iter())
    }

    pub fn max_prune_fraction(&self) -> f64 {
        self.prune
            .max_fraction
            .unwrap_or(DEFAULT_MAX_PRUNE_FRACTION)
    }

    pub fn max_prune_objects(&self) -> u32 {
        self.prune.max_objects.unwrap_or(DEFAULT_MAX_PRUNE_OBJECTS)
    }
}

/// Why a duration string was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a duration: write a number with a unit, e.g. `90s`, `5m`, `1h30m`")]
pub struct DurationError {
    pub input: String,
}

/// Parses durations as weir's specs write them: `500ms`, `30s`, `5m`,
/// `1h30m`, or a bare number of seconds.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let err = || DurationError {
        input: input.to_owned(),
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        if digits == 0 {
            return Err(err());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            _ => return Err(err()),
        };
        total = total.saturating_add(part);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("m5").is_err());
        assert!(parse_duration("5d").is_err());
    }
}
