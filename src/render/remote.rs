//! Remote charts: a Component's Helm source that names a chart repository
//! (`https://…`, with its `index.yaml`) or an OCI registry (`oci://…`), a
//! chart name and a version or semver range.
//!
//! The real `helm pull` fetches them, in a Helm home of its own (no
//! repositories, logins or caches of the user's), within a time and output
//! limit like every tool weir runs; that home is a private (0700)
//! temporary directory, removed after the pull, and the only place helm
//! keeps a login. Credentials come from where weir runs, never from the
//! repo: the file `$WEIR_CHART_CREDENTIALS` names, or for the agent the
//! Sync's `chartCredentials` Secret ([`Credentials`], given to
//! [`HelmBinary::with_credentials`](super::HelmBinary::with_credentials));
//! a password reaches helm on its stdin, never on a command line, and is
//! scrubbed from every message. A repository that cannot be reached at all
//! is told apart from one that refuses ([`Fetched::Unreachable`]), so that
//! `weir validate` works offline.
//!
//! A fetched chart is kept in the chart cache (`$WEIR_CHART_CACHE`, else
//! `$XDG_CACHE_HOME/weir/charts`, else `~/.cache/weir/charts`), outside
//! the repo, by the SHA-256 of its archive, and checked against that digest
//! whenever it is read. A pinned version found in the cache is used
//! without the network (a chart version does not change); a range is
//! resolved again each run, and when the repository cannot be reached, its
//! last resolution in the cache is used. Resolution records the exact
//! version and the digest ([`Resolved`]); the same holds for the
//! dependencies a chart's `Chart.yaml` declares, fetched through here too
//! (`dependency_of`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::tool;
use super::{Error, Result};

/// Environment variable naming the chart cache directory.
pub const CACHE_ENV: &str = "WEIR_CHART_CACHE";
/// Environment variable naming the chart repository credentials file.
pub const CREDENTIALS_ENV: &str = "WEIR_CHART_CREDENTIALS";

/// Longest one `helm pull` (or login) may run: the network is slower than
/// a template.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest chart archive weir takes.
pub const MAX_ARCHIVE: u64 = 32 * 1024 * 1024;

/// One remote chart to fetch.
#[derive(Debug, Clone)]
pub struct ChartFetch<'a> {
    pub component: &'a str,
    /// `https://…` (a chart repository) or `oci://…` (a registry path).
    pub repo: &'a str,
    /// The chart's name in the repository.
    pub chart: &'a str,
    /// An exact version or a semver range (`~1.2.0`, `>=1.0 <2`).
    pub version: &'a str,
    /// Talk HTTP, not HTTPS, to an OCI registry (`plainHttp`).
    pub plain_http: bool,
    /// helm's data segment is capped at this many bytes (Linux).
    pub max_memory: u64,
    /// For a dependency of a chart, that chart's name.
    pub dependency_of: Option<&'a str>,
}

/// Which chart a remote source resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resolved {
    /// The repository, without credentials.
    pub repo: String,
    pub chart: String,
    /// The exact version.
    pub version: String,
    /// `sha256:<hex>` of the chart archive.
    pub digest: String,
    /// For a chart fetched as a dependency (`dependencies:` of a
    /// `Chart.yaml`), the chart that declares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependency_of: Option<String>,
    /// Whether this run read it from the cache without the network.
    #[serde(skip)]
    pub cached: bool,
}

impl Resolved {
    /// `postgres 1.2.3 from https://charts.example.com (sha256:ab12…)`,
    /// and `, a dependency of app` for a dependency: the one wording every
    /// printer (plan, diff, sync, the agent) uses.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "{} {} from {} ({})",
            self.chart, self.version, self.repo, self.digest
        );
        if let Some(parent) = &self.dependency_of {
            text.push_str(&format!(", a dependency of {parent}"));
        }
        text
    }
}

/// What came of fetching a chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The archive's bytes, from the cache, verified against its digest.
    Archive { resolved: Resolved, bytes: Vec<u8> },
    /// The repository refused (credentials, no such chart or version);
    /// helm's words, without credentials.
    Failed(String),
    /// The repository could not be reached (connection refused, no such
    /// host, timed out) and the cache has no resolution; helm's words.
    /// `weir validate` warns about it (it does not need the network);
    /// everything that applies stops on it like on [`Fetched::Failed`].
    Unreachable(String),
    /// Not fetched for want of helm (`weir validate` warns about it).
    Skipped,
}

/// One entry of the credentials file: basic auth for every repository
/// whose URL starts with `url`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    pub url: String,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("url", &crate::repo::redact_url(&self.url))
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The credentials of chart repositories on this machine: the YAML list
/// of [`Credential`]s in the file `$WEIR_CHART_CREDENTIALS` names.
#[derive(Debug, Default)]
pub struct Credentials {
    entries: Vec<Credential>,
}

impl Credentials {
    /// Reads `$WEIR_CHART_CREDENTIALS` (none when unset).
    pub fn from_env() -> Result<Self> {
        let Some(path) = std::env::var_os(CREDENTIALS_ENV) else {
            return Ok(Self::default());
        };
        let path = PathBuf::from(path);
        let bad = |why: String| Error::ChartCredentials {
            path: path.clone(),
            why,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
        Self::parse(&text).map_err(bad)
    }

    /// The YAML list of `{url, username, password}` of a credentials file
    /// (or of the agent's chart credentials Secret); `Err` says what is
    /// wrong without quoting the text (it holds passwords).
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let entries: Vec<Credential> = serde_yaml::from_str(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(" at line {}", l.line()))
                .unwrap_or_default();
            format!("not a list of {{url, username, password}}{at}")
        })?;
        Ok(Self { entries })
    }

    /// Credentials made of `entries`.
    pub fn from_entries(entries: Vec<Credential>) -> Self {
        Self { entries }
    }

    /// Every password, to scrub from messages.
    pub fn passwords(&self) -> Vec<&str> {
        self.entries.iter().map(|c| c.password.as_str()).collect()
    }

    /// The credential of `repo`: the entry with the longest `url` prefix.
    pub fn for_repo(&self, repo: &str) -> Option<&Credential> {
        let repo = repo.trim_end_matches('/');
        self.entries
            .iter()
            .filter(|c| {
                let url = c.url.trim_end_matches('/');
                repo == url || repo.starts_with(&format!("{url}/"))
            })
            .max_by_key(|c| c.url.len())
    }
}

/// Whether `version` is one exact version (not a range).
pub fn is_exact(version: &str) -> bool {
    static EXACT: OnceLock<Option<regex::Regex>> = OnceLock::new();
    EXACT
        .get_or_init(|| {
            regex::Regex::new(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$").ok()
        })
        .as_ref()
        .is_some_and(|re| re.is_match(version))
}

/// The chart cache directory.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(CACHE_ENV) {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("weir").join("charts"))
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(&Sha256::digest(bytes)[..]))
}

/// What the cache remembers of one resolution.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IndexEntry {
    version: String,
    digest: String,
}

/// The chart cache: archives by digest, and which (repository, chart,
/// version or range) resolved to which.
struct Cache {
    dir: PathBuf,
}

impl Cache {
    fn archive(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{}.tgz", digest.replace(':', "-")))
    }

    fn index(&self, repo: &str, chart: &str, version: &str) -> PathBuf {
        let key = digest(format!("{repo}\n{chart}\n{version}").as_bytes());
        self.dir
            .join("index")
            .join(format!("{}.json", key.replace(':', "-")))
    }

    /// The archive of a resolution, when it is cached and matches its digest.
    fn lookup(&self, repo: &str, chart: &str, version: &str) -> Option<(IndexEntry, Vec<u8>)> {
        let text = std::fs::read(self.index(repo, chart, version)).ok()?;
        let entry: IndexEntry = serde_json::from_slice(&text).ok()?;
        let path = self.archive(&entry.digest);
        let bytes = std::fs::read(&path).ok()?;
        if digest(&bytes) != entry.digest {
            // Changed on disk: not trusted, fetched again.
            let _ = std::fs::remove_file(&path);
            return None;
        }
        Some((entry, bytes))
    }

    /// Stores an archive and its resolution; returns the archive's path.
    fn store(
        &self,
        repo: &str,
        chart: &str,
        version: &str,
        entry: &IndexEntry,
        bytes: &[u8],
    ) -> std::io::Result<()> {
        std::fs::create_dir_all(self.dir.join("index"))?;
        let path = self.archive(&entry.digest);
        write_atomic(&path, bytes)?;
        let index = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        write_atomic(&self.index(repo, chart, version), &index)?;
        // A pinned lookup of the exact version finds it too.
        if version != entry.version {
            write_atomic(&self.index(repo, chart, &entry.version), &index)?;
        }
        Ok(())
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Fetches `request` with the helm at `helm`: from the cache (`cache`, else
/// [`cache_dir`]) when it can, else by `helm pull` (see the module
/// documentation).
pub(super) fn fetch(
    helm: &Path,
    credentials: &Credentials,
    cache: Option<&Path>,
    request: &ChartFetch<'_>,
) -> Result<Fetched> {
    let shown_repo = crate::repo::redact_url(request.repo);
    let cache = Cache {
        dir: match cache {
            Some(dir) => dir.to_owned(),
            None => cache_dir().ok_or_else(|| Error::ChartCache {
                why: format!("neither {CACHE_ENV}, XDG_CACHE_HOME nor HOME is set"),
            })?,
        },
    };
    let resolved = |entry: IndexEntry, cached: bool| Resolved {
        repo: shown_repo.clone(),
        chart: request.chart.to_owned(),
        version: entry.version,
        digest: entry.digest,
        dependency_of: request.dependency_of.map(str::to_owned),
        cached,
    };
    if is_exact(request.version)
        && let Some((entry, bytes)) = cache.lookup(request.repo, request.chart, request.version)
    {
        return Ok(Fetched::Archive {
            resolved: resolved(entry, true),
            bytes,
        });
    }
    let credential = credentials.for_repo(request.repo);
    match pull(helm, credential, request)? {
        Ok(bytes) => {
            let entry = IndexEntry {
                version: version_of(request.chart, &bytes.0)
                    .unwrap_or_else(|| request.version.trim_start_matches('v').to_owned()),
                digest: digest(&bytes.1),
            };
            cache
                .store(
                    request.repo,
                    request.chart,
                    request.version,
                    &entry,
                    &bytes.1,
                )
                .map_err(|e| Error::ChartCache {
                    why: format!("writing to {}: {e}", cache.dir.display()),
                })?;
            Ok(Fetched::Archive {
                resolved: resolved(entry, false),
                bytes: bytes.1,
            })
        }
        Err(message) => {
            // A range the repository cannot answer now: its last resolution.
            if let Some((entry, bytes)) = cache.lookup(request.repo, request.chart, request.version)
            {
                tracing::warn!(
                    "chart repository {shown_repo} unreachable; using the cached resolution of {} {}",
                    request.chart,
                    request.version
                );
                return Ok(Fetched::Archive {
                    resolved: resolved(entry, true),
                    bytes,
                });
            }
            let message = crate::repo::redact_text(&message, &credentials.passwords());
            Ok(if is_unreachable(&message) {
                Fetched::Unreachable(message)
            } else {
                Fetched::Failed(message)
            })
        }
    }
}

/// Whether helm's message says the repository could not be reached at
/// all (as opposed to refusing what was asked).
pub fn is_unreachable(message: &str) -> bool {
    const WORDS: [&str; 8] = [
        "connection refused",
        "no such host",
        "i/o timeout",
        "network is unreachable",
        "no route to host",
        "connection reset",
        "context deadline exceeded",
        "did not finish within",
    ];
    let lower = message.to_lowercase();
    WORDS.iter().any(|w| lower.contains(w))
}

/// `postgres-1.2.3.tgz` → `1.2.3`.
fn version_of(chart: &str, file_name: &str) -> Option<String> {
    file_name
        .strip_prefix(&format!("{chart}-"))?
        .strip_suffix(".tgz")
        .map(str::to_owned)
}

/// Runs `helm pull` (after `helm repo add` or `helm registry login` when
/// there are credentials) in a Helm home of its own. `Ok(Ok((file name,
/// bytes)))` is the archive; `Ok(Err(message))` what helm said.
fn pull(
    helm: &Path,
    credential: Option<&Credential>,
    request: &ChartFetch<'_>,
) -> Result<std::result::Result<(String, Vec<u8>), String>> {
    let tmp_err = |source| Error::TempDir {
        component: request.component.to_owned(),
        source,
    };
    let tmp = tempfile::Builder::new()
        .prefix("weir-pull-")
        .tempdir()
        .map_err(tmp_err)?;
    // helm keeps a login there (repositories.yaml, registry.json): for
    // this process's user alone, and removed when `tmp` is dropped.
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o700))
            .map_err(tmp_err)?;
    }
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).map_err(tmp_err)?;
    let oci = request.repo.starts_with("oci://");
    let run = |args: &[&str], stdin: Option<&str>| -> Result<std::result::Result<(), String>> {
        let mut command = Command::new(helm);
        command
            .args(args)
            .env("HELM_CACHE_HOME", tmp.path().join("cache"))
            .env("HELM_CONFIG_HOME", tmp.path().join("config"))
            .env("HELM_DATA_HOME", tmp.path().join("data"))
            .env(
                "HELM_REGISTRY_CONFIG",
                tmp.path().join("config").join("registry.json"),
            )
            .env(
                "HELM_REPOSITORY_CONFIG",
                tmp.path().join("config").join("repositories.yaml"),
            )
            .env(
                "HELM_REPOSITORY_CACHE",
                tmp.path().join("cache").join("repository"),
            );
        let bounds = tool::Bounds {
            timeout: FETCH_TIMEOUT,
            max_output: 1024 * 1024,
            max_memory: request.max_memory,
        };
        let run = tool::run(command, stdin.map(str::as_bytes), &bounds).map_err(|source| {
            Error::ToolRun {
                path: helm.to_owned(),
                source,
            }
        })?;
        Ok(match run {
            tool::Run::Succeeded(_) => Ok(()),
            tool::Run::Failed { status, stderr } => {
                let text = stderr.trim();
                Err(if text.is_empty() {
                    format!("helm exited with {status}")
                } else {
                    text.to_owned()
                })
            }
            tool::Run::Stopped(_) => Err(format!(
                "helm did not finish within {}",
                crate::sync::plan::format_duration(FETCH_TIMEOUT)
            )),
        })
    };
    let out_text = out.to_string_lossy().into_owned();
    let outcome = if oci {
        if let Some(c) = credential {
            let host = request
                .repo
                .trim_start_matches("oci://")
                .split('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            let mut args = vec!["registry", "login", host.as_str(), "--username"];
            args.push(c.username.as_str());
            args.push("--password-stdin");
            if request.plain_http {
                args.push("--plain-http");
            }
            if let Err(message) = run(&args, Some(c.password.as_str()))? {
                return Ok(Err(message));
            }
        }
        let reference = format!("{}/{}", request.repo.trim_end_matches('/'), request.chart);
        let mut args = vec![
            "pull",
            reference.as_str(),
            "--version",
            request.version,
            "--destination",
            out_text.as_str(),
        ];
        if request.plain_http {
            args.push("--plain-http");
        }
        run(&args, None)?
    } else {
        let mut args = vec!["repo", "add", "weir-remote", request.repo];
        if let Some(c) = credential {
            args.extend(["--username", c.username.as_str(), "--password-stdin"]);
        }
        if let Err(message) = run(&args, credential.map(|c| c.password.as_str()))? {
            return Ok(Err(message));
        }
        let name = format!("weir-remote/{}", request.chart);
        run(
            &[
                "pull",
                name.as_str(),
                "--version",
                request.version,
                "--destination",
                out_text.as_str(),
            ],
            None,
        )?
    };
    if let Err(message) = outcome {
        return Ok(Err(message));
    }
    let archive = std::fs::read_dir(&out)
        .map_err(tmp_err)?
        .filter_map(std::result::Result::ok)
        .find(|e| e.file_name().to_string_lossy().ends_with(".tgz"));
    let Some(archive) = archive else {
        return Ok(Err("helm pull wrote no chart archive".to_owned()));
    };
    let size = archive.metadata().map_err(tmp_err)?.len();
    if size > MAX_ARCHIVE {
        return Ok(Err(format!(
            "the chart archive is {size} bytes, more than weir takes ({MAX_ARCHIVE})"
        )));
    }
    let bytes = std::fs::read(archive.path()).map_err(tmp_err)?;
    Ok(Ok((
        archive.file_name().to_string_lossy().into_owned(),
        bytes,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_versions_and_ranges() {
        for v in ["1.2.3", "v0.1.0", "1.0.0-rc.1", "2.0.0+build.5"] {
            assert!(is_exact(v), "{v}");
        }
        for v in ["~1.2.0", "^1", ">=1.0.0 <2.0.0", "1.2", "1.2.x", "*"] {
            assert!(!is_exact(v), "{v}");
        }
    }

    #[test]
    fn the_longest_matching_credential_wins() {
        let creds = Credentials {
            entries: vec![
                Credential {
                    url: "https://charts.example.com".into(),
                    username: "a".into(),
                    password: "hunter2".into(),
                },
                Credential {
                    url: "https://charts.example.com/team/".into(),
                    username: "b".into(),
                    password: "hunter3".into(),
                },
            ],
        };
        assert_eq!(
            creds
                .for_repo("https://charts.example.com/team/stable")
                .map(|c| c.username.as_str()),
            Some("b")
        );
        assert_eq!(
            creds
                .for_repo("https://charts.example.com")
                .map(|c| c.username.as_str()),
            Some("a")
        );
        assert!(creds.for_repo("https://charts.example.community").is_none());
        assert!(!format!("{creds:?}").contains("hunter"));
    }

    #[test]
    fn file_names_give_versions() {
        assert_eq!(
            version_of("demo", "demo-0.1.0.tgz").as_deref(),
            Some("0.1.0")
        );
        assert_eq!(version_of("demo", "other-0.1.0.tgz"), None);
    }
}
