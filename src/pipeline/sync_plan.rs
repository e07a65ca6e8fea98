//! The sync plan of a rendered and planned repo: per unit, its objects in
//! the plan's apply order, its hooks, and its Component's preflight,
//! health and prune rules; what cannot be synced is reported as
//! diagnostics, so `weir validate` finds it too. (Every unit is in a wave
//! of the plan, one without objects too: its hooks run there.)

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::object::ObjectRef;
use crate::plan::{Plan, codes};
use crate::render::Rendered;
use crate::spec::repo::ConfigRepo;
use crate::sync::plan::parse_duration;
use crate::sync::{HealthRules, HookJob, SyncPlan, SyncUnit, SyncWave};

/// Builds the sync plan of `rendered` as `plan` orders it, for inventory
/// `target` at `revision`, with the findings that stop it. Each object's
/// value comes from `object` (the check asks for none, to judge the plan
/// without copying it; the sync plan moves them out of the rendering).
pub(super) fn build(
    repo: &ConfigRepo,
    rendered: &Rendered,
    plan: &Plan,
    target: String,
    revision: Option<String>,
    mut object: impl FnMut(&ObjectRef) -> Option<Value>,
) -> (SyncPlan, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let mut waves = Vec::with_capacity(plan.waves.len());
    for wave in &plan.waves {
        let mut units = Vec::with_capacity(wave.units.len());
        for pu in &wave.units {
            let objects = pu.objects.iter().filter_map(&mut object).collect();
            let component = repo.component(&pu.name);
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
            let hooks = rendered
                .hooks
                .iter()
                .filter(|h| h.component == pu.name)
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
                        delete_policy: h.delete_policy,
                        timeout: duration(h.timeout.as_deref(), &pointer),
                    }
                })
                .collect();
            let health = match rendered.unit(&pu.name) {
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
            });
        }
        waves.push(SyncWave {
            index: wave.index,
            name: wave.name.clone().unwrap_or_else(|| wave.index.to_string()),
            units,
        });
    }
    let plan = SyncPlan {
        target,
        revision,
        waves,
        prune: repo.settings().prune,
    };
    (plan, diagnostics)
}
