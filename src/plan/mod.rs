//! The wave plan: which unit (component or workload) is applied in which
//! wave, and every object's place in the apply order.
//!
//! A unit's wave:
//!
//! - a unit with an explicit `wave` (a number, or a name from weir.yaml's
//!   `waves`, the first name being wave 0) is applied in exactly that wave;
//!   if one of its dependencies is applied in the same or a later wave, that
//!   is an error (`E0404`) naming both — weir never moves an explicit wave;
//! - any other unit goes in the first wave after all of its dependencies
//!   (wave 0 when it has none).
//!
//! A unit depends on the units its `dependsOn` names, on those it reads
//! values from (`valuesFrom`), on the unit that installs the CRD of any of
//! its custom resources, and on the unit that renders a Namespace its
//! objects live in. A dependency cycle is an error (`E0403`) that prints
//! the cycle and the file declaring each edge.
//!
//! Inside a wave, a unit's objects are applied by their Argo CD sync wave
//! (`argocd.argoproj.io/sync-wave`, default 0, ascending: each sync wave
//! healthy before the next), then in the kind order of [`order`], then by
//! namespace and name, as Argo CD orders them. Hooks of a phase run by
//! weight (`helm.sh/hook-weight`, or an Argo CD hook's sync wave), then
//! kind order, then name; a Component's own hooks weigh 0 and keep their
//! declared order, before annotated hooks of weight 0. A Namespace
//! that several units imply (`createNamespace`) is kept once, for the unit
//! applied first (ties: by name). Two units rendering the same object is an
//! error (`E0405`).

pub mod graph;
pub mod order;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::diagnostic::Diagnostic;
use crate::diagnostic::did_you_mean;
use crate::object::ObjectRef;
use crate::render::hooks::{self, DeletePolicy, HookOrigin};
use crate::render::{Rendered, RenderedObject, UnitKind};
use crate::spec::model::{HookDeletePolicy, HookPhase, RepositorySpec, WaveRef};
use crate::sync::prune::{self, Protection};

pub use graph::Reason;

/// Codes of the findings made while planning.
pub mod codes {
    use crate::diagnostic::Code;
    /// A `wave` name that weir.yaml's `waves` does not list.
    pub const UNKNOWN_WAVE: Code = Code("E0401");
    /// `dependsOn` names no component or workload.
    pub const UNKNOWN_DEPENDENCY: Code = Code("E0402");
    /// Units that depend on each other in a circle.
    pub const CYCLE: Code = Code("E0403");
    /// An explicit wave that is not after a dependency's wave.
    pub const WAVE_CONFLICT: Code = Code("E0404");
    // E0405 (an object defined twice) is reported by rendering, with the
    // same code: `render::codes::DUPLICATE_OBJECT`.
    /// A duration weir cannot use (a timeout of a hook or a health gate).
    pub const BAD_DURATION: Code = Code("E0406");
    /// A prune limit of weir.yaml looser than the floor set where weir
    /// runs: a commit may make prune limits stricter, never looser.
    pub const PRUNE_LIMIT_LOOSER: Code = Code("E0407");
}

/// The plan of a repo: its non-empty waves in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub waves: Vec<Wave>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Wave {
    pub index: u32,
    /// Its name from weir.yaml's `waves`, if it has one.
    pub name: Option<String>,
    /// Units of the wave, by name.
    pub units: Vec<PlanUnit>,
}

/// One component or workload in its wave.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanUnit {
    pub name: String,
    pub kind: UnitKind,
    /// The file declaring it; `null` for the implicit component.
    pub file: Option<String>,
    pub namespace: String,
    /// What it waits for, and why.
    pub after: Vec<Dependency>,
    /// Its objects, in apply order.
    pub objects: Vec<ObjectRef>,
    /// Objects counted by kind, in apply order.
    pub counts: Vec<KindCount>,
    pub hooks: Vec<PlanHook>,
    /// What the wave's health gate waits for on this unit's objects.
    pub health: Vec<HealthGate>,
    /// The remote charts its rendering used, as resolved (exact version
    /// and digest): its own chart first, then its chart's dependencies.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub charts: Vec<crate::render::Resolved>,
    /// Its objects by Argo CD sync wave, ascending, when any has a sync
    /// wave other than 0 or a `Sync` hook runs among them: each sync wave
    /// is applied and healthy before the next.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sync_waves: Vec<SyncWaveObjects>,
    /// Its objects that pruning never deletes, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub protected: Vec<ProtectedObject>,
    /// Hook objects no sync runs (tests, deletes, rollbacks): not applied.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped_hooks: Vec<PlanDroppedHook>,
}

/// The objects of one Argo CD sync wave of a unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncWaveObjects {
    pub wave: i64,
    /// In apply order.
    pub objects: Vec<ObjectRef>,
}

/// An object pruning never deletes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProtectedObject {
    pub object: ObjectRef,
    /// `annotation` (`weir.dev/prune: never`), `syncOption` (Argo CD's
    /// `Prune=false`) or `selector` (the component's `prune.protect`).
    pub by: Protection,
}

/// A hook object that is not applied, and the annotation that says so.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanDroppedHook {
    pub object: ObjectRef,
    /// As written: `helm.sh/hook: test`.
    pub annotation: String,
}

/// A unit this one comes after.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    pub unit: String,
    #[serde(flatten)]
    pub reason: Reason,
    /// The file that declares the dependency.
    pub file: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KindCount {
    pub kind: String,
    pub group: String,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanHook {
    pub name: String,
    pub phase: HookPhase,
    /// `onSuccess` when its object is deleted once it succeeded, else
    /// `keep` (all its policies are in `deletePolicies`).
    pub delete_policy: HookDeletePolicy,
    /// `beforeHookCreation`, `hookSucceeded`, `hookFailed`.
    pub delete_policies: DeletePolicy,
    /// Hooks of a phase run by weight, ascending; for a `sync` hook, the
    /// sync wave it runs at.
    pub weight: i64,
    /// Who declared it: `weir` (a Component's hooks), `helm`, `argocd`.
    pub source: HookOrigin,
    /// Its object (a Job, or any kind); a `generateName` object is named
    /// by its prefix here, and created with a name the server picks.
    pub object: ObjectRef,
    /// Created with `generateName`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub generate_name: bool,
}

/// Objects of one kind and what their health gate waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthGate {
    pub kind: String,
    pub group: String,
    pub count: usize,
    /// e.g. `Established`, `rolled out`, `Complete`, or `Type=Status` for
    /// a component's extra `health.conditions`.
    pub condition: String,
}

/// Plans `rendered`: sets every object's and hook's wave, sorts objects in
/// apply order and drops the implied Namespaces another unit provides.
/// Returns the plan, or `None` when a diagnostic is an error.
pub fn plan(rendered: &mut Rendered, settings: &RepositorySpec) -> (Option<Plan>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let names: Vec<&str> = rendered.units.iter().map(|u| u.name.as_str()).collect();
    let unit_error = |i: usize, code, message: String| {
        let unit = &rendered.units[i];
        let mut d = Diagnostic::error(code, message);
        if let Some(file) = &unit.file {
            d = d.in_file(file.clone());
        }
        if let Some(span) = unit.span {
            d = d.at(span);
        }
        d
    };

    // Explicit waves.
    let mut explicit: Vec<Option<u32>> = Vec::with_capacity(names.len());
    for (i, unit) in rendered.units.iter().enumerate() {
        explicit.push(match &unit.wave {
            None => None,
            Some(WaveRef::Number(n)) => Some(*n),
            Some(WaveRef::Name(name)) => match settings.waves.iter().position(|w| w == name) {
                Some(p) => u32::try_from(p).ok(),
                None => {
                    let hint = if settings.waves.is_empty() {
                        "weir.yaml defines no wave names; name them under `spec.waves` or give a number".to_owned()
                    } else {
                        format!("weir.yaml's waves are: {}", settings.waves.join(", "))
                    };
                    let suggestion = did_you_mean(name, settings.waves.iter().map(String::as_str))
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_default();
                    diags.push(
                        unit_error(i, codes::UNKNOWN_WAVE, format!("`{}` is in wave `{name}`, which weir.yaml does not name{suggestion}", unit.name))
                            .with_path(".spec.wave")
                            .with_hint(hint),
                    );
                    None
                }
            },
        });
    }

    let (edges, unknown) = graph::edges(rendered);
    for (i, k, name) in unknown {
        let mut d = unit_error(
            i,
            codes::UNKNOWN_DEPENDENCY,
            format!(
                "`{}` depends on `{name}`, which is no component or workload of this repo",
                names[i]
            ),
        )
        .with_path(format!(".spec.dependsOn[{k}]"));
        match did_you_mean(&name, names.iter().copied()) {
            Some(s) => {
                d.message.push_str(&format!("; did you mean `{s}`?"));
                d = d.with_hint(format!("rename it to `{s}`"));
            }
            None => d = d.with_hint(format!("components and workloads: {}", names.join(", "))),
        }
        diags.push(d);
    }

    let cycles = graph::cycles(&names, &edges);
    for cycle in &cycles {
        let mut chain: Vec<&str> = cycle.iter().map(|e| names[e.from]).collect();
        chain.push(names[cycle[0].from]);
        let mut message = format!("dependency cycle: {}", chain.join(" -> "));
        for e in cycle {
            message.push_str(&format!(
                "\n  {} -> {}: {} ({})",
                names[e.from],
                names[e.to],
                e.reason.describe(),
                e.file
            ));
        }
        diags.push(unit_error(cycle[0].from, codes::CYCLE, message).with_hint(
            "break the cycle: remove one of these dependencies, or move objects between components",
        ));
    }
    if !cycles.is_empty() {
        return (None, diags);
    }

    // Waves.
    let order = graph::topological(&names, &edges);
    let mut wave = vec![0u32; names.len()];
    let mut out_of: Vec<Vec<&graph::Edge>> = vec![Vec::new(); names.len()];
    for e in &edges {
        if let Some(list) = out_of.get_mut(e.from) {
            list.push(e);
        }
    }
    for &u in &order {
        let mut required = 0u32;
        let mut binding: Option<&graph::Edge> = None;
        for &e in out_of.get(u).map(Vec::as_slice).unwrap_or_default() {
            let after = wave[e.to].saturating_add(1);
            if after > required || binding.is_none() && after == required {
                required = after;
                binding = Some(e);
            }
        }
        wave[u] = match (explicit[u], binding) {
            (Some(w), Some(e)) if w < required => {
                let message = match &e.reason {
                    graph::Reason::Crd { kind, group } => format!(
                        "`{}` is in explicit wave {w}, but its custom resource {kind}.{group} ({}) needs the CRD that component `{}` installs in wave {}",
                        names[u], e.file, names[e.to], wave[e.to]
                    ),
                    reason => format!(
                        "`{}` is in explicit wave {w}, but it must come after `{}` ({}, {}), which is applied in wave {}",
                        names[u],
                        names[e.to],
                        reason.describe(),
                        e.file,
                        wave[e.to]
                    ),
                };
                diags.push(
                    unit_error(u, codes::WAVE_CONFLICT, message)
                        .with_path(".spec.wave")
                        .with_hint(format!("put `{}` in wave {required} or later, or remove its `wave` and let weir place it", names[u])),
                );
                w
            }
            (Some(w), _) => w,
            (None, _) => required,
        };
    }

    // One implied Namespace per namespace: the earliest unit's.
    let index: BTreeMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let mut keep: BTreeMap<String, (u32, String)> = BTreeMap::new();
    for o in rendered.objects.iter().filter(|o| o.implied) {
        let Some(&u) = index.get(o.component.as_str()) else {
            continue;
        };
        let candidate = (wave[u], o.component.clone());
        keep.entry(o.id.name.clone())
            .and_modify(|best| {
                if candidate < *best {
                    *best = candidate.clone();
                }
            })
            .or_insert(candidate);
    }
    rendered.objects.retain(|o| {
        !o.implied
            || keep
                .get(&o.id.name)
                .is_some_and(|(_, unit)| *unit == o.component)
    });

    for o in rendered.objects.iter_mut() {
        o.wave = index.get(o.component.as_str()).map(|&u| wave[u]);
    }
    for h in rendered.hooks.iter_mut() {
        h.object.wave = index.get(h.component.as_str()).map(|&u| wave[u]);
    }
    // Sort keys computed once per object (the kind's rank is a lookup).
    let objects = std::mem::take(&mut rendered.objects);
    let mut keyed: Vec<_> = objects
        .into_iter()
        .map(|o| {
            let key = (
                o.wave,
                hooks::sync_wave_or_zero(&o.value),
                order::rank(&o.id.group, &o.id.kind),
                o.id.kind.clone(),
                o.id.group.clone(),
                o.id.namespace.clone(),
                o.id.name.clone(),
                o.component.clone(),
            );
            (key, o)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    rendered.objects = keyed.into_iter().map(|(_, o)| o).collect();
    // Hooks: by weight, then kind order and name; a Component's own keep
    // their order (a stable sort), before annotated ones of their weight.
    rendered.hooks.sort_by_cached_key(|h| {
        let annotated = h.origin != HookOrigin::Weir;
        let (rank, kind, name) = if annotated {
            (
                order::rank(&h.object.id.group, &h.object.id.kind),
                h.object.id.kind.clone(),
                h.object.id.name.clone(),
            )
        } else {
            ((0, 0), String::new(), String::new())
        };
        (h.weight, annotated, rank, kind, name)
    });

    if diags.iter().any(Diagnostic::is_error) {
        return (None, diags);
    }

    (
        Some(build(rendered, settings, &names, &wave, &edges)),
        diags,
    )
}

fn build(
    rendered: &Rendered,
    settings: &RepositorySpec,
    names: &[&str],
    wave: &[u32],
    edges: &[graph::Edge],
) -> Plan {
    let mut by_unit: BTreeMap<&str, Vec<&RenderedObject>> = BTreeMap::new();
    for o in &rendered.objects {
        by_unit.entry(o.component.as_str()).or_default().push(o);
    }
    let mut by_wave: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (u, &w) in wave.iter().enumerate() {
        by_wave.entry(w).or_default().push(u);
    }
    let waves = by_wave
        .into_iter()
        .map(|(index, mut units)| {
            units.sort_by_key(|&u| names[u]);
            Wave {
                index,
                name: usize::try_from(index)
                    .ok()
                    .and_then(|i| settings.waves.get(i))
                    .cloned(),
                units: units
                    .into_iter()
                    .map(|u| {
                        let objects = by_unit.get(names[u]).map_or(&[][..], Vec::as_slice);
                        plan_unit(rendered, u, objects, names, edges)
                    })
                    .collect(),
            }
        })
        .collect();
    Plan { waves }
}

/// One unit of the plan; `objects` are its objects in apply order.
fn plan_unit(
    rendered: &Rendered,
    u: usize,
    objects: &[&RenderedObject],
    names: &[&str],
    edges: &[graph::Edge],
) -> PlanUnit {
    let unit = &rendered.units[u];

    let mut counts: Vec<KindCount> = Vec::new();
    let mut health: Vec<HealthGate> = Vec::new();
    let bump = |gates: &mut Vec<HealthGate>, kind: &str, group: &str, condition: String| match gates
        .iter_mut()
        .find(|g| g.kind == kind && g.group == group && g.condition == condition)
    {
        Some(g) => g.count += 1,
        None => gates.push(HealthGate {
            kind: kind.to_owned(),
            group: group.to_owned(),
            count: 1,
            condition,
        }),
    };
    for o in objects {
        match counts.last_mut() {
            Some(c) if c.kind == o.id.kind && c.group == o.id.group => c.count += 1,
            _ => counts.push(KindCount {
                kind: o.id.kind.clone(),
                group: o.id.group.clone(),
                count: 1,
            }),
        }
        if unit.health.ignore.iter().any(|s| o.selected_by(s)) {
            continue;
        }
        let extras: Vec<_> = unit
            .health
            .conditions
            .iter()
            .filter(|c| c.kind == o.id.kind)
            .collect();
        // A custom resource's explicit conditions replace the generic
        // "Ready when reported"; a built-in kind keeps its own rule too.
        let replaced = !extras.is_empty() && order::is_custom(&o.id.group);
        if let Some(condition) = order::health_condition(&o.id.group, &o.id.kind)
            && !replaced
        {
            bump(&mut health, &o.id.kind, &o.id.group, condition.to_owned());
        }
        for extra in extras {
            let status = extra.status.as_deref().unwrap_or("True");
            bump(
                &mut health,
                &o.id.kind,
                &o.id.group,
                format!("{}={status}", extra.condition_type),
            );
        }
    }

    let unit_hooks: Vec<_> = rendered
        .hooks
        .iter()
        .filter(|h| h.component == unit.name)
        .collect();
    let hooks = unit_hooks
        .iter()
        .map(|h| PlanHook {
            name: h.name.clone(),
            phase: h.phase,
            delete_policy: h.delete.summary(),
            delete_policies: h.delete,
            weight: h.weight,
            source: h.origin,
            object: h.object.id.clone(),
            generate_name: crate::object::generate_name(&h.object.value).is_some(),
        })
        .collect();

    let waves: Vec<i64> = objects
        .iter()
        .map(|o| hooks::sync_wave_or_zero(&o.value))
        .collect();
    let sync_hooks = unit_hooks.iter().any(|h| h.phase == HookPhase::Sync);
    let mut sync_waves: Vec<SyncWaveObjects> = Vec::new();
    if sync_hooks || waves.iter().any(|w| *w != 0) {
        for (o, wave) in objects.iter().zip(waves) {
            match sync_waves.last_mut() {
                Some(group) if group.wave == wave => group.objects.push(o.id.clone()),
                _ => sync_waves.push(SyncWaveObjects {
                    wave,
                    objects: vec![o.id.clone()],
                }),
            }
        }
    }
    let protected = objects
        .iter()
        .filter_map(|o| {
            prune::protection(&o.id, &o.value, Some(&unit.prune)).map(|by| ProtectedObject {
                object: o.id.clone(),
                by,
            })
        })
        .collect();
    let dropped_hooks = rendered
        .dropped
        .iter()
        .filter(|d| d.component == unit.name)
        .map(|d| PlanDroppedHook {
            object: d.object.clone(),
            annotation: d.annotation.clone(),
        })
        .collect();

    let after = edges
        .iter()
        .filter(|e| e.from == u)
        .map(|e| Dependency {
            unit: names[e.to].to_owned(),
            reason: e.reason.clone(),
            file: e.file.clone(),
        })
        .collect();

    PlanUnit {
        name: unit.name.clone(),
        kind: unit.kind,
        file: unit.file.clone(),
        charts: rendered.charts.get(&unit.name).cloned().unwrap_or_default(),
        namespace: unit.namespace.clone(),
        after,
        objects: objects.iter().map(|o| o.id.clone()).collect(),
        counts,
        hooks,
        health,
        sync_waves,
        protected,
        dropped_hooks,
    }
}
