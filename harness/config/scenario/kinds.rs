//! The step library's kind table: every `kind = "…"` a scenario may name, the Rust type of its
//! options and its default timeout. [`StepSpec`] is generated from one line per kind, so the
//! kind name, the variant and the timeout cannot drift apart.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::checks::CheckStep;
use super::gates::GatesStep;
use super::options::*;

/// Declares the step library: one line per kind (variant, struct, kind name, default timeout
/// in seconds). Adding a kind = one line here + one options struct (in `options.rs`, or a file of its own
/// when it has rules of its own, as `checks.rs` and `gates.rs`) + a case in the unit tests.
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
            pub(super) fn from_value(
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
