//! Small helpers for diagnostics: JSON pointers shown as JSON paths
//! (`.spec.ports[0].name`), and "did you mean" suggestions.

use serde_json::Value;

/// Unescapes the segments of a JSON pointer (`/a~1b/0` → `["a/b", "0"]`).
pub fn pointer_segments(pointer: &str) -> Vec<String> {
    if pointer.is_empty() {
        return Vec::new();
    }
    pointer
        .trim_start_matches('/')
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// The JSON path of a pointer into `value`: list indices as `[0]`, plain
/// keys as `.key`, other keys as `["app.kubernetes.io/name"]`. `value`
/// tells list indices from keys that look like numbers.
pub fn json_path(value: &Value, pointer: &str) -> String {
    let mut out = String::new();
    let mut current = Some(value);
    for seg in pointer_segments(pointer) {
        let next = match current {
            Some(Value::Array(items)) => match seg.parse::<usize>() {
                Ok(i) => {
                    out.push_str(&format!("[{i}]"));
                    items.get(i)
                }
                Err(_) => {
                    push_key(&mut out, &seg);
                    None
                }
            },
            Some(Value::Object(map)) => {
                push_key(&mut out, &seg);
                map.get(&seg)
            }
            _ => {
                push_key(&mut out, &seg);
                None
            }
        };
        current = next;
    }
    if out.is_empty() { ".".to_string() } else { out }
}

/// The JSON pointer of a JSON path as [`json_path`] writes it
/// (`.spec.valuesFrom[0].path` → `/spec/valuesFrom/0/path`); `None` for
/// text that is not such a path.
pub fn pointer_of_path(path: &str) -> Option<String> {
    let escape = |key: &str| key.replace('~', "~0").replace('/', "~1");
    let mut pointer = String::new();
    let mut rest = path;
    if rest == "." {
        return Some(pointer);
    }
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("[\"") {
            // A quoted key: a JSON string up to `"]`.
            let end = after.find("\"]")?;
            let key: String = serde_json::from_str(&format!("\"{}\"", &after[..end])).ok()?;
            pointer.push('/');
            pointer.push_str(&escape(&key));
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let index: usize = after[..end].parse().ok()?;
            pointer.push_str(&format!("/{index}"));
            rest = &after[end + 1..];
        } else if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end == 0 {
                return None;
            }
            pointer.push('/');
            pointer.push_str(&escape(&after[..end]));
            rest = &after[end..];
        } else {
            return None;
        }
    }
    Some(pointer)
}

fn push_key(out: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        out.push('.');
        out.push_str(key);
    } else {
        out.push_str(&format!("[{}]", serde_json::Value::String(key.to_string())));
    }
}

/// `` `a`, `b` or `c` ``: a list of names for messages.
pub fn one_of_list<S: AsRef<str>>(names: &[S]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{}`", n.as_ref())).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_paths() {
        let v = json!({"spec": {"ports": [{"name": "x"}], "labels": {"0": "a", "app.kubernetes.io/name": "b"}}});
        assert_eq!(json_path(&v, "/spec/ports/0/name"), ".spec.ports[0].name");
        assert_eq!(json_path(&v, "/spec/labels/0"), ".spec.labels.0");
        assert_eq!(
            json_path(&v, "/spec/labels/app.kubernetes.io~1name"),
            r#".spec.labels["app.kubernetes.io/name"]"#
        );
        assert_eq!(json_path(&v, ""), ".");
    }

    #[test]
    fn paths_back_to_pointers() {
        let v = json!({"spec": {"ports": [{"name": "x"}], "labels": {"a/b~c": "d"}}});
        for pointer in ["/spec/ports/0/name", "/spec/labels/a~1b~0c", "/spec", ""] {
            assert_eq!(
                pointer_of_path(&json_path(&v, pointer)).as_deref(),
                Some(pointer)
            );
        }
        assert_eq!(
            pointer_of_path(".spec.valuesFrom[0].path").as_deref(),
            Some("/spec/valuesFrom/0/path")
        );
        for bad in ["spec", ".spec[x]", "..a", ".a[\"b", ".a[0"] {
            assert_eq!(pointer_of_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn lists() {
        assert_eq!(one_of_list(&["a", "b", "c"]), "`a`, `b` or `c`");
    }
}
