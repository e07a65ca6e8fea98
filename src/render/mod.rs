//! Rendering: a validated config repo turned into the plain Kubernetes
//! objects weir applies.
//!
//! [`render`] takes the assembled [`ConfigRepo`], the repo's files (for
//! charts and values files, [`Files`]) and a [`ChartRenderer`] (the real
//! `helm` binary, [`HelmBinary`]), and returns [`Rendered`]: every object
//! with the unit it belongs to and the file it came from, the hooks
//! kept apart, the effective Helm values of each chart component, the
//! plan [`Unit`]s, and diagnostics about the repo's content. It is pure
//! apart from running helm.
//!
//! What happens, in order:
//!
//! 1. units: each Component and Workload; a repo without Components gets
//!    the implicit component `default` for its loose manifests;
//! 2. sources: a component's manifest directory (recursive, resolved
//!    against the component's file, never outside the repo); a manifest
//!    belongs to the component whose directory holds it (the deepest one
//!    when directories nest); with Components, a manifest that belongs to
//!    none (and is no hook or values file) is reported (`W0201`) and not
//!    rendered; a SOPS-encrypted manifest renders with its ciphertext and
//!    without its `sops` block ([`sops`] decrypts it at sync and diff time);
//!    a directory holding a Helm chart or a kustomization that no
//!    Component claims is a component of its own ([`directories`]), and a
//!    component whose `path` is such a directory renders it (a chart with
//!    its default values, a kustomization by `kustomize build`,
//!    [`kustomize`]);
//! 3. values of chart components, `valuesFrom` resolved in dependency
//!    order ([`values`] documents the precedence), then all charts rendered
//!    by `helm template`, in parallel; then kustomizations;
//! 4. workloads ([`workload`], [`placement`]);
//! 5. hooks: Helm's and Argo CD's hook annotations on any object of a
//!    manifest directory, chart or kustomization ([`hooks`]; an object
//!    with only `generateName` must be one), then Components' own hook
//!    Jobs; namespaces (namespaced objects without one get their unit's
//!    target namespace, cluster-scoped objects never keep one); patches;
//!    weir's tracking labels and annotation; the Namespace of each unit
//!    that names its namespace (`createNamespace`).
//!
//! Objects are not yet in apply order and have no wave: that is `plan`'s.
//!
//! A repo is untrusted input: everything rendering builds (values and their
//! `valuesFrom` copies, objects, the copies patches make and what each JSON
//! Patch operation adds, chart output) is charged to the run's
//! [`Budget`](crate::budget::Budget) before it is built, and rendering
//! stops at the first charge past it ([`codes::BUDGET`]); helm runs within
//! the budget's time, output and memory limits ([`codes::HELM_LIMIT`]).

mod archive;
mod charts;
mod directories;
pub mod files;
pub mod helm;
pub mod hooks;
pub mod kustomize;
pub mod object;
pub mod patch;
pub mod placement;
pub mod remote;
pub mod scope;
pub mod sops;
mod sources;
mod tool;
pub mod values;
pub mod workload;
mod yaml;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

pub use files::Files;
pub use helm::{ChartOutput, ChartRenderer, ChartRequest, HelmBinary, SkipWithoutHelm};
pub use kustomize::KustomizeRequest;
pub use object::{
    COMPONENT_LABEL, DroppedHook, MANAGED_BY, MANAGED_BY_LABEL, RenderedHook, RenderedObject,
    SOURCE_ANNOTATION, Unit, UnitKind,
};
pub use remote::{ChartFetch, Fetched, Resolved};

use crate::budget::Budget;
use crate::diagnostic::{Diagnostic, Severity};
use crate::spec::repo::ConfigRepo;

/// Codes of the findings made while rendering.
pub mod codes {
    use crate::diagnostic::Code;
    /// A path in a component (source, chart, values file, hook) leaves the repository.
    pub const PATH_OUTSIDE_REPO: Code = Code("E0201");
    /// A path in a component names nothing in the repository.
    pub const PATH_NOT_FOUND: Code = Code("E0202");
    /// A manifest that is not a Kubernetes object (no apiVersion, kind or name).
    pub const NOT_AN_OBJECT: Code = Code("E0203");
    /// `valuesFrom` names a component that does not exist.
    pub const VALUES_FROM_UNKNOWN: Code = Code("E0204");
    /// `valuesFrom` between components that are not both Helm charts.
    pub const VALUES_FROM_NOT_CHART: Code = Code("E0205");
    /// `valuesFrom` reads a path the other component's values do not have.
    pub const VALUES_FROM_MISSING_PATH: Code = Code("E0206");
    /// `helm template` failed on a component's chart.
    pub const HELM_FAILED: Code = Code("E0207");
    /// A values file or chart output that is not valid YAML.
    pub const BAD_YAML: Code = Code("E0208");
    /// A patch that could not be applied.
    pub const PATCH_FAILED: Code = Code("E0209");
    /// A workload placed on a node pool that weir.yaml does not define.
    pub const UNDEFINED_POOL: Code = Code("E0210");
    /// A component source that is not exactly one of `path` or `helm`.
    pub const BAD_SOURCE: Code = Code("E0211");
    /// Two components or workloads with the same name.
    pub const DUPLICATE_UNIT: Code = Code("E0212");
    /// A hook file that is not exactly one Job.
    pub const BAD_HOOK: Code = Code("E0213");
    /// A workload field that cannot be rendered (env, probes).
    pub const BAD_WORKLOAD: Code = Code("E0214");
    /// Rendering (values, `valuesFrom`, objects, patches, chart output)
    /// would take the run past its work [`Budget`](crate::budget::Budget).
    pub const BUDGET: Code = Code("E0215");
    /// `helm template` ran longer than its time limit, or wrote more than
    /// its output limit, and was killed.
    pub const HELM_LIMIT: Code = Code("E0216");
    /// A remote chart could not be fetched: the repository is unreachable,
    /// refused the credentials, or has no such chart or version.
    pub const CHART_FETCH_FAILED: Code = Code("E0219");
    /// `kustomize build` failed on a component's kustomization.
    pub const KUSTOMIZE_FAILED: Code = Code("E0217");
    /// `kustomize build` passed the limits helm runs within (time, output,
    /// memory) and was killed.
    pub const KUSTOMIZE_LIMIT: Code = Code("E0218");
    /// An object with `generateName` and no `metadata.name` that is not a
    /// hook: only hooks are created with a name the server picks.
    pub const GENERATE_NAME: Code = Code("E0230");
    /// A Helm or Argo CD hook, weight, delete policy or sync-wave
    /// annotation whose value weir cannot use.
    pub const BAD_ANNOTATION: Code = Code("E0231");
    /// A manifest outside every component's directory (not rendered).
    pub const ORPHAN_MANIFEST: Code = Code("W0201");
    /// A patch whose target matches no object of its component.
    pub const PATCH_UNMATCHED: Code = Code("W0202");
    /// A namespace on a cluster-scoped object, removed.
    pub const CLUSTER_SCOPED_NAMESPACE: Code = Code("W0203");
    /// A setting that does not apply and is ignored.
    pub const IGNORED_SETTING: Code = Code("W0204");
    /// The same object (group, kind, namespace, name) defined twice, by two
    /// units or by one: the one check for it, on what is rendered (its
    /// number is from when planning made it).
    pub const DUPLICATE_OBJECT: Code = Code("E0405");
    /// A namespaced object in a namespace that the repo does not create and
    /// that is not its unit's target namespace (the cluster may not have it).
    pub const UNDEFINED_NAMESPACE: Code = Code("W0102");
}

/// Kubernetes version charts are rendered for when neither the options nor
/// weir.yaml's `defaults.kubernetesVersion` give one.
pub const DEFAULT_KUBERNETES_VERSION: &str = "1.35.4";

/// Namespaces every cluster has; weir never renders a Namespace for them.
pub const SYSTEM_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// Failures of the machine, not of the repo (those are diagnostics).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No helm binary, and the repo has Helm chart components.
    #[error(
        "{}; weir renders Helm chart components with the real `helm template`. \
         Install Helm 3 (https://helm.sh/docs/intro/install/) and put it on PATH or set WEIR_HELM \
         to its path; in weir's own source tree, `cargo xtask testenv` builds one",
        match from_env {
            Some(path) => format!("WEIR_HELM is set to {}, which is not a file", path.display()),
            None => "the `helm` binary was not found on PATH".to_owned(),
        }
    )]
    HelmNotFound { from_env: Option<PathBuf> },
    /// No kustomize binary, and the repo has kustomization components.
    #[error(
        "{}; weir builds kustomization directories with the real `kustomize build`. \
         Install kustomize 5 (https://kubectl.docs.kubernetes.io/installation/kustomize/) and put \
         it on PATH or set WEIR_KUSTOMIZE to its path; in weir's own source tree, `cargo xtask \
         testenv` builds one",
        match from_env {
            Some(path) => format!("WEIR_KUSTOMIZE is set to {}, which is not a file", path.display()),
            None => "the `kustomize` binary was not found on PATH".to_owned(),
        }
    )]
    KustomizeNotFound { from_env: Option<PathBuf> },
    /// The chart repository credentials file cannot be used.
    #[error("the chart repository credentials file {} ({}) cannot be used: {why}", path.display(), remote::CREDENTIALS_ENV)]
    ChartCredentials { path: PathBuf, why: String },
    /// The chart cache cannot be used.
    #[error(
        "the chart cache cannot be used: {why}; set {} to a writable directory",
        remote::CACHE_ENV
    )]
    ChartCache { why: String },
    /// A tool weir renders with (helm, kustomize) could not be started.
    #[error("could not run {}", path.display())]
    ToolRun {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The chart (or kustomization) of a component could not be written to
    /// a temporary directory.
    #[error("could not write the files of component `{component}` to a temporary directory")]
    TempDir {
        component: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Options of a render.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// Kubernetes version for `helm --kube-version`; default: weir.yaml's
    /// `defaults.kubernetesVersion`, else [`DEFAULT_KUBERNETES_VERSION`].
    pub kubernetes_version: Option<String>,
    /// At most this many charts render at once (default: the number of CPUs, at most 4).
    pub parallelism: Option<usize>,
}

/// The result of rendering a repo.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// Components and workloads, in the order the repo declares them.
    pub units: Vec<Unit>,
    pub objects: Vec<RenderedObject>,
    /// Hooks (a Component's Jobs, and objects that Helm or Argo CD hook
    /// annotations make hooks), kept apart from the objects; sync runs
    /// them at their phase.
    pub hooks: Vec<RenderedHook>,
    /// Objects of hooks no sync runs (tests, deletes, rollbacks), not
    /// applied; `plan` lists them.
    pub dropped: Vec<DroppedHook>,
    /// Effective Helm values of each chart component (see [`values`]).
    pub values: BTreeMap<String, Value>,
    /// Findings about the repo's content, errors and warnings.
    pub diagnostics: Vec<Diagnostic>,
    /// Components whose objects a tool made (Helm charts,
    /// kustomizations), not the repo's files: validation checks their
    /// objects as it checks the repo's manifests.
    pub generated: std::collections::BTreeSet<String>,
    /// The remote charts each component's rendering used, as resolved
    /// (exact version and digest): its own chart first (when remote), then
    /// the charts fetched for its `Chart.yaml` dependencies. The one place
    /// this is computed; plan, diff, the sync report and the agent's
    /// status print it.
    pub charts: BTreeMap<String, Vec<Resolved>>,
}

impl Rendered {
    /// True when a diagnostic is an error (the render must not be applied).
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    pub fn unit(&self, name: &str) -> Option<&Unit> {
        self.units.iter().find(|u| u.name == name)
    }
}

/// The repo's files that hold YAML but are not manifests: the values files
/// of Helm chart components, resolved against their Component's directory
/// ([`repo::resolve_in_repo`](crate::repo::resolve_in_repo); one that
/// leaves the repo names no file here, and rendering reports it, `E0201`).
/// Rendering does not read them as manifests, and validation does not
/// check them as objects.
pub fn values_files(repo: &ConfigRepo) -> std::collections::BTreeSet<String> {
    repo.components
        .iter()
        .filter_map(|c| Some((c, c.value.spec.source.helm.as_ref()?)))
        .flat_map(|(c, helm)| {
            helm.values_files
                .iter()
                .filter_map(|f| crate::repo::resolve_in_repo(c.dir(), f).ok())
        })
        .collect()
}

/// Renders `repo`, charging what it builds to `budget` (past it, one
/// finding, [`codes::BUDGET`], and rendering stops growing). `Err` only
/// when the machine fails (no helm, no temp dir); everything wrong with
/// the repo is in [`Rendered::diagnostics`].
pub fn render(
    repo: &ConfigRepo,
    files: &dyn Files,
    options: &RenderOptions,
    charts: &dyn ChartRenderer,
    budget: &Budget,
) -> Result<Rendered> {
    let settings = repo.settings();
    let kube_version = options
        .kubernetes_version
        .clone()
        .or_else(|| settings.defaults.kubernetes_version.clone())
        .unwrap_or_else(|| DEFAULT_KUBERNETES_VERSION.to_owned());
    let mut components = repo.components.clone();
    components.extend(directories::components(repo, files, &settings, budget));
    let mut ctx = sources::Context::new(repo, &components, files, &settings, budget);
    ctx.collect_units();
    ctx.resolve_sources();
    ctx.assign_manifests();
    charts::render_charts(&mut ctx, charts, &kube_version, options.parallelism)?;
    kustomize::render_kustomizations(&mut ctx, charts)?;
    ctx.annotation_hooks();
    ctx.render_workloads();
    ctx.render_hooks();
    ctx.finish();
    Ok(ctx.into_rendered())
}
