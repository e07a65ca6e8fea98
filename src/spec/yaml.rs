//! Loading YAML documents into `serde_json::Value`s that remember where
//! every value came from (file, line, column), safely on hostile input.
//!
//! [`parse_documents`] parses one file (multi-document) with saphyr-parser's
//! event API and builds the values itself, so it controls every cost:
//!
//! - Bytes are checked first: NUL bytes (binary content), UTF-16 and invalid
//!   UTF-8 are refused with the position of the first bad byte.
//! - Scalars resolve by the YAML 1.2 core schema as serde_yaml and
//!   Kubernetes read it (see `scalar` for the rules, including the one YAML
//!   1.1 rule kept: `0644` is octal).
//! - Anchors and aliases are expanded, within a budget of
//!   [`YamlLimits::max_alias_expansion_nodes`] per file that is checked
//!   *before* anything is copied: a "billion laughs" file fails after a few
//!   hundred events.
//! - Nesting deeper than [`YamlLimits::max_depth`] fails at the first level
//!   too deep; nothing recurses on the input's shape. A file may hold at
//!   most [`YamlLimits::max_nodes`] nodes, which bounds memory.
//! - Every node built (aliases expanded) is also charged to the run's
//!   [`Budget`](crate::budget::Budget), shared by all files: many files
//!   each within the limits above cannot add up past it ([`codes::RUN_BUDGET`]).
//! - Duplicate keys are an error naming both places. Non-string scalar keys
//!   become strings as Kubernetes makes them (`1` → `"1"`, `true` →
//!   `"true"`); mapping or sequence keys are an error.
//! - Merge keys (`<<: *defaults`, `<<: [*a, *b]`) are supported; a
//!   mapping's own keys win, then earlier sources over later ones.
//! - Empty documents (comments only, a bare `---`, `null`) are skipped.
//!
//! Every failure is a [`Diagnostic`] with the file, a position and a stable
//! code from [`codes`]. [`load_documents`] runs this over a whole
//! [`FileTree`], collecting diagnostics instead of stopping at a bad file.

// A refused file is one `Diagnostic`, returned by value as the shared
// interface says; it happens once per bad file, not per node.
#![allow(
    clippy::result_large_err,
    reason = "the error is the file's single Diagnostic, by value"
)]

mod builder;
mod scalar;

use std::panic::AssertUnwindSafe;

use serde_json::Value;

use super::filter::FileFilter;
use crate::budget::{self, Budget};
use crate::diagnostic::{Diagnostic, Span, json_path};
use crate::repo::FileTree;

/// Diagnostic codes of YAML loading.
///
/// Codes are stable: messages may be reworded, a code never changes meaning.
pub mod codes {
    use crate::diagnostic::Code;

    /// The file is not UTF-8 (invalid bytes, or UTF-16/UTF-32).
    pub const NOT_UTF8: Code = Code("E0010");
    /// The file holds NUL bytes: binary content under a YAML name.
    pub const BINARY: Code = Code("E0011");
    /// The YAML syntax is invalid (the parser's message says how).
    pub const SYNTAX: Code = Code("E0012");
    /// Tabs are used for indentation, which YAML forbids.
    pub const TAB_INDENT: Code = Code("E0013");
    /// A mapping holds the same key twice.
    pub const DUPLICATE_KEY: Code = Code("E0014");
    /// Nesting is deeper than `max_depth` (also through aliases).
    pub const TOO_DEEP: Code = Code("E0015");
    /// Aliases and merges expand to more than `max_alias_expansion_nodes`
    /// nodes ("billion laughs").
    pub const ALIAS_BUDGET: Code = Code("E0016");
    /// The file holds more than `max_documents` documents.
    pub const TOO_MANY_DOCUMENTS: Code = Code("E0017");
    /// An alias refers to a node that contains it.
    pub const RECURSIVE_ALIAS: Code = Code("E0018");
    /// A mapping or a sequence is used as a mapping key.
    pub const COMPLEX_KEY: Code = Code("E0019");
    /// A merge key `<<` whose value is not a mapping or a list of mappings.
    pub const BAD_MERGE: Code = Code("E0020");
    /// A scalar that cannot be a JSON value: `.inf`, `.nan`, `!!int abc`.
    pub const BAD_SCALAR: Code = Code("E0021");
    /// The file holds more than `max_nodes` YAML nodes.
    pub const TOO_MANY_NODES: Code = Code("E0022");
    /// A glob of weir.yaml's `include` or `exclude` that does not parse
    /// (see [`FileFilter`](crate::spec::filter::FileFilter)).
    pub const BAD_GLOB: Code = Code("E0023");
    /// The repo's files together (aliases expanded) take the run past its
    /// work [`Budget`](crate::budget::Budget): many files each within the
    /// per-file limits can still add up.
    pub const RUN_BUDGET: Code = Code("E0024");
    /// A bug in weir's loader (it never panics on input; this reports one
    /// that it caught anyway).
    pub const INTERNAL: Code = Code("E0029");
}

/// Bounds on what parsing one file may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YamlLimits {
    /// Deepest nesting of mappings and sequences (default 256). saphyr
    /// itself also refuses flow collections (`[[[`) nested past 255.
    pub max_depth: usize,
    /// Most nodes that aliases and merge keys may add in one file, a string
    /// counting one node per 64 bytes (default 250,000, tens of MB at most).
    pub max_alias_expansion_nodes: u64,
    /// Most documents in one file (default 10,000).
    pub max_documents: usize,
    /// Most nodes (mappings, sequences, aliases and scalars, keys included)
    /// written in one file (default 500,000: a large CRD bundle has about 200,000). With
    /// the per-file size limit it bounds memory: the costliest 8 MiB file,
    /// made of tiny mappings, would need some 700 MB as JSON values.
    pub max_nodes: usize,
}

impl Default for YamlLimits {
    fn default() -> Self {
        Self {
            max_depth: 256,
            max_alias_expansion_nodes: 250_000,
            max_documents: 10_000,
            max_nodes: 500_000,
        }
    }
}

/// One YAML document of a file, as a JSON value that remembers positions.
#[derive(Debug, Clone)]
pub struct Document {
    /// Repo-relative path of the file.
    pub file: String,
    /// 0-based number of the document in its file, counting skipped empty
    /// documents too, so it matches the `---` separators.
    pub index: usize,
    /// Where the document starts (its `---`, or its first content).
    pub span: Span,
    pub value: Value,
    positions: builder::Positions,
}

impl Document {
    /// A document that did not come from parsing text (built in code, or
    /// produced by another tool): every position is `span`.
    pub fn from_value(file: impl Into<String>, index: usize, span: Span, value: Value) -> Self {
        Self {
            file: file.into(),
            index,
            span,
            value,
            positions: builder::Positions::default(),
        }
    }

    /// Position of the value at a JSON pointer (`/spec/replicas`,
    /// `/spec/containers/0/image`, `""` for the whole document), or of its
    /// nearest ancestor that exists when the pointer goes further than the
    /// document (a missing field points at its parent).
    pub fn span_of(&self, pointer: &str) -> Span {
        self.positions.span_of(pointer).unwrap_or(self.span)
    }

    /// Position of the mapping key whose value is at `pointer`: where an
    /// "unknown field" error should point. `None` when the pointer does not
    /// exist or does not end in a mapping entry (a sequence item, the root).
    pub fn key_span_of(&self, pointer: &str) -> Option<Span> {
        self.positions.key_span_of(pointer)
    }

    /// Places `diagnostic` at the value at `pointer` of this document: sets
    /// its file, position (the key's position when `at_key` and there is
    /// one) and JSON path.
    pub fn locate(&self, diagnostic: Diagnostic, pointer: &str, at_key: bool) -> Diagnostic {
        let span = at_key
            .then(|| self.key_span_of(pointer))
            .flatten()
            .unwrap_or_else(|| self.span_of(pointer));
        diagnostic
            .in_file(self.file.clone())
            .at(span)
            .with_path(json_path(pointer))
    }
}

/// Parses every YAML document of one file.
///
/// # Errors
/// The first problem found, as a [`Diagnostic`] naming `file` and a
/// position, with a code from [`codes`]. A file is all or nothing: one bad
/// document refuses the whole file, as `kubectl apply -f` does.
pub fn parse_documents(
    file: &str,
    bytes: &[u8],
    limits: &YamlLimits,
) -> Result<Vec<Document>, Diagnostic> {
    parse_documents_within(file, bytes, limits, &Budget::new(budget::Limits::default()))
}

/// [`parse_documents`], charging every node built (aliases expanded) to
/// the run's `budget` as it goes; past it, the file is refused
/// ([`codes::RUN_BUDGET`]) at the position reached.
pub fn parse_documents_within(
    file: &str,
    bytes: &[u8],
    limits: &YamlLimits,
    budget: &Budget,
) -> Result<Vec<Document>, Diagnostic> {
    let text = check_text(file, bytes)?;
    // The builder does not panic; saphyr-parser has `unwrap`s on paths the
    // fuzz target has not reached. A panic must not take down the agent.
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        builder::parse(file, text, limits, budget)
    }))
    .unwrap_or_else(|_| {
        Err(Diagnostic::error(
            codes::INTERNAL,
            "internal error: the YAML parser panicked on this file",
        )
        .in_file(file)
        .with_hint("this is a bug in weir; please report it with the file"))
    })
}

/// The bytes as UTF-8 text, or why they are not YAML.
fn check_text<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str, Diagnostic> {
    // Positions are kept as u32; real limits are far lower.
    if bytes.len() > 1 << 30 {
        return Err(Diagnostic::error(
            crate::repo::codes::FILE_TOO_LARGE,
            "file is over 1 GiB; weir does not parse YAML files that large",
        )
        .in_file(file));
    }
    if bytes.starts_with(&[0xFF, 0xFE])
        || bytes.starts_with(&[0xFE, 0xFF])
        || bytes.starts_with(&[0, 0, 0xFE, 0xFF])
    {
        return Err(Diagnostic::error(
            codes::NOT_UTF8,
            "file is encoded as UTF-16 or UTF-32, not UTF-8",
        )
        .in_file(file)
        .at(Span { line: 1, column: 1 })
        .with_hint("save it as UTF-8"));
    }
    // `contains` on bytes is memchr; the position is only needed on failure.
    if bytes.contains(&0)
        && let Some(nul) = bytes.iter().position(|&b| b == 0)
    {
        return Err(Diagnostic::error(
            codes::BINARY,
            "file contains NUL bytes: it looks like binary content, not YAML",
        )
        .in_file(file)
        .at(position_of(bytes, nul))
        .with_hint(
            "if it is not a manifest, rename it or leave it out with `exclude` in weir.yaml",
        ));
    }
    std::str::from_utf8(bytes).map_err(|err| {
        let bad = err.valid_up_to();
        Diagnostic::error(
            codes::NOT_UTF8,
            format!(
                "file is not valid UTF-8 (byte 0x{:02X} at offset {bad})",
                bytes.get(bad).copied().unwrap_or_default()
            ),
        )
        .in_file(file)
        .at(position_of(bytes, bad))
        .with_hint("save it as UTF-8")
    })
}

/// Line and column (in characters) of a byte offset.
fn position_of(bytes: &[u8], offset: usize) -> Span {
    let before = bytes.get(..offset).unwrap_or(bytes);
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    // Count characters, not bytes: skip UTF-8 continuation bytes.
    let column = before[line_start..]
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count()
        + 1;
    Span {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(column).unwrap_or(u32::MAX),
    }
}

/// The file that makes a directory a Helm chart.
pub const CHART_FILE: &str = "Chart.yaml";

/// The files that make a directory a kustomization (the names `kustomize
/// build` looks for).
pub const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Whether a path names a YAML file (`.yaml` or `.yml`, any case).
pub fn is_yaml_path(path: &str) -> bool {
    let lower = |ext: &str| {
        path.len() > ext.len()
            && path
                .get(path.len() - ext.len()..)
                .is_some_and(|tail| tail.eq_ignore_ascii_case(ext))
    };
    lower(".yaml") || lower(".yml")
}

/// Parses every manifest of a tree: each `.yaml`/`.yml` file that
///
/// - `filter` selects (weir.yaml's `include` and `exclude`),
/// - is not inside a Helm chart or a kustomization (a directory holding
///   `Chart.yaml`, or one of [`KUSTOMIZATION_FILES`]: templates are not
///   YAML, patches are not whole objects, and both are rendered by their
///   tool, not loaded),
/// - and is not hidden (no path segment starts with `.`: `.github/`,
///   `.gitlab-ci.yml`, `.pre-commit-config.yaml` are not manifests).
///
/// A bad file yields one diagnostic and loading goes on with the next.
/// Documents come in path order, then document order. The tree's own
/// [`FileTree::diagnostics`] are not repeated here. Every file charges the
/// run's `budget`; once it is spent, the files left are refused and one
/// diagnostic ([`codes::RUN_BUDGET`]) names the first.
pub fn load_documents(
    tree: &FileTree,
    filter: &FileFilter,
    limits: &YamlLimits,
    budget: &Budget,
) -> (Vec<Document>, Vec<Diagnostic>) {
    let charts: Vec<String> = tree
        .paths()
        .filter_map(|path| {
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
            let marker = name == CHART_FILE || KUSTOMIZATION_FILES.contains(&name);
            match dir {
                _ if !marker => None,
                "" => Some(String::new()),
                dir => Some(format!("{dir}/")),
            }
        })
        .collect();
    let selected: Vec<(&str, &[u8])> = tree
        .files()
        .filter(|(path, _)| {
            is_yaml_path(path)
                && !path.split('/').any(|segment| segment.starts_with('.'))
                && !charts.iter().any(|chart| path.starts_with(chart.as_str()))
                && filter.selects(path)
        })
        .collect();
    // Files parse independently; the results come back in path order.
    let parsed = crate::parallel::map(&selected, |(path, bytes)| {
        parse_documents_within(path, bytes, limits, budget)
    });
    let mut documents = Vec::new();
    let mut diagnostics = Vec::new();
    let mut budget_reported = false;
    for result in parsed {
        match result {
            Ok(mut docs) => documents.append(&mut docs),
            Err(diagnostic) if diagnostic.code == codes::RUN_BUDGET => {
                if !std::mem::replace(&mut budget_reported, true) {
                    diagnostics.push(diagnostic);
                }
            }
            Err(diagnostic) => diagnostics.push(diagnostic),
        }
    }
    (documents, diagnostics)
}

#[cfg(test)]
mod tests;
