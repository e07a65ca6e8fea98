//! The chart in the test cluster: a Helm release of `charts/weir`
//! (uninstalled when dropped), its pods once Ready on kwok nodes, and the
//! real `weir agent` run as the release's Deployment runs it: its
//! arguments, its pod's name, its ServiceAccount's token.

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Client;
use kube::api::{Api, ListParams};

use super::agent::{self as agent_support, Agent};

/// Where the chart is installed (the agent's own namespace).
pub const NAMESPACE: &str = "weir-system";

/// `charts/weir`.
pub fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/weir")
}

/// A Helm release of the chart, uninstalled when dropped (what weir
/// applied stays, as the README's uninstall says).
pub struct Release {
    pub name: String,
}

impl Release {
    /// A release someone else installed (`weir bootstrap`), to uninstall.
    pub fn adopt(name: &str) -> Release {
        Release {
            name: name.to_owned(),
        }
    }

    /// `helm upgrade --install` with `--set` values; returns helm's output
    /// (with the NOTES).
    pub fn install(prefix: &str, sets: &[String]) -> (Release, String) {
        let name = super::unique_name(prefix);
        let mut command = Command::new(super::helm());
        command
            .args(["upgrade", "--install", &name])
            .arg(chart_dir())
            .args([
                "--namespace",
                NAMESPACE,
                "--create-namespace",
                "--wait",
                "--timeout",
                "3m",
            ])
            .arg(format!(
                "--kubeconfig={}",
                super::kubeconfig_path().display()
            ));
        for set in sets {
            command.args(["--set", set]);
        }
        let out = command.output().expect("running helm");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "helm install {name}:\n{text}");
        (Release { name }, text)
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        let _ = Command::new(super::helm())
            .args([
                "uninstall",
                &self.name,
                "--namespace",
                NAMESPACE,
                "--wait=false",
            ])
            .arg(format!(
                "--kubeconfig={}",
                super::kubeconfig_path().display()
            ))
            .output();
    }
}

/// The release's pods, once `count` are scheduled on kwok nodes and Ready.
pub async fn ready_pods(client: &Client, release: &str, count: usize) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let selector = format!("app.kubernetes.io/instance={release}");
    let found = super::eventually("the agent's pods Ready", super::TIMEOUT, || {
        let pods = pods.clone();
        let selector = selector.clone();
        async move {
            let list = pods
                .list(&ListParams::default().labels(&selector))
                .await
                .ok()?;
            let ready = list
                .items
                .iter()
                .filter(|p| {
                    p.status.as_ref().is_some_and(|s| {
                        s.phase.as_deref() == Some("Running")
                            && s.conditions
                                .iter()
                                .flatten()
                                .any(|c| c.type_ == "Ready" && c.status == "True")
                    })
                })
                .count();
            (ready == count && list.items.len() == count).then_some(list.items)
        }
    })
    .await;
    let nodes: Api<Node> = Api::all(client.clone());
    for pod in &found {
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap();
        let labels = nodes
            .get(&node)
            .await
            .unwrap()
            .metadata
            .labels
            .unwrap_or_default();
        assert_eq!(
            labels.get("type").map(String::as_str),
            Some("kwok"),
            "pod on node {node}"
        );
    }
    found
}

/// The agent as the Deployment runs it: its arguments (but `--listen`,
/// which the test picks), its pod's name, the chart's ServiceAccount.
pub async fn agent_as_deployed(client: &Client, release: &str, pod: &Pod, dir: &Path) -> Agent {
    let deployment = Api::<Deployment>::namespaced(client.clone(), NAMESPACE)
        .get(release)
        .await
        .unwrap();
    let spec = deployment.spec.unwrap().template.spec.unwrap();
    let args: Vec<String> = spec.containers[0]
        .args
        .clone()
        .unwrap()
        .into_iter()
        .skip(1) // `agent`
        .filter(|a| !a.starts_with("--listen"))
        .collect();
    let account = spec.service_account_name.unwrap();
    let kubeconfig = agent_support::service_account_kubeconfig(NAMESPACE, &account, dir);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let pod_name = pod.metadata.name.clone().unwrap();
    Agent::start_as(
        &kubeconfig,
        &args,
        &[("POD_NAME", pod_name.as_str()), ("RUST_LOG", "weir=debug")],
    )
}

/// The lines of the agent's log that report a refused request: `forbidden`
/// (the API server's reason) or the status code 403 as a number of its own,
/// not within a timestamp.
pub fn forbidden_lines(agent: &Agent) -> Vec<String> {
    agent
        .log_text()
        .lines()
        .filter(|line| refused(line))
        .map(str::to_owned)
        .collect()
}

/// Whether a log line reports a refused request (see [`forbidden_lines`]).
pub fn refused(line: &str) -> bool {
    // A JSON log line without its timestamp (whose digits may hold 403).
    let text = match serde_json::from_str::<serde_json::Value>(line) {
        Ok(mut v) => {
            if let Some(o) = v.as_object_mut() {
                o.remove("timestamp");
            }
            v.to_string()
        }
        Err(_) => line.to_owned(),
    };
    let text = text.to_lowercase();
    text.contains("forbidden")
        || text.match_indices("403").any(|(at, _)| {
            let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
            !digit(text[..at].chars().next_back()) && !digit(text[at + 3..].chars().next())
        })
}
