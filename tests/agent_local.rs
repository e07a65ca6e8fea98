//! `weir agent --path DIR`: the inner loop on a laptop. The real agent, as
//! a process against the real control plane, syncs a directory, then every
//! change saved to it (seen by `notify`); puts back a ConfigMap edited or
//! deleted by hand, and counts it; and applies nothing of a change that
//! fails validation, saying which file and line, until it is fixed.

mod support;
mod sync_helpers;

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;
use support::agent::Agent;
use sync_helpers::*;

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn settings(v: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings}}\ndata: {{v: \"{v}\"}}\n")
}

async fn value_of(api: &Api<ConfigMap>) -> Option<String> {
    api.get_opt("settings")
        .await
        .ok()
        .flatten()
        .and_then(|cm| cm.data?.get("v").cloned())
}

#[tokio::test]
async fn a_directory_is_synced_on_every_change_and_drift_is_put_back() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "local").await;
    let target = support::unique_name("local");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "weir.yaml",
        "apiVersion: weir.dev/v1alpha1\nkind: Repository\nmetadata: {name: local}\nspec: {}\n",
    );
    write(
        root,
        "app/component.yaml",
        &format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: app}}\nspec:\n  \
             namespace: {}\n  createNamespace: false\n  source: {{path: m}}\n",
            ns.name
        ),
    );
    write(root, "app/m/settings.yaml", &settings("1"));
    let agent = Agent::start(&["--path", root.to_str().unwrap(), "--target", &target]);
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    let is = |want: &'static str| {
        let api = api.clone();
        move || {
            let api = api.clone();
            async move { (value_of(&api).await.as_deref() == Some(want)).then_some(()) }
        }
    };
    support::eventually("the first sync", support::TIMEOUT, is("1")).await;

    // A change saved to the directory is applied.
    write(root, "app/m/settings.yaml", &settings("2"));
    support::eventually("the saved change", support::TIMEOUT, is("2")).await;

    // Edited by hand: put back, and counted.
    api.patch(
        "settings",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "by hand"}})),
    )
    .await
    .unwrap();
    support::eventually("the edit put back", support::TIMEOUT, is("2")).await;
    // Deleted by hand: put back.
    api.delete("settings", &DeleteParams::default())
        .await
        .unwrap();
    support::eventually("the deletion put back", support::TIMEOUT, is("2")).await;
    let series = format!(
        "weir_drift_corrections_total{{sync=\"{}\"}}",
        root.display()
    );
    support::eventually("drift corrections counted", support::TIMEOUT, || async {
        (agent.metric(&series) >= 2.0).then_some(())
    })
    .await;

    // A change that fails validation applies nothing, not even its valid part.
    write(root, "app/m/settings.yaml", &settings("3"));
    write(
        root,
        "app/m/web.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicaz: 2\n",
    );
    support::eventually("the rejection logged", support::TIMEOUT, || async {
        let log = agent.log_text();
        (log.contains("is invalid, nothing was applied") && log.contains("app/m/web.yaml:5:3"))
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        value_of(&api).await.as_deref(),
        Some("2"),
        "{}",
        agent.log_text()
    );

    // Fixed: applied.
    std::fs::remove_file(root.join("app/m/web.yaml")).unwrap();
    support::eventually("the fixed change", support::TIMEOUT, is("3")).await;
    drop(agent);
    forget_target(&cluster, &target).await;
}

/// The agent and a hand-run `weir sync` of the same target never
/// interleave: while the agent is in a wave's health gate, `weir sync
/// --lease-wait 0` is refused naming the agent, and nothing it would
/// apply is written.
#[tokio::test]
async fn the_agent_and_weir_sync_never_interleave() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "interleave").await;
    let target = support::unique_name("interleave");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "app/component.yaml",
        &format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: app}}\nspec:\n  \
             namespace: {}\n  createNamespace: false\n  source: {{path: m}}\n  health: {{timeout: 20s}}\n",
            ns.name
        ),
    );
    // Its pods never schedule: the agent waits in the health gate.
    let mut slow = deployment(&ns.name, "slow", 1);
    slow["spec"]["template"]["spec"]["nodeSelector"] = json!({"nowhere": "true"});
    write(
        root,
        "app/m/slow.yaml",
        &serde_yaml::to_string(&slow).unwrap(),
    );
    let agent = Agent::start_with(
        &["--path", root.to_str().unwrap(), "--target", &target],
        &[("POD_NAME", "agent-under-test")],
    );
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), &ns.name);
    support::eventually("the agent applies the slow wave", support::TIMEOUT, || {
        let d = deployments.clone();
        async move { d.get_opt("slow").await.ok().flatten().map(|_| ()) }
    })
    .await;
    write(root, "app/m/extra.yaml", &settings("cli"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("sync")
        .arg(root)
        .args(["--target", &target, "--lease-wait", "0", "--kubeconfig"])
        .arg(support::kubeconfig_path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("held by agent-under-test"), "{stderr}");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    assert!(
        cms.get_opt("settings").await.unwrap().is_none(),
        "weir sync wrote while the agent held the target"
    );
    drop(agent);
    forget_target(&cluster, &target).await;
}
