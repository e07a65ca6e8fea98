//! A real headless Chromium (Debian's `chromium`, installed by the test
//! command; `WEIR_CHROMIUM`) for tests of pages weir serves: the DOM after
//! load, and screenshots kept as test artifacts under
//! `target/test-artifacts/`. Started with the flags a closed network
//! needs (no background networking, sync or component updates) and a
//! fresh profile each time.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The browser (`WEIR_CHROMIUM`, else `/usr/bin/chromium`).
pub fn chromium() -> PathBuf {
    match std::env::var_os("WEIR_CHROMIUM") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => {
            let default = PathBuf::from("/usr/bin/chromium");
            assert!(
                default.is_file(),
                "chromium is not installed: run the tests with `cargo xtask test`, which installs it"
            );
            default
        }
    }
}

fn run(args: &[&str], url: &str) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .expect("running chromium")
}

/// The page's DOM once loaded, as the browser built it.
pub fn dom(url: &str) -> String {
    let out = run(&["--dump-dom"], url);
    assert!(
        out.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Saves a screenshot of `url` as `target/test-artifacts/<test>/<name>.png`
/// and returns its path.
pub fn screenshot(url: &str, test: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-artifacts")
        .join(test);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    let out = run(&[&format!("--screenshot={}", path.display())], url);
    assert!(
        out.status.success() && path.is_file(),
        "chromium could not take a screenshot of {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}
