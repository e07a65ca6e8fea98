//! Starting and stopping a local control plane on loopback: etcd,
//! kube-apiserver, kube-controller-manager, kube-scheduler and kwok, with
//! a fresh PKI, free ports and everything else in one state directory:
//!
//! ```text
//! <state>/kubeconfig   admin kubeconfig (system:masters)
//! <state>/bin/         symlinks to the cached binaries (kubectl, helm, ...)
//! <state>/pki/         CA, serving and client certificates, SA key
//! <state>/etcd/        etcd data
//! <state>/logs/        one log per process (+ .cmd with its command line)
//! <state>/pids/        one PID file per process
//! <state>/owner.pid    the `cargo xtask test` run that owns the cluster
//! ```
//!
//! State directories live under `$WEIR_TESTENV_STATE`, else
//! `$TMPDIR/weir-testenv-<uid>`: `default/` for `testenv up`, and
//! `test-<pid>/` for each `cargo xtask test` run.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::build::Toolset;
use crate::certs::{self, Pki};
use crate::kubectl::Kubectl;
use crate::procs::{self, Proc};
use crate::versions::Tool;
use crate::{debian, topology, ui};

/// Service CIDR; its first address (10.96.0.1) is in the apiserver cert.
const SERVICE_CIDR: &str = "10.96.0.0/16";
/// Pod IPs that kwok hands out.
const POD_CIDR: &str = "10.244.0.1/16";
/// The processes, in start order; they are stopped in reverse.
const PROCESSES: [&str; 5] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
];
/// How long each startup phase may take before the start fails.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// The root of all state directories.
pub fn state_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("WEIR_TESTENV_STATE").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let uid = nix::unistd::getuid();
    std::env::temp_dir().join(format!("weir-testenv-{uid}"))
}

/// The state directory of `cargo xtask testenv up`.
pub fn default_state() -> PathBuf {
    state_root().join("default")
}

/// Paths of a cluster's state directory.
#[derive(Debug, Clone)]
pub struct State {
    pub dir: PathBuf,
}

impl State {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }
    pub fn bin(&self) -> PathBuf {
        self.dir.join("bin")
    }
    fn server_file(&self) -> PathBuf {
        self.dir.join("server")
    }
    /// The apiserver URL, once started.
    pub fn server(&self) -> Option<String> {
        fs::read_to_string(self.server_file())
            .ok()
            .map(|s| s.trim().to_owned())
    }
    pub fn kubectl(&self) -> Kubectl {
        Kubectl {
            bin: self.bin().join("kubectl"),
            kubeconfig: self.kubeconfig(),
        }
    }
    /// Whether the directory holds a started cluster.
    pub fn exists(&self) -> bool {
        self.dir.join("pids").is_dir()
    }
    /// The environment a test (or a shell) needs to use this cluster: its
    /// kubeconfig, the built binaries (`WEIR_KUBECTL`, `WEIR_HELM`,
    /// `WEIR_CHARTMUSEUM`, ...: [`Tool::env_vars`], through `bin/`) and the
    /// Debian-packaged servers (`WEIR_LIGHTTPD`, ...: [`debian::env`]).
    pub fn env(&self) -> Vec<(&'static str, PathBuf)> {
        let mut env = vec![
            ("KUBECONFIG", self.kubeconfig()),
            ("WEIR_TEST_KUBECONFIG", self.kubeconfig()),
            ("WEIR_TESTENV_BIN", self.bin()),
        ];
        for tool in Tool::TEST {
            for (var, bin) in tool.env_vars() {
                env.push((var, self.bin().join(bin)));
            }
        }
        env.extend(debian::env());
        env
    }
}

/// A running cluster started by this process.
#[derive(Debug)]
pub struct Cluster {
    pub state: State,
    procs: Vec<Proc>,
}

impl Cluster {
    /// Fails with the log tail of the first process that has exited.
    fn check_processes(&mut self) -> Result<()> {
        if crate::interrupted() {
            bail!("interrupted");
        }
        for p in &mut self.procs {
            if let Some(status) = p.exited() {
                bail!(
                    "{} exited ({status}) while the cluster was starting; last lines of its log:\n{}",
                    p.name,
                    ui::tail(&p.log, 30)
                );
            }
        }
        Ok(())
    }

    /// Leaves the processes running after this process exits (`testenv up`).
    pub fn detach(self) -> State {
        self.state
    }
}

/// Stops whatever runs in `state` and removes the directory.
pub fn stop(state: &State) -> Result<Vec<String>> {
    let stopped = procs::stop_all(&state.dir, &stop_order(), Duration::from_secs(5));
    if state.dir.exists() {
        fs::remove_dir_all(&state.dir)
            .with_context(|| format!("removing {}", state.dir.display()))?;
    }
    Ok(stopped)
}

fn stop_order() -> Vec<&'static str> {
    PROCESSES.iter().rev().copied().collect()
}

/// Removes `test-<pid>` state dirs whose `cargo xtask test` run is gone
/// (killed, crashed), stopping their processes first.
pub fn clean_stale_test_states() -> Result<()> {
    let root = state_root();
    let Ok(entries) = fs::read_dir(&root) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("test-")
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !procs::alive(pid) {
            let state = State::new(entry.path());
            let stopped = stop(&state)?;
            ui::info(&format!(
                "cleaned up the cluster of an earlier run that did not stop ({name}{})",
                if stopped.is_empty() {
                    String::new()
                } else {
                    format!(", stopped {}", stopped.join(", "))
                }
            ));
        }
    }
    Ok(())
}

/// Starts a fresh cluster in `dir` (removing anything left there) and
/// waits until the API is ready and every node is Ready.
pub fn start(dir: PathBuf, tools: &Toolset) -> Result<Cluster> {
    let started = Instant::now();
    let state = State::new(dir);
    if state.dir.exists() {
        let stopped = stop(&state)?;
        if !stopped.is_empty() {
            ui::info(&format!(
                "stopped leftover processes of {}: {}",
                state.dir.display(),
                stopped.join(", ")
            ));
        }
    }
    fs::create_dir_all(&state.dir).with_context(|| format!("creating {}", state.dir.display()))?;
    let mut cluster = Cluster {
        state,
        procs: Vec::new(),
    };
    // On any failure, stop what was started and keep the logs readable.
    match boot(&mut cluster, tools) {
        Ok(()) => {
            ui::step(&format!(
                "control plane ready in {} at {}",
                ui::secs(started.elapsed()),
                cluster.state.server().unwrap_or_default()
            ));
            Ok(cluster)
        }
        Err(err) => {
            let _ = procs::stop_all(&cluster.state.dir, &stop_order(), Duration::from_secs(3));
            if crate::interrupted() {
                let _ = fs::remove_dir_all(&cluster.state.dir);
                return Err(err);
            }
            let logs = cluster.state.dir.join("logs");
            let kept = std::env::temp_dir()
                .join(format!("weir-testenv-failed-logs-{}", std::process::id()));
            let _ = fs::remove_dir_all(&kept);
            let note = match fs::rename(&logs, &kept) {
                Ok(()) => format!("process logs kept in {}", kept.display()),
                Err(_) => String::new(),
            };
            let _ = fs::remove_dir_all(&cluster.state.dir);
            Err(err.context(format!("starting the control plane failed; {note}")))
        }
    }
}

/// Links every binary of `tools` into the state's `bin/`, replacing links
/// that point elsewhere: a cluster started before a tool was added (or
/// bumped) gets it on the next `testenv up`.
pub fn link_binaries(state: &State, tools: &Toolset) -> Result<()> {
    fs::create_dir_all(state.bin())?;
    for (name, path) in tools.binaries() {
        let link = state.bin().join(name);
        if fs::read_link(&link).is_ok_and(|target| target == path) {
            continue;
        }
        if link.symlink_metadata().is_ok() {
            fs::remove_file(&link).with_context(|| format!("removing {}", link.display()))?;
        }
        std::os::unix::fs::symlink(&path, &link)
            .with_context(|| format!("linking {}", path.display()))?;
    }
    Ok(())
}

fn arg(flag: &str, value: impl AsRef<std::ffi::OsStr>) -> String {
    format!("--{flag}={}", Path::new(value.as_ref()).display())
}

fn boot(cluster: &mut Cluster, tools: &Toolset) -> Result<()> {
    let state = cluster.state.clone();
    let dir = &state.dir;

    link_binaries(&state, tools)?;
    let pki = certs::generate(&dir.join("pki"))?;
    let ports = procs::free_ports(3)?;
    let (etcd_port, peer_port, api_port) = (ports[0], ports[1], ports[2]);
    let etcd_url = format!("https://127.0.0.1:{etcd_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let server = format!("https://127.0.0.1:{api_port}");
    fs::write(dir.join("server"), &server)?;
    write_kubeconfig(&state.kubeconfig(), &server, &pki, "admin")?;
    let cm_kubeconfig = dir.join("controller-manager.kubeconfig");
    write_kubeconfig(&cm_kubeconfig, &server, &pki, "controller-manager")?;
    let sched_kubeconfig = dir.join("scheduler.kubeconfig");
    write_kubeconfig(&sched_kubeconfig, &server, &pki, "scheduler")?;

    let t = Instant::now();
    let etcd = procs::spawn(
        dir,
        "etcd",
        &tools.bin("etcd")?,
        &[
            "--name=weir-testenv".to_owned(),
            arg("data-dir", dir.join("etcd")),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=weir-testenv={peer_url}"),
            "--initial-cluster-state=new".to_owned(),
            arg("cert-file", pki.cert("etcd")),
            arg("key-file", pki.key("etcd")),
            arg("trusted-ca-file", pki.ca_cert()),
            "--client-cert-auth=true".to_owned(),
            // Throwaway data: skip fsync, it is the slowest part on CI disks.
            "--unsafe-no-fsync=true".to_owned(),
            "--log-level=warn".to_owned(),
        ],
        &[],
    )?;
    cluster.procs.push(etcd);

    // WEIR_TESTENV_AUDIT=1: an audit log of every request's metadata (who,
    // with which user agent, what), for benchmarks that count a tool's
    // requests (`<state>/audit.log`). Off otherwise: it costs every request.
    let mut audit = Vec::new();
    if std::env::var_os("WEIR_TESTENV_AUDIT").is_some_and(|v| v == "1") {
        let policy = dir.join("audit-policy.yaml");
        std::fs::write(
            &policy,
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n",
        )
        .context("writing the audit policy")?;
        audit.push(arg("audit-policy-file", &policy));
        audit.push(arg("audit-log-path", dir.join("audit.log")));
        audit.push("--audit-log-maxsize=2000".to_owned());
        audit.push("--audit-log-format=json".to_owned());
    }
    let apiserver = procs::spawn(
        dir,
        "kube-apiserver",
        &tools.bin("kube-apiserver")?,
        &[
            format!("--etcd-servers={etcd_url}"),
            arg("etcd-cafile", pki.ca_cert()),
            arg("etcd-certfile", pki.cert("apiserver-etcd-client")),
            arg("etcd-keyfile", pki.key("apiserver-etcd-client")),
            format!("--secure-port={api_port}"),
            "--bind-address=127.0.0.1".to_owned(),
            "--advertise-address=127.0.0.1".to_owned(),
            // The `kubernetes` Service cannot point at a loopback address.
            "--endpoint-reconciler-type=none".to_owned(),
            arg("cert-dir", dir.join("pki")),
            arg("tls-cert-file", pki.cert("apiserver")),
            arg("tls-private-key-file", pki.key("apiserver")),
            arg("client-ca-file", pki.ca_cert()),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".to_owned(),
            arg("service-account-key-file", pki.sa_pub()),
            arg("service-account-signing-key-file", pki.sa_key()),
            format!("--service-cluster-ip-range={SERVICE_CIDR}"),
            "--authorization-mode=Node,RBAC".to_owned(),
            "--allow-privileged=true".to_owned(),
            "--profiling=false".to_owned(),
        ]
        .into_iter()
        .chain(audit)
        .collect::<Vec<_>>(),
        &[],
    )?;
    cluster.procs.push(apiserver);
    wait_api_ready(cluster, &state.kubectl())?;
    ui::info(&format!(
        "etcd and kube-apiserver ready ({}) at {server}",
        ui::secs(t.elapsed())
    ));

    let cm = procs::spawn(
        dir,
        "kube-controller-manager",
        &tools.bin("kube-controller-manager")?,
        &[
            arg("kubeconfig", &cm_kubeconfig),
            arg("authentication-kubeconfig", &cm_kubeconfig),
            arg("authorization-kubeconfig", &cm_kubeconfig),
            "--secure-port=0".to_owned(),
            "--bind-address=127.0.0.1".to_owned(),
            "--leader-elect=false".to_owned(),
            "--controllers=*".to_owned(),
            "--use-service-account-credentials=true".to_owned(),
            arg("service-account-private-key-file", pki.sa_key()),
            arg("root-ca-file", pki.ca_cert()),
            arg("cluster-signing-cert-file", pki.ca_cert()),
            arg("cluster-signing-key-file", pki.ca_key()),
            format!("--service-cluster-ip-range={SERVICE_CIDR}"),
            // Its default (/usr/libexec/...) would be created on the host.
            arg("flex-volume-plugin-dir", dir.join("flexvolume")),
            "--profiling=false".to_owned(),
            // The defaults (20 requests/s per controller) are sized for a
            // shared production API server; this one serves a single test
            // run, and at 20/s the deployment and ReplicaSet controllers,
            // not the tools under test, set the pace of every rollout.
            "--kube-api-qps=200".to_owned(),
            "--kube-api-burst=400".to_owned(),
        ],
        &[],
    )?;
    cluster.procs.push(cm);

    let scheduler = procs::spawn(
        dir,
        "kube-scheduler",
        &tools.bin("kube-scheduler")?,
        &[
            arg("kubeconfig", &sched_kubeconfig),
            arg("authentication-kubeconfig", &sched_kubeconfig),
            arg("authorization-kubeconfig", &sched_kubeconfig),
            "--secure-port=0".to_owned(),
            "--bind-address=127.0.0.1".to_owned(),
            "--leader-elect=false".to_owned(),
            "--profiling=false".to_owned(),
            // As for the controller-manager: binding, not the tools, would
            // set the pace at the default 50 requests/s.
            "--kube-api-qps=200".to_owned(),
            "--kube-api-burst=400".to_owned(),
        ],
        &[],
    )?;
    cluster.procs.push(scheduler);

    // kwok reads ~/.kwok/kwok.yaml when it exists: give it a HOME of its own.
    let kwok_home = dir.join("kwok-home");
    fs::create_dir_all(&kwok_home)?;
    let kwok = procs::spawn(
        dir,
        "kwok",
        &tools.bin("kwok")?,
        &[
            arg("kubeconfig", state.kubeconfig()),
            arg("config", tools.kwok_stages()?),
            "--manage-all-nodes=false".to_owned(),
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake".to_owned(),
            "--node-ip=10.240.0.1".to_owned(),
            format!("--cidr={POD_CIDR}"),
            "--node-lease-duration-seconds=40".to_owned(),
        ],
        &[("HOME", &kwok_home)],
    )?;
    cluster.procs.push(kwok);

    let t = Instant::now();
    let kubectl = state.kubectl();
    topology::create(&kubectl).context("creating the nodes")?;
    topology::wait_ready(&kubectl, START_TIMEOUT, || cluster.check_processes())?;
    ui::info(&format!(
        "{} kwok nodes Ready ({})",
        topology::nodes().len(),
        ui::secs(t.elapsed())
    ));
    Ok(())
}

fn wait_api_ready(cluster: &mut Cluster, kubectl: &Kubectl) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        cluster.check_processes()?;
        match kubectl.run(&["get", "--raw=/readyz"]) {
            Ok(out) if out.trim() == "ok" => return Ok(()),
            Ok(_) | Err(_) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(250));
            }
            Ok(out) => bail!("kube-apiserver not ready after {START_TIMEOUT:?}: {out}"),
            Err(err) => {
                return Err(err.context(format!(
                    "kube-apiserver not ready after {START_TIMEOUT:?}; last lines of its log:\n{}",
                    ui::tail(&cluster.state.dir.join("logs/kube-apiserver.log"), 30)
                )));
            }
        }
    }
}

/// A kubeconfig for `user` (`<user>.crt`/`.key` in the PKI), with paths to
/// the PEM files.
fn write_kubeconfig(path: &Path, server: &str, pki: &Pki, user: &str) -> Result<()> {
    let text = format!(
        "apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - name: weir-testenv\n  \
           cluster:\n    \
             server: {server}\n    \
             certificate-authority: {ca}\n\
         users:\n\
         - name: {user}\n  \
           user:\n    \
             client-certificate: {cert}\n    \
             client-key: {key}\n\
         contexts:\n\
         - name: weir-testenv\n  \
           context:\n    \
             cluster: weir-testenv\n    \
             user: {user}\n    \
             namespace: default\n\
         current-context: weir-testenv\n",
        ca = pki.ca_cert().display(),
        cert = pki.cert(user).display(),
        key = pki.key(user).display(),
    );
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// What `testenv status` prints: each process and the node readiness.
pub fn status(state: &State) -> Result<bool> {
    if !state.exists() {
        ui::info(&format!("no control plane in {}", state.dir.display()));
        return Ok(false);
    }
    let running = procs::recorded(&state.dir);
    let mut healthy = true;
    for name in PROCESSES {
        match running.iter().find(|(n, _)| n == name) {
            Some((_, pid)) => ui::info(&format!("{name:<24} running (pid {pid})")),
            None => {
                healthy = false;
                ui::info(&format!(
                    "{name:<24} NOT running (log: {})",
                    state.dir.join("logs").join(format!("{name}.log")).display()
                ));
            }
        }
    }
    if let Some(server) = state.server() {
        ui::info(&format!("server: {server}"));
    }
    match state.kubectl().run(&["get", "--raw=/readyz"]) {
        Ok(_) => ui::info("api: ready"),
        Err(_) => {
            healthy = false;
            ui::info("api: NOT ready");
        }
    }
    Ok(healthy)
}

/// Whether `state` holds a cluster whose processes all run and whose API
/// answers.
pub fn is_running(state: &State) -> bool {
    state.exists()
        && procs::recorded(&state.dir).len() == PROCESSES.len()
        && state.kubectl().run(&["get", "--raw=/readyz"]).is_ok()
}
