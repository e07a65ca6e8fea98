//! `example-repo` in tests: where it is, the demo age key of its
//! SOPS-encrypted Secrets, the chart servers its remote charts come from
//! ([`ServedCharts`]: the real ChartMuseum and OCI registry serving
//! `example-charts/`, a copy of the repo pointing at them), and the two
//! Secrets its edge platform requires (in real life an operator creates
//! them; they never live in Git), made and removed idempotently.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

/// The license the edge platform's preflight requires (no real one).
pub const LICENSE: &str = "test-license-not-a-real-one";

/// The bundled `example-repo`.
pub fn path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("example-repo")
}

/// The demo age key that decrypts example-repo's SOPS-encrypted Secrets
/// (public, kept outside the config repo).
pub fn demo_age_key() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("xtask/demo.agekey")
}

/// A value of example-repo's SOPS-encrypted Secrets
/// (`knitfab/database-credential`, key `password`): in the cluster after a
/// sync with the key, never in weir's output.
pub const ENCRYPTED_PASSWORD: &str = "knit-demo-password";

/// The chart repository example-repo's edge platform names: the fixed
/// loopback port `cargo xtask demo` serves it on.
pub const DEMO_CHART_REPO: &str = "http://127.0.0.1:28080";
/// The OCI registry example-repo's ML lineage platform names (host), as
/// `cargo xtask demo` serves it.
pub const DEMO_OCI_REGISTRY: &str = "127.0.0.1:28081";

/// The stand-in charts example-repo's remote charts are published from.
pub fn charts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("example-charts")
}

/// example-repo's remote charts served as the demo serves them, on ports
/// of their own: `edge-operator` by ChartMuseum (basic auth), the five
/// `knit-*` charts by the OCI registry under `knitfab/` (basic auth).
/// A copy of example-repo ([`Self::copy_repo`]) names these servers instead
/// of the demo's fixed ports; weir gets the credentials file and a chart
/// cache of its own through [`Self::env`].
pub struct ServedCharts {
    pub museum: super::chartservers::ChartMuseum,
    pub registry: super::chartservers::OciRegistry,
    scratch: tempfile::TempDir,
}

impl ServedCharts {
    pub fn start() -> ServedCharts {
        let museum = super::chartservers::ChartMuseum::start();
        let registry = super::chartservers::OciRegistry::start();
        museum.upload(&charts_dir().join("edge-operator"));
        for chart in [
            "knit-storage-nfs",
            "knit-certs",
            "knit-db-postgres",
            "knit-image-registry",
            "knit-app",
        ] {
            registry.push_to(&charts_dir().join(chart), "knitfab");
        }
        let served = ServedCharts {
            museum,
            registry,
            scratch: tempfile::tempdir().expect("a scratch directory"),
        };
        std::fs::write(
            served.scratch.path().join("credentials.yaml"),
            served.credentials_yaml(),
        )
        .expect("writing the chart credentials");
        served
    }

    /// The credentials of both servers, as `$WEIR_CHART_CREDENTIALS` (and
    /// the agent's `chartCredentials` Secret, key `credentials.yaml`) take
    /// them.
    pub fn credentials_yaml(&self) -> String {
        let (m, r) = (self.museum.credentials(), self.registry.credentials());
        format!(
            "- url: {}\n  username: {}\n  password: {}\n- url: oci://{}\n  username: {}\n  password: {}\n",
            self.museum.url(),
            m.username,
            m.password,
            self.registry.host(),
            r.username,
            r.password
        )
    }

    /// The environment weir needs to fetch the charts: the credentials
    /// file and a chart cache of this test's own.
    pub fn env(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            (
                "WEIR_CHART_CREDENTIALS",
                self.scratch.path().join("credentials.yaml"),
            ),
            ("WEIR_CHART_CACHE", self.scratch.path().join("cache")),
        ]
    }

    /// Copies example-repo to `to`, its chart URLs naming these servers.
    pub fn copy_repo(&self, to: &Path) {
        super::git::copy_dir(&path(), to);
        self.point_at_servers(to);
    }

    /// Rewrites the demo's chart server addresses in every YAML file under
    /// `dir` to these servers'.
    pub fn point_at_servers(&self, dir: &Path) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                self.point_at_servers(&path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).unwrap();
                let new = text
                    .replace(DEMO_CHART_REPO, &self.museum.url())
                    .replace(DEMO_OCI_REGISTRY, &self.registry.host());
                if new != text {
                    std::fs::write(&path, new).unwrap();
                }
            }
        }
    }
}

/// example-repo as an agent's Sync takes it: pushed to the Git server as
/// the repository `platforms` (the Sync's `path: example-repo`), its remote
/// charts served by [`ServedCharts`] (keep [`ForAgent::charts`] alive), and
/// in `namespace` the Secrets the Sync names: `git` (the Git server's
/// login), `charts` (the chart servers' logins, `spec.chartCredentials`)
/// and `sops-age` (the demo age key, `spec.decryption`).
pub struct ForAgent {
    pub charts: ServedCharts,
    /// The pushed commit.
    pub commit: String,
    /// The Sync's spec: target `example-platforms`, adopted from whatever
    /// other test synced example-repo into it before.
    pub spec: serde_json::Value,
}

pub async fn push_for_agent(
    client: &Client,
    namespace: &str,
    server: &super::gitserver::GitServer,
) -> ForAgent {
    use super::agent as agent_support;
    let repo = server.create_repo("platforms");
    let tree = repo.work_tree();
    let charts = ServedCharts::start();
    charts.copy_repo(&tree.path().join("example-repo"));
    tree.write("README.md", "the platforms\n");
    let commit = tree.commit("example-repo");
    tree.push();
    agent_support::git_credentials(client, namespace, "git", server).await;
    agent_support::secret(
        client,
        namespace,
        "charts",
        &[("credentials.yaml", &charts.credentials_yaml())],
    )
    .await;
    let age_key = std::fs::read_to_string(demo_age_key()).unwrap();
    agent_support::secret(client, namespace, "sops-age", &[("age.agekey", &age_key)]).await;
    let spec = json!({
        "url": server.http_url(&repo), "path": "example-repo", "interval": "1h",
        "target": "example-platforms", "secretRef": {"name": "git"}, "timeout": "5m",
        "decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}},
        "chartCredentials": {"secretRef": {"name": "charts"}},
        // Other tests sync example-repo into the same target from other
        // sources (weir sync of a copy, the agent tests): this Sync takes
        // it over.
        "adopt": true,
    });
    ForAgent {
        charts,
        commit,
        spec,
    }
}

/// Checks that example-repo's SOPS-encrypted Secret is in the cluster
/// decrypted: `knitfab/database-credential` holds [`ENCRYPTED_PASSWORD`].
pub fn assert_encrypted_secret_applied_decrypted() {
    let credential = super::kubectl_ok(&[
        "-n",
        "knitfab",
        "get",
        "secret",
        "database-credential",
        "-o",
        "jsonpath={.data.password}",
    ]);
    assert_eq!(
        credential.trim(),
        super::secrets::b64(ENCRYPTED_PASSWORD),
        "the encrypted Secret must be applied decrypted"
    );
}

/// Deletes the two Secrets of edge-inference's preflight, if an earlier run
/// against the same cluster left them.
pub async fn remove_required_secrets(client: &Client) {
    if Api::<Namespace>::all(client.clone())
        .get_opt("edge")
        .await
        .unwrap()
        .is_none()
    {
        return;
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "edge");
    for name in ["edge-license", "regcred"] {
        if secrets.get_opt(name).await.unwrap().is_some() {
            secrets
                .delete(name, &DeleteParams::default())
                .await
                .unwrap();
        }
    }
    super::eventually("the edge Secrets to be gone", super::TIMEOUT, || {
        let secrets = secrets.clone();
        async move {
            let license = secrets.get_opt("edge-license").await.ok()?;
            let regcred = secrets.get_opt("regcred").await.ok()?;
            (license.is_none() && regcred.is_none()).then_some(())
        }
    })
    .await;
}

/// What an operator creates by hand before the first sync (never in Git):
/// the license and the registry pull secret.
pub async fn create_required_secrets(client: &Client) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if namespaces.get_opt("edge").await.unwrap().is_none() {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "edge"}})).unwrap();
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "edge");
    let license: Secret = serde_json::from_value(json!({
        "metadata": {"name": "edge-license"},
        "stringData": {"license": LICENSE},
    }))
    .unwrap();
    let regcred: Secret = serde_json::from_value(json!({
        "metadata": {"name": "regcred"},
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson":
            r#"{"auths":{"registry.example.com":{"auth":"dGVzdDp0ZXN0"}}}"#},
    }))
    .unwrap();
    for secret in [license, regcred] {
        secrets
            .patch(
                secret.metadata.name.as_deref().unwrap_or_default(),
                &PatchParams::apply("weir-tests").force(),
                &Patch::Apply(&secret),
            )
            .await
            .unwrap();
    }
}
