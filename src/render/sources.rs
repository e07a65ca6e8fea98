//! The rendering context and the steps that do not involve Helm: units,
//! component sources, manifests sorted into components, workloads, hooks,
//! and the finishing passes (namespaces, patches, tracking, implied
//! Namespaces).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::files::{self, Files};
use super::hooks;
use super::object::{DroppedHook, RenderedHook, RenderedObject, Unit, UnitKind};
use super::scope::{Scope, Scopes, is_crd};
use super::{Rendered, SYSTEM_NAMESPACES, codes, patch, workload, yaml};
use crate::budget::{self, Budget};
use crate::diagnostic::{Diagnostic, Span};
use crate::object::ObjectRef;
use crate::spec::model::{Component, RepositorySpec};
use crate::spec::repo::{ConfigRepo, IMPLICIT_COMPONENT, Located};
use crate::spec::yaml::CHART_FILE;

/// Where a component's objects come from, once its paths are resolved.
#[derive(Debug, Clone)]
pub(super) enum Source {
    /// A manifest directory (or file), repo-relative.
    Dir(String),
    Chart(ChartSource),
    /// A kustomization's directory, repo-relative ([`super::kustomize`]).
    Kustomize(String),
    /// Could not be resolved; already reported.
    Invalid,
}

#[derive(Debug, Clone)]
pub(super) struct ChartSource {
    /// The chart directory; for a remote chart, `chart-version` once
    /// fetched (what its objects' sources name).
    pub dir: String,
    /// A chart of a chart repository or OCI registry.
    pub remote: Option<RemoteChart>,
    pub release: String,
    /// Resolved values files; `None` for one that could not be resolved.
    pub values_files: Vec<Option<String>>,
    /// Talk plain HTTP to OCI registries: the chart's own (remote) and
    /// those of its `Chart.yaml` dependencies (`helm.plainHttp`).
    pub plain_http: bool,
}

/// A remote chart as a component names it.
#[derive(Debug, Clone)]
pub(super) struct RemoteChart {
    pub repo: String,
    pub chart: String,
    pub version: String,
    pub plain_http: bool,
}

/// Everything a render accumulates.
pub(super) struct Context<'a> {
    pub repo: &'a ConfigRepo,
    /// The repo's Components, then its directory components
    /// ([`super::directories`]).
    pub components: &'a [Located<Component>],
    /// Components whose objects a tool made (charts, kustomizations).
    pub generated: BTreeSet<String>,
    /// What each remote chart component resolved to.
    /// The remote charts each component's rendering used: its own chart
    /// first (when remote), then those fetched for its `Chart.yaml`
    /// dependencies.
    pub charts: BTreeMap<String, Vec<super::remote::Resolved>>,
    pub files: &'a dyn Files,
    pub settings: &'a RepositorySpec,
    /// The run's work budget: everything built is charged to it first.
    pub budget: &'a Budget,
    pub default_namespace: String,
    pub units: Vec<Unit>,
    /// Parallel to `components`.
    pub sources: Vec<Source>,
    /// Parallel to `components`: each hook's resolved file.
    hook_files: Vec<Vec<Option<String>>>,
    pub objects: Vec<RenderedObject>,
    pub hooks: Vec<RenderedHook>,
    /// Hooks of phases no sync reaches, not applied.
    pub dropped: Vec<DroppedHook>,
    pub values: BTreeMap<String, Value>,
    pub diags: Vec<Diagnostic>,
    /// Values files and hook files: YAML that is not a manifest.
    not_manifests: BTreeSet<String>,
    /// Units whose target Namespace weir renders.
    create_namespace: BTreeSet<String>,
}

impl<'a> Context<'a> {
    pub fn new(
        repo: &'a ConfigRepo,
        components: &'a [Located<Component>],
        files: &'a dyn Files,
        settings: &'a RepositorySpec,
        budget: &'a Budget,
    ) -> Self {
        Self {
            repo,
            components,
            generated: BTreeSet::new(),
            charts: BTreeMap::new(),
            files,
            settings,
            budget,
            default_namespace: settings
                .defaults
                .namespace
                .clone()
                .unwrap_or_else(|| "default".to_owned()),
            units: Vec::new(),
            sources: Vec::new(),
            hook_files: Vec::new(),
            objects: Vec::new(),
            hooks: Vec::new(),
            dropped: Vec::new(),
            values: BTreeMap::new(),
            diags: Vec::new(),
            not_manifests: super::values_files(repo),
            create_namespace: BTreeSet::new(),
        }
    }

    pub fn into_rendered(self) -> Rendered {
        Rendered {
            units: self.units,
            objects: self.objects,
            hooks: self.hooks,
            dropped: self.dropped,
            values: self.values,
            diagnostics: self.diags,
            generated: self.generated,
            charts: self.charts,
        }
    }

    /// Charges `nodes` about to be built. Past the budget, the first to
    /// find out reports it ([`codes::BUDGET`]: `what`, placed by `place`),
    /// and `false` says: build nothing.
    pub fn afford(
        &mut self,
        nodes: u64,
        what: impl FnOnce() -> String,
        place: impl FnOnce(Diagnostic) -> Diagnostic,
    ) -> bool {
        match self.budget.charge(nodes) {
            Ok(()) => true,
            Err(exhausted) => {
                if self.budget.first_report() {
                    let d = place(exhausted.diagnostic(codes::BUDGET, &what()));
                    self.diags.push(d);
                }
                false
            }
        }
    }

    /// [`afford`](Self::afford) the weight of `value`, about to be copied.
    pub fn afford_value(
        &mut self,
        value: &Value,
        what: impl FnOnce() -> String,
        place: impl FnOnce(Diagnostic) -> Diagnostic,
    ) -> bool {
        let nodes = budget::weight(value, self.budget.remaining().saturating_add(1));
        self.afford(nodes, what, place)
    }

    /// An error about a component, at its document.
    pub fn component_error(
        &self,
        component: &Located<Component>,
        code: crate::diagnostic::Code,
        message: String,
    ) -> Diagnostic {
        Diagnostic::error(code, message)
            .in_file(component.file.clone())
            .at(component.span)
    }

    // ------------------------------------------------------------- units

    pub fn collect_units(&mut self) {
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut check = |name: &str, file: &str, span: Span, diags: &mut Vec<Diagnostic>| {
            if let Some(first) = seen.get(name) {
                diags.push(
                    Diagnostic::error(
                        codes::DUPLICATE_UNIT,
                        format!("`{name}` is already declared in {first}"),
                    )
                    .in_file(file)
                    .at(span)
                    .with_path(".metadata.name")
                    .with_hint(
                        "components and workloads share one set of names; rename one of them",
                    ),
                );
            } else {
                seen.insert(name.to_owned(), file.to_owned());
            }
        };
        let components = self.components;
        for c in components {
            let spec = &c.value.spec;
            check(&c.value.metadata.name, &c.file, c.span, &mut self.diags);
            let namespace = spec
                .namespace
                .clone()
                .unwrap_or_else(|| self.default_namespace.clone());
            if spec.namespace.is_some() && spec.create_namespace.unwrap_or(true) {
                self.create_namespace.insert(c.value.metadata.name.clone());
            }
            self.units.push(Unit {
                name: c.value.metadata.name.clone(),
                kind: UnitKind::Component,
                file: Some(c.file.clone()),
                span: Some(c.span),
                namespace,
                wave: spec.wave.clone(),
                depends_on: spec.depends_on.clone(),
                values_from: spec
                    .values_from
                    .iter()
                    .map(|v| v.component.clone())
                    .collect(),
                health: spec.health.clone(),
                prune: spec.prune.clone(),
            });
        }
        for w in &self.repo.workloads {
            check(&w.value.metadata.name, &w.file, w.span, &mut self.diags);
            if w.value.metadata.namespace.is_some() {
                self.create_namespace.insert(w.value.metadata.name.clone());
            }
            self.units.push(Unit {
                name: w.value.metadata.name.clone(),
                kind: UnitKind::Workload,
                file: Some(w.file.clone()),
                span: Some(w.span),
                namespace: self.workload_namespace(&w.value.metadata.namespace),
                wave: w.value.spec.wave.clone(),
                depends_on: w.value.spec.depends_on.clone(),
                values_from: Vec::new(),
                health: Default::default(),
                prune: Default::default(),
            });
        }
        if self.repo.components.is_empty() && !self.repo.manifests.is_empty() {
            check(
                IMPLICIT_COMPONENT,
                "(implicit component)",
                Span::default(),
                &mut self.diags,
            );
            self.units.push(Unit {
                name: IMPLICIT_COMPONENT.to_owned(),
                kind: UnitKind::Component,
                file: None,
                span: None,
                namespace: self.default_namespace.clone(),
                wave: None,
                depends_on: Vec::new(),
                values_from: Vec::new(),
                health: Default::default(),
                prune: Default::default(),
            });
        }
    }

    fn workload_namespace(&self, namespace: &Option<String>) -> String {
        namespace
            .clone()
            .unwrap_or_else(|| self.default_namespace.clone())
    }

    // ----------------------------------------------------------- sources

    /// Resolves a path written in a component against its directory;
    /// reports paths that leave the repo.
    fn resolve(
        &mut self,
        component: &Located<Component>,
        relative: &str,
        field: &str,
    ) -> Option<String> {
        let resolved = files::resolve(component.dir(), relative);
        if resolved.is_none() {
            // The loader's words (absolute, or leaving the repo) when it
            // refuses the path too.
            let message = match crate::repo::resolve_in_repo(component.dir(), relative) {
                Err(e) => e.to_string(),
                Ok(_) => format!("`{relative}` leaves the config repository"),
            };
            let d = self
                .component_error(component, codes::PATH_OUTSIDE_REPO, message)
                .with_path(field)
                .with_hint(
                    "paths are relative to the component's file and must stay inside the repo",
                );
            self.diags.push(d);
        }
        resolved
    }

    fn not_found(&mut self, component: &Located<Component>, field: &str, message: String) {
        let d = self
            .component_error(component, codes::PATH_NOT_FOUND, message)
            .with_path(field);
        self.diags.push(d);
    }

    /// Resolves a chart component's values files; reports those that
    /// leave the repo or do not exist.
    fn resolve_values_files(
        &mut self,
        c: &Located<Component>,
        files: &[String],
    ) -> Vec<Option<String>> {
        let mut values_files = Vec::new();
        for (i, file) in files.iter().enumerate() {
            let field = format!(".spec.source.helm.valuesFiles[{i}]");
            let resolved = self.resolve(c, file, &field);
            if let Some(path) = &resolved
                && self.files.get(path).is_none()
            {
                self.not_found(
                    c,
                    &field,
                    format!("values file `{file}` ({path}) does not exist"),
                );
            }
            values_files.push(resolved);
        }
        values_files
    }

    pub fn resolve_sources(&mut self) {
        let components = self.components;
        for c in components {
            let name = &c.value.metadata.name;
            let spec = &c.value.spec;
            let source = match (&spec.source.path, &spec.source.helm) {
                (Some(path), None) => {
                    match self.resolve(c, path, ".spec.source.path") {
                        Some(dir) if self.files.under(&dir).is_empty() => {
                            self.not_found(
                            c,
                            ".spec.source.path",
                            format!("source path `{path}` of component `{name}` ({}) holds no files", files::show_dir(&dir)),
                        );
                            Source::Invalid
                        }
                        Some(dir) if self.files.get(&files::join(&dir, CHART_FILE)).is_some() => {
                            // A chart directory: its default values, as
                            // Argo CD renders it.
                            Source::Chart(ChartSource {
                                dir,
                                remote: None,
                                release: name.clone(),
                                values_files: Vec::new(),
                                plain_http: false,
                            })
                        }
                        Some(dir)
                            if super::kustomize::kustomization_file(self.files, &dir).is_some() =>
                        {
                            Source::Kustomize(dir)
                        }
                        Some(dir) => Source::Dir(dir),
                        None => Source::Invalid,
                    }
                }
                (None, Some(helm)) if helm.repo.is_some() => {
                    let values_files = self.resolve_values_files(c, &helm.values_files);
                    Source::Chart(ChartSource {
                        dir: String::new(),
                        remote: Some(RemoteChart {
                            repo: helm.repo.clone().unwrap_or_default(),
                            chart: helm.chart.clone(),
                            version: helm.version.clone().unwrap_or_default(),
                            plain_http: helm.plain_http.unwrap_or(false),
                        }),
                        release: helm.release_name.clone().unwrap_or_else(|| name.clone()),
                        values_files,
                        plain_http: helm.plain_http.unwrap_or(false),
                    })
                }
                (None, Some(helm)) => match self.resolve(c, &helm.chart, ".spec.source.helm.chart")
                {
                    Some(dir) => {
                        let chart_yaml = files::join(&dir, "Chart.yaml");
                        if self.files.get(&chart_yaml).is_none() {
                            self.not_found(
                                c,
                                ".spec.source.helm.chart",
                                format!(
                                    "chart `{}` of component `{name}` is not a Helm chart: {} does not exist",
                                    helm.chart, chart_yaml
                                ),
                            );
                        }
                        let values_files = self.resolve_values_files(c, &helm.values_files);
                        Source::Chart(ChartSource {
                            dir,
                            remote: None,
                            release: helm.release_name.clone().unwrap_or_else(|| name.clone()),
                            values_files,
                            plain_http: helm.plain_http.unwrap_or(false),
                        })
                    }
                    None => Source::Invalid,
                },
                _ => {
                    let d = self
                        .component_error(
                            c,
                            codes::BAD_SOURCE,
                            format!(
                                "component `{name}` must have exactly one source: `path` or `helm`"
                            ),
                        )
                        .with_path(".spec.source");
                    self.diags.push(d);
                    Source::Invalid
                }
            };
            self.sources.push(source);
            let mut hooks = Vec::new();
            for (i, hook) in spec.hooks.iter().enumerate() {
                let resolved = self.resolve(c, &hook.path, &format!(".spec.hooks[{i}].path"));
                if let Some(path) = &resolved {
                    self.not_manifests.insert(path.clone());
                }
                hooks.push(resolved);
            }
            self.hook_files.push(hooks);
        }
    }

    // --------------------------------------------------------- manifests

    pub fn assign_manifests(&mut self) {
        let repo = self.repo;
        // Directory (or file) → the component it belongs to; a later
        // component of the same directory wins. Charts' directories hold
        // no manifests. A manifest belongs to its deepest such directory,
        // found by walking up its path: no search over every component.
        let mut owners: BTreeMap<String, &str> = BTreeMap::new();
        let mut charts: BTreeSet<String> = BTreeSet::new();
        let components = self.components;
        for (c, source) in components.iter().zip(&self.sources) {
            match source {
                Source::Dir(dir) => {
                    owners.insert(dir.clone(), c.value.metadata.name.as_str());
                }
                // A remote chart has no directory in the repo.
                Source::Chart(chart) if chart.remote.is_none() => {
                    charts.insert(chart.dir.clone());
                }
                Source::Chart(_) => {}
                Source::Kustomize(dir) => {
                    charts.insert(dir.clone());
                }
                Source::Invalid => {}
            }
        }
        // `Some(None)`: inside a chart, not a manifest.
        let owner_of = |file: &str| -> Option<Option<&str>> {
            let mut path = file;
            let mut owner = None;
            loop {
                if charts.contains(path) {
                    return Some(None);
                }
                if owner.is_none() {
                    owner = owners.get(path).copied();
                }
                if path.is_empty() {
                    return owner.map(Some);
                }
                path = files::dir_of(path);
            }
        };
        let implicit = repo.components.is_empty();
        let mut orphans: BTreeSet<&str> = BTreeSet::new();
        for doc in &repo.manifests {
            if self.not_manifests.contains(&doc.file) {
                continue;
            }
            let owner = match owner_of(&doc.file) {
                // Inside a chart: not a manifest.
                Some(None) => continue,
                Some(Some(name)) => Some(name),
                None if implicit => Some(IMPLICIT_COMPONENT),
                None => None,
            };
            match owner {
                Some(name) => {
                    if !self.afford_value(
                        &doc.value,
                        || format!("the manifests of component `{name}`"),
                        |d| d.in_file(doc.file.clone()).at(doc.span),
                    ) {
                        return;
                    }
                    // A SOPS-encrypted manifest renders with its
                    // ciphertext; sync and diff decrypt it.
                    let mut value = doc.value.clone();
                    super::sops::strip_metadata(&mut value);
                    self.push_document(name, &doc.file, Some(doc.span), value);
                }
                None => {
                    if orphans.insert(doc.file.as_str()) {
                        self.diags.push(
                            Diagnostic::warning(
                                codes::ORPHAN_MANIFEST,
                                "this manifest is not part of any component and is not rendered",
                            )
                            .in_file(doc.file.clone())
                            .at(doc.span)
                            .with_hint("move it under a component's `source.path` directory, or exclude it in weir.yaml"),
                        );
                    }
                }
            }
        }
    }

    /// Adds the objects of one document (a `List` is flattened) to `component`.
    pub fn push_document(&mut self, component: &str, file: &str, span: Option<Span>, value: Value) {
        for object in self.objects_of(file, span, value) {
            self.objects.push(RenderedObject {
                component: component.to_owned(),
                source_file: file.to_owned(),
                source_span: span,
                id: object.0,
                value: object.1,
                wave: None,
                implied: false,
            });
        }
    }

    /// The objects of a document with their ids; reports non-objects.
    pub fn objects_of(
        &mut self,
        file: &str,
        span: Option<Span>,
        value: Value,
    ) -> Vec<(ObjectRef, Value)> {
        let is_list = crate::object::is_list(&value);
        let items = match value {
            Value::Object(mut map) if is_list => match map.remove("items") {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            },
            other => vec![other],
        };
        let mut out = Vec::new();
        for item in items {
            let problem = if item.is_object() {
                // A hook may have only `generateName`; one that is no hook
                // is reported by `annotation_hooks`.
                match ObjectRef::from_value_or_generated(&item) {
                    Ok((id, _)) => {
                        out.push((id, item));
                        continue;
                    }
                    Err(why) => why.to_string(),
                }
            } else {
                "it is not a mapping".to_owned()
            };
            let mut d = Diagnostic::error(
                codes::NOT_AN_OBJECT,
                format!("this document is not a Kubernetes object: {problem}"),
            )
            .in_file(file)
            .with_hint("every YAML document of a component must be a Kubernetes manifest; exclude other YAML files in weir.yaml");
            if let Some(span) = span {
                d = d.at(span);
            }
            self.diags.push(d);
        }
        out
    }

    // --------------------------------------------------------- workloads

    pub fn render_workloads(&mut self) {
        let pools = &self.settings.node_pools;
        for w in &self.repo.workloads {
            let namespace = self.workload_namespace(&w.value.metadata.namespace);
            for value in workload::render(w, &namespace, pools, &mut self.diags) {
                if !self.afford_value(
                    &value,
                    || format!("workload `{}`", w.value.metadata.name),
                    |d| d.in_file(w.file.clone()).at(w.span),
                ) {
                    return;
                }
                if let Ok(id) = ObjectRef::from_value(&value) {
                    self.objects.push(RenderedObject {
                        component: w.value.metadata.name.clone(),
                        source_file: w.file.clone(),
                        source_span: Some(w.span),
                        id,
                        value,
                        wave: None,
                        implied: false,
                    });
                }
            }
        }
    }

    // ------------------------------------------------------------- hooks

    pub fn render_hooks(&mut self) {
        let repo = self.repo;
        let mut by_file: BTreeMap<&str, Vec<&crate::spec::yaml::Document>> = BTreeMap::new();
        for doc in &repo.manifests {
            by_file.entry(doc.file.as_str()).or_default().push(doc);
        }
        let components = self.components;
        for (c, hook_files) in components.iter().zip(self.hook_files.clone()) {
            let name = &c.value.metadata.name;
            for ((i, hook), path) in c.value.spec.hooks.iter().enumerate().zip(hook_files) {
                let Some(path) = path else { continue };
                let field = format!(".spec.hooks[{i}].path");
                let loaded = by_file
                    .get(path.as_str())
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let mut docs: Vec<(Value, Option<Span>)> = Vec::with_capacity(loaded.len());
                for d in loaded {
                    if !self.afford_value(
                        &d.value,
                        || format!("hook `{}` of component `{name}`", hook.name),
                        |diag| diag.in_file(d.file.clone()).at(d.span),
                    ) {
                        return;
                    }
                    docs.push((d.value.clone(), Some(d.span)));
                }
                if docs.is_empty() {
                    let budget = self.budget;
                    match self
                        .files
                        .get(&path)
                        .map(|bytes| yaml::parse(&path, bytes, budget))
                    {
                        None => {
                            self.not_found(
                                c,
                                &field,
                                format!("hook file `{}` ({path}) does not exist", hook.path),
                            );
                            continue;
                        }
                        Some(Err(e)) => {
                            self.diags.push(*e);
                            continue;
                        }
                        Some(Ok(parsed)) => {
                            docs = parsed.into_iter().map(|(v, s)| (v, Some(s))).collect()
                        }
                    }
                }
                let objects: Vec<_> = docs
                    .into_iter()
                    .flat_map(|(value, span)| {
                        self.objects_of(&path, span, value)
                            .into_iter()
                            .map(move |o| (o, span))
                    })
                    .collect();
                match <[_; 1]>::try_from(objects) {
                    Ok([((id, value), span)]) if id.group == "batch" && id.kind == "Job" => {
                        self.hooks.push(RenderedHook {
                            component: name.clone(),
                            name: hook.name.clone(),
                            phase: hook.phase,
                            delete: hook.delete_policy.into(),
                            weight: 0,
                            origin: hooks::HookOrigin::Weir,
                            timeout: hook.timeout.clone(),
                            object: RenderedObject {
                                component: name.clone(),
                                source_file: path.clone(),
                                source_span: span,
                                id,
                                value,
                                wave: None,
                                implied: false,
                            },
                        });
                    }
                    _ => {
                        let d = self
                            .component_error(
                                c,
                                codes::BAD_HOOK,
                                format!("hook `{}` of component `{name}`: {path} must hold exactly one Job (batch/v1)", hook.name),
                            )
                            .with_path(field);
                        self.diags.push(d);
                    }
                }
            }
        }
    }

    /// Hooks from annotations ([`super::hooks`]): an object of a manifest
    /// directory, chart or kustomization whose `helm.sh/hook` or
    /// `argocd.argoproj.io/hook` names a phase a sync runs becomes a hook
    /// of each such phase, whatever its kind; one naming only phases a
    /// sync never reaches is dropped (and listed by `plan`). An object with
    /// only `generateName` that is no hook is an error ([`codes::GENERATE_NAME`]),
    /// as is an annotation weir cannot use ([`codes::BAD_ANNOTATION`]);
    /// either leaves the object out.
    pub fn annotation_hooks(&mut self) {
        let objects = std::mem::take(&mut self.objects);
        let mut kept = Vec::with_capacity(objects.len());
        for object in objects {
            let reading = hooks::sync_wave(&object.value).and_then(|_| hooks::read(&object.value));
            match reading {
                Err(problem) => {
                    let mut d = Diagnostic::error(
                        codes::BAD_ANNOTATION,
                        format!("{}: {problem}", object.id.qualified()),
                    )
                    .in_file(object.source_file.clone())
                    .with_path(crate::diagnostic::json_path(&problem.pointer()))
                    .with_hint(
                        "weir reads Helm's and Argo CD's hook and sync-wave annotations as those \
                         tools do; fix the value, or remove the annotation",
                    );
                    if let Some(span) = object.source_span {
                        d = d.at(span);
                    }
                    self.diags.push(d);
                }
                Ok(hooks::Reading::NotAHook) => {
                    if crate::object::generate_name(&object.value).is_some() {
                        let mut d = Diagnostic::error(
                            codes::GENERATE_NAME,
                            format!(
                                "{} has `generateName` and no `metadata.name`: only a hook may \
                                 be created with a name the server picks (weir applies every \
                                 other object by name, to find it again on the next sync)",
                                object.id.kind
                            ),
                        )
                        .in_file(object.source_file.clone())
                        .with_path(".metadata.generateName")
                        .with_hint(
                            "give it a `metadata.name`, or make it a hook: annotate it \
                             `argocd.argoproj.io/hook: PreSync` (or `Sync`, `PostSync`) or \
                             `helm.sh/hook: pre-install` (or `post-install`)",
                        );
                        if let Some(span) = object.source_span {
                            d = d.at(span);
                        }
                        self.diags.push(d);
                    } else {
                        kept.push(object);
                    }
                }
                Ok(hooks::Reading::Dropped { annotation }) => {
                    self.dropped.push(DroppedHook {
                        component: object.component.clone(),
                        object: object.id.clone(),
                        annotation,
                    });
                }
                Ok(hooks::Reading::Hook(hook)) => {
                    for phase in hook.phases {
                        self.hooks.push(RenderedHook {
                            component: object.component.clone(),
                            name: object.id.name.clone(),
                            phase,
                            delete: hook.delete,
                            weight: hook.weight,
                            origin: hook.origin,
                            timeout: None,
                            object: object.clone(),
                        });
                    }
                }
            }
        }
        self.objects = kept;
    }

    // ------------------------------------------------------------ finish

    /// Namespaces, patches, implied Namespaces, tracking, a stable order.
    pub fn finish(&mut self) {
        let mut scopes = Scopes::default();
        scopes.learn(
            self.objects
                .iter()
                .filter(|o| is_crd(&o.id.group, &o.id.kind))
                .map(|o| &o.value),
        );
        let namespaces: BTreeMap<String, String> = self
            .units
            .iter()
            .map(|u| (u.name.clone(), u.namespace.clone()))
            .collect();
        let mut warnings = Vec::new();
        let all = self
            .objects
            .iter_mut()
            .chain(self.hooks.iter_mut().map(|h| &mut h.object));
        for object in all {
            default_namespace(object, &scopes, &namespaces, &mut warnings);
        }
        self.diags.extend(warnings);

        self.apply_patches(&scopes);
        self.add_implied_namespaces();
        self.check_namespaces(&scopes, &namespaces);
        for object in self
            .objects
            .iter_mut()
            .chain(self.hooks.iter_mut().map(|h| &mut h.object))
        {
            object.track();
        }
        self.objects.sort_by(|a, b| {
            (
                &a.component,
                &a.id.group,
                &a.id.kind,
                &a.id.namespace,
                &a.id.name,
                &a.source_file,
            )
                .cmp(&(
                    &b.component,
                    &b.id.group,
                    &b.id.kind,
                    &b.id.namespace,
                    &b.id.name,
                    &b.source_file,
                ))
        });
        self.check_duplicates();
    }

    /// Reports every object defined a second time (same group, kind,
    /// namespace and name, whatever the version), naming both places.
    fn check_duplicates(&mut self) {
        let mut seen: BTreeMap<crate::object::ObjectKey, usize> = BTreeMap::new();
        // Implied Namespaces are never next to an explicit one, and several
        // units' implied Namespace of one namespace are one: plan keeps the
        // earliest.
        for (i, o) in self.objects.iter().enumerate().filter(|(_, o)| !o.implied) {
            let first = *seen.entry(o.id.key()).or_insert(i);
            if first == i {
                continue;
            }
            let a = &self.objects[first];
            let place = match a.source_span {
                Some(span) => format!("{}:{span}", a.source_file),
                None => a.source_file.clone(),
            };
            let mut d = Diagnostic::error(
                codes::DUPLICATE_OBJECT,
                format!(
                    "{} is defined twice: here (`{}`) and at {place} (`{}`)",
                    o.id.qualified(),
                    o.component,
                    a.component,
                ),
            )
            .in_file(o.source_file.clone())
            .with_path(".metadata.name")
            .with_hint(
                "an object must come from exactly one place: remove one of them, or give them \
                 different names or namespaces",
            );
            if let Some(span) = o.source_span {
                d = d.at(span);
            }
            self.diags.push(d);
        }
    }

    /// Applies every component's patches to its objects. A patch costs
    /// one node of the budget per object of its component it is matched
    /// against, plus the copy of each object it changes and what it adds.
    fn apply_patches(&mut self, scopes: &Scopes) {
        let components = self.components;
        let mut by_component: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (index, o) in self.objects.iter().enumerate() {
            by_component
                .entry(o.component.as_str())
                .or_default()
                .push(index);
        }
        let by_component: BTreeMap<String, Vec<usize>> = by_component
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        for c in components {
            let name = &c.value.metadata.name;
            let targets = by_component
                .get(name)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for (i, p) in c.value.spec.patches.iter().enumerate() {
                let at_patch = |d: Diagnostic| {
                    d.in_file(c.file.clone())
                        .at(c.span)
                        .with_path(format!(".spec.patches[{i}]"))
                };
                if !self.afford(
                    targets.len() as u64,
                    || format!("patch {i} of component `{name}`"),
                    at_patch,
                ) {
                    return;
                }
                let prepared = match patch::prepare(p) {
                    Ok(prepared) => Some(prepared),
                    Err(failure) => {
                        let d = self
                            .component_error(
                                c,
                                codes::PATCH_FAILED,
                                format!("patch {i} of component `{name}`: {}", describe(&failure)),
                            )
                            .with_path(format!(".spec.patches[{i}]"));
                        self.diags.push(d);
                        None
                    }
                };
                let mut matched = 0usize;
                let mut problems = Vec::new();
                for &index in targets {
                    let Some(object) = self.objects.get(index) else {
                        continue;
                    };
                    if !object.selected_by(&p.target) {
                        continue;
                    }
                    matched += 1;
                    let Some(prepared) = &prepared else { continue };
                    let object_name = object.id.qualified();
                    let copy =
                        budget::weight(&object.value, self.budget.remaining().saturating_add(1));
                    if !self.afford(
                        copy,
                        || format!("patch {i} of component `{name}` on {object_name}"),
                        at_patch,
                    ) {
                        return;
                    }
                    let Some(object) = self.objects.get_mut(index) else {
                        continue;
                    };
                    let mut patched = object.value.clone();
                    let failure = match patch::apply(prepared, &mut patched, self.budget) {
                        Ok(()) => match ObjectRef::from_value(&patched) {
                            Ok(mut id) => {
                                if id.namespace.is_none()
                                    && scopes.scope(&id.group, &id.kind) == Scope::Namespaced
                                {
                                    id.namespace = object.id.namespace.clone();
                                    if let Some(ns) = &id.namespace
                                        && let Some(meta) =
                                            super::object::metadata_mut(&mut patched)
                                    {
                                        meta.insert("namespace".into(), json!(ns));
                                    }
                                }
                                object.id = id;
                                object.value = patched;
                                continue;
                            }
                            Err(why) => format!(
                                "the patched object is no longer a Kubernetes object: {why}"
                            ),
                        },
                        Err(patch::PatchFailure::Budget { op, exhausted }) => {
                            if self.budget.first_report() {
                                let what = match op {
                                    Some(op) => format!(
                                        "operation {op} of patch {i} of component `{name}` on {object_name}"
                                    ),
                                    None => {
                                        format!("patch {i} of component `{name}` on {object_name}")
                                    }
                                };
                                let path = match op {
                                    Some(op) => format!(".spec.patches[{i}].json[{op}]"),
                                    None => format!(".spec.patches[{i}].merge"),
                                };
                                let d = exhausted
                                    .diagnostic(codes::BUDGET, &what)
                                    .in_file(c.file.clone())
                                    .at(c.span)
                                    .with_path(path);
                                self.diags.push(d);
                            }
                            return;
                        }
                        Err(failure) => describe(&failure),
                    };
                    problems.push(format!(
                        "patch {i} of component `{name}` failed on {} ({}): {failure}",
                        object.id.qualified(),
                        object.source_file
                    ));
                }
                for message in problems {
                    let d = self
                        .component_error(c, codes::PATCH_FAILED, message)
                        .with_path(format!(".spec.patches[{i}]"));
                    self.diags.push(d);
                }
                if matched == 0 {
                    self.diags.push(
                        Diagnostic::warning(
                            codes::PATCH_UNMATCHED,
                            format!("patch {i} of component `{name}` matches none of its objects"),
                        )
                        .in_file(c.file.clone())
                        .at(c.span)
                        .with_path(format!(".spec.patches[{i}].target"))
                        .with_hint("check the target's kind, name, namespace and labels against `weir render --component`"),
                    );
                }
            }
        }
    }

    /// The Namespace of each unit's target namespace, when the unit names
    /// its namespace itself (component `namespace`, workload
    /// `metadata.namespace`; not weir.yaml's default) and wants it
    /// (`createNamespace`, default true), has objects there, the namespace
    /// is not a system one, and no object of the repo already is that
    /// Namespace. Several units may claim one; `plan` keeps the earliest.
    /// Warns about objects in a namespace that nothing creates: not the
    /// repo (a Namespace object, or a unit that creates its target
    /// namespace), not the cluster (`kube-system`, ...), and not their
    /// unit's own target namespace.
    fn check_namespaces(&mut self, scopes: &Scopes, targets: &BTreeMap<String, String>) {
        let mut created: BTreeSet<&str> = SYSTEM_NAMESPACES.into_iter().collect();
        created.extend(
            self.objects
                .iter()
                .filter(|o| o.id.is_namespace())
                .map(|o| o.id.name.as_str()),
        );
        created.extend(
            self.units
                .iter()
                .filter(|u| self.create_namespace.contains(&u.name))
                .map(|u| u.namespace.as_str()),
        );
        let mut warnings = Vec::new();
        for o in self
            .objects
            .iter()
            .chain(self.hooks.iter().map(|h| &h.object))
        {
            let Some(ns) = o.id.namespace.as_deref() else {
                continue;
            };
            let target = targets.get(&o.component).map(String::as_str);
            if created.contains(ns)
                || target == Some(ns)
                || scopes.scope(&o.id.group, &o.id.kind) == Scope::Cluster
            {
                continue;
            }
            let whose = if self.repo.components.is_empty() && self.repo.workloads.is_empty() {
                "the repo's default namespace".to_owned()
            } else {
                format!("`{}`'s target namespace", o.component)
            };
            let target = target.unwrap_or(&self.default_namespace);
            let mut d = Diagnostic::warning(
                codes::UNDEFINED_NAMESPACE,
                format!(
                    "namespace `{ns}` is not created by the repo and is not {whose} (`{target}`)"
                ),
            )
            .in_file(o.source_file.clone())
            .with_path(".metadata.namespace")
            .with_hint(format!(
                "add a Namespace `{ns}` to the repo, or a component with `namespace: {ns}`, \
                 or drop `metadata.namespace` to use `{target}`"
            ));
            if let Some(span) = o.source_span {
                d = d.at(span);
            }
            warnings.push(d);
        }
        self.diags.extend(warnings);
    }

    fn add_implied_namespaces(&mut self) {
        let explicit: BTreeSet<&str> = self
            .objects
            .iter()
            .filter(|o| o.id.group.is_empty() && o.id.kind == "Namespace")
            .map(|o| o.id.name.as_str())
            .collect();
        // Which units have objects in which namespaces, once.
        let used: BTreeSet<(&str, &str)> = self
            .objects
            .iter()
            .chain(self.hooks.iter().map(|h| &h.object))
            .filter_map(|o| Some((o.component.as_str(), o.id.namespace.as_deref()?)))
            .collect();
        let mut implied = Vec::new();
        for unit in &self.units {
            let ns = unit.namespace.as_str();
            if !self.create_namespace.contains(&unit.name)
                || SYSTEM_NAMESPACES.contains(&ns)
                || explicit.contains(ns)
            {
                continue;
            }
            if !used.contains(&(unit.name.as_str(), ns)) {
                continue;
            }
            let value = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            if let Ok(id) = ObjectRef::from_value(&value) {
                implied.push(RenderedObject {
                    component: unit.name.clone(),
                    source_file: unit.file.clone().unwrap_or_else(|| "weir.yaml".to_owned()),
                    source_span: unit.span,
                    id,
                    value,
                    wave: None,
                    implied: true,
                });
            }
        }
        self.objects.extend(implied);
    }
}

/// Gives a namespaced object without a namespace its unit's namespace, and
/// takes the namespace off a cluster-scoped object (with a warning).
fn default_namespace(
    object: &mut RenderedObject,
    scopes: &Scopes,
    namespaces: &BTreeMap<String, String>,
    warnings: &mut Vec<Diagnostic>,
) {
    match (
        scopes.scope(&object.id.group, &object.id.kind),
        object.id.namespace.clone(),
    ) {
        (Scope::Namespaced, None) => {
            if let Some(ns) = namespaces.get(&object.component) {
                object.set_namespace(Some(ns));
            }
        }
        (Scope::Cluster, Some(ns)) => {
            let mut d = Diagnostic::warning(
                codes::CLUSTER_SCOPED_NAMESPACE,
                format!(
                    "{} is cluster-scoped; its namespace `{ns}` is ignored",
                    object.id.kind
                ),
            )
            .in_file(object.source_file.clone())
            .with_path(".metadata.namespace")
            .with_hint("remove `metadata.namespace` from this object");
            if let Some(span) = object.source_span {
                d = d.at(span);
            }
            warnings.push(d);
            object.set_namespace(None);
        }
        _ => {}
    }
}

/// A patch failure in words (the budget's is a finding of its own).
fn describe(failure: &patch::PatchFailure) -> String {
    match failure {
        patch::PatchFailure::Failed(e) => e.clone(),
        patch::PatchFailure::BadOperations(e) => {
            format!("`json` is not a list of JSON Patch operations: {e}")
        }
        patch::PatchFailure::NotExactlyOne => {
            "a patch needs exactly one of `merge` or `json`".to_owned()
        }
        patch::PatchFailure::Budget { exhausted, .. } => exhausted.to_string(),
    }
}
