//! SSH host keys: is the server the one `known_hosts` names? An OpenSSH
//! `known_hosts` text is parsed ([`KnownHosts`]) and a server's key judged
//! against it ([`KnownHosts::check`]): plain and `[host]:port` patterns,
//! comma-separated lists, hashed `|1|salt|hash` entries, `@revoked`
//! markers. An unknown host and a changed key are both refused.

use base64::Engine as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha1::Sha1;

/// The verdict on a server's key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostKeyError {
    #[error(
        "the host key of {host} is not in known_hosts: add the server's key (ssh-keyscan -p PORT HOST) to the credentials Secret's known_hosts"
    )]
    Unknown { host: String },
    #[error(
        "the host key of {host} does not match known_hosts (possible man-in-the-middle): if the server's key really changed, update known_hosts"
    )]
    Changed { host: String },
    #[error("the host key of {host} is revoked in known_hosts")]
    Revoked { host: String },
}

#[derive(Debug, Clone)]
struct Entry {
    patterns: Vec<Pattern>,
    /// The key blob, base64 as written (its type is inside it).
    key: String,
    revoked: bool,
}

#[derive(Debug, Clone)]
enum Pattern {
    Plain { text: String, negated: bool },
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
}

/// Parsed `known_hosts`.
#[derive(Debug, Clone, Default)]
pub struct KnownHosts {
    entries: Vec<Entry>,
}

/// How `known_hosts` names a host and port: `host`, or `[host]:port` when
/// the port is not 22.
pub fn host_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

impl KnownHosts {
    /// Parses the text; lines that do not parse are skipped.
    pub fn parse(text: &str) -> Self {
        let mut entries = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let mut first = fields.next().unwrap_or("");
            let mut revoked = false;
            if first.starts_with('@') {
                revoked = first == "@revoked";
                if first != "@revoked" && first != "@cert-authority" {
                    continue;
                }
                if first == "@cert-authority" {
                    // Host certificates are not supported: skip.
                    continue;
                }
                first = fields.next().unwrap_or("");
            }
            let (Some(_key_type), Some(key)) = (fields.next(), fields.next()) else {
                continue;
            };
            let patterns = first
                .split(',')
                .filter_map(|p| {
                    if let Some(hashed) = p.strip_prefix("|1|") {
                        let (salt, hash) = hashed.split_once('|')?;
                        let b64 = base64::engine::general_purpose::STANDARD;
                        Some(Pattern::Hashed {
                            salt: b64.decode(salt).ok()?,
                            hash: b64.decode(hash).ok()?,
                        })
                    } else {
                        let (negated, text) = match p.strip_prefix('!') {
                            Some(t) => (true, t),
                            None => (false, p),
                        };
                        Some(Pattern::Plain {
                            text: text.to_owned(),
                            negated,
                        })
                    }
                })
                .collect();
            entries.push(Entry {
                patterns,
                key: key.to_owned(),
                revoked,
            });
        }
        Self { entries }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Judges the key `key` (the raw blob the server sent) of `host` at
    /// `port`: accepted only when an entry for the host holds exactly it.
    pub fn check(&self, host: &str, port: u16, key: &[u8]) -> Result<(), HostKeyError> {
        let name = host_name(host, port);
        let key_b64 = base64::engine::general_purpose::STANDARD.encode(key);
        let for_host: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| matches_host(&e.patterns, &name))
            .collect();
        if for_host.iter().any(|e| e.revoked && e.key == key_b64) {
            return Err(HostKeyError::Revoked { host: name });
        }
        let known: Vec<&&Entry> = for_host.iter().filter(|e| !e.revoked).collect();
        if known.iter().any(|e| e.key == key_b64) {
            return Ok(());
        }
        if known.is_empty() {
            Err(HostKeyError::Unknown { host: name })
        } else {
            Err(HostKeyError::Changed { host: name })
        }
    }
}

fn matches_host(patterns: &[Pattern], name: &str) -> bool {
    let mut matched = false;
    for p in patterns {
        match p {
            Pattern::Plain { text, negated } => {
                if glob(text, name) {
                    if *negated {
                        return false;
                    }
                    matched = true;
                }
            }
            Pattern::Hashed { salt, hash } => {
                if let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(salt) {
                    mac.update(name.as_bytes());
                    if mac.verify_slice(hash).is_ok() {
                        matched = true;
                    }
                }
            }
        }
    }
    matched
}

/// `*` and `?` wildcards of known_hosts patterns.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi].eq_ignore_ascii_case(&t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const OTHER: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIHbGzpmyr3ac5pWGcw91d/6pSdivd0gKhFX+cX6IlExb";

    fn blob(b64: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    }

    #[test]
    fn known_unknown_changed() {
        let kh = KnownHosts::parse(&format!(
            "# comment\n[127.0.0.1]:2222 ssh-ed25519 {KEY}\ngithub.com,gh ssh-ed25519 {OTHER} c\n"
        ));
        assert_eq!(kh.check("127.0.0.1", 2222, &blob(KEY)), Ok(()));
        assert!(matches!(
            kh.check("127.0.0.1", 2222, &blob(OTHER)),
            Err(HostKeyError::Changed { .. })
        ));
        assert!(matches!(
            kh.check("127.0.0.1", 22, &blob(KEY)),
            Err(HostKeyError::Unknown { .. })
        ));
        assert_eq!(kh.check("gh", 22, &blob(OTHER)), Ok(()));
        assert!(KnownHosts::parse("").check("h", 22, &blob(KEY)).is_err());
    }

    #[test]
    fn hashed_and_wildcard_entries() {
        // `ssh-keygen -H` of "[127.0.0.1]:2222", salt and hash computed here.
        let salt = b"0123456789abcdefghij";
        let mut mac = Hmac::<Sha1>::new_from_slice(salt).unwrap();
        mac.update(b"[127.0.0.1]:2222");
        let hash = mac.finalize().into_bytes();
        let b64 = base64::engine::general_purpose::STANDARD;
        let line = format!(
            "|1|{}|{} ssh-ed25519 {KEY}",
            b64.encode(salt),
            b64.encode(hash)
        );
        let kh = KnownHosts::parse(&line);
        assert_eq!(kh.check("127.0.0.1", 2222, &blob(KEY)), Ok(()));
        assert!(kh.check("127.0.0.2", 2222, &blob(KEY)).is_err());
        let kh = KnownHosts::parse(&format!("*.example,!bad.example ssh-ed25519 {KEY}"));
        assert_eq!(kh.check("git.example", 22, &blob(KEY)), Ok(()));
        assert!(kh.check("bad.example", 22, &blob(KEY)).is_err());
        let kh = KnownHosts::parse(&format!(
            "@revoked h ssh-ed25519 {KEY}\nh ssh-ed25519 {KEY}"
        ));
        assert!(matches!(
            kh.check("h", 22, &blob(KEY)),
            Err(HostKeyError::Revoked { .. })
        ));
    }
}
