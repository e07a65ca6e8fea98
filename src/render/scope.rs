//! Which kinds are cluster-scoped: a static table of the built-in kinds of
//! the pinned Kubernetes version (1.35, the `k8s-openapi` feature weir
//! builds with), plus custom kinds learnt from the CRDs in the rendered set.
//!
//! The table is kept by hand; a unit test checks it against `k8s-openapi`'s
//! own scope of each type, so a version bump that adds or moves a kind
//! fails the build's tests instead of silently mis-scoping objects.
//! (When the validate stage's OpenAPI catalog with scopes lands, this table
//! can be replaced by it.)

use std::collections::BTreeMap;

use serde_json::Value;

/// Built-in cluster-scoped kinds as `(group, kind)`.
const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "ComponentStatus"),
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "MutatingAdmissionPolicyBinding",
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("authentication.k8s.io", "SelfSubjectReview"),
    ("authentication.k8s.io", "TokenReview"),
    ("authorization.k8s.io", "SelfSubjectAccessReview"),
    ("authorization.k8s.io", "SelfSubjectRulesReview"),
    ("authorization.k8s.io", "SubjectAccessReview"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("certificates.k8s.io", "ClusterTrustBundle"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("internal.apiserver.k8s.io", "StorageVersion"),
    ("networking.k8s.io", "IPAddress"),
    ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "ServiceCIDR"),
    ("node.k8s.io", "RuntimeClass"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("resource.k8s.io", "DeviceClass"),
    ("resource.k8s.io", "DeviceTaintRule"),
    ("resource.k8s.io", "ResourceSlice"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("storage.k8s.io", "VolumeAttributesClass"),
    ("storagemigration.k8s.io", "StorageVersionMigration"),
];

/// API groups served by Kubernetes itself. A kind of any other group is a
/// custom resource (note `gateway.networking.k8s.io` and other
/// `*.x-k8s.io` groups are CRDs, so this is an exact list, not a suffix).
const BUILT_IN_GROUPS: &[&str] = &[
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "internal.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "storagemigration.k8s.io",
];

/// True when `group` is served by Kubernetes itself (not by a CRD).
pub fn is_built_in_group(group: &str) -> bool {
    BUILT_IN_GROUPS.contains(&group)
}

/// True for `apiextensions.k8s.io` `CustomResourceDefinition`.
pub fn is_crd(group: &str, kind: &str) -> bool {
    group == "apiextensions.k8s.io" && kind == "CustomResourceDefinition"
}

/// The scope of a kind, when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Cluster,
    Namespaced,
}

/// The kinds a CRD defines: `(group, kind)` with the CRD's scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrdKind {
    pub group: String,
    pub kind: String,
    pub scope: Scope,
}

/// Reads the group, kind and scope a CRD object defines.
pub fn crd_kind(crd: &Value) -> Option<CrdKind> {
    let spec = crd.get("spec")?;
    let group = spec.get("group")?.as_str()?;
    let kind = spec.pointer("/names/kind")?.as_str()?;
    let scope = match spec.get("scope").and_then(Value::as_str) {
        Some("Cluster") => Scope::Cluster,
        _ => Scope::Namespaced,
    };
    Some(CrdKind {
        group: group.to_owned(),
        kind: kind.to_owned(),
        scope,
    })
}

/// Scopes of the built-in kinds and of the custom kinds of a rendered set.
#[derive(Debug, Clone, Default)]
pub struct Scopes {
    custom: BTreeMap<(String, String), Scope>,
}

impl Scopes {
    /// Learns the custom kinds of every CRD among `objects`.
    pub fn learn<'a>(&mut self, crds: impl IntoIterator<Item = &'a Value>) {
        for crd in crds {
            if let Some(k) = crd_kind(crd) {
                self.custom.insert((k.group, k.kind), k.scope);
            }
        }
    }

    /// The scope of `(group, kind)`. Built-in kinds not in the
    /// cluster-scoped table are namespaced; custom kinds take their CRD's
    /// scope; custom kinds without a CRD in the repo are assumed namespaced
    /// (as almost all are) and their CRD is expected in the cluster.
    pub fn scope(&self, group: &str, kind: &str) -> Scope {
        if CLUSTER_SCOPED.contains(&(group, kind)) {
            return Scope::Cluster;
        }
        self.custom
            .get(&(group.to_owned(), kind.to_owned()))
            .copied()
            .unwrap_or(Scope::Namespaced)
    }
}

#[cfg(test)]
mod tests {
    use std::any::TypeId;

    use k8s_openapi::{ClusterResourceScope, Resource};
    use serde_json::json;

    use super::*;

    fn check<T: Resource>()
    where
        T::Scope: 'static,
    {
        let cluster = TypeId::of::<T::Scope>() == TypeId::of::<ClusterResourceScope>();
        let listed = CLUSTER_SCOPED.contains(&(T::GROUP, T::KIND));
        assert_eq!(
            cluster,
            listed,
            "{}/{} scope table is wrong",
            T::GROUP,
            T::KIND
        );
        assert!(is_built_in_group(T::GROUP), "group {} missing", T::GROUP);
    }

    #[test]
    fn table_agrees_with_k8s_openapi() {
        use k8s_openapi::api::{
            admissionregistration::v1 as adm, apps::v1 as apps, autoscaling::v2 as hpa,
            batch::v1 as batch, certificates::v1 as cert, core::v1 as core, flowcontrol::v1 as fc,
            networking::v1 as net, node::v1 as node, policy::v1 as policy, rbac::v1 as rbac,
            resource::v1 as res, scheduling::v1 as sched, storage::v1 as st,
        };
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as ext;
        use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1 as reg;
        check::<core::Namespace>();
        check::<core::Node>();
        check::<core::PersistentVolume>();
        check::<core::ComponentStatus>();
        check::<core::ConfigMap>();
        check::<core::Secret>();
        check::<core::Service>();
        check::<core::ServiceAccount>();
        check::<core::PersistentVolumeClaim>();
        check::<core::Pod>();
        check::<apps::Deployment>();
        check::<apps::StatefulSet>();
        check::<batch::Job>();
        check::<hpa::HorizontalPodAutoscaler>();
        check::<policy::PodDisruptionBudget>();
        check::<rbac::ClusterRole>();
        check::<rbac::ClusterRoleBinding>();
        check::<rbac::Role>();
        check::<rbac::RoleBinding>();
        check::<ext::CustomResourceDefinition>();
        check::<reg::APIService>();
        check::<st::StorageClass>();
        check::<st::CSIDriver>();
        check::<st::CSINode>();
        check::<st::VolumeAttachment>();
        check::<st::VolumeAttributesClass>();
        check::<sched::PriorityClass>();
        check::<adm::MutatingWebhookConfiguration>();
        check::<adm::ValidatingWebhookConfiguration>();
        check::<adm::ValidatingAdmissionPolicy>();
        check::<adm::ValidatingAdmissionPolicyBinding>();
        check::<node::RuntimeClass>();
        check::<net::IngressClass>();
        check::<net::Ingress>();
        check::<net::NetworkPolicy>();
        check::<net::IPAddress>();
        check::<net::ServiceCIDR>();
        check::<cert::CertificateSigningRequest>();
        check::<fc::FlowSchema>();
        check::<fc::PriorityLevelConfiguration>();
        check::<res::DeviceClass>();
        check::<res::ResourceSlice>();
        check::<res::ResourceClaim>();
    }

    #[test]
    fn custom_kinds_take_their_crd_scope() {
        let mut scopes = Scopes::default();
        let crd = json!({"spec": {"group": "example.com", "names": {"kind": "Widget"}, "scope": "Cluster"}});
        scopes.learn([&crd]);
        assert_eq!(scopes.scope("example.com", "Widget"), Scope::Cluster);
        assert_eq!(scopes.scope("example.com", "Gadget"), Scope::Namespaced);
        assert_eq!(scopes.scope("", "Namespace"), Scope::Cluster);
        assert_eq!(scopes.scope("apps", "Deployment"), Scope::Namespaced);
    }
}
