//! The chart installed into the local control plane with the real `helm
//! install`, and the agent run as its ServiceAccount.
//!
//! kwok's pods run no containers, so the Deployment's pods become Ready
//! without a process: the test then runs the real `weir agent` binary with
//! the Deployment's own arguments, authenticated as the chart's
//! ServiceAccount by a token from the TokenRequest API, against the tests'
//! Git server. Any request the chart's Roles do not allow fails it: the
//! agent's log (at debug, where even a failed Event is logged) must hold no
//! 403 but those the test provokes on purpose.
//!
//! - Cluster mode: the pods are scheduled and Ready on kwok nodes, the pod
//!   passes the API server's PodSecurity admission at `restricted`, a repo
//!   of its own (a Namespace, a CRD, a ClusterRole granting everything and
//!   its binding, a Deployment) syncs to Ready and a commit without some of
//!   it prunes them, then all of example-repo syncs to Ready.
//! - Tenant mode: a Sync whose repo writes outside the agent's namespaces
//!   fails with the API server's 403 in its status and writes nothing
//!   there; a Sync naming a ServiceAccount applies as that account (what
//!   the account may not do is refused by name, though the agent's own
//!   Role would allow it).

mod support;

use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret};
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::agent::{self as agent_support, Agent};
use support::chart::{Release, agent_as_deployed, forbidden_lines, ready_pods};
use support::gitserver::{GitServer, Repo};

const NAMESPACE: &str = support::chart::NAMESPACE;

/// The Pod of the Deployment's template, created with a server-side dry run
/// in a namespace that enforces the `restricted` Pod Security Standard; and
/// the same Pod without its security settings, which must be refused (the
/// admission is on).
async fn assert_restricted(client: &Client, release: &str) {
    let ns = support::namespace(client, "pss").await;
    Api::<Namespace>::all(client.clone())
        .patch(
            &ns.name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest"}}})),
        )
        .await
        .unwrap();
    let deployment = Api::<Deployment>::namespaced(client.clone(), NAMESPACE)
        .get(release)
        .await
        .unwrap();
    let mut spec = serde_json::to_value(deployment.spec.unwrap().template.spec.unwrap()).unwrap();
    spec["serviceAccountName"] = json!("default");
    let pod = |spec: &Value| -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "agent"}, "spec": spec})).unwrap()
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    if let Err(e) = pods.create(&dry, &pod(&spec)).await {
        panic!("the chart's pod does not pass the restricted Pod Security Standard: {e}");
    }
    let mut loose = spec.clone();
    loose["securityContext"] = json!({});
    loose["containers"][0]["securityContext"] = json!({});
    let refused = pods
        .create(&dry, &pod(&loose))
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("PodSecurity"), "{refused}");
}

/// A Git repository on `server` with `files`, pushed; the Secret `git` of
/// `namespace` holds the server's credentials.
async fn pushed_repo(
    client: &Client,
    server: &GitServer,
    name: &str,
    namespace: &str,
    files: &[(&str, String)],
) -> (Repo, String) {
    let repo = server.create_repo(name);
    let tree = repo.work_tree();
    for (path, text) in files {
        tree.write(path, text);
    }
    let commit = tree.commit(name);
    tree.push();
    let creds = server.credentials().clone();
    agent_support::secret(
        client,
        namespace,
        "git",
        &[("username", &creds.username), ("password", &creds.password)],
    )
    .await;
    (repo, commit)
}

fn config_map(namespace: &str, name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\ndata:\n  greeting: hello\n"
    )
}

/// Waits until Sync `name` is Ready at its generation; panics at once on a
/// 403 in its status (a permission the chart lacks). Other failures are
/// waited out: another test may hold the same target for a while.
async fn wait_ready(
    client: &Client,
    agent: &Agent,
    namespace: &str,
    name: &str,
    timeout: Duration,
) -> Value {
    support::eventually(
        &format!("Sync {namespace}/{name} Ready"),
        timeout,
        || async {
            let sync = agent_support::get_sync(client, namespace, name).await;
            let ready = agent_support::condition(&sync, "Ready")?;
            assert!(
                !ready.2.contains("403") && !ready.2.contains("forbidden"),
                "the chart's ServiceAccount was refused: {sync:#}\n{}",
                agent.log_text()
            );
            let current = sync["status"]["observedGeneration"] == sync["metadata"]["generation"];
            (ready.0 == "True" && current).then_some(sync)
        },
    )
    .await
}

#[tokio::test]
async fn the_chart_installs_and_its_service_account_syncs_cluster_wide() {
    let client = support::cluster().await;
    let ns = support::namespace(&client, "chart").await;
    let (release, helm_out) = Release::install("weir-cw", &[format!("namespaces={{{}}}", ns.name)]);
    for needle in [
        "/hooks/<namespace>/<sync name>",
        "weir status",
        "kubectl get syncs -A",
    ] {
        assert!(
            helm_out.contains(needle),
            "NOTES without `{needle}`:\n{helm_out}"
        );
    }
    let pods = ready_pods(&client, &release.name, 2).await;
    assert_restricted(&client, &release.name).await;

    // A repo of its own first, which needs every kind of right the agent
    // has, whatever another test left in the cluster: a Namespace, a CRD,
    // a ClusterRole granting everything and its binding (escalate, bind),
    // a Deployment (health reads its pods); then a commit whose prune
    // deletes the ClusterRole, its binding and the Deployment.
    let id = support::unique_name("weir-chart");
    let server = GitServer::start();
    let (platform, commit) =
        pushed_repo(&client, &server, "platform", &ns.name, &platform_files(&id)).await;
    agent_support::apply_sync(
        &client,
        &ns.name,
        "platform",
        json!({"url": server.http_url(&platform), "interval": "1h", "secretRef": {"name": "git"},
               "target": id}),
    )
    .await;
    let work = tempfile::tempdir().unwrap();
    let agent = agent_as_deployed(&client, &release.name, &pods[0], work.path()).await;
    let sync = wait_ready(
        &client,
        &agent,
        &ns.name,
        "platform",
        Duration::from_secs(180),
    )
    .await;
    assert_eq!(sync["status"]["lastAppliedRevision"], commit.as_str());
    let cluster_roles: Api<ClusterRole> = Api::all(client.clone());
    cluster_roles
        .get(&id)
        .await
        .expect("the repo's ClusterRole");
    Api::<ConfigMap>::namespaced(client.clone(), &id)
        .get("hello")
        .await
        .expect("the repo's ConfigMap");
    support::eventually("the Applied Event", support::TIMEOUT, || async {
        let events = agent_support::events_of(&client, &ns.name, "platform").await;
        events
            .iter()
            .any(|(reason, _)| reason == "Applied")
            .then_some(())
    })
    .await;
    let tree = platform.work_tree();
    tree.git(&["rm", "--quiet", "cluster/rbac.yaml", "apps/deployment.yaml"]);
    let commit = tree.commit("less");
    tree.push();
    agent_support::patch_sync(
        &client,
        &ns.name,
        "platform",
        json!({"metadata": {"annotations": {"weir.dev/reconcile-requested-at": "less"}}}),
    )
    .await;
    let started = std::time::Instant::now();
    loop {
        let sync = agent_support::get_sync(&client, &ns.name, "platform").await;
        if sync["status"]["lastAppliedRevision"] == commit.as_str() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the commit that prunes was not applied: {:#}\n{}",
            sync["status"],
            agent.log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        cluster_roles.get_opt(&id).await.unwrap().is_none(),
        "pruned"
    );

    // Then all of example-repo: CRDs, ClusterRoles, PVs, Helm charts.
    support::example_repo::create_required_secrets(&client).await;
    // Its remote charts and encrypted Secrets: the Secrets the Sync names
    // are read with the chart's ServiceAccount, like the Git credentials.
    let example = support::example_repo::push_for_agent(&client, &ns.name, &server).await;
    agent_support::apply_sync(&client, &ns.name, "platforms", example.spec.clone()).await;
    let sync = wait_ready(
        &client,
        &agent,
        &ns.name,
        "platforms",
        Duration::from_secs(600),
    )
    .await;
    assert_eq!(
        sync["status"]["lastAppliedRevision"],
        example.commit.as_str()
    );
    assert!(
        sync["status"]["managed"].as_u64().unwrap() > 150,
        "{sync:#}"
    );

    let refused = forbidden_lines(&agent);
    assert!(
        refused.is_empty(),
        "the chart's ServiceAccount was refused requests:\n{}",
        refused.join("\n")
    );
    drop(agent);
    drop(release);
    // What the repo made that pruning keeps (a Namespace, a CRD).
    let _ = Api::<Namespace>::all(client.clone())
        .delete(&id, &Default::default())
        .await;
    let _ = Api::<CustomResourceDefinition>::all(client.clone())
        .delete(&format!("gadgets.{id}.weir.test"), &Default::default())
        .await;
}

/// A platform in miniature, in namespace `id`: a Namespace, a CRD, 13
/// ConfigMaps, a ServiceAccount, a ClusterRole granting
/// everything and its binding, and a Deployment.
fn platform_files(id: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "cluster/namespace.yaml",
            format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {id}\n"),
        ),
        (
            "cluster/crd.yaml",
            format!(
                "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
                 metadata:\n  name: gadgets.{id}.weir.test\nspec:\n  group: {id}.weir.test\n  \
                 names: {{kind: Gadget, plural: gadgets, singular: gadget}}\n  scope: Namespaced\n  \
                 versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      \
                 openAPIV3Schema:\n        type: object\n        properties:\n          \
                 spec: {{type: object, properties: {{size: {{type: integer}}}}}}\n"
            ),
        ),
        ("apps/config.yaml", config_map(id, "hello")),
        // Enough objects that the prune below (4 of them) stays within
        // the agent's default limit (a quarter of the inventory).
        (
            "apps/more.yaml",
            (1..=12)
                .map(|i| config_map(id, &format!("more-{i}")))
                .collect::<Vec<_>>()
                .join("---\n"),
        ),
        (
            "cluster/rbac.yaml",
            format!(
                "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: runner, namespace: {id}}}\n---\n\
                 apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: {id}}}\n\
                 rules:\n- apiGroups: ['*']\n  resources: ['*']\n  verbs: ['*']\n---\n\
                 apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: {id}}}\n\
                 roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {id}}}\n\
                 subjects: [{{kind: ServiceAccount, name: runner, namespace: {id}}}]\n"
            ),
        ),
        (
            "apps/deployment.yaml",
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: {id}}}\n\
                 spec:\n  replicas: 1\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    \
                 metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n      \
                 - {{name: web, image: registry.example.com/web:1}}\n"
            ),
        ),
    ]
}

#[tokio::test]
async fn tenant_mode_stays_in_its_namespaces_and_applies_as_the_syncs_service_account() {
    let client = support::cluster().await;
    let tenant = support::namespace(&client, "tenant").await;
    let outside = support::namespace(&client, "outside").await;
    let (release, _) = Release::install(
        "weir-tn",
        &[
            "mode=tenant".to_owned(),
            format!("namespaces={{{}}}", tenant.name),
        ],
    );
    let pods = ready_pods(&client, &release.name, 2).await;

    // A ServiceAccount of the tenant that may write ConfigMaps only.
    let admin = |yaml: String| {
        let out = Command::new(support::kubectl())
            .arg(format!(
                "--kubeconfig={}",
                support::kubeconfig_path().display()
            ))
            .args(["apply", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write as _;
                child.stdin.take().unwrap().write_all(yaml.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    admin(format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: deployer, namespace: {ns}}}\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: deployer, namespace: {ns}}}\n\
         rules:\n- apiGroups: ['']\n  resources: [configmaps]\n  verbs: [get, list, watch, create, patch, delete]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: deployer, namespace: {ns}}}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}}\n\
         subjects: [{{kind: ServiceAccount, name: deployer, namespace: {ns}}}]\n",
        ns = tenant.name
    ));

    let server = GitServer::start();
    // A repo that writes into its own namespace and into one the agent does not serve.
    let (escape, _) = pushed_repo(
        &client,
        &server,
        "escape",
        &tenant.name,
        &[
            ("inside.yaml", config_map(&tenant.name, "inside")),
            ("outside.yaml", config_map(&outside.name, "escaped")),
        ],
    )
    .await;
    // A repo the tenant's ServiceAccount may apply.
    let (own, _) = pushed_repo(
        &client,
        &server,
        "own",
        &tenant.name,
        &[("config.yaml", config_map(&tenant.name, "mine"))],
    )
    .await;
    agent_support::apply_sync(
        &client,
        &tenant.name,
        "escape",
        json!({"url": server.http_url(&escape), "interval": "1h", "secretRef": {"name": "git"},
               "target": support::unique_name("chart-escape")}),
    )
    .await;
    agent_support::apply_sync(
        &client,
        &tenant.name,
        "own",
        json!({"url": server.http_url(&own), "interval": "1h", "secretRef": {"name": "git"},
               "target": support::unique_name("chart-own"),
               "serviceAccountName": "deployer"}),
    )
    .await;
    let work = tempfile::tempdir().unwrap();
    let agent = agent_as_deployed(&client, &release.name, &pods[0], work.path()).await;

    // Outside its namespaces: the API server's 403, in the status, and nothing written.
    let message = support::eventually(
        "the escape Sync to fail",
        Duration::from_secs(120),
        || async {
            let sync = agent_support::get_sync(&client, &tenant.name, "escape").await;
            let (status, reason, message) = agent_support::condition(&sync, "Ready")?;
            (status == "False" && reason == "SyncFailed").then_some(message)
        },
    )
    .await;
    for needle in [
        "forbidden",
        "HTTP 403",
        &outside.name,
        &format!("system:serviceaccount:{NAMESPACE}:{}", release.name),
    ] {
        assert!(
            message.contains(needle),
            "`{needle}` missing from the status: {message}"
        );
    }
    let written = Api::<ConfigMap>::namespaced(client.clone(), &outside.name)
        .get_opt("escaped")
        .await
        .unwrap();
    assert!(
        written.is_none(),
        "nothing may be written outside the tenant's namespaces"
    );

    // As the Sync's ServiceAccount: what it may do is applied ...
    wait_ready(
        &client,
        &agent,
        &tenant.name,
        "own",
        Duration::from_secs(120),
    )
    .await;
    Api::<ConfigMap>::namespaced(client.clone(), &tenant.name)
        .get("mine")
        .await
        .expect("the ConfigMap the ServiceAccount applied");
    // ... and what it may not is refused by name, though the agent's own
    // Role would allow a Secret in the tenant's namespace.
    let tree = own.work_tree();
    tree.write(
        "secret.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: not-for-deployer\n  namespace: {}\nstringData:\n  a: b\n",
            tenant.name
        ),
    );
    tree.commit("a Secret");
    tree.push();
    agent_support::patch_sync(
        &client,
        &tenant.name,
        "own",
        json!({"metadata": {"annotations": {"weir.dev/reconcile-requested-at": "now"}}}),
    )
    .await;
    let deployer = format!("system:serviceaccount:{}:deployer", tenant.name);
    let message = support::eventually(
        "the Secret to be refused",
        Duration::from_secs(120),
        || async {
            let sync = agent_support::get_sync(&client, &tenant.name, "own").await;
            let (status, _, message) = agent_support::condition(&sync, "Ready")?;
            (status == "False" && message.contains("403")).then_some(message)
        },
    )
    .await;
    assert!(message.contains(&deployer), "{message}");
    assert!(
        Api::<Secret>::namespaced(client.clone(), &tenant.name)
            .get_opt("not-for-deployer")
            .await
            .unwrap()
            .is_none()
    );

    // No other request was refused: the agent's own ones are all granted.
    let unexpected: Vec<String> = forbidden_lines(&agent)
        .into_iter()
        .filter(|l| !l.contains(&outside.name) && !l.contains(&deployer))
        .collect();
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
    drop(agent);
    drop(release);
}
