//! Git remote URLs: which form a URL has (`https://`, `http://`,
//! `ssh://`, scp-like `git@host:path`, `file://`), the host and port SSH
//! host keys are checked for, and [`redact_url`] / [`redact_text`], which
//! take credentials out of URLs and messages before they are shown or
//! logged.

use std::fmt;

/// The transports weir fetches over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Https,
    Http,
    /// `ssh://` and scp-like `user@host:path`.
    Ssh,
    File,
}

/// Whether `url` names a repository on this machine's own disk
/// (`file://`, or a path), which the agent does not let a Sync read.
pub fn is_local(url: &str) -> bool {
    match RemoteUrl::parse(url) {
        Some(parsed) => parsed.scheme == Scheme::File,
        None => url.starts_with('/') || url.starts_with('.') || url.starts_with('~'),
    }
}

/// A remote URL taken apart as far as fetching needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteUrl {
    pub scheme: Scheme,
    /// The user the URL names (`git` in `git@github.com:org/repo`); for
    /// HTTP it may be a token, so it is never shown.
    pub user: Option<String>,
    /// Lower-case host name or address, without IPv6 brackets; empty for
    /// `file://`.
    pub host: String,
    /// The explicit port, if any.
    pub port: Option<u16>,
}

impl RemoteUrl {
    /// Parses the URL forms weir accepts; `None` for anything else (a bare
    /// local path, `git://`, an unknown scheme, a malformed port).
    pub fn parse(url: &str) -> Option<RemoteUrl> {
        if let Some((scheme, rest)) = url.split_once("://") {
            let scheme = match scheme.to_ascii_lowercase().as_str() {
                "https" => Scheme::Https,
                "http" => Scheme::Http,
                "ssh" | "git+ssh" | "ssh+git" => Scheme::Ssh,
                "file" => Scheme::File,
                _ => return None,
            };
            if scheme == Scheme::File {
                return Some(RemoteUrl {
                    scheme,
                    user: None,
                    host: String::new(),
                    port: None,
                });
            }
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let (user, host_port) = match authority.rsplit_once('@') {
                Some((userinfo, host_port)) => {
                    let user = userinfo.split(':').next().unwrap_or_default();
                    (Some(user.to_owned()).filter(|u| !u.is_empty()), host_port)
                }
                None => (None, authority),
            };
            let (host, port) = split_host_port(host_port)?;
            if host.is_empty() {
                return None;
            }
            return Some(RemoteUrl {
                scheme,
                user,
                host,
                port,
            });
        }
        // scp-like `[user@]host:path`, as git reads it: a colon before any
        // slash (so `./a:b` and `/abs/path` are local paths).
        let colon = scp_colon(url)?;
        let authority = &url[..colon];
        let (user, host) = match authority.rsplit_once('@') {
            Some((user, host)) => (Some(user.to_owned()).filter(|u| !u.is_empty()), host),
            None => (None, authority),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return None;
        }
        Some(RemoteUrl {
            scheme: Scheme::Ssh,
            user,
            host: host.to_ascii_lowercase(),
            port: None,
        })
    }

    /// The port connected to: the explicit one, else the scheme's default.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(match self.scheme {
            Scheme::Https => 443,
            Scheme::Http => 80,
            Scheme::Ssh => 22,
            Scheme::File => 0,
        })
    }
}

/// How a host is named in `known_hosts` and in messages: `host` for port
/// 22, `[host]:port` otherwise (OpenSSH's convention).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostPort {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.port == 22 {
            f.write_str(&self.host)
        } else {
            write!(f, "[{}]:{}", self.host, self.port)
        }
    }
}

/// The index of the colon ending the host of an scp-like URL.
fn scp_colon(url: &str) -> Option<usize> {
    let search_from = if url.starts_with('[') {
        url.find(']')?
    } else {
        0
    };
    let colon = search_from + url[search_from..].find(':')?;
    let slash = url.find('/').unwrap_or(usize::MAX);
    (colon < slash && colon > 0).then_some(colon)
}

/// Splits `host[:port]` or `[v6]:port`; `None` for a port that is not a
/// number.
fn split_host_port(host_port: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = host_port.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(port) if !port.is_empty() => Some(port.parse().ok()?),
            _ => None,
        };
        return Some((host.to_ascii_lowercase(), port));
    }
    match host_port.rsplit_once(':') {
        Some((host, "")) => Some((host.to_ascii_lowercase(), None)),
        Some((host, port)) => Some((host.to_ascii_lowercase(), Some(port.parse().ok()?))),
        None => Some((host_port.to_ascii_lowercase(), None)),
    }
}

/// `url` without credentials, fit for messages, logs and cache keys:
///
/// - `https://user:token@host/x` and `https://token@host/x` become
///   `https://host/x` (over HTTP a lone user name may be a token);
/// - `ssh://git@host/x` and `git@host:x` keep their user (it is not a
///   secret, and says which account is used) unless a password follows it;
/// - anything else is returned unchanged.
pub fn redact_url(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let scheme = url[..scheme_end].to_ascii_lowercase();
        let authority_start = scheme_end + 3;
        let authority_len = url[authority_start..]
            .find(['/', '?', '#'])
            .unwrap_or(url.len() - authority_start);
        let authority = &url[authority_start..authority_start + authority_len];
        let Some(at) = authority.rfind('@') else {
            return url.to_owned();
        };
        let userinfo = &authority[..at];
        let keep_user = scheme.contains("ssh") && !userinfo.contains(':');
        let kept = if keep_user { &authority[..=at] } else { "" };
        return format!(
            "{}{}{}{}",
            &url[..authority_start],
            kept,
            &authority[at + 1..],
            &url[authority_start + authority_len..]
        );
    }
    // scp-like: `user:password@host:path` has no meaning to git, but a
    // password there must not be shown either.
    if let Some(at) = url.find('@')
        && !url[..at].contains('/')
        && url[..at].contains(':')
    {
        return url[at + 1..].to_owned();
    }
    url.to_owned()
}

/// `text` (a message from libgit2, libssh2 or a server) with the
/// credentials of every URL in it stripped ([`redact_url`]) and every
/// occurrence of the given secrets replaced by `***`.
pub fn redact_text(text: &str, secrets: &[&str]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        // The scheme starts after the last character that cannot be in one.
        let scheme_start = rest[..pos]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
            .map_or(0, |i| i + 1);
        let end = rest[pos + 3..]
            .find(|c: char| c.is_whitespace() || "'\"<>`".contains(c))
            .map_or(rest.len(), |i| pos + 3 + i);
        out.push_str(&rest[..scheme_start]);
        out.push_str(&redact_url(&rest[scheme_start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    for secret in secrets {
        // Very short secrets would blank out ordinary words; they are not
        // worth protecting that way (and a 1-3 character password is
        // guessable anyway).
        if secret.len() >= 4 {
            out = out.replace(secret, "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form_weir_accepts() {
        let url = RemoteUrl::parse("https://x-access-token:t0k3n@GitHub.com/org/repo.git").unwrap();
        assert_eq!(url.scheme, Scheme::Https);
        assert_eq!(url.user.as_deref(), Some("x-access-token"));
        assert_eq!(
            (url.host.as_str(), url.effective_port()),
            ("github.com", 443)
        );

        let url = RemoteUrl::parse("http://127.0.0.1:8080/git/a.git").unwrap();
        assert_eq!((url.scheme, url.port), (Scheme::Http, Some(8080)));

        let url = RemoteUrl::parse("ssh://git@127.0.0.1:2222/srv/a.git").unwrap();
        assert_eq!(url.scheme, Scheme::Ssh);
        assert_eq!(url.user.as_deref(), Some("git"));
        assert_eq!(
            (url.host.as_str(), url.effective_port()),
            ("127.0.0.1", 2222)
        );

        let url = RemoteUrl::parse("ssh://[::1]:2222/a.git").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", Some(2222)));

        let url = RemoteUrl::parse("git@github.com:org/repo.git").unwrap();
        assert_eq!(url.scheme, Scheme::Ssh);
        assert_eq!(
            (url.host.as_str(), url.effective_port()),
            ("github.com", 22)
        );

        let url = RemoteUrl::parse("file:///srv/git/a.git").unwrap();
        assert_eq!(url.scheme, Scheme::File);

        for unsupported in [
            "/srv/git/a.git",
            "./a:b",
            "git://host/a.git",
            "ftp://host/a",
            "https://host:notaport/a",
            "https:///a",
        ] {
            assert_eq!(RemoteUrl::parse(unsupported), None, "{unsupported}");
        }
    }

    #[test]
    fn host_port_is_named_as_known_hosts_names_it() {
        let at = |port| HostPort {
            host: "127.0.0.1".into(),
            port,
        };
        assert_eq!(at(22).to_string(), "127.0.0.1");
        assert_eq!(at(2222).to_string(), "[127.0.0.1]:2222");
    }

    #[test]
    fn redact_url_strips_credentials_and_keeps_the_rest() {
        for (url, redacted) in [
            (
                "https://user:s3cret@host.example/org/repo.git",
                "https://host.example/org/repo.git",
            ),
            (
                "https://ghp_token123@github.com/org/repo",
                "https://github.com/org/repo",
            ),
            (
                "http://u:p@127.0.0.1:8080/x?y=1",
                "http://127.0.0.1:8080/x?y=1",
            ),
            ("ssh://git@host:2222/x.git", "ssh://git@host:2222/x.git"),
            ("ssh://git:pw@host/x.git", "ssh://host/x.git"),
            ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
            ("git:pw@github.com:org/repo.git", "github.com:org/repo.git"),
            ("https://host/a@b", "https://host/a@b"),
            ("file:///srv/a.git", "file:///srv/a.git"),
        ] {
            assert_eq!(redact_url(url), redacted, "{url}");
        }
    }

    #[test]
    fn redact_text_cleans_urls_and_secrets_inside_messages() {
        let message = "unexpected http status code 401 for 'https://bob:hunter22@git.example/r.git' \
                       (token hunter22)";
        assert_eq!(
            redact_text(message, &["hunter22"]),
            "unexpected http status code 401 for 'https://git.example/r.git' (token ***)"
        );
        assert_eq!(
            redact_text("see http://u:p@h/x, then https://h2/y", &[]),
            "see http://h/x, then https://h2/y"
        );
        assert_eq!(redact_text("no urls", &["abc"]), "no urls");
    }
}
