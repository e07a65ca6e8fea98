//! Fetching a Git remote into the agent's cache: one bare mirror per
//! remote ([`Mirror`]), cloned once, then fetched ref by ref (only the ref
//! a Sync needs, forced, so a force-push to an older commit is followed).
//!
//! Every fetch is bounded: by time (a fetch that passes `timeout` is
//! abandoned, even one stuck inside a server that accepted the connection
//! and never answers: it runs on a thread of its own, and the mirror stays
//! busy until that thread ends), and by size (`max_bytes` received). SSH
//! host keys are checked against `known_hosts` ([`KnownHosts`]); an unknown
//! or changed key is refused, and SSH without `known_hosts` too. HTTPS
//! certificates are checked as the system checks them. Credentials are
//! given through callbacks, never put in a URL, and no message carries
//! them ([`redact_url`]).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use git2::{AutotagOption, CertificateCheckStatus, Cred, RemoteCallbacks, Repository};

use super::known_hosts::KnownHosts;
use super::remote::{Auth, GitRef, Remote, Transport, redact_in, redact_url, ssh_host};

/// Why a fetch failed. Messages name the URL without credentials and say
/// what to do.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot use the Git cache at {}", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error(
        "authentication to {url} failed: check the credentials Secret (username and password, a token, or an SSH identity)"
    )]
    Auth { url: String },
    #[error("{url}: {reason}")]
    HostKey { url: String, reason: String },
    #[error(
        "{url} is an SSH URL, and SSH needs the server's host keys: put them in the credentials Secret's known_hosts (ssh-keyscan -p PORT HOST)"
    )]
    NoKnownHosts { url: String },
    #[error("fetching {url} took longer than {}s (the server is slow or does not answer); raise --fetch-timeout if the repository is large", timeout.as_secs())]
    Timeout { url: String, timeout: Duration },
    #[error("fetching {url} passed {limit} bytes: the repository is larger than the agent takes")]
    TooLarge { url: String, limit: u64 },
    #[error("{url} has no {git_ref}")]
    NoSuchRef { url: String, git_ref: String },
    #[error(
        "another fetch of {url} (one that timed out earlier) is still running; the next try waits for it to end"
    )]
    Busy { url: String },
    #[error("cannot fetch {url}: {message}")]
    Transport { url: String, message: String },
}

/// The `Result` of fetching.
pub type Result<T, E = FetchError> = std::result::Result<T, E>;

/// How long and how large a fetch may be.
#[derive(Debug, Clone, Copy)]
pub struct FetchOptions {
    pub timeout: Duration,
    pub max_bytes: u64,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            max_bytes: 512 * 1024 * 1024,
        }
    }
}

/// What a fetch found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The commit the ref names, full sha.
    pub commit: String,
}

/// A bare mirror of one remote in the cache.
#[derive(Debug, Clone)]
pub struct Mirror {
    path: PathBuf,
}

/// Mirrors with a fetch under way (a timed-out one may run on).
fn busy() -> &'static Mutex<HashSet<PathBuf>> {
    static BUSY: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    BUSY.get_or_init(Mutex::default)
}

impl Mirror {
    /// The mirror of `url` under `cache_root` (made on first fetch). Its
    /// directory is named by a hash of the URL without credentials.
    pub fn open(cache_root: &Path, url: &str) -> Self {
        let hash = crate::sync::inventory::fnv1a(redact_url(url).as_bytes());
        Self {
            path: cache_root.join(format!("git-{hash:016x}")),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fetches `git_ref` from `remote` and returns its commit. Blocking,
    /// bounded by `options` (see the module).
    pub fn fetch(
        &self,
        remote: &Remote,
        git_ref: &GitRef,
        options: &FetchOptions,
    ) -> Result<Fetched> {
        let url = redact_url(&remote.url);
        if remote.transport() == Transport::Ssh
            && remote
                .known_hosts
                .as_deref()
                .is_none_or(|k| KnownHosts::parse(k).is_empty())
        {
            return Err(FetchError::NoKnownHosts { url });
        }
        // One fetch of a mirror at a time: wait for another (two Syncs of
        // one repository), but not past the timeout (a fetch that timed out
        // may still hold it).
        let waiting_until = Instant::now() + options.timeout;
        loop {
            let taken = busy()
                .lock()
                .map(|mut busy| busy.insert(self.path.clone()))
                .unwrap_or(false);
            if taken {
                break;
            }
            if Instant::now() >= waiting_until {
                return Err(FetchError::Busy { url });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let path = self.path.clone();
        let remote = remote.clone();
        let git_ref = git_ref.clone();
        let options = *options;
        let spawned = std::thread::Builder::new()
            .name("weir-git-fetch".into())
            .spawn(move || {
                let result = fetch_blocking(&path, &remote, &git_ref, &options);
                if let Ok(mut busy) = busy().lock() {
                    busy.remove(&path);
                }
                let _ = tx.send(result);
            });
        if let Err(e) = spawned {
            if let Ok(mut busy) = busy().lock() {
                busy.remove(&self.path);
            }
            return Err(FetchError::Transport {
                url,
                message: format!("cannot start a thread: {e}"),
            });
        }
        // A little beyond the fetch's own deadline, which the transfer
        // callback enforces while data flows.
        match rx.recv_timeout(options.timeout + Duration::from_secs(2)) {
            Ok(result) => {
                if result.is_ok() {
                    touch(&self.path);
                }
                result
            }
            Err(_) => Err(FetchError::Timeout {
                url,
                timeout: options.timeout,
            }),
        }
    }
}

/// Marks a mirror used now (for [`prune_cache`]).
fn touch(path: &Path) {
    let _ = std::fs::write(path.join("weir-last-used"), b"");
}

fn fetch_blocking(
    path: &Path,
    remote: &Remote,
    git_ref: &GitRef,
    options: &FetchOptions,
) -> Result<Fetched> {
    let url = redact_url(&remote.url);
    let cache = |source| FetchError::Cache {
        path: path.to_path_buf(),
        source,
    };
    let repo = match Repository::open_bare(path) {
        Ok(repo) => repo,
        Err(_) => {
            std::fs::create_dir_all(path)
                .map_err(|e| cache(git2::Error::from_str(&e.to_string())))?;
            Repository::init_bare(path).map_err(cache)?
        }
    };
    let deadline = Instant::now() + options.timeout;
    let received = Arc::new(AtomicU64::new(0));
    let problem: Arc<Mutex<Option<FetchError>>> = Arc::default();
    let mut callbacks = RemoteCallbacks::new();
    {
        let auth = remote.auth.clone();
        let mut attempts = 0;
        callbacks.credentials(move |_url, username_from_url, allowed| {
            attempts += 1;
            if attempts > 2 {
                return Err(git2::Error::from_str("authentication failed"));
            }
            match &auth {
                Auth::Basic { username, password } if allowed.is_user_pass_plaintext() => {
                    Cred::userpass_plaintext(username, password)
                }
                Auth::SshKey {
                    username,
                    private_key,
                    passphrase,
                } if allowed.is_ssh_key() => Cred::ssh_key_from_memory(
                    username_from_url.unwrap_or(username),
                    None,
                    private_key,
                    passphrase.as_deref(),
                ),
                _ if allowed.is_username() => Cred::username(username_from_url.unwrap_or("git")),
                _ => Err(git2::Error::from_str("no credentials for this remote")),
            }
        });
    }
    {
        let known = remote.known_hosts.as_deref().map(KnownHosts::parse);
        let endpoint = ssh_host(&remote.url);
        let url = url.clone();
        let problem = problem.clone();
        callbacks.certificate_check(move |cert, _host| {
            let Some(hostkey) = cert
                .as_hostkey()
                .and_then(|h| h.hostkey().map(<[u8]>::to_vec))
            else {
                // HTTPS: the system's certificate check decides.
                return Ok(CertificateCheckStatus::CertificatePassthrough);
            };
            let (Some(known), Some((host, port))) = (&known, &endpoint) else {
                return Err(git2::Error::from_str("no known_hosts"));
            };
            match known.check(host, *port, &hostkey) {
                Ok(()) => Ok(CertificateCheckStatus::CertificateOk),
                Err(e) => {
                    if let Ok(mut p) = problem.lock() {
                        *p = Some(FetchError::HostKey {
                            url: url.clone(),
                            reason: e.to_string(),
                        });
                    }
                    Err(git2::Error::from_str(&e.to_string()))
                }
            }
        });
    }
    {
        let received = received.clone();
        let problem = problem.clone();
        let url = url.clone();
        let (max, timeout) = (options.max_bytes, options.timeout);
        callbacks.transfer_progress(move |progress| {
            let bytes = progress.received_bytes() as u64;
            received.store(bytes, Ordering::Relaxed);
            let stop = if bytes > max {
                Some(FetchError::TooLarge {
                    url: url.clone(),
                    limit: max,
                })
            } else if Instant::now() > deadline {
                Some(FetchError::Timeout {
                    url: url.clone(),
                    timeout,
                })
            } else {
                None
            };
            match stop {
                Some(e) => {
                    if let Ok(mut p) = problem.lock() {
                        *p = Some(e);
                    }
                    false
                }
                None => true,
            }
        });
    }
    let mut fetch_options = git2::FetchOptions::new();
    fetch_options
        .remote_callbacks(callbacks)
        .download_tags(AutotagOption::None);
    let refspecs: Vec<String> = match git_ref {
        GitRef::Branch(b) => vec![format!("+refs/heads/{b}:refs/heads/{b}")],
        GitRef::Tag(t) => vec![format!("+refs/tags/{t}:refs/tags/{t}")],
        GitRef::Commit(c) if c.len() == 40 => vec![c.clone()],
        GitRef::Commit(_) => vec!["+refs/heads/*:refs/heads/*".to_owned()],
    };
    let mut anonymous = repo.remote_anonymous(&remote.url).map_err(cache)?;
    let mut fetched = anonymous.fetch(&refspecs, Some(&mut fetch_options), None);
    // A server that will not give a commit by sha: every branch, then look.
    if fetched.is_err()
        && let GitRef::Commit(_) = git_ref
        && problem.lock().map(|p| p.is_none()).unwrap_or(false)
    {
        let all = ["+refs/heads/*:refs/heads/*".to_owned()];
        fetched = anonymous.fetch(&all, Some(&mut fetch_options), None);
    }
    if let Err(e) = fetched {
        if let Ok(mut p) = problem.lock()
            && let Some(problem) = p.take()
        {
            return Err(problem);
        }
        return Err(classify(&e, &remote.url, git_ref));
    }
    let commit = match git_ref {
        GitRef::Branch(b) => repo.refname_to_id(&format!("refs/heads/{b}")),
        GitRef::Tag(t) => repo
            .revparse_single(&format!("refs/tags/{t}"))
            .and_then(|o| o.peel_to_commit())
            .map(|c| c.id()),
        GitRef::Commit(c) => repo
            .revparse_single(c)
            .and_then(|o| o.peel_to_commit())
            .map(|c| c.id()),
    }
    .map_err(|_| FetchError::NoSuchRef {
        url: url.clone(),
        git_ref: git_ref.to_string(),
    })?;
    Ok(Fetched {
        commit: commit.to_string(),
    })
}

/// libgit2's error as one of ours, without credentials.
fn classify(e: &git2::Error, raw_url: &str, git_ref: &GitRef) -> FetchError {
    let url = redact_url(raw_url);
    let message = redact_in(e.message(), raw_url);
    let lower = message.to_lowercase();
    if e.class() == git2::ErrorClass::Http
        && (lower.contains("401") || lower.contains("authentication"))
        || lower.contains("authentication failed")
        || lower.contains("failed to authenticate")
        || lower.contains("too many redirects or authentication replays")
        || e.code() == git2::ErrorCode::Auth
    {
        return FetchError::Auth { url };
    }
    if lower.contains("couldn't find remote ref")
        || lower.contains("not our ref")
        || lower.contains("no such remote ref")
        || lower.contains("unadvertised object")
    {
        return FetchError::NoSuchRef {
            url,
            git_ref: git_ref.to_string(),
        };
    }
    FetchError::Transport { url, message }
}

/// Removes the least recently used mirrors under `cache_root` until they
/// take at most `max_bytes` together; `keep` are never removed (those in
/// use). Errors are ignored: a cache is a cache.
pub fn prune_cache(cache_root: &Path, max_bytes: u64, keep: &[&Path]) {
    let Ok(entries) = std::fs::read_dir(cache_root) else {
        return;
    };
    let mut mirrors: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .map(|p| {
            let used = std::fs::metadata(p.join("weir-last-used"))
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            (used, dir_size(&p), p)
        })
        .collect();
    let mut total: u64 = mirrors.iter().map(|(_, size, _)| size).sum();
    mirrors.sort();
    for (_, size, path) in mirrors {
        if total <= max_bytes {
            break;
        }
        if keep.iter().any(|k| *k == path) {
            continue;
        }
        if std::fs::remove_dir_all(&path).is_ok() {
            total = total.saturating_sub(size);
        }
    }
}

fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(entry.path()),
                Ok(_) => total += entry.metadata().map(|m| m.len()).unwrap_or(0),
                Err(_) => {}
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;
    use std::process::Command;

    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(dir)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@weir.dev",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn origin() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q"]);
        std::fs::write(dir.path().join("a.yaml"), "a: 1\n").unwrap();
        git(dir.path(), &["add", "."]);
        git(dir.path(), &["commit", "-qm", "one"]);
        let url = format!("file://{}", dir.path().display());
        (dir, url)
    }

    fn remote(url: &str) -> Remote {
        Remote {
            url: url.to_owned(),
            auth: Auth::None,
            known_hosts: None,
        }
    }

    #[test]
    fn branches_tags_commits_and_force_pushes() {
        let (src, url) = origin();
        let first = git(src.path(), &["rev-parse", "HEAD"]);
        git(src.path(), &["tag", "v1"]);
        std::fs::write(src.path().join("a.yaml"), "a: 2\n").unwrap();
        git(src.path(), &["commit", "-qam", "two"]);
        let second = git(src.path(), &["rev-parse", "HEAD"]);
        let cache = tempfile::tempdir().unwrap();
        let mirror = Mirror::open(cache.path(), &url);
        let options = FetchOptions::default();
        let branch = GitRef::Branch("main".into());
        assert_eq!(
            mirror
                .fetch(&remote(&url), &branch, &options)
                .unwrap()
                .commit,
            second
        );
        assert_eq!(
            mirror
                .fetch(&remote(&url), &GitRef::Tag("v1".into()), &options)
                .unwrap()
                .commit,
            first
        );
        assert_eq!(
            mirror
                .fetch(&remote(&url), &GitRef::Commit(first[..10].into()), &options)
                .unwrap()
                .commit,
            first
        );
        // Force-pushed back: followed.
        git(src.path(), &["reset", "-q", "--hard", &first]);
        assert_eq!(
            mirror
                .fetch(&remote(&url), &branch, &options)
                .unwrap()
                .commit,
            first
        );
        let err = mirror
            .fetch(&remote(&url), &GitRef::Branch("nope".into()), &options)
            .unwrap_err();
        assert!(matches!(err, FetchError::NoSuchRef { .. }), "{err}");
    }

    #[test]
    fn ssh_without_known_hosts_is_refused() {
        let cache = tempfile::tempdir().unwrap();
        let url = "ssh://git@127.0.0.1:1/p.git";
        let err = Mirror::open(cache.path(), url)
            .fetch(
                &remote(url),
                &GitRef::Branch("main".into()),
                &FetchOptions::default(),
            )
            .unwrap_err();
        assert!(matches!(err, FetchError::NoKnownHosts { .. }), "{err}");
    }

    #[test]
    fn a_server_that_never_answers_times_out() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accept and hold connections without a byte of answer.
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                let mut buf = [0u8; 1024];
                let mut s = stream;
                let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
                let _ = s.read(&mut buf);
                held.push(s);
            }
        });
        let cache = tempfile::tempdir().unwrap();
        let url = format!("http://127.0.0.1:{port}/p.git");
        let started = Instant::now();
        let err = Mirror::open(cache.path(), &url)
            .fetch(
                &remote(&url),
                &GitRef::Branch("main".into()),
                &FetchOptions {
                    timeout: Duration::from_secs(1),
                    ..FetchOptions::default()
                },
            )
            .unwrap_err();
        assert!(matches!(err, FetchError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
        // The stuck fetch still holds the mirror: the next one waits for it,
        // within its own timeout.
        let again = Mirror::open(cache.path(), &url)
            .fetch(
                &remote(&url),
                &GitRef::Branch("main".into()),
                &FetchOptions {
                    timeout: Duration::from_millis(300),
                    ..FetchOptions::default()
                },
            )
            .unwrap_err();
        assert!(matches!(again, FetchError::Busy { .. }), "{again}");
    }

    #[test]
    fn size_limits_abort() {
        let (src, url) = origin();
        let big: String = (0..200_000).map(|i| format!("{i:x}\n")).collect();
        std::fs::write(src.path().join("big.txt"), big).unwrap();
        git(src.path(), &["add", "."]);
        git(src.path(), &["commit", "-qm", "big"]);
        let cache = tempfile::tempdir().unwrap();
        let err = Mirror::open(cache.path(), &url)
            .fetch(
                &remote(&url),
                &GitRef::Branch("main".into()),
                &FetchOptions {
                    max_bytes: 10_000,
                    ..FetchOptions::default()
                },
            )
            .unwrap_err();
        assert!(matches!(err, FetchError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn the_cache_keeps_its_bound() {
        let cache = tempfile::tempdir().unwrap();
        for name in ["old", "new"] {
            let dir = cache.path().join(name);
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join("data"), vec![0u8; 1000]).unwrap();
            touch(&dir);
            std::thread::sleep(Duration::from_millis(20));
        }
        prune_cache(cache.path(), 1500, &[]);
        assert!(!cache.path().join("old").exists());
        assert!(cache.path().join("new").exists());
    }
}
