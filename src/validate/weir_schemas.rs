//! The JSON Schemas of weir's kinds, embedded from `schemas/`, bundled
//! into one self-contained document per kind and compiled once.
//!
//! The files in `schemas/` refer to shared definitions in
//! `common.schema.json` by relative reference, which editors resolve next
//! to the file. [`bundled`] inlines those definitions so that a kind's
//! schema stands alone: it is what `weir schema <kind>` prints and what the
//! validators are built from, so editors and `weir validate` agree.

use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::{Map, Value};

/// A schema file of `schemas/`, by name.
pub const FILES: &[(&str, &str)] = &[
    ("common", include_str!("../../schemas/common.schema.json")),
    (
        "repository",
        include_str!("../../schemas/repository.schema.json"),
    ),
    (
        "component",
        include_str!("../../schemas/component.schema.json"),
    ),
    (
        "workload",
        include_str!("../../schemas/workload.schema.json"),
    ),
];

/// The `format` of the schemas' durations: what weir's one duration
/// parser takes ([`parse_duration`](crate::sync::plan::parse_duration):
/// at most 24h). Editors that do not know it still check the pattern.
pub const DURATION_FORMAT: &str = "weir-duration";

/// The reference prefix of shared definitions in the kinds' files.
const COMMON_REF: &str = "common.schema.json#/$defs/";

/// Errors of the embedded schemas (a build defect, reported, never a panic).
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("schema `{0}` is not embedded")]
    Unknown(String),
    #[error("schemas/{name}.schema.json is not valid JSON: {source}")]
    Parse {
        name: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("schemas/{name}.schema.json does not compile: {message}")]
    Compile { name: String, message: String },
}

/// The file name of a weir kind's schema (`Component` → `component`).
pub fn schema_name(kind: &str) -> Option<&'static str> {
    match kind {
        "Repository" => Some("repository"),
        "Component" => Some("component"),
        "Workload" => Some("workload"),
        _ => None,
    }
}

fn raw(name: &str) -> Result<Value, SchemaError> {
    let text = FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .ok_or_else(|| SchemaError::Unknown(name.to_string()))?;
    serde_json::from_str(text).map_err(|source| SchemaError::Parse {
        name: name.to_string(),
        source,
    })
}

/// A kind's schema (`repository`, `component`, `workload`) with the shared
/// definitions inlined under `$defs`, references rewritten to `#/$defs/...`.
pub fn bundled(name: &str) -> Result<Value, SchemaError> {
    let mut schema = raw(name)?;
    if name == "common" {
        return Ok(schema);
    }
    let common = raw("common")?;
    rewrite_refs(&mut schema);
    let shared = common
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Value::Object(root) = &mut schema {
        let defs = root
            .entry("$defs")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(defs) = defs {
            for (k, v) in shared {
                defs.entry(k).or_insert(v);
            }
        }
    }
    Ok(schema)
}

fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref")
                && let Some(def) = r.strip_prefix(COMMON_REF)
            {
                *r = format!("#/$defs/{def}");
            }
            map.values_mut().for_each(rewrite_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

/// A compiled kind schema, with the bundled document it came from (to look
/// up the known properties and titles that diagnostics mention).
pub struct KindSchema {
    pub name: &'static str,
    pub validator: Validator,
    pub document: Value,
}

/// The three kinds' schemas, compiled once.
pub struct WeirSchemas {
    pub kinds: Vec<KindSchema>,
}

impl WeirSchemas {
    fn build() -> Result<Self, SchemaError> {
        let mut kinds = Vec::new();
        for name in ["repository", "component", "workload"] {
            let document = bundled(name)?;
            let validator = jsonschema::draft202012::options()
                .with_format(DURATION_FORMAT, |text: &str| {
                    crate::sync::plan::parse_duration(text).is_ok()
                })
                .should_validate_formats(true)
                .build(&document)
                .map_err(|e| SchemaError::Compile {
                    name: name.to_string(),
                    message: e.to_string(),
                })?;
            kinds.push(KindSchema {
                name,
                validator,
                document,
            });
        }
        Ok(WeirSchemas { kinds })
    }

    /// The schemas, compiled on first use.
    pub fn get() -> Result<&'static WeirSchemas, String> {
        static CELL: OnceLock<Result<WeirSchemas, String>> = OnceLock::new();
        CELL.get_or_init(|| WeirSchemas::build().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The schema of a weir kind (`Component`), if it is one.
    pub fn for_kind(&self, kind: &str) -> Option<&KindSchema> {
        let name = schema_name(kind)?;
        self.kinds.iter().find(|k| k.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::checks::ALL_RULES;

    #[test]
    fn all_schemas_compile() {
        let s = WeirSchemas::get().unwrap();
        assert_eq!(s.kinds.len(), 3);
        let text = serde_json::to_string(&bundled("component").unwrap()).unwrap();
        assert!(!text.contains("common.schema.json"));
    }

    /// Every number has a maximum no larger than what Kubernetes takes, so
    /// no count a repo writes overflows what weir or the API server makes
    /// of it; every format is one weir checks.
    #[test]
    fn numbers_are_bounded_and_formats_checked() {
        fn walk(node: &Value, at: &str, out: &mut Vec<String>) {
            match node {
                Value::Object(map) => {
                    let numeric = |t: &Value| t == "integer" || t == "number";
                    let is_number = map.get("type").is_some_and(|t| {
                        numeric(t) || t.as_array().is_some_and(|a| a.iter().any(numeric))
                    });
                    let max = map.get("maximum").and_then(Value::as_f64);
                    if is_number && max.is_none_or(|m| m > 1e15) {
                        out.push(format!("{at}: maximum {max:?}"));
                    }
                    if let Some(format) = map.get("format")
                        && format != DURATION_FORMAT
                    {
                        out.push(format!("{at}: format {format}"));
                    }
                    for (k, v) in map {
                        walk(v, &format!("{at}/{k}"), out);
                    }
                }
                Value::Array(items) => {
                    for (i, v) in items.iter().enumerate() {
                        walk(v, &format!("{at}/{i}"), out);
                    }
                }
                _ => {}
            }
        }
        let mut unbounded = Vec::new();
        for (name, _) in FILES {
            walk(&raw(name).unwrap(), name, &mut unbounded);
        }
        assert!(unbounded.is_empty(), "{unbounded:#?}");
        let schemas = WeirSchemas::get().unwrap();
        let component = schemas.for_kind("Component").unwrap();
        let doc = serde_json::json!({"apiVersion": "weir.dev/v1alpha1", "kind": "Component",
            "metadata": {"name": "c"}, "spec": {"source": {"path": "m"},
            "health": {"timeout": "25h"}}});
        assert!(!component.validator.is_valid(&doc), "25h passes the schema");
    }

    /// The serde-side rules in `spec::checks` use the schemas' patterns.
    #[test]
    fn check_rules_mirror_schema_patterns() {
        for rule in ALL_RULES {
            let schema = raw(rule.schema).unwrap();
            let pointer = format!("/$defs/{}", rule.def);
            let node = schema
                .pointer(&pointer)
                .unwrap_or_else(|| panic!("{}: no {pointer}", rule.schema));
            assert_eq!(
                node.get("pattern").and_then(Value::as_str),
                Some(rule.pattern),
                "pattern of {} {pointer}",
                rule.schema
            );
            assert_eq!(
                node.get("maxLength").and_then(Value::as_u64),
                rule.max_len.map(|m| m as u64),
                "maxLength of {} {pointer}",
                rule.schema
            );
        }
    }

    /// Editors show descriptions: every property of every schema has one,
    /// directly or through the definition it refers to.
    #[test]
    fn every_property_is_described() {
        fn walk(node: &Value, root: &Value, at: &str, missing: &mut Vec<String>) {
            match node {
                Value::Object(map) => {
                    if let Some(Value::Object(props)) = map.get("properties") {
                        for (name, prop) in props {
                            let described = prop.get("description").is_some()
                                || prop
                                    .get("$ref")
                                    .and_then(Value::as_str)
                                    .and_then(|r| r.strip_prefix('#'))
                                    .and_then(|p| root.pointer(p))
                                    .is_some_and(|d| d.get("description").is_some());
                            if !described {
                                missing.push(format!("{at}/properties/{name}"));
                            }
                        }
                    }
                    for (k, v) in map {
                        walk(v, root, &format!("{at}/{k}"), missing);
                    }
                }
                Value::Array(items) => {
                    for (i, v) in items.iter().enumerate() {
                        walk(v, root, &format!("{at}/{i}"), missing);
                    }
                }
                _ => {}
            }
        }
        let mut missing = Vec::new();
        for name in ["repository", "component", "workload"] {
            let schema = bundled(name).unwrap();
            walk(&schema, &schema, name, &mut missing);
        }
        assert!(
            missing.is_empty(),
            "properties without description: {missing:#?}"
        );
    }
}
