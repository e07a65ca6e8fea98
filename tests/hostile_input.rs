//! Bad and hostile input (issue 3): every case fails with a clear
//! diagnostic naming the file, through the real entry points
//! (`repo::read_worktree` / `repo::read_revision` then
//! `spec::yaml::load_documents`), and nothing panics. Also: reading a real
//! Git repository at two revisions, and a bounded random-mutation run of the
//! YAML loader.
//!
//! Time and memory are not asserted here; `examples/hostile.rs` measures
//! them (see its header).

mod support;

use std::fs;
use std::path::Path;

use git2::{Repository, Signature};
use support::rng::Rng;
use weir::diagnostic::{Code, Diagnostic};
use weir::repo::{self, Limits, read_revision, read_worktree, resolve_in_repo};
use weir::spec::filter::FileFilter;
use weir::spec::yaml::{self, YamlLimits, load_documents, parse_documents};

use support::hostile;

/// Loads a repo made by `make` and returns every diagnostic, reading and
/// parsing, with the file each names.
fn load(make: impl FnOnce(&Path, &Path)) -> (Vec<Diagnostic>, usize) {
    let repo = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    make(repo.path(), outside.path());
    hostile::good(repo.path());
    let tree = read_worktree(repo.path(), &Limits::default()).unwrap();
    let (docs, mut diagnostics) = load_documents(
        &tree,
        &FileFilter::all(),
        &YamlLimits::default(),
        &weir::budget::Budget::default(),
    );
    diagnostics.extend(tree.diagnostics().iter().cloned());
    // The valid file next to the hostile one still loads.
    assert!(docs.iter().any(|doc| doc.file == "good.yaml"));
    (diagnostics, docs.len())
}

/// Asserts exactly one diagnostic, for `file`, with `code`, and returns it.
fn only(diagnostics: &[Diagnostic], file: &str, code: Code) -> Diagnostic {
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    let diagnostic = diagnostics[0].clone();
    assert_eq!(diagnostic.file.as_deref(), Some(file), "{diagnostic}");
    assert_eq!(diagnostic.code, code, "{diagnostic}");
    assert!(diagnostic.is_error(), "{diagnostic}");
    diagnostic
}

#[test]
fn alias_bomb_is_refused() {
    let (diagnostics, _) = load(hostile::alias_bomb);
    let d = only(&diagnostics, "alias-bomb.yaml", yaml::codes::ALIAS_BUDGET);
    assert!(d.message.contains("billion laughs"), "{d}");
    assert!(d.span.is_some());
}

#[test]
fn deep_flow_nesting_is_refused() {
    let (diagnostics, _) = load(hostile::deep_flow);
    let d = only(&diagnostics, "deep-flow.yaml", yaml::codes::TOO_DEEP);
    assert_eq!(d.span.unwrap().line, 1);
}

#[test]
fn deep_block_nesting_is_refused() {
    let (diagnostics, _) = load(hostile::deep_block);
    let d = only(&diagnostics, "deep-block.yaml", yaml::codes::TOO_DEEP);
    assert!(d.message.contains("256"), "{d}");
    assert_eq!(d.span.map(|s| (s.line, s.column)), Some((1, 513)));
}

#[test]
fn huge_file_is_refused_unread() {
    let (diagnostics, _) = load(hostile::huge);
    let d = only(&diagnostics, "huge.yaml", repo::codes::FILE_TOO_LARGE);
    assert!(
        d.message.contains("100 MiB") && d.message.contains("8 MiB"),
        "{d}"
    );
    assert!(
        d.hint.as_deref().unwrap().contains("`--max-file-size`"),
        "{d:?}"
    );
}

#[test]
fn huge_file_is_not_in_the_tree() {
    let repo = tempfile::tempdir().unwrap();
    hostile::huge(repo.path(), repo.path());
    let tree = read_worktree(repo.path(), &Limits::default()).unwrap();
    assert!(tree.is_empty());
    assert_eq!(tree.total_bytes(), 0);
}

#[test]
fn binary_file_is_refused() {
    let (diagnostics, _) = load(hostile::binary);
    let d = only(&diagnostics, "binary.yaml", yaml::codes::BINARY);
    // `\x89PNG\r\n\x1a\n` then the first NUL.
    assert_eq!(d.span.map(|s| (s.line, s.column)), Some((3, 1)));
}

#[test]
fn invalid_utf8_is_refused() {
    let (diagnostics, _) = load(hostile::invalid_utf8);
    let d = only(&diagnostics, "invalid-utf8.yaml", yaml::codes::NOT_UTF8);
    assert_eq!(d.span.map(|s| (s.line, s.column)), Some((4, 10)));
}

#[test]
fn duplicate_keys_are_refused() {
    let (diagnostics, _) = load(hostile::duplicate_keys);
    let d = only(
        &diagnostics,
        "duplicate-keys.yaml",
        yaml::codes::DUPLICATE_KEY,
    );
    assert_eq!(d.span.map(|s| (s.line, s.column)), Some((6, 3)));
    assert!(d.message.contains("line 4"), "{d}");
}

#[test]
fn tab_indentation_is_refused() {
    let (diagnostics, _) = load(hostile::tabs);
    let d = only(&diagnostics, "tabs.yaml", yaml::codes::TAB_INDENT);
    assert_eq!(d.span.map(|s| (s.line, s.column)), Some((4, 1)));
    assert!(d.hint.as_deref().unwrap().contains("spaces"));
}

#[test]
fn symlink_outside_is_refused_unread() {
    let (diagnostics, docs) = load(hostile::symlink_outside);
    let d = only(&diagnostics, "escape.yaml", repo::codes::SYMLINK_ESCAPES);
    assert!(d.message.contains("outside the repository"), "{d}");
    assert_eq!(docs, 1, "only good.yaml");
}

#[test]
fn component_path_leaving_the_repo_is_an_error() {
    let err = resolve_in_repo("apps/web", "../../../etc").unwrap_err();
    assert!(matches!(err, repo::Error::EscapesRepo { .. }));
    assert_eq!(
        err.to_string(),
        "path `../../../etc` (from `apps/web`) leaves the config repository"
    );
    assert_eq!(resolve_in_repo("apps/web", "../db").unwrap(), "apps/db");
}

#[test]
fn all_cases_in_one_repo_give_one_diagnostic_each() {
    let (diagnostics, docs) = load(|repo, outside| {
        for (_, make) in hostile::CASES {
            make(repo, outside);
        }
    });
    let mut files: Vec<_> = diagnostics
        .iter()
        .map(|d| d.file.clone().unwrap())
        .collect();
    files.sort();
    let mut expected: Vec<_> = hostile::CASES
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    expected.sort();
    assert_eq!(files, expected);
    assert_eq!(docs, 1);
}

// ---- Git revisions -------------------------------------------------------

fn commit(repo: &Repository, message: &str) {
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.update_all(["*"], None).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = Signature::now("weir", "weir@example.com").unwrap();
    let parents: Vec<_> = repo
        .head()
        .ok()
        .and_then(|h| h.peel_to_commit().ok())
        .into_iter()
        .collect();
    let parents: Vec<_> = parents.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .unwrap();
}

#[test]
fn reads_git_revisions_without_checkout() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let repo = Repository::init(work).unwrap();
    let config = work.join("example-repo");
    fs::create_dir_all(config.join("apps")).unwrap();
    fs::write(config.join("apps/a.yaml"), "v: 1\n").unwrap();
    fs::write(work.join("README.md"), "outside the config repo\n").unwrap();
    commit(&repo, "one");

    fs::write(config.join("apps/a.yaml"), "v: 2\n").unwrap();
    fs::write(config.join("b.yaml"), "b: true\n").unwrap();
    fs::write(config.join("big.yaml"), "x".repeat(2048)).unwrap();
    std::os::unix::fs::symlink("apps/a.yaml", config.join("inside.yaml")).unwrap();
    std::os::unix::fs::symlink("../README.md", config.join("readme.yaml")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", config.join("passwd.yaml")).unwrap();
    commit(&repo, "two");
    // The work tree changes after the commit; revisions must not see it.
    fs::write(config.join("apps/a.yaml"), "v: 3\n").unwrap();

    let limits = Limits {
        max_file_bytes: 1024,
        ..Limits::default()
    };
    let old = read_revision(work, "HEAD~1", Some("example-repo"), &limits).unwrap();
    assert_eq!(old.paths().collect::<Vec<_>>(), ["apps/a.yaml"]);
    assert_eq!(old.get("apps/a.yaml"), Some(&b"v: 1\n"[..]));
    assert!(old.diagnostics().is_empty());

    // subdir None: where repo_dir sits in the work tree.
    let new = read_revision(&config, "HEAD", None, &limits).unwrap();
    assert_eq!(
        new.paths().collect::<Vec<_>>(),
        ["apps/a.yaml", "b.yaml", "inside.yaml"]
    );
    assert_eq!(new.get("apps/a.yaml"), Some(&b"v: 2\n"[..]));
    assert_eq!(new.get("inside.yaml"), Some(&b"v: 2\n"[..]));
    let found: Vec<_> = new
        .diagnostics()
        .iter()
        .map(|d| (d.file.as_deref().unwrap(), d.code))
        .collect();
    assert_eq!(
        found,
        [
            ("big.yaml", repo::codes::FILE_TOO_LARGE),
            ("passwd.yaml", repo::codes::SYMLINK_ESCAPES),
            ("readme.yaml", repo::codes::SYMLINK_ESCAPES),
        ]
    );
    // The same rules on the work tree give the same files and findings.
    let worktree = read_worktree(&config, &limits).unwrap();
    assert_eq!(
        worktree.paths().collect::<Vec<_>>(),
        new.paths().collect::<Vec<_>>()
    );
    assert_eq!(worktree.get("apps/a.yaml"), Some(&b"v: 3\n"[..]));
    assert_eq!(
        worktree
            .diagnostics()
            .iter()
            .map(|d| d.code)
            .collect::<Vec<_>>(),
        new.diagnostics().iter().map(|d| d.code).collect::<Vec<_>>()
    );

    // The whole repository, by branch name and by sha.
    let head = repo
        .head()
        .unwrap()
        .peel_to_commit()
        .unwrap()
        .id()
        .to_string();
    let branch = repo.head().unwrap().shorthand().unwrap().to_owned();
    for rev in [branch.as_str(), head.as_str(), &head[..8]] {
        let all = read_revision(work, rev, Some(""), &limits).unwrap();
        assert!(
            all.contains("README.md") && all.contains("example-repo/b.yaml"),
            "{rev}"
        );
    }

    // Documents load from a revision like from the work tree.
    let (docs, diagnostics) = load_documents(
        &new,
        &FileFilter::all(),
        &YamlLimits::default(),
        &weir::budget::Budget::default(),
    );
    assert!(diagnostics.is_empty());
    assert_eq!(docs.len(), 3);
}

#[test]
fn git_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let err = read_revision(dir.path(), "HEAD", None, &Limits::default()).unwrap_err();
    assert!(matches!(err, repo::Error::NotARepository { .. }), "{err}");

    let repo = Repository::init(dir.path()).unwrap();
    fs::create_dir_all(dir.path().join("cfg")).unwrap();
    fs::write(dir.path().join("cfg/a.yaml"), "a: 1\n").unwrap();
    commit(&repo, "one");
    let err = read_revision(dir.path(), "no-such-branch", None, &Limits::default()).unwrap_err();
    assert_eq!(err.to_string(), "unknown revision `no-such-branch`");
    let err = read_revision(dir.path(), "HEAD", Some("missing"), &Limits::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "directory `missing` does not exist at revision `HEAD`"
    );
    let err =
        read_revision(dir.path(), "HEAD", Some("cfg/a.yaml"), &Limits::default()).unwrap_err();
    assert!(
        matches!(err, repo::Error::SubdirNotADirectory { .. }),
        "{err}"
    );
    let err = read_revision(dir.path(), "HEAD", Some("../x"), &Limits::default()).unwrap_err();
    assert!(matches!(err, repo::Error::EscapesRepo { .. }), "{err}");
}

// ---- Random mutation of the loader's input -------------------------------

const SEEDS: &[&str] = &[
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {app: web}\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n        - name: web\n          image: nginx:1.25\n          args: [\"--port\", '8080']\n",
    "base: &b {cpu: 100m, memory: 1Gi}\nx:\n  <<: *b\n  cpu: 1\ny: [*b, *b]\n---\n- a\n- ? complex\n  : v\n",
    "key: |\n  literal\n  text\nfolded: >-\n  folded\n  text\nq: \"esc\\t\\u00e9\"\n...\n%YAML 1.2\n---\n!!map {!!str a: !!int 1}\n",
    "a: &a [1, 2, {b: *a}]\n<<: [*a]\n{x: y}: z\n- - - [[{}]]\n\t- tab\n",
    "a0: &a0 [x, x, x]\na1: &a1 [*a0, *a0, *a0]\na2: &a2 [*a1, *a1, *a1]\n",
];

const TOKENS: &[&str] = &[
    "[", "]", "{", "}", ":", ": ", "- ", ",", "&a ", "*a", "&b ", "*b", "<<: ", "\t", "\n", "\n  ",
    "'", "\"", "!", "!!str ", "!!int ", "|", ">", "#", "? ", "%", "---\n", "...\n", "\0",
    "\u{feff}", "\\", "0x", ".inf",
];

fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(input.len() + 1);
        match rng.below(6) {
            0 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] ^= 1 << rng.below(7);
            }
            1 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                input.splice(at..at, token.iter().copied());
            }
            2 if !input.is_empty() => {
                let end = (at + rng.below(16)).min(input.len());
                input.drain(at.min(end)..end);
            }
            3 if !input.is_empty() => {
                let start = rng.below(input.len());
                let end = (start + rng.below(64)).min(input.len());
                let copy = input[start..end].to_vec();
                input.splice(at..at, copy);
            }
            4 => {
                let seed = SEEDS[rng.below(SEEDS.len())].as_bytes();
                let start = rng.below(seed.len());
                let end = (start + rng.below(80)).min(seed.len());
                input.splice(at..at, seed[start..end].iter().copied());
            }
            _ => input.insert(at, rng.next() as u8),
        }
    }
}

/// Every JSON pointer of a value, bounded.
fn pointers(value: &serde_json::Value, prefix: String, out: &mut Vec<String>) {
    if out.len() > 200 {
        return;
    }
    out.push(prefix.clone());
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map {
                let key = key.replace('~', "~0").replace('/', "~1");
                pointers(child, format!("{prefix}/{key}"), out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                pointers(child, format!("{prefix}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn random_mutations_never_panic() {
    let limits = YamlLimits {
        max_alias_expansion_nodes: 10_000,
        ..YamlLimits::default()
    };
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut parsed = 0;
    let mut codes = std::collections::BTreeMap::new();
    for iteration in 0..5_000 {
        let mut input = SEEDS[iteration % SEEDS.len()].as_bytes().to_vec();
        for _ in 0..1 + rng.below(2) {
            mutate(&mut rng, &mut input);
        }
        match parse_documents("fuzz.yaml", &input, &limits) {
            Ok(docs) => {
                parsed += 1;
                for doc in &docs {
                    let mut all = Vec::new();
                    pointers(&doc.value, String::new(), &mut all);
                    for pointer in &all {
                        let span = doc.span_of(pointer);
                        assert!(
                            span.line >= 1 && span.column >= 1,
                            "iteration {iteration}: {pointer}"
                        );
                        let _ = doc.key_span_of(pointer);
                    }
                }
            }
            Err(d) => {
                *codes.entry(d.code).or_insert(0) += 1;
                assert_ne!(
                    d.code,
                    yaml::codes::INTERNAL,
                    "iteration {iteration}: {d} for {:?}",
                    String::from_utf8_lossy(&input)
                );
                assert_eq!(d.file.as_deref(), Some("fuzz.yaml"));
            }
        }
    }
    // Some inputs stay valid, so both paths run.
    assert!(
        parsed > 250,
        "only {parsed} inputs parsed; refused: {codes:?}"
    );
}
