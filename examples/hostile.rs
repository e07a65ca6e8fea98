//! Measures the hostile-input cases of issue 3 by hand (time and peak
//! memory are not asserted in tests):
//!
//! ```text
//! cargo build --release --example hostile
//! for case in all alias-bomb.yaml deep-flow.yaml deep-block.yaml huge.yaml \
//!     binary.yaml invalid-utf8.yaml duplicate-keys.yaml tabs.yaml escape.yaml \
//!     wide.yaml widest-accepted.yaml; do
//!   /usr/bin/time -f "$case %es %MKB" target/release/examples/hostile $case
//! done
//! ```
//!
//! Each run writes the case (or every case, for `all`) into a fresh temp
//! repo, then reads it and loads its documents as `weir validate` will, and
//! prints the diagnostics and the time spent reading and loading.
//! `wide.yaml` and `widest-accepted.yaml` are the costliest shapes of file
//! (see [`wide`]).
#![allow(clippy::disallowed_macros)]

#[path = "../tests/support/hostile.rs"]
mod hostile;

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use weir::repo::{Limits, read_worktree};
use weir::spec::filter::FileFilter;
use weir::spec::yaml::{YamlLimits, load_documents};

/// Not hostile cases but the costliest files by shape: just under the 8 MiB
/// size limit made of the smallest mappings (refused by the node limit),
/// and the largest file the node limit accepts, made of the smallest
/// scalars.
fn wide(repo: &Path, name: &str) {
    let text = match name {
        "wide.yaml" => "- {a: 1}\n".repeat((8 * 1024 * 1024 - 16) / 9),
        _ => "- a\n".repeat(499_000),
    };
    std::fs::write(repo.join(name), text).unwrap_or_default();
}

fn main() -> ExitCode {
    let case = std::env::args().nth(1).unwrap_or_else(|| "all".to_owned());
    let (Ok(repo), Ok(outside)) = (tempfile::tempdir(), tempfile::tempdir()) else {
        eprintln!("cannot create temp dirs");
        return ExitCode::from(2);
    };
    let mut found = false;
    for (name, make) in hostile::CASES {
        if case == "all" || case == *name {
            make(repo.path(), outside.path());
            found = true;
        }
    }
    if case == "wide.yaml" || case == "widest-accepted.yaml" {
        wide(repo.path(), &case);
        found = true;
    }
    if !found {
        eprintln!("unknown case `{case}`");
        return ExitCode::from(2);
    }
    let start = Instant::now();
    let tree = match read_worktree(repo.path(), &Limits::default()) {
        Ok(tree) => tree,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let read = start.elapsed();
    let (docs, diagnostics) = load_documents(
        &tree,
        &FileFilter::all(),
        &YamlLimits::default(),
        &weir::budget::Budget::default(),
    );
    let loaded = start.elapsed();
    for diagnostic in tree.diagnostics().iter().chain(&diagnostics) {
        println!("{diagnostic}");
    }
    println!(
        "{} files, {} documents; read in {:.1} ms, read+loaded in {:.1} ms",
        tree.len(),
        docs.len(),
        read.as_secs_f64() * 1e3,
        loaded.as_secs_f64() * 1e3
    );
    ExitCode::SUCCESS
}
