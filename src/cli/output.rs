//! Writing a command's result to stdout. A closed pipe (`weir plan | head`)
//! ends the output quietly instead of failing or panicking, as ripgrep and
//! other well-behaved filters do.

use std::io::Write;

use anyhow::Context;

/// Writes `text` to stdout; a closed pipe is not an error.
pub(super) fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write to stdout")
        }
        _ => Ok(()),
    }
}
