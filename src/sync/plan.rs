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

use super::inventory::SourceId;
use super::prune::Limits as PruneLimits;
use crate::render::hooks::{DeletePolicy, HookOrigin};
use crate::spec::model::{
    ComponentPrune, ExtraCondition, HookDeletePolicy, HookPhase, Preflight, Selector,
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
    /// Where the objects come from, recorded in the inventory; a sync from
    /// another source into an existing target is refused unless told to
    /// adopt it. `None`: not known (a plan built in code), not checked.
    pub source: Option<SourceId>,
    pub waves: Vec<SyncWave>,
    /// The prune limits in force: the floor set where weir runs, or
    /// weir.yaml's where stricter.
    pub prune: PruneLimits,
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
    /// hooks that name none.
    pub namespace: Option<String>,
    /// Rendered Kubernetes objects, with namespaces filled in.
    pub objects: Vec<Value>,
    pub hooks: Vec<HookJob>,
    pub preflight: Preflight,
    pub health: HealthRules,
    pub prune: ComponentPrune,
    /// The remote charts its objects were rendered from, as resolved
    /// (exact version and digest), for the report.
    pub charts: Vec<crate::render::Resolved>,
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

/// A hook: an object run at a point of the sync (see
/// [`hooks`](super::hooks)).
#[derive(Debug, Clone)]
pub struct HookJob {
    pub name: String,
    pub phase: HookPhase,
    /// The rendered object, namespace filled in: a Job (waited for until
    /// it completes), a Pod (until it succeeds), or any other kind
    /// (applied, and done). It may have only `generateName`.
    pub job: Value,
    pub delete: DeletePolicy,
    /// Hooks of a phase run in the plan's order (by weight); a `Sync`
    /// hook runs at the sync wave of this number, among its unit's
    /// objects.
    pub weight: i64,
    /// Who declared it; a Component's own hooks keep their inventory key
    /// (`<component>/<name>`).
    pub origin: HookOrigin,
    pub timeout: Option<Duration>,
}

impl HookJob {
    /// A Component's own hook: a Job at `phase`, deleted once it succeeded
    /// or kept.
    pub fn own(name: &str, phase: HookPhase, job: Value, policy: HookDeletePolicy) -> Self {
        Self {
            name: name.to_owned(),
            phase,
            job,
            delete: policy.into(),
            weight: 0,
            origin: HookOrigin::Weir,
            timeout: None,
        }
    }
}

impl SyncPlan {
    /// All objects of the plan, in wave order.
    pub fn objects(&self) -> impl Iterator<Item = &Value> {
        self.waves
            .iter()
            .flat_map(|w| w.units.iter())
            .flat_map(|u| u.objects.iter())
    }
}

/// The longest duration weir takes anywhere (timeouts, intervals): 24 hours.
/// Longer ones are refused when parsed, so no deadline computed from one
/// can overflow, and a typo like `5000000h` is an error, not a sync that
/// waits for centuries.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Why a duration string was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("`{input}` is not a duration: write a number with a unit, e.g. `90s`, `5m`, `1h30m`")]
    Syntax { input: String },
    #[error("`{input}` is longer than 24h, the longest duration weir takes")]
    TooLong { input: String },
}

/// Parses durations as weir's specs write them: `500ms`, `30s`, `5m`,
/// `1h30m`, or a bare number of seconds; at most [`MAX_DURATION`]. The one
/// duration parser: the schemas' `weir-duration` format is this function.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let err = || DurationError::Syntax {
        input: input.to_owned(),
    };
    let too_long = || DurationError::TooLong {
        input: input.to_owned(),
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err());
    }
    // Any number of more than 20 digits overflows u64 anyway; parts are
    // summed with checks, never wrapped or saturated.
    let total = if s.bytes().all(|b| b.is_ascii_digit()) {
        let secs: u64 = s.parse().map_err(|_| too_long())?;
        Duration::from_secs(secs)
    } else {
        let mut total = Duration::ZERO;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
            if digits == 0 {
                return Err(err());
            }
            let n: u64 = rest[..digits].parse().map_err(|_| too_long())?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let part = match unit {
                "ms" => Some(Duration::from_millis(n)),
                "s" => Some(Duration::from_secs(n)),
                "m" => n.checked_mul(60).map(Duration::from_secs),
                "h" => n.checked_mul(3600).map(Duration::from_secs),
                _ => return Err(err()),
            };
            total = part
                .and_then(|part| total.checked_add(part))
                .ok_or_else(too_long)?;
        }
        total
    };
    if total > MAX_DURATION {
        return Err(too_long());
    }
    Ok(total)
}

/// A duration as weir writes them: `4s`, `1m30s`, `250ms`, `2h`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) || ms == 0 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
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

    #[test]
    fn absurd_durations_are_refused_not_saturated() {
        assert_eq!(parse_duration("24h"), Ok(MAX_DURATION));
        assert_eq!(parse_duration("86400"), Ok(MAX_DURATION));
        for absurd in [
            "24h1ms",
            "86401",
            "99999999999999999999999s",
            "18446744073709551615h",
            "5000000h",
            "307445734561825860m",
        ] {
            assert!(
                matches!(parse_duration(absurd), Err(DurationError::TooLong { .. })),
                "{absurd}"
            );
        }
        assert!(matches!(
            parse_duration("x"),
            Err(DurationError::Syntax { .. })
        ));
    }

    #[test]
    fn durations_are_written_back() {
        assert_eq!(format_duration(Duration::from_secs(4)), "4s");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(MAX_DURATION), "24h");
    }
}
