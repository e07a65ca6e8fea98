//! `weir agent` serving `Sync` objects from a real Git server (smart HTTP
//! with basic auth, SSH with host keys; tests/support/gitserver.rs), as a
//! process against the real control plane:
//!
//! - a push fires the repository's webhook (GitHub's form, then GitLab's),
//!   the agent fetches over HTTP with basic auth and applies the change,
//!   reported in the Sync's status, its Events and the metrics; a webhook
//!   with a wrong HMAC gets 401 and changes nothing;
//! - an invalid commit is not applied: the Sync is Stalled with the finding
//!   at file and line, the cluster keeps the last good commit, and the next
//!   valid commit applies;
//! - a ConfigMap edited and one deleted by hand are put back, and counted;
//! - with the Git server down the status says so and nothing changes; it
//!   recovers when the server is back; a force-push to an older commit is
//!   applied as the new desired state;
//! - over SSH with known_hosts it applies; an unknown host key is refused;
//! - under a signature policy an unsigned commit is refused by name;
//! - no credential, token or Secret value shows in the agent's log, the
//!   Sync's status, its Events or the metrics.

mod support;
mod sync_helpers;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;
use support::agent::{self as agent_support, Agent};
use support::gitserver::{Flavor, GitServer};
use sync_helpers::*;

fn component(ns: &str) -> String {
    format!(
        "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: app}}\nspec:\n  \
         namespace: {ns}\n  createNamespace: false\n  source: {{path: m}}\n"
    )
}

fn settings(name: &str, v: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{v: \"{v}\"}}\n")
}

async fn value_of(api: &Api<ConfigMap>, name: &str) -> Option<String> {
    api.get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|cm| cm.data?.get("v").cloned())
}

/// Waits until ConfigMap `name` holds `want`.
async fn wait_value(api: &Api<ConfigMap>, name: &str, want: &str, what: &str) {
    support::eventually(what, support::TIMEOUT, || async {
        (value_of(api, name).await.as_deref() == Some(want)).then_some(())
    })
    .await;
}

/// Waits until the Sync's status says `Ready` is `status` with the
/// attempted revision `revision` (when given), and returns the Sync.
async fn wait_ready(
    client: &kube::Client,
    ns: &str,
    name: &str,
    status: &str,
    revision: Option<&str>,
) -> serde_json::Value {
    support::eventually(
        &format!("Sync {ns}/{name} Ready={status} at {revision:?}"),
        support::TIMEOUT,
        || async {
            let sync = agent_support::get_sync(client, ns, name).await;
            let ready = agent_support::condition(&sync, "Ready")?;
            let at = sync["status"]["lastAttemptedRevision"].as_str();
            (ready.0 == status && revision.is_none_or(|r| at == Some(r))).then_some(sync)
        },
    )
    .await
}

#[tokio::test]
async fn the_agent_syncs_every_push_and_says_what_it_did() {
    let (client, cluster) = connect().await;
    agent_support::install_crd(&client).await;
    let ns = support::namespace(&client, "agentgit").await;
    let mut server = GitServer::start();
    let repo = server.create_repo("platform");
    let tree = repo.work_tree();
    tree.write("app/component.yaml", &component(&ns.name));
    tree.write("app/m/settings.yaml", &settings("settings", "1"));
    let first = tree.commit("first");
    tree.push();

    let creds = server.credentials().clone();
    let token = "webhook-token-0123456789abcdef";
    agent_support::git_credentials(&client, &ns.name, "git", &server).await;
    agent_support::secret(&client, &ns.name, "hook", &[("token", token)]).await;
    let target = support::unique_name("agentgit");
    // An hour's interval: what happens sooner, a webhook or a request did.
    agent_support::apply_sync(
        &client,
        &ns.name,
        "platform",
        json!({"url": server.http_url(&repo), "ref": {"branch": "main"}, "interval": "1h",
               "target": target, "secretRef": {"name": "git"},
               "webhook": {"secretRef": {"name": "hook"}}}),
    )
    .await;
    let agent = Agent::start(&["--namespace", &ns.name]);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    wait_value(&cms, "settings", "1", "the first commit applied").await;
    let sync = wait_ready(&client, &ns.name, "platform", "True", Some(&first)).await;
    assert_eq!(sync["status"]["lastAppliedRevision"], first.as_str());
    assert_eq!(sync["status"]["managed"], 1);

    // A push fires the webhook; the agent fetches and applies it.
    repo.set_webhook(
        &format!("http://127.0.0.1:{}/hooks/{}/platform", agent.port, ns.name),
        token,
        Flavor::GitHub,
    );
    tree.write("app/m/settings.yaml", &settings("settings", "2"));
    let second = tree.commit("second");
    tree.push();
    wait_value(&cms, "settings", "2", "the pushed change applied").await;
    wait_ready(&client, &ns.name, "platform", "True", Some(&second)).await;
    assert!(
        repo.webhook_log().contains("202"),
        "the webhook was accepted: {}",
        repo.webhook_log()
    );
    assert!(agent.metric("weir_webhook_requests_total{result=\"accepted\"}") >= 1.0);
    let applied = format!(
        "weir_reconciles_total{{sync=\"{}/platform\",result=\"applied\"}}",
        ns.name
    );
    assert!(
        agent.metric(&applied) >= 2.0,
        "{}",
        agent.get("/metrics").unwrap().1
    );
    let events = agent_support::events_of(&client, &ns.name, "platform").await;
    assert!(
        events
            .iter()
            .any(|(r, m)| r == "Applied" && m.contains(&second[..12])),
        "{events:?}"
    );

    // GitLab's form of the webhook (X-Gitlab-Token) triggers it too.
    repo.set_webhook(
        &format!("http://127.0.0.1:{}/hooks/{}/platform", agent.port, ns.name),
        token,
        Flavor::GitLab,
    );
    tree.write("app/m/settings.yaml", &settings("settings", "2g"));
    let gitlab = tree.commit("by GitLab's webhook");
    tree.push();
    wait_value(
        &cms,
        "settings",
        "2g",
        "the change pushed with GitLab's webhook",
    )
    .await;
    wait_ready(&client, &ns.name, "platform", "True", Some(&gitlab)).await;

    // A wrong signature: 401, nothing triggered.
    let body = br#"{"ref":"refs/heads/main"}"#;
    let forged = weir::agent::webhook::sign(body, b"not the token");
    let (code, _) = agent
        .post(
            &format!("/hooks/{}/platform", ns.name),
            &[("X-Hub-Signature-256", &forged)],
            body,
        )
        .unwrap();
    assert_eq!(code, 401);
    let (code, _) = agent
        .post(&format!("/hooks/{}/platform", ns.name), &[], body)
        .unwrap();
    assert_eq!(code, 401, "unsigned");
    let (code, _) = agent
        .post(
            &format!("/hooks/{}/nosuchsync", ns.name),
            &[(
                "X-Hub-Signature-256",
                &weir::agent::webhook::sign(body, token.as_bytes()),
            )],
            body,
        )
        .unwrap();
    assert_eq!(code, 401, "a Sync that does not exist answers the same");
    assert!(agent.metric("weir_webhook_requests_total{result=\"unauthorized\"}") >= 2.0);

    // An invalid commit: nothing applied, Stalled with the finding.
    tree.write("app/m/settings.yaml", &settings("settings", "3"));
    tree.write(
        "app/m/web.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicaz: 2\n",
    );
    let invalid = tree.commit("invalid");
    tree.push();
    let sync = wait_ready(&client, &ns.name, "platform", "False", Some(&invalid)).await;
    let stalled = agent_support::condition(&sync, "Stalled").unwrap();
    assert_eq!(
        (stalled.0.as_str(), stalled.1.as_str()),
        ("True", "CommitRejected")
    );
    let finding = &sync["status"]["findings"][0];
    assert_eq!(finding["file"], "app/m/web.yaml");
    assert_eq!(finding["line"], 5);
    assert_eq!(finding["code"], "E0101");
    assert_eq!(sync["status"]["lastAppliedRevision"], gitlab.as_str());
    assert_eq!(value_of(&cms, "settings").await.as_deref(), Some("2g"));
    let events = agent_support::events_of(&client, &ns.name, "platform").await;
    assert!(
        events.iter().any(|(r, _)| r == "CommitRejected"),
        "{events:?}"
    );

    // The next valid commit applies.
    tree.remove("app/m/web.yaml");
    let fixed = tree.commit("fixed");
    tree.push();
    wait_value(&cms, "settings", "3", "the fixed commit applied").await;
    wait_ready(&client, &ns.name, "platform", "True", Some(&fixed)).await;

    // Drift: edited and deleted by hand, put back and counted.
    cms.patch(
        "settings",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "by hand"}})),
    )
    .await
    .unwrap();
    wait_value(&cms, "settings", "3", "the edit put back").await;
    cms.delete("settings", &DeleteParams::default())
        .await
        .unwrap();
    wait_value(&cms, "settings", "3", "the deletion put back").await;
    support::eventually(
        "drift corrections in the status",
        support::TIMEOUT,
        || async {
            let sync = agent_support::get_sync(&client, &ns.name, "platform").await;
            (sync["status"]["driftCorrected"].as_u64() >= Some(2)).then_some(())
        },
    )
    .await;
    let events = agent_support::events_of(&client, &ns.name, "platform").await;
    assert!(
        events.iter().any(|(r, _)| r == "DriftCorrected"),
        "{events:?}"
    );

    // The Git server down: the status says so, nothing changes.
    server.stop();
    agent_support::patch_sync(
        &client,
        &ns.name,
        "platform",
        json!({"metadata": {"annotations": {"weir.dev/reconcile-requested-at": "down"}}}),
    )
    .await;
    let sync = support::eventually("the fetch failure reported", support::TIMEOUT, || async {
        let sync = agent_support::get_sync(&client, &ns.name, "platform").await;
        let ready = agent_support::condition(&sync, "Ready")?;
        (ready.1 == "FetchFailed").then_some(sync)
    })
    .await;
    let message = agent_support::condition(&sync, "Ready").unwrap().2;
    assert!(message.contains("the server may be down"), "{message}");
    assert_eq!(value_of(&cms, "settings").await.as_deref(), Some("3"));
    // Back: it recovers (its backoff retries).
    server.restart();
    wait_ready(&client, &ns.name, "platform", "True", Some(&fixed)).await;

    // A force-push to an older commit is the new desired state.
    tree.reset_hard(&second);
    tree.force_push();
    wait_value(
        &cms,
        "settings",
        "2",
        "the force-pushed older commit applied",
    )
    .await;
    wait_ready(&client, &ns.name, "platform", "True", Some(&second)).await;

    // `weir status`: the table, and the Sync in detail.
    let status = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
            .arg("status")
            .args(args)
            .arg("--kubeconfig")
            .arg(support::kubeconfig_path())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, table) = status(&["-n", &ns.name]);
    assert_eq!(code, Some(0), "{table}");
    assert!(table.starts_with("NAMESPACE"), "{table}");
    assert!(
        table.contains("platform") && table.contains(&second[..12]),
        "{table}"
    );
    let (_, detail) = status(&["platform", "-n", &ns.name]);
    for needle in [
        "Conditions:",
        "Ready",
        "Waves of the last sync:",
        "Events:",
        "DriftCorrected",
    ] {
        assert!(detail.contains(needle), "`{needle}` in:\n{detail}");
    }
    let (_, json) = status(&["-n", &ns.name, "--output", "json"]);
    let syncs: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(syncs[0]["metadata"]["name"], "platform");

    // No credential or token anywhere.
    let sync = agent_support::get_sync(&client, &ns.name, "platform").await;
    let events = agent_support::events_of(&client, &ns.name, "platform").await;
    let everything = format!(
        "{}\n{sync}\n{events:?}\n{}\n{table}\n{detail}\n{json}",
        agent.log_text(),
        agent.get("/metrics").unwrap().1
    );
    for secret in [creds.password.as_str(), token] {
        assert!(!everything.contains(secret), "a secret leaked");
    }
    drop(agent);
    forget_target(&cluster, &target).await;
}

#[tokio::test]
async fn ssh_with_known_hosts_and_refused_host_keys() {
    let (client, cluster) = connect().await;
    agent_support::install_crd(&client).await;
    let ns = support::namespace(&client, "agentssh").await;
    let server = GitServer::start();
    let repo = server.create_repo("platform");
    let tree = repo.work_tree();
    tree.write("app/component.yaml", &component(&ns.name));
    tree.write("app/m/settings.yaml", &settings("settings", "ssh"));
    let commit = tree.commit("first");
    tree.push();
    agent_support::secret(
        &client,
        &ns.name,
        "ssh",
        &[
            ("identity", &server.client_key()),
            ("known_hosts", &server.known_hosts_line()),
        ],
    )
    .await;
    // Another server's host key: this one is unknown.
    let other = GitServer::start();
    agent_support::secret(
        &client,
        &ns.name,
        "wrong-host",
        &[
            ("identity", &server.client_key()),
            (
                "known_hosts",
                &other.known_hosts_line().replace(
                    &other.ssh_port().to_string(),
                    &server.ssh_port().to_string(),
                ),
            ),
        ],
    )
    .await;
    let target = support::unique_name("agentssh");
    let refused_target = support::unique_name("agentssh-refused");
    agent_support::apply_sync(
        &client,
        &ns.name,
        "good",
        json!({"url": server.ssh_url(&repo), "interval": "1h", "target": target,
               "secretRef": {"name": "ssh"}}),
    )
    .await;
    agent_support::apply_sync(
        &client,
        &ns.name,
        "spoofed",
        json!({"url": server.ssh_url(&repo), "interval": "1h", "target": refused_target,
               "secretRef": {"name": "wrong-host"}}),
    )
    .await;
    let agent = Agent::start(&["--namespace", &ns.name]);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    wait_value(&cms, "settings", "ssh", "applied over SSH").await;
    wait_ready(&client, &ns.name, "good", "True", Some(&commit)).await;
    let sync = support::eventually("the changed host key refused", support::TIMEOUT, || async {
        let sync = agent_support::get_sync(&client, &ns.name, "spoofed").await;
        let ready = agent_support::condition(&sync, "Ready")?;
        (ready.1 == "FetchFailed").then_some(sync)
    })
    .await;
    let message = agent_support::condition(&sync, "Ready").unwrap().2;
    assert!(message.contains("does not match known_hosts"), "{message}");
    assert!(sync["status"]["lastAppliedRevision"].is_null());
    let key = server.client_key();
    let key_body = key.lines().nth(1).unwrap_or("");
    assert!(
        !agent.log_text().contains(key_body),
        "the private key leaked"
    );
    drop(agent);
    forget_target(&cluster, &target).await;
}

#[tokio::test]
async fn an_unsigned_commit_under_a_signature_policy_is_refused() {
    let (client, cluster) = connect().await;
    agent_support::install_crd(&client).await;
    let ns = support::namespace(&client, "agentsig").await;
    let server = GitServer::start();
    let repo = server.create_repo("platform");
    let tree = repo.work_tree();
    tree.write("app/component.yaml", &component(&ns.name));
    tree.write("app/m/settings.yaml", &settings("settings", "signed"));
    // A signing key, and a signed commit.
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("signer");
    let out = std::process::Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "release@weir.dev",
            "-f",
        ])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let signing = format!("user.signingkey={}", key.display());
    tree.git(&["-c", "gpg.format=ssh", "-c", &signing, "add", "-A"]);
    tree.git(&[
        "-c",
        "gpg.format=ssh",
        "-c",
        &signing,
        "commit",
        "-S",
        "-qm",
        "signed",
    ]);
    let signed = tree.git(&["rev-parse", "HEAD"]).trim().to_owned();
    tree.push();
    agent_support::git_credentials(&client, &ns.name, "git", &server).await;
    agent_support::secret(
        &client,
        &ns.name,
        "signers",
        &[(
            "allowed_signers",
            &format!("release@weir.dev {}", public.trim()),
        )],
    )
    .await;
    let target = support::unique_name("agentsig");
    agent_support::apply_sync(
        &client,
        &ns.name,
        "platform",
        json!({"url": server.http_url(&repo), "interval": "1h", "target": target,
               "secretRef": {"name": "git"}, "verify": {"secretRef": {"name": "signers"}}}),
    )
    .await;
    let agent = Agent::start(&["--namespace", &ns.name]);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    wait_value(&cms, "settings", "signed", "the signed commit applied").await;
    wait_ready(&client, &ns.name, "platform", "True", Some(&signed)).await;

    // An unsigned commit is not applied, and the status says which and why.
    tree.write("app/m/settings.yaml", &settings("settings", "unsigned"));
    let unsigned = tree.commit("unsigned");
    tree.push();
    agent_support::patch_sync(
        &client,
        &ns.name,
        "platform",
        json!({"metadata": {"annotations": {"weir.dev/reconcile-requested-at": "1"}}}),
    )
    .await;
    let sync = wait_ready(&client, &ns.name, "platform", "False", Some(&unsigned)).await;
    let ready = agent_support::condition(&sync, "Ready").unwrap();
    assert_eq!(ready.1, "UntrustedCommit");
    assert!(
        ready
            .2
            .contains(&format!("commit {unsigned} is not signed")),
        "{}",
        ready.2
    );
    assert_eq!(value_of(&cms, "settings").await.as_deref(), Some("signed"));
    drop(agent);
    forget_target(&cluster, &target).await;
}
