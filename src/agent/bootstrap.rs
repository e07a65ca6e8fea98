//! `weir bootstrap`: installs the agent the way platform teams install Argo
//! CD or Flux, in one command that can be run again and then changes
//! nothing.
//!
//! 1. The chart (the one built into weir, [`chart`](super::chart), or one
//!    named with `--chart`) with the real `helm upgrade --install` into
//!    `weir-system`, unless the release already holds exactly what the
//!    chart renders with the same values (then helm is not run at all, so
//!    no release revision is added).
//! 2. The chart's CRDs, applied server-side: helm installs `crds/` only
//!    once and never upgrades them.
//! 3. The credentials Secret, when credentials are given, and the first
//!    `Sync`, applied server-side (an unchanged object is not written).
//! 4. Waits until that Sync is `Ready` at its generation, and says what it
//!    did.
//!
//! What to create is computed here as plain values ([`secret_object`],
//! [`sync_object`], [`helm_values_args`]); [`run`] sends them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Serialize;
use serde_json::{Value, json};

use super::rbac::OWN_NAMESPACE;
use super::resource::{API_VERSION, GitRefSpec, KIND, SyncObject};
use crate::object::ObjectRef;
use crate::sync::Cluster;
use crate::sync::apply::{Action, ApplyOptions};

/// The field manager bootstrap applies as: not the agent's, so that once
/// the agent manages the same objects from the config repo (its own chart's
/// CRD, the Sync), neither takes away the fields the other set.
pub const FIELD_MANAGER: &str = "weir-bootstrap";

/// Why bootstrapping stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What was asked cannot be done as asked.
    #[error("{0}")]
    Invalid(String),
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Chart(#[from] super::chart::Error),
    #[error("cannot make a temporary directory for the chart")]
    TempDir(#[source] std::io::Error),
    #[error(transparent)]
    HelmMissing(#[from] crate::render::Error),
    #[error("could not run helm at {}", path.display())]
    HelmRun {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// helm ran and failed; its own words follow.
    #[error("`helm {command}` failed: {stderr}")]
    Helm { command: String, stderr: String },
    #[error("the chart's CRDs (helm show crds) do not parse: {0}")]
    Crds(String),
    #[error(transparent)]
    Cluster(#[from] crate::sync::apply::Error),
    /// The Sync stopped for a reason waiting does not cure.
    #[error("Sync {sync} is stalled: {message}\n  see `weir status {name} -n {namespace}`")]
    Stalled {
        sync: String,
        name: String,
        namespace: String,
        message: String,
    },
    #[error("Sync {sync} was not Ready after {}s: {last}", waited.as_secs())]
    Timeout {
        sync: String,
        waited: Duration,
        last: String,
    },
}

/// The `Result` of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which chart to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChartSource {
    /// The chart built into this weir ([`super::chart::FILES`]).
    BuiltIn,
    /// Whatever `helm` takes as a chart: a directory, `repo/weir`, or
    /// `oci://...`, at a version when given.
    Helm {
        chart: String,
        version: Option<String>,
    },
}

/// The Git credentials the first Sync uses.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A public repository (or a Secret that already exists, named in
    /// [`SyncRequest::secret_name`]).
    None,
    /// HTTPS: a user name and a password or token.
    Basic { username: String, password: String },
    /// SSH: a private key and the server's host keys.
    Ssh {
        identity: String,
        known_hosts: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::None => "None",
            Credentials::Basic { .. } => "Basic(..)",
            Credentials::Ssh { .. } => "Ssh(..)",
        })
    }
}

/// The first Sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    pub name: String,
    pub url: String,
    pub git_ref: GitRefSpec,
    pub path: Option<String>,
    pub interval: Option<String>,
    /// The credentials Secret's name: created from [`Credentials`] when
    /// some are given, else only referenced (it must exist).
    pub secret_name: Option<String>,
}

/// Everything `weir bootstrap` was told.
#[derive(Debug, Clone)]
pub struct Request {
    /// The Helm release, in [`OWN_NAMESPACE`].
    pub release: String,
    pub chart: ChartSource,
    /// `helm --values` files, in order.
    pub values_files: Vec<PathBuf>,
    /// `helm --set` assignments, in order.
    pub set: Vec<String>,
    pub sync: SyncRequest,
    pub credentials: Credentials,
    /// How long to wait for helm and for the Sync to be Ready.
    pub timeout: Duration,
    /// The kubeconfig and context, passed to helm too.
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Done {
    Installed,
    Upgraded,
    Created,
    Configured,
    Unchanged,
}

impl Done {
    fn of(action: Action) -> Self {
        match action {
            Action::Created => Done::Created,
            Action::Configured => Done::Configured,
            Action::Unchanged => Done::Unchanged,
        }
    }
}

/// One thing bootstrap installed or found as it should be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// `helm release weir-system/weir`, `Secret weir-system/git`, ...
    pub object: String,
    pub done: Done,
    /// More about it (the chart and the release's revision).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let done = match self.done {
            Done::Installed => "installed",
            Done::Upgraded => "upgraded",
            Done::Created => "created",
            Done::Configured => "configured",
            Done::Unchanged => "unchanged",
        };
        write!(f, "{}: {done}", self.object)?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

/// What bootstrap did, in order, and the Sync it waited for.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub steps: Vec<Step>,
    /// `namespace/name` of the Sync.
    pub sync: String,
    /// The commit the Sync applied.
    pub revision: Option<String>,
    /// Objects it manages.
    pub managed: Option<u64>,
    /// The Ready condition's message.
    pub message: String,
    pub seconds: f64,
}

/// What [`run`] reports as it goes.
#[derive(Debug, Clone)]
pub enum Progress<'a> {
    Step(&'a Step),
    /// Waiting for the Sync, with its Ready condition's message.
    Waiting {
        sync: &'a str,
        message: &'a str,
    },
}

impl Request {
    /// Refuses what cannot work, with what to do instead.
    pub fn check(&self) -> Result<()> {
        let dns_label = |s: &str| {
            !s.is_empty()
                && s.len() <= 53
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !s.starts_with('-')
                && !s.ends_with('-')
        };
        if !dns_label(&self.release) {
            return Err(Error::Invalid(format!(
                "--release {:?} is not a Helm release name: lowercase letters, digits and -, at most 53",
                self.release
            )));
        }
        if !dns_label(&self.sync.name) {
            return Err(Error::Invalid(format!(
                "--name {:?} is not a Sync name: lowercase letters, digits and -",
                self.sync.name
            )));
        }
        if crate::repo::redact_url(&self.sync.url) != self.sync.url {
            return Err(Error::Invalid(
                "--repo carries credentials in the URL: give them with --username and \
                 --password-file (or --ssh-key-file), which go into a Secret, never into the Sync"
                    .to_owned(),
            ));
        }
        if self.credentials != Credentials::None && self.sync.secret_name.is_none() {
            return Err(Error::Invalid(
                "credentials need the name of the Secret to keep them in".to_owned(),
            ));
        }
        Ok(())
    }
}

/// The namespace of the release, the Secret and the Sync.
pub fn namespace() -> &'static str {
    OWN_NAMESPACE
}

/// The credentials Secret, when credentials are given.
pub fn secret_object(request: &Request) -> Option<Value> {
    let name = request.sync.secret_name.as_deref()?;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let data = match &request.credentials {
        Credentials::None => return None,
        Credentials::Basic { username, password } => {
            json!({"username": b64(username), "password": b64(password)})
        }
        Credentials::Ssh {
            identity,
            known_hosts,
        } => json!({"identity": b64(identity), "known_hosts": b64(known_hosts)}),
    };
    Some(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace(),
            "labels": {"app.kubernetes.io/created-by": "weir-bootstrap"}},
        "type": "Opaque",
        "data": data,
    }))
}

/// The first Sync.
pub fn sync_object(request: &Request) -> Value {
    let s = &request.sync;
    let mut spec = json!({"url": s.url});
    if s.git_ref != GitRefSpec::default() {
        spec["ref"] = json!(s.git_ref);
    }
    if let Some(path) = &s.path {
        spec["path"] = json!(path);
    }
    if let Some(interval) = &s.interval {
        spec["interval"] = json!(interval);
    }
    if let Some(secret) = &s.secret_name {
        spec["secretRef"] = json!({"name": secret});
    }
    json!({
        "apiVersion": API_VERSION, "kind": KIND,
        "metadata": {"name": s.name, "namespace": namespace(),
            "labels": {"app.kubernetes.io/created-by": "weir-bootstrap"}},
        "spec": spec,
    })
}

/// The `--values` and `--set` arguments, the same for every helm command.
pub fn helm_values_args(request: &Request) -> Vec<String> {
    let mut args = Vec::new();
    for file in &request.values_files {
        args.push("--values".to_owned());
        args.push(file.display().to_string());
    }
    for set in &request.set {
        args.push("--set".to_owned());
        args.push(set.clone());
    }
    args
}

/// Whether two helm manifests (`---`-separated YAML) hold the same objects,
/// whatever their order and formatting.
pub fn same_manifest(a: &str, b: &str) -> bool {
    fn objects(text: &str) -> Option<Vec<Value>> {
        let mut objects = Vec::new();
        for doc in serde_yaml::Deserializer::from_str(text) {
            let value: Value = serde::Deserialize::deserialize(doc).ok()?;
            if !value.is_null() {
                objects.push(value);
            }
        }
        objects.sort_by_key(Value::to_string);
        Some(objects)
    }
    match (objects(a), objects(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The helm command line of one call, with the connection flags.
struct Helm<'a> {
    binary: &'a Path,
    request: &'a Request,
}

impl Helm<'_> {
    async fn run(&self, args: &[String]) -> Result<String> {
        let mut command = tokio::process::Command::new(self.binary);
        command.args(args);
        if let Some(kubeconfig) = &self.request.kubeconfig {
            command.arg("--kubeconfig").arg(kubeconfig);
        }
        if let Some(context) = &self.request.context {
            command.arg("--kube-context").arg(context);
        }
        let out = command
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|source| Error::HelmRun {
                path: self.binary.to_path_buf(),
                source,
            })?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        Err(Error::Helm {
            command: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }

    /// The release's status (`helm status -o json`), `None` when there is
    /// no such release.
    async fn status(&self) -> Result<Option<Value>> {
        let args = strings(&[
            "status",
            &self.request.release,
            "--namespace",
            namespace(),
            "--output",
            "json",
        ]);
        match self.run(&args).await {
            Ok(text) => Ok(serde_json::from_str(&text).ok()),
            Err(Error::Helm { stderr, .. }) if stderr.contains("not found") => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// Installs the chart, the Secret and the first Sync, and waits until the
/// Sync is Ready. `helm` is the helm binary; `on_progress` hears each step.
/// Objects are applied as [`FIELD_MANAGER`].
pub async fn run(
    request: &Request,
    cluster: Cluster,
    helm: &Path,
    on_progress: &(dyn Fn(Progress<'_>) + Send + Sync),
) -> Result<Report> {
    request.check()?;
    let cluster = &cluster.with_field_manager(FIELD_MANAGER);
    let started = Instant::now();
    let helm = Helm {
        binary: helm,
        request,
    };
    let mut steps = Vec::new();
    let mut step = |step: Step| {
        on_progress(Progress::Step(&step));
        steps.push(step);
    };

    // The chart, where helm can read it.
    let temp = tempfile::Builder::new()
        .prefix("weir-bootstrap-")
        .tempdir()
        .map_err(Error::TempDir)?;
    let (chart, version) = match &request.chart {
        ChartSource::BuiltIn => (
            super::chart::write_to(temp.path())?.display().to_string(),
            None,
        ),
        ChartSource::Helm { chart, version } => (chart.clone(), version.clone()),
    };
    let mut chart_args = vec![chart.clone()];
    if let Some(version) = &version {
        chart_args.push("--version".to_owned());
        chart_args.push(version.clone());
    }
    let values = helm_values_args(request);

    // 1. The release, unless it already holds what the chart renders.
    let ns = namespace();
    let before = helm.status().await?;
    let deployed = before
        .as_ref()
        .and_then(|s| s.pointer("/info/status"))
        .and_then(Value::as_str)
        == Some("deployed");
    let mut unchanged = false;
    if deployed {
        let mut template = strings(&["template", &request.release]);
        template.extend(chart_args.iter().cloned());
        template.extend(strings(&["--namespace", ns]));
        template.extend(values.iter().cloned());
        let desired = helm.run(&template).await?;
        let live = helm
            .run(&strings(&[
                "get",
                "manifest",
                &request.release,
                "--namespace",
                ns,
            ]))
            .await?;
        unchanged = same_manifest(&desired, &live);
    }
    if !unchanged {
        let mut upgrade = strings(&["upgrade", "--install", &request.release]);
        upgrade.extend(chart_args.iter().cloned());
        upgrade.extend(strings(&[
            "--namespace",
            ns,
            "--create-namespace",
            "--wait",
            "--timeout",
            &format!("{}s", request.timeout.as_secs().max(1)),
        ]));
        upgrade.extend(values.iter().cloned());
        helm.run(&upgrade).await?;
    }
    // `helm status` no longer names the chart; `helm get metadata` does
    // (its name, version and the release's revision).
    let metadata = helm
        .run(&strings(&[
            "get",
            "metadata",
            &request.release,
            "--namespace",
            ns,
            "--output",
            "json",
        ]))
        .await
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok());
    let detail = metadata.as_ref().map(|m| {
        format!(
            "chart {}-{}, revision {}",
            m.get("chart")
                .and_then(Value::as_str)
                .unwrap_or(super::chart::NAME),
            m.get("version").and_then(Value::as_str).unwrap_or("?"),
            m.get("revision").and_then(Value::as_i64).unwrap_or(0)
        )
    });
    step(Step {
        object: format!("helm release {ns}/{}", request.release),
        done: match (unchanged, before.is_some()) {
            (true, _) => Done::Unchanged,
            (false, true) => Done::Upgraded,
            (false, false) => Done::Installed,
        },
        detail,
    });

    // 2. The chart's CRDs: helm installs them once and never upgrades them.
    let mut show = strings(&["show", "crds"]);
    show.extend(chart_args.iter().cloned());
    let crds = helm.run(&show).await?;
    let options = ApplyOptions {
        dry_run: false,
        force_conflicts: true,
        concurrency: 1,
    };
    for doc in serde_yaml::Deserializer::from_str(&crds) {
        let crd: Value =
            serde::Deserialize::deserialize(doc).map_err(|e| Error::Crds(e.to_string()))?;
        if crd.is_null() {
            continue;
        }
        let (object, done) = apply(cluster, crd, &options).await?;
        step(Step {
            object: object.to_string(),
            done,
            detail: None,
        });
    }
    cluster.refresh_discovery().await?;

    // 3. The Secret and the Sync.
    if let Some(secret) = secret_object(request) {
        let (object, done) = apply(cluster, secret, &options).await?;
        step(Step {
            object: object.to_string(),
            done,
            detail: None,
        });
    }
    let (sync_ref, done) = apply(cluster, sync_object(request), &options).await?;
    step(Step {
        object: sync_ref.to_string(),
        done,
        detail: None,
    });

    // 4. Ready.
    let sync = wait_ready(cluster, &sync_ref, request.timeout, on_progress).await?;
    let status = sync.status.clone().unwrap_or_default();
    Ok(Report {
        steps,
        sync: sync.key(),
        revision: status.last_applied_revision.clone(),
        managed: status.managed,
        message: ready(&sync).map(|c| c.1).unwrap_or_default(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Applies one object server-side, unless it already is as desired.
async fn apply(
    cluster: &Cluster,
    mut value: Value,
    options: &ApplyOptions,
) -> Result<(ObjectRef, Done)> {
    let (object, _) = cluster.normalise(&mut value, Some(namespace())).await?;
    let live = cluster.get(&object).await?;
    let applied = cluster.apply(&value, live.as_ref(), options).await?;
    Ok((object, Done::of(applied.action)))
}

/// The Ready condition at the Sync's generation: `(ready, message)`.
fn ready(sync: &SyncObject) -> Option<(bool, String)> {
    let status = sync.status.as_ref()?;
    let generation = sync.metadata.generation;
    if status.observed_generation != generation {
        return None;
    }
    let c = status.conditions.iter().find(|c| c.type_ == "Ready")?;
    Some((c.status == "True", c.message.clone().unwrap_or_default()))
}

fn stalled(sync: &SyncObject) -> Option<String> {
    let status = sync.status.as_ref()?;
    if status.observed_generation != sync.metadata.generation {
        return None;
    }
    let c = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Stalled" && c.status == "True")?;
    Some(
        c.message
            .clone()
            .or_else(|| status.last_error.clone())
            .unwrap_or_default(),
    )
}

/// Polls the Sync until it is Ready at its generation, stalled, or
/// `timeout` passed.
async fn wait_ready(
    cluster: &Cluster,
    sync_ref: &ObjectRef,
    timeout: Duration,
    on_progress: &(dyn Fn(Progress<'_>) + Send + Sync),
) -> Result<SyncObject> {
    let key = format!(
        "{}/{}",
        sync_ref.namespace.as_deref().unwrap_or_default(),
        sync_ref.name
    );
    let deadline = Instant::now() + timeout;
    let mut said = None::<String>;
    loop {
        let sync = cluster
            .get(sync_ref)
            .await?
            .and_then(|v| SyncObject::from_value(v).ok());
        let message = match &sync {
            None => "the Sync is gone".to_owned(),
            Some(sync) => {
                if let Some((true, _)) = ready(sync) {
                    return Ok(sync.clone());
                }
                if let Some(message) = stalled(sync) {
                    return Err(Error::Stalled {
                        sync: key,
                        name: sync.metadata.name.clone(),
                        namespace: sync.metadata.namespace.clone(),
                        message,
                    });
                }
                match ready(sync) {
                    Some((_, message)) if !message.is_empty() => message,
                    _ => format!(
                        "no agent has taken it up yet: is the agent running \
                         (kubectl -n {} get pods), and is {} among the namespaces it serves?",
                        namespace(),
                        namespace()
                    ),
                }
            }
        };
        if said.as_deref() != Some(message.as_str()) {
            on_progress(Progress::Waiting {
                sync: &key,
                message: &message,
            });
            said = Some(message.clone());
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout {
                sync: key,
                waited: timeout,
                last: message,
            });
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Reads a file a flag names (a password, a key).
fn read_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The credentials the flags give: a user name and a file holding the
/// password or token (its trailing newline dropped), or an SSH key file
/// and a known_hosts file.
pub fn credentials(
    username: Option<&str>,
    password_file: Option<&Path>,
    ssh_key_file: Option<&Path>,
    known_hosts_file: Option<&Path>,
) -> Result<Credentials> {
    match (password_file, ssh_key_file, known_hosts_file) {
        (Some(_), Some(_), _) => Err(Error::Invalid(
            "give either --password-file (HTTPS) or --ssh-key-file (SSH), not both".to_owned(),
        )),
        (Some(file), None, _) => {
            let password = read_file(file)?.trim_end_matches(['\n', '\r']).to_owned();
            if password.is_empty() {
                return Err(Error::Invalid(format!(
                    "{} is empty: it must hold the password or token",
                    file.display()
                )));
            }
            Ok(Credentials::Basic {
                username: username.unwrap_or("git").to_owned(),
                password,
            })
        }
        (None, Some(key), Some(known_hosts)) => Ok(Credentials::Ssh {
            identity: read_file(key)?,
            known_hosts: read_file(known_hosts)?,
        }),
        (None, Some(_), None) => Err(Error::Invalid(
            "--ssh-key-file needs --known-hosts-file: the server's host keys (ssh-keyscan HOST, \
             checked against what your Git host publishes); an unknown host key is refused"
                .to_owned(),
        )),
        (None, None, _) if username.is_some() => Err(Error::Invalid(
            "--username needs --password-file, the file holding the password or token".to_owned(),
        )),
        (None, None, _) => Ok(Credentials::None),
    }
}

/// The name of the credentials Secret: the one given, else
/// `<sync name>-git` when there are credentials to keep.
pub fn secret_name(given: Option<&str>, sync: &str, credentials: &Credentials) -> Option<String> {
    match (given, credentials) {
        (Some(name), _) => Some(name.to_owned()),
        (None, Credentials::None) => None,
        (None, _) => Some(format!("{sync}-git")),
    }
}

/// `--ref`: `main` or `branch:main`, `tag:v1.4.0`, `commit:<sha>`.
pub fn parse_ref(text: &str) -> Result<GitRefSpec> {
    let text = text.trim();
    let (kind, value) = text.split_once(':').unwrap_or(("branch", text));
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::Invalid(format!(
            "--ref {text:?} names nothing: give main, branch:NAME, tag:NAME or commit:SHA"
        )));
    }
    let mut spec = GitRefSpec::default();
    match kind {
        "branch" => spec.branch = Some(value.to_owned()),
        "tag" => spec.tag = Some(value.to_owned()),
        "commit" if value.len() >= 7 && value.bytes().all(|b| b.is_ascii_hexdigit()) => {
            spec.commit = Some(value.to_ascii_lowercase());
        }
        "commit" => {
            return Err(Error::Invalid(format!(
                "--ref commit:{value} is not a commit: give its hexadecimal SHA (7 to 40 digits)"
            )));
        }
        other => {
            return Err(Error::Invalid(format!(
                "--ref {other}:... is not a kind of ref: use branch:, tag: or commit:"
            )));
        }
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        Request {
            release: "weir".into(),
            chart: ChartSource::BuiltIn,
            values_files: vec![PathBuf::from("prod.yaml")],
            set: vec!["replicas=3".into()],
            sync: SyncRequest {
                name: "platform".into(),
                url: "https://git.example/acme/platform.git".into(),
                git_ref: GitRefSpec {
                    tag: Some("v1".into()),
                    ..GitRefSpec::default()
                },
                path: Some("clusters/prod".into()),
                interval: None,
                secret_name: Some("platform-git".into()),
            },
            credentials: Credentials::Basic {
                username: "bot".into(),
                password: "s3cret-token".into(),
            },
            timeout: Duration::from_secs(300),
            kubeconfig: None,
            context: None,
        }
    }

    #[test]
    fn the_sync_and_secret_are_plain_values() {
        let r = request();
        let sync = sync_object(&r);
        assert_eq!(sync["metadata"]["namespace"], "weir-system");
        assert_eq!(sync["spec"]["ref"], json!({"tag": "v1"}));
        assert_eq!(sync["spec"]["secretRef"]["name"], "platform-git");
        assert_eq!(sync["spec"]["path"], "clusters/prod");
        assert!(
            !sync.to_string().contains("s3cret"),
            "no credential in the Sync"
        );
        let secret = secret_object(&r).unwrap();
        assert_eq!(secret["data"]["username"], "Ym90");
        assert!(secret["data"].get("password").is_some());
        assert_eq!(
            helm_values_args(&r),
            ["--values", "prod.yaml", "--set", "replicas=3"]
        );
        assert!(!format!("{r:?}").contains("s3cret"), "Debug hides them");
    }

    #[test]
    fn credentials_in_the_url_are_refused() {
        let mut r = request();
        r.sync.url = "https://bot:s3cret@git.example/a.git".into();
        let e = r.check().unwrap_err().to_string();
        assert!(
            e.contains("--password-file") && !e.contains("s3cret"),
            "{e}"
        );
    }

    #[test]
    fn refs_and_secret_names() {
        assert_eq!(parse_ref("main").unwrap().branch.as_deref(), Some("main"));
        assert_eq!(
            parse_ref("tag:v1.4.0").unwrap().tag.as_deref(),
            Some("v1.4.0")
        );
        assert_eq!(
            parse_ref("commit:ABC1234").unwrap().commit.as_deref(),
            Some("abc1234")
        );
        assert!(parse_ref("commit:xyz").is_err());
        assert!(parse_ref("head:x").is_err());
        let basic = Credentials::Basic {
            username: "u".into(),
            password: "p".into(),
        };
        assert_eq!(
            secret_name(None, "platform", &basic).as_deref(),
            Some("platform-git")
        );
        assert_eq!(secret_name(None, "platform", &Credentials::None), None);
        assert_eq!(
            secret_name(Some("mine"), "platform", &Credentials::None).as_deref(),
            Some("mine")
        );
    }

    #[test]
    fn manifests_compare_by_their_objects() {
        let a = "---\n# Source: a\nkind: A\nmetadata: {name: x}\n---\nkind: B\n";
        let b = "kind: B\n---\nkind: A\nmetadata:\n  name: x\n";
        assert!(same_manifest(a, b));
        assert!(!same_manifest(a, "kind: B\n"));
    }
}
