//! Progress output of the xtask commands. Everything goes to stderr, so
//! commands whose stdout is meant for scripts (`testenv env`) stay clean.

use std::path::Path;
use std::time::Duration;

/// A step starts.
pub fn step(msg: &str) {
    eprintln!("==> {msg}");
}

/// A detail inside the current step.
pub fn info(msg: &str) {
    eprintln!("    {msg}");
}

/// A step finished, with its duration.
pub fn done(msg: &str, took: Duration) {
    eprintln!("==> {msg} ({})", secs(took));
}

/// A problem that does not stop the command.
pub fn warn(msg: &str) {
    eprintln!("warning: {msg}");
}

/// A duration as `12.3s`.
pub fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// The last `n` lines of a (log) file, for error messages.
pub fn tail(path: &Path, n: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(n);
            lines[start..]
                .iter()
                .map(|l| format!("    | {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        }
        Err(err) => format!("    (cannot read {}: {err})", path.display()),
    }
}
