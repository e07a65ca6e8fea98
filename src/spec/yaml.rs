//! YAML documents with their file and position.
//!
//! PROVISIONAL: a minimal stand-in so that later stages can be written
//! against the `Document` type; the position-keeping, hostile-input-safe
//! loader replaces this file.

use serde_json::Value;

use crate::diagnostic::Span;

/// One YAML document of a file, as a JSON value, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Repo-relative path, `/`-separated.
    pub file: String,
    /// 0-based number of the document in its file.
    pub index: usize,
    /// Where the document starts.
    pub span: Span,
    pub value: Value,
}

impl Document {
    /// Position of the value at a JSON pointer (`/spec/replicas`), or of
    /// its nearest ancestor that has one.
    pub fn span_of(&self, _pointer: &str) -> Span {
        self.span
    }
}
