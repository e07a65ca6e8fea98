//! The diff engine: matches the objects of two [`Side`]s, normalises and
//! redacts them, and reports what was added, removed and changed.
//!
//! Pure: values in, a [`Report`] out. Only objects that differ get field
//! changes and a unified diff; unchanged ones cost one normalisation and
//! one comparison each.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::fields::{Sensitive, field_changes};
use super::model::{
    Change, DiffObject, GroupSummary, ObjectDiff, Report, Scope, Side, Summary, WeirDoc,
    WeirDocDiff,
};
use super::normalize::{align_empties, normalize, semantic_eq};
use super::path::Path;
use super::secret;
use super::unified::{canonical_yaml, unified_diff};
use crate::object::ObjectKey;

/// How the diff is computed and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Lines of context around each change of a unified diff.
    pub context: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self { context: 3 }
    }
}

/// Compares two sides. Objects are matched by group, kind, namespace and
/// name; see the [module documentation](super) for what counts as a change.
pub fn diff(base: Side, head: Side, options: &Options) -> Report {
    let mut base_objects: HashMap<ObjectKey, DiffObject> =
        base.objects.into_iter().map(|o| (o.id.key(), o)).collect();
    let mut objects = Vec::new();
    let mut unchanged = 0;
    for new in head.objects {
        match base_objects.remove(&new.id.key()) {
            Some(old) => match compare(old, new, options) {
                Some(d) => objects.push(d),
                None => unchanged += 1,
            },
            None => objects.push(one_sided(new, Change::Added, options)),
        }
    }
    objects.extend(
        base_objects
            .into_values()
            .map(|old| one_sided(old, Change::Removed, options)),
    );
    objects.sort_by(|a, b| {
        (
            a.wave,
            &a.component,
            &a.id.kind,
            &a.id.namespace,
            &a.id.name,
            &a.id.group,
        )
            .cmp(&(
                b.wave,
                &b.component,
                &b.id.kind,
                &b.id.namespace,
                &b.id.name,
                &b.id.group,
            ))
    });
    let weir_documents = diff_weir_docs(base.weir_docs, head.weir_docs, &objects);
    Report {
        summary: summarise(&objects, unchanged, weir_documents.len()),
        objects,
        weir_documents,
        charts: diff_charts(base.charts, head.charts),
    }
}

/// The remote charts of both sides matched by component, chart and the
/// chart they are a dependency of; a side whose charts are not known (the
/// cluster) shows the other's as they are, unchanged.
fn diff_charts(
    base: Option<BTreeMap<String, Vec<crate::render::Resolved>>>,
    head: Option<BTreeMap<String, Vec<crate::render::Resolved>>>,
) -> Vec<super::model::ChartDiff> {
    use super::model::{ChartChange, ChartDiff};
    let known = base.is_some() && head.is_some();
    let key = |component: &str, r: &crate::render::Resolved| {
        (
            component.to_owned(),
            r.chart.clone(),
            r.dependency_of.clone(),
        )
    };
    let mut out: Vec<ChartDiff> = Vec::new();
    let mut index: HashMap<(String, String, Option<String>), usize> = HashMap::new();
    for (component, charts) in head.iter().flatten() {
        for r in charts {
            index.insert(key(component, r), out.len());
            out.push(ChartDiff {
                component: component.clone(),
                change: if known {
                    ChartChange::Added
                } else {
                    ChartChange::Unchanged
                },
                base: None,
                head: Some(r.clone()),
            });
        }
    }
    for (component, charts) in base.iter().flatten() {
        for r in charts {
            match index.get(&key(component, r)) {
                Some(&i) => {
                    let same = out[i].head.as_ref().is_some_and(|h| {
                        h.version == r.version && h.digest == r.digest && h.repo == r.repo
                    });
                    out[i].change = if same {
                        ChartChange::Unchanged
                    } else {
                        ChartChange::Changed
                    };
                    out[i].base = Some(r.clone());
                }
                None => out.push(ChartDiff {
                    component: component.clone(),
                    change: if known {
                        ChartChange::Removed
                    } else {
                        ChartChange::Unchanged
                    },
                    base: Some(r.clone()),
                    head: None,
                }),
            }
        }
    }
    out.sort_by(|a, b| a.component.cmp(&b.component));
    out
}

fn no_secrets(_: &Path) -> bool {
    false
}

fn sensitivity(old: &DiffObject) -> Sensitive<'static> {
    if old.id.is_secret() {
        &secret::in_secret_values
    } else {
        &no_secrets
    }
}

/// The diff of an object present on both sides, `None` when unchanged.
fn compare(old: DiffObject, new: DiffObject, options: &Options) -> Option<ObjectDiff> {
    let sensitive = sensitivity(&new);
    let mut base = normalize(old.value);
    let mut head = normalize(new.value);
    if new.id.is_secret() {
        secret::redact_pair(&mut base, &mut head);
    }
    align_empties(&mut base, &mut head);
    if semantic_eq(&base, &head) {
        return None;
    }
    let fields = field_changes(&base, &head, sensitive);
    let diff = unified_diff(
        &canonical_yaml(&base),
        &canonical_yaml(&head),
        options.context,
    );
    let base_api_version = (old.id.version != new.id.version).then(|| old.id.api_version());
    Some(ObjectDiff {
        change: Change::Changed,
        id: new.id,
        base_api_version,
        component: new.component,
        wave: new.wave,
        file: new.file,
        notes: new.notes,
        fields,
        diff,
    })
}

/// The diff of an object on one side only: its whole YAML as added or
/// removed lines.
fn one_sided(object: DiffObject, change: Change, options: &Options) -> ObjectDiff {
    let mut value = normalize(object.value);
    if object.id.is_secret() {
        secret::redact_one(&mut value);
    }
    let yaml = canonical_yaml(&value);
    let diff = match change {
        Change::Removed => unified_diff(&yaml, "", options.context),
        _ => unified_diff("", &yaml, options.context),
    };
    ObjectDiff {
        change,
        id: object.id,
        base_api_version: None,
        component: object.component,
        wave: object.wave,
        file: object.file,
        notes: object.notes,
        fields: Vec::new(),
        diff,
    }
}

fn summarise(objects: &[ObjectDiff], unchanged: usize, weir_documents: usize) -> Summary {
    let mut summary = Summary {
        unchanged,
        weir_documents,
        ..Summary::default()
    };
    let mut groups: BTreeMap<(u32, &str), GroupSummary> = BTreeMap::new();
    for object in objects {
        let group = groups
            .entry((object.wave, &object.component))
            .or_insert_with(|| GroupSummary {
                wave: object.wave,
                component: object.component.clone(),
                added: 0,
                changed: 0,
                removed: 0,
            });
        let (total, in_group) = match object.change {
            Change::Added => (&mut summary.added, &mut group.added),
            Change::Changed => (&mut summary.changed, &mut group.changed),
            Change::Removed => (&mut summary.removed, &mut group.removed),
        };
        *total += 1;
        *in_group += 1;
    }
    summary.groups = groups.into_values().collect();
    summary
}

// ------------------------------------------------------------ weir documents

/// Order of weir kinds in reports: the repository, then components, then
/// workloads.
fn kind_rank(kind: &str) -> u8 {
    match kind {
        "Repository" => 0,
        "Component" => 1,
        "Workload" => 2,
        _ => 3,
    }
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Kind, namespace and name: what weir documents are matched by. A
/// document without a name is matched by its file.
fn doc_key(doc: &WeirDoc) -> (u8, String, String, String) {
    let kind = str_at(&doc.value, "/kind");
    let name = str_at(&doc.value, "/metadata/name");
    let name = if name.is_empty() {
        format!("({})", doc.file)
    } else {
        name.to_owned()
    };
    (
        kind_rank(kind),
        kind.to_owned(),
        str_at(&doc.value, "/metadata/namespace").to_owned(),
        name,
    )
}

fn diff_weir_docs(
    base: Vec<WeirDoc>,
    head: Vec<WeirDoc>,
    objects: &[ObjectDiff],
) -> Vec<WeirDocDiff> {
    let mut base: BTreeMap<_, WeirDoc> = base.into_iter().map(|d| (doc_key(&d), d)).collect();
    let mut out = Vec::new();
    for new in head {
        let key = doc_key(&new);
        let touches = touches_objects(&new.scope, objects);
        let (change, fields) = match base.remove(&key) {
            Some(old) => {
                let (a, b) = (normalize(old.value), normalize(new.value));
                if semantic_eq(&a, &b) {
                    continue;
                }
                (
                    Change::Changed,
                    field_changes(&a, &b, &secret::looks_secret),
                )
            }
            None => (Change::Added, Vec::new()),
        };
        out.push(weir_doc_diff(key, change, new.file, fields, touches));
    }
    for (key, old) in base {
        let touches = touches_objects(&old.scope, objects);
        out.push(weir_doc_diff(
            key,
            Change::Removed,
            old.file,
            Vec::new(),
            touches,
        ));
    }
    out.sort_by(|a, b| {
        (kind_rank(&a.kind), &a.kind, &a.name).cmp(&(kind_rank(&b.kind), &b.kind, &b.name))
    });
    out
}

fn touches_objects(scope: &Scope, objects: &[ObjectDiff]) -> bool {
    match scope {
        Scope::All => !objects.is_empty(),
        Scope::Component(name) => objects.iter().any(|o| &o.component == name),
    }
}

fn weir_doc_diff(
    key: (u8, String, String, String),
    change: Change,
    file: String,
    fields: Vec<super::model::FieldChange>,
    changes_rendered_objects: bool,
) -> WeirDocDiff {
    let (_, kind, _, name) = key;
    WeirDocDiff {
        change,
        kind,
        name,
        file,
        fields,
        changes_rendered_objects,
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use serde_json::json;

    use super::*;
    use crate::object::ObjectRef;

    fn object(component: &str, wave: u32, value: Value) -> DiffObject {
        DiffObject {
            id: ObjectRef::from_value(&value).ok().unwrap(),
            component: component.into(),
            wave,
            file: Some(format!("{component}/objects.yaml")),
            notes: Vec::new(),
            value,
        }
    }

    fn deployment(image: &str, replicas: u32) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "shop"},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [
                {"name": "api", "image": image}]}}}})
    }

    fn resolved(chart: &str, version: &str) -> crate::render::Resolved {
        crate::render::Resolved {
            repo: "https://charts.example.com".into(),
            chart: chart.into(),
            version: version.into(),
            digest: format!("sha256:{version}"),
            dependency_of: None,
            cached: false,
        }
    }

    #[test]
    fn charts_are_listed_with_their_change() {
        use crate::diff::model::ChartChange;
        let charts = |list: Vec<(&str, crate::render::Resolved)>| {
            let mut map: BTreeMap<String, Vec<crate::render::Resolved>> = BTreeMap::new();
            for (c, r) in list {
                map.entry(c.to_owned()).or_default().push(r);
            }
            Some(map)
        };
        let base = Side {
            charts: charts(vec![
                ("web", resolved("demo", "0.1.0")),
                ("db", resolved("pg", "1.0.0")),
                ("old", resolved("gone", "1.0.0")),
            ]),
            ..Side::default()
        };
        let head = Side {
            charts: charts(vec![
                ("web", resolved("demo", "0.2.0")),
                ("db", resolved("pg", "1.0.0")),
                ("new", resolved("fresh", "2.0.0")),
            ]),
            ..Side::default()
        };
        let report = diff(base, head, &Options::default());
        let changes: Vec<(&str, ChartChange)> = report
            .charts
            .iter()
            .map(|c| (c.component.as_str(), c.change))
            .collect();
        assert_eq!(
            changes,
            [
                ("db", ChartChange::Unchanged),
                ("new", ChartChange::Added),
                ("old", ChartChange::Removed),
                ("web", ChartChange::Changed),
            ]
        );
        let lines = crate::diff::format::chart_lines(&report);
        assert!(
            lines.contains(
                &"web: demo 0.1.0 (sha256:0.1.0) -> 0.2.0 (sha256:0.2.0) from https://charts.example.com"
                    .to_owned()
            ),
            "{lines:?}"
        );
        // The cluster's side does not know its charts: listed as they are.
        let live = Side::default();
        let head = Side {
            charts: charts(vec![("web", resolved("demo", "0.2.0"))]),
            ..Side::default()
        };
        let report = diff(live, head, &Options::default());
        assert_eq!(report.charts[0].change, ChartChange::Unchanged);
    }

    fn side(objects: Vec<DiffObject>) -> Side {
        Side {
            objects,
            weir_docs: Vec::new(),
            charts: None,
        }
    }

    #[test]
    fn added_changed_removed_unchanged() {
        let cm = |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "shop"}});
        let base = side(vec![
            object("api", 1, deployment("api:v1", 2)),
            object("api", 1, cm("same")),
            object("api", 1, cm("old")),
        ]);
        let head = side(vec![
            object("api", 1, deployment("api:v2", 2)),
            object("api", 1, cm("same")),
            object("api", 1, cm("new")),
        ]);
        let report = diff(base, head, &Options::default());
        let s = &report.summary;
        assert_eq!((s.added, s.changed, s.removed, s.unchanged), (1, 1, 1, 1));
        assert_eq!(s.groups.len(), 1);
        let changed: Vec<_> = report
            .objects
            .iter()
            .map(|o| (o.change, o.id.name.as_str()))
            .collect();
        assert_eq!(
            changed,
            vec![
                (Change::Added, "new"),
                (Change::Removed, "old"),
                (Change::Changed, "api")
            ]
        );
        let dep = &report.objects[2];
        assert_eq!(dep.fields.len(), 1);
        assert_eq!(
            dep.fields[0].path,
            "spec.template.spec.containers[name=api].image"
        );
        assert!(
            dep.diff
                .contains("-        image: api:v1\n+        image: api:v2\n"),
            "{}",
            dep.diff
        );
        assert!(report.has_differences());
    }

    #[test]
    fn moving_between_files_and_components_is_not_a_change() {
        let mut a = deployment("x", 1);
        a["metadata"]["annotations"] = json!({"weir.dev/source": "a/deploy.yaml"});
        a["metadata"]["labels"] = json!({"weir.dev/component": "a"});
        let mut b = deployment("x", 1);
        b["metadata"]["annotations"] = json!({"weir.dev/source": "b/all.yaml"});
        b["metadata"]["labels"] = json!({"weir.dev/component": "b"});
        let report = diff(
            side(vec![object("a", 0, a)]),
            side(vec![object("b", 2, b)]),
            &Options::default(),
        );
        assert!(!report.has_differences());
        assert_eq!(report.summary.unchanged, 1);
    }

    #[test]
    fn versions_are_ignored_for_matching() {
        let mut old = deployment("x", 1);
        old["apiVersion"] = json!("apps/v1beta2");
        let report = diff(
            side(vec![object("a", 0, old)]),
            side(vec![object("a", 0, deployment("x", 1))]),
            &Options::default(),
        );
        assert_eq!(report.objects.len(), 1);
        assert_eq!(report.objects[0].change, Change::Changed);
        assert_eq!(
            report.objects[0].base_api_version.as_deref(),
            Some("apps/v1beta2")
        );
        assert_eq!(report.objects[0].fields[0].path, "apiVersion");
    }

    #[test]
    fn reordered_containers_are_not_a_change() {
        let with = |containers: Value| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                "spec": {"template": {"spec": {"containers": containers}}}})
        };
        let x = |ports: Value| json!({"name": "x", "ports": ports});
        let y = json!({"name": "y", "env": [{"name": "A"}, {"name": "B"}]});
        let y_reordered = json!({"name": "y", "env": [{"name": "B"}, {"name": "A"}]});
        let report = diff(
            side(vec![object(
                "a",
                0,
                with(json!([
                    x(json!([{"containerPort": 1}, {"containerPort": 2}])),
                    y
                ])),
            )]),
            side(vec![object(
                "a",
                0,
                with(json!([
                    y_reordered,
                    x(json!([{"containerPort": 2}, {"containerPort": 1}]))
                ])),
            )]),
            &Options::default(),
        );
        assert!(!report.has_differences(), "{report:#?}");
    }

    #[test]
    fn secrets_never_show_values() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let secret = |data: Value| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n"}, "data": data});
        let report = diff(
            side(vec![object(
                "a",
                0,
                secret(json!({"pw": b64("hunter2"), "user": b64("bob")})),
            )]),
            side(vec![object(
                "a",
                0,
                secret(json!({"pw": b64("swordfish"), "user": b64("bob")})),
            )]),
            &Options::default(),
        );
        let text = serde_json::to_string(&report).unwrap();
        for needle in [
            "hunter2",
            "swordfish",
            &b64("hunter2"),
            &b64("swordfish"),
            "bob",
            &b64("bob"),
        ] {
            assert!(!text.contains(needle), "{needle} leaked: {text}");
        }
        let o = &report.objects[0];
        assert_eq!(o.fields.len(), 1);
        assert!(o.fields[0].redacted);
        assert!(
            o.diff
                .contains("-  pw: (old value hidden)\n+  pw: (changed)\n"),
            "{}",
            o.diff
        );
    }

    #[test]
    fn weir_document_changes_without_rendered_changes_are_reported() {
        let component = |timeout: &str| {
            WeirDoc::new(
                "db/component.yaml",
                json!({"apiVersion": "weir.dev/v1alpha1", "kind": "Component", "metadata": {"name": "db"},
                    "spec": {"source": {"path": "m"}, "health": {"timeout": timeout}}}),
            )
        };
        let base = Side {
            objects: vec![object("db", 0, deployment("x", 1))],
            weir_docs: vec![component("5m")],
            charts: None,
        };
        let head = Side {
            objects: vec![object("db", 0, deployment("x", 1))],
            weir_docs: vec![component("10m")],
            charts: None,
        };
        let report = diff(base, head, &Options::default());
        assert!(report.has_differences());
        assert!(report.objects.is_empty());
        let d = &report.weir_documents[0];
        assert_eq!(
            (d.kind.as_str(), d.name.as_str(), d.change),
            ("Component", "db", Change::Changed)
        );
        assert!(!d.changes_rendered_objects);
        assert_eq!(d.fields[0].path, "spec.health.timeout");
        assert_eq!(d.fields[0].new, Some(json!("10m")));
    }
}
