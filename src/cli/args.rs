//! clap derive types for every subcommand. Doc comments here are the
//! `--help` text, so they are written for the person at the terminal.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// weir: GitOps for whole platforms.
///
/// weir reads a config repository, validates it with file-and-line errors,
/// renders it to Kubernetes objects, shows what would change, and applies it
/// in ordered waves, each healthy before the next.
#[derive(Debug, Parser)]
#[command(name = "weir", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options that every subcommand accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Format of log lines on stderr. Filter them with RUST_LOG (e.g. RUST_LOG=weir=debug).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "WEIR_LOG_FORMAT")]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// How a reporting command prints its result on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people: grouped, coloured on a terminal (NO_COLOR turns colour off).
    Text,
    /// For scripts: one stable JSON document.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Validate(ValidateArgs),
    Schema(SchemaArgs),
    /// Show what a change to the config repo changes, object by object and field by field.
    ///
    /// `weir diff --base REV` renders the config repo at two Git revisions — straight from Git
    /// objects, without a checkout and without a cluster — and compares the rendered objects:
    /// which are added, removed or changed, and for each changed object the fields that changed
    /// (`spec.template.spec.containers[name=api].image: v1 -> v2`) and a unified YAML diff.
    /// Without `--head`, the working tree is compared with REV.
    ///
    /// Objects are matched by group, kind, namespace and name. Moving an object to another file
    /// or component, reordering list entries that Kubernetes merges by key (containers, ports,
    /// env...), and the status and server-managed fields are not changes. A Secret's values are
    /// never shown, in any format: only which keys were added, removed, changed or unchanged.
    /// Changes to weir's own documents (weir.yaml, Components, Workloads) are listed too, marked
    /// when they change no rendered object.
    ///
    /// `weir diff --cluster` compares the working tree with the live cluster instead: every
    /// rendered object is sent to the API server as a server-side-apply dry run with weir's
    /// field manager (nothing changes), and the result is compared with the live object, so
    /// defaulted fields and fields other managers own are not differences. Objects that do not
    /// exist yet are added; a custom resource whose CRD is not installed yet is added with a
    /// note; objects of weir's inventory (see `weir sync`) that left the repo and that
    /// `weir sync --prune` would delete are removed.
    ///
    /// Exit status: 0 no differences, 1 differences found, 2 error (including a cluster that
    /// cannot be reached).
    Diff(DiffArgs),
    /// Apply the config repo to a cluster, wave by wave, each healthy before the next.
    ///
    /// weir first loads, validates, renders and plans the whole repo: an invalid
    /// repo applies nothing. Then it checks every component's preflight
    /// requirements (Secrets, CRDs, Kubernetes version), and applies each wave
    /// with server-side apply (field manager `weir`), waits until its objects
    /// are healthy, runs hooks, and goes on. Objects that already match the repo
    /// are not touched: a second sync with no changes sends no write.
    ///
    /// What weir applied is recorded per target in a ConfigMap in the
    /// `weir-system` namespace; with --prune, objects that left the repo are
    /// deleted (never PVCs, PVs, Namespaces or CRDs without an opt-in, and
    /// never more than the repo's prune limits without --allow-mass-prune).
    ///
    /// Exit codes: 0 synced, 1 the repo is invalid (nothing applied), 2 the sync
    /// failed (preflight, conflicts, health, …) or could not reach the cluster.
    #[command(after_help = SYNC_EXAMPLES)]
    Sync(SyncArgs),
    /// Render the config repo to Kubernetes objects, as YAML in apply order.
    ///
    /// Every component (manifest directory or local Helm chart) and workload
    /// is rendered, namespaced, patched and labelled the way weir will apply
    /// it, then ordered by wave and kind. Exits 1 (printing the problems on
    /// stderr) when the repo does not render or plan. Secret values are
    /// shown as `<redacted>` unless `--show-secrets` is given.
    #[command(after_help = RENDER_EXAMPLES)]
    Render(RenderArgs),
    /// Show the wave plan: which component or workload is applied when, with
    /// what, after what, and what each wave waits for.
    ///
    /// Exits 1 (printing the problems on stderr) when the repo does not
    /// render or plan, e.g. on a dependency cycle.
    #[command(after_help = PLAN_EXAMPLES)]
    Plan(PlanArgs),
    /// Run the agent: sync every commit of every `Sync` in the cluster, put
    /// back what people change by hand, and report.
    ///
    /// For each `Sync` object (see `kubectl explain sync.spec`) the agent
    /// fetches the Git ref at its interval (or at once, on a push webhook
    /// or a new `weir.dev/reconcile-requested-at` annotation), runs each new
    /// commit through the same pipeline as `weir validate` and `weir sync`,
    /// and applies a valid one wave by wave, with the same health gates,
    /// hooks, inventory and prune protections. An invalid commit applies
    /// nothing: the cluster keeps the last good one and the Sync's status
    /// names each finding with file and line. Objects changed or deleted by
    /// hand are put back within seconds. Status, Events and Prometheus
    /// metrics (`/metrics`) say what it did; `weir status` shows it.
    ///
    /// With `--path DIR` it syncs one directory instead, on every change to
    /// its files: the inner loop on a laptop.
    #[command(after_help = AGENT_EXAMPLES)]
    Agent(AgentArgs),
    /// Show what the agent has synced, and why it stopped.
    ///
    /// Without NAME, every `Sync` in a table (like `flux get
    /// kustomizations`); with NAME, one Sync: its source, conditions,
    /// revisions, waves, the findings of a rejected commit, and its recent
    /// Events.
    #[command(after_help = STATUS_EXAMPLES)]
    Status(StatusArgs),
    /// Install the agent into a cluster and point it at a config repo.
    ///
    /// Installs the weir chart (the one built into this weir, or `--chart`)
    /// with the real `helm upgrade --install` into the namespace
    /// weir-system, applies its CRDs (helm installs those only once),
    /// creates the credentials Secret and the first Sync, and waits until
    /// that Sync is Ready, saying what it did. Run it again and it changes
    /// nothing: helm is not run when the release already holds what the
    /// chart renders, and objects that are as they should be are not
    /// written.
    ///
    /// The default chart values install the agent cluster-wide: it may
    /// create, change and delete anything, as a platform installer (who
    /// must hold those rights to install it) expects of Argo CD or Flux.
    /// See `helm show values` of the chart, or the README, for tenant mode.
    ///
    /// Credentials never go into the Sync or the command line: a password
    /// or token is read from --password-file, an SSH key from
    /// --ssh-key-file (with --known-hosts-file).
    #[command(after_help = BOOTSTRAP_EXAMPLES)]
    Bootstrap(BootstrapArgs),
}

const BOOTSTRAP_EXAMPLES: &str = "\
Examples:
  weir bootstrap --repo https://github.com/acme/platform.git --path clusters/prod \\
    --username bot --password-file token.txt
  weir bootstrap --repo ssh://git@github.com/acme/platform.git \\
    --ssh-key-file deploy_key --known-hosts-file known_hosts --ref tag:v1.4.0
  weir bootstrap --repo https://github.com/acme/public.git --set mode=tenant --set namespaces={weir-system}
Run it again at any time: it changes nothing unless the chart, the values or the flags did.";

/// Options of `weir bootstrap`.
#[derive(Debug, Args)]
#[command(mut_arg("kube_context", |a| a.visible_alias("context")))]
pub struct BootstrapArgs {
    /// The config repository's Git URL (https://, ssh:// or git@host:path), without credentials. The
    /// agent refuses file:// and paths unless the chart passes it --allow-local-git (agent.extraArgs).
    #[arg(long, value_name = "URL")]
    pub repo: String,
    /// The config repo's directory inside the Git repository (default: its root).
    #[arg(long, value_name = "DIR")]
    pub path: Option<String>,
    /// What to apply: a branch (`main`, `branch:main`), `tag:v1.4.0` or `commit:<sha>`.
    #[arg(long = "ref", value_name = "REF", default_value = "main")]
    pub git_ref: String,
    /// How often the agent looks for a new commit (default 1m; webhooks ask sooner).
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,
    /// The name of the first Sync (in weir-system); also its inventory target.
    #[arg(long, value_name = "NAME", default_value = "platform")]
    pub name: String,
    /// HTTPS: the user name that goes with --password-file.
    #[arg(long, value_name = "USER", help_heading = "Credentials")]
    pub username: Option<String>,
    /// HTTPS: a file holding the password or token.
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Credentials",
        conflicts_with = "ssh_key_file"
    )]
    pub password_file: Option<PathBuf>,
    /// SSH: a file holding the private key (not protected by a passphrase).
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Credentials",
        requires = "known_hosts_file"
    )]
    pub ssh_key_file: Option<PathBuf>,
    /// SSH: the server's host keys, as in ~/.ssh/known_hosts (an unknown or changed host key is refused).
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Credentials",
        requires = "ssh_key_file"
    )]
    pub known_hosts_file: Option<PathBuf>,
    /// The Secret (in weir-system) the credentials are kept in. Without credentials: an existing Secret
    /// to use. Default with credentials: <name>-git.
    #[arg(long, value_name = "NAME", help_heading = "Credentials")]
    pub secret_name: Option<String>,
    /// The Helm release (in weir-system).
    #[arg(
        long,
        value_name = "NAME",
        default_value = "weir",
        help_heading = "Chart"
    )]
    pub release: String,
    /// The chart to install instead of the one built into weir: a directory, repo/weir, or oci://...
    #[arg(long, value_name = "CHART", help_heading = "Chart")]
    pub chart: Option<String>,
    /// The version of --chart (helm --version).
    #[arg(
        long,
        value_name = "VERSION",
        requires = "chart",
        help_heading = "Chart"
    )]
    pub chart_version: Option<String>,
    /// A values file for the chart (repeatable; helm --values).
    #[arg(
        long = "values",
        short = 'f',
        value_name = "FILE",
        help_heading = "Chart"
    )]
    pub values: Vec<PathBuf>,
    /// A chart value (repeatable; helm --set), e.g. --set replicas=3.
    #[arg(long = "set", value_name = "KEY=VALUE", help_heading = "Chart")]
    pub set: Vec<String>,
    /// How long helm and the first Sync may take.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub timeout: String,
    /// `text`: a line per step; `json`: one JSON document at the end.
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

const AGENT_EXAMPLES: &str = "\
Examples:
  weir agent                                   serve every Sync (one replica)
  weir agent --leader-election weir-system/weir-agent   with replicas: one leads
  weir agent --namespace team-a --namespace team-b      only these namespaces' Syncs
  weir agent --path ./platform                 sync a directory on every save
Endpoints on --listen: /healthz, /readyz, /metrics, POST /hooks/<namespace>/<name>.";

const STATUS_EXAMPLES: &str = "\
Examples:
  weir status                       every Sync, in every namespace
  weir status -n weir-system        the Syncs of one namespace
  weir status platform -n weir-system   one Sync: conditions, waves, findings, events
  weir status --output json | jq '.[] | select(.status.conditions[]? | .type == \"Ready\" and .status != \"True\")'";

/// Options of `weir agent`.
#[derive(Debug, Args)]
#[command(mut_arg("kube_context", |a| a.visible_alias("context")))]
pub struct AgentArgs {
    /// Sync this directory on every change to its files instead of serving
    /// `Sync` objects.
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// With --path: the name of the inventory (default: the Repository's
    /// metadata.name in weir.yaml, else the directory name).
    #[arg(long, value_name = "NAME", requires = "path")]
    pub target: Option<String>,
    /// With --path: also look at the directory this often.
    #[arg(long, value_name = "DURATION", default_value = "1m", requires = "path")]
    pub interval: String,
    /// With --path: keep objects that left the directory (default: prune them,
    /// with the protections of `weir sync --prune`).
    #[arg(long, requires = "path")]
    pub no_prune: bool,
    /// Serve only the Syncs of this namespace (repeatable; default: every
    /// namespace).
    #[arg(
        long = "namespace",
        short = 'n',
        value_name = "NAMESPACE",
        conflicts_with = "path"
    )]
    pub namespaces: Vec<String>,
    /// Where the HTTP port listens (health, metrics, webhooks).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8080")]
    pub listen: std::net::SocketAddr,
    /// Run several replicas: they elect a leader on this Lease
    /// (NAMESPACE/NAME), and only the leader writes. Without it, run one.
    #[arg(long, value_name = "NAMESPACE/NAME", conflicts_with = "path")]
    pub leader_election: Option<String>,
    /// Who this agent is, as Leases and Events name it (default: $POD_NAME,
    /// else the host name).
    #[arg(long, value_name = "NAME", env = "POD_NAME")]
    pub identity: Option<String>,
    /// Where Git mirrors are kept.
    #[arg(long, value_name = "DIR", env = "WEIR_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// The most the Git mirrors may take together (suffixes k, M, G).
    #[arg(long, value_name = "BYTES", default_value = "2G", value_parser = parse_size)]
    pub cache_max_size: u64,
    /// The longest a Git fetch may take.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub fetch_timeout: String,
    /// Requests in flight at once within a wave.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Serve the read-only status page on the HTTP port (`/`): `off`;
    /// `token` (the token of --ui-token-file, as a bearer token or the
    /// password a browser asks for); `token-review` (any token the cluster
    /// accepts); `open` (anyone who reaches the port: only on a loopback
    /// address).
    #[arg(long, value_enum, value_name = "ACCESS", default_value_t = UiMode::Off)]
    pub ui: UiMode,
    /// Let Syncs name a Git repository on the agent's own disk (`file://`
    /// URLs, paths). Off by default: a Sync may not read the agent's files.
    #[arg(long)]
    pub allow_local_git: bool,
    /// With --ui token: the file holding the token.
    #[arg(long, value_name = "FILE", env = "WEIR_UI_TOKEN_FILE")]
    pub ui_token_file: Option<PathBuf>,
    // With --path: the key of the directory's SOPS-encrypted manifests (a
    // Sync names its key in spec.decryption instead).
    #[command(flatten)]
    pub sops: SopsArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Who may see the status page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UiMode {
    Off,
    Token,
    TokenReview,
    Open,
}

/// Options of `weir status`.
#[derive(Debug, Args)]
#[command(mut_arg("kube_context", |a| a.visible_alias("context")))]
pub struct StatusArgs {
    /// One Sync to show in detail.
    pub name: Option<String>,
    /// The namespace (default: every namespace; with NAME, the kubeconfig's).
    #[arg(long, short = 'n', value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// `text`: a table, or one Sync in detail; `json`: the Sync objects.
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

const SYNC_EXAMPLES: &str = "\
Examples:
  weir sync ./platform                      apply, wait for health
  weir sync ./platform --dry-run            server-side dry run: what would change
  weir sync ./platform --prune              also delete objects that left the repo
  weir sync ./platform --rev v1.4.0         sync a Git revision (no checkout)
  weir sync --context prod --timeout 10m    another cluster, longer health gates
  weir sync --lease-wait 0                  fail at once if the agent is syncing the target
  weir sync --output json | jq '.waves[] | {name, applied, unchanged}'

A sync that was interrupted (Ctrl-C, a killed process, an API server restart)
converges when run again.";

/// Options of `weir sync`.
#[derive(Debug, Args)]
// `--context` as kubectl spells it; `weir diff` has `--context LINES`, so
// both commands also take `--kube-context`, as helm does.
#[command(mut_arg("kube_context", |a| a.visible_alias("context")))]
pub struct SyncArgs {
    /// The config repository (a directory with weir.yaml, or plain manifests).
    #[arg(default_value = ".")]
    pub path: std::path::PathBuf,

    /// Sync this Git revision (branch, tag, commit) of the repository at PATH
    /// instead of the files on disk; it is read without a checkout, and its
    /// commit is recorded in the inventory.
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,

    /// Do everything with server-side dry run: validate against the cluster, change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Delete objects weir applied before that are no longer in the repo.
    #[arg(long)]
    pub prune: bool,

    /// Allow a prune that deletes more than the prune limits
    /// (--max-prune-objects, --max-prune-fraction, or weir.yaml's stricter ones).
    #[arg(long, requires = "prune")]
    pub allow_mass_prune: bool,

    /// Take over fields that other field managers (kubectl, helm, controllers) own.
    #[arg(long)]
    pub force_conflicts: bool,

    /// Apply a CRD change even though existing custom resources would become invalid.
    #[arg(long)]
    pub force_crd_upgrade: bool,

    /// Sync into a target whose inventory records another source (another
    /// repo, or this one under another remote URL or path): its objects
    /// become this repo's, and --prune deletes those not in it.
    #[arg(long)]
    pub adopt: bool,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Name under which the inventory is recorded (default: the Repository's
    /// metadata.name in weir.yaml, else the directory name).
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,

    /// How long each wave may take to become healthy, e.g. 90s, 5m, 1h (components may set their own).
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub timeout: String,

    /// Requests in flight at once within a wave.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// How long to wait when another writer (the agent, or another `weir
    /// sync`) is syncing the same target; weir says who it waits for. `0`
    /// fails at once instead.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub lease_wait: String,

    /// Output: a live view (text) or a final JSON report (json).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    #[command(flatten)]
    pub sops: SopsArgs,

    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Which cluster to talk to: the same flags for every command that does.
#[derive(Debug, Clone, Default, Args)]
pub struct ConnectionArgs {
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<std::path::PathBuf>,

    /// Kubeconfig context to use (default: the current context).
    #[arg(id = "kube_context", long = "kube-context", value_name = "NAME")]
    pub context: Option<String>,
}

impl ConnectionArgs {
    /// The apply layer's connection options.
    pub fn options(&self) -> crate::sync::ConnectOptions {
        crate::sync::ConnectOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            user_agent: None,
        }
    }
}

const RENDER_EXAMPLES: &str = "Examples:
  weir render                             render the repo in the current directory
  weir render ./platform --component db   only the objects of component `db`
  weir render --wave 0 --wave 1           only the first two waves
  weir render --rev origin/main           render another Git revision (no checkout)
  weir render | kubeconform -             check the objects against Kubernetes schemas";

const PLAN_EXAMPLES: &str = "Examples:
  weir plan                       the waves of the repo in the current directory
  weir plan ./platform -o json    the same as one JSON document (see README)
  weir plan --rev HEAD~1          the plan of the previous commit";

/// Which repository, and which state of it, to work on.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Config repository directory (a subdirectory of a Git repo works too).
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Use this Git revision (branch, tag, commit) of the repository at PATH
    /// instead of the files on disk; it is read without a checkout.
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    /// Kubernetes version Helm charts are rendered for (`helm
    /// --kube-version`). Default: weir.yaml's `defaults.kubernetesVersion`,
    /// else 1.35.4.
    #[arg(long, value_name = "VERSION")]
    pub kube_version: Option<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Only objects of this component or workload (repeatable).
    #[arg(long, value_name = "NAME")]
    pub component: Vec<String>,
    /// Only objects of this wave (repeatable).
    #[arg(long, value_name = "N")]
    pub wave: Vec<u32>,
    /// Also print hook objects (Jobs, and what Helm and Argo CD hook
    /// annotations make hooks), after the objects.
    #[arg(long)]
    pub hooks: bool,
    /// Print Secret values instead of `<redacted>`.
    #[arg(long)]
    pub show_secrets: bool,
    /// `yaml`: `---`-separated documents; `json`: one JSON array.
    #[arg(long, short, value_enum, default_value_t = RenderFormat::Yaml)]
    pub output: RenderFormat,
}

/// How `weir render` prints objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderFormat {
    Yaml,
    Json,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// `text`: the waves as a tree; `json`: one JSON document (fields in README).
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// Arguments of `weir diff` (its help text is on [`Command::Diff`]).
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  weir diff --base main                    working tree against main
  weir diff deploy/ --base HEAD~1 --head HEAD
  weir diff --base origin/main --head HEAD --output markdown > comment.md
  weir diff --base v1.4.0 --output json | jq '.objects[] | select(.change == \"removed\")'
  weir diff --cluster                      working tree against the live cluster
  weir diff ./platform --cluster --kube-context prod --output markdown")]
pub struct DiffArgs {
    /// The config repository: a Git working copy, or a directory inside one.
    #[arg(default_value = ".")]
    pub path: PathBuf,

    /// The revision to compare against: a branch, tag, commit or any `git rev-parse` expression.
    #[arg(long, value_name = "REV", required_unless_present = "cluster")]
    pub base: Option<String>,

    /// The revision with the change. Default: the working tree, as it is on disk.
    #[arg(long, value_name = "REV", requires = "base")]
    pub head: Option<String>,

    /// Compare the working tree with the live cluster (server-side dry run) instead of another
    /// revision.
    #[arg(long, conflicts_with_all = ["base", "head"])]
    pub cluster: bool,

    // With --cluster: the cluster to compare with. The flags are shared
    // with `weir sync` and cannot name `--cluster`: `cli::diff` checks.
    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// With --cluster: the name of the inventory whose objects would be pruned, as given to
    /// `weir sync --target` (default: the Repository's metadata.name in weir.yaml, else the
    /// directory name).
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,

    /// Output format.
    #[arg(long, short, value_enum, default_value_t = DiffFormat::Text)]
    pub output: DiffFormat,

    /// Lines of context around each change of the unified diffs (the kubeconfig context is
    /// --kube-context).
    #[arg(long, value_name = "LINES", default_value_t = 3)]
    pub context: usize,

    /// When to colour text output. `auto` colours a terminal unless NO_COLOR is set.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    #[command(flatten)]
    pub sops: SopsArgs,

    #[command(flatten)]
    pub limits: LimitArgs,
}

/// How `weir diff` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// For people at a terminal: summary, field changes, unified diffs.
    Text,
    /// For scripts: one stable JSON document (see README, "weir diff --output json").
    Json,
    /// For a pull-request comment: a summary table and one collapsible block per object,
    /// at most 65,000 characters.
    Markdown,
}

/// When to use colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless the NO_COLOR environment variable is set.
    Auto,
    Always,
    Never,
}

/// How `weir validate` (and other commands that report diagnostics) print
/// their findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// For people: grouped by file, coloured on a terminal (NO_COLOR turns colour off).
    Text,
    /// For scripts: one JSON document with `valid`, `summary` and `diagnostics`.
    Json,
    /// GitHub Actions annotations (`::error file=...,line=...::message`), shown on the PR diff.
    Github,
}

/// Check a config repository: weir's kinds against their schemas, Kubernetes
/// objects against the Kubernetes API (and CRDs the repo defines), and the
/// repo as a whole.
///
/// Every finding names the file, line and column, the JSON path, what was
/// expected, and often how to fix it. Exit status: 0 valid, 1 invalid,
/// 2 when validation could not run (e.g. PATH does not exist).
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  weir validate                      # the repo in the current directory
  weir validate platform/ --strict   # warnings are errors too
  weir validate --rev main           # the repo as committed on main, no checkout
  weir validate --output github      # annotations for GitHub Actions
  weir validate --output json | jq '.diagnostics[] | select(.severity == \"error\")'")]
pub struct ValidateArgs {
    /// The config repository (a directory; with --rev, any directory inside a Git repository).
    #[arg(default_value = ".")]
    pub path: std::path::PathBuf,

    /// How to print the findings.
    #[arg(long, short = 'o', value_enum, default_value_t = ReportFormat::Text)]
    pub output: ReportFormat,

    /// Treat warnings as errors (e.g. a custom resource whose kind has no schema anywhere).
    #[arg(long)]
    pub strict: bool,

    /// Validate this Git revision (branch, tag, commit) instead of the files on disk, read
    /// straight from Git objects without a checkout.
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,

    #[command(flatten)]
    pub limits: LimitArgs,
}

/// A weir kind whose JSON Schema `weir schema` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// `weir.yaml`: the Repository settings.
    Repository,
    /// A platform component.
    Component,
    /// A service or job.
    Workload,
}

/// Print the JSON Schema of one of weir's kinds, self-contained.
///
/// Editors with yaml-language-server (VS Code's YAML extension, Neovim,
/// Helix...) then check and complete weir's files as you type: write the
/// schema to a file and point a modeline at it.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  mkdir -p .weir && weir schema component > .weir/component.json
  # then, as the first line of a component file:
  # yaml-language-server: $schema=../.weir/component.json")]
pub struct SchemaArgs {
    /// The kind.
    #[arg(value_enum)]
    pub kind: SchemaKind,
}

/// The key of the repo's SOPS-encrypted manifests, which `weir sync` and
/// `weir diff` decrypt in memory with the real sops (`$WEIR_SOPS`, else
/// `sops` on PATH).
#[derive(Debug, Clone, Default, Args)]
pub struct SopsArgs {
    /// The age key file that decrypts the repo's SOPS-encrypted manifests
    /// (default: $SOPS_AGE_KEY_FILE, as sops reads it). Read only when the
    /// repo has encrypted files; the plaintext stays in memory.
    #[arg(long, value_name = "FILE", env = crate::render::sops::AGE_KEY_FILE_ENV)]
    pub sops_age_key_file: Option<PathBuf>,
}

/// What one run may cost and what pruning may never do: set where weir
/// runs, never by the repo (weir.yaml may only make the prune limits
/// stricter). Every command that reads a config repo takes them, so
/// `weir validate` judges a repo as `weir sync` and the agent do.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Limits (set here, a repo cannot raise them)")]
pub struct LimitArgs {
    /// Refuse files larger than this many bytes (suffixes k, M, G are accepted, e.g. 8M).
    #[arg(long, value_name = "BYTES", default_value = "8M", value_parser = parse_size)]
    pub max_file_size: u64,
    /// The most nodes one run builds: YAML loaded (aliases expanded), Helm
    /// values, objects, what patches add (a string weighs one node per 64
    /// bytes). A repo that needs more is refused, naming where.
    #[arg(long, value_name = "N", default_value_t = crate::budget::DEFAULT_MAX_NODES, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_nodes: u64,
    /// Kill a `helm template` that runs longer than this (at most 24h).
    #[arg(long, value_name = "DURATION", default_value = "4s", value_parser = parse_positive_duration)]
    pub helm_timeout: std::time::Duration,
    /// Kill a `helm template` that writes more than this many bytes (suffixes k, M, G).
    #[arg(long, value_name = "BYTES", default_value = "32M", value_parser = parse_size)]
    pub max_helm_output: u64,
    /// Cap the memory of a `helm template` (its data segment; Linux) at this
    /// many bytes (suffixes k, M, G).
    #[arg(long, value_name = "BYTES", default_value = "128M", value_parser = parse_size)]
    pub max_helm_memory: u64,
    /// A prune of more objects stops and asks for --allow-mass-prune.
    /// weir.yaml's prune.maxObjects may set fewer, never more.
    #[arg(long, value_name = "N", default_value_t = crate::sync::plan::DEFAULT_MAX_PRUNE_OBJECTS)]
    pub max_prune_objects: u32,
    /// A prune of a larger share of the inventory (0 to 1) stops and asks
    /// for --allow-mass-prune. weir.yaml's prune.maxFraction may set less,
    /// never more.
    #[arg(long, value_name = "FRACTION", default_value_t = crate::sync::plan::DEFAULT_MAX_PRUNE_FRACTION, value_parser = parse_fraction)]
    pub max_prune_fraction: f64,
    /// Never prune objects of this kind, whatever the repo opts in:
    /// `Kind` (any group) or `Kind.group`, e.g. `PersistentVolumeClaim`,
    /// `Certificate.cert-manager.io` (repeatable).
    #[arg(long = "protect-kind", value_name = "KIND")]
    pub protect_kinds: Vec<crate::sync::prune::KindName>,
}

impl LimitArgs {
    /// The pipeline's limits.
    pub fn limits(&self) -> crate::pipeline::Limits {
        crate::pipeline::Limits {
            files: crate::repo::Limits {
                max_file_bytes: self.max_file_size,
                ..crate::repo::Limits::default()
            },
            work: crate::budget::Limits {
                max_nodes: self.max_nodes,
                helm_timeout: self.helm_timeout,
                max_helm_output: self.max_helm_output,
                max_helm_memory: self.max_helm_memory,
            },
        }
    }

    /// The prune floor.
    pub fn floor(&self) -> crate::sync::prune::Floor {
        crate::sync::prune::Floor {
            max_objects: self.max_prune_objects,
            max_fraction: self.max_prune_fraction,
            protected_kinds: self.protect_kinds.clone(),
        }
    }
}

/// A duration of weir's syntax, more than zero.
fn parse_positive_duration(text: &str) -> Result<std::time::Duration, String> {
    match crate::sync::plan::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be more than 0".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// A share between 0 and 1.
fn parse_fraction(text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|f| (0.0..=1.0).contains(f))
        .ok_or_else(|| format!("`{text}` is not a share between 0 and 1, e.g. 0.25"))
}

/// Parses `8388608`, `512k`, `8M`, `1G` (powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, factor) = match text.char_indices().last() {
        Some((i, 'k' | 'K')) => (&text[..i], 1024),
        Some((i, 'm' | 'M')) => (&text[..i], 1024 * 1024),
        Some((i, 'g' | 'G')) => (&text[..i], 1024 * 1024 * 1024),
        _ => (text, 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{text}` is not a size such as 8388608, 512k, 8M or 1G"))
}
