//! The read-only status page, as HTML strings made from the
//! [`board`](super::board): an overview of every Sync, and one Sync's page
//! (its waves as columns of units coloured by health with the current wave
//! marked, the findings of a rejected commit with file and line, the
//! objects not yet healthy and why, recent events, the rendered diff of the
//! last change). Server-rendered, a small stylesheet, no JavaScript: a
//! meta refresh every few seconds lets a person watch a sync. Everything
//! shown is escaped; nothing on it holds a Secret's value (the diff is
//! `weir diff`'s, redacted).

use std::fmt::Write as _;

use super::board::{Phase, SyncView, UnitHealth};
use super::resource::Condition;
use super::status::{condition, short};

/// Seconds between the page's refreshes.
pub const REFRESH_SECONDS: u32 = 3;

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,sans-serif;margin:0;color:#1d2329;background:#f6f7f9}
header{background:#1d2329;color:#fff;padding:10px 20px;display:flex;gap:16px;align-items:baseline}
header a{color:#fff;text-decoration:none;font-weight:600}main{padding:16px 20px}
table{border-collapse:collapse;width:100%;background:#fff}th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e3e6ea;vertical-align:top}
th{font-weight:600;color:#55606b;font-size:12px;text-transform:uppercase}
code,pre{font:12px/1.4 ui-monospace,Menlo,monospace}pre{background:#fff;border:1px solid #e3e6ea;padding:10px;overflow:auto;max-height:480px}
.pill{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.True{background:#2e7d32}.False{background:#c62828}.Unknown{background:#f9a825;color:#1d2329}
.waves{display:flex;gap:10px;overflow-x:auto;padding:4px 0}.wave{min-width:150px;background:#fff;border:1px solid #e3e6ea;border-radius:6px;padding:8px}
.wave.current{border:2px solid #1565c0}.wave h3{margin:0 0 6px;font-size:13px}
.unit{border-radius:4px;padding:4px 6px;margin:4px 0;font-size:12px;color:#fff}
.Pending{background:#9e9e9e}.InProgress{background:#f9a825;color:#1d2329}.Healthy{background:#2e7d32}.Failed{background:#c62828}
section{margin:18px 0}h2{font-size:16px;margin:0 0 8px}.warn{color:#c62828}.muted{color:#6b7580}
";

/// `&<>"'` escaped for HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{} · weir</title><style>{STYLE}</style></head><body>\
         <header><a href=\"/\">weir</a><span>{}</span></header><main>{body}</main></body></html>",
        escape(title),
        escape(title)
    )
}

/// A link to a commit on the Git host, where its URL makes one (an http(s)
/// URL of GitHub, Gitea, Forgejo or GitLab); else the short sha.
pub fn commit_link(source: &str, revision: &str) -> String {
    let shown = escape(short(revision));
    let is_sha = revision.len() >= 7 && revision.bytes().all(|b| b.is_ascii_hexdigit());
    if !is_sha || !(source.starts_with("https://") || source.starts_with("http://")) {
        return format!("<code>{shown}</code>");
    }
    let base = source.trim_end_matches('/').trim_end_matches(".git");
    let middle = if base.contains("gitlab") {
        "/-/commit/"
    } else {
        "/commit/"
    };
    format!(
        "<a href=\"{}{middle}{}\"><code>{shown}</code></a>",
        escape(base),
        escape(revision)
    )
}

fn pill(c: Option<&Condition>) -> String {
    match c {
        Some(c) => format!(
            "<span class=\"pill {}\">{}</span> {}",
            escape(&c.status),
            escape(c.reason.as_deref().unwrap_or(&c.status)),
            escape(c.message.as_deref().unwrap_or(""))
        ),
        None => "<span class=\"pill Unknown\">not yet</span>".to_owned(),
    }
}

/// The path of a Sync's page (`weir agent --path`'s one worker, named by
/// its directory, is at `/syncs/local`).
pub fn sync_path(key: &str) -> String {
    match key.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.contains('/') && !key.starts_with('.') => {
            format!("/syncs/{ns}/{name}")
        }
        _ => "/syncs/local".to_owned(),
    }
}

/// Every Sync: source, ref, applied and attempted commits, condition, last
/// sync, objects managed.
pub fn overview(views: &[SyncView]) -> String {
    let mut body = String::from("<h2>Syncs</h2>");
    if views.is_empty() {
        body.push_str("<p class=\"muted\">No Sync is served yet.</p>");
        return page("Syncs", &body);
    }
    body.push_str(
        "<table><tr><th>Sync</th><th>Source</th><th>Applied</th><th>Attempted</th>\
         <th>Ready</th><th>Now</th><th>Last sync</th><th>Objects</th></tr>",
    );
    for v in views {
        let s = &v.status;
        let _ = write!(
            body,
            "<tr><td><a href=\"{}\">{}</a></td><td><code>{}</code><br><span class=\"muted\">{}{}</span></td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&sync_path(&v.key)),
            escape(&v.key),
            escape(&v.source),
            escape(&v.git_ref),
            if v.path.is_empty() {
                String::new()
            } else {
                format!(", path {}", escape(&v.path))
            },
            s.last_applied_revision
                .as_deref()
                .map_or("-".to_owned(), |r| commit_link(&v.source, r)),
            s.last_attempted_revision
                .as_deref()
                .map_or("-".to_owned(), |r| commit_link(&v.source, r)),
            pill(condition(s, "Ready")),
            escape(v.phase.as_str()),
            escape(s.last_sync_time.as_deref().unwrap_or("-")),
            s.managed.unwrap_or(0),
        );
    }
    body.push_str("</table>");
    page("Syncs", &body)
}

/// One Sync's page.
pub fn detail(v: &SyncView) -> String {
    let s = &v.status;
    let mut body = String::new();
    let _ = write!(
        body,
        "<h2>{}</h2><table>\
         <tr><th>Source</th><td><code>{}</code> {}{}</td></tr>\
         <tr><th>Ready</th><td>{}</td></tr>\
         <tr><th>Now</th><td>{}{}</td></tr>\
         <tr><th>Applied</th><td>{}</td></tr><tr><th>Attempted</th><td>{}</td></tr>\
         <tr><th>Objects</th><td>{} managed; the last sync changed {} and pruned {}; {} put back after drift</td></tr>",
        escape(&v.key),
        escape(&v.source),
        escape(&v.git_ref),
        if v.path.is_empty() {
            String::new()
        } else {
            format!(", path <code>{}</code>", escape(&v.path))
        },
        pill(condition(s, "Ready")),
        escape(v.phase.as_str()),
        match (&v.revision, v.phase) {
            (Some(r), Phase::Applying) => format!(" {}", commit_link(&v.source, r)),
            _ => String::new(),
        },
        s.last_applied_revision
            .as_deref()
            .map_or("-".to_owned(), |r| commit_link(&v.source, r)),
        s.last_attempted_revision
            .as_deref()
            .map_or("-".to_owned(), |r| commit_link(&v.source, r)),
        s.managed.unwrap_or(0),
        s.changed.unwrap_or(0),
        s.pruned.unwrap_or(0),
        s.drift_corrected.unwrap_or(0),
    );
    if let Some(e) = &s.last_error {
        let _ = write!(
            body,
            "<tr><th>Last error</th><td class=\"warn\">{}</td></tr>",
            escape(e)
        );
    }
    body.push_str("</table>");

    if !v.waves.is_empty() {
        body.push_str("<section><h2>Waves</h2><div class=\"waves\">");
        for w in &v.waves {
            let current = v.current_wave == Some(w.index);
            let _ = write!(
                body,
                "<div class=\"wave{}\"><h3>wave {} ({}){}</h3>",
                if current { " current" } else { "" },
                w.index,
                escape(&w.name),
                if current { " · in progress" } else { "" }
            );
            for u in &w.units {
                let class = match u.health {
                    UnitHealth::Pending => "Pending",
                    UnitHealth::InProgress => "InProgress",
                    UnitHealth::Healthy => "Healthy",
                    UnitHealth::Failed => "Failed",
                };
                let _ = write!(
                    body,
                    "<div class=\"unit {class}\" title=\"{class}\">{} · {} object{}</div>",
                    escape(&u.name),
                    u.objects,
                    if u.objects == 1 { "" } else { "s" }
                );
            }
            body.push_str("</div>");
        }
        body.push_str("</div></section>");
    }

    if !s.charts.is_empty() {
        body.push_str("<section><h2>Charts</h2><table>");
        for c in &s.charts {
            let _ = write!(
                body,
                "<tr><th>{}</th><td><code>{}</code></td></tr>",
                escape(&c.component),
                escape(&c.chart.describe())
            );
        }
        body.push_str("</table></section>");
    }

    if !v.findings().is_empty() {
        body.push_str("<section><h2>Why the last commit was rejected</h2><table>");
        for f in v.findings() {
            let place = match (&f.file, f.line) {
                (Some(file), Some(line)) => format!("{file}:{line}"),
                (Some(file), None) => file.clone(),
                _ => "the repo".to_owned(),
            };
            let _ = write!(
                body,
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}{}</td></tr>",
                escape(&place),
                escape(&f.code),
                escape(&f.message),
                f.path
                    .as_deref()
                    .map(|p| format!(" <span class=\"muted\">at {}</span>", escape(p)))
                    .unwrap_or_default()
            );
        }
        body.push_str("</table></section>");
    }

    if !v.not_ready.is_empty() {
        body.push_str("<section><h2>Not healthy yet</h2><pre>");
        for line in &v.not_ready {
            body.push_str(&escape(line));
            body.push('\n');
        }
        body.push_str("</pre></section>");
    }

    if !v.events.is_empty() {
        body.push_str("<section><h2>Recent events</h2><table>");
        for e in v.events.iter().rev() {
            let _ = write!(
                body,
                "<tr><td class=\"muted\">{}</td><td{}>{}</td><td>{}</td></tr>",
                escape(&e.time),
                if e.warning { " class=\"warn\"" } else { "" },
                escape(&e.reason),
                escape(&e.message)
            );
        }
        body.push_str("</table></section>");
    }

    if let Some(diff) = &v.diff {
        let _ = write!(
            body,
            "<section><h2>The last change</h2><pre>{}</pre></section>",
            escape(diff)
        );
    }
    page(&v.key, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::board::{UnitView, WaveView};
    use crate::agent::resource::Finding;

    #[test]
    fn escapes_and_links() {
        assert_eq!(escape("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
        assert_eq!(
            commit_link(
                "https://github.com/acme/platform.git",
                "0123456789abcdef0123"
            ),
            "<a href=\"https://github.com/acme/platform/commit/0123456789abcdef0123\"><code>0123456789ab</code></a>"
        );
        assert!(commit_link("https://gitlab.example/a/b", "0123456").contains("/-/commit/"));
        assert_eq!(
            commit_link("ssh://git@host/x", "0123456"),
            "<code>0123456</code>"
        );
        assert_eq!(
            sync_path("weir-system/platform"),
            "/syncs/weir-system/platform"
        );
    }

    #[test]
    fn a_sync_page_shows_the_wave_in_progress_and_findings() {
        let mut v = SyncView {
            key: "weir-system/p".into(),
            source: "https://git.example/p.git".into(),
            phase: Phase::Applying,
            revision: Some("abcdef1234567".into()),
            current_wave: Some(1),
            waves: vec![
                WaveView {
                    index: 0,
                    name: "crds".into(),
                    units: vec![UnitView {
                        name: "crds".into(),
                        objects: 4,
                        health: UnitHealth::Healthy,
                    }],
                },
                WaveView {
                    index: 1,
                    name: "apps".into(),
                    units: vec![UnitView {
                        name: "<web>".into(),
                        objects: 1,
                        health: UnitHealth::InProgress,
                    }],
                },
            ],
            not_ready: vec!["Deployment apps/web: 0/1 replicas available".into()],
            ..SyncView::default()
        };
        v.status.findings.push(Finding {
            code: "E0101".into(),
            severity: "error".into(),
            file: Some("apps/web.yaml".into()),
            line: Some(7),
            column: Some(3),
            path: Some(".spec.replicaz".into()),
            message: "unknown field `replicaz`".into(),
        });
        v.status.charts.push(crate::sync::report::ChartReport {
            component: "db".into(),
            chart: crate::render::Resolved {
                repo: "https://charts.example.com".into(),
                chart: "postgresql".into(),
                version: "15.5.38".into(),
                digest: "sha256:ab12".into(),
                dependency_of: None,
                cached: false,
            },
        });
        let html = detail(&v);
        assert!(html.contains(
            "<tr><th>db</th><td><code>postgresql 15.5.38 from https://charts.example.com (sha256:ab12)</code></td></tr>"
        ));
        assert!(html.contains("<div class=\"wave current\"><h3>wave 1 (apps) · in progress</h3>"));
        assert!(html.contains("&lt;web&gt;"), "unit names are escaped");
        assert!(html.contains("<code>apps/web.yaml:7</code>"));
        assert!(html.contains("0/1 replicas available"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("<form"));
    }
}
