//! The tests' own Git server (`tests/support/gitserver.rs`) works with the
//! real `git` and `ssh` clients: HTTP clones need the right password, SSH
//! clones need the server's host key and the client key, pushes deliver
//! push webhooks whose signatures verify, and a stopped server refuses
//! clones until it is restarted on the same ports.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::gitserver::{Flavor, GitServer, Repo, git_command, ssh_command};
use support::servers::Credentials;

/// `git clone <url>` into a fresh directory with `configure` applied to
/// the command; returns the output and the clone's directory.
fn clone(url: &str, configure: impl FnOnce(&mut Command)) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = git_command(dir.path());
    configure(&mut cmd);
    let out = cmd
        .args(["clone", "--quiet", url, "clone"])
        .output()
        .unwrap();
    (out, dir)
}

/// git's own credential helper protocol, answering with `credentials`
/// (the URL stays without them).
fn with_credentials(cmd: &mut Command, credentials: &Credentials) {
    cmd.args([
        "-c",
        "credential.helper=",
        "-c",
        &format!(
            "credential.helper=!f() {{ echo username={}; echo password={}; }}; f",
            credentials.username, credentials.password
        ),
    ]);
}

fn head_of(clone: &Path) -> String {
    support::gitserver::git(&clone.join("clone"), &["rev-parse", "HEAD"])
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
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

#[test]
fn http_clone_and_push_need_the_right_password() {
    let server = GitServer::start();
    let (repo, commit) = repo_with_a_commit(&server, "platform");
    let url = server.http_url(&repo);
    assert!(!url.contains('@'), "no credentials in {url}");

    let (out, dir) = clone(&url, |cmd| with_credentials(cmd, server.credentials()));
    assert!(out.status.success(), "clone failed: {}", stderr(&out));
    assert_eq!(head_of(dir.path()), commit);

    // A push over HTTP goes through git-http-backend's receive-pack, and
    // its hook (run by lighttpd's CGI) delivers the webhook.
    let (hook_url, deliveries) = webhook_listener();
    repo.set_webhook(&hook_url, "s", Flavor::GitHub);
    let work = dir.path().join("clone");
    std::fs::write(work.join("README"), "pushed over HTTP\n").unwrap();
    support::gitserver::git(&work, &["add", "README"]);
    support::gitserver::git(&work, &["commit", "--quiet", "-m", "over http"]);
    let mut push = git_command(&work);
    with_credentials(&mut push, server.credentials());
    let out = push
        .args(["push", "--quiet", "origin", "HEAD:main"])
        .output()
        .unwrap();
    assert!(out.status.success(), "push failed: {}", stderr(&out));
    let pushed = support::gitserver::git(&work, &["rev-parse", "HEAD"]);
    assert_eq!(repo.head("main").unwrap(), pushed);
    assert_eq!(next_delivery(&deliveries).json()["after"], pushed);

    let wrong = Credentials {
        username: server.credentials().username.clone(),
        password: "not-the-password".to_owned(),
    };
    let (out, _dir) = clone(&url, |cmd| with_credentials(cmd, &wrong));
    assert!(!out.status.success(), "a wrong password cloned");
    assert!(
        stderr(&out).contains("Authentication failed"),
        "{}",
        stderr(&out)
    );

    let (out, _dir) = clone(&url, |_| {});
    assert!(!out.status.success(), "no credentials cloned");
}

#[test]
fn ssh_clone_needs_the_host_key_and_the_client_key() {
    let server = GitServer::start();
    let (repo, commit) = repo_with_a_commit(&server, "platform");
    let url = server.ssh_url(&repo);
    let line = server.known_hosts_line();
    assert!(
        line.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", server.ssh_port())),
        "{line}"
    );

    // Exactly what a client configures: a known_hosts file with the line,
    // strict checking, the key.
    let scratch = tempfile::tempdir().unwrap();
    let known_hosts = scratch.path().join("known_hosts");
    std::fs::write(&known_hosts, format!("{line}\n")).unwrap();
    let ssh = ssh_command(&known_hosts, &server.client_key_path());
    let (out, dir) = clone(&url, |cmd| {
        cmd.env("GIT_SSH_COMMAND", &ssh);
    });
    assert!(out.status.success(), "clone failed: {}", stderr(&out));
    assert_eq!(head_of(dir.path()), commit);

    let empty = scratch.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let ssh = ssh_command(&empty, &server.client_key_path());
    let (out, _dir) = clone(&url, |cmd| {
        cmd.env("GIT_SSH_COMMAND", &ssh);
    });
    assert!(!out.status.success(), "cloned without knowing the host key");
    assert!(
        stderr(&out).contains("Host key verification failed"),
        "{}",
        stderr(&out)
    );

    let other_key = scratch.path().join("other_key");
    support::servers::run(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&other_key),
    );
    let ssh = ssh_command(&known_hosts, &other_key);
    let (out, _dir) = clone(&url, |cmd| {
        cmd.env("GIT_SSH_COMMAND", &ssh);
    });
    assert!(
        !out.status.success(),
        "cloned with a key sshd does not know"
    );
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );
}

/// One HTTP request the webhook listener received.
struct Delivery {
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Delivery {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map_or("", String::as_str)
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "webhook body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// A minimal HTTP receiver on a free loopback port: every POST is answered
/// 200 and handed to the channel.
fn webhook_listener() -> (String, mpsc::Receiver<Delivery>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/push", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = BTreeMap::new();
            let mut line = String::new();
            reader.read_line(&mut line).unwrap(); // request line
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap() == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                }
            }
            if headers.get("expect").is_some_and(|v| v == "100-continue") {
                stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").unwrap();
            }
            let len = headers
                .get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            if tx.send(Delivery { headers, body }).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

fn next_delivery(rx: &mpsc::Receiver<Delivery>) -> Delivery {
    rx.recv_timeout(Duration::from_secs(20))
        .expect("no webhook delivered within 20 s")
}

/// The repository's webhook delivery log once it has `lines` lines (curl
/// writes a status after the receiver has answered).
fn webhook_log(repo: &Repo, lines: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = repo.webhook_log();
        if log.lines().count() >= lines || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `signature` (`sha256=<hex>`) is the HMAC-SHA256 of `body` with
/// `secret`, checked independently of the hook's openssl.
fn hmac_verifies(secret: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Some(tag) = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::verify(&key, body, &tag).is_ok()
}

#[test]
fn a_push_delivers_a_github_webhook_whose_signature_verifies() {
    let server = GitServer::start();
    let repo = server.create_repo("platform");
    let (url, rx) = webhook_listener();
    let secret = "webhook-secret-1";
    repo.set_webhook(&url, secret, Flavor::GitHub);

    let tree = repo.work_tree();
    tree.write("apps/a.yaml", "a: 1\n");
    let first = tree.commit("first");
    tree.push();
    let delivery = next_delivery(&rx);
    assert_eq!(delivery.header("X-GitHub-Event"), "push");
    assert_eq!(delivery.header("Content-Type"), "application/json");
    assert!(!delivery.header("X-GitHub-Delivery").is_empty());
    let signature = delivery.header("X-Hub-Signature-256");
    assert!(
        hmac_verifies(secret, &delivery.body, signature),
        "signature {signature:?} does not verify"
    );
    assert!(!hmac_verifies("another-secret", &delivery.body, signature));
    let event = delivery.json();
    assert_eq!(event["ref"], "refs/heads/main");
    assert_eq!(event["before"], "0".repeat(40));
    assert_eq!(event["after"], first);
    assert_eq!(event["created"], true);
    assert_eq!(event["repository"]["name"], "platform");
    assert_eq!(event["repository"]["full_name"], "weir-test/platform");
    assert_eq!(event["repository"]["clone_url"], server.http_url(&repo));
    assert_eq!(event["repository"]["ssh_url"], server.ssh_url(&repo));
    assert_eq!(event["head_commit"]["id"], first);

    // A local rewrite that was never pushed is a fast-forward; replacing
    // what was pushed is a forced push.
    tree.write("apps/a.yaml", "a: 2\n");
    tree.commit("second");
    tree.reset_hard("HEAD~1");
    tree.write("apps/b.yaml", "b: 1\n");
    let rewritten = tree.commit("rewritten");
    tree.push_to("main");
    let delivery = next_delivery(&rx);
    assert_eq!(delivery.json()["after"], rewritten);
    assert_eq!(delivery.json()["forced"], false);
    tree.reset_hard(&first);
    let amended = tree.commit("replaces what was pushed");
    tree.force_push();
    let event = next_delivery(&rx).json();
    assert_eq!(event["before"], rewritten);
    assert_eq!(event["after"], amended);
    assert_eq!(event["forced"], true);
    assert_eq!(webhook_log(&repo, 3), "200\n200\n200\n");
}

#[test]
fn gitlab_and_generic_webhooks_carry_their_token_and_signature() {
    let server = GitServer::start();
    let repo = server.create_repo("platform");
    let (url, rx) = webhook_listener();
    let tree = repo.work_tree();

    repo.set_webhook(&url, "gitlab-token", Flavor::GitLab);
    let first = tree.commit("first");
    tree.push();
    let delivery = next_delivery(&rx);
    assert_eq!(delivery.header("X-Gitlab-Event"), "Push Hook");
    assert_eq!(delivery.header("X-Gitlab-Token"), "gitlab-token");
    let event = delivery.json();
    assert_eq!(event["object_kind"], "push");
    assert_eq!(event["ref"], "refs/heads/main");
    assert_eq!(event["after"], first);
    assert_eq!(event["checkout_sha"], first);
    assert_eq!(
        event["project"]["path_with_namespace"],
        "weir-test/platform"
    );
    assert_eq!(event["project"]["git_http_url"], server.http_url(&repo));

    repo.set_webhook(&url, "generic-secret", Flavor::Generic);
    let second = tree.commit("second");
    tree.push();
    let delivery = next_delivery(&rx);
    assert!(
        hmac_verifies(
            "generic-secret",
            &delivery.body,
            delivery.header("X-Signature")
        ),
        "X-Signature {:?} does not verify",
        delivery.header("X-Signature")
    );
    assert_eq!(delivery.header("X-GitHub-Event"), "");
    assert_eq!(delivery.json()["after"], second);
}

#[test]
fn a_webhook_receiver_that_is_down_or_hangs_never_fails_or_blocks_a_push() {
    let server = GitServer::start();
    let repo = server.create_repo("platform");
    let tree = repo.work_tree();

    // Nothing listens on a port just released: the delivery fails at once.
    let port = support::servers::free_port();
    let down = format!("http://127.0.0.1:{port}/hook");
    repo.set_webhook(&down, "secret", Flavor::GitHub);
    let first = tree.commit("first");
    tree.push();
    assert_eq!(repo.head("main").unwrap(), first);
    assert_eq!(webhook_log(&repo, 1), "000\n");

    // A receiver that accepts connections and never answers: a hook that
    // waited for it would hold the push for curl's whole 5 s timeout.
    let hanging = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", hanging.local_addr().unwrap());
    repo.set_webhook(&url, "secret", Flavor::GitHub);
    let second = tree.commit("second");
    let started = Instant::now();
    tree.push();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the push waited for the webhook: {:?}",
        started.elapsed()
    );
    assert_eq!(repo.head("main").unwrap(), second);
    assert_eq!(webhook_log(&repo, 2), "000\n000\n");
    drop(hanging);
}

#[test]
fn a_stopped_server_refuses_clones_until_it_restarts_on_the_same_ports() {
    let mut server = GitServer::start();
    let (repo, commit) = repo_with_a_commit(&server, "platform");
    let ports = (server.http_port(), server.ssh_port());
    let ssh = server.git_ssh_command();
    let http_clone = |server: &GitServer| {
        clone(&server.http_url(&repo), |cmd| {
            with_credentials(cmd, server.credentials());
        })
    };
    let ssh_clone = |server: &GitServer| {
        clone(&server.ssh_url(&repo), |cmd| {
            cmd.env("GIT_SSH_COMMAND", &ssh);
        })
    };

    server.stop();
    assert!(!server.is_running());
    let (out, _dir) = http_clone(&server);
    assert!(
        !out.status.success(),
        "cloned over HTTP from a stopped server"
    );
    assert!(
        stderr(&out).contains("Could not connect") || stderr(&out).contains("Failed to connect"),
        "{}",
        stderr(&out)
    );
    let (out, _dir) = ssh_clone(&server);
    assert!(
        !out.status.success(),
        "cloned over SSH from a stopped server"
    );
    assert!(
        stderr(&out).contains("Connection refused"),
        "{}",
        stderr(&out)
    );

    server.restart();
    assert_eq!((server.http_port(), server.ssh_port()), ports);
    let (out, dir) = http_clone(&server);
    assert!(out.status.success(), "HTTP clone failed: {}", stderr(&out));
    assert_eq!(head_of(dir.path()), commit);
    let (out, dir) = ssh_clone(&server);
    assert!(out.status.success(), "SSH clone failed: {}", stderr(&out));
    assert_eq!(head_of(dir.path()), commit);
}
