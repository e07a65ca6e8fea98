//! Real Helm chart repositories per test, on loopback over plain HTTP with
//! basic auth: ChartMuseum (a classic `index.yaml` repository, storage in a
//! temporary directory) and the CNCF distribution registry (OCI, with a
//! bcrypt htpasswd file). Charts are packaged with the real `helm package`
//! and uploaded through ChartMuseum's API or pushed with `helm push`.
//! Either server can be stopped and restarted on the same port.
//!
//! ```ignore
//! let museum = ChartMuseum::start();
//! let chart = museum.upload(&chart_dir);          // helm package + POST /api/charts
//! // helm pull --repo museum.url() chart.name --username ... --password ...
//! let registry = OciRegistry::start();
//! let reference = registry.push(&chart_dir);       // oci://127.0.0.1:<port>/charts/<name>
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::servers::{self, Credentials, Daemon};

/// A chart packaged by `helm package`.
#[derive(Debug, Clone)]
pub struct PackagedChart {
    pub name: String,
    pub version: String,
    /// The `.tgz` file.
    pub archive: PathBuf,
}

/// A `helm` command (`$WEIR_HELM`) whose configuration, cache, repository
/// list and registry logins live under `home` only, so tests (and the
/// servers' own uploads) never share or read the user's.
pub fn helm_command(home: &Path) -> Command {
    let mut cmd = Command::new(super::helm());
    cmd.env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env("HELM_REGISTRY_CONFIG", home.join("registry.json"))
        .env("HELM_REPOSITORY_CONFIG", home.join("repositories.yaml"))
        .env("HELM_REPOSITORY_CACHE", home.join("cache/repository"));
    cmd
}

/// Packages the chart directory `chart` with `helm package` into `out`.
pub fn package(chart: &Path, out: &Path) -> PackagedChart {
    let meta = fs::read_to_string(chart.join("Chart.yaml"))
        .unwrap_or_else(|e| panic!("reading {}/Chart.yaml: {e}", chart.display()));
    let meta: serde_yaml::Value = serde_yaml::from_str(&meta)
        .unwrap_or_else(|e| panic!("parsing {}/Chart.yaml: {e}", chart.display()));
    let field = |key: &str| {
        meta.get(key)
            .and_then(serde_yaml::Value::as_str)
            .unwrap_or_else(|| panic!("{}/Chart.yaml has no {key}", chart.display()))
            .to_owned()
    };
    let (name, version) = (field("name"), field("version"));
    fs::create_dir_all(out).expect("creating the package directory");
    servers::run(
        helm_command(out)
            .arg("package")
            .arg(chart)
            .arg("--destination")
            .arg(out),
    );
    let archive = out.join(format!("{name}-{version}.tgz"));
    assert!(
        archive.is_file(),
        "helm package made no {}",
        archive.display()
    );
    PackagedChart {
        name,
        version,
        archive,
    }
}

/// A ChartMuseum server (`$WEIR_CHARTMUSEUM`) with basic auth on every
/// request, charts stored in its own temporary directory.
pub struct ChartMuseum {
    dir: TempDir,
    port: u16,
    credentials: Credentials,
    daemon: Option<Daemon>,
}

impl ChartMuseum {
    pub fn start() -> ChartMuseum {
        let dir = tempfile::Builder::new()
            .prefix("weir-chartmuseum-")
            .tempdir()
            .expect("creating ChartMuseum's directory");
        fs::create_dir_all(dir.path().join("charts")).expect("creating the chart storage");
        let credentials = Credentials::generate("charts");
        let (port, daemon) = servers::start_on_free_port("chartmuseum", |port| {
            start_chartmuseum(dir.path(), port, &credentials).map(|d| (port, d))
        });
        ChartMuseum {
            dir,
            port,
            credentials,
            daemon: Some(daemon),
        }
    }

    /// The repository URL: `http://127.0.0.1:<port>` (no credentials).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Packages `chart` and uploads it (`POST /api/charts`); the chart is
    /// in the repository's index when this returns.
    pub fn upload(&self, chart: &Path) -> PackagedChart {
        let packaged = package(chart, &self.dir.path().join("packages"));
        let out = servers::run(
            Command::new("curl")
                .args(["-sS", "--fail-with-body", "--max-time", "30", "-u"])
                .arg(format!(
                    "{}:{}",
                    self.credentials.username, self.credentials.password
                ))
                .arg("--data-binary")
                .arg(format!("@{}", packaged.archive.display()))
                .arg(format!("{}/api/charts", self.url())),
        );
        let body = String::from_utf8_lossy(&out.stdout);
        assert!(
            body.contains("\"saved\":true"),
            "ChartMuseum did not save {}: {body}",
            packaged.archive.display()
        );
        packaged
    }

    /// Whether the server runs.
    pub fn is_running(&self) -> bool {
        self.daemon.is_some()
    }

    /// Stops the server (SIGKILL); the stored charts stay.
    pub fn stop(&mut self) {
        self.daemon = None;
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.daemon = Some(
            start_chartmuseum(self.dir.path(), self.port, &self.credentials)
                .unwrap_or_else(|e| panic!("restarting chartmuseum: {e}")),
        );
    }

    /// The server's directory (charts/, the log): for diagnostics.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn start_chartmuseum(dir: &Path, port: u16, credentials: &Credentials) -> Result<Daemon, String> {
    let mut cmd = Command::new(servers::binary("WEIR_CHARTMUSEUM"));
    cmd.arg(format!("--port={port}"))
        .arg("--listen-host=127.0.0.1")
        .arg("--storage=local")
        .arg(format!(
            "--storage-local-rootdir={}",
            dir.join("charts").display()
        ))
        .arg(format!("--basic-auth-user={}", credentials.username))
        .arg(format!("--basic-auth-pass={}", credentials.password))
        .arg("--disable-metrics")
        .current_dir(dir);
    Daemon::start("chartmuseum", cmd, &dir.join("chartmuseum.log"), port)
}

/// A CNCF distribution registry (`$WEIR_REGISTRY`, OCI) with htpasswd
/// basic auth, storage in its own temporary directory.
pub struct OciRegistry {
    dir: TempDir,
    port: u16,
    credentials: Credentials,
    daemon: Option<Daemon>,
}

impl OciRegistry {
    pub fn start() -> OciRegistry {
        let dir = tempfile::Builder::new()
            .prefix("weir-registry-")
            .tempdir()
            .expect("creating the registry's directory");
        let credentials = Credentials::generate("oci");
        let hash = bcrypt::hash(&credentials.password, 4).expect("hashing the registry password");
        servers::write_file(
            &dir.path().join("htpasswd"),
            &format!("{}:{hash}\n", credentials.username),
            0o600,
        );
        let (port, daemon) = servers::start_on_free_port("registry", |port| {
            start_registry(dir.path(), port).map(|d| (port, d))
        });
        let registry = OciRegistry {
            dir,
            port,
            credentials,
            daemon: Some(daemon),
        };
        registry.login(registry.helm_home());
        registry
    }

    /// `127.0.0.1:<port>`, as `helm registry login` takes it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Where [`Self::push`] puts charts: `oci://127.0.0.1:<port>/charts`.
    pub fn url(&self) -> String {
        format!("oci://{}/charts", self.host())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// `helm registry login --plain-http` with this registry's credentials,
    /// into the helm home `home` (see [`helm_command`]).
    pub fn login(&self, home: &Path) {
        servers::run(
            helm_command(home)
                .args(["registry", "login", "--plain-http", "--username"])
                .arg(&self.credentials.username)
                .arg("--password")
                .arg(&self.credentials.password)
                .arg(self.host()),
        );
    }

    /// Packages `chart` and pushes it (`helm push --plain-http`); returns
    /// its reference, `oci://127.0.0.1:<port>/charts/<name>` (pull it with
    /// `--version`).
    pub fn push(&self, chart: &Path) -> (PackagedChart, String) {
        self.push_to(chart, "charts")
    }

    /// Like [`Self::push`], under the repository path `path`
    /// (`oci://127.0.0.1:<port>/<path>/<name>`).
    pub fn push_to(&self, chart: &Path, path: &str) -> (PackagedChart, String) {
        let packaged = package(chart, &self.dir.path().join("packages"));
        let url = format!("oci://{}/{path}", self.host());
        servers::run(
            helm_command(self.helm_home())
                .arg("push")
                .arg(&packaged.archive)
                .arg(&url)
                .arg("--plain-http"),
        );
        let reference = format!("{url}/{}", packaged.name);
        (packaged, reference)
    }

    /// The helm home the registry's own pushes are logged in with.
    fn helm_home(&self) -> &Path {
        self.dir.path()
    }

    pub fn is_running(&self) -> bool {
        self.daemon.is_some()
    }

    /// Stops the server (SIGKILL); the stored charts stay.
    pub fn stop(&mut self) {
        self.daemon = None;
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.daemon = Some(
            start_registry(self.dir.path(), self.port)
                .unwrap_or_else(|e| panic!("restarting the registry: {e}")),
        );
    }

    /// The server's directory (storage/, config, log): for diagnostics.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn start_registry(dir: &Path, port: u16) -> Result<Daemon, String> {
    let config = dir.join("registry.yml");
    let text = format!(
        "# Generated by tests/support/chartservers.rs.\n\
         version: 0.1\n\
         log:\n  level: info\n\
         storage:\n  filesystem:\n    rootdirectory: {root}/storage\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:{port}\n  secret: {secret}\n\
         auth:\n  htpasswd:\n    realm: weir-test-registry\n    path: {root}/htpasswd\n",
        root = dir.display(),
        secret = servers::random_hex(16),
    );
    servers::write_file(&config, &text, 0o600);
    let mut cmd = Command::new(servers::binary("WEIR_REGISTRY"));
    cmd.arg("serve")
        .arg(&config)
        .current_dir(dir)
        // Its tracing would export spans over OTLP to localhost:4318.
        .env("OTEL_TRACES_EXPORTER", "none");
    Daemon::start("registry", cmd, &dir.join("registry.log"), port)
}

/// A chart directory `demo` at `version`, made under `dir`: one ConfigMap
/// named after the release, with the value `greeting` (default `hello`)
/// and the chart's `version` as data.
pub fn demo_chart(dir: &Path, version: &str) -> PathBuf {
    let chart = dir.join(format!("demo-{version}"));
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        format!("apiVersion: v2\nname: demo\nversion: {version}\n"),
    )
    .unwrap();
    std::fs::write(chart.join("values.yaml"), "greeting: hello\n").unwrap();
    std::fs::write(
        chart.join("templates/configmap.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}\n\
             data:\n  greeting: {{{{ .Values.greeting | quote }}}}\n  version: \"{version}\"\n"
        ),
    )
    .unwrap();
    chart
}
