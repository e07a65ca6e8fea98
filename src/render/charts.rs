//! Chart components: their values (files, `valuesFrom` resolved in
//! dependency order, inline; see [`super::values`]) and their rendering
//! by `helm template`, several charts at once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Map, Value};

use super::helm::{ChartOutput, ChartRenderer, ChartRequest, split_output};
use super::object::RenderedObject;
use super::remote::{ChartFetch, Fetched};
use super::sources::{ChartSource, Context, Source};
use super::{Result, codes, values, yaml};
use crate::budget;
use crate::diagnostic::Diagnostic;

/// Files by path relative to a chart's directory, owned.
type OwnedFiles = Vec<(String, Vec<u8>)>;
/// Files by path relative to a chart's directory, borrowed.
type ChartFiles<'a> = Vec<(String, &'a [u8])>;

/// Most `Chart.yaml` dependencies weir fetches for one chart.
const MAX_DEPENDENCIES: usize = 32;

/// Upper bound on charts rendered at once by default.
const MAX_PARALLEL: usize = 4;

/// Computes every chart component's values, renders the charts, and adds
/// their objects (hooks among them, which `annotation_hooks` sorts out)
/// to the context.
pub(super) fn render_charts(
    ctx: &mut Context<'_>,
    charts: &dyn ChartRenderer,
    kube_version: &str,
    parallelism: Option<usize>,
) -> Result<()> {
    let remote = fetch_remote(ctx, charts)?;
    let user_values = resolve_values(ctx, &remote);
    if ctx.budget.is_exhausted() {
        return Ok(());
    }
    let files = ctx.files;
    let budget = ctx.budget;
    let components = ctx.components;

    // Each chart's files (the repo's, or the fetched archive's), then the
    // dependencies its Chart.yaml declares and it does not carry.
    let mut chart_files: BTreeMap<&str, (String, ChartFiles<'_>)> = BTreeMap::new();
    let mut dependency_archives: BTreeMap<&str, OwnedFiles> = BTreeMap::new();
    let sources = ctx.sources.clone();
    for (c, source) in components.iter().zip(&sources) {
        let name = c.value.metadata.name.as_str();
        let (Source::Chart(chart), true) = (source, user_values.contains_key(name)) else {
            continue;
        };
        let (label, listed): (String, ChartFiles<'_>) = match &chart.remote {
            Some(_) => match remote.get(name) {
                Some(fetched) => (
                    fetched.label.clone(),
                    fetched
                        .files
                        .iter()
                        .map(|(path, bytes)| (path.clone(), bytes.as_slice()))
                        .collect(),
                ),
                None => continue,
            },
            None => {
                let prefix_len = if chart.dir.is_empty() {
                    0
                } else {
                    chart.dir.len() + 1
                };
                (
                    chart.dir.clone(),
                    files
                        .under(&chart.dir)
                        .into_iter()
                        .map(|(path, bytes)| (path[prefix_len.min(path.len())..].to_owned(), bytes))
                        .collect(),
                )
            }
        };
        match fetch_dependencies(ctx, charts, c, chart, &label, &listed)? {
            Some(archives) => {
                dependency_archives.insert(name, archives);
                chart_files.insert(name, (label, listed));
            }
            // A dependency could not be fetched: reported, not rendered.
            None => continue,
        }
    }

    let mut jobs = Vec::new();
    for (c, source) in components.iter().zip(&ctx.sources) {
        let name = c.value.metadata.name.as_str();
        let (Source::Chart(chart), Some(values)) = (source, user_values.get(name)) else {
            continue;
        };
        let Some((label, listed)) = chart_files.get(name) else {
            continue;
        };
        let mut files: Vec<(&str, &[u8])> = listed
            .iter()
            .map(|(path, bytes)| (path.as_str(), *bytes))
            .collect();
        files.extend(
            dependency_archives
                .get(name)
                .into_iter()
                .flatten()
                .map(|(path, bytes)| (path.as_str(), bytes.as_slice())),
        );
        let namespace = ctx
            .units
            .iter()
            .find(|u| u.name == name)
            .map_or(ctx.default_namespace.as_str(), |u| u.namespace.as_str());
        jobs.push(ChartRequest {
            component: name,
            chart_dir: label.as_str(),
            files,
            release_name: &chart.release,
            namespace,
            values,
            kube_version,
            timeout: budget.limits().helm_timeout,
            max_output: budget.limits().max_helm_output,
            max_memory: budget.limits().max_helm_memory,
        });
    }
    if jobs.is_empty() {
        return Ok(());
    }

    let workers = parallelism
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, usize::from)
                .min(MAX_PARALLEL)
        })
        .clamp(1, jobs.len());
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<ChartOutput>>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let outcome = charts.template(job);
                    if let Ok(mut slots) = results.lock()
                        && let Some(slot) = slots.get_mut(i)
                    {
                        *slot = Some(outcome);
                    }
                }
            });
        }
    });
    let results = results
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());

    let by_name: BTreeMap<&str, _> = components
        .iter()
        .map(|c| (c.value.metadata.name.as_str(), c))
        .collect();
    let mut rendered = Vec::new();
    for (job, outcome) in jobs.iter().zip(results) {
        match outcome {
            // A worker that died left no result: treat it like helm failing.
            None => rendered.push((
                job.component.to_owned(),
                job.chart_dir.to_owned(),
                Err("helm did not report a result".to_owned()),
            )),
            Some(Err(e)) => return Err(e),
            Some(Ok(ChartOutput::Rendered(text))) => {
                rendered.push((job.component.to_owned(), job.chart_dir.to_owned(), Ok(text)))
            }
            Some(Ok(ChartOutput::Failed(message))) => rendered.push((
                job.component.to_owned(),
                job.chart_dir.to_owned(),
                Err(message),
            )),
            Some(Ok(ChartOutput::Stopped(why))) => {
                if let Some(c) = by_name.get(job.component).copied() {
                    let d = ctx
                        .component_error(c, codes::HELM_LIMIT, why.message(job.component))
                        .with_path(".spec.source.helm.chart")
                        .with_hint(why.hint());
                    ctx.diags.push(d);
                }
            }
        }
    }
    drop(jobs);

    for (component, chart_dir, outcome) in rendered {
        let Some(c) = by_name.get(component.as_str()).copied() else {
            continue;
        };
        ctx.generated.insert(component.clone());
        match outcome {
            Err(message) => {
                let d = ctx
                    .component_error(
                        c,
                        codes::HELM_FAILED,
                        format!(
                            "helm could not render the chart of component `{component}`:\n{message}"
                        ),
                    )
                    .with_path(".spec.source.helm");
                ctx.diags.push(d);
            }
            Ok(text) => {
                for (source, chunk) in split_output(&text, &chart_dir) {
                    if budget.is_exhausted() {
                        break;
                    }
                    match yaml::parse(&source, chunk.as_bytes(), budget) {
                        Err(e) => ctx.diags.push(
                            Diagnostic::error(
                                codes::BAD_YAML,
                                format!(
                                    "helm rendered invalid YAML for component `{component}`: {}",
                                    e.message
                                ),
                            )
                            .in_file(source.clone()),
                        ),
                        Ok(docs) => {
                            for (value, _) in docs {
                                for (id, value) in ctx.objects_of(&source, None, value) {
                                    let object = RenderedObject {
                                        component: component.clone(),
                                        source_file: source.clone(),
                                        source_span: None,
                                        id,
                                        value,
                                        wave: None,
                                        implied: false,
                                    };
                                    ctx.objects.push(object);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// A remote chart, fetched and unpacked.
pub(super) struct RemoteFiles {
    /// `chart-version`: what its objects' source files are named under.
    pub label: String,
    /// Its files, paths relative to the chart's directory.
    pub files: OwnedFiles,
}

/// Fetches (or finds in the cache) every remote chart, one by one, and
/// unpacks it; what cannot be fetched or read is reported (`E0219`), and
/// that component is not rendered.
fn fetch_remote(
    ctx: &mut Context<'_>,
    charts: &dyn ChartRenderer,
) -> Result<BTreeMap<String, RemoteFiles>> {
    let mut fetched = BTreeMap::new();
    let components = ctx.components;
    for (c, source) in components.iter().zip(ctx.sources.clone()) {
        let name = c.value.metadata.name.as_str();
        let Source::Chart(ChartSource {
            remote: Some(remote),
            ..
        }) = source
        else {
            continue;
        };
        let request = ChartFetch {
            component: name,
            repo: &remote.repo,
            chart: &remote.chart,
            version: &remote.version,
            plain_http: remote.plain_http,
            max_memory: ctx.budget.limits().max_helm_memory,
            dependency_of: None,
        };
        let what = format!("chart `{}` version `{}`", remote.chart, remote.version);
        if let Some((resolved, files)) = fetch_one(ctx, charts, c, &request, &what)? {
            let label = format!("{}-{}", resolved.chart, resolved.version);
            ctx.charts
                .entry(name.to_owned())
                .or_default()
                .push(resolved);
            fetched.insert(name.to_owned(), RemoteFiles { label, files });
        }
    }
    Ok(fetched)
}

/// Fetches one chart and unpacks it; `None` when it was not fetched (for
/// want of helm, or reported as `E0219`). `what` names it in the finding.
fn fetch_one(
    ctx: &mut Context<'_>,
    charts: &dyn ChartRenderer,
    c: &crate::spec::repo::Located<crate::spec::model::Component>,
    request: &ChartFetch<'_>,
    what: &str,
) -> Result<Option<(super::remote::Resolved, OwnedFiles)>> {
    let name = request.component;
    let shown = crate::repo::redact_url(request.repo);
    let message = match charts.fetch(request)? {
        Fetched::Archive { resolved, bytes } => match super::archive::chart_files(&bytes) {
            Ok(files) => return Ok(Some((resolved, files))),
            Err(e) => e.to_string(),
        },
        Fetched::Skipped => return Ok(None),
        Fetched::Failed(message) | Fetched::Unreachable(message) => message,
    };
    let d = ctx
        .component_error(
            c,
            codes::CHART_FETCH_FAILED,
            format!("could not fetch {what} of component `{name}` from {shown}:\n{message}"),
        )
        .with_path(".spec.source.helm")
        .with_hint(format!(
            "check the repository URL, that it has this chart and version (`helm search repo` / \
             `helm show chart`), and its credentials (the file {} names, or the agent's chart \
             credentials Secret); nothing of this repo is applied until it is fetched",
            super::remote::CREDENTIALS_ENV
        ));
    ctx.diags.push(d);
    Ok(None)
}

/// One entry of a `Chart.yaml`'s `dependencies:`.
struct Dependency {
    name: String,
    version: String,
    repository: String,
}

/// The dependencies `Chart.yaml` (of `files`) declares with a chart
/// repository (`https://`, `http://`) or registry (`oci://`) that the
/// chart does not carry in its `charts/` directory. Others (`file://`,
/// vendored ones) are helm's.
fn missing_dependencies(
    ctx: &Context<'_>,
    label: &str,
    files: &[(String, &[u8])],
) -> Vec<Dependency> {
    let Some((_, chart_yaml)) = files.iter().find(|(p, _)| p == "Chart.yaml") else {
        return Vec::new();
    };
    let path = if label.is_empty() {
        "Chart.yaml".to_owned()
    } else {
        format!("{label}/Chart.yaml")
    };
    let Ok(docs) = yaml::parse(&path, chart_yaml, ctx.budget) else {
        // helm reports a Chart.yaml it cannot read.
        return Vec::new();
    };
    let Some((doc, _)) = docs.into_iter().next() else {
        return Vec::new();
    };
    let text = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    doc.get("dependencies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|d| Dependency {
            name: text(d, "name"),
            version: text(d, "version"),
            repository: text(d, "repository"),
        })
        .filter(|d| {
            !d.name.is_empty()
                && ["https://", "http://", "oci://"]
                    .iter()
                    .any(|s| d.repository.starts_with(s))
        })
        .filter(|d| {
            let archive = format!("charts/{}-", d.name);
            let dir = format!("charts/{}/Chart.yaml", d.name);
            !files
                .iter()
                .any(|(p, _)| p == &dir || (p.starts_with(&archive) && p.ends_with(".tgz")))
        })
        .collect()
}

/// Fetches the dependencies of a chart (see [`missing_dependencies`]) the
/// way its own chart is fetched (cache, digest, credentials), recording
/// each resolution; returns their archives as `charts/<name>-<version>.tgz`
/// files of the chart, or `None` when one could not be fetched (reported).
fn fetch_dependencies(
    ctx: &mut Context<'_>,
    charts: &dyn ChartRenderer,
    c: &crate::spec::repo::Located<crate::spec::model::Component>,
    chart: &ChartSource,
    label: &str,
    files: &[(String, &[u8])],
) -> Result<Option<OwnedFiles>> {
    let name = c.value.metadata.name.as_str();
    let parent = files
        .iter()
        .find(|(p, _)| p == "Chart.yaml")
        .and_then(|(_, bytes)| yaml::parse("Chart.yaml", bytes, ctx.budget).ok())
        .and_then(|docs| docs.into_iter().next())
        .and_then(|(doc, _)| doc.get("name").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| name.to_owned());
    let missing = missing_dependencies(ctx, label, files);
    if missing.len() > MAX_DEPENDENCIES {
        // Each fetch may take a minute: a repo does not get to make weir
        // fetch without end.
        let d = ctx
            .component_error(
                c,
                codes::CHART_FETCH_FAILED,
                format!(
                    "chart `{parent}` of component `{name}` declares {} dependencies to fetch, \
                     more than weir fetches for one chart ({MAX_DEPENDENCIES})",
                    missing.len()
                ),
            )
            .with_path(".spec.source.helm")
            .with_hint(
                "vendor the dependencies in the chart's charts/ directory (`helm dependency \
                 build`), or split the chart",
            );
        ctx.diags.push(d);
        return Ok(None);
    }
    let mut archives = Vec::new();
    let mut ok = true;
    for dep in missing {
        let request = ChartFetch {
            component: name,
            repo: &dep.repository,
            chart: &dep.name,
            version: if dep.version.is_empty() {
                "*"
            } else {
                &dep.version
            },
            plain_http: chart.plain_http,
            max_memory: ctx.budget.limits().max_helm_memory,
            dependency_of: Some(&parent),
        };
        let what = format!(
            "chart `{}` version `{}` (a dependency of chart `{parent}` in its Chart.yaml)",
            dep.name, request.version
        );
        match charts.fetch(&request)? {
            Fetched::Archive { resolved, bytes } => {
                archives.push((
                    format!("charts/{}-{}.tgz", resolved.chart, resolved.version),
                    bytes,
                ));
                ctx.charts
                    .entry(name.to_owned())
                    .or_default()
                    .push(resolved);
            }
            Fetched::Skipped => ok = false,
            Fetched::Failed(message) | Fetched::Unreachable(message) => {
                let shown = crate::repo::redact_url(&dep.repository);
                let d = ctx
                    .component_error(
                        c,
                        codes::CHART_FETCH_FAILED,
                        format!(
                            "could not fetch {what} of component `{name}` from {shown}:\n{message}"
                        ),
                    )
                    .with_path(".spec.source.helm")
                    .with_hint(format!(
                        "check the dependency's `repository` and `version` in the chart's Chart.yaml, \
                         and the repository's credentials (the file {} names, or the agent's chart \
                         credentials Secret); nothing of this repo is applied until it is fetched",
                        super::remote::CREDENTIALS_ENV
                    ));
                ctx.diags.push(d);
                ok = false;
            }
        }
    }
    Ok(ok.then_some(archives))
}

/// Resolves the values of every chart component in `valuesFrom` order.
/// Fills `ctx.values` with effective values and returns the values given
/// to helm (without the chart's defaults, which helm adds itself).
/// Components in a `valuesFrom` cycle are left out (`plan` reports the
/// cycle), as are those whose values could not be built.
fn resolve_values(
    ctx: &mut Context<'_>,
    remote: &BTreeMap<String, RemoteFiles>,
) -> BTreeMap<String, Value> {
    let components = ctx.components;
    let index: BTreeMap<&str, usize> = components
        .iter()
        .enumerate()
        .map(|(i, c)| (c.value.metadata.name.as_str(), i))
        .collect();

    // Kahn's algorithm over valuesFrom edges, ties broken by name.
    let mut pending: Vec<BTreeSet<usize>> = components
        .iter()
        .map(|c| {
            c.value
                .spec
                .values_from
                .iter()
                .filter_map(|v| index.get(v.component.as_str()).copied())
                .collect()
        })
        .collect();
    let mut ready: BTreeSet<(&str, usize)> = components
        .iter()
        .enumerate()
        .filter(|(i, _)| pending[*i].is_empty())
        .map(|(i, c)| (c.value.metadata.name.as_str(), i))
        .collect();
    let mut order = Vec::new();
    while let Some(first) = ready.pop_first() {
        let (_, done) = first;
        order.push(done);
        for (i, deps) in pending.iter_mut().enumerate() {
            if deps.remove(&done) && deps.is_empty() {
                ready.insert((components[i].value.metadata.name.as_str(), i));
            }
        }
    }

    // `valuesFrom` naming no component, whatever the component's source.
    for c in components {
        for (k, from) in c.value.spec.values_from.iter().enumerate() {
            if index.contains_key(from.component.as_str()) {
                continue;
            }
            let suggestion =
                crate::diagnostic::did_you_mean(&from.component, index.keys().copied())
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
            let d = ctx
                .component_error(
                    c,
                    codes::VALUES_FROM_UNKNOWN,
                    format!(
                        "component `{}` reads values from `{}`, which is not a component of this repo{suggestion}",
                        c.value.metadata.name, from.component
                    ),
                )
                .with_path(format!(".spec.valuesFrom[{k}].component"));
            ctx.diags.push(d);
        }
    }

    let mut user_values = BTreeMap::new();
    for i in order {
        let c = &components[i];
        let name = c.value.metadata.name.as_str();
        let spec = &c.value.spec;
        let Source::Chart(chart) = ctx.sources[i].clone() else {
            if !spec.values_from.is_empty()
                && matches!(ctx.sources[i], Source::Dir(_) | Source::Kustomize(_))
            {
                let d = ctx
                    .component_error(
                        c,
                        codes::VALUES_FROM_NOT_CHART,
                        format!("component `{name}` reads values with `valuesFrom`, but only Helm chart components have values"),
                    )
                    .with_path(".spec.valuesFrom");
                ctx.diags.push(d);
            }
            continue;
        };
        let mut ok = true;

        let mut defaults = Value::Object(Map::new());
        let values_yaml = if chart.dir.is_empty() {
            "values.yaml".to_owned()
        } else {
            format!("{}/values.yaml", chart.dir)
        };
        // A remote chart's defaults are its archive's values.yaml.
        match (&chart.remote, remote.get(name)) {
            (None, _) => {
                if let Some(bytes) = ctx.files.get(&values_yaml) {
                    ok &= merge_file(ctx, &values_yaml, bytes, &mut defaults);
                }
            }
            (Some(_), Some(fetched)) => {
                if let Some((_, bytes)) = fetched.files.iter().find(|(p, _)| p == "values.yaml") {
                    let path = format!("{}/values.yaml", fetched.label);
                    ok &= merge_file(ctx, &path, bytes, &mut defaults);
                }
            }
            (Some(_), None) => {}
        }

        let mut user = Value::Object(Map::new());
        for path in chart.values_files.iter().flatten() {
            match ctx.files.get(path) {
                Some(bytes) => ok &= merge_file(ctx, path, bytes, &mut user),
                None => ok = false, // reported while resolving sources
            }
        }
        for (k, from) in spec.values_from.iter().enumerate() {
            let field = format!(".spec.valuesFrom[{k}]");
            let Some(&source_index) = index.get(from.component.as_str()) else {
                // Reported for every component before values are resolved.
                ok = false;
                continue;
            };
            if !matches!(ctx.sources[source_index], Source::Chart(_)) {
                if matches!(
                    ctx.sources[source_index],
                    Source::Dir(_) | Source::Kustomize(_)
                ) {
                    let d = ctx
                        .component_error(
                            c,
                            codes::VALUES_FROM_NOT_CHART,
                            format!("component `{name}` reads values from `{}`, which is not a Helm chart component and has no values", from.component),
                        )
                        .with_path(format!("{field}.component"));
                    ctx.diags.push(d);
                }
                ok = false;
                continue;
            }
            let Some(source_values) = ctx.values.get(&from.component) else {
                // Its values failed to build; that is reported already.
                ok = false;
                continue;
            };
            let path = from.path.as_deref().unwrap_or("");
            let cap = ctx.budget.remaining().saturating_add(1);
            let nodes = values::get(source_values, path).map(|v| budget::weight(v, cap));
            match nodes {
                Some(nodes) => {
                    let from_name = &from.component;
                    if !ctx.afford(
                        nodes,
                        || format!("`valuesFrom` {k} of component `{name}` (from `{from_name}`)"),
                        |d| {
                            d.in_file(c.file.clone())
                                .at(c.span)
                                .with_path(field.clone())
                        },
                    ) {
                        return user_values;
                    }
                    let copied = ctx
                        .values
                        .get(&from.component)
                        .and_then(|all| values::get(all, path))
                        .cloned()
                        .unwrap_or_default();
                    values::set(&mut user, &from.to, copied);
                }
                None => {
                    let d = ctx
                        .component_error(
                            c,
                            codes::VALUES_FROM_MISSING_PATH,
                            format!(
                                "component `{name}` reads `{path}` from the values of `{}`, which have no such path",
                                from.component
                            ),
                        )
                        .with_path(format!("{field}.path"))
                        .with_hint(format!(
                            "the values of `{}` are its chart's values.yaml, then its valuesFiles, valuesFrom and inline values; check the dotted path against them",
                            from.component
                        ));
                    ctx.diags.push(d);
                    ok = false;
                }
            }
        }
        if let Some(inline) = spec.source.helm.as_ref().and_then(|h| h.values.as_ref()) {
            if !ctx.afford_value(
                inline,
                || format!("the inline values of component `{name}`"),
                |d| {
                    d.in_file(c.file.clone())
                        .at(c.span)
                        .with_path(".spec.source.helm.values")
                },
            ) {
                return user_values;
            }
            values::merge(&mut user, inline.clone());
        }
        if ok {
            // Coalescing copies the user's values over the chart's.
            if !ctx.afford_value(
                &user,
                || format!("the values of component `{name}`"),
                |d| {
                    d.in_file(c.file.clone())
                        .at(c.span)
                        .with_path(".spec.source.helm")
                },
            ) {
                return user_values;
            }
            values::coalesce(&mut defaults, &user);
            ctx.values.insert(name.to_owned(), defaults);
            user_values.insert(name.to_owned(), user);
        }
    }
    user_values
}

/// Merges every document of a values file into `into`; reports bad YAML.
fn merge_file(ctx: &mut Context<'_>, path: &str, bytes: &[u8], into: &mut Value) -> bool {
    match yaml::parse(path, bytes, ctx.budget) {
        Ok(docs) => {
            for (doc, _) in docs {
                if doc.is_object() {
                    values::merge(into, doc);
                } else {
                    ctx.diags.push(
                        Diagnostic::error(
                            codes::BAD_YAML,
                            "a values file must be a mapping of values",
                        )
                        .in_file(path),
                    );
                    return false;
                }
            }
            true
        }
        Err(e) => {
            // The loader's diagnostic: file, position, code.
            ctx.diags.push(*e);
            false
        }
    }
}
