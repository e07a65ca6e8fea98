//! Diagnostics: findings that point into a file of the config repository.
//!
//! Every stage that judges the repo (loading, validation, rendering,
//! planning) reports through [`Diagnostic`], so the CLI prints them the same
//! way in every output format. Each diagnostic carries a stable [`Code`]
//! that scripts and docs can rely on; messages may be reworded, codes never
//! change meaning.

use std::fmt;

use serde::Serialize;

/// A position in a file, both 1-based, counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
pub struct Span {
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// How bad a finding is. Errors make `weir validate` exit 1 and stop a sync;
/// warnings are reported only (or become errors under `--strict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// A stable identifier of a kind of finding, e.g. `W0103` or `E0201`.
///
/// The registry of codes lives next to the stage that emits them (see
/// `codes` in each module) and in README's table of diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Code(pub &'static str);

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// One finding about the config repository.
///
/// Serialised flat, the one JSON shape of a finding in every command's
/// output: `{"code", "severity", "file", "line", "column", "path",
/// "message", "hint"}`, absent values as `null`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    /// Repo-relative path with `/` separators; `None` for repo-wide findings.
    pub file: Option<String>,
    /// Where in `file`; `None` when the whole file is meant.
    pub span: Option<Span>,
    /// The JSON path of the offending value inside its document, e.g.
    /// `.spec.template.spec.containers[0].image`.
    pub path: Option<String>,
    pub message: String,
    /// What to do about it, when weir can tell.
    pub hint: Option<String>,
}

impl Serialize for Diagnostic {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut s = serializer.serialize_struct("Diagnostic", 8)?;
        s.serialize_field("code", &self.code)?;
        s.serialize_field("severity", &self.severity)?;
        s.serialize_field("file", &self.file)?;
        s.serialize_field("line", &self.span.map(|p| p.line))?;
        s.serialize_field("column", &self.span.map(|p| p.column))?;
        s.serialize_field("path", &self.path)?;
        s.serialize_field("message", &self.message)?;
        s.serialize_field("hint", &self.hint)?;
        s.end()
    }
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Error, message)
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Warning, message)
    }

    fn new(code: Code, severity: Severity, message: impl Into<String>) -> Self {
        Self {
            code,
            severity,
            file: None,
            span: None,
            path: None,
            message: message.into(),
            hint: None,
        }
    }

    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    pub fn at(mut self, span: Span) -> Self {
        self.span = Some(span);
        self
    }

    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The JSON path form of a JSON pointer, as [`Diagnostic::path`] shows it:
/// `/spec/containers/0/image` → `.spec.containers[0].image`; keys that are
/// not plain words are quoted (`.metadata.labels["app.kubernetes.io/name"]`);
/// the whole document (`""`) is `.`, a path starting with an index `.[0]`
/// (jq's notation). All-digit segments are shown as indexes.
pub fn json_path(pointer: &str) -> String {
    let Some(rest) = pointer.strip_prefix('/') else {
        return ".".to_owned();
    };
    let mut path = String::with_capacity(pointer.len() + 8);
    for raw in rest.split('/') {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
        if segment.is_empty()
            || !segment.bytes().all(word)
            || segment.bytes().all(|b| b.is_ascii_digit())
        {
            // jq style: brackets follow a segment, or a `.` for the root.
            if path.is_empty() {
                path.push('.');
            }
        }
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            path.push('[');
            path.push_str(&segment);
            path.push(']');
        } else if !segment.is_empty() && segment.bytes().all(word) {
            path.push('.');
            path.push_str(&segment);
        } else {
            path.push('[');
            path.push_str(&serde_json::Value::String(segment).to_string());
            path.push(']');
        }
    }
    path
}

/// The candidate closest to `word`, when it is close enough to be a likely
/// typo (Jaro-Winkler similarity, or a case-insensitive match).
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| {
            let score = if c.to_lowercase() == lower {
                1.0
            } else {
                strsim::jaro_winkler(&lower, &c.to_lowercase())
            };
            (score, c)
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

impl fmt::Display for Diagnostic {
    /// `file:line:col: error[E0101]: message` — the one-line form used in
    /// logs and error chains.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}:")?;
            if let Some(span) = self.span {
                write!(f, "{span}:")?;
            }
            f.write_str(" ")?;
        }
        write!(f, "{}[{}]: {}", self.severity, self.code, self.message)?;
        if let Some(path) = &self.path {
            write!(f, " (at {path})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let known = ["replicas", "resources", "image"];
        assert_eq!(did_you_mean("replicsa", known), Some("replicas"));
        assert_eq!(did_you_mean("Image", known), Some("image"));
        assert_eq!(did_you_mean("zzz", known), None);
    }

    #[test]
    fn json_paths() {
        assert_eq!(json_path(""), ".");
        assert_eq!(
            json_path("/spec/containers/0/image"),
            ".spec.containers[0].image"
        );
        assert_eq!(
            json_path("/metadata/labels/app.kubernetes.io~1name"),
            ".metadata.labels[\"app.kubernetes.io/name\"]"
        );
        assert_eq!(json_path("/a~0b/"), ".[\"a~b\"][\"\"]");
        assert_eq!(json_path("/0/kind"), ".[0].kind");
    }
}
