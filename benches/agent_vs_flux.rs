//! `weir agent` against Flux (source-controller and kustomize-controller,
//! built by `cargo xtask tools`) on the same control plane, the same Git
//! server and the same workload, run by `benches/agent_vs_flux.sh` (which
//! starts a control plane of its own with an audit log, so requests can be
//! counted by user agent).
//!
//! One repository holds the workload twice, `weir/` (three Components in
//! three waves) and `flux/` (three directories, one Kustomization each,
//! chained by `dependsOn` with `wait: true`), each into a fresh namespace:
//! stage a 500 ConfigMaps, stage b 500 ConfigMaps, stage c 200
//! Deployments. Both tools poll every minute (the Sync's `interval`; the
//! GitRepository's and Kustomizations' `interval`). weir runs first, alone;
//! Flux's controllers start once weir's first two rows are measured.
//!
//! 1. first sync: the Sync / the GitRepository and Kustomizations created,
//!    to Ready at the commit (every stage);
//! 2. a one-field change (a ConfigMap of stage a): push to applied (the
//!    ConfigMap holds the new value) and push to Ready; triggered by a
//!    request to reconcile now, the same for both (Flux's
//!    `reconcile.fluxcd.io/requestedAt` on the GitRepository, which is what
//!    its notification-controller's webhook Receiver sets; weir's
//!    `weir.dev/reconcile-requested-at` on the Sync), and for weir also by
//!    its own GitHub webhook;
//! 3. idle (`IDLE_SECONDS`, default 300) with 5,000 managed objects each
//!    (stage a grown by 3,800 ConfigMaps): mutating and read requests per
//!    minute from the audit log by user agent, CPU seconds of each tool's
//!    processes, and their peak RSS (Flux: both controllers summed);
//! 4. drift: one managed ConfigMap deleted, time until it is back.
//!
//! Also weir's and Flux's apply rate in the first sync (stage a's 500
//! ConfigMaps: applies over their span in the audit log), as a share of
//! the API server's ceiling measured by `benches/apply_ceiling.rs`
//! (`WEIR_BENCH_CEILING_FILE`). Prints a table with the ratios.

// A benchmark is a terminal program: it prints its table.
#![allow(clippy::disallowed_macros)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use serde_json::{Value, json};
use support::agent::{self as agent_support, Agent, free_port};
use support::gitserver::{Flavor, GitServer, WorkTree};
use support::measure::{audit_events, by_agent, cpu_seconds, memory_kb};

/// Where the Sync, the GitRepository and the Kustomizations live.
const CONTROL: &str = "bench-control";
const WEIR_NS: &str = "bench-weir";
const FLUX_NS: &str = "bench-flux";
const TOKEN: &str = "bench-webhook-token-0123456789";
const INTERVAL: &str = "1m";

fn env_path(var: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{var} is not set: run benches/agent_vs_flux.sh"))
}

// ------------------------------------------------------------- the workload

/// ConfigMaps `cm-<stage>-<from..to>`, 100 to a file, into `dir`.
fn write_configmaps(
    tree: &WorkTree,
    dir: &str,
    stage: &str,
    range: std::ops::Range<usize>,
    ns: Option<&str>,
) {
    let namespace = ns.map(|n| format!(", namespace: {n}")).unwrap_or_default();
    let mut start = range.start;
    while start < range.end {
        let end = (start + 100).min(range.end);
        let text: String = (start..end)
            .map(|i| {
                format!(
                    "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{stage}-{i}{namespace}}}\ndata: {{key: value-{i}}}\n"
                )
            })
            .collect();
        tree.write(&format!("{dir}/cms-{stage}-{start}.yaml"), &text);
        start = end;
    }
}

fn write_deployments(tree: &WorkTree, dir: &str, ns: Option<&str>) {
    let namespace = ns.map(|n| format!(", namespace: {n}")).unwrap_or_default();
    let text: String = (0..200)
        .map(|i| {
            format!(
                "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web-{i}{namespace}}}\n\
                 spec:\n  replicas: 1\n  selector: {{matchLabels: {{app: web-{i}}}}}\n  template:\n    \
                 metadata: {{labels: {{app: web-{i}}}}}\n    spec:\n      containers:\n      \
                 - {{name: web, image: \"nginx:1.27\"}}\n"
            )
        })
        .collect();
    tree.write(&format!("{dir}/deployments.yaml"), &text);
}

/// The workload for both tools, in `weir/` and `flux/`.
fn write_workload(tree: &WorkTree) {
    tree.write(
        "weir/weir.yaml",
        "apiVersion: weir.dev/v1alpha1\nkind: Repository\nmetadata: {name: bench}\nspec:\n  waves: [a, b, c]\n",
    );
    for (stage, create) in [("a", true), ("b", false), ("c", false)] {
        tree.write(
            &format!("weir/{stage}/component.yaml"),
            &format!(
                "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: {stage}}}\nspec:\n  \
                 namespace: {WEIR_NS}\n  createNamespace: {create}\n  source: {{path: m}}\n  wave: {stage}\n"
            ),
        );
    }
    write_configmaps(tree, "weir/a/m", "a", 0..500, None);
    write_configmaps(tree, "weir/b/m", "b", 0..500, None);
    write_deployments(tree, "weir/c/m", None);

    tree.write(
        "flux/a/namespace.yaml",
        &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {FLUX_NS}}}\n"),
    );
    write_configmaps(tree, "flux/a", "a", 0..500, Some(FLUX_NS));
    write_configmaps(tree, "flux/b", "b", 0..500, Some(FLUX_NS));
    write_deployments(tree, "flux/c", Some(FLUX_NS));
}

/// Changes `cm-a-0`'s value in both trees (the first ConfigMap of its
/// file: the `data` line after its `metadata` line).
fn change(tree: &WorkTree, value: &str) {
    for dir in ["weir/a/m", "flux/a"] {
        let path = tree.path().join(format!("{dir}/cms-a-0.yaml"));
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let at = lines
            .iter()
            .position(|l| {
                l.starts_with("metadata: {name: cm-a-0}")
                    || l.starts_with("metadata: {name: cm-a-0,")
            })
            .unwrap();
        lines[at + 1] = format!("data: {{key: {value}}}");
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    }
}

// ----------------------------------------------------------------- Flux

fn git_repository() -> ApiResource {
    ApiResource {
        group: "source.toolkit.fluxcd.io".into(),
        version: "v1".into(),
        api_version: "source.toolkit.fluxcd.io/v1".into(),
        kind: "GitRepository".into(),
        plural: "gitrepositories".into(),
    }
}

fn kustomization() -> ApiResource {
    ApiResource {
        group: "kustomize.toolkit.fluxcd.io".into(),
        version: "v1".into(),
        api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
        kind: "Kustomization".into(),
        plural: "kustomizations".into(),
    }
}

/// Flux's two controllers as processes, killed on drop.
struct Flux {
    children: Vec<Child>,
    dir: tempfile::TempDir,
}

impl Flux {
    fn start() -> Flux {
        let dir = tempfile::tempdir().unwrap();
        // source-controller refuses a storage path that does not exist.
        std::fs::create_dir(dir.path().join("storage")).unwrap();
        let storage = free_port();
        let mut children = Vec::new();
        let source = env_path("WEIR_FLUX_SOURCE_CONTROLLER");
        let kustomize = env_path("WEIR_FLUX_KUSTOMIZE_CONTROLLER");
        for (bin, extra) in [
            (
                &source,
                vec![
                    format!("--storage-path={}", dir.path().join("storage").display()),
                    format!("--storage-addr=127.0.0.1:{storage}"),
                    format!("--storage-adv-addr=127.0.0.1:{storage}"),
                ],
            ),
            (&kustomize, vec![]),
        ] {
            let name = bin.file_name().unwrap().to_string_lossy().into_owned();
            if let Ok(mut logs) = LOGS.lock() {
                logs.push(dir.path().join(format!("{name}.log")));
                logs.push(dir.path().join(format!("{name}.err")));
            }
            let child = Command::new(bin)
                .args(extra)
                .arg(format!("--metrics-addr=127.0.0.1:{}", free_port()))
                .arg(format!("--health-addr=127.0.0.1:{}", free_port()))
                .arg("--enable-leader-election=false")
                .arg("--watch-all-namespaces=true")
                .env("KUBECONFIG", support::kubeconfig_path())
                .env("RUNTIME_NAMESPACE", CONTROL)
                .env("TMPDIR", dir.path())
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(dir.path().join(format!("{name}.log"))).unwrap())
                .stderr(Stdio::from(
                    std::fs::File::create(dir.path().join(format!("{name}.err"))).unwrap(),
                ))
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
            if let Ok(mut watched) = WATCHED.lock() {
                watched.push((name, child.id()));
            }
            children.push(child);
        }
        Flux { children, dir }
    }

    fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            if entry.path().is_file() {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(20).collect();
                out.push_str(&format!("== {}\n", entry.path().display()));
                for l in tail.into_iter().rev() {
                    out.push_str(l);
                    out.push('\n');
                }
            }
        }
        out
    }
}

impl Drop for Flux {
    fn drop(&mut self) {
        if let Ok(mut watched) = WATCHED.lock() {
            watched.clear();
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn install_flux_crds() {
    let mut args: Vec<std::ffi::OsString> = vec!["apply".into(), "--server-side".into()];
    for var in [
        "WEIR_FLUX_SOURCE_CONTROLLER",
        "WEIR_FLUX_KUSTOMIZE_CONTROLLER",
    ] {
        // `cargo xtask tools` keeps a controller's CRDs beside its bin/.
        let bin = env_path(var);
        let crds = bin
            .parent()
            .and_then(|b| b.parent())
            .expect("a tool's binary is in <dir>/bin")
            .join("crds");
        args.extend(["-f".into(), crds.into_os_string()]);
    }
    support::kubectl_ok(&args);
    support::kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/gitrepositories.source.toolkit.fluxcd.io",
        "crd/kustomizations.kustomize.toolkit.fluxcd.io",
    ]);
}

async fn apply(client: &kube::Client, resource: &ApiResource, body: Value) {
    let name = body["metadata"]["name"].as_str().unwrap().to_owned();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), CONTROL, resource);
    api.patch(
        &name,
        &PatchParams::apply("weir-bench").force(),
        &Patch::Apply(&body),
    )
    .await
    .unwrap_or_else(|e| panic!("applying {name}: {e}"));
}

async fn create_flux_objects(client: &kube::Client, url: &str) {
    apply(
        client,
        &git_repository(),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
               "metadata": {"name": "bench", "namespace": CONTROL},
               "spec": {"interval": INTERVAL, "url": url, "ref": {"branch": "main"},
                        "secretRef": {"name": "git"}, "timeout": "60s"}}),
    )
    .await;
    for (stage, depends) in [("a", None), ("b", Some("a")), ("c", Some("b"))] {
        let mut spec = json!({"interval": INTERVAL, "path": format!("./flux/{stage}"),
            "prune": true, "wait": true, "timeout": "5m",
            "sourceRef": {"kind": "GitRepository", "name": "bench"}});
        if let Some(d) = depends {
            spec["dependsOn"] = json!([{"name": d}]);
        }
        apply(
            client,
            &kustomization(),
            json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                   "metadata": {"name": stage, "namespace": CONTROL}, "spec": spec}),
        )
        .await;
    }
}

fn ready(object: &Value) -> bool {
    object["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Whether all three Kustomizations are Ready at `commit`.
async fn flux_ready(client: &kube::Client, commit: &str) -> bool {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), CONTROL, &kustomization());
    for stage in ["a", "b", "c"] {
        let Ok(k) = api.get(stage).await else {
            return false;
        };
        let k = serde_json::to_value(k).unwrap();
        let at = k["status"]["lastAppliedRevision"]
            .as_str()
            .is_some_and(|r| r.ends_with(commit));
        if !(at && ready(&k)) {
            return false;
        }
    }
    true
}

async fn weir_ready(client: &kube::Client, commit: &str) -> bool {
    let sync = agent_support::get_sync(client, CONTROL, "bench").await;
    agent_support::condition(&sync, "Ready").is_some_and(|r| r.0 == "True")
        && sync["status"]["lastAppliedRevision"] == commit
}

async fn value_of(client: &kube::Client, ns: &str, name: &str) -> Option<String> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    api.get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|cm| cm.data?.get("key").cloned())
}

/// Nodes for this benchmark's pods: each tool runs 200 one-replica
/// Deployments, 400 pods together, and the test topology's three untainted
/// nodes hold 330 (110 each); without these, 70 of Flux's pods stay Pending
/// and its first sync never becomes Ready. Created like the topology's
/// (kwok manages Nodes annotated `kwok.x-k8s.io/node: fake`; a Node takes
/// its status on create), and waited for until Ready.
async fn add_nodes(client: &kube::Client) {
    use k8s_openapi::api::core::v1::Node;
    let nodes: Api<Node> = Api::all(client.clone());
    let names = ["bench-1", "bench-2", "bench-3"];
    for (i, name) in names.iter().enumerate() {
        let resources =
            json!({"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"});
        let node: Node = serde_json::from_value(json!({
            "metadata": {
                "name": name,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {"kubernetes.io/hostname": name, "type": "kwok", "pool": "bench"},
            },
            "status": {
                "capacity": resources,
                "allocatable": resources,
                "addresses": [
                    {"type": "InternalIP", "address": format!("10.240.1.{}", i + 10)},
                    {"type": "Hostname", "address": name},
                ],
            },
        }))
        .unwrap();
        match nodes.create(&Default::default(), &node).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => panic!("creating node {name}: {e}"),
        }
    }
    until("bench nodes Ready", Duration::from_secs(120), || async {
        let mut ready = 0;
        for name in names {
            let conditions = nodes
                .get(name)
                .await
                .ok()
                .and_then(|n| n.status?.conditions)
                .unwrap_or_default();
            if conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
            {
                ready += 1;
            }
        }
        ready == names.len()
    })
    .await;
}

/// Polls `check` every 50 ms until it holds; the time it took.
async fn until<F, Fut>(what: &str, limit: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        if start.elapsed() >= limit {
            panic!("{what}: not within {limit:?}\n{}", diagnostics());
        }
        if let Some(name) = exited() {
            panic!("{what}: {name} exited\n{}", diagnostics());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Processes the benchmark started that must keep running (Flux's
/// controllers), by name and pid: waiting on a tool that has exited would
/// only end at the time limit.
static WATCHED: std::sync::Mutex<Vec<(String, u32)>> = std::sync::Mutex::new(Vec::new());

/// The first watched process that is gone or a zombie (exited, not yet
/// reaped: children are reaped only when `Flux` is dropped).
fn exited() -> Option<String> {
    let watched = WATCHED.lock().ok()?;
    watched.iter().find_map(|(name, pid)| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The state follows the parenthesised command name.
        let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
        match state {
            Some(rest) if !rest.starts_with('Z') && !rest.starts_with('X') => None,
            _ => Some(name.clone()),
        }
    })
}

/// Log files whose ends a failure prints.
static LOGS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// What the tools say: their objects as the API server holds them, and
/// the ends of their logs.
fn diagnostics() -> String {
    let mut out = String::new();
    let objects = Command::new(support::kubectl())
        .arg("--kubeconfig")
        .arg(support::kubeconfig_path())
        .args([
            "get",
            "syncs.weir.dev,gitrepositories,kustomizations",
            "-n",
            CONTROL,
            "-o",
            "yaml",
        ])
        .output();
    if let Ok(o) = objects {
        out.push_str(&String::from_utf8_lossy(&o.stdout));
        out.push_str(&String::from_utf8_lossy(&o.stderr));
    }
    for path in LOGS.lock().map(|l| l.clone()).unwrap_or_default() {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        out.push_str(&format!("== {} (last 30 lines)\n", path.display()));
        for l in &lines[lines.len().saturating_sub(30)..] {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

// --------------------------------------------------- audit log and /proc

#[derive(Clone, Copy, PartialEq)]
enum Tool {
    Weir,
    Flux,
}

fn is_of(e: &Value, tool: Tool) -> bool {
    match tool {
        Tool::Weir => by_agent(e, "weir-agent/"),
        Tool::Flux => by_agent(e, "source-controller/") || by_agent(e, "kustomize-controller/"),
    }
}

fn mutating(e: &Value) -> bool {
    matches!(
        e["verb"].as_str(),
        Some("create" | "update" | "patch" | "delete" | "deletecollection")
    )
}

fn dry_run(e: &Value) -> bool {
    e["requestURI"]
        .as_str()
        .is_some_and(|u| u.contains("dryRun="))
}

/// Applies of stage a's ConfigMaps in `ns` by `tool`, per second over
/// their span.
fn apply_rate(events: &[Value], tool: Tool, ns: &str) -> Option<(usize, f64)> {
    let times: Vec<jiff::Timestamp> = events
        .iter()
        .filter(|e| is_of(e, tool) && mutating(e) && !dry_run(e))
        .filter(|e| {
            e["objectRef"]["resource"] == "configmaps"
                && e["objectRef"]["namespace"] == ns
                && e["objectRef"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("cm-a-"))
        })
        .filter_map(|e| e["requestReceivedTimestamp"].as_str()?.parse().ok())
        .collect();
    let first = times.iter().min()?;
    let last = times.iter().max()?;
    let span = last.duration_since(*first).as_secs_f64();
    (span > 0.0).then(|| (times.len(), times.len() as f64 / span))
}

// ------------------------------------------------------------------ table

struct Row {
    what: String,
    weir: f64,
    flux: f64,
    unit: &'static str,
}

fn print_table(rows: &[Row], notes: &[String]) {
    println!(
        "\nweir agent vs Flux (source-controller + kustomize-controller), same cluster and Git server\n"
    );
    println!("  {:<58} {:>12} {:>12}  Flux / weir", "", "weir", "Flux");
    for r in rows {
        let ratio = if r.weir > 0.0 {
            format!("{:.1}x", r.flux / r.weir)
        } else if r.flux > 0.0 {
            "weir: none".to_owned()
        } else {
            "-".to_owned()
        };
        println!(
            "  {:<58} {:>9.2} {:<2} {:>9.2} {:<2}  {ratio}",
            r.what, r.weir, r.unit, r.flux, r.unit
        );
    }
    println!();
    for n in notes {
        println!("  {n}");
    }
}

#[tokio::main]
async fn main() {
    let idle: u64 = std::env::var("IDLE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let client = support::cluster().await;
    agent_support::install_crd(&client).await;
    install_flux_crds();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(json!({"metadata": {"name": CONTROL}})).unwrap();
    let _ = namespaces.create(&Default::default(), &ns).await;
    add_nodes(&client).await;

    let server = GitServer::start();
    let repo = server.create_repo("workload");
    let tree = repo.work_tree();
    write_workload(&tree);
    let first = tree.commit("the workload");
    tree.push();
    agent_support::git_credentials(&client, CONTROL, "git", &server).await;
    agent_support::secret(&client, CONTROL, "hook", &[("token", TOKEN)]).await;
    let url = server.http_url(&repo);
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let limit = Duration::from_secs(900);

    // ---- weir, alone.
    eprintln!("weir: first sync");
    let agent = Agent::start(&["--namespace", CONTROL]);
    let weir_pid = agent.pid().expect("the agent runs");
    if let Ok(mut logs) = LOGS.lock() {
        logs.push(agent.dir().join("agent.log"));
    }
    let started = jiff::Timestamp::now();
    agent_support::apply_sync(
        &client,
        CONTROL,
        "bench",
        json!({"url": url, "path": "weir", "interval": INTERVAL, "target": "bench",
               "secretRef": {"name": "git"}, "timeout": "5m",
               "webhook": {"secretRef": {"name": "hook"}}}),
    )
    .await;
    let weir_first = until("weir first sync", limit, || weir_ready(&client, &first)).await;
    let weir_rate = apply_rate(
        &audit_events(started, jiff::Timestamp::now()),
        Tool::Weir,
        WEIR_NS,
    );

    eprintln!("weir: a change by webhook");
    repo.set_webhook(
        &format!("http://127.0.0.1:{}/hooks/{CONTROL}/bench", agent.port),
        TOKEN,
        Flavor::GitHub,
    );
    change(&tree, "by-webhook");
    let by_hook = tree.commit("a change, by webhook");
    let pushed = Instant::now();
    tree.push();
    until("weir applied (webhook)", limit, || async {
        value_of(&client, WEIR_NS, "cm-a-0").await.as_deref() == Some("by-webhook")
    })
    .await;
    let weir_hook_applied = pushed.elapsed();
    until("weir Ready (webhook)", limit, || {
        weir_ready(&client, &by_hook)
    })
    .await;
    let weir_hook_ready = pushed.elapsed();
    repo.clear_webhook();

    eprintln!("weir: a change by reconcile request");
    change(&tree, "by-request-weir");
    let by_request = tree.commit("a change, by request");
    let pushed = Instant::now();
    tree.push();
    agent_support::patch_sync(
        &client,
        CONTROL,
        "bench",
        json!({"metadata": {"annotations": {"weir.dev/reconcile-requested-at": jiff::Timestamp::now().to_string()}}}),
    )
    .await;
    until("weir applied (request)", limit, || async {
        value_of(&client, WEIR_NS, "cm-a-0").await.as_deref() == Some("by-request-weir")
    })
    .await;
    let weir_req_applied = pushed.elapsed();
    until("weir Ready (request)", limit, || {
        weir_ready(&client, &by_request)
    })
    .await;
    let weir_req_ready = pushed.elapsed();

    // ---- Flux.
    eprintln!("Flux: first sync");
    let flux = Flux::start();
    let started = jiff::Timestamp::now();
    let head = by_request.clone();
    create_flux_objects(&client, &url).await;
    let flux_first = until("Flux first sync", limit, || flux_ready(&client, &head)).await;
    let flux_rate = apply_rate(
        &audit_events(started, jiff::Timestamp::now()),
        Tool::Flux,
        FLUX_NS,
    );

    eprintln!("Flux: a change by reconcile request");
    change(&tree, "by-request-flux");
    let flux_change = tree.commit("a change for Flux, by request");
    let pushed = Instant::now();
    tree.push();
    let repos: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), CONTROL, &git_repository());
    repos
        .patch(
            "bench",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {
                "reconcile.fluxcd.io/requestedAt": jiff::Timestamp::now().to_string()}}})),
        )
        .await
        .unwrap();
    until("Flux applied (request)", limit, || async {
        value_of(&client, FLUX_NS, "cm-a-0").await.as_deref() == Some("by-request-flux")
    })
    .await;
    let flux_req_applied = pushed.elapsed();
    until("Flux Ready (request)", limit, || {
        flux_ready(&client, &flux_change)
    })
    .await;
    let flux_req_ready = pushed.elapsed();

    // ---- 5,000 objects each.
    eprintln!("both: growing to 5,000 objects");
    write_configmaps(&tree, "weir/a/m", "g", 0..3800, None);
    write_configmaps(&tree, "flux/a", "g", 0..3800, Some(FLUX_NS));
    let grown = tree.commit("5,000 objects");
    tree.push();
    let now = jiff::Timestamp::now().to_string();
    agent_support::patch_sync(
        &client,
        CONTROL,
        "bench",
        json!({"metadata": {"annotations": {"weir.dev/reconcile-requested-at": now}}}),
    )
    .await;
    repos
        .patch(
            "bench",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {
                "reconcile.fluxcd.io/requestedAt": now}}})),
        )
        .await
        .unwrap();
    until("weir at 5,000", limit, || weir_ready(&client, &grown)).await;
    until("Flux at 5,000", limit, || flux_ready(&client, &grown)).await;
    tokio::time::sleep(Duration::from_secs(10)).await;

    // ---- Idle.
    eprintln!("both: idle for {idle} s");
    let flux_pids = flux.pids();
    let cpu = |pids: &[u32]| pids.iter().map(|&p| cpu_seconds(p)).sum::<f64>();
    let (weir_cpu0, flux_cpu0) = (cpu(&[weir_pid]), cpu(&flux_pids));
    let from = jiff::Timestamp::now();
    tokio::time::sleep(Duration::from_secs(idle)).await;
    let to = jiff::Timestamp::now();
    let (weir_cpu, flux_cpu) = (cpu(&[weir_pid]) - weir_cpu0, cpu(&flux_pids) - flux_cpu0);
    let events = audit_events(from, to);
    let minutes = idle as f64 / 60.0;
    // Writes are split from server-side dry-run requests (Flux's drift
    // detection dry-runs an apply of every object on every interval; the
    // audit log records them as `patch`, but they change nothing).
    #[derive(PartialEq)]
    enum Class {
        Write,
        DryRun,
        Read,
    }
    let class = |e: &Value| match (mutating(e), dry_run(e)) {
        (true, false) => Class::Write,
        (true, true) => Class::DryRun,
        (false, _) => Class::Read,
    };
    let count = |tool: Tool, wanted: Class| {
        events
            .iter()
            .filter(|e| is_of(e, tool))
            // Leases are each tool's own bookkeeping; events too.
            .filter(|e| {
                !matches!(
                    e["objectRef"]["resource"].as_str(),
                    Some("leases" | "events")
                )
            })
            .filter(|e| class(e) == wanted)
            .count() as f64
            / minutes
    };
    let mut agents: std::collections::BTreeMap<String, usize> = Default::default();
    for e in &events {
        let ua = e["userAgent"]
            .as_str()
            .unwrap_or("")
            .split(' ')
            .next()
            .unwrap_or("")
            .to_owned();
        *agents.entry(ua).or_default() += 1;
    }
    notes.push(format!(
        "idle requests by user agent ({idle} s): {agents:?}"
    ));

    // ---- Drift.
    eprintln!("both: drift");
    let mut drift = Vec::new();
    for ns in [WEIR_NS, FLUX_NS] {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        api.delete("cm-b-7", &DeleteParams::default())
            .await
            .unwrap();
        let took = until(
            &format!("drift healed in {ns}"),
            Duration::from_secs(300),
            || async { api.get_opt("cm-b-7").await.ok().flatten().is_some() },
        )
        .await;
        drift.push(took.as_secs_f64());
    }

    let weir_rss = memory_kb(weir_pid, "VmHWM:") as f64 / 1024.0;
    let flux_rss: f64 = flux_pids
        .iter()
        .map(|&p| memory_kb(p, "VmHWM:") as f64 / 1024.0)
        .sum();
    let secs = |d: Duration| d.as_secs_f64();
    rows.push(Row {
        what: "1 first sync, 1,200 objects in 3 stages, to Ready".into(),
        weir: secs(weir_first),
        flux: secs(flux_first),
        unit: "s",
    });
    rows.push(Row {
        what: "2 change by reconcile request: push to applied".into(),
        weir: secs(weir_req_applied),
        flux: secs(flux_req_applied),
        unit: "s",
    });
    rows.push(Row {
        what: "2 change by reconcile request: push to Ready".into(),
        weir: secs(weir_req_ready),
        flux: secs(flux_req_ready),
        unit: "s",
    });
    rows.push(Row {
        what: "3 idle, 5,000 objects: writes per minute".into(),
        weir: count(Tool::Weir, Class::Write),
        flux: count(Tool::Flux, Class::Write),
        unit: "",
    });
    rows.push(Row {
        what: "3 idle, 5,000 objects: dry-run applies per minute".into(),
        weir: count(Tool::Weir, Class::DryRun),
        flux: count(Tool::Flux, Class::DryRun),
        unit: "",
    });
    rows.push(Row {
        what: "3 idle, 5,000 objects: reads per minute".into(),
        weir: count(Tool::Weir, Class::Read),
        flux: count(Tool::Flux, Class::Read),
        unit: "",
    });
    rows.push(Row {
        what: "3 idle: CPU seconds".into(),
        weir: weir_cpu,
        flux: flux_cpu,
        unit: "s",
    });
    rows.push(Row {
        what: "3 peak RSS over the run (Flux: both controllers)".into(),
        weir: weir_rss,
        flux: flux_rss,
        unit: "MB",
    });
    rows.push(Row {
        what: "4 drift: deleted ConfigMap back after".into(),
        weir: drift[0],
        flux: drift[1],
        unit: "s",
    });
    notes.push(format!(
        "weir by its GitHub webhook: push to applied {:.2} s, push to Ready {:.2} s (Flux's webhook needs its notification-controller, not run here; a Receiver sets the same requestedAt annotation)",
        secs(weir_hook_applied),
        secs(weir_hook_ready)
    ));
    notes.push(format!(
        "both poll every {INTERVAL} (Sync interval; GitRepository and Kustomization interval); Kustomizations wait: true, dependsOn a <- b <- c"
    ));
    let ceiling = std::env::var_os("WEIR_BENCH_CEILING_FILE")
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| s.trim().parse::<f64>().ok());
    for (tool, rate) in [("weir", weir_rate), ("Flux", flux_rate)] {
        match (rate, ceiling) {
            (Some((n, r)), Some(c)) => notes.push(format!(
                "{tool} apply rate, first sync (stage a, {n} applies): {r:.0}/s = {:.0}% of the API server's ceiling ({c:.0}/s)",
                100.0 * r / c
            )),
            (Some((n, r)), None) => notes.push(format!("{tool} apply rate, first sync (stage a, {n} applies): {r:.0}/s")),
            _ => notes.push(format!("{tool} apply rate: not measured (no applies in the audit log)")),
        }
    }
    if std::env::var_os("WEIR_BENCH_VERBOSE").is_some() {
        eprintln!("{}", flux.logs());
    }
    print_table(&rows, &notes);
    drop(agent);
}
