//! `weir diff --base REV [--head REV]`: the rendered diff of two revisions
//! of a config repo, read straight from Git objects, in every output
//! format; and that a Secret's value never appears in any of them.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use git2::Repository;
use support::git::commit;
use support::secrets::{NEW_PASSWORD, NEW_SHA256, OLD_PASSWORD, OLD_SHA256, b64};

const WEIR_YAML: &str = "\
apiVersion: weir.dev/v1alpha1
kind: Repository
metadata:
  name: shop
spec:
  waves: [platform, apps]
";

const DB_COMPONENT: &str = "\
apiVersion: weir.dev/v1alpha1
kind: Component
metadata:
  name: db
spec:
  namespace: shop
  source:
    path: manifests
  wave: platform
";

/// A component whose only change is how long weir waits for it.
fn cache_component(timeout: &str) -> String {
    format!(
        "\
apiVersion: weir.dev/v1alpha1
kind: Component
metadata:
  name: cache
spec:
  namespace: shop
  source:
    path: .
  wave: platform
  health:
    timeout: {timeout}
"
    )
}

const CACHE_CONFIG: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cache
  namespace: shop
data:
  maxmemory: 256mb
";

const API_COMPONENT: &str = "\
apiVersion: weir.dev/v1alpha1
kind: Component
metadata:
  name: api
spec:
  namespace: shop
  source:
    path: manifests
  # A number, not `apps`: `api/` is also diffed as a config repo of its
  # own, with no weir.yaml to name the waves.
  wave: 1
";

fn secret(password: &str, string_data: bool) -> String {
    let values = if string_data {
        format!("stringData:\n  username: admin\n  password: {password}\n")
    } else {
        format!(
            "data:\n  username: {}\n  password: {}\n",
            b64("admin"),
            b64(password)
        )
    };
    format!(
        "\
apiVersion: v1
kind: Secret
metadata:
  name: db-credentials
  namespace: shop
type: Opaque
{values}"
    )
}

const DEPLOYMENT_V1: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
  labels: {app: api}
spec:
  replicas: 2
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
        - name: api
          image: registry.example.com/api:v1
          args: [--port=8080, --log=info]
          ports:
            - containerPort: 8080
            - containerPort: 9090
              name: metrics
          env:
            - name: DB_HOST
              value: db.shop.svc
            - name: DB_PASSWORD
              valueFrom:
                secretKeyRef: {name: db-credentials, key: password}
        - name: proxy
          image: envoy:1.30
      volumes: []
";

/// The same Deployment with the image changed, replicas up, one argument
/// inserted — and containers, ports and env reordered, which is no change.
const DEPLOYMENT_V2: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
  labels: {app: api}
spec:
  replicas: 3
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
        - name: proxy
          image: envoy:1.30
        - name: api
          image: registry.example.com/api:v2
          args: [--port=8080, --tracing, --log=info]
          ports:
            - containerPort: 9090
              name: metrics
            - containerPort: 8080
          env:
            - name: DB_PASSWORD
              valueFrom:
                secretKeyRef: {name: db-credentials, key: password}
            - name: DB_HOST
              value: db.shop.svc
";

const SERVICE: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: api
  namespace: shop
spec:
  selector: {app: api}
  ports:
    - port: 80
      targetPort: 8080
";

fn config_map(name: &str, body: &str) -> String {
    format!(
        "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
  namespace: shop
data:
  app.properties: |
{body}"
    )
}

/// A config repo with two tagged commits, `v1` and `v2`.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let root = dir.path();
        write(root, "weir.yaml", WEIR_YAML);
        write(root, "db/component.yaml", DB_COMPONENT);
        write(root, "cache/component.yaml", &cache_component("5m"));
        write(root, "cache/config.yaml", CACHE_CONFIG);
        write(
            root,
            "db/manifests/secret.yaml",
            &secret(OLD_PASSWORD, false),
        );
        write(root, "api/component.yaml", API_COMPONENT);
        write(root, "api/manifests/deployment.yaml", DEPLOYMENT_V1);
        write(root, "api/manifests/service.yaml", SERVICE);
        write(
            root,
            "api/manifests/legacy.yaml",
            &config_map("legacy", "    mode=legacy\n"),
        );
        commit(&repo, "v1");

        write(root, "cache/component.yaml", &cache_component("10m"));
        write(
            root,
            "db/manifests/secret.yaml",
            &secret(NEW_PASSWORD, true),
        );
        write(root, "api/manifests/deployment.yaml", DEPLOYMENT_V2);
        // The Service moves to another file, unchanged.
        std::fs::remove_file(root.join("api/manifests/service.yaml")).unwrap();
        write(root, "api/manifests/network/service.yaml", SERVICE);
        std::fs::remove_file(root.join("api/manifests/legacy.yaml")).unwrap();
        write(
            root,
            "api/manifests/settings.yaml",
            &config_map("settings", "    threads=4\n    timeout=30s\n    cache=on\n"),
        );
        commit(&repo, "v2");
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn weir(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_weir"))
            .arg("diff")
            .arg(self.path())
            .args(args)
            .env_remove("NO_COLOR")
            .output()
            .unwrap()
    }
}

fn write(root: &Path, file: &str, content: &str) {
    let path = root.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

#[test]
fn text_output() {
    let fx = Fixture::new();
    let out = fx.weir(&["--base", "v1", "--head", "v2"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    insta::assert_snapshot!(stdout(&out));
}

#[test]
fn json_output() {
    let fx = Fixture::new();
    let out = fx.weir(&["--base", "v1", "--head", "v2", "--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed["schemaVersion"], 1);
    insta::assert_snapshot!(text);
}

#[test]
fn markdown_output() {
    let fx = Fixture::new();
    let out = fx.weir(&["--base", "v1", "--head", "v2", "--output", "markdown"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    insta::assert_snapshot!(stdout(&out));
}

#[test]
fn same_revision_has_no_differences() {
    let fx = Fixture::new();
    let out = fx.weir(&["--base", "v2", "--head", "v2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    insta::assert_snapshot!(stdout(&out), @r"
    weir diff v2 -> v2
    No differences (6 objects unchanged).
    ");
}

#[test]
fn working_tree_is_the_default_head() {
    let fx = Fixture::new();
    let out = fx.weir(&["--base", "v2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    write(
        fx.path(),
        "api/manifests/deployment.yaml",
        &DEPLOYMENT_V2.replace("replicas: 3", "replicas: 5"),
    );
    let out = fx.weir(&["--base", "v2"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("weir diff v2 -> working tree\n"), "{text}");
    assert!(text.contains("~ spec.replicas: 3 -> 5\n"), "{text}");
}

#[test]
fn a_subdirectory_is_a_config_repo_of_its_own() {
    let fx = Fixture::new();
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["diff", "--base", "v1", "--head", "v2", "-o", "json"])
        .current_dir(fx.path().join("api"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let files: Vec<&str> = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["file"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "manifests/legacy.yaml",
            "manifests/settings.yaml",
            "manifests/deployment.yaml"
        ]
    );
}

#[test]
fn secret_values_never_appear_in_any_format() {
    let fx = Fixture::new();
    let needles = [
        OLD_PASSWORD.to_owned(),
        NEW_PASSWORD.to_owned(),
        b64(OLD_PASSWORD),
        b64(NEW_PASSWORD),
        OLD_SHA256.to_owned(),
        NEW_SHA256.to_owned(),
        b64("admin"),
    ];
    let formats: [&[&str]; 4] = [
        &["--output", "text", "--color", "never"],
        &["--output", "text", "--color", "always"],
        &["--output", "json"],
        &["--output", "markdown"],
    ];
    for format in formats {
        let mut args = vec!["--base", "v1", "--head", "v2"];
        args.extend_from_slice(format);
        let out = fx.weir(&args);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            all.contains("db-credentials"),
            "the Secret is in the diff: {all}"
        );
        assert!(all.contains("password"), "its changed key is named: {all}");
        for needle in &needles {
            assert!(
                !all.contains(needle.as_str()),
                "{format:?} leaks {needle}:\n{all}"
            );
        }
    }
}

#[test]
fn the_sha256_constants_are_right() {
    // Guard for the leak test: the digests it looks for are the real ones.
    for (value, digest) in [(OLD_PASSWORD, OLD_SHA256), (NEW_PASSWORD, NEW_SHA256)] {
        let out = Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(value.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).starts_with(digest));
    }
}

#[test]
fn unknown_revision_is_an_error() {
    let fx = Fixture::new();
    let out = fx.weir(&["--base", "no-such-tag", "--head", "v2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown revision `no-such-tag`"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
}

#[test]
fn outside_a_git_repository_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["diff", "--base", "main"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not inside a Git repository"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn base_or_cluster_is_required() {
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["diff"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--base"), "{}", stderr(&out));
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let fx = Fixture::new();
    let plain = stdout(&fx.weir(&["--base", "v1", "--head", "v2"]));
    assert!(!plain.contains('\x1b'), "not a terminal: no colour");
    let always = stdout(&fx.weir(&["--base", "v1", "--head", "v2", "--color", "always"]));
    assert!(always.contains("\x1b[32m+"), "added lines are green");
    assert!(always.contains("\x1b[31m-"), "removed lines are red");
    let stripped = always
        .split('\x1b')
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part
            } else {
                part.split_once('m').map_or(part, |(_, rest)| rest)
            }
        })
        .collect::<String>();
    assert_eq!(stripped, plain, "colour changes nothing else");
}

#[test]
fn excluded_files_are_not_manifests() {
    let fx = Fixture::new();
    write(
        fx.path(),
        "weir.yaml",
        &format!("{WEIR_YAML}  exclude: [\"**/hooks/*.yaml\"]\n"),
    );
    write(
        fx.path(),
        "api/manifests/hooks/job.yaml",
        &config_map("hook", "    x=1\n"),
    );
    let out = fx.weir(&["--base", "v2", "-o", "json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(report["objects"].as_array().unwrap().is_empty(), "{report}");
    assert_eq!(report["weirDocuments"][0]["kind"], "Repository");
}

/// `--cluster` compares with the live cluster (tests/diff_cluster.rs), not
/// with a revision: the two do not mix.
#[test]
fn cluster_and_revisions_do_not_mix() {
    let fx = Fixture::new();
    let out = fx.weir(&["--cluster", "--base", "v1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn context_lines_are_configurable() {
    let fx = Fixture::new();
    let text = stdout(&fx.weir(&["--base", "v1", "--head", "v2", "--context", "0"]));
    assert!(
        text.contains("@@ -10 +10 @@\n    -  replicas: 2\n    +  replicas: 3\n"),
        "{text}"
    );
}

/// A Workload is compared as the Deployment it renders to, not as written.
#[test]
fn a_workload_is_compared_as_its_rendered_deployment() {
    let fx = Fixture::new();
    let repo = Repository::open(fx.path()).unwrap();
    let workload = |image: &str| {
        format!(
            "\
apiVersion: weir.dev/v1alpha1
kind: Workload
metadata:
  name: web
  namespace: shop
spec:
  image: {image}
  ports:
    - {{name: http, port: 80}}
"
        )
    };
    write(
        fx.path(),
        "web/workload.yaml",
        &workload("registry.example.com/web:1.0"),
    );
    commit(&repo, "w1");
    write(
        fx.path(),
        "web/workload.yaml",
        &workload("registry.example.com/web:1.1"),
    );
    commit(&repo, "w2");
    let out = fx.weir(&["--base", "w1", "--head", "w2"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("~ Deployment shop/web (apps/v1)"), "{text}");
    assert!(
        text.contains(
            "~ spec.template.spec.containers[name=web].image: \
             registry.example.com/web:1.0 -> registry.example.com/web:1.1\n"
        ),
        "{text}"
    );
}

/// A side that is invalid fails the diff with its findings.
#[test]
fn a_side_that_does_not_render_is_an_error() {
    let fx = Fixture::new();
    write(
        fx.path(),
        "api/component.yaml",
        &API_COMPONENT.replace("wave: 1", "wave: nightly"),
    );
    let out = fx.weir(&["--base", "v2"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("the config repo at the working tree is invalid:"),
        "{err}"
    );
    assert!(!err.contains("at v2 is invalid"), "{err}");
    assert!(err.contains("error[E0401]"), "{err}");
    assert!(stdout(&out).is_empty());
}
