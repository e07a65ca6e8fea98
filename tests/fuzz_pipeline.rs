//! The whole-pipeline fuzz target's inputs, on stable in every `cargo
//! test`: the corpus it found and keeps (`fuzz/pipeline-corpus/`, grown by
//! `cargo xtask fuzz --target pipeline`) replays without a panic, and so
//! does a bounded, deterministic set of mutations of it. The fuzzer itself
//! (libFuzzer, nightly) runs in `cargo xtask test` for a short time and in
//! `cargo xtask fuzz`.

#[path = "../fuzz/fuzz_targets/repo_input.rs"]
mod repo_input;
mod support;

use std::path::Path;

use support::rng::Rng;

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/pipeline-corpus");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    inputs.sort();
    assert!(
        inputs.len() >= 5,
        "the kept corpus is gone: {}",
        dir.display()
    );
    inputs
}

#[test]
fn the_kept_corpus_replays() {
    for (name, data) in corpus() {
        let result = std::panic::catch_unwind(|| repo_input::run(&data));
        assert!(result.is_ok(), "fuzz/pipeline-corpus/{name} panics");
    }
}

/// Tokens that reach the pipeline's corners.
const TOKENS: &[&str] = &[
    "*a",
    "&a ",
    "<<: *a",
    "\n=== x/component.yaml\n",
    "99999999999999999999",
    "-1",
    "{op: copy, from: /data, path: /data/x}",
    "valuesFrom",
    "dependsOn: [",
    "wave: ",
    "kind: List\nitems:\n",
    "../",
    "null",
    "24h",
    "0",
    "\n---\n",
    "namespace: ",
];

#[test]
fn mutations_of_the_corpus_never_panic() {
    let corpus = corpus();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..300 {
        let (name, seed) = &corpus[round % corpus.len()];
        let mut data = seed.clone();
        for _ in 0..1 + rng.below(8) {
            let at = rng.below(data.len() + 1);
            match rng.below(4) {
                0 => {
                    let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                    data.splice(at..at, token.iter().copied());
                }
                1 => {
                    let end = (at + rng.below(64)).min(data.len());
                    data.drain(at..end);
                }
                2 => {
                    let from = rng.below(data.len());
                    let end = (from + rng.below(256)).min(data.len());
                    let chunk = data[from..end].to_vec();
                    data.splice(at..at, chunk);
                }
                _ => {
                    if let Some(b) = data.get_mut(at) {
                        *b = rng.next() as u8;
                    }
                }
            }
        }
        let result = std::panic::catch_unwind(|| repo_input::run(&data));
        if result.is_err() {
            let path = std::env::temp_dir().join(format!("weir-fuzz-pipeline-{round}.txt"));
            let _ = std::fs::write(&path, &data);
            panic!(
                "a mutation of {name} panics; input saved at {}",
                path.display()
            );
        }
    }
}
