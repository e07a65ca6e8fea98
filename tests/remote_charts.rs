//! Remote charts: a Component's Helm source names a chart repository
//! (the real ChartMuseum) or an OCI registry (the real distribution
//! registry), a chart and a version or semver range; the real `weir`
//! binary fetches it with the real `helm pull`.
//!
//! - a pinned version and a semver range resolve and render, and `plan`
//!   shows the exact version and the archive's digest;
//! - a wrong password or an unknown version is a clear error naming the
//!   component and the repository, with no password in any output, and
//!   nothing is applied;
//! - a second run uses the cache, with the server stopped;
//! - an OCI chart resolves and renders the same way.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::chartservers::{ChartMuseum, OciRegistry};
use support::servers::Credentials;

const WEIR: &str = env!("CARGO_BIN_EXE_weir");

/// A chart directory `demo` at `version` (one ConfigMap).
fn demo_chart(dir: &Path, version: &str) -> PathBuf {
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

/// A config repo of one component taking `demo` from `repo`.
fn config_repo(dir: &Path, repo: &str, version: &str, extra: &str) -> String {
    let root = dir.join("config");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(
        root.join("web.yaml"),
        format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: web}}\nspec:\n  namespace: web\n  source:\n    helm:\n      repo: {repo}\n      chart: demo\n      version: \"{version}\"\n{extra}      values: {{greeting: hi}}\n"
        ),
    )
    .unwrap();
    root.to_str().unwrap().to_owned()
}

fn credentials_file(dir: &Path, url: &str, credentials: &Credentials) -> PathBuf {
    let path = dir.join("chart-credentials.yaml");
    std::fs::write(
        &path,
        format!(
            "- url: {url}\n  username: {}\n  password: {}\n",
            credentials.username, credentials.password
        ),
    )
    .unwrap();
    path
}

fn weir(args: &[&str], cache: &Path, credentials: &Path) -> (i32, String, String) {
    let out = Command::new(WEIR)
        .args(args)
        .env("NO_COLOR", "1")
        .env("WEIR_CHART_CACHE", cache)
        .env("WEIR_CHART_CREDENTIALS", credentials)
        .output()
        .expect("running weir");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sha256(path: &Path) -> String {
    use sha2::Digest as _;
    format!(
        "sha256:{}",
        hex::encode(&sha2::Sha256::digest(std::fs::read(path).unwrap())[..])
    )
}

/// The `chart` of unit `web` in `weir plan --output json`.
fn planned_chart(json: &str) -> Value {
    let doc: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    doc["waves"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["units"].as_array().unwrap().iter())
        .find(|u| u["name"] == "web")
        .unwrap_or_else(|| panic!("no unit web: {json}"))["chart"]
        .clone()
}

fn rendered_config_map(json: &str) -> Value {
    let objects: Vec<Value> = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    objects
        .into_iter()
        .find(|o| o["kind"] == "ConfigMap")
        .unwrap_or_else(|| panic!("no ConfigMap: {json}"))
}

#[test]
fn a_chart_repository_resolves_pins_and_ranges_and_works_offline_from_the_cache() {
    let scratch = tempfile::tempdir().unwrap();
    let mut museum = ChartMuseum::start();
    let v1 = museum.upload(&demo_chart(scratch.path(), "0.1.0"));
    let v2 = museum.upload(&demo_chart(scratch.path(), "0.2.0"));
    let creds = credentials_file(scratch.path(), &museum.url(), museum.credentials());
    let cache = scratch.path().join("cache");

    // Pinned.
    let pinned = scratch.path().join("pinned");
    let repo = config_repo(&pinned, &museum.url(), "0.1.0", "");
    let (rc, out, err) = weir(&["plan", &repo, "--output", "json"], &cache, &creds);
    assert_eq!(rc, 0, "{out}{err}");
    let chart = planned_chart(&out);
    assert_eq!(chart["version"], "0.1.0");
    assert_eq!(chart["digest"], sha256(&v1.archive));
    assert_eq!(chart["repo"], museum.url());
    let (rc, out, err) = weir(&["plan", &repo], &cache, &creds);
    assert_eq!(rc, 0, "{err}");
    assert!(
        out.contains(&format!("chart: demo 0.1.0 from {}", museum.url())),
        "{out}"
    );
    let (rc, out, err) = weir(&["render", &repo, "--output", "json"], &cache, &creds);
    assert_eq!(rc, 0, "{err}");
    let cm = rendered_config_map(&out);
    assert_eq!(cm["data"]["greeting"], "hi");
    assert_eq!(cm["data"]["version"], "0.1.0");
    assert_eq!(cm["metadata"]["namespace"], "web");

    // A range resolves to the newest version in it.
    let ranged = scratch.path().join("ranged");
    let range_repo = config_repo(&ranged, &museum.url(), ">=0.1.0 <1.0.0", "");
    let (rc, out, err) = weir(&["plan", &range_repo, "--output", "json"], &cache, &creds);
    assert_eq!(rc, 0, "{out}{err}");
    let chart = planned_chart(&out);
    assert_eq!(chart["version"], "0.2.0");
    assert_eq!(chart["digest"], sha256(&v2.archive));

    // The cache is outside the repo, by digest, and holds what was pulled.
    assert!(
        cache
            .join(format!("{}.tgz", sha256(&v1.archive).replace(':', "-")))
            .is_file()
    );

    // The server stopped: both still plan and render from the cache.
    museum.stop();
    let (rc, out, err) = weir(&["render", &repo, "--output", "json"], &cache, &creds);
    assert_eq!(rc, 0, "offline with a warm cache: {err}");
    assert_eq!(rendered_config_map(&out)["data"]["version"], "0.1.0");
    let (rc, out, err) = weir(&["plan", &range_repo, "--output", "json"], &cache, &creds);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(planned_chart(&out)["version"], "0.2.0");

    // A cold cache with the server down: a clear error, nothing applied.
    let cold = scratch.path().join("cold-cache");
    let (rc, out, err) = weir(&["plan", &repo, "--output", "json"], &cold, &creds);
    assert_eq!(rc, 1, "{out}{err}");
    assert!(out.contains("E0219"), "{out}");
    assert!(out.contains("component `web`"), "{out}");
    assert!(out.contains(&museum.url()), "{out}");
}

#[test]
fn a_wrong_password_or_an_unknown_version_is_a_clear_error_and_nothing_is_applied() {
    let scratch = tempfile::tempdir().unwrap();
    let museum = ChartMuseum::start();
    museum.upload(&demo_chart(scratch.path(), "0.1.0"));
    let wrong = Credentials {
        username: museum.credentials().username.clone(),
        password: "not-the-password-7f3a".to_owned(),
    };
    let bad_creds = credentials_file(scratch.path(), &museum.url(), &wrong);

    for (name, version, creds) in [
        ("password", "0.1.0", bad_creds.clone()),
        ("version", "9.9.9", {
            let dir = scratch.path().join("good");
            std::fs::create_dir_all(&dir).unwrap();
            credentials_file(&dir, &museum.url(), museum.credentials())
        }),
    ] {
        let dir = scratch.path().join(name);
        let repo = config_repo(&dir, &museum.url(), version, "");
        let cache = dir.join("cache");
        let (rc, out, err) = weir(&["plan", &repo, "--output", "json"], &cache, &creds);
        assert_eq!(rc, 1, "{name}: {out}{err}");
        let doc: Value = serde_json::from_str(&out).unwrap();
        let d = doc["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["code"] == "E0219")
            .unwrap_or_else(|| panic!("{name}: {out}"));
        let message = d["message"].as_str().unwrap();
        assert!(message.contains("component `web`"), "{message}");
        assert!(message.contains(&museum.url()), "{message}");
        assert!(message.contains(version), "{message}");
        assert_eq!(d["file"], "web.yaml");

        let (vrc, vout, _) = weir(&["validate", &repo, "--output", "json"], &cache, &creds);
        assert_eq!(vrc, 1, "validate agrees: {vout}");
        assert!(vout.contains("E0219"), "{vout}");

        let (src, sout, serr) = weir(
            &[
                "sync",
                &repo,
                "--dry-run",
                "--kubeconfig",
                "/nonexistent/kubeconfig",
            ],
            &cache,
            &creds,
        );
        assert_eq!(src, 1, "{serr}");
        assert!(serr.contains("nothing was applied"), "{serr}");
        for text in [&out, &err, &vout, &sout, &serr] {
            assert!(!text.contains("not-the-password-7f3a"), "password shown");
            assert!(
                !text.contains(&museum.credentials().password),
                "password shown"
            );
        }
    }
}

#[test]
fn an_oci_chart_resolves_and_renders() {
    let scratch = tempfile::tempdir().unwrap();
    let mut registry = OciRegistry::start();
    let (packaged, _) = registry.push(&demo_chart(scratch.path(), "0.1.0"));
    let creds = credentials_file(
        scratch.path(),
        &format!("oci://{}", registry.host()),
        registry.credentials(),
    );
    let cache = scratch.path().join("cache");
    let repo = config_repo(
        scratch.path(),
        &registry.url(),
        "~0.1.0",
        "      plainHttp: true\n",
    );
    let (rc, out, err) = weir(&["plan", &repo, "--output", "json"], &cache, &creds);
    assert_eq!(rc, 0, "{out}{err}");
    let chart = planned_chart(&out);
    assert_eq!(chart["version"], "0.1.0");
    assert_eq!(chart["digest"], sha256(&packaged.archive));
    assert_eq!(chart["repo"], registry.url());

    registry.stop();
    let (rc, out, err) = weir(&["render", &repo, "--output", "json"], &cache, &creds);
    assert_eq!(rc, 0, "from the cache: {err}");
    assert_eq!(rendered_config_map(&out)["data"]["greeting"], "hi");
}
