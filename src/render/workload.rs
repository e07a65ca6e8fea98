//! A `Workload` rendered to plain Kubernetes objects:
//!
//! - a Deployment (`type: service`, the default) or a Job (`type: job`);
//! - a Service when it has ports (`expose.type`, default ClusterIP; node
//!   ports only for NodePort/LoadBalancer);
//! - a HorizontalPodAutoscaler (autoscaling/v2, CPU utilisation, default
//!   80 %) when `scaling` is set; the Deployment then has no `replicas`;
//! - a PodDisruptionBudget (policy/v1, `maxUnavailable: 1`) when more than
//!   one replica runs (`replicas` > 1 or `scaling.minReplicas` > 1);
//! - a ConfigMap `<name>-config` mounted read-only at `config.mountPath`
//!   when `config` is set; the pod template carries `weir.dev/config-hash`
//!   so a config change rolls the pods.
//!
//! Resources: requests from `cpu`/`memory`/`gpu` (`nvidia.com/gpu`);
//! limits equal requests unless `limits` says otherwise (GPUs always have
//! limit = request, as Kubernetes requires). Selector label:
//! `app.kubernetes.io/name: <workload name>`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::codes;
use super::placement;
use crate::diagnostic::Diagnostic;
use crate::spec::model::{
    EnvValue, NodePool, PortRef, Probe, Protocol, Resources, ServiceType, Workload, WorkloadType,
};
use crate::spec::repo::Located;

/// Selector label of a workload's pods.
pub const NAME_LABEL: &str = "app.kubernetes.io/name";
/// Pod template annotation that changes when the config files change.
pub const CONFIG_HASH_ANNOTATION: &str = "weir.dev/config-hash";
/// Extended resource name of NVIDIA GPUs.
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";

/// Renders one workload into `namespace`. Problems are pushed to `diags`
/// (with the workload's file); the objects rendered so far are returned.
pub fn render(
    workload: &Located<Workload>,
    namespace: &str,
    pools: &BTreeMap<String, NodePool>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Value> {
    let w = &workload.value;
    let spec = &w.spec;
    let name = w.metadata.name.as_str();
    let diag = |code, message: String| {
        Diagnostic::error(code, message)
            .in_file(workload.file.clone())
            .at(workload.span)
    };
    let mut errors = 0usize;

    let selector = json!({ NAME_LABEL: name });
    let mut labels: Map<String, Value> = w
        .metadata
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    labels.insert(NAME_LABEL.into(), Value::String(name.to_owned()));
    let metadata = |object_name: &str| {
        let mut m = json!({"name": object_name, "namespace": namespace, "labels": labels.clone()});
        if !w.metadata.annotations.is_empty() {
            m["annotations"] = json!(w.metadata.annotations);
        }
        m
    };

    // Container.
    let mut container = Map::new();
    container.insert("name".into(), json!(name));
    container.insert("image".into(), json!(spec.image));
    if !spec.command.is_empty() {
        container.insert("command".into(), json!(spec.command));
    }
    if !spec.args.is_empty() {
        container.insert("args".into(), json!(spec.args));
    }
    if !spec.ports.is_empty() {
        let ports: Vec<Value> = spec
            .ports
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "containerPort": p.target_port.unwrap_or(p.port),
                    "protocol": protocol(p.protocol),
                })
            })
            .collect();
        container.insert("ports".into(), Value::Array(ports));
    }
    if !spec.env.is_empty() {
        let mut env = Vec::new();
        for (key, value) in &spec.env {
            match value {
                EnvValue::Literal(v) => env.push(json!({"name": key, "value": v})),
                EnvValue::From(from) => match (&from.secret, &from.config_map) {
                    (Some(r), None) => env.push(json!({"name": key, "valueFrom": {"secretKeyRef": {"name": r.name, "key": r.key}}})),
                    (None, Some(r)) => env.push(json!({"name": key, "valueFrom": {"configMapKeyRef": {"name": r.name, "key": r.key}}})),
                    _ => {
                        errors += 1;
                        diags.push(
                            diag(
                                codes::BAD_WORKLOAD,
                                format!("env `{key}` of workload `{name}` must name exactly one of `secret` or `configMap`"),
                            )
                            .with_path(format!(".spec.env.{key}")),
                        );
                    }
                },
            }
        }
        container.insert("env".into(), Value::Array(env));
    }
    if let Some(resources) = resources(&spec.resources) {
        container.insert("resources".into(), resources);
    }
    for (field, probe_spec) in [
        ("readinessProbe", &spec.probes.readiness),
        ("livenessProbe", &spec.probes.liveness),
        ("startupProbe", &spec.probes.startup),
    ] {
        let Some(p) = probe_spec else { continue };
        match probe(p) {
            Some(v) => {
                container.insert(field.into(), v);
            }
            None => {
                errors += 1;
                let short = field.trim_end_matches("Probe");
                diags.push(
                    diag(
                        codes::BAD_WORKLOAD,
                        format!("probe `{short}` of workload `{name}` must have exactly one of `http`, `tcp` or `exec`"),
                    )
                    .with_path(format!(".spec.probes.{short}")),
                );
            }
        }
    }

    // Pod.
    let mut pod = Map::new();
    let mut template_meta = json!({"labels": labels.clone()});
    let mut objects = Vec::new();
    if let Some(config) = &spec.config {
        let config_name = format!("{name}-config");
        container.insert(
            "volumeMounts".into(),
            json!([{"name": "config", "mountPath": config.mount_path, "readOnly": true}]),
        );
        pod.insert(
            "volumes".into(),
            json!([{"name": "config", "configMap": {"name": config_name}}]),
        );
        template_meta["annotations"] =
            json!({ CONFIG_HASH_ANNOTATION: config_hash(&config.files) });
        objects.push(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(&config_name),
            "data": config.files,
        }));
    }
    pod.insert("containers".into(), json!([Value::Object(container)]));
    if let Some(sa) = &spec.service_account_name {
        pod.insert("serviceAccountName".into(), json!(sa));
    }
    match placement::render(&spec.placement, pools) {
        Ok(placed) => {
            if !placed.tolerations.is_empty() {
                pod.insert("tolerations".into(), Value::Array(placed.tolerations));
            }
            if let Some(affinity) = placed.affinity {
                pod.insert("affinity".into(), affinity);
            }
        }
        Err(undefined) => {
            for u in undefined {
                errors += 1;
                let suggestion =
                    crate::diagnostic::did_you_mean(&u.name, pools.keys().map(String::as_str))
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_default();
                let hint = if pools.is_empty() {
                    "define node pools under `spec.nodePools` in weir.yaml, or write a node label as `key=value`".to_owned()
                } else {
                    let names: Vec<&str> = pools.keys().map(String::as_str).collect();
                    format!(
                        "node pools: {}; or write a node label as `key=value`",
                        names.join(", ")
                    )
                };
                diags.push(
                    diag(
                        codes::UNDEFINED_POOL,
                        format!(
                            "workload `{name}` is placed by node pool `{}`, which weir.yaml does not define{suggestion}",
                            u.name
                        ),
                    )
                    .with_path(pointer_to_path(&u.pointer))
                    .with_hint(hint),
                );
            }
        }
    }

    let is_job = spec.workload_type == WorkloadType::Job;
    if is_job {
        pod.insert("restartPolicy".into(), json!("Never"));
    }
    let template = json!({"metadata": template_meta, "spec": Value::Object(pod)});

    if is_job {
        let mut job_spec = Map::new();
        if let Some(job) = &spec.job {
            let fields = [
                ("completions", job.completions.map(u64::from)),
                ("parallelism", job.parallelism.map(u64::from)),
                ("backoffLimit", job.backoff_limit.map(u64::from)),
                ("activeDeadlineSeconds", job.active_deadline_seconds),
            ];
            for (field, value) in fields {
                if let Some(v) = value {
                    job_spec.insert(field.into(), json!(v));
                }
            }
        }
        job_spec.insert("template".into(), template);
        objects.push(json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata(name), "spec": job_spec}));
        if spec.scaling.is_some() || spec.replicas.is_some() {
            diags.push(
                Diagnostic::warning(
                    codes::IGNORED_SETTING,
                    format!("workload `{name}` is a job: `replicas` and `scaling` are ignored"),
                )
                .in_file(workload.file.clone())
                .at(workload.span)
                .with_hint("use `job.parallelism` and `job.completions` for jobs"),
            );
        }
    } else {
        let mut deploy_spec = Map::new();
        if spec.scaling.is_none() {
            deploy_spec.insert("replicas".into(), json!(spec.replicas.unwrap_or(1)));
        }
        deploy_spec.insert("selector".into(), json!({"matchLabels": selector}));
        deploy_spec.insert("template".into(), template);
        objects.push(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata(name), "spec": deploy_spec}));
    }

    if !spec.ports.is_empty() {
        let service_type = spec
            .expose
            .as_ref()
            .map(|e| e.service_type)
            .unwrap_or_default();
        let with_node_port = matches!(
            service_type,
            ServiceType::NodePort | ServiceType::LoadBalancer
        );
        let ports: Vec<Value> = spec
            .ports
            .iter()
            .map(|p| {
                let mut port = json!({
                    "name": p.name,
                    "port": p.port,
                    "targetPort": p.name,
                    "protocol": protocol(p.protocol),
                });
                if let (true, Some(node_port)) = (with_node_port, p.node_port) {
                    port["nodePort"] = json!(node_port);
                }
                port
            })
            .collect();
        let type_name = match service_type {
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
        };
        objects.push(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(name),
            "spec": {"type": type_name, "selector": selector, "ports": ports},
        }));
    }

    if !is_job {
        if let Some(scaling) = &spec.scaling {
            objects.push(json!({
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": metadata(name),
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "minReplicas": scaling.min_replicas,
                    "maxReplicas": scaling.max_replicas,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                        "type": "Utilization",
                        "averageUtilization": scaling.target_cpu_utilization.unwrap_or(80),
                    }}}],
                },
            }));
        }
        let min_replicas = spec
            .scaling
            .as_ref()
            .map_or(spec.replicas.unwrap_or(1), |s| s.min_replicas);
        if min_replicas > 1 {
            objects.push(json!({
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": metadata(name),
                "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
            }));
        }
    }

    if errors > 0 { Vec::new() } else { objects }
}

fn protocol(p: Option<Protocol>) -> &'static str {
    match p {
        None | Some(Protocol::Tcp) => "TCP",
        Some(Protocol::Udp) => "UDP",
        Some(Protocol::Sctp) => "SCTP",
    }
}

fn resources(r: &Resources) -> Option<Value> {
    let mut requests = Map::new();
    let mut limits = Map::new();
    if let Some(cpu) = &r.cpu {
        requests.insert("cpu".into(), json!(cpu.as_k8s_string()));
    }
    if let Some(memory) = &r.memory {
        requests.insert("memory".into(), json!(memory.as_k8s_string()));
    }
    if let Some(gpu) = r.gpu {
        requests.insert(GPU_RESOURCE.into(), json!(gpu.to_string()));
        limits.insert(GPU_RESOURCE.into(), json!(gpu.to_string()));
    }
    let given = r.limits.as_ref();
    for (key, limit, request) in [
        ("cpu", given.and_then(|l| l.cpu.as_ref()), &r.cpu),
        ("memory", given.and_then(|l| l.memory.as_ref()), &r.memory),
    ] {
        if let Some(q) = limit.or(request.as_ref()) {
            limits.insert(key.into(), json!(q.as_k8s_string()));
        }
    }
    let mut out = Map::new();
    if !limits.is_empty() {
        out.insert("limits".into(), Value::Object(limits));
    }
    if !requests.is_empty() {
        out.insert("requests".into(), Value::Object(requests));
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

fn port_ref(p: &PortRef) -> Value {
    match p {
        PortRef::Number(n) => json!(n),
        PortRef::Name(s) => json!(s),
    }
}

/// The probe, or `None` unless exactly one handler is given.
fn probe(p: &Probe) -> Option<Value> {
    let mut handlers = Vec::new();
    if let Some(http) = &p.http {
        handlers.push((
            "httpGet",
            json!({"path": http.path, "port": port_ref(&http.port)}),
        ));
    }
    if let Some(tcp) = &p.tcp {
        handlers.push(("tcpSocket", json!({"port": port_ref(tcp)})));
    }
    if !p.exec.is_empty() {
        handlers.push(("exec", json!({"command": p.exec})));
    }
    let [(field, handler)] = <[_; 1]>::try_from(handlers).ok()?;
    let mut out = Map::new();
    out.insert(field.into(), handler);
    for (key, value) in [
        ("initialDelaySeconds", p.initial_delay_seconds),
        ("periodSeconds", p.period_seconds),
        ("failureThreshold", p.failure_threshold),
    ] {
        if let Some(v) = value {
            out.insert(key.into(), json!(v));
        }
    }
    Some(Value::Object(out))
}

/// FNV-1a (64 bit) of the config files: stable across Rust versions and
/// platforms, unlike `DefaultHasher`.
fn config_hash(files: &BTreeMap<String, String>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, content) in files {
        for byte in name.bytes().chain([0]).chain(content.bytes()).chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// `/spec/placement/must/0` → `.spec.placement.must[0]`.
pub(crate) fn pointer_to_path(pointer: &str) -> String {
    let mut out = String::new();
    for part in pointer.split('/').skip(1) {
        if part.parse::<usize>().is_ok() {
            out.push_str(&format!("[{part}]"));
        } else {
            out.push('.');
            out.push_str(part);
        }
    }
    out
}
