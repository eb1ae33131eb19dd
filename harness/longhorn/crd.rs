//! Typed views of the Longhorn `longhorn.io/v1beta2` custom resources the harness reads and writes.
//!
//! Only the fields a drill needs are typed; every struct tolerates unknown fields so one build
//! works against Longhorn 1.7 through 1.10. Field names are spelled as Longhorn's CRDs spell them
//! (longhorn-manager `k8s/pkg/apis/longhorn/v1beta2`, tags v1.7.0–v1.10.0; summarised in
//! shared/longhorn-facts.md §2).

use std::collections::BTreeMap;

use kube::CustomResource;
use serde::{Deserialize, Serialize};

/// `Volume.spec` (longhorn-manager v1beta2 `VolumeSpec`).
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "longhorn.io",
    version = "v1beta2",
    kind = "Volume",
    namespaced,
    status = "VolumeStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSpec {
    /// Size in bytes, as a string (`"1073741824"`); the webhook replaces it with the backup's
    /// `volumeSize` on restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// `Backup.status.url` to restore from; empty for a fresh volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_backup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_replicas: Option<i64>,
    /// `rwo` or `rwx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontend: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_engine: Option<String>,
    /// Longhorn 1.8+: which BackupTarget the volume backs up to (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_target_name: Option<String>,
}

/// `Volume.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeStatus {
    /// `creating`, `attached`, `detached`, `attaching`, `detaching`, `deleting`.
    #[serde(default)]
    pub state: String,
    /// `healthy`, `degraded`, `faulted`, `unknown`.
    #[serde(default)]
    pub robustness: String,
    /// True while a `fromBackup` restore is still running.
    #[serde(default)]
    pub restore_required: bool,
    #[serde(default)]
    pub restore_initiated: bool,
    #[serde(default)]
    pub last_backup: String,
    #[serde(default)]
    pub last_backup_at: String,
    #[serde(rename = "currentNodeID", default)]
    pub current_node_id: String,
    #[serde(default)]
    pub conditions: Vec<LonghornCondition>,
    #[serde(default)]
    pub kubernetes_status: KubernetesStatus,
}

/// `Volume.status.kubernetesStatus`: which PV/PVC Longhorn sees on the volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesStatus {
    #[serde(default)]
    pub pv_name: String,
    #[serde(default)]
    pub pv_status: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub pvc_name: String,
}

/// A Longhorn status condition (`type`, `status`, `reason`, `message`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LonghornCondition {
    #[serde(rename = "type", default)]
    pub type_: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
}

/// `Snapshot.spec` (`lhsnap`).
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "longhorn.io",
    version = "v1beta2",
    kind = "Snapshot",
    namespaced,
    status = "SnapshotStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotSpec {
    /// Name of the Longhorn Volume to snapshot.
    pub volume: String,
    /// Must be true for Longhorn to take a new snapshot (false only adopts an existing one).
    #[serde(default)]
    pub create_snapshot: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// `Snapshot.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotStatus {
    #[serde(default)]
    pub ready_to_use: bool,
    #[serde(default)]
    pub creation_time: String,
    #[serde(default)]
    pub error: String,
    /// Bytes, as a number.
    #[serde(default)]
    pub size: i64,
}

/// `Backup.spec` (`lhb`).
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "longhorn.io",
    version = "v1beta2",
    kind = "Backup",
    namespaced,
    status = "BackupStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct BackupSpec {
    /// Snapshot to back up; empty for Backup objects synced from the backup target.
    #[serde(default)]
    pub snapshot_name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `full` or `incremental` (Longhorn 1.7+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_mode: Option<String>,
}

/// `Backup.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatus {
    /// `""`, `Pending`, `InProgress`, `Completed`, `Error`, `Unknown`, `Deleting` (1.8+).
    #[serde(default)]
    pub state: String,
    /// 0–100.
    #[serde(default)]
    pub progress: i64,
    #[serde(default)]
    pub error: String,
    /// `s3://bucket@region/?backup=<name>&volume=<volume>`; use verbatim.
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub volume_name: String,
    /// Bytes, as a string.
    #[serde(default)]
    pub volume_size: String,
    #[serde(default)]
    pub snapshot_name: String,
    #[serde(default)]
    pub snapshot_created_at: String,
    #[serde(default)]
    pub backup_created_at: String,
    /// Bytes, as a string.
    #[serde(default)]
    pub size: String,
    #[serde(default)]
    pub compression_method: String,
    #[serde(default)]
    pub backup_target_name: String,
}

/// `BackupVolume` (`lhbv`): one per volume found on the backup target. Named after the volume in
/// Longhorn 1.7; `<volume>-<8 hex>` with `spec.volumeName` and labels from 1.8.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "longhorn.io",
    version = "v1beta2",
    kind = "BackupVolume",
    namespaced,
    status = "BackupVolumeStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct BackupVolumeSpec {
    #[serde(default)]
    pub sync_requested_at: Option<String>,
    /// Longhorn 1.8+.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_name: Option<String>,
    /// Longhorn 1.8+.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_target_name: Option<String>,
}

/// `BackupVolume.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupVolumeStatus {
    #[serde(default)]
    pub last_backup_name: String,
    /// RFC 3339; the snapshot time of the newest backup.
    #[serde(default)]
    pub last_backup_at: String,
    #[serde(default)]
    pub size: String,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub last_synced_at: String,
    #[serde(default)]
    pub storage_class_name: String,
}

/// `BackupTarget` (`lhbt`), normally one named `default`.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "longhorn.io",
    version = "v1beta2",
    kind = "BackupTarget",
    namespaced,
    status = "BackupTargetStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct BackupTargetSpec {
    #[serde(rename = "backupTargetURL", default)]
    pub backup_target_url: String,
    #[serde(default)]
    pub credential_secret: String,
    /// Go duration string, e.g. `"5m0s"`.
    #[serde(default)]
    pub poll_interval: String,
    /// Setting this later than `status.lastSyncedAt` forces a sync of the backup target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_requested_at: Option<String>,
}

/// `BackupTarget.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupTargetStatus {
    #[serde(default)]
    pub available: bool,
    #[serde(default)]
    pub last_synced_at: String,
    #[serde(default)]
    pub conditions: Vec<LonghornCondition>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acronym_fields_are_spelled_as_longhorn_spells_them() {
        let spec = BackupTargetSpec {
            backup_target_url: "s3://b@r/".into(),
            ..Default::default()
        };
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["backupTargetURL"], "s3://b@r/");
        let status: VolumeStatus = serde_json::from_value(
            serde_json::json!({"currentNodeID": "node-1", "restoreRequired": true}),
        )
        .unwrap();
        assert_eq!(status.current_node_id, "node-1");
        assert!(status.restore_required);
    }
}
