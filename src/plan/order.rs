//! The order of kinds inside a wave, and the health gate of each kind.
//!
//! Within a wave objects are applied class by class:
//!
//! 0. Namespaces
//! 1. CustomResourceDefinitions
//! 2. ServiceAccounts, ClusterRoles, ClusterRoleBindings, Roles, RoleBindings
//! 3. Secrets, ConfigMaps, StorageClasses, PersistentVolumes, PersistentVolumeClaims
//! 4. Services
//! 5. workloads: DaemonSets, Pods, ReplicationControllers, ReplicaSets,
//!    Deployments, StatefulSets, Jobs, CronJobs
//! 6. every other built-in kind (by kind name)
//! 7. custom resources (kinds of groups Kubernetes does not serve)
//!
//! and inside a class by the order listed, then kind, group, namespace and
//! name. Sync must wait for a unit's CRDs to be Established before it
//! applies custom resources of the same unit.

use crate::render::scope::{is_built_in_group, is_crd};

const ORDER: &[(u8, &[(&str, &str)])] = &[
    (0, &[("", "Namespace")]),
    (1, &[("apiextensions.k8s.io", "CustomResourceDefinition")]),
    (
        2,
        &[
            ("", "ServiceAccount"),
            ("rbac.authorization.k8s.io", "ClusterRole"),
            ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
            ("rbac.authorization.k8s.io", "Role"),
            ("rbac.authorization.k8s.io", "RoleBinding"),
        ],
    ),
    (
        3,
        &[
            ("", "Secret"),
            ("", "ConfigMap"),
            ("storage.k8s.io", "StorageClass"),
            ("", "PersistentVolume"),
            ("", "PersistentVolumeClaim"),
        ],
    ),
    (4, &[("", "Service")]),
    (
        5,
        &[
            ("apps", "DaemonSet"),
            ("", "Pod"),
            ("", "ReplicationController"),
            ("apps", "ReplicaSet"),
            ("apps", "Deployment"),
            ("apps", "StatefulSet"),
            ("batch", "Job"),
            ("batch", "CronJob"),
        ],
    ),
];

/// Class of other built-in kinds.
const OTHER_BUILT_IN: u8 = 6;
/// Class of custom resources.
const CUSTOM: u8 = 7;

/// Sort key of a kind: `(class, position in class)`.
pub fn rank(group: &str, kind: &str) -> (u8, u8) {
    for (class, kinds) in ORDER {
        if let Some(i) = kinds.iter().position(|(g, k)| *g == group && *k == kind) {
            return (*class, u8::try_from(i).unwrap_or(u8::MAX));
        }
    }
    if is_built_in_group(group) {
        (OTHER_BUILT_IN, 0)
    } else {
        (CUSTOM, 0)
    }
}

/// True for a kind that is a custom resource (not served by Kubernetes).
pub fn is_custom(group: &str) -> bool {
    !is_built_in_group(group)
}

/// What the health gate of a kind waits for, if it has one.
pub fn health_condition(group: &str, kind: &str) -> Option<&'static str> {
    Some(match (group, kind) {
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet") => "rolled out",
        ("batch", "Job") => "Complete",
        ("", "Namespace") => "Active",
        ("", "PersistentVolumeClaim") => "Bound",
        ("apiregistration.k8s.io", "APIService") => "Available",
        (g, k) if is_crd(g, k) => "Established",
        (g, _) if is_custom(g) => "Ready (when it reports conditions)",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_rules() {
        let kinds = [
            ("serving.knative.dev", "Service"),
            ("autoscaling", "HorizontalPodAutoscaler"),
            ("apps", "Deployment"),
            ("", "Service"),
            ("", "PersistentVolumeClaim"),
            ("", "ConfigMap"),
            ("rbac.authorization.k8s.io", "ClusterRole"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
            ("", "Namespace"),
        ];
        let mut sorted = kinds.to_vec();
        sorted.sort_by_key(|(g, k)| rank(g, k));
        let expected: Vec<_> = kinds.iter().rev().copied().collect();
        assert_eq!(sorted, expected);
        assert_eq!(health_condition("", "ConfigMap"), None);
        assert_eq!(
            health_condition("apiextensions.k8s.io", "CustomResourceDefinition"),
            Some("Established")
        );
    }
}
