//! `weir validate` and `weir schema` as a user runs them: the built binary
//! on the fixture repos of `tests/fixtures/validate/`, with the text, JSON
//! and GitHub forms fixed by insta snapshots.

#[path = "bench_manifests/mod.rs"]
mod bench_manifests;
mod support;

use std::path::Path;
use std::process::{Command, Output};

fn fixtures() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/validate"
    ))
}

/// Runs weir in the fixtures directory (so paths in the output are relative
/// and stable), without colour.
fn weir(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .current_dir(fixtures())
        .env_remove("CLICOLOR_FORCE")
        .env("NO_COLOR", "1")
        .output()
        .expect("run weir")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 output")
}

#[test]
fn valid_repo_exits_0() {
    let out = weir(&["validate", "valid"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    insta::assert_snapshot!(stdout(&out), @"no problems found (10 documents in 8 files checked)");
}

#[test]
fn invalid_repo_text() {
    let out = weir(&["validate", "invalid"]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("invalid_text", stdout(&out));
}

#[test]
fn invalid_repo_json() {
    let out = weir(&["validate", "invalid", "--output", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    insta::assert_json_snapshot!("invalid_json", value);
}

#[test]
fn invalid_repo_github() {
    let out = weir(&["validate", "./invalid/", "--output", "github"]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("invalid_github", stdout(&out));
}

#[test]
fn warnings_pass_unless_strict() {
    let out = weir(&["validate", "warnings"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("warning[W0101]"));
    let out = weir(&["validate", "warnings", "--strict"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("error[W0101]"));
}

#[test]
fn usage_and_runtime_errors_exit_2() {
    let out = weir(&["validate", "no-such-dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-dir does not exist"));
    let out = weir(&["validate", "--output", "yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let out = weir(&["version"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "the placeholder subcommand is gone"
    );
}

#[test]
fn colour_only_when_asked_and_never_with_no_color() {
    let run = |no_color: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
        cmd.args(["validate", "invalid"])
            .current_dir(fixtures())
            .env("CLICOLOR_FORCE", "1");
        if no_color {
            cmd.env("NO_COLOR", "1");
        } else {
            cmd.env_remove("NO_COLOR");
        }
        stdout(&cmd.output().expect("run weir"))
    };
    assert!(run(false).contains("\u{1b}["), "CLICOLOR_FORCE colours");
    assert!(!run(true).contains("\u{1b}["), "NO_COLOR wins");
    // Piped output without CLICOLOR_FORCE is plain (the other tests).
    assert!(!stdout(&weir(&["validate", "invalid"])).contains("\u{1b}["));
}

#[test]
fn schema_prints_the_bundled_schema() {
    let out = weir(&["schema", "component"]);
    assert_eq!(out.status.code(), Some(0));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        printed,
        weir::validate::weir_schemas::bundled("component").expect("bundled")
    );
    assert_eq!(printed["title"], "weir Component");
}

/// The example repo (five platforms from install guides) has no errors
/// (tests/validate_render.rs shows it has no warning either, with helm and
/// its chart servers), offline too: with its chart repositories out of
/// reach (a copy pointing at a port nothing listens on, as the demo's ports
/// may be in use on a shared machine) and an empty chart cache, the six
/// remote charts are a warning that they were not rendered, not an error.
#[test]
fn example_repo_is_valid_offline() {
    let work = tempfile::tempdir().expect("tempdir");
    let copy = work.path().join("example-repo");
    support::git::copy_dir(&support::example_repo::path(), &copy);
    let mut pointed = 0;
    for file in [
        "edge-inference/components.yaml",
        "ml-lineage/components.yaml",
    ] {
        let path = copy.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let offline = text
            .replace(support::example_repo::DEMO_CHART_REPO, "http://127.0.0.1:1")
            .replace(support::example_repo::DEMO_OCI_REGISTRY, "127.0.0.1:1");
        pointed += usize::from(offline != text);
        std::fs::write(&path, offline).unwrap();
    }
    assert_eq!(pointed, 2, "example-repo's chart URLs moved");
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["validate", "example-repo", "--output", "json"])
        .current_dir(work.path())
        .env("WEIR_CHART_CACHE", work.path().join("cache"))
        .env_remove("WEIR_CHART_CREDENTIALS")
        .output()
        .expect("run weir");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["summary"]["errors"], 0, "{report:#}");
    assert!(report["summary"]["documents"].as_u64().unwrap_or(0) > 100);
    let not_rendered = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "W0103")
        .unwrap_or_else(|| panic!("{report:#}"));
    let message = not_rendered["message"].as_str().unwrap();
    for component in ["edge-operator", "knit-storage-nfs", "knit-app"] {
        assert!(message.contains(&format!("`{component}`")), "{message}");
    }
}

/// `--rev` validates what is committed, not what is on disk.
#[test]
fn rev_reads_the_committed_revision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = git2::Repository::init(dir.path()).expect("git init");
    let sub = dir.path().join("platform");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let bad = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {enabled: true}\n";
    std::fs::write(sub.join("cm.yaml"), bad).expect("write");
    let mut index = repo.index().expect("index");
    index.add_path(Path::new("platform/cm.yaml")).expect("add");
    let tree = repo
        .find_tree(index.write_tree().expect("tree"))
        .expect("tree");
    let sig = git2::Signature::now("t", "t@example.com").expect("sig");
    repo.commit(Some("HEAD"), &sig, &sig, "bad", &tree, &[])
        .expect("commit");
    // The working tree is fixed, the commit is not.
    let good = bad.replace("true", "\"true\"");
    std::fs::write(sub.join("cm.yaml"), good).expect("write");

    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(args)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .output()
            .expect("run weir")
    };
    assert_eq!(run(&["validate", "platform"]).status.code(), Some(0));
    let out = run(&["validate", "platform", "--rev", "HEAD"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("platform/cm.yaml:"),
        "{}",
        stdout(&out)
    );
    let out = run(&["validate", "platform", "--rev", "no-such-branch"]);
    assert_eq!(out.status.code(), Some(2));
}

/// The loader's hints name only flags that exist: a file over the size
/// limit points at `--max-file-size`, which every command that reads a
/// repo takes (validate, render, plan, diff, sync), and raising it lets the
/// file in.
#[test]
fn the_size_limit_hint_names_a_real_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut big = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n");
    for i in 0..100 {
        big.push_str(&format!("  key{i}: \"{}\"\n", "x".repeat(20)));
    }
    std::fs::write(dir.path().join("big.yaml"), big).expect("write");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(args)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .output()
            .expect("run weir")
    };
    let out = run(&["validate", "--max-file-size", "1k", "--output", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let d = &report["diagnostics"][0];
    assert_eq!(d["code"], "E0001", "{report:#}");
    let hint = d["hint"].as_str().expect("a hint");
    let flags: Vec<&str> = hint
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("--"))
        .collect();
    assert_eq!(flags, ["--max-file-size", "--max-file-size"], "{hint}");
    for command in ["validate", "render", "plan", "diff", "sync"] {
        let help = stdout(&run(&[command, "--help"]));
        assert!(help.contains("--max-file-size"), "weir {command} --help");
    }
    // render and plan refuse the file under the flag, and read it above it.
    for command in ["render", "plan"] {
        let out = run(&[command, "--max-file-size", "1k"]);
        assert_eq!(out.status.code(), Some(1), "weir {command}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("E0001"));
        let out = run(&[command, "--max-file-size", "1M"]);
        assert_eq!(out.status.code(), Some(0), "weir {command}");
    }
    assert_eq!(
        run(&["validate", "--max-file-size", "4k"]).status.code(),
        Some(0)
    );
}

/// The benchmark's manifests (the generator `bench_fixture` uses) are all
/// valid, so the benchmark times validation of valid input; every kind of
/// them is checked (four in turn).
#[test]
fn the_benchmark_manifests_are_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("manifests")).expect("mkdir");
    std::fs::write(dir.path().join("crd.yaml"), bench_manifests::CRD).expect("write");
    for i in 0..40 {
        std::fs::write(
            dir.path().join(bench_manifests::manifest_path(i)),
            bench_manifests::manifest(i),
        )
        .expect("write");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["validate", "--strict"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run weir");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        stdout(&out),
        "no problems found (41 documents in 41 files checked)\n"
    );
}
