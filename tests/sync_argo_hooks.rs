//! An Argo CD-style repository syncs in the order Argo CD documents, and
//! Helm's hooks in a chart run as Helm runs them, against the real API
//! server (`cargo xtask test`).
//!
//! The repo: component `shop` is plain manifests with Argo CD annotations
//! (a `PreSync` ConfigMap and a `PreSync` Job with only `generateName`,
//! objects in sync waves -1, 0 and 2, a `Sync` hook Job in sync wave 1,
//! two `PostSync` Jobs, a `SyncFail` hook, a Helm `test` Pod, and a
//! ConfigMap with `sync-options: Prune=false`); component `web`, in the
//! next wave, is a Helm chart whose `pre-install` hooks are a
//! ServiceAccount and a ConfigMap (weight -5) and a Job (weight 0), with a
//! `post-install` Job.
//!
//! The order is read from the API server, not from weir: before each sync
//! a watch per involved kind on the test's namespace records every ADDED
//! event's `resourceVersion` (`support::creations`). That is the etcd
//! revision of the write that created the object, one counter across all
//! kinds, so sorting by it gives the order in which the server created
//! them. Objects of one sync wave are applied concurrently (as Argo CD
//! does), so the test checks the order between phases, sync waves and
//! hooks, which weir runs one after another.
//!
//! Then: delete policies (`hook-succeeded` deletes, `hook-failed` keeps a
//! hook that succeeded, `before-hook-creation` re-creates), a second sync
//! of the same repo runs no hook and creates nothing, a `Prune=false`
//! object removed from the repo survives `--prune`, and a sync that fails
//! runs the `SyncFail` hook. Jobs complete under kwok as its pod stages
//! allow (a Job's pod is made to succeed), like the hook Jobs of
//! `sync_hooks_health.rs`.

mod support;

use std::path::Path;
use std::time::Duration;

use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;
use support::creations::{Created, Creations};

const KINDS: [(&str, &str, &str, &str); 6] = [
    ("", "v1", "ConfigMap", "configmaps"),
    ("", "v1", "Service", "services"),
    ("", "v1", "ServiceAccount", "serviceaccounts"),
    ("", "v1", "Pod", "pods"),
    ("apps", "v1", "Deployment", "deployments"),
    ("batch", "v1", "Job", "jobs"),
];

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn job(metadata: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n{metadata}spec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: run, image: registry.example/hook:1}}]\n"
    )
}

fn deployment(name: &str, annotations: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  annotations: {{{annotations}}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n        - name: app\n          image: {image}\n          resources: {{requests: {{cpu: 10m, memory: 16Mi}}}}\n"
    )
}

fn config_map(name: &str, annotations: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations: {{{annotations}}}\ndata: {{a: b}}\n"
    )
}

/// The repo, its namespace `ns`.
fn write_repo(root: &Path, ns: &str) {
    write(
        root,
        "weir.yaml",
        &format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Repository\nmetadata: {{name: argo-hooks}}\nspec:\n  defaults: {{namespace: {ns}}}\n"
        ),
    );
    let component = |name: &str, wave: u32| {
        format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: {name}}}\nspec:\n  namespace: {ns}\n  createNamespace: false\n  wave: {wave}\n  source: {{path: {}}}\n",
            if name == "shop" { "manifests" } else { "chart" }
        )
    };
    write(root, "shop/component.yaml", &component("shop", 0));
    let m = |file: &str, text: &str| write(root, &format!("shop/manifests/{file}"), text);
    m(
        "presync-config.yaml",
        &config_map("presync-config", "argocd.argoproj.io/hook: PreSync"),
    );
    m(
        "presync-migrate.yaml",
        &job("  generateName: migrate-\n  annotations: {argocd.argoproj.io/hook: PreSync}\n"),
    );
    m(
        "db-config.yaml",
        &config_map("db-config", "argocd.argoproj.io/sync-wave: \"-1\""),
    );
    m(
        "db.yaml",
        &format!(
            "{}---\napiVersion: v1\nkind: Service\nmetadata: {{name: db}}\nspec:\n  selector: {{app: db}}\n  ports: [{{port: 5432}}]\n",
            deployment("db", "", "registry.example/db:1")
        ),
    );
    m(
        "keep-me.yaml",
        &config_map("keep-me", "argocd.argoproj.io/sync-options: Prune=false"),
    );
    m("drop-me.yaml", &config_map("drop-me", ""));
    m(
        "sync-check.yaml",
        &job(
            "  name: sync-check\n  annotations:\n    argocd.argoproj.io/hook: Sync\n    argocd.argoproj.io/sync-wave: \"1\"\n    argocd.argoproj.io/hook-delete-policy: HookSucceeded\n",
        ),
    );
    m(
        "api.yaml",
        &deployment(
            "api",
            "argocd.argoproj.io/sync-wave: \"2\"",
            "registry.example/api:1",
        ),
    );
    m(
        "smoke.yaml",
        &job(
            "  name: smoke\n  annotations:\n    argocd.argoproj.io/hook: PostSync\n    argocd.argoproj.io/hook-delete-policy: HookSucceeded\n",
        ),
    );
    m(
        "report.yaml",
        &job(
            "  name: report\n  annotations:\n    argocd.argoproj.io/hook: PostSync\n    argocd.argoproj.io/hook-delete-policy: HookFailed\n",
        ),
    );
    m(
        "sync-failed.yaml",
        &config_map("sync-failed", "argocd.argoproj.io/hook: SyncFail"),
    );
    m(
        "smoke-test.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: smoke-test\n  annotations: {helm.sh/hook: test}\nspec:\n  restartPolicy: Never\n  containers: [{name: t, image: registry.example/test:1}]\n",
    );

    write(root, "web/component.yaml", &component("web", 1));
    let t = |file: &str, text: &str| write(root, &format!("web/chart/templates/{file}"), text);
    write(
        root,
        "web/chart/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    );
    write(
        root,
        "web/chart/values.yaml",
        "image: registry.example/web:1\n",
    );
    t(
        "pre-sa.yaml",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: web-pre\n  annotations:\n    helm.sh/hook: pre-install,pre-upgrade\n    helm.sh/hook-weight: \"-5\"\n    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded\n",
    );
    t(
        "pre-config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-pre-config\n  annotations:\n    helm.sh/hook: pre-install,pre-upgrade\n    helm.sh/hook-weight: \"-5\"\ndata: {a: b}\n",
    );
    t(
        "pre-job.yaml",
        &job(
            "  name: web-migrate\n  annotations:\n    helm.sh/hook: pre-install,pre-upgrade\n    helm.sh/hook-delete-policy: hook-succeeded\n",
        ),
    );
    t(
        "deployment.yaml",
        &deployment("web", "", "{{ .Values.image }}"),
    );
    t(
        "post-job.yaml",
        &job(
            "  name: web-post\n  annotations:\n    helm.sh/hook: post-install,post-upgrade\n    helm.sh/hook-delete-policy: hook-failed\n",
        ),
    );
}

fn sync(dir: &Path, target: &str, extra: &[&str]) -> (i32, Value, String) {
    let kubeconfig = support::kubeconfig_path();
    let mut args = vec![
        "sync",
        dir.to_str().unwrap(),
        "--target",
        target,
        "--timeout",
        "120s",
        "--output",
        "json",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = support::weir_cli(&args);
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout {stdout}\nstderr {stderr}"));
    (code, report, stderr)
}

/// `(name, phase, result, object)` of the report's hooks, in the order
/// they ran.
fn hooks(report: &Value) -> Vec<(String, String, String, Option<String>)> {
    report["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["name"].as_str().unwrap().to_owned(),
                h["phase"].as_str().unwrap().to_owned(),
                h["result"].as_str().unwrap().to_owned(),
                h["object"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

async fn get(client: &kube::Client, ns: &str, kind: &str, name: &str) -> Option<DynamicObject> {
    let (group, version, _, plural) = KINDS.iter().find(|k| k.2 == kind).unwrap();
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
    api.get_opt(name).await.unwrap()
}

async fn gone(client: &kube::Client, ns: &str, kind: &str, name: &str) {
    support::eventually(
        &format!("{kind} {name} to be deleted"),
        support::TIMEOUT,
        || async {
            match get(client, ns, kind, name).await {
                None => Some(()),
                Some(o) if o.metadata.deletion_timestamp.is_some() => Some(()),
                Some(_) => None,
            }
        },
    )
    .await;
}

/// The creation of `kind` `name` (a prefix for `generateName`), once.
fn one<'a>(created: &'a [Created], kind: &str, name: &str) -> &'a Created {
    let found: Vec<&Created> = created
        .iter()
        .filter(|c| {
            c.kind == kind && (c.name == name || name.ends_with('-') && c.name.starts_with(name))
        })
        .collect();
    assert_eq!(found.len(), 1, "{kind} {name} created once: {created:#?}");
    found[0]
}

/// Every creation of each group comes before every creation of the next.
fn assert_order(created: &[Created], groups: &[&[(&str, &str)]]) {
    let revisions: Vec<Vec<u64>> = groups
        .iter()
        .map(|g| g.iter().map(|(k, n)| one(created, k, n).revision).collect())
        .collect();
    for (i, pair) in revisions.windows(2).enumerate() {
        let last = pair[0].iter().max().unwrap();
        let first = pair[1].iter().min().unwrap();
        assert!(
            last < first,
            "{:?} must all be created before {:?}; creations in order:\n{}",
            groups[i],
            groups[i + 1],
            created
                .iter()
                .map(|c| format!("  {} {} {}", c.revision, c.kind, c.name))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[tokio::test]
async fn argo_cd_repo_syncs_in_argo_cd_order() {
    let client = support::cluster().await;
    let ns = support::namespace(&client, "argo").await;
    let target = support::unique_name("argo");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_repo(root, &ns.name);
    let path = root.to_str().unwrap();

    // validate and plan agree, and plan shows hooks, sync waves,
    // protection and what is not applied.
    let (code, _, stderr) = support::weir_cli(&["validate", path]);
    assert_eq!(code, 0, "{stderr}");
    let (code, plan, stderr) = support::weir_cli(&["plan", path]);
    assert_eq!(code, 0, "{stderr}");
    for line in [
        "sync waves: -1: ConfigMap db-config; 0: ConfigMap drop-me, ConfigMap keep-me, Service db, Deployment db; 2: Deployment api",
        "hook pre-apply: ConfigMap presync-config  (weight 0, delete before-hook-creation; argocd.argoproj.io/hook)",
        "hook pre-apply: Job migrate-… (generateName)  (weight 0, delete before-hook-creation; argocd.argoproj.io/hook)",
        "hook sync: Job sync-check  (sync wave 1, delete hook-succeeded; argocd.argoproj.io/hook)",
        "hook post-apply: Job report  (weight 0, delete hook-failed; argocd.argoproj.io/hook)",
        "hook sync-fail: ConfigMap sync-failed  (weight 0, delete before-hook-creation; argocd.argoproj.io/hook)",
        "not applied (hooks no sync runs): Pod smoke-test (helm.sh/hook: test)",
        "never pruned: ConfigMap keep-me (argocd.argoproj.io/sync-options: Prune=false)",
        "hook pre-apply: ServiceAccount web-pre  (weight -5, delete before-hook-creation, hook-succeeded; helm.sh/hook)",
        "hook post-apply: Job web-post  (weight 0, delete hook-failed; helm.sh/hook)",
    ] {
        assert!(plan.contains(line), "plan lacks `{line}`:\n{plan}");
    }
    let (code, json, stderr) = support::weir_cli(&["plan", path, "--output", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let json: Value = serde_json::from_str(&json).unwrap();
    let web = &json["waves"][1]["units"][0];
    assert_eq!(web["name"], "web");
    let sa = &web["hooks"][0];
    assert_eq!(sa["object"]["kind"], "ServiceAccount", "{web:#}");
    assert_eq!(sa["phase"], "preApply");
    assert_eq!(sa["weight"], -5);
    assert_eq!(sa["source"], "helm");
    assert_eq!(
        sa["deletePolicies"],
        serde_json::json!(["beforeHookCreation", "hookSucceeded"])
    );
    let shop = &json["waves"][0]["units"][0];
    assert_eq!(shop["syncWaves"][0]["wave"], -1, "{shop:#}");
    assert_eq!(shop["protected"][0]["object"]["name"], "keep-me");
    assert_eq!(shop["protected"][0]["by"], "syncOption");
    assert_eq!(shop["droppedHooks"][0]["annotation"], "helm.sh/hook: test");

    // The first sync, watched from the API server; a dry run before it
    // validates every hook with the server (a generateName one by a
    // dry-run POST) and creates nothing.
    let watched = Creations::watch(&client, &ns.name, &KINDS).await;
    let (code, report, stderr) = sync(root, &target, &["--dry-run"]);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    let ran = hooks(&report);
    assert!(ran.iter().all(|h| h.2 == "dryRun"), "{ran:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(watched.in_order(), [], "a dry run creates nothing");
    let (code, report, stderr) = sync(root, &target, &[]);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    watched.wait_for("Job", "web-post", support::TIMEOUT).await;
    let created = watched.in_order();
    assert_order(
        &created,
        &[
            // shop: PreSync hooks by kind (ConfigMap before Job)
            &[("ConfigMap", "presync-config")],
            &[("Job", "migrate-")],
            // sync wave -1, 0, then the Sync hook of wave 1, then wave 2
            &[("ConfigMap", "db-config")],
            &[
                ("ConfigMap", "drop-me"),
                ("ConfigMap", "keep-me"),
                ("Service", "db"),
                ("Deployment", "db"),
            ],
            &[("Job", "sync-check")],
            &[("Deployment", "api")],
            // PostSync hooks by name
            &[("Job", "report")],
            &[("Job", "smoke")],
            // web, the next wave: pre-install by weight, then kind
            &[("ServiceAccount", "web-pre")],
            &[("ConfigMap", "web-pre-config")],
            &[("Job", "web-migrate")],
            &[("Deployment", "web")],
            &[("Job", "web-post")],
        ],
    );
    assert!(
        !created
            .iter()
            .any(|c| c.name == "sync-failed" || c.name == "smoke-test"),
        "no SyncFail hook on success, no test hook: {created:#?}"
    );
    assert!(get(&client, &ns.name, "Pod", "smoke-test").await.is_none());

    // The generated name is reported, and is the Job the server created.
    let migrate = one(&created, "Job", "migrate-").name.clone();
    let ran = hooks(&report);
    let reported = ran
        .iter()
        .find(|h| h.0 == "migrate-")
        .unwrap_or_else(|| panic!("{ran:?}"));
    assert_eq!(reported.2, "completed");
    assert_eq!(
        reported.3.as_deref(),
        Some(format!("Job {}/{migrate}", ns.name).as_str())
    );
    assert!(ran.iter().all(|h| h.2 == "completed"), "{ran:?}");
    let phases: Vec<(&str, &str)> = ran.iter().map(|h| (h.0.as_str(), h.1.as_str())).collect();
    assert_eq!(
        phases,
        [
            ("presync-config", "preApply"),
            ("migrate-", "preApply"),
            ("sync-check", "sync"),
            ("report", "postApply"),
            ("smoke", "postApply"),
            ("web-pre", "preApply"),
            ("web-pre-config", "preApply"),
            ("web-migrate", "preApply"),
            ("web-post", "postApply"),
        ]
    );

    // Delete policies: hook-succeeded deletes (the ServiceAccount only once
    // its whole phase succeeded), hook-failed keeps a hook that succeeded,
    // before-hook-creation (the default) keeps it until the next run.
    for (kind, name) in [
        ("Job", "sync-check"),
        ("Job", "smoke"),
        ("ServiceAccount", "web-pre"),
        ("Job", "web-migrate"),
    ] {
        gone(&client, &ns.name, kind, name).await;
    }
    for (kind, name) in [
        ("Job", "report"),
        ("Job", "web-post"),
        ("ConfigMap", "presync-config"),
        ("ConfigMap", "web-pre-config"),
        ("Job", migrate.as_str()),
    ] {
        assert!(
            get(&client, &ns.name, kind, name).await.is_some(),
            "{kind} {name} is kept"
        );
    }

    // Unchanged: no hook runs, nothing is created.
    let watched = Creations::watch(&client, &ns.name, &KINDS).await;
    let (code, report, stderr) = sync(root, &target, &[]);
    assert_eq!(code, 0, "{stderr}");
    let ran = hooks(&report);
    assert!(ran.iter().all(|h| h.2 == "unchanged"), "{ran:?}");
    assert_eq!(ran.len(), 9, "{ran:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(watched.in_order(), [], "an unchanged sync creates nothing");
    drop(watched);

    // The chart changes: its hooks run again; before-hook-creation makes
    // a new ConfigMap, a hook-failed Job that completed with the same spec
    // is not run again; shop's hooks do not run.
    let old_config = get(&client, &ns.name, "ConfigMap", "web-pre-config")
        .await
        .unwrap();
    write(
        root,
        "web/chart/values.yaml",
        "image: registry.example/web:2\n",
    );
    let watched = Creations::watch(&client, &ns.name, &KINDS).await;
    let (code, report, stderr) = sync(root, &target, &[]);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    let ran = hooks(&report);
    let result = |name: &str| ran.iter().find(|h| h.0 == name).unwrap().2.clone();
    assert_eq!(result("presync-config"), "unchanged", "{ran:?}");
    assert_eq!(result("web-pre"), "completed", "{ran:?}");
    assert_eq!(result("web-pre-config"), "completed", "{ran:?}");
    assert_eq!(result("web-migrate"), "completed", "{ran:?}");
    assert_eq!(result("web-post"), "alreadyComplete", "{ran:?}");
    watched
        .wait_for("Job", "web-migrate", support::TIMEOUT)
        .await;
    let created = watched.in_order();
    assert_order(
        &created,
        &[
            &[("ServiceAccount", "web-pre")],
            &[("ConfigMap", "web-pre-config")],
            &[("Job", "web-migrate")],
        ],
    );
    let new_config = get(&client, &ns.name, "ConfigMap", "web-pre-config")
        .await
        .unwrap();
    assert_ne!(
        old_config.metadata.uid, new_config.metadata.uid,
        "before-hook-creation deletes the old object and creates a new one"
    );
    assert_eq!(
        one(&created, "ConfigMap", "web-pre-config").uid,
        new_config.metadata.uid.clone().unwrap()
    );
    drop(watched);

    // Prune=false: removed from the repo, kept by --prune; the other goes.
    std::fs::remove_file(root.join("shop/manifests/keep-me.yaml")).unwrap();
    std::fs::remove_file(root.join("shop/manifests/drop-me.yaml")).unwrap();
    let (code, report, stderr) = sync(root, &target, &["--prune"]);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    assert_eq!(
        report["prune"]["pruned"],
        serde_json::json!([format!("ConfigMap {}/drop-me", ns.name)]),
        "{report:#}"
    );
    let kept = report["prune"]["kept"].to_string();
    assert!(
        kept.contains("keep-me") && kept.contains("Prune=false"),
        "{kept}"
    );
    gone(&client, &ns.name, "ConfigMap", "drop-me").await;
    assert!(
        get(&client, &ns.name, "ConfigMap", "keep-me")
            .await
            .is_some()
    );

    // A sync that fails runs the SyncFail hook.
    write(
        root,
        "shop/manifests/broken.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: broken}\nspec:\n  selector: {app: db}\n  ports: [{port: 70000}]\n",
    );
    let (code, report, stderr) = sync(root, &target, &[]);
    assert_eq!(code, 2, "{stderr}\n{report:#}");
    assert_eq!(report["status"], "failed");
    let ran = hooks(&report);
    assert!(
        ran.iter()
            .any(|h| h.0 == "sync-failed" && h.1 == "syncFail" && h.2 == "completed"),
        "{ran:?}"
    );
    assert!(
        get(&client, &ns.name, "ConfigMap", "sync-failed")
            .await
            .is_some()
    );

    let _ = support::kubectl_ok(&[
        "-n",
        "weir-system",
        "delete",
        "configmap",
        "--ignore-not-found",
        &weir::sync::inventory::config_map_name(&target),
    ]);
}
