//! The chart `charts/weir`, without a cluster: `helm lint` passes; what
//! `helm template` renders with the default values and with tenant-mode
//! values passes `weir validate --strict` and `kubeconform -strict` with
//! no finding; its RBAC rules are exactly the agent's table
//! (`weir::agent::rbac`) in every mode, in both directions; the values
//! schema describes every value; the pod meets the restricted Pod Security
//! Standard; the chart built into the binary is the chart on disk.
//!
//! `tests/chart_install.rs` installs it into the local control plane and
//! runs the agent as its ServiceAccount.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use weir::agent::rbac::{self, Binding, Mode, Permission};

const RELEASE: &str = "weir";
const NAMESPACE: &str = "weir-system";

fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/weir")
}

fn tenant_values() -> String {
    chart_dir()
        .join("ci/tenant-values.yaml")
        .display()
        .to_string()
}

/// `helm <args>`; panics with helm's words when it fails.
fn helm(args: &[&str]) -> String {
    let out = Command::new(support::helm())
        .args(args)
        .output()
        .expect("running helm");
    assert!(
        out.status.success(),
        "helm {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `helm template` of the chart with `extra` arguments, CRDs included.
fn template(extra: &[&str]) -> String {
    let chart = chart_dir().display().to_string();
    let mut args = vec![
        "template",
        RELEASE,
        &chart,
        "--namespace",
        NAMESPACE,
        "--include-crds",
    ];
    args.extend_from_slice(extra);
    helm(&args)
}

fn objects(manifest: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(manifest)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

#[test]
fn helm_lint_passes_in_both_modes() {
    let chart = chart_dir().display().to_string();
    let tenant = tenant_values();
    for extra in [vec![], vec!["--values", tenant.as_str()]] {
        let mut args = vec!["lint", &chart, "--strict", "--namespace", NAMESPACE];
        args.extend(extra);
        let out = helm(&args);
        assert!(out.contains("0 chart(s) failed"), "{out}");
    }
}

#[test]
fn the_rendered_chart_passes_weir_validate_and_kubeconform_strictly() {
    let dir = tempfile::tempdir().unwrap();
    let schemas = dir.path().join("schemas");
    support::kubeconform::write_builtin_schemas(&schemas).unwrap();
    let tenant = tenant_values();
    for (name, extra) in [
        ("default", vec![]),
        ("tenant", vec!["--values", tenant.as_str()]),
    ] {
        let manifest = template(&extra);
        let repo = dir.path().join(name);
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(repo.join("manifests.yaml"), &manifest).unwrap();
        // What the manifests presuppose and do not create, so weir does not
        // report them as undefined (W0102): weir-system (`helm install
        // --create-namespace`) and, in tenant mode, the tenants' namespaces.
        let presupposed: String = std::iter::once(NAMESPACE)
            .chain(if name == "tenant" {
                vec!["team-a", "team-b"]
            } else {
                vec![]
            })
            .map(|ns| format!("---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))
            .collect();
        std::fs::write(repo.join("cluster.yaml"), presupposed).unwrap();

        let out = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(["validate", "--strict", "--output", "json"])
            .arg(&repo)
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "weir validate ({name}) printed no JSON ({e}):\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert_eq!(
            report["diagnostics"],
            Value::Array(vec![]),
            "weir validate found something in the {name} chart"
        );
        assert!(out.status.success(), "weir validate ({name}): {report:#}");

        let out = Command::new(support::tools::kubeconform())
            .args(["-strict", "-summary", "-output", "text", "-schema-location"])
            .arg(schemas.join(support::kubeconform::SCHEMA_LOCATION))
            .arg(repo.join("manifests.yaml"))
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "kubeconform ({name}):\n{text}");
        assert!(
            text.contains("Invalid: 0, Errors: 0, Skipped: 0"),
            "kubeconform ({name}) must check every object:\n{text}"
        );
    }
}

/// The permissions the rendered chart grants, by where they are granted;
/// every Role and ClusterRole must be bound to the agent's ServiceAccount.
fn rendered_permissions(objects: &[Value], served: &[&str]) -> BTreeSet<Permission> {
    let bound = |kind: &str, namespace: Option<&str>, name: &str| {
        let binding_kind = if kind == "Role" {
            "RoleBinding"
        } else {
            "ClusterRoleBinding"
        };
        of_kind(objects, binding_kind).iter().any(|b| {
            b["metadata"]["namespace"].as_str() == namespace
                && b["roleRef"]["kind"] == kind
                && b["roleRef"]["name"] == name
                && b["subjects"].as_array().is_some_and(|s| {
                    s.iter().any(|s| {
                        s["kind"] == "ServiceAccount"
                            && s["name"] == RELEASE
                            && s["namespace"] == NAMESPACE
                    })
                })
        })
    };
    let mut permissions = BTreeSet::new();
    let mut per_namespace: BTreeMap<String, BTreeSet<Permission>> = BTreeMap::new();
    for role in of_kind(objects, "Role") {
        let namespace = role["metadata"]["namespace"].as_str().unwrap();
        let name = role["metadata"]["name"].as_str().unwrap();
        assert!(
            bound("Role", Some(namespace), name),
            "Role {namespace}/{name} is not bound"
        );
        let binding = if namespace == NAMESPACE && name == format!("{RELEASE}-state") {
            Binding::OwnNamespace
        } else {
            Binding::EachServedNamespace
        };
        let granted: BTreeSet<Permission> = role["rules"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| rbac::permissions_of_rule(binding, r))
            .collect();
        if binding == Binding::EachServedNamespace {
            per_namespace.insert(namespace.to_owned(), granted.clone());
        }
        permissions.extend(granted);
    }
    for role in of_kind(objects, "ClusterRole") {
        let name = role["metadata"]["name"].as_str().unwrap();
        assert!(
            bound("ClusterRole", None, name),
            "ClusterRole {name} is not bound"
        );
        for r in role["rules"].as_array().unwrap() {
            permissions.extend(rbac::permissions_of_rule(Binding::ClusterWide, r));
        }
    }
    assert_eq!(
        per_namespace.keys().map(String::as_str).collect::<Vec<_>>(),
        served,
        "one Role per served namespace"
    );
    let mut sets = per_namespace.values();
    if let Some(first) = sets.next() {
        assert!(
            sets.all(|s| s == first),
            "every served namespace gets the same rules"
        );
    }
    permissions
}

fn assert_same(mode: &str, rendered: &BTreeSet<Permission>, table: &BTreeSet<Permission>) {
    let missing: Vec<String> = table
        .difference(rendered)
        .map(ToString::to_string)
        .collect();
    let extra: Vec<String> = rendered
        .difference(table)
        .map(ToString::to_string)
        .collect();
    assert!(
        missing.is_empty(),
        "{mode}: the chart does not grant what the agent needs (src/agent/rbac.rs): {missing:#?}"
    );
    assert!(
        extra.is_empty(),
        "{mode}: the chart grants more than the agent's table says it needs: {extra:#?}"
    );
}

#[test]
fn the_charts_rules_are_the_agents_table_in_every_mode() {
    let tenant = tenant_values();
    let cases: [(&str, Vec<&str>, Mode, Vec<&str>); 5] = [
        ("cluster mode", vec![], Mode::CLUSTER, vec![]),
        (
            "cluster mode, status page by TokenReview",
            vec!["--set", "ui.access=token-review"],
            Mode {
                token_review: true,
                ..Mode::CLUSTER
            },
            vec![],
        ),
        (
            "cluster mode, some namespaces",
            vec!["--set", "namespaces={weir-system,apps}"],
            Mode::CLUSTER,
            vec![],
        ),
        (
            "tenant mode",
            vec!["--values", tenant.as_str()],
            Mode {
                tenant: true,
                apply_as_agent: true,
                token_review: false,
            },
            vec!["team-a", "team-b"],
        ),
        (
            "tenant mode, applying only as the Syncs' ServiceAccounts",
            vec![
                "--values",
                tenant.as_str(),
                "--set",
                "tenant.applyAsAgent=false",
            ],
            Mode {
                tenant: true,
                apply_as_agent: false,
                token_review: false,
            },
            vec!["team-a", "team-b"],
        ),
    ];
    for (name, extra, mode, served) in cases {
        let objects = objects(&template(&extra));
        let rendered = rendered_permissions(&objects, &served);
        assert_same(name, &rendered, &rbac::permissions(&mode));
        if mode.tenant {
            for kind in ["ClusterRole", "ClusterRoleBinding"] {
                assert!(
                    of_kind(&objects, kind).is_empty(),
                    "{name}: no {kind} in tenant mode"
                );
            }
        }
    }
}

#[test]
fn the_deployment_runs_the_agent_as_its_flags_and_the_restricted_standard_ask() {
    for extra in [vec![], vec!["--values".to_owned(), tenant_values()]] {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let objects = objects(&template(&extra));
        let deployment = of_kind(&objects, "Deployment")[0];
        assert_eq!(deployment["spec"]["replicas"], 2);
        let pod = &deployment["spec"]["template"]["spec"];
        let container = &pod["containers"][0];
        let args: Vec<&str> = container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(args[0], "agent");
        assert!(
            args.contains(&"--leader-election=weir-system/weir"),
            "{args:?}"
        );
        assert!(
            container["env"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["name"] == "POD_NAME"
                    && e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"),
            "POD_NAME from the downward API"
        );
        // The restricted Pod Security Standard, field by field (the install
        // test also has the API server's PodSecurity admission judge it).
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        let sc = &container["securityContext"];
        assert_eq!(sc["allowPrivilegeEscalation"], false);
        assert_eq!(sc["readOnlyRootFilesystem"], true);
        assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
        assert!(sc["capabilities"].get("add").is_none());
        for volume in pod["volumes"].as_array().unwrap() {
            assert!(
                volume.get("emptyDir").is_some() || volume.get("secret").is_some(),
                "only emptyDir and Secret volumes: {volume}"
            );
        }
        assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
        assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
        assert!(container["resources"]["limits"]["memory"].is_string());
        assert!(container["resources"]["requests"]["cpu"].is_string());
        assert_eq!(of_kind(&objects, "PodDisruptionBudget").len(), 1);
        assert_eq!(of_kind(&objects, "Service").len(), 1);
        assert_eq!(of_kind(&objects, "CustomResourceDefinition").len(), 1);
    }
    // The image runs as the user the chart says.
    let dockerfile =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("USER 65532:65532"));
    assert!(template(&[]).contains("runAsUser: 65532"));
}

#[test]
fn installing_anywhere_but_weir_system_is_refused_with_what_to_do() {
    let chart = chart_dir().display().to_string();
    let out = Command::new(support::helm())
        .args(["template", RELEASE, &chart, "--namespace", "default"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("install weir into the namespace weir-system")
            && err.contains("--create-namespace"),
        "{err}"
    );
}

/// Every value has a schema with a description, and every property of the
/// schema is described.
#[test]
fn the_values_schema_describes_every_value() {
    let values: Value =
        serde_yaml::from_str(&std::fs::read_to_string(chart_dir().join("values.yaml")).unwrap())
            .unwrap();
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(chart_dir().join("values.schema.json")).unwrap(),
    )
    .unwrap();
    fn walk(value: &Value, schema: &Value, path: &str, missing: &mut Vec<String>) {
        let Some(map) = value.as_object() else {
            return;
        };
        for (key, v) in map {
            let at = format!("{path}.{key}");
            let property = schema.pointer(&format!("/properties/{key}"));
            // A map's entries (resources.requests.cpu) are described by
            // the map and typed by its additionalProperties.
            let entry = schema.get("additionalProperties").filter(|a| a.is_object());
            match (property, entry) {
                (None, Some(entry)) => walk(v, entry, &at, missing),
                (None, None) => missing.push(format!("{at}: not in the schema")),
                (Some(s), _) => {
                    if s["description"].as_str().is_none_or(str::is_empty) {
                        missing.push(format!("{at}: no description"));
                    }
                    if s.get("type").is_none() && s.get("enum").is_none() {
                        missing.push(format!("{at}: no type"));
                    }
                    walk(v, s, &at, missing);
                }
            }
        }
    }
    fn described(schema: &Value, path: &str, missing: &mut Vec<String>) {
        if let Some(props) = schema["properties"].as_object() {
            for (key, s) in props {
                let at = format!("{path}.{key}");
                if s["description"].as_str().is_none_or(str::is_empty) {
                    missing.push(format!("{at}: no description"));
                }
                described(s, &at, missing);
            }
        }
    }
    let mut missing = Vec::new();
    walk(&values, &schema, "", &mut missing);
    described(&schema, "", &mut missing);
    assert_eq!(schema["additionalProperties"], false);
    assert!(missing.is_empty(), "{missing:#?}");
}

/// `weir bootstrap` installs the chart built into the binary: it must be
/// the chart on disk, file for file.
#[test]
fn the_chart_built_into_weir_is_the_chart_on_disk() {
    fn files(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if rel == "ci" {
                continue; // the tests' values, which .helmignore leaves out too
            }
            if path.is_dir() {
                files(&path, root, out);
            } else {
                out.insert(rel, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut on_disk = BTreeMap::new();
    files(&chart_dir(), &chart_dir(), &mut on_disk);
    let built_in: BTreeMap<String, String> = weir::agent::chart::FILES
        .iter()
        .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
        .collect();
    assert_eq!(
        built_in.keys().collect::<Vec<_>>(),
        on_disk.keys().collect::<Vec<_>>(),
        "list every chart file in src/agent/chart.rs"
    );
    assert!(built_in == on_disk);
}

/// `tests/chart_install.rs` fails on any refused request in the agent's
/// log; a timestamp's digits are not one.
#[test]
fn the_install_tests_tell_a_403_in_the_agents_log_from_a_timestamp() {
    use support::chart::refused;
    assert!(refused(
        r#"{"timestamp":"x","fields":{"message":"HTTP 403: no"}}"#
    ));
    assert!(refused("secrets is forbidden: User cannot get"));
    assert!(!refused(
        r#"{"timestamp":"2026-12-04T07:49:03.804037Z","fields":{"message":"leading"}}"#
    ));
    assert!(!refused("applied 14032 objects"));
}

/// The agent's limits (hostile input, prune) are values, passed as its
/// flags only when set; numbers from a values file stay integers.
#[test]
fn the_agents_limits_are_values_passed_as_its_flags() {
    let args = |extra: &[&str]| -> Vec<String> {
        let objects = objects(&template(extra));
        of_kind(&objects, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    };
    assert!(
        !args(&[])
            .iter()
            .any(|a| a.starts_with("--max-") || a.starts_with("--protect-kind")),
        "the agent's defaults unless set"
    );
    let dir = tempfile::tempdir().unwrap();
    let values = dir.path().join("limits.yaml");
    std::fs::write(
        &values,
        "agent:\n  limits:\n    maxNodes: 2000000\n    maxPruneObjects: 0\n    maxPruneFraction: 0.1\n    \
         helmTimeout: 10s\n    maxHelmMemory: 256M\n    protectKinds: [PersistentVolumeClaim]\n",
    )
    .unwrap();
    let set = args(&["--values", values.to_str().unwrap()]);
    for flag in [
        "--max-nodes=2000000",
        "--max-prune-objects=0",
        "--max-prune-fraction=0.1",
        "--helm-timeout=10s",
        "--max-helm-memory=256M",
        "--protect-kind=PersistentVolumeClaim",
    ] {
        assert!(set.iter().any(|a| a == flag), "{flag} in {set:?}");
    }
}
