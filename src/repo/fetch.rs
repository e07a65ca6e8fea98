//! Fetching a config repository from its Git server into a local mirror:
//! [`Mirror`] (a bare repository in a cache directory, one per remote
//! URL), [`Remote`] (URL, [`Auth`], SSH `known_hosts`), [`GitRef`] (what
//! to fetch) and [`FetchOptions`] (time and size bounds), and
//! [`FetchError`], every way a fetch fails, worded for the person who
//! configured the remote and free of credentials.
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

use git2::{
    AutotagOption, CertificateCheckStatus, Direction, ErrorClass, ErrorCode, ObjectType, Oid,
    ProxyOptions, RemoteCallbacks, RemoteRedirect, RemoteUpdateFlags, Repository,
    RepositoryInitOptions,
};

use git2::cert::Cert;

use super::cache::{self, LockError, URL_FILE};
use super::credentials::{self, Auth, Refusal, Responder};
use super::known_hosts::{HostKeyCheck, KnownHosts};
use super::url::{HostPort, RemoteUrl, Scheme, redact_text, redact_url};

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

/// Why a fetch failed. Messages name the remote by its URL without
/// credentials ([`redact_url`]) and say what to do; the libgit2 errors
/// kept as sources are scrubbed of URLs' credentials and of the
/// [`Auth`]'s secrets.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "`{url}` is not a Git URL weir can fetch: use https://, http://, ssh://, user@host:path or file://"
    )]
    UnsupportedUrl { url: String },

    #[error("the mirror of {mirror} cannot fetch {url}: open the mirror of that URL")]
    WrongMirror { mirror: String, url: String },

    #[error("{reference} is not a valid Git {what}")]
    InvalidRef {
        reference: GitRef,
        what: &'static str,
    },

    #[error("known_hosts line {line}: {reason}")]
    KnownHosts { line: usize, reason: String },

    #[error(
        "{url} is an SSH remote without known_hosts: add the server's host key \
         (`ssh-keyscan -p PORT HOST`, after checking its fingerprint); weir never trusts an unknown host"
    )]
    KnownHostsRequired { url: String },

    #[error(
        "host key of {host} is not in known_hosts: add it (after checking its fingerprint) to fetch {url}"
    )]
    UnknownHostKey { host: String, url: String },

    #[error(
        "host key of {host} does not match known_hosts (which has {}): possible man-in-the-middle; \
         if the server's key really changed, update known_hosts", expected.join(", ")
    )]
    HostKeyMismatch { host: String, expected: Vec<String> },

    #[error("host key of {host} is marked @revoked in known_hosts: refusing to connect")]
    HostKeyRevoked { host: String },

    #[error("the SSH server {host} sent no host key weir can check: refusing to connect")]
    NoHostKey { host: String },

    #[error("cannot create the Git cache directory {}", path.display())]
    CacheDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot lock the Git mirror {}", path.display())]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot open or create the Git mirror {}", path.display())]
    Mirror {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },

    #[error(
        "another fetch of {url} held its mirror for the whole {}: a fetch that timed out \
         may still be waiting for the server", secs(*timeout)
    )]
    Busy { url: String, timeout: Duration },

    #[error("{url} asks for credentials and none are configured: set the credentials Secret")]
    NoCredentials { url: String },

    #[error("authentication failed for {url}: check the credentials Secret")]
    AuthFailed { url: String },

    #[error("{url} wants {wants}, but the credentials Secret holds {have}")]
    WrongCredentialKind {
        url: String,
        wants: String,
        have: &'static str,
    },

    #[error(
        "the credentials for {url} cannot be used: for an SSH key, check its passphrase and format \
         (OpenSSH or PEM)"
    )]
    UnusableCredentials {
        url: String,
        #[source]
        source: git2::Error,
    },

    #[error("cannot connect to {url}: check the URL, DNS and network (the server may be down)")]
    Unreachable {
        url: String,
        #[source]
        source: git2::Error,
    },

    #[error(
        "the TLS certificate of {url} is not trusted: check the server's certificate \
         (weir trusts the system's CA certificates)"
    )]
    Tls {
        url: String,
        #[source]
        source: git2::Error,
    },

    #[error(
        "{url} is not a Git repository these credentials can read: check the URL and the \
         credentials' access"
    )]
    RepositoryNotFound {
        url: String,
        #[source]
        source: git2::Error,
    },

    #[error("{reference} does not exist in {url} ({})", available_refs(available))]
    RefNotFound {
        url: String,
        reference: GitRef,
        /// Names of the remote's refs of the wanted kind (a few).
        available: Vec<String>,
    },

    #[error(
        "commit `{commit}` is not in {url}: it is on no branch or tag there, or was never pushed"
    )]
    CommitNotFound { url: String, commit: String },

    #[error("`{commit}` names more than one object: give more digits of the commit id")]
    AmbiguousCommit { commit: String },

    #[error("{reference} in {url} points at a {kind}, not a commit")]
    NotACommit {
        url: String,
        reference: GitRef,
        kind: String,
    },

    #[error(
        "fetching {url} did not finish within {}: the server is slow or not answering",
        secs(*timeout)
    )]
    Timeout { url: String, timeout: Duration },

    #[error(
        "fetching {url} received more than {limit} bytes, the fetch size limit (max_bytes): \
         raise it if the repository is expected to be this large"
    )]
    TooLarge { url: String, limit: u64 },

    #[error("fetching {url} failed")]
    Git {
        url: String,
        #[source]
        source: git2::Error,
    },

    #[error("cannot start a thread to fetch {url}")]
    Thread {
        url: String,
        #[source]
        source: std::io::Error,
    },

    #[error("the fetch of {url} stopped unexpectedly")]
    WorkerLost { url: String },
}

/// The `Result` of fetching.
pub type Result<T, E = FetchError> = std::result::Result<T, E>;

fn secs(duration: Duration) -> String {
    format!("{}s", duration.as_secs_f64())
}

fn available_refs(available: &[String]) -> String {
    const SHOWN: usize = 10;
    if available.is_empty() {
        return "it has none of that kind".to_owned();
    }
    let mut shown = available
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if available.len() > SHOWN {
        shown.push_str(&format!(", and {} more", available.len() - SHOWN));
    }
    format!("it has: {shown}")
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
    /// Every [`FetchError`] but [`FetchError::CacheDir`] and
    /// [`FetchError::KnownHosts`]' siblings that only parsing produces.
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
                cancelled.store(true, Ordering::Relaxed);
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
        if Instant::now() >= self.job.deadline || self.job.cancelled.load(Ordering::Relaxed) {
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
            Some(HostKeyCheck::Mismatch { expected }) => {
                return FetchError::HostKeyMismatch {
                    host,
                    expected: expected.clone(),
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

/// A libgit2 error with the credentials of `url` and `auth` taken out of
/// its message.
fn scrub(error: &git2::Error, url: &str, auth: &Auth) -> git2::Error {
    let mut secrets = auth.secrets();
    // Userinfo written into the URL itself.
    let userinfo = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|authority| authority.rsplit_once('@'))
        .map(|(userinfo, _)| userinfo);
    if let Some(userinfo) = userinfo {
        secrets.extend(userinfo.split(':').skip(1));
        if !url.starts_with("ssh") {
            secrets.push(userinfo);
        }
    }
    git2::Error::new(
        error.code(),
        error.class(),
        redact_text(error.message(), &secrets),
    )
}

/// The [`FetchError`] for a (scrubbed) libgit2 error no callback
/// explained.
fn classify(url: String, source: git2::Error) -> FetchError {
    let message = source.message().to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| message.contains(n));
    if source.code() == ErrorCode::Auth || has(&["401", "authentication"]) {
        return FetchError::AuthFailed { url };
    }
    if source.code() == ErrorCode::Certificate
        || (source.class() == ErrorClass::Ssl && !has(&["connect"]))
    {
        return FetchError::Tls { url, source };
    }
    if has(&[
        "failed to connect",
        "connection refused",
        "failed to resolve",
        "could not resolve",
        "name or service not known",
        "no route to host",
        "network is unreachable",
        "failed to start ssh session",
    ]) {
        return FetchError::Unreachable { url, source };
    }
    if has(&[
        "404",
        "403",
        "not found",
        "does not appear to be a git repository",
        "could not find repository",
        "not a git repository",
        "repository not exported",
    ]) {
        return FetchError::RepositoryNotFound { url, source };
    }
    if has(&["private key", "public key from private"]) {
        return FetchError::UnusableCredentials { url, source };
    }
    FetchError::Git { url, source }
}

#[cfg(test)]
#[path = "fetch_tests.rs"]
mod tests;
