//! The tests' own chart repositories (`tests/support/chartservers.rs`) work
//! with the real `helm`: a chart uploaded to ChartMuseum and one pushed to
//! the OCI registry are pulled back byte for byte with the right password,
//! refused with a wrong one, and served again after a restart.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::chartservers::{ChartMuseum, OciRegistry, helm_command};
use support::servers::Credentials;

/// A minimal chart directory `demo` 0.1.0 (one ConfigMap).
fn demo_chart(dir: &Path) -> PathBuf {
    let chart = dir.join("demo");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: demo\nversion: 0.1.0\ndescription: a test chart\n",
    )
    .unwrap();
    std::fs::write(chart.join("values.yaml"), "greeting: hello\n").unwrap();
    std::fs::write(
        chart.join("templates/configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n\
         data:\n  greeting: {{ .Values.greeting | quote }}\n",
    )
    .unwrap();
    chart
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `helm pull` from ChartMuseum in a fresh helm home, into `dest`.
fn pull_from_museum(museum: &ChartMuseum, credentials: &Credentials, dest: &Path) -> Output {
    std::fs::create_dir_all(dest).unwrap();
    let home = tempfile::tempdir().unwrap();
    helm_command(home.path())
        .args(["pull", "demo", "--version", "0.1.0", "--repo"])
        .arg(museum.url())
        .arg("--username")
        .arg(&credentials.username)
        .arg("--password")
        .arg(&credentials.password)
        .arg("--destination")
        .arg(dest)
        .output()
        .unwrap()
}

fn wrong_password(credentials: &Credentials) -> Credentials {
    Credentials {
        username: credentials.username.clone(),
        password: "not-the-password".to_owned(),
    }
}

#[test]
fn chartmuseum_serves_an_uploaded_chart_to_helm_with_basic_auth() {
    let scratch = tempfile::tempdir().unwrap();
    let mut museum = ChartMuseum::start();
    let chart = museum.upload(&demo_chart(scratch.path()));
    assert_eq!(
        (chart.name.as_str(), chart.version.as_str()),
        ("demo", "0.1.0")
    );

    let dest = scratch.path().join("pulled");
    let out = pull_from_museum(&museum, museum.credentials(), &dest);
    assert!(out.status.success(), "helm pull failed: {}", stderr(&out));
    assert_eq!(
        std::fs::read(dest.join("demo-0.1.0.tgz")).unwrap(),
        std::fs::read(&chart.archive).unwrap(),
        "the pulled chart is not the uploaded one"
    );

    let out = pull_from_museum(
        &museum,
        &wrong_password(museum.credentials()),
        &scratch.path().join("refused"),
    );
    assert!(!out.status.success(), "a wrong password pulled the chart");
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));

    museum.stop();
    let out = pull_from_museum(&museum, museum.credentials(), &scratch.path().join("down"));
    assert!(!out.status.success(), "pulled from a stopped ChartMuseum");
    museum.restart();
    let dest = scratch.path().join("after-restart");
    let out = pull_from_museum(&museum, museum.credentials(), &dest);
    assert!(out.status.success(), "helm pull failed: {}", stderr(&out));
    assert!(dest.join("demo-0.1.0.tgz").is_file());
}

/// `helm pull oci://...` in `home`, into `dest`.
fn pull_from_registry(home: &Path, reference: &str, dest: &Path) -> Output {
    std::fs::create_dir_all(dest).unwrap();
    helm_command(home)
        .args(["pull", reference, "--version", "0.1.0", "--plain-http"])
        .arg("--destination")
        .arg(dest)
        .output()
        .unwrap()
}

#[test]
fn the_oci_registry_serves_a_pushed_chart_to_helm_after_login() {
    let scratch = tempfile::tempdir().unwrap();
    let mut registry = OciRegistry::start();
    let (chart, reference) = registry.push(&demo_chart(scratch.path()));
    assert_eq!(
        reference,
        format!("oci://127.0.0.1:{}/charts/demo", registry.port())
    );

    // A fresh client: nothing without logging in, the chart after it.
    let home = tempfile::tempdir().unwrap();
    let out = pull_from_registry(home.path(), &reference, &scratch.path().join("anonymous"));
    assert!(!out.status.success(), "pulled without logging in");
    registry.login(home.path());
    let dest = scratch.path().join("pulled");
    let out = pull_from_registry(home.path(), &reference, &dest);
    assert!(out.status.success(), "helm pull failed: {}", stderr(&out));
    assert_eq!(
        std::fs::read(dest.join("demo-0.1.0.tgz")).unwrap(),
        std::fs::read(&chart.archive).unwrap(),
        "the pulled chart is not the pushed one"
    );

    // helm checks a login against the registry: a wrong password fails.
    let other = tempfile::tempdir().unwrap();
    let wrong = wrong_password(registry.credentials());
    let out = helm_command(other.path())
        .args(["registry", "login", "--plain-http", "--username"])
        .arg(&wrong.username)
        .arg("--password")
        .arg(&wrong.password)
        .arg(registry.host())
        .output()
        .unwrap();
    assert!(!out.status.success(), "logged in with a wrong password");
    assert!(
        stderr(&out).contains("401") || stderr(&out).contains("unauthorized"),
        "{}",
        stderr(&out)
    );
    // And so does a pull given it directly.
    let refused = scratch.path().join("refused");
    std::fs::create_dir_all(&refused).unwrap();
    let out = helm_command(other.path())
        .args(["pull", &reference, "--version", "0.1.0", "--plain-http"])
        .arg("--username")
        .arg(&wrong.username)
        .arg("--password")
        .arg(&wrong.password)
        .arg("--destination")
        .arg(&refused)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a wrong password pulled the chart");

    registry.stop();
    let out = pull_from_registry(home.path(), &reference, &scratch.path().join("down"));
    assert!(!out.status.success(), "pulled from a stopped registry");
    registry.restart();
    let dest = scratch.path().join("after-restart");
    let out = pull_from_registry(home.path(), &reference, &dest);
    assert!(out.status.success(), "helm pull failed: {}", stderr(&out));
    assert!(dest.join("demo-0.1.0.tgz").is_file());
}
