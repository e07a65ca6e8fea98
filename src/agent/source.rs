//! Where a worker reads the config repo it syncs ([`Origin`]): a Git
//! remote fetched into the agent's cache ([`repo::fetch`]), or a directory
//! on disk (`weir agent --path`). Reading it gives a [`Snapshot`]: the
//! pipeline's [`Source`] and the revision it is. A Sync's credentials come
//! from its Secret ([`remote_of`]), read by the worker and given here.

use std::path::PathBuf;

use serde_json::Value;

use super::resource::SyncObject;
use crate::pipeline::Source;
use crate::repo::{self, Auth, FetchError, FetchOptions, GitRef, Limits, Mirror, Remote};

/// Why the source could not be read (nothing in the cluster changes).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory of `weir agent --path` is gone or unreadable.
    #[error("cannot read {}", path.display())]
    Directory {
        path: PathBuf,
        #[source]
        source: repo::Error,
    },
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The credentials Secret is missing or lacks what the URL needs.
    #[error("{0}")]
    Credentials(String),
}

/// The `Result` of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One state of the source, ready for the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub source: Source,
    /// The commit (or, for a directory, the commit with `-dirty` and a
    /// hash of the files when they differ from it): what status and the
    /// inventory record.
    pub revision: String,
}

/// Where the config repo comes from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A directory on disk, read as it is (`weir agent --path`).
    Directory(PathBuf),
    /// A Git remote.
    Git(GitOrigin),
}

/// A Sync's Git source.
#[derive(Debug, Clone)]
pub struct GitOrigin {
    pub url: String,
    pub git_ref: GitRef,
    /// The config repo's directory inside the Git repository.
    pub path: Option<String>,
    pub mirror: Mirror,
}

/// The Git origin of `sync`, its mirror under `cache_dir`. `Err` says why
/// the Sync cannot be served.
pub fn git_origin(sync: &SyncObject, options: &super::Options) -> Result<Origin, String> {
    let url = sync.spec.url.trim().to_owned();
    if url.is_empty() {
        return Err("spec.url is empty".to_owned());
    }
    if repo::is_local(&url) && !options.allow_local_git {
        return Err(format!(
            "{url} is a path on the agent's own disk: a Sync may not read the agent's files \
             (use an https:// or ssh:// URL; `weir agent --allow-local-git` allows it on a \
             machine you alone use)"
        ));
    }
    let r = sync.spec.git_ref.clone().unwrap_or_default();
    let git_ref = match (r.branch, r.tag, r.commit) {
        (Some(b), None, None) => GitRef::Branch(b),
        (None, Some(t), None) => GitRef::Tag(t),
        (None, None, Some(c)) => GitRef::Commit(c),
        (None, None, None) => GitRef::Branch("main".to_owned()),
        _ => return Err("spec.ref names more than one of branch, tag and commit".to_owned()),
    };
    let path = sync
        .spec
        .path
        .as_deref()
        .map(|p| p.trim_matches('/').to_owned())
        .filter(|p| !p.is_empty() && p != ".");
    let mirror = Mirror::open(&options.cache_dir, &url).map_err(|e| e.to_string())?;
    Ok(Origin::Git(GitOrigin {
        mirror,
        url,
        git_ref,
        path,
    }))
}

/// The [`Remote`] of `url` with the credentials of a Secret read from the
/// API server (`None`: no Secret): `username` and `password` (a token as
/// the password alone), or `identity` (an SSH private key; the user is
/// `username`, else the URL's, else `git`), and `known_hosts`.
pub fn remote_of(url: &str, secret: Option<&Value>, secret_name: &str) -> Result<Remote> {
    let get = |key: &str| -> Option<String> {
        let bytes = super::http::secret_value(secret?, key)?;
        String::from_utf8(bytes).ok()
    };
    let known_hosts = get("known_hosts");
    let auth = if let Some(key) = get("identity") {
        Auth::SshKey {
            // Empty: the URL's user (`git@host`), else `git`.
            username: get("username").unwrap_or_default(),
            private_key: key,
            passphrase: get("password"),
        }
    } else if let Some(password) = get("password").or_else(|| get("token")) {
        Auth::Basic {
            username: get("username").unwrap_or_else(|| "git".to_owned()),
            password,
        }
    } else if secret.is_some() && known_hosts.is_none() {
        return Err(Error::Credentials(format!(
            "Secret {secret_name} has none of the keys username/password, token, identity or known_hosts"
        )));
    } else {
        Auth::None
    };
    Ok(Remote {
        url: url.to_owned(),
        auth,
        known_hosts,
    })
}

/// The chart repository credentials in a Secret (`chartCredentials`):
/// its key `credentials.yaml`, a YAML list of `{url, username, password}`
/// (the CLI's `$WEIR_CHART_CREDENTIALS` format), or the keys `url`,
/// `username` and `password` for one repository. Errors never quote the
/// Secret's values.
pub fn chart_credentials(
    secret: &Value,
    secret_name: &str,
) -> Result<crate::render::remote::Credentials> {
    use crate::render::remote::{Credential, Credentials};
    let get = |key: &str| -> Option<String> {
        let bytes = super::http::secret_value(secret, key)?;
        String::from_utf8(bytes).ok()
    };
    if let Some(text) = get("credentials.yaml") {
        return Credentials::parse(&text).map_err(|why| {
            Error::Credentials(format!(
                "the key credentials.yaml of Secret {secret_name} is {why}"
            ))
        });
    }
    match (get("url"), get("username"), get("password")) {
        (Some(url), Some(username), Some(password)) => {
            Ok(Credentials::from_entries(vec![Credential {
                url: url.trim().to_owned(),
                username: username.trim().to_owned(),
                password,
            }]))
        }
        _ => Err(Error::Credentials(format!(
            "Secret {secret_name} has neither the key credentials.yaml nor all of url, \
             username and password"
        ))),
    }
}

impl Origin {
    /// Reads the source's current state; `remote` is the Git remote with
    /// its credentials (ignored for a directory). Blocking (Git, the disk):
    /// call it from `spawn_blocking`.
    pub fn snapshot(&self, remote: Option<&Remote>, fetch: &FetchOptions) -> Result<Snapshot> {
        match self {
            Origin::Git(git) => {
                let plain;
                let remote = match remote {
                    Some(r) => r,
                    None => {
                        plain = Remote {
                            url: git.url.clone(),
                            auth: Auth::None,
                            known_hosts: None,
                        };
                        &plain
                    }
                };
                let fetched = git.mirror.fetch(remote, &git.git_ref, fetch)?;
                Ok(Snapshot {
                    source: Source::Revision {
                        repo: git.mirror.path().to_path_buf(),
                        rev: fetched.commit.clone(),
                        subdir: git.path.clone(),
                    },
                    revision: fetched.commit,
                })
            }
            Origin::Directory(path) => {
                let tree = repo::read_worktree(path, &Limits::default()).map_err(|source| {
                    Error::Directory {
                        path: path.clone(),
                        source,
                    }
                })?;
                let fingerprint =
                    tree.files()
                        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, (path, bytes)| {
                            let hash = crate::sync::inventory::fnv1a(path.as_bytes()) ^ hash;
                            hash.rotate_left(5) ^ crate::sync::inventory::fnv1a(bytes)
                        });
                let revision = match repo::commit_of(path, None) {
                    Some(commit) if !commit.ends_with(repo::DIRTY_SUFFIX) => commit,
                    Some(commit) => format!("{commit}.{fingerprint:016x}"),
                    None => format!("files.{fingerprint:016x}"),
                };
                Ok(Snapshot {
                    source: Source::Directory(path.clone()),
                    revision,
                })
            }
        }
    }

    /// How messages name it (never with credentials).
    pub fn describe(&self) -> String {
        match self {
            Origin::Directory(path) => path.display().to_string(),
            Origin::Git(git) => format!("{} ({})", repo::redact_url(&git.url), git.git_ref),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::resource::{Metadata, SyncSpec};

    fn secret(data: &[(&str, &str)]) -> Value {
        use base64::Engine as _;
        let data: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| {
                (
                    (*k).to_owned(),
                    Value::String(base64::engine::general_purpose::STANDARD.encode(v)),
                )
            })
            .collect();
        serde_json::json!({ "data": data })
    }

    #[test]
    fn chart_credentials_come_from_a_list_or_one_login() {
        let list = secret(&[(
            "credentials.yaml",
            "- url: https://charts.example.com\n  username: a\n  password: hunter2\n",
        )]);
        let creds = chart_credentials(&list, "ns/charts").unwrap();
        let c = creds.for_repo("https://charts.example.com/stable").unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("a", "hunter2"));

        let one = secret(&[
            ("url", "oci://registry.example.com"),
            ("username", "b"),
            ("password", "hunter3"),
        ]);
        let creds = chart_credentials(&one, "ns/charts").unwrap();
        assert!(
            creds
                .for_repo("oci://registry.example.com/charts")
                .is_some()
        );

        // Errors say what is wrong without quoting the Secret.
        let bad = secret(&[("credentials.yaml", "url: hunter4-not-a-list\n")]);
        let err = chart_credentials(&bad, "ns/charts")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ns/charts") && !err.contains("hunter4"),
            "{err}"
        );
        let none = secret(&[("token", "x")]);
        let err = chart_credentials(&none, "ns/charts")
            .unwrap_err()
            .to_string();
        assert!(err.contains("credentials.yaml"), "{err}");
    }

    fn sync(url: &str) -> SyncObject {
        SyncObject {
            metadata: Metadata {
                name: "s".into(),
                namespace: "n".into(),
                ..Metadata::default()
            },
            spec: SyncSpec {
                url: url.into(),
                ..SyncSpec::default()
            },
            status: None,
        }
    }

    #[test]
    fn the_agents_own_disk_is_off_limits_unless_allowed() {
        let options = crate::agent::Options::default();
        for url in ["file:///etc/secrets.git", "/var/lib/other.git"] {
            let err = git_origin(&sync(url), &options).unwrap_err();
            assert!(err.contains("agent's own disk"), "{err}");
        }
        assert!(git_origin(&sync("https://git.example/p.git"), &options).is_ok());
        let allowed = crate::agent::Options {
            allow_local_git: true,
            ..options
        };
        assert!(git_origin(&sync("file:///srv/p.git"), &allowed).is_ok());
    }
}
