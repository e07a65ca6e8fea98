//! Parsing YAML that rendering reads itself (values files, a chart's
//! `values.yaml`, hook files, `helm template` output) with the loader's
//! parser, so the same hostile-input limits apply as to the repo's
//! manifests, and what it builds is charged to the run's budget.

use serde_json::Value;

use crate::budget::Budget;
use crate::diagnostic::{Diagnostic, Span};
use crate::spec::yaml::{YamlLimits, parse_documents_within};

/// Every non-empty document of `bytes`, with where it starts; `Err` is the
/// loader's diagnostic naming `file`.
pub fn parse(
    file: &str,
    bytes: &[u8],
    budget: &Budget,
) -> Result<Vec<(Value, Span)>, Box<Diagnostic>> {
    let docs =
        parse_documents_within(file, bytes, &YamlLimits::default(), budget).map_err(Box::new)?;
    Ok(docs
        .into_iter()
        .filter(|d| !d.value.is_null())
        .map(|d| (d.value, d.span))
        .collect())
}
