//! A Sync's status as a plain value: what one reconcile came to
//! ([`Outcome`]) turned into the next [`SyncStatus`], with kstatus
//! conditions (`Ready`, `Reconciling`, `Stalled`) whose transition times
//! move only when their status does. Pure: the worker writes the result,
//! and only when it differs from what is there.

use jiff::Timestamp;

use super::resource::{Condition, Finding, MAX_FINDINGS, SyncStatus, WaveStatus};
use crate::diagnostic::Diagnostic;
use crate::sync::report::Report;

/// Why a commit was not applied although it was fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// It failed validation (or rendering, or planning).
    Invalid,
    /// It is unsigned, or signed by a key the policy does not trust.
    Untrusted,
}

/// What one reconcile of a Sync came to.
#[derive(Debug, Clone)]
pub enum Outcome<'a> {
    /// A sync of `revision` is under way, at `wave` of `waves`.
    Progressing {
        revision: &'a str,
        wave: Option<(u32, String)>,
        waves: usize,
    },
    /// `revision` was applied wholly and is healthy.
    Applied {
        revision: &'a str,
        report: &'a Report,
        managed: u64,
    },
    /// `revision` was refused before anything was applied; the cluster
    /// keeps the last good commit.
    Rejected {
        revision: &'a str,
        why: Rejection,
        message: String,
        findings: &'a [Diagnostic],
    },
    /// The source could not be read (a Git server down, a bad password);
    /// nothing in the cluster changed.
    FetchFailed { message: String },
    /// The sync of `revision` stopped (preflight, health, conflict...).
    SyncFailed {
        revision: &'a str,
        report: &'a Report,
        message: String,
    },
    /// Objects changed or deleted by hand were put back.
    Healed { objects: u64 },
    /// The Sync's spec names what the agent cannot serve.
    InvalidSpec { message: String },
}

impl Outcome<'_> {
    /// The word metrics count it by.
    pub fn result(&self) -> &'static str {
        match self {
            Outcome::Progressing { .. } => "progressing",
            Outcome::Applied { .. } => "applied",
            Outcome::Rejected { .. } => "rejected",
            Outcome::FetchFailed { .. } => "fetch_failed",
            Outcome::SyncFailed { .. } => "failed",
            Outcome::Healed { .. } => "healed",
            Outcome::InvalidSpec { .. } => "invalid_spec",
        }
    }
}

/// The short form of a commit in messages.
pub fn short(revision: &str) -> &str {
    revision.get(..12).unwrap_or(revision)
}

/// The status after `outcome`, from the `previous` one; `generation` is
/// the Sync's `metadata.generation` this reconcile saw.
pub fn next(
    previous: &SyncStatus,
    generation: Option<i64>,
    outcome: &Outcome<'_>,
    now: Timestamp,
) -> SyncStatus {
    let now_text = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut status = previous.clone();
    status.observed_generation = generation;
    let mut set = |type_: &str, value: &str, reason: &str, message: String| {
        set_condition(
            &mut status.conditions,
            Condition {
                type_: type_.to_owned(),
                status: value.to_owned(),
                reason: Some(reason.to_owned()),
                message: Some(message),
                last_transition_time: None,
                observed_generation: generation,
            },
            &now_text,
        );
    };
    match outcome {
        Outcome::Progressing {
            revision,
            wave,
            waves,
        } => {
            let at = match wave {
                Some((index, name)) => format!(", wave {index} ({name}) of {waves}"),
                None => String::new(),
            };
            let message = format!("applying {}{at}", short(revision));
            set("Ready", "Unknown", "Progressing", message.clone());
            set("Reconciling", "True", "Progressing", message);
            set("Stalled", "False", "Progressing", String::new());
            status.last_attempted_revision = Some((*revision).to_owned());
        }
        Outcome::Applied {
            revision,
            report,
            managed,
        } => {
            let changed: usize = report.waves.iter().map(|w| w.created + w.configured).sum();
            let message = format!(
                "applied {}: {managed} objects, {changed} changed, {} pruned",
                short(revision),
                report.prune.pruned.len()
            );
            set("Ready", "True", "Synced", message);
            set("Reconciling", "False", "Synced", String::new());
            set("Stalled", "False", "Synced", String::new());
            status.last_applied_revision = Some((*revision).to_owned());
            status.last_attempted_revision = Some((*revision).to_owned());
            status.last_sync_time = Some(now_text.clone());
            status.managed = Some(*managed);
            status.changed = Some(changed as u64);
            status.pruned = Some(report.prune.pruned.len() as u64);
            status.waves = waves(report);
            status.charts = report.charts.clone();
            status.findings.clear();
            status.last_error = None;
        }
        Outcome::Rejected {
            revision,
            why,
            message,
            findings,
        } => {
            let reason = match why {
                Rejection::Invalid => "CommitRejected",
                Rejection::Untrusted => "UntrustedCommit",
            };
            set("Ready", "False", reason, message.clone());
            set("Reconciling", "False", reason, String::new());
            set("Stalled", "True", reason, message.clone());
            status.last_attempted_revision = Some((*revision).to_owned());
            status.findings = findings
                .iter()
                .filter(|d| d.is_error())
                .take(MAX_FINDINGS)
                .map(Finding::from)
                .collect();
            status.last_error = Some(message.clone());
        }
        Outcome::FetchFailed { message } => {
            set("Ready", "False", "FetchFailed", message.clone());
            set("Reconciling", "True", "RetryingAfterError", message.clone());
            set("Stalled", "False", "FetchFailed", String::new());
            status.last_error = Some(message.clone());
        }
        Outcome::SyncFailed {
            revision,
            report,
            message,
        } => {
            set("Ready", "False", "SyncFailed", message.clone());
            set("Reconciling", "True", "RetryingAfterError", message.clone());
            set("Stalled", "False", "SyncFailed", String::new());
            status.last_attempted_revision = Some((*revision).to_owned());
            status.waves = waves(report);
            status.charts = report.charts.clone();
            status.findings.clear();
            status.last_error = Some(message.clone());
        }
        Outcome::Healed { objects } => {
            status.drift_corrected = Some(status.drift_corrected.unwrap_or(0) + objects);
        }
        Outcome::InvalidSpec { message } => {
            set("Ready", "False", "InvalidSpec", message.clone());
            set("Reconciling", "False", "InvalidSpec", String::new());
            set("Stalled", "True", "InvalidSpec", message.clone());
            status.last_error = Some(message.clone());
        }
    }
    status
}

fn waves(report: &Report) -> Vec<WaveStatus> {
    report
        .waves
        .iter()
        .map(|w| WaveStatus {
            index: w.index,
            name: w.name.clone(),
            created: w.created as u64,
            configured: w.configured as u64,
            unchanged: w.unchanged as u64,
            pruned: w.pruned as u64,
            seconds: (w.seconds * 10.0).round() / 10.0,
        })
        .collect()
}

/// Sets a condition, keeping its transition time unless its status changes.
fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition, now: &str) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) => {
            new.last_transition_time = if old.status == new.status {
                old.last_transition_time.clone()
            } else {
                Some(now.to_owned())
            };
            *old = new;
        }
        None => {
            new.last_transition_time = Some(now.to_owned());
            conditions.push(new);
        }
    }
}

/// The condition of `type_`, if set.
pub fn condition<'a>(status: &'a SyncStatus, type_: &str) -> Option<&'a Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::{Code, Span};

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).unwrap()
    }

    #[test]
    fn applied_then_rejected_keeps_the_last_good_commit() {
        let report = Report::new("t", Some("aaa"), false);
        let s1 = next(
            &SyncStatus::default(),
            Some(1),
            &Outcome::Applied {
                revision: "aaaaaaaaaaaaaaaa",
                report: &report,
                managed: 3,
            },
            at(0),
        );
        assert_eq!(condition(&s1, "Ready").unwrap().status, "True");
        assert_eq!(
            s1.last_applied_revision.as_deref(),
            Some("aaaaaaaaaaaaaaaa")
        );
        let finding = Diagnostic::error(Code("E0101"), "unknown field `replicaz`")
            .in_file("apps/web.yaml")
            .at(Span { line: 7, column: 3 });
        let s2 = next(
            &s1,
            Some(2),
            &Outcome::Rejected {
                revision: "bbbbbbbbbbbbbbbb",
                why: Rejection::Invalid,
                message: "commit bbbbbbbbbbbb is invalid".into(),
                findings: std::slice::from_ref(&finding),
            },
            at(10),
        );
        let stalled = condition(&s2, "Stalled").unwrap();
        assert_eq!(stalled.status, "True");
        assert_eq!(stalled.reason.as_deref(), Some("CommitRejected"));
        assert_eq!(
            s2.last_applied_revision.as_deref(),
            Some("aaaaaaaaaaaaaaaa")
        );
        assert_eq!(
            s2.last_attempted_revision.as_deref(),
            Some("bbbbbbbbbbbbbbbb")
        );
        assert_eq!(
            s2.findings[0].to_string(),
            "apps/web.yaml:7: error[E0101]: unknown field `replicaz`"
        );
        assert_eq!(s2.observed_generation, Some(2));
        // Ready went True -> False: a new transition time.
        assert_ne!(
            condition(&s1, "Ready").unwrap().last_transition_time,
            condition(&s2, "Ready").unwrap().last_transition_time
        );
    }

    #[test]
    fn transition_times_stay_while_the_status_does() {
        let report = Report::new("t", None, false);
        let outcome = Outcome::Applied {
            revision: "a",
            report: &report,
            managed: 1,
        };
        let s1 = next(&SyncStatus::default(), Some(1), &outcome, at(0));
        let s2 = next(&s1, Some(1), &outcome, at(60));
        assert_eq!(
            condition(&s1, "Ready").unwrap().last_transition_time,
            condition(&s2, "Ready").unwrap().last_transition_time
        );
        let healed = next(&s2, Some(1), &Outcome::Healed { objects: 2 }, at(70));
        assert_eq!(healed.drift_corrected, Some(2));
        assert_eq!(healed.conditions, s2.conditions);
    }
}
