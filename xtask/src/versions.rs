//! Every pinned version of the test environment, in one place.
//!
//! Bumping a version here changes the cache directory of that tool, so the
//! next `cargo xtask build-testenv` rebuilds just that tool. Keep Kubernetes
//! in step with the `k8s-openapi` feature in the root `Cargo.toml` (`v1_35`).

/// Kubernetes release whose kube-apiserver, kube-controller-manager,
/// kube-scheduler and kubectl are built from `k8s.io/kubernetes`.
pub const KUBERNETES: &str = "v1.35.4";

/// etcd server, built from `go.etcd.io/etcd/server/v3` (Kubernetes 1.35
/// is tested against etcd 3.6).
pub const ETCD: &str = "v3.6.16";

/// kwok: fake nodes whose pods become Running/Ready without containers.
pub const KWOK: &str = "v0.8.0";

/// helm, used by weir to render local charts (as Argo CD does).
pub const HELM: &str = "v3.22.0";

/// kubeconform: Kubernetes manifest validator that benchmarks compare with.
pub const KUBECONFORM: &str = "v0.8.0";

/// dyff: YAML diff tool that benchmarks compare with.
pub const DYFF: &str = "v1.12.0";

/// ChartMuseum: a Helm chart repository server for the tests. Its go.mod
/// declares `helm.sh/chartmuseum`, which the module proxy does not serve; it
/// is fetched as `github.com/helm/chartmuseum` through a replace directive.
pub const CHARTMUSEUM: &str = "v0.16.3";

/// The CNCF distribution registry (OCI), serving Helm charts to the tests.
pub const DISTRIBUTION: &str = "v3.1.2";

/// kustomize (v5.8.3 needs Go 1.27; this machine has 1.26).
pub const KUSTOMIZE: &str = "v5.8.2";

/// sops: encrypted Secrets in Git, for the tests.
pub const SOPS: &str = "v3.13.3";

/// age and age-keygen: the keys sops encrypts to in the tests.
pub const AGE: &str = "v1.3.2";

/// Flux's source-controller and kustomize-controller, which the agent's
/// benchmark runs beside weir (v1.10 needs Go 1.27; this machine has 1.26).
pub const FLUX_SOURCE_CONTROLLER: &str = "v1.9.3";
pub const FLUX_KUSTOMIZE_CONTROLLER: &str = "v1.9.6";

/// A Go-built tool of the test environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Kubernetes,
    Etcd,
    Kwok,
    Helm,
    Kubeconform,
    Dyff,
    Chartmuseum,
    Registry,
    Kustomize,
    Sops,
    Age,
    FluxSource,
    FluxKustomize,
}

impl Tool {
    /// What `cargo xtask demo` needs: the tools every cluster run needs,
    /// sops for example-repo's encrypted Secrets, and the chart servers its
    /// remote charts come from.
    pub const DEMO: [Tool; 7] = [
        Tool::Kubernetes,
        Tool::Etcd,
        Tool::Kwok,
        Tool::Helm,
        Tool::Sops,
        Tool::Chartmuseum,
        Tool::Registry,
    ];
    /// What `cargo xtask test`, `demo` and `testenv up` provide: the
    /// cluster's tools, and the servers (chart repositories) and tools that
    /// integration tests start and run themselves.
    pub const TEST: [Tool; 10] = [
        Tool::Kubernetes,
        Tool::Etcd,
        Tool::Kwok,
        Tool::Helm,
        Tool::Chartmuseum,
        Tool::Registry,
        Tool::Kustomize,
        Tool::Sops,
        Tool::Age,
        // The chart's rendered manifests are checked with it (tests/chart.rs).
        Tool::Kubeconform,
    ];
    /// The tools only benchmarks need; built by `cargo xtask tools`.
    pub const EXTRA: [Tool; 3] = [Tool::Dyff, Tool::FluxSource, Tool::FluxKustomize];

    /// Short name, used in cache directory names and progress lines.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Kubernetes => "kubernetes",
            Tool::Etcd => "etcd",
            Tool::Kwok => "kwok",
            Tool::Helm => "helm",
            Tool::Kubeconform => "kubeconform",
            Tool::Dyff => "dyff",
            Tool::Chartmuseum => "chartmuseum",
            Tool::Registry => "registry",
            Tool::Kustomize => "kustomize",
            Tool::Sops => "sops",
            Tool::Age => "age",
            Tool::FluxSource => "source-controller",
            Tool::FluxKustomize => "kustomize-controller",
        }
    }

    /// The pinned version.
    pub fn version(self) -> &'static str {
        match self {
            Tool::Kubernetes => KUBERNETES,
            Tool::Etcd => ETCD,
            Tool::Kwok => KWOK,
            Tool::Helm => HELM,
            Tool::Kubeconform => KUBECONFORM,
            Tool::Dyff => DYFF,
            Tool::Chartmuseum => CHARTMUSEUM,
            Tool::Registry => DISTRIBUTION,
            Tool::Kustomize => KUSTOMIZE,
            Tool::Sops => SOPS,
            Tool::Age => AGE,
            Tool::FluxSource => FLUX_SOURCE_CONTROLLER,
            Tool::FluxKustomize => FLUX_KUSTOMIZE_CONTROLLER,
        }
    }

    /// The binaries the tool provides.
    pub fn binaries(self) -> &'static [&'static str] {
        match self {
            Tool::Kubernetes => &[
                "kube-apiserver",
                "kube-controller-manager",
                "kube-scheduler",
                "kubectl",
            ],
            Tool::Etcd => &["etcd"],
            Tool::Kwok => &["kwok"],
            Tool::Helm => &["helm"],
            Tool::Kubeconform => &["kubeconform"],
            Tool::Dyff => &["dyff"],
            Tool::Chartmuseum => &["chartmuseum"],
            Tool::Registry => &["registry"],
            Tool::Kustomize => &["kustomize"],
            Tool::Sops => &["sops"],
            Tool::Age => &["age", "age-keygen"],
            Tool::FluxSource => &["source-controller"],
            Tool::FluxKustomize => &["kustomize-controller"],
        }
    }

    /// The environment variables that give tests each binary's path.
    pub fn env_vars(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Tool::Kubernetes => &[("WEIR_KUBECTL", "kubectl")],
            Tool::Helm => &[("WEIR_HELM", "helm")],
            Tool::Chartmuseum => &[("WEIR_CHARTMUSEUM", "chartmuseum")],
            Tool::Registry => &[("WEIR_REGISTRY", "registry")],
            Tool::Kustomize => &[("WEIR_KUSTOMIZE", "kustomize")],
            Tool::Sops => &[("WEIR_SOPS", "sops")],
            Tool::Age => &[("WEIR_AGE", "age"), ("WEIR_AGE_KEYGEN", "age-keygen")],
            Tool::Kubeconform => &[("WEIR_KUBECONFORM", "kubeconform")],
            Tool::FluxSource => &[("WEIR_FLUX_SOURCE_CONTROLLER", "source-controller")],
            Tool::FluxKustomize => &[("WEIR_FLUX_KUSTOMIZE_CONTROLLER", "kustomize-controller")],
            Tool::Etcd | Tool::Kwok | Tool::Dyff => &[],
        }
    }

    /// Go module and package paths for tools installed with `go install`
    /// (one package per binary).
    pub fn install_path(self) -> Option<(&'static str, &'static [&'static str])> {
        match self {
            Tool::Kwok => Some(("sigs.k8s.io/kwok", &["sigs.k8s.io/kwok/cmd/kwok"])),
            Tool::Helm => Some(("helm.sh/helm/v3", &["helm.sh/helm/v3/cmd/helm"])),
            Tool::Kubeconform => Some((
                "github.com/yannh/kubeconform",
                &["github.com/yannh/kubeconform/cmd/kubeconform"],
            )),
            Tool::Dyff => Some((
                "github.com/homeport/dyff",
                &["github.com/homeport/dyff/cmd/dyff"],
            )),
            Tool::Registry => Some((
                "github.com/distribution/distribution/v3",
                &["github.com/distribution/distribution/v3/cmd/registry"],
            )),
            Tool::Kustomize => Some((
                "sigs.k8s.io/kustomize/kustomize/v5",
                &["sigs.k8s.io/kustomize/kustomize/v5"],
            )),
            Tool::Sops => Some((
                "github.com/getsops/sops/v3",
                &["github.com/getsops/sops/v3/cmd/sops"],
            )),
            Tool::Age => Some((
                "filippo.io/age",
                &["filippo.io/age/cmd/age", "filippo.io/age/cmd/age-keygen"],
            )),
            Tool::Kubernetes
            | Tool::Etcd
            | Tool::Chartmuseum
            | Tool::FluxSource
            | Tool::FluxKustomize => None,
        }
    }

    /// The Go module of a Flux controller (its main package is the
    /// module's root).
    pub fn flux_module(self) -> Option<&'static str> {
        match self {
            Tool::FluxSource => Some("github.com/fluxcd/source-controller"),
            Tool::FluxKustomize => Some("github.com/fluxcd/kustomize-controller"),
            _ => None,
        }
    }

    /// Cache directory name: one per tool and version.
    pub fn key(self) -> String {
        format!("{}-{}", self.name(), self.version())
    }
}

/// The `minor` and `patch` of a `v1.<minor>.<patch>` Kubernetes version, as
/// used by the published staging modules (`k8s.io/api v0.<minor>.<patch>`).
pub fn staging_version(kubernetes: &str) -> Option<String> {
    let rest = kubernetes.strip_prefix("v1.")?;
    Some(format!("v0.{rest}"))
}

/// `(major, minor)` of a Kubernetes version, for the `-X` version ldflags.
pub fn major_minor(kubernetes: &str) -> Option<(&str, &str)> {
    let mut parts = kubernetes.strip_prefix('v')?.split('.');
    Some((parts.next()?, parts.next()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_get_the_demos_tools_and_every_variable_names_a_binary_of_its_tool() {
        for tool in Tool::DEMO {
            assert!(Tool::TEST.contains(&tool), "{}", tool.name());
        }
        let mut vars = Vec::new();
        for tool in Tool::TEST {
            for (var, bin) in tool.env_vars() {
                assert!(tool.binaries().contains(bin), "{var}: {bin}");
                vars.push(*var);
            }
        }
        let count = vars.len();
        vars.sort_unstable();
        vars.dedup();
        assert_eq!(vars.len(), count, "a variable is given twice");
        for tool in Tool::TEST {
            assert!(
                tool.install_path().is_some()
                    || matches!(tool, Tool::Kubernetes | Tool::Etcd | Tool::Chartmuseum),
                "{} has no way to be built",
                tool.name()
            );
        }
    }
}
