//! Kustomization components: a directory holding a `kustomization.yaml`
//! (or `kustomization.yml`, `Kustomization`) renders through the real
//! `kustomize build`, as Argo CD does.
//!
//! A kustomization is untrusted input like the rest of the repo. Before
//! kustomize runs, weir walks it and every kustomization it names
//! (`resources`, `bases`, `components`): each must be a path inside the
//! repository ([`files::resolve`]) that names a file or a kustomization of
//! the repo; a URL, a remote base or an absolute path is a finding, so
//! kustomize never reaches the network or a file outside the repo. Only
//! the files of those directories are written to the temporary directory
//! kustomize builds in, kustomize keeps its own rule that a kustomization
//! reads no file above its directory (`LoadRestrictionsRootOnly`), and it
//! runs within the same time, output and memory limits as helm
//! ([`Limits`](crate::budget::Limits)), killed past any of them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::files::{self, Files};
use super::helm::{ChartOutput, ChartRenderer};
use super::object::RenderedObject;
use super::sources::{Context, Source};
use super::{Error, Result, codes, yaml};
use crate::budget::Budget;
use crate::diagnostic::Diagnostic;
use crate::spec::yaml::KUSTOMIZATION_FILES;

/// Environment variable naming the kustomize binary to use (before `PATH`).
pub const KUSTOMIZE_ENV: &str = "WEIR_KUSTOMIZE";

/// The fields of a kustomization that name other files or kustomizations.
const REFERENCE_FIELDS: [&str; 3] = ["resources", "bases", "components"];

/// Everything `kustomize build` needs for one kustomization component.
#[derive(Debug, Clone)]
pub struct KustomizeRequest<'a> {
    pub component: &'a str,
    /// Repo-relative directory of the kustomization to build.
    pub dir: &'a str,
    /// The files it may read, repo-relative: those of its directory and of
    /// every kustomization it names.
    pub files: Vec<(&'a str, &'a [u8])>,
    /// Past this, kustomize is killed ([`ChartOutput::Stopped`]).
    pub timeout: Duration,
    /// Past this many bytes of output, kustomize is killed.
    pub max_output: u64,
    /// kustomize's data segment is capped at this many bytes (Linux).
    pub max_memory: u64,
}

/// The kustomization file of `dir`, when it has one.
pub fn kustomization_file(files: &dyn Files, dir: &str) -> Option<String> {
    KUSTOMIZATION_FILES
        .iter()
        .map(|name| files::join(dir, name))
        .find(|path| files.get(path).is_some())
}

/// The entries of a kustomization that name other files or
/// kustomizations, with their field and index.
pub fn references(kustomization: &Value) -> Vec<(&'static str, usize, &str)> {
    let mut out = Vec::new();
    for field in REFERENCE_FIELDS {
        let Some(items) = kustomization.get(field).and_then(Value::as_array) else {
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            if let Some(entry) = item.as_str() {
                out.push((field, i, entry));
            }
        }
    }
    out
}

/// Parses the kustomization of `dir`, charged to `budget`; `None` when it
/// has none or it does not parse (the parse error as `Err`).
fn parse(
    files: &dyn Files,
    dir: &str,
    budget: &Budget,
) -> Option<(String, std::result::Result<Value, Box<Diagnostic>>)> {
    let path = kustomization_file(files, dir)?;
    let bytes = files.get(&path)?;
    let value = yaml::parse(&path, bytes, budget)
        .map(|docs| docs.into_iter().next().map(|(v, _)| v).unwrap_or_default());
    Some((path, value))
}

/// The directories of the kustomizations `dir` names, directly or through
/// others, `dir` first; and what is wrong with their references (errors:
/// then kustomize must not run).
pub(super) fn closure(
    files: &dyn Files,
    dir: &str,
    component: &str,
    budget: &Budget,
) -> (Vec<String>, Vec<Diagnostic>) {
    let mut seen = BTreeSet::from([dir.to_owned()]);
    let mut pending = vec![dir.to_owned()];
    let mut dirs = Vec::new();
    let mut diags = Vec::new();
    while let Some(current) = pending.pop() {
        dirs.push(current.clone());
        let Some((path, parsed)) = parse(files, &current, budget) else {
            continue;
        };
        let value = match parsed {
            Ok(value) => value,
            Err(e) => {
                diags.push(*e);
                continue;
            }
        };
        for (field, i, entry) in references(&value) {
            let problem = match files::resolve(&current, entry) {
                None => Some((
                    codes::PATH_OUTSIDE_REPO,
                    format!(
                        "the kustomization of component `{component}` names `{entry}`, which \
                         leaves the config repository"
                    ),
                )),
                Some(target) if files.get(&target).is_some() => None,
                Some(target) if kustomization_file(files, &target).is_some() => {
                    if seen.insert(target.clone()) {
                        pending.push(target);
                    }
                    None
                }
                // A directory without a kustomization: kustomize says so.
                Some(target) if !files.under(&target).is_empty() => None,
                Some(target) => Some((
                    codes::PATH_NOT_FOUND,
                    format!(
                        "the kustomization of component `{component}` names `{entry}` ({}), which \
                         is nothing in the config repository",
                        files::show_dir(&target)
                    ),
                )),
            };
            if let Some((code, message)) = problem {
                diags.push(
                    Diagnostic::error(code, message)
                        .in_file(path.clone())
                        .with_path(format!(".{field}[{i}]"))
                        .with_hint(
                            "a kustomization may use only files and kustomizations inside the \
                             config repo: weir builds it offline and fetches no remote base (URL, \
                             Git repository); vendor the base into the repo",
                        ),
                );
            }
        }
    }
    (dirs, diags)
}

/// Builds every kustomization component and adds its objects to the
/// context.
pub(super) fn render_kustomizations(
    ctx: &mut Context<'_>,
    tools: &dyn ChartRenderer,
) -> Result<()> {
    let components = ctx.components;
    let files = ctx.files;
    let budget = ctx.budget;
    for (c, source) in components.iter().zip(ctx.sources.clone()) {
        let Source::Kustomize(dir) = source else {
            continue;
        };
        if budget.is_exhausted() {
            break;
        }
        let name = c.value.metadata.name.as_str();
        let (dirs, problems) = closure(files, &dir, name, budget);
        if problems.iter().any(Diagnostic::is_error) {
            ctx.diags.extend(problems);
            continue;
        }
        ctx.diags.extend(problems);
        let mut all: BTreeMap<&str, &[u8]> = BTreeMap::new();
        for d in &dirs {
            all.extend(files.under(d));
        }
        let source_file = kustomization_file(files, &dir).unwrap_or_else(|| dir.clone());
        let request = KustomizeRequest {
            component: name,
            dir: &dir,
            files: all.into_iter().collect(),
            timeout: budget.limits().helm_timeout,
            max_output: budget.limits().max_helm_output,
            max_memory: budget.limits().max_helm_memory,
        };
        ctx.generated.insert(name.to_owned());
        match tools.kustomize(&request)? {
            ChartOutput::Rendered(text) => match yaml::parse(&source_file, text.as_bytes(), budget)
            {
                Err(e) => ctx.diags.push(
                    Diagnostic::error(
                        codes::BAD_YAML,
                        format!(
                            "kustomize built invalid YAML for component `{name}`: {}",
                            e.message
                        ),
                    )
                    .in_file(source_file.clone()),
                ),
                Ok(docs) => {
                    for (value, _) in docs {
                        for (id, value) in ctx.objects_of(&source_file, None, value) {
                            ctx.objects.push(RenderedObject {
                                component: name.to_owned(),
                                source_file: source_file.clone(),
                                source_span: None,
                                id,
                                value,
                                wave: None,
                                implied: false,
                            });
                        }
                    }
                }
            },
            ChartOutput::Failed(message) => {
                let d = ctx
                    .component_error(
                        c,
                        codes::KUSTOMIZE_FAILED,
                        format!(
                            "kustomize could not build the kustomization of component `{name}` \
                             ({}):\n{message}",
                            files::show_dir(&dir)
                        ),
                    )
                    .with_path(".spec.source.path");
                ctx.diags.push(d);
            }
            ChartOutput::Stopped(why) => {
                let d = ctx
                    .component_error(
                        c,
                        codes::KUSTOMIZE_LIMIT,
                        why.message_of("kustomize build", name),
                    )
                    .with_path(".spec.source.path")
                    .with_hint(
                        why.hint_of(
                            "check what the kustomization generates with `kustomize build`",
                        ),
                    );
                ctx.diags.push(d);
            }
        }
    }
    Ok(())
}

/// Runs `kustomize build` on the request's files, written to a temporary
/// directory, within its limits.
pub(super) fn build(kustomize: &Path, request: &KustomizeRequest<'_>) -> Result<ChartOutput> {
    let tmp_err = |source| Error::TempDir {
        component: request.component.to_owned(),
        source,
    };
    let tmp = tempfile::Builder::new()
        .prefix("weir-kustomize-")
        .tempdir()
        .map_err(tmp_err)?;
    let root = tmp.path().join("repo");
    std::fs::create_dir_all(&root).map_err(tmp_err)?;
    super::tool::write_tree(&root, request.files.iter().copied()).map_err(tmp_err)?;
    let dir = if request.dir.is_empty() {
        root.clone()
    } else {
        root.join(request.dir)
    };
    let mut command = Command::new(kustomize);
    command
        .arg("build")
        .arg(&dir)
        .arg("--load-restrictor")
        .arg("LoadRestrictionsRootOnly")
        .current_dir(tmp.path())
        // Nothing of the user's: no plugins, caches or configuration.
        .env("HOME", tmp.path().join("home"))
        .env("XDG_CONFIG_HOME", tmp.path().join("config"))
        .env("XDG_CACHE_HOME", tmp.path().join("cache"))
        .env("KUSTOMIZE_PLUGIN_HOME", tmp.path().join("plugins"));
    let bounds = super::tool::Bounds {
        timeout: request.timeout,
        max_output: request.max_output,
        max_memory: request.max_memory,
    };
    let run = super::tool::run(command, None, &bounds).map_err(|source| Error::ToolRun {
        path: kustomize.to_owned(),
        source,
    })?;
    let (status, stderr) = match run {
        super::tool::Run::Succeeded(stdout) => {
            return Ok(ChartOutput::Rendered(
                String::from_utf8_lossy(&stdout).into_owned(),
            ));
        }
        super::tool::Run::Stopped(why) => return Ok(ChartOutput::Stopped(why)),
        super::tool::Run::Failed { status, stderr } => (status, stderr),
    };
    // Paths as the repo names them, not the temporary directory's.
    let root_text = format!("{}/", root.to_string_lossy());
    let message = stderr
        .replace(&root_text, "")
        .replace(root.to_string_lossy().as_ref(), ".")
        .trim()
        .to_owned();
    Ok(ChartOutput::Failed(if message.is_empty() {
        format!("kustomize exited with {status}")
    } else {
        message
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The repo snapshot of `files` (path, content).
    fn tree(files: &[(&str, &str)]) -> crate::repo::FileTree {
        files.iter().copied().collect()
    }

    #[test]
    fn the_closure_follows_bases_and_refuses_what_leaves_the_repo() {
        let files = tree(&[
            ("base/kustomization.yaml", "resources: [deploy.yaml]\n"),
            ("base/deploy.yaml", "kind: Deployment\n"),
            (
                "overlays/prod/kustomization.yaml",
                "resources: [../../base, cm.yaml]\n",
            ),
            ("overlays/prod/cm.yaml", "kind: ConfigMap\n"),
            (
                "bad/kustomization.yaml",
                "resources:\n- ../../../etc\n- https://github.com/x/y//base?ref=v1\n- /etc/passwd\n",
            ),
        ]);
        let budget = Budget::default();
        let (dirs, diags) = closure(&files, "overlays/prod", "prod", &budget);
        assert_eq!(dirs, ["overlays/prod", "base"]);
        assert!(diags.is_empty(), "{diags:#?}");

        let (_, diags) = closure(&files, "bad", "bad", &budget);
        let codes: Vec<_> = diags.iter().map(|d| d.code).collect();
        assert_eq!(
            codes,
            [
                codes::PATH_OUTSIDE_REPO,
                codes::PATH_NOT_FOUND,
                codes::PATH_OUTSIDE_REPO
            ]
        );
        assert!(
            diags[1].message.contains("github.com"),
            "{}",
            diags[1].message
        );
    }
}
