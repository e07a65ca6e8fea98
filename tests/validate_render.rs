//! `weir validate` renders and plans the repo as `weir plan` does, with the
//! real helm: custom resources are checked against the CRDs that Helm
//! charts bring, chart output is checked like manifests, and what only
//! rendering and planning find (paths that name nothing, `valuesFrom`
//! paths, cycles, wave conflicts) is reported with file and line, in every
//! output format. Without helm, everything else is still checked and one
//! warning says what was not.
//!
//! Needs helm from the test environment: run through `cargo xtask test`,
//! which sets `WEIR_HELM`. Without it these tests fail, they do not skip.

mod support;

use std::path::Path;
use std::process::{Command, Output};

fn fixtures() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/validate"
    ))
}

fn helm() -> String {
    match std::env::var("WEIR_HELM") {
        Ok(path) if Path::new(&path).is_file() => path,
        _ => panic!(
            "these tests need the real helm binary; run them with `cargo xtask test` \
             (which sets WEIR_HELM)"
        ),
    }
}

/// weir in `dir`, with the test environment's helm (or `helm` as given).
fn weir_in(dir: &Path, helm: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .current_dir(dir)
        .env("WEIR_HELM", helm)
        .env_remove("CLICOLOR_FORCE")
        .env("NO_COLOR", "1")
        .output()
        .expect("run weir")
}

fn weir(args: &[&str]) -> Output {
    weir_in(fixtures(), &helm(), args)
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 output")
}

/// The example repo's one warning used to be its InferenceDeployment, whose
/// CRD comes from the edge operator's chart: with the chart rendered (from
/// the chart repository), it is checked against that CRD, and nothing is
/// left to report.
#[test]
fn example_repo_has_no_findings() {
    // Its remote charts served as the demo serves them.
    let charts = support::example_repo::ServedCharts::start();
    let work = tempfile::tempdir().unwrap();
    charts.copy_repo(&work.path().join("example-repo"));
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["validate", "example-repo", "--strict"])
        .current_dir(work.path())
        .env("WEIR_HELM", helm())
        .envs(charts.env())
        .env_remove("CLICOLOR_FORCE")
        .env("NO_COLOR", "1")
        .output()
        .expect("run weir");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    insta::assert_snapshot!(stdout(&out), @"no problems found (120 documents in 48 files checked)");
}

/// A custom resource whose CRD is in a chart's `crds/`: valid, even with
/// `--strict` (no W0101), and checked against that CRD.
#[test]
fn custom_resources_use_the_crds_charts_render() {
    let out = weir(&["validate", "charts", "--strict"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(
        stdout(&out),
        "no problems found (4 documents in 4 files checked)\n"
    );
}

#[test]
fn render_findings_text() {
    let out = weir(&["validate", "render-errors"]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("render_errors_text", stdout(&out));
}

#[test]
fn render_findings_json() {
    let out = weir(&["validate", "render-errors", "--output", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    insta::assert_json_snapshot!("render_errors_json", value);
}

#[test]
fn render_findings_github() {
    let out = weir(&["validate", "render-errors", "--output", "github"]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("render_errors_github", stdout(&out));
}

/// What only planning finds: a dependency cycle and an explicit wave that
/// is not after a dependency's, at the line of the field.
#[test]
fn plan_findings() {
    let out = weir(&["validate", "cycle"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.starts_with("cycle/a/component.yaml:1:1  error[E0403] dependency cycle: a -> b -> a"),
        "{text}"
    );
    assert!(text.ends_with("1 error, 0 warnings in 1 file (5 documents in 5 files checked)\n"));

    let out = weir(&["validate", "wave-conflict", "--output", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let d = &report["diagnostics"][0];
    assert_eq!(d["code"], "E0404", "{report:#}");
    assert_eq!(d["file"], "late/component.yaml");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(8), Some(9))
    );
    assert_eq!(d["path"], ".spec.wave");
    assert_eq!(report["diagnostics"].as_array().map(Vec::len), Some(1));

    let out = weir(&["validate", "wave-conflict", "--output", "github"]);
    assert!(
        stdout(&out).starts_with(
            "::error file=wave-conflict/late/component.yaml,line=8,col=9,title=E0404::"
        ),
        "{}",
        stdout(&out)
    );
}

/// No helm: one warning that says which charts were not rendered and how
/// to get helm; everything else is still checked (the chart's custom
/// resource has no schema then: W0101). Neither is an error unless
/// `--strict`.
#[test]
fn without_helm_one_clear_warning() {
    let out = weir_in(
        fixtures(),
        "/nonexistent/helm",
        &["validate", "charts", "--output", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let codes: Vec<&str> = report["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter_map(|d| d["code"].as_str())
        .collect();
    assert_eq!(codes, ["W0103", "W0101"], "{report:#}");
    let d = &report["diagnostics"][0];
    assert_eq!(d["file"], serde_json::Value::Null);
    assert!(
        d["message"]
            .as_str()
            .is_some_and(|m| m.contains("component `operator`")),
        "{d:#}"
    );
    assert!(
        d["hint"].as_str().is_some_and(|h| h.contains("WEIR_HELM")),
        "{d:#}"
    );

    let out = weir_in(
        fixtures(),
        "/nonexistent/helm",
        &["validate", "charts", "--strict"],
    );
    assert_eq!(out.status.code(), Some(1));
    // A repo without charts never needs helm.
    let out = weir_in(fixtures(), "/nonexistent/helm", &["validate", "cycle"]);
    assert!(!stdout(&out).contains("W0103"), "{}", stdout(&out));
}

/// `--rev` renders the revision from Git objects, charts included: the
/// committed custom resource is refused by the CRD of the committed chart,
/// while the working tree (fixed) is valid.
#[test]
fn rev_renders_the_committed_charts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    copy_dir(&fixtures().join("charts"), &root.join("platform"));
    let gadget = root.join("platform/gadgets/manifests/gadget.yaml");
    let good = std::fs::read_to_string(&gadget).expect("read");
    std::fs::write(&gadget, good.replace("size: 2", "size: big")).expect("write");

    let repo = git2::Repository::init(root).expect("git init");
    let mut index = repo.index().expect("index");
    index
        .add_all(["platform"], git2::IndexAddOption::DEFAULT, None)
        .expect("add");
    let tree = repo
        .find_tree(index.write_tree().expect("tree"))
        .expect("tree");
    let sig = git2::Signature::now("t", "t@example.com").expect("sig");
    repo.commit(Some("HEAD"), &sig, &sig, "bad gadget", &tree, &[])
        .expect("commit");
    std::fs::write(&gadget, good).expect("write");

    let out = weir_in(root, &helm(), &["validate", "platform"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = weir_in(root, &helm(), &["validate", "platform", "--rev", "HEAD"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).starts_with(
            "platform/gadgets/manifests/gadget.yaml:6:9  error[E0102] expected an integer, found a string"
        ),
        "{}",
        stdout(&out)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}
