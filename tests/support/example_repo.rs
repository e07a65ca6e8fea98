//! `example-repo` in tests: where it is, the demo age key of its
//! SOPS-encrypted Secrets, and the two Secrets its edge platform requires
//! (in real life an operator creates them; they never live in Git), made
//! and removed idempotently.

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
