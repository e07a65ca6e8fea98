//! Directory components: a directory holding a Helm chart (`Chart.yaml`)
//! or a kustomization ([`KUSTOMIZATION_FILES`]) that no Component claims
//! is a component of its own, as an Argo CD Application pointed at it
//! would be: a chart renders with its default values, a kustomization
//! through `kustomize build`.
//!
//! Which directories: every one whose marker file weir.yaml's
//! `include`/`exclude` select ([`FileFilter`]), that is not hidden, not
//! inside a chart (subcharts belong to their parent), not a kustomization
//! that another kustomization names (a base, or a kustomize component),
//! and not the source (`path`, `helm.chart`) of a Component. Its name is
//! the directory's last segment (a chart at the repo root takes its
//! chart's name, a kustomization there is `default`), lowercased, with
//! anything but letters, digits and `-` made `-`. Two directories of one
//! name are reported like two Components of one name.

use std::collections::BTreeSet;

use serde_json::Value;

use super::files::{self, Files};
use super::kustomize;
use crate::budget::Budget;
use crate::diagnostic::Span;
use crate::spec::filter::FileFilter;
use crate::spec::model::{API_VERSION, Component, ComponentSpec, Metadata, RepositorySpec, Source};
use crate::spec::repo::{ConfigRepo, IMPLICIT_COMPONENT, Located};
use crate::spec::yaml::{CHART_FILE, KUSTOMIZATION_FILES};

/// The Components of the repo that are directories (see the module
/// documentation), each located at its marker file, with
/// `source.path: .`: rendering sees by the marker whether it is a chart
/// or a kustomization.
pub(super) fn components(
    repo: &ConfigRepo,
    files: &dyn Files,
    settings: &RepositorySpec,
    budget: &Budget,
) -> Vec<Located<Component>> {
    let include: Vec<&str> = settings.include.iter().map(String::as_str).collect();
    let exclude: Vec<&str> = settings.exclude.iter().map(String::as_str).collect();
    // A glob that does not parse is validation's finding; then every
    // marker counts.
    let filter = FileFilter::new(&include, &exclude).unwrap_or_default();

    // (dir, marker file, is a chart)
    let mut markers: Vec<(&str, &str, bool)> = Vec::new();
    for (path, _) in files.under("") {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let chart = name == CHART_FILE;
        if !(chart || KUSTOMIZATION_FILES.contains(&name))
            || path.split('/').any(|segment| segment.starts_with('.'))
            || !filter.selects(path)
        {
            continue;
        }
        markers.push((dir, path, chart));
    }
    if markers.is_empty() {
        return Vec::new();
    }
    let charts: Vec<&str> = markers
        .iter()
        .filter(|(_, _, chart)| *chart)
        .map(|(dir, _, _)| *dir)
        .collect();
    let mut claimed: BTreeSet<String> = BTreeSet::new();
    for c in &repo.components {
        let source = &c.value.spec.source;
        let written = source
            .path
            .as_deref()
            .or(source.helm.as_ref().map(|h| h.chart.as_str()));
        if let Some(dir) = written.and_then(|w| files::resolve(c.dir(), w)) {
            claimed.insert(dir);
        }
    }
    for (dir, _, chart) in &markers {
        if *chart {
            continue;
        }
        if let Some((_, Ok(value))) = parse_quietly(files, dir, budget) {
            for (_, _, entry) in kustomize::references(&value) {
                if let Some(target) = files::resolve(dir, entry) {
                    claimed.insert(target);
                }
            }
        }
    }

    let mut out = Vec::new();
    let mut taken: BTreeSet<&str> = BTreeSet::new();
    for (dir, marker, chart) in &markers {
        let inside_chart = charts
            .iter()
            .any(|c| *c != *dir && files::is_within(dir, c));
        if inside_chart || claimed.contains(*dir) || !taken.insert(*dir) {
            continue;
        }
        let name = match (dir.rsplit('/').next(), chart) {
            (Some(last), _) if !last.is_empty() => last.to_owned(),
            (_, true) => chart_name(files, marker).unwrap_or_else(|| IMPLICIT_COMPONENT.to_owned()),
            (_, false) => IMPLICIT_COMPONENT.to_owned(),
        };
        out.push(Located {
            file: (*marker).to_owned(),
            span: Span { line: 1, column: 1 },
            value: Component {
                api_version: API_VERSION.to_owned(),
                kind: "Component".to_owned(),
                metadata: Metadata {
                    name: sanitize(&name),
                    namespace: None,
                    labels: Default::default(),
                    annotations: Default::default(),
                },
                spec: ComponentSpec {
                    source: Source {
                        path: Some(".".to_owned()),
                        helm: None,
                    },
                    ..ComponentSpec::default()
                },
            },
        });
    }
    out
}

/// A kustomization parsed without reporting (rendering reports it when it
/// builds), charged to `budget`.
fn parse_quietly(
    files: &dyn Files,
    dir: &str,
    budget: &Budget,
) -> Option<(String, Result<Value, ()>)> {
    let path = kustomize::kustomization_file(files, dir)?;
    let bytes = files.get(&path)?;
    let value = super::yaml::parse(&path, bytes, budget)
        .map(|docs| docs.into_iter().next().map(|(v, _)| v).unwrap_or_default())
        .map_err(|_| ());
    Some((path, value))
}

/// The `name` of a Chart.yaml.
fn chart_name(files: &dyn Files, path: &str) -> Option<String> {
    let bytes = files.get(path)?;
    let docs =
        crate::spec::yaml::parse_documents(path, bytes, &crate::spec::yaml::YamlLimits::default())
            .ok()?;
    docs.into_iter()
        .next()?
        .value
        .get("name")?
        .as_str()
        .map(str::to_owned)
}

/// A directory name as a component name: lowercase letters, digits and
/// `-`, at most 63 characters, never empty.
fn sanitize(name: &str) -> String {
    let mapped = crate::object::name_chars(name);
    let trimmed: String = mapped.trim_matches('-').chars().take(63).collect();
    let trimmed = trimmed.trim_end_matches('-');
    if trimmed.is_empty() {
        IMPLICIT_COMPONENT.to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The repo snapshot of `files` (path, content).
    fn tree(files: &[(&str, &str)]) -> crate::repo::FileTree {
        files.iter().copied().collect()
    }

    #[test]
    fn charts_and_root_kustomizations_are_components_bases_and_subcharts_are_not() {
        let files = tree(&[
            ("apps/Web_App/Chart.yaml", "name: web\nversion: 1.0.0\n"),
            ("apps/Web_App/charts/sub/Chart.yaml", "name: sub\n"),
            ("base/kustomization.yaml", "resources: [d.yaml]\n"),
            (
                "overlays/prod/kustomization.yaml",
                "resources: [../../base]\n",
            ),
            ("claimed/Chart.yaml", "name: claimed\n"),
            (".hidden/Chart.yaml", "name: hidden\n"),
        ]);
        let component: Component = serde_json::from_value(serde_json::json!({
            "apiVersion": API_VERSION, "kind": "Component", "metadata": {"name": "c"},
            "spec": {"source": {"helm": {"chart": "claimed"}}}
        }))
        .unwrap();
        let repo = ConfigRepo {
            components: vec![Located {
                file: "c.yaml".to_owned(),
                span: Span::default(),
                value: component,
            }],
            ..ConfigRepo::default()
        };
        let found = components(
            &repo,
            &files,
            &RepositorySpec::default(),
            &Budget::default(),
        );
        let names: Vec<(&str, &str)> = found
            .iter()
            .map(|c| (c.value.metadata.name.as_str(), c.file.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("web-app", "apps/Web_App/Chart.yaml"),
                ("prod", "overlays/prod/kustomization.yaml")
            ]
        );
    }
}
