//! The API server restarts in the middle of a wave: the sync retries its
//! requests with backoff and converges in the same run. Alone in its test
//! binary: other tests would fail during the outage. Against the real
//! control plane (`cargo xtask test`).

mod support;
mod sync_helpers;

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use sync_helpers::*;
use weir::sync::{Context, Event};

fn objects(ns: &str, prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| config_map(ns, &format!("{prefix}-{i}"), json!({"i": i.to_string()})))
        .collect()
}

#[tokio::test]
async fn api_server_restart_mid_wave_is_retried() {
    let (client, cluster) = connect().await;
    let ns = support::namespace(&client, "restart").await;
    let target = support::unique_name("restart");
    let wave0 = objects(&ns.name, "a", 150);
    let mut wave1 = objects(&ns.name, "b", 150);
    wave1.push(deployment(&ns.name, "web", 2));
    let p = plan(&target, vec![wave0.clone(), wave1.clone()]);

    // Restart the API server once wave 0 is being applied.
    let restarter: Mutex<Option<std::thread::JoinHandle<()>>> = Mutex::new(None);
    let progress = |e: &Event| {
        if matches!(e, Event::Applied { wave: 0, .. }) {
            let mut r = restarter.lock().unwrap();
            if r.is_none() {
                *r = Some(std::thread::spawn(|| {
                    restart_apiserver(Duration::from_secs(1))
                }));
            }
        }
    };
    let ctx = Context {
        cluster: &cluster,
        options: weir::sync::Options {
            concurrency: 2,
            // After the outage the controller manager needs a while to
            // re-establish its watches before Deployments progress again.
            timeout: Duration::from_secs(240),
            ..options()
        },
        progress: &progress,
    };
    let result = weir::sync::reconcile(&p, &ctx).await;
    restarter
        .lock()
        .unwrap()
        .take()
        .expect("the API server was restarted")
        .join()
        .unwrap();
    let report =
        result.unwrap_or_else(|f| panic!("the sync did not ride out the restart: {}", f.error));
    assert_eq!(report.waves.len(), 2);
    for o in wave0.iter().chain(&wave1) {
        assert!(get(&cluster, o).await.is_some(), "{} missing", obj_ref(o));
    }
    // And it is converged: nothing left to do.
    let again = sync_ok(&weir::sync::Cluster::new(client.clone()), &p, options()).await;
    assert_eq!(again.requests.writes, 0);
    forget_target(&cluster, &target).await;
}
