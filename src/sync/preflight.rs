//! Preflight: every component's requirements (Secrets with the keys and
//! type named, CRDs, a minimum Kubernetes version) are checked before
//! anything is applied. A missing one stops the sync with a message that
//! says exactly what to create and where.
//!
//! A requirement the plan itself satisfies (a Secret or CRD rendered in the
//! same or an earlier wave) is not required to exist yet. Secret values are
//! never read into the findings: only key names and the type.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::apply::{Cluster, Result};
use super::plan::SyncPlan;
use crate::object::ObjectRef;

/// A requirement that is not met.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    pub component: String,
    pub message: String,
    /// The command or action that fixes it.
    pub fix: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "component {}: {}\n    fix: {}",
            self.component, self.message, self.fix
        )
    }
}

/// What a Secret holds, without its values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecretShape {
    pub secret_type: String,
    pub keys: BTreeSet<String>,
}

impl SecretShape {
    /// Reads the type and key names of a live Secret; drops the values.
    pub fn of(secret: &Value) -> Self {
        let keys = ["data", "stringData"]
            .iter()
            .filter_map(|k| secret.get(*k).and_then(Value::as_object))
            .flat_map(|m| m.keys().cloned())
            .collect();
        Self {
            secret_type: secret
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("Opaque")
                .to_owned(),
            keys,
        }
    }
}

/// The state of the cluster that preflight looks at.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// `(namespace, name)` → shape, `None` when absent.
    pub secrets: HashMap<(String, String), Option<SecretShape>>,
    /// CRD name → established, `None` when absent.
    pub crds: HashMap<String, Option<bool>>,
    /// Namespace → exists.
    pub namespaces: HashMap<String, bool>,
    /// `gitVersion` of the server, e.g. `v1.35.0`.
    pub server_version: Option<String>,
}

/// Where each component runs and which namespace its Secrets default to.
fn secret_namespace(unit_ns: Option<&str>, explicit: Option<&str>) -> String {
    explicit.or(unit_ns).unwrap_or("default").to_owned()
}

/// What the plan renders, by wave: Secrets, CRDs and Namespaces.
#[derive(Debug, Default)]
struct Rendered {
    secrets: BTreeMap<(String, String), u32>,
    crds: BTreeMap<String, u32>,
    namespaces: BTreeMap<String, u32>,
}

fn rendered(plan: &SyncPlan) -> Rendered {
    let mut r = Rendered::default();
    for wave in &plan.waves {
        for unit in &wave.units {
            for obj in &unit.objects {
                let Ok(o) = ObjectRef::from_value(obj) else {
                    continue;
                };
                if o.is_kind("", "Secret") {
                    let ns = o
                        .namespace
                        .clone()
                        .or(unit.namespace.clone())
                        .unwrap_or_default();
                    r.secrets.entry((ns, o.name.clone())).or_insert(wave.index);
                } else if o.is_crd() {
                    r.crds.entry(o.name.clone()).or_insert(wave.index);
                } else if o.is_namespace() {
                    r.namespaces.entry(o.name.clone()).or_insert(wave.index);
                }
            }
        }
    }
    r
}

/// What preflight must look up in the cluster for this plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lookups {
    pub secrets: BTreeSet<(String, String)>,
    pub crds: BTreeSet<String>,
    pub namespaces: BTreeSet<String>,
    pub version: bool,
}

/// The lookups needed: requirements the plan does not satisfy itself.
pub fn lookups(plan: &SyncPlan) -> Lookups {
    let r = rendered(plan);
    let mut l = Lookups::default();
    for wave in &plan.waves {
        for unit in &wave.units {
            for s in &unit.preflight.secrets {
                let ns = secret_namespace(unit.namespace.as_deref(), s.namespace.as_deref());
                let key = (ns.clone(), s.name.clone());
                if r.secrets.get(&key).is_none_or(|w| *w > wave.index) {
                    l.secrets.insert(key);
                    l.namespaces.insert(ns);
                }
            }
            for c in &unit.preflight.crds {
                if r.crds.get(c).is_none_or(|w| *w > wave.index) {
                    l.crds.insert(c.clone());
                }
            }
            l.version |= unit.preflight.min_kubernetes_version.is_some();
        }
    }
    l
}

/// Looks up what [`lookups`] asks for. Secret values are dropped at once.
pub async fn observe(cluster: &Cluster, lookups: &Lookups) -> Result<Observed> {
    let mut observed = Observed::default();
    for (ns, name) in &lookups.secrets {
        let r = ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: "Secret".into(),
            namespace: Some(ns.clone()),
            name: name.clone(),
        };
        let shape = cluster.get(&r).await?.map(|s| SecretShape::of(&s));
        observed.secrets.insert((ns.clone(), name.clone()), shape);
    }
    for name in &lookups.crds {
        let r = ObjectRef {
            group: "apiextensions.k8s.io".into(),
            version: "v1".into(),
            kind: "CustomResourceDefinition".into(),
            namespace: None,
            name: name.clone(),
        };
        let established = cluster.get(&r).await?.map(|crd| {
            super::health::condition(&crd, "Established")
                .and_then(|c| c.get("status"))
                .and_then(Value::as_str)
                == Some("True")
        });
        observed.crds.insert(name.clone(), established);
    }
    for ns in &lookups.namespaces {
        let r = ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: "Namespace".into(),
            namespace: None,
            name: ns.clone(),
        };
        observed
            .namespaces
            .insert(ns.clone(), cluster.get(&r).await?.is_some());
    }
    if lookups.version {
        observed.server_version = Some(cluster.server_version().await?.git_version);
    }
    Ok(observed)
}

/// Checks every requirement of the plan against what was observed.
pub fn check(plan: &SyncPlan, observed: &Observed) -> Vec<Failure> {
    let r = rendered(plan);
    let mut failures = Vec::new();
    for wave in &plan.waves {
        for unit in &wave.units {
            let fail = |message: String, fix: String| Failure {
                component: unit.name.clone(),
                message,
                fix,
            };
            for s in &unit.preflight.secrets {
                let ns = secret_namespace(unit.namespace.as_deref(), s.namespace.as_deref());
                if r.secrets
                    .get(&(ns.clone(), s.name.clone()))
                    .is_some_and(|w| *w <= wave.index)
                {
                    continue;
                }
                let mut create =
                    create_secret_command(&ns, &s.name, s.secret_type.as_deref(), &s.keys);
                let ns_exists = observed.namespaces.get(&ns).copied().unwrap_or(true);
                if !ns_exists {
                    create = format!("kubectl create namespace {ns} && {create}");
                }
                let described = s
                    .description
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default();
                match observed.secrets.get(&(ns.clone(), s.name.clone())) {
                    Some(None) | None => failures.push(fail(
                        format!(
                            "Secret {ns}/{} must exist{}{described}, and it does not",
                            s.name,
                            keys_phrase(&s.keys)
                        ),
                        create,
                    )),
                    Some(Some(shape)) => {
                        if let Some(t) = &s.secret_type
                            && &shape.secret_type != t
                        {
                            failures.push(fail(
                                format!(
                                    "Secret {ns}/{} has type {}, but type {t} is required{described}",
                                    s.name, shape.secret_type
                                ),
                                format!("kubectl -n {ns} delete secret {} && {create}", s.name),
                            ));
                        }
                        let missing: Vec<&str> = s
                            .keys
                            .iter()
                            .filter(|k| !shape.keys.contains(*k))
                            .map(String::as_str)
                            .collect();
                        if !missing.is_empty() {
                            let has: Vec<&str> = shape.keys.iter().map(String::as_str).collect();
                            failures.push(fail(
                                format!(
                                    "Secret {ns}/{} lacks key{} {} (it has: {}){described}",
                                    s.name,
                                    if missing.len() == 1 { "" } else { "s" },
                                    missing.join(", "),
                                    if has.is_empty() {
                                        "no keys".into()
                                    } else {
                                        has.join(", ")
                                    }
                                ),
                                format!("{create} --dry-run=client -o yaml | kubectl apply -f -"),
                            ));
                        }
                    }
                }
            }
            for c in &unit.preflight.crds {
                if r.crds.get(c).is_some_and(|w| *w <= wave.index) {
                    continue;
                }
                match observed.crds.get(c) {
                    Some(Some(true)) => {}
                    Some(Some(false)) => failures.push(fail(
                        format!("CustomResourceDefinition {c} exists but is not Established"),
                        format!("kubectl get crd {c} -o yaml  # see status.conditions for why"),
                    )),
                    _ => {
                        let late = r
                            .crds
                            .get(c)
                            .map(|w| format!(" (the repo installs it only in wave {w}, after this component's wave {})", wave.index))
                            .unwrap_or_default();
                        failures.push(fail(
                            format!("CustomResourceDefinition {c} must be installed, and it is not{late}"),
                            "install it first (e.g. kubectl apply -f the operator's CRD manifest), or add it to a component in an earlier wave".into(),
                        ));
                    }
                }
            }
            if let Some(min) = &unit.preflight.min_kubernetes_version {
                let have = observed.server_version.as_deref().unwrap_or("");
                match (parse_version(min), parse_version(have)) {
                    (Some(want), Some(got)) if got < want => failures.push(fail(
                        format!("Kubernetes {min} or later is required, the cluster runs {have}"),
                        "upgrade the cluster, or sync a revision of the repo made for this version"
                            .into(),
                    )),
                    (None, _) => failures.push(fail(
                        format!("minKubernetesVersion {min:?} is not a version"),
                        "write it as MAJOR.MINOR, e.g. \"1.28\"".into(),
                    )),
                    _ => {}
                }
            }
        }
    }
    failures
}

fn keys_phrase(keys: &[String]) -> String {
    match keys {
        [] => String::new(),
        [one] => format!(" with key {one}"),
        many => format!(" with keys {}", many.join(", ")),
    }
}

/// The kubectl command that creates a Secret of the given type and keys.
pub fn create_secret_command(
    ns: &str,
    name: &str,
    secret_type: Option<&str>,
    keys: &[String],
) -> String {
    match secret_type {
        Some("kubernetes.io/dockerconfigjson") => format!(
            "kubectl -n {ns} create secret docker-registry {name} --docker-server=REGISTRY --docker-username=USER --docker-password=PASSWORD"
        ),
        Some("kubernetes.io/tls") => {
            format!("kubectl -n {ns} create secret tls {name} --cert=./tls.crt --key=./tls.key")
        }
        other => {
            let mut cmd = format!("kubectl -n {ns} create secret generic {name}");
            if let Some(t) = other.filter(|t| *t != "Opaque") {
                cmd.push_str(&format!(" --type={t}"));
            }
            if keys.is_empty() {
                cmd.push_str(" --from-literal=KEY=VALUE");
            }
            for k in keys {
                cmd.push_str(&format!(" --from-file={k}=./{k}"));
            }
            cmd
        }
    }
}

/// `v1.35.2+k3s1` / `1.28` → `(1, 35, 2)`; missing parts are 0.
pub fn parse_version(v: &str) -> Option<(u32, u32, u32)> {
    let v = v.trim().trim_start_matches('v');
    let mut parts = v.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let patch = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Some((major, minor, patch))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::spec::model::{Preflight, RequiredSecret};
    use crate::sync::{SyncUnit, SyncWave};

    fn plan(preflight: Preflight, objects: Vec<Value>) -> SyncPlan {
        SyncPlan {
            target: "t".into(),
            waves: vec![SyncWave {
                index: 0,
                name: "0".into(),
                units: vec![SyncUnit {
                    name: "edge-operator".into(),
                    namespace: Some("edge".into()),
                    objects,
                    preflight,
                    ..Default::default()
                }],
            }],
            ..Default::default()
        }
    }

    fn license() -> RequiredSecret {
        RequiredSecret {
            name: "knime-license".into(),
            namespace: None,
            keys: vec!["license".into()],
            secret_type: None,
            description: Some("the license file from your vendor account".into()),
        }
    }

    #[test]
    fn missing_secret_says_what_to_create() {
        let p = plan(
            Preflight {
                secrets: vec![license()],
                ..Default::default()
            },
            vec![],
        );
        let l = lookups(&p);
        assert!(
            l.secrets
                .contains(&("edge".to_owned(), "knime-license".to_owned()))
        );
        let mut observed = Observed::default();
        observed.namespaces.insert("edge".into(), true);
        let f = check(&p, &observed);
        insta::assert_snapshot!(f[0].to_string(), @r"
        component edge-operator: Secret edge/knime-license must exist with key license (the license file from your vendor account), and it does not
            fix: kubectl -n edge create secret generic knime-license --from-file=license=./license
        ");
        observed.namespaces.insert("edge".into(), false);
        assert!(
            check(&p, &observed)[0]
                .fix
                .starts_with("kubectl create namespace edge && ")
        );
    }

    #[test]
    fn wrong_keys_and_type_name_only_keys() {
        let mut s = license();
        s.secret_type = Some("kubernetes.io/dockerconfigjson".into());
        let p = plan(
            Preflight {
                secrets: vec![s],
                ..Default::default()
            },
            vec![],
        );
        let mut observed = Observed::default();
        let secret = json!({"type": "Opaque", "data": {"other": "c2VjcmV0"}});
        observed.secrets.insert(
            ("edge".into(), "knime-license".into()),
            Some(SecretShape::of(&secret)),
        );
        let f = check(&p, &observed);
        assert_eq!(f.len(), 2);
        assert!(f[0].message.contains("has type Opaque"));
        assert!(f[1].message.contains("lacks key license (it has: other)"));
        assert!(!format!("{f:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn rendered_requirements_are_satisfied() {
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"}});
        let p = plan(
            Preflight {
                crds: vec!["widgets.example.com".into()],
                ..Default::default()
            },
            vec![crd],
        );
        assert!(lookups(&p).crds.is_empty());
        assert!(check(&p, &Observed::default()).is_empty());
        let p = plan(
            Preflight {
                crds: vec!["gadgets.example.com".into()],
                ..Default::default()
            },
            vec![],
        );
        let f = check(&p, &Observed::default());
        assert!(
            f[0].message
                .contains("gadgets.example.com must be installed")
        );
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("v1.35.2+k3s1"), Some((1, 35, 2)));
        assert_eq!(parse_version("1.28"), Some((1, 28, 0)));
        let p = plan(
            Preflight {
                min_kubernetes_version: Some("1.36".into()),
                ..Default::default()
            },
            vec![],
        );
        let observed = Observed {
            server_version: Some("v1.35.0".into()),
            ..Default::default()
        };
        assert_eq!(
            check(&p, &observed)[0].message,
            "Kubernetes 1.36 or later is required, the cluster runs v1.35.0"
        );
        let observed = Observed {
            server_version: Some("v1.36.1".into()),
            ..Default::default()
        };
        assert!(check(&p, &observed).is_empty());
    }

    #[test]
    fn secret_commands() {
        assert_eq!(
            create_secret_command("ns", "pull", Some("kubernetes.io/dockerconfigjson"), &[]),
            "kubectl -n ns create secret docker-registry pull --docker-server=REGISTRY --docker-username=USER --docker-password=PASSWORD"
        );
        assert_eq!(
            create_secret_command(
                "ns",
                "x",
                Some("kubernetes.io/basic-auth"),
                &["username".into()]
            ),
            "kubectl -n ns create secret generic x --type=kubernetes.io/basic-auth --from-file=username=./username"
        );
    }
}
