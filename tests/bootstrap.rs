//! `weir bootstrap` against the local control plane and the tests' Git
//! server: it installs the chart with the real helm, creates the
//! credentials Secret and the first Sync, and ends when the Sync is Ready;
//! a second run changes nothing (no helm revision, no resourceVersion
//! moves). The config repo holds the chart itself as a component, so the
//! agent (run as the chart's Deployment runs it, with its ServiceAccount's
//! token: kwok's pods run no process) ends up managing its own chart.
//! Then the README's uninstall: delete the Sync, `helm uninstall`, and what
//! weir applied stays.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use kube::discovery::ApiResource;
use support::chart::{NAMESPACE, Release, agent_as_deployed, forbidden_lines, ready_pods};
use support::gitserver::GitServer;

/// The config repo: the chart as component `weir` (the release, with the
/// values bootstrap is given) and an app.
fn write_config_repo(root: &Path, sync: &str, release: &str, apps: &str) {
    let write = |path: &str, text: String| {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    };
    write(
        "weir.yaml",
        format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: {sync}\nspec: {{}}\n"
        ),
    );
    write(
        "weir/component.yaml",
        format!(
            "# weir manages its own chart: the values are bootstrap's.\n\
             apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata:\n  name: weir\nspec:\n  \
             namespace: weir-system\n  createNamespace: false\n  source:\n    helm:\n      \
             chart: chart\n      releaseName: {release}\n      values:\n        \
             namespaces: [weir-system]\n"
        ),
    );
    for (path, text) in weir::agent::chart::FILES {
        write(&format!("weir/chart/{path}"), (*text).to_owned());
    }
    write(
        "apps/component.yaml",
        format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata:\n  name: apps\nspec:\n  \
             namespace: {apps}\n  createNamespace: false\n  source:\n    path: manifests\n"
        ),
    );
    write(
        "apps/manifests/hello.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\ndata:\n  greeting: hello\n"
            .to_owned(),
    );
}

fn bootstrap_args(
    url: &str,
    username: &str,
    password_file: &Path,
    sync: &str,
    release: &str,
) -> Vec<String> {
    [
        "bootstrap",
        "--repo",
        url,
        "--username",
        username,
        "--password-file",
        &password_file.display().to_string(),
        "--name",
        sync,
        "--release",
        release,
        "--set",
        "namespaces={weir-system}",
        "--interval",
        "1h",
        "--timeout",
        "5m",
        "--kubeconfig",
        &support::kubeconfig_path().display().to_string(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The resourceVersion of every object the release and bootstrap wrote,
/// and the helm release's revisions (its Secrets); the Deployment's
/// generation (its status moves with its pods).
async fn versions(client: &Client, release: &str, sync: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let namespaced: [(&str, &str, &str, &str, String); 8] = [
        (
            "",
            "v1",
            "ServiceAccount",
            "serviceaccounts",
            release.to_owned(),
        ),
        ("", "v1", "Service", "services", release.to_owned()),
        ("", "v1", "Secret", "secrets", format!("{sync}-git")),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "Role",
            "roles",
            format!("{release}-state"),
        ),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            format!("{release}-state"),
        ),
        (
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            release.to_owned(),
        ),
        ("weir.dev", "v1alpha1", "Sync", "syncs", sync.to_owned()),
        (
            "apps",
            "v1",
            "Deployment",
            "deployments",
            release.to_owned(),
        ),
    ];
    let cluster_scoped: [(&str, &str, &str, &str, String); 3] = [
        (
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            release.to_owned(),
        ),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            release.to_owned(),
        ),
        (
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            "syncs.weir.dev".to_owned(),
        ),
    ];
    let resource = |group: &str, version: &str, kind: &str, plural: &str| ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        },
        kind: kind.into(),
        plural: plural.into(),
    };
    for (group, version, kind, plural, name) in namespaced {
        let api: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            NAMESPACE,
            &resource(group, version, kind, plural),
        );
        let object = api
            .get(&name)
            .await
            .unwrap_or_else(|e| panic!("{kind} {name}: {e}"));
        let value = if kind == "Deployment" {
            format!("generation {}", object.metadata.generation.unwrap_or(0))
        } else {
            object.metadata.resource_version.unwrap_or_default()
        };
        out.insert(format!("{kind} {name}"), value);
    }
    for (group, version, kind, plural, name) in cluster_scoped {
        let api: Api<DynamicObject> =
            Api::all_with(client.clone(), &resource(group, version, kind, plural));
        let object = api
            .get(&name)
            .await
            .unwrap_or_else(|e| panic!("{kind} {name}: {e}"));
        out.insert(
            format!("{kind} {name}"),
            object.metadata.resource_version.unwrap_or_default(),
        );
    }
    let releases = Api::<Secret>::namespaced(client.clone(), NAMESPACE)
        .list(&ListParams::default().labels(&format!("owner=helm,name={release}")))
        .await
        .unwrap();
    for secret in releases.items {
        out.insert(
            format!(
                "helm release Secret {}",
                secret.metadata.name.unwrap_or_default()
            ),
            secret.metadata.resource_version.unwrap_or_default(),
        );
    }
    out
}

#[tokio::test]
async fn bootstrap_ends_ready_and_a_second_run_changes_nothing() {
    let client = support::cluster().await;
    let apps = support::namespace(&client, "boot-apps").await;
    let release = support::unique_name("weir-boot");
    let sync = support::unique_name("boot");
    let server = GitServer::start();
    let repo = server.create_repo("platform");
    let tree = repo.work_tree();
    write_config_repo(tree.path(), &sync, &release, &apps.name);
    let commit = tree.commit("the platform, and weir itself");
    tree.push();
    let work = tempfile::tempdir().unwrap();
    let password_file = work.path().join("password");
    std::fs::write(
        &password_file,
        format!("{}\n", server.credentials().password),
    )
    .unwrap();
    let args = bootstrap_args(
        &server.http_url(&repo),
        &server.credentials().username,
        &password_file,
        &sync,
        &release,
    );

    // The first run: helm installs the chart (its pods become Ready on kwok
    // nodes), then bootstrap waits for the Sync; the agent runs as the
    // Deployment would run it.
    let _release = Release::adopt(&release);
    let first = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running weir bootstrap");
    let pods = ready_pods(&client, &release, 2).await;
    let agent = agent_as_deployed(&client, &release, &pods[0], work.path()).await;
    let out = tokio::task::spawn_blocking(move || first.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let said = text(&out);
    assert!(
        out.status.success(),
        "weir bootstrap failed:\n{said}\n{}",
        agent.log_text()
    );
    // On a cluster without the CRD, helm creates it from the chart's
    // `crds/` and bootstrap's apply then takes its fields as
    // `weir-bootstrap` (configured); where earlier tests left it, as
    // bootstrap would apply it, it is unchanged. Either way the second run
    // below must find it unchanged.
    assert!(
        said.contains("CustomResourceDefinition syncs.weir.dev: configured")
            || said.contains("CustomResourceDefinition syncs.weir.dev: unchanged"),
        "the CRD's line missing from:\n{said}"
    );
    for line in [
        format!("helm release weir-system/{release}: installed (chart weir-0.1.0, revision 1)"),
        format!("Secret weir-system/{sync}-git: created"),
        format!("Sync weir-system/{sync}: created"),
        format!(
            "Sync weir-system/{sync}: Ready at {}",
            weir::agent::status::short(&commit)
        ),
    ] {
        assert!(said.contains(&line), "`{line}` missing from:\n{said}");
    }
    assert!(!said.contains(&server.credentials().password), "{said}");

    // The agent manages its own chart now, and the app.
    let deployment = Api::<Deployment>::namespaced(client.clone(), NAMESPACE)
        .get(&release)
        .await
        .unwrap();
    let labels = deployment.metadata.labels.unwrap_or_default();
    assert_eq!(
        labels
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("weir"),
        "the agent applied its own chart: {labels:?}"
    );
    Api::<ConfigMap>::namespaced(client.clone(), &apps.name)
        .get("hello")
        .await
        .expect("the app's ConfigMap");

    // The second run changes nothing.
    let before = versions(&client, &release, &sync).await;
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(&args)
        .output()
        .unwrap();
    let said = text(&out);
    assert!(out.status.success(), "the second run failed:\n{said}");
    for line in [
        format!("helm release weir-system/{release}: unchanged (chart weir-0.1.0, revision 1)"),
        "CustomResourceDefinition syncs.weir.dev: unchanged".to_owned(),
        format!("Secret weir-system/{sync}-git: unchanged"),
        format!("Sync weir-system/{sync}: unchanged"),
    ] {
        assert!(said.contains(&line), "`{line}` missing from:\n{said}");
    }
    assert_eq!(versions(&client, &release, &sync).await, before, "{said}");

    let refused = forbidden_lines(&agent);
    assert!(refused.is_empty(), "{}", refused.join("\n"));

    // Uninstalling keeps what weir applied: the Sync goes first (deleting a
    // Sync prunes nothing), then the release.
    drop(agent);
    let syncs: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        NAMESPACE,
        &ApiResource {
            group: "weir.dev".into(),
            version: "v1alpha1".into(),
            api_version: "weir.dev/v1alpha1".into(),
            kind: "Sync".into(),
            plural: "syncs".into(),
        },
    );
    syncs.delete(&sync, &DeleteParams::default()).await.unwrap();
    drop(_release);
    support::eventually(
        "the release's Deployment to be gone",
        support::TIMEOUT,
        || async {
            Api::<Deployment>::namespaced(client.clone(), NAMESPACE)
                .get_opt(&release)
                .await
                .ok()?
                .is_none()
                .then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    Api::<ConfigMap>::namespaced(client.clone(), &apps.name)
        .get("hello")
        .await
        .expect("what weir applied stays after helm uninstall");
    let _ = Api::<Secret>::namespaced(client.clone(), NAMESPACE)
        .delete(&format!("{sync}-git"), &DeleteParams::default())
        .await;
}
