//! Repo-relative paths: normalising a path a spec names against the
//! directory it is written in, without ever leaving the repository root.
//! Purely lexical: no file system access, so it behaves the same for the
//! working tree and for a Git revision.

use super::{Error, Result};

/// Resolves `relative` against the repo-relative directory `base` and
/// returns the normalised repo-relative path (`/`-separated, no `.` or `..`
/// segments, no leading `./`, no trailing `/`; the repository root itself is
/// `""`).
///
/// `base` is a directory, not a file: for a spec in `apps/web/component.yaml`
/// naming `path: ../shared`, pass `base = "apps/web"` and get `apps/shared`.
/// `""` and `"."` mean the root.
///
/// # Errors
/// [`Error::EscapesRepo`] when the path climbs above the root (`../x` from
/// the root, `a/../../x`), [`Error::AbsolutePath`] for `/etc/passwd`,
/// [`Error::InvalidPath`] for a NUL character.
pub fn resolve_in_repo(base: &str, relative: &str) -> Result<String> {
    if relative.starts_with('/') || base.starts_with('/') {
        let path = if relative.starts_with('/') {
            relative
        } else {
            base
        };
        return Err(Error::AbsolutePath {
            path: path.to_owned(),
        });
    }
    if relative.contains('\0') || base.contains('\0') {
        return Err(Error::InvalidPath {
            path: format!("{base}/{relative}"),
        });
    }
    let mut parts: Vec<&str> = Vec::new();
    for segment in base.split('/').chain(relative.split('/')) {
        match segment {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(Error::EscapesRepo {
                        base: base.to_owned(),
                        relative: relative.to_owned(),
                    });
                }
            }
            name => parts.push(name),
        }
    }
    Ok(parts.join("/"))
}

/// `dir/name`, or `name` when `dir` is the root (`""`).
pub(crate) fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        let mut path = String::with_capacity(dir.len() + 1 + name.len());
        path.push_str(dir);
        path.push('/');
        path.push_str(name);
        path
    }
}

/// The directory part of a repo-relative path (`""` for top-level files).
pub(crate) fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// Whether a repo-relative path goes through a `.git` directory, which is
/// never part of the config repository even though it is inside its root.
pub(crate) fn in_git_dir(path: &str) -> bool {
    path.split('/').any(|segment| segment == ".git")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_paths() {
        assert_eq!(
            resolve_in_repo("apps/web", "../shared").unwrap(),
            "apps/shared"
        );
        assert_eq!(
            resolve_in_repo("apps/web", "./charts//db/").unwrap(),
            "apps/web/charts/db"
        );
        assert_eq!(resolve_in_repo("", "manifests").unwrap(), "manifests");
        assert_eq!(resolve_in_repo(".", "./a/./b").unwrap(), "a/b");
        assert_eq!(resolve_in_repo("apps", "..").unwrap(), "");
        assert_eq!(resolve_in_repo("a/b", "../../c").unwrap(), "c");
    }

    #[test]
    fn refuses_paths_that_leave_the_repo() {
        assert!(matches!(
            resolve_in_repo("", ".."),
            Err(Error::EscapesRepo { .. })
        ));
        assert!(matches!(
            resolve_in_repo("apps/web", "../../../etc/passwd"),
            Err(Error::EscapesRepo { .. })
        ));
        // Climbing out and back in is still climbing out.
        assert!(matches!(
            resolve_in_repo("a", "../../a/x"),
            Err(Error::EscapesRepo { .. })
        ));
        assert!(matches!(
            resolve_in_repo("", "/etc"),
            Err(Error::AbsolutePath { .. })
        ));
        assert!(matches!(
            resolve_in_repo("", "a\0b"),
            Err(Error::InvalidPath { .. })
        ));
        let message = resolve_in_repo("apps/web", "../../../x")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("../../../x") && message.contains("leaves"),
            "{message}"
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(join("", "a.yaml"), "a.yaml");
        assert_eq!(join("x/y", "a.yaml"), "x/y/a.yaml");
        assert_eq!(parent("x/y/a.yaml"), "x/y");
        assert_eq!(parent("a.yaml"), "");
        assert!(in_git_dir(".git/config"));
        assert!(in_git_dir("sub/.git/HEAD"));
        assert!(!in_git_dir("a.git/x"));
    }
}
