//! Rendering rules, one fixture repo each (tests/fixtures/render/…):
//! manifest directories, namespaces, tracking, patches, workloads and
//! placement, valuesFrom (with a fake helm), determinism.

mod render_support;

use render_support::{EchoHelm, NoHelm, component_doc, load, run, run_fixture, tree};
use serde_json::{Value, json};
use weir::render::codes;

fn codes_of(diags: &[&weir::diagnostic::Diagnostic]) -> Vec<&'static str> {
    diags.iter().map(|d| d.code.0).collect()
}

#[test]
fn manifest_directory_is_rendered_namespaced_and_tracked() {
    let out = run_fixture("manifest-dir", &NoHelm);
    assert!(out.errors().is_empty(), "{:#?}", out.errors());
    // The stray manifest outside the component, the namespace on a
    // cluster-scoped object and a namespace nobody creates are warnings.
    let mut warnings = codes_of(&out.warnings());
    warnings.sort();
    assert_eq!(warnings, ["W0102", "W0201", "W0203"]);
    let stray = out
        .warnings()
        .into_iter()
        .find(|d| d.code == codes::ORPHAN_MANIFEST)
        .unwrap();
    assert_eq!(stray.file.as_deref(), Some("stray.yaml"));

    // Namespaced objects without a namespace get the component's.
    assert_eq!(
        out.object("Deployment", "web")["metadata"]["namespace"],
        "web"
    );
    // A namespace the manifest names is kept.
    assert_eq!(
        out.object("ConfigMap", "web-settings")["metadata"]["namespace"],
        "shared"
    );
    // Cluster-scoped objects never have one.
    assert!(
        out.object("ClusterRole", "web-reader")["metadata"]
            .get("namespace")
            .is_none()
    );
    assert!(
        out.object("PersistentVolume", "web-data")["metadata"]
            .get("namespace")
            .is_none()
    );
    // createNamespace: the component's namespace is rendered (not `shared`,
    // which the component does not own).
    assert_eq!(
        out.object("Namespace", "web")["metadata"]["labels"]["weir.dev/component"],
        "web"
    );
    assert!(
        !out.rendered
            .objects
            .iter()
            .any(|o| o.id.kind == "Namespace" && o.id.name == "shared")
    );

    // Tracking on everything.
    for o in &out.rendered.objects {
        let meta = &o.value["metadata"];
        assert_eq!(
            meta["labels"]["app.kubernetes.io/managed-by"], "weir",
            "{}",
            o.id
        );
        assert_eq!(meta["labels"]["weir.dev/component"], "web", "{}", o.id);
        assert_eq!(
            meta["annotations"]["weir.dev/source"],
            json!(o.source_file),
            "{}",
            o.id
        );
    }
    assert_eq!(
        out.object("ConfigMap", "web-settings")["metadata"]["annotations"]["weir.dev/source"],
        "components/web/manifests/sub/config.yaml"
    );
    insta::assert_snapshot!("manifest_dir", out.yaml());
}

#[test]
fn a_repo_without_components_is_one_implicit_component() {
    let out = run_fixture("plain", &NoHelm);
    assert!(out.diagnostics.is_empty(), "{:#?}", out.diagnostics);
    let units: Vec<_> = out.rendered.units.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(units, ["default"]);
    let names: Vec<String> = out
        .rendered
        .objects
        .iter()
        .map(|o| o.id.qualified())
        .collect();
    // Apply order: Namespace, ServiceAccount, ClusterRoleBinding, ConfigMap;
    // the List is flattened.
    assert_eq!(
        names,
        [
            "Namespace gateway",
            "ServiceAccount gateway/gateway",
            "ClusterRoleBinding.rbac.authorization.k8s.io gateway",
            "ConfigMap default/from-a-list",
        ]
    );
    // `default` is a system namespace: no Namespace rendered for it.
    assert_eq!(
        out.rendered
            .objects
            .iter()
            .filter(|o| o.id.kind == "Namespace")
            .count(),
        1
    );
}

#[test]
fn merge_and_json_patches() {
    let out = run_fixture("patches", &NoHelm);
    assert!(out.errors().is_empty(), "{:#?}", out.errors());
    assert_eq!(
        out.object("Service", "kourier")["spec"]["internalTrafficPolicy"],
        "Local"
    );
    let deploy = out.object("Deployment", "net-kourier-controller");
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example.com/kourier:1.15.1"
    );
    // The JSON patch replaced the annotations, weir's annotation is still there.
    assert_eq!(deploy["metadata"]["annotations"]["patched-by"], "weir");
    assert_eq!(
        deploy["metadata"]["annotations"]["weir.dev/source"],
        "net/manifests/kourier.yaml"
    );
    let warnings = out.warnings();
    assert_eq!(codes_of(&warnings), ["W0202"]);
    assert_eq!(warnings[0].path.as_deref(), Some(".spec.patches[2].target"));
    insta::assert_snapshot!("patches", out.yaml());
}

#[test]
fn a_failing_json_patch_names_component_patch_and_object() {
    let out = run_fixture("patch-fails", &NoHelm);
    let errors = out.errors();
    assert_eq!(codes_of(&errors), ["E0209"]);
    let e = errors[0];
    assert_eq!(e.file.as_deref(), Some("net/component.yaml"));
    assert_eq!(e.path.as_deref(), Some(".spec.patches[1]"));
    assert!(
        e.message.starts_with("patch 1 of component `net` failed on Service default/kourier (net/manifests/kourier.yaml)"),
        "{}",
        e.message
    );
    assert!(out.plan.is_none());
}

#[test]
fn workloads_render_with_placement_and_gpus() {
    let out = run_fixture("workloads", &NoHelm);
    assert!(out.diagnostics.is_empty(), "{:#?}", out.diagnostics);

    // api: may [gpu pool] → NoSchedule + the pool's NoExecute taint;
    // prefer [vram=large, zone=a] → NoSchedule + PreferNoSchedule, weights 100, 90.
    let api = out.object("Deployment", "api");
    let pod = &api["spec"]["template"]["spec"];
    assert_eq!(api["spec"]["replicas"], 3);
    assert_eq!(api["metadata"]["namespace"], "ml");
    let tolerations: Vec<String> = pod["tolerations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}={}:{}",
                t["key"].as_str().unwrap(),
                t["value"].as_str().unwrap_or("*"),
                t["effect"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        tolerations,
        [
            "accelerator=gpu:NoSchedule",
            "gpu-maintenance=*:NoExecute",
            "vram=large:NoSchedule",
            "vram=large:PreferNoSchedule",
            "zone=a:NoSchedule",
            "zone=a:PreferNoSchedule",
        ]
    );
    let preferred =
        &pod["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"];
    assert_eq!(preferred[0]["weight"], 100);
    assert_eq!(preferred[1]["weight"], 90);
    assert!(
        pod["affinity"]["nodeAffinity"]
            .get("requiredDuringSchedulingIgnoredDuringExecution")
            .is_none()
    );
    let container = &pod["containers"][0];
    assert_eq!(
        container["resources"],
        json!({"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "500m", "memory": "2Gi"}})
    );
    assert_eq!(
        container["env"][0],
        json!({"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}})
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"],
        json!({"path": "/healthz", "port": "http"})
    );
    let service = out.object("Service", "api");
    assert_eq!(service["spec"]["type"], "NodePort");
    assert_eq!(service["spec"]["ports"][0]["nodePort"], 30080);
    assert_eq!(
        out.object("PodDisruptionBudget", "api")["spec"]["maxUnavailable"],
        1
    );
    assert_eq!(
        out.object("ConfigMap", "api-config")["data"]["api.toml"],
        "listen = \"0.0.0.0:8080\"\n"
    );

    // trainer: a Job with a GPU, must [gpu] → required affinity.
    let job = out.object("Job", "trainer");
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(
        pod["containers"][0]["resources"]["requests"]["nvidia.com/gpu"],
        "1"
    );
    assert_eq!(
        pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"],
        "1"
    );
    assert_eq!(
        pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            [0]["matchExpressions"],
        json!([{"key": "accelerator", "operator": "In", "values": ["gpu"]}])
    );

    // web: scaling → HPA, no replicas on the Deployment, PDB (minReplicas 2);
    // pool: platform → must.
    let web = out.object("Deployment", "web");
    assert_eq!(web["metadata"]["namespace"], "frontend");
    assert!(web["spec"].get("replicas").is_none());
    let hpa = out.object("HorizontalPodAutoscaler", "web");
    assert_eq!(hpa["spec"]["minReplicas"], 2);
    assert_eq!(
        hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        70
    );
    out.object("PodDisruptionBudget", "web");
    assert!(
        !out.rendered
            .objects
            .iter()
            .any(|o| o.id.kind == "PodDisruptionBudget" && o.id.name == "trainer"),
        "a job has no PDB"
    );
    // A workload that names its namespace gets it rendered; weir.yaml's
    // default namespace (`ml`) is not created implicitly.
    let namespaces: Vec<_> = out
        .rendered
        .objects
        .iter()
        .filter(|o| o.id.kind == "Namespace")
        .map(|o| (o.id.name.as_str(), o.component.as_str()))
        .collect();
    assert_eq!(namespaces, [("frontend", "web")]);
    insta::assert_snapshot!("workloads", out.yaml());
}

#[test]
fn a_pool_weir_yaml_does_not_define_is_an_error() {
    let out = run_fixture("undefined-pool", &NoHelm);
    let errors = out.errors();
    assert_eq!(codes_of(&errors), ["E0210", "E0210"]);
    assert_eq!(errors[0].file.as_deref(), Some("worker.yaml"));
    assert!(errors[0].span.is_some());
    assert_eq!(errors[0].path.as_deref(), Some(".spec.placement.pool"));
    assert!(
        errors[0].message.contains("node pool `gpu`"),
        "{}",
        errors[0].message
    );
    assert_eq!(errors[1].path.as_deref(), Some(".spec.placement.prefer[1]"));
}

const CHART: &str = "apiVersion: v2\nname: c\nversion: 0.1.0\n";

fn component(name: &str, extra: &str) -> String {
    component_doc(
        name,
        &format!("  source:\n    helm:\n      chart: chart\n{extra}"),
    )
}

#[test]
fn values_from_copies_effective_values_with_precedence() {
    let a = component("a", "      values: {db: {host: a.example, port: 5432}}\n");
    let b = component(
        "b",
        "      valuesFiles: [b-values.yaml]\n      values: {storage: {class: inline-wins}}\n  valuesFrom:\n    - {component: a, path: db.host, to: storage.host}\n    - {component: a, to: all}\n    - {component: a, path: db.port, to: storage.class}\n",
    );
    let files = tree(&[
        ("a/component.yaml", &a),
        ("a/chart/Chart.yaml", CHART),
        ("a/chart/values.yaml", "db: {host: default, user: admin}\n"),
        ("b/component.yaml", &b),
        ("b/chart/Chart.yaml", CHART),
        (
            "b/b-values.yaml",
            "storage: {host: from-file, class: from-file, size: 1Gi}\n",
        ),
    ]);
    let repo = load(&files);
    let out = run(&repo, &files, &EchoHelm);
    assert!(out.diagnostics.is_empty(), "{:#?}", out.diagnostics);
    // Effective values of a: chart defaults + inline.
    assert_eq!(
        out.rendered.values["a"],
        json!({"db": {"host": "a.example", "port": 5432, "user": "admin"}})
    );
    // b: valuesFiles < valuesFrom < inline.
    assert_eq!(
        out.rendered.values["b"],
        json!({
            "storage": {"host": "a.example", "class": "inline-wins", "size": "1Gi"},
            "all": {"db": {"host": "a.example", "port": 5432, "user": "admin"}}
        })
    );
    // The valuesFrom edge orders the units.
    let plan = out.plan.as_ref().unwrap();
    let waves: Vec<Vec<&str>> = plan
        .waves
        .iter()
        .map(|w| w.units.iter().map(|u| u.name.as_str()).collect())
        .collect();
    assert_eq!(waves, [vec!["a"], vec!["b"]]);
    let given: Value = serde_json::from_str(
        out.object("ConfigMap", "b-values")["data"]["values.json"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        given["storage"]["host"], "a.example",
        "helm is given the resolved values"
    );
}

#[test]
fn values_from_a_missing_component_or_path_is_an_error() {
    let a = component("a", "      values: {db: {host: h}}\n");
    let b = component(
        "b",
        "  valuesFrom:\n    - {component: nope, to: x}\n    - {component: a, path: db.port, to: y}\n",
    );
    let files = tree(&[
        ("a/component.yaml", &a),
        ("a/chart/Chart.yaml", CHART),
        ("b/component.yaml", &b),
        ("b/chart/Chart.yaml", CHART),
    ]);
    let repo = load(&files);
    let out = run(&repo, &files, &EchoHelm);
    let errors = out.errors();
    assert_eq!(codes_of(&errors), ["E0204", "E0206"]);
    assert_eq!(errors[0].file.as_deref(), Some("b/component.yaml"));
    assert_eq!(
        errors[0].path.as_deref(),
        Some(".spec.valuesFrom[0].component")
    );
    assert!(
        errors[1]
            .message
            .contains("reads `db.port` from the values of `a`"),
        "{}",
        errors[1].message
    );
    assert_eq!(errors[1].path.as_deref(), Some(".spec.valuesFrom[1].path"));
}

#[test]
fn paths_leaving_the_repo_are_errors() {
    let files = tree(&[(
        "c/component.yaml",
        "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {name: c}\nspec:\n  source: {path: ../../etc}\n",
    )]);
    let repo = load(&files);
    let out = run(&repo, &files, &NoHelm);
    assert_eq!(codes_of(&out.errors()), ["E0201"]);
}

#[test]
fn hooks_are_kept_apart() {
    let out = run_fixture("platform", &NoHelm);
    assert!(out.errors().is_empty(), "{:#?}", out.errors());
    assert_eq!(out.rendered.hooks.len(), 1);
    let hook = &out.rendered.hooks[0];
    assert_eq!(hook.name, "default-domain");
    assert_eq!(hook.object.id.namespace.as_deref(), Some("knative-serving"));
    assert_eq!(
        hook.object.value["metadata"]["labels"]["weir.dev/component"],
        "serving-core"
    );
    assert!(!out.rendered.objects.iter().any(|o| o.id.kind == "Job"));
}

#[test]
fn rendering_is_deterministic() {
    for fixture in ["manifest-dir", "workloads", "platform", "patches"] {
        let first = run_fixture(fixture, &NoHelm).yaml();
        for _ in 0..3 {
            assert_eq!(first, run_fixture(fixture, &NoHelm).yaml(), "{fixture}");
        }
    }
}

#[test]
fn bad_sources_hooks_and_duplicate_names() {
    let comp = component_doc;
    // A `source` with neither `path` nor `helm` no longer gets this far: the
    // schema (E0105) and deserialisation refuse it, so render's E0211 is not
    // reachable from a loaded repo.
    let files = tree(&[
        (
            "b/component.yaml",
            &comp(
                "b",
                "  source: {path: m}\n  hooks:\n    - {name: h, phase: postApply, path: hook.yaml}\n",
            ),
        ),
        (
            "b/m/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        ),
        (
            "b/hook.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: not-a-job}\n",
        ),
        (
            "c/component.yaml",
            &comp("b", "  source: {path: nowhere}\n"),
        ),
    ]);
    let repo = load(&files);
    let out = run(&repo, &files, &NoHelm);
    let mut found = codes_of(&out.errors());
    found.sort();
    assert_eq!(found, ["E0202", "E0212", "E0213"]);
}
