//! The real `weir agent` as a process for the agent's tests: started with
//! the test cluster's admin kubeconfig (or a ServiceAccount's token, as the
//! chart runs it) on a free loopback port, its log kept in a
//! file, killed when dropped (or on demand, with SIGKILL); and plain
//! HTTP/1.1 requests to its port.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running agent.
pub struct Agent {
    child: Option<Child>,
    pub port: u16,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Agent {
    /// `weir agent <args>` with `--kubeconfig` and `--listen` added.
    pub fn start(args: &[&str]) -> Self {
        Self::start_with(args, &[])
    }

    /// [`start`](Self::start) with extra environment variables.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_as(&super::kubeconfig_path(), args, env)
    }

    /// `weir agent <args>` authenticated by `kubeconfig` (e.g. a
    /// ServiceAccount's token, [`service_account_kubeconfig`]), with
    /// `--listen` and `--cache-dir` added.
    pub fn start_as(kubeconfig: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("agent.log");
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .arg("--log-format")
            .arg("json")
            .arg("agent")
            .args(args)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .env("RUST_LOG", "weir=info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.path().join("agent.out")).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting weir agent");
        let agent = Self {
            child: Some(child),
            port,
            log,
            _dir: dir,
        };
        agent.wait_ready();
        agent
    }

    fn wait_ready(&self) {
        for _ in 0..200 {
            if self.get("/readyz").is_some_and(|(code, _)| code == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the agent did not become ready:\n{}", self.log_text());
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path`: status code and body, `None` when nothing answers.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        request(self.port, "GET", path, &[], b"")
    }

    /// `POST path` with headers and a body.
    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Option<(u16, String)> {
        request(self.port, "POST", path, headers, body)
    }

    /// The value of one metric series (`name{labels}` as printed), 0 when
    /// absent.
    pub fn metric(&self, series: &str) -> f64 {
        let (_, text) = self.get("/metrics").unwrap_or_default();
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .and_then(|rest| rest.trim().parse().ok())
            })
            .unwrap_or(0.0)
    }

    /// SIGKILL: no cleanup, no Lease given up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The agent's process id (for its memory, in benchmarks).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn dir(&self) -> &Path {
        self._dir.path()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A minimal HTTP/1.1 request to 127.0.0.1:`port`.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((code, body))
}

/// Installs (or updates) the Sync CRD from the chart, and waits until it
/// is served.
pub async fn install_crd(client: &kube::Client) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crd: CustomResourceDefinition =
        serde_yaml::from_str(weir::agent::resource::CRD_YAML).expect("the CRD parses");
    let api: kube::Api<CustomResourceDefinition> = kube::Api::all(client.clone());
    let params = kube::api::PatchParams::apply("weir-tests").force();
    api.patch("syncs.weir.dev", &params, &kube::api::Patch::Apply(&crd))
        .await
        .expect("applying the Sync CRD");
    super::eventually("the Sync CRD is established", super::TIMEOUT, || {
        let api = api.clone();
        async move {
            let crd = api.get("syncs.weir.dev").await.ok()?;
            crd.status?
                .conditions?
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
                .then_some(())
        }
    })
    .await;
}

fn syncs_api(client: &kube::Client, namespace: &str) -> kube::Api<kube::api::DynamicObject> {
    let resource = kube::discovery::ApiResource {
        group: "weir.dev".into(),
        version: "v1alpha1".into(),
        api_version: "weir.dev/v1alpha1".into(),
        kind: "Sync".into(),
        plural: "syncs".into(),
    };
    kube::Api::namespaced_with(client.clone(), namespace, &resource)
}

/// Creates (or replaces the spec of) Sync `name` in `namespace`.
pub async fn apply_sync(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    spec: serde_json::Value,
) {
    let body = serde_json::json!({
        "apiVersion": "weir.dev/v1alpha1", "kind": "Sync",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    });
    syncs_api(client, namespace)
        .patch(
            name,
            &kube::api::PatchParams::apply("weir-tests").force(),
            &kube::api::Patch::Apply(&body),
        )
        .await
        .expect("applying a Sync");
}

/// Merge-patches Sync `name` (e.g. an annotation).
pub async fn patch_sync(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    patch: serde_json::Value,
) {
    syncs_api(client, namespace)
        .patch(
            name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .expect("patching a Sync");
}

/// Sync `name` as the API server holds it.
pub async fn get_sync(client: &kube::Client, namespace: &str, name: &str) -> serde_json::Value {
    let object = syncs_api(client, namespace)
        .get(name)
        .await
        .expect("reading a Sync");
    serde_json::to_value(object).unwrap()
}

/// The condition `type_` of a Sync: `(status, reason, message)`.
pub fn condition(sync: &serde_json::Value, type_: &str) -> Option<(String, String, String)> {
    let c = sync["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)?;
    let text = |k: &str| c[k].as_str().unwrap_or("").to_owned();
    Some((text("status"), text("reason"), text("message")))
}

/// A Secret of string values.
pub async fn secret(client: &kube::Client, namespace: &str, name: &str, data: &[(&str, &str)]) {
    use k8s_openapi::api::core::v1::Secret;
    let string_data: std::collections::BTreeMap<String, String> = data
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": namespace},
        "stringData": string_data,
    }))
    .unwrap();
    kube::Api::<Secret>::namespaced(client.clone(), namespace)
        .patch(
            name,
            &kube::api::PatchParams::apply("weir-tests").force(),
            &kube::api::Patch::Apply(&secret),
        )
        .await
        .expect("applying a Secret");
}

/// Secret `name` holding the Git server's HTTP credentials (`username`,
/// `password`), as a Sync's `secretRef` names them.
pub async fn git_credentials(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    server: &super::gitserver::GitServer,
) {
    let creds = server.credentials();
    secret(
        client,
        namespace,
        name,
        &[("username", &creds.username), ("password", &creds.password)],
    )
    .await;
}

/// The Events recorded on Sync `name`, as `(reason, message)`.
pub async fn events_of(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Vec<(String, String)> {
    use k8s_openapi::api::core::v1::Event;
    let api: kube::Api<Event> = kube::Api::namespaced(client.clone(), namespace);
    let list = api
        .list(&kube::api::ListParams::default().fields(&format!("involvedObject.name={name}")))
        .await
        .expect("listing events");
    list.items
        .into_iter()
        .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect()
}

/// A kubeconfig for the test cluster that authenticates as ServiceAccount
/// `namespace/name`, with a token from the TokenRequest API (`kubectl
/// create token`), written into `dir`.
pub fn service_account_kubeconfig(namespace: &str, name: &str, dir: &Path) -> PathBuf {
    let admin = super::kubeconfig_path();
    let out = Command::new(super::kubectl())
        .arg(format!("--kubeconfig={}", admin.display()))
        .args(["create", "token", name, "-n", namespace, "--duration=2h"])
        .output()
        .expect("running kubectl create token");
    assert!(
        out.status.success(),
        "kubectl create token {namespace}/{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let admin: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&admin).unwrap()).unwrap();
    let cluster = admin["clusters"][0]["cluster"].clone();
    let kubeconfig = serde_json::json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "test", "cluster": cluster}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "test", "user": name, "namespace": namespace}}],
        "current-context": "sa",
    });
    let path = dir.join(format!("{namespace}-{name}.kubeconfig"));
    std::fs::write(&path, serde_yaml::to_string(&kubeconfig).unwrap()).unwrap();
    path
}
