//! A Workload's placement (`pool`, `may`, `prefer`, `must`) rendered to pod
//! tolerations and node affinity, as DESIGN.md describes:
//!
//! - every entry is a node label `key=value`, or the name of a node pool of
//!   `weir.yaml` standing for all of its labels; `pool: x` is `must: [x]`;
//! - `may`: tolerate `NoSchedule`;
//! - `prefer`: tolerate `NoSchedule` and `PreferNoSchedule`, and a
//!   preferred node affinity;
//! - `must`: the same tolerations, and a required node affinity.
//!
//! Tolerations of a `key=value` entry are for a taint with that same key
//! and value (the convention of tainting a node with the label it
//! carries). Tolerations of a pool entry are for the taints the pool
//! declares, with the effects the mode allows; a pool's `NoExecute` taints
//! are tolerated in every mode, since a pod allowed onto a node must also
//! be allowed to stay there.
//!
//! Required affinity is one node selector term whose expressions are
//! `key In [values]`, one per label key (entries with the same key but
//! different values become one expression with several values: any of
//! them). Preferred affinity has one term per `prefer` entry (all of its
//! labels), weighted by order: the first weighs 100, each next one 10 less,
//! down to 10.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::spec::model::{NodePool, Placement, TaintEffect};

/// A placement entry that names no label and no defined pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndefinedPool {
    /// JSON pointer of the entry inside the Workload, e.g. `/spec/placement/must/0`.
    pub pointer: String,
    pub name: String,
}

/// What a placement renders to on a pod spec.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rendered {
    pub tolerations: Vec<Value>,
    pub affinity: Option<Value>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    May,
    Prefer,
    Must,
}

impl Mode {
    fn tolerates(self, effect: TaintEffect) -> bool {
        match effect {
            TaintEffect::NoSchedule | TaintEffect::NoExecute => true,
            TaintEffect::PreferNoSchedule => self != Mode::May,
        }
    }
}

fn effect_name(effect: TaintEffect) -> &'static str {
    match effect {
        TaintEffect::NoSchedule => "NoSchedule",
        TaintEffect::PreferNoSchedule => "PreferNoSchedule",
        TaintEffect::NoExecute => "NoExecute",
    }
}

/// Renders a placement; `Err` lists every entry naming an undefined pool.
pub fn render(
    placement: &Placement,
    pools: &BTreeMap<String, NodePool>,
) -> Result<Rendered, Vec<UndefinedPool>> {
    let mut entries: Vec<(Mode, String, &str)> = Vec::new();
    if let Some(pool) = &placement.pool {
        entries.push((Mode::Must, "/spec/placement/pool".into(), pool.as_str()));
    }
    for (mode, list, field) in [
        (Mode::May, &placement.may, "may"),
        (Mode::Prefer, &placement.prefer, "prefer"),
        (Mode::Must, &placement.must, "must"),
    ] {
        for (i, entry) in list.iter().enumerate() {
            entries.push((mode, format!("/spec/placement/{field}/{i}"), entry.as_str()));
        }
    }

    // (key, value or None for Exists, effect)
    let mut tolerations: BTreeSet<(String, Option<String>, TaintEffect)> = BTreeSet::new();
    let mut required: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut preferred: Vec<Vec<(String, String)>> = Vec::new();
    let mut errors = Vec::new();

    for (mode, pointer, entry) in entries {
        let labels: Vec<(String, String)> = match label(entry, pointer.ends_with("/pool")) {
            Some((k, v)) => {
                for effect in [TaintEffect::NoSchedule, TaintEffect::PreferNoSchedule] {
                    if mode.tolerates(effect) {
                        tolerations.insert((k.clone(), Some(v.clone()), effect));
                    }
                }
                vec![(k, v)]
            }
            None => match pools.get(entry) {
                Some(pool) => {
                    for taint in &pool.taints {
                        if mode.tolerates(taint.effect) {
                            tolerations.insert((
                                taint.key.clone(),
                                taint.value.clone(),
                                taint.effect,
                            ));
                        }
                    }
                    pool.labels
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                }
                None => {
                    errors.push(UndefinedPool {
                        pointer,
                        name: entry.to_owned(),
                    });
                    continue;
                }
            },
        };
        match mode {
            Mode::May => {}
            Mode::Prefer => preferred.push(labels),
            Mode::Must => {
                for (k, v) in labels {
                    let values = required.entry(k).or_default();
                    if !values.contains(&v) {
                        values.push(v);
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let tolerations = tolerations
        .into_iter()
        .map(|(key, value, effect)| match value {
            Some(value) => json!({"key": key, "operator": "Equal", "value": value, "effect": effect_name(effect)}),
            None => json!({"key": key, "operator": "Exists", "effect": effect_name(effect)}),
        })
        .collect();

    let mut node_affinity = serde_json::Map::new();
    if !required.is_empty() {
        let expressions: Vec<Value> = required
            .into_iter()
            .map(|(key, values)| json!({"key": key, "operator": "In", "values": values}))
            .collect();
        node_affinity.insert(
            "requiredDuringSchedulingIgnoredDuringExecution".into(),
            json!({"nodeSelectorTerms": [{"matchExpressions": expressions}]}),
        );
    }
    let preferred: Vec<Value> = preferred
        .into_iter()
        .enumerate()
        .filter(|(_, labels)| !labels.is_empty())
        .map(|(i, labels)| {
            let weight = 100u32
                .saturating_sub(u32::try_from(i).unwrap_or(u32::MAX).saturating_mul(10))
                .max(10);
            let expressions: Vec<Value> = labels
                .into_iter()
                .map(|(key, value)| json!({"key": key, "operator": "In", "values": [value]}))
                .collect();
            json!({"weight": weight, "preference": {"matchExpressions": expressions}})
        })
        .collect();
    if !preferred.is_empty() {
        node_affinity.insert(
            "preferredDuringSchedulingIgnoredDuringExecution".into(),
            Value::Array(preferred),
        );
    }
    let affinity =
        (!node_affinity.is_empty()).then(|| json!({"nodeAffinity": Value::Object(node_affinity)}));
    Ok(Rendered {
        tolerations,
        affinity,
    })
}

/// `key=value` → the label; anything else (or `pool:`) is a pool name.
fn label(entry: &str, pool_field: bool) -> Option<(String, String)> {
    if pool_field {
        return None;
    }
    let (k, v) = entry.split_once('=')?;
    Some((k.trim().to_owned(), v.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::spec::model::Taint;

    fn pools() -> BTreeMap<String, NodePool> {
        let mut pools = BTreeMap::new();
        pools.insert(
            "gpu".to_owned(),
            NodePool {
                labels: [("accelerator".to_owned(), "gpu".to_owned())].into(),
                taints: vec![
                    Taint {
                        key: "accelerator".into(),
                        value: Some("gpu".into()),
                        effect: TaintEffect::NoSchedule,
                    },
                    Taint {
                        key: "dedicated".into(),
                        value: None,
                        effect: TaintEffect::PreferNoSchedule,
                    },
                ],
            },
        );
        pools
    }

    #[test]
    fn may_only_tolerates_no_schedule() {
        let p = Placement {
            may: vec!["vram=large".into(), "gpu".into()],
            ..Default::default()
        };
        let r = render(&p, &pools()).unwrap();
        assert_eq!(
            r.tolerations,
            vec![
                json!({"key": "accelerator", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}),
                json!({"key": "vram", "operator": "Equal", "value": "large", "effect": "NoSchedule"}),
            ]
        );
        assert_eq!(r.affinity, None);
    }

    #[test]
    fn prefer_and_must() {
        let p = Placement {
            prefer: vec!["vram=large".into(), "zone=a".into()],
            must: vec!["gpu".into()],
            ..Default::default()
        };
        let r = render(&p, &pools()).unwrap();
        assert_eq!(r.tolerations.len(), 6);
        assert_eq!(
            r.affinity.unwrap(),
            json!({"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "accelerator", "operator": "In", "values": ["gpu"]}
                ]}]},
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 100, "preference": {"matchExpressions": [{"key": "vram", "operator": "In", "values": ["large"]}]}},
                    {"weight": 90, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}}
                ]
            }})
        );
    }

    #[test]
    fn undefined_pools_are_reported() {
        let p = Placement {
            pool: Some("cpu".into()),
            may: vec!["gpu".into(), "nope".into()],
            ..Default::default()
        };
        let errs = render(&p, &pools()).unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].pointer, "/spec/placement/pool");
        assert_eq!(errs[1].pointer, "/spec/placement/may/1");
    }
}
