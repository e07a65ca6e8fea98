//! Rendering's external tools (`helm`, `kustomize`, and `sops` decrypting
//! encrypted manifests, [`super::sops`]), run as untrusted
//! input deserves: [`write_tree`] puts their input files in a scratch
//! directory (no path may step out of it), and [`run`] holds one run to
//! weir's limits: its memory capped (`prlimit(2)`, and `GOMEMLIMIT` so Go
//! collects harder near the cap), killed past a time or an output size,
//! and a Go runtime that ran out of memory reported as that limit.

use std::io::{Read, Write as _};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::helm::Stopped;

/// The most of a tool's stderr kept for a message.
const MAX_STDERR: u64 = 64 * 1024;
/// How often a running tool is looked at.
const POLL: Duration = Duration::from_millis(5);

/// What a Go runtime writes when the memory cap stops it.
const OUT_OF_MEMORY: [&str; 3] = [
    "fatal error: out of memory",
    "runtime: out of memory",
    "cannot allocate memory",
];

/// The limits one run is held to.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bounds {
    pub timeout: Duration,
    /// Bytes of stdout.
    pub max_output: u64,
    /// Bytes of the data segment.
    pub max_memory: u64,
}

/// How a bounded run ended.
pub(super) enum Run {
    /// It exited 0, with this stdout.
    Succeeded(Vec<u8>),
    /// It exited otherwise, with what it said on stderr.
    Failed { status: ExitStatus, stderr: String },
    /// It was stopped at a limit.
    Stopped(Stopped),
}

/// Runs `command` (its stdio are set here; `stdin`, when given, is written
/// to it) within `bounds`. `Err` when it cannot be started or waited for.
pub(super) fn run(
    mut command: Command,
    stdin: Option<&[u8]>,
    bounds: &Bounds,
) -> std::io::Result<Run> {
    let mut child = command
        .env("GOMEMLIMIT", (bounds.max_memory / 4 * 3).max(1).to_string())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    cap_memory(&child, bounds.max_memory);
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A write error shows as the tool failing on its input.
        let _ = pipe.write_all(bytes);
    }
    let (ended, stdout, stderr) = run_bounded(&mut child, bounds.timeout, bounds.max_output);
    Ok(match ended {
        Ended::Exited(status) if status.success() => Run::Succeeded(stdout),
        Ended::Exited(status) => {
            let stderr = String::from_utf8_lossy(&stderr).into_owned();
            if OUT_OF_MEMORY.iter().any(|m| stderr.contains(m)) {
                Run::Stopped(Stopped::Memory(bounds.max_memory))
            } else {
                Run::Failed { status, stderr }
            }
        }
        Ended::Stopped(why) => Run::Stopped(why),
        Ended::Lost(e) => return Err(e),
    })
}

/// Writes `files` (paths relative to `dir`) below `dir`, skipping any path
/// with an empty, `.` or `..` segment: the paths come from the repo, and
/// nothing may land outside the scratch directory.
pub(super) fn write_tree<'a>(
    dir: &Path,
    files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> std::io::Result<()> {
    for (relative, bytes) in files {
        if relative
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
        {
            continue;
        }
        let target = dir.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, bytes)?;
    }
    Ok(())
}

/// Caps the data segment of a just started tool (`prlimit(2)`; Go's heap
/// counts). The moments before it applies are the tool's start-up, before
/// any template runs. Where it cannot be set, the tool runs without the cap.
#[cfg(target_os = "linux")]
fn cap_memory(child: &Child, max: u64) {
    use rustix::process::{Pid, Resource, Rlimit, prlimit};
    let limit = Rlimit {
        current: Some(max),
        maximum: Some(max),
    };
    if let Err(e) = prlimit(Some(Pid::from_child(child)), Resource::Data, limit) {
        tracing::warn!("cannot cap the memory of a rendering tool: {e}");
    }
}

#[cfg(not(target_os = "linux"))]
fn cap_memory(_: &Child, _: u64) {}

/// How a bounded helm (or kustomize) run ended.
enum Ended {
    Exited(std::process::ExitStatus),
    /// Killed past a limit.
    Stopped(Stopped),
    /// Waiting for it failed.
    Lost(std::io::Error),
}

/// Waits for `child`, reading its stdout (at most `max_output` bytes) and
/// stderr (at most [`MAX_STDERR`]) on two threads; kills it once it runs
/// past `timeout` or writes past `max_output`.
fn run_bounded(child: &mut Child, timeout: Duration, max_output: u64) -> (Ended, Vec<u8>, Vec<u8>) {
    let overflow = AtomicBool::new(false);
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let started = Instant::now();
    std::thread::scope(|scope| {
        let out = scope.spawn(|| read_capped(stdout, max_output, &overflow));
        let err = scope.spawn(|| read_capped(stderr, MAX_STDERR, &AtomicBool::new(false)));
        let ended = loop {
            if overflow.load(Ordering::Relaxed) {
                break Ended::Stopped(Stopped::Output(max_output));
            }
            match child.try_wait() {
                Ok(Some(status)) => break Ended::Exited(status),
                Ok(None) => {}
                Err(e) => break Ended::Lost(e),
            }
            if started.elapsed() >= timeout {
                break Ended::Stopped(Stopped::Timeout(timeout));
            }
            std::thread::sleep(POLL);
        };
        if !matches!(ended, Ended::Exited(_)) {
            // Killing closes its pipes, so the readers end too.
            let _ = child.kill();
            let _ = child.wait();
        }
        let out = out.join().unwrap_or_default();
        let err = err.join().unwrap_or_default();
        // Output past the limit can arrive after the exit was seen.
        let ended = match ended {
            Ended::Exited(_) if overflow.load(Ordering::Relaxed) => {
                Ended::Stopped(Stopped::Output(max_output))
            }
            other => other,
        };
        (ended, out, err)
    })
}

/// Reads `pipe` to its end, keeping at most `cap` bytes; past them, sets
/// `overflow` and stops reading.
fn read_capped<R: Read>(pipe: Option<R>, cap: u64, overflow: &AtomicBool) -> Vec<u8> {
    let Some(pipe) = pipe else {
        return Vec::new();
    };
    let mut kept = Vec::new();
    // One byte more than the cap tells a full output from an overflow.
    match pipe.take(cap.saturating_add(1)).read_to_end(&mut kept) {
        Ok(_) if kept.len() as u64 > cap => {
            overflow.store(true, Ordering::Relaxed);
            kept.clear();
        }
        _ => {}
    }
    kept
}
