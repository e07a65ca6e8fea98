//! A Git remote as the agent reaches it ([`Remote`]: URL, credentials,
//! known SSH host keys), what to fetch from it ([`GitRef`]), and
//! [`redact_url`], the one rule for showing a URL without the
//! `user:password@` it may carry.

/// What to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRef {
    /// A branch's newest commit.
    Branch(String),
    /// A tag (peeled to its commit).
    Tag(String),
    /// One commit, by full or abbreviated sha.
    Commit(String),
}

impl std::fmt::Display for GitRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitRef::Branch(b) => write!(f, "branch {b}"),
            GitRef::Tag(t) => write!(f, "tag {t}"),
            GitRef::Commit(c) => write!(f, "commit {c}"),
        }
    }
}

/// How to authenticate. `Debug` never shows a secret.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Auth {
    #[default]
    None,
    /// HTTP basic authentication; a token is the password (GitHub and
    /// GitLab take any user name with it).
    Basic { username: String, password: String },
    /// An SSH private key (OpenSSH format).
    SshKey {
        username: String,
        private_key: String,
        passphrase: Option<String>,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { username, .. } => write!(f, "Basic {{ username: {username:?}, .. }}"),
            Auth::SshKey { username, .. } => write!(f, "SshKey {{ username: {username:?}, .. }}"),
        }
    }
}

/// A Git remote: where, as whom, and (for SSH) which host keys to trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub url: String,
    pub auth: Auth,
    /// OpenSSH `known_hosts` lines; SSH is refused without them.
    pub known_hosts: Option<String>,
}

/// How a URL is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Https,
    Http,
    Ssh,
    File,
}

impl Remote {
    pub fn transport(&self) -> Transport {
        transport(&self.url)
    }
}

/// The transport of `url`: `https://`, `http://`, `ssh://` (or the
/// scp-like `user@host:path`), `file://` (or a plain path).
pub fn transport(url: &str) -> Transport {
    match url.split_once("://") {
        Some(("https", _)) => Transport::Https,
        Some(("http", _)) => Transport::Http,
        Some(("ssh" | "git+ssh", _)) => Transport::Ssh,
        Some(("file", _)) => Transport::File,
        Some(_) => Transport::Https,
        None if url.starts_with('/') || url.starts_with('.') => Transport::File,
        None if url.contains(':') => Transport::Ssh,
        None => Transport::File,
    }
}

/// The host and port an SSH URL reaches (`ssh://git@host:2222/x` →
/// `("host", 2222)`, `git@host:org/x` → `("host", 22)`).
pub fn ssh_host(url: &str) -> Option<(String, u16)> {
    let authority = match url.split_once("://") {
        Some((_, rest)) => rest.split('/').next()?,
        None => url.split(':').next()?,
    };
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(rest) = host_port.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .unwrap_or(22);
        return Some((host.to_owned(), port));
    }
    match (url.contains("://"), host_port.rsplit_once(':')) {
        (true, Some((host, port))) => Some((host.to_owned(), port.parse().ok()?)),
        _ => Some((host_port.to_owned(), 22)),
    }
}

/// `url` as messages may show it: without the `user:password@` (or
/// `token@`) of an http(s) URL. SSH user names (`git@`) are kept: they are
/// no secret. The one rule for it: the API server's URL and Git URLs alike.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    if matches!(scheme, "ssh" | "git+ssh") {
        return url.to_owned();
    }
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{scheme}://{host}{path}")
}

/// `text` with every occurrence of `url`'s credentials removed: libgit2's
/// own messages may quote the URL it was given.
pub fn redact_in(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &redact_url(url));
    if let Some((_, rest)) = url.split_once("://")
        && let Some((userinfo, _)) = rest.split('/').next().and_then(|a| a.rsplit_once('@'))
        && !userinfo.is_empty()
    {
        out = out.replace(userinfo, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact_url("https://bot:s3cret@git.example/org/p.git"),
            "https://git.example/org/p.git"
        );
        assert_eq!(
            redact_url("https://t0ken@git.example/p"),
            "https://git.example/p"
        );
        assert_eq!(
            redact_url("https://127.0.0.1:6443"),
            "https://127.0.0.1:6443"
        );
        assert_eq!(
            redact_url("ssh://git@host:22/p.git"),
            "ssh://git@host:22/p.git"
        );
        assert_eq!(redact_url("git@host:org/p.git"), "git@host:org/p.git");
        assert_eq!(
            redact_in(
                "failed for https://bot:s3cret@h/p: bot:s3cret refused",
                "https://bot:s3cret@h/p"
            ),
            "failed for https://h/p: *** refused"
        );
        let auth = Auth::Basic {
            username: "bot".into(),
            password: "s3cret".into(),
        };
        assert!(!format!("{auth:?}").contains("s3cret"));
    }

    #[test]
    fn transports_and_hosts() {
        assert_eq!(transport("https://h/p"), Transport::Https);
        assert_eq!(transport("git@h:o/p.git"), Transport::Ssh);
        assert_eq!(transport("ssh://git@h:2222/p"), Transport::Ssh);
        assert_eq!(transport("file:///srv/p.git"), Transport::File);
        assert_eq!(transport("/srv/p.git"), Transport::File);
        assert_eq!(
            ssh_host("ssh://git@127.0.0.1:2222/p.git"),
            Some(("127.0.0.1".into(), 2222))
        );
        assert_eq!(ssh_host("ssh://git@host/p.git"), Some(("host".into(), 22)));
        assert_eq!(
            ssh_host("git@github.com:o/p.git"),
            Some(("github.com".into(), 22))
        );
        assert_eq!(
            ssh_host("ssh://git@[::1]:2200/p"),
            Some(("::1".into(), 2200))
        );
    }
}
