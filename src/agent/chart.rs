//! The chart `charts/weir`, compiled into the binary: `weir bootstrap`
//! installs the chart of its own version without a checkout of the
//! repository or a chart repository. `tests/chart.rs` checks that [`FILES`]
//! holds every file of the chart directory (but its `ci/` values, which
//! `.helmignore` keeps out of the package too).

use std::path::{Path, PathBuf};

/// Why the chart could not be written out.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot write the weir chart to {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The chart's name, as `Chart.yaml` says.
pub const NAME: &str = "weir";

/// Every file of the chart, by its path inside the chart directory.
pub const FILES: &[(&str, &str)] = &[
    (".helmignore", include_str!("../../charts/weir/.helmignore")),
    ("Chart.yaml", include_str!("../../charts/weir/Chart.yaml")),
    ("values.yaml", include_str!("../../charts/weir/values.yaml")),
    (
        "values.schema.json",
        include_str!("../../charts/weir/values.schema.json"),
    ),
    (
        "crds/syncs.weir.dev.yaml",
        include_str!("../../charts/weir/crds/syncs.weir.dev.yaml"),
    ),
    (
        "templates/_helpers.tpl",
        include_str!("../../charts/weir/templates/_helpers.tpl"),
    ),
    (
        "templates/NOTES.txt",
        include_str!("../../charts/weir/templates/NOTES.txt"),
    ),
    (
        "templates/deployment.yaml",
        include_str!("../../charts/weir/templates/deployment.yaml"),
    ),
    (
        "templates/networkpolicy.yaml",
        include_str!("../../charts/weir/templates/networkpolicy.yaml"),
    ),
    (
        "templates/poddisruptionbudget.yaml",
        include_str!("../../charts/weir/templates/poddisruptionbudget.yaml"),
    ),
    (
        "templates/rbac.yaml",
        include_str!("../../charts/weir/templates/rbac.yaml"),
    ),
    (
        "templates/service.yaml",
        include_str!("../../charts/weir/templates/service.yaml"),
    ),
    (
        "templates/serviceaccount.yaml",
        include_str!("../../charts/weir/templates/serviceaccount.yaml"),
    ),
    (
        "templates/servicemonitor.yaml",
        include_str!("../../charts/weir/templates/servicemonitor.yaml"),
    ),
];

/// The chart's version (`Chart.yaml`'s `version`).
pub fn version() -> Option<&'static str> {
    let chart = FILES.iter().find(|(path, _)| *path == "Chart.yaml")?.1;
    chart
        .lines()
        .find_map(|l| l.strip_prefix("version:"))
        .map(str::trim)
}

/// Writes the chart into `dir` (as `dir/weir/...`) and returns the chart's
/// directory.
pub fn write_to(dir: &Path) -> Result<PathBuf, Error> {
    let root = dir.join(NAME);
    for (path, text) in FILES {
        let file = root.join(path);
        let written = match file.parent() {
            Some(parent) => {
                std::fs::create_dir_all(parent).and_then(|()| std::fs::write(&file, text))
            }
            None => std::fs::write(&file, text),
        };
        written.map_err(|source| Error::Write { path: file, source })?;
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_is_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let root = write_to(dir.path()).unwrap();
        assert!(root.join("templates/deployment.yaml").is_file());
        assert_eq!(
            std::fs::read_to_string(root.join("crds/syncs.weir.dev.yaml")).unwrap(),
            super::super::resource::CRD_YAML
        );
        assert_eq!(version(), Some("0.1.0"));
    }
}
