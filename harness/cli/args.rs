//! The command line, as clap derive definitions. `--help` is meant to teach.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// dr-harness proves, continuously, that a Kubernetes cluster's data can be recovered.
///
/// A drill deploys a sentinel workload, writes checksummed data into its Longhorn volume, backs
/// it up to S3 and proves the backup exists, destroys and rebuilds the cluster through your
/// infrastructure hooks, checks that the restore orchestrator brought the volume back from the
/// backup, verifies the data byte for byte, and reports RTO and RPO as JUnit XML and Prometheus
/// metrics.
///
#[cfg_attr(
    feature = "sandbox",
    doc = "With no --profile, drills run against the built-in sandbox: a local Kubernetes API with\nsimulated Longhorn and a real S3 server. Try: `dr-harness run`."
)]
#[cfg_attr(
    not(feature = "sandbox"),
    doc = "This build has no built-in sandbox (built without the `sandbox` feature): pass\n--profile FILE for your cluster (`dr-harness init` writes one)."
)]
#[derive(Debug, Parser)]
#[command(
    name = "dr-harness",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// More logs on stderr (-v info, -vv debug). DR_HARNESS_LOG overrides (tracing filter syntax).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The subcommand to run (`run`, `check`, `list`, `sandbox`, `verify-backup`,
    /// `restore-orchestrator`, `init`).
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run drills (scenarios) against a cluster. Exit 0 passed, 1 failed, 2 bad input, 3 unreachable, 130 interrupted.
    Run(RunArgs),
    /// Preflight only: can a drill reach the cluster, Longhorn and the backup target? Changes nothing.
    Check(CheckArgs),
    /// List the scenarios (built-in and under ./scenarios) and the fixture profiles.
    List(ListArgs),
    /// The built-in sandbox cluster: start it, destroy and rebuild it (as hooks), inject faults.
    #[cfg(feature = "sandbox")]
    #[command(subcommand)]
    Sandbox(SandboxCommand),
    /// Prove backups restorable from the backup target alone, without a cluster: structural
    /// (every block present) or --deep (every block downloaded and checked, the ext4 image
    /// reassembled and the sentinel files read). Reports like a drill; exit codes as for `run`.
    VerifyBackup(VerifyBackupArgs),
    /// Restore well-known volumes from their newest backups; run as a Job early in a rebuilt
    /// cluster's bootstrap (fixtures/restore-orchestrator/). Uses in-cluster config or KUBECONFIG.
    RestoreOrchestrator(OrchestratorArgs),
    /// Write a commented profile for your cluster from flags (no prompts), validated before
    /// it is written; then `dr-harness check health --profile FILE`.
    Init(InitArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario names (`full-rebuild`) or TOML files; default `full-rebuild`.
    pub scenarios: Vec<String>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Consent to destroy the cluster. Destructive scenarios also need `allow_destroy = true` in
    /// the profile and the drill-target marker ConfigMap on the cluster.
    #[arg(long)]
    pub allow_destroy: bool,
    /// Reports folder: <out>/<run-id>/{junit.xml,metrics.prom,run.json}, and <out>/latest.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Also push the metrics to this Prometheus Pushgateway (job dr_harness, grouped by cluster and scenario).
    #[arg(long, value_name = "URL")]
    pub pushgateway: Option<String>,
    /// Continue a failed or interrupted drill from its last completed step (state from
    /// <out>/<run-id>/run.json, or from the backup target when the local copy is gone).
    #[arg(long, value_name = "RUN_ID")]
    pub resume: Option<String>,
    /// Soak mode: run the scenarios N times in a row on the same cluster and report how many
    /// passed (stops early on Ctrl-C).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
    /// Post one message per drill (verdict, RTO/RPO, first failure, report) to this chat
    /// webhook; repeatable. Slack-compatible (`{"text"}`) unless the URL is a Discord webhook
    /// (discord.com/api/webhooks/…) or starts with `discord+`; `slack+` forces Slack. The URL is
    /// a secret: prefer DR_HARNESS_NOTIFY (space-separated URLs). A failed notification warns;
    /// it never changes the exit code.
    #[arg(
        long = "notify",
        value_name = "URL",
        env = "DR_HARNESS_NOTIFY",
        hide_env_values = true,
        value_delimiter = ' '
    )]
    pub notify: Vec<String>,
    /// Where notifications say the report is, e.g. your CI job's artifact URL; `{run_id}` is
    /// replaced by the drill's run id. Default: the local path of report.html.
    #[arg(long, value_name = "URL")]
    pub report_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    #[cfg_attr(
        feature = "sandbox",
        doc = "Cluster profile (TOML); default: the built-in sandbox, started for the drill."
    )]
    #[cfg_attr(
        not(feature = "sandbox"),
        doc = "Cluster profile (TOML); required: this build has no built-in sandbox."
    )]
    #[arg(long, short = 'p', value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Sandbox only: speed of the simulated cluster.
    #[cfg(feature = "sandbox")]
    #[arg(long, default_value = "fast", value_parser = ["fast", "realistic"])]
    pub timing: String,
    /// Sandbox only: keep the sandbox's state here instead of a temporary folder.
    #[cfg(feature = "sandbox")]
    #[arg(long, value_name = "DIR")]
    pub sandbox_state: Option<PathBuf>,
    /// Sandbox only: the Longhorn release the sandbox imitates (1.7.1, 1.7.3, 1.8.2, 1.9.1,
    /// 1.10.1; default the newest). On a real cluster the version is read from the cluster.
    #[cfg(feature = "sandbox")]
    #[arg(long, value_name = "VERSION")]
    pub longhorn_version: Option<dr_sandbox::LonghornVersion>,
    /// Sandbox only: a Longhorn manifest (e.g. longhorn.yaml) whose longhorn.io CRDs the
    /// sandbox API server serves and validates Longhorn objects by.
    #[cfg(feature = "sandbox")]
    #[arg(long, value_name = "FILE")]
    pub longhorn_crds: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Scenario whose guards to check (a destructive one also checks the destroy guards).
    #[arg(default_value = "full-rebuild")]
    pub scenario: String,
    #[arg(long)]
    pub allow_destroy: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Also validate every scenario and profile file, reporting errors (exit 2 if any).
    #[arg(long)]
    pub validate: bool,
}

#[cfg(feature = "sandbox")]
#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Start a sandbox in the foreground until Ctrl-C or `sandbox down`; writes
    /// <state>/kubeconfig, <state>/s3.env and <state>/sandbox.json.
    Up {
        #[arg(long, default_value = ".sandbox")]
        state: PathBuf,
        #[arg(long, default_value = "fast", value_parser = ["fast", "realistic"])]
        timing: String,
        /// The Longhorn release to imitate: 1.7.1, 1.7.3, 1.8.2, 1.9.1, 1.10.1 (`v` prefix
        /// optional; default the newest).
        #[arg(long, value_name = "VERSION", default_value_t = dr_sandbox::LonghornVersion::default())]
        longhorn_version: dr_sandbox::LonghornVersion,
        /// A Longhorn manifest (e.g. longhorn.yaml) whose longhorn.io CRDs the API server
        /// serves and validates Longhorn objects by; without it, built-in rules only.
        #[arg(long, value_name = "FILE")]
        longhorn_crds: Option<PathBuf>,
    },
    /// Lose the cluster: API state and volume data gone, S3 kept (a destroy hook).
    Destroy {
        #[arg(long, default_value = ".sandbox")]
        state: PathBuf,
    },
    /// Rebuild an empty cluster that bootstraps like the seeds' clusters (a rebuild hook).
    Apply {
        #[arg(long, default_value = ".sandbox")]
        state: PathBuf,
    },
    /// Stop a running sandbox.
    Down {
        #[arg(long, default_value = ".sandbox")]
        state: PathBuf,
    },
    /// Show the sandbox's state.
    Status {
        #[arg(long, default_value = ".sandbox")]
        state: PathBuf,
    },
    /// Inject a fault into a running sandbox, e.g. `backup-error`, `api-unavailable 5`,
    /// `node-not-ready node-2`, `volume-degraded dr-exercise-data`; `clear` removes all.
    ///
    /// Faults: backup-error, backup-stuck, backup-unknown, restore-failure, block-missing, block-corrupted, orchestrator-skipped,
    /// older-backup-restored, restored-byte-flipped, backupvolume-never-discovered,
    /// api-unavailable SECONDS, watches-dropped SECONDS, rebuild-slow SECONDS,
    /// destroy-leaves-cluster, rebuild-fails, kubeconfig-rotated, node-not-ready NODE,
    /// volume-degraded VOLUME, no-drill-target-marker, revert-not-applied, system-restore-error,
    /// system-backup-zip-corrupted.
    Fault {
        #[arg(long, default_value = ".sandbox")]
        state: PathBuf,
        /// Fault name, or `clear`.
        name: String,
        /// Seconds, node or volume, for the faults that take one.
        arg: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct VerifyBackupArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Volume (as named on the backup target); repeat for several.
    #[arg(long = "volume", required_unless_present = "all_volumes")]
    pub volumes: Vec<String>,
    /// Every volume on the backup target (nightly jobs).
    #[arg(long, conflicts_with = "volumes")]
    pub all_volumes: bool,
    /// `latest` (the backup volume.cfg names) or a backup name (`backup-…`).
    #[arg(long, default_value = "latest")]
    pub backup: String,
    /// Download and check every block and read the files inside the volume image.
    #[arg(long)]
    pub deep: bool,
    /// With --deep: a sha256sum-format manifest inside the volume to check (default: the
    /// sentinel's /dr-harness/MANIFEST.sha256 when present).
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<String>,
    /// With --deep: a file inside the volume and its expected SHA-256; repeat for several.
    #[arg(long = "path", value_name = "PATH=SHA256")]
    pub paths: Vec<String>,
    /// Write nothing to the bucket (no run files beside the backups): works with read-only S3
    /// credentials. Reports are still written under --out.
    #[arg(long)]
    pub read_only: bool,
    /// With --deep: download only blocks not yet proven (a signed ledger per volume), plus a
    /// scrub sample and a periodic full pass; files are read from S3 on demand.
    #[arg(long, requires = "deep")]
    pub incremental: bool,
    /// With --incremental: share of ledger blocks re-downloaded each run (0..=1).
    #[arg(long, value_name = "F", default_value_t = dr_backupstore::incremental::DEFAULT_SCRUB_FRACTION)]
    pub scrub_fraction: f64,
    /// With --incremental: seed of the scrub sample (default from the clock).
    #[arg(long, value_name = "N")]
    pub scrub_seed: Option<u64>,
    /// With --incremental: download everything when the last full pass is older (e.g. 7d).
    #[arg(long, value_name = "DURATION", default_value = "7d")]
    pub full_every: String,
    /// With --incremental: local folder of ledgers (<folder>/<volume>.json) instead of
    /// <prefix>dr-harness/verified/ on the backup target.
    #[arg(long, value_name = "DIR")]
    pub ledger: Option<PathBuf>,
    /// With --incremental: environment variable holding the ledger's HMAC key (>= 16 bytes).
    #[arg(long, value_name = "NAME", default_value = "DR_HARNESS_LEDGER_KEY")]
    pub ledger_key_env: String,
    /// Verify only shard I of N (0-based) of the volumes, by rendezvous hashing; I may be
    /// $(JOB_COMPLETION_INDEX) (a Kubernetes Indexed Job) or `env` to read that variable.
    #[arg(long, value_name = "I/N", env = "DR_HARNESS_SHARD")]
    pub shard: Option<String>,
    /// Volumes verified at once; block downloads share one bound across them.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub parallel_volumes: usize,
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    #[arg(long, value_name = "URL")]
    pub pushgateway: Option<String>,
}

/// Hook presets `dr-harness init` can write (`none`: no hooks, non-destructive drills only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HooksChoice {
    None,
    Terragrunt,
    Tofu,
    Terraform,
    Command,
}

impl HooksChoice {
    /// The preset name as written in a profile.
    pub fn as_str(self) -> &'static str {
        match self {
            HooksChoice::None => "none",
            HooksChoice::Terragrunt => "terragrunt",
            HooksChoice::Tofu => "tofu",
            HooksChoice::Terraform => "terraform",
            HooksChoice::Command => "command",
        }
    }
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the profile (`-` prints it).
    #[arg(long, short = 'o', default_value = "dr-harness.toml")]
    pub out: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
    /// Cluster label in metrics and reports (keep it stable).
    #[arg(long, default_value = "my-cluster")]
    pub name: String,
    /// Free text for humans.
    #[arg(long)]
    pub description: Option<String>,
    /// Kubeconfig file (default ~/.kube/config).
    #[arg(long, value_name = "PATH", conflicts_with = "kubeconfig_command")]
    pub kubeconfig: Option<PathBuf>,
    /// A command printing the kubeconfig, split like a shell would (run without one), e.g.
    /// "tofu -chdir=infra output -raw kubeconfig"; re-run after a rebuild.
    #[arg(long, value_name = "COMMAND")]
    pub kubeconfig_command: Option<String>,
    /// Context inside the kubeconfig (default its current-context).
    #[arg(long)]
    pub context: Option<String>,
    /// Longhorn's backup target, s3://<bucket>@<region>/[<folder>/].
    #[arg(
        long,
        value_name = "URL",
        default_value = "s3://longhorn-backups@us-east-1/"
    )]
    pub backup_target: String,
    /// S3 endpoint for non-AWS stores (MinIO, Hetzner, …).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// S3 credentials: `env` (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) or `chain` (AWS SDK chain).
    #[arg(long, default_value = "chain", value_parser = ["env", "chain"])]
    pub credentials: String,
    /// Consent to destructive scenarios in the profile (the CLI flag and marker are still needed).
    #[arg(long)]
    pub allow_destroy: bool,
    /// Infrastructure hooks for destroy/rebuild.
    #[arg(long, value_enum, default_value_t = HooksChoice::None)]
    pub hooks: HooksChoice,
    /// Stack directory for terragrunt/tofu/terraform hooks; working directory for command hooks.
    #[arg(long, value_name = "DIR")]
    pub working_dir: Option<PathBuf>,
    /// With --hooks command: the destroy command, e.g. "make k3s-teardown".
    #[arg(long, value_name = "COMMAND")]
    pub destroy_command: Option<String>,
    /// With --hooks command: the rebuild command, e.g. "make k3s".
    #[arg(long, value_name = "COMMAND")]
    pub rebuild_command: Option<String>,
    /// Ready nodes expected.
    #[arg(long)]
    pub nodes: Option<u32>,
    /// `namespace/name` of the restore-orchestrator Job that must complete after a rebuild.
    #[arg(long, value_name = "NS/NAME")]
    pub orchestrator_job: Option<String>,
}

#[derive(Debug, Args)]
pub struct OrchestratorArgs {
    /// Well-known volume to restore (PVC name = Longhorn Volume name); repeat for several.
    #[arg(long = "volume", required = true)]
    pub volumes: Vec<String>,
    /// Longhorn's namespace.
    #[arg(long, default_value = "longhorn-system")]
    pub namespace: String,
    /// ConfigMap `namespace/name` whose data `skip_backup_restore: "true"` skips every restore.
    #[arg(long, value_name = "NS/NAME")]
    pub skip_flag_configmap: Option<String>,
    /// numberOfReplicas of restored volumes.
    #[arg(long, default_value_t = 3)]
    pub replicas: i64,
    /// Storage class of the PVs created for restored volumes.
    #[arg(long, default_value = "longhorn")]
    pub storage_class: String,
    /// Give up after this long (humantime, e.g. 15m).
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

#[cfg(all(test, feature = "sandbox"))]
mod tests {
    use super::*;
    use dr_sandbox::LonghornVersion;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("dr-harness").chain(args.iter().copied()))
    }

    #[test]
    fn longhorn_version_is_taken_by_sandbox_up_run_and_verify_backup() {
        match parse(&["sandbox", "up", "--longhorn-version", "1.7.1"])
            .unwrap()
            .command
        {
            Command::Sandbox(SandboxCommand::Up {
                longhorn_version, ..
            }) => assert_eq!(longhorn_version, LonghornVersion::V1_7_1),
            other => panic!("{other:?}"),
        }
        match parse(&["sandbox", "up"]).unwrap().command {
            Command::Sandbox(SandboxCommand::Up {
                longhorn_version, ..
            }) => assert_eq!(longhorn_version, LonghornVersion::default()),
            other => panic!("{other:?}"),
        }
        match parse(&["run", "--longhorn-version", "v1.9.1"])
            .unwrap()
            .command
        {
            Command::Run(a) => assert_eq!(a.target.longhorn_version, Some(LonghornVersion::V1_9_1)),
            other => panic!("{other:?}"),
        }
        match parse(&[
            "verify-backup",
            "--all-volumes",
            "--longhorn-version",
            "1.8.2",
        ])
        .unwrap()
        .command
        {
            Command::VerifyBackup(a) => {
                assert_eq!(a.target.longhorn_version, Some(LonghornVersion::V1_8_2))
            }
            other => panic!("{other:?}"),
        }
        let err = parse(&["run", "--longhorn-version", "1.9"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unsupported Longhorn version"), "{err}");
        assert!(
            parse(&["sandbox", "up", "--longhorn-1-7"]).is_err(),
            "the old flag is gone"
        );
    }
}
