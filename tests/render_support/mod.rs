//! Shared helpers of the render and plan tests: load a fixture repo under
//! `tests/fixtures/render/`, render it (with a fake or the real helm) and
//! plan it.
//!
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use weir::diagnostic::Diagnostic;
use weir::plan::{self, Plan};
use weir::render::{self, ChartOutput, ChartRenderer, ChartRequest, RenderOptions, Rendered};
use weir::repo::{self, FileTree, Limits};
use weir::spec::filter::FileFilter;
use weir::spec::repo::ConfigRepo;
use weir::spec::yaml::{self, YamlLimits};

pub type Tree = FileTree;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/render")
        .join(name)
}

pub fn read_tree(root: &Path) -> Tree {
    repo::read_worktree(root, &Limits::default()).unwrap()
}

/// Loads the documents of a tree with the loader (weir.yaml's `exclude`
/// applied) and assembles them.
pub fn load(tree: &Tree) -> ConfigRepo {
    let (filter, diags) = FileFilter::of_tree(tree);
    assert!(diags.is_empty(), "filter: {diags:#?}");
    let (docs, diags) = yaml::load_documents(
        tree,
        &filter,
        &YamlLimits::default(),
        &weir::budget::Budget::default(),
    );
    assert!(diags.is_empty(), "load: {diags:#?}");
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
    let mut rendered = render::render(
        repo,
        tree,
        &RenderOptions::default(),
        helm,
        &weir::budget::Budget::default(),
    )
    .unwrap();
    let mut diagnostics = std::mem::take(&mut rendered.diagnostics);
    // As the pipeline does: planning judges units, so it runs even when
    // some objects did not render; only a plan without errors counts.
    let (plan, more) = plan::plan(&mut rendered, &repo.settings());
    diagnostics.extend(more);
    let plan = plan.filter(|_| !diagnostics.iter().any(Diagnostic::is_error));
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

/// A Component document named `name`; `spec` is the body of its `spec:`,
/// indented by two spaces.
pub fn component_doc(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {{name: {name}}}\nspec:\n{spec}"
    )
}

/// Builds a tree from `(path, content)` pairs.
pub fn tree(files: &[(&str, &str)]) -> Tree {
    files
        .iter()
        .map(|(p, c)| ((*p).to_owned(), c.as_bytes().to_vec()))
        .collect::<FileTree>()
}
