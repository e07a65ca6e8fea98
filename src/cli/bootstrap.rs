//! `weir bootstrap`: its flags into a [`bootstrap::Request`], the run, and
//! what it did on stdout (a line per step, or one JSON document).

use anyhow::Context as _;

use super::Outcome;
use super::args::{BootstrapArgs, OutputFormat};
use crate::agent::bootstrap::{self, ChartSource, Progress, Request, SyncRequest};
use crate::render::HelmBinary;
use crate::sync::plan::parse_duration;

pub fn run(args: BootstrapArgs) -> anyhow::Result<Outcome> {
    let credentials = bootstrap::credentials(
        args.username.as_deref(),
        args.password_file.as_deref(),
        args.ssh_key_file.as_deref(),
        args.known_hosts_file.as_deref(),
    )?;
    let request = Request {
        release: args.release.clone(),
        chart: match &args.chart {
            None => ChartSource::BuiltIn,
            Some(chart) => ChartSource::Helm {
                chart: chart.clone(),
                version: args.chart_version.clone(),
            },
        },
        values_files: args.values.clone(),
        set: args.set.clone(),
        sync: SyncRequest {
            name: args.name.clone(),
            url: args.repo.clone(),
            git_ref: bootstrap::parse_ref(&args.git_ref)?,
            path: args.path.clone(),
            interval: args.interval.clone(),
            secret_name: bootstrap::secret_name(
                args.secret_name.as_deref(),
                &args.name,
                &credentials,
            ),
        },
        credentials,
        timeout: parse_duration(&args.timeout).context("--timeout")?,
        kubeconfig: args.connection.kubeconfig.clone(),
        context: args.connection.context.clone(),
    };
    request.check()?;
    let helm = HelmBinary::new();
    let helm = helm.locate()?.to_path_buf();
    let text = args.output == OutputFormat::Text;
    super::connect::runtime()?.block_on(async move {
        let cluster = super::connect::cluster(&args.connection).await?;
        let on_progress = |progress: Progress<'_>| {
            if !text {
                return;
            }
            let line = match progress {
                Progress::Step(step) => format!("{step}\n"),
                Progress::Waiting { sync, message } => format!("Sync {sync}: waiting: {message}\n"),
            };
            let _ = super::output::write_stdout(&line);
        };
        let report = bootstrap::run(&request, cluster, &helm, &on_progress).await?;
        let out = match args.output {
            OutputFormat::Json => format!("{}\n", serde_json::to_string_pretty(&report)?),
            OutputFormat::Text => {
                let revision = report
                    .revision
                    .as_deref()
                    .map(crate::agent::status::short)
                    .unwrap_or("?");
                format!(
                    "Sync {}: Ready at {revision}, {} objects managed ({:.0}s)\n\n\
                     See it:   weir status {} -n {}   (or kubectl get syncs -A)\n\
                     Webhooks: POST /hooks/{}/{} on the agent's Service (see `helm status {} -n {}`)\n",
                    report.sync,
                    report.managed.unwrap_or(0),
                    report.seconds,
                    request.sync.name,
                    bootstrap::namespace(),
                    bootstrap::namespace(),
                    request.sync.name,
                    request.release,
                    bootstrap::namespace(),
                )
            }
        };
        super::output::write_stdout(&out)?;
        Ok(Outcome::Success)
    })
}
