//! Helpers of the `repo` module's unit tests: the real `git` CLI (with no
//! user or system configuration) and keys made by `ssh-keygen`.

use std::path::Path;
use std::process::Command;

/// Runs `git` in `dir` as a fixed test user and returns its trimmed
/// stdout; panics with git's stderr when it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// A key pair made by `ssh-keygen -t kind` at `dir/name`; returns the
/// private key's path and the public key line (`keytype base64 name`).
pub fn keygen(dir: &Path, name: &str, kind: &str) -> (String, String) {
    let path = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-C", name, "-f"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "ssh-keygen -t {kind}");
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    (path.display().to_string(), public.trim().to_owned())
}
