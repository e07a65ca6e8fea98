//! The sync plan of a rendered and planned repo: per unit, its objects in
//! the plan's apply order, its hooks, and its Component's preflight,
//! health and prune rules, and the prune limits in force (the floor set
//! where weir runs, or weir.yaml's where stricter); what cannot be synced
//! is reported as diagnostics, so `weir validate` finds it too. (Every unit is in a wave
//! of the plan, one without objects too: its hooks run there.)

use std::collections::HashMap;

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::object::ObjectRef;
use crate::plan::{Plan, codes};
use crate::render::Rendered;
use crate::spec::repo::ConfigRepo;
use crate::sync::plan::parse_duration;
use crate::sync::prune::{Floor, Limits as PruneLimits};
use crate::sync::{HealthRules, HookJob, SourceId, SyncPlan, SyncUnit, SyncWave};

/// Where a sync plan goes and what bounds it.
#[derive(Debug, Clone)]
pub(super) struct Target {
    /// The inventory target.
    pub name: String,
    pub revision: Option<String>,
    pub source: Option<SourceId>,
    /// The prune limits set where weir runs.
    pub floor: Floor,
}

/// Builds the sync plan of `rendered` as `plan` orders it, for `target`,
/// with the findings that stop it: durations weir cannot use, and prune
/// limits of weir.yaml looser than the floor. Each object's value comes
/// from `object` (the check asks for none, to judge the plan without
/// copying it; the sync plan moves them out of the rendering).
pub(super) fn build(
    repo: &ConfigRepo,
    rendered: &Rendered,
    plan: &Plan,
    target: Target,
    mut object: impl FnMut(&ObjectRef) -> Option<Value>,
) -> (SyncPlan, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let (prune, looser) = PruneLimits::of(&target.floor, &repo.settings().prune);
    for l in looser {
        let mut d = Diagnostic::error(
            codes::PRUNE_LIMIT_LOOSER,
            format!(
                "prune.{} is {}, above the limit set where weir runs ({} {}): a commit may only \
                 make prune limits stricter",
                l.field, l.repo, l.flag, l.floor
            ),
        )
        .with_path(format!(".spec.prune.{}", l.field))
        .with_hint(format!(
            "the commit that removes objects must not be the one that allows removing more; \
             lower prune.{} to {} or less, or raise the limit where weir runs ({} on weir sync \
             and weir agent), or allow one large prune with weir sync --allow-mass-prune",
            l.field, l.floor, l.flag
        ));
        if let Some(r) = &repo.repository {
            d = d.in_file(r.file.clone()).at(r.span);
        }
        diagnostics.push(d);
    }
    // By name, once: a repo of thousands of units is not searched per unit.
    let components: HashMap<&str, _> = repo
        .components
        .iter()
        .map(|c| (c.value.metadata.name.as_str(), c))
        .collect();
    let rendered_units: HashMap<&str, _> = rendered
        .units
        .iter()
        .map(|u| (u.name.as_str(), u))
        .collect();
    let mut hooks_of: HashMap<&str, Vec<_>> = HashMap::new();
    for h in &rendered.hooks {
        hooks_of.entry(h.component.as_str()).or_default().push(h);
    }
    let mut waves = Vec::with_capacity(plan.waves.len());
    for wave in &plan.waves {
        let mut units = Vec::with_capacity(wave.units.len());
        for pu in &wave.units {
            let objects = pu.objects.iter().filter_map(&mut object).collect();
            let component = components.get(pu.name.as_str()).copied();
            let mut duration = |text: Option<&str>, pointer: &str| {
                let text = text?;
                match parse_duration(text) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        let mut d = Diagnostic::error(codes::BAD_DURATION, e.to_string())
                            .with_path(crate::diagnostic::json_path(pointer));
                        if let Some(c) = component {
                            d = d.in_file(c.file.clone()).at(c.span);
                        }
                        diagnostics.push(d);
                        None
                    }
                }
            };
            let hooks = hooks_of
                .get(pu.name.as_str())
                .into_iter()
                .flatten()
                .map(|h| {
                    let pointer = component
                        .and_then(|c| c.value.spec.hooks.iter().position(|k| k.name == h.name))
                        .map_or_else(
                            || "/spec/hooks".to_owned(),
                            |i| format!("/spec/hooks/{i}/timeout"),
                        );
                    HookJob {
                        name: h.name.clone(),
                        phase: h.phase,
                        job: h.object.value.clone(),
                        delete: h.delete,
                        weight: h.weight,
                        origin: h.origin,
                        timeout: duration(h.timeout.as_deref(), &pointer),
                    }
                })
                .collect();
            let health = match rendered_units.get(pu.name.as_str()) {
                Some(unit) => HealthRules {
                    timeout: duration(unit.health.timeout.as_deref(), "/spec/health/timeout"),
                    conditions: unit.health.conditions.clone(),
                    ignore: unit.health.ignore.clone(),
                },
                None => HealthRules::default(),
            };
            units.push(SyncUnit {
                name: pu.name.clone(),
                namespace: Some(pu.namespace.clone()),
                objects,
                hooks,
                preflight: component
                    .map(|c| c.value.spec.preflight.clone())
                    .unwrap_or_default(),
                health,
                prune: component
                    .map(|c| c.value.spec.prune.clone())
                    .unwrap_or_default(),
                charts: rendered
                    .charts
                    .get(pu.name.as_str())
                    .cloned()
                    .unwrap_or_default(),
            });
        }
        waves.push(SyncWave {
            index: wave.index,
            name: wave.name.clone().unwrap_or_else(|| wave.index.to_string()),
            units,
        });
    }
    let plan = SyncPlan {
        target: target.name,
        revision: target.revision,
        source: target.source,
        waves,
        prune,
    };
    (plan, diagnostics)
}
