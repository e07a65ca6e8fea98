//! Sets up `tracing` for the binary: stderr, filtered by `RUST_LOG`
//! (default `warn`), as text or JSON lines.

use tracing_subscriber::EnvFilter;

use super::args::{GlobalArgs, LogFormat};

/// Installs the global subscriber. Called once, before any subcommand runs.
pub fn init(global: &GlobalArgs) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match global.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
