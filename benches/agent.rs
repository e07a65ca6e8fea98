//! Benchmark of `weir agent` (run by `benches/agent.sh`, which starts a
//! control plane with an audit log of its own): the release agent syncing
//! `example-repo` from the real Git server, then
//!
//! 1. a one-field change pushed with a GitHub webhook: from the webhook's
//!    arrival to the agent's first apply request (from the agent's log and
//!    the API server's audit log), and from the push to the Sync Ready;
//! 2. idle (`IDLE_SECONDS`, default 300): the agent's requests per minute by
//!    kind (reads, writes of managed objects, Lease writes), from the audit
//!    log by user agent;
//! 3. its memory: peak RSS syncing example-repo, and managing 10,000
//!    objects (a second Sync of 10,000 ConfigMaps);
//! 4. the status page of that 10,000-object Sync: time to serve it.
//!
//! Prints a table. Goals (issue "The in-cluster agent"): first apply under
//! 1 s after the webhook; zero idle writes; RSS under 50 MB for
//! example-repo and under 200 MB at 10,000 objects; the page under 200 ms.

// A benchmark is a terminal program: it prints its table.
#![allow(clippy::disallowed_macros)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::agent::{self as agent_support, Agent};
use support::gitserver::{Flavor, GitServer};
use support::measure::{audit_events, by_agent, memory_kb};

const NS: &str = "weir-bench";
const TOKEN: &str = "bench-webhook-token-0123456789";

async fn ready_at(client: &kube::Client, name: &str, revision: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let sync = agent_support::get_sync(client, NS, name).await;
        let ready = agent_support::condition(&sync, "Ready");
        if ready.as_ref().is_some_and(|r| r.0 == "True")
            && sync["status"]["lastAppliedRevision"] == revision
        {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "Sync {name} not Ready at {revision}: {sync:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::main]
async fn main() {
    let client = support::cluster().await;
    agent_support::install_crd(&client).await;
    support::example_repo::create_required_secrets(&client).await;
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(client.clone());
    let ns: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(json!({"metadata": {"name": NS}})).unwrap();
    let _ = namespaces.create(&Default::default(), &ns).await;

    let server = GitServer::start();
    let repo = server.create_repo("platforms");
    let tree = repo.work_tree();
    // example-repo's remote charts, from the real chart servers.
    let charts = support::example_repo::ServedCharts::start();
    charts.copy_repo(&tree.path().join("example-repo"));
    agent_support::secret(
        &client,
        NS,
        "charts",
        &[("credentials.yaml", &charts.credentials_yaml())],
    )
    .await;
    let first = tree.commit("example-repo");
    tree.push();
    agent_support::git_credentials(&client, NS, "git", &server).await;
    agent_support::secret(&client, NS, "hook", &[("token", TOKEN)]).await;
    agent_support::apply_sync(
        &client,
        NS,
        "platforms",
        json!({"url": server.http_url(&repo), "path": "example-repo", "interval": "10m",
               "target": "example-platforms", "secretRef": {"name": "git"},
               "chartCredentials": {"secretRef": {"name": "charts"}},
               "webhook": {"secretRef": {"name": "hook"}}}),
    )
    .await;
    let chart_cache = tempfile::tempdir().unwrap();
    let agent = Agent::start_with(
        &["--namespace", NS, "--ui", "open"],
        &[("WEIR_CHART_CACHE", chart_cache.path().to_str().unwrap())],
    );
    let pid = agent.pid().expect("the agent runs");
    let mut rows: BTreeMap<&str, String> = BTreeMap::new();

    let synced = ready_at(&client, "platforms", &first, Duration::from_secs(600)).await;
    rows.insert(
        "1 first sync of example-repo, Sync created to Ready",
        format!("{:.1} s", synced.as_secs_f64()),
    );
    rows.insert(
        "6 agent RSS after syncing example-repo (peak)",
        format!("{} MB", memory_kb(pid, "VmHWM:") / 1024),
    );

    // 1. A one-field change with a webhook.
    repo.set_webhook(
        &format!("http://127.0.0.1:{}/hooks/{NS}/platforms", agent.port),
        TOKEN,
        Flavor::GitHub,
    );
    let workload = tree.path().join("example-repo/mlops/workloads");
    for entry in std::fs::read_dir(&workload).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace("churn-model-api:1.4.2", "churn-model-api:1.4.3"),
        )
        .unwrap();
    }
    let bump = tree.commit("bump the model API");
    let pushed = Instant::now();
    let pushed_at = jiff::Timestamp::now();
    tree.push();
    ready_at(&client, "platforms", &bump, Duration::from_secs(300)).await;
    let to_ready = pushed.elapsed();
    let log = agent.log_text();
    let webhook_at = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["fields"]["message"] == "webhook: fetching now")
        .filter_map(|e| e["timestamp"].as_str()?.parse::<jiff::Timestamp>().ok())
        .find(|t| *t >= pushed_at);
    let applies: Vec<jiff::Timestamp> = audit_events(pushed_at, jiff::Timestamp::now())
        .iter()
        .filter(|e| by_agent(e, "weir-agent"))
        .filter(|e| {
            e["verb"] == "patch"
                && !matches!(
                    e["objectRef"]["resource"].as_str(),
                    Some("leases" | "events" | "syncs" | "configmaps")
                )
        })
        .filter_map(|e| e["requestReceivedTimestamp"].as_str()?.parse().ok())
        .collect();
    match (webhook_at, applies.iter().min()) {
        (Some(hook), Some(apply)) => {
            let ms = apply.duration_since(hook).as_millis();
            rows.insert(
                "2 webhook received to first apply request",
                format!("{ms} ms"),
            );
        }
        _ => {
            rows.insert(
                "2 webhook received to first apply request",
                "not measured (no webhook line or no apply in the audit log)".into(),
            );
        }
    }
    rows.insert(
        "3 push to Ready (one image bumped; the push itself included)",
        format!("{:.2} s", to_ready.as_secs_f64()),
    );

    // 2. Idle.
    let idle: u64 = std::env::var("IDLE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let from = jiff::Timestamp::now();
    tokio::time::sleep(Duration::from_secs(idle)).await;
    let to = jiff::Timestamp::now();
    let events: Vec<Value> = audit_events(from, to)
        .into_iter()
        .filter(|e| by_agent(e, "weir-agent"))
        .collect();
    let minutes = idle as f64 / 60.0;
    let mutating = |e: &&Value| {
        matches!(
            e["verb"].as_str(),
            Some("create" | "update" | "patch" | "delete" | "deletecollection")
        )
    };
    let lease = |e: &&Value| e["objectRef"]["resource"] == "leases";
    let writes = events.iter().filter(mutating).filter(|e| !lease(e)).count();
    let lease_writes = events.iter().filter(mutating).filter(lease).count();
    let reads = events.iter().filter(|e| !mutating(e)).count();
    rows.insert(
        "4 idle: writes of managed objects per minute",
        format!("{:.1} ({writes} in {idle} s)", writes as f64 / minutes),
    );
    rows.insert(
        "4 idle: Lease writes per minute",
        format!("{:.1}", lease_writes as f64 / minutes),
    );
    rows.insert(
        "4 idle: read requests per minute (get, list, watch)",
        format!("{:.1} ({reads} in {idle} s)", reads as f64 / minutes),
    );

    // 3. 10,000 objects.
    let big = server.create_repo("big");
    let big_tree = big.work_tree();
    big_tree.write(
        "app/component.yaml",
        &format!("apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: big}}\nspec:\n  namespace: {NS}-big\n  source: {{path: m}}\n"),
    );
    for file in 0..100 {
        let text: String = (0..100)
            .map(|i| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{file}-{i}}}\ndata: {{key: value-{file}-{i}}}\n"))
            .collect();
        big_tree.write(&format!("app/m/cms-{file}.yaml"), &text);
    }
    let big_commit = big_tree.commit("10,000 ConfigMaps");
    big_tree.push();
    agent_support::apply_sync(
        &client,
        NS,
        "big",
        json!({"url": server.http_url(&big), "interval": "10m", "target": "bench-big",
               "secretRef": {"name": "git"}}),
    )
    .await;
    let big_sync = ready_at(&client, "big", &big_commit, Duration::from_secs(900)).await;
    rows.insert(
        "5 first sync of 10,000 ConfigMaps, to Ready",
        format!("{:.1} s", big_sync.as_secs_f64()),
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    rows.insert(
        "6 agent RSS managing 10,174 objects (now / peak)",
        format!(
            "{} MB / {} MB",
            memory_kb(pid, "VmRSS:") / 1024,
            memory_kb(pid, "VmHWM:") / 1024
        ),
    );

    // 4. The page of the 10,000-object Sync.
    let path = format!("/syncs/{NS}/big");
    let mut times: Vec<f64> = (0..20)
        .map(|_| {
            let start = Instant::now();
            let (code, body) = agent.get(&path).expect("the page answers");
            assert_eq!(code, 200, "{body}");
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    rows.insert(
        "7 status page of the 10,000-object Sync (median of 20)",
        format!("{:.1} ms", times[times.len() / 2]),
    );

    println!("\nweir agent benchmark (release, 2 cores)\n");
    for (k, v) in &rows {
        println!("  {:<62} {v}", &k[2..]);
    }
    drop(agent);
}
