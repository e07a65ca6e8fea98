//! Background processes of a test cluster: started in their own process
//! group with output to `<state>/logs/<name>.log` and a PID file in
//! `<state>/pids/`, so that `down` from another invocation (or the cleanup
//! after a crashed run) can find and stop them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

/// A process started by [`spawn`].
#[derive(Debug)]
pub struct Proc {
    pub name: String,
    pub log: PathBuf,
    child: Child,
}

impl Proc {
    /// `Some(reason)` once the process has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(err) => Some(format!("cannot be waited for: {err}")),
        }
    }
}

/// Starts `bin args...` in `state` as its own process group.
pub fn spawn(
    state: &Path,
    name: &str,
    bin: &Path,
    args: &[String],
    env: &[(&str, &Path)],
) -> Result<Proc> {
    let logs = state.join("logs");
    let pids = state.join("pids");
    fs::create_dir_all(&logs)?;
    fs::create_dir_all(&pids)?;
    let log = logs.join(format!("{name}.log"));
    let out = fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    fs::write(
        log.with_extension("cmd"),
        format!("{} {}\n", bin.display(), args.join(" ")),
    )?;
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .current_dir(state)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    for (k, v) in env {
        cmd.env(k, v);
    }
    {
        use std::os::unix::process::CommandExt;
        // Own process group: Ctrl-C in the terminal does not reach it, and
        // stopping signals the whole group.
        cmd.process_group(0);
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {name} ({})", bin.display()))?;
    fs::write(
        pids.join(format!("{name}.pid")),
        format!("{}\n", child.id()),
    )?;
    Ok(Proc {
        name: name.to_owned(),
        log,
        child,
    })
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Whether `pid` is one of this state dir's processes (guards against PID
/// reuse after a crash): every process runs in the state dir and names it
/// in its arguments.
fn belongs_to(pid: u32, state: &Path) -> bool {
    let state = state.to_string_lossy();
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmdline| String::from_utf8_lossy(&cmdline).contains(state.as_ref()))
        .unwrap_or(false)
}

/// PIDs recorded in `<state>/pids/` that are still alive and ours.
pub fn recorded(state: &Path) -> Vec<(String, u32)> {
    let Ok(entries) = fs::read_dir(state.join("pids")) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            continue;
        };
        let Some(pid) = fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
        else {
            continue;
        };
        if alive(pid) && belongs_to(pid, state) {
            found.push((name, pid));
        }
    }
    found.sort();
    found
}

/// Stops every recorded process of `state`, those named in `order` last
/// and in that order (clients before servers: kube-apiserver shuts down in
/// a second when etcd is still there, but hangs when etcd goes first).
/// Each gets SIGTERM to its process group, then SIGKILL after `grace`.
/// Returns the names of the processes that were running.
pub fn stop_all(state: &Path, order: &[&str], grace: Duration) -> Vec<String> {
    let mut running = recorded(state);
    running.sort_by_key(|(name, _)| order.iter().position(|o| o == name));
    for (_, pid) in &running {
        stop_one(*pid, grace);
    }
    running.into_iter().map(|(name, _)| name).collect()
}

fn stop_one(pid: u32, grace: Duration) {
    signal_group(pid, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    loop {
        reap(pid);
        if !alive(pid) {
            return;
        }
        if Instant::now() >= deadline {
            signal_group(pid, Signal::SIGKILL);
            reap(pid);
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal_group(pid: u32, signal: Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = killpg(Pid::from_raw(pid), signal);
    }
}

/// Collects the exit status of `pid` if it is our child (no-op otherwise).
fn reap(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
    }
}

/// `n` distinct free TCP ports on 127.0.0.1, chosen by the kernel.
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .context("binding 127.0.0.1:0 to find a free port")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}
