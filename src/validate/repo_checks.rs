//! Checks of the repository as a whole: the same object defined twice,
//! namespaces nobody creates, and references (`dependsOn`, `valuesFrom`,
//! node pools, wave names) that name nothing.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use super::codes;
use super::objects::gvk_of;
use super::paths::{did_you_mean, json_path};
use crate::diagnostic::{Diagnostic, Span};
use crate::kubernetes::Catalog;
use crate::kubernetes::crd::CrdCatalog;
use crate::repo;
use crate::spec::model::{self, WaveRef};
use crate::spec::repo::{ConfigRepo, Located};
use crate::spec::yaml::Document;

/// Namespaces every cluster has.
const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Files that hold YAML but not Kubernetes objects: the values files of
/// Helm components. Paths are resolved by the loader's rule
/// ([`repo::resolve_in_repo`]): one that leaves the repo or is absolute
/// names no file here (rendering reports it, `E0201`).
pub fn non_manifest_files(repo: &ConfigRepo) -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    for c in &repo.components {
        if let Some(helm) = &c.value.spec.source.helm {
            for f in &helm.values_files {
                files.extend(repo::resolve_in_repo(c.dir(), f).ok());
            }
        }
    }
    files
}

/// The namespace a component's (or a plain repo's) namespaced objects go
/// to when they name none.
fn target_namespace(spec_namespace: Option<&str>, repo: &ConfigRepo) -> String {
    spec_namespace
        .map(str::to_string)
        .or_else(|| repo.settings().defaults.namespace)
        .unwrap_or_else(|| "default".to_string())
}

/// The component a manifest file belongs to: the one whose `source.path`
/// directory holds it (the deepest, if several do).
struct Owners<'r> {
    dirs: Vec<(String, &'r Located<model::Component>)>,
}

impl<'r> Owners<'r> {
    fn new(repo: &'r ConfigRepo) -> Self {
        let mut dirs: Vec<(String, &Located<model::Component>)> = repo
            .components
            .iter()
            .filter_map(|c| {
                let path = c.value.spec.source.path.as_deref()?;
                Some((repo::resolve_in_repo(c.dir(), path).ok()?, c))
            })
            .collect();
        dirs.sort_by_key(|(d, _)| std::cmp::Reverse(d.len()));
        Owners { dirs }
    }

    fn owner(&self, file: &str) -> Option<&'r Located<model::Component>> {
        self.dirs
            .iter()
            .find(|(dir, _)| dir.is_empty() || file.starts_with(&format!("{dir}/")))
            .map(|(_, c)| *c)
    }
}

/// An object's identity and where it is defined.
struct Seen {
    file: String,
    span: Span,
}

/// weir's documents: those that passed their schema, and the `(kind,
/// name)` of all of them (a component whose spec is broken still exists for
/// `dependsOn`).
pub struct WeirDocs<'a> {
    pub valid: &'a [Document],
    pub names: &'a [(String, String)],
}

/// Runs every repo-level check.
pub fn check(
    repo: &ConfigRepo,
    weir: &WeirDocs<'_>,
    manifests: &[&Document],
    catalog: Option<&Catalog>,
    crds: &CrdCatalog,
    diags: &mut Vec<Diagnostic>,
) {
    let settings = repo.settings();
    let owners = Owners::new(repo);
    let find_doc = |file: &str, kind: &str, name: &str| {
        weir.valid.iter().find(|d| {
            d.file == file
                && d.value.get("kind").and_then(Value::as_str) == Some(kind)
                && d.value.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
        })
    };

    // Namespaces the repo creates.
    let mut defined: BTreeSet<String> = SYSTEM_NAMESPACES.iter().map(|s| s.to_string()).collect();
    // A component creates the namespace it names (unless told not to).
    for c in &repo.components {
        if let Some(ns) = &c.value.spec.namespace
            && c.value.spec.create_namespace != Some(false)
        {
            defined.insert(ns.clone());
        }
    }
    for doc in manifests {
        for (_, object) in objects_of(doc) {
            if gvk_of(object).is_some_and(|g| g.group.is_empty() && g.kind == "Namespace")
                && let Some(name) = object.pointer("/metadata/name").and_then(Value::as_str)
            {
                defined.insert(name.to_string());
            }
        }
    }

    // Identities: (group, kind, namespace, name).
    let mut seen: HashMap<(String, String, String, String), Seen> = HashMap::new();
    let mut remember = |key: (String, String, String, String),
                        file: &str,
                        span: Span,
                        diags: &mut Vec<Diagnostic>,
                        path: String| {
        if let Some(first) = seen.get(&key) {
            let (group, kind, namespace, name) = &key;
            let what = if namespace.is_empty() {
                format!("{kind} `{name}`")
            } else {
                format!("{kind} `{namespace}/{name}`")
            };
            let group = if group.is_empty() {
                String::new()
            } else {
                format!(" ({group})")
            };
            diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_OBJECT,
                    format!(
                        "{what}{group} is defined twice: here and at {}:{}",
                        first.file, first.span
                    ),
                )
                .in_file(file.to_string())
                .at(span)
                .with_path(path)
                .with_hint("remove one of them, or give them different names or namespaces"),
            );
        } else {
            seen.insert(
                key,
                Seen {
                    file: file.to_string(),
                    span,
                },
            );
        }
    };
    for c in &repo.components {
        let key = (
            "weir.dev".to_string(),
            "Component".to_string(),
            String::new(),
            c.value.metadata.name.clone(),
        );
        remember(key, &c.file, c.span, diags, ".metadata.name".into());
    }
    for w in &repo.workloads {
        let ns = target_namespace(w.value.metadata.namespace.as_deref(), repo);
        let key = (
            "weir.dev".to_string(),
            "Workload".to_string(),
            ns,
            w.value.metadata.name.clone(),
        );
        remember(key, &w.file, w.span, diags, ".metadata.name".into());
    }
    for doc in manifests {
        let owner = owners.owner(&doc.file);
        let target = target_namespace(owner.and_then(|c| c.value.spec.namespace.as_deref()), repo);
        for (prefix, object) in objects_of(doc) {
            let Some(gvk) = gvk_of(object) else { continue };
            let Some(name) = object.pointer("/metadata/name").and_then(Value::as_str) else {
                continue;
            };
            let explicit_ns = object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            let namespaced = catalog
                .and_then(|c| c.is_namespaced(&gvk.group, &gvk.kind))
                .or_else(|| crds.is_namespaced(&gvk.group, &gvk.kind));
            let namespace = match (namespaced, explicit_ns) {
                (Some(false), _) => String::new(),
                (_, Some(ns)) => ns.to_string(),
                (_, None) => target.clone(),
            };
            let name_pointer = format!("{prefix}/metadata/name");
            remember(
                (
                    gvk.group.clone(),
                    gvk.kind.clone(),
                    namespace,
                    name.to_string(),
                ),
                &doc.file,
                doc.span_of(&name_pointer),
                diags,
                json_path(&doc.value, &name_pointer),
            );
            if namespaced != Some(false)
                && let Some(ns) = explicit_ns
                && !defined.contains(ns)
                && ns != target
            {
                let pointer = format!("{prefix}/metadata/namespace");
                let whose = match owner {
                    Some(c) => format!("component `{}`'s target namespace", c.value.metadata.name),
                    None => "the repo's default namespace".to_string(),
                };
                diags.push(
                    Diagnostic::warning(
                        codes::UNDEFINED_NAMESPACE,
                        format!(
                            "namespace `{ns}` is not created by the repo and is not {whose} (`{target}`)"
                        ),
                    )
                    .in_file(doc.file.clone())
                    .at(doc.span_of(&pointer))
                    .with_path(json_path(&doc.value, &pointer))
                    .with_hint(format!(
                        "add a Namespace `{ns}` to the repo, or a component with `namespace: {ns}`, \
                         or drop `metadata.namespace` to use `{target}`"
                    )),
                );
            }
        }
    }

    // References between weir documents.
    let names: Vec<&str> = weir
        .names
        .iter()
        .filter(|(kind, _)| kind == "Component" || kind == "Workload")
        .map(|(_, name)| name.as_str())
        .collect();
    let component_names: Vec<&str> = weir
        .names
        .iter()
        .filter(|(kind, _)| kind == "Component")
        .map(|(_, name)| name.as_str())
        .collect();
    let pools: Vec<&str> = settings.node_pools.keys().map(String::as_str).collect();
    let refs = Refs {
        names: &names,
        components: &component_names,
        pools: &pools,
        waves: &settings.waves,
    };
    for c in &repo.components {
        let doc = find_doc(&c.file, "Component", &c.value.metadata.name);
        let place = Place {
            located_file: &c.file,
            located_span: c.span,
            doc,
        };
        refs.depends_on(&place, &c.value.spec.depends_on, diags);
        refs.wave(&place, c.value.spec.wave.as_ref(), diags);
        for (i, v) in c.value.spec.values_from.iter().enumerate() {
            if !component_names.contains(&v.component.as_str()) {
                let mut d = place.diag(
                    codes::UNKNOWN_VALUES_SOURCE,
                    &format!("/spec/valuesFrom/{i}/component"),
                    format!(
                        "`valuesFrom` names component `{}`, which does not exist",
                        v.component
                    ),
                );
                if let Some(s) = did_you_mean(&v.component, component_names.iter().copied()) {
                    d.message.push_str(&format!("; did you mean `{s}`?"));
                }
                diags.push(d);
            }
        }
    }
    for w in &repo.workloads {
        let doc = find_doc(&w.file, "Workload", &w.value.metadata.name);
        let place = Place {
            located_file: &w.file,
            located_span: w.span,
            doc,
        };
        refs.depends_on(&place, &w.value.spec.depends_on, diags);
        refs.wave(&place, w.value.spec.wave.as_ref(), diags);
        let placement = &w.value.spec.placement;
        if let Some(pool) = &placement.pool {
            refs.pool(&place, pool, "/spec/placement/pool", diags);
        }
        for (field, rules) in [
            ("may", &placement.may),
            ("prefer", &placement.prefer),
            ("must", &placement.must),
        ] {
            for (i, rule) in rules.iter().enumerate() {
                if !rule.contains('=') {
                    refs.pool(&place, rule, &format!("/spec/placement/{field}/{i}"), diags);
                }
            }
        }
    }
}

/// The objects of a manifest document with their pointer prefix: the
/// document itself, or the items of a `v1` `List`.
fn objects_of(doc: &Document) -> Vec<(String, &Value)> {
    let v = &doc.value;
    if v.get("apiVersion").and_then(Value::as_str) == Some("v1")
        && v.get("kind").and_then(Value::as_str) == Some("List")
    {
        v.get("items")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| (format!("/items/{i}"), item))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        vec![(String::new(), v)]
    }
}

/// Where a weir document is, for diagnostics about its fields.
struct Place<'a> {
    located_file: &'a str,
    located_span: Span,
    doc: Option<&'a Document>,
}

impl Place<'_> {
    fn diag(&self, code: crate::diagnostic::Code, pointer: &str, message: String) -> Diagnostic {
        let d = Diagnostic::error(code, message).in_file(self.located_file.to_string());
        match self.doc {
            Some(doc) => d
                .at(doc.span_of(pointer))
                .with_path(json_path(&doc.value, pointer)),
            None => d.at(self.located_span),
        }
    }
}

struct Refs<'a> {
    names: &'a [&'a str],
    components: &'a [&'a str],
    pools: &'a [&'a str],
    waves: &'a [String],
}

impl Refs<'_> {
    fn depends_on(&self, place: &Place<'_>, deps: &[String], diags: &mut Vec<Diagnostic>) {
        for (i, dep) in deps.iter().enumerate() {
            if self.names.contains(&dep.as_str()) {
                continue;
            }
            let mut d = place.diag(
                codes::UNKNOWN_DEPENDENCY,
                &format!("/spec/dependsOn/{i}"),
                format!("`dependsOn` names `{dep}`, which is no component or workload of the repo"),
            );
            match did_you_mean(dep, self.names.iter().copied()) {
                Some(s) => {
                    d.message.push_str(&format!("; did you mean `{s}`?"));
                    d = d.with_hint(format!("rename it to `{s}`"));
                }
                None if !self.components.is_empty() => {
                    d = d.with_hint(format!("components: {}", self.components.join(", ")));
                }
                None => {}
            }
            diags.push(d);
        }
    }

    fn wave(&self, place: &Place<'_>, wave: Option<&WaveRef>, diags: &mut Vec<Diagnostic>) {
        let Some(WaveRef::Name(name)) = wave else {
            return;
        };
        if self.waves.iter().any(|w| w == name) {
            return;
        }
        let mut d = place.diag(
            codes::UNKNOWN_WAVE,
            "/spec/wave",
            format!("wave `{name}` is not listed in weir.yaml's `spec.waves`"),
        );
        if let Some(s) = did_you_mean(name, self.waves.iter().map(String::as_str)) {
            d.message.push_str(&format!("; did you mean `{s}`?"));
        }
        d = d.with_hint(if self.waves.is_empty() {
            "list wave names in weir.yaml (`spec.waves`), or give the wave as a number".to_string()
        } else {
            format!("waves: {}", self.waves.join(", "))
        });
        diags.push(d);
    }

    fn pool(&self, place: &Place<'_>, pool: &str, pointer: &str, diags: &mut Vec<Diagnostic>) {
        if self.pools.contains(&pool) {
            return;
        }
        let mut d = place.diag(
            codes::UNKNOWN_POOL,
            pointer,
            format!("node pool `{pool}` is not defined in weir.yaml"),
        );
        if let Some(s) = did_you_mean(pool, self.pools.iter().copied()) {
            d.message.push_str(&format!("; did you mean `{s}`?"));
        }
        d = d.with_hint(if self.pools.is_empty() {
            "define node pools under `spec.nodePools` in weir.yaml, or use a node label `key=value`"
                .to_string()
        } else {
            format!("node pools: {}", self.pools.join(", "))
        });
        diags.push(d);
    }
}
