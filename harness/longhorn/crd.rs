//! Typed views of the Longhorn `longhorn.io/v1beta2` custom resources the harness reads and writes.
//!
//! Only the fields a drill needs are typed; every struct tolerates unknown fields so one build
//! works against Longhorn 1.7 through 1.10. Field names are spelled as Longhorn's CRDs spell them
//! (longhorn-manager `k8s/pkg/apis/longhorn/v1beta2`, tags v1.7.0–v1.10.0; summarised in
//! shared/longhorn-facts.md §2).

use std::collections::BTreeMap;

use kube::CustomResource;
use serde::{Deserialize, Deserializer, Serialize};

/// Reads a field that Longhorn may send as JSON `null` as its type's default.
///
/// Longhorn's CRDs mark many status fields `nullable: true` (`lastSyncedAt`, `conditions`,
/// `labels`, `messages` …; `shared/longhorn-crds/crds-v*.yaml`) and a Go `metav1.Time` zero value
/// or nil map/slice is serialised as `null` (e.g. `BackupVolume.status.lastSyncedAt` before the
/// first sync). `#[serde(default)]` alone only covers an absent key, so one such object used to
/// fail a whole list.
///
/// # Errors
/// Whatever `T` rejects other than `null`.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

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
    /// Replicas Longhorn keeps of the volume (`numberOfReplicas`); `None` or 0 = the
    /// `default-replica-count` setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_replicas: Option<i64>,
    /// `rwo` or `rwx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_mode: Option<String>,
    /// How the volume is exposed on its node: `blockdev`, `iscsi`, `nvmf`, `ublk` (1.9+) or `""`
    /// (`longhorn-manager@v1.9.1:k8s/pkg/apis/longhorn/v1beta2/volume.go` `VolumeFrontend`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontend: Option<String>,
    /// `v1` (default) or `v2` (SPDK)
    /// (`longhorn-manager@v1.9.1:k8s/pkg/apis/longhorn/v1beta2/volume.go` `DataEngineType`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_engine: Option<String>,
    /// Longhorn 1.8+: which BackupTarget the volume backs up to (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_target_name: Option<String>,
    /// `none`, `lz4` or `gzip`: the compression of this volume's backups. Fixed in the backup
    /// target's `volume.cfg` at the volume's first backup (longhorn-manager@v1.9.1:
    /// k8s/pkg/apis/longhorn/v1beta2/volume.go `BackupCompressionMethod`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_compression_method: Option<String>,
}

/// `Volume.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeStatus {
    /// `creating`, `attached`, `detached`, `attaching`, `detaching`, `deleting`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub state: String,
    /// `healthy`, `degraded`, `faulted`, `unknown`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub robustness: String,
    /// True while a `fromBackup` restore is still running.
    #[serde(default, deserialize_with = "null_as_default")]
    pub restore_required: bool,
    /// Set with `restoreRequired` when the volume controller starts a `fromBackup` restore, and
    /// left set (longhorn-manager@v1.9.1:controller/volume_controller.go).
    #[serde(default, deserialize_with = "null_as_default")]
    pub restore_initiated: bool,
    /// Name of the volume's newest backup, copied from its BackupVolume's `lastBackupName`; empty
    /// when that BackupVolume is gone (longhorn-manager@v1.9.1:controller/volume_controller.go).
    #[serde(default, deserialize_with = "null_as_default")]
    pub last_backup: String,
    /// RFC 3339 snapshot time of that backup, copied from the BackupVolume's `lastBackupAt`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub last_backup_at: String,
    /// The node the volume is attached to; empty when detached.
    #[serde(
        rename = "currentNodeID",
        default,
        deserialize_with = "null_as_default"
    )]
    pub current_node_id: String,
    /// Volume conditions (`Restore`, `Scheduled`, `TooManySnapshots`…); `nullable` in the CRD.
    #[serde(default, deserialize_with = "null_as_default")]
    pub conditions: Vec<LonghornCondition>,
    /// The PV/PVC bound to the volume, as Longhorn sees it.
    #[serde(default, deserialize_with = "null_as_default")]
    pub kubernetes_status: KubernetesStatus,
}

/// `Volume.status.kubernetesStatus`: which PV/PVC Longhorn sees on the volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesStatus {
    /// Name of the PersistentVolume bound to the volume; empty when none.
    #[serde(default, deserialize_with = "null_as_default")]
    pub pv_name: String,
    /// That PV's phase (`Bound`, `Released`…).
    #[serde(default, deserialize_with = "null_as_default")]
    pub pv_status: String,
    /// Namespace of the PVC; kept after the PVC is deleted (Longhorn keeps it as history).
    #[serde(default, deserialize_with = "null_as_default")]
    pub namespace: String,
    /// Name of the PVC; kept after the PVC is deleted.
    #[serde(default, deserialize_with = "null_as_default")]
    pub pvc_name: String,
}

/// A Longhorn status condition (`type`, `status`, `reason`, `message`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LonghornCondition {
    /// The condition's type (`Restore`, `Unavailable`…).
    #[serde(rename = "type", default, deserialize_with = "null_as_default")]
    pub type_: String,
    /// `True`, `False` or `Unknown`
    /// (`longhorn-manager@v1.9.1:k8s/pkg/apis/longhorn/v1beta2/misc.go` `Condition`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub status: String,
    /// One-word CamelCase reason for the last transition.
    #[serde(default, deserialize_with = "null_as_default")]
    pub reason: String,
    /// Human-readable detail of the last transition.
    #[serde(default, deserialize_with = "null_as_default")]
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
    #[serde(default, deserialize_with = "null_as_default")]
    pub create_snapshot: bool,
    /// Labels stored with the snapshot (`nullable` in the CRD).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
}

/// `Snapshot.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotStatus {
    /// True once the snapshot exists in the engine and can be backed up or reverted to.
    #[serde(default, deserialize_with = "null_as_default")]
    pub ready_to_use: bool,
    /// RFC 3339 time the engine took the snapshot.
    #[serde(default, deserialize_with = "null_as_default")]
    pub creation_time: String,
    /// Why the snapshot failed; empty when it did not (`omitempty` upstream).
    #[serde(default, deserialize_with = "null_as_default")]
    pub error: String,
    /// Bytes, as a number.
    #[serde(default, deserialize_with = "null_as_default")]
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
    #[serde(default, deserialize_with = "null_as_default")]
    pub snapshot_name: String,
    /// Labels of the backup; Longhorn stores them in the backup's `backup.cfg` on the target.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
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
    #[serde(default, deserialize_with = "null_as_default")]
    pub state: String,
    /// 0–100.
    #[serde(default, deserialize_with = "null_as_default")]
    pub progress: i64,
    /// Why the backup failed (state `Error`); empty otherwise.
    #[serde(default, deserialize_with = "null_as_default")]
    pub error: String,
    /// `s3://bucket@region/?backup=<name>&volume=<volume>`; use verbatim.
    #[serde(default, deserialize_with = "null_as_default")]
    pub url: String,
    /// The Longhorn volume backed up.
    #[serde(default, deserialize_with = "null_as_default")]
    pub volume_name: String,
    /// Bytes, as a string.
    #[serde(default, deserialize_with = "null_as_default")]
    pub volume_size: String,
    /// The snapshot the backup was taken from.
    #[serde(default, deserialize_with = "null_as_default")]
    pub snapshot_name: String,
    /// RFC 3339 time that snapshot was taken: the recovery point of a restore from this backup.
    #[serde(default, deserialize_with = "null_as_default")]
    pub snapshot_created_at: String,
    /// RFC 3339 time the upload finished.
    #[serde(default, deserialize_with = "null_as_default")]
    pub backup_created_at: String,
    /// Bytes, as a string.
    #[serde(default, deserialize_with = "null_as_default")]
    pub size: String,
    /// `none`, `lz4` or `gzip`
    /// (`longhorn-manager@v1.9.1:k8s/pkg/apis/longhorn/v1beta2/backup.go` `CompressionMethod`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub compression_method: String,
    /// The BackupTarget the backup lives on (Longhorn 1.8+; `default` unless more are
    /// configured; empty on 1.7).
    #[serde(default, deserialize_with = "null_as_default")]
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
    /// Setting this later than `status.lastSyncedAt` asks Longhorn to re-read this volume's
    /// backups from the target (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    /// Name of the newest backup of the volume on the target.
    #[serde(default, deserialize_with = "null_as_default")]
    pub last_backup_name: String,
    /// RFC 3339; the snapshot time of the newest backup.
    #[serde(default, deserialize_with = "null_as_default")]
    pub last_backup_at: String,
    /// The volume's size in bytes, as a string.
    #[serde(default, deserialize_with = "null_as_default")]
    pub size: String,
    /// RFC 3339 creation time of the backup volume on the target.
    #[serde(default, deserialize_with = "null_as_default")]
    pub created_at: String,
    /// RFC 3339 time of the last sync from the target into the cluster; `null` before the first
    /// sync (hence [`null_as_default`]).
    #[serde(default, deserialize_with = "null_as_default")]
    pub last_synced_at: String,
    /// The StorageClass of the PV/PVC the volume was bound to when backed up.
    #[serde(default, deserialize_with = "null_as_default")]
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
    /// Where the backups live: `s3://<bucket>@<region>/<path>` (`backupTargetURL`, acronym as
    /// Longhorn spells it;
    /// `longhorn-manager@v1.9.1:k8s/pkg/apis/longhorn/v1beta2/backuptarget.go`).
    #[serde(
        rename = "backupTargetURL",
        default,
        deserialize_with = "null_as_default"
    )]
    pub backup_target_url: String,
    /// Name of the Secret in `longhorn-system` holding the S3 credentials and endpoint.
    #[serde(default, deserialize_with = "null_as_default")]
    pub credential_secret: String,
    /// Go duration string, e.g. `"5m0s"`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub poll_interval: String,
    /// Setting this later than `status.lastSyncedAt` forces a sync of the backup target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_requested_at: Option<String>,
}

/// `BackupTarget.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupTargetStatus {
    /// Whether Longhorn could reach the target at its last sync.
    #[serde(default, deserialize_with = "null_as_default")]
    pub available: bool,
    /// RFC 3339 time of the controller's last sync with the target; `null` before the first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub last_synced_at: String,
    /// Why the target is unavailable, when it is (`nullable`).
    #[serde(default, deserialize_with = "null_as_default")]
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

    /// Shapes from Longhorn's CRDs (`shared/longhorn-crds/crds-v1.9.1.yaml`): every field marked
    /// `nullable: true` there, sent as `null` the way Longhorn does before a first sync.
    #[test]
    fn nullable_fields_sent_as_null_deserialize() {
        let bv: BackupVolume = serde_json::from_value(serde_json::json!({
            "apiVersion": "longhorn.io/v1beta2", "kind": "BackupVolume",
            "metadata": {"name": "vol-1a2b3c4d", "namespace": "longhorn-system", "labels": null},
            "spec": {"backupTargetName": null, "syncRequestedAt": null, "volumeName": "vol"},
            "status": {"labels": null, "lastModificationTime": null, "lastSyncedAt": null,
                       "messages": null, "lastBackupName": "", "size": null}
        }))
        .unwrap();
        let st = bv.status.unwrap();
        assert_eq!(st.last_synced_at, "");
        assert_eq!(st.size, "");
        assert_eq!(bv.spec.backup_target_name, None);

        let bt: BackupTarget = serde_json::from_value(serde_json::json!({
            "apiVersion": "longhorn.io/v1beta2", "kind": "BackupTarget",
            "metadata": {"name": "default", "namespace": "longhorn-system"},
            "spec": {"backupTargetURL": "s3://b@r/", "credentialSecret": null,
                     "pollInterval": "5m0s", "syncRequestedAt": null},
            "status": {"available": null, "conditions": null, "lastSyncedAt": null}
        }))
        .unwrap();
        let st = bt.status.unwrap();
        assert!(!st.available);
        assert!(st.conditions.is_empty());
        assert_eq!(st.last_synced_at, "");

        let b: Backup = serde_json::from_value(serde_json::json!({
            "apiVersion": "longhorn.io/v1beta2", "kind": "Backup",
            "metadata": {"name": "backup-0123456789abcdef", "namespace": "longhorn-system"},
            "spec": {"snapshotName": "", "labels": null, "syncRequestedAt": null},
            "status": {"state": "", "labels": null, "lastSyncedAt": null, "messages": null,
                       "progress": null, "url": null}
        }))
        .unwrap();
        assert_eq!(b.status.unwrap().state, "");
        assert!(b.spec.labels.is_empty());

        let v: Volume = serde_json::from_value(serde_json::json!({
            "apiVersion": "longhorn.io/v1beta2", "kind": "Volume",
            "metadata": {"name": "vol", "namespace": "longhorn-system"},
            "spec": {"size": "1073741824"},
            "status": {"conditions": null, "state": "detached", "robustness": "unknown",
                       "kubernetesStatus": {"workloadsStatus": null, "pvName": null}}
        }))
        .unwrap();
        assert!(v.status.unwrap().conditions.is_empty());

        let s: Snapshot = serde_json::from_value(serde_json::json!({
            "apiVersion": "longhorn.io/v1beta2", "kind": "Snapshot",
            "metadata": {"name": "snap", "namespace": "longhorn-system"},
            "spec": {"volume": "vol", "labels": null, "createSnapshot": true},
            "status": {"children": null, "labels": null, "readyToUse": true, "size": null}
        }))
        .unwrap();
        assert!(s.spec.labels.is_empty());
    }
}
