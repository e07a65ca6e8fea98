//! Project automation: `cargo xtask <command>`.
//!
//! Builds and runs the local Kubernetes control plane that weir's
//! integration tests, demo and benchmarks use, runs the project's whole
//! check (`cargo xtask test`), and fuzzes the loader (`cargo xtask fuzz`). xtask is a terminal program, so it
//! prints directly (progress on stderr, machine-readable output on stdout).
#![allow(clippy::disallowed_macros)]

mod build;
mod certs;
mod controlplane;
mod debian;
mod demo_charts;
mod fuzz;
mod kubectl;
mod openapi;
mod procs;
mod tasks;
mod topology;
mod ui;
mod versions;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Parser, Subcommand};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether Ctrl-C (SIGINT) or SIGTERM was received; long waits check it and
/// stop, so the cleanup code still runs.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// weir's project tasks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run every check: fmt, clippy and all tests against a fresh local
    /// control plane (built or reused from the cache), then stop it.
    Test {
        /// Extra arguments for `cargo test` (after `--`), e.g. a test name filter.
        #[arg(last = true)]
        cargo_test_args: Vec<String>,
    },
    /// Start the local control plane (if not already up) and show its nodes;
    /// it keeps running until `cargo xtask testenv down`.
    Demo,
    /// Build the binaries of the test environment into the cache (skipped
    /// when cached): etcd, kube-apiserver, kube-controller-manager,
    /// kube-scheduler, kubectl, kwok and helm, and for the tests
    /// chartmuseum, registry, kustomize, sops, age, age-keygen and
    /// kubeconform.
    BuildTestenv,
    /// Build the extra tools benchmarks compare against (dyff, Flux's
    /// source-controller and kustomize-controller; kubeconform comes with
    /// the test environment).
    Tools {
        /// Print `export VAR=path` lines for the tools' binaries on stdout
        /// (`eval "$(cargo xtask tools --env)"`), progress on stderr.
        #[arg(long)]
        env: bool,
    },
    /// Fuzz weir for a bounded time: the YAML loader (`yaml_loader`) or the
    /// whole pipeline (`pipeline`: load, validate, render with helm stubbed,
    /// plan), cargo-fuzz targets in fuzz/. Needs nightly and cargo-fuzz;
    /// installs them when missing. Exit 1 when the fuzzer finds an input
    /// that crashes, hangs (over 10 s) or blows memory (over 512 MB); it is
    /// saved in fuzz/artifacts/. A clean pipeline run minimizes the cached
    /// corpus it grew (fuzz/pipeline-corpus/ holds the committed seeds).
    Fuzz {
        /// How long to fuzz, in seconds (after building the target).
        #[arg(long, value_name = "N", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
        seconds: u32,
        /// The fuzz target.
        #[arg(long, default_value = "yaml_loader", value_parser = clap::builder::PossibleValuesParser::new(fuzz::TARGETS))]
        target: String,
    },
    /// Regenerate schemas/kubernetes/v<major.minor>.json, the compact
    /// Kubernetes OpenAPI that `weir validate` ships with, from a running
    /// control plane's /openapi/v3 and discovery documents.
    Openapi {
        /// Kubeconfig of the control plane (default: $WEIR_TEST_KUBECONFIG,
        /// else the running `cargo xtask testenv up` cluster).
        #[arg(long)]
        kubeconfig: Option<std::path::PathBuf>,
        /// kubectl to use (default: the test environment's).
        #[arg(long)]
        kubectl: Option<std::path::PathBuf>,
        /// Output directory (default: schemas/kubernetes).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Manage the local control plane used for manual work.
    Testenv {
        #[command(subcommand)]
        action: TestenvCmd,
    },
}

#[derive(Debug, Subcommand)]
enum TestenvCmd {
    /// Start the control plane in the background (no-op when already up).
    Up,
    /// Stop every process of the control plane and remove its state.
    Down,
    /// Print `export` lines for a shell: eval "$(cargo xtask testenv env)".
    Env,
    /// Show whether each process runs and the API is ready.
    Status,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            eprintln!("interrupted again; cleaning up, please wait");
        } else {
            eprintln!("interrupted; stopping and cleaning up");
        }
    }) {
        ui::warn(&format!("cannot handle Ctrl-C: {err}"));
    }
    let result = match cli.command {
        Cmd::Test { cargo_test_args } => tasks::test(&cargo_test_args),
        Cmd::Demo => tasks::demo(),
        Cmd::BuildTestenv => tasks::build_testenv(),
        Cmd::Tools { env } => tasks::tools(env),
        Cmd::Fuzz { seconds, target } => fuzz::task(&target, seconds),
        Cmd::Openapi {
            kubeconfig,
            kubectl,
            out,
        } => openapi::task(kubeconfig, kubectl, out),
        Cmd::Testenv { action } => match action {
            TestenvCmd::Up => tasks::up(),
            TestenvCmd::Down => tasks::down(),
            TestenvCmd::Env => tasks::env(),
            TestenvCmd::Status => tasks::status(),
        },
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            if interrupted() {
                ExitCode::from(130)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
