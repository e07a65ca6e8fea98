//! Fixture for `benches/validate_vs_kubeconform.sh`: writes a repo of N
//! manifests (Deployments, Services, ConfigMaps and custom resources of a
//! CRD the repo defines) and, for kubeconform, standalone JSON Schemas of
//! every built-in kind and of the CRD, converted from the very same compact
//! OpenAPI and CRD that `weir validate` uses, with the same rules (unknown
//! fields are errors, `null` counts as absent).
//!
//! Usage: `bench_fixture REPO_DIR SCHEMA_DIR COUNT`. Schemas are laid out
//! for kubeconform's
//! `-schema-location 'SCHEMA_DIR/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json'`.
#![allow(clippy::disallowed_macros)]

#[path = "../tests/bench_manifests/mod.rs"]
mod bench_manifests;
#[path = "../tests/support/kubeconform.rs"]
mod kubeconform;

use std::path::Path;

use serde_json::Value;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [repo, schemas, count] = args.as_slice() else {
        return Err("usage: bench_fixture REPO_DIR SCHEMA_DIR COUNT".into());
    };
    let count: usize = count.parse()?;
    write_repo(Path::new(repo), count)?;
    let n = write_schemas(Path::new(schemas))?;
    eprintln!("wrote {count} manifests to {repo} and {n} schemas to {schemas}");
    Ok(())
}

fn write_repo(dir: &Path, count: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("manifests"))?;
    std::fs::write(dir.join("crd.yaml"), bench_manifests::CRD)?;
    for i in 0..count {
        std::fs::write(
            dir.join(bench_manifests::manifest_path(i)),
            bench_manifests::manifest(i),
        )?;
    }
    Ok(())
}

/// Writes one standalone JSON Schema per built-in kind and one for the CRD.
fn write_schemas(dir: &Path) -> Result<usize, Box<dyn std::error::Error>> {
    let written = kubeconform::write_builtin_schemas(dir)?;
    let crd: Value = serde_yaml::from_str(bench_manifests::CRD)?;
    kubeconform::write_crd_schema(dir, &crd)?;
    Ok(written + 1)
}
