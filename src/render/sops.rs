//! SOPS-encrypted manifests: files whose documents carry a top-level
//! `sops:` block (sops's metadata) and hold their Secret values as
//! `ENC[AES256_GCM,…]` strings, encrypted to age recipients.
//!
//! What weir does with them, and where:
//!
//! - [`check`] (pure, no key): the structure `weir validate` judges. The
//!   object must be readable without the key (`apiVersion`, `kind`,
//!   `metadata` in clear: encrypt with `--encrypted-regex
//!   '^(data|stringData)$'`), its `sops` block must name at least one age
//!   recipient, a `lastmodified` and a `mac`, and every value of `data` /
//!   `stringData` ([`VALUE_FIELDS`], the fields redaction hides) must be
//!   an `ENC[…]` string: a value in clear in an encrypted file is committed
//!   unencrypted.
//! - Rendering drops the `sops` block ([`strip_metadata`]): the object is
//!   planned, shown and diffed with its ciphertext, which redaction hides
//!   like any Secret value.
//! - [`Decrypter`]: at sync and diff time only, the real `sops` binary
//!   decrypts a file in memory: the file's bytes on its stdin, the age key
//!   in its environment (`SOPS_AGE_KEY`, nothing else of weir's
//!   environment), the plaintext on its stdout, within the limits every
//!   rendering tool runs in ([`tool::run`]). Nothing is written to disk.
//!   [`reveal`] puts the decrypted values in place of the ciphertext of the
//!   rendered object, leaving whatever rendering added (labels, namespace,
//!   patches) as it is.
//!
//! sops's own messages can quote the file, so none is passed on: a
//! failure is told by its exit status ([`Error::Failed`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use super::helm::Stopped;
use super::tool::{self, Bounds, Run};
use crate::budget::{self, Budget};
use crate::diagnostic::Diagnostic;
use crate::diff::secret::VALUE_FIELDS;
use crate::spec::yaml::Document;
use crate::validate::codes;
use crate::validate::paths::json_path;

/// Environment variable naming the sops binary to use (before `PATH`).
pub const SOPS_ENV: &str = "WEIR_SOPS";
/// Environment variable naming the age key file, as sops reads it; the
/// default of `--sops-age-key-file`.
pub const AGE_KEY_FILE_ENV: &str = "SOPS_AGE_KEY_FILE";
/// The top-level key of sops's metadata in an encrypted document.
pub const METADATA: &str = "sops";
/// How every value sops encrypted begins.
const CIPHERTEXT_PREFIX: &str = "ENC[AES256_GCM,";
/// How an age secret key begins (`age-keygen` writes one per line).
const AGE_SECRET_KEY_PREFIX: &str = "AGE-SECRET-KEY-1";
/// Key sources of sops that weir does not use: an encrypted file must be
/// decryptable with an age key, and sops must never reach a KMS or a
/// Vault server a repo names.
const OTHER_KEY_SOURCES: [&str; 6] = [
    "kms",
    "gcp_kms",
    "azure_kv",
    "hc_vault",
    "pgp",
    "key_groups",
];
/// The hint of every encryption finding.
const ENCRYPT_HINT: &str = "encrypt the manifest with `sops --encrypt --age <recipient> \
     --encrypted-regex '^(data|stringData)$' FILE` (or edit it with `sops FILE`), so that \
     apiVersion, kind and metadata stay readable and every value is encrypted";

/// What keeps an encrypted file from being decrypted. Messages name the
/// file and say what to do; none holds a value of the file or of the key.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Encrypted files and no key.
    #[error(
        "{} SOPS-encrypted and no age key was given to decrypt {}: give weir the age key with \
         --sops-age-key-file FILE (or set {AGE_KEY_FILE_ENV}); the agent reads it from the Secret \
         its Sync names in spec.decryption.secretRef",
        list(files), if files.len() == 1 { "it" } else { "them" }
    )]
    NoKey { files: Vec<String> },
    /// The key file cannot be read or holds no age key.
    #[error("the age key file {} cannot be used: {why}", path.display())]
    KeyFile { path: PathBuf, why: String },
    /// A key given another way (the agent's Secret) holds no age key.
    #[error("{0} holds no age secret key (a line `AGE-SECRET-KEY-1…`, as age-keygen writes it)")]
    NoAgeKey(String),
    /// No sops binary.
    #[error(
        "{}; weir decrypts SOPS-encrypted manifests with the real `sops`. Install sops 3 \
         (https://github.com/getsops/sops/releases) and put it on PATH or set {SOPS_ENV} to its \
         path; in weir's own source tree, `cargo xtask testenv` builds one",
        match from_env {
            Some(path) => format!("{SOPS_ENV} is set to {}, which is not a file", path.display()),
            None => "the `sops` binary was not found on PATH".to_owned(),
        }
    )]
    SopsNotFound { from_env: Option<PathBuf> },
    /// sops could not be started.
    #[error("could not run {}", path.display())]
    Run {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// sops ran and failed.
    #[error("cannot decrypt {file}: {why}")]
    Failed { file: String, why: String },
    /// sops passed a limit and was stopped.
    #[error("cannot decrypt {file}: sops {}", stopped_words(stopped))]
    Stopped { file: String, stopped: Stopped },
    /// What sops decrypted does not match the file's objects.
    #[error("cannot decrypt {file}: {why}")]
    Mismatch { file: String, why: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn list(files: &[String]) -> String {
    match files {
        [one] => format!("{one} is"),
        many => format!("{} are", many.join(", ")),
    }
}

fn stopped_words(stopped: &Stopped) -> String {
    match stopped {
        Stopped::Timeout(limit) => format!(
            "ran longer than {} and was killed (raise it with {})",
            crate::sync::plan::format_duration(*limit),
            budget::HELM_TIMEOUT_FLAG
        ),
        Stopped::Output(limit) => format!(
            "wrote more than {limit} bytes and was killed (raise it with {})",
            budget::MAX_HELM_OUTPUT_FLAG
        ),
        Stopped::Memory(limit) => format!(
            "needed more than {limit} bytes of memory (raise it with {})",
            budget::MAX_HELM_MEMORY_FLAG
        ),
    }
}

// ------------------------------------------------------------- structure

/// Whether a document is SOPS-encrypted: it has a top-level `sops` key.
/// No Kubernetes object has one.
pub fn is_encrypted(value: &Value) -> bool {
    value.as_object().is_some_and(|m| m.contains_key(METADATA))
}

/// Whether `s` is a value sops encrypted.
pub fn is_ciphertext(s: &str) -> bool {
    s.starts_with(CIPHERTEXT_PREFIX) && s.ends_with(']')
}

/// Removes sops's metadata from a document: what remains is the object.
pub fn strip_metadata(value: &mut Value) {
    if let Some(map) = value.as_object_mut() {
        map.remove(METADATA);
    }
}

/// The document without sops's metadata, for schema checks.
pub fn without_metadata(value: &Value) -> Value {
    let mut copy = value.clone();
    strip_metadata(&mut copy);
    copy
}

/// The structure of an encrypted document, checked without the key
/// (nothing when `doc` is not encrypted). Messages never quote a value.
pub fn check(doc: &Document) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    if !is_encrypted(&doc.value) {
        return found;
    }
    check_metadata(doc, &mut found);
    // Every value of data/stringData must be ciphertext.
    for field in VALUE_FIELDS {
        let Some(Value::Object(values)) = doc.value.get(field) else {
            continue;
        };
        for (key, value) in values {
            let pointer = format!("/{field}/{}", key.replace('~', "~0").replace('/', "~1"));
            if value.as_str().is_some_and(is_ciphertext) {
                continue;
            }
            found.push(
                at(
                    doc,
                    &pointer,
                    codes::PLAINTEXT_IN_ENCRYPTED,
                    format!(
                        "`{field}.{key}` is not encrypted in this SOPS-encrypted file: its value \
                         would be committed in clear"
                    ),
                )
                .with_hint(format!(
                    "{ENCRYPT_HINT}; a value that was pushed in clear is in the Git history: \
                     rotate it"
                )),
            );
        }
    }
    // What weir plans with must be readable without the key.
    let mut encrypted = Vec::new();
    if let Some(map) = doc.value.as_object() {
        for (key, value) in map {
            if key == METADATA || VALUE_FIELDS.contains(&key.as_str()) {
                continue;
            }
            ciphertexts(
                value,
                &format!("/{}", key.replace('~', "~0").replace('/', "~1")),
                &mut encrypted,
            );
        }
    }
    for pointer in encrypted {
        found.push(
            at(
                doc,
                &pointer,
                codes::ENCRYPTED_OUTSIDE_VALUES,
                "this field is encrypted: weir reads apiVersion, kind, metadata and every field \
                 but data and stringData without the key, to validate and plan the object"
                    .to_owned(),
            )
            .with_hint(ENCRYPT_HINT),
        );
    }
    found
}

/// sops's metadata: a mapping with an age recipient, `lastmodified` and
/// a `mac`, and no other key source.
fn check_metadata(doc: &Document, found: &mut Vec<Diagnostic>) {
    let pointer = format!("/{METADATA}");
    let Some(Value::Object(meta)) = doc.value.get(METADATA) else {
        found.push(
            at(
                doc,
                &pointer,
                codes::SOPS_METADATA,
                "`sops` is not a mapping: this is not a file sops encrypted".to_owned(),
            )
            .with_hint(ENCRYPT_HINT),
        );
        return;
    };
    // A field that is missing is reported at the `sops` block.
    let field = |name: &str| {
        if meta.contains_key(name) {
            format!("{pointer}/{name}")
        } else {
            pointer.clone()
        }
    };
    let recipients = meta
        .get("age")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter(|e| {
                    e.get("recipient")
                        .and_then(Value::as_str)
                        .is_some_and(|r| r.starts_with("age1"))
                        && e.get("enc").and_then(Value::as_str).is_some()
                })
                .count()
        })
        .unwrap_or(0);
    if recipients == 0 {
        found.push(
            at(
                doc,
                &field("age"),
                codes::SOPS_METADATA,
                "the `sops` block names no age recipient (`age: [{recipient: age1…, enc: …}]`): \
                 nobody can decrypt this file"
                    .to_owned(),
            )
            .with_hint(ENCRYPT_HINT),
        );
    }
    for source in OTHER_KEY_SOURCES {
        let used = match meta.get(source) {
            None | Some(Value::Null) => false,
            Some(Value::Array(items)) => !items.is_empty(),
            Some(_) => true,
        };
        if used {
            found.push(
                at(
                    doc,
                    &format!("{pointer}/{source}"),
                    codes::SOPS_METADATA,
                    format!(
                        "the `sops` block uses `{source}`: weir decrypts with age keys only, and \
                         never lets sops reach a key service a repo names"
                    ),
                )
                .with_hint("encrypt to age recipients only (sops --age …)"),
            );
        }
    }
    let mac = meta.get("mac").and_then(Value::as_str);
    if !mac.is_some_and(is_ciphertext) {
        found.push(
            at(
                doc,
                &field("mac"),
                codes::SOPS_METADATA,
                "the `sops` block has no `mac` (`ENC[…]`): sops cannot tell whether the file was \
                 changed after it was encrypted"
                    .to_owned(),
            )
            .with_hint(ENCRYPT_HINT),
        );
    }
    if !meta.get("lastmodified").is_some_and(|v| v.is_string()) {
        found.push(
            at(
                doc,
                &field("lastmodified"),
                codes::SOPS_METADATA,
                "the `sops` block has no `lastmodified`: sops cannot check the file's mac"
                    .to_owned(),
            )
            .with_hint(ENCRYPT_HINT),
        );
    }
}

/// Pointers of every ciphertext under `value` (at `pointer`).
fn ciphertexts(value: &Value, pointer: &str, out: &mut Vec<String>) {
    match value {
        Value::String(s) if is_ciphertext(s) => out.push(pointer.to_owned()),
        Value::Object(map) => {
            for (k, v) in map {
                let escaped = k.replace('~', "~0").replace('/', "~1");
                ciphertexts(v, &format!("{pointer}/{escaped}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                ciphertexts(v, &format!("{pointer}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn at(doc: &Document, pointer: &str, code: crate::diagnostic::Code, message: String) -> Diagnostic {
    // At the field's key: a block (`sops:`) is reported where it is named.
    Diagnostic::error(code, message)
        .in_file(doc.file.clone())
        .at(doc
            .key_span_of(pointer)
            .unwrap_or_else(|| doc.span_of(pointer)))
        .with_path(json_path(&doc.value, pointer))
}

// ------------------------------------------------------------------ keys

/// An age identity: the text of an age key file (comments and one or more
/// `AGE-SECRET-KEY-1…` lines), handed to sops as `SOPS_AGE_KEY`. It is
/// never printed, not even by `{:?}`.
#[derive(Clone)]
pub struct AgeKey(String);

impl fmt::Debug for AgeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AgeKey(<hidden>)")
    }
}

impl AgeKey {
    /// The age keys of `text` (`what` names where it came from, for the
    /// error); `None` when it has none.
    fn parse(text: &str) -> Option<Self> {
        let keys: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with(AGE_SECRET_KEY_PREFIX))
            .collect();
        (!keys.is_empty()).then(|| Self(keys.join("\n")))
    }

    /// The age keys in `bytes`, which came from `what` (a Secret's key).
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Self> {
        std::str::from_utf8(bytes)
            .ok()
            .and_then(Self::parse)
            .ok_or_else(|| Error::NoAgeKey(what.to_owned()))
    }

    /// The age key file at `path`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::KeyFile {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
        Self::parse(&text).ok_or_else(|| Error::KeyFile {
            path: path.to_path_buf(),
            why: "it holds no age secret key (a line `AGE-SECRET-KEY-1…`, as age-keygen writes it)"
                .to_owned(),
        })
    }
}

// ------------------------------------------------------------ decrypting

/// Decrypts SOPS-encrypted files with the real sops, in memory, within the
/// limits of the run's rendering tools.
#[derive(Debug)]
pub struct Decrypter {
    key: Option<AgeKey>,
    bounds: Bounds,
    sops: OnceLock<Option<PathBuf>>,
}

impl Decrypter {
    /// A decrypter with `key` (`None`: encrypted files are an error,
    /// [`Error::NoKey`]), running sops within `limits`' tool limits.
    pub fn new(key: Option<AgeKey>, limits: &budget::Limits) -> Self {
        Self {
            key,
            bounds: Bounds {
                timeout: limits.helm_timeout,
                max_output: limits.max_helm_output,
                max_memory: limits.max_helm_memory,
            },
            sops: OnceLock::new(),
        }
    }

    /// Whether it has a key.
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    fn locate(&self) -> Result<&Path> {
        self.sops
            .get_or_init(|| super::helm::find_tool(SOPS_ENV, "sops"))
            .as_deref()
            .ok_or_else(|| Error::SopsNotFound {
                from_env: std::env::var_os(SOPS_ENV).map(PathBuf::from),
            })
    }

    /// The documents of the encrypted file `file` (its `bytes`), decrypted,
    /// charged to `budget`.
    pub fn decrypt(&self, file: &str, bytes: &[u8], budget: &Budget) -> Result<Vec<Value>> {
        let Some(key) = &self.key else {
            return Err(Error::NoKey {
                files: vec![file.to_owned()],
            });
        };
        let sops = self.locate()?;
        let mut command = Command::new(sops);
        // Nothing of weir's environment: no other key, no key service
        // address, no proxy; the key only through the environment.
        command.env_clear().env("SOPS_AGE_KEY", &key.0).args([
            "--decrypt",
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            "/dev/stdin",
        ]);
        let run = tool::run(command, Some(bytes), &self.bounds).map_err(|source| Error::Run {
            path: sops.to_path_buf(),
            source,
        })?;
        let out = match run {
            Run::Succeeded(out) => out,
            Run::Failed { status, .. } => {
                return Err(Error::Failed {
                    file: file.to_owned(),
                    why: failure(status.code()),
                });
            }
            Run::Stopped(stopped) => {
                return Err(Error::Stopped {
                    file: file.to_owned(),
                    stopped,
                });
            }
        };
        // The parser's messages may quote the text: not passed on.
        super::yaml::parse(file, &out, budget)
            .map(|docs| docs.into_iter().map(|(v, _)| v).collect())
            .map_err(|_| Error::Mismatch {
                file: file.to_owned(),
                why: "what sops decrypted is not YAML weir can read".to_owned(),
            })
    }
}

/// What sops's exit status says (its exit codes, `cmd/sops/codes`); its
/// stderr is never shown, as it can quote the file.
fn failure(code: Option<i32>) -> String {
    match code {
        Some(128) => "the age key given is not one of its recipients (or the key's file \
                      holds a different key): encrypt the file to the key's public key \
                      (`sops updatekeys`), or give the key it was encrypted to"
            .to_owned(),
        Some(51) => "its mac does not match: the file was changed after it was encrypted \
                     (edit encrypted files with `sops FILE`, never by hand)"
            .to_owned(),
        Some(24 | 25) => "a value or the mac cannot be decrypted: the ciphertext was \
                                changed or cut (edit encrypted files with `sops FILE`)"
            .to_owned(),
        Some(code) => format!(
            "sops exited with status {code} (its message is not shown: it can quote the file); \
             run `sops --decrypt` on it to see why"
        ),
        None => "sops was killed by a signal".to_owned(),
    }
}

/// Puts the decrypted values of `decrypted` (the document sops decrypted,
/// or a `List` holding the object) in place of every ciphertext of
/// `object` (rendered from that document). `Err` says why not.
pub fn reveal(object: &mut Value, decrypted: &[Value]) -> std::result::Result<(), String> {
    let matches = |candidate: &Value| {
        ["/apiVersion", "/kind", "/metadata/name"]
            .iter()
            .all(|p| candidate.pointer(p) == object.pointer(p))
    };
    let source = decrypted
        .iter()
        .flat_map(|doc| {
            let items = if crate::object::is_list(doc) {
                doc.get("items")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
            } else {
                None
            };
            items.unwrap_or(std::slice::from_ref(doc))
        })
        .find(|candidate| matches(candidate))
        .ok_or("sops's output has no object of the same kind and name")?
        .clone();
    let mut pointers = Vec::new();
    ciphertexts(object, "", &mut pointers);
    for pointer in pointers {
        let plain = source
            .pointer(&pointer)
            .filter(|v| !v.as_str().is_some_and(is_ciphertext))
            .cloned()
            .ok_or("a field weir renders encrypted is not in what sops decrypted")?;
        if let Some(slot) = object.pointer_mut(&pointer) {
            *slot = plain;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Span;

    fn doc(yaml: &str) -> Document {
        let value: Value = serde_yaml::from_str(yaml).unwrap_or_default();
        Document::from_value("secret.yaml", 0, Span::default(), value)
    }

    const SEALED: &str = r#"
apiVersion: v1
kind: Secret
metadata: {name: db}
stringData:
  password: ENC[AES256_GCM,data:AAAA,iv:BBBB,tag:CCCC,type:str]
sops:
  age:
    - recipient: age1qqqq
      enc: "-----BEGIN AGE ENCRYPTED FILE-----"
  lastmodified: "2026-01-01T00:00:00Z"
  mac: ENC[AES256_GCM,data:DDDD,iv:EEEE,tag:FFFF,type:str]
  version: 3.13.3
"#;

    fn codes_of(found: &[Diagnostic]) -> Vec<&'static str> {
        found.iter().map(|d| d.code.0).collect()
    }

    #[test]
    fn a_well_formed_encrypted_secret_passes() {
        assert!(check(&doc(SEALED)).is_empty());
    }

    #[test]
    fn a_plain_document_is_not_checked() {
        assert!(check(&doc("apiVersion: v1\nkind: Secret\nstringData: {a: b}\n")).is_empty());
    }

    #[test]
    fn a_value_in_clear_is_an_error_that_does_not_quote_it() {
        let text = SEALED.replace(
            "password: ENC[AES256_GCM,data:AAAA,iv:BBBB,tag:CCCC,type:str]",
            "password: hunter2",
        );
        let found = check(&doc(&text));
        assert_eq!(codes_of(&found), ["E0121"]);
        assert!(!found[0].message.contains("hunter2"));
        assert_eq!(found[0].path.as_deref(), Some(".stringData.password"));
    }

    #[test]
    fn missing_metadata_fields_are_errors() {
        let text = SEALED
            .replace(
                "  mac: ENC[AES256_GCM,data:DDDD,iv:EEEE,tag:FFFF,type:str]\n",
                "",
            )
            .replace(
                "    - recipient: age1qqqq\n      enc: \"-----BEGIN AGE ENCRYPTED FILE-----\"\n",
                "    []\n",
            );
        let found = check(&doc(&text));
        assert_eq!(codes_of(&found), ["E0120", "E0120"]);
    }

    #[test]
    fn other_key_sources_and_encrypted_metadata_are_errors() {
        let text = SEALED
            .replace(
                "  version: 3.13.3",
                "  hc_vault: [{vault_address: http://x}]",
            )
            .replace(
                "metadata: {name: db}",
                "metadata: {name: 'ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]'}",
            );
        let found = check(&doc(&text));
        assert_eq!(codes_of(&found), ["E0120", "E0122"]);
    }

    #[test]
    fn reveal_replaces_only_ciphertext() {
        let mut object: Value = serde_yaml::from_str(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: db, labels: {a: b}}\n\
             stringData: {password: 'ENC[AES256_GCM,data:AAAA,iv:B,tag:C,type:str]'}\n",
        )
        .unwrap_or_default();
        let decrypted: Value = serde_yaml::from_str(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: s3cret}\n",
        )
        .unwrap_or_default();
        assert_eq!(reveal(&mut object, &[decrypted]), Ok(()));
        assert_eq!(
            object.pointer("/stringData/password"),
            Some(&Value::from("s3cret"))
        );
        assert_eq!(
            object.pointer("/metadata/labels/a"),
            Some(&Value::from("b"))
        );
    }

    #[test]
    fn the_key_is_never_printed() {
        let key = AgeKey::parse("# comment\nAGE-SECRET-KEY-1ABC\n");
        assert!(
            key.as_ref()
                .is_some_and(|k| !format!("{k:?}").contains("ABC"))
        );
        assert!(AgeKey::parse("nothing here").is_none());
    }
}
