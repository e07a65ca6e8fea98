//! A real Git server per test: smart HTTP (Debian's `git-http-backend`
//! behind `lighttpd`, HTTP basic auth) and SSH (Debian's `sshd` with its
//! own host key and one authorised client key), both on loopback, serving
//! bare repositories in a temporary directory. A test can stop and restart
//! it on the same ports ("the Git server is down"), and every repository
//! can POST push webhooks (GitHub, GitLab or generic HMAC flavour) from a
//! `post-receive` hook. [`WorkTree`] commits and pushes with the real `git`.
//!
//! ```ignore
//! let server = GitServer::start();
//! let repo = server.create_repo("platform");
//! let tree = repo.work_tree();
//! tree.write("weir.yaml", "...");
//! tree.commit("first");
//! tree.push();
//! // clone server.http_url(&repo) with server.credentials(), or
//! // server.ssh_url(&repo) with server.git_ssh_command()
//! ```
//!
//! Webhooks (`Repo::set_webhook`): each updated ref POSTs a JSON push event
//! to the URL, in the background with a 2 s connect and 5 s total timeout,
//! so a receiver that is down or hangs never blocks or fails the push.
//! Each delivery's HTTP status (`000` when it failed) is appended to
//! `<repo>/webhook.log`. The flavours:
//!
//! | flavour | body | headers |
//! |---|---|---|
//! | `GitHub` | `ref`, `before`, `after`, `created`, `deleted`, `forced`, `repository{name, full_name, clone_url, ssh_url, default_branch}`, `pusher`, `head_commit{id}` | `X-GitHub-Event: push`, `X-GitHub-Delivery: <uuid>`, `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>` (no signature when the secret is empty) |
//! | `GitLab` | `object_kind: push`, `event_name`, `ref`, `before`, `after`, `checkout_sha`, `project{name, path_with_namespace, git_http_url, git_ssh_url, default_branch}`, `repository{name, git_http_url, git_ssh_url}` | `X-Gitlab-Event: Push Hook`, `X-Gitlab-Token: <secret>` |
//! | `Generic` | as `GitHub` | `X-Signature: sha256=<hex HMAC-SHA256 of the body>` (Flux's generic-hmac receiver convention) |
//!
//! Every body is `Content-Type: application/json`; `full_name` and
//! `path_with_namespace` are `weir-test/<name>`; the URLs carry no
//! credentials.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::servers::{self, Credentials, Daemon};

/// The Git server: lighttpd (smart HTTP) and sshd, with their repositories.
pub struct GitServer {
    dir: TempDir,
    http_port: u16,
    ssh_port: u16,
    credentials: Credentials,
    ssh_user: String,
    lighttpd: Option<Daemon>,
    sshd: Option<Daemon>,
}

/// A bare repository on a [`GitServer`].
#[derive(Debug, Clone)]
pub struct Repo {
    pub name: String,
    /// The bare repository's directory.
    pub path: PathBuf,
}

/// How a push webhook is shaped and signed (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    GitHub,
    GitLab,
    Generic,
}

impl GitServer {
    /// Starts both servers on free loopback ports, with fresh credentials,
    /// host key and client key.
    pub fn start() -> GitServer {
        let dir = tempfile::Builder::new()
            .prefix("weir-gitserver-")
            .tempdir()
            .expect("creating the Git server's directory");
        let root = dir.path();
        for sub in ["repos", "www", "logs"] {
            fs::create_dir_all(root.join(sub)).expect("creating the Git server's directories");
        }
        let credentials = Credentials::generate("git");
        servers::write_file(
            &root.join("users"),
            &format!("{}:{}\n", credentials.username, credentials.password),
            0o600,
        );
        keygen(&root.join("ssh_host_ed25519_key"), "weir-test-host");
        keygen(&root.join("client_ed25519_key"), "weir-test-client");
        let client_pub = read(&root.join("client_ed25519_key.pub"));
        servers::write_file(
            &root.join("authorized_keys"),
            &format!("restrict {}", client_pub.trim_end()),
            0o600,
        );
        prepare_sshd_privsep_dir();
        let mut server = GitServer {
            dir,
            http_port: 0,
            ssh_port: 0,
            credentials,
            ssh_user: current_user(),
            lighttpd: None,
            sshd: None,
        };
        let root = server.dir.path().to_owned();
        let (port, lighttpd) = servers::start_on_free_port("lighttpd", |port| {
            start_lighttpd(&root, port).map(|d| (port, d))
        });
        server.http_port = port;
        server.lighttpd = Some(lighttpd);
        let (port, sshd) =
            servers::start_on_free_port("sshd", |port| start_sshd(&root, port).map(|d| (port, d)));
        server.ssh_port = port;
        server.sshd = Some(sshd);
        server
    }

    /// Creates an empty bare repository `<name>.git` (default branch
    /// `main`) with the webhook hook installed.
    pub fn create_repo(&self, name: &str) -> Repo {
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                && !name.starts_with('.'),
            "repository names are [A-Za-z0-9._-]+: {name:?}"
        );
        let path = self.dir.path().join("repos").join(format!("{name}.git"));
        assert!(!path.exists(), "repository {name} exists already");
        let repo = Repo {
            name: name.to_owned(),
            path,
        };
        git(
            self.dir.path(),
            &[
                "init",
                "--quiet",
                "--bare",
                "--initial-branch=main",
                &repo.path.to_string_lossy(),
            ],
        );
        let set = |key: &str, value: &str| git(&repo.path, &["config", key, value]);
        set("weir-test.name", name);
        set("weir-test.httpurl", &self.http_url(&repo));
        set("weir-test.sshurl", &self.ssh_url(&repo));
        servers::write_file(&repo.path.join("hooks/post-receive"), POST_RECEIVE, 0o755);
        repo
    }

    /// The repository's smart-HTTP URL, without credentials:
    /// `http://127.0.0.1:<port>/git/<name>.git`.
    pub fn http_url(&self, repo: &Repo) -> String {
        format!("http://127.0.0.1:{}/git/{}.git", self.http_port, repo.name)
    }

    /// The HTTP basic-auth user and password.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The repository's SSH URL: `ssh://<user>@127.0.0.1:<port>/<path>`
    /// (the user is the one running the tests).
    pub fn ssh_url(&self, repo: &Repo) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.ssh_user,
            self.ssh_port,
            repo.path.display()
        )
    }

    /// The user SSH logs in as.
    pub fn ssh_user(&self) -> &str {
        &self.ssh_user
    }

    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    pub fn ssh_port(&self) -> u16 {
        self.ssh_port
    }

    /// The client's private key (OpenSSH format, ed25519, no passphrase),
    /// the only one sshd accepts.
    pub fn client_key_path(&self) -> PathBuf {
        self.dir.path().join("client_ed25519_key")
    }

    /// The client's private key, as text.
    pub fn client_key(&self) -> String {
        read(&self.client_key_path())
    }

    /// The host key as a known_hosts line: `[127.0.0.1]:<port> ssh-ed25519 AAAA...`.
    pub fn known_hosts_line(&self) -> String {
        let public = read(&self.dir.path().join("ssh_host_ed25519_key.pub"));
        let mut words = public.split_whitespace();
        let (kind, key) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        format!("[127.0.0.1]:{} {kind} {key}", self.ssh_port)
    }

    /// A known_hosts file holding [`Self::known_hosts_line`].
    pub fn known_hosts_path(&self) -> PathBuf {
        let path = self.dir.path().join("known_hosts");
        servers::write_file(&path, &format!("{}\n", self.known_hosts_line()), 0o644);
        path
    }

    /// A `GIT_SSH_COMMAND` that trusts only this server's host key (strict
    /// checking) and offers only the client key, ignoring the user's ssh
    /// config and agent.
    pub fn git_ssh_command(&self) -> String {
        ssh_command(&self.known_hosts_path(), &self.client_key_path())
    }

    /// Whether both servers run.
    pub fn is_running(&self) -> bool {
        self.lighttpd.is_some() && self.sshd.is_some()
    }

    /// Stops both servers (SIGKILL); the repositories stay. Clones and
    /// fetches then fail with "connection refused".
    pub fn stop(&mut self) {
        self.lighttpd = None;
        self.sshd = None;
    }

    /// Starts both servers again on the same ports (stopping them first if
    /// they run).
    pub fn restart(&mut self) {
        self.stop();
        let root = self.dir.path();
        self.lighttpd = Some(
            start_lighttpd(root, self.http_port)
                .unwrap_or_else(|e| panic!("restarting lighttpd: {e}")),
        );
        self.sshd = Some(
            start_sshd(root, self.ssh_port).unwrap_or_else(|e| panic!("restarting sshd: {e}")),
        );
    }

    /// The server's directory (repos/, logs/, configs, keys): for
    /// diagnostics.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Repo {
    /// Makes every push POST a push event to `url` (see the module docs);
    /// an empty `secret` sends GitHub and generic events unsigned.
    pub fn set_webhook(&self, url: &str, secret: &str, flavor: Flavor) {
        let flavor = match flavor {
            Flavor::GitHub => "github",
            Flavor::GitLab => "gitlab",
            Flavor::Generic => "generic",
        };
        for (key, value) in [
            ("weir-test.webhookurl", url),
            ("weir-test.webhooksecret", secret),
            ("weir-test.webhookflavor", flavor),
        ] {
            git(&self.path, &["config", key, value]);
        }
    }

    /// Stops sending webhooks.
    pub fn clear_webhook(&self) {
        git(&self.path, &["config", "--unset", "weir-test.webhookurl"]);
    }

    /// The delivery log: one HTTP status per webhook sent (`000` when the
    /// receiver could not be reached).
    pub fn webhook_log(&self) -> String {
        fs::read_to_string(self.path.join("webhook.log")).unwrap_or_default()
    }

    /// The commit a branch points at, if the branch exists.
    pub fn head(&self, branch: &str) -> Option<String> {
        let out = git_command(&self.path)
            .args(["rev-parse", "--verify", "--quiet"])
            .arg(format!("refs/heads/{branch}"))
            .output()
            .expect("running git rev-parse");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// A fresh clone (through the file system, not the servers) to commit
    /// and push from.
    pub fn work_tree(&self) -> WorkTree {
        let dir = tempfile::Builder::new()
            .prefix("weir-worktree-")
            .tempdir()
            .expect("creating a work tree directory");
        git(
            dir.path(),
            &["clone", "--quiet", &self.path.to_string_lossy(), "."],
        );
        // A clone of an empty repository has no branch yet.
        git(dir.path(), &["symbolic-ref", "HEAD", "refs/heads/main"]);
        WorkTree { dir }
    }
}

/// A work tree cloned from a [`Repo`]; pushes go to the bare repository
/// directly (the same receive-pack and hooks as a push over HTTP or SSH,
/// and it works while the servers are stopped).
pub struct WorkTree {
    dir: TempDir,
}

impl WorkTree {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (creating directories), relative to the work tree.
    pub fn write(&self, rel: &str, contents: &str) -> &Self {
        let path = self.dir.path().join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("creating directories in the work tree");
        }
        fs::write(&path, contents).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        self
    }

    /// Removes a file or directory, relative to the work tree.
    pub fn remove(&self, rel: &str) -> &Self {
        let path = self.dir.path().join(rel);
        if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        }
        .unwrap_or_else(|e| panic!("removing {}: {e}", path.display()));
        self
    }

    /// Commits every change (additions and deletions; empty commits too)
    /// and returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Pushes HEAD to `main`.
    pub fn push(&self) {
        self.push_to("main");
    }

    /// Pushes HEAD to `branch`.
    pub fn push_to(&self, branch: &str) {
        self.git(&[
            "push",
            "--quiet",
            "origin",
            &format!("HEAD:refs/heads/{branch}"),
        ]);
    }

    /// Pushes HEAD to `main`, replacing what is there (history rewritten
    /// with [`Self::reset_hard`] or amended commits).
    pub fn force_push(&self) {
        self.git(&[
            "push",
            "--quiet",
            "--force",
            "origin",
            "HEAD:refs/heads/main",
        ]);
    }

    /// Moves HEAD (and the work tree) to `rev`, e.g. `HEAD~1`.
    pub fn reset_hard(&self, rev: &str) {
        self.git(&["reset", "--quiet", "--hard", rev]);
    }

    /// Tags HEAD (lightweight) and pushes the tag.
    pub fn push_tag(&self, tag: &str) {
        self.git(&["tag", "--force", tag]);
        self.git(&[
            "push",
            "--quiet",
            "--force",
            "origin",
            &format!("refs/tags/{tag}"),
        ]);
    }

    /// Runs `git args...` in the work tree and returns its trimmed stdout.
    pub fn git(&self, args: &[&str]) -> String {
        git(self.dir.path(), args)
    }
}

/// A `git` command in `dir`, independent of the user's and the machine's
/// git configuration, never prompting, with a fixed identity.
pub fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "weir test")
        .env("GIT_AUTHOR_EMAIL", "test@weir.dev")
        .env("GIT_COMMITTER_NAME", "weir test")
        .env("GIT_COMMITTER_EMAIL", "test@weir.dev")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_SSH_COMMAND")
        .env_remove("SSH_AUTH_SOCK");
    cmd
}

/// Runs `git args...` in `dir` (see [`git_command`]); panics with its
/// output when it fails; returns its trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = servers::run(git_command(dir).args(args));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A `GIT_SSH_COMMAND` for a known_hosts file and a private key: strict
/// host key checking, only that key, no user config, agent or prompts.
pub fn ssh_command(known_hosts: &Path, key: &Path) -> String {
    format!(
        "ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes \
         -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null \
         -o IdentitiesOnly=yes -o IdentityAgent=none -o ConnectTimeout=5 -i {}",
        known_hosts.display(),
        key.display()
    )
}

fn start_lighttpd(root: &Path, port: u16) -> Result<Daemon, String> {
    let conf = root.join("lighttpd.conf");
    let text = format!(
        r#"# Generated by tests/support/gitserver.rs: git-http-backend over CGI,
# HTTP basic auth on every URL (git-http-backend accepts pushes only from
# an authenticated REMOTE_USER).
server.modules = ("mod_auth", "mod_authn_file", "mod_alias", "mod_setenv", "mod_cgi", "mod_accesslog")
server.document-root = "{root}/www"
server.bind = "127.0.0.1"
server.port = {port}
server.pid-file = "{root}/lighttpd.pid"
server.errorlog = "{root}/logs/lighttpd-error.log"
accesslog.filename = "{root}/logs/lighttpd-access.log"
alias.url = ("/git/" => "{backend}/")
$HTTP["url"] =~ "^/git/" {{
  cgi.assign = ("" => "")
  setenv.add-environment = (
    "GIT_PROJECT_ROOT" => "{root}/repos",
    "GIT_HTTP_EXPORT_ALL" => "",
    "GIT_CONFIG_NOSYSTEM" => "1"
  )
}}
auth.backend = "plain"
auth.backend.plain.userfile = "{root}/users"
auth.require = ("" => ("method" => "basic", "realm" => "weir-test-git", "require" => "valid-user"))
"#,
        root = root.display(),
        backend = servers::binary("WEIR_GIT_HTTP_BACKEND").display(),
    );
    servers::write_file(&conf, &text, 0o644);
    let mut cmd = Command::new(servers::binary("WEIR_LIGHTTPD"));
    cmd.arg("-D").arg("-f").arg(&conf);
    Daemon::start("lighttpd", cmd, &root.join("logs/lighttpd.log"), port)
}

fn start_sshd(root: &Path, port: u16) -> Result<Daemon, String> {
    let conf = root.join("sshd_config");
    let text = format!(
        "# Generated by tests/support/gitserver.rs: key authentication only,\n\
         # for the one client key in authorized_keys.\n\
         Port {port}\n\
         ListenAddress 127.0.0.1\n\
         HostKey {root}/ssh_host_ed25519_key\n\
         PidFile {root}/sshd.pid\n\
         AuthorizedKeysFile {root}/authorized_keys\n\
         StrictModes no\n\
         UsePAM no\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         PermitRootLogin prohibit-password\n\
         AllowTcpForwarding no\n\
         X11Forwarding no\n\
         PrintMotd no\n\
         LogLevel VERBOSE\n",
        root = root.display()
    );
    servers::write_file(&conf, &text, 0o644);
    // sshd re-executes itself, so it must be started by absolute path.
    let sshd = servers::binary("WEIR_SSHD");
    assert!(
        sshd.is_absolute(),
        "WEIR_SSHD must be absolute: {}",
        sshd.display()
    );
    let mut cmd = Command::new(sshd);
    cmd.args(["-D", "-e", "-f"]).arg(&conf);
    Daemon::start("sshd", cmd, &root.join("logs/sshd.log"), port)
}

/// sshd run by root needs its privilege separation directory, which lives
/// on /run (a tmpfs, emptied at boot); other users' sshd does not.
fn prepare_sshd_privsep_dir() {
    let root = fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if root {
        fs::create_dir_all("/run/sshd").expect("creating /run/sshd for sshd");
    }
}

fn keygen(path: &Path, comment: &str) {
    servers::run(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
            .arg(path),
    );
}

fn current_user() -> String {
    let out = servers::run(Command::new("id").arg("-un"));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The `post-receive` hook of every repository (see the module docs).
const POST_RECEIVE: &str = r#"#!/bin/sh
# Installed by tests/support/gitserver.rs. For every updated ref, POSTs a
# push event to the webhook in this repository's config (weir-test.*), in
# the background with short timeouts: a receiver that is down or hangs
# never blocks or fails the push. Each delivery's HTTP status is appended to
# webhook.log (000 when the receiver could not be reached).
# lighttpd runs CGI programs (and so this hook) without a PATH.
PATH=/usr/local/bin:/usr/bin:/bin${PATH:+:$PATH}
export PATH
url=$(git config --get weir-test.webhookurl) || exit 0
secret=$(git config --get weir-test.webhooksecret)
flavor=$(git config --get weir-test.webhookflavor)
name=$(git config --get weir-test.name)
http_url=$(git config --get weir-test.httpurl)
ssh_url=$(git config --get weir-test.sshurl)
log="$(pwd)/webhook.log"
zero=0000000000000000000000000000000000000000

while read -r before after ref; do
  ref_json=$(printf '%s' "$ref" | sed 's/["\\]/\\&/g')
  created=false; deleted=false; forced=false
  [ "$before" = "$zero" ] && created=true
  [ "$after" = "$zero" ] && deleted=true
  if [ "$created" = false ] && [ "$deleted" = false ] &&
     ! git merge-base --is-ancestor "$before" "$after" 2>/dev/null; then
    forced=true
  fi
  if [ "$deleted" = true ]; then head='null'; else head="\"$after\""; fi
  case "$flavor" in
    gitlab)
      body=$(printf '{"object_kind":"push","event_name":"push","ref":"%s","before":"%s","after":"%s","checkout_sha":%s,"project":{"name":"%s","path_with_namespace":"weir-test/%s","git_http_url":"%s","git_ssh_url":"%s","default_branch":"main"},"repository":{"name":"%s","git_http_url":"%s","git_ssh_url":"%s"}}' \
        "$ref_json" "$before" "$after" "$head" "$name" "$name" "$http_url" "$ssh_url" "$name" "$http_url" "$ssh_url")
      set -- -H "X-Gitlab-Event: Push Hook" -H "X-Gitlab-Token: $secret"
      ;;
    *)
      if [ "$deleted" = true ]; then commit='null'; else commit="{\"id\":\"$after\"}"; fi
      body=$(printf '{"ref":"%s","before":"%s","after":"%s","created":%s,"deleted":%s,"forced":%s,"repository":{"name":"%s","full_name":"weir-test/%s","clone_url":"%s","ssh_url":"%s","default_branch":"main"},"pusher":{"name":"weir-test"},"head_commit":%s}' \
        "$ref_json" "$before" "$after" "$created" "$deleted" "$forced" "$name" "$name" "$http_url" "$ssh_url" "$commit")
      set --
      if [ -n "$secret" ]; then
        sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" | awk '{print $NF}')
        if [ "$flavor" = github ]; then
          set -- -H "X-Hub-Signature-256: sha256=$sig"
        else
          set -- -H "X-Signature: sha256=$sig"
        fi
      fi
      if [ "$flavor" = github ]; then
        set -- "$@" -H "X-GitHub-Event: push" \
          -H "X-GitHub-Delivery: $(cat /proc/sys/kernel/random/uuid)" \
          -H "User-Agent: GitHub-Hookshot/weir-test"
      fi
      ;;
  esac
  curl -sS -o /dev/null -w '%{http_code}\n' --connect-timeout 2 --max-time 5 \
    -X POST -H "Content-Type: application/json" "$@" --data-binary "$body" "$url" \
    </dev/null >>"$log" 2>/dev/null &
done
exit 0
"#;
