//! [`KnownHosts`]: the SSH host keys a remote may present, parsed from
//! OpenSSH `known_hosts` text, and the check of a server's key against
//! them. Supported, as OpenSSH reads them: `host keytype base64 [comment]`
//! lines, `[host]:port` for ports other than 22, comma-separated host
//! lists, `*`/`?` wildcards and `!` negations, hashed `|1|salt|hash`
//! names (HMAC-SHA1, as `ssh-keygen -H` writes them) and `@revoked` keys.
//! `@cert-authority` lines are read but never match: libgit2's SSH
//! transport does not present host certificates.

use ring::hmac;
use ssh_key::PublicKey;
use ssh_key::known_hosts::{Entry, HostPatterns, Marker};

use super::fetch::FetchError;
use super::url::HostPort;

/// The host keys of a `known_hosts` text.
#[derive(Clone, Default)]
pub struct KnownHosts {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for KnownHosts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownHosts")
            .field("entries", &self.entries.len())
            .finish()
    }
}

/// What [`KnownHosts::check`] found for a host and the key it presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostKeyCheck {
    /// A line for the host holds this key.
    Trusted,
    /// No line names the host.
    Unknown,
    /// Lines name the host, with other keys.
    Mismatch {
        /// The SHA256 fingerprints of the keys listed for the host.
        expected: Vec<String>,
        /// The key types listed for the host (`ssh-ed25519`, …).
        listed_types: Vec<String>,
        /// The type of the key the server presented.
        presented_type: String,
    },
    /// The key is marked `@revoked` for the host.
    Revoked,
}

impl KnownHosts {
    /// Parses `known_hosts` text. Blank lines and `#` comments are
    /// skipped; fields may be separated by any run of spaces or tabs.
    ///
    /// # Errors
    /// [`FetchError::KnownHosts`] naming the first line (1-based) that is
    /// not a host key line: a file that cannot be read as a whole is
    /// refused rather than half-trusted.
    pub fn parse(text: &str) -> Result<KnownHosts, FetchError> {
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let normalised = line.split_whitespace().collect::<Vec<_>>().join(" ");
            let entry: Entry = normalised.parse().map_err(|error| FetchError::KnownHosts {
                line: index + 1,
                reason: format!("not a `host keytype base64` line ({error})"),
            })?;
            entries.push(entry);
        }
        Ok(KnownHosts { entries })
    }

    /// How many host key lines were read.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no host key line was read.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Checks the key a server presented (`key_blob`: the SSH wire
    /// encoding, as libssh2 hands it over) for `host`. A key that cannot
    /// be decoded matches nothing.
    pub(crate) fn check(&self, host: &HostPort, key_blob: &[u8]) -> HostKeyCheck {
        let presented = PublicKey::from_bytes(key_blob).ok();
        let name = host.to_string().to_ascii_lowercase();
        let mut expected = Vec::new();
        let mut listed_types: Vec<String> = Vec::new();
        let mut trusted = false;
        for entry in &self.entries {
            if !host_matches(entry.host_patterns(), &name) {
                continue;
            }
            let same_key = presented
                .as_ref()
                .is_some_and(|key| key.key_data() == entry.public_key().key_data());
            match entry.marker() {
                Some(Marker::Revoked) if same_key => return HostKeyCheck::Revoked,
                Some(Marker::Revoked | Marker::CertAuthority) => {}
                None if same_key => trusted = true,
                None => {
                    let key = entry.public_key();
                    expected.push(key.fingerprint(ssh_key::HashAlg::Sha256).to_string());
                    let kind = key.algorithm().as_str().to_owned();
                    if !listed_types.contains(&kind) {
                        listed_types.push(kind);
                    }
                }
            }
        }
        if trusted {
            HostKeyCheck::Trusted
        } else if expected.is_empty() {
            HostKeyCheck::Unknown
        } else {
            HostKeyCheck::Mismatch {
                expected,
                listed_types,
                presented_type: presented.map_or_else(
                    || "unreadable".to_owned(),
                    |key| key.algorithm().as_str().to_owned(),
                ),
            }
        }
    }
}

/// Whether a line's host field names `name` (`host` or `[host]:port`,
/// lower case): any positive pattern matches and no negated one does.
fn host_matches(patterns: &HostPatterns, name: &str) -> bool {
    match patterns {
        HostPatterns::HashedName { salt, hash } => {
            let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, salt);
            hmac::verify(&key, name.as_bytes(), hash).is_ok()
        }
        HostPatterns::Patterns(patterns) => {
            let mut matched = false;
            for pattern in patterns {
                let pattern = pattern.to_ascii_lowercase();
                match pattern.strip_prefix('!') {
                    Some(negated) if wildcard_match(negated, name) => return false,
                    Some(_) => {}
                    None => matched |= wildcard_match(&pattern, name),
                }
            }
            matched
        }
    }
}

/// OpenSSH's pattern match: `*` is any run of characters, `?` one.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Iterative matching with backtracking to the last `*`.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((star_p, star_t)) = star {
            pi = star_p + 1;
            ti = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use super::super::testutil::keygen;
    use super::*;

    /// A fresh host key made by `ssh-keygen`: (public key line
    /// `keytype base64 comment`, SSH wire blob).
    fn host_key(dir: &Path, name: &str, kind: &str) -> (String, Vec<u8>) {
        let (_, line) = keygen(dir, name, kind);
        let blob = PublicKey::from_openssh(&line).unwrap().to_bytes().unwrap();
        (line, blob)
    }

    fn at(host: &str, port: u16) -> HostPort {
        HostPort {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn plain_port_and_list_entries_match_their_hosts_only() {
        let dir = tempfile::tempdir().unwrap();
        let (ed, ed_blob) = host_key(dir.path(), "ed", "ed25519");
        let (ecdsa, ecdsa_blob) = host_key(dir.path(), "ecdsa", "ecdsa");
        let (rsa, rsa_blob) = host_key(dir.path(), "rsa", "rsa");
        let text = format!(
            "# comment\n\n\
             [127.0.0.1]:2222 {ed}\n\
             git.example.com,192.0.2.7\t{ecdsa}\n\
             *.corp.example,!evil.corp.example {rsa}\n"
        );
        let known = KnownHosts::parse(&text).unwrap();
        assert_eq!(known.len(), 3);

        assert_eq!(
            known.check(&at("127.0.0.1", 2222), &ed_blob),
            HostKeyCheck::Trusted
        );
        // The same host on port 22 is another entry in OpenSSH's eyes.
        assert_eq!(
            known.check(&at("127.0.0.1", 22), &ed_blob),
            HostKeyCheck::Unknown
        );
        assert_eq!(
            known.check(&at("192.0.2.7", 22), &ecdsa_blob),
            HostKeyCheck::Trusted
        );
        assert_eq!(
            known.check(&at("GIT.example.com", 22), &ecdsa_blob),
            HostKeyCheck::Trusted
        );
        assert_eq!(
            known.check(&at("a.corp.example", 22), &rsa_blob),
            HostKeyCheck::Trusted
        );
        assert_eq!(
            known.check(&at("evil.corp.example", 22), &rsa_blob),
            HostKeyCheck::Unknown
        );

        // A known host presenting another key is a mismatch naming the
        // expected fingerprint.
        match known.check(&at("127.0.0.1", 2222), &ecdsa_blob) {
            HostKeyCheck::Mismatch {
                expected,
                listed_types,
                presented_type,
            } => {
                assert_eq!(expected.len(), 1);
                assert!(expected[0].starts_with("SHA256:"), "{expected:?}");
                assert_eq!(listed_types, ["ssh-ed25519"]);
                assert_eq!(presented_type, "ecdsa-sha2-nistp256");
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
        assert!(matches!(
            known.check(&at("127.0.0.1", 2222), b"garbage"),
            HostKeyCheck::Mismatch { .. }
        ));
    }

    #[test]
    fn hashed_entries_written_by_ssh_keygen_match() {
        let dir = tempfile::tempdir().unwrap();
        let (ed, ed_blob) = host_key(dir.path(), "ed", "ed25519");
        let file = dir.path().join("known_hosts");
        std::fs::write(
            &file,
            format!("[127.0.0.1]:2222 {ed}\ngit.example.com {ed}\n"),
        )
        .unwrap();
        // Its notes about the backup file go to stderr: captured.
        let hashing = Command::new("ssh-keygen")
            .args(["-q", "-H", "-f"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(hashing.status.success());
        let hashed = std::fs::read_to_string(&file).unwrap();
        assert!(hashed.starts_with("|1|"), "{hashed}");
        assert!(!hashed.contains("127.0.0.1"));

        let known = KnownHosts::parse(&hashed).unwrap();
        assert_eq!(
            known.check(&at("127.0.0.1", 2222), &ed_blob),
            HostKeyCheck::Trusted
        );
        assert_eq!(
            known.check(&at("git.example.com", 22), &ed_blob),
            HostKeyCheck::Trusted
        );
        assert_eq!(
            known.check(&at("127.0.0.1", 2223), &ed_blob),
            HostKeyCheck::Unknown
        );
    }

    #[test]
    fn revoked_keys_are_refused_even_when_also_listed() {
        let dir = tempfile::tempdir().unwrap();
        let (ed, ed_blob) = host_key(dir.path(), "ed", "ed25519");
        let text = format!("git.example.com {ed}\n@revoked * {ed}\n");
        let known = KnownHosts::parse(&text).unwrap();
        assert_eq!(
            known.check(&at("git.example.com", 22), &ed_blob),
            HostKeyCheck::Revoked
        );
    }

    #[test]
    fn a_line_that_is_not_a_host_key_is_refused_with_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let (ed, _) = host_key(dir.path(), "ed", "ed25519");
        let error = KnownHosts::parse(&format!("host {ed}\nhost ssh-ed25519 notbase64!\n"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 2"), "{error}");
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.example.com", "a.b.example.com"));
        assert!(wildcard_match("host?", "host1"));
        assert!(!wildcard_match("host?", "host12"));
        assert!(wildcard_match("[10.0.0.?]:*", "[10.0.0.5]:2222"));
        assert!(!wildcard_match("*.example.com", "example.com"));
        assert!(wildcard_match("*", ""));
    }
}
