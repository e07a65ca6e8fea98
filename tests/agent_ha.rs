//! High availability: two `weir agent` processes elect a leader on a
//! Lease, and only the leader syncs. SIGKILL of the leader in the middle of
//! a wave (its health gate waits for a custom resource to report Ready,
//! which the test, as its operator, holds back): the other agent takes the
//! leadership once the Lease expires, then the target once the dead
//! leader's target Lease expires, and converges the same commit.

mod support;
mod sync_helpers;

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use serde_json::json;
use support::agent::{self as agent_support, Agent};
use support::gitserver::GitServer;
use sync_helpers::*;

const LONG: Duration = Duration::from_secs(150);

#[tokio::test]
async fn the_follower_takes_over_from_a_killed_leader_and_converges() {
    let (client, cluster) = connect().await;
    agent_support::install_crd(&client).await;
    let ns = support::namespace(&client, "ha").await;
    let group = unique_group();
    let server = GitServer::start();
    let repo = server.create_repo("platform");
    let tree = repo.work_tree();
    let gate_crd = crd(&group, "Gate", json!({"type": "object"}));
    // Wave 0: the Gate's CRD and one Gate, healthy only once it reports
    // Ready. Wave 1: a ConfigMap.
    tree.write(
        "weir.yaml",
        "apiVersion: weir.dev/v1alpha1\nkind: Repository\nmetadata: {name: ha}\nspec:\n  waves: [gate, after]\n",
    );
    tree.write(
        "gate/component.yaml",
        &format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: gate}}\nspec:\n  \
             namespace: {ns}\n  createNamespace: false\n  wave: gate\n  source: {{path: m}}\n  \
             health:\n    timeout: 10m\n    conditions: [{{kind: Gate, type: Ready}}]\n",
            ns = ns.name
        ),
    );
    tree.write(
        "gate/m/crd.yaml",
        &serde_yaml::to_string(&gate_crd).unwrap(),
    );
    tree.write(
        "gate/m/gate.yaml",
        &format!("apiVersion: {group}/v1\nkind: Gate\nmetadata: {{name: g}}\nspec: {{}}\n"),
    );
    tree.write(
        "after/component.yaml",
        &format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: after}}\nspec:\n  \
             namespace: {ns}\n  createNamespace: false\n  wave: after\n  source: {{path: m}}\n",
            ns = ns.name
        ),
    );
    tree.write(
        "after/m/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: after}\ndata: {done: \"yes\"}\n",
    );
    let commit = tree.commit("platform");
    tree.push();
    agent_support::git_credentials(&client, &ns.name, "git", &server).await;
    let target = support::unique_name("ha");
    agent_support::apply_sync(
        &client,
        &ns.name,
        "platform",
        json!({"url": server.http_url(&repo), "interval": "1h", "target": target,
               "secretRef": {"name": "git"}}),
    )
    .await;

    let election = format!("{}/weir-agent", ns.name);
    let start = |identity: &str| {
        Agent::start_with(
            &["--namespace", &ns.name, "--leader-election", &election],
            &[("POD_NAME", identity)],
        )
    };
    let mut agents = [start("agent-a"), start("agent-b")];
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns.name);
    let holder = || {
        let leases = leases.clone();
        async move {
            leases
                .get_opt("weir-agent")
                .await
                .ok()
                .flatten()
                .and_then(|l| l.spec?.holder_identity)
        }
    };
    let leader = support::eventually("a leader", support::TIMEOUT, holder).await;
    let (leader_index, follower) = if leader == "agent-a" {
        (0, "agent-b")
    } else {
        (1, "agent-a")
    };

    // The leader is in wave 0's health gate: the Gate exists, the
    // ConfigMap of wave 1 does not.
    let resource = ApiResource {
        group: group.clone(),
        version: "v1".into(),
        api_version: format!("{group}/v1"),
        kind: "Gate".into(),
        plural: "gates".into(),
    };
    support::eventually("the leader applies wave 0", LONG, || async {
        let gates: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns.name, &resource);
        gates.get_opt("g").await.ok().flatten().map(|_| ())
    })
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        cms.get_opt("after").await.unwrap().is_none(),
        "still mid-wave"
    );
    agents[leader_index].kill();

    // The follower leads within the Lease's duration.
    support::eventually("the follower leads", LONG, || async {
        (holder().await.as_deref() == Some(follower)).then_some(())
    })
    .await;
    // The operator reports the Gate Ready; the new leader converges.
    let gates: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns.name, &resource);
    gates
        .patch_status(
            "g",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": [
                {"type": "Ready", "status": "True", "reason": "Reconciled", "message": ""}]}})),
        )
        .await
        .unwrap();
    support::eventually("wave 1 applied by the new leader", LONG, || async {
        cms.get_opt("after").await.ok().flatten().map(|_| ())
    })
    .await;
    let sync = support::eventually("the Sync Ready", LONG, || async {
        let sync = agent_support::get_sync(&client, &ns.name, "platform").await;
        let ready = agent_support::condition(&sync, "Ready")?;
        (ready.0 == "True" && sync["status"]["lastAppliedRevision"] == commit.as_str())
            .then_some(sync)
    })
    .await;
    assert_eq!(sync["status"]["managed"], 3, "{sync:#}");
    let survivor = &agents[1 - leader_index];
    let survivor_log = survivor.log_text();
    assert!(survivor_log.contains("leading"), "{survivor_log}");
    drop(agents);
    forget_target(&cluster, &target).await;
}
