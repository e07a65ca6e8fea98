//! Rules of weir's kinds that serde's derive cannot express: name, label,
//! duration and quantity syntax, number ranges, and "exactly one of" groups.
//!
//! Every number and duration is range-checked, here and in the schemas:
//! counts Kubernetes takes as `int32` at most [`MAX_COUNT`], waves at most
//! [`MAX_WAVE`], durations at most 24h (the schemas' format
//! `weir-duration` is [`parse_duration`]), so nothing a repo writes can
//! overflow what weir or the API server computes from it.
//!
//! The JSON Schemas in `schemas/` are the single source of truth; these
//! checks mirror them so that deserialising a document into
//! [`Object`](super::model::Object) accepts exactly what the schemas accept
//! (`tests/schema_agreement.rs` proves it on a corpus). The patterns below
//! are the schemas' patterns, character for character (a unit test compares
//! them). `validate` runs the schemas first, for diagnostics with file and
//! line; these checks only guard deserialisation.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Deserializer};

use crate::sync::plan::parse_duration;

use super::model::{
    self, ComponentSpec, EnvValue, Metadata, Patch, Port, PortRef, Probe, Quantity, RepositorySpec,
    Selector, WaveRef, WorkloadSpec,
};

/// A string rule of the schemas: a `$defs` entry with a pattern and a
/// maximum length.
#[derive(Debug)]
pub struct Rule {
    /// The `$defs` entry of `schemas/` that holds the same pattern.
    pub def: &'static str,
    /// The schema file of that entry.
    pub schema: &'static str,
    pub pattern: &'static str,
    pub max_len: Option<usize>,
    /// What is expected, for messages (the entry's `title`).
    pub expected: &'static str,
}

macro_rules! rules {
    ($($id:ident = ($schema:literal, $def:literal, $pattern:literal, $max:expr, $expected:literal);)*) => {
        $(pub static $id: Rule = Rule {
            def: $def,
            schema: $schema,
            pattern: $pattern,
            max_len: $max,
            expected: $expected,
        };)*
        /// Every rule, for the test that compares them with the schemas.
        pub static ALL_RULES: &[&Rule] = &[$(&$id),*];
    };
}

rules! {
    NAME = ("common", "name", r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", Some(63), "a DNS-1123 label");
    DNS_SUBDOMAIN = ("common", "dnsSubdomain",
        r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", Some(253),
        "a DNS-1123 subdomain");
    DURATION = ("common", "duration", r"^([0-9]+(ms|s|m|h))+$", None, "a duration such as `90s`");
    KUBERNETES_VERSION = ("common", "kubernetesVersion", r"^v?[0-9]{1,4}\.[0-9]{1,4}(\.[0-9]{1,4})?$", None,
        "a Kubernetes version such as `1.35`");
    LABEL_KEY = ("common", "labelKey",
        r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$",
        Some(317), "a label key");
    LABEL_VALUE = ("common", "labelValue", r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$", None,
        "a label value");
    CRD_NAME = ("component", "crdName",
        r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$", Some(253),
        "a CRD name such as `certificates.cert-manager.io`");
    QUANTITY = ("workload", "quantity",
        r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE])?$", None,
        "a Kubernetes quantity such as `500m` or `4Gi`");
    PORT_NAME = ("workload", "portName", r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", Some(15), "a port name");
    ENV_NAME = ("workload", "envName", r"^[-._a-zA-Z][-._a-zA-Z0-9]*$", None,
        "an environment variable name");
    PLACEMENT_RULE = ("workload", "placementRule",
        r"^(([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?=(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$",
        None, "a node label `key=value` or a node pool name");
    IMAGE = ("workload", "spec/properties/image", r"^\S+$", None, "an image reference");
    FILE_NAME = ("workload", "config/properties/files/propertyNames", r"^[-._a-zA-Z0-9]+$", None,
        "a file name");
    MOUNT_PATH = ("workload", "config/properties/mountPath", r"^/", None, "an absolute path");
    HTTP_PATH = ("workload", "probe/properties/http/properties/path", r"^/", None,
        "an absolute request path");
}

/// Compiled patterns, built once.
static COMPILED: LazyLock<BTreeMap<&'static str, Regex>> = LazyLock::new(|| {
    ALL_RULES
        .iter()
        .filter_map(|rule| Regex::new(rule.pattern).ok().map(|re| (rule.pattern, re)))
        .collect()
});

impl Rule {
    /// True when `value` satisfies the rule.
    pub fn matches(&self, value: &str) -> bool {
        let long = self.max_len.is_some_and(|max| value.chars().count() > max);
        !long
            && COMPILED
                .get(self.pattern)
                .is_some_and(|re| re.is_match(value))
    }
}

/// Result of a check: the first rule broken, as a message naming the field.
type Checked = Result<(), String>;

fn rule(rule: &Rule, value: &str, field: &str) -> Checked {
    if rule.matches(value) {
        Ok(())
    } else {
        Err(format!("{field}: `{value}` is not {}", rule.expected))
    }
}

fn opt_rule(r: &Rule, value: &Option<String>, field: &str) -> Checked {
    value.as_deref().map_or(Ok(()), |v| rule(r, v, field))
}

fn all_rule(r: &Rule, values: &[String], field: &str) -> Checked {
    values.iter().try_for_each(|v| rule(r, v, field))
}

fn nonempty(value: &str, field: &str) -> Checked {
    if value.is_empty() {
        Err(format!("{field} must not be empty"))
    } else {
        Ok(())
    }
}

/// The largest count Kubernetes takes (an `int32`): replicas, GPUs,
/// probe seconds, Job settings. The schemas say the same (`maximum`).
pub const MAX_COUNT: u64 = 2_147_483_647;
/// The largest explicit wave number.
pub const MAX_WAVE: u64 = 10_000;
/// The largest quantity written as a number.
pub const MAX_QUANTITY: f64 = 1e15;

/// A duration of the schemas' `duration` definition: its pattern, and
/// its format `weir-duration` ([`parse_duration`]: at most 24h).
fn duration(value: &Option<String>, field: &str) -> Checked {
    let Some(text) = value else { return Ok(()) };
    rule(&DURATION, text, field)?;
    parse_duration(text)
        .map(drop)
        .map_err(|e| format!("{field}: {e}"))
}

fn opt_range(value: Option<impl Into<u64>>, min: u64, max: u64, field: &str) -> Checked {
    value.map_or(Ok(()), |v| range(v.into(), min, max, field))
}

fn range(value: u64, min: u64, max: u64, field: &str) -> Checked {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!("{field}: {value} is not between {min} and {max}"))
    }
}

fn exactly_one(present: &[(&str, bool)], what: &str) -> Checked {
    let given: Vec<&str> = present
        .iter()
        .filter(|(_, p)| *p)
        .map(|(n, _)| *n)
        .collect();
    if given.len() == 1 {
        Ok(())
    } else {
        let names: Vec<&str> = present.iter().map(|(n, _)| *n).collect();
        Err(format!(
            "{what} needs exactly one of {}, found {}",
            names.join(", "),
            if given.is_empty() {
                "none".to_string()
            } else {
                given.join(", ")
            }
        ))
    }
}

fn labels(map: &BTreeMap<String, String>, field: &str) -> Checked {
    map.iter().try_for_each(|(k, v)| {
        rule(&LABEL_KEY, k, field)?;
        rule(&LABEL_VALUE, v, field)
    })
}

/// A spec type whose extra rules run after deserialisation.
pub trait Spec {
    fn check(&self) -> Checked;
}

/// The shape of [`model::Object`] as read; [`model::Object`] deserialises
/// through it so that the rules here always run.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawObject<S> {
    api_version: String,
    kind: String,
    metadata: Metadata,
    spec: S,
}

impl<S: Spec> TryFrom<RawObject<S>> for model::Object<S> {
    type Error = String;

    fn try_from(raw: RawObject<S>) -> Result<Self, String> {
        if raw.api_version != model::API_VERSION {
            return Err(format!(
                "apiVersion: expected `{}`, found `{}`",
                model::API_VERSION,
                raw.api_version
            ));
        }
        check_metadata(&raw.metadata)?;
        raw.spec.check()?;
        Ok(model::Object {
            api_version: raw.api_version,
            kind: raw.kind,
            metadata: raw.metadata,
            spec: raw.spec,
        })
    }
}

fn check_metadata(m: &Metadata) -> Checked {
    rule(&NAME, &m.name, "metadata.name")?;
    opt_rule(&NAME, &m.namespace, "metadata.namespace")?;
    labels(&m.labels, "metadata.labels")
}

fn wave(w: &Option<WaveRef>, field: &str) -> Checked {
    match w {
        Some(WaveRef::Name(name)) => rule(&NAME, name, field),
        Some(WaveRef::Number(n)) => range(u64::from(*n), 0, MAX_WAVE, field),
        None => Ok(()),
    }
}

fn selector(s: &Selector, field: &str) -> Checked {
    for (value, name) in [
        (&s.kind, "kind"),
        (&s.name, "name"),
        (&s.namespace, "namespace"),
    ] {
        if let Some(v) = value {
            nonempty(v, &format!("{field}.{name}"))?;
        }
    }
    labels(&s.labels, field)
}

impl Spec for RepositorySpec {
    fn check(&self) -> Checked {
        for glob in self.include.iter().chain(&self.exclude) {
            nonempty(glob, "include/exclude glob")?;
        }
        opt_rule(&NAME, &self.defaults.namespace, "defaults.namespace")?;
        duration(&self.defaults.timeout, "defaults.timeout")?;
        opt_rule(
            &KUBERNETES_VERSION,
            &self.defaults.kubernetes_version,
            "defaults.kubernetesVersion",
        )?;
        for (name, pool) in &self.node_pools {
            rule(&NAME, name, "nodePools")?;
            labels(&pool.labels, "nodePools.labels")?;
            for taint in &pool.taints {
                rule(&LABEL_KEY, &taint.key, "taints.key")?;
                opt_rule(&LABEL_VALUE, &taint.value, "taints.value")?;
            }
        }
        all_rule(&NAME, &self.waves, "waves")?;
        for (i, w) in self.waves.iter().enumerate() {
            if self.waves[..i].contains(w) {
                return Err(format!("waves: `{w}` is listed twice"));
            }
        }
        if let Some(f) = self.prune.max_fraction
            && !(0.0..=1.0).contains(&f)
        {
            return Err(format!("prune.maxFraction: {f} is not between 0 and 1"));
        }
        Ok(())
    }
}

impl Spec for ComponentSpec {
    fn check(&self) -> Checked {
        opt_rule(&NAME, &self.namespace, "namespace")?;
        let source = &self.source;
        exactly_one(
            &[
                ("path", source.path.is_some()),
                ("helm", source.helm.is_some()),
            ],
            "source",
        )?;
        if let Some(path) = &source.path {
            nonempty(path, "source.path")?;
        }
        if let Some(helm) = &source.helm {
            nonempty(&helm.chart, "source.helm.chart")?;
            match (&helm.repo, &helm.version) {
                (Some(repo), Some(version)) => {
                    if !["https://", "http://", "oci://"]
                        .iter()
                        .any(|scheme| repo.len() > scheme.len() && repo.starts_with(scheme))
                    {
                        return Err(format!(
                            "source.helm.repo: `{repo}` is not an https://, http:// or oci:// URL"
                        ));
                    }
                    nonempty(version, "source.helm.version")?;
                    if repo.chars().any(char::is_whitespace) {
                        return Err(format!("source.helm.repo: `{repo}` is not a URL"));
                    }
                }
                // plainHttp also applies to a local chart's OCI dependencies.
                (None, None) => {}
                _ => return Err("source.helm.repo and source.helm.version go together".into()),
            }
            opt_rule(&NAME, &helm.release_name, "source.helm.releaseName")?;
            helm.values_files
                .iter()
                .try_for_each(|f| nonempty(f, "source.helm.valuesFiles"))?;
            if helm.values.as_ref().is_some_and(|v| !v.is_object()) {
                return Err("source.helm.values must be a mapping".into());
            }
        }
        wave(&self.wave, "wave")?;
        all_rule(&NAME, &self.depends_on, "dependsOn")?;
        for v in &self.values_from {
            rule(&NAME, &v.component, "valuesFrom.component")?;
            nonempty(&v.to, "valuesFrom.to")?;
        }
        for s in &self.preflight.secrets {
            rule(&DNS_SUBDOMAIN, &s.name, "preflight.secrets.name")?;
            opt_rule(&NAME, &s.namespace, "preflight.secrets.namespace")?;
            s.keys
                .iter()
                .try_for_each(|k| nonempty(k, "preflight.secrets.keys"))?;
            if let Some(t) = &s.secret_type {
                nonempty(t, "preflight.secrets.type")?;
            }
        }
        all_rule(&CRD_NAME, &self.preflight.crds, "preflight.crds")?;
        opt_rule(
            &KUBERNETES_VERSION,
            &self.preflight.min_kubernetes_version,
            "preflight.minKubernetesVersion",
        )?;
        duration(&self.health.timeout, "health.timeout")?;
        for c in &self.health.conditions {
            nonempty(&c.kind, "health.conditions.kind")?;
            nonempty(&c.condition_type, "health.conditions.type")?;
            if let Some(status) = &c.status
                && !["True", "False", "Unknown"].contains(&status.as_str())
            {
                return Err(format!(
                    "health.conditions.status: `{status}` is not one of True, False, Unknown"
                ));
            }
        }
        for s in &self.health.ignore {
            selector(s, "health.ignore")?;
        }
        for h in &self.hooks {
            rule(&NAME, &h.name, "hooks.name")?;
            nonempty(&h.path, "hooks.path")?;
            duration(&h.timeout, "hooks.timeout")?;
        }
        self.patches.iter().try_for_each(check_patch)?;
        for s in self.prune.protect.iter().chain(&self.prune.allow) {
            selector(s, "prune")?;
        }
        Ok(())
    }
}

fn check_patch(p: &Patch) -> Checked {
    selector(&p.target, "patches.target")?;
    exactly_one(
        &[("merge", p.merge.is_some()), ("json", p.json.is_some())],
        "a patch",
    )?;
    if p.merge.as_ref().is_some_and(|m| !m.is_object()) {
        return Err("patches.merge must be a mapping".into());
    }
    for op in p.json.iter().flatten() {
        let Some(fields) = op.as_object() else {
            return Err("patches.json: each operation must be a mapping".into());
        };
        if let Some(unknown) = fields
            .keys()
            .find(|k| !["op", "path", "from", "value"].contains(&k.as_str()))
        {
            return Err(format!("patches.json: unknown field `{unknown}`"));
        }
        let ops = ["add", "remove", "replace", "move", "copy", "test"];
        if !fields
            .get("op")
            .and_then(|o| o.as_str())
            .is_some_and(|o| ops.contains(&o))
        {
            return Err(format!("patches.json.op must be one of {}", ops.join(", ")));
        }
        for key in ["path", "from"] {
            if fields.get(key).is_some_and(|v| !v.is_string()) {
                return Err(format!("patches.json.{key} must be a string"));
            }
        }
        if !fields.contains_key("path") {
            return Err("patches.json.path is required".into());
        }
    }
    Ok(())
}

fn quantity(q: &Option<Quantity>, field: &str) -> Checked {
    match q {
        Some(Quantity::Text(s)) => rule(&QUANTITY, s, field),
        Some(Quantity::Number(n)) if n.as_f64().is_some_and(|f| f < 0.0) => {
            Err(format!("{field}: {n} is negative"))
        }
        Some(Quantity::Number(n)) if n.as_f64().is_none_or(|f| f > MAX_QUANTITY) => {
            Err(format!("{field}: {n} is more than {MAX_QUANTITY}"))
        }
        _ => Ok(()),
    }
}

fn port_ref(p: &PortRef, field: &str) -> Checked {
    match p {
        PortRef::Number(n) => range(u64::from(*n), 1, 65535, field),
        PortRef::Name(name) => rule(&PORT_NAME, name, field),
    }
}

fn check_port(p: &Port) -> Checked {
    rule(&PORT_NAME, &p.name, "ports.name")?;
    for (n, field) in [
        (Some(p.port), "ports.port"),
        (p.target_port, "ports.targetPort"),
        (p.node_port, "ports.nodePort"),
    ] {
        if let Some(n) = n {
            range(u64::from(n), 1, 65535, field)?;
        }
    }
    Ok(())
}

fn check_probe(p: &Probe, field: &str) -> Checked {
    exactly_one(
        &[
            ("http", p.http.is_some()),
            ("tcp", p.tcp.is_some()),
            ("exec", !p.exec.is_empty()),
        ],
        field,
    )?;
    if let Some(http) = &p.http {
        rule(&HTTP_PATH, &http.path, "probes.http.path")?;
        port_ref(&http.port, "probes.http.port")?;
    }
    if let Some(tcp) = &p.tcp {
        port_ref(tcp, "probes.tcp")?;
    }
    for (n, f) in [
        (p.period_seconds, "periodSeconds"),
        (p.failure_threshold, "failureThreshold"),
    ] {
        if n == Some(0) {
            return Err(format!("{field}.{f} must be at least 1"));
        }
    }
    for (n, f) in [
        (p.initial_delay_seconds, "initialDelaySeconds"),
        (p.period_seconds, "periodSeconds"),
        (p.failure_threshold, "failureThreshold"),
    ] {
        opt_range(n, 0, MAX_COUNT, &format!("{field}.{f}"))?;
    }
    Ok(())
}

impl Spec for WorkloadSpec {
    fn check(&self) -> Checked {
        rule(&IMAGE, &self.image, "image")?;
        quantity(&self.resources.cpu, "resources.cpu")?;
        quantity(&self.resources.memory, "resources.memory")?;
        if let Some(limits) = &self.resources.limits {
            quantity(&limits.cpu, "resources.limits.cpu")?;
            quantity(&limits.memory, "resources.limits.memory")?;
        }
        opt_range(self.replicas, 0, MAX_COUNT, "replicas")?;
        opt_range(self.resources.gpu, 0, MAX_COUNT, "resources.gpu")?;
        if let Some(s) = &self.scaling {
            range(
                u64::from(s.min_replicas),
                1,
                MAX_COUNT,
                "scaling.minReplicas",
            )?;
            range(
                u64::from(s.max_replicas),
                1,
                MAX_COUNT,
                "scaling.maxReplicas",
            )?;
            if let Some(t) = s.target_cpu_utilization {
                range(u64::from(t), 1, 100, "scaling.targetCpuUtilization")?;
            }
        }
        self.ports.iter().try_for_each(check_port)?;
        for (name, value) in &self.env {
            rule(&ENV_NAME, name, "env")?;
            if let EnvValue::From(from) = value {
                exactly_one(
                    &[
                        ("secret", from.secret.is_some()),
                        ("configMap", from.config_map.is_some()),
                    ],
                    "an env value",
                )?;
                for key_ref in [&from.secret, &from.config_map].into_iter().flatten() {
                    rule(&DNS_SUBDOMAIN, &key_ref.name, "env.name")?;
                    nonempty(&key_ref.key, "env.key")?;
                }
            }
        }
        if let Some(config) = &self.config {
            rule(&MOUNT_PATH, &config.mount_path, "config.mountPath")?;
            for name in config.files.keys() {
                rule(&FILE_NAME, name, "config.files")?;
            }
        }
        for (probe, field) in [
            (&self.probes.readiness, "probes.readiness"),
            (&self.probes.liveness, "probes.liveness"),
            (&self.probes.startup, "probes.startup"),
        ] {
            if let Some(p) = probe {
                check_probe(p, field)?;
            }
        }
        let placement = &self.placement;
        opt_rule(&NAME, &placement.pool, "placement.pool")?;
        all_rule(&PLACEMENT_RULE, &placement.may, "placement.may")?;
        all_rule(&PLACEMENT_RULE, &placement.prefer, "placement.prefer")?;
        all_rule(&PLACEMENT_RULE, &placement.must, "placement.must")?;
        opt_rule(
            &DNS_SUBDOMAIN,
            &self.service_account_name,
            "serviceAccountName",
        )?;
        wave(&self.wave, "wave")?;
        all_rule(&NAME, &self.depends_on, "dependsOn")?;
        if let Some(job) = &self.job {
            if job.active_deadline_seconds == Some(0) {
                return Err("job.activeDeadlineSeconds must be at least 1".into());
            }
            opt_range(job.completions, 0, MAX_COUNT, "job.completions")?;
            opt_range(job.parallelism, 0, MAX_COUNT, "job.parallelism")?;
            opt_range(job.backoff_limit, 0, MAX_COUNT, "job.backoffLimit")?;
            opt_range(
                job.active_deadline_seconds,
                1,
                MAX_COUNT,
                "job.activeDeadlineSeconds",
            )?;
        }
        Ok(())
    }
}

/// `deserialize_with` for a list that, when given, must not be empty (an
/// absent list stays empty through `#[serde(default)]`).
pub fn nonempty_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let list = Vec::<String>::deserialize(d)?;
    if list.is_empty() {
        Err(serde::de::Error::custom("the list must not be empty"))
    } else {
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_compile() {
        assert_eq!(COMPILED.len(), {
            let mut patterns: Vec<_> = ALL_RULES.iter().map(|r| r.pattern).collect();
            patterns.sort_unstable();
            patterns.dedup();
            patterns.len()
        });
    }

    #[test]
    fn rules_match_what_they_should() {
        assert!(NAME.matches("web-1"));
        assert!(!NAME.matches("Web"));
        assert!(!NAME.matches(&"a".repeat(64)));
        assert!(DURATION.matches("1h30m"));
        assert!(DURATION.matches("250ms"));
        assert!(!DURATION.matches("5 minutes"));
        assert!(QUANTITY.matches("500m"));
        assert!(QUANTITY.matches("1.5Gi"));
        assert!(!QUANTITY.matches("lots"));
        assert!(PLACEMENT_RULE.matches("gpu"));
        assert!(PLACEMENT_RULE.matches("example.com/tier=gold"));
        assert!(!PLACEMENT_RULE.matches("tier:gold"));
        assert!(LABEL_KEY.matches("app.kubernetes.io/name"));
        assert!(!LABEL_KEY.matches("-bad"));
    }
}
