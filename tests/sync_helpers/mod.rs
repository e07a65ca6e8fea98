//! Helpers of the `sync_*` integration tests (`mod support; mod
//! sync_helpers;`): plans of plain objects, a sync runner that records
//! events, and object builders. The cluster comes from `support`.
#![allow(dead_code)] // each test file uses a different subset

use std::sync::Mutex;
use std::time::Duration;

use kube::Client;
use serde_json::{Value, json};
use weir::object::ObjectRef;
use weir::sync::engine::Failed;
use weir::sync::{Cluster, Context, Event, Options, Report, SyncPlan, SyncUnit, SyncWave};

use crate::support;

/// A client and a weir cluster for the test control plane.
pub async fn connect() -> (Client, Cluster) {
    let client = support::cluster().await;
    (client.clone(), Cluster::new(client))
}

/// A plan with one unit per wave, holding `waves[i]`.
pub fn plan(target: &str, waves: Vec<Vec<Value>>) -> SyncPlan {
    SyncPlan {
        target: target.to_owned(),
        revision: Some("test".into()),
        waves: waves
            .into_iter()
            .enumerate()
            .map(|(i, objects)| SyncWave {
                index: i as u32,
                name: format!("w{i}"),
                units: vec![SyncUnit {
                    name: format!("unit{i}"),
                    objects,
                    ..Default::default()
                }],
            })
            .collect(),
        ..Default::default()
    }
}

/// Options for tests: short timeouts.
pub fn options() -> Options {
    Options {
        timeout: Duration::from_secs(60),
        ..Options::default()
    }
}

/// Runs a sync and returns its result and the events it emitted.
pub async fn run(
    cluster: &Cluster,
    plan: &SyncPlan,
    options: Options,
) -> (Result<Report, Failed>, Vec<Event>) {
    let events = Mutex::new(Vec::new());
    let progress = |e: &Event| events.lock().unwrap().push(e.clone());
    let ctx = Context {
        cluster,
        options,
        progress: &progress,
    };
    let result = weir::sync::reconcile(plan, &ctx).await;
    let events = events.lock().unwrap().clone();
    (result, events)
}

/// Runs a sync that must succeed.
pub async fn sync_ok(cluster: &Cluster, plan: &SyncPlan, options: Options) -> Report {
    match run(cluster, plan, options).await.0 {
        Ok(report) => report,
        Err(failed) => panic!("sync failed: {}", failed.error),
    }
}

pub fn config_map(ns: &str, name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns}, "data": data})
}

/// A Deployment whose pods kwok runs (the image is never pulled).
pub fn deployment(ns: &str, name: &str, replicas: u32) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "registry.example/weir-test:1",
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}}})
}

/// A namespaced CRD of `kind` (plural: lowercase kind + `s`) in `group`,
/// version `v1`, whose `spec` has `spec_schema`, with a status subresource
/// as operators define them.
pub fn crd(group: &str, kind: &str, spec_schema: Value) -> Value {
    let singular = kind.to_lowercase();
    let plural = format!("{singular}s");
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {"group": group, "scope": "Namespaced",
            "names": {"plural": plural, "singular": singular, "kind": kind},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": spec_schema,
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}})
}

/// A group name of the test's own, for its CRDs.
pub fn unique_group() -> String {
    format!("{}.weir.test", support::unique_name("g"))
}

pub fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

pub fn obj_ref(value: &Value) -> ObjectRef {
    ObjectRef::from_value(value).unwrap()
}

/// The live object, or `None`.
pub async fn get(cluster: &Cluster, value: &Value) -> Option<Value> {
    cluster.get(&obj_ref(value)).await.unwrap()
}

/// `metadata.resourceVersion` of the live object.
pub async fn resource_version(cluster: &Cluster, value: &Value) -> String {
    get(cluster, value).await.expect("object exists")["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Deletes the inventory of a target (tests use a target each).
pub async fn forget_target(cluster: &Cluster, target: &str) {
    let r = weir::sync::inventory::Inventory::object_ref(target);
    let _ = cluster
        .delete(&r, kube::api::PropagationPolicy::Background, false)
        .await;
}

/// The stored inventory of a target.
pub async fn inventory(
    cluster: &Cluster,
    target: &str,
) -> Option<weir::sync::inventory::Inventory> {
    let r = weir::sync::inventory::Inventory::object_ref(target);
    cluster
        .get(&r)
        .await
        .unwrap()
        .map(|cm| weir::sync::inventory::Inventory::from_config_map(&cm).unwrap())
}

/// Restarts the test control plane's kube-apiserver: stops it (SIGTERM to
/// its process group), waits `down`, and starts it again with the same
/// command line, as `cargo xtask testenv` recorded it in its state
/// directory (the kubeconfig's directory): `pids/kube-apiserver.pid` and
/// `logs/kube-apiserver.cmd`. Blocking; call it from a thread.
pub fn restart_apiserver(down: Duration) {
    use std::os::unix::process::CommandExt;
    let state = support::kubeconfig_path()
        .parent()
        .expect("the kubeconfig is in the testenv state directory")
        .to_path_buf();
    let pid_file = state.join("pids/kube-apiserver.pid");
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap_or_else(|e| panic!("reading {}: {e}", pid_file.display()))
        .trim()
        .parse()
        .unwrap();
    let cmd = std::fs::read_to_string(state.join("logs/kube-apiserver.cmd")).unwrap();
    let mut words = cmd.split_whitespace();
    let bin = words.next().unwrap().to_owned();
    let args: Vec<String> = words.map(str::to_owned).collect();
    // The testenv starts it as a process group leader; fall back to the pid.
    let kill = |target: String| {
        std::process::Command::new("kill")
            .args(["-TERM", "--", &target])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(
        kill(format!("-{pid}")) || kill(pid.to_string()),
        "could not stop the kube-apiserver (pid {pid})"
    );
    let alive = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                let state = s
                    .rsplit_once(')')
                    .and_then(|(_, r)| r.split_whitespace().next());
                !matches!(state, Some("Z" | "X"))
            })
            .unwrap_or(false)
    };
    // It drains in-flight requests first; a crash is a fair test too.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while alive(pid) {
        if std::time::Instant::now() > deadline {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(down);
    let log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(state.join("logs/kube-apiserver.log"))
        .unwrap();
    // It outlives this test: the testenv stops it by its pid file.
    #[allow(clippy::zombie_processes)]
    let child = std::process::Command::new(bin)
        .args(args)
        .current_dir(&state)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .expect("restarting kube-apiserver");
    std::fs::write(&pid_file, format!("{}\n", child.id())).unwrap();
}
