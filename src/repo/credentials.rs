//! [`Auth`], the credentials a remote is fetched with, and the answers to
//! libgit2's credential requests: each kind of credential is offered once,
//! so wrong credentials end the fetch as an authentication failure instead
//! of libgit2 asking again forever. No credential is ever logged or
//! formatted: [`Auth`]'s `Debug` names the kind and the user only.

use std::fmt;

use git2::{Cred, CredentialType};

/// How to authenticate to a remote.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Auth {
    /// Anonymous (public repositories, `file://`).
    #[default]
    None,
    /// HTTP basic authentication. A token is a password: GitHub takes any
    /// user name with it (`x-access-token` by convention), GitLab
    /// `oauth2`.
    Basic { username: String, password: String },
    /// An SSH private key in OpenSSH or PEM format. An empty `username`
    /// means the one in the URL (`git@…`), else `git`.
    SshKey {
        username: String,
        private_key: String,
        passphrase: Option<String>,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Auth::SshKey {
                username,
                passphrase,
                ..
            } => f
                .debug_struct("SshKey")
                .field("username", username)
                .field("private_key", &"<redacted>")
                .field("passphrase", &passphrase.as_ref().map(|_| "<redacted>"))
                .finish(),
        }
    }
}

impl Auth {
    /// The secret strings of these credentials, to scrub from messages.
    pub(crate) fn secrets(&self) -> Vec<&str> {
        match self {
            Auth::None => Vec::new(),
            Auth::Basic { password, .. } => vec![password.as_str()],
            Auth::SshKey {
                private_key,
                passphrase,
                ..
            } => {
                let mut secrets: Vec<&str> = private_key
                    .lines()
                    .filter(|line| !line.starts_with("-----"))
                    .collect();
                secrets.extend(passphrase.as_deref());
                secrets
            }
        }
    }

    /// What these credentials are, in words, for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Auth::None => "no credentials",
            Auth::Basic { .. } => "a user name and password",
            Auth::SshKey { .. } => "an SSH key",
        }
    }
}

/// Why a credential request was refused; the fetch maps it to its error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The server asks for credentials and there are none.
    NoCredentials,
    /// The credentials were offered and the server asked again.
    Rejected,
    /// The server wants another kind of credentials (what it allows).
    WrongKind(CredentialType),
    /// libgit2 could not build the credential (e.g. a key it cannot read).
    Unusable,
}

/// Answers libgit2's credential requests for one fetch.
pub(crate) struct Responder<'a> {
    auth: &'a Auth,
    offered_username: bool,
    offered_secret: bool,
}

impl<'a> Responder<'a> {
    pub fn new(auth: &'a Auth) -> Self {
        Self {
            auth,
            offered_username: false,
            offered_secret: false,
        }
    }

    /// The credential for one request: `username_from_url` is the user in
    /// the URL, `allowed` what the server accepts.
    pub fn respond(
        &mut self,
        username_from_url: Option<&str>,
        allowed: CredentialType,
    ) -> Result<Cred, Refusal> {
        match self.auth {
            Auth::None => Err(Refusal::NoCredentials),
            Auth::Basic { username, password } => {
                if !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                    return Err(Refusal::WrongKind(allowed));
                }
                if std::mem::replace(&mut self.offered_secret, true) {
                    return Err(Refusal::Rejected);
                }
                Cred::userpass_plaintext(username, password).map_err(|_| Refusal::Unusable)
            }
            Auth::SshKey {
                username,
                private_key,
                passphrase,
            } => {
                let user = if !username.is_empty() {
                    username.as_str()
                } else {
                    username_from_url.unwrap_or("git")
                };
                if allowed.contains(CredentialType::USERNAME) {
                    if std::mem::replace(&mut self.offered_username, true) {
                        return Err(Refusal::Rejected);
                    }
                    return Cred::username(user).map_err(|_| Refusal::Unusable);
                }
                if !allowed.contains(CredentialType::SSH_KEY) {
                    return Err(Refusal::WrongKind(allowed));
                }
                if std::mem::replace(&mut self.offered_secret, true) {
                    return Err(Refusal::Rejected);
                }
                Cred::ssh_key_from_memory(user, None, private_key, passphrase.as_deref())
                    .map_err(|_| Refusal::Unusable)
            }
        }
    }
}

/// What a server accepts, in words (for [`Refusal::WrongKind`]).
pub(crate) fn describe(allowed: CredentialType) -> String {
    let mut kinds = Vec::new();
    if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
        kinds.push("a user name and password (or token)");
    }
    if allowed.intersects(CredentialType::SSH_KEY | CredentialType::SSH_MEMORY) {
        kinds.push("an SSH key");
    }
    if allowed.contains(CredentialType::SSH_INTERACTIVE) {
        kinds.push("keyboard-interactive SSH login");
    }
    if allowed.contains(CredentialType::DEFAULT) {
        kinds.push("Negotiate/NTLM");
    }
    if kinds.is_empty() {
        "no kind of credentials weir supports".to_owned()
    } else {
        kinds.join(" or ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let basic = Auth::Basic {
            username: "x-access-token".into(),
            password: "ghp_secret_token".into(),
        };
        let key = Auth::SshKey {
            username: "git".into(),
            private_key: "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n".into(),
            passphrase: Some("pass phrase".into()),
        };
        let shown = format!("{basic:?} {key:?} {basic:#?} {key:#?}");
        for secret in ["ghp_secret_token", "b3BlbnNzaC1rZXk", "pass phrase"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("x-access-token"));
        assert_eq!(key.secrets(), vec!["b3BlbnNzaC1rZXk=", "pass phrase"]);
    }

    #[test]
    fn each_credential_is_offered_once() {
        let basic = Auth::Basic {
            username: "u".into(),
            password: "p".into(),
        };
        let mut responder = Responder::new(&basic);
        assert!(
            responder
                .respond(None, CredentialType::USER_PASS_PLAINTEXT)
                .is_ok()
        );
        assert_eq!(
            responder
                .respond(None, CredentialType::USER_PASS_PLAINTEXT)
                .err(),
            Some(Refusal::Rejected)
        );
        assert_eq!(
            Responder::new(&basic)
                .respond(None, CredentialType::SSH_KEY)
                .err(),
            Some(Refusal::WrongKind(CredentialType::SSH_KEY))
        );
        assert_eq!(
            Responder::new(&Auth::None)
                .respond(None, CredentialType::USER_PASS_PLAINTEXT)
                .err(),
            Some(Refusal::NoCredentials)
        );
        assert_eq!(
            describe(CredentialType::SSH_KEY | CredentialType::USER_PASS_PLAINTEXT),
            "a user name and password (or token) or an SSH key"
        );
    }
}
