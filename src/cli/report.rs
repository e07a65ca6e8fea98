//! Printing [`Diagnostic`]s: text for people, JSON for scripts, GitHub
//! Actions annotations for pull requests. The one printer of findings:
//! `weir validate` prints its report here, and every other command that
//! reads a repo (plan, render, diff, sync) prints its findings here too.
//!
//! # JSON output
//!
//! `--output json` prints one document; its fields are stable (new fields
//! may be added, none removed or changed in meaning):
//!
//! ```json
//! {
//!   "valid": false,
//!   "summary": {
//!     "errors": 1, "warnings": 0,
//!     "documents": 12, "files": 5, "filesWithFindings": 1
//!   },
//!   "diagnostics": [{
//!     "code": "E0101", "severity": "error",
//!     "file": "apps/web.yaml", "line": 7, "column": 3,
//!     "path": ".spec.replicsa",
//!     "message": "unknown field `replicsa`, did you mean `replicas`?",
//!     "hint": "rename `replicsa` to `replicas`"
//!   }]
//! }
//! ```
//!
//! `file` is relative to the config repository's root (`null` for findings
//! about the whole repo); `line` and `column` are 1-based (`null` when the
//! whole file is meant); `path` is the JSON path in the document (or
//! `null`); `hint` is `null` when weir has no advice. `severity` is
//! `error` or `warning`; `valid` is true when there is no error.

use std::collections::BTreeSet;
use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use serde::Serialize;

use super::args::ReportFormat;
use crate::diagnostic::{Diagnostic, Severity};
use crate::validate::Report;

/// What was checked, for the summary line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Checked {
    pub documents: usize,
    pub files: usize,
}

/// How file names are shown in text and GitHub output: prefixed with the
/// path the user gave (`platform/` + `apps/web.yaml`), so they can be
/// clicked in a terminal and match the checkout in CI.
#[derive(Debug, Clone, Default)]
pub struct Display {
    pub file_prefix: String,
}

impl Display {
    /// `platform/` for `weir validate platform`, `""` for `.`: what to put
    /// in front of repo-relative file names so they make sense where weir
    /// runs.
    pub fn for_path(path: &std::path::Path) -> Self {
        let text = path.to_string_lossy();
        let trimmed = text.trim_start_matches("./").trim_end_matches('/');
        let file_prefix = if trimmed.is_empty() || trimmed == "." {
            String::new()
        } else {
            format!("{trimmed}/")
        };
        Self { file_prefix }
    }

    fn file(&self, file: &str) -> String {
        format!("{}{file}", self.file_prefix)
    }
}

/// Writes a pipeline report in `format`. Text output carries ANSI styles;
/// write it through `anstream` so they are dropped when the output is not
/// a terminal or `NO_COLOR` is set.
pub fn write(
    out: &mut dyn Write,
    format: ReportFormat,
    report: &Report,
    display: &Display,
) -> io::Result<()> {
    let checked = Checked {
        documents: report.documents,
        files: report.files,
    };
    write_diagnostics(out, format, &report.diagnostics, checked, display)
}

/// The findings of a command that does something else with a repo (plan,
/// render, diff, sync), as text on stderr: nothing when there are none,
/// else the grouped findings and the summary line.
pub fn to_stderr(report: &Report, display: &Display) {
    if report.diagnostics.is_empty() {
        return;
    }
    let mut err = anstream::stderr().lock();
    let _ = write(&mut err, ReportFormat::Text, report, display);
}

/// Writes diagnostics in `format` (see [`write`]).
pub fn write_diagnostics(
    out: &mut dyn Write,
    format: ReportFormat,
    diags: &[Diagnostic],
    checked: Checked,
    display: &Display,
) -> io::Result<()> {
    match format {
        ReportFormat::Text => write_text(out, diags, checked, display),
        ReportFormat::Json => write_json(out, diags, checked),
        ReportFormat::Github => write_github(out, diags, checked, display),
    }
}

fn counts(diags: &[Diagnostic]) -> (usize, usize, usize) {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let files: BTreeSet<&str> = diags.iter().filter_map(|d| d.file.as_deref()).collect();
    (errors, diags.len() - errors, files.len())
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The summary line: `2 errors, 1 warning in 3 files (142 documents checked)`.
pub fn summary_line(diags: &[Diagnostic], checked: Checked) -> String {
    let (errors, warnings, files) = counts(diags);
    let what = format!(
        "{} in {}",
        plural(checked.documents, "document"),
        plural(checked.files, "file")
    );
    if diags.is_empty() {
        format!("no problems found ({what} checked)")
    } else {
        format!(
            "{}, {} in {} ({what} checked)",
            plural(errors, "error"),
            plural(warnings, "warning"),
            plural(files.max(1), "file")
        )
    }
}

fn write_text(
    out: &mut dyn Write,
    diags: &[Diagnostic],
    checked: Checked,
    display: &Display,
) -> io::Result<()> {
    let bold = Style::new().bold();
    let dim = Style::new().dimmed();
    let error = Style::new().bold().fg_color(Some(AnsiColor::Red.into()));
    let warning = Style::new().bold().fg_color(Some(AnsiColor::Yellow.into()));
    let hint = Style::new().fg_color(Some(AnsiColor::Cyan.into()));
    let mut last_file: Option<Option<&str>> = None;
    for d in diags {
        let file = d.file.as_deref();
        if last_file.is_some_and(|f| f != file) {
            writeln!(out)?;
        }
        last_file = Some(file);
        let location = match (file, d.span) {
            (Some(f), Some(span)) => format!("{}:{}:{}", display.file(f), span.line, span.column),
            (Some(f), None) => display.file(f),
            (None, _) => "weir".to_string(),
        };
        let style = match d.severity {
            Severity::Error => error,
            Severity::Warning => warning,
        };
        writeln!(
            out,
            "{bold}{location}{bold:#}  {style}{}[{}]{style:#} {}",
            d.severity, d.code, d.message
        )?;
        if let Some(path) = &d.path {
            writeln!(out, "    {dim}at {path}{dim:#}")?;
        }
        if let Some(h) = &d.hint {
            writeln!(out, "    {hint}hint:{hint:#} {h}")?;
        }
    }
    if !diags.is_empty() {
        writeln!(out)?;
    }
    let (errors, _, _) = counts(diags);
    let summary_style = if errors > 0 {
        error
    } else if diags.is_empty() {
        Style::new().bold().fg_color(Some(AnsiColor::Green.into()))
    } else {
        warning
    };
    writeln!(
        out,
        "{summary_style}{}{summary_style:#}",
        summary_line(diags, checked)
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonReport<'a> {
    valid: bool,
    summary: JsonSummary,
    diagnostics: &'a [Diagnostic],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonSummary {
    errors: usize,
    warnings: usize,
    documents: usize,
    files: usize,
    files_with_findings: usize,
}

fn write_json(out: &mut dyn Write, diags: &[Diagnostic], checked: Checked) -> io::Result<()> {
    let (errors, warnings, files_with_findings) = counts(diags);
    let report = JsonReport {
        valid: errors == 0,
        summary: JsonSummary {
            errors,
            warnings,
            documents: checked.documents,
            files: checked.files,
            files_with_findings,
        },
        diagnostics: diags,
    };
    serde_json::to_writer_pretty(&mut *out, &report)?;
    writeln!(out)
}

/// Escapes the message part of a workflow command.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value of a workflow command.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn write_github(
    out: &mut dyn Write,
    diags: &[Diagnostic],
    checked: Checked,
    display: &Display,
) -> io::Result<()> {
    for d in diags {
        let command = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut props = Vec::new();
        if let Some(file) = &d.file {
            props.push(format!("file={}", escape_property(&display.file(file))));
            if let Some(span) = d.span {
                props.push(format!("line={}", span.line));
                props.push(format!("col={}", span.column));
            }
        }
        props.push(format!("title={}", escape_property(d.code.0)));
        let mut message = d.message.clone();
        if let Some(path) = &d.path {
            message.push_str(&format!(" (at {path})"));
        }
        if let Some(hint) = &d.hint {
            message.push_str(&format!("\nhint: {hint}"));
        }
        writeln!(
            out,
            "::{command} {}::{}",
            props.join(","),
            escape_data(&message)
        )?;
    }
    let summary = summary_line(diags, checked);
    writeln!(out, "{summary}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::{Code, Span};

    fn sample() -> Vec<Diagnostic> {
        vec![
            Diagnostic::error(
                Code("E0101"),
                "unknown field `replicsa`, did you mean `replicas`?",
            )
            .in_file("apps/web.yaml")
            .at(Span { line: 7, column: 3 })
            .with_path(".spec.replicsa")
            .with_hint("rename `replicsa` to `replicas`"),
            Diagnostic::warning(Code("W0102"), "namespace `x`, not created")
                .in_file("apps/web.yaml")
                .at(Span { line: 2, column: 1 }),
        ]
    }

    fn render(format: ReportFormat) -> String {
        let mut out = Vec::new();
        let checked = Checked {
            documents: 3,
            files: 2,
        };
        let display = Display {
            file_prefix: "platform/".into(),
        };
        write_diagnostics(&mut out, format, &sample(), checked, &display).unwrap();
        anstream::adapter::strip_str(&String::from_utf8(out).unwrap()).to_string()
    }

    #[test]
    fn text_is_grouped_with_summary() {
        let text = render(ReportFormat::Text);
        assert!(
            text.starts_with("platform/apps/web.yaml:7:3  error[E0101] unknown field `replicsa`")
        );
        assert!(text.contains("    hint: rename `replicsa` to `replicas`\n"));
        assert!(text.ends_with("1 error, 1 warning in 1 file (3 documents in 2 files checked)\n"));
    }

    #[test]
    fn github_annotations_are_escaped() {
        let text = render(ReportFormat::Github);
        let first = text.lines().next().unwrap();
        assert_eq!(
            first,
            "::error file=platform/apps/web.yaml,line=7,col=3,title=E0101::unknown field `replicsa`, did you mean `replicas`? (at .spec.replicsa)%0Ahint: rename `replicsa` to `replicas`"
        );
    }

    #[test]
    fn json_has_stable_fields() {
        let v: serde_json::Value = serde_json::from_str(&render(ReportFormat::Json)).unwrap();
        assert_eq!(v["valid"], false);
        assert_eq!(v["summary"]["errors"], 1);
        assert_eq!(v["diagnostics"][0]["line"], 7);
        assert_eq!(v["diagnostics"][1]["path"], serde_json::Value::Null);
    }
}
