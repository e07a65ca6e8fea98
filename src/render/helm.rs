//! The edge where rendering runs the real `helm template`: the
//! [`ChartRenderer`] trait (so the pure parts can be tested with a fake),
//! [`HelmBinary`] which writes a chart from the repo's file tree to a
//! temporary directory and runs helm on it, and the parsing of helm's
//! output into documents with the chart file each came from.
//!
//! A chart is untrusted input like the rest of the repo: helm runs with
//! the request's time limit and output limit, and is killed past either
//! ([`ChartOutput::Stopped`]).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use super::kustomize::KustomizeRequest;
use super::remote::{ChartFetch, Fetched};
use super::{Error, Result};

/// Environment variable naming the helm binary to use (before `PATH`).
pub const HELM_ENV: &str = "WEIR_HELM";

/// Everything `helm template` needs for one chart component.
#[derive(Debug, Clone)]
pub struct ChartRequest<'a> {
    pub component: &'a str,
    /// Repo-relative chart directory (for a remote chart,
    /// `chart-version`): what its objects' source files are named under.
    pub chart_dir: &'a str,
    /// The chart's files, paths relative to `chart_dir` (a remote chart's
    /// are its archive's, [`super::archive`]), with the archives of the
    /// dependencies weir fetched for it as `charts/<name>-<version>.tgz`.
    pub files: Vec<(&'a str, &'a [u8])>,
    pub release_name: &'a str,
    pub namespace: &'a str,
    /// Values given to helm (files, `valuesFrom` and inline, merged).
    pub values: &'a Value,
    /// `--kube-version`.
    pub kube_version: &'a str,
    /// Past this, helm is killed ([`ChartOutput::Stopped`]).
    pub timeout: Duration,
    /// Past this many bytes of output, helm is killed.
    pub max_output: u64,
    /// helm's data segment is capped at this many bytes (Linux).
    pub max_memory: u64,
}

/// What came out of one `helm template` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChartOutput {
    /// The rendered manifests (helm's stdout).
    Rendered(String),
    /// Helm refused the chart; its error message.
    Failed(String),
    /// Helm passed a limit of the run and was killed.
    Stopped(Stopped),
}

/// Which limit a `helm template` passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It ran longer than this.
    Timeout(Duration),
    /// It wrote more than this many bytes.
    Output(u64),
    /// It ran out of its memory cap of this many bytes.
    Memory(u64),
}

impl Stopped {
    /// What happened, for a finding about `component`'s chart.
    pub fn message(&self, component: &str) -> String {
        self.message_of("helm template", component)
    }

    /// What happened when `tool` (`helm template`, `kustomize build`) ran
    /// for `component`.
    pub fn message_of(&self, tool: &str, component: &str) -> String {
        match self {
            Stopped::Timeout(limit) => format!(
                "{tool} of component `{component}` ran longer than {}, so weir killed it \
                 (a template that loops for ever, or nearly)",
                crate::sync::plan::format_duration(*limit)
            ),
            Stopped::Output(limit) => format!(
                "{tool} of component `{component}` wrote more than {} of manifests, so \
                 weir killed it",
                format_bytes(*limit)
            ),
            Stopped::Memory(limit) => format!(
                "{tool} of component `{component}` needed more than {} of memory (output of \
                 gigabytes, or nearly), so it stopped",
                format_bytes(*limit)
            ),
        }
    }

    /// How to raise the limit, when the chart really needs it.
    pub fn hint(&self) -> String {
        self.hint_of("check the chart's loops (`range`, `until`) with `helm template`")
    }

    /// How to raise the limit, after `check` (what to look at first).
    pub fn hint_of(&self, check: &str) -> String {
        let flag = match self {
            Stopped::Timeout(_) => crate::budget::HELM_TIMEOUT_FLAG,
            Stopped::Output(_) => crate::budget::MAX_HELM_OUTPUT_FLAG,
            Stopped::Memory(_) => crate::budget::MAX_HELM_MEMORY_FLAG,
        };
        format!(
            "{check}; if it really needs more, raise the limit where weir runs ({flag} on weir \
             validate, plan, render, diff, sync and agent); a repo cannot raise it"
        )
    }
}

/// `33554432` → `32 MiB`.
fn format_bytes(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// Renders a chart, or builds a kustomization: the tools rendering runs.
/// Implemented by [`HelmBinary`]; tests may fake it.
pub trait ChartRenderer: Sync {
    /// `Err` only for failures of the machine (no helm, no temp dir);
    /// problems of the chart itself are [`ChartOutput::Failed`].
    fn template(&self, request: &ChartRequest<'_>) -> Result<ChartOutput>;

    /// `kustomize build` of a kustomization. `Err` only for failures of
    /// the machine; by default there is no kustomize
    /// ([`Error::KustomizeNotFound`]).
    fn kustomize(&self, request: &KustomizeRequest<'_>) -> Result<ChartOutput> {
        let _ = request;
        Err(Error::KustomizeNotFound { from_env: None })
    }

    /// Fetches a remote chart. `Err` only for failures of the machine (no
    /// helm, no cache); by default remote charts cannot be fetched.
    fn fetch(&self, request: &ChartFetch<'_>) -> Result<Fetched> {
        Ok(Fetched::Failed(format!(
            "this renderer fetches no remote charts ({})",
            request.chart
        )))
    }
}

/// The `helm` binary: `$WEIR_HELM`, else `helm` on `PATH`, looked up on
/// first use (a repo without charts never needs it); and likewise the
/// `kustomize` binary (`$WEIR_KUSTOMIZE`, else `kustomize` on `PATH`) for
/// kustomizations ([`super::kustomize`]).
#[derive(Debug, Default)]
pub struct HelmBinary {
    path: OnceLock<Option<PathBuf>>,
    kustomize: OnceLock<Option<PathBuf>>,
    credentials: OnceLock<std::result::Result<super::remote::Credentials, (PathBuf, String)>>,
    /// The chart cache, when not [`super::remote::cache_dir`].
    cache: Option<PathBuf>,
}

impl HelmBinary {
    pub fn new() -> Self {
        Self::default()
    }

    /// A helm binary at a known path.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        let found = OnceLock::new();
        let _ = found.set(Some(path.into()));
        Self {
            path: found,
            kustomize: OnceLock::new(),
            credentials: OnceLock::new(),
            cache: None,
        }
    }

    /// This helm with the chart repository credentials `credentials`
    /// (the agent's, from a Secret) instead of `$WEIR_CHART_CREDENTIALS`.
    pub fn with_credentials(self, credentials: super::remote::Credentials) -> Self {
        let set = OnceLock::new();
        let _ = set.set(Ok(credentials));
        Self {
            credentials: set,
            ..self
        }
    }

    /// This helm with its chart cache in `dir` instead of
    /// [`super::remote::cache_dir`].
    pub fn with_cache_dir(self, dir: impl Into<PathBuf>) -> Self {
        Self {
            cache: Some(dir.into()),
            ..self
        }
    }

    /// Where kustomize is, or the error that tells how to get it.
    pub fn locate_kustomize(&self) -> Result<&Path> {
        self.kustomize
            .get_or_init(|| find_tool(super::kustomize::KUSTOMIZE_ENV, "kustomize"))
            .as_deref()
            .ok_or_else(|| Error::KustomizeNotFound {
                from_env: std::env::var_os(super::kustomize::KUSTOMIZE_ENV).map(PathBuf::from),
            })
    }

    /// Where helm is, or the error that tells how to get it.
    pub fn locate(&self) -> Result<&Path> {
        self.path
            .get_or_init(find_helm)
            .as_deref()
            .ok_or_else(|| Error::HelmNotFound {
                from_env: std::env::var_os(HELM_ENV).map(PathBuf::from),
            })
    }
}

fn find_helm() -> Option<PathBuf> {
    find_tool(HELM_ENV, "helm")
}

/// `$env` when it is set (and a file), else `name` on `PATH`.
pub(super) fn find_tool(env: &str, name: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

impl ChartRenderer for HelmBinary {
    fn kustomize(&self, request: &KustomizeRequest<'_>) -> Result<ChartOutput> {
        super::kustomize::build(self.locate_kustomize()?, request)
    }

    fn fetch(&self, request: &ChartFetch<'_>) -> Result<Fetched> {
        let helm = self.locate()?;
        let credentials = self.credentials.get_or_init(|| {
            super::remote::Credentials::from_env().map_err(|e| match e {
                Error::ChartCredentials { path, why } => (path, why),
                other => (PathBuf::new(), other.to_string()),
            })
        });
        match credentials {
            Ok(credentials) => {
                super::remote::fetch(helm, credentials, self.cache.as_deref(), request)
            }
            Err((path, why)) => Err(Error::ChartCredentials {
                path: path.clone(),
                why: why.clone(),
            }),
        }
    }

    fn template(&self, request: &ChartRequest<'_>) -> Result<ChartOutput> {
        let helm = self.locate()?;
        let tmp_err = |source| Error::TempDir {
            component: request.component.to_owned(),
            source,
        };
        let tmp = tempfile::Builder::new()
            .prefix("weir-helm-")
            .tempdir()
            .map_err(tmp_err)?;
        let chart = tmp.path().join("chart");
        super::tool::write_tree(&chart, request.files.iter().copied()).map_err(tmp_err)?;
        let values = tmp.path().join("values.json");
        let mut file = std::fs::File::create(&values).map_err(tmp_err)?;
        serde_json::to_writer(&mut file, request.values)
            .map_err(|e| tmp_err(std::io::Error::other(e)))?;
        file.flush().map_err(tmp_err)?;
        drop(file);

        let mut command = Command::new(helm);
        command
            .arg("template")
            .arg(request.release_name)
            .arg(&chart)
            .arg("--namespace")
            .arg(request.namespace)
            .arg("--values")
            .arg(&values)
            .arg("--include-crds")
            .arg("--skip-tests")
            .arg("--kube-version")
            .arg(request.kube_version)
            // Keep helm away from the user's repositories and caches: a
            // local chart needs none of them.
            .env("HELM_CACHE_HOME", tmp.path().join("cache"))
            .env("HELM_CONFIG_HOME", tmp.path().join("config"))
            .env("HELM_DATA_HOME", tmp.path().join("data"));
        let bounds = super::tool::Bounds {
            timeout: request.timeout,
            max_output: request.max_output,
            max_memory: request.max_memory,
        };
        let run = super::tool::run(command, None, &bounds).map_err(|source| Error::ToolRun {
            path: helm.to_owned(),
            source,
        })?;
        Ok(match run {
            super::tool::Run::Succeeded(stdout) => {
                ChartOutput::Rendered(String::from_utf8_lossy(&stdout).into_owned())
            }
            super::tool::Run::Stopped(why) => ChartOutput::Stopped(why),
            super::tool::Run::Failed { status, stderr } => {
                let chart_path = chart.to_string_lossy();
                let message = stderr
                    .replace(chart_path.as_ref(), request.chart_dir)
                    .trim()
                    .to_owned();
                ChartOutput::Failed(if message.is_empty() {
                    format!("helm exited with {status}")
                } else {
                    message
                })
            }
        })
    }
}

/// A [`ChartRenderer`] for checking a repo where helm may be missing:
/// without helm, a chart renders nothing instead of failing, and the
/// component is remembered ([`SkipWithoutHelm::skipped`]) so the caller can
/// say which charts were not checked. Every other outcome is the inner
/// renderer's.
pub struct SkipWithoutHelm<'a> {
    inner: &'a dyn ChartRenderer,
    skipped: std::sync::Mutex<std::collections::BTreeSet<String>>,
    skipped_kustomize: std::sync::Mutex<std::collections::BTreeSet<String>>,
    unreachable: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl<'a> SkipWithoutHelm<'a> {
    pub fn new(inner: &'a dyn ChartRenderer) -> Self {
        Self {
            inner,
            skipped: std::sync::Mutex::default(),
            skipped_kustomize: std::sync::Mutex::default(),
            unreachable: std::sync::Mutex::default(),
        }
    }

    /// The components whose charts (or chart dependencies) were not
    /// rendered because their repository could not be reached and the
    /// cache has no resolution: checking a repo does not need the network.
    pub fn unreachable(&self) -> Vec<String> {
        self.unreachable
            .lock()
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The components whose kustomizations were not built for want of
    /// kustomize.
    pub fn skipped_kustomize(&self) -> Vec<String> {
        self.skipped_kustomize
            .lock()
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The components whose charts were not rendered for want of helm.
    pub fn skipped(&self) -> Vec<String> {
        self.skipped
            .lock()
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }
}

impl ChartRenderer for SkipWithoutHelm<'_> {
    fn template(&self, request: &ChartRequest<'_>) -> Result<ChartOutput> {
        match self.inner.template(request) {
            Err(Error::HelmNotFound { .. }) => {
                if let Ok(mut set) = self.skipped.lock() {
                    set.insert(request.component.to_owned());
                }
                Ok(ChartOutput::Rendered(String::new()))
            }
            other => other,
        }
    }

    fn fetch(&self, request: &ChartFetch<'_>) -> Result<Fetched> {
        match self.inner.fetch(request) {
            Err(Error::HelmNotFound { .. }) => {
                if let Ok(mut set) = self.skipped.lock() {
                    set.insert(request.component.to_owned());
                }
                Ok(Fetched::Skipped)
            }
            Ok(Fetched::Unreachable(message)) => {
                tracing::debug!("not rendered: {message}");
                if let Ok(mut set) = self.unreachable.lock() {
                    set.insert(request.component.to_owned());
                }
                Ok(Fetched::Skipped)
            }
            other => other,
        }
    }

    fn kustomize(&self, request: &KustomizeRequest<'_>) -> Result<ChartOutput> {
        match self.inner.kustomize(request) {
            Err(Error::KustomizeNotFound { .. }) => {
                if let Ok(mut set) = self.skipped_kustomize.lock() {
                    set.insert(request.component.to_owned());
                }
                Ok(ChartOutput::Rendered(String::new()))
            }
            other => other,
        }
    }
}

/// Splits `helm template` output into its documents' texts, each with the
/// repo-relative chart file it came from (helm's `# Source:` comments,
/// `<chart name>/templates/x.yaml`, mapped under `chart_dir`).
pub fn split_output<'a>(output: &'a str, chart_dir: &str) -> Vec<(String, &'a str)> {
    let mut chunks = Vec::new();
    let mut source = chart_dir.to_owned();
    let mut start = 0;
    let mut offset = 0;
    let mut push = |text: &'a str, source: &mut String| {
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if let Some(path) = first.strip_prefix("# Source: ") {
            let path = path.trim();
            let rest = path.split_once('/').map_or(path, |(_, rest)| rest);
            *source = if chart_dir.is_empty() {
                rest.to_owned()
            } else {
                format!("{chart_dir}/{rest}")
            };
        }
        if !text.trim().is_empty() {
            chunks.push((source.clone(), text));
        }
    };
    for line in output.split_inclusive('\n') {
        let bare = line.trim_end();
        if bare == "---" || bare.starts_with("--- ") {
            push(&output[start..offset], &mut source);
            start = offset + line.len();
        }
        offset += line.len();
    }
    push(&output[start..], &mut source);
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_split_by_source() {
        let out = "---\n# Source: db/crds/crd.yaml\nkind: A\n---\n# Source: db/templates/svc.yaml\nkind: B\n---\nkind: C\n";
        let chunks = split_output(out, "components/db/chart");
        let sources: Vec<_> = chunks.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(
            sources,
            [
                "components/db/chart/crds/crd.yaml",
                "components/db/chart/templates/svc.yaml",
                "components/db/chart/templates/svc.yaml"
            ]
        );
        assert!(chunks[2].1.contains("kind: C"));
    }

    #[test]
    fn missing_helm_is_a_clear_error() {
        let helm = HelmBinary {
            path: OnceLock::from(None),
            kustomize: OnceLock::new(),
            credentials: OnceLock::new(),
            cache: None,
        };
        let err = helm.locate().unwrap_err().to_string();
        assert!(err.contains("cargo xtask testenv"), "{err}");
    }
}
