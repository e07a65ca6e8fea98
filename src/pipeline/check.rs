//! [`check`]: a loaded config repo validated, rendered, planned and made
//! into a sync plan, with every finding of every stage in one
//! [`Report`]; and [`Planned`], which only a check without errors makes.

use std::collections::HashMap;

use serde_json::Value;

use super::sync_plan;
use super::{Loaded, Result};
use crate::diagnostic::Diagnostic;
use crate::object::ObjectRef;
use crate::plan::{self, Plan};
use crate::render::{self, ChartRenderer, RenderOptions, Rendered, SkipWithoutHelm, sops};
use crate::sync::prune::{Floor, Limits as PruneLimits};
use crate::sync::{SourceId, SyncPlan};
use crate::validate::{self, ChartObject, RenderFindings, Report, ValidRepo, codes};

/// What a missing `helm` binary means to a check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WithoutHelm {
    /// Rendering fails ([`Error::Render`](super::Error::Render)): nothing
    /// can be planned or applied without the charts (`plan`, `diff`,
    /// `sync`, the agent).
    #[default]
    Fail,
    /// Charts render nothing and one warning ([`codes::NOT_RENDERED`])
    /// names them; everything else is still checked (`weir validate`).
    Warn,
}

/// How a repo is checked.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Warnings count as errors (`weir validate --strict`).
    pub strict: bool,
    /// Kubernetes version charts render for (`helm --kube-version`);
    /// default: weir.yaml's `defaults.kubernetesVersion`, else weir's.
    pub kubernetes_version: Option<String>,
    /// The inventory target of the sync plan (`--target`); default: the
    /// Repository's name, else the config directory's name.
    pub target: Option<String>,
    /// Where the files come from, as the inventory records it; default:
    /// what [`load`](super::load) found ([`Loaded::source`]).
    pub source: Option<SourceId>,
    /// The prune limits set where weir runs: weir.yaml may only make them
    /// stricter.
    pub prune_floor: Floor,
    pub without_helm: WithoutHelm,
}

/// The outcome of [`check`].
#[derive(Debug)]
pub struct Checked {
    /// Every finding of loading, validation, rendering, planning and
    /// building the sync plan, sorted, with what was checked.
    pub report: Report,
    /// `Some` exactly when the report has no error.
    pub planned: Option<Planned>,
}

/// A repo that passed every check, rendered and planned, with its sync
/// plan. Only [`check`] makes one, so holding a `Planned` proves the repo
/// was validated: it is the only way to a [`SyncPlan`] from a repo.
#[derive(Debug)]
pub struct Planned {
    repo: ValidRepo,
    rendered: Rendered,
    plan: Plan,
    /// Where its sync plan goes: inventory target, revision, source and
    /// the prune limits in force.
    target: sync_plan::Target,
    /// The files holding SOPS-encrypted manifests, as written (their
    /// objects render with ciphertext until [`Planned::decrypt`]).
    sealed: Vec<(String, Vec<u8>)>,
    /// The run's work budget, which decrypted documents are charged to.
    budget: crate::budget::Budget,
}

impl Planned {
    /// The validated repo.
    pub fn repo(&self) -> &ValidRepo {
        &self.repo
    }

    /// Every object and hook, with its unit, file and wave, in apply order.
    pub fn rendered(&self) -> &Rendered {
        &self.rendered
    }

    /// The waves and what is in each.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The inventory target of its sync plan.
    pub fn target(&self) -> &str {
        &self.target.name
    }

    /// The prune limits its sync applies: the floor set where weir runs,
    /// made stricter by weir.yaml.
    pub fn prune_limits(&self) -> PruneLimits {
        PruneLimits::of(&self.target.floor, &self.repo.settings().prune).0
    }

    /// The files holding SOPS-encrypted manifests.
    pub fn encrypted_files(&self) -> impl Iterator<Item = &str> {
        self.sealed.iter().map(|(file, _)| file.as_str())
    }

    /// Decrypts the SOPS-encrypted manifests in memory: each file through
    /// `decrypter` (the real sops), its values put in place of the
    /// ciphertext of the objects rendered from it. Without encrypted files
    /// nothing runs; without a key they are [`sops::Error::NoKey`], naming
    /// them. Only `weir sync`, `weir diff` and the agent call this, just
    /// before the objects go to the cluster or the diff.
    pub fn decrypt(&mut self, decrypter: &sops::Decrypter) -> Result<(), sops::Error> {
        if self.sealed.is_empty() {
            return Ok(());
        }
        if !decrypter.has_key() {
            return Err(sops::Error::NoKey {
                files: self.encrypted_files().map(str::to_owned).collect(),
            });
        }
        for (file, bytes) in &self.sealed {
            let decrypted = decrypter.decrypt(file, bytes, &self.budget)?;
            for object in self
                .rendered
                .objects
                .iter_mut()
                .filter(|o| &o.source_file == file)
            {
                sops::reveal(&mut object.value, &decrypted).map_err(|why| {
                    sops::Error::Mismatch {
                        file: file.clone(),
                        why: format!("{why} ({})", object.id),
                    }
                })?;
            }
        }
        Ok(())
    }

    /// What `weir sync` applies, the rendered objects moved into it (not
    /// copied: a repo of 10,000 objects is not held twice).
    pub fn into_sync_plan(self) -> SyncPlan {
        let Planned {
            repo,
            mut rendered,
            plan,
            target,
            ..
        } = self;
        let mut values: HashMap<ObjectRef, Value> = std::mem::take(&mut rendered.objects)
            .into_iter()
            .map(|o| (o.id, o.value))
            .collect();
        let (sync, _) = sync_plan::build(&repo, &rendered, &plan, target, |id| values.remove(id));
        sync
    }

    /// The rendering, by value.
    pub fn into_rendered(self) -> Rendered {
        self.rendered
    }
}

/// Checks a loaded repo. `charts` renders Helm charts (the real helm, or a
/// stand-in in tests). `Err` only when rendering cannot run (see
/// [`WithoutHelm`]); everything wrong with the repo is in the report.
pub fn check(loaded: Loaded, options: &Options, charts: &dyn ChartRenderer) -> Result<Checked> {
    let Loaded {
        tree,
        documents,
        diagnostics,
        revision,
        name,
        source,
        budget,
    } = loaded;
    let source = options.source.clone().or(source);
    let skipping = SkipWithoutHelm::new(charts);
    let renderer: &dyn ChartRenderer = match options.without_helm {
        WithoutHelm::Fail => charts,
        WithoutHelm::Warn => &skipping,
    };
    let render_options = RenderOptions {
        kubernetes_version: options.kubernetes_version.clone(),
        parallelism: None,
    };
    let mut failure = None;
    let mut outcome: Option<(Rendered, Option<(Plan, sync_plan::Target)>)> = None;
    let validation = validate::validate_rendered(
        documents,
        diagnostics,
        &validate::Options {
            strict: options.strict,
        },
        |repo| match render_within(repo, &tree, &render_options, renderer, &budget) {
            Err(e) => {
                failure = Some(e);
                RenderFindings::default()
            }
            // The budget ran out: what rendered is partial, and findings
            // about it would only follow from what is missing.
            Ok(None) => RenderFindings::default(),
            Ok(Some(mut rendered)) if budget.is_exhausted() => RenderFindings {
                chart_objects: Vec::new(),
                diagnostics: std::mem::take(&mut rendered.diagnostics)
                    .into_iter()
                    .filter(Diagnostic::is_error)
                    .collect(),
            },
            Ok(Some(mut rendered)) => {
                let mut found = std::mem::take(&mut rendered.diagnostics);
                let mut planned = None;
                // Planning judges units (waves, dependencies, cycles), so it
                // runs even when some objects did not render.
                let (plan, plan_found) = plan::plan(&mut rendered, &repo.settings());
                found.extend(plan_found);
                {
                    if let Some(plan) = plan
                        && !found.iter().any(Diagnostic::is_error)
                    {
                        let target = options
                            .target
                            .clone()
                            .or_else(|| {
                                repo.repository
                                    .as_ref()
                                    .map(|r| r.value.metadata.name.clone())
                            })
                            .unwrap_or_else(|| name.clone());
                        let target = sync_plan::Target {
                            name: target,
                            revision: revision.clone(),
                            source: source.clone(),
                            floor: options.prune_floor.clone(),
                        };
                        let (_, sync_found) =
                            sync_plan::build(repo, &rendered, &plan, target.clone(), |_| None);
                        found.extend(sync_found);
                        planned = Some((plan, target));
                    }
                }
                found.extend(not_rendered(&skipping.skipped()));
                found.extend(not_built(&skipping.skipped_kustomize()));
                found.extend(not_reached(&skipping.unreachable()));
                let chart_objects = chart_objects(&rendered);
                outcome = Some((rendered, planned));
                RenderFindings {
                    chart_objects,
                    diagnostics: found,
                }
            }
        },
    );
    if let Some(e) = failure {
        return Err(e.into());
    }
    let planned = match (validation.repo, outcome) {
        (Some(repo), Some((rendered, Some((plan, target))))) => Some(Planned {
            sealed: sealed_files(&repo, &tree),
            repo,
            rendered,
            plan,
            target,
            budget,
        }),
        _ => None,
    };
    Ok(Checked {
        report: validation.report,
        planned,
    })
}

/// The files of `repo`'s SOPS-encrypted manifests, with their bytes.
fn sealed_files(
    repo: &crate::spec::repo::ConfigRepo,
    tree: &crate::repo::FileTree,
) -> Vec<(String, Vec<u8>)> {
    let files: std::collections::BTreeSet<&str> = repo
        .manifests
        .iter()
        .filter(|d| sops::is_encrypted(&d.value))
        .map(|d| d.file.as_str())
        .collect();
    files
        .into_iter()
        .filter_map(|f| Some((f.to_owned(), tree.get(f)?.to_vec())))
        .collect()
}

/// Renders `repo` within `budget`; `None` when loading already spent it.
fn render_within(
    repo: &crate::spec::repo::ConfigRepo,
    tree: &crate::repo::FileTree,
    options: &RenderOptions,
    charts: &dyn ChartRenderer,
    budget: &crate::budget::Budget,
) -> render::Result<Option<Rendered>> {
    if budget.is_exhausted() {
        return Ok(None);
    }
    render::render(repo, tree, options, charts, budget).map(Some)
}

/// The objects Helm charts and kustomizations rendered (hooks included):
/// validation checks them like the repo's own manifests.
fn chart_objects(rendered: &Rendered) -> Vec<ChartObject> {
    let is_chart = |component: &str| rendered.generated.contains(component);
    // A hook of several phases is one object: checked once.
    let mut hooks = std::collections::HashSet::new();
    rendered
        .objects
        .iter()
        .chain(
            rendered
                .hooks
                .iter()
                .filter(|h| hooks.insert((&h.component, &h.object.id)))
                .map(|h| &h.object),
        )
        .filter(|o| is_chart(&o.component))
        .map(|o| ChartObject {
            component: o.component.clone(),
            file: o.source_file.clone(),
            value: Value::clone(&o.value),
        })
        .collect()
}

/// The warning that charts were not rendered for want of helm.
fn not_rendered(components: &[String]) -> Option<Diagnostic> {
    missing_tool(
        components,
        "helm was not found, so the Helm charts of",
        "were not rendered: the objects they render and custom resources of the CRDs they \
         define were not checked",
        "install Helm 3 (https://helm.sh/docs/intro/install/) and put it on PATH, or set \
         WEIR_HELM to its path",
    )
}

/// The warning that charts were not rendered because their chart
/// repository could not be reached (and the cache has no resolution):
/// checking a repo does not need the network; planning and applying it do.
fn not_reached(components: &[String]) -> Option<Diagnostic> {
    missing_tool(
        components,
        "the chart repositories of",
        "could not be reached (and the chart cache has no copy), so their charts were not \
         rendered: the objects they render were not checked",
        "`weir validate` does not need the network; `weir plan`, `diff` and `sync` fetch the \
         charts (E0219 when they cannot); fetch them once with `weir plan` to fill the chart \
         cache, and validate checks them offline from then on",
    )
}

/// The warning that kustomizations were not built for want of kustomize.
fn not_built(components: &[String]) -> Option<Diagnostic> {
    missing_tool(
        components,
        "kustomize was not found, so the kustomizations of",
        "were not built: the objects they make were not checked",
        "install kustomize 5 (https://kubectl.docs.kubernetes.io/installation/kustomize/) and \
         put it on PATH, or set WEIR_KUSTOMIZE to its path",
    )
}

/// The warning that `components` were not rendered because a tool is
/// missing: "`before` component(s) `a`, `b` `after`", with `hint`.
fn missing_tool(
    components: &[String],
    before: &str,
    after: &str,
    hint: &str,
) -> Option<Diagnostic> {
    if components.is_empty() {
        return None;
    }
    let names: Vec<String> = components.iter().map(|c| format!("`{c}`")).collect();
    let noun = if names.len() == 1 {
        "component"
    } else {
        "components"
    };
    Some(
        Diagnostic::warning(
            codes::NOT_RENDERED,
            format!("{before} {noun} {} {after}", names.join(", ")),
        )
        .with_hint(hint),
    )
}
