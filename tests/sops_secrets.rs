//! SOPS-encrypted Secrets end to end, with the real `sops` and `age-keygen`
//! and the real API server: a Secret encrypted to an age key of the test's
//! own is validated, planned and rendered without the key; a sync without
//! the key stops naming the file and how to give the key, and applies
//! nothing; `weir diff --cluster` with the key shows the Secret without a
//! value; a sync with the key applies the Secret decrypted, after which
//! the diff is empty, and a changed value shows as `(changed)` only
//! (against the cluster and between revisions, where the same values
//! encrypted again are no change with the key); a key
//! the file was not encrypted to is refused. Every output of every weir
//! command, the temporary directory weir ran with, the repo and the test
//! target's tmp hold no plaintext value. And `weir validate` judges an
//! encrypted file without the key: a tampered one (a value in clear, a
//! `sops` block without its mac) fails with file and line, never quoting
//! the value. The agent decrypts with the age key of the Secret its Sync
//! names in `spec.decryption`: without that Secret it applies nothing and
//! says which Secret to create; once it exists, the Sync becomes Ready
//! with the Secret decrypted, and no value is in its log, status, Events
//! or files.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;
use serde_json::Value;

use std::time::Duration;

use serde_json::json;
use support::agent::{self as agent_support, Agent};
use support::gitserver::GitServer;
use support::sops::{AgeKey, encrypt, files_holding, keygen, leak_forms};

const PASSWORD: &str = "correct-horse-battery-staple";
const TOKEN: &str = "tok-7f3a9c2e-never-printed";
const NEW_PASSWORD: &str = "rotated-zebra-lantern-quartz";

/// The Secret as a developer writes it before encrypting it.
fn secret_yaml(namespace: &str, password: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-credentials\n  namespace: {namespace}\n\
         type: Opaque\nstringData:\n  username: app\n  password: {password}\ndata:\n  token: {}\n",
        support::secrets::b64(TOKEN)
    )
}

/// A ConfigMap beside it: applied only when the whole repo is.
fn config_map_yaml(namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-settings\n  namespace: {namespace}\n\
         data:\n  mode: demo\n"
    )
}

/// Everything every weir run printed.
static TRANSCRIPT: Mutex<String> = Mutex::new(String::new());

/// Runs the real weir with `args`, `TMPDIR` set to `tmp`, no
/// `SOPS_AGE_KEY_FILE` from the test's environment: exit code, stdout,
/// stderr (also kept in [`TRANSCRIPT`]).
fn weir(tmp: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .env("KUBECONFIG", support::kubeconfig_path())
        .env("TMPDIR", tmp)
        .env("WEIR_SOPS", support::tools::sops())
        .env_remove("SOPS_AGE_KEY_FILE")
        .env_remove("SOPS_AGE_KEY")
        .env("NO_COLOR", "1")
        .output()
        .expect("running weir");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    let mut transcript = TRANSCRIPT.lock().unwrap();
    transcript.push_str(&stdout);
    transcript.push_str(&stderr);
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

struct Fixture {
    _work: tempfile::TempDir,
    repo: PathBuf,
    tmp: PathBuf,
    key: AgeKey,
}

impl Fixture {
    /// A repo of one encrypted Secret and one ConfigMap in `namespace`.
    fn new(namespace: &str) -> Self {
        let work = tempfile::tempdir().unwrap();
        let repo = work.path().join("sealed");
        let tmp = work.path().join("tmp");
        let keys = work.path().join("keys");
        for dir in [&repo, &tmp, &keys] {
            std::fs::create_dir_all(dir).unwrap();
        }
        let key = keygen(&keys, "age.agekey");
        let fixture = Self {
            _work: work,
            repo,
            tmp,
            key,
        };
        fixture.write_secret(namespace, PASSWORD);
        std::fs::write(
            fixture.repo.join("settings.yaml"),
            config_map_yaml(namespace),
        )
        .unwrap();
        fixture
    }

    fn write_secret(&self, namespace: &str, password: &str) {
        let sealed = encrypt(&secret_yaml(namespace, password), &self.key.recipient);
        assert!(!sealed.contains(password) && sealed.contains("ENC[AES256_GCM,"));
        std::fs::write(self.repo.join("secret.yaml"), sealed).unwrap();
    }

    fn repo(&self) -> &str {
        self.repo.to_str().unwrap()
    }

    fn key_file(&self) -> &str {
        self.key.file.to_str().unwrap()
    }

    fn weir(&self, args: &[&str]) -> (i32, String, String) {
        weir(&self.tmp, args)
    }

    /// `weir <command> <repo> <args> --sops-age-key-file <the key>`.
    fn with_key(&self, command: &str, args: &[&str]) -> (i32, String, String) {
        let mut all = vec![command, self.repo()];
        all.extend_from_slice(args);
        all.extend(["--sops-age-key-file", self.key_file()]);
        self.weir(&all)
    }
}

#[tokio::test]
async fn an_encrypted_secret_syncs_with_the_key_and_never_shows_its_values() {
    let client = support::cluster().await;
    let ns = support::namespace(&client, "sops").await;
    let fx = Fixture::new(&ns.name);
    let target = support::unique_name("sops");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);

    // --- No key needed to validate, plan or render.
    let (rc, out, err) = fx.weir(&["validate", fx.repo()]);
    assert_eq!(rc, 0, "validate without the key:\n{out}{err}");
    let (rc, out, err) = fx.weir(&["plan", fx.repo()]);
    assert_eq!(rc, 0, "plan without the key:\n{out}{err}");
    assert!(out.contains("Secret"), "{out}");
    let (rc, out, err) = fx.weir(&["render", fx.repo()]);
    assert_eq!(rc, 0, "render without the key:\n{out}{err}");
    assert!(
        !out.contains("sops:"),
        "the sops block is not part of the object:\n{out}"
    );

    // --- Without the key: a clear error naming the file; nothing applied.
    let (rc, out, err) = fx.weir(&["sync", fx.repo(), "--target", &target]);
    assert_eq!(rc, 2, "sync without the key must fail:\n{out}{err}");
    for needle in [
        "secret.yaml",
        "SOPS-encrypted",
        "--sops-age-key-file",
        "SOPS_AGE_KEY_FILE",
        "nothing was applied",
    ] {
        assert!(err.contains(needle), "`{needle}` missing from:\n{err}");
    }
    assert!(secrets.get_opt("db-credentials").await.unwrap().is_none());
    assert!(
        config_maps.get_opt("app-settings").await.unwrap().is_none(),
        "nothing of the repo may be applied without the key"
    );

    // --- diff --cluster with the key: the Secret is added, no value shown.
    let (rc, out, err) = fx.with_key("diff", &["--cluster", "--target", &target]);
    assert_eq!(rc, 1, "the Secret is a difference:\n{out}{err}");
    assert!(out.contains("db-credentials"), "{out}");
    let (rc, out, err) = fx.with_key(
        "diff",
        &["--cluster", "--target", &target, "--output", "json"],
    );
    assert_eq!(rc, 1, "{out}{err}");
    let diff: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(diff["summary"]["added"], 2, "{diff:#}");

    // --- With the key: the Secret is applied decrypted.
    let (rc, out, err) = fx.with_key("sync", &["--target", &target]);
    assert_eq!(rc, 0, "sync with the key:\n{out}{err}");
    let secret = secrets.get("db-credentials").await.unwrap();
    let data = secret.data.unwrap_or_default();
    let value = |key: &str| {
        data.get(key)
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
            .unwrap_or_default()
    };
    assert_eq!(value("password"), PASSWORD);
    assert_eq!(value("username"), "app");
    assert_eq!(value("token"), TOKEN);
    assert!(config_maps.get_opt("app-settings").await.unwrap().is_some());

    // --- The cluster holds what the repo decrypts to: no difference.
    let (rc, out, err) = fx.with_key("diff", &["--cluster", "--target", &target]);
    assert_eq!(rc, 0, "no difference after the sync:\n{out}{err}");

    // --- Between revisions: the same values encrypted again are no change
    // with the key (compared decrypted); without it, the ciphertext is.
    let git = git2::Repository::init(&fx.repo).unwrap();
    support::git::commit(&git, "initial");
    fx.write_secret(&ns.name, PASSWORD);
    let (rc, out, err) = fx.with_key("diff", &["--base", "initial"]);
    assert_eq!(rc, 0, "re-encrypted, same values:\n{out}{err}");
    let (rc, out, err) = fx.weir(&["diff", fx.repo(), "--base", "initial"]);
    assert_eq!(rc, 1, "without the key the ciphertext differs:\n{out}{err}");
    assert!(err.contains("compared by their ciphertext"), "{err}");

    // --- A new value: one changed key, no value on either side.
    fx.write_secret(&ns.name, NEW_PASSWORD);
    let (rc, out, err) = fx.with_key("diff", &["--base", "initial"]);
    assert_eq!(rc, 1, "{out}{err}");
    assert!(out.contains("(changed)"), "{out}");
    let (rc, out, err) = fx.with_key(
        "diff",
        &["--cluster", "--target", &target, "--output", "json"],
    );
    assert_eq!(rc, 1, "{out}{err}");
    let diff: Value = serde_json::from_str(&out).unwrap();
    let fields = diff["objects"][0]["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 1, "{diff:#}");
    assert!(
        fields[0]["path"].as_str().unwrap().ends_with("password"),
        "{diff:#}"
    );
    assert_eq!(fields[0]["redacted"], true, "{diff:#}");
    let (rc, out, err) = fx.with_key("diff", &["--cluster", "--target", &target]);
    assert_eq!(rc, 1, "{out}{err}");
    assert!(out.contains("(changed)"), "{out}");

    // --- A key the file was not encrypted to: refused, nothing changes.
    let other = keygen(fx.key.file.parent().unwrap(), "other.agekey");
    let (rc, out, err) = fx.weir(&[
        "sync",
        fx.repo(),
        "--target",
        &target,
        "--sops-age-key-file",
        other.file.to_str().unwrap(),
    ]);
    assert_eq!(rc, 2, "{out}{err}");
    assert!(
        err.contains("secret.yaml") && err.contains("not one of its recipients"),
        "{err}"
    );
    let secret = secrets.get("db-credentials").await.unwrap();
    let password = secret
        .data
        .unwrap_or_default()
        .get("password")
        .map(|b| b.0.clone());
    assert_eq!(password.as_deref(), Some(PASSWORD.as_bytes()));

    // --- A tampered ciphertext (the mac no longer matches): refused.
    let text = std::fs::read_to_string(fx.repo.join("secret.yaml")).unwrap();
    let tampered = tamper(&text);
    std::fs::write(fx.repo.join("secret.yaml"), tampered).unwrap();
    let (rc, out, err) = fx.with_key("sync", &["--target", &target]);
    assert_eq!(rc, 2, "{out}{err}");
    assert!(
        err.contains("cannot decrypt") && err.contains("secret.yaml"),
        "{err}"
    );

    // --- No plaintext anywhere: every output, weir's temporary directory,
    // the repo, the test target's tmp.
    let needles = leak_forms(&[PASSWORD, TOKEN, NEW_PASSWORD]);
    let transcript = TRANSCRIPT.lock().unwrap().clone();
    assert!(transcript.len() > 500, "too little output to judge");
    for needle in &needles {
        assert!(
            !transcript.contains(needle.as_str()),
            "a Secret value is in weir's output"
        );
    }
    let target_tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let leaked = files_holding(&[fx.tmp.as_path(), fx.repo.as_path(), target_tmp], &needles);
    assert!(leaked.is_empty(), "plaintext written to {leaked:?}");
}

#[tokio::test]
async fn the_agent_decrypts_with_the_key_of_the_secret_its_sync_names() {
    let client = support::cluster().await;
    agent_support::install_crd(&client).await;
    let ns = support::namespace(&client, "sops-agent").await;
    let keys = tempfile::tempdir().unwrap();
    let key = keygen(keys.path(), "age.agekey");
    let server = GitServer::start();
    let repo = server.create_repo("sealed");
    let tree = repo.work_tree();
    tree.write(
        "secret.yaml",
        &encrypt(&secret_yaml(&ns.name, PASSWORD), &key.recipient),
    );
    tree.write("settings.yaml", &config_map_yaml(&ns.name));
    tree.commit("an encrypted Secret");
    tree.push();
    agent_support::git_credentials(&client, &ns.name, "git", &server).await;
    agent_support::apply_sync(
        &client,
        &ns.name,
        "sealed",
        json!({"url": server.http_url(&repo), "interval": "1h", "secretRef": {"name": "git"},
               "target": support::unique_name("sops-agent"),
               "decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}}}),
    )
    .await;
    let agent = Agent::start(&["--namespace", &ns.name]);

    // The Secret with the key does not exist yet: nothing applied, and the
    // status says which Secret to create.
    let sync = support::eventually(
        "the Sync to say the key is missing",
        support::TIMEOUT,
        || async {
            let sync = agent_support::get_sync(&client, &ns.name, "sealed").await;
            let error = sync["status"]["lastError"].as_str()?.to_owned();
            error.contains("sops-age").then_some(sync)
        },
    )
    .await;
    let error = sync["status"]["lastError"].as_str().unwrap();
    assert!(
        error.contains("does not exist") && error.contains("nothing was applied"),
        "{error}"
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    assert!(config_maps.get_opt("app-settings").await.unwrap().is_none());

    // With it, the next attempt applies the Secret decrypted.
    let key_text = std::fs::read_to_string(&key.file).unwrap();
    agent_support::secret(&client, &ns.name, "sops-age", &[("age.agekey", &key_text)]).await;
    let sync = support::eventually("the Sync to be Ready", Duration::from_secs(120), || async {
        let sync = agent_support::get_sync(&client, &ns.name, "sealed").await;
        let ready = agent_support::condition(&sync, "Ready")?;
        (ready.0 == "True").then_some(sync)
    })
    .await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.name);
    let secret = secrets.get("db-credentials").await.unwrap();
    let password = secret
        .data
        .unwrap_or_default()
        .get("password")
        .map(|b| b.0.clone());
    assert_eq!(password.as_deref(), Some(PASSWORD.as_bytes()));

    // No value in its log, its status, its Events or its files.
    let needles = leak_forms(&[PASSWORD, TOKEN]);
    let events = agent_support::events_of(&client, &ns.name, "sealed").await;
    let said = format!("{}\n{sync}\n{events:?}", agent.log_text());
    for needle in &needles {
        assert!(
            !said.contains(needle.as_str()),
            "a Secret value in the agent's output"
        );
    }
    let leaked = files_holding(&[agent.dir()], &needles);
    assert!(leaked.is_empty(), "plaintext written to {leaked:?}");
}

/// `text` with one character of the first encrypted value's ciphertext
/// changed (still well-formed, so only decryption can tell).
fn tamper(text: &str) -> String {
    let at = text.find("ENC[AES256_GCM,data:").unwrap() + "ENC[AES256_GCM,data:".len();
    let mut bytes = text.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn validate_judges_an_encrypted_file_without_the_key() {
    let work = tempfile::tempdir().unwrap();
    let tmp = work.path().join("tmp");
    let repo = work.path().join("sealed");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::create_dir_all(&repo).unwrap();
    let key = keygen(work.path(), "age.agekey");
    let sealed = encrypt(&secret_yaml("apps", PASSWORD), &key.recipient);
    let file = repo.join("secret.yaml");
    let dir = repo.to_str().unwrap();

    // Well-formed: valid, without any key.
    std::fs::write(&file, &sealed).unwrap();
    let (rc, out, err) = weir(&tmp, &["validate", dir]);
    assert_eq!(rc, 0, "{out}{err}");

    // A value in clear in the encrypted file: an error at its line, the
    // value never quoted; plan agrees.
    let line_of = |text: &str, needle: &str| {
        text.lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
            .unwrap()
    };
    let in_clear = "oops-committed-in-clear";
    let password_line = line_of(&sealed, "password: ENC[");
    let tampered: String = sealed
        .lines()
        .map(|l| {
            if l.contains("password: ENC[") {
                format!("    password: {in_clear}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&file, &tampered).unwrap();
    let (rc, out, err) = weir(&tmp, &["validate", dir]);
    assert_eq!(rc, 1, "{out}{err}");
    let at = format!("secret.yaml:{password_line}:");
    assert!(
        out.contains(&at) && out.contains("E0121"),
        "want {at} E0121:\n{out}"
    );
    assert!(
        !out.contains(in_clear) && !err.contains(in_clear),
        "{out}{err}"
    );
    let (rc, out, err) = weir(&tmp, &["plan", dir]);
    assert_eq!(rc, 1, "{out}{err}");
    assert!(
        err.contains(&at) && err.contains("E0121"),
        "plan must agree:\n{err}"
    );

    // A sops block without its mac (and, separately, its recipients).
    let mac_line = line_of(&sealed, "mac: ENC[");
    let sops_line = line_of(&sealed, "sops:");
    let without_mac: String = sealed
        .lines()
        .filter(|l| !l.contains("mac: ENC["))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&file, &without_mac).unwrap();
    let (rc, out, err) = weir(&tmp, &["validate", dir, "--output", "json"]);
    assert_eq!(rc, 1, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let found: Vec<(&str, u64, &str)> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap(),
                d["line"].as_u64().unwrap_or(0),
                d["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        found.iter().any(|(code, line, message)| *code == "E0120"
            && (*line as usize == sops_line || *line as usize == mac_line)
            && message.contains("mac")),
        "{found:?}"
    );
    let without_age = sealed.replace("age1", "nope1");
    std::fs::write(&file, &without_age).unwrap();
    let (rc, out, err) = weir(&tmp, &["validate", dir]);
    assert_eq!(rc, 1, "{out}{err}");
    assert!(
        out.contains("E0120") && out.contains("no age recipient"),
        "{out}"
    );

    let needles = leak_forms(&[PASSWORD]);
    let leaked = files_holding(&[tmp.as_path()], &needles);
    assert!(leaked.is_empty(), "plaintext written to {leaked:?}");
}
