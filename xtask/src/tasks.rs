//! The xtask commands: `test`, `demo`, `build-testenv`, `tools` and
//! `testenv up|down|env|status`, composed from the build, control-plane
//! and topology modules.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::controlplane::{self, State};
use crate::topology;
use crate::ui;
use crate::versions::Tool;
use crate::{build, debian, demo_charts};

/// The workspace root (xtask lives in `<root>/xtask`).
///
/// `cargo run` (the `cargo xtask` alias) sets `CARGO_MANIFEST_DIR` for the
/// process it starts, which names the checkout being worked on. The value
/// compiled in is only the fallback: worktrees that share one build
/// directory (`CARGO_BUILD_BUILD_DIR`) can share one xtask binary, built in
/// another worktree, and would otherwise check that one.
pub(crate) fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// One line of the summary at the end of `cargo xtask test`.
struct StepResult {
    name: &'static str,
    ok: bool,
    took: Duration,
}

/// Stops the test cluster when dropped: on success, failure and Ctrl-C.
struct StopOnDrop(State);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let t = Instant::now();
        match controlplane::stop(&self.0) {
            Ok(_) => ui::done("control plane stopped", t.elapsed()),
            Err(err) => ui::warn(&format!("stopping the control plane: {err:#}")),
        }
    }
}

/// `cargo xtask test`.
pub fn test(cargo_test_args: &[String]) -> Result<ExitCode> {
    let total = Instant::now();
    let mut results = Vec::new();

    let t = Instant::now();
    debian::ensure()?;
    results.push(StepResult {
        name: "Debian packages",
        ok: true,
        took: t.elapsed(),
    });

    let t = Instant::now();
    ui::step("test environment binaries");
    let tools = build::ensure(&Tool::TEST)?;
    results.push(StepResult {
        name: "binaries (build or cache)",
        ok: true,
        took: t.elapsed(),
    });

    let t = Instant::now();
    ui::step("starting a fresh control plane for this run");
    controlplane::clean_stale_test_states()?;
    let dir = controlplane::state_root().join(format!("test-{}", std::process::id()));
    let cluster = controlplane::start(dir, &tools)?;
    let guard = StopOnDrop(cluster.detach());
    results.push(StepResult {
        name: "control plane up",
        ok: true,
        took: t.elapsed(),
    });

    let state = &guard.0;
    let checks: [(&'static str, Vec<String>); 3] = [
        ("cargo fmt --check", strings(&["fmt", "--all", "--check"])),
        (
            "cargo clippy",
            strings(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]),
        ),
        ("cargo test", {
            let mut args = strings(&["test", "--workspace", "--no-fail-fast"]);
            if !cargo_test_args.is_empty() {
                args.push("--".to_owned());
                args.extend(cargo_test_args.iter().cloned());
            }
            args
        }),
    ];
    for (name, args) in checks {
        if crate::interrupted() {
            break;
        }
        let t = Instant::now();
        ui::step(name);
        let mut cmd = cargo();
        cmd.args(&args);
        if name == "cargo test" {
            test_env(&mut cmd, state);
        }
        let ok = cmd
            .status()
            .with_context(|| format!("running {name}"))?
            .success();
        ui::done(
            &format!("{name}: {}", if ok { "ok" } else { "FAILED" }),
            t.elapsed(),
        );
        results.push(StepResult {
            name,
            ok,
            took: t.elapsed(),
        });
    }
    drop(guard);

    // The whole pipeline under libFuzzer for a short, bounded time (not
    // for a run filtered to some tests). Its corpus starts from the kept
    // one, fuzz/pipeline-corpus/, which this run does not change.
    let fuzzing = cargo_test_args.is_empty();
    if fuzzing && !crate::interrupted() {
        let t = Instant::now();
        let seconds = crate::fuzz::TEST_SECONDS;
        let ok = match crate::fuzz::run("pipeline", seconds, false) {
            Ok(Ok(figures)) => {
                ui::done(
                    &format!(
                        "fuzz pipeline: {} runs in {} s, no crash",
                        figures.runs, figures.seconds
                    ),
                    t.elapsed(),
                );
                true
            }
            Ok(Err(message)) => {
                ui::warn(&message);
                false
            }
            Err(e) => {
                ui::warn(&format!("fuzzing the pipeline could not run: {e:#}"));
                false
            }
        };
        results.push(StepResult {
            name: "fuzz pipeline",
            ok,
            took: t.elapsed(),
        });
    }

    let expected = if fuzzing { 7 } else { 6 };
    let ok = results.iter().all(|r| r.ok) && !crate::interrupted() && results.len() == expected;
    ui::step("summary");
    for r in &results {
        ui::info(&format!(
            "{:<5} {:<28} {:>7}",
            if r.ok { "ok" } else { "FAIL" },
            r.name,
            ui::secs(r.took)
        ));
    }
    ui::info(&format!(
        "{:<5} {:<28} {:>7}",
        if ok { "ok" } else { "FAIL" },
        "total",
        ui::secs(total.elapsed())
    ));
    Ok(if ok {
        ExitCode::SUCCESS
    } else if crate::interrupted() {
        ExitCode::from(130)
    } else {
        ExitCode::FAILURE
    })
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// What integration tests get: the cluster's kubeconfig, the built
/// kubectl and helm, and those first on PATH.
fn test_env(cmd: &mut Command, state: &State) {
    for (k, v) in state.env() {
        cmd.env(k, v);
    }
    let mut path = vec![state.bin()];
    if let Some(old) = std::env::var_os("PATH") {
        path.extend(std::env::split_paths(&old));
    }
    if let Ok(joined) = std::env::join_paths(path) {
        cmd.env("PATH", joined);
    }
    // Integration tests mostly wait on the cluster: more threads than the
    // two cores keep it busy without oversubscribing the machine.
    if std::env::var_os("RUST_TEST_THREADS").is_none() {
        cmd.env("RUST_TEST_THREADS", "4");
    }
}

/// `cargo xtask demo`.
pub fn demo() -> Result<ExitCode> {
    // The cluster, sops, and the chart servers example-repo's charts come from.
    let state = ensure_default_up(&Tool::DEMO)?;
    println!("{}", topology::table(&state.kubectl())?);
    println!();

    let t = Instant::now();
    ui::step("building weir");
    let status = cargo()
        .args(["build", "--quiet", "--bin", "weir"])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        return Ok(ExitCode::FAILURE);
    }
    ui::done("weir built", t.elapsed());

    ui::step("creating the Secrets example-repo requires (an operator's job, not the repo's)");
    state
        .kubectl()
        .run_with_input(&["apply", "--server-side", "-f", "-"], DEMO_SECRETS)?;

    let t = Instant::now();
    ui::step(&format!(
        "serving example-repo's remote charts (example-charts/): ChartMuseum on 127.0.0.1:{}, \
         the OCI registry on 127.0.0.1:{}",
        demo_charts::CHART_REPO_PORT,
        demo_charts::REGISTRY_PORT
    ));
    let served = demo_charts::serve(&state, &workspace_root().join("example-charts"))?;
    ui::done("charts published", t.elapsed());

    let t = Instant::now();
    ui::step("weir sync example-repo");
    let weir = workspace_root().join("target/debug/weir");
    let status = Command::new(&weir)
        .current_dir(workspace_root())
        .args(["sync", "example-repo", "--prune"])
        .arg(format!("--kubeconfig={}", state.kubeconfig().display()))
        // example-repo's SOPS-encrypted Secrets, with the demo's public
        // age key (never inside the config repo).
        .arg(format!("--sops-age-key-file={}", DEMO_AGE_KEY))
        .env("WEIR_HELM", state.bin().join("helm"))
        .env("WEIR_SOPS", state.bin().join("sops"))
        .env("WEIR_CHART_CREDENTIALS", &served.credentials)
        .env("WEIR_CHART_CACHE", &served.cache)
        .status()
        .with_context(|| format!("running {}", weir.display()))?;
    if !status.success() {
        ui::warn("weir sync did not finish; the cluster keeps running for a look around");
        print_usage(&state);
        return Ok(ExitCode::FAILURE);
    }
    ui::done("example-repo synced", t.elapsed());

    println!();
    println!("What runs where (pods by node and pool):");
    println!("{}", state.kubectl().run(&[
        "get",
        "pods",
        "--all-namespaces",
        "--sort-by=.spec.nodeName",
        "-o",
        "custom-columns=NODE:.spec.nodeName,NAMESPACE:.metadata.namespace,POD:.metadata.name,PHASE:.status.phase",
    ])?);
    print_usage(&state);
    Ok(ExitCode::SUCCESS)
}

/// The age key of example-repo's SOPS-encrypted Secrets, relative to the
/// workspace root: a demo key, public, kept outside the config repo.
pub const DEMO_AGE_KEY: &str = "xtask/demo.agekey";

/// What `example-repo`'s edge-inference preflight requires: a license and
/// a registry pull secret. In real life the operator creates them by hand
/// (they never belong in Git); the demo makes throwaway ones.
const DEMO_SECRETS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: edge}
---
apiVersion: v1
kind: Secret
metadata: {name: edge-license, namespace: edge}
stringData: {license: "demo-license-not-a-real-one"}
---
apiVersion: v1
kind: Secret
metadata: {name: regcred, namespace: edge}
type: kubernetes.io/dockerconfigjson
stringData:
  .dockerconfigjson: '{"auths":{"registry.example.com":{"auth":"ZGVtbzpkZW1v"}}}'
"#;

/// Starts the default cluster unless it already runs; either way with
/// the Debian packages and `tools` built and linked into its `bin/`.
fn ensure_default_up(tools: &[Tool]) -> Result<State> {
    debian::ensure()?;
    let tools = build::ensure(tools)?;
    let state = State::new(controlplane::default_state());
    if controlplane::is_running(&state) {
        controlplane::link_binaries(&state, &tools)?;
        ui::step(&format!(
            "control plane already running at {}",
            state.server().unwrap_or_default()
        ));
        return Ok(state);
    }
    ui::step(&format!(
        "starting the control plane in {}",
        state.dir.display()
    ));
    Ok(controlplane::start(state.dir.clone(), &tools)?.detach())
}

fn print_usage(state: &State) {
    println!("The control plane keeps running. To use it:");
    println!("  export KUBECONFIG={}", state.kubeconfig().display());
    let credentials = state.dir.join("demo-charts").join("credentials.yaml");
    if credentials.is_file() {
        println!(
            "  export WEIR_CHART_CREDENTIALS={}   # the demo chart repository's login",
            credentials.display()
        );
    }
    println!(
        "  export PATH=\"{}:$PATH\"   # the built kubectl and helm",
        state.bin().display()
    );
    println!("  kubectl get nodes");
    println!(
        "  export SOPS_AGE_KEY_FILE={}   # the demo key of example-repo's encrypted Secrets",
        workspace_root().join(DEMO_AGE_KEY).display()
    );
    println!("(or: eval \"$(cargo xtask testenv env)\")");
    println!("Stop it with: cargo xtask testenv down");
}

/// `cargo xtask build-testenv`.
pub fn build_testenv() -> Result<ExitCode> {
    let t = Instant::now();
    build::ensure(&Tool::TEST)?;
    ui::done("test environment binaries ready", t.elapsed());
    build::report(&Tool::TEST)?;
    Ok(ExitCode::SUCCESS)
}

/// `cargo xtask tools`.
pub fn tools(env: bool) -> Result<ExitCode> {
    let t = Instant::now();
    let tools = build::ensure(&Tool::EXTRA)?;
    ui::done("benchmark tools ready", t.elapsed());
    if env {
        for tool in Tool::EXTRA {
            for &(var, bin) in tool.env_vars() {
                let path = tools.bin(bin)?;
                println!("export {var}={}", shell_quote(&path.to_string_lossy()));
            }
        }
    } else {
        build::report(&Tool::EXTRA)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `cargo xtask testenv up`.
pub fn up() -> Result<ExitCode> {
    let state = ensure_default_up(&Tool::TEST)?;
    print_usage(&state);
    Ok(ExitCode::SUCCESS)
}

/// `cargo xtask testenv down`.
pub fn down() -> Result<ExitCode> {
    let state = State::new(controlplane::default_state());
    if !state.dir.exists() {
        ui::step("no control plane to stop");
        return Ok(ExitCode::SUCCESS);
    }
    let t = Instant::now();
    let stopped = controlplane::stop(&state)?;
    ui::done(
        &format!(
            "stopped {} and removed {}",
            if stopped.is_empty() {
                "nothing (no process was running)".to_owned()
            } else {
                stopped.join(", ")
            },
            state.dir.display()
        ),
        t.elapsed(),
    );
    Ok(ExitCode::SUCCESS)
}

/// `cargo xtask testenv env`.
pub fn env() -> Result<ExitCode> {
    let state = State::new(controlplane::default_state());
    if !controlplane::is_running(&state) {
        ui::warn("the control plane is not running; start it with `cargo xtask testenv up`");
    }
    let mut absent = Vec::new();
    for (k, v) in state.env() {
        if k.starts_with("WEIR_") && !v.exists() {
            absent.push(k);
        }
        println!("export {k}={}", shell_quote(&v.to_string_lossy()));
    }
    if !absent.is_empty() && controlplane::is_running(&state) {
        ui::warn(&format!(
            "these name missing files: {}; `cargo xtask testenv up` builds and links them",
            absent.join(", ")
        ));
    }
    println!(
        "export PATH={}:\"$PATH\"",
        shell_quote(&state.bin().to_string_lossy())
    );
    Ok(ExitCode::SUCCESS)
}

/// `cargo xtask testenv status`.
pub fn status() -> Result<ExitCode> {
    let state = State::new(controlplane::default_state());
    let healthy = controlplane::status(&state)?;
    if healthy {
        println!("{}", topology::table(&state.kubectl())?);
    }
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
