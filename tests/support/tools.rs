//! The built command-line tools that tests run, from the environment
//! `cargo xtask test` sets (kubectl and helm are in `mod.rs`).

use std::path::PathBuf;

/// `kustomize` (`WEIR_KUSTOMIZE`).
pub fn kustomize() -> PathBuf {
    super::servers::binary("WEIR_KUSTOMIZE")
}

/// `sops` (`WEIR_SOPS`).
pub fn sops() -> PathBuf {
    super::servers::binary("WEIR_SOPS")
}

/// `age` (`WEIR_AGE`).
pub fn age() -> PathBuf {
    super::servers::binary("WEIR_AGE")
}

/// `age-keygen` (`WEIR_AGE_KEYGEN`).
pub fn age_keygen() -> PathBuf {
    super::servers::binary("WEIR_AGE_KEYGEN")
}

/// `kubeconform` (`WEIR_KUBECONFORM`).
pub fn kubeconform() -> PathBuf {
    super::servers::binary("WEIR_KUBECONFORM")
}
