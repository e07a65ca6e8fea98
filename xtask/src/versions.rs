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

/// A Go-built tool of the test environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Kubernetes,
    Etcd,
    Kwok,
    Helm,
    Kubeconform,
    Dyff,
}

impl Tool {
    /// The tools every cluster run needs.
    pub const CLUSTER: [Tool; 4] = [Tool::Kubernetes, Tool::Etcd, Tool::Kwok, Tool::Helm];
    /// The tools only benchmarks need; built by `cargo xtask tools`.
    pub const EXTRA: [Tool; 2] = [Tool::Kubeconform, Tool::Dyff];

    /// Short name, used in cache directory names and progress lines.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Kubernetes => "kubernetes",
            Tool::Etcd => "etcd",
            Tool::Kwok => "kwok",
            Tool::Helm => "helm",
            Tool::Kubeconform => "kubeconform",
            Tool::Dyff => "dyff",
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
        }
    }

    /// Go module and package path for tools installed with `go install`.
    pub fn install_path(self) -> Option<(&'static str, &'static str)> {
        match self {
            Tool::Kwok => Some(("sigs.k8s.io/kwok", "sigs.k8s.io/kwok/cmd/kwok")),
            Tool::Helm => Some(("helm.sh/helm/v3", "helm.sh/helm/v3/cmd/helm")),
            Tool::Kubeconform => Some((
                "github.com/yannh/kubeconform",
                "github.com/yannh/kubeconform/cmd/kubeconform",
            )),
            Tool::Dyff => Some((
                "github.com/homeport/dyff",
                "github.com/homeport/dyff/cmd/dyff",
            )),
            Tool::Kubernetes | Tool::Etcd => None,
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
