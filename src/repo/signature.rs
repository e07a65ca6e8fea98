//! Commit signature verification: [`AllowedSigners`] (the keys a policy
//! trusts, from OpenSSH `allowed_signers` or `authorized_keys` text) and
//! [`verify_commit`], which checks a commit's SSH signature (`git commit
//! -S` with `gpg.format=ssh`) the way `git verify-commit` does: an SSHSIG
//! in the commit's `gpgsig` header, namespace `git`, over the commit
//! object without that header, by a key in the list (with its
//! `namespaces`, `valid-after` and `valid-before` options honoured against
//! the committer's timestamp).
//!
//! GPG (OpenPGP) and X.509 signatures are recognised and refused as
//! unsupported, not treated as unsigned. Keys are ed25519, ECDSA (P-256,
//! P-384, P-521) and RSA; `cert-authority` lines (SSH certificates) are
//! not supported.

use std::fmt;
use std::path::{Path, PathBuf};

use git2::{ErrorCode, Repository};
use ssh_key::{HashAlg, PublicKey, SshSig};

use super::known_hosts::wildcard_match;

/// The namespace `git` signs commits and tags in.
const GIT_NAMESPACE: &str = "git";

/// The keys allowed to sign commits.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AllowedSigners {
    entries: Vec<AllowedSigner>,
}

#[derive(Clone, PartialEq, Eq)]
struct AllowedSigner {
    /// Who the key belongs to (e-mail addresses, usually); empty for an
    /// `authorized_keys`-style line.
    principals: Vec<String>,
    /// Namespace patterns the key may sign in; `None` is any.
    namespaces: Option<Vec<String>>,
    /// Unix seconds the key is valid from / until.
    valid_after: Option<i64>,
    valid_before: Option<i64>,
    key: PublicKey,
}

impl fmt::Debug for AllowedSigners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|entry| {
                format!(
                    "{} {}",
                    entry.principals.join(","),
                    entry.key.fingerprint(HashAlg::Sha256)
                )
            }))
            .finish()
    }
}

/// Who signed a verified commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The principals of the matching `allowed_signers` line (empty for
    /// an `authorized_keys`-style line).
    pub principals: Vec<String>,
    /// The key's fingerprint, `SHA256:…` as `ssh-keygen -l` shows it.
    pub fingerprint: String,
    /// The key type: `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`…
    pub algorithm: String,
}

/// Why a commit's signature is not accepted, or the policy cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("allowed signers line {line}: {reason}")]
    AllowedSigners { line: usize, reason: String },

    #[error("cannot open the Git repository {}", path.display())]
    Repository {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },

    #[error("`{commit}` is not a commit in the repository")]
    UnknownCommit {
        commit: String,
        #[source]
        source: git2::Error,
    },

    #[error("cannot read the signature of commit {commit}")]
    Git {
        commit: String,
        #[source]
        source: git2::Error,
    },

    #[error("commit {commit} is not signed, and the signature policy requires a signed commit")]
    Unsigned { commit: String },

    #[error(
        "commit {commit} is signed with GPG, which weir does not verify: sign with SSH keys \
         (git config gpg.format ssh)"
    )]
    Gpg { commit: String },

    #[error(
        "commit {commit} is signed with an X.509 certificate, which weir does not verify: sign \
         with SSH keys (git config gpg.format ssh)"
    )]
    X509 { commit: String },

    #[error("commit {commit} has a signature in a format weir does not know")]
    UnknownFormat { commit: String },

    #[error("the SSH signature of commit {commit} cannot be read")]
    Malformed {
        commit: String,
        #[source]
        source: ssh_key::Error,
    },

    #[error(
        "the SSH signature of commit {commit} is for namespace `{namespace}`, not `git`: it was \
         not made by git commit -S"
    )]
    WrongNamespace { commit: String, namespace: String },

    #[error(
        "the signature of commit {commit} by key {fingerprint} does not verify: the commit was \
         changed after it was signed"
    )]
    BadSignature {
        commit: String,
        fingerprint: String,
        #[source]
        source: ssh_key::Error,
    },

    #[error("commit {commit} is signed by key {fingerprint}, which is not an allowed signer")]
    UntrustedKey { commit: String, fingerprint: String },

    #[error("commit {commit} is signed by key {fingerprint}, an allowed signer but {reason}")]
    KeyNotAllowed {
        commit: String,
        fingerprint: String,
        reason: String,
    },
}

/// The `Result` of signature checks.
pub type Result<T, E = SignatureError> = std::result::Result<T, E>;

impl AllowedSigners {
    /// Parses OpenSSH `allowed_signers` text (`principal[,principal]
    /// [options] keytype base64 [comment]`, options `namespaces="…"`,
    /// `valid-after="…"`, `valid-before="…"`), and plain `authorized_keys`
    /// lines (`keytype base64 [comment]`). Blank lines and `#` comments
    /// are skipped. Times are `YYYYMMDD[HHMM[SS]]`, read as UTC (with or
    /// without a trailing `Z`).
    ///
    /// # Errors
    /// [`SignatureError::AllowedSigners`] naming the first line (1-based)
    /// that cannot be read: a policy is never applied half-read.
    pub fn parse(text: &str) -> Result<AllowedSigners> {
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let entry = parse_line(line).map_err(|reason| SignatureError::AllowedSigners {
                line: index + 1,
                reason,
            })?;
            entries.push(entry);
        }
        Ok(AllowedSigners { entries })
    }

    /// How many keys are allowed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is allowed (every signed commit is refused).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// One line: `[principals [options]] keytype base64 [comment]`.
fn parse_line(line: &str) -> Result<AllowedSigner, String> {
    let tokens = tokenize(line);
    let key_at = tokens
        .iter()
        .position(|token| is_key_type(token))
        .filter(|&at| at <= 2)
        .ok_or_else(|| "no `keytype base64` key in the first three fields".to_owned())?;
    let key_text = tokens[key_at..].join(" ");
    let key =
        PublicKey::from_openssh(&key_text).map_err(|error| format!("bad public key ({error})"))?;
    let mut entry = AllowedSigner {
        principals: Vec::new(),
        namespaces: None,
        valid_after: None,
        valid_before: None,
        key,
    };
    if key_at >= 1 {
        entry.principals = unquote(&tokens[0])
            .split(',')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
    }
    if key_at == 2 {
        for option in split_options(&tokens[1]) {
            let (name, value) = match option.split_once('=') {
                Some((name, value)) => (name.to_ascii_lowercase(), Some(unquote(value))),
                None => (option.to_ascii_lowercase(), None),
            };
            match (name.as_str(), value) {
                ("namespaces", Some(value)) => {
                    entry.namespaces = Some(value.split(',').map(str::to_owned).collect());
                }
                ("valid-after", Some(value)) => entry.valid_after = Some(parse_time(&value)?),
                ("valid-before", Some(value)) => entry.valid_before = Some(parse_time(&value)?),
                ("cert-authority", _) => {
                    return Err("cert-authority (SSH certificates) is not supported".to_owned());
                }
                (name, _) => return Err(format!("unknown or malformed option `{name}`")),
            }
        }
    }
    Ok(entry)
}

/// Whether `token` is an SSH key type name.
fn is_key_type(token: &str) -> bool {
    ["ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"]
        .iter()
        .any(|prefix| token.starts_with(prefix))
}

/// Splits on whitespace outside double quotes (quotes are kept).
fn tokenize(line: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

/// Splits an options field on commas outside double quotes.
fn split_options(field: &str) -> Vec<String> {
    let mut options = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in field.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => options.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    options.push(current);
    options.retain(|option| !option.is_empty());
    options
}

fn unquote(value: &str) -> String {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
        .to_owned()
}

/// `YYYYMMDD[HHMM[SS]][Z]` as Unix seconds (UTC).
fn parse_time(value: &str) -> Result<i64, String> {
    let digits = value.strip_suffix(['Z', 'z']).unwrap_or(value);
    let bad = || format!("`{value}` is not a time (YYYYMMDD[HHMM[SS]][Z])");
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let field =
        |range: std::ops::Range<usize>| digits.get(range).and_then(|d| d.parse::<i8>().ok());
    let year: i16 = digits[..4].parse().map_err(|_| bad())?;
    let (month, day) = (field(4..6).ok_or_else(bad)?, field(6..8).ok_or_else(bad)?);
    let hour = field(8..10).unwrap_or(0);
    let minute = field(10..12).unwrap_or(0);
    let second = field(12..14).unwrap_or(0);
    let datetime =
        jiff::civil::DateTime::new(year, month, day, hour, minute, second, 0).map_err(|_| bad())?;
    datetime
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|zoned| zoned.timestamp().as_second())
        .map_err(|_| bad())
}

/// Verifies the SSH signature of `commit` (anything `git rev-parse`
/// takes that names a commit) in the repository at `repo` (a work tree or
/// a bare mirror) against `signers`, and says who signed it.
///
/// # Errors
/// [`SignatureError::Unsigned`], [`SignatureError::Gpg`],
/// [`SignatureError::X509`], [`SignatureError::UnknownFormat`],
/// [`SignatureError::Malformed`], [`SignatureError::WrongNamespace`],
/// [`SignatureError::BadSignature`] (the commit changed after signing),
/// [`SignatureError::UntrustedKey`], [`SignatureError::KeyNotAllowed`]
/// (namespace or validity window), and [`SignatureError::Repository`],
/// [`SignatureError::UnknownCommit`], [`SignatureError::Git`] when the
/// commit cannot be read. Each names the full commit id.
pub fn verify_commit(repo: &Path, commit: &str, signers: &AllowedSigners) -> Result<Signer> {
    let repository = Repository::open(repo).map_err(|source| SignatureError::Repository {
        path: repo.to_path_buf(),
        source,
    })?;
    let found = repository
        .revparse_single(commit)
        .and_then(|object| object.peel_to_commit())
        .map_err(|source| SignatureError::UnknownCommit {
            commit: commit.to_owned(),
            source,
        })?;
    let id = found.id().to_string();
    let (signature, signed) = match repository.extract_signature(&found.id(), None) {
        Ok(parts) => parts,
        Err(error) if error.code() == ErrorCode::NotFound => {
            return Err(SignatureError::Unsigned { commit: id });
        }
        Err(source) => return Err(SignatureError::Git { commit: id, source }),
    };
    let signature = String::from_utf8_lossy(&signature);
    if signature.contains("-----BEGIN PGP SIGNATURE-----") {
        return Err(SignatureError::Gpg { commit: id });
    }
    if signature.contains("-----BEGIN SIGNED MESSAGE-----") {
        return Err(SignatureError::X509 { commit: id });
    }
    if !signature.contains("-----BEGIN SSH SIGNATURE-----") {
        return Err(SignatureError::UnknownFormat { commit: id });
    }
    let sshsig = SshSig::from_pem(signature.trim().as_bytes()).map_err(|source| {
        SignatureError::Malformed {
            commit: id.clone(),
            source,
        }
    })?;
    if sshsig.namespace() != GIT_NAMESPACE {
        return Err(SignatureError::WrongNamespace {
            commit: id,
            namespace: sshsig.namespace().to_owned(),
        });
    }
    let key = PublicKey::from(sshsig.public_key().clone());
    let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
    // The signature itself first: a tampered commit is reported as
    // tampered whoever signed it.
    key.verify(GIT_NAMESPACE, &signed, &sshsig)
        .map_err(|source| SignatureError::BadSignature {
            commit: id.clone(),
            fingerprint: fingerprint.clone(),
            source,
        })?;
    let candidates: Vec<&AllowedSigner> = signers
        .entries
        .iter()
        .filter(|entry| entry.key.key_data() == key.key_data())
        .collect();
    if candidates.is_empty() {
        return Err(SignatureError::UntrustedKey {
            commit: id,
            fingerprint,
        });
    }
    let committed_at = found.committer().when().seconds();
    let mut reason = String::new();
    for entry in candidates {
        if let Some(namespaces) = &entry.namespaces
            && !namespaces
                .iter()
                .any(|ns| wildcard_match(ns, GIT_NAMESPACE))
        {
            reason = format!("only for namespaces {}", namespaces.join(","));
            continue;
        }
        if entry.valid_after.is_some_and(|after| committed_at < after) {
            reason = "not yet valid when the commit was made".to_owned();
            continue;
        }
        if entry
            .valid_before
            .is_some_and(|before| committed_at > before)
        {
            reason = "no longer valid when the commit was made".to_owned();
            continue;
        }
        return Ok(Signer {
            principals: entry.principals.clone(),
            fingerprint,
            algorithm: key.algorithm().to_string(),
        });
    }
    Err(SignatureError::KeyNotAllowed {
        commit: id,
        fingerprint,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::testutil::{git, keygen};
    use super::*;

    /// A repository with one commit signed by `key` (or unsigned).
    fn repo_with_commit(dir: &Path, key: Option<&str>) -> String {
        git(dir, &["init", "--quiet", "--initial-branch=main"]);
        std::fs::write(dir.join("weir.yaml"), "kind: Repository\n").unwrap();
        git(dir, &["add", "."]);
        match key {
            Some(key) => git(
                dir,
                &[
                    "-c",
                    "gpg.format=ssh",
                    "-c",
                    &format!("user.signingkey={key}"),
                    "commit",
                    "--quiet",
                    "-S",
                    "-m",
                    "signed",
                ],
            ),
            None => git(dir, &["commit", "--quiet", "-m", "unsigned"]),
        };
        git(dir, &["rev-parse", "HEAD"])
    }

    #[test]
    fn a_commit_signed_by_an_allowed_key_verifies_for_every_key_type() {
        for kind in ["ed25519", "ecdsa", "rsa"] {
            let dir = tempfile::tempdir().unwrap();
            let (key, public) = keygen(dir.path(), "signer", kind);
            let repo = dir.path().join("repo");
            std::fs::create_dir(&repo).unwrap();
            let commit = repo_with_commit(&repo, Some(&key));
            // git itself agrees.
            std::fs::write(
                dir.path().join("allowed"),
                format!("alice@example.com {public}\n"),
            )
            .unwrap();
            git(
                &repo,
                &[
                    "-c",
                    &format!(
                        "gpg.ssh.allowedSignersFile={}",
                        dir.path().join("allowed").display()
                    ),
                    "verify-commit",
                    &commit,
                ],
            );

            let signers = AllowedSigners::parse(&format!(
                "# team\nalice@example.com,a@example.org namespaces=\"git,file\" {public}\n"
            ))
            .unwrap();
            let signer = verify_commit(&repo, "HEAD", &signers).unwrap();
            assert_eq!(
                signer.principals,
                ["alice@example.com", "a@example.org"],
                "{kind}"
            );
            assert!(signer.fingerprint.starts_with("SHA256:"));
            let expected_algorithm = public.split(' ').next().unwrap();
            assert_eq!(signer.algorithm, expected_algorithm);

            // An authorized_keys-style line allows the key too.
            let signer =
                verify_commit(&repo, &commit, &AllowedSigners::parse(&public).unwrap()).unwrap();
            assert!(signer.principals.is_empty());
        }
    }

    #[test]
    fn unsigned_untrusted_and_tampered_commits_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = keygen(dir.path(), "signer", "ed25519");
        let (_, other) = keygen(dir.path(), "other", "ed25519");
        let signed_repo = dir.path().join("signed");
        let unsigned_repo = dir.path().join("unsigned");
        std::fs::create_dir(&signed_repo).unwrap();
        std::fs::create_dir(&unsigned_repo).unwrap();
        let signed = repo_with_commit(&signed_repo, Some(&key));
        let unsigned = repo_with_commit(&unsigned_repo, None);
        let allowed = AllowedSigners::parse(&format!("alice@example.com {public}")).unwrap();

        let error = verify_commit(&unsigned_repo, "HEAD", &allowed).unwrap_err();
        assert!(matches!(error, SignatureError::Unsigned { .. }), "{error}");
        assert!(error.to_string().contains(&unsigned), "{error}");

        let untrusted = AllowedSigners::parse(&format!("bob@example.com {other}")).unwrap();
        let error = verify_commit(&signed_repo, "HEAD", &untrusted).unwrap_err();
        assert!(
            matches!(error, SignatureError::UntrustedKey { .. }),
            "{error}"
        );
        assert!(error.to_string().contains(&signed), "{error}");
        let error = verify_commit(&signed_repo, "HEAD", &AllowedSigners::default()).unwrap_err();
        assert!(
            matches!(error, SignatureError::UntrustedKey { .. }),
            "{error}"
        );

        // The same signature over a changed commit message.
        let object = git(&signed_repo, &["cat-file", "commit", "HEAD"]);
        assert!(object.contains("-----BEGIN SSH SIGNATURE-----"));
        let tampered_object = format!("{}\n", object.replace("\nsigned", "\nsigned, and changed"));
        let tampered_file = dir.path().join("tampered");
        std::fs::write(&tampered_file, tampered_object).unwrap();
        let tampered = git(
            &signed_repo,
            &[
                "hash-object",
                "-t",
                "commit",
                "-w",
                &tampered_file.display().to_string(),
            ],
        );
        let error = verify_commit(&signed_repo, &tampered, &allowed).unwrap_err();
        assert!(
            matches!(error, SignatureError::BadSignature { .. }),
            "{error}"
        );
        assert!(error.to_string().contains(&tampered), "{error}");
    }

    #[test]
    fn gpg_signatures_are_refused_as_unsupported() {
        let dir = tempfile::tempdir().unwrap();
        repo_with_commit(dir.path(), None);
        let tree = git(dir.path(), &["rev-parse", "HEAD^{tree}"]);
        let object = format!(
            "tree {tree}\nauthor T <t@example.com> 1700000000 +0000\n\
             committer T <t@example.com> 1700000000 +0000\n\
             gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEE\n -----END PGP SIGNATURE-----\n\n\
             gpg signed\n"
        );
        let file = dir.path().join("object");
        std::fs::write(&file, object).unwrap();
        let commit = git(
            dir.path(),
            &[
                "hash-object",
                "-t",
                "commit",
                "-w",
                &file.display().to_string(),
            ],
        );
        let error = verify_commit(dir.path(), &commit, &AllowedSigners::default()).unwrap_err();
        assert!(matches!(error, SignatureError::Gpg { .. }), "{error}");
        assert!(error.to_string().contains("SSH"), "{error}");
    }

    #[test]
    fn namespaces_and_validity_windows_restrict_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = keygen(dir.path(), "signer", "ed25519");
        repo_with_commit(dir.path(), Some(&key));
        for (options, reason) in [
            ("namespaces=\"file\"", "only for namespaces file"),
            ("valid-before=\"20000101\"", "no longer valid"),
            ("valid-after=\"29990101000000Z\"", "not yet valid"),
        ] {
            let signers =
                AllowedSigners::parse(&format!("alice@example.com {options} {public}")).unwrap();
            let error = verify_commit(dir.path(), "HEAD", &signers).unwrap_err();
            assert!(
                matches!(error, SignatureError::KeyNotAllowed { .. }),
                "{error}"
            );
            assert!(error.to_string().contains(reason), "{error}");
        }
        let window = format!(
            "alice@example.com valid-after=\"20000101\",valid-before=\"29990101\" {public}"
        );
        verify_commit(dir.path(), "HEAD", &AllowedSigners::parse(&window).unwrap()).unwrap();
    }

    #[test]
    fn allowed_signers_lines_that_cannot_be_read_are_refused_with_their_number() {
        let dir = tempfile::tempdir().unwrap();
        let (_, public) = keygen(dir.path(), "signer", "ed25519");
        for (text, needle) in [
            (
                format!("a@example.com {public}\nnot a key line\n"),
                "line 2",
            ),
            (
                format!("a@example.com cert-authority {public}"),
                "cert-authority",
            ),
            (
                format!("a@example.com valid-after=\"yesterday\" {public}"),
                "not a time",
            ),
            (format!("a@example.com frobnicate {public}"), "frobnicate"),
            (
                "a@example.com ssh-ed25519 AAAAnotbase64!".to_owned(),
                "bad public key",
            ),
        ] {
            let error = AllowedSigners::parse(&text).unwrap_err().to_string();
            assert!(error.contains(needle), "{text}: {error}");
        }
        let parsed =
            AllowedSigners::parse(&format!("\n# c\n{public}\n\"a@x b\" {public}\n")).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed.entries[1].principals, ["a@x b"]);
    }
}
