//! Builds the Go binaries of the test environment with the machine's `go`
//! and the module proxy, and caches them outside the repository.
//!
//! Layout: `<cache>/<tool>-<version>/bin/<binaries>`, where `<cache>` is
//! `$WEIR_TESTENV_CACHE`, else `$XDG_CACHE_HOME/weir/testenv`, else
//! `~/.cache/weir/testenv`. A tool is built in a temporary sibling directory
//! and renamed into place when complete, under a file lock, so a killed
//! build never leaves a half cache and two concurrent runs build once.
//! The generated `go.mod`/`main.go` files live in the cache, not the repo.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::ui;
use crate::versions::{self, Tool};

/// Built tools: where each one's binaries are.
#[derive(Debug, Clone)]
pub struct Toolset {
    dirs: BTreeMap<&'static str, PathBuf>,
}

impl Toolset {
    /// Path of one binary, e.g. `toolset.bin("kube-apiserver")`.
    pub fn bin(&self, name: &str) -> Result<PathBuf> {
        self.dirs
            .get(name)
            .map(|dir| dir.join("bin").join(name))
            .with_context(|| format!("{name} is not part of the built tools"))
    }

    /// Every binary with its path, for the per-cluster `bin/` directory.
    pub fn binaries(&self) -> impl Iterator<Item = (&'static str, PathBuf)> + '_ {
        self.dirs
            .iter()
            .map(|(name, dir)| (*name, dir.join("bin").join(name)))
    }

    /// kwok's stage configuration (node and pod lifecycles), extracted from
    /// the pinned kwok module at build time.
    pub fn kwok_stages(&self) -> Result<PathBuf> {
        self.dirs
            .get("kwok")
            .map(|dir| dir.join(KWOK_STAGES))
            .context("kwok is not part of the built tools")
    }
}

/// File name of kwok's stage config inside kwok's cache directory.
const KWOK_STAGES: &str = "share/kwok-stages.yaml";

/// The cache root (see the module docs).
pub fn cache_root() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("WEIR_TESTENV_CACHE").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir).join("weir/testenv"));
    }
    let home = std::env::var_os("HOME").context("neither WEIR_TESTENV_CACHE nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cache/weir/testenv"))
}

fn tool_dir(cache: &Path, tool: Tool) -> PathBuf {
    cache.join(tool.key())
}

fn is_complete(dir: &Path, tool: Tool) -> bool {
    let bins = tool
        .binaries()
        .iter()
        .all(|b| dir.join("bin").join(b).is_file());
    bins && (tool != Tool::Kwok || dir.join(KWOK_STAGES).is_file())
        && (tool.flux_module().is_none() || dir.join(FLUX_CRDS).is_dir())
}

/// Makes sure every tool in `tools` is built, building what is missing.
pub fn ensure(tools: &[Tool]) -> Result<Toolset> {
    let cache = cache_root()?;
    fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    go_version()?;
    let mut dirs = BTreeMap::new();
    for &tool in tools {
        let dir = tool_dir(&cache, tool);
        if !is_complete(&dir, tool) {
            build_locked(&cache, tool)?;
        }
        for &bin in tool.binaries() {
            dirs.insert(bin, dir.clone());
        }
    }
    Ok(Toolset { dirs })
}

/// Prints which tools are cached and where; used by `build-testenv`.
pub fn report(tools: &[Tool]) -> Result<()> {
    let cache = cache_root()?;
    for &tool in tools {
        let dir = tool_dir(&cache, tool);
        ui::info(&format!(
            "{:<12} {:<9} {}",
            tool.name(),
            tool.version(),
            dir.join("bin").display()
        ));
    }
    Ok(())
}

fn go_version() -> Result<String> {
    let out = Command::new("go").arg("version").output().context(
        "running `go version`: the test environment is built with the machine's Go toolchain",
    )?;
    if !out.status.success() {
        bail!(
            "`go version` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Takes the tool's build lock, re-checks the cache (another run may have
/// finished it meanwhile), then builds.
fn build_locked(cache: &Path, tool: Tool) -> Result<()> {
    let lock_path = cache.join(format!(".{}.lock", tool.key()));
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        ui::info(&format!(
            "waiting for another run that is building {} {}",
            tool.name(),
            tool.version()
        ));
        lock.lock()
            .with_context(|| format!("locking {}", lock_path.display()))?;
    }
    let dir = tool_dir(cache, tool);
    if is_complete(&dir, tool) {
        return Ok(());
    }
    remove_stale_temp_dirs(cache, tool)?;
    let tmp = cache.join(format!(".tmp-{}-{}", tool.key(), std::process::id()));
    if tmp.exists() {
        fs::remove_dir_all(&tmp)?;
    }
    fs::create_dir_all(tmp.join("bin"))?;
    let started = Instant::now();
    ui::step(&format!(
        "building {} {} ({}) with {}",
        tool.name(),
        tool.version(),
        tool.binaries().join(", "),
        go_version()?
    ));
    let result = match tool {
        Tool::Kubernetes => build_kubernetes(&tmp),
        Tool::Etcd => build_etcd(&tmp),
        Tool::Chartmuseum => build_chartmuseum(&tmp),
        Tool::FluxSource | Tool::FluxKustomize => build_flux(&tmp, tool),
        _ => go_install(&tmp, tool),
    }
    .and_then(|()| {
        if tool == Tool::Kwok {
            extract_kwok_stages(&tmp)?;
        }
        if !is_complete(&tmp, tool) {
            bail!(
                "the build finished but not every binary of {} is there",
                tool.name()
            );
        }
        Ok(())
    });
    if let Err(err) = result {
        let log = tmp.join("build.log");
        let kept = cache.join(format!("{}-failed-build.log", tool.key()));
        let _ = fs::rename(&log, &kept);
        let _ = fs::remove_dir_all(&tmp);
        return Err(err.context(format!(
            "building {} {} failed (full log: {})",
            tool.name(),
            tool.version(),
            kept.display()
        )));
    }
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::rename(&tmp, &dir).with_context(|| format!("moving the build to {}", dir.display()))?;
    ui::done(
        &format!(
            "built {} {} into {}",
            tool.name(),
            tool.version(),
            dir.display()
        ),
        started.elapsed(),
    );
    Ok(())
}

/// Removes `.tmp-<key>-<pid>` directories of builds whose process is gone.
fn remove_stale_temp_dirs(cache: &Path, tool: Tool) -> Result<()> {
    let prefix = format!(".tmp-{}-", tool.key());
    for entry in fs::read_dir(cache)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name
            .strip_prefix(&prefix)
            .and_then(|p| p.parse::<u32>().ok())
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            ui::info(&format!(
                "removing the leftover of an interrupted build: {name}"
            ));
            fs::remove_dir_all(entry.path())?;
        }
    }
    Ok(())
}

/// kube-apiserver, kube-controller-manager, kube-scheduler and kubectl from
/// `k8s.io/kubernetes`, through a generated go.mod that replaces every
/// staging module (`k8s.io/api`, ...) with its published `v0.<minor>.<patch>`.
fn build_kubernetes(dir: &Path) -> Result<()> {
    let version = versions::KUBERNETES;
    let staging = versions::staging_version(version)
        .with_context(|| format!("{version} is not a v1.x.y version"))?;
    let (major, minor) = versions::major_minor(version)
        .with_context(|| format!("{version} is not a v1.x.y version"))?;
    let upstream = read_go_mod(dir, &format!("k8s.io/kubernetes@{version}"))?;

    let mut go_mod = String::from(
        "// Generated by `cargo xtask build-testenv`; builds Kubernetes binaries\n\
         // from the published k8s.io/kubernetes module.\n\
         module weir.dev/testenv/kubernetes\n\n",
    );
    // Keep upstream's language version and GODEBUG defaults: the binaries
    // then behave as upstream's own builds do.
    for line in upstream.lines() {
        if line.starts_with("go ") || line.starts_with("godebug ") {
            go_mod.push_str(line);
            go_mod.push('\n');
        }
    }
    go_mod.push_str(&format!(
        "\nrequire k8s.io/kubernetes {version}\n\nreplace (\n"
    ));
    let replaced = staging_replaces(&upstream);
    if replaced.is_empty() {
        bail!(
            "found no `=> ./staging/src/...` replace lines in k8s.io/kubernetes {version}'s go.mod"
        );
    }
    for module in &replaced {
        go_mod.push_str(&format!("\t{module} => {module} {staging}\n"));
    }
    go_mod.push_str(")\n");
    fs::write(dir.join("go.mod"), go_mod)?;
    ui::info(&format!(
        "generated go.mod requiring k8s.io/kubernetes {version}, {} staging modules replaced by {staging}",
        replaced.len()
    ));

    go(
        dir,
        &["get", &format!("k8s.io/kubernetes@{version}")],
        "resolving modules",
    )?;
    let ldflags = [
        "-s -w".to_owned(),
        format!("-X k8s.io/component-base/version.gitVersion={version}"),
        format!("-X k8s.io/component-base/version.gitMajor={major}"),
        format!("-X k8s.io/component-base/version.gitMinor={minor}"),
        "-X k8s.io/component-base/version.gitTreeState=clean".to_owned(),
        format!("-X k8s.io/client-go/pkg/version.gitVersion={version}"),
        format!("-X k8s.io/client-go/pkg/version.gitMajor={major}"),
        format!("-X k8s.io/client-go/pkg/version.gitMinor={minor}"),
    ]
    .join(" ");
    let mut args = vec![
        "build".to_owned(),
        "-mod=mod".to_owned(),
        "-v".to_owned(),
        "-trimpath".to_owned(),
        "-ldflags".to_owned(),
        ldflags,
        "-o".to_owned(),
        "bin/".to_owned(),
    ];
    args.extend(
        Tool::Kubernetes
            .binaries()
            .iter()
            .map(|b| format!("k8s.io/kubernetes/cmd/{b}")),
    );
    go(dir, &args, "compiling")
}

/// Every `k8s.io/<name>` module that kubernetes' go.mod replaces with its
/// in-tree staging directory.
pub fn staging_replaces(go_mod: &str) -> Vec<String> {
    let mut modules: Vec<String> = go_mod
        .lines()
        .filter_map(|line| {
            let line = line.trim().trim_start_matches("replace").trim();
            let (module, target) = line.split_once("=>")?;
            let module = module.split_whitespace().next()?;
            let target = target.trim();
            (module.starts_with("k8s.io/") && target.starts_with("./staging/src/"))
                .then(|| module.to_owned())
        })
        .collect();
    modules.sort();
    modules.dedup();
    modules
}

/// The etcd server through a generated main package calling
/// `etcdmain.Main` (installing etcd's root module fails on its replace
/// directives).
fn build_etcd(dir: &Path) -> Result<()> {
    let version = versions::ETCD;
    fs::write(
        dir.join("go.mod"),
        "// Generated by `cargo xtask build-testenv`.\nmodule weir.dev/testenv/etcd\n\ngo 1.24\n",
    )?;
    fs::write(
        dir.join("main.go"),
        "// Generated by `cargo xtask build-testenv`: the etcd server binary.\n\
         package main\n\n\
         import (\n\t\"os\"\n\n\t\"go.etcd.io/etcd/server/v3/etcdmain\"\n)\n\n\
         func main() { etcdmain.Main(os.Args) }\n",
    )?;
    go(
        dir,
        &["get", &format!("go.etcd.io/etcd/server/v3@{version}")],
        "resolving modules",
    )?;
    go_build(dir, "-s -w", "bin/etcd", ".")
}

/// ChartMuseum through a generated go.mod: its own go.mod declares
/// `helm.sh/chartmuseum`, which the module proxy does not serve, so
/// `go install` cannot fetch it; a replace directive takes the same module
/// from `github.com/helm/chartmuseum`, which the proxy does serve.
fn build_chartmuseum(dir: &Path) -> Result<()> {
    let version = versions::CHARTMUSEUM;
    let upstream = read_go_mod(dir, &format!("github.com/helm/chartmuseum@{version}"))?;
    let go_line = go_line(&upstream, "go 1.23.0");
    fs::write(
        dir.join("go.mod"),
        format!(
            "// Generated by `cargo xtask build-testenv`: the chartmuseum binary.\n\
             module weir.dev/testenv/chartmuseum\n\n{go_line}\n\n\
             require helm.sh/chartmuseum {version}\n\n\
             replace helm.sh/chartmuseum => github.com/helm/chartmuseum {version}\n"
        ),
    )?;
    let ldflags = format!(
        "-s -w -X main.Version={} -X main.Revision=module-proxy",
        version.trim_start_matches('v')
    );
    go_build(
        dir,
        &ldflags,
        "bin/chartmuseum",
        "helm.sh/chartmuseum/cmd/chartmuseum",
    )
}

/// Where a Flux controller's CRDs are kept, beside its binary.
pub const FLUX_CRDS: &str = "crds";

/// A Flux controller through a generated go.mod. `go install` refuses the
/// controller's module for its replace directives (its `api` submodule
/// by path, pinned forks of a few dependencies); the generated module
/// requires the controller and repeats those replaces, the `api` one
/// dropped (the published `api` module of the required version is used).
/// Its CRDs (`config/crd/bases`) are copied to `<dir>/crds`.
fn build_flux(dir: &Path, tool: Tool) -> Result<()> {
    let module = tool
        .flux_module()
        .with_context(|| format!("{} is not a Flux controller", tool.name()))?;
    let version = tool.version();
    let at = format!("{module}@{version}");
    let upstream = read_go_mod(dir, &at)?;
    let go_line = go_line(&upstream, "go 1.26.0");
    let replaces = flux_replaces(&upstream, module);
    fs::write(
        dir.join("go.mod"),
        format!(
            "// Generated by `cargo xtask tools`: Flux's {name}.\n\
             module weir.dev/testenv/{name}\n\n{go_line}\n\n\
             require {module} {version}\n\n{replaces}",
            name = tool.name()
        ),
    )?;
    let binary = format!("bin/{}", tool.name());
    go_build(dir, "-s -w", &binary, module)?;
    let src = module_dir(dir, &at)?.join("config/crd/bases");
    let crds = dir.join(FLUX_CRDS);
    fs::create_dir_all(&crds)?;
    for entry in fs::read_dir(&src).with_context(|| format!("reading {}", src.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "yaml")
            && let Some(name) = path.file_name()
        {
            fs::copy(&path, crds.join(name))
                .with_context(|| format!("copying {}", path.display()))?;
        }
    }
    Ok(())
}

/// The replace directives of a Flux controller's go.mod, in one block,
/// without those that point into the controller's own tree (`=> ./api`).
pub fn flux_replaces(go_mod: &str, module: &str) -> String {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in go_mod.lines() {
        let line = line.trim();
        let directive = if in_block {
            if line == ")" {
                in_block = false;
                continue;
            }
            line
        } else if line == "replace (" {
            in_block = true;
            continue;
        } else if let Some(rest) = line.strip_prefix("replace ") {
            rest
        } else {
            continue;
        };
        let Some((_, to)) = directive.split_once("=>") else {
            continue;
        };
        let to = to.trim();
        if to.starts_with("./") || to.starts_with("../") || directive.starts_with(module) {
            continue;
        }
        out.push(format!("replace {directive}\n"));
    }
    out.concat()
}

/// `go build` of `package` (a path, or a package of a required module)
/// into `output`, stripped, with the module graph resolved as it goes.
fn go_build(dir: &Path, ldflags: &str, output: &str, package: &str) -> Result<()> {
    go(
        dir,
        &[
            "build",
            "-mod=mod",
            "-v",
            "-trimpath",
            "-ldflags",
            ldflags,
            "-o",
            output,
            package,
        ],
        "compiling",
    )
}

/// The `go` directive of a go.mod, for a generated go.mod that builds it
/// (`default` when it has none).
fn go_line<'a>(go_mod: &'a str, default: &'a str) -> &'a str {
    go_mod
        .lines()
        .find(|line| line.starts_with("go "))
        .unwrap_or(default)
}

/// `go install <packages>@<version>` into `<dir>/bin`.
fn go_install(dir: &Path, tool: Tool) -> Result<()> {
    let (module, packages) = tool
        .install_path()
        .with_context(|| format!("{} is not installed with go install", tool.name()))?;
    let mut ldflags = vec!["-s -w".to_owned()];
    // Each tool's own release builds inject the version like this.
    match tool {
        Tool::Kubeconform => ldflags.push(format!("-X main.version={}", tool.version())),
        Tool::Dyff => ldflags.push(format!(
            "-X {module}/internal/cmd.version={}",
            tool.version().trim_start_matches('v')
        )),
        Tool::Registry => {
            ldflags.push(format!("-X {module}/version.version={}", tool.version()));
            ldflags.push(format!("-X {module}/version.mainpkg={module}"));
        }
        _ => {}
    }
    if tool == Tool::Helm {
        ldflags.push(format!(
            "-X helm.sh/helm/v3/internal/version.version={}",
            versions::HELM
        ));
        // As helm's own release build does: the default Kubernetes version
        // of `helm template` follows the client-go helm is built with.
        let helm_mod = read_go_mod(dir, &format!("{module}@{}", tool.version()))?;
        if let Some(minor) = client_go_minor(&helm_mod) {
            for pkg in ["pkg/chartutil", "pkg/lint/rules"] {
                ldflags.push(format!("-X {module}/{pkg}.k8sVersionMajor=1"));
                ldflags.push(format!("-X {module}/{pkg}.k8sVersionMinor={minor}"));
            }
        }
    }
    let bin = dir.join("bin");
    let bin = bin.to_str().context("cache path is not UTF-8")?;
    let mut args = vec![
        "install".to_owned(),
        "-v".to_owned(),
        "-trimpath".to_owned(),
        "-ldflags".to_owned(),
        ldflags.join(" "),
    ];
    args.extend(packages.iter().map(|p| format!("{p}@{}", tool.version())));
    go_env(dir, &args, &[("GOBIN", bin)], "compiling")
}

/// The minor version of `k8s.io/client-go v0.<minor>.x` in a go.mod.
fn client_go_minor(go_mod: &str) -> Option<String> {
    go_mod.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next()? == "k8s.io/client-go")
            .then(|| words.next())
            .flatten()
            .and_then(|v| v.strip_prefix("v0."))
            .and_then(|v| v.split('.').next())
            .map(str::to_owned)
    })
}

/// kwok runs its node and pod lifecycles from Stage objects; the standalone
/// binary has none built in. Take the default ones kwokctl uses (fast node
/// initialisation, heartbeat with lease, pod ready/complete/delete) from
/// the pinned kwok module, so they always match the binary.
fn extract_kwok_stages(dir: &Path) -> Result<()> {
    let src = module_dir(dir, &format!("sigs.k8s.io/kwok@{}", versions::KWOK))?;
    let files = [
        "kustomize/stage/node/fast/node-initialize.yaml",
        "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
        "kustomize/stage/pod/fast/pod-ready.yaml",
        "kustomize/stage/pod/fast/pod-complete.yaml",
        "kustomize/stage/pod/fast/pod-delete.yaml",
    ];
    let mut out = format!(
        "# kwok {} default stages, copied from {} by `cargo xtask build-testenv`.\n",
        versions::KWOK,
        src.display()
    );
    for file in files {
        let text = fs::read_to_string(src.join(file))
            .with_context(|| format!("reading kwok stage {file}"))?;
        out.push_str("---\n");
        out.push_str(text.trim_end());
        out.push('\n');
    }
    let path = dir.join(KWOK_STAGES);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(&path, out)?;
    Ok(())
}

/// The go.mod of `module@version`, through `go mod download -json`.
fn read_go_mod(dir: &Path, module_at_version: &str) -> Result<String> {
    let info = go_mod_download(dir, module_at_version)?;
    let path = info
        .get("GoMod")
        .and_then(|v| v.as_str())
        .with_context(|| format!("`go mod download -json {module_at_version}` gave no GoMod"))?;
    fs::read_to_string(path).with_context(|| format!("reading {path}"))
}

/// The extracted source directory of `module@version`.
fn module_dir(dir: &Path, module_at_version: &str) -> Result<PathBuf> {
    let info = go_mod_download(dir, module_at_version)?;
    info.get("Dir")
        .and_then(|v| v.as_str())
        .map(PathBuf::from)
        .with_context(|| format!("`go mod download -json {module_at_version}` gave no Dir"))
}

fn go_mod_download(dir: &Path, module_at_version: &str) -> Result<serde_json::Value> {
    let out = go_command(dir)
        .args(["mod", "download", "-json", module_at_version])
        .stderr(Stdio::inherit())
        .output()
        .context("running `go mod download`")?;
    let info: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("parsing `go mod download -json {module_at_version}`"))?;
    if let Some(err) = info.get("Error").and_then(|v| v.as_str()) {
        bail!("go mod download {module_at_version}: {err}");
    }
    if !out.status.success() {
        bail!("go mod download {module_at_version} failed");
    }
    Ok(info)
}

/// A `go` command for `dir` with the environment every build uses: the
/// local toolchain only (no toolchain downloads), no workspace files,
/// static binaries.
fn go_command(dir: &Path) -> Command {
    let mut cmd = Command::new("go");
    cmd.current_dir(dir)
        .env("GOTOOLCHAIN", "local")
        .env("GOWORK", "off")
        .env("GO111MODULE", "on")
        .env("CGO_ENABLED", "0")
        .stdin(Stdio::null());
    cmd
}

fn go<S: AsRef<str>>(dir: &Path, args: &[S], what: &str) -> Result<()> {
    go_env(dir, args, &[], what)
}

/// Runs `go` with its output appended to `<dir>/build.log`, printing a
/// progress line every 30 s (these builds take minutes).
fn go_env<S: AsRef<str>>(dir: &Path, args: &[S], env: &[(&str, &str)], what: &str) -> Result<()> {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let log_path = dir.join("build.log");
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)?;
    writeln!(log, "$ go {}", args.join(" "))?;
    let log = Arc::new(Mutex::new(log));
    let lines = Arc::new(AtomicUsize::new(0));

    let mut cmd = go_command(dir);
    cmd.args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().context("starting `go`")?;
    let mut readers = Vec::new();
    let outputs: [Option<Box<dyn std::io::Read + Send>>; 2] = [
        child.stdout.take().map(|s| Box::new(s) as _),
        child.stderr.take().map(|s| Box::new(s) as _),
    ];
    for out in outputs.into_iter().flatten() {
        let log = Arc::clone(&log);
        let lines = Arc::clone(&lines);
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                lines.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut f) = log.lock() {
                    let _ = writeln!(f, "{line}");
                }
            }
        }));
    }

    let started = Instant::now();
    let mut next_report = Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if crate::interrupted() {
            let _ = child.kill();
            let _ = child.wait();
            bail!("interrupted");
        }
        if started.elapsed() >= next_report {
            ui::info(&format!(
                "... {what}: {}s, {} lines of output so far",
                started.elapsed().as_secs(),
                lines.load(Ordering::Relaxed)
            ));
            next_report += Duration::from_secs(30);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    for reader in readers {
        let _ = reader.join();
    }
    if !status.success() {
        bail!(
            "`go {}` failed ({status}); last lines of {}:\n{}",
            args.join(" "),
            log_path.display(),
            ui::tail(&log_path, 25)
        );
    }
    ui::info(&format!("{what}: done in {}", ui::secs(started.elapsed())));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_staging_replaces_only() {
        let go_mod = "module k8s.io/kubernetes\n\nreplace (\n\
            \tk8s.io/api => ./staging/src/k8s.io/api\n\
            \tk8s.io/client-go => ./staging/src/k8s.io/client-go\n\
            \tgithub.com/x/y => github.com/x/z v1.0.0\n)\n\
            replace k8s.io/kms => ./staging/src/k8s.io/kms\n";
        assert_eq!(
            staging_replaces(go_mod),
            ["k8s.io/api", "k8s.io/client-go", "k8s.io/kms"]
        );
    }

    #[test]
    fn keeps_flux_replaces_but_its_own_tree() {
        let go_mod = "module github.com/fluxcd/source-controller\n\ngo 1.26.0\n\n\
                      replace github.com/fluxcd/source-controller/api => ./api\n\n\
                      replace github.com/opencontainers/go-digest => github.com/opencontainers/go-digest v1.0.1\n\n\
                      require (\n\tgithub.com/x/y v1.0.0\n)\n\n\
                      replace (\n\tsigs.k8s.io/kustomize/api => sigs.k8s.io/kustomize/api v0.21.1\n)\n";
        assert_eq!(
            flux_replaces(go_mod, "github.com/fluxcd/source-controller"),
            "replace github.com/opencontainers/go-digest => github.com/opencontainers/go-digest v1.0.1\n\
             replace sigs.k8s.io/kustomize/api => sigs.k8s.io/kustomize/api v0.21.1\n"
        );
    }

    #[test]
    fn reads_client_go_minor() {
        let go_mod = "require (\n\tk8s.io/api v0.35.1\n\tk8s.io/client-go v0.35.1\n)\n";
        assert_eq!(client_go_minor(go_mod).as_deref(), Some("35"));
    }
}
