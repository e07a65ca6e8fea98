//! The node topology of a test cluster, shaped like a real platform
//! cluster: node pools with labels and taints, and one GPU node. The nodes
//! are Node objects that kwok manages (annotation `kwok.x-k8s.io/node: fake`):
//! kwok marks them Ready, renews their leases and runs their pods' lifecycle.
//!
//! | nodes                  | labels                    | taint                          |
//! |------------------------|---------------------------|--------------------------------|
//! | platform-1..3          | pool=platform             | pool=platform:NoSchedule       |
//! | compute-1..2           | pool=compute              |                                |
//! | deployment-1           | pool=deployment           |                                |
//! | gpu-1                  | accelerator=gpu           | accelerator=gpu:NoSchedule     |
//!
//! Every node also has `type=kwok`, 8 CPUs, 32Gi memory and 110 pods; the GPU
//! node has `nvidia.com/gpu: 4`. A default StorageClass `standard` (no
//! provisioner) lets PVCs bind to pre-created PVs; nothing provisions
//! volumes dynamically.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde_json::{Value, json};

use crate::kubectl::Kubectl;

/// One node of the topology.
pub struct NodeSpec {
    pub name: String,
    pub labels: Vec<(&'static str, &'static str)>,
    pub taint: Option<(&'static str, &'static str)>,
    pub gpus: u32,
}

/// The nodes, in a stable order.
pub fn nodes() -> Vec<NodeSpec> {
    let mut nodes = Vec::new();
    for i in 1..=3 {
        nodes.push(NodeSpec {
            name: format!("platform-{i}"),
            labels: vec![("pool", "platform")],
            taint: Some(("pool", "platform")),
            gpus: 0,
        });
    }
    for i in 1..=2 {
        nodes.push(NodeSpec {
            name: format!("compute-{i}"),
            labels: vec![("pool", "compute")],
            taint: None,
            gpus: 0,
        });
    }
    nodes.push(NodeSpec {
        name: "deployment-1".to_owned(),
        labels: vec![("pool", "deployment")],
        taint: None,
        gpus: 0,
    });
    nodes.push(NodeSpec {
        name: "gpu-1".to_owned(),
        labels: vec![("accelerator", "gpu")],
        taint: Some(("accelerator", "gpu")),
        gpus: 4,
    });
    nodes
}

/// The Node object of `spec`; `index` gives it its own InternalIP.
fn node_object(spec: &NodeSpec, index: usize) -> Value {
    let mut labels = serde_json::Map::new();
    for (k, v) in [
        ("type", "kwok"),
        ("kubernetes.io/hostname", spec.name.as_str()),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
    ]
    .into_iter()
    .chain(spec.labels.iter().copied())
    {
        labels.insert(k.to_owned(), json!(v));
    }
    let taints: Vec<Value> = spec
        .taint
        .iter()
        .map(|(key, value)| json!({"key": key, "value": value, "effect": "NoSchedule"}))
        .collect();
    let mut resources =
        json!({"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"});
    if spec.gpus > 0 {
        resources["nvidia.com/gpu"] = json!(spec.gpus.to_string());
    }
    // Nodes accept status on create; kwok's node-initialize stage keeps
    // these capacities and addresses and adds the Ready conditions.
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": spec.name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": labels,
        },
        "spec": {"taints": taints},
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "addresses": [
                {"type": "InternalIP", "address": format!("10.240.0.{}", index + 10)},
                {"type": "Hostname", "address": spec.name},
            ],
        },
    })
}

fn storage_class() -> Value {
    json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": "standard",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "kubernetes.io/no-provisioner",
        "volumeBindingMode": "Immediate",
        "reclaimPolicy": "Retain",
    })
}

/// Creates the nodes and the default StorageClass.
pub fn create(kubectl: &Kubectl) -> Result<()> {
    let mut items: Vec<Value> = nodes()
        .iter()
        .enumerate()
        .map(|(i, n)| node_object(n, i))
        .collect();
    items.push(storage_class());
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    kubectl.run_with_input(&["create", "-f", "-"], &list.to_string())?;
    Ok(())
}

/// Waits until every node of the topology is Ready; `check` is called on
/// every round and stops the wait with its error (e.g. a process died).
pub fn wait_ready(
    kubectl: &Kubectl,
    timeout: Duration,
    mut check: impl FnMut() -> Result<()>,
) -> Result<()> {
    let want = nodes().len();
    let deadline = Instant::now() + timeout;
    loop {
        check()?;
        let ready = kubectl
            .get_json(&["nodes"])
            .map(|list| ready_count(&list))
            .unwrap_or(0);
        if ready >= want {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("only {ready} of {want} nodes became Ready within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn is_ready(node: &Value) -> bool {
    node["status"]["conditions"]
        .as_array()
        .is_some_and(|conds| {
            conds
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// Whether the node lifecycle controller still has a condition taint on
/// the node (`node.kubernetes.io/not-ready` is set when a node is created
/// and removed only after its Ready condition is seen).
fn has_condition_taint(node: &Value) -> bool {
    node["spec"]["taints"].as_array().is_some_and(|taints| {
        taints.iter().any(|t| {
            t["key"]
                .as_str()
                .is_some_and(|k| k.starts_with("node.kubernetes.io/"))
        })
    })
}

/// Nodes that are Ready and schedulable as configured.
fn ready_count(list: &Value) -> usize {
    list["items"].as_array().map_or(0, |items| {
        items
            .iter()
            .filter(|n| is_ready(n) && !has_condition_taint(n))
            .count()
    })
}

/// The node table of the demo: name, pool, taints, GPUs, Ready.
pub fn table(kubectl: &Kubectl) -> Result<String> {
    let list = kubectl.get_json(&["nodes"])?;
    let mut rows = vec![[
        "NAME".to_owned(),
        "POOL".to_owned(),
        "TAINTS".to_owned(),
        "GPU".to_owned(),
        "READY".to_owned(),
    ]];
    for node in list["items"].as_array().into_iter().flatten() {
        let labels = &node["metadata"]["labels"];
        let pool = labels["pool"].as_str().unwrap_or("-");
        let taints: Vec<String> = node["spec"]["taints"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                format!(
                    "{}={}:{}",
                    t["key"].as_str().unwrap_or(""),
                    t["value"].as_str().unwrap_or(""),
                    t["effect"].as_str().unwrap_or("")
                )
            })
            .collect();
        let gpu = node["status"]["capacity"]["nvidia.com/gpu"]
            .as_str()
            .unwrap_or("-");
        rows.push([
            node["metadata"]["name"].as_str().unwrap_or("?").to_owned(),
            pool.to_owned(),
            if taints.is_empty() {
                "-".to_owned()
            } else {
                taints.join(",")
            },
            gpu.to_owned(),
            if is_ready(node) { "True" } else { "False" }.to_owned(),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    Ok(rows
        .iter()
        .map(|r| {
            r.iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topology_matches_the_platform_layout() {
        let nodes = nodes();
        let count = |k: &str, v: &str| nodes.iter().filter(|n| n.labels.contains(&(k, v))).count();
        assert_eq!(count("pool", "platform"), 3);
        assert_eq!(count("pool", "compute"), 2);
        assert_eq!(count("pool", "deployment"), 1);
        assert_eq!(count("accelerator", "gpu"), 1);
        let gpu = node_object(&nodes[6], 6);
        assert_eq!(gpu["status"]["capacity"]["nvidia.com/gpu"], "4");
        assert_eq!(gpu["spec"]["taints"][0]["key"], "accelerator");
    }
}
