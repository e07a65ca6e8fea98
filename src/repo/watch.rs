//! [`watch`]: a `notify` watcher on a working copy that says when its
//! files change (saved, created, removed, renamed), ignoring Git's own
//! directory; `weir agent --path` syncs on each change.

use std::path::{Path, PathBuf};

use notify::{EventKind, RecursiveMode, Watcher as _};

/// A running watch; it stops when dropped.
pub struct Watcher {
    _inner: notify::RecommendedWatcher,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watcher")
    }
}

/// Why a directory cannot be watched.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {} for changes", path.display())]
pub struct WatchError {
    pub path: PathBuf,
    #[source]
    pub source: notify::Error,
}

/// Calls `changed` (from notify's thread) whenever a file under `dir`
/// changes, except under `.git/`. Bursts (an editor's save, a `git
/// checkout`) call it many times: the caller coalesces.
pub fn watch(dir: &Path, changed: impl Fn() + Send + 'static) -> Result<Watcher, WatchError> {
    let error = |source| WatchError {
        path: dir.to_path_buf(),
        source,
    };
    let mut inner = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        let relevant = event
            .paths
            .iter()
            .any(|p| !p.components().any(|c| c.as_os_str() == ".git"));
        if relevant {
            changed();
        }
    })
    .map_err(error)?;
    inner.watch(dir, RecursiveMode::Recursive).map_err(error)?;
    Ok(Watcher { _inner: inner })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn a_saved_file_is_seen_and_git_is_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".git")).unwrap();
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        let _w = watch(dir.path(), move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        std::fs::write(dir.path().join(".git/index"), "x").unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            seen.load(Ordering::SeqCst),
            0,
            "changes under .git/ are not changes"
        );
        std::fs::write(dir.path().join("cm.yaml"), "kind: ConfigMap\n").unwrap();
        let start = Instant::now();
        while seen.load(Ordering::SeqCst) == 0 && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(seen.load(Ordering::SeqCst) > 0);
    }
}
