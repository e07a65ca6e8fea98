//! serde types of weir's own kinds (`apiVersion: weir.dev/v1alpha1`):
//! [`Repository`] (the root `weir.yaml`), [`Component`] and [`Workload`].
//!
//! These types mirror the JSON Schemas in `schemas/`, which are the single
//! source of truth for what is valid: validation runs the schemas first (for
//! file-and-line diagnostics), and only documents that pass are deserialised
//! here. A test keeps both in agreement on a corpus of documents.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `apiVersion` of every weir kind.
pub const API_VERSION: &str = "weir.dev/v1alpha1";

/// The kinds weir understands under [`API_VERSION`].
pub const KINDS: [&str; 3] = ["Repository", "Component", "Workload"];

/// `metadata` of a weir kind: a name, and for a workload its namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metadata {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A typed weir document: `apiVersion`, `kind`, `metadata`, `spec`.
///
/// Deserialising runs the rules of [`checks`](super::checks) that serde's
/// derive cannot express (name and duration syntax, ranges, "exactly one
/// of"), so an `Object` accepts exactly what the schemas accept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    try_from = "super::checks::RawObject<S>",
    bound(deserialize = "S: Deserialize<'de> + super::checks::Spec")
)]
pub struct Object<S> {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: S,
}

pub type Repository = Object<RepositorySpec>;
pub type Component = Object<ComponentSpec>;
pub type Workload = Object<WorkloadSpec>;

// ---------------------------------------------------------------- Repository

/// `weir.yaml`: settings for the whole config repository.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RepositorySpec {
    /// Globs of files to load (default: every `.yaml`/`.yml`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Globs of files to skip, applied after `include`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub defaults: Defaults,
    /// Node pools by name: the labels that select their nodes and the taints
    /// those nodes carry. Workloads place themselves by pool name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_pools: BTreeMap<String, NodePool>,
    /// Wave names in apply order; components may name a wave instead of
    /// giving its number (the first name is wave 0).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waves: Vec<String>,
    #[serde(default)]
    pub prune: PrunePolicy,
}

/// Defaults that apply to every component unless it says otherwise.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Defaults {
    /// Target namespace of components that name none (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// How long a wave may take to become healthy, e.g. `5m` (default `5m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Kubernetes version to render Helm charts for (`helm --kube-version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
}

/// A set of nodes: labels that select them, taints they carry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodePool {
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
}

/// A node taint, as on a Node's `spec.taints`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Taint {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub effect: TaintEffect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

/// Repository-wide pruning policy (see `sync`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PrunePolicy {
    /// Stop a prune that would delete more than this share of the inventory
    /// (default 0.25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fraction: Option<f64>,
    /// Stop a prune that would delete more than this many objects (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_objects: Option<u32>,
}

// ----------------------------------------------------------------- Component

/// One platform component: where its objects come from, where they go,
/// when they are applied and what must hold before and after.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ComponentSpec {
    /// Target namespace of its namespaced objects that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Render a Namespace object for `namespace` (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_namespace: Option<bool>,
    pub source: Source,
    /// Explicit wave: a number, or a name from `weir.yaml`'s `waves`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<WaveRef>,
    /// Components that must be applied and healthy before this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Values read from other components' effective Helm values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_from: Vec<ValuesFrom>,
    #[serde(default)]
    pub preflight: Preflight,
    #[serde(default)]
    pub health: Health,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<Patch>,
    #[serde(default)]
    pub prune: ComponentPrune,
}

/// A wave given by number or by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WaveRef {
    Number(u32),
    Name(String),
}

/// Where a component's objects come from: exactly one of `path` or `helm`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Source {
    /// A directory of manifests, relative to the component's file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<HelmSource>,
}

/// A Helm chart, rendered with `helm template`: a chart directory of the
/// repo, or with `repo` a chart of a chart repository or OCI registry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HelmSource {
    /// Chart directory, relative to the component's file; with `repo`, the
    /// chart's name there.
    pub chart: String,
    /// A chart repository (`https://…`, with its `index.yaml`) or an OCI
    /// registry path (`oci://…`) to fetch `chart` from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// With `repo`: an exact version (`1.2.3`) or a semver range (`~1.2.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Talk plain HTTP to OCI registries (one on a private network without
    /// TLS): the `oci://` repo's, and those of the chart's `Chart.yaml`
    /// dependencies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plain_http: Option<bool>,
    /// Release name (default: the component's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_name: Option<String>,
    /// Values files, relative to the component's file, applied in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_files: Vec<String>,
    /// Inline values, applied last: the chart's values.yaml, then
    /// `valuesFiles`, then `valuesFrom`, then these (later wins, maps merge,
    /// `null` removes a chart default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Value>,
}

/// Copy a value from another component's effective values into this one's.
///
/// Effective values are what that component's chart sees: its chart's
/// values.yaml, its `valuesFiles`, its own `valuesFrom` and its inline
/// values (like `helm get values --all`). Copied values are laid over this
/// component's `valuesFiles` and under its inline `values`. A `valuesFrom`
/// also orders the components: the source is applied in an earlier wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ValuesFrom {
    /// The component to read from.
    pub component: String,
    /// Dotted path inside its values; empty or absent means all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Dotted path in this component's values to write to.
    pub to: String,
}

/// What must exist before the component is applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Preflight {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<RequiredSecret>,
    /// CRD names (`plural.group`) that must be installed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crds: Vec<String>,
    /// Minimum Kubernetes version of the cluster, e.g. `1.28`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kubernetes_version: Option<String>,
}

/// A Secret that must exist, with the keys it must hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RequiredSecret {
    pub name: String,
    /// Default: the component's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// Expected Secret `type`, e.g. `kubernetes.io/dockerconfigjson`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
    /// Tells the operator how to create it, shown when it is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// How the component's health gate behaves.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Health {
    /// How long the gate waits, e.g. `10m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Extra conditions that must be true on objects of a kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ExtraCondition>,
    /// Objects whose health is not waited for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<Selector>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExtraCondition {
    pub kind: String,
    #[serde(rename = "type")]
    pub condition_type: String,
    /// Default `"True"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// A Job run at a point of the sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Hook {
    pub name: String,
    pub phase: HookPhase,
    /// File holding the Job, relative to the component's file.
    pub path: String,
    #[serde(default)]
    pub delete_policy: HookDeletePolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum HookPhase {
    /// Before the component's objects are applied.
    PreApply,
    /// After the component's objects are applied and healthy.
    PostApply,
    /// After every wave of the sync is done.
    PostSync,
    /// Among the component's objects, at its sync wave (Argo CD's `Sync`
    /// hooks; a Component's own hooks cannot name it).
    #[serde(skip_deserializing)]
    Sync,
    /// Only when the sync fails (Argo CD's `SyncFail` hooks; a
    /// Component's own hooks cannot name it).
    #[serde(skip_deserializing)]
    SyncFail,
}

impl HookPhase {
    /// How output for people names the phase: `pre-apply`, `post-apply`,
    /// `post-sync`, `sync`, `sync-fail`.
    pub fn label(self) -> &'static str {
        match self {
            HookPhase::PreApply => "pre-apply",
            HookPhase::PostApply => "post-apply",
            HookPhase::PostSync => "post-sync",
            HookPhase::Sync => "sync",
            HookPhase::SyncFail => "sync-fail",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum HookDeletePolicy {
    /// Delete the Job once it has succeeded (the default); keep a failed one.
    #[default]
    OnSuccess,
    /// Always keep the Job.
    Keep,
}

/// Selects rendered objects by group, kind, name, namespace and labels:
/// patch targets, health overrides and pruning rules all pick objects with
/// [`Selector::matches`], the one rule for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Selector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The object's name; a trailing `*` matches every name that starts
    /// with what comes before it (`db-*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Selector {
    /// True when every field the selector gives matches the object named
    /// `id` whose `metadata.labels` are `labels`: group, kind and namespace
    /// exactly, the name exactly or, ending in `*`, by prefix, and each
    /// label with that value.
    pub fn matches(&self, id: &crate::object::ObjectRef, labels: Option<&Value>) -> bool {
        let name_matches = |pattern: &str| match pattern.strip_suffix('*') {
            Some(prefix) => id.name.starts_with(prefix),
            None => pattern == id.name,
        };
        self.group.as_ref().is_none_or(|g| *g == id.group)
            && self.kind.as_ref().is_none_or(|k| *k == id.kind)
            && self.name.as_deref().is_none_or(name_matches)
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| Some(ns) == id.namespace.as_ref())
            && self.labels.iter().all(|(k, v)| {
                labels
                    .and_then(|l| l.get(k))
                    .and_then(Value::as_str)
                    .is_some_and(|actual| actual == v)
            })
    }
}

/// A patch on rendered objects: exactly one of `merge` or `json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Patch {
    pub target: Selector,
    /// JSON merge patch (RFC 7386).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<Value>,
    /// JSON Patch operations (RFC 6902).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Vec<Value>>,
}

/// Per-component pruning rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ComponentPrune {
    /// Objects never deleted by pruning, whatever else says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protect: Vec<Selector>,
    /// Opt-in: PVCs, PVs, Namespaces and CRDs matched here may be pruned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<Selector>,
}

// ------------------------------------------------------------------ Workload

/// A service or job an engineer deploys: weir renders the Deployment (or
/// Job), Service, HorizontalPodAutoscaler and PodDisruptionBudget.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WorkloadSpec {
    /// `service` (a Deployment, the default) or `job` (a Job run to completion).
    #[serde(default, rename = "type")]
    pub workload_type: WorkloadType,
    pub image: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Replicas of a service (default 1); ignored with `scaling`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<Scaling>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expose: Option<Expose>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, EnvValue>,
    /// Files mounted from a rendered ConfigMap: file name → content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Config>,
    #[serde(default)]
    pub probes: Probes,
    #[serde(default)]
    pub placement: Placement,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Explicit wave, as on a component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<WaveRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// For `type: job`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobSettings>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WorkloadType {
    #[default]
    Service,
    Job,
}

/// Requests; limits equal requests unless given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
    /// Whole GPUs (`nvidia.com/gpu`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
}

/// A Kubernetes quantity written as a string (`500m`, `1Gi`) or a number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Quantity {
    Text(String),
    Number(serde_json::Number),
}

impl Quantity {
    /// The quantity as Kubernetes spells it.
    pub fn as_k8s_string(&self) -> String {
        match self {
            Quantity::Text(s) => s.clone(),
            Quantity::Number(n) => n.to_string(),
        }
    }
}

/// Horizontal autoscaling: renders a HorizontalPodAutoscaler (autoscaling/v2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Scaling {
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// Average CPU utilisation to aim for, in percent (default 80).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_cpu_utilization: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Port {
    pub name: String,
    pub port: u16,
    /// Container port when it differs from `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// For `expose.type: NodePort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_port: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
    #[serde(rename = "SCTP")]
    Sctp,
}

/// How the Service of a workload is exposed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Expose {
    #[serde(rename = "type", default)]
    pub service_type: ServiceType,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceType {
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
}

/// An environment variable: a literal, or a key of a Secret or ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EnvValue {
    Literal(String),
    From(EnvFrom),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EnvFrom {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<KeyRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<KeyRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeyRef {
    pub name: String,
    pub key: String,
}

/// Configuration files: rendered into a ConfigMap mounted at `mountPath`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    pub mount_path: String,
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Probes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<Probe>,
}

/// A probe: an HTTP GET on a path and port, a TCP connect, or a command.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Probe {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpProbe>,
    /// Port name or number for a TCP connect check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<PortRef>,
    /// A command; when given, it must not be empty.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "super::checks::nonempty_list"
    )]
    pub exec: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpProbe {
    pub path: String,
    pub port: PortRef,
}

/// A port by name or by number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PortRef {
    Number(u16),
    Name(String),
}

/// Where pods may, should and must run. Each entry of `may`, `prefer` and
/// `must` is a node label `key=value`, or the name of a node pool of
/// `weir.yaml` (standing for all its labels). `pool` is shorthand for
/// `must: [pool]`.
///
/// - `may`: tolerate `NoSchedule` taints of that key and value;
/// - `prefer`: tolerate `NoSchedule` and `PreferNoSchedule`, and add a
///   preferred node affinity;
/// - `must`: the same tolerations, and a required node affinity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Placement {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub may: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefer: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub must: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JobSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completions: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_limit: Option<u32>,
    /// Seconds after which the Job may run no longer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<u64>,
}

#[cfg(test)]
mod selector_tests {
    use serde_json::json;

    use super::*;
    use crate::object::ObjectRef;

    #[test]
    fn selectors() {
        let r = ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: "PersistentVolumeClaim".into(),
            namespace: Some("data".into()),
            name: "db-0".into(),
        };
        let labels = json!({"app": "db"});
        let sel = |v: Value| serde_json::from_value::<Selector>(v).unwrap();
        assert!(sel(json!({"kind": "PersistentVolumeClaim"})).matches(&r, None));
        assert!(sel(json!({"name": "db-*"})).matches(&r, None));
        assert!(sel(json!({"name": "db-0"})).matches(&r, None));
        assert!(!sel(json!({"name": "db"})).matches(&r, None));
        assert!(!sel(json!({"name": "dc-*"})).matches(&r, None));
        assert!(sel(json!({"group": ""})).matches(&r, None));
        assert!(!sel(json!({"group": "apps"})).matches(&r, None));
        assert!(sel(json!({"labels": {"app": "db"}})).matches(&r, Some(&labels)));
        assert!(!sel(json!({"labels": {"app": "x"}})).matches(&r, Some(&labels)));
        assert!(!sel(json!({"labels": {"app": "db"}})).matches(&r, None));
        assert!(!sel(json!({"namespace": "other"})).matches(&r, None));
    }
}
