//! The simulated Longhorn admission webhook (`mutator.longhorn.io`, `validator.longhorn.io`).
//!
//! Runs for writes from API clients only (controllers write around it, as the real webhook only
//! sees API requests). Rules from longhorn-manager's webhook resources (v1.7/v1.8), and
//! longhorn-facts.md §2 "Restoring from a backup":
//! - Volume create with `spec.fromBackup`: the Backup object named in the URL must exist (1.8+:
//!   and a BackupVolume for the URL's volume), else the request is denied with 422 Invalid and
//!   Longhorn's "failed to get backup…" wording; `spec.size` is overridden with the Backup's
//!   `status.volumeSize`; labels `backup-volume` (and, 1.8+, `backup-target`) are set.
//! - Snapshot create: label `longhornvolume=<spec.volume>`.
//! - Backup create: `spec.snapshotName` must name an existing Snapshot; the Backup gets label
//!   `backup-volume=<the snapshot's volume>`.

use std::sync::{Arc, Weak};

use serde_json::{json, Value};

use super::naming::{parse_backup_url, LonghornNaming};
use super::object::{label, name, set_label, str_at};
use super::{DEFAULT_BACKUP_TARGET, LONGHORN_NAMESPACE};
use crate::api::resources::{LH_BACKUPS, LH_BACKUPVOLUMES, LH_SNAPSHOTS, LH_VOLUMES};
use crate::api::{Admission, ApiError, Operation, ResourceType, Store};

fn denied(webhook: &str, msg: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        422,
        "Invalid",
        format!("admission webhook \"{webhook}\" denied the request: {msg}"),
    )
}

/// The BackupVolume object for backup volume `vol` at the default target, found by label or
/// `spec.volumeName` (1.8+) or by name (1.7).
pub fn find_backup_volume(store: &Store, vol: &str, naming: LonghornNaming) -> Option<Value> {
    let all = store.list(&LH_BACKUPVOLUMES, Some(LONGHORN_NAMESPACE));
    match naming {
        LonghornNaming::V1_7 => all.into_iter().find(|bv| name(bv) == vol),
        LonghornNaming::V1_8 => all.into_iter().find(|bv| {
            label(bv, "backup-volume") == Some(vol) || str_at(bv, "/spec/volumeName") == Some(vol)
        }),
    }
}

/// Builds the webhook over a store. Holds the store weakly: the store owns its hooks.
pub fn longhorn_webhook(store: &Arc<Store>, naming: LonghornNaming) -> Admission {
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
                admit_volume(&store, naming, obj)
            } else if std::ptr::eq(rt, &LH_SNAPSHOTS) {
                if let Some(vol) = str_at(obj, "/spec/volume").map(str::to_string) {
                    set_label(obj, "longhornvolume", &vol);
                }
                Ok(())
            } else if std::ptr::eq(rt, &LH_BACKUPS) {
                admit_backup(&store, obj)
            } else {
                Ok(())
            }
        },
    )
}

fn admit_volume(store: &Store, naming: LonghornNaming, obj: &mut Value) -> Result<(), ApiError> {
    let Some(url) = str_at(obj, "/spec/fromBackup")
        .filter(|u| !u.is_empty())
        .map(str::to_string)
    else {
        return Ok(());
    };
    let parsed = parse_backup_url(&url)
        .map_err(|e| denied("mutator.longhorn.io", format!("invalid fromBackup: {e}")))?;
    if naming == LonghornNaming::V1_8 && find_backup_volume(store, &parsed.volume, naming).is_none()
    {
        return Err(denied(
            "mutator.longhorn.io",
            format!(
                "failed to get backup volume for volume {} of backup target {DEFAULT_BACKUP_TARGET}: backupvolumes.longhorn.io with label backup-volume={} not found",
                parsed.volume, parsed.volume
            ),
        ));
    }
    let backup = store
        .get(&LH_BACKUPS, Some(LONGHORN_NAMESPACE), &parsed.backup)
        .ok_or_else(|| {
            denied(
                "mutator.longhorn.io",
                format!(
                    "failed to get backup {}: backups.longhorn.io \"{}\" not found",
                    parsed.backup, parsed.backup
                ),
            )
        })?;
    if let Some(size) = str_at(&backup, "/status/volumeSize").filter(|s| !s.is_empty()) {
        obj["spec"]["size"] = json!(size);
    }
    set_label(obj, "backup-volume", &parsed.volume);
    if naming == LonghornNaming::V1_8 {
        set_label(obj, "backup-target", DEFAULT_BACKUP_TARGET);
        if obj.pointer("/spec/backupTargetName").is_none() {
            obj["spec"]["backupTargetName"] = json!(DEFAULT_BACKUP_TARGET);
        }
    }
    Ok(())
}

fn admit_backup(store: &Store, obj: &mut Value) -> Result<(), ApiError> {
    let snap = str_at(obj, "/spec/snapshotName").unwrap_or("").to_string();
    if snap.is_empty() {
        // Backups synced from the target carry no snapshot; clients must name one
        return Err(denied(
            "validator.longhorn.io",
            "spec.snapshotName is required",
        ));
    }
    let snapshot = store
        .get(&LH_SNAPSHOTS, Some(LONGHORN_NAMESPACE), &snap)
        .ok_or_else(|| {
            denied(
                "validator.longhorn.io",
                format!(
                    "failed to get snapshot {snap}: snapshots.longhorn.io \"{snap}\" not found"
                ),
            )
        })?;
    if let Some(vol) = str_at(&snapshot, "/spec/volume").map(str::to_string) {
        if label(obj, "backup-volume").is_none() {
            set_label(obj, "backup-volume", &vol);
        }
    }
    Ok(())
}
