//! Fuzz target: the whole pipeline (load, validate, render with helm
//! stubbed, plan, sync plan) on an arbitrary config repo must judge it:
//! findings or a plan, never a panic, a hang or runaway memory (libFuzzer
//! fails an input over 2 s or 512 MB). See `repo_input.rs` for the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod repo_input;

fuzz_target!(|data: &[u8]| {
    repo_input::run(data);
});
