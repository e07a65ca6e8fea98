//! Secret redaction: a Secret's values never reach any output.
//!
//! Redaction runs on both normalised sides *before* anything is compared
//! or printed, so no later step (field changes, the unified diff, any
//! output format) ever holds a value. `stringData` is folded into `data`
//! as the API server does (a `stringData` key wins over the same `data`
//! key; `data` values are compared base64-decoded), so moving a key
//! between the two with the same value is not a change. Each key's value
//! is then replaced by a marker:
//!
//! | key                       | base side           | head side     |
//! |---------------------------|---------------------|---------------|
//! | same value on both sides  | `(unchanged)`       | `(unchanged)` |
//! | value changed             | `(old value hidden)`| `(changed)`   |
//! | only in head              |                     | `(added)`     |
//! | only in base              | `(removed)`         |               |
//! | object on one side only   | `(hidden)`          | `(hidden)`    |
//!
//! No digest of a value is ever computed or shown: equality is decided on
//! the values themselves, in memory.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::path::Path;

pub const UNCHANGED: &str = "(unchanged)";
pub const OLD: &str = "(old value hidden)";
pub const CHANGED: &str = "(changed)";
pub const ADDED: &str = "(added)";
pub const REMOVED: &str = "(removed)";
pub const HIDDEN: &str = "(hidden)";

/// The fields of a Secret that hold values.
pub const VALUE_FIELDS: [&str; 2] = ["data", "stringData"];

/// What a key holds, for comparison only.
#[derive(Debug, PartialEq, Eq)]
enum Content {
    /// Decoded bytes (a valid base64 `data` value, or a `stringData` value).
    Bytes(Vec<u8>),
    /// A value that is not valid base64 or not a string, compared as is.
    Raw(Value),
}

/// The values of one side of a Secret, once `data` and `stringData` are
/// taken out of it.
enum Values {
    /// Neither field was present.
    None,
    /// Key → content, `stringData` folded into `data`.
    Keys(BTreeMap<String, Content>),
    /// `data` or `stringData` is not a map (an invalid Secret): compared
    /// and hidden as a whole.
    Malformed(Value),
}

fn take_values(secret: &mut Value) -> Values {
    let Value::Object(object) = secret else {
        return Values::None;
    };
    let data = object.remove("data");
    let string_data = object.remove("stringData");
    if data.is_none() && string_data.is_none() {
        return Values::None;
    }
    let mut keys = BTreeMap::new();
    match data {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (k, v) in map {
                keys.insert(k, decode(v));
            }
        }
        Some(other) => {
            return Values::Malformed(Value::Array(vec![other, json_or_null(string_data)]));
        }
    }
    match string_data {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (k, v) in map {
                let content = match v {
                    Value::String(s) => Content::Bytes(s.into_bytes()),
                    other => Content::Raw(other),
                };
                keys.insert(k, content);
            }
        }
        Some(other) => return Values::Malformed(other),
    }
    Values::Keys(keys)
}

fn json_or_null(v: Option<Value>) -> Value {
    v.unwrap_or(Value::Null)
}

fn decode(value: Value) -> Content {
    match value {
        Value::String(s) => {
            match base64::engine::general_purpose::STANDARD.decode(s.trim().as_bytes()) {
                Ok(bytes) => Content::Bytes(bytes),
                Err(_) => Content::Raw(Value::String(s)),
            }
        }
        other => Content::Raw(other),
    }
}

fn put(object: &mut Value, data: Value) {
    if let Value::Object(map) = object {
        map.insert("data".to_owned(), data);
    }
}

/// Redacts a Secret present on both sides, marking each key by how it
/// changed.
pub fn redact_pair(base: &mut Value, head: &mut Value) {
    let old = take_values(base);
    let new = take_values(head);
    let had_old = !matches!(old, Values::None);
    let had_new = !matches!(new, Values::None);
    let empty = BTreeMap::new;
    let (old_data, new_data) = match (old, new) {
        (Values::None, Values::None) => return,
        (Values::Keys(old), Values::Keys(new)) => mark_keys(&old, &new),
        (Values::None, Values::Keys(new)) => mark_keys(&empty(), &new),
        (Values::Keys(old), Values::None) => mark_keys(&old, &empty()),
        (old, new) => {
            let same = match (&old, &new) {
                (Values::Malformed(a), Values::Malformed(b)) => a == b,
                _ => false,
            };
            if same {
                (mark_all(&old, UNCHANGED), mark_all(&new, UNCHANGED))
            } else {
                (mark_all(&old, OLD), mark_all(&new, CHANGED))
            }
        }
    };
    if had_old {
        put(base, old_data);
    }
    if had_new {
        put(head, new_data);
    }
}

/// The `data` maps of both sides, each key marked by how it changed.
fn mark_keys(old: &BTreeMap<String, Content>, new: &BTreeMap<String, Content>) -> (Value, Value) {
    let mut base_data = Map::new();
    let mut head_data = Map::new();
    for (key, content) in old {
        let marker = match new.get(key) {
            Some(c) if c == content => UNCHANGED,
            Some(_) => OLD,
            None => REMOVED,
        };
        base_data.insert(key.clone(), Value::String(marker.to_owned()));
    }
    for (key, content) in new {
        let marker = match old.get(key) {
            Some(c) if c == content => UNCHANGED,
            Some(_) => CHANGED,
            None => ADDED,
        };
        head_data.insert(key.clone(), Value::String(marker.to_owned()));
    }
    (Value::Object(base_data), Value::Object(head_data))
}

/// Keys by name with one marker each, or the marker alone when malformed.
fn mark_all(values: &Values, marker: &str) -> Value {
    match values {
        Values::Keys(keys) => Value::Object(
            keys.keys()
                .map(|k| (k.clone(), Value::String(marker.to_owned())))
                .collect(),
        ),
        _ => Value::String(marker.to_owned()),
    }
}

/// What `weir render` prints instead of a Secret's value.
pub const REDACTED: &str = "<redacted>";

/// Replaces every value of a core Secret's `data` and `stringData` with
/// [`REDACTED`], keeping the keys, for printing one object (`weir
/// render`). Any other object is left as it is.
pub fn redact_object(object: &mut Value) {
    let is_secret = object.get("apiVersion").and_then(Value::as_str) == Some("v1")
        && object.get("kind").and_then(Value::as_str) == Some("Secret");
    if !is_secret {
        return;
    }
    for field in VALUE_FIELDS {
        match object.get_mut(field) {
            Some(Value::Object(map)) => {
                for v in map.values_mut() {
                    *v = Value::String(REDACTED.to_owned());
                }
            }
            Some(other) if !other.is_null() => *other = Value::String(REDACTED.to_owned()),
            _ => {}
        }
    }
}

/// Redacts a Secret that exists on one side only: every key is `(hidden)`.
pub fn redact_one(secret: &mut Value) {
    let values = take_values(secret);
    if !matches!(values, Values::None) {
        put(secret, mark_all(&values, HIDDEN));
    }
}

/// True at a path inside a Secret's values (`data.*`, `stringData.*`).
pub fn in_secret_values(path: &Path) -> bool {
    path.fields()
        .next()
        .is_some_and(|first| VALUE_FIELDS.contains(&first))
}

/// Words that mark a field of a weir document as holding a credential.
const CREDENTIAL_WORDS: &[&str] = &[
    "password",
    "passwd",
    "token",
    "credential",
    "apikey",
    "api_key",
    "api-key",
    "privatekey",
    "private_key",
    "private-key",
    "secretkey",
    "secret_key",
    "secret-key",
    "clientsecret",
    "client_secret",
];

/// True at a path of a weir document that may hold a credential: a field
/// named like one (`auth.password`, `apiToken`, Helm values included), or
/// the `data`/`stringData` of a patch (which may target a Secret). weir's
/// documents should reference Secrets, not hold them; this is the safety
/// net for when they do.
pub fn looks_secret(path: &Path) -> bool {
    let mut in_patch = false;
    for field in path.fields() {
        let lower = field.to_ascii_lowercase();
        if CREDENTIAL_WORDS.iter().any(|w| lower.contains(w)) {
            return true;
        }
        if in_patch && VALUE_FIELDS.contains(&field) {
            return true;
        }
        in_patch |= field == "patches";
    }
    false
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn marks_keys_by_change() {
        let mut base = json!({"kind": "Secret", "data": {
            "same": b64("s"), "changed": b64("old"), "gone": b64("g")}});
        let mut head = json!({"kind": "Secret", "data": {
            "same": b64("s"), "changed": b64("new"), "fresh": b64("f")}});
        redact_pair(&mut base, &mut head);
        assert_eq!(
            base,
            json!({"kind": "Secret", "data": {"same": UNCHANGED, "changed": OLD, "gone": REMOVED}})
        );
        assert_eq!(
            head,
            json!({"kind": "Secret", "data": {"same": UNCHANGED, "changed": CHANGED, "fresh": ADDED}})
        );
    }

    #[test]
    fn string_data_and_data_of_the_same_value_are_the_same() {
        let mut base = json!({"data": {"k": b64("hunter2")}});
        let mut head = json!({"stringData": {"k": "hunter2"}});
        redact_pair(&mut base, &mut head);
        assert_eq!(base, json!({"data": {"k": UNCHANGED}}));
        assert_eq!(head, json!({"data": {"k": UNCHANGED}}));
    }

    #[test]
    fn string_data_wins_over_data() {
        let mut base = json!({"data": {"k": b64("a")}});
        let mut head = json!({"data": {"k": b64("a")}, "stringData": {"k": "b"}});
        redact_pair(&mut base, &mut head);
        assert_eq!(head, json!({"data": {"k": CHANGED}}));
    }

    #[test]
    fn keys_of_a_side_without_values_are_added_or_removed() {
        let mut base = json!({"kind": "Secret"});
        let mut head = json!({"kind": "Secret", "stringData": {"k": "v"}});
        redact_pair(&mut base, &mut head);
        assert_eq!(base, json!({"kind": "Secret"}));
        assert_eq!(head, json!({"kind": "Secret", "data": {"k": ADDED}}));
    }

    #[test]
    fn malformed_values_are_hidden_whole() {
        let mut base = json!({"data": "hunter2"});
        let mut head = json!({"data": "hunter3"});
        redact_pair(&mut base, &mut head);
        assert_eq!(base, json!({"data": OLD}));
        assert_eq!(head, json!({"data": CHANGED}));
        let mut one = json!({"stringData": ["hunter2"]});
        redact_one(&mut one);
        assert_eq!(one, json!({"data": HIDDEN}));
    }

    #[test]
    fn credential_paths_of_weir_documents() {
        use crate::diff::path::Segment;
        let path = |fields: &[&str]| {
            let mut p = Path::root();
            for f in fields {
                p.push(Segment::Field((*f).to_owned()));
            }
            p
        };
        assert!(looks_secret(&path(&[
            "spec",
            "source",
            "helm",
            "values",
            "auth",
            "adminPassword"
        ])));
        assert!(looks_secret(&path(&["spec", "env", "API_TOKEN"])));
        assert!(looks_secret(&path(&[
            "spec",
            "patches",
            "merge",
            "stringData",
            "k"
        ])));
        assert!(!looks_secret(&path(&["spec", "preflight", "secrets"])));
        assert!(!looks_secret(&path(&["spec", "data"])));
        assert!(in_secret_values(&path(&["data", "k"])));
        assert!(!in_secret_values(&path(&["metadata", "data"])));
    }

    #[test]
    fn one_sided_secrets_show_key_names_only() {
        let mut s = json!({"data": {"a": b64("x")}, "stringData": {"b": "y"}});
        redact_one(&mut s);
        assert_eq!(s, json!({"data": {"a": HIDDEN, "b": HIDDEN}}));
        let mut none = json!({"type": "Opaque"});
        redact_one(&mut none);
        assert_eq!(none, json!({"type": "Opaque"}));
    }
}
