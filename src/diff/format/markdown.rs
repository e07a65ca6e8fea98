//! `--output markdown`: a pull-request comment.
//!
//! A heading and the totals, a table per wave and component, the changed
//! weir documents, then one collapsible `<details>` block per object with
//! its field changes and unified diff. GitHub rejects comments longer than
//! 65,536 characters, so the whole comment is kept within
//! [`LIMIT`] (counted in UTF-8 bytes, never fewer than characters): when
//! the objects do not all fit, whole objects are left out — never cut in
//! the middle — and the comment ends with the list of what was left out.

use std::fmt::Write as _;

use super::{Labels, api_version, field_text, headline};
use crate::diff::model::{Change, ObjectDiff, Report};

/// Longest comment written, in bytes.
pub const LIMIT: usize = 65_000;

/// Room for the heading of the list of left-out objects and its last line.
const TRAILER_HEAD: usize = 512;
/// Rows of the summary table shown before it is cut.
const MAX_TABLE_ROWS: usize = 100;
/// Field changes listed per object or document before "and N more".
const MAX_FIELDS: usize = 50;

/// The report as Markdown of at most [`LIMIT`] bytes.
pub fn render(report: &Report, labels: &Labels) -> String {
    render_within(report, labels, LIMIT)
}

/// The report as Markdown of at most `limit` bytes (at least a few
/// thousand, for the header).
pub fn render_within(report: &Report, labels: &Labels, limit: usize) -> String {
    let mut out = header(report, labels);
    let blocks: Vec<String> = report.objects.iter().map(object_block).collect();
    let total: usize = out.len() + blocks.iter().map(String::len).sum::<usize>();
    if total <= limit {
        for block in blocks {
            out.push_str(&block);
        }
        return out;
    }
    // Include objects in order while what is left out can still be listed
    // in full; the trailer's own heading needs TRAILER_HEAD bytes.
    let lines: Vec<String> = report.objects.iter().map(left_out_line).collect();
    let mut listed: usize = lines.iter().map(String::len).sum();
    let mut left_out = Vec::new();
    for ((object, block), line) in report.objects.iter().zip(blocks).zip(&lines) {
        let after = out.len() + block.len() + (listed - line.len()) + TRAILER_HEAD;
        if after <= limit {
            out.push_str(&block);
            listed -= line.len();
        } else {
            left_out.push(object);
        }
    }
    trailer(&mut out, &left_out, limit);
    out
}

fn left_out_line(o: &ObjectDiff) -> String {
    format!("- {} {}\n", o.change.as_str(), code(&o.id.to_string()))
}

fn header(report: &Report, labels: &Labels) -> String {
    let s = &report.summary;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### weir diff: {} → {}\n",
        code(&labels.base),
        code(&labels.head)
    );
    let headline = headline(report, |totals| format!("**{totals}**"));
    let _ = writeln!(out, "{}", headline.line);
    let charts = super::chart_lines(report);
    if !charts.is_empty() {
        out.push_str("\nCharts:\n");
        for line in charts {
            let _ = writeln!(out, "- {}", code(&line));
        }
    }
    if !headline.differs {
        return out;
    }
    if !s.groups.is_empty() {
        out.push_str("\n| Wave | Component | Added | Changed | Removed |\n");
        out.push_str("|---:|:---|---:|---:|---:|\n");
        for g in s.groups.iter().take(MAX_TABLE_ROWS) {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                g.wave,
                cell(&g.component),
                g.added,
                g.changed,
                g.removed
            );
        }
        if s.groups.len() > MAX_TABLE_ROWS {
            let _ = writeln!(
                out,
                "| … | {} more | | | |",
                s.groups.len() - MAX_TABLE_ROWS
            );
        }
    }
    if !report.weir_documents.is_empty() {
        out.push_str("\n**Weir documents**\n\n");
        for d in &report.weir_documents {
            let _ = writeln!(
                out,
                "- {} {} in {} ({})",
                d.change.as_str(),
                code(&format!("{} {}", d.kind, d.name)),
                code(&d.file),
                d.effect()
            );
            for f in d.fields.iter().take(MAX_FIELDS) {
                let _ = writeln!(out, "  - {}", code(&field_text(f)));
            }
            more(&mut out, "  ", d.fields.len());
        }
    }
    out.push('\n');
    out
}

fn more(out: &mut String, indent: &str, n: usize) {
    if n > MAX_FIELDS {
        let _ = writeln!(out, "{indent}- … and {} more", n - MAX_FIELDS);
    }
}

fn object_block(o: &ObjectDiff) -> String {
    let mut out = String::new();
    let api = api_version(o, "→");
    let _ = writeln!(
        out,
        "<details>\n<summary>{} <code>{}</code> · {} · component {} · wave {}</summary>\n",
        verb(o.change),
        html(&o.id.to_string()),
        html(&api),
        html(&o.component),
        o.wave
    );
    if let Some(file) = &o.file {
        let _ = writeln!(out, "File: {}\n", code(file));
    }
    for note in &o.notes {
        let _ = writeln!(out, "> {}\n", html(note));
    }
    if !o.fields.is_empty() {
        for f in o.fields.iter().take(MAX_FIELDS) {
            let _ = writeln!(out, "- {} {}", f.change.as_str(), code(&field_text(f)));
        }
        more(&mut out, "", o.fields.len());
        out.push('\n');
    }
    if !o.diff.is_empty() {
        let fence = fence_for(&o.diff);
        let _ = write!(out, "{fence}diff\n{}{fence}\n\n", o.diff);
    }
    out.push_str("</details>\n\n");
    out
}

fn verb(change: Change) -> &'static str {
    match change {
        Change::Added => "<b>added</b>",
        Change::Changed => "<b>changed</b>",
        Change::Removed => "<b>removed</b>",
    }
}

fn trailer(out: &mut String, left_out: &[&ObjectDiff], limit: usize) {
    let _ = writeln!(
        out,
        "**{} objects left out** to keep this comment under {limit} characters; \
         run `weir diff` with the same revisions to see them all:\n",
        left_out.len(),
    );
    // Keep room for the closing "and N more" line.
    let room = limit.saturating_sub(64);
    for (i, o) in left_out.iter().enumerate() {
        let line = left_out_line(o);
        if out.len() + line.len() > room {
            let _ = writeln!(out, "- … and {} more", left_out.len() - i);
            return;
        }
        out.push_str(&line);
    }
}

/// Inline code that survives backticks in its content.
fn code(text: &str) -> String {
    let text = text.replace('\n', " ");
    let longest = longest_run(&text, '`');
    if longest == 0 {
        return format!("`{text}`");
    }
    let ticks = "`".repeat(longest + 1);
    format!("{ticks} {text} {ticks}")
}

/// A table cell: pipes escaped, newlines flattened.
fn cell(text: &str) -> String {
    html(text).replace('|', "\\|").replace('\n', " ")
}

/// Text safe inside HTML (the `<summary>` line).
fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A code fence longer than any run of backticks in the content.
fn fence_for(content: &str) -> String {
    "`".repeat(longest_run(content, '`').max(2) + 1)
}

fn longest_run(text: &str, c: char) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for ch in text.chars() {
        if ch == c {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::model::Summary;
    use crate::object::ObjectRef;

    fn object(name: &str, diff_lines: usize) -> ObjectDiff {
        ObjectDiff {
            change: Change::Changed,
            id: ObjectRef {
                group: String::new(),
                version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: Some("shop".into()),
                name: name.into(),
            },
            base_api_version: None,
            component: "api".into(),
            wave: 0,
            file: None,
            notes: Vec::new(),
            fields: Vec::new(),
            diff: "+ a line of the unified diff of this object\n".repeat(diff_lines),
        }
    }

    fn report(objects: Vec<ObjectDiff>) -> Report {
        Report {
            summary: Summary {
                changed: objects.len(),
                ..Summary::default()
            },
            objects,
            weir_documents: Vec::new(),
            charts: Vec::new(),
        }
    }

    fn labels() -> Labels {
        Labels {
            base: "main".into(),
            head: "HEAD".into(),
        }
    }

    #[test]
    fn small_reports_are_whole() {
        let text = render(&report(vec![object("a", 3)]), &labels());
        assert!(!text.contains("left out"));
        assert_eq!(text.matches("<details>").count(), 1);
    }

    #[test]
    fn long_reports_cut_whole_objects_and_list_them() {
        // One object too big for any comment among many small ones.
        let mut objects: Vec<ObjectDiff> = (0..400)
            .map(|i| object(&format!("cm-{i:03}"), 10))
            .collect();
        objects.insert(3, object("huge", 5_000));
        let text = render(&report(objects), &labels());
        assert!(text.len() <= LIMIT, "{} bytes", text.len());
        assert_eq!(
            text.matches("<details>").count(),
            text.matches("</details>").count()
        );
        assert!(!text.contains("<code>ConfigMap shop/huge</code>"));
        assert!(
            text.contains("<code>ConfigMap shop/cm-004</code>"),
            "later objects still fit"
        );
        let shown = text.matches("<details>").count();
        let trailer = text.split("objects left out").nth(1).unwrap();
        assert!(trailer.contains("- changed `ConfigMap shop/huge`"));
        assert!(text.contains(&format!("**{} objects left out**", 401 - shown)));
        // Every object is either shown or listed.
        for i in 0..400 {
            let name = format!("ConfigMap shop/cm-{i:03}");
            assert!(
                text.contains(&format!("<code>{name}</code>"))
                    || trailer.contains(&format!("`{name}`")),
                "{name} is missing"
            );
        }
    }

    #[test]
    fn the_left_out_list_is_itself_bounded() {
        let objects: Vec<ObjectDiff> = (0..20_000)
            .map(|i| object(&format!("cm-{i:05}"), 1))
            .collect();
        let text = render_within(&report(objects), &labels(), 20_000);
        assert!(text.len() <= 20_000, "{} bytes", text.len());
        assert!(
            text.trim_end().ends_with("more"),
            "{}",
            &text[text.len() - 200..]
        );
    }

    #[test]
    fn code_and_fences_survive_backticks() {
        assert_eq!(code("a"), "`a`");
        assert_eq!(code("a`b"), "`` a`b ``");
        assert_eq!(fence_for("x"), "```");
        assert_eq!(fence_for("```"), "````");
        assert_eq!(html("<b>&"), "&lt;b&gt;&amp;");
        assert_eq!(cell("a|b"), "a\\|b");
    }
}
