//! The record of one drill: what ran, what it found, how long each phase took.
//!
//! A [`RunRecord`] is the single source every reporter renders (JUnit, Prometheus, run.json,
//! console) and the state that `--resume` reads back, so it is plain serde data. Times are
//! wall-clock UTC for humans plus monotonic durations in seconds for measurements: RTO/RPO and
//! phase durations come from `Instant`s, never from subtracting wall-clock timestamps.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use super::facts::DrillFacts;

/// Moved to [`crate::cluster::ClusterIdentity`]; re-exported so the record's old path works.
pub use crate::cluster::ClusterIdentity;

/// Version of the run.json schema (`schema_version`); bumped on incompatible changes so
/// `--resume` can refuse an old state file instead of misreading it.
///
/// History: 1 had a `schema` field and string-keyed `facts`; 2 has `schema_version`, typed
/// [`DrillFacts`], and `infrastructure`/`usage` on each step record.
pub const RUN_RECORD_SCHEMA: u32 = 2;

/// Verdict of a whole drill. Rolled up conservatively (Sonobuoy-style): any failed step fails
/// the drill, and a drill whose steps never ran is `Unknown`, never `Passed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every step succeeded (passed, or resumed from an earlier attempt).
    Passed,
    /// At least one step failed, timed out, or a target (RTO/RPO) was missed.
    Failed,
    /// Stopped by SIGINT/SIGTERM; the state can be resumed.
    Interrupted,
    /// Still running, or nothing ran.
    Unknown,
}

/// Verdict of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Ran and every check held.
    Passed,
    /// Ran and a check failed, or the step could not do its job; `message` says why.
    Failed,
    /// The step's timeout (from the scenario) ran out.
    TimedOut,
    /// Stopped by a signal while running.
    Interrupted,
    /// Not run because an earlier step failed (or the scenario skipped it).
    Skipped,
    /// Completed in an earlier attempt; taken over from the resumed state.
    Resumed,
}

impl StepStatus {
    /// Whether the step counts as a success in the roll-up.
    pub fn is_success(self) -> bool {
        matches!(self, StepStatus::Passed | StepStatus::Resumed)
    }
}

/// One verified fact inside a step ("backup cfg present in S3", "sha256 of sentinel-1.bin").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRecord {
    /// Short stable name, e.g. `s3-backup-cfg-present`.
    pub name: String,
    /// Whether what was found matched what was expected.
    pub passed: bool,
    /// What the check expected, in words a user can act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What it found instead (or confirmed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    /// Monotonic time the check took, seconds.
    #[serde(default)]
    pub seconds: f64,
}

/// The record of one step of the scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Name unique within the scenario (defaults to the kind), e.g. `backup`.
    pub name: String,
    /// Step kind from the step library, e.g. `write-sentinel`.
    pub kind: String,
    /// The step's verdict.
    pub status: StepStatus,
    /// Wall-clock start, UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// Monotonic duration, seconds.
    #[serde(default)]
    pub seconds: f64,
    /// The checks the step made, in the order it made them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckRecord>,
    /// Why the step failed: what was expected, what was found, what to look at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Evidence gathered on failure: object status, recent events, Job logs (already redacted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<String>,
    /// Tail of a hook's output (already redacted), for the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// The step failed reaching the cluster or the backup target, not on a check of the
    /// system (the CLI exits 3 for it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub infrastructure: bool,
    /// The step failed on a usage or configuration error found while running (a guard, a
    /// missing tool or kubeconfig file); outranks `infrastructure` (the CLI exits 2).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub usage: bool,
}

impl StepRecord {
    /// The record of a step that did not run (skipped, or interrupted before it started).
    pub fn not_run(name: &str, kind: &str, status: StepStatus, message: Option<String>) -> Self {
        StepRecord {
            name: name.to_string(),
            kind: kind.to_string(),
            status,
            started_at: None,
            seconds: 0.0,
            checks: Vec::new(),
            message,
            diagnostics: Vec::new(),
            output: None,
            infrastructure: false,
            usage: false,
        }
    }
}

/// Duration of one named phase of the recovery (destroy, rebuild, api-ready, …), seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseTiming {
    /// Phase name, e.g. `destroy`, `api-ready`, `gate-vault`.
    pub phase: String,
    /// Monotonic duration of the phase, seconds.
    pub seconds: f64,
}

/// The verification of one volume's backup read from the backup target alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupVerification {
    /// Longhorn volume name as the backup target knows it.
    pub volume: String,
    /// Backup name (`backup-…`) that was verified.
    pub backup: String,
    /// Blocks downloaded, decompressed and checked (and files read), or only the structure.
    pub deep: bool,
    /// Whether the backup passed every check (`problems` is empty).
    pub success: bool,
    /// Bytes of the volume image checked block by block (0 for a structural check).
    pub verified_bytes: u64,
    /// Monotonic duration, seconds.
    pub seconds: f64,
    /// What is wrong, naming keys, offsets and paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Stored (compressed) bytes of the distinct blocks the backup lists (deep checks only).
    #[serde(default)]
    pub listed_bytes: u64,
    /// Stored bytes downloaded to verify it (deep: every block; incremental: what changed, the
    /// scrub sample and the file pass's blocks).
    #[serde(default)]
    pub downloaded_bytes: u64,
    /// What an incremental deep verification downloaded and skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental: Option<IncrementalCounts>,
}

/// Counts of one incremental deep verification (distinct block objects and stored bytes).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IncrementalCounts {
    /// Distinct block objects the backup cfg lists.
    pub listed_blocks: u64,
    /// Blocks the ledger of earlier verifications does not trust (new, or another ETag or stored
    /// size), all downloaded.
    pub new_or_changed_blocks: u64,
    /// Stored (compressed) bytes of those new or changed blocks.
    pub new_or_changed_bytes: u64,
    /// Trusted blocks downloaded anyway as the seeded random scrub sample.
    pub scrubbed_blocks: u64,
    /// Stored bytes of the scrub sample.
    pub scrubbed_bytes: u64,
    /// Trusted blocks not downloaded this time.
    pub skipped_blocks: u64,
    /// Stored bytes of the skipped blocks.
    pub skipped_bytes: u64,
    /// Stored bytes the on-demand file pass downloaded.
    pub file_bytes: u64,
    /// Why every block was downloaded, when it was (no ledger, ledger rejected, due).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_pass: Option<String>,
    /// Seed of the scrub sample (replays the same sample).
    pub scrub_seed: u64,
}

/// The whole record of a drill, written as `run.json` locally and beside the backups in S3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// [`RUN_RECORD_SCHEMA`] of the harness that wrote it.
    pub schema_version: u32,
    /// UUID v4 of this drill; also labels every object the drill creates.
    pub run_id: String,
    /// Version of the harness that ran the drill (`CARGO_PKG_VERSION`).
    pub harness_version: String,
    /// Scenario name, e.g. `full-rebuild`.
    pub scenario: String,
    /// Profile name, e.g. `sandbox`.
    pub profile: String,
    /// Cluster name label used in metrics (bounded cardinality: from the profile).
    pub cluster: String,
    /// Wall-clock start of the drill, UTC.
    pub started_at: DateTime<Utc>,
    /// Wall-clock end of the drill, UTC; `None` while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Verdict of the drill (see [`RunRecord::rolled_up_outcome`]).
    pub outcome: Outcome,
    /// One record per scenario step, in scenario order (also the steps that did not run).
    pub steps: Vec<StepRecord>,
    /// Disaster (destroy hook start) to sentinel verified, seconds; measured monotonically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_seconds: Option<f64>,
    /// Data-loss window: the newest write before the disaster minus the last sentinel tick that
    /// survived the restore, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo_seconds: Option<f64>,
    /// The scenario's `rto_target`, seconds; a passed drill whose `rto_seconds` exceeds it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_target_seconds: Option<f64>,
    /// The scenario's `rpo_target`, seconds; a passed drill whose `rpo_seconds` exceeds it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo_target_seconds: Option<f64>,
    /// Timed phases of the recovery, in the order they were recorded.
    #[serde(default)]
    pub phases: Vec<PhaseTiming>,
    /// `Backup.status.url` of the backup this drill made (and expects restored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_url: Option<String>,
    /// Sentinel bytes verified byte for byte after the restore.
    #[serde(default)]
    pub verified_bytes: u64,
    /// Age of each judged volume's newest `Completed` backup, seconds (volume → age), from
    /// `BackupVolume.status.lastBackupAt`; filled by the `backup-freshness` step.
    #[serde(default)]
    pub backup_ages: BTreeMap<String, f64>,
    /// Backups verified from the backup target alone (`verify-backup`), one per volume.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backup_verifications: Vec<BackupVerification>,
    /// `I/N` when this run verified one shard of the volumes (`verify-backup --shard`); labels
    /// its metrics, JUnit and Pushgateway group so shards do not clobber each other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Transient faults retried, by kind (`api-503`, `watch-restart`, `s3-503`, …).
    #[serde(default)]
    pub retries: BTreeMap<String, u64>,
    /// Identity of the cluster found at preflight; the destroy step re-checks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<ClusterIdentity>,
    /// Values steps hand to later steps (sentinel volume, backup name, tick times …); saved so
    /// that `--resume` can continue after the runner was lost.
    #[serde(default)]
    pub facts: DrillFacts,
    /// This record stands in for one that could not be redacted: no report may be written from
    /// it (the CLI writes none and exits 1).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub report_withheld: bool,
}

impl RunRecord {
    /// A new, empty record for a drill that is about to start.
    pub fn new(run_id: String, scenario: &str, profile: &str, cluster: &str) -> Self {
        RunRecord {
            schema_version: RUN_RECORD_SCHEMA,
            run_id,
            harness_version: env!("CARGO_PKG_VERSION").to_string(),
            scenario: scenario.to_string(),
            profile: profile.to_string(),
            cluster: cluster.to_string(),
            started_at: Utc::now(),
            finished_at: None,
            outcome: Outcome::Unknown,
            steps: Vec::new(),
            rto_seconds: None,
            rpo_seconds: None,
            rto_target_seconds: None,
            rpo_target_seconds: None,
            phases: Vec::new(),
            backup_url: None,
            verified_bytes: 0,
            backup_ages: BTreeMap::new(),
            backup_verifications: Vec::new(),
            shard: None,
            retries: BTreeMap::new(),
            identity: None,
            facts: DrillFacts::default(),
            report_withheld: false,
        }
    }

    /// Conservative roll-up of the step verdicts: any failure, timeout or interruption wins;
    /// no step at all is `Unknown`.
    pub fn rolled_up_outcome(&self) -> Outcome {
        if self.steps.is_empty() {
            return Outcome::Unknown;
        }
        if self
            .steps
            .iter()
            .any(|s| s.status == StepStatus::Interrupted)
        {
            return Outcome::Interrupted;
        }
        if self
            .steps
            .iter()
            .any(|s| matches!(s.status, StepStatus::Failed | StepStatus::TimedOut))
        {
            return Outcome::Failed;
        }
        if self.steps.iter().all(|s| s.status.is_success()) {
            Outcome::Passed
        } else {
            Outcome::Unknown
        }
    }

    /// The first step that did not succeed, if any.
    pub fn failing_step(&self) -> Option<&StepRecord> {
        self.steps.iter().find(|s| {
            matches!(
                s.status,
                StepStatus::Failed | StepStatus::TimedOut | StepStatus::Interrupted
            )
        })
    }
}
