//! The mirror cache on disk: one bare repository per remote URL under a
//! cache root, named `<repo name>-<hash>` from the URL with its
//! credentials stripped; a lock file beside each mirror (`<name>.lock`,
//! an OS file lock, so threads and processes take turns); a last-used
//! stamp inside it; and [`prune_cache`], which removes the least recently
//! used mirrors past a size bound.

use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};

use super::url::redact_url;

/// The file whose modification time says when a mirror was last used.
pub(crate) const LAST_USED: &str = "weir-last-used";
/// The file holding the (redacted) URL a mirror is of, for people.
pub(crate) const URL_FILE: &str = "weir-url";

/// The directory name of the mirror of `url`: its last path segment
/// (for people reading the cache) and a hash of the redacted URL (so two
/// URLs never share a mirror, and no credential reaches the file system).
pub(crate) fn mirror_name(url: &str) -> String {
    let redacted = redact_url(url);
    let digest = Sha256::digest(redacted.as_bytes());
    let hash = hex::encode(&digest[..12]);
    let last = redacted
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or_default();
    let readable: String = last
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
        .take(40)
        .collect();
    let readable = readable.trim_start_matches('.');
    if readable.is_empty() {
        hash
    } else {
        format!("{readable}-{hash}")
    }
}

/// The lock file of the mirror at `mirror`.
pub(crate) fn lock_path(mirror: &Path) -> PathBuf {
    let mut name = mirror.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    mirror.with_file_name(name)
}

/// An exclusive hold on a mirror; released when dropped (or when the
/// process ends).
#[derive(Debug)]
pub(crate) struct MirrorLock {
    _file: File,
}

/// Why a mirror's lock was not taken.
#[derive(Debug)]
pub(crate) enum LockError {
    /// Someone else held it until the deadline.
    Busy,
    Io(std::io::Error),
}

/// Takes the lock of the mirror at `mirror`, waiting until `deadline` at
/// most.
pub(crate) fn lock(mirror: &Path, deadline: Instant) -> Result<MirrorLock, LockError> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(mirror))
        .map_err(LockError::Io)?;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(MirrorLock { _file: file }),
            Err(TryLockError::WouldBlock) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(LockError::Busy);
                }
                thread::sleep((deadline - now).min(Duration::from_millis(50)));
            }
            Err(TryLockError::Error(error)) => return Err(LockError::Io(error)),
        }
    }
}

/// Marks the mirror as used now.
pub(crate) fn touch(mirror: &Path) -> std::io::Result<()> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(mirror.join(LAST_USED))?;
    file.set_modified(SystemTime::now())
}

/// What [`prune_cache`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// The mirrors removed, least recently used first.
    pub removed: Vec<PathBuf>,
    /// The size of the mirrors left, in bytes.
    pub remaining_bytes: u64,
}

/// Removes least-recently-used mirrors under `cache_root` until the
/// mirrors there take at most `max_total_bytes`. Mirrors in `keep` (the
/// ones in use by a configured remote) and mirrors being fetched right now
/// (their lock is held) are never removed, so the bound is a target, not
/// a promise: it may be exceeded by what must stay. Entries that are not
/// weir mirrors are left alone. A mirror that cannot be measured or
/// removed is logged and skipped.
///
/// # Errors
/// The cache root cannot be listed (a missing root is an empty cache).
pub fn prune_cache(
    cache_root: &Path,
    max_total_bytes: u64,
    keep: &[&Path],
) -> std::io::Result<PruneReport> {
    let entries = match fs::read_dir(cache_root) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(PruneReport::default());
        }
        Err(error) => return Err(error),
    };
    let keep: Vec<PathBuf> = keep
        .iter()
        .map(|p| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()))
        .collect();
    // (last used, size, path) of every mirror.
    let mut mirrors: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if !path.join(URL_FILE).is_file() {
            continue;
        }
        let Ok(size) = dir_size(&path) else {
            tracing::warn!(mirror = %path.display(), "cannot measure a Git mirror; not pruning it");
            continue;
        };
        let used = fs::metadata(path.join(LAST_USED))
            .or_else(|_| fs::metadata(&path))
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        mirrors.push((used, size, path));
    }
    mirrors.sort();
    let mut total: u64 = mirrors.iter().map(|(_, size, _)| size).sum();
    let mut removed = Vec::new();
    for (_, size, path) in mirrors {
        if total <= max_total_bytes {
            break;
        }
        let canonical = fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if keep.contains(&canonical) {
            continue;
        }
        // Only a mirror nobody is fetching is removed; its lock is held
        // while it goes.
        let Ok(_lock) = lock(&path, Instant::now()) else {
            continue;
        };
        match fs::remove_dir_all(&path) {
            Ok(()) => {
                tracing::info!(mirror = %path.display(), bytes = size, "removed a least recently used Git mirror");
                total = total.saturating_sub(size);
                removed.push(path);
            }
            Err(error) => {
                tracing::warn!(mirror = %path.display(), %error, "cannot remove a Git mirror");
            }
        }
    }
    Ok(PruneReport {
        removed,
        remaining_bytes: total,
    })
}

/// The bytes of the regular files below `dir` (symlinks not followed).
fn dir_size(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file() {
                total += meta.len();
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_url_without_its_credentials() {
        let with = mirror_name("https://u:secret@git.example/org/platform.git");
        let without = mirror_name("https://git.example/org/platform.git");
        assert_eq!(with, without);
        assert!(with.starts_with("platform.git-"), "{with}");
        assert!(!with.contains("secret"));
        assert_ne!(
            without,
            mirror_name("https://git.example/other/platform.git")
        );
        assert!(mirror_name("git@github.com:org/repo.git").starts_with("repo.git-"));
        assert!(!mirror_name("https://h/..").starts_with('.'));
    }

    #[test]
    fn the_lock_is_exclusive_and_waits_until_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let mirror = dir.path().join("m");
        let held = lock(&mirror, Instant::now()).unwrap();
        let started = Instant::now();
        let deadline = started + Duration::from_millis(200);
        assert!(matches!(lock(&mirror, deadline), Err(LockError::Busy)));
        assert!(started.elapsed() >= Duration::from_millis(200));
        drop(held);
        assert!(lock(&mirror, Instant::now()).is_ok());
    }

    fn fake_mirror(root: &Path, name: &str, bytes: usize, used_secs_ago: u64) -> PathBuf {
        let path = root.join(name);
        fs::create_dir_all(path.join("objects")).unwrap();
        fs::write(path.join(URL_FILE), name).unwrap();
        fs::write(path.join("objects/pack"), vec![0u8; bytes]).unwrap();
        touch(&path).unwrap();
        let used = SystemTime::now() - Duration::from_secs(used_secs_ago);
        File::options()
            .write(true)
            .open(path.join(LAST_USED))
            .unwrap()
            .set_modified(used)
            .unwrap();
        path
    }

    #[test]
    fn prune_removes_least_recently_used_mirrors_first_and_spares_kept_and_locked_ones() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let oldest = fake_mirror(root, "oldest", 1000, 400);
        let old_kept = fake_mirror(root, "old-kept", 1000, 300);
        let old_locked = fake_mirror(root, "old-locked", 1000, 200);
        let newer = fake_mirror(root, "newer", 1000, 100);
        let newest = fake_mirror(root, "newest", 1000, 0);
        fs::create_dir(root.join("not-a-mirror")).unwrap();
        let _lock = lock(&old_locked, Instant::now()).unwrap();

        let report = prune_cache(root, 3500, &[&old_kept]).unwrap();
        // oldest and newer go (old-kept is kept, old-locked is busy);
        // 3 mirrors of ~1000 bytes stay.
        assert_eq!(report.removed, vec![oldest.clone(), newer.clone()]);
        assert!(report.remaining_bytes <= 3500, "{report:?}");
        assert!(!oldest.exists() && !newer.exists());
        assert!(old_kept.exists() && old_locked.exists() && newest.exists());
        assert!(root.join("not-a-mirror").exists());

        // Under the bound nothing goes.
        assert!(prune_cache(root, 1 << 20, &[]).unwrap().removed.is_empty());
        assert!(
            prune_cache(&root.join("missing"), 0, &[])
                .unwrap()
                .removed
                .is_empty()
        );
    }
}
