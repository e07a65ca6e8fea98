//! The three ways a [`Report`](super::Report) is printed: [`text`] for a
//! terminal, [`json`] for scripts, [`markdown`] for a pull-request comment.
//! Each returns a `String`; the CLI writes it.

pub mod json;
pub mod markdown;
pub mod text;

use serde_json::Value;

use super::model::{Change, FieldChange, ObjectDiff, Report};

/// What the two sides are, as the reader should see them: a revision as
/// given on the command line, `working tree`, or `cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    pub base: String,
    pub head: String,
}

/// The first line of a report's summary, the same in every human format.
pub struct Headline {
    /// False when nothing differs: the line is then all there is to say.
    pub differs: bool,
    /// `No differences (40 objects unchanged).`, or the totals
    /// `Objects: 1 added, 2 changed (40 unchanged)`.
    pub line: String,
}

/// The [`Headline`] of a report; `emphasis` wraps the totals' `Objects: …`
/// part (bold in Markdown, as it is in text).
pub fn headline(report: &Report, emphasis: impl Fn(&str) -> String) -> Headline {
    let s = &report.summary;
    if !report.has_differences() {
        return Headline {
            differs: false,
            line: format!("No differences ({} objects unchanged).", s.unchanged),
        };
    }
    let totals = format!("Objects: {}", counts(s.added, s.changed, s.removed));
    Headline {
        differs: true,
        line: format!("{} ({} unchanged)", emphasis(&totals), s.unchanged),
    }
}

/// One line per remote chart of a report, the same in every human format:
/// `web: demo 0.1.0 from https://… (sha256:…)` when unchanged,
/// `web: demo 0.1.0 (sha256:…) -> 0.2.0 (sha256:…) from https://…` when
/// another version or digest, `added`/`removed` before the description
/// otherwise.
pub fn chart_lines(report: &Report) -> Vec<String> {
    use super::model::ChartChange;
    report
        .charts
        .iter()
        .map(|c| match (c.change, &c.base, &c.head) {
            (ChartChange::Changed, Some(base), Some(head)) => {
                let mut line = format!(
                    "{}: {} {} ({}) -> {} ({}) from {}",
                    c.component,
                    head.chart,
                    base.version,
                    base.digest,
                    head.version,
                    head.digest,
                    head.repo
                );
                if base.repo != head.repo {
                    line.push_str(&format!(" (was {})", base.repo));
                }
                if let Some(parent) = &head.dependency_of {
                    line.push_str(&format!(", a dependency of {parent}"));
                }
                line
            }
            (change, base, head) => {
                let word = match change {
                    ChartChange::Added => "added ",
                    ChartChange::Removed => "removed ",
                    _ => "",
                };
                let describe = head
                    .as_ref()
                    .or(base.as_ref())
                    .map(crate::render::Resolved::describe)
                    .unwrap_or_default();
                format!("{}: {word}{describe}", c.component)
            }
        })
        .collect()
}

/// The `apiVersion` in an object's header: `old <arrow> new` when it
/// changed between the sides.
pub fn api_version(object: &ObjectDiff, arrow: &str) -> String {
    let api = object.id.api_version();
    match &object.base_api_version {
        Some(old) => format!("{old} {arrow} {api}"),
        None => api,
    }
}

/// Longest value shown inline in a field change; the unified diff has the
/// rest.
const BRIEF_MAX: usize = 80;

/// A value as shown after a field path: plain strings as they are, other
/// strings quoted, maps and lists as compact JSON, all cut at
/// [`BRIEF_MAX`] characters.
pub fn brief(value: &Value) -> String {
    let text = match value {
        Value::String(s) if is_plain(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() <= BRIEF_MAX {
        return text;
    }
    let mut cut: String = text.chars().take(BRIEF_MAX - 1).collect();
    cut.push('…');
    cut
}

/// A string that reads unambiguously without quotes.
fn is_plain(s: &str) -> bool {
    !s.is_empty()
        && s.trim() == s
        && !s.chars().any(char::is_control)
        && serde_json::from_str::<Value>(s).map_or(true, |v| v.is_string())
}

/// The text of a field change after its sigil: `path: old -> new`,
/// `path: value` (added or removed), `data.password: (changed)` or just
/// `data.token` for a redacted value.
pub fn field_text(change: &FieldChange) -> String {
    if change.redacted {
        return match change.change {
            Change::Changed => format!("{}: (changed)", change.path),
            _ => change.path.clone(),
        };
    }
    match (&change.old, &change.new) {
        (Some(old), Some(new)) => format!("{}: {} -> {}", change.path, brief(old), brief(new)),
        (Some(v), None) | (None, Some(v)) => format!("{}: {}", change.path, brief(v)),
        (None, None) => change.path.clone(),
    }
}

/// `1 added, 2 changed, 1 removed` — only the non-zero parts, or
/// `no changes`.
pub fn counts(added: usize, changed: usize, removed: usize) -> String {
    let parts: Vec<String> = [(added, "added"), (changed, "changed"), (removed, "removed")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    if parts.is_empty() {
        "no changes".to_owned()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn brief_values() {
        assert_eq!(brief(&json!("api:v1")), "api:v1");
        assert_eq!(brief(&json!("10")), "\"10\"");
        assert_eq!(brief(&json!("true")), "\"true\"");
        assert_eq!(brief(&json!("")), "\"\"");
        assert_eq!(brief(&json!("a\nb")), "\"a\\nb\"");
        assert_eq!(brief(&json!(10)), "10");
        assert_eq!(brief(&json!({"a": [1]})), r#"{"a":[1]}"#);
        let long = brief(&json!("x".repeat(200)));
        assert_eq!(long.chars().count(), BRIEF_MAX);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn redacted_fields_show_no_value() {
        let c = FieldChange {
            path: "data.pw".into(),
            change: Change::Changed,
            old: None,
            new: None,
            redacted: true,
        };
        assert_eq!(field_text(&c), "data.pw: (changed)");
    }
}
