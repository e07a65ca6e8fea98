//! Generators of whole hostile config repos (issue 14), one per class of
//! attack on the stages after loading, shared by `tests/hostile_repos.rs`
//! (each is rejected by `weir validate`, and `weir sync` applies nothing of
//! it) and `examples/hostile_repos.rs` (which `benches/hostile_repos.sh`
//! times and measures).
//!
//! Every repo is a complete config repo: weir.yaml named `name` (its
//! inventory target) and objects in namespace `namespace`, so a sync that
//! applied anything would leave that Namespace or that inventory behind.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

/// Writes one hostile repo into a directory: (dir, repo name, namespace).
pub type Make = fn(&Path, &str, &str);

/// Every class: its name, the generator, and the code `weir validate`
/// refuses it with.
pub const CASES: &[(&str, Make, &str)] = &[
    ("exponential-patches", exponential_patches, "E0215"),
    ("multiplying-values-from", multiplying_values_from, "E0215"),
    ("chart-renders-forever", chart_renders_forever, "E0216"),
    ("chart-renders-gigabytes", chart_renders_gigabytes, "E0216"),
    (
        "many-files-near-the-alias-budget",
        many_alias_files,
        "E0024",
    ),
    ("absurd-durations", absurd_durations, "E0104"),
    ("absurd-counts", absurd_counts, "E0104"),
    ("commit-raising-prune-limits", prune_limits_raised, "E0407"),
];

fn write(dir: &Path, path: &str, text: &str) {
    let path = dir.join(path);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, text).unwrap();
}

fn weir_yaml(dir: &Path, name: &str, extra: &str) {
    write(
        dir,
        "weir.yaml",
        &format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Repository\nmetadata: {{name: {name}}}\nspec:\n{extra}"
        ),
    );
}

/// A component of plain manifests in `namespace`, with more spec lines.
fn manifests(dir: &Path, component: &str, namespace: &str, spec: &str) {
    write(
        dir,
        &format!("{component}/component.yaml"),
        &format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: {component}}}\nspec:\n  namespace: {namespace}\n  source: {{path: manifests}}\n{spec}"
        ),
    );
    write(
        dir,
        &format!("{component}/manifests/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n",
    );
}

/// A JSON patch whose 60 `copy` operations each copy the object's `data`
/// into itself: 2^60 nodes if nothing stopped it.
pub fn exponential_patches(dir: &Path, name: &str, namespace: &str) {
    weir_yaml(dir, name, "  defaults: {}\n");
    let mut spec = String::from("  patches:\n    - target: {kind: ConfigMap}\n      json:\n");
    for i in 0..60 {
        let _ = writeln!(
            spec,
            "        - {{op: copy, from: /data, path: /data/copy{i}}}"
        );
    }
    manifests(dir, "web", namespace, &spec);
}

/// 40 chart components, each reading all values of the one before twice
/// (`valuesFrom` to `left` and to `right`): 2^40 copies of the first one's.
pub fn multiplying_values_from(dir: &Path, name: &str, namespace: &str) {
    weir_yaml(dir, name, "  defaults: {}\n");
    write(
        dir,
        "chart/Chart.yaml",
        "apiVersion: v2\nname: values\nversion: 0.1.0\n",
    );
    write(dir, "chart/values.yaml", "seed: {a: b, c: d}\n");
    write(
        dir,
        "chart/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata: {a: b}\n",
    );
    for i in 0..40 {
        let from = if i == 0 {
            String::new()
        } else {
            format!(
                "  valuesFrom:\n    - {{component: v{0}, to: left}}\n    - {{component: v{0}, to: right}}\n",
                i - 1
            )
        };
        write(
            dir,
            &format!("v{i}/component.yaml"),
            &format!(
                "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: v{i}}}\nspec:\n  namespace: {namespace}\n  source:\n    helm: {{chart: ../chart}}\n{from}"
            ),
        );
    }
}

fn chart(dir: &Path, name: &str, namespace: &str, template: &str) {
    weir_yaml(dir, name, "  defaults: {}\n");
    write(
        dir,
        "app/component.yaml",
        &format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: app}}\nspec:\n  namespace: {namespace}\n  source:\n    helm: {{chart: chart}}\n"
        ),
    );
    write(
        dir,
        "app/chart/Chart.yaml",
        "apiVersion: v2\nname: app\nversion: 0.1.0\n",
    );
    write(dir, "app/chart/templates/cm.yaml", template);
}

/// A template with three nested loops of 10^5 that write nothing: helm
/// would run for days.
pub fn chart_renders_forever(dir: &Path, name: &str, namespace: &str) {
    chart(
        dir,
        name,
        namespace,
        "{{- range $i := until 100000 }}{{- range $j := until 100000 }}{{- range $k := until 100000 }}{{- end }}{{- end }}{{- end }}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: forever\n",
    );
}

/// A template writing 10^8 keys of 80 bytes: 8 GB of manifest, which helm
/// builds in memory before it writes a byte.
pub fn chart_renders_gigabytes(dir: &Path, name: &str, namespace: &str) {
    chart(
        dir,
        name,
        namespace,
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gigabytes\ndata:\n{{{{- range $i := until 100000000 }}}}\n  k{{{{ $i }}}}: \"{}\"\n{{{{- end }}}}\n",
            "x".repeat(80)
        ),
    );
}

/// One file whose aliases expand to some 235,000 nodes, just under the
/// loader's budget of 250,000 per file.
pub fn near_alias_budget_text(index: usize) -> String {
    let mut text = format!(
        "apiVersion: hostile.weir.dev/v1\nkind: Blob\nmetadata: {{name: blob-{index}}}\nspec:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    );
    let mut previous = 'a';
    for level in ['b', 'c', 'd', 'e'] {
        let aliases = vec![format!("*{previous}"); 10].join(", ");
        let _ = writeln!(text, "  {level}: &{level} [{aliases}]");
        previous = level;
    }
    text.push_str("  f: [*e]\n");
    text
}

/// 40 files, each within the per-file alias budget: 9 million nodes
/// together.
pub fn many_alias_files(dir: &Path, name: &str, namespace: &str) {
    weir_yaml(dir, name, "  defaults: {}\n");
    manifests(dir, "web", namespace, "");
    for i in 0..40 {
        write(
            dir,
            &format!("web/manifests/blob-{i:02}.yaml"),
            &near_alias_budget_text(i),
        );
    }
}

/// Durations of centuries (and past u64) where timeouts go.
pub fn absurd_durations(dir: &Path, name: &str, namespace: &str) {
    weir_yaml(dir, name, "  defaults: {timeout: 100000000000s}\n");
    write(
        dir,
        "web/hook.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: once}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: c, image: busybox}]\n",
    );
    manifests(
        dir,
        "web",
        namespace,
        "  health: {timeout: 99999999999999999999999h}\n  hooks:\n    - {name: once, phase: postApply, path: hook.yaml, timeout: 5000000h}\n",
    );
}

/// Counts past what Kubernetes (or u32) takes.
pub fn absurd_counts(dir: &Path, name: &str, namespace: &str) {
    weir_yaml(dir, name, "  defaults: {}\n");
    manifests(dir, "web", namespace, "  wave: 4294967295\n");
    write(
        dir,
        "api.yaml",
        &format!(
            "apiVersion: weir.dev/v1alpha1\nkind: Workload\nmetadata: {{name: api, namespace: {namespace}}}\nspec:\n  image: nginx\n  replicas: 100000000000\n  resources: {{gpu: 4294967296, memory: 1e300}}\n  probes:\n    readiness: {{tcp: 80, periodSeconds: 99999999999}}\n  wave: 99999999999\n"
        ),
    );
}

/// The commit that would let a prune delete everything: weir.yaml raises
/// the prune limits past the floor.
pub fn prune_limits_raised(dir: &Path, name: &str, namespace: &str) {
    weir_yaml(
        dir,
        name,
        "  prune: {maxObjects: 100000, maxFraction: 1.0}\n",
    );
    manifests(dir, "web", namespace, "");
}
