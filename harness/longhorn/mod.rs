//! Longhorn: typed resources, the names and labels Longhorn uses, and version-tolerant lookups.

pub mod crd;
pub mod lookup;
pub mod restore;
pub mod version;

pub use crd::*;

/// Namespace Longhorn runs in by default.
pub const NAMESPACE: &str = "longhorn-system";
/// Label on Backup and (1.8+) BackupVolume objects naming the volume (longhorn-manager 1.8
/// `types.LonghornLabelBackupVolume`, a bare key).
pub const LABEL_BACKUP_VOLUME: &str = "backup-volume";
/// Label naming the BackupTarget (1.8+).
pub const LABEL_BACKUP_TARGET: &str = "backup-target";
/// With this label present (any value; the harness writes `"true"`), deleting a Backup or
/// BackupVolume object leaves the data on the backup target alone — from Longhorn 1.7.2 only
/// (longhorn-manager@v1.7.2:datastore/longhorn.go `IsLabelLonghornDeleteCustomResourceOnlyExisting`;
/// see [`version::LonghornVersion::has_cr_only_delete`]). The harness never deletes one without it.
pub const LABEL_DELETE_CR_ONLY: &str = "longhorn.io/delete-custom-resource-only";
/// `Backup.status.state` of a backup whose upload finished; its `status.url` is then the
/// address to restore from (longhorn-manager@v1.9.1:k8s/pkg/apis/longhorn/v1beta2/backup.go
/// `BackupStateCompleted`).
pub const BACKUP_COMPLETED: &str = "Completed";
/// `Backup.status.state` of a failed backup (final; the reason is in `status.error`)
/// (longhorn-manager@v1.9.1:k8s/pkg/apis/longhorn/v1beta2/backup.go `BackupStateError`).
pub const BACKUP_ERROR: &str = "Error";
/// The engine reported a state Longhorn does not know; final like `Error`
/// (longhorn-manager@v1.9.1:engineapi/backups.go `ConvertEngineBackupState`,
/// controller/backup_controller.go `backupInFinalState`).
pub const BACKUP_UNKNOWN: &str = "Unknown";

/// Whether a Backup in `state` will not change any more by itself: `Completed`, `Error`,
/// `Unknown` (longhorn-manager@v1.7.1..v1.10.1:controller/backup_controller.go
/// `backupInFinalState`), and `Deleting`, which that function lists from v1.8.0
/// (k8s/pkg/apis/longhorn/v1beta2/backup.go `BackupStateDeleting`; v1.7.x has no such Backup
/// state, so the extra arm never matches there).
pub fn backup_state_is_final(state: &str) -> bool {
    matches!(
        state,
        BACKUP_COMPLETED | BACKUP_ERROR | BACKUP_UNKNOWN | "Deleting"
    )
}

/// Parses a Longhorn/Kubernetes `metav1.Time` (RFC 3339, whole seconds on the wire); None for
/// `""` (the harness's reading of `null`) or anything unparsable.
pub fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// Whether a volume's `status.robustness` is acceptable in its `status.state`: `healthy`, or
/// `unknown` while not attached — Longhorn reports `unknown` for a detached volume because no
/// replica runs (longhorn-manager@v1.9.1:controller/volume_controller.go
/// `closeVolumeDependentResources` sets `VolumeRobustnessUnknown` unless faulted).
/// `degraded` and `faulted` never are.
pub fn robustness_ok(state: &str, robustness: &str) -> bool {
    match robustness {
        "healthy" => true,
        "unknown" => state != "attached",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detached_unknown_is_fine_attached_unknown_is_not() {
        assert!(robustness_ok("detached", "unknown"));
        assert!(robustness_ok("attached", "healthy"));
        assert!(!robustness_ok("attached", "unknown"));
        for bad in ["degraded", "faulted"] {
            assert!(!robustness_ok("detached", bad));
            assert!(!robustness_ok("attached", bad));
        }
    }

    #[test]
    fn unknown_and_deleting_are_final_backup_states() {
        assert!(backup_state_is_final("Unknown"));
        assert!(!backup_state_is_final("InProgress"));
        assert!(!backup_state_is_final(""));
    }
}
