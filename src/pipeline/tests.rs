//! Unit tests of the pipeline on in-memory repos (charts rendered by a
//! stand-in): the repo-wide rules, reported once each with their stage's
//! code and placed at the field, and what leaving a broken weir document
//! out does and does not report.

use super::*;
use crate::diagnostic::{Diagnostic, Severity};
use crate::render::{self, ChartOutput, ChartRenderer, ChartRequest};
use crate::repo::FileTree;

/// Charts render to nothing.
struct NoCharts;

impl ChartRenderer for NoCharts {
    fn template(&self, _: &ChartRequest<'_>) -> render::Result<ChartOutput> {
        Ok(ChartOutput::Rendered(String::new()))
    }
}

fn check_files(files: &[(&str, &str)]) -> Checked {
    let tree: FileTree = files.iter().copied().collect();
    let loaded = load_tree(tree, None, "test".into(), &crate::budget::Limits::default());
    check(loaded, &Options::default(), &NoCharts).unwrap()
}

fn codes_of(c: &Checked) -> Vec<&'static str> {
    c.report.diagnostics.iter().map(|d| d.code.0).collect()
}

fn find<'a>(c: &'a Checked, code: &str) -> &'a Diagnostic {
    c.report
        .diagnostics
        .iter()
        .find(|d| d.code.0 == code)
        .unwrap_or_else(|| panic!("no {code} in {:#?}", c.report.diagnostics))
}

const REPO: &str = "apiVersion: weir.dev/v1alpha1\nkind: Repository\nmetadata: {name: r}\nspec:\n  waves: [crds, apps]\n  nodePools:\n    gpu:\n      labels: {pool: gpu}\n";

#[test]
fn repo_wide_rules() {
    let c = check_files(&[
        ("weir.yaml", REPO),
        (
            "web/component.yaml",
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {name: web}\nspec:\n  namespace: web\n  source: {path: m}\n  wave: later\n  dependsOn: [databse]\n---\napiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {name: database}\nspec:\n  source: {path: db}\n",
        ),
        (
            "web/m/objects.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: web}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: d, namespace: elsewhere}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r, namespace: ignored}\n",
        ),
        (
            "db/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: db}\n",
        ),
        (
            "api.yaml",
            "apiVersion: weir.dev/v1alpha1\nkind: Workload\nmetadata: {name: api}\nspec:\n  image: nginx\n  placement:\n    pool: gpus\n    may: [\"tier=gold\", cpu]\n",
        ),
    ]);
    assert!(c.planned.is_none());
    let d = find(&c, "E0405");
    assert!(
        d.message.starts_with(
            "ConfigMap web/c is defined twice: here (`web`) and at web/m/objects.yaml:"
        ),
        "{d:?}"
    );
    let d = find(&c, "W0102");
    assert!(d.message.contains("`elsewhere`"));
    assert_eq!(d.severity, Severity::Warning);
    assert_eq!(d.span.map(|s| s.line), Some(11), "at the namespace's line");
    let d = find(&c, "E0402");
    assert!(d.message.ends_with("did you mean `database`?"), "{d:?}");
    assert_eq!(d.path.as_deref(), Some(".spec.dependsOn[0]"));
    assert_eq!(d.span.map(|s| s.line), Some(8), "at the field's line");
    let d = find(&c, "E0401");
    assert_eq!(d.hint.as_deref(), Some("weir.yaml's waves are: crds, apps"));
    let mut pools: Vec<&str> = c
        .report
        .diagnostics
        .iter()
        .filter(|d| d.code.0 == "E0210")
        .map(|d| d.message.as_str())
        .collect();
    pools.sort_unstable();
    assert_eq!(
        pools,
        vec![
            "workload `api` is placed by node pool `cpu`, which weir.yaml does not define",
            "workload `api` is placed by node pool `gpus`, which weir.yaml does not define; did you mean `gpu`?",
        ]
    );
    // The cluster-scoped ClusterRole's namespace is not a namespace problem
    // (W0203 says it is ignored).
    assert_eq!(codes_of(&c).iter().filter(|c| **c == "W0102").count(), 1);
}

#[test]
fn helm_values_files_are_not_manifests() {
    let c = check_files(&[
        (
            "cache/component.yaml",
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {name: cache}\nspec:\n  source:\n    helm: {chart: chart, valuesFiles: [values-prod.yaml]}\n",
        ),
        (
            "cache/chart/Chart.yaml",
            "apiVersion: v2\nname: c\nversion: 0.1.0\n",
        ),
        ("cache/values-prod.yaml", "replicas: 3\n"),
        ("stray.yaml", "replicas: 3\n"),
    ]);
    let found: Vec<_> = c
        .report
        .diagnostics
        .iter()
        .map(|d| (d.code.0, d.file.as_deref()))
        .collect();
    assert_eq!(found, [("E0106", Some("stray.yaml"))], "{:#?}", c.report);
}

/// A weir document that fails its schema is left out of what is
/// rendered, and what only follows from that is not reported: its
/// manifests belong to no component, its name is unknown to `dependsOn`.
/// What does not follow from it still is: an object defined twice.
#[test]
fn a_broken_document_is_left_out_quietly() {
    let c = check_files(&[
        (
            "db/component.yaml",
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {name: db}\nspec:\n  source: {}\n",
        ),
        (
            "db/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: db}\n",
        ),
        (
            "api.yaml",
            "apiVersion: weir.dev/v1alpha1\nkind: Workload\nmetadata: {name: api}\nspec:\n  image: nginx\n  dependsOn: [db, nobody]\n",
        ),
        (
            "web/component.yaml",
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {name: web}\nspec:\n  source: {path: m}\n",
        ),
        (
            "web/m/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: twice}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: twice}\n",
        ),
    ]);
    let found: Vec<_> = c
        .report
        .diagnostics
        .iter()
        .map(|d| (d.code.0, d.file.as_deref()))
        .collect();
    assert_eq!(
        found,
        [
            ("E0402", Some("api.yaml")),
            ("E0105", Some("db/component.yaml")),
            ("E0405", Some("web/m/cm.yaml")),
        ],
        "{:#?}",
        c.report
    );
    assert!(find(&c, "E0402").message.contains("`nobody`"));
}

/// One rule for paths in a repo, the loader's (`repo::resolve_in_repo`):
/// an absolute path is refused, not read as the repo root.
#[test]
fn absolute_paths_name_no_file() {
    let c = check_files(&[
        (
            "cache/component.yaml",
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {name: cache}\nspec:\n  source:\n    helm: {chart: chart, valuesFiles: [/values.yaml]}\n",
        ),
        ("values.yaml", "replicas: 3\n"),
    ]);
    let d = find(&c, "E0106");
    assert_eq!(d.file.as_deref(), Some("values.yaml"));
    // Nor does `source.path: /` make a component own every file.
    let c = check_files(&[
        (
            "all/component.yaml",
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {name: all}\nspec:\n  namespace: ops\n  createNamespace: false\n  source: {path: /}\n",
        ),
        (
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: ops}\n",
        ),
    ]);
    assert!(codes_of(&c).contains(&"E0201"), "{:#?}", c.report);
}

/// A valid repo is planned, and its sync plan is the only way to one.
#[test]
fn a_valid_repo_is_planned() {
    let c = check_files(&[
        ("weir.yaml", REPO),
        (
            "web/component.yaml",
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {name: web}\nspec:\n  namespace: web\n  source: {path: m}\n",
        ),
        (
            "web/m/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        ),
    ]);
    assert!(c.report.is_valid(), "{:#?}", c.report);
    let planned = c.planned.expect("planned");
    let sync = planned.into_sync_plan();
    assert_eq!(sync.target, "r", "the Repository's name");
    assert_eq!(sync.objects().count(), 2, "the ConfigMap and its Namespace");
}

/// `generateName` without `name` on an object that is no hook: plan
/// cannot address it, so neither may validate let it pass (the two used
/// to disagree); as a hook it is planned, by its prefix.
#[test]
fn validate_reports_what_plan_rejects() {
    let job = |annotations: &str| {
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: migrate-\n{annotations}spec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: m, image: busybox}}]\n"
        )
    };
    let c = check_files(&[("job.yaml", &job(""))]);
    assert!(!c.report.is_valid());
    assert_eq!(codes_of(&c), ["E0230"]);
    let d = find(&c, "E0230");
    assert_eq!(d.file.as_deref(), Some("job.yaml"));
    assert!(
        d.hint
            .as_deref()
            .unwrap_or("")
            .contains("argocd.argoproj.io/hook"),
        "{d:?}"
    );

    let c = check_files(&[(
        "job.yaml",
        &job("  annotations: {argocd.argoproj.io/hook: PreSync}\n"),
    )]);
    assert!(c.report.is_valid(), "{:#?}", c.report);
    let planned = c.planned.expect("planned");
    let hooks = &planned.plan().waves[0].units[0].hooks;
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].object.name, "migrate-");
    assert!(hooks[0].generate_name);
    assert_eq!(planned.plan().waves[0].units[0].objects.len(), 0);
}

/// Hooks from annotations on any kind, in plain manifests: phases,
/// order by weight, then kind, then name; sync waves order a unit's
/// objects; `Prune=false` objects are shown as protected; hooks no sync
/// runs are listed, not applied; a value weir cannot use is E0231 at its
/// line.
#[test]
fn annotations_make_hooks_waves_and_protection() {
    let doc = |kind: &str, name: &str, annotations: &str| {
        let api = if kind == "Job" { "batch/v1" } else { "v1" };
        format!(
            "---\napiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}\n  annotations: {{{annotations}}}\n"
        )
    };
    let files = [
        doc("Job", "pre-job", "helm.sh/hook: pre-install"),
        doc("ConfigMap", "pre-config", "helm.sh/hook: pre-install, helm.sh/hook-weight: \"-5\""),
        doc("ServiceAccount", "pre-sa", "helm.sh/hook: pre-install, helm.sh/hook-weight: \"-5\", helm.sh/hook-delete-policy: hook-succeeded"),
        doc("ConfigMap", "late", "argocd.argoproj.io/sync-wave: \"2\""),
        doc("ConfigMap", "early", "argocd.argoproj.io/sync-wave: \"-1\", argocd.argoproj.io/sync-options: Prune=false"),
        doc("ConfigMap", "middle", ""),
        doc("Pod", "smoke", "helm.sh/hook: test"),
        doc("ConfigMap", "in-sync", "argocd.argoproj.io/hook: Sync, argocd.argoproj.io/sync-wave: \"1\""),
    ]
    .concat();
    let c = check_files(&[("all.yaml", &files)]);
    assert!(c.report.is_valid(), "{:#?}", c.report);
    let planned = c.planned.expect("planned");
    let unit = &planned.plan().waves[0].units[0];
    let names: Vec<(&str, &str)> = unit
        .hooks
        .iter()
        .map(|h| (h.phase.label(), h.object.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("pre-apply", "pre-sa"),
            ("pre-apply", "pre-config"),
            ("pre-apply", "pre-job"),
            ("sync", "in-sync"),
        ],
        "weight, then kind order (ServiceAccount before ConfigMap), then name"
    );
    assert_eq!(unit.hooks[0].delete_policies.names(), ["hookSucceeded"]);
    assert_eq!(
        unit.hooks[1].delete_policies.names(),
        ["beforeHookCreation"]
    );
    let objects: Vec<&str> = unit.objects.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(objects, ["early", "middle", "late"]);
    let waves: Vec<i64> = unit.sync_waves.iter().map(|w| w.wave).collect();
    assert_eq!(waves, [-1, 0, 2]);
    assert_eq!(unit.protected.len(), 1);
    assert_eq!(unit.protected[0].object.name, "early");
    assert_eq!(unit.dropped_hooks.len(), 1);
    assert_eq!(unit.dropped_hooks[0].annotation, "helm.sh/hook: test");

    let c = check_files(&[(
        "cm.yaml",
        &doc("ConfigMap", "c", "argocd.argoproj.io/sync-wave: soon"),
    )]);
    assert_eq!(codes_of(&c), ["E0231"]);
    let d = find(&c, "E0231");
    assert_eq!(d.span.map(|s| s.line), Some(6), "{d:?}");
}

/// One selector rule: a patch target and a prune rule given the same
/// pattern pick the same objects (the prefix form `db-*` included), as the
/// sync will see them.
#[test]
fn patch_targets_and_sync_selectors_pick_the_same_objects() {
    let cms: String = ["db-0", "db-1", "dbx", "web"]
        .iter()
        .map(|n| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {n}}}\n"))
        .collect();
    let c = check_files(&[
        (
            "app/component.yaml",
            "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {name: app}\nspec:\n  namespace: app\n  source: {path: m}\n  patches:\n    - target: {kind: ConfigMap, name: db-*}\n      merge: {metadata: {labels: {patched: \"yes\"}}}\n  prune:\n    protect: [{kind: ConfigMap, name: db-*}]\n  health:\n    ignore: [{kind: ConfigMap, name: db-*}]\n",
        ),
        ("app/m/cms.yaml", &cms),
    ]);
    let planned = c.planned.expect("planned");
    let sync = planned.into_sync_plan();
    let unit = &sync.waves[0].units[0];
    let names = |pick: &dyn Fn(&serde_json::Value) -> bool| -> Vec<String> {
        unit.objects
            .iter()
            .filter(|o| pick(o))
            .map(|o| o["metadata"]["name"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let patched = names(&|o| o.pointer("/metadata/labels/patched").is_some());
    let selected_by = |selectors: &[crate::spec::model::Selector]| {
        names(&|o| {
            let id = crate::object::ObjectRef::from_value(o).unwrap();
            selectors
                .iter()
                .any(|s| s.matches(&id, o.pointer("/metadata/labels")))
        })
    };
    assert_eq!(patched, ["db-0", "db-1"]);
    assert_eq!(selected_by(&unit.prune.protect), patched);
    assert_eq!(selected_by(&unit.health.ignore), patched);
}

/// `weir sync` in a working copy and the agent syncing the same repo from
/// Git name one source: the working copy by its `origin` remote and the
/// config directory's place in it, the agent by its Sync's URL and path.
#[test]
fn a_working_copy_and_the_agents_clone_are_one_source() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("clusters/prod")).unwrap();
    let repo = git2::Repository::init(root).unwrap();
    let prod = root.join("clusters/prod");
    // Without a remote: the directory itself.
    assert_eq!(
        source_id(&Source::Directory(prod.clone())),
        Some(crate::sync::SourceId::local(
            &std::fs::canonicalize(&prod).unwrap(),
            ""
        ))
    );
    repo.remote("origin", "git@github.com:org/platform.git")
        .unwrap();
    let ours = source_id(&Source::Directory(prod)).unwrap();
    let agents =
        crate::sync::SourceId::remote("https://token@github.com/org/platform", "clusters/prod");
    assert_eq!(ours, agents);
    assert_eq!(
        ours.to_string(),
        "github.com/org/platform (path clusters/prod)"
    );
}

fn check_within(files: &[(&str, &str)], max_nodes: u64) -> Checked {
    let tree: FileTree = files.iter().copied().collect();
    let work = crate::budget::Limits {
        max_nodes,
        ..crate::budget::Limits::default()
    };
    let loaded = load_tree(tree, None, "test".into(), &work);
    check(loaded, &Options::default(), &NoCharts).unwrap()
}

/// One budget for the whole run: what no file passes alone, all of them
/// together do, and the run stops there with one finding; rendering then
/// does not run (its findings would only follow from files left out).
#[test]
fn the_budget_is_for_the_whole_run() {
    let blob = |i: usize| {
        format!(
            "apiVersion: example.com/v1\nkind: Blob\nmetadata: {{name: b{i}}}\nspec:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n  c: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
        )
    };
    let texts: Vec<(String, String)> = (0..20)
        .map(|i| (format!("b{i:02}.yaml"), blob(i)))
        .collect();
    let files: Vec<(&str, &str)> = texts
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    assert!(check_within(&files, 100_000).planned.is_some(), "fits");
    let c = check_within(&files, 10_000);
    assert!(c.planned.is_none());
    let errors: Vec<&str> = c
        .report
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code.0)
        .collect();
    assert_eq!(errors, ["E0024"], "{:#?}", c.report);
    let d = find(&c, "E0024");
    assert!(d.message.contains("10,000 nodes"), "{d}");
    assert!(
        d.hint
            .as_deref()
            .unwrap_or_default()
            .contains("--max-nodes")
    );
}

/// A patch that doubles an object is stopped at the operation that would
/// pass the budget, named with its component's file and line.
#[test]
fn a_doubling_patch_is_stopped_at_its_operation() {
    let mut component = String::from(
        "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {name: web}\nspec:\n  source: {path: m}\n  patches:\n    - target: {kind: ConfigMap}\n      json:\n",
    );
    for i in 0..50 {
        component.push_str(&format!(
            "        - {{op: copy, from: /data, path: /data/c{i}}}\n"
        ));
    }
    let c = check_within(
        &[
            ("web/component.yaml", &component),
            (
                "web/m/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n",
            ),
        ],
        50_000,
    );
    assert!(c.planned.is_none());
    assert_eq!(codes_of(&c), ["E0215"], "{:#?}", c.report);
    let d = find(&c, "E0215");
    let op: usize = d
        .path
        .as_deref()
        .and_then(|p| p.strip_prefix(".spec.patches[0].json["))
        .and_then(|p| p.strip_suffix(']'))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{d:?}"));
    assert!((10..20).contains(&op), "{op}");
    assert_eq!(d.file.as_deref(), Some("web/component.yaml"));
    // At the operation's line (the 9th line holds operation 0).
    assert_eq!(d.span.map(|s| s.line), Some(9 + op as u32), "{d:?}");
}

/// A SOPS-encrypted Secret is valid without the key, renders without its
/// `sops` block and with its ciphertext, and a plan holding it cannot be
/// decrypted without a key: the error names the file.
#[test]
fn an_encrypted_secret_plans_without_the_key_and_decrypts_only_with_one() {
    let sealed = "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData:\n  password: ENC[AES256_GCM,data:AAAA,iv:BBBB,tag:CCCC,type:str]\nsops:\n  age:\n    - recipient: age1qqqq\n      enc: \"-----BEGIN AGE ENCRYPTED FILE-----\"\n  lastmodified: \"2026-01-01T00:00:00Z\"\n  mac: ENC[AES256_GCM,data:DDDD,iv:EEEE,tag:FFFF,type:str]\n  version: 3.13.3\n";
    let c = check_files(&[("secret.yaml", sealed)]);
    assert!(
        c.report.diagnostics.is_empty(),
        "{:#?}",
        c.report.diagnostics
    );
    let mut planned = c.planned.unwrap();
    assert_eq!(
        planned.encrypted_files().collect::<Vec<_>>(),
        ["secret.yaml"]
    );
    let object = &planned.rendered().objects[0].value;
    assert!(object.get("sops").is_none(), "{object:#}");
    assert!(
        object["stringData"]["password"]
            .as_str()
            .unwrap()
            .starts_with("ENC[")
    );
    let without_key = crate::render::sops::Decrypter::new(None, &crate::budget::Limits::default());
    let err = planned.decrypt(&without_key).unwrap_err().to_string();
    assert!(
        err.contains("secret.yaml") && err.contains("--sops-age-key-file"),
        "{err}"
    );
}

/// A chart repository that cannot be reached.
struct Offline;

impl ChartRenderer for Offline {
    fn template(&self, _: &ChartRequest<'_>) -> render::Result<ChartOutput> {
        Ok(ChartOutput::Rendered(String::new()))
    }

    fn fetch(&self, _: &render::ChartFetch<'_>) -> render::Result<render::Fetched> {
        Ok(render::Fetched::Unreachable(
            "dial tcp 127.0.0.1:1: connect: connection refused".into(),
        ))
    }
}

/// `weir validate` does not need the network: an unreachable chart
/// repository is a warning there, and an error for everything that applies.
#[test]
fn an_unreachable_chart_repository_warns_in_validate_and_stops_the_plan() {
    let files = [(
        "db.yaml",
        "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {name: db}\nspec:\n  namespace: db\n  source:\n    helm: {repo: 'https://charts.example.com', chart: pg, version: 1.0.0}\n",
    )];
    let run = |without_helm| {
        let tree: FileTree = files.iter().copied().collect();
        let loaded = load_tree(tree, None, "test".into(), &crate::budget::Limits::default());
        let options = Options {
            without_helm,
            ..Options::default()
        };
        check(loaded, &options, &Offline).unwrap()
    };
    let validated = run(WithoutHelm::Warn);
    let d = find(&validated, "W0103");
    assert!(d.message.contains("`db`"), "{d:?}");
    assert!(
        !validated
            .report
            .diagnostics
            .iter()
            .any(Diagnostic::is_error)
    );
    let planned = run(WithoutHelm::Fail);
    assert!(planned.planned.is_none());
    let d = find(&planned, "E0219");
    assert!(d.message.contains("https://charts.example.com"), "{d:?}");
}
