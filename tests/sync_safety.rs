//! What a sync must never do: apply anything when a preflight requirement
//! is missing; prune data (PVCs, Namespaces) without an opt-in, or a large
//! share of what it manages without `--allow-mass-prune`, or out of reverse
//! wave order, or report a prune done while a finalizer holds the object;
//! upgrade a CRD so that existing resources become invalid. Against the
//! real control plane (`cargo xtask test`).

mod support;
mod sync_helpers;

use serde_json::json;
use sync_helpers::*;
use weir::spec::model::{ComponentPrune, Preflight, PrunePolicy, RequiredSecret, Selector};
use weir::sync::Options;

#[tokio::test]
async fn missing_preflight_secret_stops_before_anything_is_applied() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "preflight").await;
    let target = support::unique_name("preflight");
    let cm = config_map(&ns.name, "app", json!({}));
    let mut plan = plan(&target, vec![vec![cm.clone()]]);
    plan.waves[0].units[0].namespace = Some(ns.name.clone());
    plan.waves[0].units[0].preflight = Preflight {
        secrets: vec![RequiredSecret {
            name: "license".into(),
            namespace: None,
            keys: vec!["license".into()],
            secret_type: None,
            description: Some("the vendor's license file".into()),
        }],
        crds: vec!["nothings.weir.test".into()],
        min_kubernetes_version: Some("1.20".into()),
    };
    let (result, _) = run(&cluster, &plan, options()).await;
    let failed = result.expect_err("preflight must fail");
    let message = failed.error.to_string();
    assert!(
        message.contains(&format!(
            "kubectl -n {} create secret generic license --from-file=license=./license",
            ns.name
        )),
        "{message}"
    );
    assert!(
        message.contains("nothings.weir.test must be installed"),
        "{message}"
    );
    assert!(
        !message.contains("Kubernetes 1.20"),
        "the version requirement is met: {message}"
    );
    assert_eq!(failed.report.error.as_ref().unwrap().kind, "preflight");
    assert!(get(&cluster, &cm).await.is_none(), "something was applied");
    assert!(inventory(&cluster, &target).await.is_none());

    // A Secret with the wrong keys: named by key, values never shown.
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "license", "namespace": ns.name},
        "stringData": {"other": "top-secret-value"}});
    let (_, other) = connect().await;
    sync_ok(&other, &plan_of_secret(&secret), options()).await;
    plan.waves[0].units[0].preflight.crds.clear();
    let (result, _) = run(&cluster, &plan, options()).await;
    let message = result.expect_err("key is missing").error.to_string();
    assert!(
        message.contains("lacks key license (it has: other)"),
        "{message}"
    );
    assert!(!message.contains("top-secret-value"));
    assert!(
        !message.contains("dG9wLXNlY3JldC12YWx1ZQ"),
        "base64 of the value leaked"
    );
    forget_target(&cluster, &format!("{target}-secret")).await;

    fn plan_of_secret(secret: &serde_json::Value) -> weir::sync::SyncPlan {
        let ns = secret["metadata"]["namespace"].as_str().unwrap();
        let target = format!("{}-secret", ns);
        sync_helpers::plan(&target, vec![vec![secret.clone()]])
    }
}

/// A component that needs a newer Kubernetes than the cluster runs stops
/// the sync before anything is applied, naming both versions.
#[tokio::test]
async fn too_old_kubernetes_stops_before_anything_is_applied() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "minversion").await;
    let target = support::unique_name("minversion");
    let cm = config_map(&ns.name, "app", json!({}));
    let mut plan = plan(&target, vec![vec![cm.clone()]]);
    plan.waves[0].units[0].namespace = Some(ns.name.clone());
    plan.waves[0].units[0].preflight = Preflight {
        min_kubernetes_version: Some("1.99".into()),
        ..Preflight::default()
    };
    let (result, _) = run(&cluster, &plan, options()).await;
    let failed = result.expect_err("the cluster is older than 1.99");
    let message = failed.error.to_string();
    assert_eq!(failed.report.error.as_ref().unwrap().kind, "preflight");
    let server = cluster.server_version().await.unwrap().git_version;
    assert!(message.contains("1.99"), "{message}");
    assert!(
        message.contains(&server),
        "names the cluster's {server}: {message}"
    );
    assert!(get(&cluster, &cm).await.is_none(), "something was applied");
    assert!(inventory(&cluster, &target).await.is_none());
}

#[tokio::test]
async fn prune_keeps_data_and_protected_objects() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "prune").await;
    let target = support::unique_name("prune");
    let extra_ns = support::unique_name("t-prune-ns");
    let keep = config_map(&ns.name, "keep", json!({}));
    let old = config_map(&ns.name, "old", json!({}));
    let protected = config_map(&ns.name, "protected", json!({}));
    let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": ns.name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                 "storageClassName": "weir-test-none"}});
    let mut fillers: Vec<_> = (0..8)
        .map(|i| config_map(&ns.name, &format!("filler-{i}"), json!({})))
        .collect();
    let mut first = vec![
        keep.clone(),
        old.clone(),
        protected.clone(),
        pvc.clone(),
        namespace(&extra_ns),
    ];
    first.append(&mut fillers.clone());
    let mut p = plan(&target, vec![first]);
    // The PVC never binds (no such StorageClass): do not wait for it.
    p.waves[0].units[0].health.ignore = vec![Selector {
        kind: Some("PersistentVolumeClaim".into()),
        ..Default::default()
    }];
    sync_ok(&cluster, &p, options()).await;

    // Second revision: only `keep` and the fillers remain.
    let mut second = vec![keep.clone()];
    second.append(&mut fillers);
    let mut p2 = plan(&target, vec![second]);
    p2.waves[0].units[0].prune = ComponentPrune {
        protect: vec![Selector {
            name: Some("protected".into()),
            ..Default::default()
        }],
        allow: vec![],
    };

    // Without --prune nothing is deleted, but the report says what would be.
    let report = sync_ok(&cluster, &p2, options()).await;
    assert_eq!(report.prune.pending.len(), 4, "{:?}", report.prune);
    assert!(get(&cluster, &old).await.is_some());

    let prune = Options {
        prune: true,
        ..options()
    };
    let report = sync_ok(&cluster, &p2, prune.clone()).await;
    assert_eq!(
        report.prune.pruned,
        vec![format!("ConfigMap {}/old", ns.name)]
    );
    assert!(get(&cluster, &old).await.is_none(), "old was not pruned");
    for kept in [&protected, &pvc, &namespace(&extra_ns)] {
        assert!(
            get(&cluster, kept).await.is_some(),
            "{} was pruned",
            obj_ref(kept)
        );
    }
    let reasons: Vec<&str> = report
        .prune
        .kept
        .iter()
        .map(|k| k.reason.as_str())
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("protected")));
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("PersistentVolumeClaim is only pruned with an opt-in"))
    );

    // Opt in for the PVC: now it goes.
    p2.waves[0].units[0].prune.allow = vec![Selector {
        kind: Some("PersistentVolumeClaim".into()),
        ..Default::default()
    }];
    let report = sync_ok(&cluster, &p2, prune).await;
    assert_eq!(report.prune.pruned.len(), 1, "{:?}", report.prune);
    support::eventually("the PVC to be gone", support::TIMEOUT, || async {
        get(&cluster, &pvc).await.is_none().then_some(())
    })
    .await;
    let _ = cluster
        .delete(
            &obj_ref(&namespace(&extra_ns)),
            kube::api::PropagationPolicy::Background,
            false,
        )
        .await;
    forget_target(&cluster, &target).await;
}

/// Pruning goes in reverse wave order and waits until each wave's objects
/// are gone; one held by a finalizer stops the sync when the timeout runs
/// out, naming the finalizer. Once it is released, the next sync converges.
#[tokio::test]
async fn prune_goes_in_reverse_wave_order_and_names_a_blocking_finalizer() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "finalizer").await;
    let target = support::unique_name("finalizer");
    let mut held = config_map(&ns.name, "held", json!({}));
    held["metadata"]["finalizers"] = json!(["weir.dev/test-hold"]);
    let later = config_map(&ns.name, "later", json!({}));
    let stay = |n: &str| config_map(&ns.name, n, json!({}));
    let first = plan(
        &target,
        vec![
            vec![stay("stay0"), held.clone()],
            vec![stay("stay1"), later.clone()],
        ],
    );
    sync_ok(&cluster, &first, options()).await;

    let second = plan(&target, vec![vec![stay("stay0")], vec![stay("stay1")]]);
    let prune = Options {
        prune: true,
        allow_mass_prune: true,
        timeout: std::time::Duration::from_secs(5),
        ..options()
    };
    let (result, events) = run(&cluster, &second, prune.clone()).await;
    let failed = result.expect_err("the finalizer holds `held`");
    let message = failed.error.to_string();
    assert_eq!(failed.report.error.as_ref().unwrap().kind, "prune");
    assert!(
        message.contains(&format!(
            "ConfigMap {}/held waits for finalizers weir.dev/test-hold",
            ns.name
        )),
        "{message}"
    );
    // Wave 1's object went first, and is gone.
    let pruned: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            weir::sync::Event::Pruned { object } => Some(object.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(pruned, vec![format!("ConfigMap {}/later", ns.name)]);
    assert!(get(&cluster, &later).await.is_none());

    // Released, the next sync converges.
    support::kubectl_ok(&[
        "-n",
        &ns.name,
        "patch",
        "configmap",
        "held",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    sync_ok(&cluster, &second, prune).await;
    assert!(get(&cluster, &held).await.is_none());
    let entries = inventory(&cluster, &target).await.unwrap().entries;
    assert_eq!(entries.len(), 2, "{entries:?}");
    forget_target(&cluster, &target).await;
}

#[tokio::test]
async fn mass_prune_stops_and_asks() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "mass").await;
    let target = support::unique_name("mass");
    let objects: Vec<_> = (0..6)
        .map(|i| config_map(&ns.name, &format!("cm-{i}"), json!({})))
        .collect();
    sync_ok(&cluster, &plan(&target, vec![objects.clone()]), options()).await;

    // The repo came out empty (a wrong path?): 6 of 6 would go.
    let mut empty = plan(&target, vec![vec![]]);
    empty.prune = weir::sync::prune::Limits::of(
        &weir::sync::prune::Floor::default(),
        &PrunePolicy {
            max_fraction: None,
            max_objects: Some(50),
        },
    )
    .0;
    let prune = Options {
        prune: true,
        ..options()
    };
    let (result, _) = run(&cluster, &empty, prune.clone()).await;
    let failed = result.expect_err("mass prune must stop");
    let message = failed.error.to_string();
    assert!(message.contains("refusing to prune 6 of 6"), "{message}");
    assert!(message.contains("--allow-mass-prune"), "{message}");
    assert_eq!(failed.report.error.as_ref().unwrap().kind, "massPrune");
    for o in &objects {
        assert!(
            get(&cluster, o).await.is_some(),
            "{} was pruned",
            obj_ref(o)
        );
    }
    let allowed = Options {
        allow_mass_prune: true,
        ..prune
    };
    let report = sync_ok(&cluster, &empty, allowed).await;
    assert_eq!(report.prune.pruned.len(), 6);
    assert_eq!(inventory(&cluster, &target).await.unwrap().entries.len(), 0);
    forget_target(&cluster, &target).await;
}

#[tokio::test]
async fn crd_upgrade_that_invalidates_resources_stops() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "crdup").await;
    let target = support::unique_name("crdup");
    let group = unique_group();
    let crd = |size_type: &str, required: bool| {
        let mut spec = json!({"type": "object", "properties": {
            "size": {"type": size_type}, "mode": {"type": "string", "enum": ["a", "b"]}}});
        if required {
            spec["required"] = json!(["owner"]);
            spec["properties"]["owner"] = json!({"type": "string"});
        }
        crd(&group, "Widget", spec)
    };
    let cr = json!({"apiVersion": format!("{group}/v1"), "kind": "Widget",
        "metadata": {"name": "w1", "namespace": ns.name}, "spec": {"size": 3, "mode": "b"}});
    sync_ok(
        &cluster,
        &plan(&target, vec![vec![crd("integer", false)], vec![cr.clone()]]),
        options(),
    )
    .await;

    // The new CRD makes `size` a string and requires `owner`.
    let upgrade = plan(&target, vec![vec![crd("string", true)], vec![cr.clone()]]);
    let (result, _) = run(&cluster, &upgrade, options()).await;
    let failed = result.expect_err("the upgrade must stop");
    let message = failed.error.to_string();
    assert!(
        message.contains(&format!(
            "Widget {}/w1: .spec.size: must be string, is integer",
            ns.name
        )),
        "{message}"
    );
    assert!(message.contains(".spec.owner: is required"), "{message}");
    assert!(message.contains("--force-crd-upgrade"), "{message}");
    let live = get(&cluster, &crd("integer", false)).await.unwrap();
    assert_eq!(
        live["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
            ["size"]["type"],
        "integer",
        "the CRD was changed"
    );

    // A compatible change goes through.
    let mut compatible = crd("integer", false);
    compatible["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["color"] = json!({"type": "string"});
    sync_ok(
        &cluster,
        &plan(&target, vec![vec![compatible], vec![cr.clone()]]),
        options(),
    )
    .await;

    // Forced: applied despite the findings (the resource is rejected by the
    // API server only when written again).
    let forced = Options {
        force_crd_upgrade: true,
        ..options()
    };
    let (result, _) = run(
        &cluster,
        &plan(&target, vec![vec![crd("string", true)]]),
        forced,
    )
    .await;
    assert!(
        result.is_ok(),
        "{:?}",
        result.err().map(|f| f.error.to_string())
    );
    cluster
        .delete(
            &obj_ref(&crd("string", true)),
            kube::api::PropagationPolicy::Background,
            false,
        )
        .await
        .unwrap();
    forget_target(&cluster, &target).await;
}

/// Two writers of one target never interleave: each sync holds the
/// target's Lease. A second writer that may not wait is refused, naming
/// who holds it; one that waits starts only after the first is done.
#[tokio::test]
async fn two_writers_of_a_target_never_interleave() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "lease").await;
    let target = support::unique_name("lease");
    // A Deployment whose pods stay Pending keeps the first sync in its
    // health gate until its timeout.
    let mut slow = deployment(&ns.name, "slow", 1);
    slow["spec"]["template"]["spec"]["nodeSelector"] = json!({"nowhere": "true"});
    let first_plan = plan(&target, vec![vec![slow]]);
    let second_plan = plan(
        &target,
        vec![vec![config_map(&ns.name, "second", json!({}))]],
    );
    let first_options = Options {
        holder: "first writer".into(),
        timeout: std::time::Duration::from_secs(4),
        ..options()
    };
    let first = tokio::spawn({
        let client = client.clone();
        async move {
            let cluster = weir::sync::Cluster::new(client);
            run(&cluster, &first_plan, first_options).await
        }
    });
    // Once the first holds the Lease, a second that may not wait fails.
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"namespace": "weir-system",
            "name": weir::sync::lease::target_lease(&target, "x").name}});
    support::eventually(
        "the first sync holds the lease",
        support::TIMEOUT,
        || async {
            get(&cluster, &lease)
                .await
                .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_owned))
                .filter(|h| h == "first writer")
        },
    )
    .await;
    let (refused, _) = run(
        &cluster,
        &second_plan,
        Options {
            holder: "second writer".into(),
            ..options()
        },
    )
    .await;
    let message = refused.expect_err("the lease is held").error.to_string();
    assert!(message.contains("held by first writer"), "{message}");
    assert!(
        get(&cluster, &config_map(&ns.name, "second", json!({})))
            .await
            .is_none()
    );

    // One that waits runs once the first is over (it fails its gate).
    let (waited, events) = run(
        &cluster,
        &second_plan,
        Options {
            holder: "second writer".into(),
            lease_wait: std::time::Duration::from_secs(60),
            ..options()
        },
    )
    .await;
    assert!(first.await.unwrap().0.is_err(), "the first sync timed out");
    waited.unwrap_or_else(|f| panic!("{}", f.error));
    assert!(
        events.iter().any(|e| matches!(e, weir::sync::Event::WaitingForLease { message } if message.contains("first writer"))),
        "{events:#?}"
    );
    forget_target(&cluster, &target).await;
}

/// What pruning cannot settle is reported and stays in the inventory, so a
/// later sync still knows it: an object someone else is already deleting
/// (a finalizer holds it), and a custom resource whose kind the API server
/// no longer serves (its CRD was deleted by hand). Once the first is gone,
/// the next sync forgets it.
#[tokio::test]
async fn objects_being_deleted_or_of_kinds_no_longer_served_are_reported_and_remembered() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "remember").await;
    let target = support::unique_name("remember");
    let group = unique_group();
    let widgets = crd(&group, "Widget", json!({"type": "object"}));
    let widget = json!({"apiVersion": format!("{group}/v1"), "kind": "Widget",
        "metadata": {"name": "w", "namespace": ns.name}, "spec": {}});
    let mut held = config_map(&ns.name, "held", json!({}));
    held["metadata"]["finalizers"] = json!(["weir.dev/test-hold"]);
    let stay = config_map(&ns.name, "stay", json!({}));
    let first = plan(
        &target,
        vec![
            vec![widgets.clone(), stay.clone(), held.clone()],
            vec![widget.clone()],
        ],
    );
    sync_ok(&cluster, &first, options()).await;

    let kubectl = |args: &[&str]| {
        support::kubectl_ok(args);
    };
    kubectl(&[
        "-n",
        &ns.name,
        "delete",
        "configmap",
        "held",
        "--wait=false",
    ]);
    let crd_name = widgets["metadata"]["name"].as_str().unwrap().to_owned();
    kubectl(&[
        "delete",
        "customresourcedefinition",
        &crd_name,
        "--wait=true",
    ]);

    let second = plan(&target, vec![vec![stay.clone()]]);
    let prune = Options {
        prune: true,
        allow_mass_prune: true,
        ..options()
    };
    let report = sync_ok(&cluster, &second, prune.clone()).await;
    let kept = |name: &str| {
        report
            .prune
            .kept
            .iter()
            .find(|k| k.object.ends_with(name))
            .map(|k| k.reason.clone())
    };
    assert!(
        kept("/held").is_some_and(|r| r.contains("already being deleted")),
        "{:?}",
        report.prune
    );
    assert!(
        kept("/w").is_some_and(|r| r.contains("no longer serves its kind")),
        "{:?}",
        report.prune
    );
    let remembered = |entries: &[weir::sync::inventory::Entry], name: &str| {
        entries.iter().any(|e| e.object.name == name)
    };
    let entries = inventory(&cluster, &target).await.unwrap().entries;
    assert!(
        remembered(&entries, "held") && remembered(&entries, "w"),
        "{entries:?}"
    );
    assert!(
        !remembered(&entries, &crd_name),
        "the CRD is gone: forgotten"
    );

    // Released, it is gone, and the next sync forgets it.
    kubectl(&[
        "-n",
        &ns.name,
        "patch",
        "configmap",
        "held",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    support::eventually("held to be gone", support::TIMEOUT, || async {
        get(&cluster, &held).await.is_none().then_some(())
    })
    .await;
    sync_ok(&cluster, &second, prune).await;
    let entries = inventory(&cluster, &target).await.unwrap().entries;
    assert!(!remembered(&entries, "held"), "{entries:?}");
    assert!(remembered(&entries, "w"), "{entries:?}");
    forget_target(&cluster, &target).await;
}
