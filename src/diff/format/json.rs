//! `--output json`: one JSON document, stable for scripts.
//!
//! The schema (documented in README, "weir diff --output json") is
//! versioned by `schemaVersion`; fields are only ever added within a
//! version. Top level: `schemaVersion` (1), `base`, `head`, `differences`
//! (bool), `summary`, `objects`, `weirDocuments`, `charts` (when a side has
//! remote charts) — the last four are the serde form of [`Report`].

use serde::Serialize;

use super::Labels;
use crate::diff::model::Report;

/// The version of the JSON schema this module writes.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a> {
    schema_version: u32,
    base: &'a str,
    head: &'a str,
    differences: bool,
    #[serde(flatten)]
    report: &'a Report,
}

/// The report as pretty-printed JSON, ending in a newline.
pub fn render(report: &Report, labels: &Labels) -> String {
    let doc = Document {
        schema_version: SCHEMA_VERSION,
        base: &labels.base,
        head: &labels.head,
        differences: report.has_differences(),
        report,
    };
    // Serialising plain data with string keys cannot fail.
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}
