//! Canonical YAML of an object and the unified diff between two of them.
//!
//! Both sides are printed the same way — `apiVersion`, `kind`, `metadata`
//! first, then the other fields in alphabetical order, `name` first inside
//! every map, keyed lists already sorted by [`normalize`](super::normalize)
//! — so the text diff shows only what differs, never an artefact of how a
//! file was written.

use std::time::Duration;

use serde_json::Value;
use similar::TextDiff;

/// Top-level fields in the order Kubernetes manifests are written in.
const TOP_FIRST: &[&str] = &["apiVersion", "kind", "metadata"];
/// Fields written first in every nested map.
const NESTED_FIRST: &[&str] = &["name"];

/// How long the line diff of one object may take before it falls back to a
/// coarser (still correct) diff. Only pathological inputs get near it.
const DIFF_TIMEOUT: Duration = Duration::from_millis(500);

/// The canonical YAML text of a normalised object.
pub fn canonical_yaml(value: &Value) -> String {
    let yaml = to_yaml(value, TOP_FIRST);
    match serde_yaml::to_string(&yaml) {
        Ok(text) => text,
        // Cannot happen for a value that came from JSON; fall back to
        // JSON, which is valid YAML.
        Err(_) => serde_json::to_string_pretty(value).unwrap_or_default() + "\n",
    }
}

fn to_yaml(value: &Value, first: &[&str]) -> serde_yaml::Value {
    match value {
        Value::Null => serde_yaml::Value::Null,
        Value::Bool(b) => serde_yaml::Value::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                serde_yaml::Value::Number(i.into())
            } else if let Some(u) = n.as_u64() {
                serde_yaml::Value::Number(u.into())
            } else {
                serde_yaml::Value::Number(n.as_f64().unwrap_or(f64::NAN).into())
            }
        }
        Value::String(s) => serde_yaml::Value::String(s.clone()),
        Value::Array(items) => {
            serde_yaml::Value::Sequence(items.iter().map(|v| to_yaml(v, NESTED_FIRST)).collect())
        }
        Value::Object(map) => {
            let mut out = serde_yaml::Mapping::with_capacity(map.len());
            for key in first {
                if let Some(v) = map.get(*key) {
                    out.insert((*key).into(), to_yaml(v, NESTED_FIRST));
                }
            }
            // serde_json's map iterates in key order.
            for (key, v) in map {
                if !first.contains(&key.as_str()) {
                    out.insert(key.as_str().into(), to_yaml(v, NESTED_FIRST));
                }
            }
            serde_yaml::Value::Mapping(out)
        }
    }
}

/// A unified diff of two texts with `context` lines around each change,
/// headed `--- base` / `+++ head`. An absent side is an empty text, so an
/// added object shows as all `+` lines.
pub fn unified_diff(base: &str, head: &str, context: usize) -> String {
    TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(base, head)
        .unified_diff()
        .context_radius(context)
        .header("base", "head")
        .to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn orders_fields_like_a_manifest() {
        let v = json!({"spec": {"replicas": 1, "containers": [{"image": "x", "name": "api"}]},
            "metadata": {"namespace": "n", "name": "a"}, "kind": "Deployment", "apiVersion": "apps/v1",
            "data": {"script": "line 1\nline 2\n", "number": "0755"}});
        assert_eq!(
            canonical_yaml(&v),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\n  namespace: n\n\
             data:\n  number: '0755'\n  script: |\n    line 1\n    line 2\n\
             spec:\n  containers:\n  - name: api\n    image: x\n  replicas: 1\n"
        );
    }

    #[test]
    fn unified_diff_has_context_and_headers() {
        let d = unified_diff("a\nb\nc\nd\n", "a\nb\nX\nd\n", 1);
        assert_eq!(d, "--- base\n+++ head\n@@ -2,3 +2,3 @@\n b\n-c\n+X\n d\n");
        assert_eq!(unified_diff("a\n", "a\n", 3), "");
    }
}
