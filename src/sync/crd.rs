//! CRD upgrade safety: before a changed CustomResourceDefinition is
//! applied, the custom resources that exist must still be valid under the
//! new schema. Pure functions; the engine lists the resources.
//!
//! What is checked:
//! - a version removed from `spec.versions` that is still in the live CRD's
//!   `status.storedVersions` (objects are stored in it: the API server
//!   would refuse the CRD, or the objects become unreadable);
//! - every existing resource against the new schema of each version whose
//!   schema changed (new required fields, changed types, narrowed enums,
//!   bounds, patterns), and against the new storage version when it is new
//!   and the CRD converts by `None` (objects are stored as they are).
//!
//! The validator covers the structural-schema subset of OpenAPI v3 that
//! CRDs use: `type`, `properties`, `additionalProperties`, `items`,
//! `required`, `enum`, `nullable`, `x-kubernetes-int-or-string`,
//! `x-kubernetes-preserve-unknown-fields`, numeric and length bounds,
//! `pattern`, `allOf`/`anyOf`/`oneOf`/`not`. Unknown fields are not errors
//! (the server prunes them); CEL rules (`x-kubernetes-validations`) and
//! `format` are not evaluated.

use serde_json::Value;

/// One reason a CRD change would break existing resources.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// The resource (`Widget edge/w1`) or the CRD itself.
    pub object: String,
    /// The field, as a JSON path (`.spec.size`), or the version.
    pub field: String,
    pub problem: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.object, self.field, self.problem)
    }
}

/// A served version of a CRD and its schema.
#[derive(Debug, Clone)]
pub struct Version<'a> {
    pub name: &'a str,
    pub served: bool,
    pub storage: bool,
    pub schema: Option<&'a Value>,
}

/// The versions of a CRD object (`spec.versions`).
pub fn versions(crd: &Value) -> Vec<Version<'_>> {
    crd.pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| {
            Some(Version {
                name: v.get("name")?.as_str()?,
                served: v.get("served").and_then(Value::as_bool).unwrap_or(false),
                storage: v.get("storage").and_then(Value::as_bool).unwrap_or(false),
                schema: v.pointer("/schema/openAPIV3Schema"),
            })
        })
        .collect()
}

/// The CRD's name (`plural.group`).
pub fn crd_name(crd: &Value) -> &str {
    crd.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("?")
}

/// Versions removed by `new` that the live CRD still stores objects in.
pub fn removed_stored_versions(live: &Value, new: &Value) -> Vec<Finding> {
    let kept: Vec<&str> = versions(new).iter().map(|v| v.name).collect();
    live.pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|v| !kept.contains(v))
        .map(|v| Finding {
            object: format!("CustomResourceDefinition {}", crd_name(new)),
            field: format!("version {v}"),
            problem: format!(
                "version {v} is removed but objects are still stored in it (status.storedVersions); migrate them to a kept version (read and write each object), remove {v} from status.storedVersions, then upgrade"
            ),
        })
        .collect()
}

/// A check to run: list the resources at `list_version` (served by the
/// live CRD) and validate them against `schema` of the new CRD.
#[derive(Debug, Clone)]
pub struct Check<'a> {
    pub list_version: &'a str,
    pub new_version: &'a str,
    pub schema: &'a Value,
}

/// Which existing resources must be validated against which new schemas.
pub fn checks<'a>(live: &'a Value, new: &'a Value) -> Vec<Check<'a>> {
    let old = versions(live);
    let new_versions = versions(new);
    let mut out = Vec::new();
    for nv in &new_versions {
        let Some(schema) = nv.schema else { continue };
        match old.iter().find(|o| o.name == nv.name) {
            Some(o) if o.served => {
                if o.schema != Some(schema) {
                    out.push(Check {
                        list_version: o.name,
                        new_version: nv.name,
                        schema,
                    });
                }
            }
            _ => {
                // A new storage version: with no conversion webhook the
                // stored objects are read as they are.
                let conversion = new
                    .pointer("/spec/conversion/strategy")
                    .and_then(Value::as_str)
                    .unwrap_or("None");
                if nv.storage
                    && conversion == "None"
                    && let Some(from) = old.iter().find(|o| o.storage && o.served)
                {
                    out.push(Check {
                        list_version: from.name,
                        new_version: nv.name,
                        schema,
                    });
                }
            }
        }
    }
    out
}

/// A value that does not satisfy a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON path, `.spec.size`.
    pub path: String,
    pub message: String,
}

/// Validates a resource against an `openAPIV3Schema`. The resource's
/// `apiVersion`, `kind` and `metadata` are the server's business and are
/// skipped.
pub fn validate(resource: &Value, schema: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut object = resource.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
        map.remove("metadata");
        // The status of a resource with a status subresource is written
        // separately and is validated when its controller writes it.
        map.remove("status");
    }
    let mut schema = schema.clone();
    if let Some(req) = schema.get_mut("required").and_then(Value::as_array_mut) {
        req.retain(|r| {
            !matches!(
                r.as_str(),
                Some("apiVersion" | "kind" | "metadata" | "status")
            )
        });
    }
    check(&object, &schema, "", &mut out);
    out
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check(value: &Value, schema: &Value, path: &str, out: &mut Vec<Violation>) {
    let at = |p: &str| {
        if p.is_empty() {
            ".".to_owned()
        } else {
            p.to_owned()
        }
    };
    let mut fail = |message: String| {
        out.push(Violation {
            path: at(path),
            message,
        })
    };
    if value.is_null() {
        // Non-nullable nulls are pruned by the server; nullable ones are fine.
        return;
    }
    let flag = |k: &str| schema.get(k).and_then(Value::as_bool).unwrap_or(false);
    if flag("x-kubernetes-int-or-string") {
        if !matches!(type_name(value), "integer" | "string") {
            fail(format!(
                "must be an integer or a string, is {}",
                type_name(value)
            ));
            return;
        }
    } else if let Some(t) = schema.get("type").and_then(Value::as_str) {
        let actual = type_name(value);
        let ok = actual == t || (t == "number" && actual == "integer");
        if !ok {
            fail(format!("must be {t}, is {actual}"));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        fail(format!("{value} is not one of {}", list.join(", ")));
    }
    match value {
        Value::Object(map) => {
            for r in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(r) = r.as_str()
                    && map.get(r).is_none_or(Value::is_null)
                {
                    out.push(Violation {
                        path: format!("{path}.{r}"),
                        message: "is required".into(),
                    });
                }
            }
            let props = schema.get("properties").and_then(Value::as_object);
            for (k, v) in map {
                let child = format!("{path}.{k}");
                if let Some(s) = props.and_then(|p| p.get(k)) {
                    check(v, s, &child, out);
                } else if let Some(s) = schema.get("additionalProperties").filter(|s| s.is_object())
                {
                    check(v, s, &child, out);
                }
            }
            bound(
                schema,
                "minProperties",
                "maxProperties",
                map.len(),
                "properties",
                path,
                out,
            );
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items").filter(|s| s.is_object()) {
                for (i, item) in items.iter().enumerate() {
                    check(item, s, &format!("{path}[{i}]"), out);
                }
            }
            bound(
                schema,
                "minItems",
                "maxItems",
                items.len(),
                "items",
                path,
                out,
            );
        }
        Value::String(s) => {
            bound(
                schema,
                "minLength",
                "maxLength",
                s.chars().count(),
                "characters",
                path,
                out,
            );
            if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
                && let Ok(re) = regex::Regex::new(pattern)
                && !re.is_match(s)
            {
                out.push(Violation {
                    path: at(path),
                    message: format!("{value} does not match {pattern:?}"),
                });
            }
        }
        Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                numeric_bounds(schema, x, path, out);
            }
        }
        _ => {}
    }
    combinators(value, schema, path, out);
}

fn bound(
    schema: &Value,
    min_key: &str,
    max_key: &str,
    len: usize,
    unit: &str,
    path: &str,
    out: &mut Vec<Violation>,
) {
    let at = if path.is_empty() { "." } else { path };
    if let Some(min) = schema.get(min_key).and_then(Value::as_u64)
        && (len as u64) < min
    {
        out.push(Violation {
            path: at.to_owned(),
            message: format!("has {len} {unit}, at least {min} required"),
        });
    }
    if let Some(max) = schema.get(max_key).and_then(Value::as_u64)
        && (len as u64) > max
    {
        out.push(Violation {
            path: at.to_owned(),
            message: format!("has {len} {unit}, at most {max} allowed"),
        });
    }
}

fn numeric_bounds(schema: &Value, x: f64, path: &str, out: &mut Vec<Violation>) {
    let at = if path.is_empty() { "." } else { path };
    let excl = |k: &str| schema.get(k).and_then(Value::as_bool).unwrap_or(false);
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        let bad = if excl("exclusiveMinimum") {
            x <= min
        } else {
            x < min
        };
        if bad {
            out.push(Violation {
                path: at.to_owned(),
                message: format!("{x} is below the minimum {min}"),
            });
        }
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        let bad = if excl("exclusiveMaximum") {
            x >= max
        } else {
            x > max
        };
        if bad {
            out.push(Violation {
                path: at.to_owned(),
                message: format!("{x} is above the maximum {max}"),
            });
        }
    }
}

fn combinators(value: &Value, schema: &Value, path: &str, out: &mut Vec<Violation>) {
    let at = if path.is_empty() { "." } else { path };
    let passes = |s: &Value| {
        let mut v = Vec::new();
        check(value, s, path, &mut v);
        v.is_empty()
    };
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            check(value, s, path, out);
        }
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array)
        && !any.is_empty()
        && !any.iter().any(passes)
    {
        out.push(Violation {
            path: at.to_owned(),
            message: "matches none of the anyOf schemas".into(),
        });
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array)
        && !one.is_empty()
    {
        let n = one.iter().filter(|s| passes(s)).count();
        if n != 1 {
            out.push(Violation {
                path: at.to_owned(),
                message: format!("matches {n} of the oneOf schemas, exactly 1 required"),
            });
        }
    }
    if let Some(not) = schema.get("not")
        && passes(not)
    {
        out.push(Violation {
            path: at.to_owned(),
            message: "matches a schema it must not (not)".into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn crd(versions: Value, stored: Value) -> Value {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "versions": versions},
            "status": {"storedVersions": stored}})
    }

    fn schema(spec_props: Value, required: Value) -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": spec_props, "required": required}}})
    }

    #[test]
    fn finds_removed_stored_versions() {
        let live = crd(
            json!([{"name": "v1alpha1", "served": true, "storage": false}, {"name": "v1", "served": true, "storage": true}]),
            json!(["v1alpha1", "v1"]),
        );
        let new = crd(
            json!([{"name": "v1", "served": true, "storage": true}]),
            json!([]),
        );
        let f = removed_stored_versions(&live, &new);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].field, "version v1alpha1");
    }

    #[test]
    fn checks_changed_schemas_only() {
        let s1 = schema(json!({"size": {"type": "integer"}}), json!([]));
        let s2 = schema(json!({"size": {"type": "string"}}), json!([]));
        let live = crd(
            json!([{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": s1}}]),
            json!(["v1"]),
        );
        let same = live.clone();
        assert!(checks(&live, &same).is_empty());
        let new = crd(
            json!([{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": s2}}]),
            json!([]),
        );
        let c = checks(&live, &new);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].list_version, "v1");

        let v2 = crd(
            json!([
            {"name": "v1", "served": true, "storage": false, "schema": {"openAPIV3Schema": s1}},
            {"name": "v2", "served": true, "storage": true, "schema": {"openAPIV3Schema": s2}}]),
            json!([]),
        );
        let c = checks(&live, &v2);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].list_version, c[0].new_version), ("v1", "v2"));
    }

    #[test]
    fn validates_resources() {
        let s = schema(
            json!({
                "size": {"type": "integer", "minimum": 1, "maximum": 10},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "port": {"x-kubernetes-int-or-string": true},
                "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            }),
            json!(["size", "owner"]),
        );
        let cr = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"size": 11, "mode": "c", "port": true, "name": "Abcdef", "tags": ["x", 1, "z"],
                     "labels": {"a": 1}, "unknown": {"is": "fine"}},
            "status": {"whatever": 1}});
        let v = validate(&cr, &s);
        let text: Vec<String> = v
            .iter()
            .map(|v| format!("{}: {}", v.path, v.message))
            .collect();
        insta::assert_debug_snapshot!(text, @r#"
        [
            ".spec.owner: is required",
            ".spec.labels.a: must be string, is integer",
            ".spec.mode: \"c\" is not one of \"a\", \"b\"",
            ".spec.name: has 6 characters, at most 5 allowed",
            ".spec.name: \"Abcdef\" does not match \"^[a-z]+$\"",
            ".spec.port: must be an integer or a string, is boolean",
            ".spec.size: 11 is above the maximum 10",
            ".spec.tags[1]: must be string, is integer",
            ".spec.tags: has 3 items, at most 2 allowed",
        ]
        "#);
        let ok = json!({"spec": {"size": 3, "owner": "me", "port": "http"}});
        assert!(validate(&ok, &s).is_empty());
    }

    #[test]
    fn combinators_work() {
        let s = json!({"type": "object", "properties": {"spec": {"type": "object",
            "oneOf": [{"required": ["a"]}, {"required": ["b"]}]}}});
        assert!(validate(&json!({"spec": {"a": 1}}), &s).is_empty());
        assert_eq!(validate(&json!({"spec": {"a": 1, "b": 2}}), &s).len(), 1);
    }
}
