//! [`FetchError`], every way a fetch fails, worded for the person who
//! configured the remote and free of credentials; and the reading of
//! libgit2's errors into it (their messages scrubbed of credentials
//! first).

use std::path::PathBuf;
use std::time::Duration;

use git2::{ErrorClass, ErrorCode};

use super::credentials::Auth;
use super::fetch::GitRef;
use super::url::redact_text;

#[cfg(doc)]
use super::url::redact_url;

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

    #[error(
        "host key of {host} is of type {presented_type}, and known_hosts lists only {} keys for it: \
         add the server's {presented_type} key (after checking its fingerprint), or check for a \
         man-in-the-middle", listed_types.join(", ")
    )]
    HostKeyTypeNotListed {
        host: String,
        presented_type: String,
        listed_types: Vec<String>,
    },

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

    #[error("the TLS handshake with {url} failed: check that the server speaks HTTPS on that port")]
    TlsHandshake {
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

/// A libgit2 error with the credentials of `url` and `auth` taken out of
/// its message.
pub(crate) fn scrub(error: &git2::Error, url: &str, auth: &Auth) -> git2::Error {
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
pub(crate) fn classify(url: String, source: git2::Error) -> FetchError {
    let message = source.message().to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| message.contains(n));
    if source.code() == ErrorCode::Auth || has(&["401", "authentication"]) {
        return FetchError::AuthFailed { url };
    }
    if source.code() == ErrorCode::Certificate || has(&["certificate"]) {
        return FetchError::Tls { url, source };
    }
    if source.class() == ErrorClass::Ssl {
        return FetchError::TlsHandshake { url, source };
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
