//! What the tests' own servers (Git, chart repositories) share: a daemon
//! process with its log, started on a loopback port and waited for, killed
//! on stop and on drop; generated credentials; free ports; the paths of the
//! server binaries that `cargo xtask test` provides (`WEIR_LIGHTTPD`, ...).

use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to listen on its port.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The path in the environment variable `var`, which `cargo xtask test`
/// sets; panics saying how to run the tests when it is unset or names no
/// file.
pub fn binary(var: &str) -> PathBuf {
    let how = "the tests' own servers and tools come from `cargo xtask test` \
               (or `cargo xtask testenv up` and `eval \"$(cargo xtask testenv env)\"` first)";
    let path = match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => panic!("{var} is not set: {how}"),
    };
    assert!(
        path.exists(),
        "{var}={} does not exist: {how}",
        path.display()
    );
    path
}

/// A user name and password for HTTP basic auth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Credentials {
    /// Fresh credentials: user `<prefix>-<hex>`, a 32-hex-digit password.
    pub fn generate(prefix: &str) -> Self {
        Self {
            username: format!("{prefix}-{}", random_hex(4)),
            password: random_hex(16),
        }
    }
}

/// `bytes` random bytes from the kernel, as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("reading /dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0 to find a free port")
}

/// Whether something accepts connections on 127.0.0.1:`port`.
pub fn listening(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// A server process in its own process group, its output in `log`.
#[derive(Debug)]
pub struct Daemon {
    pub name: String,
    pub log: PathBuf,
    child: Child,
}

impl Daemon {
    /// Starts `cmd` (output to `log`) and waits until it listens on
    /// 127.0.0.1:`port`; `Err` with the log's tail when it exits first or
    /// never listens (the port may have been taken meanwhile: callers
    /// retry with another one).
    pub fn start(name: &str, mut cmd: Command, log: &Path, port: u16) -> Result<Daemon, String> {
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
        let err = out.try_clone().expect("cloning a file handle");
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name} ({:?}): {e}", cmd.get_program()));
        let mut daemon = Daemon {
            name: name.to_owned(),
            log: log.to_owned(),
            child,
        };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                return Err(format!(
                    "{name} exited ({status}) before listening on port {port}; its log:\n{}",
                    tail(log)
                ));
            }
            if listening(port) {
                return Ok(daemon);
            }
            if started.elapsed() > START_TIMEOUT {
                daemon.kill();
                return Err(format!(
                    "{name} did not listen on port {port} within {START_TIMEOUT:?}; its log:\n{}",
                    tail(log)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the process (SIGKILL: a server that is down, not one that shuts
    /// down politely) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts a server on a fresh port, up to three times (another process
/// may take a free port between our check and the server's bind).
/// `start(port)` returns the daemon or the reason it failed.
pub fn start_on_free_port<T>(name: &str, mut start: impl FnMut(u16) -> Result<T, String>) -> T {
    let mut errors = Vec::new();
    for _ in 0..3 {
        match start(free_port()) {
            Ok(started) => return started,
            Err(err) => errors.push(err),
        }
    }
    panic!(
        "starting {name} failed three times:\n{}",
        errors.join("\n---\n")
    );
}

/// The last 40 lines of a log file.
pub fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Runs `cmd` and returns its output; panics with both streams when it
/// fails.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Writes `text` to `path` with `mode` (e.g. 0o600 for keys, 0o755 for
/// scripts).
pub fn write_file(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}
