//! The inventory: which objects weir applied for a target, kept in the
//! cluster so a later sync can prune what left the repo.
//!
//! One ConfigMap per target in [`NAMESPACE`], named
//! `weir-inventory-<target>`:
//!
//! ```yaml
//! metadata:
//!   labels: {app.kubernetes.io/managed-by: weir, weir.dev/inventory: "true"}
//!   annotations: {weir.dev/target: <target>}
//! data:
//!   target: <target>
//!   revision: <git sha, or empty>
//!   objects: "1200"
//!   hooks: '{"<component>/<hook>": "<fingerprint>"}'   (when any ran)
//!   source: github.com/org/platform    (where the objects come from: SourceId)
//!   sourcePath: clusters/prod          (the config repo's directory in it)
//! binaryData:
//!   objects.json.gz: <gzip of a JSON array of entries>
//! ```
//!
//! Each entry is `{"g","v","k","ns","n"}` (group, version, kind,
//! namespace, name of the [`ObjectRef`]) plus `"w"` (wave index), `"c"`
//! (component) and `"p"` (protected). Encoding is deterministic (sorted entries, gzip without a
//! timestamp), so an unchanged inventory is not rewritten.
//!
//! The sync writes the inventory ahead: before a wave is applied, its
//! objects are added, so an interrupted sync never loses track of an object
//! it created.
//!
//! `hooks` records, per hook, the fingerprint of what it last completed
//! for (its Job and its component's rendered objects), so a sync that
//! changes nothing does not run hooks again.
//!
//! `source` and `sourcePath` ([`SourceId`]) say which config repo the
//! objects come from: a sync from another one is refused unless told to
//! adopt the target, so two repos that get the same target name never
//! prune each other's objects.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::object::{ObjectKey, ObjectRef};

/// weir's own namespace, created when missing.
pub const NAMESPACE: &str = "weir-system";
const DATA_KEY: &str = "objects.json.gz";
/// The most a decompressed inventory may be (hostile or corrupt data).
const MAX_DECODED: u64 = 64 * 1024 * 1024;

/// Why a stored inventory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("inventory ConfigMap {name} has no binaryData.{DATA_KEY}")]
    Missing { name: String },
    #[error("inventory ConfigMap {name} is corrupt: {reason}")]
    Corrupt { name: String, reason: String },
    /// Another writer changed it since this sync read it (the target's
    /// Lease should make that impossible; nothing more is written).
    #[error("inventory ConfigMap {name} was changed by another writer while this sync ran")]
    Changed { name: String },
}

/// One object weir applied.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(from = "StoredEntry", into = "StoredEntry")]
pub struct Entry {
    pub object: ObjectRef,
    /// Index of the wave it was applied in (pruning goes in reverse).
    pub wave: u32,
    /// The component it belonged to.
    pub component: String,
    /// Matched its component's `prune.protect` when applied: stays
    /// protected even after the component left the repo.
    pub protected: bool,
}

/// How an [`Entry`] is stored: one-letter keys, because an inventory holds
/// thousands of them.
#[derive(Serialize, Deserialize)]
struct StoredEntry {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    g: String,
    v: String,
    k: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ns: Option<String>,
    n: String,
    #[serde(default)]
    w: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    c: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    p: bool,
}

impl From<StoredEntry> for Entry {
    fn from(e: StoredEntry) -> Self {
        Entry {
            object: ObjectRef {
                group: e.g,
                version: e.v,
                kind: e.k,
                namespace: e.ns,
                name: e.n,
            },
            wave: e.w,
            component: e.c,
            protected: e.p,
        }
    }
}

impl From<Entry> for StoredEntry {
    fn from(e: Entry) -> Self {
        StoredEntry {
            g: e.object.group,
            v: e.object.version,
            k: e.object.kind,
            ns: e.object.namespace,
            n: e.object.name,
            w: e.wave,
            c: e.component,
            p: e.protected,
        }
    }
}

/// Where a target's objects come from, as its inventory records it: two
/// config repos that happen to get the same target name (two directories
/// called `platform`) must not take each other's objects for their own.
///
/// A Git repository is named by its remote URL reduced to host and path
/// (`github.com/org/platform`: no scheme, credentials, port or `.git`), so
/// `https://user:token@github.com/org/platform.git` and
/// `git@github.com:org/platform` are the same source; a directory that is
/// not in a Git repository with a remote is named by its absolute path.
/// `path` is the config repo's directory inside the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceId {
    pub repo: String,
    /// `/`-separated, no leading or trailing `/`; empty for the root.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
}

impl SourceId {
    /// A Git remote (any URL form Git takes) and the directory inside it.
    pub fn remote(url: &str, path: &str) -> Self {
        Self {
            repo: normalise_url(url),
            path: clean_path(path),
        }
    }

    /// A local directory (absolute), not in a Git repository with a
    /// remote, and the directory inside it (for a bare repository).
    pub fn local(dir: &std::path::Path, path: &str) -> Self {
        Self {
            repo: dir.to_string_lossy().into_owned(),
            path: clean_path(path),
        }
    }
}

impl std::fmt::Display for SourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.repo)
        } else {
            write!(f, "{} (path {})", self.repo, self.path)
        }
    }
}

fn clean_path(path: &str) -> String {
    path.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// `scheme://user:secret@Host:port/org/repo.git/` and
/// `user@host:org/repo.git` → `host/org/repo`; a `file://` URL or a plain
/// path → the path.
fn normalise_url(url: &str) -> String {
    let url = url.trim();
    let (host, path) = if let Some((scheme, rest)) = url.split_once("://") {
        if scheme.eq_ignore_ascii_case("file") {
            return clean_repo_path(rest, true);
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        (authority, path)
    } else {
        match url.split_once(':') {
            // scp-like `[user@]host:path` (a colon before any slash).
            Some((authority, path)) if !authority.contains('/') && !authority.is_empty() => {
                (authority, path)
            }
            _ => return clean_repo_path(url, true),
        }
    };
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(v6, |(addr, _)| addr),
        None => host.split_once(':').map_or(host, |(name, _)| name),
    };
    format!(
        "{}/{}",
        host.to_ascii_lowercase(),
        clean_repo_path(path, false)
    )
}

fn clean_repo_path(path: &str, absolute: bool) -> String {
    let trimmed = path.trim_end_matches('/');
    let trimmed = trimmed.strip_suffix(".git").unwrap_or(trimmed);
    let cleaned = clean_path(trimmed);
    if absolute && path.starts_with('/') {
        format!("/{cleaned}")
    } else {
        cleaned
    }
}

/// What weir manages for one target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub target: String,
    /// Where its objects come from; `None` in inventories written before
    /// weir recorded it (the next sync records its own).
    pub source: Option<SourceId>,
    pub revision: Option<String>,
    pub entries: Vec<Entry>,
    /// `<component>/<hook>` → fingerprint of its last successful run.
    pub hooks: BTreeMap<String, String>,
}

impl Inventory {
    /// The ConfigMap reference of a target's inventory.
    pub fn object_ref(target: &str) -> ObjectRef {
        ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some(NAMESPACE.into()),
            name: config_map_name(target),
        }
    }

    /// Sorts entries and drops duplicates (the same object under two API
    /// versions keeps the later entry).
    pub fn normalise(&mut self) {
        let mut by_key: BTreeMap<ObjectKey, Entry> = BTreeMap::new();
        for e in self.entries.drain(..) {
            by_key.insert(e.object.key(), e);
        }
        self.entries = by_key.into_values().collect();
        self.entries.sort();
    }

    /// Adds entries, replacing those for the same objects.
    pub fn merge(&mut self, entries: impl IntoIterator<Item = Entry>) {
        self.entries.extend(entries);
        self.normalise();
    }

    pub fn contains(&self, key: &ObjectKey) -> bool {
        self.entries.iter().any(|e| &e.object.key() == key)
    }

    /// The ConfigMap that stores this inventory.
    pub fn to_config_map(&self) -> Value {
        let mut inv = self.clone();
        inv.normalise();
        let json = serde_json::to_vec(&inv.entries).unwrap_or_default();
        let mut gz = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::best());
        // Writing to a Vec cannot fail.
        let compressed = gz
            .write_all(&json)
            .and_then(|()| gz.finish())
            .unwrap_or_default();
        let mut data = json!({
            "target": self.target,
            "revision": self.revision.clone().unwrap_or_default(),
            "objects": inv.entries.len().to_string(),
        });
        if !self.hooks.is_empty() {
            data["hooks"] = Value::String(serde_json::to_string(&self.hooks).unwrap_or_default());
        }
        if let Some(source) = &self.source {
            data["source"] = Value::String(source.repo.clone());
            if !source.path.is_empty() {
                data["sourcePath"] = Value::String(source.path.clone());
            }
        }
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": config_map_name(&self.target),
                "namespace": NAMESPACE,
                "labels": {
                    "app.kubernetes.io/managed-by": "weir",
                    "weir.dev/inventory": "true",
                },
                "annotations": {"weir.dev/target": self.target},
            },
            "data": data,
            "binaryData": {
                DATA_KEY: base64::engine::general_purpose::STANDARD.encode(compressed),
            },
        })
    }

    /// Reads an inventory back from its ConfigMap.
    pub fn from_config_map(cm: &Value) -> Result<Self, Error> {
        let name = cm
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        let corrupt = |reason: String| Error::Corrupt {
            name: name.clone(),
            reason,
        };
        let encoded = cm
            .get("binaryData")
            .and_then(|b| b.get(DATA_KEY))
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Missing { name: name.clone() })?;
        let compressed = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| corrupt(format!("base64: {e}")))?;
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(compressed.as_slice())
            .take(MAX_DECODED)
            .read_to_end(&mut json)
            .map_err(|e| corrupt(format!("gzip: {e}")))?;
        let entries: Vec<Entry> =
            serde_json::from_slice(&json).map_err(|e| corrupt(format!("json: {e}")))?;
        let text = |key: &str| {
            cm.pointer(&format!("/data/{key}"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let hooks = match text("hooks") {
            Some(h) => serde_json::from_str(&h).map_err(|e| corrupt(format!("hooks: {e}")))?,
            None => BTreeMap::new(),
        };
        let mut inv = Inventory {
            target: text("target").unwrap_or_default(),
            source: text("source")
                .filter(|s| !s.is_empty())
                .map(|repo| SourceId {
                    repo,
                    path: text("sourcePath").unwrap_or_default(),
                }),
            revision: text("revision").filter(|r| !r.is_empty()),
            entries,
            hooks,
        };
        inv.normalise();
        Ok(inv)
    }
}

/// `weir-inventory-<target>`, made a valid object name (see
/// [`target_object_name`]).
pub fn config_map_name(target: &str) -> String {
    target_object_name("weir-inventory-", target)
}

/// `<prefix><target>` made a valid object name: lower case, `[a-z0-9-]`,
/// with a hash suffix when anything had to change. The one naming rule for
/// objects that belong to a target (its inventory, its Lease).
pub fn target_object_name(prefix: &str, target: &str) -> String {
    let clean = crate::object::name_chars(target);
    let clean = clean.trim_matches('-');
    let mut name = format!("{prefix}{clean}");
    if clean != target || name.len() > 200 {
        name.truncate(200);
        let trimmed = name.trim_end_matches('-').len();
        name.truncate(trimmed);
        name.push_str(&format!("-{:08x}", fnv1a(target.as_bytes()) as u32));
    }
    name
}

/// FNV-1a, 64 bit: a small stable hash for names and labels.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: &str, ns: Option<&str>, name: &str, wave: u32) -> Entry {
        Entry {
            object: ObjectRef {
                group: String::new(),
                version: "v1".into(),
                kind: kind.into(),
                namespace: ns.map(str::to_owned),
                name: name.into(),
            },
            wave,
            component: "c".into(),
            protected: false,
        }
    }

    #[test]
    fn round_trips_deterministically() {
        let inv = Inventory {
            target: "platform".into(),
            source: None,
            revision: Some("abc123".into()),
            entries: vec![
                entry("ConfigMap", Some("a"), "x", 1),
                entry("Namespace", None, "a", 0),
            ],
            hooks: BTreeMap::new(),
        };
        let cm = inv.to_config_map();
        assert!(
            cm["data"].get("hooks").is_none(),
            "no hooks key until a hook ran"
        );
        assert_eq!(cm["metadata"]["name"], "weir-inventory-platform");
        assert_eq!(cm["data"]["objects"], "2");
        let mut reversed = inv.clone();
        reversed.entries.reverse();
        assert_eq!(
            reversed.to_config_map(),
            cm,
            "encoding must not depend on order"
        );
        let back = Inventory::from_config_map(&cm).unwrap();
        assert_eq!(back.revision.as_deref(), Some("abc123"));
        assert_eq!(back.entries.len(), 2);
        assert_eq!(back.entries[0].object.kind, "ConfigMap");
        assert_eq!(
            serde_json::to_string(&inv.entries[1]).unwrap(),
            r#"{"v":"v1","k":"Namespace","n":"a","w":0,"c":"c"}"#,
            "entries are stored compactly"
        );

        let mut with_hooks = inv.clone();
        with_hooks.hooks.insert("db/migrate".into(), "00ff".into());
        let back = Inventory::from_config_map(&with_hooks.to_config_map()).unwrap();
        assert_eq!(back.hooks, with_hooks.hooks);
    }

    #[test]
    fn merge_replaces_same_object() {
        let mut inv = Inventory::default();
        inv.merge([entry("ConfigMap", Some("a"), "x", 1)]);
        inv.merge([
            entry("ConfigMap", Some("a"), "x", 2),
            entry("ConfigMap", Some("a"), "y", 2),
        ]);
        assert_eq!(inv.entries.len(), 2);
        assert!(inv.entries.iter().all(|e| e.wave == 2));
    }

    #[test]
    fn corrupt_data_is_an_error() {
        let mut cm = Inventory::default().to_config_map();
        cm["binaryData"][DATA_KEY] = Value::String("!!!".into());
        assert!(matches!(
            Inventory::from_config_map(&cm),
            Err(Error::Corrupt { .. })
        ));
        cm["binaryData"] = json!({});
        assert!(matches!(
            Inventory::from_config_map(&cm),
            Err(Error::Missing { .. })
        ));
    }

    #[test]
    fn sources_of_one_repo_agree_whatever_the_url_form() {
        let https = SourceId::remote(
            "https://user:secret@GitHub.com/org/platform.git/",
            "/clusters/prod/",
        );
        for same in [
            "git@github.com:org/platform.git",
            "ssh://git@github.com:22/org/platform",
            "https://github.com/org/platform",
        ] {
            assert_eq!(SourceId::remote(same, "clusters/prod"), https, "{same}");
        }
        assert_eq!(
            https.to_string(),
            "github.com/org/platform (path clusters/prod)"
        );
        assert!(!https.repo.contains("secret"));
        assert_ne!(
            SourceId::remote("https://github.com/org/other", "clusters/prod"),
            https
        );
        assert_eq!(
            SourceId::remote("file:///srv/git/platform.git", "").repo,
            "/srv/git/platform"
        );
        assert_eq!(
            SourceId::remote("/srv/git/platform", "").repo,
            "/srv/git/platform"
        );

        let inv = Inventory {
            target: "platform".into(),
            source: Some(https.clone()),
            ..Inventory::default()
        };
        let cm = inv.to_config_map();
        assert_eq!(cm["data"]["source"], "github.com/org/platform");
        assert_eq!(Inventory::from_config_map(&cm).unwrap().source, Some(https));
    }

    #[test]
    fn names() {
        assert_eq!(config_map_name("edge"), "weir-inventory-edge");
        let odd = config_map_name("My Platform/Prod");
        assert!(odd.starts_with("weir-inventory-my-platform-prod-"), "{odd}");
        assert!(config_map_name(&"x".repeat(400)).len() < 253);
    }
}
