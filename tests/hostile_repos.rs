//! A config repo is untrusted input (issue 14): whoever can open a pull
//! request can feed the agent any repo. For each class of attack on the
//! stages after loading (`tests/support/hostile_repos.rs`: exponential
//! patches, multiplying `valuesFrom`, a chart that renders for ever or
//! renders gigabytes with the real helm, many files each near the alias
//! budget, absurd durations and counts, a commit raising the prune limits),
//! `weir validate` exits 1 with the code of the rule that stops it, and
//! `weir sync --prune` against the control plane applies nothing: no
//! namespace, no inventory. Two repos in directories of the same name (so
//! the same default target) cannot prune each other's objects.
//!
//! Only outcomes are asserted; `benches/hostile_repos.sh` measures time
//! and memory (the goals: under 5 s and 200 MB each).

mod support;

use std::path::Path;
use std::process::Command;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use serde_json::Value;
use support::hostile_repos::CASES;

const WEIR: &str = env!("CARGO_BIN_EXE_weir");

/// Runs weir with the test helm; (exit code, stdout, stderr).
fn weir(args: &[&str], dir: Option<&Path>) -> (i32, String, String) {
    let mut cmd = Command::new(WEIR);
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env("WEIR_HELM", support::helm());
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let out = cmd.output().expect("running weir");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn kubeconfig() -> String {
    format!("--kubeconfig={}", support::kubeconfig_path().display())
}

#[test]
fn validate_rejects_every_hostile_repo() {
    let mut failures = Vec::new();
    for (class, make, code) in CASES {
        let dir = tempfile::tempdir().unwrap();
        make(dir.path(), "hostile", "hostile");
        let repo = dir.path().to_str().unwrap();
        let (rc, out, err) = weir(&["validate", repo, "--output", "json"], None);
        let report: Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{class}: {e}: {out}\n{err}"));
        let codes: Vec<&str> = report["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["severity"] == "error")
            .filter_map(|d| d["code"].as_str())
            .collect();
        if rc != 1 || !codes.contains(code) {
            failures.push(format!(
                "{class}: exit {rc}, errors {codes:?} (want 1 and {code})\n{err}"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn sync_applies_nothing_of_a_hostile_repo() {
    let client = support::cluster().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "weir-system");
    let mut failures = Vec::new();
    for (class, make, _) in CASES {
        let dir = tempfile::tempdir().unwrap();
        let name = support::unique_name("hostile");
        make(dir.path(), &name, &name);
        let repo = dir.path().to_str().unwrap();
        let (rc, _, err) = weir(&["sync", repo, "--prune", &kubeconfig()], None);
        if rc != 1 || !err.contains("nothing was applied") {
            failures.push(format!("{class}: sync exited {rc} (want 1):\n{err}"));
        }
        if namespaces.get_opt(&name).await.unwrap().is_some() {
            failures.push(format!("{class}: namespace {name} was created"));
        }
        let inventory = weir::sync::inventory::config_map_name(&name);
        if config_maps.get_opt(&inventory).await.unwrap().is_some() {
            failures.push(format!("{class}: inventory {inventory} was written"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A plain directory of manifests (no weir.yaml: its target is the
/// directory's name): a Namespace and a ConfigMap in it.
fn plain_repo(dir: &Path, namespace: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("objects.yaml"),
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {namespace}}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, namespace: {namespace}}}\ndata: {{a: b}}\n"
        ),
    )
    .unwrap();
}

/// `a/<name>` and `b/<name>`: the same default target. The second is
/// refused, saying what to do, and nothing of either changes; with
/// `--adopt` it takes the target over, and then the first is refused.
#[tokio::test]
async fn two_repos_in_same_named_directories_cannot_prune_each_other() {
    let client = support::cluster().await;
    let root = tempfile::tempdir().unwrap();
    let name = support::unique_name("platform");
    let (ns_a, ns_b) = (format!("{name}-a"), format!("{name}-b"));
    let (a, b) = (
        root.path().join("a").join(&name),
        root.path().join("b").join(&name),
    );
    plain_repo(&a, &ns_a);
    plain_repo(&b, &ns_b);
    let settings = |ns: &str| Api::<ConfigMap>::namespaced(client.clone(), ns);
    let namespaces: Api<Namespace> = Api::all(client.clone());

    let (rc, _, err) = weir(
        &["sync", a.to_str().unwrap(), "--prune", &kubeconfig()],
        None,
    );
    assert_eq!(rc, 0, "{err}");
    let inventory = Api::<ConfigMap>::namespaced(client.clone(), "weir-system")
        .get(&weir::sync::inventory::config_map_name(&name))
        .await
        .unwrap();
    let recorded = inventory.data.unwrap_or_default();
    assert_eq!(
        recorded.get("source").map(String::as_str),
        std::fs::canonicalize(&a).unwrap().to_str(),
        "the inventory records where its objects come from"
    );

    // The other repo, same target: refused before anything is written.
    let (rc, _, err) = weir(
        &["sync", b.to_str().unwrap(), "--prune", &kubeconfig()],
        None,
    );
    assert_eq!(rc, 2, "{err}");
    assert!(
        err.contains(&format!("target `{name}` holds the objects of"))
            && err.contains("--adopt")
            && err.contains("--target"),
        "{err}"
    );
    assert!(settings(&ns_a).get_opt("settings").await.unwrap().is_some());
    assert!(namespaces.get_opt(&ns_b).await.unwrap().is_none());

    // Told to adopt it, it takes the target over; now the first is refused.
    let (rc, _, err) = weir(
        &["sync", b.to_str().unwrap(), "--adopt", &kubeconfig()],
        None,
    );
    assert_eq!(rc, 0, "{err}");
    assert!(settings(&ns_b).get_opt("settings").await.unwrap().is_some());
    let (rc, _, err) = weir(
        &["sync", a.to_str().unwrap(), "--prune", &kubeconfig()],
        None,
    );
    assert_eq!(rc, 2, "{err}");
    assert!(settings(&ns_a).get_opt("settings").await.unwrap().is_some());
    assert!(settings(&ns_b).get_opt("settings").await.unwrap().is_some());

    for ns in [&ns_a, &ns_b] {
        let _ = namespaces.delete(ns, &Default::default()).await;
    }
    let _ = Api::<ConfigMap>::namespaced(client.clone(), "weir-system")
        .delete(
            &weir::sync::inventory::config_map_name(&name),
            &Default::default(),
        )
        .await;
}
