//! The simulated Longhorn admission webhook (`mutator.longhorn.io`, `validator.longhorn.io`).
//!
//! Runs for writes from API clients only (controllers write around it, as the real webhook only
//! sees API requests). Rules per release ([`LonghornVersion`]), each from longhorn-manager's
//! `webhook/resources/<kind>/mutator.go` at that release's tag:
//! - Volume create with `spec.fromBackup`: 1.7 gets the BackupVolume *by name* first, then the
//!   Backup (longhorn-manager@v1.7.3:webhook/resources/volume/mutator.go); 1.8+ gets the Backup,
//!   then the BackupVolume by the labels `backup-target=<backup.status.backupTargetName>`,
//!   `backup-volume=<vol>` (longhorn-manager@v1.9.1:webhook/resources/volume/mutator.go,
//!   longhorn-manager@v1.9.1:datastore/longhorn.go `GetBackupVolumeByBackupTargetAndVolumeRO`).
//!   Denials are 422 with Longhorn's wording; `spec.size` is taken from the Backup's
//!   `status.volumeSize`; labels `backup-volume` (and, 1.8+, `backup-target`,
//!   `spec.backupTargetName`) are set. Every Volume create gets `spec.backupCompressionMethod`
//!   from the Setting `backup-compression-method` when empty
//!   (longhorn-manager@v1.7.1:webhook/resources/volume/mutator.go), and on 1.10
//!   `spec.backupBlockSize` from the Setting `default-backup-block-size` (MiB)
//!   (longhorn-manager@v1.10.1:webhook/resources/volume/mutator.go).
//! - Snapshot create: label `longhornvolume=<spec.volume>`.
//! - Backup create: see [`admit_backup`].

use std::sync::{Arc, Weak};

use serde_json::{json, Value};

use dr_backupstore::decode_backup_url;

use super::context::{longhorn_setting, DEFAULT_BACKUP_TARGET, LONGHORN_NAMESPACE};
use super::object::{label, name, set_label, str_at};
use super::version::LonghornVersion;
use crate::api::resources::{LH_BACKUPS, LH_BACKUPVOLUMES, LH_SNAPSHOTS, LH_VOLUMES};
use crate::api::{Admission, ApiError, Operation, ResourceType, Store};

/// One MiB, the unit of the `default-backup-block-size` Setting.
const MIB: u64 = 1024 * 1024;

fn denied(webhook: &str, msg: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        422,
        "Invalid",
        format!("admission webhook \"{webhook}\" denied the request: {msg}"),
    )
}

/// What kube-apiserver answers when the mutating webhook's handler panics: the webhook server
/// (wrangler's router, no recovery) drops the connection, the call fails with `EOF`, and the
/// `Fail` failure policy (longhorn-manager@v1.9.1:webhook/server/server.go `failPolicyFail`,
/// default 10 s timeout) turns that into a 500 InternalError. The URL's parts, same release:
/// service `longhorn-admission-webhook` (types/webhook.go `AdmissionWebhookServiceName`), port
/// 9502 (types/types.go `DefaultAdmissionWebhookPort`), path `/v1/webhook/mutation`
/// (server.go `mutationPath`, webhook/admission/admission.go `AdmissionTypeMutation`).
fn mutator_crashed() -> ApiError {
    ApiError::new(
        500,
        "InternalError",
        "Internal error occurred: failed calling webhook \"mutator.longhorn.io\": failed to call webhook: Post \"https://longhorn-admission-webhook.longhorn-system.svc:9502/v1/webhook/mutation?timeout=10s\": EOF",
    )
}

/// The BackupVolume object for backup volume `vol` at the default target: by the labels
/// `backup-volume` (or `spec.volumeName`) on 1.8+, by name on 1.7 (sources in the module docs).
pub fn find_backup_volume(store: &Store, vol: &str, version: LonghornVersion) -> Option<Value> {
    let all = store.list(&LH_BACKUPVOLUMES, Some(LONGHORN_NAMESPACE));
    if version.multiple_backup_targets() {
        all.into_iter().find(|bv| {
            label(bv, "backup-volume") == Some(vol) || str_at(bv, "/spec/volumeName") == Some(vol)
        })
    } else {
        all.into_iter().find(|bv| name(bv) == vol)
    }
}

/// Builds the webhook over a store. Holds the store weakly: the store owns its hooks.
pub fn longhorn_webhook(store: &Arc<Store>, version: LonghornVersion) -> Admission {
    let store: Weak<Store> = Arc::downgrade(store);
    Arc::new(
        move |rt: &'static ResourceType, op: Operation, obj: &mut Value, _old: Option<&Value>| {
            if op != Operation::Create {
                return Ok(());
            }
            let Some(store) = store.upgrade() else {
                return Ok(());
            };
            if std::ptr::eq(rt, &LH_VOLUMES) {
                admit_volume(&store, version, obj)
            } else if std::ptr::eq(rt, &LH_SNAPSHOTS) {
                if let Some(vol) = str_at(obj, "/spec/volume").map(str::to_string) {
                    set_label(obj, "longhornvolume", &vol);
                }
                Ok(())
            } else if std::ptr::eq(rt, &LH_BACKUPS) {
                admit_backup(&store, version, obj)
            } else {
                Ok(())
            }
        },
    )
}

fn admit_volume(store: &Store, version: LonghornVersion, obj: &mut Value) -> Result<(), ApiError> {
    default_backup_settings(store, version, obj);
    let Some(url) = str_at(obj, "/spec/fromBackup")
        .filter(|u| !u.is_empty())
        .map(str::to_string)
    else {
        return Ok(());
    };
    let parsed = decode_backup_url(&url).map_err(|e| {
        denied(
            "mutator.longhorn.io",
            format!("cannot get backup and volume name from backup URL {url}: {e}"),
        )
    })?;
    let backup_missing = || {
        denied(
            "mutator.longhorn.io",
            format!(
                "cannot get backup {}: backup.longhorn.io \"{}\" not found",
                parsed.backup, parsed.backup
            ),
        )
    };
    let backup = if version.multiple_backup_targets() {
        let backup = store
            .get(&LH_BACKUPS, Some(LONGHORN_NAMESPACE), &parsed.backup)
            .ok_or_else(backup_missing)?;
        let target = str_at(&backup, "/status/backupTargetName").unwrap_or("");
        if target.is_empty() {
            return Err(denied(
                "mutator.longhorn.io",
                format!(
                    "cannot get backup volume for backup target  and volume {}: backup target name and volume name cannot be empty",
                    parsed.volume
                ),
            ));
        }
        if find_backup_volume(store, &parsed.volume, version).is_none() {
            return Err(denied(
                "mutator.longhorn.io",
                format!(
                    "cannot get backup volume for backup target {target} and volume {}: backupVolumes \"\" not found",
                    parsed.volume
                ),
            ));
        }
        backup
    } else {
        if find_backup_volume(store, &parsed.volume, version).is_none() {
            return Err(denied(
                "mutator.longhorn.io",
                format!(
                    "cannot get backup volume {}: backupvolume.longhorn.io \"{}\" not found",
                    parsed.volume, parsed.volume
                ),
            ));
        }
        store
            .get(&LH_BACKUPS, Some(LONGHORN_NAMESPACE), &parsed.backup)
            .ok_or_else(backup_missing)?
    };
    if let Some(size) = str_at(&backup, "/status/volumeSize").filter(|s| !s.is_empty()) {
        obj["spec"]["size"] = json!(size);
    }
    set_label(obj, "backup-volume", &parsed.volume);
    if version.multiple_backup_targets() {
        let target = str_at(&backup, "/status/backupTargetName")
            .unwrap_or(DEFAULT_BACKUP_TARGET)
            .to_string();
        set_label(obj, "backup-target", &target);
        obj["spec"]["backupTargetName"] = json!(target);
    }
    Ok(())
}

/// `spec.backupCompressionMethod` and (1.10) `spec.backupBlockSize` defaults of a new Volume.
fn default_backup_settings(store: &Store, version: LonghornVersion, obj: &mut Value) {
    if !obj.get("spec").is_some_and(Value::is_object) {
        return;
    }
    if str_at(obj, "/spec/backupCompressionMethod").is_none_or(str::is_empty) {
        let method = longhorn_setting(store, "backup-compression-method")
            .unwrap_or_else(|| "lz4".to_string());
        obj["spec"]["backupCompressionMethod"] = json!(method);
    }
    if version.supports_backup_block_size() {
        let given = obj
            .pointer("/spec/backupBlockSize")
            .map(|v| match v {
                Value::String(s) => s.parse::<u64>().unwrap_or(0),
                other => other.as_u64().unwrap_or(0),
            })
            .unwrap_or(0);
        if given == 0 {
            let mib = longhorn_setting(store, "default-backup-block-size")
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(2);
            obj["spec"]["backupBlockSize"] = json!((mib * MIB).to_string());
        }
    }
}

/// Backup create, per release:
/// - 1.7–1.9 read the bare label `backup-volume` first; without it the mutator wraps a nil
///   error (`errors.Wrapf(err, "cannot find the backup volume label for backup %v")` with `err`
///   nil returns nil) and panics on `.Error()`, so the API answers a 500 "failed calling webhook
///   … EOF" rather than the message in the code (longhorn-manager@v1.9.1:webhook/resources/backup/mutator.go;
///   longhorn/longhorn#13722).
/// - 1.10 takes the volume from `spec.snapshotName`'s Snapshot when the label is missing and
///   sets the label (longhorn-manager@v1.10.1:webhook/resources/backup/mutator.go); with neither
///   it panics the same way. It also copies the Volume's `spec.backupBlockSize` to the Backup.
/// - 1.8+ set label `backup-target` from the Volume's `spec.backupTargetName` when missing.
/// - The sandbox additionally requires an existing Snapshot (its backup controller needs one).
///
/// # Errors
/// A 500 `InternalError` ("failed calling webhook … EOF") where the real mutator panics; a 422
/// `Invalid` ("admission webhook … denied the request: …") when the snapshot or its volume does
/// not exist or `spec.snapshotName` is empty.
pub fn admit_backup(
    store: &Store,
    version: LonghornVersion,
    obj: &mut Value,
) -> Result<(), ApiError> {
    let snap = str_at(obj, "/spec/snapshotName").unwrap_or("").to_string();
    let labelled = label(obj, "backup-volume").map(str::to_string);
    let vol = match labelled {
        Some(v) => v,
        None if version.backup_needs_volume_label() || snap.is_empty() => {
            return Err(mutator_crashed());
        }
        None => {
            let snapshot = store
                .get(&LH_SNAPSHOTS, Some(LONGHORN_NAMESPACE), &snap)
                .ok_or_else(|| {
                    denied(
                        "mutator.longhorn.io",
                        format!(
                            "failed to get the snapshot {snap}: snapshot.longhorn.io \"{snap}\" not found"
                        ),
                    )
                })?;
            let vol = str_at(&snapshot, "/spec/volume").unwrap_or("").to_string();
            if store
                .get(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), &vol)
                .is_none()
            {
                return Err(denied(
                    "mutator.longhorn.io",
                    format!(
                        "failed to get the volume {vol} of the snapshot {snap} of the backup {}: volume.longhorn.io \"{vol}\" not found",
                        name(obj)
                    ),
                ));
            }
            set_label(obj, "backup-volume", &vol);
            vol
        }
    };
    if snap.is_empty() {
        // Backups synced from the target carry no snapshot; clients must name one
        return Err(denied(
            "validator.longhorn.io",
            "spec.snapshotName is required",
        ));
    }
    if store
        .get(&LH_SNAPSHOTS, Some(LONGHORN_NAMESPACE), &snap)
        .is_none()
    {
        return Err(denied(
            "validator.longhorn.io",
            format!("failed to get snapshot {snap}: snapshots.longhorn.io \"{snap}\" not found"),
        ));
    }
    let volume = store.get(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), &vol);
    if version.multiple_backup_targets() && label(obj, "backup-target").is_none() {
        let Some(volume) = volume.as_ref() else {
            return Err(denied(
                "mutator.longhorn.io",
                format!(
                    "failed to get the volume {vol} of backup {}: volume.longhorn.io \"{vol}\" not found",
                    name(obj)
                ),
            ));
        };
        let target = str_at(volume, "/spec/backupTargetName")
            .filter(|t| !t.is_empty())
            .unwrap_or(DEFAULT_BACKUP_TARGET)
            .to_string();
        set_label(obj, "backup-target", &target);
    }
    if version.supports_backup_block_size() {
        if let Some(bs) = volume
            .as_ref()
            .and_then(|v| v.pointer("/spec/backupBlockSize"))
        {
            obj["spec"]["backupBlockSize"] = bs.clone();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_snapshot() -> Arc<Store> {
        let store = Store::new();
        store
            .create(
                &crate::api::resources::NAMESPACES,
                None,
                json!({"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": LONGHORN_NAMESPACE}}),
            )
            .expect("namespace");
        store
            .create(
                &LH_VOLUMES,
                Some(LONGHORN_NAMESPACE),
                json!({"apiVersion": "longhorn.io/v1beta2", "kind": "Volume",
                       "metadata": {"name": "vol", "namespace": LONGHORN_NAMESPACE},
                       "spec": {"size": "1073741824", "backupBlockSize": "16777216"}}),
            )
            .expect("volume");
        store
            .create(
                &LH_SNAPSHOTS,
                Some(LONGHORN_NAMESPACE),
                json!({"apiVersion": "longhorn.io/v1beta2", "kind": "Snapshot",
                       "metadata": {"name": "snap", "namespace": LONGHORN_NAMESPACE},
                       "spec": {"volume": "vol"}}),
            )
            .expect("snapshot");
        store
    }

    fn unlabelled_backup() -> Value {
        json!({"apiVersion": "longhorn.io/v1beta2", "kind": "Backup",
               "metadata": {"name": "b", "namespace": LONGHORN_NAMESPACE},
               "spec": {"snapshotName": "snap"}})
    }

    #[test]
    fn the_backup_label_rule_per_release() {
        let store = store_with_snapshot();
        for v in LonghornVersion::ALL {
            let mut obj = unlabelled_backup();
            let result = admit_backup(&store, v, &mut obj);
            if v.backup_needs_volume_label() {
                let err = result.expect_err("refused");
                assert_eq!(err.code, 500, "{v}");
                assert!(
                    err.message.contains("mutator.longhorn.io") && err.message.ends_with("EOF")
                );
            } else {
                result.expect("1.10 derives the label");
                assert_eq!(label(&obj, "backup-volume"), Some("vol"));
                assert_eq!(label(&obj, "backup-target"), Some("default"));
                assert_eq!(obj["spec"]["backupBlockSize"], "16777216");
            }
            let mut labelled = unlabelled_backup();
            set_label(&mut labelled, "backup-volume", "vol");
            admit_backup(&store, v, &mut labelled).expect("a labelled Backup is accepted");
            assert_eq!(
                label(&labelled, "backup-target").is_some(),
                v.multiple_backup_targets(),
                "{v}"
            );
        }
        // 1.10 without a snapshot name panics too
        let mut bare = json!({"metadata": {"name": "b2"}, "spec": {}});
        let err = admit_backup(&store, LonghornVersion::V1_10_1, &mut bare).expect_err("refused");
        assert_eq!(err.code, 500);
    }
}
