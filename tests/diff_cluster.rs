//! `weir diff [PATH] --cluster`: the working tree against the live cluster,
//! through a server-side-apply dry run with weir's field manager. Nothing
//! synced yet is all additions; right after `weir sync` there is no
//! difference (no noise from defaults, managedFields or status); a changed
//! field shows as exactly that path; fields other managers own are not
//! changes; what left the repo but is in the inventory is a removal; a
//! custom resource without its CRD is an addition with a note; a Secret's
//! value never appears; an unreachable server is exit 2. Runs the `weir`
//! binary against the real control plane (`cargo xtask test`).

mod support;
mod sync_helpers;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use support::secrets::{NEW_PASSWORD, NEW_SHA256, OLD_PASSWORD, OLD_SHA256, b64};
use sync_helpers::*;

/// A config repo of plain manifests (one file per object) in a temporary
/// directory, synced and diffed under a target of its own.
struct Repo {
    dir: tempfile::TempDir,
    target: String,
}

impl Repo {
    fn new(prefix: &str, objects: &[(&str, Value)]) -> Self {
        let repo = Self {
            dir: tempfile::tempdir().unwrap(),
            target: support::unique_name(prefix),
        };
        for (file, object) in objects {
            repo.write(file, object);
        }
        repo
    }

    fn write(&self, file: &str, object: &Value) {
        std::fs::write(
            self.dir.path().join(file),
            serde_yaml::to_string(object).unwrap(),
        )
        .unwrap();
    }

    fn remove(&self, file: &str) {
        std::fs::remove_file(self.dir.path().join(file)).unwrap();
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn weir(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(args)
            .arg(self.path())
            .args(["--target", &self.target])
            .arg("--kubeconfig")
            .arg(support::kubeconfig_path())
            .env_remove("NO_COLOR")
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    }

    fn sync(&self) {
        let out = self.weir(&["sync", "--timeout", "120s"]);
        assert!(out.status.success(), "weir sync failed:\n{}", stderr(&out));
    }

    /// `weir diff --cluster` with `--output format`.
    fn diff(&self, format: &str) -> Output {
        self.weir(&["diff", "--cluster", "--output", format])
    }

    /// `weir diff --cluster --output json`, which must exit `code`.
    fn diff_json(&self, code: i32) -> Value {
        let out = self.diff("json");
        assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    async fn forget(&self) {
        let (_, cluster) = connect().await;
        forget_target(&cluster, &self.target).await;
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// `(change, kind, name)` of every object of a JSON report.
fn changes(report: &Value) -> Vec<(String, String, String)> {
    report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["change"].as_str().unwrap().to_owned(),
                o["id"]["kind"].as_str().unwrap().to_owned(),
                o["id"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn service(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}})
}

fn secret(ns: &str, password: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": ns},
        "type": "Opaque", "data": {"username": b64("admin"), "password": b64(password)}})
}

/// The objects most of the tests sync: server defaults galore (Service
/// cluster IPs, Deployment strategy, pod template defaults, Secret type).
/// No replicas, so the sync's health gate does not depend on room for pods
/// in a cluster other tests share.
fn app(ns: &str) -> Vec<(&'static str, Value)> {
    vec![
        (
            "config.yaml",
            config_map(ns, "settings", json!({"mode": "fast"})),
        ),
        ("deployment.yaml", deployment(ns, "web", 0)),
        ("service.yaml", service(ns, "web")),
        (
            "serviceaccount.yaml",
            json!({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "web", "namespace": ns}}),
        ),
        ("secret.yaml", secret(ns, OLD_PASSWORD)),
    ]
}

#[tokio::test]
async fn nothing_synced_yet_is_all_additions() {
    let client = support::cluster().await;
    let ns = support::namespace(&client, "dc-new").await;
    // A namespace of the repo that does not exist yet: objects in it cannot
    // be dry-run by the server, and are still additions, not errors.
    let fresh = support::unique_name("t-dc-fresh");
    let repo = Repo::new(
        "dc-new",
        &[
            ("namespace.yaml", namespace(&fresh)),
            (
                "fresh.yaml",
                config_map(&fresh, "inside", json!({"k": "v"})),
            ),
            (
                "config.yaml",
                config_map(&ns.name, "settings", json!({"mode": "fast"})),
            ),
            ("deployment.yaml", deployment(&ns.name, "web", 1)),
        ],
    );
    let out = repo.diff("text");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    insta::with_settings!({filters => vec![
        (ns.name.as_str(), "[test-namespace]"),
        (fresh.as_str(), "[fresh-namespace]"),
    ]}, {
        insta::assert_snapshot!(stdout(&out));
    });

    let report = repo.diff_json(1);
    assert_eq!(report["base"], "cluster");
    assert_eq!(report["head"], "working tree");
    assert_eq!(report["summary"]["added"], 4, "{report:#}");
    assert_eq!(report["summary"]["changed"], 0);
    assert!(
        changes(&report)
            .iter()
            .all(|(change, ..)| change == "added"),
        "{report:#}"
    );
    // A dry run: nothing was created.
    let (_, cluster) = connect().await;
    assert!(get(&cluster, &namespace(&fresh)).await.is_none());
    assert!(
        get(&cluster, &deployment(&ns.name, "web", 1))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn after_a_sync_there_is_no_difference() {
    let client = support::cluster().await;
    let ns = support::namespace(&client, "dc-same").await;
    let repo = Repo::new("dc-same", &app(&ns.name));
    repo.sync();

    let out = repo.diff("text");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "weir diff cluster -> working tree\nNo differences (5 objects unchanged).\n"
    );
    let report = repo.diff_json(0);
    assert_eq!(report["differences"], false);
    assert_eq!(report["summary"]["unchanged"], 5);
    let out = repo.diff("markdown");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("No differences"));
    repo.forget().await;
}

#[tokio::test]
async fn a_changed_field_shows_as_exactly_that_path() {
    let client = support::cluster().await;
    let ns = support::namespace(&client, "dc-field").await;
    let repo = Repo::new("dc-field", &app(&ns.name));
    repo.sync();
    repo.write("deployment.yaml", &deployment(&ns.name, "web", 2));

    let report = repo.diff_json(1);
    assert_eq!(
        changes(&report),
        vec![("changed".into(), "Deployment".into(), "web".into())]
    );
    let object = &report["objects"][0];
    assert_eq!(
        object["fields"],
        json!([{"path": "spec.replicas", "change": "changed", "old": 0, "new": 2, "redacted": false}])
    );
    assert_eq!(object["file"], "deployment.yaml");
    let diff = object["diff"].as_str().unwrap();
    for noise in [
        "managedFields",
        "resourceVersion",
        "uid:",
        "generation",
        "status",
    ] {
        assert!(!diff.contains(noise), "{noise} in\n{diff}");
    }
    repo.forget().await;
}

#[tokio::test]
async fn fields_other_managers_own_are_not_changes() {
    let client = support::cluster().await;
    let ns = support::namespace(&client, "dc-owners").await;
    let repo = Repo::new("dc-owners", &app(&ns.name));
    repo.sync();

    let kubectl = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = Command::new(support::kubectl());
        cmd.arg(format!(
            "--kubeconfig={}",
            support::kubeconfig_path().display()
        ))
        .args(["-n", &ns.name])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(text) = stdin {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "kubectl {args:?}: {}", stderr(&out));
    };
    // A label added by kubectl, and a data key another manager applies.
    kubectl(&["label", "configmap", "settings", "team=blue"], None);
    kubectl(
        &[
            "annotate",
            "deployment",
            "web",
            "example.com/owner=platform",
        ],
        None,
    );
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": ns.name}, "data": {"extra": "theirs"}});
    kubectl(
        &[
            "apply",
            "--server-side",
            "--field-manager=other-team",
            "-f",
            "-",
        ],
        Some(&other.to_string()),
    );

    let out = repo.diff("text");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    repo.forget().await;
}

#[tokio::test]
async fn an_object_that_left_the_repo_is_a_removal_with_the_prune_note() {
    let client = support::cluster().await;
    let ns = support::namespace(&client, "dc-prune").await;
    let repo = Repo::new(
        "dc-prune",
        &[
            ("keep.yaml", config_map(&ns.name, "keep", json!({"k": "v"}))),
            (
                "legacy.yaml",
                config_map(&ns.name, "legacy", json!({"k": "v"})),
            ),
        ],
    );
    repo.sync();
    repo.remove("legacy.yaml");

    let report = repo.diff_json(1);
    assert_eq!(
        changes(&report),
        vec![("removed".into(), "ConfigMap".into(), "legacy".into())]
    );
    let notes = report["objects"][0]["notes"].to_string();
    assert!(notes.contains("weir sync --prune"), "{notes}");
    let out = repo.diff("text");
    assert!(stdout(&out).contains("- ConfigMap"), "{}", stdout(&out));
    repo.forget().await;
}

#[tokio::test]
async fn a_custom_resource_without_its_crd_is_an_addition_with_a_note() {
    let client = support::cluster().await;
    let ns = support::namespace(&client, "dc-crd").await;
    let group = unique_group();
    let repo = Repo::new(
        "dc-crd",
        &[
            (
                "config.yaml",
                config_map(&ns.name, "settings", json!({"k": "v"})),
            ),
            (
                "gadget.yaml",
                json!({"apiVersion": format!("{group}/v1"), "kind": "Gadget",
                    "metadata": {"name": "g1", "namespace": ns.name}, "spec": {"size": 3}}),
            ),
        ],
    );
    let out = repo.diff("text");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("its CRD is not installed"),
        "{}",
        stdout(&out)
    );

    let report = repo.diff_json(1);
    let gadget = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"]["kind"] == "Gadget")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(gadget["change"], "added");
    assert_eq!(gadget["id"]["group"], group.as_str());
    let note = gadget["notes"][0].as_str().unwrap();
    assert!(
        note.contains(&group) && note.contains("CRD is not installed"),
        "{note}"
    );
}

#[tokio::test]
async fn a_secret_value_never_appears() {
    let client = support::cluster().await;
    let ns = support::namespace(&client, "dc-secret").await;
    let repo = Repo::new("dc-secret", &app(&ns.name));
    repo.sync();
    // The password changes, and a second Secret is added (as stringData).
    repo.write("secret.yaml", &secret(&ns.name, NEW_PASSWORD));
    repo.write(
        "token.yaml",
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token", "namespace": ns.name},
            "stringData": {"token": NEW_PASSWORD}}),
    );

    let forbidden = [
        OLD_PASSWORD.to_owned(),
        NEW_PASSWORD.to_owned(),
        b64(OLD_PASSWORD),
        b64(NEW_PASSWORD),
        OLD_SHA256.to_owned(),
        NEW_SHA256.to_owned(),
    ];
    for format in ["text", "json", "markdown"] {
        let out = repo.diff(format);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let (text, errors) = (stdout(&out), stderr(&out));
        for value in &forbidden {
            assert!(
                !text.contains(value.as_str()),
                "{format} output shows {value}:\n{text}"
            );
            assert!(!errors.contains(value.as_str()), "stderr shows {value}");
        }
        assert!(text.contains("password"), "{format}: the key is named");
    }
    let report = repo.diff_json(1);
    let db = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"]["name"] == "db")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(
        db["fields"],
        json!([{"path": "data.password", "change": "changed", "redacted": true}])
    );
    repo.forget().await;
}

#[test]
fn an_unreachable_server_is_exit_2_naming_it() {
    // A port that was just free: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: closed\n\
             clusters: [{{name: closed, cluster: {{server: \"https://127.0.0.1:{port}\"}}}}]\n\
             users: [{{name: u, user: {{token: t}}}}]\n\
             contexts: [{{name: closed, context: {{cluster: closed, user: u}}}}]\n"
        ),
    )
    .unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    std::fs::write(
        repo.join("config.yaml"),
        serde_yaml::to_string(&config_map("default", "settings", json!({"k": "v"}))).unwrap(),
    )
    .unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["diff", "--cluster", "--kubeconfig"])
        .arg(&kubeconfig)
        .arg(&repo)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(stdout(&out), "", "no diff is printed");
    let errors = stderr(&out);
    assert!(
        errors.contains(&format!("https://127.0.0.1:{port}"))
            && errors.contains("cannot reach the API server"),
        "{errors}"
    );
}

#[test]
fn connection_flags_only_go_with_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["diff", "--base", "HEAD", "--kube-context", "prod"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("only apply to `weir diff --cluster`"),
        "{}",
        stderr(&out)
    );
}
