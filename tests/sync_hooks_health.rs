//! Hooks run as Jobs at their point of the sync and are deleted once they
//! succeed; a health gate that times out says which objects are not ready,
//! down to the pod's reason. Against the real control plane
//! (`cargo xtask test`).

mod support;
mod sync_helpers;

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
        name: name.into(),
        phase,
        job: job(&ns.name, name),
        delete_policy: policy,
        timeout: Some(Duration::from_secs(60)),
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
