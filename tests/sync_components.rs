//! `weir sync` runs the real pipeline (load → render → plan): a repo with
//! a Component (a manifest directory) and a Workload is applied in its
//! waves, and a repo with errors applies nothing. Against the real control
//! plane (`cargo xtask test`).

mod support;
mod sync_helpers;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;
use sync_helpers::*;

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn weir_sync(dir: &Path, target: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("sync")
        .arg(dir)
        .args(["--target", target, "--timeout", "120s", "--output", "json"])
        .arg("--kubeconfig")
        .arg(support::kubeconfig_path())
        .output()
        .unwrap()
}

#[tokio::test]
async fn syncs_a_component_and_a_workload() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "pipeline").await;
    let target = support::unique_name("pipeline");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "weir.yaml",
        "apiVersion: weir.dev/v1alpha1\nkind: Repository\nmetadata: {name: shop}\nspec:\n  waves: [base, apps]\n",
    );
    write(
        root,
        "base/component.yaml",
        &format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: base}}\nspec:\n  \
             namespace: {ns}\n  createNamespace: false\n  wave: base\n  source: {{path: manifests}}\n  \
             preflight: {{minKubernetesVersion: \"1.20\"}}\n  health: {{timeout: 90s}}\n  \
             prune: {{protect: [{{kind: ConfigMap, name: settings}}]}}\n",
            ns = ns.name
        ),
    );
    write(
        root,
        "base/manifests/settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {greeting: hello}\n",
    );
    write(
        root,
        "apps/web.yaml",
        &format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Workload\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  \
             image: registry.example/weir-test:1\n  replicas: 1\n  ports: [{{name: http, port: 80}}]\n  \
             resources: {{cpu: 10m, memory: 16Mi}}\n  wave: apps\n",
            ns = ns.name
        ),
    );

    let out = weir_sync(root, &target);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "weir sync failed:\n{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let waves = report["waves"].as_array().unwrap();
    assert_eq!(waves.len(), 2, "{report:#}");
    assert_eq!(waves[0]["name"], "base");
    assert_eq!(waves[1]["name"], "apps");

    let settings = get(
        &cluster,
        &config_map(&ns.name, "settings", json!({"greeting": "hello"})),
    )
    .await
    .expect("the Component's ConfigMap was applied, in the Component's namespace");
    assert_eq!(settings["data"]["greeting"], "hello");
    let web = get(&cluster, &deployment(&ns.name, "web", 1))
        .await
        .expect("the Workload's Deployment was applied");
    assert_eq!(
        web["status"]["readyReplicas"], 1,
        "healthy before the sync ended"
    );
    let service = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": ns.name}});
    assert!(
        get(&cluster, &service).await.is_some(),
        "the Workload's Service"
    );
    assert!(inventory(&cluster, &target).await.unwrap().entries.len() >= 3);

    // Synced again, nothing changes.
    let again = weir_sync(root, &target);
    assert!(again.status.success());
    let report: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    for w in report["waves"].as_array().unwrap() {
        assert_eq!(w["created"], 0, "{report:#}");
        assert_eq!(w["configured"], 0, "{report:#}");
    }
    forget_target(&cluster, &target).await;
}

#[tokio::test]
async fn an_invalid_repo_applies_nothing() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "invalid").await;
    let target = support::unique_name("invalid");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "c/component.yaml",
        &format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: c}}\nspec:\n  \
             namespace: {ns}\n  createNamespace: false\n  wave: nowhere\n  source: {{path: m}}\n",
            ns = ns.name
        ),
    );
    write(
        root,
        "c/m/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: never}\n",
    );

    let out = weir_sync(root, &target);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("E0401"),
        "the plan's diagnostic is printed:\n{stderr}"
    );
    assert!(stderr.contains("nothing was applied"), "{stderr}");
    assert!(
        get(&cluster, &config_map(&ns.name, "never", json!({})))
            .await
            .is_none()
    );
    assert!(inventory(&cluster, &target).await.is_none());
}
