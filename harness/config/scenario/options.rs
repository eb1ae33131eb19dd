//! The options of each step kind whose TOML maps directly onto a struct (serde with
//! `deny_unknown_fields`): one struct per kind, plus the enums they use. Kinds with rules
//! beyond serde live in their own files (`checks.rs`, `gates.rs`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::values;

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

/// Longhorn backup compression (`Volume.spec.backupCompressionMethod`; values from
/// longhorn-manager@v1.9.1:k8s/pkg/apis/longhorn/v1beta2/backup.go).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// `none`: blocks stored as written.
    None,
    /// `gzip`.
    Gzip,
    /// `lz4`, the default of Longhorn's `backup-compression-method` setting
    /// (longhorn-manager@v1.9.1:types/setting.go).
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

/// Longhorn `SystemBackup.spec.volumeBackupPolicy` (Longhorn v1.8 CRD field; values from
/// longhorn-manager@v1.9.1:k8s/pkg/apis/longhorn/v1beta2/systembackup.go).
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
