//! `weir agent`: its flags into the agent's [`Config`], the connection,
//! and the agent run until SIGINT or SIGTERM.

use anyhow::{Context as _, bail};

use super::Outcome;
use super::args::{AgentArgs, UiMode};
use crate::agent::{self, Config, Mode};
use crate::sync::plan::parse_duration;

pub fn run(args: AgentArgs) -> anyhow::Result<Outcome> {
    let mode = match &args.path {
        Some(dir) => {
            if !dir.is_dir() {
                bail!(
                    "{} is not a directory; give the config repository's",
                    dir.display()
                );
            }
            Mode::Path {
                dir: dir.clone(),
                target: args.target.clone(),
                interval: parse_duration(&args.interval).context("--interval")?,
                prune: !args.no_prune,
            }
        }
        None => Mode::Cluster {
            namespaces: args.namespaces.clone(),
            leader_lease: match &args.leader_election {
                None => None,
                Some(text) => match text.split_once('/') {
                    Some((ns, name)) if !ns.is_empty() && !name.is_empty() => {
                        Some((ns.to_owned(), name.to_owned()))
                    }
                    _ => {
                        bail!("--leader-election takes NAMESPACE/NAME, e.g. weir-system/weir-agent")
                    }
                },
            },
        },
    };
    let identity = args.identity.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".to_owned());
        format!("weir agent on {host} (pid {})", std::process::id())
    });
    let defaults = agent::Options::default();
    let ui = match args.ui {
        UiMode::Off => agent::UiAccess::Off,
        UiMode::TokenReview => agent::UiAccess::TokenReview,
        UiMode::Open => {
            if !args.listen.ip().is_loopback() {
                bail!(
                    "--ui open serves the page to anyone who reaches {}; use it only with a loopback --listen \
                     (e.g. 127.0.0.1:8080), or use --ui token / token-review",
                    args.listen
                );
            }
            agent::UiAccess::Open
        }
        UiMode::Token => {
            let file = args
                .ui_token_file
                .as_ref()
                .context("--ui token needs --ui-token-file FILE (or WEIR_UI_TOKEN_FILE)")?;
            let token = std::fs::read_to_string(file)
                .with_context(|| format!("reading --ui-token-file {}", file.display()))?
                .trim()
                .to_owned();
            if token.len() < 16 {
                bail!(
                    "the token in {} is too short: use at least 16 characters",
                    file.display()
                );
            }
            agent::UiAccess::Token(token)
        }
    };
    let config = Config {
        mode,
        listen: args.listen,
        identity,
        options: agent::Options {
            fetch_timeout: parse_duration(&args.fetch_timeout).context("--fetch-timeout")?,
            concurrency: usize::from(args.concurrency),
            cache_dir: args.cache_dir.clone().unwrap_or(defaults.cache_dir),
            cache_max_bytes: args.cache_max_size,
            limits: args.limits.limits(),
            prune_floor: args.limits.floor(),
            ui,
            allow_local_git: args.allow_local_git,
            sops_key: args
                .sops
                .sops_age_key_file
                .as_deref()
                .filter(|_| args.path.is_some())
                .map(crate::render::sops::AgeKey::from_file)
                .transpose()?,
        },
    };
    super::connect::runtime()?.block_on(async move {
        let mut connect = args.connection.options();
        connect.user_agent = Some(format!("weir-agent/{}", env!("CARGO_PKG_VERSION")));
        let cluster = crate::sync::Cluster::connect(&connect).await?;
        agent::run(config, cluster).await?;
        Ok(Outcome::Success)
    })
}
