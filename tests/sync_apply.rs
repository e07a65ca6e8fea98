//! `weir sync` applies wave by wave, each healthy before the next; a CRD
//! and its resources in one wave work; a second sync with no changes makes
//! no mutating request; conflicts with other field managers are reported
//! and only overridden with `--force-conflicts`; `--dry-run` changes
//! nothing. Against the real control plane (`cargo xtask test`).

mod support;
mod sync_helpers;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::json;
use sync_helpers::*;
use weir::sync::apply::Action;
use weir::sync::{Event, Options};

#[tokio::test]
async fn waves_apply_in_order_each_healthy_before_the_next() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "waves").await;
    let target = support::unique_name("waves");
    let plan = plan(
        &target,
        vec![
            vec![deployment(&ns.name, "db", 2)],
            vec![
                deployment(&ns.name, "api", 1),
                config_map(&ns.name, "api-config", json!({"k": "v"})),
            ],
            vec![config_map(&ns.name, "done", json!({}))],
        ],
    );
    let (result, events) = run(&cluster, &plan, options()).await;
    let report = result.unwrap_or_else(|f| panic!("{}", f.error));

    // Every object of wave n+1 is applied after wave n is done (healthy).
    let position = |pred: &dyn Fn(&Event) -> bool| events.iter().position(pred).unwrap();
    for w in 0..2u32 {
        let done = position(&|e| matches!(e, Event::WaveDone { index, .. } if *index == w));
        let next_applied =
            position(&|e| matches!(e, Event::Applied { wave, .. } if *wave == w + 1));
        assert!(
            done < next_applied,
            "wave {w} done at {done}, wave {} applied at {next_applied}",
            w + 1
        );
    }
    // The gate waited for the Deployment's replicas.
    let db = get(&cluster, &deployment(&ns.name, "db", 2)).await.unwrap();
    assert_eq!(db["status"]["availableReplicas"], 2);
    assert_eq!(report.waves.len(), 3);
    assert_eq!(report.waves[1].created, 2);

    // The inventory records all of it, with the revision.
    let inv = inventory(&cluster, &target)
        .await
        .expect("inventory written");
    assert_eq!(inv.entries.len(), 4);
    assert_eq!(inv.revision.as_deref(), Some("test"));
    forget_target(&cluster, &target).await;
}

#[tokio::test]
async fn crd_and_its_resources_in_one_wave() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "crd").await;
    let target = support::unique_name("crd");
    let group = unique_group();
    let crd = crd(
        &group,
        "Gadget",
        json!({"type": "object", "properties": {"size": {"type": "integer"}}}),
    );
    let cr = json!({"apiVersion": format!("{group}/v1"), "kind": "Gadget",
        "metadata": {"name": "g1", "namespace": ns.name}, "spec": {"size": 3}});
    let plan = plan(&target, vec![vec![cr.clone(), crd.clone()]]);
    sync_ok(&cluster, &plan, options()).await;
    let live = get(&cluster, &cr).await.expect("custom resource created");
    assert_eq!(live["spec"]["size"], 3);
    cluster
        .delete(
            &obj_ref(&crd),
            kube::api::PropagationPolicy::Background,
            false,
        )
        .await
        .unwrap();
    forget_target(&cluster, &target).await;
}

#[tokio::test]
async fn second_sync_without_changes_makes_no_mutating_request() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "idem").await;
    let target = support::unique_name("idem");
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "s", "namespace": ns.name}, "stringData": {"password": "hunter2"}});
    let objects = vec![
        config_map(&ns.name, "a", json!({"k": "v"})),
        deployment(&ns.name, "web", 2),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns.name},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web", "namespace": ns.name}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "web", "namespace": ns.name},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}),
        secret,
    ];
    let plan = plan(&target, vec![objects.clone()]);
    sync_ok(&cluster, &plan, options()).await;
    let mut before = Vec::new();
    for o in &objects {
        before.push(resource_version(&cluster, o).await);
    }

    // A fresh Cluster: nothing cached from the first sync.
    let cluster = weir::sync::Cluster::new(client.clone());
    let report = sync_ok(&cluster, &plan, options()).await;
    assert_eq!(report.requests.writes, 0, "{:?}", report.requests);
    assert_eq!(report.waves[0].unchanged, objects.len());
    for (o, rv) in objects.iter().zip(&before) {
        assert_eq!(
            &resource_version(&cluster, o).await,
            rv,
            "{} moved",
            obj_ref(o)
        );
    }
    forget_target(&cluster, &target).await;
}

#[tokio::test]
async fn conflicts_are_reported_then_forced() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "conflict").await;
    let target = support::unique_name("conflict");
    // Someone else owns .data.key.
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns.name,
        &kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
    );
    api.patch(
        "shared",
        &PatchParams::apply("other-tool"),
        &Patch::Apply(config_map(&ns.name, "shared", json!({"key": "theirs"}))),
    )
    .await
    .unwrap();

    let desired = config_map(&ns.name, "shared", json!({"key": "ours"}));
    let plan = plan(&target, vec![vec![desired.clone()]]);
    let (result, _) = run(&cluster, &plan, options()).await;
    let failed = result.expect_err("conflict must stop the sync");
    let message = failed.error.to_string();
    assert!(message.contains("\"other-tool\""), "{message}");
    assert!(message.contains(".data.key"), "{message}");
    assert!(message.contains("--force-conflicts"), "{message}");
    assert_eq!(failed.report.error.as_ref().unwrap().kind, "conflict");
    assert_eq!(
        get(&cluster, &desired).await.unwrap()["data"]["key"],
        "theirs"
    );

    let forced = Options {
        force_conflicts: true,
        ..options()
    };
    let report = sync_ok(&cluster, &plan, forced).await;
    assert_eq!(report.waves[0].changed[0].action, Action::Configured);
    assert_eq!(
        get(&cluster, &desired).await.unwrap()["data"]["key"],
        "ours"
    );
    forget_target(&cluster, &target).await;
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "dry").await;
    let target = support::unique_name("dry");
    let cm = config_map(&ns.name, "a", json!({"k": "v"}));
    let plan = plan(
        &target,
        vec![vec![cm.clone(), deployment(&ns.name, "web", 1)]],
    );
    let dry = Options {
        dry_run: true,
        ..options()
    };
    let report = sync_ok(&cluster, &plan, dry).await;
    assert!(report.dry_run);
    assert_eq!(report.waves[0].created, 2);
    assert!(
        get(&cluster, &cm).await.is_none(),
        "dry run created an object"
    );
    assert!(
        inventory(&cluster, &target).await.is_none(),
        "dry run wrote the inventory"
    );
    assert_eq!(report.requests.writes, 0);
}

/// An error the object itself causes is not retried: a field the API
/// schema does not declare makes server-side apply answer HTTP 500 ("failed
/// to create typed patch object"), and the engine (given a plan that skips
/// validation, as only tests can build) fails at once, naming the object
/// and the field. With retries it could not finish: its first retry alone
/// would wait at least 15 s of the 30 s backoff set here.
#[tokio::test]
async fn an_error_the_object_causes_fails_at_once() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "typed").await;
    let target = support::unique_name("typed");
    let cluster = cluster.with_backoff(weir::sync::retry::Backoff {
        initial: std::time::Duration::from_secs(30),
        max_delay: std::time::Duration::from_secs(30),
        max_attempts: 16,
    });
    let mut web = deployment(&ns.name, "web", 1);
    web["spec"]["replicaz"] = json!(2);
    let plan = plan(&target, vec![vec![web]]);
    let (result, _) = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        run(&cluster, &plan, options()),
    )
    .await
    .expect("the sync was retrying an error that retrying cannot fix");
    let Err(failed) = result else {
        panic!("the sync succeeded with a field the API does not declare")
    };
    let error = failed.error.to_string();
    assert!(
        error.contains(&format!("Deployment {}/web", ns.name)),
        "{error}"
    );
    assert!(error.contains(".spec.replicaz"), "{error}");
    forget_target(&cluster, &target).await;
}
