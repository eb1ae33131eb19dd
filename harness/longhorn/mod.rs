//! Longhorn: typed resources, the names and labels Longhorn uses, and version-tolerant lookups.

pub mod crd;
pub mod lookup;

pub use crd::*;

/// Namespace Longhorn runs in by default.
pub const NAMESPACE: &str = "longhorn-system";
/// Label on Backup and (1.8+) BackupVolume objects naming the volume (longhorn-manager 1.8
/// `types.LonghornLabelBackupVolume`, a bare key).
pub const LABEL_BACKUP_VOLUME: &str = "backup-volume";
/// Label naming the BackupTarget (1.8+).
pub const LABEL_BACKUP_TARGET: &str = "backup-target";
/// With this label set to `"true"`, deleting a Backup/BackupVolume object leaves the data on the
/// backup target alone (Longhorn 1.7.2+). The harness never deletes one without it.
pub const LABEL_DELETE_CR_ONLY: &str = "longhorn.io/delete-custom-resource-only";
/// Backup states (`Backup.status.state`).
pub const BACKUP_COMPLETED: &str = "Completed";
pub const BACKUP_ERROR: &str = "Error";
