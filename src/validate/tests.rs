//! Unit tests of validation on small in-memory repos.

use super::*;
use crate::diagnostic::{Code, Span};

/// Documents of one YAML file, with positions.
fn docs(file: &str, yaml: &str) -> Vec<Document> {
    crate::spec::yaml::parse_documents(file, yaml.as_bytes(), &Default::default()).unwrap()
}

fn run(files: &[(&str, &str)], strict: bool) -> Validation {
    let all = files.iter().flat_map(|(f, y)| docs(f, y)).collect();
    validate_documents(all, Vec::new(), &Options { strict })
}

fn codes_of(v: &Validation) -> Vec<&'static str> {
    v.report.diagnostics.iter().map(|d| d.code.0).collect()
}

fn find(v: &Validation, code: Code) -> &Diagnostic {
    v.report
        .diagnostics
        .iter()
        .find(|d| d.code == code)
        .unwrap_or_else(|| panic!("no {code} in {:#?}", v.report.diagnostics))
}

const REPO: &str = "apiVersion: weir.dev/v1alpha1
kind: Repository
metadata: {name: r}
spec:
  nodePools:
    gpu: {labels: {pool: gpu}}
  waves: [crds, apps]
";

#[test]
fn a_valid_repo_yields_a_valid_repo() {
    let v = run(
        &[
            ("weir.yaml", REPO),
            (
                "web/component.yaml",
                "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {name: web}\nspec:\n  namespace: web\n  source: {path: m}\n  wave: apps\n",
            ),
            (
                "web/m/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n",
            ),
        ],
        false,
    );
    assert!(
        v.report.diagnostics.is_empty(),
        "{:#?}",
        v.report.diagnostics
    );
    let repo = v.repo.expect("valid");
    assert_eq!(repo.components.len(), 1);
    assert_eq!(v.report.documents, 3);
    assert_eq!(v.report.files, 3);
}

#[test]
fn weir_unknown_field_suggests_the_known_one() {
    let v = run(
        &[(
            "api.yaml",
            "apiVersion: weir.dev/v1alpha1\nkind: Workload\nmetadata: {name: api}\nspec:\n  image: nginx\n  replicsa: 3\n",
        )],
        false,
    );
    assert!(v.repo.is_none());
    let d = find(&v, codes::UNKNOWN_FIELD);
    assert_eq!(
        d.message,
        "unknown field `replicsa`, did you mean `replicas`?"
    );
    assert_eq!(d.path.as_deref(), Some(".spec.replicsa"));
    assert_eq!(d.file.as_deref(), Some("api.yaml"));
    assert_eq!(d.hint.as_deref(), Some("rename `replicsa` to `replicas`"));
    // At the key itself: line 6, column 3.
    assert_eq!(d.span, Some(Span { line: 6, column: 3 }));
}

#[test]
fn weir_schema_messages_say_what_was_expected() {
    let v = run(
        &[
            (
                "weir.yaml",
                "apiVersion: weir.dev/v1alpha1\nkind: Repository\nmetadata: {name: r}\nspec:\n  defaults: {timeout: 5 minutes}\n",
            ),
            (
                "c.yaml",
                "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {name: c}\nspec:\n  source: {}\n",
            ),
            (
                "w.yaml",
                "apiVersion: weir.dev/v1alpha1\nkind: Workload\nmetadata: {name: w}\nspec:\n  replicas: 1\n  env:\n    A: {secret: {name: s}}\n",
            ),
        ],
        false,
    );
    let messages: Vec<(&str, &str)> = v
        .report
        .diagnostics
        .iter()
        .map(|d| (d.code.0, d.message.as_str()))
        .collect();
    assert!(
        messages.contains(&(
            "E0104",
            "`5 minutes` is not a duration of at most 24h such as `90s`, `5m` or `1h30m`"
        )),
        "{messages:#?}"
    );
    assert_eq!(
        messages.iter().filter(|(c, _)| *c == "E0104").count(),
        1,
        "one finding for the duration, not one per keyword: {messages:#?}"
    );
    assert!(messages.contains(&("E0105", "needs one of `path` or `helm`")));
    assert!(messages.contains(&("E0103", "missing required field `image`")));
    // The env value's own error, not "matches none of the alternatives".
    assert!(
        messages.contains(&("E0103", "missing required field `key`")),
        "{messages:#?}"
    );
}

#[test]
fn builtin_objects_are_checked_against_the_openapi() {
    let v = run(
        &[(
            "m.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replica: 2\n  selector: {matchLabels: {a: b}}\n  template:\n    spec:\n      containers:\n        - {name: c, image: i, imagePullPolicy: Sometimes}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{port: \"80\"}]\n",
        )],
        false,
    );
    let d = find(&v, codes::UNKNOWN_FIELD);
    assert_eq!(
        d.message,
        "unknown field `replica`, did you mean `replicas`?"
    );
    assert_eq!(d.path.as_deref(), Some(".spec.replica"));
    let d = find(&v, codes::BAD_VALUE);
    assert!(d.message.starts_with("`Sometimes` is not one of `Always`"));
    let d = find(&v, codes::WRONG_TYPE);
    assert_eq!(d.path.as_deref(), Some(".spec.ports[0].port"));
    assert_eq!(d.message, "expected an integer, found a string");
    // The value in the second document of the file: `  ports: [{port: "80"}]`.
    assert_eq!(
        d.span,
        Some(Span {
            line: 16,
            column: 18
        })
    );
    let d = find(&v, codes::UNKNOWN_FIELD);
    assert_eq!(d.span, Some(Span { line: 5, column: 3 }));
}

#[test]
fn nulls_count_as_absent_and_quantities_take_numbers() {
    let v = run(
        &[(
            "m.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p, creationTimestamp: null}\nspec:\n  containers:\n    - name: c\n      image: i\n      resources: {limits: {cpu: 1, memory: 1Gi}}\n      ports: [{containerPort: 80, name: null}]\n",
        )],
        false,
    );
    assert!(
        v.report.diagnostics.is_empty(),
        "{:#?}",
        v.report.diagnostics
    );
}

#[test]
fn lists_and_names_and_unknown_kinds() {
    let v = run(
        &[(
            "m.yaml",
            "apiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {x: 1}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n---\napiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: old}\n---\napiVersion: apps/v1\nkind: Deploymnet\nmetadata: {name: typo}\n---\napiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\n",
        )],
        false,
    );
    let d = find(&v, codes::WRONG_TYPE);
    assert_eq!(d.path.as_deref(), Some(".items[0].data.x"));
    find(&v, codes::MISSING_NAME);
    let kinds: Vec<&str> = v
        .report
        .diagnostics
        .iter()
        .filter(|d| d.code == codes::UNKNOWN_BUILTIN_KIND)
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:#?}");
    assert!(
        kinds
            .iter()
            .any(|m| m.contains("did you mean `Deployment`"))
    );
    let hpa = v
        .report
        .diagnostics
        .iter()
        .find(|d| d.message.contains("v2beta2"))
        .unwrap();
    assert!(
        hpa.hint.as_deref().unwrap().contains("`autoscaling/v2`"),
        "{hpa:?}"
    );
}

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Cluster
  names: {kind: Widget, plural: widgets}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer}
";

#[test]
fn custom_resources_use_the_repos_crds() {
    let v = run(
        &[
            ("crd.yaml", CRD),
            (
                "w.yaml",
                "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, labels: [x]}\nspec: {size: big, colour: red}\n---\napiVersion: example.com/v2\nkind: Widget\nmetadata: {name: w2}\n",
            ),
        ],
        false,
    );
    let paths: Vec<(&str, Option<&str>)> = v
        .report
        .diagnostics
        .iter()
        .map(|d| (d.code.0, d.path.as_deref()))
        .collect();
    assert!(paths.contains(&("E0102", Some(".spec.size"))), "{paths:#?}");
    assert!(paths.contains(&("E0101", Some(".spec.colour"))));
    assert!(paths.contains(&("E0102", Some(".metadata.labels"))));
    assert!(paths.contains(&("E0115", Some(".apiVersion"))));
}

#[test]
fn a_kind_without_schema_warns_unless_strict() {
    let files = [(
        "sm.yaml",
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: s}\n",
    )];
    let v = run(&files, false);
    assert_eq!(codes_of(&v), vec!["W0101"]);
    assert!(v.repo.is_some(), "warnings do not make a repo invalid");
    let v = run(&files, true);
    assert_eq!(v.report.errors(), 1);
    assert!(v.repo.is_none());
}

#[test]
fn rendered_objects_can_be_validated_with_more_crds() {
    let mut diags = Vec::new();
    let crds = objects::crd_catalog(docs("chart/crd.yaml", CRD).iter(), &mut diags);
    assert!(diags.is_empty());
    let rendered = docs(
        "rendered.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 1}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: Nope}\n",
    );
    let found = validate_objects(&rendered, &crds, &Options::default());
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].path.as_deref(), Some(".spec.type"));
}

#[test]
fn earlier_findings_make_the_repo_invalid() {
    let earlier = vec![Diagnostic::error(Code("E0001"), "bad yaml").in_file("x.yaml")];
    let v = validate_documents(Vec::new(), earlier, &Options::default());
    assert!(v.repo.is_none());
    assert_eq!(v.report.files, 1);
}

#[test]
fn secret_values_never_appear_in_messages() {
    let v = run(
        &[(
            "s.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: Opaque\nstringData:\n  password: 12345678\n",
        )],
        false,
    );
    assert_eq!(codes_of(&v), vec!["E0102"]);
    let text = format!("{:?}", v.report.diagnostics);
    assert!(!text.contains("12345678"), "{text}");
}

fn render_with(
    files: &[(&str, &str)],
    findings: RenderFindings,
) -> (Validation, Option<ConfigRepo>) {
    let all = files.iter().flat_map(|(f, y)| docs(f, y)).collect();
    let mut seen = None;
    let v = validate_rendered(all, Vec::new(), &Options::default(), |repo| {
        seen = Some(repo.clone());
        findings
    });
    (v, seen)
}

const CHART_COMPONENT: &str = "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {name: op}\nspec:\n  source:\n    helm: {chart: chart}\n  wave: 1\n  dependsOn: [nobody]\n";

/// Chart output is checked like manifests (no line: it is in no file), its
/// CRDs define custom kinds for the repo's own resources, and render
/// findings come at the line of the field they name.
#[test]
fn rendered_chart_objects_and_findings() {
    let crd: serde_json::Value = serde_yaml::from_str(CRD).unwrap();
    let findings = RenderFindings {
        chart_objects: vec![
            ChartObject {
                component: "op".into(),
                file: "op/chart/crds/crd.yaml".into(),
                value: crd,
            },
            ChartObject {
                component: "op".into(),
                file: "op/chart/templates/svc.yaml".into(),
                value: serde_json::json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"type": "Nope"}}),
            },
        ],
        diagnostics: vec![
            Diagnostic::error(Code("E0404"), "wave conflict")
                .in_file("op/component.yaml")
                .at(Span { line: 1, column: 1 })
                .with_path(".spec.wave"),
            Diagnostic::error(Code("E0402"), "dependsOn names nobody")
                .in_file("op/component.yaml")
                .at(Span { line: 1, column: 1 })
                .with_path(".spec.dependsOn[0]"),
        ],
    };
    let (v, seen) = render_with(
        &[
            ("op/component.yaml", CHART_COMPONENT),
            (
                "widget.yaml",
                "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec:\n  size: big\n",
            ),
        ],
        findings,
    );
    assert!(seen.is_some());
    let got: Vec<(&str, Option<&str>, Option<u32>)> = v
        .report
        .diagnostics
        .iter()
        .map(|d| (d.code.0, d.file.as_deref(), d.span.map(|s| s.line)))
        .collect();
    assert_eq!(
        got,
        vec![
            ("E0104", Some("op/chart/templates/svc.yaml"), None),
            ("E0404", Some("op/component.yaml"), Some(7)),
            ("E0402", Some("op/component.yaml"), Some(8)),
            ("E0102", Some("widget.yaml"), Some(5)),
        ],
        "{:#?}",
        v.report.diagnostics
    );
    let chart = find(&v, codes::BAD_VALUE);
    assert!(
        chart
            .message
            .ends_with("(in what component `op`'s chart renders)")
    );
}

/// A weir document that fails its schema is left out of the repo that is
/// rendered; rendering still runs for the rest.
#[test]
fn broken_weir_documents_are_left_out_of_rendering() {
    let (v, seen) = render_with(
        &[(
            "op/component.yaml",
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {name: op}\nspec:\n  source: {}\n",
        )],
        RenderFindings::default(),
    );
    assert!(seen.is_some_and(|repo| repo.components.is_empty()));
    assert_eq!(codes_of(&v), vec!["E0105"]);
}
