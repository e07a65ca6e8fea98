//! The `Sync` custom resource (`weir.dev/v1alpha1`) as Rust values: its
//! spec (what to sync and how), its status (what the agent did and why it
//! stopped), and the CRD that defines it, embedded from
//! `charts/weir/crds/syncs.weir.dev.yaml`, the schema's one source.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::object::ObjectRef;
use crate::sync::plan::parse_duration;

/// API group and version of weir's resources.
pub const API_VERSION: &str = "weir.dev/v1alpha1";
/// The kind.
pub const KIND: &str = "Sync";
/// The CRD, as the chart installs it.
pub const CRD_YAML: &str = include_str!("../../charts/weir/crds/syncs.weir.dev.yaml");
/// Annotation that asks for a reconcile now (any new value), as Flux's
/// `reconcile.fluxcd.io/requestedAt` does.
pub const REQUESTED_AT: &str = "weir.dev/reconcile-requested-at";

/// Default poll interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// The shortest poll interval honoured (a smaller one is raised to it).
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);
/// Most findings kept in a status.
pub const MAX_FINDINGS: usize = 50;

/// A `Sync` object: metadata as the API server returns it, spec, status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncObject {
    pub metadata: Metadata,
    pub spec: SyncSpec,
    #[serde(default)]
    pub status: Option<SyncStatus>,
}

/// The parts of `metadata` the agent uses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub generation: Option<i64>,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub resource_version: Option<String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// What to sync and how (see the CRD for each field's meaning).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncSpec {
    pub url: String,
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<GitRefSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalRef>,
    /// Credentials of chart repositories and registries
    /// (`chartCredentials.secretRef`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_credentials: Option<SecretHolder>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<SecretHolder>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<SecretHolder>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopt: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decryption: Option<Decryption>,
}

/// `spec.decryption`: how the commits' SOPS-encrypted manifests are
/// decrypted (as Flux's Kustomization has it): `provider: sops` and the
/// Secret of the Sync's namespace holding the age key, under a key ending
/// in `.agekey`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decryption {
    pub provider: String,
    pub secret_ref: LocalRef,
}

/// The provider `spec.decryption` names.
pub const SOPS_PROVIDER: &str = "sops";
/// The Secret keys the age key is read from end in this (Flux's name).
pub const AGE_KEY_SUFFIX: &str = ".agekey";

/// `spec.ref`: one of branch, tag or commit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitRefSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// A reference to an object in the Sync's namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalRef {
    pub name: String,
}

/// `{secretRef: {name}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretHolder {
    pub secret_ref: LocalRef,
}

/// What the agent reports. Written whole by the agent (a merge patch of
/// `status`); fields it does not know are dropped by the API server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pruned: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_corrected: Option<u64>,
    #[serde(default)]
    pub waves: Vec<WaveStatus>,
    /// The remote charts the last sync rendered from, as resolved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub charts: Vec<crate::sync::report::ChartReport>,
    #[serde(default)]
    pub findings: Vec<Finding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// A kstatus condition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// One wave of the last sync.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WaveStatus {
    pub index: u32,
    pub name: String,
    pub created: u64,
    pub configured: u64,
    pub unchanged: u64,
    pub pruned: u64,
    pub seconds: f64,
}

/// One finding of a rejected commit (a [`Diagnostic`] without nulls, as
/// the CRD's schema takes it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub code: String,
    pub severity: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub message: String,
}

impl From<&Diagnostic> for Finding {
    fn from(d: &Diagnostic) -> Self {
        Self {
            code: d.code.0.to_owned(),
            severity: d.severity.to_string(),
            file: d.file.clone(),
            line: d.span.map(|s| s.line),
            column: d.span.map(|s| s.column),
            path: d.path.clone(),
            message: d.message.clone(),
        }
    }
}

impl std::fmt::Display for Finding {
    /// `file:line: error[E0101]: message`, as diagnostics print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}:")?;
            if let Some(line) = self.line {
                write!(f, "{line}:")?;
            }
            f.write_str(" ")?;
        }
        write!(f, "{}[{}]: {}", self.severity, self.code, self.message)
    }
}

impl SyncObject {
    /// Reads a `Sync` from the API server's JSON.
    pub fn from_value(value: Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(value)
    }

    /// `namespace/name`, how logs and messages name it.
    pub fn key(&self) -> String {
        format!("{}/{}", self.metadata.namespace, self.metadata.name)
    }

    /// Its identity, for the apply layer.
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef {
            group: "weir.dev".into(),
            version: "v1alpha1".into(),
            kind: KIND.into(),
            namespace: Some(self.metadata.namespace.clone()),
            name: self.metadata.name.clone(),
        }
    }

    /// Where its commits come from, as the inventory records it: the URL
    /// (without credentials) and `spec.path`.
    pub fn source(&self) -> crate::sync::SourceId {
        crate::sync::SourceId::remote(
            &self.spec.url,
            self.spec.path.as_deref().unwrap_or_default(),
        )
    }

    /// The inventory target: `spec.target`, else the Sync's name.
    pub fn target(&self) -> String {
        self.spec
            .target
            .clone()
            .unwrap_or_else(|| self.metadata.name.clone())
    }

    pub fn suspended(&self) -> bool {
        self.spec.suspend == Some(true)
    }

    /// The poll interval, at least [`MIN_INTERVAL`].
    pub fn interval(&self) -> Duration {
        self.spec
            .interval
            .as_deref()
            .and_then(|i| parse_duration(i).ok())
            .unwrap_or(DEFAULT_INTERVAL)
            .max(MIN_INTERVAL)
    }

    /// The health timeout of each wave, when given.
    pub fn timeout(&self) -> Option<Duration> {
        self.spec
            .timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
    }

    /// Prune is on unless `spec.prune: false`.
    pub fn prune(&self) -> bool {
        self.spec.prune != Some(false)
    }

    /// The user the agent acts as to apply this Sync: its
    /// `spec.serviceAccountName` as Kubernetes names a ServiceAccount
    /// (`system:serviceaccount:<namespace>:<name>`); `None`: the agent's own
    /// identity.
    pub fn impersonates(&self) -> Option<String> {
        let name = self.spec.service_account_name.as_deref()?.trim();
        (!name.is_empty())
            .then(|| format!("system:serviceaccount:{}:{name}", self.metadata.namespace))
    }

    /// The value of the reconcile-requested annotation, if any.
    pub fn requested_at(&self) -> Option<&str> {
        self.metadata
            .annotations
            .get(REQUESTED_AT)
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_a_sync() {
        let sync = SyncObject::from_value(json!({
            "apiVersion": API_VERSION, "kind": "Sync",
            "metadata": {"name": "platform", "namespace": "weir-system", "generation": 3,
                "annotations": {REQUESTED_AT: "now"}},
            "spec": {"url": "https://git.example/p.git", "ref": {"tag": "v1"},
                "interval": "5s", "prune": false}
        }))
        .unwrap();
        assert_eq!(sync.key(), "weir-system/platform");
        assert_eq!(sync.target(), "platform");
        assert_eq!(sync.interval(), MIN_INTERVAL, "raised to the minimum");
        assert!(!sync.prune());
        assert!(!sync.suspended());
        assert_eq!(sync.requested_at(), Some("now"));
        assert_eq!(sync.impersonates(), None);
        assert_eq!(sync.spec.git_ref.unwrap().tag.as_deref(), Some("v1"));
    }

    #[test]
    fn a_service_account_is_impersonated_in_the_syncs_namespace() {
        let sync = SyncObject::from_value(json!({
            "metadata": {"name": "apps", "namespace": "team-a"},
            "spec": {"url": "https://git.example/a.git", "serviceAccountName": "deployer"}
        }))
        .unwrap();
        assert_eq!(
            sync.impersonates().as_deref(),
            Some("system:serviceaccount:team-a:deployer")
        );
    }

    #[test]
    fn the_crd_parses() {
        let crd: Value = serde_yaml::from_str(CRD_YAML).unwrap();
        assert_eq!(crd["spec"]["names"]["kind"], KIND);
        assert_eq!(crd["spec"]["versions"][0]["name"], "v1alpha1");
    }
}
