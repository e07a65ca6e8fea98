//! `weir sync` runs the real pipeline (load → render → plan): a repo with
//! a Component (a manifest directory) and a Workload is applied in its
//! waves, `--output json` reports per wave what was applied, unchanged and
//! pruned, `--rev` syncs a Git revision rather than the files on disk, and a
//! repo with errors (a plan error, a schema error in a later wave) writes
//! nothing at all. Against the real control
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
    weir_sync_with(dir, target, &[])
}

fn weir_sync_with(dir: &Path, target: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("sync")
        .arg(dir)
        .args(["--target", target, "--timeout", "120s", "--output", "json"])
        .args(extra)
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

/// A field the API schema does not declare, in a Deployment of the second
/// wave: validation rejects the repo, so nothing at all is written, not
/// the first wave's objects (a new one, a changed one) nor the inventory.
/// (It used to be applied wave by wave until the API server refused the
/// Deployment, after retrying its HTTP 500 for 41 s.)
#[tokio::test]
async fn a_schema_error_in_a_later_wave_writes_nothing() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "schema").await;
    let target = support::unique_name("schema");
    let existing = config_map(&ns.name, "existing", json!({"v": "1"}));
    let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(client.clone(), &ns.name);
    api.create(
        &kube::api::PostParams::default(),
        &serde_json::from_value(existing.clone()).unwrap(),
    )
    .await
    .unwrap();
    let version = resource_version(&cluster, &existing).await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "weir.yaml",
        "apiVersion: weir.dev/v1alpha1\nkind: Repository\nmetadata: {name: shop}\nspec:\n  waves: [base, apps]\n",
    );
    let component = |name: &str, wave: &str| {
        format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: {name}}}\nspec:\n  \
             namespace: {ns}\n  createNamespace: false\n  wave: {wave}\n  source: {{path: m}}\n",
            ns = ns.name
        )
    };
    write(root, "base/component.yaml", &component("base", "base"));
    write(
        root,
        "base/m/cms.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: existing}\ndata: {v: \"2\"}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {name: new}\ndata: {v: \"1\"}\n",
    );
    write(root, "apps/component.yaml", &component("apps", "apps"));
    let mut web = deployment(&ns.name, "web", 1);
    web["spec"]["replicaz"] = json!(2);
    write(
        root,
        "apps/m/web.yaml",
        &serde_yaml::to_string(&web).unwrap(),
    );

    let out = weir_sync(root, &target);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error[E0101] unknown field `replicaz`"),
        "validation's finding, with file and line:\n{stderr}"
    );
    assert!(stderr.contains("apps/m/web.yaml:"), "{stderr}");
    assert!(stderr.contains("nothing was applied"), "{stderr}");
    assert_eq!(
        resource_version(&cluster, &existing).await,
        version,
        "the first wave's ConfigMap was not changed"
    );
    assert!(
        get(&cluster, &config_map(&ns.name, "new", json!({})))
            .await
            .is_none(),
        "the first wave's new ConfigMap was not created"
    );
    assert!(get(&cluster, &web).await.is_none());
    assert!(inventory(&cluster, &target).await.is_none(), "no inventory");
}

/// `--output json`: the final report gives, per wave, the objects applied
/// (created + configured), unchanged and pruned, and the wave's time.
#[tokio::test]
async fn json_report_counts_each_wave() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "report").await;
    let target = support::unique_name("report");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "weir.yaml",
        "apiVersion: weir.dev/v1alpha1\nkind: Repository\nmetadata: {name: report}\nspec:\n  waves: [config, apps]\n",
    );
    for (name, wave) in [("config", "config"), ("apps", "apps")] {
        write(
            root,
            &format!("{name}/component.yaml"),
            &format!(
                "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: {name}}}\nspec:\n  \
                 namespace: {ns}\n  createNamespace: false\n  wave: {wave}\n  source: {{path: m}}\n",
                ns = ns.name
            ),
        );
    }
    let cm = |name: &str, v: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{v: \"{v}\"}}\n"
        )
    };
    for i in 0..3 {
        write(
            root,
            &format!("config/m/c{i}.yaml"),
            &cm(&format!("c{i}"), "1"),
        );
    }
    write(root, "apps/m/a.yaml", &cm("a", "1"));
    write(root, "apps/m/b.yaml", &cm("b", "1"));

    let wave = |report: &serde_json::Value, i: usize, field: &str| -> u64 {
        report["waves"][i][field]
            .as_u64()
            .unwrap_or_else(|| panic!("waves[{i}].{field} in {report:#}"))
    };
    let out = weir_sync(root, &target);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(first["status"], "synced");
    assert_eq!(
        (wave(&first, 0, "applied"), wave(&first, 0, "created")),
        (3, 3),
        "{first:#}"
    );
    assert_eq!(
        (wave(&first, 1, "applied"), wave(&first, 1, "unchanged")),
        (2, 0),
        "{first:#}"
    );

    // One changed, one left the repo (pruned), the rest unchanged.
    write(root, "config/m/c0.yaml", &cm("c0", "2"));
    std::fs::remove_file(root.join("apps/m/b.yaml")).unwrap();
    let out = weir_sync_with(root, &target, &["--prune"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let waves = second["waves"].as_array().unwrap();
    assert_eq!(waves.len(), 2, "{second:#}");
    assert_eq!(waves[0]["name"], "config");
    assert_eq!(
        [
            wave(&second, 0, "applied"),
            wave(&second, 0, "configured"),
            wave(&second, 0, "unchanged"),
            wave(&second, 0, "pruned"),
        ],
        [1, 1, 2, 0],
        "{second:#}"
    );
    assert_eq!(
        [
            wave(&second, 1, "applied"),
            wave(&second, 1, "unchanged"),
            wave(&second, 1, "pruned"),
        ],
        [0, 1, 1],
        "{second:#}"
    );
    assert_eq!(
        waves[0]["changed"][0]["object"],
        format!("ConfigMap {}/c0", ns.name)
    );
    assert_eq!(waves[0]["changed"][0]["action"], "configured");
    for w in waves {
        assert!(w["seconds"].as_f64().is_some(), "{second:#}");
        assert!(w["applySeconds"].as_f64().is_some(), "{second:#}");
    }
    assert_eq!(
        second["prune"]["pruned"],
        json!([format!("ConfigMap {}/b", ns.name)]),
        "{second:#}"
    );
    assert!(
        get(&cluster, &config_map(&ns.name, "b", json!({})))
            .await
            .is_none()
    );
    forget_target(&cluster, &target).await;
}

/// `--rev` syncs what a Git revision holds, not the working tree, and
/// records that commit in the inventory; the working tree with uncommitted
/// changes is recorded as `<commit>-dirty`.
#[tokio::test]
async fn rev_syncs_a_git_revision() {
    use git2::{IndexAddOption, Repository, Signature, Time};
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "rev").await;
    let target = support::unique_name("rev");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let cm = |v: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, namespace: {}}}\ndata: {{v: \"{v}\"}}\n",
            ns.name
        )
    };
    write(root, "settings.yaml", &cm("committed"));
    let repo = Repository::init(root).unwrap();
    let mut index = repo.index().unwrap();
    index.add_all(["*"], IndexAddOption::DEFAULT, None).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = Signature::new("weir test", "test@weir.dev", &Time::new(1_700_000_000, 0)).unwrap();
    let commit = repo
        .commit(Some("HEAD"), &sig, &sig, "settings", &tree, &[])
        .unwrap();
    // The working tree moves on; --rev HEAD still syncs the commit.
    write(root, "settings.yaml", &cm("uncommitted"));
    write(
        root,
        "extra.yaml",
        &cm("uncommitted").replace("settings", "extra"),
    );

    let out = weir_sync_with(root, &target, &["--rev", "HEAD"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["revision"], commit.to_string(), "{report:#}");
    let live = get(&cluster, &config_map(&ns.name, "settings", json!({})))
        .await
        .unwrap();
    assert_eq!(live["data"]["v"], "committed");
    assert!(
        get(&cluster, &config_map(&ns.name, "extra", json!({})))
            .await
            .is_none(),
        "a file that is only in the working tree was applied"
    );
    assert_eq!(
        inventory(&cluster, &target).await.unwrap().revision,
        Some(commit.to_string())
    );

    // Without --rev the working tree is synced, and its uncommitted
    // changes are not passed off as the commit.
    let out = weir_sync_with(root, &target, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let dirty = format!("{commit}-dirty");
    assert_eq!(report["revision"], dirty.as_str(), "{report:#}");
    assert_eq!(
        inventory(&cluster, &target).await.unwrap().revision,
        Some(dirty)
    );
    let live = get(&cluster, &config_map(&ns.name, "settings", json!({})))
        .await
        .unwrap();
    assert_eq!(live["data"]["v"], "uncommitted");
    forget_target(&cluster, &target).await;
}
