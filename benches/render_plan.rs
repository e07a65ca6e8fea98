//! Benchmark: render + plan of a generated repo with 5,000 plain-manifest
//! objects (50 components of 100 objects: ConfigMaps, Services,
//! Deployments, and a few dependencies between components).
//!
//! Run with `cargo bench --bench render_plan`; the goal is under 1 s for
//! render + plan in a release build. Prints the time of each stage (load
//! is the loader: file tree to documents). Without a release build of all
//! dependencies, optimise only weir on top of the dev build:
//! `cargo bench --bench render_plan --profile dev --config
//! 'profile.dev.package.weir.opt-level=3'`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_macros
)]

#[path = "../tests/render_support/mod.rs"]
mod render_support;

use std::time::Instant;

use weir::render::{self, RenderOptions};

const COMPONENTS: usize = 50;
const PER_COMPONENT: usize = 100;

fn generate() -> render_support::Tree {
    let mut files = Vec::new();
    files.push((
        "weir.yaml".to_owned(),
        "apiVersion: weir.dev/v1alpha1\nkind: Repository\nmetadata: {name: bench}\nspec:\n  defaults: {namespace: bench}\n".to_owned(),
    ));
    for c in 0..COMPONENTS {
        let depends = if c % 5 == 0 || c == 0 {
            String::new()
        } else {
            format!("  dependsOn: [c{:02}]\n", c - 1)
        };
        files.push((
            format!("c{c:02}/component.yaml"),
            format!("apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: c{c:02}}}\nspec:\n  namespace: ns{c:02}\n  source: {{path: manifests}}\n{depends}"),
        ));
        for f in 0..(PER_COMPONENT / 10) {
            let mut text = String::new();
            for i in 0..10 {
                let n = f * 10 + i;
                let doc = match n % 3 {
                    0 => format!(
                        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{n}\n  labels: {{app: a{n}}}\ndata:\n  key: value-{n}\n  other: |\n    line one\n    line two\n"
                    ),
                    1 => format!(
                        "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{n}\nspec:\n  selector: {{app: a{n}}}\n  ports:\n    - {{name: http, port: 80, targetPort: 8080}}\n"
                    ),
                    _ => format!(
                        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: dep-{n}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: a{n}}}}}\n  template:\n    metadata: {{labels: {{app: a{n}}}}}\n    spec:\n      containers:\n        - name: app\n          image: registry.example.com/app:{n}\n          ports: [{{containerPort: 8080}}]\n          resources: {{requests: {{cpu: 100m, memory: 128Mi}}}}\n"
                    ),
                };
                text.push_str("---\n");
                text.push_str(&doc);
            }
            files.push((format!("c{c:02}/manifests/part-{f:02}.yaml"), text));
        }
    }
    files
        .into_iter()
        .map(|(p, c)| (p, c.into_bytes()))
        .collect()
}

fn main() {
    let tree = generate();
    let runs = 5;
    let mut best = (f64::MAX, f64::MAX, f64::MAX);
    let mut objects = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let repo = render_support::load(&tree);
        let loaded = start.elapsed().as_secs_f64();

        let start = Instant::now();
        let mut rendered = render::render(
            &repo,
            &tree,
            &RenderOptions::default(),
            &render_support::NoHelm,
            &weir::budget::Budget::default(),
        )
        .unwrap();
        let render_time = start.elapsed().as_secs_f64();
        assert!(
            rendered.diagnostics.is_empty(),
            "{:#?}",
            rendered.diagnostics
        );

        let start = Instant::now();
        let (plan, diags) = weir::plan::plan(&mut rendered, &repo.settings());
        let plan_time = start.elapsed().as_secs_f64();
        assert!(diags.is_empty() && plan.is_some(), "{diags:#?}");
        objects = rendered.objects.len();
        best = (
            best.0.min(loaded),
            best.1.min(render_time),
            best.2.min(plan_time),
        );
    }
    println!(
        "render_plan: {objects} objects ({} from manifests + implied Namespaces), best of {runs}: \
         load {:.0} ms, render {:.0} ms, plan {:.0} ms, render + plan {:.0} ms",
        COMPONENTS * PER_COMPONENT,
        best.0 * 1e3,
        best.1 * 1e3,
        best.2 * 1e3,
        (best.1 + best.2) * 1e3
    );
}
