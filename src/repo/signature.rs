//! Commit signatures: is a commit signed by a key the policy trusts?
//! SSH signatures (`git config gpg.format ssh`), checked with the
//! `ssh-key` crate against an allow-list in OpenSSH `allowed_signers` form
//! ([`AllowedSigners`]) over exactly what Git signed (the commit without
//! its `gpgsig` header), in Git's `git` namespace. GPG signatures are
//! recognised and refused as unsupported.

use std::path::Path;

use git2::{Oid, Repository};
use ssh_key::{PublicKey, SshSig};

/// Why a commit is not trusted.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("commit {commit} is not signed")]
    Unsigned { commit: String },
    #[error(
        "commit {commit} is signed with a GPG key; weir verifies SSH signatures (git config gpg.format ssh)"
    )]
    Gpg { commit: String },
    #[error(
        "commit {commit} is signed by a key that is not in the allowed signers ({fingerprint})"
    )]
    Untrusted { commit: String, fingerprint: String },
    #[error(
        "commit {commit} has a signature that does not verify: the commit or the signature was changed"
    )]
    Invalid { commit: String },
    #[error("the signature of commit {commit} cannot be read: {reason}")]
    Malformed { commit: String, reason: String },
    #[error("cannot read commit {commit}")]
    Git {
        commit: String,
        #[source]
        source: git2::Error,
    },
}

/// The keys whose signatures are trusted.
#[derive(Debug, Clone, Default)]
pub struct AllowedSigners {
    keys: Vec<(String, PublicKey)>,
}

/// Who signed a trusted commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The principal of its `allowed_signers` line (or its comment).
    pub principal: String,
    pub fingerprint: String,
}

impl AllowedSigners {
    /// Parses `allowed_signers` lines (`principals [options] keytype
    /// base64 [comment]`) or `authorized_keys`-like ones (`keytype base64
    /// comment`); lines without a key are skipped.
    pub fn parse(text: &str) -> Self {
        let mut keys = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let found = fields.windows(2).enumerate().find_map(|(i, pair)| {
                PublicKey::from_openssh(&format!("{} {}", pair[0], pair[1]))
                    .ok()
                    .map(|k| (i, k))
            });
            if let Some((i, key)) = found {
                let principal = if i > 0 {
                    fields[0].to_owned()
                } else {
                    fields.get(2).copied().unwrap_or("").to_owned()
                };
                keys.push((principal, key));
            }
        }
        Self { keys }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Verifies that `commit` of the repository at `repo` carries an SSH
/// signature by one of `signers`.
pub fn verify_commit(
    repo: &Path,
    commit: &str,
    signers: &AllowedSigners,
) -> Result<Signer, SignatureError> {
    let git = |source| SignatureError::Git {
        commit: commit.to_owned(),
        source,
    };
    let repository = Repository::open(repo).map_err(git)?;
    let oid = Oid::from_str(commit).map_err(git)?;
    let (signature, signed) = match repository.extract_signature(&oid, None) {
        Ok(pair) => pair,
        Err(e) if e.code() == git2::ErrorCode::NotFound => {
            return Err(SignatureError::Unsigned {
                commit: commit.to_owned(),
            });
        }
        Err(e) => return Err(git(e)),
    };
    let text = String::from_utf8_lossy(&signature);
    if text.contains("BEGIN PGP SIGNATURE") {
        return Err(SignatureError::Gpg {
            commit: commit.to_owned(),
        });
    }
    let sig = SshSig::from_pem(text.as_bytes()).map_err(|e| SignatureError::Malformed {
        commit: commit.to_owned(),
        reason: e.to_string(),
    })?;
    let key = PublicKey::from(sig.public_key().clone());
    let fingerprint = key.fingerprint(ssh_key::HashAlg::Sha256).to_string();
    let Some((principal, trusted)) = signers
        .keys
        .iter()
        .find(|(_, k)| k.key_data() == key.key_data())
    else {
        return Err(SignatureError::Untrusted {
            commit: commit.to_owned(),
            fingerprint,
        });
    };
    trusted
        .verify("git", &signed, &sig)
        .map_err(|_| SignatureError::Invalid {
            commit: commit.to_owned(),
        })?;
    Ok(Signer {
        principal: principal.clone(),
        fingerprint,
    })
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    fn keygen(dir: &Path, name: &str) -> (std::path::PathBuf, String) {
        let path = dir.join(name);
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success());
        let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
        (path, public.trim().to_owned())
    }

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
                "-c",
                "gpg.format=ssh",
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

    #[test]
    fn signed_unsigned_untrusted() {
        let dir = tempfile::tempdir().unwrap();
        let keys = tempfile::tempdir().unwrap();
        let (trusted_key, trusted_pub) = keygen(keys.path(), "alice");
        let (other_key, _) = keygen(keys.path(), "mallory");
        git(dir.path(), &["init", "-q"]);
        std::fs::write(dir.path().join("a"), "1").unwrap();
        git(dir.path(), &["add", "."]);
        git(dir.path(), &["commit", "-qm", "unsigned"]);
        let unsigned = git(dir.path(), &["rev-parse", "HEAD"]);
        std::fs::write(dir.path().join("a"), "2").unwrap();
        let signing = format!("user.signingkey={}", trusted_key.display());
        git(
            dir.path(),
            &["-c", &signing, "commit", "-S", "-qam", "signed"],
        );
        let signed = git(dir.path(), &["rev-parse", "HEAD"]);
        std::fs::write(dir.path().join("a"), "3").unwrap();
        let other = format!("user.signingkey={}", other_key.display());
        git(
            dir.path(),
            &["-c", &other, "commit", "-S", "-qam", "by someone else"],
        );
        let untrusted = git(dir.path(), &["rev-parse", "HEAD"]);

        let signers = AllowedSigners::parse(&format!("alice@weir.dev {trusted_pub}\n"));
        let who = verify_commit(dir.path(), &signed, &signers).unwrap();
        assert_eq!(who.principal, "alice@weir.dev");
        assert!(matches!(
            verify_commit(dir.path(), &unsigned, &signers),
            Err(SignatureError::Unsigned { .. })
        ));
        assert!(matches!(
            verify_commit(dir.path(), &untrusted, &signers),
            Err(SignatureError::Untrusted { .. })
        ));
        // authorized_keys form.
        let signers = AllowedSigners::parse(&trusted_pub);
        assert!(verify_commit(dir.path(), &signed, &signers).is_ok());
    }
}
