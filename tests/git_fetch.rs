//! `repo::Mirror::fetch` against the tests' real Git server
//! (`tests/support/gitserver.rs`: git-http-backend behind lighttpd with
//! basic auth, and sshd): HTTP with credentials (right, wrong, missing,
//! the wrong kind), a commit fetched by id from a server that does not
//! serve ids, a force-push followed, SSH with known_hosts (trusted, hashed,
//! unknown host, changed key) and with a key the server does not accept,
//! a server that is down, and HTTPS to a server whose certificate no
//! system CA signed (`openssl s_server`). No credential appears in any
//! error.
//!
//! Run with `cargo xtask test -- --test git_fetch` (it provides the
//! server binaries).

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::gitserver::{GitServer, Repo};
use weir::repo::{Auth, FetchError, FetchOptions, Fetched, GitRef, Mirror, Remote};

fn options() -> FetchOptions {
    FetchOptions {
        timeout: Duration::from_secs(30),
        ..FetchOptions::default()
    }
}

fn main_branch() -> GitRef {
    GitRef::Branch("main".into())
}

/// A repository with one commit on `main`; returns it and the commit.
fn repo_with_a_commit(server: &GitServer, name: &str) -> (Repo, String) {
    let repo = server.create_repo(name);
    let tree = repo.work_tree();
    tree.write(
        "weir.yaml",
        "apiVersion: weir.dev/v1alpha1\nkind: Repository\n",
    );
    let commit = tree.commit("first");
    tree.push();
    (repo, commit)
}

fn fetch(cache: &std::path::Path, remote: &Remote, want: &GitRef) -> Result<Fetched, FetchError> {
    Mirror::open(cache, &remote.url)
        .unwrap()
        .fetch(remote, want, &options())
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
fn http_fetches_with_the_right_credentials_and_says_what_is_wrong_otherwise() {
    let server = GitServer::start();
    let (repo, first) = repo_with_a_commit(&server, "platform");
    let cache = tempfile::tempdir().unwrap();
    let url = server.http_url(&repo);
    let credentials = server.credentials();
    let remote = Remote {
        url: url.clone(),
        auth: Auth::Basic {
            username: credentials.username.clone(),
            password: credentials.password.clone(),
        },
        known_hosts: None,
    };
    let fetched = fetch(cache.path(), &remote, &main_branch()).unwrap();
    assert_eq!(fetched.commit, first);

    // Only what the wanted branch needs is downloaded.
    let tree = repo.work_tree();
    tree.write("other.yaml", "only on other\n");
    let other = tree.commit("other");
    tree.push_to("other");
    tree.reset_hard(&first);
    let mirror = Mirror::open(cache.path(), &url).unwrap();
    mirror.fetch(&remote, &main_branch(), &options()).unwrap();
    let bare = git2::Repository::open_bare(mirror.path()).unwrap();
    assert!(
        bare.find_commit(git2::Oid::from_str(&other).unwrap())
            .is_err()
    );
    let fetched = mirror
        .fetch(&remote, &GitRef::Branch("other".into()), &options())
        .unwrap();
    assert_eq!(fetched.commit, other);

    // A second commit, then a force-push back to the first: followed.
    tree.write("a.yaml", "a: 1\n");
    let second = tree.commit("second");
    tree.push();
    assert_eq!(
        fetch(cache.path(), &remote, &main_branch()).unwrap().commit,
        second
    );
    tree.reset_hard(&first);
    tree.force_push();
    assert_eq!(
        fetch(cache.path(), &remote, &main_branch()).unwrap().commit,
        first
    );

    // git-http-backend does not serve commits by id: the commit comes with
    // every branch and tag instead; one that no branch holds any more is
    // not found.
    let fresh = tempfile::tempdir().unwrap();
    let by_id = fetch(fresh.path(), &remote, &GitRef::Commit(other[..10].into())).unwrap();
    assert_eq!(by_id.commit, other);
    let error = fetch(fresh.path(), &remote, &GitRef::Commit(second.clone())).unwrap_err();
    assert!(
        matches!(error, FetchError::CommitNotFound { .. }),
        "{}",
        chain(&error)
    );

    let wrong = Remote {
        auth: Auth::Basic {
            username: credentials.username.clone(),
            password: "not-the-password-1234".into(),
        },
        ..remote.clone()
    };
    let error = fetch(cache.path(), &wrong, &main_branch()).unwrap_err();
    assert!(
        matches!(error, FetchError::AuthFailed { .. }),
        "{}",
        chain(&error)
    );
    assert_eq!(
        error.to_string(),
        format!("authentication failed for {url}: check the credentials Secret")
    );

    let anonymous = Remote {
        auth: Auth::None,
        ..remote.clone()
    };
    let error = fetch(cache.path(), &anonymous, &main_branch()).unwrap_err();
    assert!(
        matches!(error, FetchError::NoCredentials { .. }),
        "{}",
        chain(&error)
    );

    let ssh_key = Remote {
        auth: Auth::SshKey {
            username: "git".into(),
            private_key: server.client_key(),
            passphrase: None,
        },
        ..remote.clone()
    };
    let error = fetch(cache.path(), &ssh_key, &main_branch()).unwrap_err();
    assert!(
        matches!(error, FetchError::WrongCredentialKind { .. }),
        "{}",
        chain(&error)
    );
    assert!(
        error.to_string().contains("user name and password"),
        "{error}"
    );

    // The password written into the URL is used, and never shown.
    let in_url = Remote {
        url: url.replace(
            "http://",
            &format!(
                "http://{}:{}@",
                credentials.username, "wrong-password-in-url"
            ),
        ),
        auth: Auth::None,
        known_hosts: None,
    };
    let error = fetch(cache.path(), &in_url, &main_branch()).unwrap_err();
    let shown = format!("{} {error:?}", chain(&error));
    assert!(!shown.contains("wrong-password-in-url"), "{shown}");
    assert!(!shown.contains("not-the-password-1234"), "{shown}");

    let error = fetch(
        cache.path(),
        &Remote {
            url: url.replace("platform", "missing"),
            ..remote.clone()
        },
        &main_branch(),
    )
    .unwrap_err();
    assert!(
        matches!(error, FetchError::RepositoryNotFound { .. }),
        "{}",
        chain(&error)
    );
}

#[test]
fn ssh_fetches_only_from_a_host_whose_key_is_in_known_hosts() {
    let server = GitServer::start();
    let (repo, first) = repo_with_a_commit(&server, "platform");
    let cache = tempfile::tempdir().unwrap();
    let remote = Remote {
        url: server.ssh_url(&repo),
        auth: Auth::SshKey {
            username: String::new(),
            private_key: server.client_key(),
            passphrase: None,
        },
        known_hosts: Some(format!(
            "# the test server\n{}\n",
            server.known_hosts_line()
        )),
    };
    let fetched = fetch(cache.path(), &remote, &main_branch()).unwrap();
    assert_eq!(fetched.commit, first);

    // Hashed, as `ssh-keygen -H` writes it.
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("known_hosts");
    std::fs::write(&file, format!("{}\n", server.known_hosts_line())).unwrap();
    let hashing = std::process::Command::new("ssh-keygen")
        .args(["-q", "-H", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(hashing.status.success());
    let hashed = std::fs::read_to_string(&file).unwrap();
    assert!(hashed.starts_with("|1|"), "{hashed}");
    let with_hashed = Remote {
        known_hosts: Some(hashed),
        ..remote.clone()
    };
    assert_eq!(
        fetch(cache.path(), &with_hashed, &main_branch())
            .unwrap()
            .commit,
        first
    );

    // The same key listed for another port: this host is unknown.
    let port = server.ssh_port();
    let line = server.known_hosts_line();
    let key = line.split_once(' ').unwrap().1;
    let unknown = Remote {
        known_hosts: Some(format!("[127.0.0.1]:{} {key}\n", port + 1)),
        ..remote.clone()
    };
    let error = fetch(cache.path(), &unknown, &main_branch()).unwrap_err();
    assert!(
        matches!(error, FetchError::UnknownHostKey { .. }),
        "{}",
        chain(&error)
    );
    assert!(
        error.to_string().starts_with(&format!(
            "host key of [127.0.0.1]:{port} is not in known_hosts"
        )),
        "{error}"
    );

    // Another key for this host: refused as a possible man-in-the-middle.
    let keygen_dir = tempfile::tempdir().unwrap();
    let other = keygen_dir.path().join("other");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .unwrap();
    assert!(status.success());
    let other_key = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let changed = Remote {
        known_hosts: Some(format!("[127.0.0.1]:{port} {other_key}")),
        ..remote.clone()
    };
    let error = fetch(cache.path(), &changed, &main_branch()).unwrap_err();
    assert!(
        matches!(error, FetchError::HostKeyMismatch { .. }),
        "{}",
        chain(&error)
    );
    assert!(
        error.to_string().contains("possible man-in-the-middle"),
        "{error}"
    );

    // A client key the server does not accept.
    let wrong_key = Remote {
        auth: Auth::SshKey {
            username: String::new(),
            private_key: std::fs::read_to_string(&other).unwrap(),
            passphrase: None,
        },
        ..remote.clone()
    };
    let error = fetch(cache.path(), &wrong_key, &main_branch()).unwrap_err();
    assert!(
        matches!(error, FetchError::AuthFailed { .. }),
        "{}",
        chain(&error)
    );
    let shown = format!("{} {error:?}", chain(&error));
    let private_body = std::fs::read_to_string(&other).unwrap();
    let secret_line = private_body.lines().nth(1).unwrap();
    assert!(!shown.contains(secret_line), "{shown}");
}

#[test]
fn a_server_that_is_down_is_unreachable_until_it_is_back() {
    let mut server = GitServer::start();
    let (repo, first) = repo_with_a_commit(&server, "platform");
    let cache = tempfile::tempdir().unwrap();
    let credentials = server.credentials().clone();
    let remote = Remote {
        url: server.http_url(&repo),
        auth: Auth::Basic {
            username: credentials.username,
            password: credentials.password,
        },
        known_hosts: None,
    };
    server.stop();
    let error = fetch(cache.path(), &remote, &main_branch()).unwrap_err();
    assert!(
        matches!(error, FetchError::Unreachable { .. }),
        "{}",
        chain(&error)
    );
    server.restart();
    assert_eq!(
        fetch(cache.path(), &remote, &main_branch()).unwrap().commit,
        first
    );
}

/// A child process killed when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn https_checks_the_server_certificate_against_the_system_cas() {
    // A TLS server with a self-signed certificate (openssl s_server).
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let port = support::servers::free_port();
    let _server = Killed(
        Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept", &port.to_string()])
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while !support::servers::listening(port) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "openssl s_server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let remote = Remote {
        url: format!("https://127.0.0.1:{port}/platform.git"),
        auth: Auth::None,
        known_hosts: None,
    };
    let cache = tempfile::tempdir().unwrap();
    let error = fetch(cache.path(), &remote, &main_branch()).unwrap_err();
    assert!(matches!(error, FetchError::Tls { .. }), "{}", chain(&error));
    assert!(error.to_string().contains("is not trusted"), "{error}");
}
