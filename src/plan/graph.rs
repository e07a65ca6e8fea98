//! The dependency graph between units and what is computed from it: the
//! edges (`dependsOn`, `valuesFrom`, a custom resource's CRD, a namespace
//! created by another unit), cycles, and the wave of each unit.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::render::Rendered;
use crate::render::scope::{crd_kind, is_built_in_group, is_crd};

/// Why one unit must come after another.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "reason", rename_all = "camelCase")]
pub enum Reason {
    /// The unit's `dependsOn` names it.
    DependsOn,
    /// The unit reads its values (`valuesFrom`).
    ValuesFrom,
    /// The unit has a custom resource whose CRD the other unit installs.
    #[serde(rename_all = "camelCase")]
    Crd { kind: String, group: String },
    /// The unit has objects in a Namespace the other unit creates.
    Namespace { name: String },
}

impl Reason {
    /// A short phrase for messages.
    pub fn describe(&self) -> String {
        match self {
            Reason::DependsOn => "dependsOn".to_owned(),
            Reason::ValuesFrom => "valuesFrom".to_owned(),
            Reason::Crd { kind, group } => format!("custom resource {kind}.{group} needs its CRD"),
            Reason::Namespace { name } => format!("uses namespace {name}"),
        }
    }
}

/// `from` must be applied (and healthy) in a wave before `to`... written the
/// other way round: `from` depends on `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub reason: Reason,
    /// The file that declares the edge (the unit's file, or the object's).
    pub file: String,
}

/// Collects every edge between the units of `rendered`, one per
/// (from, to, reason), and reports `dependsOn` entries naming no unit
/// (as `(unit index, dependsOn index, name)`).
pub fn edges(rendered: &Rendered) -> (Vec<Edge>, Vec<(usize, usize, String)>) {
    let index: BTreeMap<&str, usize> = rendered
        .units
        .iter()
        .enumerate()
        .map(|(i, u)| (u.name.as_str(), i))
        .collect();
    let mut out: BTreeMap<(usize, usize, Reason), String> = BTreeMap::new();
    let mut unknown = Vec::new();
    for (i, unit) in rendered.units.iter().enumerate() {
        let file = unit.file.clone().unwrap_or_default();
        for (k, dep) in unit.depends_on.iter().enumerate() {
            match index.get(dep.as_str()) {
                Some(&j) => {
                    out.entry((i, j, Reason::DependsOn))
                        .or_insert_with(|| file.clone());
                }
                None => unknown.push((i, k, dep.clone())),
            }
        }
        for source in &unit.values_from {
            // Unknown ones are reported by render.
            if let Some(&j) = index.get(source.as_str()) {
                out.entry((i, j, Reason::ValuesFrom))
                    .or_insert_with(|| file.clone());
            }
        }
    }

    let mut crd_owner: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut namespace_owner: BTreeMap<&str, usize> = BTreeMap::new();
    for o in &rendered.objects {
        let Some(&owner) = index.get(o.component.as_str()) else {
            continue;
        };
        if is_crd(&o.id.group, &o.id.kind)
            && let Some(k) = crd_kind(&o.value)
        {
            crd_owner.entry((k.group, k.kind)).or_insert(owner);
        }
        if !o.implied && o.id.group.is_empty() && o.id.kind == "Namespace" {
            namespace_owner.entry(o.id.name.as_str()).or_insert(owner);
        }
    }
    let objects = rendered
        .objects
        .iter()
        .chain(rendered.hooks.iter().map(|h| &h.object));
    for o in objects {
        let Some(&from) = index.get(o.component.as_str()) else {
            continue;
        };
        if !is_built_in_group(&o.id.group)
            && let Some(&to) = crd_owner.get(&(o.id.group.clone(), o.id.kind.clone()))
            && to != from
        {
            let reason = Reason::Crd {
                kind: o.id.kind.clone(),
                group: o.id.group.clone(),
            };
            out.entry((from, to, reason))
                .or_insert_with(|| o.source_file.clone());
        }
        if let Some(ns) = &o.id.namespace
            && let Some(&to) = namespace_owner.get(ns.as_str())
            && to != from
        {
            let reason = Reason::Namespace { name: ns.clone() };
            out.entry((from, to, reason))
                .or_insert_with(|| o.source_file.clone());
        }
    }
    let edges = out
        .into_iter()
        .map(|((from, to, reason), file)| Edge {
            from,
            to,
            reason,
            file,
        })
        .collect();
    (edges, unknown)
}

/// Every cycle of the graph, one per strongly connected component, each as
/// the edges along it starting from its alphabetically first unit.
pub fn cycles(names: &[&str], edges: &[Edge]) -> Vec<Vec<Edge>> {
    let n = names.len();
    let mut adjacency: Vec<Vec<&Edge>> = vec![Vec::new(); n];
    for e in edges {
        adjacency[e.from].push(e);
    }
    for list in &mut adjacency {
        list.sort_by(|a, b| names[a.to].cmp(names[b.to]).then(a.reason.cmp(&b.reason)));
    }
    let components = strongly_connected(n, &adjacency);
    let mut out = Vec::new();
    for component in components {
        let members: BTreeSet<usize> = component.iter().copied().collect();
        let self_loop =
            component.len() == 1 && adjacency[component[0]].iter().any(|e| e.to == component[0]);
        if component.len() < 2 && !self_loop {
            continue;
        }
        let Some(&start) = component.iter().min_by_key(|&&u| names[u]) else {
            continue;
        };
        // Walk inside the component until we come back to `start`: a
        // breadth-first search for the shortest way back.
        let mut previous: BTreeMap<usize, &Edge> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut found = None;
        while let Some(u) = queue.pop_front() {
            for e in &adjacency[u] {
                if !members.contains(&e.to) {
                    continue;
                }
                if e.to == start {
                    found = Some(*e);
                    break;
                }
                if e.to != start && !previous.contains_key(&e.to) {
                    previous.insert(e.to, e);
                    queue.push_back(e.to);
                }
            }
            if found.is_some() {
                break;
            }
        }
        let Some(last) = found else { continue };
        let mut path = vec![last.clone()];
        let mut at = last.from;
        while at != start {
            let Some(e) = previous.get(&at) else { break };
            path.push((*e).clone());
            at = e.from;
        }
        path.reverse();
        out.push(path);
    }
    out.sort_by(|a, b| names[a[0].from].cmp(names[b[0].from]));
    out
}

/// Tarjan's algorithm, iterative (no recursion depth limit on big repos).
fn strongly_connected(n: usize, adjacency: &[Vec<&Edge>]) -> Vec<Vec<usize>> {
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0usize;
    let mut out = Vec::new();
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut child)) = work.last_mut() {
            if let Some(e) = adjacency[v].get(*child) {
                *child += 1;
                let w = e.to;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut component = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        component.push(w);
                        if w == v {
                            break;
                        }
                    }
                    out.push(component);
                }
            }
        }
    }
    out
}

/// Units in an order where every unit comes after its dependencies (ties by
/// name). Only meaningful on an acyclic graph.
pub fn topological(names: &[&str], edges: &[Edge]) -> Vec<usize> {
    let n = names.len();
    let mut pending = vec![0usize; n];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for e in edges {
        pending[e.from] += 1;
        dependents[e.to].push(e.from);
    }
    let mut ready: BTreeSet<(&str, usize)> = (0..n)
        .filter(|&i| pending[i] == 0)
        .map(|i| (names[i], i))
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some((_, u)) = ready.pop_first() {
        order.push(u);
        for &d in &dependents[u] {
            pending[d] -= 1;
            if pending[d] == 0 {
                ready.insert((names[d], d));
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(from: usize, to: usize) -> Edge {
        Edge {
            from,
            to,
            reason: Reason::DependsOn,
            file: format!("f{from}.yaml"),
        }
    }

    #[test]
    fn finds_the_cycle() {
        let names = ["a", "b", "c", "d"];
        let edges = [edge(0, 1), edge(1, 2), edge(2, 0), edge(3, 0)];
        let cycles = cycles(&names, &edges);
        assert_eq!(cycles.len(), 1);
        let path: Vec<_> = cycles[0].iter().map(|e| names[e.from]).collect();
        assert_eq!(path, ["a", "b", "c"]);
        assert_eq!(cycles[0][2].to, 0);
    }

    #[test]
    fn self_loops_are_cycles() {
        let names = ["a"];
        assert_eq!(cycles(&names, &[edge(0, 0)]).len(), 1);
    }

    #[test]
    fn topological_order_respects_edges() {
        let names = ["a", "b", "c"];
        let order = topological(&names, &[edge(0, 2), edge(1, 0)]);
        assert_eq!(order, [2, 0, 1]);
    }
}
