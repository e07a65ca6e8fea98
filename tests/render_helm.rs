//! End to end with the real `helm` binary: five local charts installed in
//! a chain, each reading the values of the one before through `valuesFrom`
//! (the ML lineage platform's install guide, tests/fixtures/render/helm-chain).
//!
//! Needs helm from the test environment: run through `cargo xtask test`,
//! which sets `WEIR_HELM`. Without it this test fails, it does not skip.

mod render_support;
mod support;

use render_support::{fixture, load, read_tree, run};
use serde_json::json;
use weir::render::{ChartRenderer, ChartRequest, HelmBinary};

fn helm() -> HelmBinary {
    let helm = HelmBinary::new();
    if let Err(e) = helm.locate() {
        panic!(
            "this test needs the real helm binary; run it with `cargo xtask test` (which sets WEIR_HELM): {e}"
        );
    }
    helm
}

#[test]
fn five_charts_pass_values_down_the_chain() {
    let tree = read_tree(&fixture("helm-chain"));
    let repo = load(&tree);
    let out = run(&repo, &tree, &helm());
    assert!(out.diagnostics.is_empty(), "{:#?}", out.diagnostics);

    // Waves follow the valuesFrom chain.
    let plan = out.plan.as_ref().unwrap();
    let waves: Vec<Vec<&str>> = plan
        .waves
        .iter()
        .map(|w| w.units.iter().map(|u| u.name.as_str()).collect())
        .collect();
    assert_eq!(
        waves,
        [
            ["knit-storage"],
            ["knit-certs"],
            ["knit-db"],
            ["knit-registry"],
            ["knit-app"]
        ]
    );

    // storage: chart default path, inline server.
    let sc = out.object("StorageClass", "knit-nfs");
    assert_eq!(
        sc["parameters"],
        json!({"server": "nfs.internal.example.com", "share": "/exports/knitfab"})
    );
    assert!(sc["metadata"].get("namespace").is_none());
    // certs read all of storage's values.
    assert_eq!(
        out.object("ConfigMap", "knit-certs")["data"]["storageClass"],
        "knit-nfs"
    );
    // db: release name, values file < valuesFrom < inline; the namespace
    // helm was given and the one weir defaults agree.
    assert_eq!(
        out.object("PersistentVolumeClaim", "knit-db-postgres-data")["spec"]["storageClassName"],
        "knit-nfs"
    );
    assert_eq!(
        out.object("PersistentVolumeClaim", "knit-db-postgres-data")["spec"]["resources"]["requests"]
            ["storage"],
        "5Gi"
    );
    assert_eq!(
        out.object("ConfigMap", "knit-db-postgres-settings")["data"],
        json!({"user": "knit", "database": "knit", "ca": "knit-ca"})
    );
    assert_eq!(
        out.object("Service", "knit-db-postgres")["metadata"]["namespace"],
        "knitfab"
    );
    // registry read db; its CRD came from crds/ (--include-crds).
    assert_eq!(
        out.object("ConfigMap", "knit-registry")["data"],
        json!({"port": "30503", "dbPort": "5432", "dbUser": "knit"})
    );
    out.object(
        "CustomResourceDefinition",
        "mirrors.registry.knitfab.example",
    );
    // app read registry (which carries db) and storage.
    let env =
        &out.object("Deployment", "knitd")["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(
        env,
        &json!([
            {"name": "DB_USER", "value": "knit"},
            {"name": "DB_SIZE", "value": "5Gi"},
            {"name": "NFS_SERVER", "value": "nfs.internal.example.com"}
        ])
    );
    // The chart's post-install Job is a hook, not an object.
    assert_eq!(out.rendered.hooks.len(), 1);
    assert_eq!(out.rendered.hooks[0].name, "knit-app-schema-upgrade");
    assert_eq!(
        out.rendered.hooks[0].object.id.namespace.as_deref(),
        Some("knitfab")
    );
    // Sources point at the chart templates in the repo.
    assert_eq!(
        out.object("Deployment", "knitd")["metadata"]["annotations"]["weir.dev/source"],
        "knit-app/chart/templates/app.yaml"
    );
    // The Namespace is rendered once, by the first chart with objects in it
    // (knit-storage only has a cluster-scoped StorageClass).
    let ns: Vec<_> = out
        .rendered
        .objects
        .iter()
        .filter(|o| o.id.kind == "Namespace")
        .map(|o| o.component.as_str())
        .collect();
    assert_eq!(ns, ["knit-certs"]);

    insta::assert_snapshot!("helm_chain", out.yaml());
    // Deterministic, with real helm runs in parallel.
    assert_eq!(out.yaml(), run(&repo, &tree, &helm()).yaml());
}

#[test]
fn helm_errors_are_passed_through_with_the_component() {
    // Drop the inline nfs.server: the chart's `required` fails.
    let broken: &[u8] = b"apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {name: knit-storage}\nspec:\n  source:\n    helm: {chart: chart}\n";
    let tree: weir::repo::FileTree = read_tree(&fixture("helm-chain"))
        .files()
        .map(|(path, bytes)| {
            let bytes = if path == "knit-storage/component.yaml" {
                broken
            } else {
                bytes
            };
            (path.to_owned(), bytes.to_vec())
        })
        .collect();
    let repo = load(&tree);
    let out = run(&repo, &tree, &helm());
    let errors = out.errors();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].code, weir::render::codes::HELM_FAILED);
    assert_eq!(
        errors[0].file.as_deref(),
        Some("knit-storage/component.yaml")
    );
    assert!(
        errors[0].message.contains("component `knit-storage`"),
        "{}",
        errors[0].message
    );
    assert!(
        errors[0].message.contains("nfs.server is required"),
        "{}",
        errors[0].message
    );
}

/// A helm path that does not run is a machine error, not a diagnostic.
/// (The "not found" message itself is unit-tested in `render::helm`.)
#[test]
fn a_helm_that_cannot_run_is_an_error() {
    let helm = HelmBinary::at("/nonexistent/helm");
    let request = ChartRequest {
        component: "c",
        chart_dir: "c",
        files: vec![],
        release_name: "c",
        namespace: "default",
        values: &json!({}),
        kube_version: "1.35.4",
        timeout: std::time::Duration::from_secs(4),
        max_output: 1 << 20,
        max_memory: 128 << 20,
    };
    let err = helm.template(&request).unwrap_err();
    assert!(matches!(err, weir::render::Error::ToolRun { .. }), "{err}");
}

/// The example repo (five platforms, real charts, six of them fetched from
/// the real ChartMuseum and OCI registry) plans into the waves its README
/// promises.
#[test]
fn the_example_repo_plans_as_its_readme_says() {
    // Its remote charts from the real chart servers, as the demo serves
    // them.
    let charts = support::example_repo::ServedCharts::start();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("example-repo");
    charts.copy_repo(&root);
    let tree = read_tree(&root);
    let repo = load(&tree);
    let helm = helm()
        .with_credentials(
            weir::render::remote::Credentials::parse(&charts.credentials_yaml()).unwrap(),
        )
        .with_cache_dir(work.path().join("cache"));
    let out = run(&repo, &tree, &helm);
    assert!(out.errors().is_empty(), "{:#?}", out.errors());
    let plan = out.plan.as_ref().unwrap();
    let waves: Vec<(String, Vec<&str>)> = plan
        .waves
        .iter()
        .map(|w| {
            (
                format!("{} {}", w.index, w.name.as_deref().unwrap_or("")),
                w.units.iter().map(|u| u.name.as_str()).collect(),
            )
        })
        .collect();
    insta::assert_debug_snapshot!("example_repo_waves", waves);
    assert!(
        (170..=180).contains(&out.rendered.objects.len()),
        "{}",
        out.rendered.objects.len()
    );
    // The serverless networking hook runs after its component.
    assert!(
        plan.waves[3]
            .units
            .iter()
            .any(|u| u.name == "serverless-networking" && u.hooks.len() == 1)
    );
}
