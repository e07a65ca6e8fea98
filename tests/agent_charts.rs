//! `weir agent` fetching a remote chart from the real ChartMuseum (basic
//! auth) with the login of the Secret its Sync's `chartCredentials` names,
//! the config repo served by the real Git server, against the real control
//! plane:
//!
//! - without that Secret, nothing is applied and the status says which
//!   Secret to create, with which keys;
//! - with a wrong password, the chart cannot be fetched (`E0219`): the Sync
//!   is `FetchFailed` and retried with backoff, not the commit rejected;
//! - once the Secret holds the right password (no new commit), the agent
//!   applies the chart, and the Sync's status names the exact version and
//!   digest it rendered;
//! - no password shows in the agent's log or the Sync.

mod support;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use serde_json::json;
use support::agent::{self as agent_support, Agent};
use support::chartservers::{ChartMuseum, demo_chart};
use support::gitserver::GitServer;

#[tokio::test]
async fn the_agent_pulls_charts_with_the_login_of_a_secret() {
    let client = support::cluster().await;
    agent_support::install_crd(&client).await;
    let ns = support::namespace(&client, "agentcharts").await;
    let scratch = tempfile::tempdir().unwrap();
    let museum = ChartMuseum::start();
    let packaged = museum.upload(&demo_chart(scratch.path(), "0.3.1"));

    let server = GitServer::start();
    let repo = server.create_repo("charts");
    let tree = repo.work_tree();
    tree.write(
        "web.yaml",
        &format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: web}}\nspec:\n  \
             namespace: {}\n  createNamespace: false\n  source:\n    helm:\n      repo: {}\n      \
             chart: demo\n      version: \"~0.3.0\"\n",
            ns.name,
            museum.url()
        ),
    );
    let commit = tree.commit("first");
    tree.push();
    agent_support::git_credentials(&client, &ns.name, "git", &server).await;
    agent_support::apply_sync(
        &client,
        &ns.name,
        "web",
        json!({"url": server.http_url(&repo), "interval": "1h",
               "target": support::unique_name("agentcharts"), "secretRef": {"name": "git"},
               "chartCredentials": {"secretRef": {"name": "charts"}}}),
    )
    .await;
    let cache = tempfile::tempdir().unwrap();
    let agent = Agent::start_with(
        &["--namespace", &ns.name],
        &[("WEIR_CHART_CACHE", cache.path().to_str().unwrap())],
    );
    let condition = |reason: &'static str, needle: String| {
        let client = client.clone();
        let ns = ns.name.clone();
        async move {
            let sync = agent_support::get_sync(&client, &ns, "web").await;
            let (_, why, message) = agent_support::condition(&sync, "Ready")?;
            (why == reason && message.contains(&needle)).then_some((sync, message))
        }
    };

    // No Secret: what to create.
    let (_, message) = support::eventually(
        "FetchFailed for want of the Secret",
        support::TIMEOUT,
        || condition("FetchFailed", format!("{}/charts", ns.name)),
    )
    .await;
    assert!(message.contains("credentials.yaml"), "{message}");

    // A wrong password: the chart cannot be fetched; retried, not rejected.
    let wrong = "not-the-chart-password-5c2e";
    let user = museum.credentials().username.clone();
    agent_support::secret(
        &client,
        &ns.name,
        "charts",
        &[
            ("url", &museum.url()),
            ("username", &user),
            ("password", wrong),
        ],
    )
    .await;
    let (sync, message) = support::eventually("FetchFailed with E0219", support::TIMEOUT, || {
        condition("FetchFailed", "E0219".to_owned())
    })
    .await;
    assert!(message.contains("component `web`"), "{message}");
    assert!(message.contains(&museum.url()), "{message}");
    let stalled = agent_support::condition(&sync, "Stalled").unwrap();
    assert_eq!(
        stalled.0, "False",
        "a chart repository's refusal is retried: {sync:#}"
    );
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    assert!(
        cms.get_opt("web").await.unwrap().is_none(),
        "nothing applied"
    );

    // The right password, no new commit: applied at the next retry.
    agent_support::secret(
        &client,
        &ns.name,
        "charts",
        &[
            ("url", &museum.url()),
            ("username", &user),
            ("password", &museum.credentials().password),
        ],
    )
    .await;
    let (sync, _) = support::eventually("Ready", support::TIMEOUT, || {
        condition("Synced", String::new())
    })
    .await;
    assert_eq!(sync["status"]["lastAppliedRevision"], commit.as_str());
    let charts = sync["status"]["charts"]
        .as_array()
        .unwrap_or_else(|| panic!("{sync:#}"));
    assert_eq!(charts.len(), 1, "{sync:#}");
    assert_eq!(charts[0]["component"], "web");
    assert_eq!(charts[0]["chart"], "demo");
    assert_eq!(charts[0]["version"], "0.3.1");
    assert_eq!(charts[0]["repo"], museum.url());
    use sha2::Digest as _;
    let digest = format!(
        "sha256:{}",
        hex::encode(&sha2::Sha256::digest(std::fs::read(&packaged.archive).unwrap())[..])
    );
    assert_eq!(charts[0]["digest"], digest.as_str());
    let cm = cms.get("web").await.unwrap();
    assert_eq!(
        cm.data
            .unwrap_or_default()
            .get("version")
            .map(String::as_str),
        Some("0.3.1")
    );

    for text in [agent.log_text(), sync.to_string()] {
        assert!(!text.contains(wrong), "a password shown");
        assert!(
            !text.contains(&museum.credentials().password),
            "a password shown"
        );
    }
}
