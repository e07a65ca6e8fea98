//! `cargo xtask openapi`: regenerates `schemas/kubernetes/v<major.minor>.json`,
//! the compact Kubernetes OpenAPI that `weir validate` ships with.
//!
//! It reads a running control plane (the test environment's, by default
//! through `WEIR_TEST_KUBECONFIG`) with `kubectl get --raw`: the OpenAPI v3
//! document of every group-version (`/openapi/v3/...`) and the discovery
//! documents (`/api/v1`, `/apis/<group>/<version>`) for each kind's scope.
//! The output keeps only what validation and diffing need: definitions
//! reachable from a kind, without descriptions and defaults, with the
//! `x-kubernetes-*` list and merge keys. Never edit the output by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use crate::controlplane::{self, State};

/// Prefix of references inside an OpenAPI v3 document.
const REF_PREFIX: &str = "#/components/schemas/";

/// Schema keywords kept in the compact form; everything else (descriptions,
/// defaults, unions, discriminators) is dropped.
const KEPT: &[&str] = &[
    "type",
    "format",
    "enum",
    "required",
    "nullable",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-patch-merge-key",
    "x-kubernetes-patch-strategy",
    "x-kubernetes-map-type",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource",
];

/// Options of `cargo xtask openapi`.
#[derive(Debug)]
pub struct Options {
    /// Kubeconfig of the control plane to read.
    pub kubeconfig: PathBuf,
    /// kubectl binary.
    pub kubectl: PathBuf,
    /// Output directory (`schemas/kubernetes`).
    pub out_dir: PathBuf,
}

/// Fetches, compacts and writes the OpenAPI of the control plane.
pub fn run(opts: &Options) -> Result<PathBuf> {
    let kubectl = Kubectl {
        bin: opts.kubectl.clone(),
        kubeconfig: opts.kubeconfig.clone(),
    };
    let version = kubectl.get("/version")?;
    let git_version = version
        .get("gitVersion")
        .and_then(Value::as_str)
        .context("/version has no gitVersion")?
        .to_string();
    let minor = minor_version(&git_version)?;

    // Group-versions served by CRDs are not built in; leave them out.
    let crds = kubectl.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")?;
    let crd_groups: BTreeSet<String> = crds
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|crd| crd.pointer("/spec/group").and_then(Value::as_str))
        .map(str::to_string)
        .collect();

    let index = kubectl.get("/openapi/v3")?;
    let paths = index
        .get("paths")
        .and_then(Value::as_object)
        .context("/openapi/v3 has no paths")?;
    let mut kinds = Vec::new();
    let mut definitions: BTreeMap<String, Value> = BTreeMap::new();
    for path in paths.keys() {
        let Some((group, version)) = group_version(path) else {
            continue;
        };
        if crd_groups.contains(group) {
            continue;
        }
        eprintln!("  reading /openapi/v3/{path}");
        let doc = kubectl.get(&format!("/openapi/v3/{path}"))?;
        let discovery = kubectl.get(&format!("/{path}"))?;
        let schemas = doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .with_context(|| format!("/openapi/v3/{path} has no components.schemas"))?;
        let resources = discovery
            .get("resources")
            .and_then(Value::as_array)
            .with_context(|| format!("/{path} has no resources"))?;
        let mut roots = Vec::new();
        let mut seen_kinds = BTreeSet::new();
        for resource in resources {
            let name = resource.get("name").and_then(Value::as_str).unwrap_or("");
            let kind = resource.get("kind").and_then(Value::as_str).unwrap_or("");
            if name.contains('/') || kind.is_empty() || !seen_kinds.insert(kind.to_string()) {
                continue; // a subresource, or a kind served under two names
            }
            let namespaced = resource
                .get("namespaced")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let Some(schema) = schema_of_kind(schemas, group, version, kind) else {
                eprintln!("  note: no schema for {group}/{version} {kind}; left out");
                continue;
            };
            roots.push(schema.clone());
            kinds.push(json!({
                "group": group,
                "version": version,
                "kind": kind,
                "namespaced": namespaced,
                "schema": schema,
            }));
        }
        for name in reachable(schemas, &roots) {
            let Some(def) = schemas.get(&name) else {
                bail!("/openapi/v3/{path}: dangling reference to {name}");
            };
            let compact = compact(def);
            if let Some(prev) = definitions.get(&name)
                && prev != &compact
            {
                eprintln!("  note: {name} differs between group-versions; keeping the first");
                continue;
            }
            definitions.insert(name, compact);
        }
    }
    if kinds.is_empty() {
        bail!("the control plane served no kinds; is it up?");
    }
    let out = json!({
        "kubernetesVersion": git_version,
        "generatedBy": "cargo xtask openapi (do not edit)",
        "kinds": kinds,
        "definitions": definitions,
    });
    std::fs::create_dir_all(&opts.out_dir)
        .with_context(|| format!("creating {}", opts.out_dir.display()))?;
    let file = opts.out_dir.join(format!("v{minor}.json"));
    let mut text = serde_json::to_string_pretty(&out)?;
    text.push('\n');
    std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    eprintln!(
        "wrote {} ({} kinds, {} definitions, {} KiB)",
        file.display(),
        out["kinds"].as_array().map_or(0, Vec::len),
        out["definitions"].as_object().map_or(0, Map::len),
        std::fs::metadata(&file).map_or(0, |m| m.len() / 1024)
    );
    Ok(file)
}

/// `1.35` from `v1.35.4`.
fn minor_version(git_version: &str) -> Result<String> {
    let v = git_version.trim_start_matches('v');
    let mut parts = v.split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) => Ok(format!(
            "{major}.{}",
            minor
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap_or(minor)
        )),
        _ => bail!("unexpected Kubernetes version {git_version}"),
    }
}

/// `("", "v1")` for `api/v1`, `("apps", "v1")` for `apis/apps/v1`; `None`
/// for paths that are not a group-version.
fn group_version(path: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["api", version] => Some(("", version)),
        ["apis", group, version] => Some((group, version)),
        _ => None,
    }
}

/// The definition carrying `x-kubernetes-group-version-kind` for the kind.
fn schema_of_kind(
    schemas: &Map<String, Value>,
    group: &str,
    version: &str,
    kind: &str,
) -> Option<String> {
    schemas.iter().find_map(|(name, def)| {
        let gvks = def.get("x-kubernetes-group-version-kind")?.as_array()?;
        gvks.iter()
            .any(|gvk| {
                gvk.get("group").and_then(Value::as_str) == Some(group)
                    && gvk.get("version").and_then(Value::as_str) == Some(version)
                    && gvk.get("kind").and_then(Value::as_str) == Some(kind)
            })
            .then(|| name.clone())
    })
}

/// Names of every definition reachable from `roots`.
fn reachable(schemas: &Map<String, Value>, roots: &[String]) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = roots.to_vec();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(def) = schemas.get(&name) {
            collect_refs(def, &mut todo);
        }
    }
    seen
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    if let Some(name) = v.as_str().and_then(|r| r.strip_prefix(REF_PREFIX)) {
                        out.push(name.to_string());
                    }
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The compact form of one schema node: `$ref` names without their prefix
/// (and `allOf: [{$ref}]` wrappers unwrapped), only the [`KEPT`] keywords,
/// and `properties`, `items`, `additionalProperties`, `oneOf` recursively.
fn compact(node: &Value) -> Value {
    let Some(map) = node.as_object() else {
        return node.clone();
    };
    let mut out = Map::new();
    if let Some(r) = map.get("$ref").and_then(Value::as_str) {
        out.insert(
            "$ref".into(),
            json!(r.strip_prefix(REF_PREFIX).unwrap_or(r)),
        );
    }
    if let Some(all_of) = map.get("allOf").and_then(Value::as_array) {
        match all_of.as_slice() {
            [single] if single.get("$ref").is_some() && !out.contains_key("$ref") => {
                if let Value::Object(inner) = compact(single) {
                    out.extend(inner);
                }
            }
            many => {
                out.insert(
                    "allOf".into(),
                    Value::Array(many.iter().map(compact).collect()),
                );
            }
        }
    }
    for key in KEPT {
        if let Some(v) = map.get(*key) {
            out.insert((*key).into(), v.clone());
        }
    }
    if let Some(props) = map.get("properties").and_then(Value::as_object) {
        let props: Map<String, Value> =
            props.iter().map(|(k, v)| (k.clone(), compact(v))).collect();
        out.insert("properties".into(), Value::Object(props));
    }
    for key in ["items", "additionalProperties"] {
        if let Some(v) = map.get(key) {
            out.insert(key.into(), compact(v));
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(v) = map.get(key).and_then(Value::as_array) {
            out.insert(key.into(), Value::Array(v.iter().map(compact).collect()));
        }
    }
    Value::Object(out)
}

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
}

impl Kubectl {
    fn get(&self, path: &str) -> Result<Value> {
        let output = Command::new(&self.bin)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["get", "--raw", path])
            .output()
            .with_context(|| format!("running {}", self.bin.display()))?;
        if !output.status.success() {
            bail!(
                "kubectl get --raw {path} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        serde_json::from_slice(&output.stdout).with_context(|| format!("parsing {path}"))
    }
}

/// `cargo xtask openapi`: kubeconfig and kubectl from the flags, else
/// `WEIR_TEST_KUBECONFIG` (and kubectl on PATH), else the running default
/// test environment.
pub fn task(
    kubeconfig: Option<PathBuf>,
    kubectl: Option<PathBuf>,
    out: Option<PathBuf>,
) -> Result<ExitCode> {
    let root = crate::tasks::workspace_root();
    let state = State::new(controlplane::default_state());
    let kubeconfig = match kubeconfig
        .or_else(|| std::env::var_os("WEIR_TEST_KUBECONFIG").map(PathBuf::from))
    {
        Some(k) => k,
        None if controlplane::is_running(&state) => state.kubeconfig(),
        None => bail!(
            "no control plane: start one with `cargo xtask testenv up`, or pass --kubeconfig FILE"
        ),
    };
    let kubectl = kubectl.unwrap_or_else(|| {
        let built = state.kubectl().bin;
        if built.exists() {
            built
        } else {
            PathBuf::from("kubectl")
        }
    });
    run(&Options {
        kubeconfig,
        kubectl,
        out_dir: out.unwrap_or_else(|| root.join("schemas/kubernetes")),
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compacts_refs_and_drops_descriptions() {
        let node = json!({
            "description": "x",
            "default": {},
            "allOf": [{"$ref": "#/components/schemas/io.k8s.Foo"}],
            "x-kubernetes-list-map-keys": ["name"]
        });
        assert_eq!(
            compact(&node),
            json!({"$ref": "io.k8s.Foo", "x-kubernetes-list-map-keys": ["name"]})
        );
    }

    #[test]
    fn group_versions() {
        assert_eq!(group_version("api/v1"), Some(("", "v1")));
        assert_eq!(group_version("apis/apps/v1"), Some(("apps", "v1")));
        assert_eq!(group_version("apis/apps"), None);
        assert_eq!(minor_version("v1.35.4").unwrap(), "1.35");
    }
}
