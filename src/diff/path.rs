//! Field paths as a reviewer reads them:
//! `spec.template.spec.containers[name=api].image`,
//! `metadata.labels["app.kubernetes.io/name"]`, `spec.args[2]`.

use std::fmt::{self, Write as _};

/// One step into a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A map key.
    Field(String),
    /// A position in a list without a merge key.
    Index(usize),
    /// An element of a list with a merge key, by its key fields and values
    /// (`[name=api]`, `[containerPort=53,protocol=UDP]`).
    Key(Vec<(String, String)>),
}

/// A path from the root of a document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Path(Vec<Segment>);

impl Path {
    pub fn root() -> Self {
        Self(Vec::new())
    }

    pub fn push(&mut self, segment: Segment) {
        self.0.push(segment);
    }

    pub fn pop(&mut self) {
        self.0.pop();
    }

    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// The map keys along the path, outermost first.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|s| match s {
            Segment::Field(f) => Some(f.as_str()),
            _ => None,
        })
    }
}

/// A map key that can be written after a dot without quoting.
fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A key value inside `[k=v]` that needs no quotes.
fn is_plain_value(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':'))
}

fn write_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        for segment in &self.0 {
            match segment {
                Segment::Field(key) if is_plain_key(key) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                }
                Segment::Field(key) => {
                    out.push('[');
                    write_quoted(&mut out, key);
                    out.push(']');
                }
                Segment::Index(i) => {
                    let _ = write!(out, "[{i}]");
                }
                Segment::Key(parts) => {
                    out.push('[');
                    for (n, (field, value)) in parts.iter().enumerate() {
                        if n > 0 {
                            out.push(',');
                        }
                        out.push_str(field);
                        out.push('=');
                        if is_plain_value(value) {
                            out.push_str(value);
                        } else {
                            write_quoted(&mut out, value);
                        }
                    }
                    out.push(']');
                }
            }
        }
        if out.is_empty() {
            out.push('.');
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_fields_indices_and_keys() {
        let mut p = Path::root();
        for f in ["spec", "template", "spec", "containers"] {
            p.push(Segment::Field(f.into()));
        }
        p.push(Segment::Key(vec![("name".into(), "api".into())]));
        p.push(Segment::Field("image".into()));
        assert_eq!(
            p.to_string(),
            "spec.template.spec.containers[name=api].image"
        );

        let mut p = Path::root();
        p.push(Segment::Field("metadata".into()));
        p.push(Segment::Field("labels".into()));
        p.push(Segment::Field("app.kubernetes.io/name".into()));
        assert_eq!(
            p.to_string(),
            r#"metadata.labels["app.kubernetes.io/name"]"#
        );

        let mut p = Path::root();
        p.push(Segment::Field("args".into()));
        p.push(Segment::Index(2));
        assert_eq!(p.to_string(), "args[2]");

        let mut p = Path::root();
        p.push(Segment::Field("ports".into()));
        p.push(Segment::Key(vec![
            ("containerPort".into(), "53".into()),
            ("protocol".into(), "UDP".into()),
        ]));
        assert_eq!(p.to_string(), "ports[containerPort=53,protocol=UDP]");

        let mut p = Path::root();
        p.push(Segment::Field("env".into()));
        p.push(Segment::Key(vec![("name".into(), "a b]".into())]));
        assert_eq!(p.to_string(), r#"env[name="a b]"]"#);
        assert_eq!(Path::root().to_string(), ".");
    }
}
