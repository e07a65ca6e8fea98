//! What the agent may do in the cluster, in one table: every RBAC rule the
//! chart (`charts/weir/templates/rbac.yaml`) grants, where it is granted,
//! and what the agent's code does with it. `tests/chart.rs` renders the
//! chart in both modes and fails when its rules and this table differ in
//! either direction; the end-to-end test runs the agent as the chart's
//! ServiceAccount, where any request the rules do not allow fails it.
//!
//! Three places a rule can be granted ([`Scope`]):
//!
//! - [`Scope::Own`]: in the agent's own namespace (`weir-system`, where
//!   [`inventory::NAMESPACE`] keeps what weir applied): a Role there.
//! - [`Scope::Served`]: where the Syncs it serves live. Cluster mode: a
//!   ClusterRole bound cluster-wide (the Syncs may be in any namespace,
//!   and what they apply may be anywhere); tenant mode: a Role in each
//!   listed namespace, and nothing cluster-scoped.
//! - [`Scope::Cluster`]: cluster-scoped, cluster mode only.
//!
//! The agent applies whatever the synced repos contain, so in cluster mode
//! its rules are, in effect, cluster-admin: any kind, and `escalate` and
//! `bind` on roles, because Kubernetes lets a subject create a role (or a
//! binding to one) only if it holds every permission the role grants, or
//! holds these two verbs. That is said plainly in the chart's values and
//! the README.

use serde_json::{Value, json};

use crate::sync::inventory;

/// Where a rule is granted (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// A Role in the agent's own namespace.
    Own,
    /// Cluster mode: a ClusterRole bound cluster-wide; tenant mode: a Role
    /// in each listed namespace.
    Served,
    /// A ClusterRole; never in tenant mode.
    Cluster,
}

/// When a rule is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Always.
    Always,
    /// When the agent applies with its own identity: always in cluster
    /// mode; in tenant mode unless `tenant.applyAsAgent` is false (then
    /// every Sync must name a ServiceAccount, which applies).
    ApplyingAsAgent,
    /// With the status page checked by TokenReview (`--ui token-review`).
    TokenReview,
}

/// One RBAC rule of the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub api_groups: &'static [&'static str],
    pub resources: &'static [&'static str],
    pub verbs: &'static [&'static str],
    pub scope: Scope,
    pub when: When,
    /// What the agent does with it, and where in the code.
    pub why: &'static str,
}

/// Every rule the agent needs.
pub const RULES: &[Rule] = &[
    Rule {
        api_groups: &["coordination.k8s.io"],
        resources: &["leases"],
        verbs: &["get", "create", "update"],
        scope: Scope::Own,
        when: When::Always,
        why: "leader election among replicas (agent/leader.rs) and each target's Lease, held while \
              it is synced so two writers never interleave (sync/lease.rs)",
    },
    Rule {
        api_groups: &[""],
        resources: &["configmaps"],
        verbs: &["get", "create", "patch"],
        scope: Scope::Own,
        when: When::Always,
        why: "the inventory of each target: what weir applied, for pruning (sync/inventory.rs)",
    },
    Rule {
        api_groups: &[""],
        resources: &["namespaces"],
        verbs: &["get"],
        scope: Scope::Own,
        when: When::Always,
        why: "check that its own namespace exists before the first Lease or inventory is written \
              (sync/lease.rs); a Role grants this for its own namespace only",
    },
    Rule {
        api_groups: &["weir.dev"],
        resources: &["syncs"],
        verbs: &["get", "list", "watch", "patch"],
        scope: Scope::Served,
        when: When::Always,
        why: "serve the Syncs: watch them (agent/controller.rs), read one for a webhook, and \
              ask the leader to fetch with an annotation when a follower got it (agent/http.rs)",
    },
    Rule {
        api_groups: &["weir.dev"],
        resources: &["syncs/status"],
        verbs: &["patch"],
        scope: Scope::Served,
        when: When::Always,
        why: "report in each Sync's status (agent/worker.rs)",
    },
    Rule {
        api_groups: &[""],
        resources: &["secrets"],
        verbs: &["get"],
        scope: Scope::Served,
        when: When::Always,
        why: "read the Secrets a Sync names: Git credentials, webhook token, allowed signers, SOPS age key \
              (agent/worker.rs, agent/http.rs)",
    },
    Rule {
        api_groups: &[""],
        resources: &["events"],
        verbs: &["create"],
        scope: Scope::Served,
        when: When::Always,
        why: "record Events on the Syncs (agent/events.rs)",
    },
    Rule {
        api_groups: &[""],
        resources: &["serviceaccounts"],
        verbs: &["impersonate"],
        scope: Scope::Served,
        when: When::Always,
        why: "apply as the ServiceAccount a Sync names in spec.serviceAccountName (agent/worker.rs, \
              sync/apply.rs Cluster::impersonating)",
    },
    Rule {
        api_groups: &["*"],
        resources: &["*"],
        verbs: &["get", "list", "watch", "create", "patch", "delete"],
        scope: Scope::Served,
        when: When::ApplyingAsAgent,
        why: "apply whatever the synced repos contain (server-side apply: patch, and create for a \
              new object), read it back for health (and the pods and events of what is not \
              healthy), watch it for drift, delete what is pruned and finished hooks (sync/)",
    },
    Rule {
        api_groups: &["rbac.authorization.k8s.io"],
        resources: &["roles", "clusterroles"],
        verbs: &["bind", "escalate"],
        scope: Scope::Served,
        when: When::ApplyingAsAgent,
        why: "apply the roles and bindings the repos contain: Kubernetes lets a subject create a \
              role, or bind one, only if it holds all the role grants, or holds these verbs",
    },
    Rule {
        api_groups: &["authentication.k8s.io"],
        resources: &["tokenreviews"],
        verbs: &["create"],
        scope: Scope::Cluster,
        when: When::TokenReview,
        why: "check the token of a visitor of the status page (--ui token-review, agent/http.rs)",
    },
];

/// How the chart is installed, as far as permissions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    /// Tenant mode (Roles in listed namespaces) rather than cluster-wide.
    pub tenant: bool,
    /// The agent applies with its own identity (always in cluster mode).
    pub apply_as_agent: bool,
    /// The status page checks tokens with TokenReview.
    pub token_review: bool,
}

impl Mode {
    /// Cluster-wide, as the chart installs by default.
    pub const CLUSTER: Mode = Mode {
        tenant: false,
        apply_as_agent: true,
        token_review: false,
    };

    /// Whether `rule` is granted in this mode.
    pub fn grants(&self, rule: &Rule) -> bool {
        let when = match rule.when {
            When::Always => true,
            When::ApplyingAsAgent => !self.tenant || self.apply_as_agent,
            When::TokenReview => self.token_review,
        };
        when && !(self.tenant && rule.scope == Scope::Cluster)
    }
}

/// Where a granted permission lives once the chart is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Binding {
    /// A Role (and RoleBinding) in the agent's own namespace.
    OwnNamespace,
    /// A Role in each namespace whose Syncs are served (tenant mode).
    EachServedNamespace,
    /// A ClusterRole bound cluster-wide.
    ClusterWide,
}

/// One verb on one resource of one API group, granted at one binding:
/// rules are compared in this form, so how they are grouped does not
/// matter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    pub binding: Binding,
    pub api_group: String,
    pub resource: String,
    pub verb: String,
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let group = if self.api_group.is_empty() {
            "core"
        } else {
            &self.api_group
        };
        write!(
            f,
            "{} {}/{} ({:?})",
            self.verb, group, self.resource, self.binding
        )
    }
}

/// Where a rule of `scope` is granted in `mode`.
pub fn binding(scope: Scope, mode: &Mode) -> Binding {
    match (scope, mode.tenant) {
        (Scope::Own, _) => Binding::OwnNamespace,
        (Scope::Served, true) => Binding::EachServedNamespace,
        (Scope::Served | Scope::Cluster, _) => Binding::ClusterWide,
    }
}

/// Every permission `mode` grants, one per verb, resource and group.
pub fn permissions(mode: &Mode) -> std::collections::BTreeSet<Permission> {
    RULES
        .iter()
        .filter(|r| mode.grants(r))
        .flat_map(|r| expand(binding(r.scope, mode), r.api_groups, r.resources, r.verbs))
        .collect()
}

/// The permissions of one RBAC `PolicyRule` (as the API server holds it)
/// granted at `binding`.
pub fn permissions_of_rule(binding: Binding, rule: &Value) -> Vec<Permission> {
    let strings = |key: &str| -> Vec<&str> {
        rule.get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    expand(
        binding,
        &strings("apiGroups"),
        &strings("resources"),
        &strings("verbs"),
    )
    .collect()
}

fn expand<'a>(
    binding: Binding,
    groups: &'a [&'a str],
    resources: &'a [&'a str],
    verbs: &'a [&'a str],
) -> impl Iterator<Item = Permission> + 'a {
    groups.iter().flat_map(move |g| {
        resources.iter().flat_map(move |r| {
            verbs.iter().map(move |v| Permission {
                binding,
                api_group: (*g).to_owned(),
                resource: (*r).to_owned(),
                verb: (*v).to_owned(),
            })
        })
    })
}

/// The rules granted at `binding` in `mode`, as RBAC `PolicyRule`s.
pub fn policy_rules(mode: &Mode, at: Binding) -> Vec<Value> {
    RULES
        .iter()
        .filter(|r| mode.grants(r) && binding(r.scope, mode) == at)
        .map(|r| json!({"apiGroups": r.api_groups, "resources": r.resources, "verbs": r.verbs}))
        .collect()
}

/// The namespace the agent keeps its own state in.
pub const OWN_NAMESPACE: &str = inventory::NAMESPACE;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_mode_grants_nothing_cluster_wide() {
        for apply_as_agent in [true, false] {
            for token_review in [true, false] {
                let mode = Mode {
                    tenant: true,
                    apply_as_agent,
                    token_review,
                };
                assert!(
                    permissions(&mode)
                        .iter()
                        .all(|p| p.binding != Binding::ClusterWide),
                    "{mode:?}"
                );
            }
        }
    }

    #[test]
    fn applying_is_granted_only_when_the_agent_applies() {
        let any = |mode: &Mode| {
            permissions(mode)
                .iter()
                .any(|p| p.resource == "*" && p.verb == "patch")
        };
        assert!(any(&Mode::CLUSTER));
        let tenant = Mode {
            tenant: true,
            apply_as_agent: true,
            token_review: false,
        };
        assert!(any(&tenant));
        assert!(!any(&Mode {
            apply_as_agent: false,
            ..tenant
        }));
    }

    #[test]
    fn every_rule_says_why() {
        for rule in RULES {
            assert!(rule.why.len() > 20, "{rule:?}");
            assert!(!rule.verbs.is_empty() && !rule.resources.is_empty());
        }
    }

    #[test]
    fn a_policy_rule_reads_back_as_its_permissions() {
        let rules = policy_rules(&Mode::CLUSTER, Binding::OwnNamespace);
        let back: std::collections::BTreeSet<Permission> = rules
            .iter()
            .flat_map(|r| permissions_of_rule(Binding::OwnNamespace, r))
            .collect();
        let own: std::collections::BTreeSet<Permission> = permissions(&Mode::CLUSTER)
            .into_iter()
            .filter(|p| p.binding == Binding::OwnNamespace)
            .collect();
        assert_eq!(back, own);
    }
}
