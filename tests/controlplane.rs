//! The local control plane behaves like a real platform cluster: workloads
//! are scheduled by the real scheduler onto kwok nodes and become
//! Running/Ready (Jobs complete), taints and node affinity are honoured,
//! CRDs work, and server-side apply tracks field managers and conflicts.
//! Run through `cargo xtask test`, which starts the cluster.

mod support;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use kube::{Client, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use support::{TIMEOUT, eventually};

fn object<T: DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("test object matches its k8s-openapi type")
}

/// A pod template whose container kwok "runs" (the image is never pulled).
fn pod_template(app: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": app}},
        "spec": {"containers": [{"name": "app", "image": "registry.example/weir-test:1"}]}
    })
}

fn condition_true(conditions: Option<&Vec<Value>>, kind: &str) -> bool {
    conditions
        .into_iter()
        .flatten()
        .any(|c| c["type"] == kind && c["status"] == "True")
}

fn pod_ready(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    status.and_then(|s| s.phase.as_deref()) == Some("Running")
        && status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

async fn node_labels(client: &Client, name: &str) -> BTreeMap<String, String> {
    Api::<Node>::all(client.clone())
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("getting node {name}: {e}"))
        .labels()
        .clone()
}

/// The pods of `app` in `ns`, once `count` of them are Running and Ready.
async fn ready_pods(client: &Client, ns: &str, app: &str, count: usize) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let selector = format!("app={app}");
    eventually(&format!("{count} Ready pods of {app}"), TIMEOUT, || {
        let (pods, selector) = (pods.clone(), selector.clone());
        async move {
            let list = pods
                .list(&ListParams::default().labels(&selector))
                .await
                .ok()?;
            let ready: Vec<Pod> = list.items.into_iter().filter(pod_ready).collect();
            (ready.len() == count).then_some(ready)
        }
    })
    .await
}

#[tokio::test]
async fn deployment_becomes_available_on_kwok_nodes() {
    let client = support::cluster().await;
    let ns = support::namespace(&client, "deploy").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let deployment: Deployment = object(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": pod_template("web"),
        }
    }));
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .expect("creating the deployment");

    eventually(
        "deployment web to be Available with 2 replicas",
        TIMEOUT,
        || {
            let deployments = deployments.clone();
            async move {
                let d = deployments.get("web").await.ok()?;
                let status = serde_json::to_value(d.status?).ok()?;
                (status["availableReplicas"] == 2
                    && condition_true(status["conditions"].as_array(), "Available"))
                .then_some(())
            }
        },
    )
    .await;

    for pod in ready_pods(&client, &ns.name, "web", 2).await {
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .expect("a Ready pod is bound to a node");
        let labels = node_labels(&client, &node).await;
        assert_eq!(
            labels.get("type").map(String::as_str),
            Some("kwok"),
            "node {node}"
        );
        // Without tolerations the scheduler keeps the pods off tainted pools.
        assert!(
            labels
                .get("pool")
                .is_some_and(|p| p == "compute" || p == "deployment"),
            "pod {} landed on {node} with labels {labels:?}",
            pod.name_any()
        );
    }
}

fn gpu_pod(name: &str, tolerate: bool) -> Pod {
    let tolerations = if tolerate {
        json!([{"key": "accelerator", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}])
    } else {
        json!([])
    };
    object(json!({
        "metadata": {"name": name},
        "spec": {
            "containers": [{
                "name": "train",
                "image": "registry.example/trainer:1",
                "resources": {"limits": {"nvidia.com/gpu": "1"}},
            }],
            "tolerations": tolerations,
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "accelerator", "operator": "In", "values": ["gpu"]}
                ]}]
            }}},
        }
    }))
}

#[tokio::test]
async fn gpu_pod_needs_the_toleration_to_land_on_the_gpu_node() {
    let client = support::cluster().await;
    let ns = support::namespace(&client, "gpu").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let pp = PostParams::default();
    pods.create(&pp, &gpu_pod("tolerating", true))
        .await
        .expect("creating the tolerating pod");
    pods.create(&pp, &gpu_pod("intolerant", false))
        .await
        .expect("creating the intolerant pod");

    let running = eventually("the tolerating GPU pod to run", TIMEOUT, || {
        let pods = pods.clone();
        async move { pods.get("tolerating").await.ok().filter(pod_ready) }
    })
    .await;
    let node = running
        .spec
        .and_then(|s| s.node_name)
        .expect("a running pod has a node");
    let labels = node_labels(&client, &node).await;
    assert_eq!(labels.get("accelerator").map(String::as_str), Some("gpu"));

    // The scheduler has looked at the other pod and found no node for it:
    // the GPU node's taint is not tolerated and no other node matches.
    let pending = eventually("the intolerant pod to be Unschedulable", TIMEOUT, || {
        let pods = pods.clone();
        async move {
            let pod = pods.get("intolerant").await.ok()?;
            let unschedulable = pod.status.as_ref()?.conditions.as_ref()?.iter().any(|c| {
                c.type_ == "PodScheduled"
                    && c.status == "False"
                    && c.reason.as_deref() == Some("Unschedulable")
            });
            unschedulable.then_some(pod)
        }
    })
    .await;
    assert_eq!(pending.spec.and_then(|s| s.node_name), None);
    assert_eq!(
        pending.status.and_then(|s| s.phase).as_deref(),
        Some("Pending")
    );
}

#[tokio::test]
async fn job_completes_and_statefulset_and_daemonset_become_ready() {
    let client = support::cluster().await;
    let ns = support::namespace(&client, "workloads").await;
    let pp = PostParams::default();

    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns.name);
    let mut job_template = pod_template("migrate");
    job_template["spec"]["restartPolicy"] = json!("Never");
    let job: Job = object(json!({
        "metadata": {"name": "migrate"},
        "spec": {"backoffLimit": 0, "template": job_template}
    }));
    jobs.create(&pp, &job).await.expect("creating the job");

    let statefulsets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns.name);
    let sts: StatefulSet = object(json!({
        "metadata": {"name": "db"},
        "spec": {
            "serviceName": "db",
            "replicas": 2,
            "selector": {"matchLabels": {"app": "db"}},
            "template": pod_template("db"),
        }
    }));
    statefulsets
        .create(&pp, &sts)
        .await
        .expect("creating the statefulset");

    let daemonsets: Api<DaemonSet> = Api::namespaced(client.clone(), &ns.name);
    let ds: DaemonSet = object(json!({
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": pod_template("agent"),
        }
    }));
    daemonsets
        .create(&pp, &ds)
        .await
        .expect("creating the daemonset");

    eventually("job migrate to complete", TIMEOUT, || {
        let jobs = jobs.clone();
        async move {
            let status = serde_json::to_value(jobs.get("migrate").await.ok()?.status?).ok()?;
            (status["succeeded"] == 1
                && condition_true(status["conditions"].as_array(), "Complete"))
            .then_some(())
        }
    })
    .await;

    eventually("statefulset db to have 2 ready replicas", TIMEOUT, || {
        let statefulsets = statefulsets.clone();
        async move {
            let status = statefulsets.get("db").await.ok()?.status?;
            (status.ready_replicas == Some(2)).then_some(())
        }
    })
    .await;

    // Without tolerations the daemon runs on the untainted nodes only:
    // compute-1, compute-2 and deployment-1.
    let status = eventually("daemonset agent to be ready on 3 nodes", TIMEOUT, || {
        let daemonsets = daemonsets.clone();
        async move {
            let status = daemonsets.get("agent").await.ok()?.status?;
            (status.desired_number_scheduled == 3 && status.number_ready == 3).then_some(status)
        }
    })
    .await;
    assert_eq!(status.number_misscheduled, 0);
}

#[tokio::test]
async fn crd_becomes_established_and_serves_custom_resources() {
    let client = support::cluster().await;
    let ns = support::namespace(&client, "crd").await;
    // CRDs are cluster-scoped: a group of its own keeps runs independent.
    let group = format!("{}.weir.dev", support::unique_name("t"));
    let crd_name = format!("widgets.{group}");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = object(json!({
        "metadata": {"name": crd_name},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"spec": {
                        "type": "object",
                        "properties": {
                            "size": {"type": "integer"},
                            "color": {"type": "string"},
                        },
                    }},
                }},
            }],
        }
    }));
    crds.create(&PostParams::default(), &crd)
        .await
        .expect("creating the CRD");

    eventually("the CRD to be Established", TIMEOUT, || {
        let crds = crds.clone();
        let crd_name = crd_name.clone();
        async move {
            let status = serde_json::to_value(crds.get(&crd_name).await.ok()?.status?).ok()?;
            condition_true(status["conditions"].as_array(), "Established").then_some(())
        }
    })
    .await;

    let gvk = GroupVersionKind::gvk(&group, "v1", "Widget");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "widgets");
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns.name, &resource);
    let widget: DynamicObject = object(json!({
        "apiVersion": format!("{group}/v1"),
        "kind": "Widget",
        "metadata": {"name": "blue"},
        "spec": {"size": 3, "color": "blue"},
    }));
    // Discovery may lag Established by a moment: retry the first create.
    eventually("creating a Widget", TIMEOUT, || {
        let (widgets, widget) = (widgets.clone(), widget.clone());
        async move { widgets.create(&PostParams::default(), &widget).await.ok() }
    })
    .await;

    let read = widgets.get("blue").await.expect("reading the Widget back");
    assert_eq!(read.data["spec"], json!({"size": 3, "color": "blue"}));
    assert_eq!(read.types.map(|t| t.kind).as_deref(), Some("Widget"));

    let _ = crds.delete(&crd_name, &DeleteParams::default()).await;
}

#[tokio::test]
async fn server_side_apply_tracks_managers_and_reports_conflicts() {
    let client = support::cluster().await;
    let ns = support::namespace(&client, "ssa").await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    let desired = |value: &str| {
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings"},
            "data": {"mode": value},
        })
    };

    let applied = configmaps
        .patch(
            "settings",
            &PatchParams::apply("weir"),
            &Patch::Apply(desired("fast")),
        )
        .await
        .expect("first apply by weir");
    assert_eq!(applied.data.unwrap_or_default()["mode"], "fast");
    let managers: Vec<String> = applied
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(managers, ["weir"]);

    // Re-applying the same intent is a no-op, not a conflict.
    configmaps
        .patch(
            "settings",
            &PatchParams::apply("weir"),
            &Patch::Apply(desired("fast")),
        )
        .await
        .expect("re-apply by the same manager");

    let err = configmaps
        .patch(
            "settings",
            &PatchParams::apply("someone-else"),
            &Patch::Apply(desired("slow")),
        )
        .await
        .expect_err("another manager changing weir's field must conflict");
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 409, "{status:?}");
            assert!(status.message.contains("conflict"), "{}", status.message);
        }
        other => panic!("expected a 409 conflict, got {other:?}"),
    }

    let forced = configmaps
        .patch(
            "settings",
            &PatchParams::apply("someone-else").force(),
            &Patch::Apply(desired("slow")),
        )
        .await
        .expect("forced apply takes the field over");
    assert_eq!(forced.data.unwrap_or_default()["mode"], "slow");
    let owner = forced
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .find(|m| {
            m.fields_v1
                .as_ref()
                .is_some_and(|f| f.0.to_string().contains("f:mode"))
        })
        .and_then(|m| m.manager);
    assert_eq!(owner.as_deref(), Some("someone-else"));
}
