//! Writes the hostile config repos of issue 14 (see
//! `tests/support/hostile_repos.rs`) for `benches/hostile_repos.sh`, which
//! times `weir validate` on each:
//!
//! ```text
//! hostile_repos list                 # the classes, one per line: NAME CODE
//! hostile_repos write NAME DIR       # the repo of class NAME into DIR
//! ```
#![allow(clippy::disallowed_macros)]

#[path = "../tests/support/hostile_repos.rs"]
mod hostile_repos;

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["list"] => {
            for (name, _, code) in hostile_repos::CASES {
                println!("{name} {code}");
            }
            ExitCode::SUCCESS
        }
        ["write", name, dir] => match hostile_repos::CASES.iter().find(|(n, ..)| n == name) {
            Some((_, make, _)) => {
                make(Path::new(dir), "hostile", "hostile");
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("no class `{name}`; `hostile_repos list` names them");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!("usage: hostile_repos list | hostile_repos write NAME DIR");
            ExitCode::from(2)
        }
    }
}
