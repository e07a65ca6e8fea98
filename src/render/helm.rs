//! The edge where rendering runs the real `helm template`: the
//! [`ChartRenderer`] trait (so the pure parts can be tested with a fake),
//! [`HelmBinary`] which writes a chart from the repo's file tree to a
//! temporary directory and runs helm on it, and the parsing of helm's
//! output into documents with the chart file each came from.
//!
//! A chart is untrusted input like the rest of the repo: helm runs with
//! the request's time limit and output limit, and is killed past either
//! ([`ChartOutput::Stopped`]).

use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Error, Result};

/// Environment variable naming the helm binary to use (before `PATH`).
pub const HELM_ENV: &str = "WEIR_HELM";

/// Everything `helm template` needs for one chart component.
#[derive(Debug, Clone)]
pub struct ChartRequest<'a> {
    pub component: &'a str,
    /// Repo-relative chart directory.
    pub chart_dir: &'a str,
    /// The chart's files, paths relative to `chart_dir`.
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
    /// What happened, for a finding about `component`.
    pub fn message(&self, component: &str) -> String {
        match self {
            Stopped::Timeout(limit) => format!(
                "helm template of component `{component}` ran longer than {}, so weir killed it \
                 (a template that loops for ever, or nearly)",
                crate::sync::plan::format_duration(*limit)
            ),
            Stopped::Output(limit) => format!(
                "helm template of component `{component}` wrote more than {} of manifests, so \
                 weir killed it",
                format_bytes(*limit)
            ),
            Stopped::Memory(limit) => format!(
                "helm template of component `{component}` needed more than {} of memory (a \
                 template that renders gigabytes, or nearly), so it stopped",
                format_bytes(*limit)
            ),
        }
    }

    /// How to raise the limit, when the chart really needs it.
    pub fn hint(&self) -> String {
        let flag = match self {
            Stopped::Timeout(_) => crate::budget::HELM_TIMEOUT_FLAG,
            Stopped::Output(_) => crate::budget::MAX_HELM_OUTPUT_FLAG,
            Stopped::Memory(_) => crate::budget::MAX_HELM_MEMORY_FLAG,
        };
        format!(
            "check the chart's loops (`range`, `until`) with `helm template`; if it really needs \
             more, raise the limit where weir runs ({flag} on weir validate, plan, render, diff, \
             sync and agent); a repo cannot raise it"
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

/// The most of helm's stderr kept for a message.
const MAX_STDERR: u64 = 64 * 1024;
/// How often a running helm is looked at.
const POLL: Duration = Duration::from_millis(5);

/// Renders a chart. Implemented by [`HelmBinary`]; tests may fake it.
pub trait ChartRenderer: Sync {
    /// `Err` only for failures of the machine (no helm, no temp dir);
    /// problems of the chart itself are [`ChartOutput::Failed`].
    fn template(&self, request: &ChartRequest<'_>) -> Result<ChartOutput>;
}

/// The `helm` binary: `$WEIR_HELM`, else `helm` on `PATH`, looked up on
/// first use (a repo without charts never needs it).
#[derive(Debug, Default)]
pub struct HelmBinary {
    path: OnceLock<Option<PathBuf>>,
}

impl HelmBinary {
    pub fn new() -> Self {
        Self::default()
    }

    /// A helm binary at a known path.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        let found = OnceLock::new();
        let _ = found.set(Some(path.into()));
        Self { path: found }
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
    if let Some(path) = std::env::var_os(HELM_ENV) {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join("helm"))
        .find(|candidate| candidate.is_file())
}

impl ChartRenderer for HelmBinary {
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
        for (relative, bytes) in &request.files {
            // Paths come from the repo tree below the chart directory;
            // refuse anything that could step outside the temp dir anyway.
            if relative
                .split('/')
                .any(|p| p.is_empty() || p == "." || p == "..")
            {
                continue;
            }
            let target = chart.join(relative);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(tmp_err)?;
            }
            std::fs::write(&target, bytes).map_err(tmp_err)?;
        }
        let values = tmp.path().join("values.json");
        let mut file = std::fs::File::create(&values).map_err(tmp_err)?;
        serde_json::to_writer(&mut file, request.values)
            .map_err(|e| tmp_err(std::io::Error::other(e)))?;
        file.flush().map_err(tmp_err)?;
        drop(file);

        let mut child = Command::new(helm)
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
            .env("HELM_DATA_HOME", tmp.path().join("data"))
            // Go collects harder as it nears the cap, so a chart that needs
            // less does not die of garbage.
            .env(
                "GOMEMLIMIT",
                (request.max_memory / 4 * 3).max(1).to_string(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| Error::HelmRun {
                path: helm.to_owned(),
                source,
            })?;
        cap_memory(&child, request.max_memory);
        let (ended, stdout, stderr) = run_bounded(&mut child, request.timeout, request.max_output);
        let status = match ended {
            Ended::Exited(status) => status,
            Ended::Stopped(why) => return Ok(ChartOutput::Stopped(why)),
            Ended::Lost(source) => {
                return Err(Error::HelmRun {
                    path: helm.to_owned(),
                    source,
                });
            }
        };
        if status.success() {
            Ok(ChartOutput::Rendered(
                String::from_utf8_lossy(&stdout).into_owned(),
            ))
        } else {
            let stderr = String::from_utf8_lossy(&stderr);
            if stderr.contains("fatal error: out of memory")
                || stderr.contains("runtime: out of memory")
            {
                return Ok(ChartOutput::Stopped(Stopped::Memory(request.max_memory)));
            }
            let chart_path = chart.to_string_lossy();
            let message = stderr
                .replace(chart_path.as_ref(), request.chart_dir)
                .trim()
                .to_owned();
            Ok(ChartOutput::Failed(if message.is_empty() {
                format!("helm exited with {status}")
            } else {
                message
            }))
        }
    }
}

/// Caps the data segment of a just started helm (`prlimit(2)`; Go's heap
/// counts). The moments before it applies are helm's start-up, before any
/// template runs. Where it cannot be set, helm runs without the cap.
#[cfg(target_os = "linux")]
fn cap_memory(child: &Child, max: u64) {
    use rustix::process::{Pid, Resource, Rlimit, prlimit};
    let limit = Rlimit {
        current: Some(max),
        maximum: Some(max),
    };
    if let Err(e) = prlimit(Some(Pid::from_child(child)), Resource::Data, limit) {
        tracing::warn!("cannot cap helm's memory: {e}");
    }
}

#[cfg(not(target_os = "linux"))]
fn cap_memory(_: &Child, _: u64) {}

/// How a bounded helm run ended.
enum Ended {
    Exited(std::process::ExitStatus),
    /// Killed past a limit.
    Stopped(Stopped),
    /// Waiting for it failed.
    Lost(std::io::Error),
}

/// Waits for `child`, reading its stdout (at most `max_output` bytes) and
/// stderr (at most [`MAX_STDERR`]) on two threads; kills it once it runs
/// past `timeout` or writes past `max_output`.
fn run_bounded(child: &mut Child, timeout: Duration, max_output: u64) -> (Ended, Vec<u8>, Vec<u8>) {
    let overflow = AtomicBool::new(false);
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let started = Instant::now();
    std::thread::scope(|scope| {
        let out = scope.spawn(|| read_capped(stdout, max_output, &overflow));
        let err = scope.spawn(|| read_capped(stderr, MAX_STDERR, &AtomicBool::new(false)));
        let ended = loop {
            if overflow.load(Ordering::Relaxed) {
                break Ended::Stopped(Stopped::Output(max_output));
            }
            match child.try_wait() {
                Ok(Some(status)) => break Ended::Exited(status),
                Ok(None) => {}
                Err(e) => break Ended::Lost(e),
            }
            if started.elapsed() >= timeout {
                break Ended::Stopped(Stopped::Timeout(timeout));
            }
            std::thread::sleep(POLL);
        };
        if !matches!(ended, Ended::Exited(_)) {
            // Killing closes its pipes, so the readers end too.
            let _ = child.kill();
            let _ = child.wait();
        }
        let out = out.join().unwrap_or_default();
        let err = err.join().unwrap_or_default();
        // Output past the limit can arrive after the exit was seen.
        let ended = match ended {
            Ended::Exited(_) if overflow.load(Ordering::Relaxed) => {
                Ended::Stopped(Stopped::Output(max_output))
            }
            other => other,
        };
        (ended, out, err)
    })
}

/// Reads `pipe` to its end, keeping at most `cap` bytes; past them, sets
/// `overflow` and stops reading.
fn read_capped<R: Read>(pipe: Option<R>, cap: u64, overflow: &AtomicBool) -> Vec<u8> {
    let Some(pipe) = pipe else {
        return Vec::new();
    };
    let mut kept = Vec::new();
    // One byte more than the cap tells a full output from an overflow.
    match pipe.take(cap.saturating_add(1)).read_to_end(&mut kept) {
        Ok(_) if kept.len() as u64 > cap => {
            overflow.store(true, Ordering::Relaxed);
            kept.clear();
        }
        _ => {}
    }
    kept
}

/// A [`ChartRenderer`] for checking a repo where helm may be missing:
/// without helm, a chart renders nothing instead of failing, and the
/// component is remembered ([`SkipWithoutHelm::skipped`]) so the caller can
/// say which charts were not checked. Every other outcome is the inner
/// renderer's.
pub struct SkipWithoutHelm<'a> {
    inner: &'a dyn ChartRenderer,
    skipped: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl<'a> SkipWithoutHelm<'a> {
    pub fn new(inner: &'a dyn ChartRenderer) -> Self {
        Self {
            inner,
            skipped: std::sync::Mutex::default(),
        }
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
        };
        let err = helm.locate().unwrap_err().to_string();
        assert!(err.contains("cargo xtask testenv"), "{err}");
    }
}
