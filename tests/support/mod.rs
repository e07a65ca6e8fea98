//! Shared helpers of the integration tests (`mod support;` in each test
//! file): a `kube::Client` for the control plane that `cargo xtask test`
//! started, a namespace of its own per test so tests run in parallel, and
//! polling with a timeout instead of fixed sleeps.
//!
//! Tests fail (never skip) when no cluster is configured: run them through
//! `cargo xtask test`, or against `cargo xtask testenv up` after
//! `eval "$(cargo xtask testenv env)"`.
#![allow(dead_code)] // each test file uses a different subset

pub mod agent;
pub mod browser;
pub mod chart;
pub mod chartservers;
pub mod creations;
pub mod example_repo;
pub mod git;
pub mod gitserver;
pub mod hostile;
pub mod hostile_repos;
pub mod kubeconform;
pub mod measure;
pub mod rng;
pub mod secrets;
pub mod servers;
pub mod sops;
pub mod tools;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// Default timeout of [`eventually`]: generous, the machine may be busy.
pub const TIMEOUT: Duration = Duration::from_secs(60);

fn env_path(var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => panic!(
            "{var} is not set: integration tests need the local control plane. \
             Run them with `cargo xtask test` (or `cargo xtask testenv up` and \
             `eval \"$(cargo xtask testenv env)\"` first)."
        ),
    }
}

/// The admin kubeconfig of the test cluster (`WEIR_TEST_KUBECONFIG`).
pub fn kubeconfig_path() -> PathBuf {
    env_path("WEIR_TEST_KUBECONFIG")
}

/// The built `kubectl` (`WEIR_KUBECTL`).
pub fn kubectl() -> PathBuf {
    env_path("WEIR_KUBECTL")
}

/// Runs the built kubectl against the test cluster with `args`; panics
/// with its stderr unless it succeeds. Its stdout.
pub fn kubectl_ok<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    let out = std::process::Command::new(kubectl())
        .arg("--kubeconfig")
        .arg(kubeconfig_path())
        .args(args)
        .output()
        .expect("running kubectl");
    assert!(
        out.status.success(),
        "kubectl {:?}: {}",
        args.iter()
            .map(|a| a.as_ref().to_string_lossy())
            .collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the weir binary under test with `args` (`NO_COLOR=1`): its exit
/// code, stdout and stderr.
pub fn weir_cli(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("running weir");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The built `helm` (`WEIR_HELM`).
pub fn helm() -> PathBuf {
    env_path("WEIR_HELM")
}

/// A client for the test cluster.
pub async fn cluster() -> Client {
    // kube's rustls is built with both ring and aws-lc-rs enabled (through
    // other dependencies), so rustls cannot pick a provider by itself.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let path = kubeconfig_path();
    let kubeconfig = Kubeconfig::read_from(&path)
        .unwrap_or_else(|e| panic!("reading the kubeconfig {}: {e}", path.display()));
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("loading the kubeconfig {}: {e}", path.display()));
    Client::try_from(config).expect("building the kube client")
}

/// A name no other test (in this or another run) uses: `<prefix>-<suffix>`.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{prefix}-{:x}{:x}{n}",
        std::process::id() % 0xffff,
        nanos % 0xfffff
    )
}

/// A namespace owned by one test, deleted (best-effort, without waiting)
/// when dropped.
pub struct TestNamespace {
    pub name: String,
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        // Drop cannot await; kubectl keeps this independent of the test's
        // (possibly panicking) async runtime.
        let _ = std::process::Command::new(kubectl())
            .arg(format!("--kubeconfig={}", kubeconfig_path().display()))
            .args(["delete", "namespace", &self.name, "--wait=false"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Creates a fresh namespace for a test and waits until pods can be
/// created in it (its `default` ServiceAccount exists).
pub async fn namespace(client: &Client, prefix: &str) -> TestNamespace {
    let name = unique_name(&format!("t-{prefix}"));
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {"weir.dev/test": "true"}}
    }))
    .expect("namespace object");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
    let guard = TestNamespace { name: name.clone() };
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &name);
    eventually(
        "the default ServiceAccount of the test namespace",
        TIMEOUT,
        || {
            let sas = sas.clone();
            async move { sas.get_opt("default").await.ok().flatten() }
        },
    )
    .await;
    guard
}

/// Polls `probe` every 250 ms until it returns `Some`, and returns that;
/// panics naming `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
