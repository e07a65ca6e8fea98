//! Adapts the render/plan stages' output (`Rendered` + `Plan`) to sync's
//! input, [`SyncPlan`]: per unit, its objects in the plan's apply order, its
//! hook Jobs, and the Component's preflight, health and prune rules.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::plan::Plan;
use crate::render::{ObjectRef, Rendered};
use crate::spec::repo::ConfigRepo;
use crate::sync::plan::parse_duration;
use crate::sync::{HealthRules, HookJob, SyncPlan, SyncUnit, SyncWave};

/// The sync plan of a rendered and planned repo. `target` is `--target`;
/// without it, the Repository's name, else the directory's name.
pub fn build(
    root: &Path,
    target: Option<&str>,
    rev: Option<&str>,
    repo: &ConfigRepo,
    rendered: &Rendered,
    plan: &Plan,
) -> Result<SyncPlan> {
    let settings = repo.settings();
    let values: HashMap<&ObjectRef, &Value> =
        rendered.objects.iter().map(|o| (&o.id, &o.value)).collect();
    let mut waves = Vec::with_capacity(plan.waves.len());
    for wave in &plan.waves {
        let mut units = Vec::with_capacity(wave.units.len());
        for pu in &wave.units {
            let objects = pu
                .objects
                .iter()
                .map(|id| {
                    values.get(id).map(|v| (*v).clone()).with_context(|| {
                        format!(
                            "the plan names {id:?} of `{}`, which was not rendered",
                            pu.name
                        )
                    })
                })
                .collect::<Result<Vec<Value>>>()?;
            let hooks = rendered
                .hooks
                .iter()
                .filter(|h| h.component == pu.name)
                .map(|h| {
                    Ok(HookJob {
                        name: h.name.clone(),
                        phase: h.phase,
                        job: h.object.value.clone(),
                        delete_policy: h.delete_policy,
                        timeout: duration(h.timeout.as_deref()).with_context(|| {
                            format!("timeout of hook `{}` of `{}`", h.name, pu.name)
                        })?,
                    })
                })
                .collect::<Result<Vec<HookJob>>>()?;
            let health = match rendered.unit(&pu.name) {
                Some(unit) => HealthRules {
                    timeout: duration(unit.health.timeout.as_deref())
                        .with_context(|| format!("health timeout of `{}`", pu.name))?,
                    conditions: unit.health.conditions.clone(),
                    ignore: unit.health.ignore.clone(),
                },
                None => HealthRules::default(),
            };
            let component = repo
                .components
                .iter()
                .find(|c| c.value.metadata.name == pu.name);
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
    // Hooks of units that render no objects have no wave in the plan.
    for h in &rendered.hooks {
        if !plan
            .waves
            .iter()
            .any(|w| w.units.iter().any(|u| u.name == h.component))
        {
            bail!(
                "hook `{}` belongs to `{}`, which renders no objects; weir syncs hooks with their component's objects",
                h.name,
                h.component
            );
        }
    }
    let target = target
        .map(str::to_owned)
        .or_else(|| {
            repo.repository
                .as_ref()
                .map(|r| r.value.metadata.name.clone())
        })
        .or_else(|| {
            std::fs::canonicalize(root)
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        })
        .unwrap_or_else(|| "default".into());
    Ok(SyncPlan {
        target,
        revision: crate::repo::commit_of(root, rev),
        waves,
        prune: settings.prune,
    })
}

fn duration(text: Option<&str>) -> Result<Option<std::time::Duration>> {
    Ok(text.map(parse_duration).transpose()?)
}
