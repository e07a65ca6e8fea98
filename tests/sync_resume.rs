//! A sync that is interrupted converges when run again: the engine's future
//! dropped mid-wave, and the `weir` process killed or stopped with Ctrl-C
//! mid-wave; an API server that never answers is a clear `cluster` error. (The API server
//! restart is in `sync_apiserver_restart.rs`, alone in its binary so that
//! no other test runs during the outage.) Against the real control plane
//! (`cargo xtask test`).

mod support;
mod sync_helpers;

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use serde_json::{Value, json};
use sync_helpers::*;
use weir::sync::{Context, Event};

fn objects(ns: &str, prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| config_map(ns, &format!("{prefix}-{i}"), json!({"i": i.to_string()})))
        .collect()
}

#[tokio::test]
async fn interrupted_sync_converges_when_run_again() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "resume").await;
    let target = support::unique_name("resume");
    let mut wave0 = objects(&ns.name, "a", 30);
    wave0.push(deployment(&ns.name, "web", 2));
    let wave1 = objects(&ns.name, "b", 60);
    let p = plan(&target, vec![wave0.clone(), wave1.clone()]);

    // Stop the sync as soon as wave 1 starts applying.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let tx = Mutex::new(Some(tx));
    let progress = |e: &Event| {
        if matches!(e, Event::Applied { wave: 1, .. })
            && let Some(tx) = tx.lock().unwrap().take()
        {
            let _ = tx.send(());
        }
    };
    let ctx = Context {
        cluster: &cluster,
        options: options(),
        progress: &progress,
    };
    tokio::select! {
        r = weir::sync::reconcile(&p, &ctx) => panic!("the sync finished before it was interrupted: {:?}", r.map(|_| ())),
        _ = rx => {}
    }
    // Written ahead: the inventory already knows all of wave 1.
    let inv = inventory(&cluster, &target).await.unwrap();
    assert_eq!(inv.entries.len(), 91, "inventory after the interruption");
    let present = {
        let mut n = 0;
        for o in &wave1 {
            n += usize::from(get(&cluster, o).await.is_some());
        }
        n
    };
    assert!(
        present < wave1.len(),
        "wave 1 was complete before the interruption"
    );

    let report = sync_ok(&weir::sync::Cluster::new(client.clone()), &p, options()).await;
    assert_eq!(report.waves[1].created + report.waves[1].unchanged, 60);
    for o in wave0.iter().chain(&wave1) {
        assert!(get(&cluster, o).await.is_some(), "{} missing", obj_ref(o));
    }
    forget_target(&cluster, &target).await;
}

#[tokio::test]
async fn killed_process_converges_when_run_again() {
    process_interrupted_mid_wave_converges("KILL").await;
}

#[tokio::test]
async fn ctrl_c_stops_the_sync_and_a_rerun_converges() {
    process_interrupted_mid_wave_converges("INT").await;
}

/// Runs `weir sync` as a process, sends it `signal` while it applies wave
/// 1, checks how it ended, and checks that running it again converges.
/// SIGKILL leaves no chance to clean up; SIGINT (Ctrl-C) must stop the sync
/// with exit 2 and say how to converge.
async fn process_interrupted_mid_wave_converges(signal: &str) {
    let (client, cluster) = connect().await;
    let prefix = format!("sig{}", signal.to_lowercase());
    let ns = support::namespace(&client, &prefix).await;
    let target = support::unique_name(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let mut wave0 = objects(&ns.name, "a", 20);
    wave0.push(deployment(&ns.name, "web", 3));
    let wave1 = objects(&ns.name, "b", 80);
    let yaml = |objs: &[Value]| {
        objs.iter()
            .map(|o| serde_yaml::to_string(o).unwrap())
            .collect::<Vec<_>>()
            .join("---\n")
    };
    // Two Components, in waves 0 and 1.
    for (wave, objs) in [(0, &wave0), (1, &wave1)] {
        let sub = dir.path().join(format!("wave{wave}"));
        std::fs::create_dir_all(sub.join("m")).unwrap();
        std::fs::write(sub.join("m/objects.yaml"), yaml(objs)).unwrap();
        std::fs::write(
            sub.join("component.yaml"),
            format!(
                "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: wave{wave}}}\n\
                 spec: {{namespace: {ns}, createNamespace: false, wave: {wave}, source: {{path: m}}}}\n",
                ns = ns.name
            ),
        )
        .unwrap();
    }
    let weir = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
        cmd.arg("sync")
            .arg(dir.path())
            .args([
                "--target",
                &target,
                "--timeout",
                "60s",
                "--concurrency",
                "2",
            ])
            .arg("--kubeconfig")
            .arg(support::kubeconfig_path());
        cmd
    };

    let mut child = weir()
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        let applying_wave1 = line.starts_with("wave 1: ConfigMap");
        seen.push(std::mem::take(&mut line));
        if applying_wave1 {
            let sent = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(child.id().to_string())
                .status()
                .unwrap();
            assert!(sent.success(), "kill -{signal} failed");
            break;
        }
    }
    // What weir prints after the signal (nothing, after SIGKILL).
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "weir finished before it was interrupted: {seen:#?}"
    );
    if signal == "INT" {
        assert_eq!(status.code(), Some(2), "after Ctrl-C:\n{rest}");
        assert!(
            rest.contains("interrupted") && rest.contains("run `weir sync` again"),
            "Ctrl-C must say the sync stopped and how to converge:\n{rest}"
        );
    }

    let out = weir().output().unwrap();
    assert!(
        out.status.success(),
        "second run failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for o in wave0.iter().chain(&wave1) {
        assert!(get(&cluster, o).await.is_some(), "{} missing", obj_ref(o));
    }
    assert_eq!(
        inventory(&cluster, &target).await.unwrap().entries.len(),
        101
    );
    forget_target(&cluster, &target).await;
}

/// An API server that never answers: the sync retries within its backoff,
/// then fails as a `cluster` error that says what to check, before
/// anything was applied.
#[tokio::test]
async fn an_unreachable_api_server_fails_with_a_cluster_error() {
    use weir::sync::retry::Backoff;
    // A port that was just free: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = kube::Config::new(format!("https://127.0.0.1:{port}").parse().unwrap());
    config.accept_invalid_certs = true;
    weir::sync::apply::install_crypto_provider();
    let client = kube::Client::try_from(config).unwrap();
    let cluster = weir::sync::Cluster::new(client).with_backoff(Backoff {
        initial: std::time::Duration::from_millis(50),
        max_delay: std::time::Duration::from_millis(100),
        max_attempts: 3,
    });
    let p = plan(
        "unreachable",
        vec![vec![config_map("default", "never", json!({}))]],
    );
    let (result, events) = run(&cluster, &p, options()).await;
    let failed = result.expect_err("nothing listens there");
    let error = failed.report.error.as_ref().unwrap();
    assert_eq!(error.kind, "cluster", "{}", error.message);
    assert!(
        error.message.contains("cannot reach the API server")
            && error
                .message
                .contains("is the cluster up and the kubeconfig right?"),
        "{}",
        error.message
    );
    assert!(
        !events.iter().any(|e| matches!(e, Event::Applied { .. })),
        "{events:#?}"
    );
}
