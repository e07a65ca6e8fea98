//! Text output for a terminal: the summary, then each changed object with
//! its field changes and unified diff, then weir's own documents.
//! Coloured with ANSI escapes when asked to (the CLI asks on a TTY unless
//! `NO_COLOR` is set).

use std::fmt::Write as _;

use super::{Labels, api_version, chart_lines, field_text, headline};
use crate::diff::model::{Change, ObjectDiff, Report, WeirDocDiff};

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";

struct Painter {
    color: bool,
}

impl Painter {
    fn paint(&self, style: &str, text: &str) -> String {
        if self.color {
            format!("{style}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }

    fn change(&self, change: Change, text: &str) -> String {
        self.paint(
            match change {
                Change::Added => GREEN,
                Change::Changed => YELLOW,
                Change::Removed => RED,
            },
            text,
        )
    }
}

/// The report as text; `color` adds ANSI colours.
pub fn render(report: &Report, labels: &Labels, color: bool) -> String {
    let p = Painter { color };
    let mut out = String::new();
    let s = &report.summary;
    let _ = writeln!(
        out,
        "{} {} -> {}",
        p.paint(BOLD, "weir diff"),
        labels.base,
        labels.head
    );
    let headline = headline(report, str::to_owned);
    let _ = writeln!(out, "{}", headline.line);
    let charts = chart_lines(report);
    if !charts.is_empty() {
        let _ = writeln!(out, "Charts:");
        for line in charts {
            let _ = writeln!(out, "  {line}");
        }
    }
    if !headline.differs {
        return out;
    }
    if s.weir_documents > 0 {
        let _ = writeln!(out, "Weir documents changed: {}", s.weir_documents);
    }
    if !s.groups.is_empty() {
        out.push('\n');
        let width = s
            .groups
            .iter()
            .map(|g| g.component.chars().count())
            .max()
            .unwrap_or(0)
            .max("COMPONENT".len());
        let _ = writeln!(
            out,
            "  {}",
            p.paint(
                DIM,
                &format!("WAVE  {:width$}  ADDED  CHANGED  REMOVED", "COMPONENT")
            )
        );
        for g in &s.groups {
            let _ = writeln!(
                out,
                "  {:>4}  {:width$}  {:>5}  {:>7}  {:>7}",
                g.wave, g.component, g.added, g.changed, g.removed
            );
        }
    }
    for object in &report.objects {
        out.push('\n');
        object_text(&mut out, object, &p);
    }
    if !report.weir_documents.is_empty() {
        let _ = writeln!(out, "\n{}", p.paint(BOLD, "Weir documents:"));
        for doc in &report.weir_documents {
            weir_doc_text(&mut out, doc, &p);
        }
    }
    out
}

fn object_text(out: &mut String, o: &ObjectDiff, p: &Painter) {
    let api = api_version(o, "->");
    let mut place = format!("component {}, wave {}", o.component, o.wave);
    if let Some(file) = &o.file {
        let _ = write!(place, ", {file}");
    }
    let title = format!("{} {} ({api})", o.change.sigil(), o.id);
    let _ = writeln!(
        out,
        "{}  {}",
        p.paint(BOLD, &p.change(o.change, &title)),
        p.paint(DIM, &place)
    );
    for note in &o.notes {
        let _ = writeln!(out, "    note: {note}");
    }
    for f in &o.fields {
        let line = format!("{} {}", f.change.sigil(), field_text(f));
        let _ = writeln!(out, "    {}", p.change(f.change, &line));
    }
    if !o.diff.is_empty() {
        out.push('\n');
        for line in o.diff.lines() {
            let painted = match line.as_bytes().first() {
                Some(b'@') => p.paint(CYAN, line),
                _ if line.starts_with("---") || line.starts_with("+++") => p.paint(BOLD, line),
                Some(b'+') => p.paint(GREEN, line),
                Some(b'-') => p.paint(RED, line),
                _ => line.to_owned(),
            };
            let _ = writeln!(out, "    {painted}");
        }
    }
}

fn weir_doc_text(out: &mut String, d: &WeirDocDiff, p: &Painter) {
    let title = format!("{} {} {}", d.change.sigil(), d.kind, d.name);
    let _ = writeln!(
        out,
        "{}  {}",
        p.paint(BOLD, &p.change(d.change, &title)),
        p.paint(DIM, &format!("{} ({})", d.file, d.effect()))
    );
    for f in &d.fields {
        let line = format!("{} {}", f.change.sigil(), field_text(f));
        let _ = writeln!(out, "    {}", p.change(f.change, &line));
    }
}
