//! Generators of the hostile-input fixtures of issue 3, shared by
//! `tests/hostile_input.rs` and `examples/hostile.rs` (which measures their
//! time and memory). Each writes one file (or link) into a repo directory.

#![allow(dead_code)]

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

/// Writes one case into the repo (first path); the second is a directory
/// outside it, for symlink targets.
pub type Make = fn(&Path, &Path);

/// Every case: (file name in the repo, generator).
pub const CASES: &[(&str, Make)] = &[
    ("alias-bomb.yaml", alias_bomb),
    ("deep-flow.yaml", deep_flow),
    ("deep-block.yaml", deep_block),
    ("huge.yaml", huge),
    ("binary.yaml", binary),
    ("invalid-utf8.yaml", invalid_utf8),
    ("duplicate-keys.yaml", duplicate_keys),
    ("tabs.yaml", tabs),
    ("escape.yaml", symlink_outside),
];

/// "Billion laughs": 9 levels of 9 aliases each, 9^9 (387 million) strings
/// once expanded.
pub fn alias_bomb_text() -> String {
    let mut text = String::from(
        "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let mut previous = 'a';
    for level in ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'] {
        let aliases = vec![format!("*{previous}"); 9].join(",");
        text.push_str(&format!("  {level}: &{level} [{aliases}]\n"));
        previous = level;
    }
    text
}

pub fn alias_bomb(repo: &Path, _outside: &Path) {
    fs::write(repo.join("alias-bomb.yaml"), alias_bomb_text()).unwrap();
}

/// 10,000 nested flow sequences: `a: [[[[…]]]]`.
pub fn deep_flow(repo: &Path, _outside: &Path) {
    let text = format!("a: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    fs::write(repo.join("deep-flow.yaml"), text).unwrap();
}

/// 10,000 nested block sequences, in compact form (`- - - … x`). Block
/// mappings that deep need one more space of indentation per level, 50 MB
/// at least, which the size limit refuses before any parsing.
pub fn deep_block(repo: &Path, _outside: &Path) {
    let text = format!("{}x\n", "- ".repeat(10_000));
    fs::write(repo.join("deep-block.yaml"), text).unwrap();
}

/// A 100 MB file, sparse: it costs no disk, and must not be read.
pub fn huge(repo: &Path, _outside: &Path) {
    let mut file = File::create(repo.join("huge.yaml")).unwrap();
    file.write_all(b"apiVersion: v1\nkind: ConfigMap\n")
        .unwrap();
    file.set_len(100 * 1024 * 1024).unwrap();
}

/// Binary content (a PNG header and NUL bytes) under a `.yaml` name.
pub fn binary(repo: &Path, _outside: &Path) {
    let mut bytes = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR".to_vec();
    bytes.extend((0..=255u8).cycle().take(4096));
    fs::write(repo.join("binary.yaml"), bytes).unwrap();
}

/// Latin-1 text that is not UTF-8.
pub fn invalid_utf8(repo: &Path, _outside: &Path) {
    fs::write(
        repo.join("invalid-utf8.yaml"),
        b"apiVersion: v1\nkind: ConfigMap\ndata:\n  city: M\xfcnchen\n",
    )
    .unwrap();
}

pub fn duplicate_keys(repo: &Path, _outside: &Path) {
    fs::write(
        repo.join("duplicate-keys.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: x\n  name: b\n",
    )
    .unwrap();
}

pub fn tabs(repo: &Path, _outside: &Path) {
    fs::write(
        repo.join("tabs.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: a\n",
    )
    .unwrap();
}

/// A symlink to a file outside the repository, which must never be read.
pub fn symlink_outside(repo: &Path, outside: &Path) {
    let target = outside.join("secret.yaml");
    fs::write(
        &target,
        "apiVersion: v1\nkind: Secret\nstringData:\n  token: s3cr3t\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(&target, repo.join("escape.yaml")).unwrap();
}

/// A valid manifest, to show the rest of the repo still loads.
pub fn good(repo: &Path) {
    fs::write(
        repo.join("good.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ok\n",
    )
    .unwrap();
}
