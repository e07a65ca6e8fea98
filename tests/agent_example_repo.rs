//! `example-repo`, all five platforms, synced by `weir agent` from the
//! real Git server (pushed there as a repository of its own, the Sync
//! pointing at its `example-repo/` directory) until the Sync is Ready at
//! the pushed commit, with every wave's objects in the cluster: the same
//! target as `weir sync example-repo`, so the two agree. Its SOPS-encrypted
//! Secrets are decrypted with the demo age key, read from the Secret the
//! Sync names in `spec.decryption`. Its remote charts come from the real
//! ChartMuseum and OCI registry, with the credentials of the Secret the
//! Sync's `chartCredentials` names, and the Sync's status shows the exact
//! version and digest of each.

mod support;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use support::agent::{self as agent_support, Agent};
use support::gitserver::GitServer;

#[tokio::test]
async fn the_agent_syncs_example_repo_from_git_to_ready() {
    let client = support::cluster().await;
    agent_support::install_crd(&client).await;
    support::example_repo::create_required_secrets(&client).await;
    let ns = support::namespace(&client, "example").await;
    let server = GitServer::start();
    let example = support::example_repo::push_for_agent(&client, &ns.name, &server).await;
    agent_support::apply_sync(&client, &ns.name, "platforms", example.spec.clone()).await;
    // A chart cache of the test's own; no credentials file: the agent's
    // credentials come from the Secret.
    let cache = tempfile::tempdir().unwrap();
    let agent = Agent::start_with(
        &["--namespace", &ns.name],
        &[("WEIR_CHART_CACHE", cache.path().to_str().unwrap())],
    );
    let sync = support::eventually(
        "example-repo Ready",
        std::time::Duration::from_secs(300),
        || async {
            let sync = agent_support::get_sync(&client, &ns.name, "platforms").await;
            let ready = agent_support::condition(&sync, "Ready")?;
            assert_ne!(ready.1, "SyncFailed", "{sync:#}\n{}", agent.log_text());
            (ready.0 == "True").then_some(sync)
        },
    )
    .await;
    assert_eq!(
        sync["status"]["lastAppliedRevision"],
        example.commit.as_str()
    );
    let waves: Vec<&str> = sync["status"]["waves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
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
    assert!(
        sync["status"]["managed"].as_u64().unwrap() > 150,
        "{sync:#}"
    );
    // The charts, as resolved, in the status.
    let charts_status = sync["status"]["charts"]
        .as_array()
        .unwrap_or_else(|| panic!("{sync:#}"));
    let edge = charts_status
        .iter()
        .find(|c| c["component"] == "edge-operator")
        .unwrap_or_else(|| panic!("{sync:#}"));
    assert_eq!(edge["version"], "1.4.0");
    assert_eq!(edge["repo"], example.charts.museum.url());
    assert!(edge["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(
        charts_status
            .iter()
            .filter(|c| c["repo"] == format!("oci://{}/knitfab", example.charts.registry.host()))
            .count(),
        5,
        "{sync:#}"
    );
    // No password in the agent's log or the Sync.
    for password in [
        &example.charts.museum.credentials().password,
        &example.charts.registry.credentials().password,
    ] {
        assert!(!agent.log_text().contains(password.as_str()));
        assert!(!sync.to_string().contains(password.as_str()));
    }
    // Each platform's namespace, as the cluster has it.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for name in [
        "edge",
        "kubeflow",
        "knative-serving",
        "knitfab",
        "enterprise-gateway",
    ] {
        assert!(
            namespaces.get_opt(name).await.unwrap().is_some(),
            "namespace {name} of example-repo"
        );
    }
    // The SOPS-encrypted Secrets, decrypted with the key of the Secret the
    // Sync names; their values never in the agent's log or the status.
    support::example_repo::assert_encrypted_secret_applied_decrypted();
    let password = support::example_repo::ENCRYPTED_PASSWORD;
    assert!(!agent.log_text().contains(password));
    assert!(!sync.to_string().contains(password));
    drop(agent);
}
