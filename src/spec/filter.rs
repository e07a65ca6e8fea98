//! [`FileFilter`]: which files of a config repo are loaded, from the
//! `include` and `exclude` globs of its `weir.yaml`. The one glob rule of
//! weir: every command (and the agent) selects files through it.
//!
//! Globs match repo-relative paths with `/` separators, as `.gitignore`
//! users expect: `*` and `?` stay within one path segment, `**` crosses
//! any number of them (`apps/*.yaml` is `apps/a.yaml` but not
//! `apps/web/a.yaml`; `apps/**` is everything under `apps/`).

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use super::yaml::{self, YamlLimits, codes::BAD_GLOB};
use crate::diagnostic::Diagnostic;
use crate::repo::FileTree;

/// The files weir.yaml selects: those matching `include` (every file when
/// it is empty) and not matching `exclude`.
#[derive(Debug, Clone, Default)]
pub struct FileFilter {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
}

impl FileFilter {
    /// Every file.
    pub fn all() -> Self {
        Self::default()
    }

    /// A filter from glob lists. `Err` names the first glob that does not
    /// parse, with globset's reason.
    pub fn new(include: &[&str], exclude: &[&str]) -> Result<Self, (String, globset::Error)> {
        let set = |globs: &[&str]| -> Result<Option<GlobSet>, (String, globset::Error)> {
            if globs.is_empty() {
                return Ok(None);
            }
            let mut builder = GlobSetBuilder::new();
            for g in globs {
                builder.add(glob(g).map_err(|e| ((*g).to_owned(), e))?);
            }
            builder.build().map(Some).map_err(|e| (String::new(), e))
        };
        Ok(Self {
            include: set(include)?,
            exclude: set(exclude)?,
        })
    }

    /// The filter of the repo's `weir.yaml` (every file when there is none,
    /// or when it does not parse: validation reports that). A glob that
    /// does not parse is a [`BAD_GLOB`] error at its line and is left out,
    /// so the other globs still apply.
    pub fn of_tree(tree: &FileTree) -> (Self, Vec<Diagnostic>) {
        let mut diagnostics = Vec::new();
        let Some(doc) = tree
            .get("weir.yaml")
            .and_then(|bytes| {
                yaml::parse_documents("weir.yaml", bytes, &YamlLimits::default()).ok()
            })
            .and_then(|docs| docs.into_iter().next())
        else {
            return (Self::all(), diagnostics);
        };
        let mut set = |field: &str| -> Option<GlobSet> {
            let globs = doc.value.pointer(&format!("/spec/{field}"))?.as_array()?;
            let mut builder = GlobSetBuilder::new();
            let mut any = false;
            for (i, g) in globs.iter().enumerate() {
                let Some(text) = g.as_str() else { continue };
                match glob(text) {
                    Ok(g) => {
                        builder.add(g);
                        any = true;
                    }
                    Err(e) => diagnostics.push(
                        doc.locate(
                            Diagnostic::error(
                                BAD_GLOB,
                                format!("`{text}` is not a valid glob: {}", e.kind()),
                            )
                            .with_hint(
                                "`*` matches within a path segment, `**` across segments, \
                             `{a,b}` either; escape `[`, `{` and `*` with `\\` to match them",
                            ),
                            &format!("/spec/{field}/{i}"),
                            false,
                        ),
                    ),
                }
            }
            any.then(|| builder.build().ok()).flatten()
        };
        let filter = Self {
            include: set("include"),
            exclude: set("exclude"),
        };
        (filter, diagnostics)
    }

    /// Whether the file at repo-relative `path` is selected.
    pub fn selects(&self, path: &str) -> bool {
        self.include.as_ref().is_none_or(|set| set.is_match(path))
            && !self.exclude.as_ref().is_some_and(|set| set.is_match(path))
    }
}

/// One glob by weir's rule (see the module docs).
fn glob(text: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(text).literal_separator(true).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_stays_in_its_segment() {
        let f = FileFilter::new(&["apps/*.yaml"], &[]).unwrap();
        assert!(f.selects("apps/a.yaml"));
        assert!(!f.selects("apps/web/a.yaml"));
        let f = FileFilter::new(&["apps/**"], &["**/bad.yaml"]).unwrap();
        assert!(f.selects("apps/web/a.yaml"));
        assert!(!f.selects("apps/web/bad.yaml"));
        assert!(!f.selects("weir.yaml"));
        assert!(FileFilter::all().selects("anything/at/all.yaml"));
        assert!(FileFilter::new(&["a/[b"], &[]).is_err());
    }

    #[test]
    fn bad_glob_in_weir_yaml_is_reported_at_its_line() {
        let tree: FileTree = [(
            "weir.yaml",
            "apiVersion: weir.dev/v1alpha1\nkind: Repository\nmetadata: {name: r}\nspec:\n  exclude:\n    - 'ok/**'\n    - 'a/[b'\n",
        )]
        .into_iter()
        .collect();
        let (filter, diags) = FileFilter::of_tree(&tree);
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(diags[0].code, BAD_GLOB);
        assert_eq!(diags[0].span.map(|s| s.line), Some(7));
        assert!(!filter.selects("ok/x.yaml"), "the good glob still applies");
        assert!(filter.selects("a/x.yaml"));
    }
}
