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
//! - an OCI chart resolves and renders the same way;
//! - the exact version and digest are in `weir diff` (JSON, text and
//!   markdown) and in the sync report of a real sync;
//! - a chart's `Chart.yaml` dependencies come from a chart repository and an
//!   OCI registry the same way (cache, digest, credentials) and render;
//! - an unreachable dependency repository is a clear error naming the
//!   component, the chart and the URL, and nothing is applied (`validate`,
//!   which does not need the network, warns instead).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::chartservers::{ChartMuseum, OciRegistry, demo_chart};
use support::servers::Credentials;

const WEIR: &str = env!("CARGO_BIN_EXE_weir");

/// A config repo of one component taking `demo` from `repo`.
fn config_repo(dir: &Path, repo: &str, version: &str, extra: &str) -> String {
    config_repo_in(dir, "web", repo, version, extra)
}

/// [`config_repo`] with the component's objects in `namespace`.
fn config_repo_in(dir: &Path, namespace: &str, repo: &str, version: &str, extra: &str) -> String {
    let root = dir.join("config");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(
        root.join("web.yaml"),
        format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: web}}\nspec:\n  namespace: {namespace}\n  source:\n    helm:\n      repo: {repo}\n      chart: demo\n      version: \"{version}\"\n{extra}      values: {{greeting: hi}}\n"
        ),
    )
    .unwrap();
    root.to_str().unwrap().to_owned()
}

/// A chart `name` at `version` whose one ConfigMap is named after the
/// release and the chart (so several can be subcharts of one release).
fn named_chart(dir: &Path, name: &str, version: &str) -> PathBuf {
    let chart = dir.join(format!("{name}-{version}"));
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        format!("apiVersion: v2\nname: {name}\nversion: {version}\n"),
    )
    .unwrap();
    std::fs::write(chart.join("values.yaml"), "size: small\n").unwrap();
    std::fs::write(
        chart.join("templates/configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-{{ .Chart.Name }}\n\
         data:\n  size: {{ .Values.size | quote }}\n  chart: {{ .Chart.Name }}-{{ .Chart.Version }}\n",
    )
    .unwrap();
    chart
}

/// A config repo whose component `app` renders the local chart `app`,
/// which declares `dependencies` (the YAML list items of its Chart.yaml).
fn repo_with_dependencies(dir: &Path, dependencies: &str) -> String {
    let root = dir.join("config");
    std::fs::create_dir_all(root.join("app/templates")).unwrap();
    std::fs::write(
        root.join("app/Chart.yaml"),
        format!("apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n{dependencies}"),
    )
    .unwrap();
    std::fs::write(
        root.join("app/templates/configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  own: \"yes\"\n",
    )
    .unwrap();
    std::fs::write(
        root.join("app.yaml"),
        "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {name: app}\nspec:\n  namespace: app\n  source:\n    helm:\n      chart: app\n      plainHttp: true\n",
    )
    .unwrap();
    root.to_str().unwrap().to_owned()
}

/// Credentials of both servers.
fn both_credentials(dir: &Path, museum: &ChartMuseum, registry: &OciRegistry) -> PathBuf {
    let path = dir.join("both-credentials.yaml");
    std::fs::write(
        &path,
        format!(
            "- url: {}\n  username: {}\n  password: {}\n- url: oci://{}\n  username: {}\n  password: {}\n",
            museum.url(),
            museum.credentials().username,
            museum.credentials().password,
            registry.host(),
            registry.credentials().username,
            registry.credentials().password,
        ),
    )
    .unwrap();
    path
}

/// The `charts` of unit `name` in `weir plan --output json`.
fn planned_charts(json: &str, name: &str) -> Vec<Value> {
    let doc: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    doc["waves"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["units"].as_array().unwrap().iter())
        .find(|u| u["name"] == name)
        .unwrap_or_else(|| panic!("no unit {name}: {json}"))["charts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
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

/// The chart of unit `web` in `weir plan --output json`.
fn planned_chart(json: &str) -> Value {
    let charts = planned_charts(json, "web");
    assert_eq!(charts.len(), 1, "{json}");
    charts[0].clone()
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

#[test]
fn diff_and_the_sync_report_show_the_exact_version_and_digest() {
    let scratch = tempfile::tempdir().unwrap();
    let museum = ChartMuseum::start();
    let v1 = museum.upload(&demo_chart(scratch.path(), "0.1.0"));
    let v2 = museum.upload(&demo_chart(scratch.path(), "0.2.0"));
    let creds = credentials_file(scratch.path(), &museum.url(), museum.credentials());
    let cache = scratch.path().join("cache");
    let namespace = support::unique_name("remote-chart");

    // Two commits: the range pinned to 0.1.0, then moved to 0.2.0.
    let work = scratch.path().join("work");
    let repo = config_repo_in(&work, &namespace, &museum.url(), "0.1.0", "");
    let git = git2::Repository::init(&work).unwrap();
    support::git::commit(&git, "v1");
    config_repo_in(&work, &namespace, &museum.url(), "~0.2.0", "");
    support::git::commit(&git, "v2");

    let (rc, out, err) = weir(
        &[
            "diff", &repo, "--base", "v1", "--head", "v2", "--output", "json",
        ],
        &cache,
        &creds,
    );
    assert_eq!(rc, 1, "the ConfigMap changes: {out}{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let charts = doc["charts"]
        .as_array()
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(charts.len(), 1, "{doc:#}");
    let chart = &charts[0];
    assert_eq!(chart["component"], "web");
    assert_eq!(chart["change"], "changed");
    assert_eq!(chart["base"]["version"], "0.1.0");
    assert_eq!(chart["base"]["digest"], sha256(&v1.archive));
    assert_eq!(chart["head"]["version"], "0.2.0");
    assert_eq!(chart["head"]["digest"], sha256(&v2.archive));
    assert_eq!(chart["head"]["repo"], museum.url());
    let line = format!(
        "web: demo 0.1.0 ({}) -> 0.2.0 ({}) from {}",
        sha256(&v1.archive),
        sha256(&v2.archive),
        museum.url()
    );
    for format in ["text", "markdown"] {
        let (rc, out, err) = weir(
            &[
                "diff", &repo, "--base", "v1", "--head", "v2", "--output", format,
            ],
            &cache,
            &creds,
        );
        assert_eq!(rc, 1, "{format}: {err}");
        assert!(out.contains(&line), "{format}:\n{out}");
    }

    // A real sync of the head: its report names the chart it applied.
    let kubeconfig = support::kubeconfig_path();
    let kubeconfig = kubeconfig.to_str().unwrap();
    let target = support::unique_name("remote-chart");
    let (rc, out, err) = weir(
        &[
            "sync",
            &repo,
            "--output",
            "json",
            "--kubeconfig",
            kubeconfig,
            "--target",
            &target,
        ],
        &cache,
        &creds,
    );
    assert_eq!(rc, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["status"], "synced", "{report:#}");
    let synced = report["charts"]
        .as_array()
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(synced.len(), 1, "{report:#}");
    assert_eq!(synced[0]["component"], "web");
    assert_eq!(synced[0]["chart"], "demo");
    assert_eq!(synced[0]["version"], "0.2.0");
    assert_eq!(synced[0]["digest"], sha256(&v2.archive));
    let (rc, out, err) = weir(
        &[
            "sync",
            &repo,
            "--kubeconfig",
            kubeconfig,
            "--target",
            &target,
        ],
        &cache,
        &creds,
    );
    assert_eq!(rc, 0, "{err}");
    assert!(
        out.contains(&format!(
            "chart web: demo 0.2.0 from {} ({})",
            museum.url(),
            sha256(&v2.archive)
        )),
        "{out}"
    );
    for text in [&out, &err] {
        assert!(!text.contains(&museum.credentials().password));
    }
}

#[test]
fn dependencies_come_from_a_chart_repository_and_a_registry() {
    let scratch = tempfile::tempdir().unwrap();
    let mut museum = ChartMuseum::start();
    let mut registry = OciRegistry::start();
    let from_museum = museum.upload(&named_chart(scratch.path(), "cache-dep", "0.1.3"));
    let (from_registry, _) = registry.push(&named_chart(scratch.path(), "queue-dep", "2.0.0"));
    let creds = both_credentials(scratch.path(), &museum, &registry);
    let cache = scratch.path().join("cache");
    let repo = repo_with_dependencies(
        scratch.path(),
        &format!(
            "  - name: cache-dep\n    version: \"~0.1.0\"\n    repository: {}\n\
             \x20 - name: queue-dep\n    version: 2.0.0\n    repository: {}\n",
            museum.url(),
            registry.url()
        ),
    );

    let (rc, out, err) = weir(&["plan", &repo, "--output", "json"], &cache, &creds);
    assert_eq!(rc, 0, "{out}{err}");
    let charts = planned_charts(&out, "app");
    let by_name = |name: &str| {
        charts
            .iter()
            .find(|c| c["chart"] == name)
            .unwrap_or_else(|| panic!("{name} in {charts:#?}"))
            .clone()
    };
    let cache_dep = by_name("cache-dep");
    assert_eq!(cache_dep["version"], "0.1.3");
    assert_eq!(cache_dep["digest"], sha256(&from_museum.archive));
    assert_eq!(cache_dep["dependencyOf"], "app");
    assert_eq!(cache_dep["repo"], museum.url());
    let queue_dep = by_name("queue-dep");
    assert_eq!(queue_dep["version"], "2.0.0");
    assert_eq!(queue_dep["digest"], sha256(&from_registry.archive));
    assert_eq!(queue_dep["repo"], registry.url());
    let (rc, out, err) = weir(&["plan", &repo], &cache, &creds);
    assert_eq!(rc, 0, "{err}");
    assert!(
        out.contains(&format!(
            "chart: cache-dep 0.1.3 from {} ({}), a dependency of app",
            museum.url(),
            sha256(&from_museum.archive)
        )),
        "{out}"
    );

    // helm template renders the chart with both.
    let render = |cache: &Path| {
        let (rc, out, err) = weir(&["render", &repo, "--output", "json"], cache, &creds);
        assert_eq!(rc, 0, "{err}");
        let objects: Vec<Value> = serde_json::from_str(&out).unwrap();
        let mut names: Vec<String> = objects
            .iter()
            .filter(|o| o["kind"] == "ConfigMap")
            .map(|o| format!("{}={}", o["metadata"]["name"], o["data"]["chart"]))
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        render(&cache),
        [
            "\"app\"=null",
            "\"app-cache-dep\"=\"cache-dep-0.1.3\"",
            "\"app-queue-dep\"=\"queue-dep-2.0.0\""
        ]
    );
    // The same from the cache, with both servers down.
    museum.stop();
    registry.stop();
    assert_eq!(render(&cache).len(), 3);
}

#[test]
fn an_unreachable_dependency_repository_is_a_clear_error_and_nothing_is_applied() {
    let scratch = tempfile::tempdir().unwrap();
    let museum = ChartMuseum::start();
    let creds = credentials_file(scratch.path(), &museum.url(), museum.credentials());
    let cache = scratch.path().join("cache");
    // A port nothing listens on.
    let url = "http://127.0.0.1:1/charts";
    let repo = repo_with_dependencies(
        scratch.path(),
        &format!("  - name: gone\n    version: 1.0.0\n    repository: {url}\n"),
    );
    let (rc, out, err) = weir(&["plan", &repo, "--output", "json"], &cache, &creds);
    assert_eq!(rc, 1, "{out}{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let d = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "E0219")
        .unwrap_or_else(|| panic!("{out}"));
    let message = d["message"].as_str().unwrap();
    for needle in [
        "component `app`",
        "chart `gone`",
        "dependency of chart `app`",
        url,
    ] {
        assert!(message.contains(needle), "`{needle}` not in: {message}");
    }
    assert_eq!(d["file"], "app.yaml");

    let (rc, _, err) = weir(
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
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("nothing was applied"), "{err}");

    // validate does not need the network: a warning naming the component.
    let (rc, out, err) = weir(&["validate", &repo, "--output", "json"], &cache, &creds);
    assert_eq!(rc, 0, "{out}{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let warning = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "W0103")
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        warning["message"].as_str().unwrap().contains("`app`"),
        "{warning}"
    );
}
