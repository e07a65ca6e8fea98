//! `cargo xtask fuzz`: runs a cargo-fuzz target for a bounded time: the
//! YAML loader (`fuzz/fuzz_targets/yaml_loader.rs`) or the whole pipeline
//! (`pipeline.rs`: load, validate, render with helm stubbed, plan). The
//! pipeline target also runs for [`TEST_SECONDS`] in `cargo xtask test`.
//!
//! cargo-fuzz needs a nightly toolchain and the `cargo-fuzz` binary; both
//! are installed when missing (`rustup toolchain install nightly`,
//! `cargo install cargo-fuzz`), into rustup's and cargo's own homes, never
//! into the repo. The fuzz build (nightly, AddressSanitizer) and the corpus
//! the fuzzer grows live in the cache, next to the test environment's
//! binaries (`<cache>/fuzz-target/`, `<cache>/fuzz-corpus/<target>/`), so
//! later runs start from what earlier ones found; crashing inputs go to
//! `fuzz/artifacts/<target>/` (not committed).
//!
//! The pipeline target's hand-made seeds are kept in the repo, small:
//! `fuzz/pipeline-corpus/` seeds every run and `tests/fuzz_pipeline.rs`
//! replays it on stable. After a clean `cargo xtask fuzz --target pipeline`
//! the cache's corpus is replaced by libFuzzer's merge (`-merge=1`) of it
//! and the seeds: the fewest inputs that cover as much. (That merge is
//! not committed: after a 30-minute run it held 2,121 inputs, 40 MB.)
//!
//! Any input that panics, takes over 10 s, or makes the process exceed
//! 512 MB fails the run, which then prints the input's path and the command
//! that replays it.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::build;
use crate::ui;

/// The fuzz targets of `fuzz/`.
pub const TARGETS: &[&str] = &["yaml_loader", "pipeline"];

/// How long `cargo xtask test` fuzzes the pipeline.
pub const TEST_SECONDS: u32 = 30;

/// Where a target's committed inputs are, relative to the repo.
fn seeds(target: &str) -> &'static str {
    match target {
        "pipeline" => "fuzz/pipeline-corpus",
        _ => "fuzz/seeds",
    }
}

/// Whether a clean run replaces the target's cached corpus with the
/// merge of it and the seeds.
fn keeps_corpus(target: &str) -> bool {
    target == "pipeline"
}

/// Per-input limits: slower or larger is a finding. The goal for a hostile
/// repo is 5 s and 200 MB in a release build; under AddressSanitizer a
/// whole-pipeline input runs 3 to 5 times slower, and on a 2-core machine
/// busy with a build an input of 0.15 s once took over 2 s, so the time
/// limit is 10 s: what the budget fails to bound still runs for ever.
const INPUT_TIMEOUT_SECS: u32 = 10;
const RSS_LIMIT_MB: u32 = 512;

/// What a fuzz run did.
pub struct Figures {
    pub runs: u64,
    pub seconds: u64,
    pub corpus: usize,
}

/// `cargo xtask fuzz`.
pub fn task(target: &str, seconds: u32) -> Result<ExitCode> {
    let t = Instant::now();
    match run(target, seconds, keeps_corpus(target))? {
        Ok(figures) => {
            ui::done(
                &format!(
                    "fuzz {target}: {} runs in {} s, no crash ({} inputs in the corpus)",
                    figures.runs, figures.seconds, figures.corpus
                ),
                t.elapsed(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(message) => {
            ui::warn(&message);
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Builds and runs `target` for `seconds`; with `keep`, a clean run then
/// minimizes the target's cached corpus (merged with the seeds).
/// `Ok(Err(message))` when the fuzzer found a failing input (the message
/// says where it is and how to replay it); `Err` when the run could not
/// happen.
pub fn run(target: &str, seconds: u32, keep: bool) -> Result<Result<Figures, String>> {
    if !TARGETS.contains(&target) {
        bail!(
            "no fuzz target `{target}`; the targets are: {}",
            TARGETS.join(", ")
        );
    }
    let root = crate::tasks::workspace_root();
    ensure_nightly()?;
    ensure_cargo_fuzz()?;

    let cache = build::cache_root()?;
    let target_dir = cache.join("fuzz-target");
    let corpus = cache.join("fuzz-corpus").join(target);
    let artifacts = root.join("fuzz/artifacts").join(target);
    for dir in [&corpus, &artifacts] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }

    ui::step(&format!(
        "building fuzz target {target} (nightly, AddressSanitizer)"
    ));
    let t = Instant::now();
    let status = fuzz_cargo(&root)
        .args(["fuzz", "build", target, "--target-dir"])
        .arg(&target_dir)
        .status()
        .context("running cargo fuzz build")?;
    if !status.success() {
        bail!("cargo fuzz build {target} failed");
    }
    ui::done(&format!("fuzz target {target} built"), t.elapsed());

    let seeds = root.join(seeds(target));
    ui::step(&format!(
        "fuzzing {target} for {seconds} s (corpus {}, seeds {})",
        corpus.display(),
        seeds.display()
    ));
    let mut child = fuzz_cargo(&root)
        .args(["fuzz", "run", target, "--target-dir"])
        .arg(&target_dir)
        .arg(&corpus)
        .arg(&seeds)
        .arg("--")
        .env("ASAN_OPTIONS", asan_options())
        .env("LSAN_OPTIONS", lsan_options(&root))
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={INPUT_TIMEOUT_SECS}"))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-print_final_stats=1")
        .stderr(Stdio::piped())
        .spawn()
        .context("running cargo fuzz run")?;
    // libFuzzer reports on stderr: progress lines (`#1024 pulse ...`) are
    // left out, everything else is passed on and read for the figures.
    let mut runs = None;
    let mut took = None;
    let mut crash_input = None;
    let mut in_dictionary = false;
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines() {
            let line = line.context("reading the fuzzer's output")?;
            if let Some((n, s)) = done_line(&line) {
                runs = Some(n);
                took = Some(s);
            }
            if let Some(path) = line
                .split_once("Test unit written to ")
                .map(|(_, p)| p.trim().to_owned())
            {
                crash_input = Some(path);
            }
            // Progress (`#1024 pulse ...`) and the recommended dictionary
            // (`"spec" # Uses: 78`) would drown the rest.
            if line.starts_with("###### Recommended dictionary") {
                in_dictionary = true;
            } else if line.starts_with("###### End of recommended dictionary") {
                in_dictionary = false;
            } else if !in_dictionary && !line.starts_with('#') {
                eprintln!("    | {line}");
            }
        }
    }
    let status = child.wait().context("waiting for the fuzzer")?;
    if crate::interrupted() {
        bail!("interrupted");
    }
    if !status.success() || crash_input.is_some() {
        let input = crash_input.unwrap_or_else(|| format!("{}/", artifacts.display()));
        return Ok(Err(format!(
            "the fuzzer found an input {target} fails on ({status}): {input}\n\
             replay it with: cargo +nightly fuzz run {target} {input}\n\
             then add it as a test (tests/hostile_input.rs for the loader; for the pipeline, \
             fix it and copy the input into fuzz/pipeline-corpus/)"
        )));
    }
    let (Some(runs), Some(seconds)) = (runs, took) else {
        bail!("the fuzzer ended without its `Done N runs in S second(s)` line");
    };
    if keep {
        minimize(&root, target, &target_dir, &corpus, &seeds)?;
    }
    let corpus = std::fs::read_dir(&corpus).map_or(0, |d| d.count());
    Ok(Ok(Figures {
        runs,
        seconds,
        corpus,
    }))
}

/// Replaces the cache's `corpus` with libFuzzer's merge of it and the
/// committed `seeds`: the fewest inputs that cover as much as both.
fn minimize(
    root: &Path,
    target: &str,
    target_dir: &Path,
    corpus: &Path,
    seeds: &Path,
) -> Result<()> {
    let merged = root.join(format!("fuzz/target/merge-{target}"));
    if merged.exists() {
        std::fs::remove_dir_all(&merged)
            .with_context(|| format!("removing {}", merged.display()))?;
    }
    std::fs::create_dir_all(&merged).with_context(|| format!("creating {}", merged.display()))?;
    ui::step(&format!("minimizing the corpus in {}", corpus.display()));
    let status = fuzz_cargo(root)
        .args(["fuzz", "run", target, "--target-dir"])
        .arg(target_dir)
        .arg(&merged)
        .arg(seeds)
        .arg(corpus)
        .arg("--")
        .arg("-merge=1")
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .arg(format!("-timeout={INPUT_TIMEOUT_SECS}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running the corpus merge")?;
    if !status.success() {
        bail!("merging the corpus of {target} failed ({status})");
    }
    let merged_files: Vec<_> = std::fs::read_dir(&merged)?
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("reading {}", merged.display()))?;
    if merged_files.is_empty() {
        bail!(
            "the merged corpus of {target} is empty; {} left as it was",
            seeds.display()
        );
    }
    for entry in std::fs::read_dir(corpus)? {
        std::fs::remove_file(entry?.path())?;
    }
    for entry in merged_files {
        std::fs::rename(entry.path(), corpus.join(entry.file_name()))?;
    }
    Ok(())
}

/// libFuzzer's last line: `Done 123456 runs in 60 second(s)`.
fn done_line(line: &str) -> Option<(u64, u64)> {
    let rest = line.strip_prefix("Done ")?;
    let (runs, rest) = rest.split_once(" runs in ")?;
    let (secs, _) = rest.split_once(' ')?;
    Some((runs.parse().ok()?, secs.parse().ok()?))
}

/// `rustup run nightly cargo ...` in the repo root, without what the
/// outer cargo set for xtask (its own cargo and rustc, a shared build
/// directory), which must not leak into the nightly build.
/// AddressSanitizer's options for a run: the caller's, plus a quarantine
/// of 32 MiB. ASan keeps freed memory out of reuse (256 MiB by default) to
/// catch use after free; with whole-pipeline inputs that quarantine alone
/// took the process past the RSS limit while loading the corpus (596 MB
/// after 2,162 inputs, none above 120 MB by itself; 222 MB with 32 MiB),
/// a false out-of-memory finding. A use right after a free is still caught.
fn asan_options() -> String {
    let own = "quarantine_size_mb=32";
    match std::env::var("ASAN_OPTIONS") {
        Ok(theirs) if !theirs.is_empty() => format!("{theirs}:{own}"),
        _ => own.to_owned(),
    }
}

/// LeakSanitizer's options for a run: the caller's, plus the suppressions
/// of `fuzz/lsan.supp` (leaks of glibc's, not weir's; see that file).
fn lsan_options(root: &Path) -> String {
    let own = format!("suppressions={}", root.join("fuzz/lsan.supp").display());
    match std::env::var("LSAN_OPTIONS") {
        Ok(theirs) if !theirs.is_empty() => format!("{theirs}:{own}"),
        _ => own,
    }
}

fn fuzz_cargo(root: &Path) -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args(["run", "nightly", "cargo"]).current_dir(root);
    for var in [
        "CARGO",
        "RUSTC",
        "RUSTDOC",
        "RUSTC_WRAPPER",
        "RUSTUP_TOOLCHAIN",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_BUILD_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A nightly toolchain through rustup, installed when missing.
fn ensure_nightly() -> Result<()> {
    if !succeeds(Command::new("rustup").arg("--version")) {
        bail!(
            "fuzzing needs rustup (https://rustup.rs) with a nightly toolchain: \
             install rustup, then `rustup toolchain install nightly`"
        );
    }
    if succeeds(Command::new("rustup").args(["run", "nightly", "rustc", "--version"])) {
        return Ok(());
    }
    ui::step(
        "installing the nightly toolchain: rustup toolchain install nightly --profile minimal",
    );
    let status = Command::new("rustup")
        .args(["toolchain", "install", "nightly", "--profile", "minimal"])
        .status()
        .context("running rustup")?;
    if !status.success() {
        bail!("could not install nightly; run `rustup toolchain install nightly` and try again");
    }
    Ok(())
}

/// The `cargo-fuzz` binary, installed with `cargo install` when missing.
fn ensure_cargo_fuzz() -> Result<()> {
    let installed = |cmd: &mut Command| succeeds(cmd.args(["fuzz", "--version"]));
    if installed(&mut fuzz_cargo(&crate::tasks::workspace_root())) {
        return Ok(());
    }
    ui::step("installing cargo-fuzz: cargo install cargo-fuzz --locked");
    let status = fuzz_cargo(&crate::tasks::workspace_root())
        .args(["install", "cargo-fuzz", "--locked"])
        .status()
        .context("running cargo install")?;
    if !status.success() {
        bail!("could not install cargo-fuzz; run `cargo install cargo-fuzz` and try again");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzers_last_line() {
        assert_eq!(
            done_line("Done 123456 runs in 60 second(s)"),
            Some((123456, 60))
        );
        assert_eq!(done_line("#2 INITED cov: 10"), None);
        assert_eq!(done_line("Done x runs in 1 second(s)"), None);
    }
}
