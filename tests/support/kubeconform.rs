//! Standalone JSON Schemas for kubeconform, converted from the very same
//! compact OpenAPI (and CRDs) that `weir validate` uses, with the same
//! rules (unknown fields are errors, `null` counts as absent), so
//! kubeconform runs offline: `tests/chart.rs` checks the chart's manifests
//! with it, and `benches/validate_vs_kubeconform.sh` (through
//! `examples/bench_fixture.rs`) races it. Schemas are laid out for
//! `-schema-location 'DIR/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json'`
//! ([`SCHEMA_LOCATION`]).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

/// kubeconform's `-schema-location` template below a schema directory.
pub const SCHEMA_LOCATION: &str = "{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json";

/// Writes one standalone JSON Schema per built-in kind; returns how many.
pub fn write_builtin_schemas(dir: &Path) -> Result<usize, Box<dyn std::error::Error>> {
    let compact: Value = serde_json::from_str(weir::kubernetes::COMPACT_OPENAPI)?;
    let definitions = compact["definitions"]
        .as_object()
        .ok_or("compact OpenAPI without definitions")?;
    let mut written = 0;
    for kind in compact["kinds"].as_array().into_iter().flatten() {
        let group = kind["group"].as_str().unwrap_or_default();
        let version = kind["version"].as_str().unwrap_or_default();
        let name = kind["kind"].as_str().unwrap_or_default();
        let root = kind["schema"].as_str().unwrap_or_default();
        let mut defs = Map::new();
        let mut todo = vec![root.to_string()];
        while let Some(def) = todo.pop() {
            if defs.contains_key(&def) {
                continue;
            }
            let Some(schema) = definitions.get(&def) else {
                continue;
            };
            let mut refs = Vec::new();
            defs.insert(def.clone(), convert(schema, &mut refs));
            todo.extend(refs);
        }
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "$ref": format!("#/definitions/{root}"),
            "definitions": defs,
        });
        write(dir, group, version, name, &schema)?;
        written += 1;
    }
    Ok(written)
}

/// Writes the schema of the custom resources of `crd` (its first version).
pub fn write_crd_schema(dir: &Path, crd: &Value) -> Result<(), Box<dyn std::error::Error>> {
    let version = &crd["spec"]["versions"][0];
    let open_api = &version["schema"]["openAPIV3Schema"];
    let mut schema = convert(open_api, &mut Vec::new());
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        // apiVersion, kind and metadata are always allowed on a custom resource.
        props.insert("apiVersion".into(), json!({"type": "string"}));
        props.insert("kind".into(), json!({"type": "string"}));
        props.insert("metadata".into(), json!({"type": "object"}));
    }
    write(
        dir,
        crd["spec"]["group"]
            .as_str()
            .ok_or("a CRD without spec.group")?,
        version["name"]
            .as_str()
            .ok_or("a CRD version without a name")?,
        crd["spec"]["names"]["kind"]
            .as_str()
            .ok_or("a CRD without a kind")?,
        &schema,
    )?;
    Ok(())
}

fn write(
    dir: &Path,
    group: &str,
    version: &str,
    kind: &str,
    schema: &Value,
) -> std::io::Result<()> {
    // kubeconform's `.Group` is the part before `/` of apiVersion: the
    // version itself for the core group.
    let group_dir: PathBuf = dir.join(if group.is_empty() { version } else { group });
    std::fs::create_dir_all(&group_dir)?;
    let file = group_dir.join(format!("{}_{version}.json", kind.to_lowercase()));
    std::fs::write(file, serde_json::to_vec(schema)?)
}

/// Compact OpenAPI (or a CRD's structural schema) → JSON Schema with weir's
/// rules: closed objects with `properties` (unless they preserve unknown
/// fields), `null` accepted everywhere, int-or-string as two types.
fn convert(node: &Value, refs: &mut Vec<String>) -> Value {
    let Some(map) = node.as_object() else {
        return node.clone();
    };
    let mut out = Map::new();
    if let Some(r) = map.get("$ref").and_then(Value::as_str) {
        refs.push(r.to_string());
        out.insert("$ref".into(), json!(format!("#/definitions/{r}")));
    }
    let int_or_string = map.get("format").and_then(Value::as_str) == Some("int-or-string")
        || map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    let mut types: Vec<Value> = match map.get("type") {
        Some(Value::String(t)) => vec![json!(t)],
        Some(Value::Array(ts)) => ts.clone(),
        _ => Vec::new(),
    };
    if int_or_string {
        types = vec![json!("integer"), json!("string")];
    }
    if let Some(one_of) = map.get("oneOf").and_then(Value::as_array) {
        let simple: Option<Vec<Value>> = one_of.iter().map(|b| b.get("type").cloned()).collect();
        match simple {
            Some(ts) if types.is_empty() => types = ts,
            _ => {
                out.insert(
                    "oneOf".into(),
                    Value::Array(one_of.iter().map(|b| convert(b, refs)).collect()),
                );
            }
        }
    }
    if !types.is_empty() {
        types.push(json!("null"));
        out.insert("type".into(), Value::Array(types));
    }
    for key in [
        "required",
        "pattern",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
    ] {
        if let Some(v) = map.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(e) = map.get("enum").and_then(Value::as_array) {
        let mut e = e.clone();
        e.push(Value::Null);
        out.insert("enum".into(), Value::Array(e));
    }
    let preserve = map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if let Some(props) = map.get("properties").and_then(Value::as_object) {
        let props: Map<String, Value> = props
            .iter()
            .map(|(k, v)| (k.clone(), convert(v, refs)))
            .collect();
        out.insert("properties".into(), Value::Object(props));
    }
    match map.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            out.insert("additionalProperties".into(), json!(b));
        }
        Some(schema @ Value::Object(_)) => {
            out.insert("additionalProperties".into(), convert(schema, refs));
        }
        _ if preserve => {}
        _ if map.contains_key("properties") => {
            out.insert("additionalProperties".into(), json!(false));
        }
        _ => {}
    }
    if let Some(items) = map.get("items") {
        out.insert("items".into(), convert(items, refs));
    }
    Value::Object(out)
}
