//! Kubernetes Events on a Sync: what the agent did (`Applied`,
//! `DriftCorrected`) and why it stopped (`CommitRejected`, `FetchFailed`,
//! `SyncFailed`), as `kubectl describe sync` and `weir status NAME` show
//! them. Built as plain values here; messages come from weir's own
//! reports, which never hold a Secret's value or a credential.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::resource::SyncObject;

/// The `source.component` and `reportingComponent` of weir's Events.
pub const COMPONENT: &str = "weir-agent";
/// Event messages are cut to this many bytes (the API allows 1 KiB more,
/// but a long list of findings belongs in the status).
const MAX_MESSAGE: usize = 1024;

/// Normal or Warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Normal,
    Warning,
}

/// Why an Event was recorded; its `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Applied,
    DriftCorrected,
    CommitRejected,
    UntrustedCommit,
    FetchFailed,
    SyncFailed,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Applied => "Applied",
            Reason::DriftCorrected => "DriftCorrected",
            Reason::CommitRejected => "CommitRejected",
            Reason::UntrustedCommit => "UntrustedCommit",
            Reason::FetchFailed => "FetchFailed",
            Reason::SyncFailed => "SyncFailed",
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            Reason::Applied | Reason::DriftCorrected => Kind::Normal,
            _ => Kind::Warning,
        }
    }
}

/// A core `v1` Event about `sync`, reported by `instance` (the agent's
/// identity).
pub fn event(
    sync: &SyncObject,
    reason: Reason,
    message: &str,
    instance: &str,
    now: Timestamp,
) -> Value {
    let mut message = message.to_owned();
    if message.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    let time = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let micro = now.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": format!("{}.{:x}", sync.metadata.name, now.as_nanosecond()),
            "namespace": sync.metadata.namespace,
            "labels": {"app.kubernetes.io/managed-by": "weir"},
        },
        "involvedObject": {
            "apiVersion": super::resource::API_VERSION,
            "kind": super::resource::KIND,
            "name": sync.metadata.name,
            "namespace": sync.metadata.namespace,
            "uid": sync.metadata.uid,
            "resourceVersion": sync.metadata.resource_version,
        },
        "reason": reason.as_str(),
        "message": message,
        "type": match reason.kind() { Kind::Normal => "Normal", Kind::Warning => "Warning" },
        "source": {"component": COMPONENT},
        "reportingComponent": format!("weir.dev/{COMPONENT}"),
        "reportingInstance": instance,
        "firstTimestamp": time,
        "lastTimestamp": time,
        "eventTime": micro,
        "action": reason.as_str(),
        "count": 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::resource::{Metadata, SyncSpec};

    #[test]
    fn an_event_names_its_sync() {
        let sync = SyncObject {
            metadata: Metadata {
                name: "platform".into(),
                namespace: "weir-system".into(),
                uid: Some("u-1".into()),
                ..Metadata::default()
            },
            spec: SyncSpec::default(),
            status: None,
        };
        let e = event(
            &sync,
            Reason::CommitRejected,
            &"x".repeat(5000),
            "weir-agent-0",
            Timestamp::from_second(1_700_000_000).unwrap(),
        );
        assert_eq!(e["type"], "Warning");
        assert_eq!(e["involvedObject"]["uid"], "u-1");
        assert_eq!(e["metadata"]["namespace"], "weir-system");
        assert!(e["message"].as_str().unwrap().len() <= MAX_MESSAGE + 3);
        assert!(
            e["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("platform.")
        );
    }
}
