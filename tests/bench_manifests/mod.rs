//! The manifests of the validation benchmark, written once: the example
//! `bench_fixture` (for `benches/validate_vs_kubeconform.sh`) writes them
//! to disk, and `tests/validate_cli.rs` checks that weir finds them all
//! valid, so the benchmark times validation of valid input. Included with
//! `#[path = "…/tests/bench_manifests/mod.rs"] mod bench_manifests;`.
#![allow(dead_code)]

use std::fmt::Write as _;

/// The CRD of the custom resources (`Widget.example.com`), at `crd.yaml`.
pub const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [size, color]
              properties:
                size: {type: integer, minimum: 1, maximum: 100}
                color: {type: string, enum: [red, green, blue]}
                owner: {type: string, pattern: "^[a-z]+$"}
                replicas: {type: integer}
                selector:
                  type: object
                  additionalProperties: {type: string}
                ports:
                  type: array
                  items:
                    type: object
                    required: [name, port]
                    properties:
                      name: {type: string}
                      port: {type: integer}
                settings:
                  type: object
                  x-kubernetes-preserve-unknown-fields: true
            status:
              type: object
              properties:
                ready: {type: boolean}
"#;

/// The `i`-th manifest: a Deployment, Service, ConfigMap or Widget in turn.
pub fn manifest(i: usize) -> String {
    match i % 4 {
        0 => deployment(i),
        1 => service(i),
        2 => config_map(i),
        _ => widget(i),
    }
}

/// Where the `i`-th manifest goes in the repo.
pub fn manifest_path(i: usize) -> String {
    format!("manifests/m{i:05}.yaml")
}

fn deployment(i: usize) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  namespace: default
  labels:
    app.kubernetes.io/name: app-{i}
    app.kubernetes.io/part-of: bench
spec:
  replicas: {replicas}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      app.kubernetes.io/name: app-{i}
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxSurge: 25%, maxUnavailable: 0}}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: app-{i}
      annotations:
        prometheus.io/scrape: "true"
    spec:
      serviceAccountName: app-{i}
      securityContext: {{runAsNonRoot: true, runAsUser: 1000}}
      containers:
        - name: app
          image: ghcr.io/example/app-{i}:1.{i}.0
          imagePullPolicy: IfNotPresent
          args: ["--port", "8080", "--log-level", "info"]
          ports:
            - {{name: http, containerPort: 8080, protocol: TCP}}
            - {{name: metrics, containerPort: 9090}}
          env:
            - {{name: APP_ID, value: "{i}"}}
            - name: POD_NAMESPACE
              valueFrom:
                fieldRef: {{fieldPath: metadata.namespace}}
            - name: PASSWORD
              valueFrom:
                secretKeyRef: {{name: app-{i}, key: password}}
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
            limits: {{cpu: 1, memory: 256Mi}}
          readinessProbe:
            httpGet: {{path: /healthz, port: http}}
            periodSeconds: 5
          livenessProbe:
            tcpSocket: {{port: 8080}}
            initialDelaySeconds: 10
          volumeMounts:
            - {{name: config, mountPath: /etc/app}}
      volumes:
        - name: config
          configMap: {{name: app-{i}}}
      tolerations:
        - {{key: dedicated, operator: Equal, value: apps, effect: NoSchedule}}
"#,
        replicas = i % 5 + 1
    )
}

fn service(i: usize) -> String {
    format!(
        r#"apiVersion: v1
kind: Service
metadata:
  name: app-{i}
  namespace: default
  labels: {{app.kubernetes.io/name: app-{i}}}
spec:
  type: ClusterIP
  selector: {{app.kubernetes.io/name: app-{i}}}
  ports:
    - {{name: http, port: 80, targetPort: http, protocol: TCP}}
    - {{name: metrics, port: 9090, targetPort: 9090}}
"#
    )
}

fn config_map(i: usize) -> String {
    let mut data = String::new();
    for k in 0..8 {
        let _ = writeln!(data, "  key{k}: \"value {i} {k}\"");
    }
    format!(
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: app-{i}
  namespace: default
data:
{data}  app.yaml: |
    listen: :8080
    workers: 4
"#
    )
}

fn widget(i: usize) -> String {
    let color = ["red", "green", "blue"][i % 3];
    format!(
        r#"apiVersion: example.com/v1
kind: Widget
metadata:
  name: widget-{i}
  namespace: default
spec:
  size: {size}
  color: {color}
  owner: team
  replicas: 3
  selector: {{app: widget-{i}}}
  ports:
    - {{name: http, port: 80}}
  settings:
    anything: [goes, here]
"#,
        size = i % 100 + 1
    )
}
