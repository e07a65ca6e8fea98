//! `weir validate` judges a repo exactly as `weir plan` and `weir sync` do.
//!
//! For every code that rendering, planning or building the sync plan can
//! report, and those of the structure check of SOPS-encrypted manifests
//! (read from the source, so a new code without a case here fails this
//! test), a repo that makes `weir plan` report it is one that
//! `weir validate` reports too, with the same code at the same file and
//! line, as it does every other finding of `plan`. An error makes both
//! exit 1, and `weir sync --dry-run` refuses the repo before it ever
//! connects (its kubeconfig names no cluster).
//!
//! Two render codes guard render's own callers only: a schema rule reports
//! the same mistake first, at the same place, so through the pipeline the
//! schema's code is what `plan` reports ([`COVERED_BY_SCHEMA`]).
//!
//! Every binary run is the real `weir`, with the real helm for the chart
//! cases.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

const REPO: &str = "apiVersion: weir.dev/v1alpha1\nkind: Repository\nmetadata: {name: agree}\nspec:\n  waves: [first, second]\n  nodePools:\n    gpu:\n      labels: {pool: gpu}\n";

fn component(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: {name}}}\nspec:\n{spec}"
    )
}

fn config_map(name: &str, extra_metadata: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{extra_metadata}data: {{a: b}}\n"
    )
}

/// A SOPS-encrypted Secret as sops writes it (no key needed to judge its
/// structure): `value` is its one `stringData` value, `metadata` its
/// `metadata` line, `sops` its sops block.
fn sealed_secret(metadata: &str, value: &str, sops: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\n{metadata}\nstringData:\n  password: {value}\nsops:\n{sops}"
    )
}
const CIPHERTEXT: &str = "ENC[AES256_GCM,data:AAAA,iv:BBBB,tag:CCCC,type:str]";
const SOPS_BLOCK: &str = "  age:\n    - recipient: age1qqqqqqqq\n      enc: \"-----BEGIN AGE ENCRYPTED FILE-----\"\n  lastmodified: \"2026-01-01T00:00:00Z\"\n  mac: ENC[AES256_GCM,data:DDDD,iv:EEEE,tag:FFFF,type:str]\n  version: 3.13.3\n";

const CHART: &str = "apiVersion: v2\nname: c\nversion: 0.1.0\n";
const CHART_TEMPLATE: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  size: {{ .Values.size | quote }}\n";

/// Render codes the schemas make unreachable through the pipeline, and the
/// schema code reported in their place.
const COVERED_BY_SCHEMA: [(&str, &str); 3] = [
    ("E0211", "E0105"), // a source that is not exactly one of path / helm
    ("E0214", "E0105"), // an env entry that is not exactly one of secret / configMap
    ("E0406", "E0104"), // a duration past 24h: the schemas' format is the same parser
];

/// A repo that makes `plan` report `code`: its files besides weir.yaml.
fn case(code: &str) -> Vec<(String, String)> {
    let web = |spec: &str| {
        (
            "web/component.yaml".to_owned(),
            component(
                "web",
                &format!("  namespace: web\n  source: {{path: m}}\n{spec}"),
            ),
        )
    };
    let web_cm = || ("web/m/cm.yaml".to_owned(), config_map("settings", ""));
    let chart = |dir: &str, name: &str, spec: &str| {
        vec![
            (
                format!("{dir}/component.yaml"),
                component(
                    name,
                    &format!("  namespace: {name}\n  source:\n    helm: {{chart: chart}}\n{spec}"),
                ),
            ),
            (format!("{dir}/chart/Chart.yaml"), CHART.to_owned()),
            (format!("{dir}/chart/values.yaml"), "size: 1\n".to_owned()),
            (
                format!("{dir}/chart/templates/cm.yaml"),
                CHART_TEMPLATE.to_owned(),
            ),
        ]
    };
    let f = |path: &str, text: &str| (path.to_owned(), text.to_owned());
    match code {
        // render
        "E0201" => vec![f(
            "web/component.yaml",
            &component("web", "  source: {path: ../../outside}\n"),
        )],
        "E0202" => vec![f(
            "web/component.yaml",
            &component("web", "  source: {path: missing}\n"),
        )],
        "E0203" => {
            // A chart that renders an object without a name: only helm's
            // output says so, validation has no document of it.
            let mut files = chart("db", "db", "");
            files.push(f(
                "db/chart/templates/nameless.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {a: b}\n",
            ));
            files
        }
        "E0230" => vec![
            web(""),
            f(
                "web/m/job.yaml",
                "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: migrate-}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: m, image: busybox}]\n",
            ),
        ],
        "E0231" => vec![
            web(""),
            f(
                "web/m/cm.yaml",
                &config_map(
                    "settings",
                    "  annotations:\n    argocd.argoproj.io/sync-wave: soon\n",
                ),
            ),
        ],
        "E0204" => chart(
            "db",
            "db",
            "  valuesFrom:\n    - {component: nobody, path: size, to: size}\n",
        ),
        "E0205" => {
            let mut files = chart("db", "db", "");
            files.push(web(
                "  valuesFrom:\n    - {component: db, path: size, to: size}\n",
            ));
            files.push(web_cm());
            files
        }
        "E0206" => {
            let mut files = chart("db", "db", "");
            files.extend(chart(
                "api",
                "api",
                "  valuesFrom:\n    - {component: db, path: no.such.key, to: size}\n",
            ));
            files
        }
        "E0207" => {
            let mut files = chart("db", "db", "");
            files.push(f(
                "db/chart/templates/broken.yaml",
                "{{ fail \"this chart refuses to render\" }}\n",
            ));
            files
        }
        "E0208" => vec![
            f(
                "db/component.yaml",
                &component(
                    "db",
                    "  namespace: db\n  source:\n    helm: {chart: chart, valuesFiles: [values.txt]}\n",
                ),
            ),
            f("db/chart/Chart.yaml", CHART),
            f("db/chart/templates/cm.yaml", CHART_TEMPLATE),
            f("db/values.txt", "- a list\n- is no values\n"),
        ],
        "E0209" => vec![
            web(
                "  patches:\n    - target: {kind: ConfigMap}\n      json:\n        - {op: remove, path: /data/missing}\n",
            ),
            web_cm(),
        ],
        "E0210" => vec![f(
            "api.yaml",
            "apiVersion: weir.dev/v1alpha1\nkind: Workload\nmetadata: {name: api}\nspec:\n  image: nginx\n  placement: {pool: gpus}\n",
        )],
        "E0211" => vec![f("web/component.yaml", &component("web", "  source: {}\n"))],
        "E0212" => vec![
            web(""),
            web_cm(),
            f(
                "web.yaml",
                "apiVersion: weir.dev/v1alpha1\nkind: Workload\nmetadata: {name: web}\nspec:\n  image: nginx\n",
            ),
        ],
        "E0213" => vec![
            web("  hooks:\n    - {name: migrate, phase: preApply, path: hooks/migrate.yaml}\n"),
            web_cm(),
            f("web/hooks/migrate.yaml", &config_map("not-a-job", "")),
        ],
        "E0214" => vec![f(
            "api.yaml",
            "apiVersion: weir.dev/v1alpha1\nkind: Workload\nmetadata: {name: api}\nspec:\n  image: nginx\n  env:\n    TOKEN: {secret: {name: s, key: k}, configMap: {name: c, key: k}}\n",
        )],
        "E0215" => vec![
            web(&format!(
                "  patches:\n    - target: {{kind: ConfigMap}}\n      json:\n{}",
                (0..40)
                    .map(|i| format!("        - {{op: copy, from: /data, path: /data/c{i}}}\n"))
                    .collect::<String>()
            )),
            web_cm(),
        ],
        "E0216" => {
            let mut files = chart("db", "db", "");
            files.push(f(
                "db/chart/templates/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n{{- range $i := until 100000000 }}\n  k{{ $i }}: \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"\n{{- end }}\n",
            ));
            files
        }
        "E0217" => vec![
            f("broken/kustomization.yaml", "resources: [cm.yaml]\n"),
            f(
                "broken/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\ndata: {a: b}\n",
            ),
        ],
        "E0218" => {
            // Each level names the one below twice, with two name
            // suffixes: 2^18 ConfigMaps, past kustomize's time or output
            // limit.
            let mut files = vec![f("fan/l0/kustomization.yaml", "resources: [cm.yaml]\n")];
            files.push(f("fan/l0/cm.yaml", &config_map("c", "")));
            for level in 1..=18 {
                let below = level - 1;
                for side in ["a", "b"] {
                    files.push(f(
                        &format!("fan/l{level}/{side}/kustomization.yaml"),
                        &format!("nameSuffix: -{side}\nresources: [../../l{below}]\n"),
                    ));
                }
                files.push(f(
                    &format!("fan/l{level}/kustomization.yaml"),
                    "resources: [a, b]\n",
                ));
            }
            files
        }
        // A repository that answers and refuses (no credentials; no such
        // chart): an unreachable one is the one case validate only warns
        // about (W0103: it does not need the network), as without helm.
        "E0219" => {
            static MUSEUM: std::sync::OnceLock<support::chartservers::ChartMuseum> =
                std::sync::OnceLock::new();
            let museum = MUSEUM.get_or_init(support::chartservers::ChartMuseum::start);
            vec![f(
                "db/component.yaml",
                &component(
                    "db",
                    &format!(
                        "  namespace: db\n  source:\n    helm: {{repo: '{}', chart: c, version: 1.0.0}}\n",
                        museum.url()
                    ),
                ),
            )]
        }
        "W0201" => vec![
            web(""),
            web_cm(),
            f("stray/cm.yaml", &config_map("stray", "")),
        ],
        "W0202" => vec![
            web(
                "  patches:\n    - target: {kind: Secret}\n      merge: {metadata: {labels: {a: b}}}\n",
            ),
            web_cm(),
        ],
        "W0203" => vec![
            web(""),
            f(
                "web/m/role.yaml",
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader, namespace: web}\nrules: []\n",
            ),
        ],
        "W0204" => vec![f(
            "job.yaml",
            "apiVersion: weir.dev/v1alpha1\nkind: Workload\nmetadata: {name: once}\nspec:\n  type: job\n  image: busybox\n  replicas: 3\n",
        )],
        "W0102" => vec![
            web(""),
            f(
                "web/m/cm.yaml",
                &config_map("settings", "  namespace: elsewhere\n"),
            ),
        ],
        "E0405" => vec![
            web(""),
            f(
                "web/m/cm.yaml",
                &format!(
                    "{}---\n{}",
                    config_map("twice", ""),
                    config_map("twice", "")
                ),
            ),
        ],
        // plan and the sync plan
        // the structure of SOPS-encrypted manifests
        "E0120" => vec![
            web(""),
            f(
                "web/m/secret.yaml",
                &sealed_secret(
                    "metadata: {name: db}",
                    CIPHERTEXT,
                    &SOPS_BLOCK.replace(
                        "  mac: ENC[AES256_GCM,data:DDDD,iv:EEEE,tag:FFFF,type:str]\n",
                        "",
                    ),
                ),
            ),
        ],
        "E0121" => vec![
            web(""),
            f(
                "web/m/secret.yaml",
                &sealed_secret("metadata: {name: db}", "in-clear", SOPS_BLOCK),
            ),
        ],
        "E0122" => vec![
            web(""),
            f(
                "web/m/secret.yaml",
                &sealed_secret(
                    &format!("metadata: {{name: db, annotations: {{note: \"{CIPHERTEXT}\"}}}}"),
                    CIPHERTEXT,
                    SOPS_BLOCK,
                ),
            ),
        ],
        "E0401" => vec![web("  wave: thrid\n"), web_cm()],
        "E0402" => vec![web("  dependsOn: [nobody]\n"), web_cm()],
        "E0403" => vec![
            f(
                "a/component.yaml",
                &component("a", "  source: {path: m}\n  dependsOn: [b]\n"),
            ),
            f("a/m/cm.yaml", &config_map("a", "")),
            f(
                "b/component.yaml",
                &component("b", "  source: {path: m}\n  dependsOn: [a]\n"),
            ),
            f("b/m/cm.yaml", &config_map("b", "")),
        ],
        "E0404" => vec![
            f(
                "a/component.yaml",
                &component("a", "  source: {path: m}\n  wave: 0\n  dependsOn: [b]\n"),
            ),
            f("a/m/cm.yaml", &config_map("a", "")),
            f(
                "b/component.yaml",
                &component("b", "  source: {path: m}\n  wave: 1\n"),
            ),
            f("b/m/cm.yaml", &config_map("b", "")),
        ],
        "E0407" => vec![
            f(
                "weir.yaml",
                "apiVersion: weir.dev/v1alpha1\nkind: Repository\nmetadata: {name: agree}\nspec:\n  prune: {maxObjects: 1000}\n",
            ),
            web(""),
            web_cm(),
        ],
        "E0406" => vec![
            web("  health: {timeout: 99999999999999999999999s}\n"),
            web_cm(),
        ],
        other => panic!("no case for {other}: add one to tests/validate_agrees.rs"),
    }
}

/// Every code that rendering, planning or the sync plan can report, from
/// their code registries.
fn stage_codes() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut codes = Vec::new();
    for file in ["src/render/mod.rs", "src/plan/mod.rs"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        for (i, _) in text.match_indices("Code(\"") {
            codes.push(text[i + 6..i + 11].to_owned());
        }
    }
    assert!(codes.len() > 20, "the code registries moved: {codes:?}");
    // The codes of the SOPS structure check, which validation reports and
    // every command judges the same way (named in src/render/sops.rs,
    // numbered in src/validate/codes.rs).
    let sops = std::fs::read_to_string(root.join("src/render/sops.rs")).unwrap();
    let registry = std::fs::read_to_string(root.join("src/validate/codes.rs")).unwrap();
    let mut names: Vec<&str> = sops
        .match_indices("codes::")
        .map(|(i, _)| {
            let rest = &sops[i + 7..];
            &rest[..rest
                .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                .unwrap_or(rest.len())]
        })
        .filter(|name| !name.is_empty())
        .collect();
    names.sort_unstable();
    names.dedup();
    assert!(names.len() >= 3, "the SOPS codes moved: {names:?}");
    for name in names {
        let at = registry
            .find(&format!("pub const {name}: Code = Code(\""))
            .unwrap_or_else(|| panic!("{name} is not in src/validate/codes.rs"));
        let start = at + format!("pub const {name}: Code = Code(\"").len();
        codes.push(registry[start..start + 5].to_owned());
    }
    codes
}

fn weir(args: &[&str]) -> (i32, String, String) {
    support::weir_cli(args)
}

/// `(code, file, line)` of every finding in a JSON report.
fn findings(json: &str) -> Vec<(String, Option<String>, Option<u64>, bool)> {
    let doc: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_owned(),
                d["file"].as_str().map(str::to_owned),
                d["line"].as_u64(),
                d["severity"] == "error",
            )
        })
        .collect()
}

#[test]
fn validate_reports_everything_plan_and_sync_reject() {
    let helm = support::helm();
    assert!(
        helm.is_file(),
        "WEIR_HELM is not a file: {}",
        helm.display()
    );
    let mut failures = BTreeMap::new();
    for code in stage_codes() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = vec![("weir.yaml".to_owned(), REPO.to_owned())];
        files.extend(case(&code));
        for (path, text) in &files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let repo = dir.path().to_str().unwrap();
        let is_error = code.starts_with('E');

        let expected = COVERED_BY_SCHEMA
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(code.clone(), |(_, by)| (*by).to_owned());

        let (plan_rc, plan_out, plan_err) = weir(&["plan", repo, "--output", "json"]);
        let plan = findings(&plan_out);
        if !plan.iter().any(|(c, ..)| *c == expected) {
            failures.insert(
                code,
                format!("plan did not report {expected} (rc {plan_rc}):\n{plan_err}"),
            );
            continue;
        }
        if plan_rc != if is_error { 1 } else { 0 } {
            failures.insert(code, format!("plan exited {plan_rc}:\n{plan_err}"));
            continue;
        }

        let (validate_rc, validate_out, _) = weir(&["validate", repo, "--output", "json"]);
        let validated = findings(&validate_out);
        let missing: Vec<_> = plan.iter().filter(|f| !validated.contains(f)).collect();
        if !missing.is_empty() {
            failures.insert(
                code,
                format!("validate did not report {missing:?}; it reported {validated:?}"),
            );
            continue;
        }
        if is_error && validate_rc != 1 {
            failures.insert(code, format!("validate exited {validate_rc}"));
            continue;
        }

        if is_error {
            let (sync_rc, _, sync_err) = weir(&[
                "sync",
                repo,
                "--dry-run",
                "--kubeconfig",
                "/nonexistent/kubeconfig",
            ]);
            if sync_rc != 1 || !sync_err.contains("nothing was applied") {
                failures.insert(
                    code,
                    format!(
                        "sync --dry-run exited {sync_rc} (want 1, before connecting):\n{sync_err}"
                    ),
                );
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
