//! The agent's read-only status page, in a real headless Chromium, while
//! the agent syncs from the real Git server: the overview lists the Sync;
//! during a sync the Sync's page marks the wave in progress; after a commit
//! that fails validation it shows the finding with its file and line; the
//! last change's diff hides a Secret's value. Without the token it answers
//! 401; no route answers POST, PUT, PATCH or DELETE. Screenshots are kept
//! in `target/test-artifacts/agent_page/`.

mod support;
mod sync_helpers;

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use serde_json::json;
use support::agent::{self as agent_support, Agent, request};
use support::browser;
use support::gitserver::GitServer;
use sync_helpers::*;

const TOKEN: &str = "page-token-0123456789abcdef";
const PASSWORD: &str = "page-secret-value-42";

#[tokio::test]
async fn the_page_shows_waves_findings_and_nothing_secret() {
    let (client, cluster) = connect().await;
    agent_support::install_crd(&client).await;
    let ns = support::namespace(&client, "page").await;
    let group = unique_group();
    let server = GitServer::start();
    let repo = server.create_repo("platform");
    let tree = repo.work_tree();
    tree.write(
        "weir.yaml",
        "apiVersion: weir.dev/v1alpha1\nkind: Repository\nmetadata: {name: page}\nspec:\n  waves: [gate, apps]\n",
    );
    let component = |name: &str, extra: &str| {
        format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: {name}}}\nspec:\n  \
             namespace: {ns}\n  createNamespace: false\n  wave: {wave}\n  source: {{path: m}}\n{extra}",
            ns = ns.name,
            wave = if name == "gate" { "gate" } else { "apps" },
        )
    };
    tree.write(
        "gate/component.yaml",
        &component(
            "gate",
            "  health:\n    conditions: [{kind: Gate, type: Ready}]\n",
        ),
    );
    tree.write(
        "gate/m/crd.yaml",
        &serde_yaml::to_string(&crd(&group, "Gate", json!({"type": "object"}))).unwrap(),
    );
    tree.write(
        "gate/m/gate.yaml",
        &format!("apiVersion: {group}/v1\nkind: Gate\nmetadata: {{name: g}}\nspec: {{}}\n"),
    );
    tree.write("apps/component.yaml", &component("apps", ""));
    tree.write(
        "apps/m/config.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: config}}\ndata: {{v: \"1\"}}\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata: {{name: db}}\nstringData: {{password: {PASSWORD}}}\n"
        ),
    );
    tree.commit("first");
    tree.push();
    agent_support::git_credentials(&client, &ns.name, "git", &server).await;
    let target = support::unique_name("page");
    agent_support::apply_sync(
        &client,
        &ns.name,
        "platform",
        json!({"url": server.http_url(&repo), "interval": "1h", "target": target,
               "secretRef": {"name": "git"}}),
    )
    .await;
    let token_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token_file.path(), TOKEN).unwrap();
    let agent = Agent::start(&[
        "--namespace",
        &ns.name,
        "--ui",
        "token",
        "--ui-token-file",
        token_file.path().to_str().unwrap(),
    ]);
    let base = format!("http://viewer:{TOKEN}@127.0.0.1:{}", agent.port);
    let page = format!("{base}/syncs/{}/platform", ns.name);

    // Without the token: 401. No route changes anything.
    assert_eq!(agent.get("/").unwrap().0, 401);
    assert_eq!(
        agent
            .get(&format!("/syncs/{}/platform", ns.name))
            .unwrap()
            .0,
        401
    );
    for path in [
        "/".to_owned(),
        format!("/syncs/{}/platform", ns.name),
        "/syncs/local".to_owned(),
        "/metrics".to_owned(),
        "/healthz".to_owned(),
        "/readyz".to_owned(),
    ] {
        for method in ["POST", "PUT", "PATCH", "DELETE"] {
            let (code, _) = request(agent.port, method, &path, &[], b"").unwrap();
            assert_eq!(code, 405, "{method} {path}");
        }
    }
    for method in ["PUT", "PATCH", "DELETE"] {
        let path = format!("/hooks/{}/platform", ns.name);
        assert_eq!(
            request(agent.port, method, &path, &[], b"").unwrap().0,
            405,
            "{method} {path}"
        );
    }

    // The overview lists the Sync.
    let dom = browser::dom(&format!("{base}/"));
    assert!(dom.contains(&format!("{}/platform", ns.name)), "{dom}");

    // During the sync: wave 0 in progress (its Gate is not Ready yet).
    let dom = support::eventually(
        "the wave in progress on the page",
        support::TIMEOUT,
        || async {
            let dom = browser::dom(&page);
            dom.contains("wave 0 (gate) · in progress").then_some(dom)
        },
    )
    .await;
    assert!(dom.contains("class=\"wave current\""), "{dom}");
    browser::screenshot(&page, "agent_page", "during-sync");

    // The operator reports Ready: the sync completes.
    let gates: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns.name,
        &ApiResource {
            group: group.clone(),
            version: "v1".into(),
            api_version: format!("{group}/v1"),
            kind: "Gate".into(),
            plural: "gates".into(),
        },
    );
    gates
        .patch_status(
            "g",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": [
                {"type": "Ready", "status": "True", "reason": "Reconciled", "message": ""}]}})),
        )
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    support::eventually("the sync done", support::TIMEOUT, || async {
        let sync = agent_support::get_sync(&client, &ns.name, "platform").await;
        (agent_support::condition(&sync, "Ready")?.0 == "True").then_some(())
    })
    .await;

    // A change to the ConfigMap and the Secret: the page's diff shows the
    // one and hides the other.
    tree.write(
        "apps/m/config.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: config}}\ndata: {{v: \"2\"}}\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata: {{name: db}}\nstringData: {{password: changed-{PASSWORD}}}\n"
        ),
    );
    tree.commit("second");
    tree.push();
    agent_support::patch_sync(
        &client,
        &ns.name,
        "platform",
        json!({"metadata": {"annotations": {"weir.dev/reconcile-requested-at": "2"}}}),
    )
    .await;
    support::eventually("the change applied", support::TIMEOUT, || async {
        let cm = cms.get_opt("config").await.ok().flatten()?;
        (cm.data?.get("v")? == "2").then_some(())
    })
    .await;
    let dom = support::eventually("the diff on the page", support::TIMEOUT, || async {
        let dom = browser::dom(&page);
        dom.contains("The last change").then_some(dom)
    })
    .await;
    assert!(
        dom.contains("(changed)"),
        "the Secret's key is marked: {dom}"
    );
    assert!(!dom.contains(PASSWORD), "a Secret's value is on the page");
    browser::screenshot(&page, "agent_page", "after-change");

    // A commit that fails validation: the finding with file and line.
    tree.write(
        "apps/m/web.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicaz: 2\n",
    );
    tree.commit("invalid");
    tree.push();
    agent_support::patch_sync(
        &client,
        &ns.name,
        "platform",
        json!({"metadata": {"annotations": {"weir.dev/reconcile-requested-at": "3"}}}),
    )
    .await;
    let dom = support::eventually("the finding on the page", support::TIMEOUT, || async {
        let dom = browser::dom(&page);
        dom.contains("Why the last commit was rejected")
            .then_some(dom)
    })
    .await;
    assert!(dom.contains("apps/m/web.yaml:5"), "{dom}");
    assert!(dom.contains("replicaz"), "{dom}");
    browser::screenshot(&page, "agent_page", "rejected-commit");
    browser::screenshot(&format!("{base}/"), "agent_page", "overview");
    tokio::time::sleep(Duration::from_millis(10)).await;
    drop(agent);
    forget_target(&cluster, &target).await;
}
