//! Shared helpers of the render and plan tests: load a fixture repo under
//! `tests/fixtures/render/`, render it (with a fake or the real helm) and
//! plan it.
//!
//! Loading is PROVISIONAL (a directory walk and serde_yaml) until the
//! loader's `repo::read_worktree` and `spec::yaml::load_documents` land.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use weir::diagnostic::{Diagnostic, Span};
use weir::plan::{self, Plan};
use weir::render::{self, ChartOutput, ChartRenderer, ChartRequest, RenderOptions, Rendered};
use weir::spec::repo::ConfigRepo;
use weir::spec::yaml::Document;

pub type Tree = BTreeMap<String, Vec<u8>>;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/render")
        .join(name)
}

pub fn read_tree(root: &Path) -> Tree {
    let mut tree = Tree::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            if entry.file_type().unwrap().is_dir() {
                stack.push((entry.path(), rel));
            } else {
                tree.insert(rel, std::fs::read(entry.path()).unwrap());
            }
        }
    }
    tree
}

pub fn load(tree: &Tree) -> ConfigRepo {
    let chart_dirs: Vec<String> = tree
        .keys()
        .filter_map(|p| p.strip_suffix("/Chart.yaml"))
        .map(|d| format!("{d}/"))
        .collect();
    let mut docs = Vec::new();
    for (path, bytes) in tree {
        if !(path.ends_with(".yaml") || path.ends_with(".yml"))
            || chart_dirs.iter().any(|d| path.starts_with(d))
        {
            continue;
        }
        for (index, de) in serde_yaml::Deserializer::from_slice(bytes).enumerate() {
            let value = Value::deserialize(de).unwrap();
            if !value.is_null() {
                docs.push(Document {
                    file: path.clone(),
                    index,
                    span: Span { line: 1, column: 1 },
                    value,
                });
            }
        }
    }
    let (repo, diags) = ConfigRepo::assemble(docs);
    assert!(diags.is_empty(), "assemble: {diags:#?}");
    repo
}

/// A chart renderer that must not be called.
pub struct NoHelm;

impl ChartRenderer for NoHelm {
    fn template(&self, request: &ChartRequest<'_>) -> render::Result<ChartOutput> {
        panic!("helm called for {}", request.component)
    }
}

/// A chart renderer that returns the values it was given as a ConfigMap.
pub struct EchoHelm;

impl ChartRenderer for EchoHelm {
    fn template(&self, request: &ChartRequest<'_>) -> render::Result<ChartOutput> {
        let values = serde_json::to_string(request.values).unwrap();
        Ok(ChartOutput::Rendered(format!(
            "---\n# Source: {}/templates/values.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}-values\ndata:\n  values.json: {}\n",
            request.component,
            request.release_name,
            serde_json::to_string(&values).unwrap()
        )))
    }
}

pub struct Outcome {
    pub rendered: Rendered,
    pub plan: Option<Plan>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Outcome {
    pub fn errors(&self) -> Vec<&Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error()).collect()
    }

    pub fn warnings(&self) -> Vec<&Diagnostic> {
        self.diagnostics.iter().filter(|d| !d.is_error()).collect()
    }

    /// Every object as YAML, `---`-separated, in apply order.
    pub fn yaml(&self) -> String {
        let mut out = String::new();
        for o in &self.rendered.objects {
            out.push_str("---\n");
            out.push_str(&serde_yaml::to_string(&o.value).unwrap());
        }
        out
    }

    pub fn object(&self, kind: &str, name: &str) -> &Value {
        &self
            .rendered
            .objects
            .iter()
            .find(|o| o.id.kind == kind && o.id.name == name)
            .unwrap_or_else(|| panic!("no {kind} {name}"))
            .value
    }
}

/// Renders and plans a loaded repo.
pub fn run(repo: &ConfigRepo, tree: &Tree, helm: &dyn ChartRenderer) -> Outcome {
    let mut rendered = render::render(repo, tree, &RenderOptions::default(), helm).unwrap();
    let mut diagnostics = std::mem::take(&mut rendered.diagnostics);
    let plan = if diagnostics.iter().any(Diagnostic::is_error) {
        None
    } else {
        let (plan, more) = plan::plan(&mut rendered, &repo.settings());
        diagnostics.extend(more);
        plan
    };
    Outcome {
        rendered,
        plan,
        diagnostics,
    }
}

/// Loads, renders and plans a fixture.
pub fn run_fixture(name: &str, helm: &dyn ChartRenderer) -> Outcome {
    let tree = read_tree(&fixture(name));
    let repo = load(&tree);
    run(&repo, &tree, helm)
}

/// Builds a tree from `(path, content)` pairs.
pub fn tree(files: &[(&str, &str)]) -> Tree {
    files
        .iter()
        .map(|(p, c)| ((*p).to_owned(), c.as_bytes().to_vec()))
        .collect()
}
