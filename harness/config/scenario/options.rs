//! Drill scenarios: an ordered list of steps from the step library plus RTO/RPO targets and
//! the sentinel's shape. One strict TOML file per scenario under `scenarios/`.
//!
//! Steps are parsed one by one (not by serde's internally tagged enum in one go) so that an
//! error inside a step still names its exact key, line and column: serde buffers tagged
//! content and loses toml's spans.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::error::ConfigError;
use crate::config::locate::{Seg, Source};
use crate::config::translate::{toml_error, translate};
use crate::config::values::{self, parse_duration, DURATION_HINT};

/// Declares the step library: one line per kind (variant, struct, kind name, default timeout
/// in seconds). Adding a kind = one line here + one struct below.
macro_rules! step_kinds {
    ($( $(#[$doc:meta])* $variant:ident($ty:ident) = $kind:literal, $secs:expr; )*) => {
        /// The kind-specific part of a step; serde form is internally tagged by `kind`.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind")]
        pub enum StepSpec {
            $( $(#[$doc])* #[serde(rename = $kind)] $variant($ty), )*
        }

        impl StepSpec {
            /// Every known kind, in library order.
            pub const KINDS: &'static [&'static str] = &[$($kind),*];

            /// The kind name as written in TOML (`deploy-sentinel`).
            pub fn kind(&self) -> &'static str {
                match self { $(StepSpec::$variant(_) => $kind,)* }
            }

            /// The timeout used when the step sets none.
            pub fn default_timeout(&self) -> Duration {
                match self { $(StepSpec::$variant(_) => Duration::from_secs($secs),)* }
            }

            /// Deserializes the kind-specific keys of one step; `None` for an unknown kind.
            fn from_value(
                kind: &str,
                rest: toml::Value,
            ) -> Option<Result<StepSpec, serde_path_to_error::Error<toml::de::Error>>> {
                match kind {
                    $($kind => Some(serde_path_to_error::deserialize(rest).map(StepSpec::$variant)),)*
                    _ => None,
                }
            }
        }
    };
}

step_kinds! {
    /// Reach the cluster, record its identity, check Longhorn and the backup target.
    Preflight(PreflightStep) = "preflight", 120;
    /// Apply the sentinel workload (namespace, PVC, deployment).
    DeploySentinel(DeploySentinelStep) = "deploy-sentinel", 300;
    /// Write checksummed sentinel files into the volume and keep the manifest.
    WriteSentinel(WriteSentinelStep) = "write-sentinel", 300;
    /// Take an on-demand Longhorn backup and verify it in S3.
    Backup(BackupStep) = "backup", 1800;
    /// Start the sentinel's tick writer (measures RPO).
    StartTicks(StartTicksStep) = "start-ticks", 60;
    /// Run the destroy hook: the disaster (RTO clock starts).
    Destroy(DestroyStep) = "destroy", 3600;
    /// Run the rebuild hook.
    Rebuild(RebuildStep) = "rebuild", 3600;
    /// Wait for nodes, system pods, Kustomizations and health URLs.
    WaitReady(WaitReadyStep) = "wait-ready", 1800;
    /// Check the restore orchestrator restored the sentinel volume from the backup.
    VerifyRestore(VerifyRestoreStep) = "verify-restore", 1800;
    /// Verify the sentinel files byte for byte (RTO clock stops, RPO measured).
    VerifySentinel(VerifySentinelStep) = "verify-sentinel", 600;
    /// Remove what the drill created.
    Cleanup(CleanupStep) = "cleanup", 300;
    /// Prove backups restorable from the backup target alone (structural or deep).
    VerifyBackup(VerifyBackupStep) = "verify-backup", 3600;
    /// Read-only cluster health: /readyz, Ready nodes, system pods, Longhorn volumes, URLs.
    Health(HealthStep) = "health", 300;
    /// Read-only RPO compliance: every volume's newest backup younger than `max_age`.
    BackupFreshness(BackupFreshnessStep) = "backup-freshness", 300;
    /// App-data check: run a command in a pod and compare its output with an expectation.
    Check(CheckStep) = "check", 300;
    /// Ordered readiness gates: each must become ready, in order, within its timeout.
    Gates(GatesStep) = "gates", 1800;
    /// Create a Longhorn SystemBackup, wait for Ready, prove its zip and cfg in S3.
    SystemBackup(SystemBackupStep) = "system-backup", 1800;
    /// After a rebuild: restore the drill's SystemBackup with a SystemRestore, wait Completed.
    SystemRestore(SystemRestoreStep) = "system-restore", 3600;
    /// Delete only the drill's own sentinel workload, PVC, PV and Longhorn Volume (the disaster
    /// of `volume-restore`), or tear them down at the end.
    DeleteSentinel(DeleteSentinelStep) = "delete-sentinel", 600;
    /// Restore the sentinel volume from this drill's backup under its well-known name, then
    /// bring the workload back.
    RestoreVolume(RestoreVolumeStep) = "restore-volume", 1800;
    /// Take a Longhorn Snapshot of the sentinel volume (the point `revert` goes back to).
    Snapshot(SnapshotStep) = "snapshot", 600;
    /// Write another generation of sentinel data over the first (data B of snapshot-revert).
    WriteGeneration(WriteGenerationStep) = "write-generation", 300;
    /// Scale the sentinel Deployment and wait for it (0: pods gone, volume detached).
    Scale(ScaleStep) = "scale", 600;
    /// Revert the sentinel volume to the drill's snapshot through longhorn-manager's API.
    Revert(RevertStep) = "revert", 600;
    /// Check that a later generation's data is gone after a revert.
    VerifyRevert(VerifyRevertStep) = "verify-revert", 600;
}

/// `kind = "preflight"`: no options.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreflightStep {}

/// `kind = "deploy-sentinel"`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploySentinelStep {
    /// Take over an existing sentinel workload instead of failing when it exists.
    #[serde(default)]
    pub adopt: bool,
}

/// `kind = "write-sentinel"`: no options (sizes come from `[sentinel]`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteSentinelStep {}

/// Longhorn backup compression (`Volume.spec.backupCompressionMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    #[default]
    Lz4,
}

impl Compression {
    /// The value Longhorn uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Lz4 => "lz4",
        }
    }
}

/// `kind = "backup"`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupStep {
    /// Deprecated, no effect: Longhorn compresses a volume's backups with the Volume's
    /// `spec.backupCompressionMethod`, fixed in the target's `volume.cfg` at the volume's first
    /// backup (longhorn-manager@v1.9.1:k8s/pkg/apis/longhorn/v1beta2/volume.go; a Backup has no
    /// such field). Still accepted so old scenarios load; the backup step warns when it is set
    /// and reports the method Longhorn actually uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<Compression>,
    /// How long to wait for the Backup to reach `Completed`; default: the step timeout.
    #[serde(
        default,
        with = "values::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub wait_timeout: Option<Duration>,
    /// Labels put on the Backup (`Backup.spec.labels`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
}

/// `kind = "start-ticks"`: no options (interval from `[sentinel]`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartTicksStep {}

/// `kind = "destroy"`: runs the profile's `[hooks.destroy]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestroyStep {}

/// `kind = "rebuild"`: runs the profile's `[hooks.rebuild]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RebuildStep {}

/// `kind = "wait-ready"`: checks the profile's `[expect]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitReadyStep {}

/// `kind = "verify-restore"`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRestoreStep {}

/// `kind = "verify-sentinel"`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifySentinelStep {}

/// Longhorn `SystemBackup.spec.volumeBackupPolicy` (Longhorn v1.8 CRD field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeBackupPolicy {
    /// Back up volumes that have no backup yet (Longhorn's default).
    #[default]
    IfNotPresent,
    /// Back up every volume.
    Always,
    /// Back up no volume: the system backup holds only resources.
    Disabled,
}

impl VolumeBackupPolicy {
    /// The value as Longhorn spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeBackupPolicy::IfNotPresent => "if-not-present",
            VolumeBackupPolicy::Always => "always",
            VolumeBackupPolicy::Disabled => "disabled",
        }
    }
}

/// `kind = "system-backup"`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemBackupStep {
    /// Which volumes Longhorn backs up as part of the system backup.
    #[serde(default)]
    pub volume_backup_policy: VolumeBackupPolicy,
}

/// `kind = "system-restore"`: restores the SystemBackup an earlier `system-backup` step made.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemRestoreStep {}

/// `kind = "cleanup"`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanupStep {}

/// `kind = "verify-backup"`: prove a backup restorable from S3 alone, without a cluster.
/// With no `volumes` and `all_volumes` false, the drill's own sentinel volume and backup are
/// checked (the backup just taken); otherwise `backup` (`"latest"` or a backup name) of each volume.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyBackupStep {
    /// Longhorn volume names as the backup target knows them.
    #[serde(default)]
    pub volumes: Vec<String>,
    /// Every volume on the backup target (nightly jobs).
    #[serde(default)]
    pub all_volumes: bool,
    /// `"latest"` (the one `volume.cfg` names) or a backup name (`backup-…`).
    #[serde(default)]
    pub backup: Option<String>,
    /// Download, decompress and checksum every block, reassemble the ext4 image and check files.
    #[serde(default)]
    pub deep: bool,
    /// Manifest (sha256sum format) inside the volume to check in deep mode; default: the
    /// sentinel's `/dr-harness/MANIFEST.sha256` when present.
    #[serde(default)]
    pub manifest: Option<String>,
    /// Paths inside the volume and their expected SHA-256, checked in deep mode.
    #[serde(default)]
    pub paths: std::collections::BTreeMap<String, String>,
    /// With `deep`: download only blocks not yet proven (a signed ledger of verified blocks per
    /// volume), plus a scrub sample and a periodic full pass; files are read from S3 on demand.
    #[serde(default)]
    pub incremental: bool,
    /// Share of ledger blocks re-downloaded each incremental run (0..=1, default 0.02).
    #[serde(default)]
    pub scrub_fraction: Option<f64>,
    /// Seed of the scrub sample (default: from the clock; the report names the one used).
    #[serde(default)]
    pub scrub_seed: Option<u64>,
    /// An incremental run whose ledger's last full pass is older downloads everything
    /// (default 7d).
    #[serde(
        default,
        with = "values::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub full_every: Option<Duration>,
    /// Local folder of ledgers (`<folder>/<volume>.json`) instead of
    /// `<prefix>dr-harness/verified/<volume>.json` on the backup target.
    #[serde(default)]
    pub ledger: Option<std::path::PathBuf>,
    /// Environment variable holding the ledger's HMAC key (default `DR_HARNESS_LEDGER_KEY`;
    /// at least 16 bytes).
    #[serde(default)]
    pub ledger_key_env: Option<String>,
    /// `I/N`: verify only the volumes rendezvous hashing gives shard `I` of `N` (0-based).
    #[serde(default)]
    pub shard: Option<String>,
    /// Volumes verified at once (default 4); block downloads share one bound across them.
    #[serde(default)]
    pub parallel_volumes: Option<usize>,
}

/// `kind = "delete-sentinel"`: deletes only objects labelled with this drill's run id, plus the
/// sentinel's own well-known volume (and its PV) recorded by `deploy-sentinel`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteSentinelStep {
    /// `false` (default): the disaster — refuse unless every object is the drill's own, and
    /// start the RTO clock. `true`: end-of-drill tidy-up that also runs after a failure and
    /// deletes only what carries this run's label, skipping the rest.
    #[serde(default)]
    pub teardown: bool,
}

/// `kind = "restore-volume"`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreVolumeStep {
    /// `Volume.spec.numberOfReplicas` of the restored volume; default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i64>,
}

/// `kind = "snapshot"`: no options.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotStep {}

/// `kind = "write-generation"`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteGenerationStep {
    /// Generation tag (letters and digits), e.g. `"b"`: seeds the content and names its facts.
    pub generation: String,
}

/// `kind = "scale"`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleStep {
    /// Replicas of the sentinel Deployment; 0 waits for its pods to go and its volume to
    /// detach, more waits for `Available`.
    pub replicas: i32,
}

/// `kind = "revert"`: no options (the snapshot is the one the `snapshot` step took).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevertStep {}

/// `kind = "verify-revert"`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRevertStep {
    /// The generation that must be gone, as given to `write-generation`.
    pub generation: String,
}

/// `kind = "health"`: the seed health-check script as a read-only step. Every option defaults
/// from the profile's `[expect]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthStep {
    /// Ready nodes expected; default `[expect] nodes` (unchecked when neither is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u32>,
    /// Name prefixes of `kube-system` pods that must exist and be Running; default
    /// `[expect] system_pods` (itself `["coredns"]` by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_pods: Option<Vec<String>>,
    /// Prefixes checked only when such pods exist (k3s and RKE2 with Cilium run no kube-proxy);
    /// default `["kube-proxy"]`.
    #[serde(default = "d_optional_system_pods")]
    pub optional_system_pods: Vec<String>,
    /// URLs that must answer 2xx or 3xx (redirects are not followed); default
    /// `[expect] health_urls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// Time each URL has to answer; default 10 s.
    #[serde(default = "d_url_timeout", with = "values::duration")]
    pub url_timeout: Duration,
    /// Check every Longhorn Volume's `status.robustness`; default true.
    #[serde(default = "d_true")]
    pub longhorn_volumes: bool,
    /// Keep re-checking for up to this long until every check passes (a cluster still
    /// settling after a rebuild); default: check once.
    #[serde(
        default,
        with = "values::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub wait: Option<Duration>,
    /// How long every check must keep passing, re-read every 500 ms, before the step passes:
    /// one good read is not enough while Longhorn or the kubelet may still be reporting a
    /// change (a volume turning degraded a moment after the read); default 3 s, `"0s"` to
    /// pass on the first good read.
    #[serde(default = "d_settle", with = "values::duration")]
    pub settle: Duration,
}

fn d_optional_system_pods() -> Vec<String> {
    vec!["kube-proxy".into()]
}
fn d_settle() -> Duration {
    Duration::from_secs(3)
}
fn d_url_timeout() -> Duration {
    Duration::from_secs(10)
}
fn d_true() -> bool {
    true
}

/// `kind = "backup-freshness"`: RPO compliance from the BackupVolumes, cross-checked in S3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupFreshnessStep {
    /// The RPO target: the newest `Completed` backup of each volume must be younger.
    #[serde(with = "values::duration")]
    pub max_age: Duration,
    /// Longhorn Volume names to judge; default every Volume (or those `volume_selector` picks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    /// Label selector on Longhorn Volumes (`app=db,tier!=cache`); not with `volumes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_selector: Option<String>,
    /// Each volume must be covered by a RecurringJob of task `backup` (by job or group label,
    /// or Longhorn's `default` group); default true.
    #[serde(default = "d_true")]
    pub require_recurring_job: bool,
    /// An `InProgress` backup older than this is stuck (Longhorn #9417/#9168); default 1 h.
    #[serde(default = "d_stuck_after", with = "values::duration")]
    pub stuck_after: Duration,
    /// When set, the newest etcd snapshot under the profile's
    /// `backup_target.etcd_snapshot_prefix` must be younger than this.
    #[serde(
        default,
        with = "values::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub etcd_max_age: Option<Duration>,
}

fn d_stuck_after() -> Duration {
    Duration::from_secs(3600)
}

/// Which pod a `check` runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodTarget {
    /// A Running, Ready pod matching this label selector.
    Selector(String),
    /// A Running, Ready pod of this Deployment (by its `spec.selector.matchLabels`).
    Deployment(String),
}

/// A comparison operator of `compare = { op = ">=", value = 1000 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareOp {
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl CompareOp {
    /// The operator as written in TOML.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }

    /// `found <op> wanted`.
    pub fn holds(self, found: f64, wanted: f64) -> bool {
        match self {
            CompareOp::Eq => found == wanted,
            CompareOp::Ne => found != wanted,
            CompareOp::Lt => found < wanted,
            CompareOp::Le => found <= wanted,
            CompareOp::Gt => found > wanted,
            CompareOp::Ge => found >= wanted,
        }
    }
}

/// `compare = { op, value }`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    pub op: CompareOp,
    pub value: f64,
}

/// What a `check` expects of the command's stdout (trimmed of surrounding whitespace).
#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    /// The trimmed output equals this text.
    Equals(String),
    /// The trimmed output matches this regular expression (validated at load).
    Regex(String),
    /// The trimmed output is a number that compares so with `value`.
    Compare(Comparison),
}

/// `kind = "check"`: the app-data check (e.g. `SELECT COUNT(*) FROM test_data` equals 1000).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawCheckStep", into = "RawCheckStep")]
pub struct CheckStep {
    pub namespace: String,
    pub target: PodTarget,
    /// Container to exec in; default the pod's first container.
    pub container: Option<String>,
    /// argv, run without a shell (wrap in `["sh", "-c", "…"]` for one).
    pub command: Vec<String>,
    pub expect: Expectation,
}

/// The TOML form of [`CheckStep`]: exactly one of `pod_selector`/`deployment` and exactly one
/// of `equals`/`regex`/`compare`, checked when loading. `equals` takes a string or a number
/// (`equals = 1000` compares with the text `1000`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheckStep {
    namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pod_selector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deployment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    container: Option<String>,
    command: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    equals: Option<toml::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    regex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    compare: Option<Comparison>,
}

impl TryFrom<RawCheckStep> for CheckStep {
    type Error = String;
    fn try_from(raw: RawCheckStep) -> Result<Self, String> {
        let hint = crate::config::translate::HINT_SEP;
        let target = match (raw.pod_selector, raw.deployment) {
            (Some(s), None) => PodTarget::Selector(s),
            (None, Some(d)) => PodTarget::Deployment(d),
            _ => {
                return Err(format!(
                    "set exactly one of `pod_selector` and `deployment` in the check step{hint}e.g. deployment = \"postgres\" or pod_selector = \"app=postgres\""
                ))
            }
        };
        if raw.command.is_empty() {
            return Err(format!("empty `command` in the check step{hint}give the argv, e.g. [\"sh\", \"-c\", \"wc -l < /data/rows\"]"));
        }
        let expect = match (raw.equals, raw.regex, raw.compare) {
            (Some(v), None, None) => Expectation::Equals(match v {
                toml::Value::String(s) => s,
                other => other.to_string(),
            }),
            (None, Some(r), None) => {
                regex::Regex::new(&r).map_err(|e| format!("invalid `regex` in the check step: {e}{hint}write a Rust regex, e.g. \"^[0-9]+$\""))?;
                Expectation::Regex(r)
            }
            (None, None, Some(c)) => Expectation::Compare(c),
            _ => {
                return Err(format!(
                    "set exactly one of `equals`, `regex` and `compare` in the check step{hint}e.g. compare = {{ op = \">=\", value = 1000 }}"
                ))
            }
        };
        Ok(CheckStep {
            namespace: raw.namespace,
            target,
            container: raw.container,
            command: raw.command,
            expect,
        })
    }
}

impl From<CheckStep> for RawCheckStep {
    fn from(c: CheckStep) -> Self {
        let (pod_selector, deployment) = match c.target {
            PodTarget::Selector(s) => (Some(s), None),
            PodTarget::Deployment(d) => (None, Some(d)),
        };
        let (equals, regex, compare) = match c.expect {
            Expectation::Equals(s) => (Some(toml::Value::String(s)), None, None),
            Expectation::Regex(r) => (None, Some(r), None),
            Expectation::Compare(c) => (None, None, Some(c)),
        };
        RawCheckStep {
            namespace: c.namespace,
            pod_selector,
            deployment,
            container: c.container,
            command: c.command,
            equals,
            regex,
            compare,
        }
    }
}

/// `kind = "gates"`: readiness gates that must open in the declared order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatesStep {
    /// In recovery order: gate k may be ready only once every gate before it is.
    pub gates: Vec<ReadinessGate>,
    /// How often HTTP and command gates are probed (conditions are read as often); default
    /// 250 ms.
    #[serde(default = "d_poll_interval", with = "values::duration")]
    pub poll_interval: Duration,
}

fn d_poll_interval() -> Duration {
    Duration::from_millis(250)
}

/// A Kubernetes object a condition gate reads (`apiVersion`, `kind`, `namespace`, `name`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectRef {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    /// Absent for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

/// What makes a condition gate ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateCheck {
    /// `status.conditions[type == T].status == "True"`.
    ConditionType(String),
    /// The field at a dotted path (`status.robustness`) equals this text.
    Field { path: String, equals: String },
}

/// How a gate is probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateProbe {
    Condition {
        object: ObjectRef,
        check: GateCheck,
    },
    /// Ready when the URL answers `expect_status` (default: any 2xx) and the body contains
    /// `expect_body_contains` when set.
    Http {
        url: String,
        expect_status: Option<u16>,
        expect_body_contains: Option<String>,
    },
    /// Ready when the command (run on the harness host, no shell) exits 0.
    Command {
        argv: Vec<String>,
    },
}

/// One readiness gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawGate", into = "RawGate")]
pub struct ReadinessGate {
    /// Unique within the step; the phase is recorded as `gate-<name>`.
    pub name: String,
    /// From the start of the step; default the step's timeout.
    pub timeout: Option<Duration>,
    pub probe: GateProbe,
}

/// The TOML form of [`ReadinessGate`]; which keys are allowed depends on `kind`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGate {
    name: String,
    kind: String,
    #[serde(
        default,
        with = "values::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    object: Option<ObjectRef>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    equals: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expect_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expect_body_contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    argv: Option<Vec<String>>,
}

impl TryFrom<RawGate> for ReadinessGate {
    type Error = String;
    fn try_from(g: RawGate) -> Result<Self, String> {
        let hint = crate::config::translate::HINT_SEP;
        let name = g.name.clone();
        let stray = |keys: &[(&str, bool)]| -> Result<(), String> {
            match keys.iter().find(|(_, set)| *set) {
                Some((k, _)) => Err(format!(
                    "key `{k}` does not apply to gate `{name}` of kind \"{}\"{hint}remove it",
                    g.kind
                )),
                None => Ok(()),
            }
        };
        let probe = match g.kind.as_str() {
            "condition" => {
                stray(&[("url", g.url.is_some()), ("expect_status", g.expect_status.is_some()), ("expect_body_contains", g.expect_body_contains.is_some()), ("argv", g.argv.is_some())])?;
                let object = g.object.clone().ok_or_else(|| format!("missing key `object` in condition gate `{name}`{hint}add object = {{ apiVersion = \"apps/v1\", kind = \"Deployment\", namespace = \"…\", name = \"…\" }}"))?;
                let check = match (g.type_.clone(), g.field.clone(), g.equals.clone()) {
                    (Some(t), None, None) => GateCheck::ConditionType(t),
                    (None, Some(path), Some(equals)) => GateCheck::Field { path, equals },
                    _ => return Err(format!("condition gate `{name}` needs either `type` (a status condition) or `field` with `equals`{hint}e.g. type = \"Available\", or field = \"status.robustness\" with equals = \"healthy\"")),
                };
                GateProbe::Condition { object, check }
            }
            "http" => {
                stray(&[("object", g.object.is_some()), ("type", g.type_.is_some()), ("field", g.field.is_some()), ("equals", g.equals.is_some()), ("argv", g.argv.is_some())])?;
                let url = g.url.clone().ok_or_else(|| format!("missing key `url` in http gate `{name}`{hint}add url = \"http://…\""))?;
                GateProbe::Http { url, expect_status: g.expect_status, expect_body_contains: g.expect_body_contains.clone() }
            }
            "command" => {
                stray(&[("object", g.object.is_some()), ("type", g.type_.is_some()), ("field", g.field.is_some()), ("equals", g.equals.is_some()), ("url", g.url.is_some()), ("expect_status", g.expect_status.is_some()), ("expect_body_contains", g.expect_body_contains.is_some())])?;
                match g.argv.clone() {
                    Some(argv) if !argv.is_empty() => GateProbe::Command { argv },
                    _ => return Err(format!("missing or empty `argv` in command gate `{name}`{hint}add argv = [\"program\", \"arg\"] (run without a shell; exit 0 = ready)")),
                }
            }
            other => return Err(format!("unknown gate kind `{other}` in gate `{name}`{hint}expected one of condition, http, command")),
        };
        Ok(ReadinessGate {
            name: g.name,
            timeout: g.timeout,
            probe,
        })
    }
}

impl From<ReadinessGate> for RawGate {
    fn from(g: ReadinessGate) -> Self {
        let mut raw = RawGate {
            name: g.name,
            kind: String::new(),
            timeout: g.timeout,
            object: None,
            type_: None,
            field: None,
            equals: None,
            url: None,
            expect_status: None,
            expect_body_contains: None,
            argv: None,
        };
        match g.probe {
            GateProbe::Condition { object, check } => {
                raw.kind = "condition".into();
                raw.object = Some(object);
                match check {
                    GateCheck::ConditionType(t) => raw.type_ = Some(t),
                    GateCheck::Field { path, equals } => {
                        raw.field = Some(path);
                        raw.equals = Some(equals);
                    }
                }
            }
            GateProbe::Http {
                url,
                expect_status,
                expect_body_contains,
            } => {
                raw.kind = "http".into();
                raw.url = Some(url);
                raw.expect_status = expect_status;
                raw.expect_body_contains = expect_body_contains;
            }
            GateProbe::Command { argv } => {
                raw.kind = "command".into();
                raw.argv = Some(argv);
            }
        }
        raw
    }
}

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct StepEntry {
    /// Unique within the scenario; defaults to the kind.
    pub name: String,
    /// Step timeout from the scenario; `None` means [`StepSpec::default_timeout`].
    pub timeout: Option<Duration>,
    pub spec: StepSpec,
}

impl StepEntry {
    /// The timeout to enforce: the scenario's, else the kind's default.
    pub fn effective_timeout(&self) -> Duration {
        self.timeout.unwrap_or_else(|| self.spec.default_timeout())
    }
}

/// `[sentinel]`: the workload and data the drill writes and verifies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentinelSpec {
    /// Default `dr-exercise`.
    #[serde(default = "d_namespace")]
    pub namespace: String,
    /// Well-known PVC name the restore orchestrator restores; default `dr-exercise-data`.
    #[serde(default = "d_pvc")]
    pub pvc: String,
    /// Default `dr-exercise`.
    #[serde(default = "d_deployment")]
    pub deployment: String,
    /// Default `sentinel`.
    #[serde(default = "d_container")]
    pub container: String,
    /// Default `/data`.
    #[serde(default = "d_mount_path")]
    pub mount_path: String,
    /// Sentinel file sizes in bytes; default 3 MiB, 5000 KiB, 1 KiB (crossing Longhorn's 2 MiB
    /// block boundaries at different offsets).
    #[serde(default = "d_file_sizes", with = "values::sizes")]
    pub file_sizes: Vec<u64>,
    /// Interval of the RPO tick writer; default 1 s.
    #[serde(default = "d_tick_interval", with = "values::duration")]
    pub tick_interval: Duration,
}

fn d_namespace() -> String {
    "dr-exercise".into()
}
fn d_pvc() -> String {
    "dr-exercise-data".into()
}
fn d_deployment() -> String {
    "dr-exercise".into()
}
fn d_container() -> String {
    "sentinel".into()
}
fn d_mount_path() -> String {
    "/data".into()
}
fn d_file_sizes() -> Vec<u64> {
    vec![3 << 20, 5000 << 10, 1 << 10]
}
fn d_tick_interval() -> Duration {
    Duration::from_secs(1)
}

impl Default for SentinelSpec {
    fn default() -> Self {
        SentinelSpec {
            namespace: d_namespace(),
            pvc: d_pvc(),
            deployment: d_deployment(),
            container: d_container(),
            mount_path: d_mount_path(),
            file_sizes: d_file_sizes(),
            tick_interval: d_tick_interval(),
        }
    }
}

/// A drill scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// E.g. `full-rebuild`; the `scenario` label in metrics.
    pub name: String,
    pub description: Option<String>,
    /// Destroys the cluster: needs `--allow-destroy`, the profile's `allow_destroy` and the
    /// marker ConfigMap.
    pub destructive: bool,
    /// Recovery time objective; the drill fails when RTO exceeds it.
    pub rto_target: Option<Duration>,
    /// Recovery point objective; the drill fails when RPO exceeds it.
    pub rpo_target: Option<Duration>,
    pub sentinel: SentinelSpec,
    /// Set by [`Scenario::preflight_only`] and [`Scenario::read_only`], never from TOML: the run
    /// writes nothing to the cluster or the bucket (no drill lock, no run state beside the
    /// backups), so it works with read-only credentials. Local reports are still written.
    pub read_only: bool,
    steps: Vec<StepEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    destructive: bool,
    #[serde(default, with = "values::opt_duration")]
    rto_target: Option<Duration>,
    #[serde(default, with = "values::opt_duration")]
    rpo_target: Option<Duration>,
    #[serde(default)]
    sentinel: SentinelSpec,
    #[serde(default)]
    steps: Vec<toml::Table>,
}

impl Scenario {
    /// The steps in order.
    pub fn steps(&self) -> &[StepEntry] {
        &self.steps
    }

    /// A read-only copy keeping only the `preflight` steps (same name, targets and `destructive`
    /// flag, so the same guards run): what `dr-harness check` executes. A scenario without a
    /// preflight step (`health`) gets one: `check` always proves reachability and the guards.
    pub fn preflight_only(&self) -> Scenario {
        let mut copy = self.clone().read_only();
        copy.steps
            .retain(|s| matches!(s.spec, StepSpec::Preflight(_)));
        if copy.steps.is_empty() {
            copy.steps.push(StepEntry {
                name: "preflight".into(),
                timeout: None,
                spec: StepSpec::Preflight(PreflightStep::default()),
            });
        }
        copy
    }

    /// This scenario marked read-only (see [`Scenario::read_only`] the field): `verify-backup
    /// --read-only` and `check`.
    pub fn read_only(mut self) -> Scenario {
        self.read_only = true;
        self
    }

    /// Reads and validates a scenario file.
    ///
    /// # Errors
    /// [`ConfigError::Read`] if unreadable; [`ConfigError::Invalid`] with file:line:column and
    /// a hint for bad TOML, unknown keys or step kinds, wrong types, bad durations or sizes,
    /// duplicate step names, or no steps.
    pub fn load(path: &Path) -> Result<Scenario, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Scenario::from_str(&text, &path.display().to_string())
    }

    /// Parses a scenario from text; `origin_name` names it in errors.
    ///
    /// # Errors
    /// As [`Scenario::load`], minus reading.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str, origin_name: &str) -> Result<Scenario, ConfigError> {
        let source = Source::new(origin_name, text);
        let raw: RawScenario = toml::from_str(text).map_err(|e| toml_error(&source, &e))?;
        if raw.steps.is_empty() {
            return Err(source.error_at(
                0,
                format!("scenario `{}` has no steps", raw.name),
                Some("add [[steps]] tables with `kind = \"…\"`".into()),
            ));
        }
        let mut steps: Vec<StepEntry> = Vec::with_capacity(raw.steps.len());
        for (i, table) in raw.steps.into_iter().enumerate() {
            let entry = parse_step(&source, i, table)?;
            if let Some(first) = steps.iter().position(|s| s.name == entry.name) {
                let key = if source
                    .key_span(&[Seg::Key("steps"), Seg::Index(i), Seg::Key("name")])
                    .is_some()
                {
                    "name"
                } else {
                    "kind"
                };
                return Err(source.error_at_key(
                    &[Seg::Key("steps"), Seg::Index(i), Seg::Key(key)],
                    format!(
                        "duplicate step name `{}` in [[steps]] #{} (already used by [[steps]] #{})",
                        entry.name,
                        i + 1,
                        first + 1
                    ),
                    Some("give each step a unique `name = \"…\"`".into()),
                ));
            }
            steps.push(entry);
        }
        Ok(Scenario {
            name: raw.name,
            description: raw.description,
            destructive: raw.destructive,
            rto_target: raw.rto_target,
            rpo_target: raw.rpo_target,
            sentinel: raw.sentinel,
            read_only: false,
            steps,
        })
    }
}

fn parse_step(
    source: &Source<'_>,
    i: usize,
    mut table: toml::Table,
) -> Result<StepEntry, ConfigError> {
    let n = i + 1;
    let at = |key: &'static str| [Seg::Key("steps"), Seg::Index(i), Seg::Key(key)];
    let kinds_hint = format!("expected one of {}", StepSpec::KINDS.join(", "));
    let kind = match table.remove("kind") {
        Some(toml::Value::String(k)) => k,
        Some(other) => {
            return Err(source.error_at_key(
                &at("kind"),
                format!(
                    "wrong type for key `kind` in [[steps]] #{n}: found {}",
                    other.type_str()
                ),
                Some(kinds_hint),
            ))
        }
        None => {
            return Err(source.error_at_key(
                &[Seg::Key("steps"), Seg::Index(i)],
                format!("missing key `kind` in [[steps]] #{n}"),
                Some(kinds_hint),
            ))
        }
    };
    let table_name = format!("[[steps]] #{n} ({kind})");
    let name = match table.remove("name") {
        None => kind.clone(),
        Some(toml::Value::String(s)) if valid_step_name(&s) => s,
        Some(other) => {
            return Err(source.error_at_key(
                &at("name"),
                format!("invalid step name {other} in {table_name}"),
                Some(
                    "use letters, digits, `-`, `_` or `.`, starting with a letter or digit".into(),
                ),
            ))
        }
    };
    let timeout = match table.remove("timeout") {
        None => None,
        Some(toml::Value::String(s)) => match parse_duration(&s) {
            Ok(d) => Some(d),
            Err(e) => {
                return Err(source.error_at_key(
                    &at("timeout"),
                    format!("{e} for key `timeout` in {table_name}"),
                    Some(DURATION_HINT.into()),
                ))
            }
        },
        Some(other) => {
            return Err(source.error_at_key(
                &at("timeout"),
                format!(
                    "wrong type for key `timeout` in {table_name}: found {}",
                    other.type_str()
                ),
                Some(DURATION_HINT.into()),
            ))
        }
    };
    let spec = match StepSpec::from_value(&kind, toml::Value::Table(table)) {
        None => {
            return Err(source.error_at_key(
                &at("kind"),
                format!("unknown step kind `{kind}` in [[steps]] #{n}"),
                Some(kinds_hint),
            ))
        }
        Some(Ok(spec)) => spec,
        Some(Err(e)) => {
            let raw = e.inner().message().to_string();
            // Unknown keys sit at the struct itself (empty path) and are named in the message;
            // other errors are at the field the path names.
            let key = raw
                .strip_prefix("unknown field `")
                .and_then(|r| r.split('`').next())
                .map(str::to_string)
                .or_else(|| {
                    e.path()
                        .iter()
                        .next()
                        .map(|seg| seg.to_string())
                        .filter(|s| s != "?")
                });
            let (message, hint) = translate(&raw, key.as_deref(), &table_name);
            let path: Vec<Seg<'_>> = match &key {
                Some(k) => vec![Seg::Key("steps"), Seg::Index(i), Seg::Key(k)],
                None => vec![Seg::Key("steps"), Seg::Index(i)],
            };
            return Err(source.error_at_key(&path, message, hint));
        }
    };
    Ok(StepEntry {
        name,
        timeout,
        spec,
    })
}

fn valid_step_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Loads every `*.toml` in `dir` (sorted by file name), each with its own result, so one bad
/// scenario does not hide the others. An unreadable directory yields one entry for `dir`
/// holding [`ConfigError::ListDir`].
pub fn scenarios_in(dir: &Path) -> Vec<(PathBuf, Result<Scenario, ConfigError>)> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(source) => {
            return vec![(
                dir.to_path_buf(),
                Err(ConfigError::ListDir {
                    dir: dir.to_path_buf(),
                    source,
                }),
            )]
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let loaded = Scenario::load(&p);
            (p, loaded)
        })
        .collect()
}
