//! SOPS in tests, with the real `age-keygen` and `sops`: an age key of the
//! test's own, manifests encrypted to it (the plaintext goes to sops on
//! stdin, never to a file), and a search of directories for values that
//! must never be written anywhere.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::secrets::b64;

/// An age key made by `age-keygen`: its file and public key.
pub struct AgeKey {
    pub file: PathBuf,
    pub recipient: String,
}

/// A new age key, written to `dir/name`.
pub fn keygen(dir: &Path, name: &str) -> AgeKey {
    let file = dir.join(name);
    let out = Command::new(super::tools::age_keygen())
        .arg("-o")
        .arg(&file)
        .output()
        .expect("running age-keygen");
    assert!(
        out.status.success(),
        "age-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("age-keygen writes the public key")
        .trim()
        .to_owned();
    AgeKey { file, recipient }
}

/// `yaml` encrypted by the real sops to `recipient`, only `data` and
/// `stringData` (as weir requires); the plaintext reaches sops on stdin.
pub fn encrypt(yaml: &str, recipient: &str) -> String {
    let mut child = Command::new(super::tools::sops())
        .env_clear()
        .args([
            "--encrypt",
            "--age",
            recipient,
            "--encrypted-regex",
            "^(data|stringData)$",
            "--input-type",
            "yaml",
            "--output-type",
            "yaml",
            "/dev/stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running sops");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "sops --encrypt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The forms a value could leak in: as is, and base64 (a Secret's `data`).
pub fn leak_forms(values: &[&str]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| [(*v).to_owned(), b64(v)])
        .collect()
}

/// Every file under `dirs` (recursively; a missing directory has none)
/// that holds one of `needles`, with the needle.
pub fn files_holding(dirs: &[&Path], needles: &[String]) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut pending: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    while let Some(path) = pending.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                pending.extend(entries.flatten().map(|e| e.path()));
            }
        } else if meta.is_file() {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            for needle in needles {
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found.push((path.clone(), needle.clone()));
                }
            }
        }
    }
    found
}
