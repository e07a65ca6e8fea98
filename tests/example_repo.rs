//! `example-repo` end to end against the local control plane, as an
//! operator would drive it: a copy of the repo in a real Git repository,
//! the real `weir` binary, the real `helm`.
//!
//! One test, in order, because every step builds on the cluster state of the
//! one before: preflight stops a sync without the required Secrets; with
//! them every wave converges healthy, the GPU Job completes on the GPU node
//! and the model API runs only on the deployment pool; a second sync is a
//! no-op (no write, no resourceVersion moves, no hook re-run) and
//! `weir diff --cluster` finds no difference; a commit bumping one image is
//! exactly one field in `weir diff --base` and in `weir diff --cluster`, and
//! one object configured by the next sync; a commit removing the ML lineage
//! platform prunes its objects and keeps its protected claims and its
//! namespace. The SOPS-encrypted Secrets are applied decrypted (with the
//! demo key). Its two remote-chart platforms (edge inference from a chart
//! repository, ML lineage from an OCI registry) take their charts from the
//! real ChartMuseum and registry, with basic auth, and the sync report and
//! the diffs show the exact version and digest of each. Nothing weir
//! printed on the way holds a Secret's value or a chart repository's
//! password.

mod support;

use support::example_repo::ServedCharts;
use support::example_repo::{LICENSE, create_required_secrets, remove_required_secrets};
use support::git::commit;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use base64::Engine as _;

use git2::Repository;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, PersistentVolumeClaim, Pod};
use kube::Client;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

/// The inventory of `example-repo` (its Repository's `metadata.name`).
const INVENTORY: &str = "weir-inventory-example-platforms";
const MODEL_API_IMAGE: &str = "registry.example.com/models/churn-model-api";

#[tokio::test]
async fn example_repo_end_to_end() {
    let client = support::cluster().await;
    let work = tempfile::tempdir().unwrap();
    let repo_dir = work.path().join("platforms");
    let charts = ServedCharts::start();
    charts.copy_repo(&repo_dir);
    CHART_ENV.set(charts.env()).unwrap();
    let git = Repository::init(&repo_dir).unwrap();
    commit(&git, "initial");

    // --- Without the Secrets, preflight stops the sync; nothing is applied.
    remove_required_secrets(&client).await;
    let inventory_before = inventory_version(&client).await;
    let out = weir(&repo_dir, &["sync", ".", "--prune"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "preflight must fail:\n{err}");
    for needle in [
        "preflight failed, nothing was applied",
        "edge-license",
        "regcred",
        "license",
    ] {
        assert!(err.contains(needle), "`{needle}` missing from:\n{err}");
    }
    for command in [
        "kubectl -n edge create secret generic edge-license",
        "kubectl -n edge create secret docker-registry regcred",
    ] {
        assert!(
            err.contains(command),
            "the message must say how to create what is missing (`{command}`):\n{err}"
        );
    }
    assert_eq!(
        inventory_version(&client).await,
        inventory_before,
        "a failed preflight must not write the inventory"
    );
    if inventory_before.is_none() {
        let namespaces: Api<Namespace> = Api::all(client.clone());
        assert!(
            namespaces
                .get_opt("kernel-gateway")
                .await
                .unwrap()
                .is_none(),
            "a failed preflight must apply nothing"
        );
    }

    // --- With them, every wave converges.
    // The target is shared with the agent's test of the same repo served
    // from Git (tests/agent_example_repo.rs), another source by name: this
    // copy takes it over.
    create_required_secrets(&client).await;
    let report = sync_json(&repo_dir, &["--prune", "--adopt"]);
    assert_eq!(report["status"], "synced", "{report:#}");
    let waves = strings(&report["waves"], "/name");
    assert_eq!(
        waves,
        [
            "foundation",
            "core",
            "config",
            "networking",
            "services",
            "apps",
            "workloads"
        ]
    );
    let total: u64 = report["waves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["applied"].as_u64().unwrap() + w["unchanged"].as_u64().unwrap())
        .sum();
    assert!(
        total >= 150,
        "example-repo has ~174 objects, synced {total}"
    );
    // The remote charts, exact version and digest, from the real servers.
    let charts_synced: Vec<(&str, &str, &str)> = report["charts"]
        .as_array()
        .unwrap_or_else(|| panic!("no charts in the report: {report:#}"))
        .iter()
        .map(|c| {
            (
                c["component"].as_str().unwrap(),
                c["chart"].as_str().unwrap(),
                c["version"].as_str().unwrap(),
            )
        })
        .collect();
    for (component, version) in [
        ("edge-operator", "1.4.0"),
        ("knit-storage-nfs", "1.3.0"),
        ("knit-app", "1.3.0"),
    ] {
        assert!(
            charts_synced.contains(&(component, component, version)),
            "{component} {version} in {charts_synced:?}"
        );
    }
    let edge = report["charts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "edge-operator")
        .unwrap();
    assert_eq!(edge["repo"], charts.museum.url());
    assert!(
        edge["digest"].as_str().unwrap().starts_with("sha256:"),
        "{edge}"
    );
    let hooks: Vec<(&str, &str)> = report["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["name"].as_str().unwrap(), h["result"].as_str().unwrap()))
        .collect();
    assert!(
        hooks.iter().any(|(name, result)| *name == "default-domain"
            && (*result == "completed" || *result == "unchanged")),
        "the serverless default-domain hook must have run: {hooks:?}"
    );

    // The SOPS-encrypted Secrets are in the cluster decrypted.
    support::example_repo::assert_encrypted_secret_applied_decrypted();

    // The GPU training Job completed on the GPU node.
    let jobs: Api<Job> = Api::namespaced(client.clone(), "training");
    let job = jobs.get("resnet-finetune").await.unwrap();
    let complete = job
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| {
            c.iter()
                .any(|c| c.type_ == "Complete" && c.status == "True")
        });
    assert!(complete, "the GPU Job must be Complete: {:?}", job.status);
    let training_pods = pods(&client, "training", "job-name=resnet-finetune").await;
    assert!(!training_pods.is_empty(), "the GPU Job has no pods");
    for (pod, node) in &training_pods {
        assert_eq!(node, "gpu-1", "training pod {pod} must run on the GPU node");
    }

    // The model API runs only on the deployment pool.
    let pools = node_pools(&client).await;
    // The Deployment leaves `replicas` to its autoscaler, which brings it to
    // minReplicas (2) on its first pass (every 15 s).
    let api_pods = support::eventually("2 model API pods", support::TIMEOUT, || async {
        let found = pods(&client, "model-apis", "").await;
        (found.len() >= 2).then_some(found)
    })
    .await;
    for (pod, node) in &api_pods {
        assert_eq!(
            pools.get(node).map(String::as_str),
            Some("deployment"),
            "model API pod {pod} runs on {node}, not on the deployment pool"
        );
    }

    // --- A second sync is a no-op: nothing written, no hook run.
    let versions = resource_versions(&client).await;
    let report = sync_json(&repo_dir, &["--prune"]);
    assert_eq!(report["status"], "synced", "{report:#}");
    for wave in report["waves"].as_array().unwrap() {
        assert_eq!(
            wave["applied"], 0,
            "second sync applied something: {wave:#}"
        );
    }
    for hook in report["hooks"].as_array().unwrap() {
        assert_eq!(hook["result"], "unchanged", "a hook ran again: {hook:#}");
    }
    assert_eq!(report["prune"]["pruned"], json!([]));
    assert_eq!(
        report["requests"]["writes"], 0,
        "second sync made mutating requests: {:#}",
        report["requests"]
    );
    assert_eq!(
        resource_versions(&client).await,
        versions,
        "resourceVersions moved on a no-op sync"
    );

    // Against the live cluster, the synced repo shows no difference: no
    // noise from defaults, other managers (the autoscaler) or status.
    let out = weir(&repo_dir, &["diff", ".", "--cluster"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "diff --cluster after a sync:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );

    // --- A commit bumping one image: exactly that in the diff, then applied.
    let workload = repo_dir.join("mlops/workloads/model-api.yaml");
    let text = std::fs::read_to_string(&workload).unwrap();
    let bumped = text.replace(
        &format!("image: {MODEL_API_IMAGE}:1.4.2"),
        &format!("image: {MODEL_API_IMAGE}:1.5.0"),
    );
    assert_ne!(text, bumped, "the model API image line moved");
    std::fs::write(&workload, bumped).unwrap();
    commit(&git, "bump-model-api");

    let out = weir(
        &repo_dir,
        &[
            "diff",
            ".",
            "--base",
            "initial",
            "--head",
            "bump-model-api",
            "--output",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let diff: Value = serde_json::from_slice(&out.stdout).unwrap();
    let summary = &diff["summary"];
    assert_eq!(
        (&summary["added"], &summary["changed"], &summary["removed"]),
        (&json!(0), &json!(1), &json!(0)),
        "{summary:#}"
    );
    let objects = diff["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 1, "{diff:#}");
    assert_eq!(
        objects[0]["id"],
        json!({"group": "apps", "version": "v1", "kind": "Deployment",
               "namespace": "model-apis", "name": "churn-model-api"})
    );
    let fields = objects[0]["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 1, "{fields:#?}");
    assert_eq!(
        fields[0]["path"],
        "spec.template.spec.containers[name=churn-model-api].image"
    );
    let text_diff = stdout(&weir(
        &repo_dir,
        &["diff", ".", "--base", "initial", "--head", "bump-model-api"],
    ));
    assert!(
        text_diff.contains(&format!("{MODEL_API_IMAGE}:1.4.2"))
            && text_diff.contains(&format!("{MODEL_API_IMAGE}:1.5.0")),
        "{text_diff}"
    );

    // The same one field against the live cluster.
    let out = weir(&repo_dir, &["diff", ".", "--cluster", "--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let live_diff: Value = serde_json::from_slice(&out.stdout).unwrap();
    let objects = live_diff["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 1, "{live_diff:#}");
    // The charts the would-be side renders from, as resolved.
    let listed = live_diff["charts"].as_array().unwrap();
    assert!(
        listed
            .iter()
            .any(|c| c["component"] == "edge-operator" && c["head"]["digest"] == edge["digest"]),
        "{listed:#?}"
    );
    assert_eq!(objects[0]["id"]["name"], "churn-model-api");
    assert_eq!(
        strings(&objects[0]["fields"], "/path"),
        ["spec.template.spec.containers[name=churn-model-api].image"]
    );

    let report = sync_json(&repo_dir, &["--prune"]);
    let changed: Vec<&Value> = report["waves"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["changed"].as_array().unwrap())
        .collect();
    assert_eq!(changed.len(), 1, "{report:#}");
    assert_eq!(changed[0]["action"], "configured");
    assert!(
        changed[0]["object"]
            .as_str()
            .unwrap()
            .contains("model-apis/churn-model-api"),
        "{changed:?}"
    );
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), "model-apis");
    let live = deployments.get("churn-model-api").await.unwrap();
    let image = live
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.containers.into_iter().next())
        .and_then(|c| c.image);
    assert_eq!(image.as_deref(), Some(&*format!("{MODEL_API_IMAGE}:1.5.0")));

    // --- A commit removing the ML lineage platform: pruned, except what
    // holds data.
    std::fs::remove_dir_all(repo_dir.join("ml-lineage")).unwrap();
    commit(&git, "remove-ml-lineage");
    let report = sync_json(&repo_dir, &["--prune"]);
    assert_eq!(report["status"], "synced", "{report:#}");
    let pruned = strings(&report["prune"]["pruned"], "");
    for gone in [
        "knitfab/database-postgres",
        "knitfab/image-registry-registry",
        "knitfab/knitd",
    ] {
        assert!(
            pruned.iter().any(|p| p.contains(gone)),
            "{gone} must be pruned: {pruned:?}"
        );
    }
    let kept = strings(&report["prune"]["kept"], "/object");
    for stays in [
        "knitfab/database-data",
        "knitfab/image-registry-data",
        "Namespace",
    ] {
        assert!(
            kept.iter().any(|k| k.contains(stays)),
            "{stays} must be kept: {kept:?}"
        );
    }
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "knitfab");
    for claim in ["database-data", "image-registry-data"] {
        let pvc = claims.get(claim).await.unwrap();
        assert!(
            pvc.metadata.deletion_timestamp.is_none(),
            "protected claim {claim} is being deleted"
        );
    }
    let namespace = Api::<Namespace>::all(client.clone())
        .get("knitfab")
        .await
        .unwrap();
    assert!(namespace.metadata.deletion_timestamp.is_none());
    let app_deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), "knitfab");
    for gone in ["database-postgres", "image-registry-registry"] {
        assert!(
            app_deployments.get_opt(gone).await.unwrap().is_none(),
            "{gone} still exists after the prune"
        );
    }

    // --- No Secret value in anything weir printed.
    let transcript = TRANSCRIPT.lock().unwrap();
    assert!(
        transcript.len() > 1000,
        "the transcript is too short to mean anything"
    );
    for password in [
        &charts.museum.credentials().password,
        &charts.registry.credentials().password,
    ] {
        assert!(
            !transcript.contains(password.as_str()),
            "a chart repository password in weir's output"
        );
    }
    for value in SECRET_VALUES {
        let b64 = base64::engine::general_purpose::STANDARD.encode(value);
        assert!(!transcript.contains(value), "`{value}` in weir's output");
        assert!(
            !transcript.contains(&b64),
            "base64 of `{value}` in weir's output"
        );
    }
}

// ------------------------------------------------------------------ helpers

/// The chart credentials and cache of the test's chart servers.
static CHART_ENV: std::sync::OnceLock<Vec<(&'static str, PathBuf)>> = std::sync::OnceLock::new();

/// Runs the real `weir` in the repo (with the test cluster's kubeconfig in
/// `KUBECONFIG`, which only `sync` reads).
fn weir(repo: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .current_dir(repo)
        .args(args)
        .env("KUBECONFIG", support::kubeconfig_path())
        .env("WEIR_HELM", support::helm())
        // example-repo's SOPS-encrypted Secrets: the demo key.
        .env("SOPS_AGE_KEY_FILE", support::example_repo::demo_age_key())
        .env("NO_COLOR", "1")
        .envs(CHART_ENV.get().into_iter().flatten().cloned())
        .output()
        .unwrap();
    let mut transcript = TRANSCRIPT.lock().unwrap();
    transcript.push_str(&stdout(&out));
    transcript.push_str(&stderr(&out));
    out
}

/// Everything every `weir` run of the test printed.
static TRANSCRIPT: Mutex<String> = Mutex::new(String::new());

/// Secret values the repo renders (ml-lineage's database password) and the
/// test creates (the license): never in weir's output, plain or base64.
const SECRET_VALUES: [&str; 2] = [support::example_repo::ENCRYPTED_PASSWORD, LICENSE];

/// `weir sync . --output json ARGS`, which must succeed; its report.
fn sync_json(repo: &Path, args: &[&str]) -> Value {
    let mut all = vec!["sync", ".", "--output", "json"];
    all.extend_from_slice(args);
    let out = weir(repo, &all);
    assert_eq!(
        out.status.code(),
        Some(0),
        "weir sync failed:\n{}\n{}",
        stderr(&out),
        stdout(&out)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("sync report is not JSON ({e}):\n{}", stdout(&out)))
}

/// The string at `pointer` in each element of a JSON array.
fn strings<'a>(array: &'a Value, pointer: &str) -> Vec<&'a str> {
    array
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.pointer(pointer).and_then(Value::as_str).unwrap())
        .collect()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The inventory ConfigMap's resourceVersion, `None` when there is none.
async fn inventory_version(client: &Client) -> Option<String> {
    Api::<ConfigMap>::namespaced(client.clone(), "weir-system")
        .get_opt(INVENTORY)
        .await
        .unwrap()
        .and_then(|cm| cm.metadata.resource_version)
}

/// `(pod, node)` of the pods in a namespace matching a label selector.
async fn pods(client: &Client, namespace: &str, selector: &str) -> Vec<(String, String)> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let params = if selector.is_empty() {
        ListParams::default()
    } else {
        ListParams::default().labels(selector)
    };
    api.list(&params)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| {
            let node = p.spec.and_then(|s| s.node_name).unwrap_or_default();
            (p.metadata.name.unwrap_or_default(), node)
        })
        .collect()
}

/// Node name → its `pool` label (`accelerator=gpu` nodes are `gpu`).
async fn node_pools(client: &Client) -> BTreeMap<String, String> {
    Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|n| {
            let labels = n.metadata.labels.unwrap_or_default();
            let pool = labels
                .get("pool")
                .cloned()
                .or_else(|| labels.get("accelerator").cloned())
                .unwrap_or_default();
            (n.metadata.name.unwrap_or_default(), pool)
        })
        .collect()
}

/// The resourceVersion (a Deployment's generation) of every ConfigMap,
/// Deployment and Namespace weir manages, keyed by kind/namespace/name.
async fn resource_versions(client: &Client) -> BTreeMap<String, String> {
    let mut versions = BTreeMap::new();
    let managed = ListParams::default().labels("app.kubernetes.io/managed-by=weir");
    let cms: Api<ConfigMap> = Api::all(client.clone());
    for cm in cms.list(&managed).await.unwrap().items {
        versions.insert(key("ConfigMap", &cm.metadata), version(&cm.metadata));
    }
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> = Api::all(client.clone());
    for d in deployments.list(&managed).await.unwrap().items {
        // Only the spec side: a Deployment's status moves with its pods.
        versions.insert(
            key("Deployment", &d.metadata),
            d.metadata.generation.unwrap_or_default().to_string(),
        );
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for ns in namespaces.list(&managed).await.unwrap().items {
        versions.insert(key("Namespace", &ns.metadata), version(&ns.metadata));
    }
    // Objects of other tests (their own `t-` namespaces) may come and go.
    versions.retain(|k, _| !k.contains("/t-"));
    assert!(versions.len() > 50, "too few managed objects: {versions:?}");
    versions
}

fn key(kind: &str, meta: &kube::core::ObjectMeta) -> String {
    format!(
        "{kind}/{}/{}",
        meta.namespace.as_deref().unwrap_or(""),
        meta.name.as_deref().unwrap_or("")
    )
}

fn version(meta: &kube::core::ObjectMeta) -> String {
    meta.resource_version.clone().unwrap_or_default()
}
