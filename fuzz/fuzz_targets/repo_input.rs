//! The input of the `pipeline` fuzz target, shared with weir's own tests
//! (`tests/fuzz_pipeline.rs` replays the kept corpus on stable): a whole
//! config repo written as text, and its run through the pipeline.
//!
//! A file starts at a line `=== <path>` and holds the bytes up to the next
//! such line (any bytes: the loader must cope). Paths that could not be in
//! a repo (absolute, `..`, empty segments, over 200 bytes) are dropped, as
//! are files past the 64th. Helm is stubbed: a chart "renders" to its
//! `templates/` files as they are, each under helm's `# Source:` comment,
//! so chart output is as hostile as the input.

use weir::pipeline::{self, Options, WithoutHelm};
use weir::render::{self, ChartOutput, ChartRenderer, ChartRequest};
use weir::repo::FileTree;

/// The work budget of one fuzz input: small, so each runs in milliseconds.
pub const MAX_NODES: u64 = 200_000;

const MARK: &[u8] = b"=== ";
const MAX_FILES: usize = 64;

/// The repo's files, from the input's text.
pub fn files(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut current: Option<(String, Vec<u8>)> = None;
    for line in data.split_inclusive(|b| *b == b'\n') {
        if let Some(rest) = line.strip_prefix(MARK) {
            if let Some(done) = current.take() {
                files.push(done);
            }
            let path = String::from_utf8_lossy(rest).trim().to_owned();
            let fits = !path.is_empty()
                && path.len() <= 200
                && !path.starts_with('/')
                && path
                    .split('/')
                    .all(|s| !s.is_empty() && s != "." && s != "..");
            current = Some((if fits { path } else { String::new() }, Vec::new()));
        } else if let Some((_, bytes)) = current.as_mut() {
            bytes.extend_from_slice(line);
        }
    }
    files.extend(current);
    files.retain(|(path, _)| !path.is_empty());
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files.dedup_by(|a, b| a.0 == b.0);
    files.truncate(MAX_FILES);
    files
}

/// Helm stubbed by a fixed rendering: the chart's templates, untemplated.
pub struct FixedChart;

impl ChartRenderer for FixedChart {
    fn template(&self, request: &ChartRequest<'_>) -> render::Result<ChartOutput> {
        let mut out = String::new();
        for (path, bytes) in &request.files {
            if let Some(name) = path.strip_prefix("templates/") {
                out.push_str(&format!("---\n# Source: chart/templates/{name}\n"));
                out.push_str(&String::from_utf8_lossy(bytes));
                out.push('\n');
            }
        }
        Ok(ChartOutput::Rendered(out))
    }
}

/// Loads, validates, renders (helm stubbed) and plans the repo of `data`.
/// Panics only on a bug: a check that cannot run, a plan from a repo with
/// errors, a finding without a code.
pub fn run(data: &[u8]) {
    let tree: FileTree = files(data).into_iter().collect();
    let work = weir::budget::Limits {
        max_nodes: MAX_NODES,
        ..weir::budget::Limits::default()
    };
    let loaded = pipeline::load_tree(tree, None, "fuzz".to_owned(), &work);
    let options = Options {
        without_helm: WithoutHelm::Fail,
        ..Options::default()
    };
    let checked = match pipeline::check(loaded, &options, &FixedChart) {
        Ok(checked) => checked,
        Err(e) => panic!("the pipeline could not judge the repo: {e}"),
    };
    let errors = checked.report.diagnostics.iter().any(|d| d.is_error());
    assert_eq!(
        checked.planned.is_some(),
        !errors,
        "a plan exactly when there is no error"
    );
    for d in &checked.report.diagnostics {
        assert!(d.code.0.len() == 5, "{d:?}");
        // Every finding prints and serialises.
        let _ = d.to_string();
    }
    if let Some(planned) = checked.planned {
        let rendered = planned.rendered().objects.len();
        let _ = serde_json::to_string(&planned.plan().waves);
        assert!(planned.into_sync_plan().objects().count() <= rendered);
    }
}
