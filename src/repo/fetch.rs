//! Fetching a config repository from its Git server into a local mirror:
//! [`Mirror`] (a bare repository in a cache directory, one per remote
//! URL), [`Remote`] (URL, [`Auth`], SSH `known_hosts`), [`GitRef`] (what
//! to fetch) and [`FetchOptions`] (time and size bounds); failures are
//! [`FetchError`]s.
//!
//! A fetch connects (and so authenticates) every time, lists the remote's
//! refs, and downloads only what the wanted ref needs, with a forced
//! refspec so a force-push to an older commit is followed. It runs on a
//! thread of its own: the caller gets an answer by the deadline even when
//! the server accepts the connection and never answers (libgit2 would wait
//! forever on that socket; the abandoned thread keeps the mirror's lock
//! until the server gives up, so it is never fetched into twice at once).

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use git2::cert::Cert;
use git2::{
    AutotagOption, CertificateCheckStatus, Direction, ErrorCode, ObjectType, Oid, ProxyOptions,
    RemoteCallbacks, RemoteRedirect, RemoteUpdateFlags, Repository, RepositoryInitOptions,
};

use super::cache::{self, LockError, URL_FILE};
use super::credentials::{self, Auth, Refusal, Responder};
pub use super::fetch_error::{FetchError, Result};
use super::fetch_error::{classify, scrub};
use super::known_hosts::{HostKeyCheck, KnownHosts};
use super::url::{HostPort, RemoteUrl, Scheme, redact_url};

/// What to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRef {
    /// A branch: `main`, or a full name `refs/heads/main`.
    Branch(String),
    /// A tag: `v1.2.0`, or `refs/tags/v1.2.0`; annotated tags are peeled
    /// to their commit.
    Tag(String),
    /// A commit id, full (40 hex digits) or abbreviated (at least 4).
    Commit(String),
}

impl fmt::Display for GitRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GitRef::Branch(name) => write!(f, "branch `{name}`"),
            GitRef::Tag(name) => write!(f, "tag `{name}`"),
            GitRef::Commit(id) => write!(f, "commit `{id}`"),
        }
    }
}

/// A Git server's repository and how to reach it.
#[derive(Clone, PartialEq, Eq)]
pub struct Remote {
    /// `https://host/path`, `http://…` (tests on loopback),
    /// `ssh://user@host:port/path`, `user@host:path`, or `file:///path`.
    /// Credentials belong in [`Remote::auth`], not in the URL.
    pub url: String,
    pub auth: Auth,
    /// OpenSSH `known_hosts` text; required for SSH, where a host whose
    /// key is not in it is refused.
    pub known_hosts: Option<String>,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("url", &redact_url(&self.url))
            .field("auth", &self.auth)
            .field(
                "known_hosts",
                &self.known_hosts.as_ref().map(|text| text.lines().count()),
            )
            .finish()
    }
}

/// Bounds on one fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchOptions {
    /// The whole fetch (waiting for the mirror, connecting, negotiating,
    /// downloading) ends by then (default 60 s).
    pub timeout: Duration,
    /// Most pack bytes received before the fetch is aborted (default
    /// 512 MiB).
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

/// The outcome of a fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The full id of the commit the ref names now.
    pub commit: String,
    /// Pack bytes received (0 when the mirror had everything).
    pub received_bytes: u64,
}

/// A bare repository in a cache directory holding what was fetched from
/// one remote URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    path: PathBuf,
    /// The remote's URL without credentials.
    url: String,
}

impl Mirror {
    /// The mirror of `url` under `cache_root` (created if missing). The
    /// directory is named after a hash of the URL without credentials;
    /// the bare repository is created by the first [`Mirror::fetch`].
    ///
    /// # Errors
    /// [`FetchError::UnsupportedUrl`], [`FetchError::CacheDir`].
    pub fn open(cache_root: &Path, url: &str) -> Result<Mirror> {
        let redacted = redact_url(url);
        if RemoteUrl::parse(url).is_none() {
            return Err(FetchError::UnsupportedUrl { url: redacted });
        }
        std::fs::create_dir_all(cache_root).map_err(|source| FetchError::CacheDir {
            path: cache_root.to_path_buf(),
            source,
        })?;
        Ok(Mirror {
            path: cache_root.join(cache::mirror_name(url)),
            url: redacted,
        })
    }

    /// The bare repository's directory; after a fetch,
    /// [`read_revision`](super::read_revision) reads the fetched commit
    /// from it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fetches `want` from `remote` into the mirror and returns the commit
    /// it names. Blocking (the agent runs it on a blocking thread); at
    /// most `options.timeout` long. Only the wanted branch or tag is
    /// fetched, with a forced refspec (`+refs/heads/x:refs/heads/x`), so a
    /// branch force-pushed to an older commit is followed. A commit is
    /// fetched by id when the server allows it, else with every branch and
    /// tag; a commit the mirror already has is not downloaded again (the
    /// server is still asked for its refs, so credentials are checked on
    /// every fetch).
    ///
    /// # Errors
    /// Before any network: [`FetchError::UnsupportedUrl`],
    /// [`FetchError::WrongMirror`], [`FetchError::InvalidRef`],
    /// [`FetchError::KnownHosts`], [`FetchError::KnownHostsRequired`].
    /// Then the server's answers (credentials, host key, TLS, refs), the
    /// bounds ([`FetchError::Timeout`], [`FetchError::TooLarge`]),
    /// [`FetchError::Busy`] when another fetch holds the mirror, and the
    /// mirror's own failures.
    pub fn fetch(&self, remote: &Remote, want: &GitRef, options: &FetchOptions) -> Result<Fetched> {
        let redacted = redact_url(&remote.url);
        let url = RemoteUrl::parse(&remote.url).ok_or_else(|| FetchError::UnsupportedUrl {
            url: redacted.clone(),
        })?;
        if redacted != self.url {
            return Err(FetchError::WrongMirror {
                mirror: self.url.clone(),
                url: redacted,
            });
        }
        validate(want)?;
        let known_hosts = match (url.scheme, remote.known_hosts.as_deref()) {
            (Scheme::Ssh, None) => return Err(FetchError::KnownHostsRequired { url: redacted }),
            (Scheme::Ssh, Some(text)) => {
                let parsed = KnownHosts::parse(text)?;
                if parsed.is_empty() {
                    return Err(FetchError::KnownHostsRequired { url: redacted });
                }
                Some(parsed)
            }
            (_, Some(text)) => Some(KnownHosts::parse(text)?),
            (_, None) => None,
        };
        let deadline = Instant::now() + options.timeout;
        let cancelled = Arc::new(AtomicBool::new(false));
        let locked = Arc::new(AtomicBool::new(false));
        let job = Job {
            path: self.path.clone(),
            url: remote.url.clone(),
            redacted: redacted.clone(),
            host: HostPort {
                host: url.host.clone(),
                port: url.effective_port(),
            },
            auth: remote.auth.clone(),
            known_hosts,
            want: want.clone(),
            options: *options,
            deadline,
            cancelled: Arc::clone(&cancelled),
            locked: Arc::clone(&locked),
        };
        let (sender, receiver) = mpsc::channel();
        thread::Builder::new()
            .name("weir-git-fetch".to_owned())
            .spawn(move || {
                let result = job.run();
                // The caller may have given up already.
                let _ = sender.send(result);
            })
            .map_err(|source| FetchError::Thread {
                url: redacted.clone(),
                source,
            })?;
        let wait = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(wait) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                cancelled.store(true, Ordering::SeqCst);
                if !locked.load(Ordering::SeqCst) {
                    return Err(FetchError::Busy {
                        url: redacted,
                        timeout: options.timeout,
                    });
                }
                tracing::warn!(
                    url = %redacted,
                    timeout_s = options.timeout.as_secs_f64(),
                    "a Git fetch did not finish in time; abandoned it",
                );
                Err(FetchError::Timeout {
                    url: redacted,
                    timeout: options.timeout,
                })
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(FetchError::WorkerLost { url: redacted })
            }
        }
    }
}

/// Refuses names that are not refs (and so could not be spliced into a
/// refspec) and commit ids that are not hex.
fn validate(want: &GitRef) -> Result<()> {
    let ok = match want {
        GitRef::Branch(_) | GitRef::Tag(_) => {
            git2::Reference::is_valid_name(&full_ref_name(want).unwrap_or_default())
        }
        GitRef::Commit(id) => {
            (4..=40).contains(&id.len()) && id.chars().all(|c| c.is_ascii_hexdigit())
        }
    };
    if ok {
        Ok(())
    } else {
        Err(FetchError::InvalidRef {
            reference: want.clone(),
            what: match want {
                GitRef::Branch(_) => "branch name",
                GitRef::Tag(_) => "tag name",
                GitRef::Commit(_) => "commit id (4 to 40 hexadecimal digits)",
            },
        })
    }
}

/// `refs/heads/x` or `refs/tags/x` for a branch or tag.
fn full_ref_name(want: &GitRef) -> Option<String> {
    let (prefix, name) = match want {
        GitRef::Branch(name) => ("refs/heads/", name),
        GitRef::Tag(name) => ("refs/tags/", name),
        GitRef::Commit(_) => return None,
    };
    Some(if name.starts_with(prefix) {
        name.clone()
    } else {
        format!("{prefix}{name}")
    })
}

/// One fetch, as the fetch thread runs it.
struct Job {
    path: PathBuf,
    /// The URL as configured (it may carry credentials: never shown).
    url: String,
    redacted: String,
    host: HostPort,
    auth: Auth,
    known_hosts: Option<KnownHosts>,
    want: GitRef,
    options: FetchOptions,
    deadline: Instant,
    /// Set by the caller when it stopped waiting.
    cancelled: Arc<AtomicBool>,
    /// Set by the fetch thread once it holds the mirror's lock (until
    /// then, a caller that stops waiting reports the mirror busy).
    locked: Arc<AtomicBool>,
}

/// Why a callback stopped the transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Abort {
    Timeout,
    TooLarge,
}

/// What the callbacks of one fetch learnt, to explain libgit2's errors.
#[derive(Debug, Default)]
struct State {
    refusal: Option<Refusal>,
    host_key: Option<HostKeyCheck>,
    no_host_key: bool,
    abort: Option<Abort>,
    /// Pack bytes received by this fetch's downloads so far.
    received_bytes: u64,
    /// What the downloads before the current one received.
    download_base: u64,
}

/// The callbacks' shared state for one fetch.
struct Session<'a> {
    job: &'a Job,
    responder: RefCell<Responder<'a>>,
    state: RefCell<State>,
}

impl Job {
    fn run(&self) -> Result<Fetched> {
        let _lock = match cache::lock(&self.path, self.deadline) {
            Ok(lock) => lock,
            Err(LockError::Busy) => {
                return Err(FetchError::Busy {
                    url: self.redacted.clone(),
                    timeout: self.options.timeout,
                });
            }
            Err(LockError::Io(source)) => {
                return Err(FetchError::Lock {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        self.locked.store(true, Ordering::SeqCst);
        if self.cancelled.load(Ordering::SeqCst) {
            return Err(FetchError::Timeout {
                url: self.redacted.clone(),
                timeout: self.options.timeout,
            });
        }
        let repo = self.open_repository()?;
        if let Err(error) = cache::touch(&self.path) {
            tracing::warn!(mirror = %self.path.display(), %error, "cannot mark a Git mirror as used");
        }
        let session = Session {
            job: self,
            responder: RefCell::new(Responder::new(&self.auth)),
            state: RefCell::new(State::default()),
        };
        let commit = match &self.want {
            GitRef::Branch(_) | GitRef::Tag(_) => self.fetch_ref(&repo, &session)?,
            GitRef::Commit(id) => self.fetch_commit(&repo, &session, &id.to_ascii_lowercase())?,
        };
        let received_bytes = session.state.borrow().received_bytes;
        tracing::debug!(
            url = %self.redacted,
            reference = %self.want,
            %commit,
            received_bytes,
            "fetched",
        );
        Ok(Fetched {
            commit: commit.to_string(),
            received_bytes,
        })
    }

    /// The mirror's bare repository, created when missing and recreated
    /// when it cannot be opened (it is only a cache).
    fn open_repository(&self) -> Result<Repository> {
        let mirror_error = |source| FetchError::Mirror {
            path: self.path.clone(),
            source,
        };
        let repo = match Repository::open_bare(&self.path) {
            Ok(repo) => repo,
            Err(error) => {
                if self.path.exists() {
                    tracing::warn!(
                        mirror = %self.path.display(),
                        %error,
                        "a Git mirror cannot be opened; recreating it",
                    );
                    std::fs::remove_dir_all(&self.path).map_err(|source| FetchError::Lock {
                        path: self.path.clone(),
                        source,
                    })?;
                }
                let mut init = RepositoryInitOptions::new();
                init.bare(true).mkpath(true);
                Repository::init_opts(&self.path, &init).map_err(mirror_error)?
            }
        };
        let url_file = self.path.join(URL_FILE);
        if !url_file.exists() {
            std::fs::write(&url_file, format!("{}\n", self.redacted)).map_err(|source| {
                FetchError::Lock {
                    path: self.path.clone(),
                    source,
                }
            })?;
        }
        Ok(repo)
    }

    /// Fetches a branch or tag: the advertised id, downloaded with a forced
    /// refspec, peeled to its commit.
    fn fetch_ref(&self, repo: &Repository, session: &Session<'_>) -> Result<Oid> {
        let name = full_ref_name(&self.want).unwrap_or_default();
        let mut remote = repo
            .remote_anonymous(&self.url)
            .map_err(|e| session.error(e))?;
        let mut connection = session.connect(&mut remote)?;
        let heads: Vec<(String, Oid)> = connection
            .list()
            .map_err(|e| session.error(e))?
            .iter()
            .map(|head| (head.name().to_owned(), head.oid()))
            .collect();
        let Some(oid) = heads.iter().find(|(n, _)| *n == name).map(|(_, oid)| *oid) else {
            let prefix = if matches!(self.want, GitRef::Branch(_)) {
                "refs/heads/"
            } else {
                "refs/tags/"
            };
            let available = heads
                .iter()
                .filter_map(|(n, _)| n.strip_prefix(prefix))
                .filter(|n| !n.ends_with("^{}"))
                .map(str::to_owned)
                .collect();
            return Err(FetchError::RefNotFound {
                url: self.redacted.clone(),
                reference: self.want.clone(),
                available,
            });
        };
        let refspec = format!("+{name}:{name}");
        session.download(connection.remote(), &[refspec.as_str()])?;
        self.peel(repo, oid)
    }

    /// Fetches a commit: nothing when the mirror has it, else by id when
    /// the server allows, else every branch and tag.
    fn fetch_commit(&self, repo: &Repository, session: &Session<'_>, id: &str) -> Result<Oid> {
        let mut remote = repo
            .remote_anonymous(&self.url)
            .map_err(|e| session.error(e))?;
        {
            // Connecting checks the credentials even when nothing is
            // downloaded.
            let mut connection = session.connect(&mut remote)?;
            if let Some(oid) = self.find_commit(repo, id)? {
                return Ok(oid);
            }
            if id.len() == 40 {
                match session.download(connection.remote(), &[id]) {
                    Ok(()) => {
                        if let Some(oid) = self.find_commit(repo, id)? {
                            return Ok(oid);
                        }
                    }
                    Err(error) if session.is_final() => return Err(error),
                    Err(error) => tracing::debug!(
                        url = %self.redacted,
                        %error,
                        "the server does not serve commits by id; fetching every branch and tag",
                    ),
                }
            }
        }
        // A failed negotiation may leave the transport unusable: connect
        // again.
        let mut connection = session.connect(&mut remote)?;
        session.download(
            connection.remote(),
            &["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
        )?;
        self.find_commit(repo, id)?
            .ok_or_else(|| FetchError::CommitNotFound {
                url: self.redacted.clone(),
                commit: id.to_owned(),
            })
    }

    /// The commit `id` (full or abbreviated) names in the mirror, if any.
    fn find_commit(&self, repo: &Repository, id: &str) -> Result<Option<Oid>> {
        let object = match repo.find_object_by_prefix(id, None) {
            Ok(object) => object,
            Err(error) if error.code() == ErrorCode::NotFound => return Ok(None),
            Err(error) if error.code() == ErrorCode::Ambiguous => {
                return Err(FetchError::AmbiguousCommit {
                    commit: id.to_owned(),
                });
            }
            Err(source) => {
                return Err(FetchError::Mirror {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        self.peel(repo, object.id()).map(Some)
    }

    /// The commit `oid` names (a commit, or a tag of one).
    fn peel(&self, repo: &Repository, oid: Oid) -> Result<Oid> {
        let object = repo
            .find_object(oid, None)
            .map_err(|source| FetchError::Mirror {
                path: self.path.clone(),
                source,
            })?;
        let kind = object.kind();
        match object.peel(ObjectType::Commit) {
            Ok(commit) => Ok(commit.id()),
            Err(_) => Err(FetchError::NotACommit {
                url: self.redacted.clone(),
                reference: self.want.clone(),
                kind: kind.map_or_else(|| "object".to_owned(), |k| k.str().to_owned()),
            }),
        }
    }
}

/// Proxy settings from the environment and Git configuration, as `git`
/// uses them.
fn proxy() -> ProxyOptions<'static> {
    let mut proxy = ProxyOptions::new();
    proxy.auto();
    proxy
}

impl<'a> Session<'a> {
    fn callbacks<'s>(&'s self) -> RemoteCallbacks<'s> {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.credentials(move |_url, username_from_url, allowed| {
            self.check_time()?;
            let answer = self
                .responder
                .borrow_mut()
                .respond(username_from_url, allowed);
            answer.map_err(|refusal| {
                self.state.borrow_mut().refusal = Some(refusal);
                git2::Error::from_str("weir: credentials refused")
            })
        });
        callbacks.certificate_check(move |cert, _host| self.certificate_check(cert));
        callbacks.transfer_progress(move |progress| {
            let mut state = self.state.borrow_mut();
            let received = state.download_base + progress.received_bytes() as u64;
            state.received_bytes = received;
            if received > self.job.options.max_bytes {
                state.abort = Some(Abort::TooLarge);
                return false;
            }
            drop(state);
            self.check_time().is_ok()
        });
        callbacks.sideband_progress(move |_| self.check_time().is_ok());
        callbacks
    }

    /// Fails (and records why) once the deadline passed or the caller
    /// gave up.
    fn check_time(&self) -> Result<(), git2::Error> {
        if Instant::now() >= self.job.deadline || self.job.cancelled.load(Ordering::SeqCst) {
            self.state.borrow_mut().abort = Some(Abort::Timeout);
            return Err(git2::Error::from_str("weir: fetch deadline passed"));
        }
        Ok(())
    }

    /// SSH host keys are checked against known_hosts; TLS certificates are
    /// left to libgit2's check against the system's CA certificates.
    fn certificate_check(&self, cert: &Cert<'_>) -> Result<CertificateCheckStatus, git2::Error> {
        self.check_time()?;
        let Some(hostkey) = cert.as_hostkey() else {
            return Ok(CertificateCheckStatus::CertificatePassthrough);
        };
        let refuse = || git2::Error::from_str("weir: host key refused");
        let (Some(known_hosts), Some(blob)) = (&self.job.known_hosts, hostkey.hostkey()) else {
            self.state.borrow_mut().no_host_key = true;
            return Err(refuse());
        };
        match known_hosts.check(&self.job.host, blob) {
            HostKeyCheck::Trusted => Ok(CertificateCheckStatus::CertificateOk),
            problem => {
                self.state.borrow_mut().host_key = Some(problem);
                Err(refuse())
            }
        }
    }

    /// Connects to the remote (and authenticates). Each connection is
    /// offered the credentials once.
    fn connect<'r, 'c, 's>(
        &'s self,
        remote: &'c mut git2::Remote<'r>,
    ) -> Result<git2::RemoteConnection<'r, 'c, 's>> {
        *self.responder.borrow_mut() = Responder::new(&self.job.auth);
        remote
            .connect_auth(Direction::Fetch, Some(self.callbacks()), Some(proxy()))
            .map_err(|e| self.error(e))
    }

    /// Downloads what `refspecs` need and updates the refs they name.
    fn download(&self, remote: &mut git2::Remote<'_>, refspecs: &[&str]) -> Result<()> {
        {
            let mut state = self.state.borrow_mut();
            state.download_base = state.received_bytes;
        }
        let mut options = git2::FetchOptions::new();
        options
            .remote_callbacks(self.callbacks())
            .proxy_options(proxy())
            .download_tags(AutotagOption::None)
            .follow_redirects(RemoteRedirect::Initial);
        remote
            .download(refspecs, Some(&mut options))
            .map_err(|e| self.error(e))?;
        remote
            .update_tips(
                Some(&mut self.callbacks()),
                RemoteUpdateFlags::empty(),
                AutotagOption::None,
                Some("weir: fetch"),
            )
            .map_err(|e| self.error(e))
    }

    /// Whether the failure so far is one a retry with other refspecs
    /// cannot fix.
    fn is_final(&self) -> bool {
        let state = self.state.borrow();
        state.abort.is_some()
            || state.refusal.is_some()
            || state.host_key.is_some()
            || state.no_host_key
    }

    /// The [`FetchError`] for a libgit2 error: what the callbacks recorded
    /// first, else what the error says, scrubbed of credentials.
    fn error(&self, error: git2::Error) -> FetchError {
        let job = self.job;
        let url = job.redacted.clone();
        let state = self.state.borrow();
        match state.abort {
            Some(Abort::TooLarge) => {
                return FetchError::TooLarge {
                    url,
                    limit: job.options.max_bytes,
                };
            }
            Some(Abort::Timeout) => {
                return FetchError::Timeout {
                    url,
                    timeout: job.options.timeout,
                };
            }
            None => {}
        }
        let host = job.host.to_string();
        match &state.host_key {
            Some(HostKeyCheck::Unknown) => return FetchError::UnknownHostKey { host, url },
            Some(HostKeyCheck::Mismatch {
                expected,
                listed_types,
                presented_type,
            }) => {
                // libssh2 negotiates the host key type (preferring types
                // the user's ~/.ssh/known_hosts lists), so a type
                // known_hosts does not list is not necessarily an attack:
                // refused all the same, with a message that says so.
                return if listed_types.contains(presented_type) {
                    FetchError::HostKeyMismatch {
                        host,
                        expected: expected.clone(),
                    }
                } else {
                    FetchError::HostKeyTypeNotListed {
                        host,
                        presented_type: presented_type.clone(),
                        listed_types: listed_types.clone(),
                    }
                };
            }
            Some(HostKeyCheck::Revoked) => return FetchError::HostKeyRevoked { host },
            Some(HostKeyCheck::Trusted) | None => {}
        }
        if state.no_host_key {
            return FetchError::NoHostKey { host };
        }
        let source = scrub(&error, &job.url, &job.auth);
        match state.refusal {
            Some(Refusal::NoCredentials) => return FetchError::NoCredentials { url },
            Some(Refusal::Rejected) => return FetchError::AuthFailed { url },
            Some(Refusal::WrongKind(allowed)) => {
                return FetchError::WrongCredentialKind {
                    url,
                    wants: credentials::describe(allowed),
                    have: job.auth.kind(),
                };
            }
            Some(Refusal::Unusable) => return FetchError::UnusableCredentials { url, source },
            None => {}
        }
        classify(url, source)
    }
}

#[cfg(test)]
#[path = "fetch_tests.rs"]
mod tests;
