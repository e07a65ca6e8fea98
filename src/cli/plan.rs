//! `weir plan`: the waves as a tree for people, or one JSON document (its
//! shape is documented in README's "weir plan --output json").

use std::fmt::Write as _;

use crate::object::ObjectRef;
use crate::plan::{Plan, PlanHook, PlanUnit};
use crate::render::hooks::{DeletePolicy, HookOrigin};
use crate::render::scope::is_built_in_group;
use crate::spec::model::HookPhase;

use super::Outcome;
use super::args::{OutputFormat, PlanArgs};
use super::render::{checked, print_findings};
use super::report::{self, Display};

/// Version of the JSON document `weir plan --output json` prints.
const FORMAT_VERSION: u32 = 1;

pub(super) fn run(args: PlanArgs) -> anyhow::Result<Outcome> {
    let checked = checked(&args.source)?;
    let display = Display::for_path(&args.source.path);
    let json = args.output == OutputFormat::Json;
    let Some(planned) = &checked.planned else {
        print_findings(&checked, json, &display)?;
        return Ok(Outcome::Findings);
    };
    report::to_stderr(&checked.report, &display);
    let prune = planned.prune_limits();
    if json {
        let doc = serde_json::json!({
            "formatVersion": FORMAT_VERSION,
            "waves": planned.plan().waves,
            "prune": prune,
            "diagnostics": checked.report.diagnostics,
        });
        super::output::write_stdout(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
    } else {
        let mut out = text(planned.plan());
        let _ = writeln!(out, "prune: {}", prune.describe());
        super::output::write_stdout(&out)?;
    }
    Ok(Outcome::Success)
}

/// The plan as a tree:
///
/// ```text
/// wave 0 (crds)
/// └─ serving-crds  (component in knative-serving, 4 objects: 4 CustomResourceDefinition)
///      health: 4 CustomResourceDefinition Established
/// ```
///
/// with, per unit when it has them, its sync waves, its hooks (weight and
/// delete policies), hook objects not applied, and what is never pruned.
pub(super) fn text(plan: &Plan) -> String {
    let mut out = String::new();
    if plan.waves.is_empty() {
        out.push_str("nothing to apply: the repo renders no objects\n");
        return out;
    }
    let (mut units, mut objects) = (0, 0);
    for wave in &plan.waves {
        match &wave.name {
            Some(name) => {
                let _ = writeln!(out, "wave {} ({name})", wave.index);
            }
            None => {
                let _ = writeln!(out, "wave {}", wave.index);
            }
        }
        for (i, unit) in wave.units.iter().enumerate() {
            let last = i + 1 == wave.units.len();
            let (branch, rail) = if last {
                ("└─ ", "   ")
            } else {
                ("├─ ", "│  ")
            };
            units += 1;
            objects += unit.objects.len();
            let _ = writeln!(out, "{branch}{}  ({})", unit.name, summary(unit));
            for line in details(unit) {
                let _ = writeln!(out, "{rail}  {line}");
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{} wave{}, {units} unit{}, {objects} object{}",
        plan.waves.len(),
        plural(plan.waves.len()),
        plural(units),
        plural(objects)
    );
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `Kind` for built-in kinds, `Kind.group` for custom resources (a Knative
/// `Service` is not a `Service`).
fn kind_name(kind: &str, group: &str) -> String {
    if is_built_in_group(group) {
        kind.to_owned()
    } else {
        format!("{kind}.{group}")
    }
}

fn summary(unit: &PlanUnit) -> String {
    let n = unit.objects.len();
    let mut s = format!(
        "{} in {}, {n} object{}",
        unit.kind,
        unit.namespace,
        plural(n)
    );
    if !unit.counts.is_empty() {
        let counts: Vec<String> = unit
            .counts
            .iter()
            .map(|c| format!("{} {}", c.count, kind_name(&c.kind, &c.group)))
            .collect();
        let _ = write!(s, ": {}", counts.join(", "));
    }
    s
}

fn details(unit: &PlanUnit) -> Vec<String> {
    let mut lines = Vec::new();
    for chart in &unit.charts {
        lines.push(format!("chart: {}", chart.describe()));
    }
    if !unit.after.is_empty() {
        // One entry per unit, its reasons together.
        let mut after: Vec<(&str, Vec<String>)> = Vec::new();
        for d in &unit.after {
            let reason = d.reason.describe();
            match after.iter_mut().find(|(u, _)| *u == d.unit) {
                Some((_, reasons)) => reasons.push(reason),
                None => after.push((&d.unit, vec![reason])),
            }
        }
        let after: Vec<String> = after
            .into_iter()
            .map(|(u, reasons)| format!("{u} ({})", reasons.join("; ")))
            .collect();
        lines.push(format!("after: {}", after.join(", ")));
    }
    if !unit.health.is_empty() {
        let gates: Vec<String> = unit
            .health
            .iter()
            .map(|g| {
                format!(
                    "{} {} {}",
                    g.count,
                    kind_name(&g.kind, &g.group),
                    g.condition
                )
            })
            .collect();
        lines.push(format!("health: {}", gates.join(", ")));
    }
    if !unit.sync_waves.is_empty() {
        let waves: Vec<String> = unit
            .sync_waves
            .iter()
            .map(|w| {
                let names: Vec<String> = w.objects.iter().map(object_name).collect();
                format!("{}: {}", w.wave, names.join(", "))
            })
            .collect();
        lines.push(format!("sync waves: {}", waves.join("; ")));
    }
    // A Component's own hooks with their defaults on one line, as ever;
    // any other hook on a line of its own, with its weight and policies.
    let plain = |h: &PlanHook| {
        h.source == HookOrigin::Weir
            && h.weight == 0
            && h.delete_policies == DeletePolicy::from(h.delete_policy)
            && !h.generate_name
    };
    let (own, other): (Vec<&PlanHook>, Vec<&PlanHook>) = unit.hooks.iter().partition(|h| plain(h));
    if !own.is_empty() {
        let hooks: Vec<String> = own
            .iter()
            .map(|h| format!("{} {} ({})", h.phase.label(), h.name, h.object.kind))
            .collect();
        lines.push(format!("hooks: {}", hooks.join(", ")));
    }
    for h in other {
        let source = match h.source {
            HookOrigin::Weir => "weir",
            HookOrigin::Helm => "helm.sh/hook",
            HookOrigin::Argocd => "argocd.argoproj.io/hook",
        };
        let weight = if h.phase == HookPhase::Sync {
            format!("sync wave {}", h.weight)
        } else {
            format!("weight {}", h.weight)
        };
        let name = if h.generate_name {
            format!("{}… (generateName)", h.object.name)
        } else {
            h.object.name.clone()
        };
        lines.push(format!(
            "hook {}: {} {name}  ({weight}, {}; {source})",
            h.phase.label(),
            kind_name(&h.object.kind, &h.object.group),
            h.delete_policies.describe(),
        ));
    }
    if !unit.dropped_hooks.is_empty() {
        let dropped: Vec<String> = unit
            .dropped_hooks
            .iter()
            .map(|d| format!("{} ({})", object_name(&d.object), d.annotation))
            .collect();
        lines.push(format!(
            "not applied (hooks no sync runs): {}",
            dropped.join(", ")
        ));
    }
    if !unit.protected.is_empty() {
        let protected: Vec<String> = unit
            .protected
            .iter()
            .map(|p| format!("{} ({})", object_name(&p.object), p.by.describe()))
            .collect();
        lines.push(format!("never pruned: {}", protected.join(", ")));
    }
    lines
}

/// `Kind name`, with the group for custom resources.
fn object_name(o: &ObjectRef) -> String {
    format!("{} {}", kind_name(&o.kind, &o.group), o.name)
}
