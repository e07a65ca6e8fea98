//! A directory holding a Helm chart or a kustomization is a component, as
//! an Argo CD Application pointed at it would be: the real `weir` binary
//! with the real `helm` and `kustomize` (`WEIR_HELM`, `WEIR_KUSTOMIZE`,
//! set by `cargo xtask test` or `cargo xtask testenv env`).
//!
//! - a kustomize overlay (a base, a name prefix, a namespace, labels, a
//!   strategic merge patch, a ConfigMap generator) renders exactly the
//!   objects `kustomize build` makes, with weir's tracking added;
//! - a bare chart directory renders its default values, and is no longer
//!   "0 objects, no problems";
//! - kustomize's own errors come back with the component named, and a
//!   remote base is refused before kustomize runs.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn write(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn weir(args: &[&str]) -> (i32, String, String) {
    support::weir_cli(args)
}

/// An object without weir's tracking labels and annotation.
fn untracked(mut object: Value) -> Value {
    let meta = object["metadata"].as_object_mut().unwrap();
    for (field, keys) in [
        (
            "labels",
            &["weir.dev/component", "app.kubernetes.io/managed-by"][..],
        ),
        ("annotations", &["weir.dev/source"][..]),
    ] {
        if let Some(map) = meta.get_mut(field).and_then(Value::as_object_mut) {
            for key in keys {
                map.remove(*key);
            }
            if map.is_empty() {
                meta.remove(field);
            }
        }
    }
    object
}

fn sorted(mut objects: Vec<Value>) -> Vec<Value> {
    objects.sort_by_key(|o| {
        (
            o["kind"].as_str().unwrap_or("").to_owned(),
            o["metadata"]["name"].as_str().unwrap_or("").to_owned(),
        )
    });
    objects
}

const BASE: [(&str, &str); 3] = [
    (
        "base/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [deployment.yaml, service.yaml]\nlabels:\n  - pairs: {app: web}\n    includeSelectors: true\n",
    ),
    (
        "base/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n        - name: web\n          image: nginx:1.27\n          envFrom: [{configMapRef: {name: web-settings}}]\n",
    ),
    (
        "base/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 80, targetPort: 8080}]\n",
    ),
];

const OVERLAY: [(&str, &str); 3] = [
    (
        "overlays/prod/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: shop\nnamePrefix: prod-\nresources: [../../base, namespace.yaml]\npatches:\n  - path: replicas.yaml\nconfigMapGenerator:\n  - name: web-settings\n    literals: [MODE=production]\n",
    ),
    (
        "overlays/prod/replicas.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3}\n",
    ),
    (
        "overlays/prod/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
    ),
];

#[test]
fn a_kustomize_overlay_renders_what_kustomize_build_makes() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &BASE);
    write(dir.path(), &OVERLAY);
    let repo = dir.path().to_str().unwrap();

    let built = Command::new(support::tools::kustomize())
        .arg("build")
        .arg(dir.path().join("overlays/prod"))
        .output()
        .unwrap();
    assert!(built.status.success(), "{built:?}");
    let expected: Vec<Value> = serde_yaml::Deserializer::from_slice(&built.stdout)
        .map(|doc| {
            serde_yaml::from_value::<Value>(serde_yaml::Value::deserialize(doc).unwrap()).unwrap()
        })
        .collect();
    assert_eq!(
        expected.len(),
        4,
        "namespace, generated ConfigMap, Service, Deployment"
    );

    let (rc, out, err) = weir(&["render", repo, "--output", "json", "--show-secrets"]);
    assert_eq!(rc, 0, "{err}");
    let rendered: Vec<Value> = serde_json::from_str(&out).unwrap();
    for object in &rendered {
        assert_eq!(object["metadata"]["labels"]["weir.dev/component"], "prod");
        assert_eq!(
            object["metadata"]["annotations"]["weir.dev/source"],
            "overlays/prod/kustomization.yaml"
        );
    }
    let rendered: Vec<Value> = rendered.into_iter().map(untracked).collect();
    assert_eq!(sorted(rendered), sorted(expected));

    // The base is not a component of its own, and nothing is a stray
    // manifest: validate is clean and plan shows the one component.
    let (rc, out, err) = weir(&["validate", repo, "--output", "json"]);
    assert_eq!(rc, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["diagnostics"], serde_json::json!([]), "{out}");
    let (rc, out, err) = weir(&["plan", repo]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("prod"), "{out}");
    assert!(!out.contains("base"), "{out}");
}

#[test]
fn a_bare_chart_directory_renders_its_default_values() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "guestbook/Chart.yaml",
                "apiVersion: v2\nname: guestbook\nversion: 0.1.0\n",
            ),
            ("guestbook/values.yaml", "replicas: 2\nport: 8080\n"),
            (
                "guestbook/templates/deployment.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-ui\nspec:\n  replicas: {{ .Values.replicas }}\n  selector: {matchLabels: {app: ui}}\n  template:\n    metadata: {labels: {app: ui}}\n    spec:\n      containers:\n        - name: ui\n          image: guestbook:1\n          ports: [{containerPort: {{ .Values.port }}}]\n",
            ),
        ],
    );
    let repo = dir.path().to_str().unwrap();
    let (rc, out, err) = weir(&["render", repo, "--output", "json"]);
    assert_eq!(rc, 0, "{err}");
    let rendered: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(rendered.len(), 1, "{out}");
    let deployment = &rendered[0];
    assert_eq!(deployment["metadata"]["name"], "guestbook-ui");
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(
        deployment["metadata"]["labels"]["weir.dev/component"],
        "guestbook"
    );

    // Its objects are checked like any manifest: a template that renders
    // a bad object is a finding, not "no problems".
    write(
        dir.path(),
        &[(
            "guestbook/templates/bad.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: ui\nspec:\n  ports: [{port: \"eighty\"}]\n",
        )],
    );
    let (rc, out, _) = weir(&["validate", repo]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("guestbook/templates/bad.yaml"), "{out}");
}

#[test]
fn kustomize_errors_name_the_component_and_remote_bases_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("broken/kustomization.yaml", "resources: [cm.yaml]\n"),
            (
                "broken/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\ndata: {a: b}\n",
            ),
            (
                "remote/kustomization.yaml",
                "resources:\n  - https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v5.0.0\n",
            ),
        ],
    );
    let repo = dir.path().to_str().unwrap();
    let (rc, out, err) = weir(&["plan", repo, "--output", "json"]);
    assert_eq!(rc, 1, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let diags = report["diagnostics"].as_array().unwrap();
    let broken = diags
        .iter()
        .find(|d| d["code"] == "E0217")
        .unwrap_or_else(|| panic!("{out}"));
    let message = broken["message"].as_str().unwrap();
    assert!(message.contains("component `broken`"), "{message}");
    assert!(!message.contains("/tmp/"), "no temporary paths: {message}");
    assert_eq!(broken["file"], "broken/kustomization.yaml");
    let remote = diags
        .iter()
        .find(|d| d["code"] == "E0202")
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(remote["file"], "remote/kustomization.yaml");
    assert!(
        remote["message"]
            .as_str()
            .unwrap()
            .contains("component `remote`"),
        "{remote}"
    );

    // Nothing is applied: sync refuses before it connects.
    let (rc, _, err) = weir(&[
        "sync",
        repo,
        "--dry-run",
        "--kubeconfig",
        "/nonexistent/kubeconfig",
    ]);
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("nothing was applied"), "{err}");
}

use serde::Deserialize as _;
