//! Sets up `tracing` for the binary: stderr, filtered by `RUST_LOG`
//! (default `warn`, without kube's per-request error lines: weir reports a
//! failed request itself, once, after its retries), as text or JSON lines.

use tracing_subscriber::EnvFilter;

use super::args::{GlobalArgs, LogFormat};

/// The filter when `RUST_LOG` is not set.
const DEFAULT_FILTER: &str = "warn,kube_client::client::builder=off";

/// Installs the global subscriber. Called once, before any subcommand runs.
pub fn init(global: &GlobalArgs) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match global.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
