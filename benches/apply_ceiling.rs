//! The API server's own limit (run by `benches/agent_vs_flux.sh`): a
//! minimal server-side-apply client, with no health waits and no
//! inventory, applying the agent benchmark's workload (1,000 ConfigMaps and
//! 200 Deployments) into a fresh namespace at rising concurrency. Prints
//! the applies per second at each level and the best, which is the ceiling
//! any sync on this machine can reach. The Deployments have no replicas,
//! so the controllers have no pods to make afterwards (the requests are
//! the same; the cluster is left quiet for what runs next). With
//! `WEIR_BENCH_CEILING_FILE` set,
//! writes the best rate there for the agent's benchmark to compare with.

// A benchmark is a terminal program: it prints its table.
#![allow(clippy::disallowed_macros)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use futures::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use serde_json::{Value, json};

/// The objects of one round, in `namespace`.
fn workload(namespace: &str) -> Vec<(ApiResource, String, Value)> {
    let cm = ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&());
    let deploy = ApiResource::erase::<k8s_openapi::api::apps::v1::Deployment>(&());
    let mut objects: Vec<(ApiResource, String, Value)> = (0..1000)
        .map(|i| {
            let name = format!("cm-{i}");
            let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": namespace},
                "data": {"key": format!("value-{i}")}});
            (cm.clone(), name, body)
        })
        .collect();
    objects.extend((0..200).map(|i| {
        let name = format!("web-{i}");
        let body = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}});
        (deploy.clone(), name, body)
    }));
    objects
}

async fn round(client: &kube::Client, concurrency: usize) -> f64 {
    let namespace = format!("ceiling-{concurrency}");
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
    namespaces
        .patch(
            &namespace,
            &PatchParams::apply("weir-bench-ceiling").force(),
            &Patch::Apply(&ns),
        )
        .await
        .expect("creating the namespace");
    let objects = workload(&namespace);
    let count = objects.len();
    let params = PatchParams::apply("weir-bench-ceiling").force();
    let start = Instant::now();
    let failures = futures::stream::iter(objects)
        .map(|(resource, name, body)| {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), &namespace, &resource);
            let params = params.clone();
            async move { api.patch(&name, &params, &Patch::Apply(&body)).await.err() }
        })
        .buffer_unordered(concurrency)
        .filter_map(|e| async move { e })
        .collect::<Vec<_>>()
        .await;
    let elapsed = start.elapsed().as_secs_f64();
    assert!(failures.is_empty(), "applies failed: {:?}", &failures[..1]);
    count as f64 / elapsed
}

#[tokio::main]
async fn main() {
    let client = support::cluster().await;
    println!("\nAPI server ceiling: server-side apply of 1,000 ConfigMaps + 200 Deployments\n");
    println!("  {:>11}  {:>14}", "concurrency", "applies/s");
    let mut best = (0, 0.0_f64);
    for concurrency in [1, 4, 16, 32, 64, 128] {
        let rate = round(&client, concurrency).await;
        println!("  {concurrency:>11}  {rate:>14.0}");
        if rate > best.1 {
            best = (concurrency, rate);
        }
    }
    println!(
        "\n  ceiling: {:.0} applies/s (at concurrency {})",
        best.1, best.0
    );
    if let Some(path) = std::env::var_os("WEIR_BENCH_CEILING_FILE") {
        std::fs::write(path, format!("{:.1}\n", best.1)).expect("writing the ceiling");
    }
}
