//! Unit tests of [`Mirror::fetch`](super::Mirror::fetch) with real Git
//! repositories served over `file://`, and a loopback TCP server that
//! accepts connections and never answers (the fetch must time out).

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::super::testutil::git;
use super::super::{Limits, read_revision};
use super::*;

/// An upstream work-tree repository served as `file://`, and a cache.
struct Upstream {
    _dir: tempfile::TempDir,
    work: PathBuf,
    cache: PathBuf,
}

impl Upstream {
    fn new() -> Upstream {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("upstream");
        std::fs::create_dir(&work).unwrap();
        git(&work, &["init", "--quiet", "--initial-branch=main"]);
        let cache = dir.path().join("cache");
        let upstream = Upstream {
            _dir: dir,
            work,
            cache,
        };
        upstream.commit("weir.yaml", "first");
        upstream
    }

    fn url(&self) -> String {
        format!("file://{}", self.work.display())
    }

    fn remote(&self) -> Remote {
        Remote {
            url: self.url(),
            auth: Auth::None,
            known_hosts: None,
        }
    }

    fn mirror(&self) -> Mirror {
        Mirror::open(&self.cache, &self.url()).unwrap()
    }

    /// Writes `content` to `file`, commits it and returns the commit.
    fn commit(&self, file: &str, content: &str) -> String {
        std::fs::write(self.work.join(file), content).unwrap();
        git(&self.work, &["add", "."]);
        git(&self.work, &["commit", "--quiet", "-m", content]);
        self.git(&["rev-parse", "HEAD"])
    }

    fn git(&self, args: &[&str]) -> String {
        git(&self.work, args)
    }
}

fn fetch(mirror: &Mirror, remote: &Remote, want: GitRef) -> Result<Fetched> {
    mirror.fetch(remote, &want, &FetchOptions::default())
}

fn branch(name: &str) -> GitRef {
    GitRef::Branch(name.to_owned())
}

/// Whether the mirror holds `commit`.
fn has(mirror: &Mirror, commit: &str) -> bool {
    let repo = Repository::open_bare(mirror.path()).unwrap();
    repo.find_commit(Oid::from_str(commit).unwrap()).is_ok()
}

/// The mirror's refs, sorted.
fn refs(mirror: &Mirror) -> Vec<String> {
    let repo = Repository::open_bare(mirror.path()).unwrap();
    let mut names: Vec<String> = repo
        .references()
        .unwrap()
        .map(|r| r.unwrap().name().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_branch_is_cloned_then_fetched_and_followed_backwards_after_a_force_push() {
    let upstream = Upstream::new();
    let mirror = upstream.mirror();
    let first = upstream.git(&["rev-parse", "HEAD"]);

    let fetched = fetch(&mirror, &upstream.remote(), branch("main")).unwrap();
    assert_eq!(fetched.commit, first);
    assert!(fetched.received_bytes > 0);
    // The mirror is a bare repository the readers take.
    let tree = read_revision(mirror.path(), &fetched.commit, None, &Limits::default()).unwrap();
    assert_eq!(tree.commit(), Some(first.as_str()));
    assert!(mirror.path().join("weir-url").is_file());

    let second = upstream.commit("weir.yaml", "second");
    let fetched = fetch(&mirror, &upstream.remote(), branch("refs/heads/main")).unwrap();
    assert_eq!(fetched.commit, second);

    // Nothing new: nothing downloaded.
    let again = fetch(&mirror, &upstream.remote(), branch("main")).unwrap();
    assert_eq!(
        (again.commit.as_str(), again.received_bytes),
        (second.as_str(), 0)
    );

    // A force-push back to the first commit moves the branch backwards.
    upstream.git(&["reset", "--quiet", "--hard", &first]);
    let fetched = fetch(&mirror, &upstream.remote(), branch("main")).unwrap();
    assert_eq!(fetched.commit, first);
}

/// libgit2's `file://` transport sends the objects of every remote ref
/// whatever was asked (a smart server sends only what the wanted ref
/// needs: tests/git_fetch.rs checks that over HTTP), so here only the
/// refs written are checked.
#[test]
fn only_the_wanted_branch_is_fetched() {
    let upstream = Upstream::new();
    upstream.git(&["checkout", "--quiet", "-b", "other"]);
    let other = upstream.commit("other.yaml", "only on other");
    upstream.git(&["checkout", "--quiet", "main"]);
    let mirror = upstream.mirror();

    let main = fetch(&mirror, &upstream.remote(), branch("main")).unwrap();
    assert!(has(&mirror, &main.commit));
    assert_eq!(refs(&mirror), ["refs/heads/main"]);

    let fetched = fetch(&mirror, &upstream.remote(), branch("other")).unwrap();
    assert_eq!(fetched.commit, other);
    assert_eq!(refs(&mirror), ["refs/heads/main", "refs/heads/other"]);
}

#[test]
fn tags_lightweight_and_annotated_are_peeled_to_their_commit_and_moved_tags_followed() {
    let upstream = Upstream::new();
    let first = upstream.git(&["rev-parse", "HEAD"]);
    upstream.git(&["tag", "light"]);
    upstream.git(&["tag", "-a", "-m", "release", "v1.0.0"]);
    let second = upstream.commit("weir.yaml", "second");
    let mirror = upstream.mirror();

    for tag in ["light", "v1.0.0", "refs/tags/v1.0.0"] {
        let fetched = fetch(&mirror, &upstream.remote(), GitRef::Tag(tag.into())).unwrap();
        assert_eq!(fetched.commit, first, "{tag}");
    }
    assert_eq!(refs(&mirror), ["refs/tags/light", "refs/tags/v1.0.0"]);

    upstream.git(&["tag", "-f", "-a", "-m", "release again", "v1.0.0"]);
    let fetched = fetch(&mirror, &upstream.remote(), GitRef::Tag("v1.0.0".into())).unwrap();
    assert_eq!(fetched.commit, second);
}

#[test]
fn a_commit_is_fetched_by_full_or_abbreviated_id() {
    let upstream = Upstream::new();
    upstream.git(&["checkout", "--quiet", "-b", "feature"]);
    let feature = upstream.commit("feature.yaml", "feature");
    let older = upstream.commit("feature.yaml", "feature 2");
    upstream.git(&["checkout", "--quiet", "main"]);

    let mirror = upstream.mirror();
    let fetched = fetch(&mirror, &upstream.remote(), GitRef::Commit(feature.clone())).unwrap();
    assert_eq!(fetched.commit, feature);

    let fresh = Mirror::open(&upstream.cache.join("other"), &upstream.url()).unwrap();
    let fetched = fetch(
        &fresh,
        &upstream.remote(),
        GitRef::Commit(older[..7].to_uppercase()),
    )
    .unwrap();
    assert_eq!(fetched.commit, older);

    // Known locally: nothing is downloaded, the answer is the same.
    let again = fetch(&fresh, &upstream.remote(), GitRef::Commit(older.clone())).unwrap();
    assert_eq!((again.commit, again.received_bytes), (older, 0));
}

#[test]
fn unknown_refs_and_commits_are_clear_errors() {
    let upstream = Upstream::new();
    upstream.git(&["branch", "develop"]);
    upstream.git(&["tag", "v1"]);
    let mirror = upstream.mirror();

    let error = fetch(&mirror, &upstream.remote(), branch("mian")).unwrap_err();
    assert!(matches!(error, FetchError::RefNotFound { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("branch `mian` does not exist in file://"),
        "{message}"
    );
    assert!(message.contains("it has: develop, main"), "{message}");

    let error = fetch(&mirror, &upstream.remote(), GitRef::Tag("v2".into())).unwrap_err();
    assert!(error.to_string().contains("it has: v1"), "{error}");

    let missing = "0123456789abcdef0123456789abcdef01234567";
    let error = fetch(&mirror, &upstream.remote(), GitRef::Commit(missing.into())).unwrap_err();
    assert!(
        matches!(error, FetchError::CommitNotFound { .. }),
        "{error}"
    );
    assert!(error.to_string().contains(missing), "{error}");

    for invalid in [
        GitRef::Commit("xyz".into()),
        GitRef::Commit("abc".into()),
        branch("a..b"),
        branch("main:refs/heads/evil"),
        GitRef::Tag(String::new()),
    ] {
        let error = fetch(&mirror, &upstream.remote(), invalid.clone()).unwrap_err();
        assert!(
            matches!(error, FetchError::InvalidRef { .. }),
            "{invalid}: {error}"
        );
    }
}

#[test]
fn a_fetch_larger_than_max_bytes_is_aborted_naming_the_limit() {
    let upstream = Upstream::new();
    // 1 MiB that does not compress.
    let mut noise = vec![0u8; 1 << 20];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for byte in &mut noise {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
    std::fs::write(upstream.work.join("noise.bin"), &noise).unwrap();
    upstream.git(&["add", "."]);
    upstream.git(&["commit", "--quiet", "-m", "noise"]);
    let mirror = upstream.mirror();

    let options = FetchOptions {
        max_bytes: 64 * 1024,
        ..FetchOptions::default()
    };
    let error = mirror
        .fetch(&upstream.remote(), &branch("main"), &options)
        .unwrap_err();
    assert!(
        matches!(error, FetchError::TooLarge { limit: 65536, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("65536 bytes"), "{error}");

    // Within the limit the same fetch succeeds.
    fetch(&mirror, &upstream.remote(), branch("main")).unwrap();
}

/// A loopback server that accepts connections and never answers; it
/// drops them after `hold`.
fn silent_server(hold: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let (sender, receiver) = mpsc::channel();
        let holder = thread::spawn(move || {
            let started = Instant::now();
            let mut held = Vec::new();
            while let Some(left) = hold.checked_sub(started.elapsed()) {
                match receiver.recv_timeout(left) {
                    Ok(stream) => held.push(stream),
                    Err(_) => break,
                }
            }
        });
        for stream in listener.incoming().flatten() {
            if sender.send(stream).is_err() {
                break;
            }
        }
        holder.join().unwrap();
    });
    port
}

#[test]
fn a_server_that_never_answers_times_out_and_keeps_the_mirror_locked_until_it_lets_go() {
    let port = silent_server(Duration::from_secs(6));
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/repo.git");
    let mirror = Mirror::open(dir.path(), &url).unwrap();
    let remote = Remote {
        url,
        auth: Auth::None,
        known_hosts: None,
    };
    let options = FetchOptions {
        timeout: Duration::from_secs(2),
        ..FetchOptions::default()
    };
    let started = Instant::now();
    let error = mirror
        .fetch(&remote, &branch("main"), &options)
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(error, FetchError::Timeout { .. }), "{error}");
    assert!(error.to_string().contains("within 2s"), "{error}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(3),
        "{took:?}"
    );

    // The abandoned fetch still waits on its socket: a second fetch does
    // not run beside it, and says why.
    let options = FetchOptions {
        timeout: Duration::from_secs(1),
        ..FetchOptions::default()
    };
    let error = mirror
        .fetch(&remote, &branch("main"), &options)
        .unwrap_err();
    assert!(matches!(error, FetchError::Busy { .. }), "{error}");
}

#[test]
fn ssh_needs_known_hosts_and_urls_are_checked_before_any_network() {
    let dir = tempfile::tempdir().unwrap();
    let url = "ssh://git@127.0.0.1:1/repo.git";
    let mirror = Mirror::open(dir.path(), url).unwrap();
    let mut remote = Remote {
        url: url.into(),
        auth: Auth::None,
        known_hosts: None,
    };
    let error = fetch(&mirror, &remote, branch("main")).unwrap_err();
    assert!(
        matches!(error, FetchError::KnownHostsRequired { .. }),
        "{error}"
    );
    remote.known_hosts = Some("# nothing\n".into());
    let error = fetch(&mirror, &remote, branch("main")).unwrap_err();
    assert!(
        matches!(error, FetchError::KnownHostsRequired { .. }),
        "{error}"
    );
    remote.known_hosts = Some("not a key line".into());
    let error = fetch(&mirror, &remote, branch("main")).unwrap_err();
    assert!(
        matches!(error, FetchError::KnownHosts { line: 1, .. }),
        "{error}"
    );

    let error = Mirror::open(dir.path(), "/srv/git/repo.git").unwrap_err();
    assert!(
        matches!(error, FetchError::UnsupportedUrl { .. }),
        "{error}"
    );

    let other = Remote {
        url: "https://host.example/other.git".into(),
        auth: Auth::None,
        known_hosts: None,
    };
    let error = fetch(&mirror, &other, branch("main")).unwrap_err();
    assert!(matches!(error, FetchError::WrongMirror { .. }), "{error}");
}

/// The text of an error and all its sources.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[test]
fn no_credential_appears_in_errors_or_debug_output() {
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://bob:hunter22secret@127.0.0.1:{port}/repo.git");
    let mirror = Mirror::open(dir.path(), &url).unwrap();
    let remote = Remote {
        url: url.clone(),
        auth: Auth::Basic {
            username: "bob".into(),
            password: "hunter22secret".into(),
        },
        known_hosts: None,
    };
    let error = fetch(&mirror, &remote, branch("main")).unwrap_err();
    assert!(matches!(error, FetchError::Unreachable { .. }), "{error}");
    let shown = format!("{} | {error:?} | {remote:?} | {mirror:?}", chain(&error));
    assert!(!shown.contains("hunter22secret"), "{shown}");
    assert!(
        shown.contains(&format!("http://127.0.0.1:{port}/repo.git")),
        "{shown}"
    );
    // Nor on disk.
    let mut names = String::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        names.push_str(&entry.unwrap().file_name().to_string_lossy());
    }
    assert!(
        !names.contains("hunter22secret") && !names.contains("bob"),
        "{names}"
    );
}

#[test]
fn a_broken_mirror_is_recreated() {
    let upstream = Upstream::new();
    let mirror = upstream.mirror();
    fetch(&mirror, &upstream.remote(), branch("main")).unwrap();
    std::fs::remove_file(mirror.path().join("HEAD")).unwrap();
    std::fs::remove_dir_all(mirror.path().join("objects")).unwrap();
    let fetched = fetch(&mirror, &upstream.remote(), branch("main")).unwrap();
    assert!(has(&mirror, &fetched.commit));
}

#[test]
fn the_agent_can_move_fetch_values_across_threads() {
    fn is<T: Send + Sync>() {}
    is::<Mirror>();
    is::<Remote>();
    is::<FetchError>();
}
