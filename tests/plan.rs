//! The wave plan: custom resources after their CRD, explicit-wave
//! conflicts, cycles, kind order, and snapshots of `weir plan` (text and
//! JSON) and `weir render` run as the real binary.

mod render_support;

use std::process::Command;

use render_support::{NoHelm, component_doc, fixture, load, run, run_fixture, tree};
use weir::plan::codes;

fn waves(out: &render_support::Outcome) -> Vec<Vec<String>> {
    out.plan
        .as_ref()
        .expect("a plan")
        .waves
        .iter()
        .map(|w| w.units.iter().map(|u| u.name.clone()).collect())
        .collect()
}

#[test]
fn a_custom_resource_goes_after_its_crd() {
    let out = run_fixture("crd-order", &NoHelm);
    assert!(out.errors().is_empty(), "{:#?}", out.errors());
    assert_eq!(waves(&out), [vec!["widget-crds"], vec!["widgets"]]);
    let plan = out.plan.as_ref().unwrap();
    // One dependency per custom kind, both on the CRDs' component.
    let after: Vec<_> = plan.waves[1].units[0]
        .after
        .iter()
        .map(|d| (d.unit.as_str(), d.file.as_str()))
        .collect();
    assert_eq!(after, [("widget-crds", "app/manifests/widgets.yaml"); 2]);
    // Scope of custom kinds comes from the CRD: Widget is namespaced and
    // defaulted, Gizmo is cluster-scoped and loses its namespace.
    let ids: Vec<String> = out
        .rendered
        .objects
        .iter()
        .map(|o| o.id.qualified())
        .collect();
    assert_eq!(
        ids,
        [
            "CustomResourceDefinition.apiextensions.k8s.io gizmos.example.com",
            "CustomResourceDefinition.apiextensions.k8s.io widgets.example.com",
            "Namespace shop",
            "Gizmo.example.com global",
            "Widget.example.com shop/blue",
        ]
    );
    assert_eq!(out.rendered.objects[0].wave, Some(0));
    assert_eq!(out.rendered.objects[4].wave, Some(1));
}

#[test]
fn an_explicit_wave_before_the_crd_is_an_error_naming_both() {
    let out = run_fixture("crd-wave-conflict", &NoHelm);
    let errors = out.errors();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = errors[0];
    assert_eq!(e.code, codes::WAVE_CONFLICT);
    assert_eq!(e.file.as_deref(), Some("app/component.yaml"));
    assert_eq!(e.path.as_deref(), Some(".spec.wave"));
    assert!(
        e.message.contains("app/manifests/widgets.yaml"),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("component `widget-crds`"),
        "{}",
        e.message
    );
    insta::assert_snapshot!(e.to_string(), @"app/component.yaml:1:1: error[E0404]: `widgets` is in explicit wave 0, but its custom resource Gizmo.example.com (app/manifests/widgets.yaml) needs the CRD that component `widget-crds` installs in wave 0 (at .spec.wave)");
}

#[test]
fn a_cycle_is_printed_with_its_files() {
    let out = run_fixture("cycle", &NoHelm);
    let errors = out.errors();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].code, codes::CYCLE);
    insta::assert_snapshot!(errors[0].message, @r"
    dependency cycle: a -> b -> c -> a
      a -> b: dependsOn (a/component.yaml)
      b -> c: dependsOn (b/component.yaml)
      c -> a: dependsOn (c/component.yaml)
    ");
}

#[test]
fn a_crd_cycle_names_the_custom_resource_file() {
    let crd = |group: &str, kind: &str| {
        format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {{name: x.{group}}}\nspec: {{group: {group}, scope: Namespaced, names: {{kind: {kind}, plural: x}}, versions: []}}\n"
        )
    };
    let comp = |name: &str| {
        format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: {name}}}\nspec: {{source: {{path: m}}}}\n"
        )
    };
    let files = tree(&[
        ("a/component.yaml", &comp("a")),
        ("a/m/crd.yaml", &crd("a.example", "A")),
        (
            "a/m/b.yaml",
            "apiVersion: b.example/v1\nkind: B\nmetadata: {name: one}\n",
        ),
        ("b/component.yaml", &comp("b")),
        ("b/m/crd.yaml", &crd("b.example", "B")),
        (
            "b/m/a.yaml",
            "apiVersion: a.example/v1\nkind: A\nmetadata: {name: one}\n",
        ),
    ]);
    let repo = load(&files);
    let out = run(&repo, &files, &NoHelm);
    let errors = out.errors();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    insta::assert_snapshot!(errors[0].message, @r"
    dependency cycle: a -> b -> a
      a -> b: custom resource B.b.example needs its CRD (a/m/b.yaml)
      b -> a: custom resource A.a.example needs its CRD (b/m/a.yaml)
    ");
}

#[test]
fn unknown_waves_dependencies_and_duplicates() {
    let comp =
        |name: &str, extra: &str| component_doc(name, &format!("  source: {{path: m}}\n{extra}"));
    let files = tree(&[
        (
            "weir.yaml",
            "apiVersion: weir.dev/v1alpha1\nkind: Repository\nmetadata: {name: r}\nspec: {waves: [first]}\n",
        ),
        (
            "a/component.yaml",
            &comp("a", "  wave: second\n  dependsOn: [ghost]\n"),
        ),
        (
            "a/m/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: same, namespace: n}\n",
        ),
        ("b/component.yaml", &comp("b", "")),
        (
            "b/m/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: same, namespace: n}\n",
        ),
    ]);
    let repo = load(&files);
    let out = run(&repo, &files, &NoHelm);
    let mut found: Vec<_> = out.errors().iter().map(|d| d.code.0).collect();
    found.sort();
    assert_eq!(found, ["E0401", "E0402", "E0405"]);
}

#[test]
fn explicit_waves_and_dependencies() {
    let out = run_fixture("platform", &NoHelm);
    assert!(out.errors().is_empty(), "{:#?}", out.errors());
    assert_eq!(
        waves(&out),
        [
            vec!["serving-crds"],
            vec!["hello", "serving-core"],
            vec!["net-kourier"],
            vec!["hello-api"]
        ]
    );
    // Namespace `demo` is implied by both `hello` and `hello-api`: kept once,
    // for the unit applied first.
    let demo: Vec<_> = out
        .rendered
        .objects
        .iter()
        .filter(|o| o.id.kind == "Namespace" && o.id.name == "demo")
        .map(|o| (o.component.as_str(), o.wave))
        .collect();
    assert_eq!(demo, [("hello", Some(1))]);
}

fn weir(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .env_remove("WEIR_HELM")
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn plan_text_snapshot() {
    let dir = fixture("platform");
    let (code, stdout, stderr) = weir(&["plan", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!("plan_platform_text", stdout);
}

#[test]
fn plan_json_snapshot() {
    let dir = fixture("platform");
    let (code, stdout, stderr) = weir(&["plan", dir.to_str().unwrap(), "--output", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    insta::assert_json_snapshot!("plan_platform_json", doc);
}

#[test]
fn render_cli_snapshot_and_filters() {
    let dir = fixture("platform");
    let dir = dir.to_str().unwrap();
    let (code, all, stderr) = weir(&["render", dir]);
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!("render_platform", all);
    let (_, again, _) = weir(&["render", dir]);
    assert_eq!(all, again, "byte-identical output");

    let (code, only, _) = weir(&["render", dir, "--component", "net-kourier", "--wave", "2"]);
    assert_eq!(code, 0);
    assert_eq!(only.lines().filter(|l| *l == "---").count(), 3, "{only}");
    assert!(only.contains("weir.dev/component: net-kourier"));
    assert!(!only.contains("weir.dev/component: serving-core"));

    let (code, _, stderr) = weir(&["render", dir, "--component", "nope"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no component or workload `nope`"),
        "{stderr}"
    );
}

#[test]
fn render_redacts_secrets_by_default() {
    let dir = fixture("manifest-dir");
    let dir = dir.to_str().unwrap();
    let (code, out, _) = weir(&["render", dir]);
    assert_eq!(code, 0);
    assert!(!out.contains("s3cr3t-value"));
    assert!(out.contains("token: <redacted>"), "{out}");
    let (_, out, _) = weir(&["render", dir, "--show-secrets"]);
    assert!(out.contains("s3cr3t-value"));
}

#[test]
fn failures_exit_1_with_diagnostics() {
    let dir = fixture("cycle");
    let (code, stdout, stderr) = weir(&["plan", dir.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("error[E0403] dependency cycle: a -> b -> c -> a"),
        "{stderr}"
    );
    let (code, stdout, _) = weir(&["plan", dir.to_str().unwrap(), "-o", "json"]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["diagnostics"][0]["code"], "E0403");
}

#[test]
fn a_values_from_cycle_is_reported_by_the_plan() {
    let comp = |name: &str, from: &str| {
        format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: {name}}}\nspec:\n  source: {{helm: {{chart: chart}}}}\n  valuesFrom:\n    - {{component: {from}, to: x}}\n"
        )
    };
    let chart = "apiVersion: v2\nname: c\nversion: 0.1.0\n";
    let files = tree(&[
        ("a/component.yaml", &comp("a", "b")),
        ("a/chart/Chart.yaml", chart),
        ("b/component.yaml", &comp("b", "a")),
        ("b/chart/Chart.yaml", chart),
    ]);
    let repo = load(&files);
    let out = run(&repo, &files, &render_support::EchoHelm);
    let errors = out.errors();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    insta::assert_snapshot!(errors[0].message, @r"
    dependency cycle: a -> b -> a
      a -> b: valuesFrom (a/component.yaml)
      b -> a: valuesFrom (b/component.yaml)
    ");
}
