//! Hooks run as Jobs at their point of the sync and are deleted once they
//! succeed; a hook Job that fails stops the sync with its reason; a health
//! gate that times out says which objects are not ready, down to the pod's
//! reason; a PVC is healthy when Bound or waiting for its first consumer,
//! and one that never binds says why; a custom resource gates on its
//! `Ready` condition at its generation, and a component's extra conditions
//! and timeout apply. Against the real control plane
//! (`cargo xtask test`).

mod support;
mod sync_helpers;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};
use sync_helpers::*;
use weir::spec::model::{HookDeletePolicy, HookPhase};
use weir::sync::hooks::HookResult;
use weir::sync::{Event, HookJob, Options, Report};

fn job(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": ns},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "run", "image": "registry.example/migrate:1"}]}}}})
}

#[tokio::test]
async fn hooks_run_in_order_and_are_deleted_on_success() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "hooks").await;
    let target = support::unique_name("hooks");
    let mut p = plan(
        &target,
        vec![
            vec![config_map(&ns.name, "schema", json!({"v": "1"}))],
            vec![config_map(&ns.name, "app", json!({}))],
        ],
    );
    let hook = |name: &str, phase, policy| HookJob {
        timeout: Some(Duration::from_secs(60)),
        ..HookJob::own(name, phase, job(&ns.name, name), policy)
    };
    p.waves[0].units[0].hooks = vec![
        hook("before", HookPhase::PreApply, HookDeletePolicy::OnSuccess),
        hook("migrate", HookPhase::PostApply, HookDeletePolicy::OnSuccess),
    ];
    p.waves[1].units[0].hooks = vec![hook("smoke", HookPhase::PostSync, HookDeletePolicy::Keep)];
    let (result, events) = run(&cluster, &p, options()).await;
    let report = result.unwrap_or_else(|f| panic!("{}", f.error));

    // Order: before → wave 0 applied → migrate → wave 1 → smoke.
    let at = |pred: &dyn Fn(&Event) -> bool| events.iter().position(pred).unwrap();
    let hook_done = |n: &'static str| move |e: &Event| matches!(e, Event::HookFinished { name, .. } if name == n);
    let before = at(&hook_done("before"));
    let applied0 = at(&|e| matches!(e, Event::Applied { wave: 0, .. }));
    let migrate = at(&hook_done("migrate"));
    let applied1 = at(&|e| matches!(e, Event::Applied { wave: 1, .. }));
    let smoke = at(&hook_done("smoke"));
    assert!(
        before < applied0 && applied0 < migrate && migrate < applied1 && applied1 < smoke,
        "{events:#?}"
    );
    assert!(
        report
            .hooks
            .iter()
            .all(|h| h.result == HookResult::Completed),
        "{:?}",
        report.hooks
    );

    // onSuccess hooks are gone, the kept one stays.
    support::eventually(
        "the onSuccess hook Jobs to be deleted",
        support::TIMEOUT,
        || async {
            (get(&cluster, &job(&ns.name, "migrate")).await.is_none()
                && get(&cluster, &job(&ns.name, "before")).await.is_none())
            .then_some(())
        },
    )
    .await;
    assert!(get(&cluster, &job(&ns.name, "smoke")).await.is_some());

    // Again, unchanged: no hook runs (a one-shot Job is not re-run by a
    // sync that changes nothing), and no Job is created.
    let report = sync_ok(&cluster, &p, options()).await;
    assert_eq!(
        hook_results(&report),
        vec![
            ("before", HookResult::Unchanged),
            ("migrate", HookResult::Unchanged),
            ("smoke", HookResult::Unchanged)
        ]
    );
    assert!(get(&cluster, &job(&ns.name, "migrate")).await.is_none());

    // The first component changes: its hooks run again; the second
    // component's kept hook does not.
    p.waves[0].units[0].objects = vec![config_map(&ns.name, "schema", json!({"v": "2"}))];
    let report = sync_ok(&cluster, &p, options()).await;
    assert_eq!(
        hook_results(&report),
        vec![
            ("before", HookResult::Completed),
            ("migrate", HookResult::Completed),
            ("smoke", HookResult::Unchanged)
        ]
    );
    forget_target(&cluster, &target).await;
}

/// `(hook, result)` in the order the hooks ran.
fn hook_results(report: &Report) -> Vec<(&str, HookResult)> {
    report
        .hooks
        .iter()
        .map(|h| (h.name.as_str(), h.result))
        .collect()
}

#[tokio::test]
async fn health_timeout_names_the_pod_reason() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "unsched").await;
    let target = support::unique_name("unsched");
    let mut d = deployment(&ns.name, "picky", 1);
    d["spec"]["template"]["spec"]["nodeSelector"] = json!({"weir.dev/no-such-label": "true"});
    let p = plan(
        &target,
        vec![vec![d], vec![config_map(&ns.name, "after", json!({}))]],
    );
    let short = Options {
        timeout: Duration::from_secs(5),
        ..options()
    };
    let (result, _) = run(&cluster, &p, short).await;
    let failed = result.expect_err("the gate must time out");
    let message = failed.error.to_string();
    assert!(
        message.contains("1 objects not ready after the timeout"),
        "{message}"
    );
    assert!(
        message.contains(&format!("Deployment {}/picky", ns.name)),
        "{message}"
    );
    assert!(message.contains("Unschedulable: 0/"), "{message}");
    assert!(
        message.contains("didn't match Pod's node affinity/selector"),
        "{message}"
    );
    assert_eq!(failed.report.error.as_ref().unwrap().kind, "health");
    assert!(
        get(&cluster, &config_map(&ns.name, "after", json!({})))
            .await
            .is_none(),
        "the next wave was applied"
    );
    forget_target(&cluster, &target).await;
}

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

/// A hook Job that fails (its pod can never be scheduled, and its
/// `activeDeadlineSeconds` runs out: the Job controller marks it Failed
/// with reason `DeadlineExceeded`) stops the sync: the message gives the
/// Job's reason, the failed Job is kept for inspection, and the next wave
/// is not applied.
#[tokio::test]
async fn failing_hook_stops_the_sync_with_the_jobs_reason() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "hookfail").await;
    let target = support::unique_name("hookfail");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "weir.yaml",
        "apiVersion: weir.dev/v1alpha1\nkind: Repository\nmetadata: {name: hookfail}\nspec:\n  waves: [db, app]\n",
    );
    write(
        root,
        "db/component.yaml",
        &format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: db}}\nspec:\n  \
             namespace: {ns}\n  createNamespace: false\n  wave: db\n  source: {{path: m}}\n  \
             hooks:\n    - {{name: migrate, phase: postApply, path: hooks/migrate.yaml, timeout: 2m}}\n",
            ns = ns.name
        ),
    );
    write(
        root,
        "db/m/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: schema}\ndata: {v: \"1\"}\n",
    );
    write(
        root,
        "db/hooks/migrate.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate}\nspec:\n  backoffLimit: 0\n  \
         activeDeadlineSeconds: 2\n  template:\n    spec:\n      restartPolicy: Never\n      \
         nodeSelector: {weir.dev/no-such-label: \"true\"}\n      \
         containers: [{name: run, image: registry.example/migrate:1}]\n",
    );
    write(
        root,
        "app/component.yaml",
        &format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: app}}\nspec:\n  \
             namespace: {ns}\n  createNamespace: false\n  wave: app\n  source: {{path: m}}\n",
            ns = ns.name
        ),
    );
    write(
        root,
        "app/m/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: later}\n",
    );

    let out = weir_sync(root, &target);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A sync that fails exits 2 (README, DESIGN: 1 is for an invalid repo).
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("hook migrate") && stderr.contains("failed: Job failed (DeadlineExceeded"),
        "the Job's failure reason is in the message:\n{stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["status"], "failed", "{report:#}");
    assert_eq!(report["error"]["kind"], "hook", "{report:#}");
    assert!(
        report["error"]["message"]
            .as_str()
            .unwrap()
            .contains("DeadlineExceeded"),
        "{report:#}"
    );
    assert!(
        get(&cluster, &config_map(&ns.name, "schema", json!({})))
            .await
            .is_some(),
        "the hook's own wave was applied"
    );
    assert!(
        get(&cluster, &config_map(&ns.name, "later", json!({})))
            .await
            .is_none(),
        "the next wave was applied after the hook failed"
    );
    assert!(
        get(&cluster, &job(&ns.name, "migrate")).await.is_some(),
        "a failed hook Job is kept for inspection"
    );
    forget_target(&cluster, &target).await;
}

fn storage_class(name: &str, binding: &str) -> Value {
    json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": name}, "provisioner": "kubernetes.io/no-provisioner",
        "volumeBindingMode": binding})
}

fn pvc(ns: &str, name: &str, class: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": class,
            "resources": {"requests": {"storage": "1Gi"}}}})
}

/// A PVC on a `WaitForFirstConsumer` StorageClass stays Pending until a
/// pod uses it, and counts as healthy; one on an `Immediate` class that
/// never binds (no PersistentVolume, no provisioner) times out, and the
/// message says why: the class's binding mode and the claim's events.
#[tokio::test]
async fn pvc_health_follows_its_storage_class() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "pvc").await;
    let target = support::unique_name("pvc");
    let lazy = support::unique_name("weir-test-wffc");
    let eager = support::unique_name("weir-test-immediate");
    let classes = [
        storage_class(&lazy, "WaitForFirstConsumer"),
        storage_class(&eager, "Immediate"),
    ];

    // Waiting for its first consumer: healthy while Pending.
    let p = plan(
        &target,
        vec![
            vec![classes[0].clone(), pvc(&ns.name, "data", &lazy)],
            vec![config_map(&ns.name, "after", json!({}))],
        ],
    );
    let report = sync_ok(&cluster, &p, options()).await;
    assert_eq!(report.waves.len(), 2);
    let live = get(&cluster, &pvc(&ns.name, "data", &lazy)).await.unwrap();
    assert_eq!(live["status"]["phase"], "Pending", "{live:#}");
    assert!(
        get(&cluster, &config_map(&ns.name, "after", json!({})))
            .await
            .is_some()
    );

    // Immediate binding and nothing to bind to: the gate times out.
    let target2 = support::unique_name("pvc-immediate");
    let p = plan(
        &target2,
        vec![
            vec![classes[1].clone(), pvc(&ns.name, "stuck", &eager)],
            vec![config_map(&ns.name, "never", json!({}))],
        ],
    );
    let short = Options {
        timeout: Duration::from_secs(8),
        ..options()
    };
    let (result, _) = run(&cluster, &p, short).await;
    let failed = result.expect_err("an unbound Immediate claim must not pass the gate");
    let message = failed.error.to_string();
    assert_eq!(failed.report.error.as_ref().unwrap().kind, "health");
    assert!(
        message.contains(&format!("PersistentVolumeClaim {}/stuck", ns.name)),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "claim is Pending (not Bound; StorageClass {eager} binds Immediate)"
        )),
        "{message}"
    );
    assert!(
        message.contains("ProvisioningFailed: "),
        "the claim's events say why: {message}"
    );
    assert!(
        get(&cluster, &config_map(&ns.name, "never", json!({})))
            .await
            .is_none(),
        "the next wave was applied"
    );

    for c in &classes {
        let _ = cluster
            .delete(&obj_ref(c), kube::api::PropagationPolicy::Background, false)
            .await;
    }
    forget_target(&cluster, &target).await;
    forget_target(&cluster, &target2).await;
}

fn widget(group: &str, ns: &str, size: i64) -> Value {
    json!({"apiVersion": format!("{group}/v1"), "kind": "Widget",
        "metadata": {"name": "w", "namespace": ns}, "spec": {"size": size}})
}

/// A custom resource gates its wave on its `Ready` condition at its
/// current generation, which its operator (here, the test) reports; a
/// component's extra condition and its own timeout apply too, and a gate
/// that times out names the condition and its reason.
#[tokio::test]
async fn custom_resource_gates_on_its_conditions() {
    use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
    use weir::spec::model::ExtraCondition;

    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "crhealth").await;
    let target = support::unique_name("crhealth");
    let group = unique_group();
    let widget_crd = || {
        crd(
            &group,
            "Widget",
            json!({"type": "object", "properties": {"size": {"type": "integer"}}}),
        )
    };
    let after = config_map(&ns.name, "after", json!({}));
    let gvk = GroupVersionKind::gvk(&group, "v1", "Widget");
    let widgets: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns.name,
        &ApiResource::from_gvk_with_plural(&gvk, "widgets"),
    );
    // What the operator reports: Ready with its reason, at a generation.
    let report_status = |ready: &'static str, reason: &'static str, generation: i64| {
        let widgets = widgets.clone();
        async move {
            let status = json!({"status": {"conditions": [{"type": "Ready", "status": ready,
                "reason": reason, "observedGeneration": generation,
                "lastTransitionTime": "2026-01-01T00:00:00Z", "message": ""}]}});
            widgets
                .patch_status("w", &PatchParams::default(), &Patch::Merge(&status))
                .await
                .unwrap();
        }
    };

    // First sync: the CRD, then the Widget; no operator has reported yet,
    // so the Widget has no conditions and nothing to wait for.
    let first = plan(
        &target,
        vec![vec![widget_crd()], vec![widget(&group, &ns.name, 1)]],
    );
    sync_ok(&cluster, &first, options()).await;
    report_status("True", "Reconciled", 1).await;

    // The spec changes (generation 2): the wave waits until the operator
    // reports Ready for generation 2, and only then is wave 2 applied.
    let second = plan(
        &target,
        vec![
            vec![widget_crd()],
            vec![widget(&group, &ns.name, 2)],
            vec![after.clone()],
        ],
    );
    let operator = async {
        support::eventually("the Widget at generation 2", support::TIMEOUT, || async {
            let w = widgets.get("w").await.ok()?;
            (w.metadata.generation == Some(2)).then_some(())
        })
        .await;
        report_status("False", "Scaling", 2).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let applied_early = get(&cluster, &after).await.is_some();
        report_status("True", "Reconciled", 2).await;
        applied_early
    };
    let ((result, _), applied_early) = tokio::join!(run(&cluster, &second, options()), operator);
    assert!(
        !applied_early,
        "wave 2 was applied while the Widget was not Ready at its generation"
    );
    if let Err(failed) = result {
        panic!("sync failed: {}", failed.error);
    }
    assert!(get(&cluster, &after).await.is_some(), "wave 2 not applied");

    // A component's own rules: an extra condition no operator reports, and
    // a timeout of 3 s instead of the sync's 60 s.
    let mut third = second.clone();
    third.waves[1].units[0].health.timeout = Some(Duration::from_secs(3));
    third.waves[1].units[0].health.conditions = vec![ExtraCondition {
        kind: "Widget".into(),
        condition_type: "Synced".into(),
        status: None,
    }];
    let started = std::time::Instant::now();
    let (result, _) = run(&cluster, &third, options()).await;
    let failed = result.expect_err("the extra condition never holds");
    let message = failed.error.to_string();
    assert!(
        message.contains("not ready after the timeout")
            && message.contains("Widget")
            && message.contains(&format!("{}/w", ns.name))
            && message.contains("waiting for condition Synced=True"),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "the component's 3 s timeout was not used ({:?})",
        started.elapsed()
    );
    assert_eq!(failed.report.error.as_ref().unwrap().kind, "health");
    forget_target(&cluster, &target).await;
}
