//! Longhorn Backup objects (`lhb`): uploading a snapshot to the backup target.
//!
//! The state machine follows longhorn-manager's backup controller (longhorn-facts.md §2):
//! `""` → `Pending` → `InProgress` (`progress` 0..100 while the data plane uploads blocks in the
//! real backupstore layout) → `Completed` with `url`, `volumeName`, `volumeSize`, `snapshotName`,
//! `snapshotCreatedAt`, `backupCreatedAt`, `size`, `compressionMethod` (lz4), `newlyUploadDataSize`
//! (sic), `reUploadedDataSize`, `labels`, `backupTargetName` (1.8+) and the object labels
//! `backup-volume`, `backup-target` (1.8+); failures end in `Error` with `status.error`.
//! `Error` and `Unknown` are final: the controller stops monitoring and only stamps
//! `lastSyncedAt` (longhorn-manager@v1.9.1:controller/backup_controller.go `backupInFinalState`
//! and the `BackupStateError, BackupStateUnknown` case of `reconcile`); `Unknown` is what the
//! monitor records when the engine reports a state it does not know
//! (longhorn-manager@v1.9.1:engineapi/backups.go `ConvertEngineBackupState`).
//!
//! The compression method is the Volume's `spec.backupCompressionMethod` (default: Setting
//! `backup-compression-method`; the writer keeps the one fixed in `volume.cfg` at the first
//! backup). The block size is 2 MiB, except on 1.10 where it is the Backup's (copied from the
//! Volume's) `spec.backupBlockSize` (see [`LonghornVersion::supports_backup_block_size`]).
//!
//! Deleting a Backup object deletes its `backup_<name>.cfg` from S3 (blocks are left for
//! Longhorn's GC) unless the release knows the label `longhorn.io/delete-custom-resource-only`
//! (1.7.2+) and the object carries it with any value
//! ([`LonghornVersion::supports_cr_only_delete`]).
//! Faults: `backup-error`, `backup-stuck`, `backup-unknown`, and the one-shot
//! `block-missing`/`block-corrupted` applied to the next backup that completes.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Value};

use super::context::{
    longhorn_setting, Controller, Ctx, DEFAULT_BACKUP_TARGET, LONGHORN_NAMESPACE,
};
use super::naming::backup_url;
use super::object::{label, name, now_rfc3339, set_label, str_at, uid};
use super::version::LonghornVersion;
use crate::api::resources::{LH_BACKUPS, LH_SNAPSHOTS, LH_VOLUMES};
use crate::api::{EventType, ResourceType, WatchEvent};
use crate::faults::Fault;

/// Label that makes deleting a Backup/BackupVolume object keep the remote data (Longhorn 1.7.2+).
pub const DELETE_CUSTOM_RESOURCE_ONLY: &str = "longhorn.io/delete-custom-resource-only";

/// Whether deleting `obj` (a Backup or BackupVolume) under `version` keeps its remote data:
/// the release knows the label and the object carries its key, whatever the value.
pub fn keeps_remote_data(obj: &Value, version: LonghornVersion) -> bool {
    version.supports_cr_only_delete() && label(obj, DELETE_CUSTOM_RESOURCE_ONLY).is_some()
}

/// Reconciles Longhorn Backups.
#[derive(Default)]
pub struct BackupController {
    in_flight: HashSet<String>,
}

impl Controller for BackupController {
    fn name(&self) -> &'static str {
        "longhorn-backups"
    }

    fn watches(&self) -> &'static [&'static ResourceType] {
        static W: [&ResourceType; 2] = [&LH_BACKUPS, &LH_SNAPSHOTS];
        &W
    }

    fn observe(&mut self, ctx: &Arc<Ctx>, event: &WatchEvent) {
        if event.event_type != EventType::Deleted || !std::ptr::eq(event.resource, &LH_BACKUPS) {
            return;
        }
        let b = &event.object;
        if keeps_remote_data(b, ctx.version) {
            return;
        }
        let vol = str_at(b, "/status/volumeName")
            .or_else(|| label(b, "backup-volume"))
            .unwrap_or("")
            .to_string();
        if vol.is_empty() || str_at(b, "/status/state") != Some("Completed") {
            return;
        }
        let backup = name(b).to_string();
        let task_ctx = ctx.clone();
        ctx.spawn(async move {
            let bs = task_ctx.target.store();
            let key = bs.backup_cfg_key(&vol, &backup);
            match bs.delete_object(&key).await {
                Ok(()) => tracing::info!(%key, "deleted remote backup with its Backup object"),
                Err(e) => tracing::warn!(%key, error = %e, "remote backup not deleted"),
            }
            task_ctx.sync_now.store(true, Ordering::SeqCst);
        });
    }

    fn reconcile(&mut self, ctx: &Arc<Ctx>) {
        let store = &ctx.store;
        let backups = store.list(&LH_BACKUPS, Some(LONGHORN_NAMESPACE));
        for b in &backups {
            let id = uid(b).to_string();
            if !str_at(b, "/status/state").unwrap_or("").is_empty() || self.in_flight.contains(&id)
            {
                continue;
            }
            let backup = name(b).to_string();
            let snap_name = str_at(b, "/spec/snapshotName").unwrap_or("").to_string();
            let snapshot = store.get(&LH_SNAPSHOTS, Some(LONGHORN_NAMESPACE), &snap_name);
            let vol = snapshot
                .as_ref()
                .and_then(|s| str_at(s, "/spec/volume"))
                .or_else(|| label(b, "backup-volume"))
                .unwrap_or("")
                .to_string();
            if snapshot.is_none() || vol.is_empty() {
                let err =
                    format!("failed to get snapshot {snap_name} for backup {backup}: not found");
                set_error(ctx, &backup, &err);
                continue;
            }
            // Longhorn starts the backup only once the snapshot is ready to use, and gives up
            // when it never becomes so (longhorn-manager@v1.9.1:controller/backup_controller.go
            // `checkMonitor`: `WaitForSnapshotMessage`, `FailedWaitingForSnapshotMessage` after
            // `maxCreationRetry`). Starting earlier raced the snapshot's data-plane image: the
            // backup failed with "snapshot … not found" (flaky `tests/kubectl.rs`). Here a
            // snapshot that failed gives up at once; one still being taken is waited for.
            let ready = snapshot
                .as_ref()
                .and_then(|s| s.pointer("/status/readyToUse"))
                .and_then(Value::as_bool)
                == Some(true);
            if !ready {
                let failed = snapshot
                    .as_ref()
                    .and_then(|s| str_at(s, "/status/error"))
                    .is_some_and(|e| !e.is_empty());
                if failed {
                    let err = format!("Failed waiting for the snapshot {snap_name} to be ready");
                    set_error(ctx, &backup, &err);
                }
                continue;
            }
            let version = ctx.version;
            let _ = store.modify(&LH_BACKUPS, Some(LONGHORN_NAMESPACE), &backup, |o| {
                set_label(o, "backup-volume", &vol);
                if version.multiple_backup_targets() && label(o, "backup-target").is_none() {
                    set_label(o, "backup-target", DEFAULT_BACKUP_TARGET);
                }
                let st = super::object::obj_mut(o, "status");
                st.insert("state".into(), json!("Pending"));
                st.insert("progress".into(), json!(0));
                st.insert("snapshotName".into(), json!(snap_name));
                st.insert("volumeName".into(), json!(vol));
            });
            self.in_flight.insert(id);
            let task_ctx = ctx.clone();
            ctx.spawn(async move { run_backup(task_ctx, backup, vol, snap_name).await });
        }
        let live: HashSet<&str> = backups.iter().map(uid).collect();
        self.in_flight.retain(|u| live.contains(u.as_str()));
    }
}

fn set_error(ctx: &Ctx, backup: &str, err: &str) {
    let _ = ctx
        .store
        .modify(&LH_BACKUPS, Some(LONGHORN_NAMESPACE), backup, |o| {
            let st = super::object::obj_mut(o, "status");
            st.insert("state".into(), json!("Error"));
            st.insert("error".into(), json!(err));
        });
    if let Some(b) = ctx.store.get(&LH_BACKUPS, Some(LONGHORN_NAMESPACE), backup) {
        super::events::record(
            &ctx.store,
            &LH_BACKUPS,
            &b,
            "longhorn-backup-controller",
            super::events::EventKind::Warning,
            "BackupFailed",
            err,
        );
    }
}

fn set_progress(ctx: &Ctx, backup: &str, pct: u64) {
    let _ = ctx
        .store
        .modify(&LH_BACKUPS, Some(LONGHORN_NAMESPACE), backup, |o| {
            let st = super::object::obj_mut(o, "status");
            st.insert("state".into(), json!("InProgress"));
            st.insert("progress".into(), json!(pct));
        });
}

async fn run_backup(ctx: Arc<Ctx>, backup: String, vol: String, snap: String) {
    if !ctx.sleep(ctx.timing.backup_step).await {
        return;
    }
    set_progress(&ctx, &backup, 0);
    if ctx.faults.is_set(Fault::BackupStuck.name()) {
        // Longhorn issues #9417/#9168: the backup never leaves InProgress
        if ctx.sleep(ctx.timing.backup_step).await {
            set_progress(&ctx, &backup, 37);
        }
        return;
    }
    if !ctx.sleep(ctx.timing.backup_step).await {
        return;
    }
    if ctx.faults.is_set(Fault::BackupUnknown.name()) {
        // the engine reported a state the monitor does not know: final, nothing uploaded
        let now = now_rfc3339();
        let _ = ctx
            .store
            .modify(&LH_BACKUPS, Some(LONGHORN_NAMESPACE), &backup, |o| {
                let st = super::object::obj_mut(o, "status");
                st.insert("state".into(), json!("Unknown"));
                st.insert("lastSyncedAt".into(), json!(now));
            });
        return;
    }
    if ctx.faults.is_set(Fault::BackupError.name()) {
        let err = format!(
            "failed to upload block of backup {backup} to s3://{}/: SlowDown: please reduce your request rate (sandbox fault backup-error)",
            ctx.target.bucket
        );
        set_error(&ctx, &backup, &err);
        return;
    }
    let store = &ctx.store;
    let volume = store.get(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), &vol);
    let volume_size = volume
        .as_ref()
        .and_then(|v| str_at(v, "/spec/size"))
        .unwrap_or("0")
        .to_string();
    let b_obj = store.get(&LH_BACKUPS, Some(LONGHORN_NAMESPACE), &backup);
    let compression = match compression_method(&ctx, volume.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            set_error(&ctx, &backup, &e);
            return;
        }
    };
    let block_size = match block_size(ctx.version, b_obj.as_ref(), volume.as_ref()) {
        Ok(b) => b,
        Err(e) => {
            set_error(&ctx, &backup, &e);
            return;
        }
    };
    let user_labels: BTreeMap<String, String> = b_obj
        .as_ref()
        .and_then(|b| b.pointer("/spec/labels"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let bs = ctx.target.store();
    let progress_ctx = ctx.clone();
    let progress_backup = backup.clone();
    let last_pct = std::sync::atomic::AtomicU64::new(u64::MAX);
    let progress = move |done: u64, total: u64| {
        let pct = (done * 100).checked_div(total).map_or(100, |p| p.min(99));
        if last_pct.swap(pct, Ordering::SeqCst) != pct {
            set_progress(&progress_ctx, &progress_backup, pct);
        }
    };
    let result = ctx
        .data
        .backup(
            &bs,
            &vol,
            &snap,
            &backup,
            compression,
            block_size,
            // 1.10 records the block size in the cfg's Parameters; earlier releases do not
            // (longhorn-engine@v1.10.1:app/cmd/backup.go).
            ctx.version.supports_backup_block_size(),
            user_labels.clone(),
            progress,
        )
        .await;
    let cfg = match result {
        Ok(cfg) => cfg,
        Err(e) => {
            set_error(
                &ctx,
                &backup,
                &format!("failed to back up snapshot {snap} of volume {vol}: {e}"),
            );
            return;
        }
    };
    inject_block_faults(&ctx, &vol, &cfg).await;
    let url = backup_url(&ctx.target.url, &backup, &vol);
    let version = ctx.version;
    let now = now_rfc3339();
    let _ = store.modify(&LH_BACKUPS, Some(LONGHORN_NAMESPACE), &backup, |o| {
        let st = super::object::obj_mut(o, "status");
        st.insert("state".into(), json!("Completed"));
        st.insert("progress".into(), json!(100));
        st.insert("url".into(), json!(url));
        st.insert("volumeName".into(), json!(vol));
        st.insert("volumeSize".into(), json!(volume_size));
        st.insert("snapshotName".into(), json!(snap));
        st.insert("snapshotCreatedAt".into(), json!(cfg.snapshot_created_at));
        st.insert("backupCreatedAt".into(), json!(cfg.created_time));
        st.insert("size".into(), json!(cfg.size.to_string()));
        st.insert("labels".into(), json!(user_labels));
        st.insert(
            "compressionMethod".into(),
            json!(cfg.compression_method.as_str()),
        );
        st.insert(
            "newlyUploadDataSize".into(),
            json!(cfg.newly_uploaded_data_size.to_string()),
        );
        st.insert(
            "reUploadedDataSize".into(),
            json!(cfg.re_uploaded_data_size.to_string()),
        );
        st.insert("lastSyncedAt".into(), json!(now));
        st.insert("error".into(), json!(""));
        if version.multiple_backup_targets() {
            st.insert("backupTargetName".into(), json!(DEFAULT_BACKUP_TARGET));
        }
    });
    let _ = store.modify(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), &vol, |o| {
        let st = super::object::obj_mut(o, "status");
        st.insert("lastBackup".into(), json!(backup));
        st.insert("lastBackupAt".into(), json!(cfg.snapshot_created_at));
    });
    if let Some(b) = store.get(&LH_BACKUPS, Some(LONGHORN_NAMESPACE), &backup) {
        let msg = format!("backup {backup} of snapshot {snap} of volume {vol} completed");
        super::events::record(
            store,
            &LH_BACKUPS,
            &b,
            "longhorn-backup-controller",
            super::events::EventKind::Normal,
            "BackupCompleted",
            &msg,
        );
    }
    // Longhorn updates the BackupVolume right after a backup: sync now rather than at the poll
    ctx.sync_now.store(true, Ordering::SeqCst);
}

/// The Volume's `spec.backupCompressionMethod`, else the Setting `backup-compression-method`,
/// else lz4 (Longhorn's default Setting value, longhorn-manager@v1.9.1:types/setting.go).
///
/// # Errors
/// A message naming the volume and the method when it is not none/gzip/lz4.
fn compression_method(
    ctx: &Ctx,
    volume: Option<&Value>,
) -> Result<dr_backupstore::CompressionMethod, String> {
    let method = volume
        .and_then(|v| str_at(v, "/spec/backupCompressionMethod"))
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .or_else(|| longhorn_setting(&ctx.store, "backup-compression-method"))
        .unwrap_or_else(|| "lz4".to_string());
    dr_backupstore::CompressionMethod::parse(&method)
        .map_err(|e| format!("invalid backup compression method {method:?}: {e}"))
}

/// The backup block size in bytes: 2 MiB before 1.10; on 1.10 the Backup's
/// `spec.backupBlockSize`, else the Volume's, else 2 MiB (the `default-backup-block-size`
/// default, longhorn-manager@v1.10.1:types/setting.go). Values are int64 strings or numbers.
///
/// # Errors
/// A message for a size other than 2 MiB or 16 MiB (longhorn-manager@v1.10.1:types/types.go
/// `ValidateBackupBlockSize`: "unsupported BackupBlockSize").
pub fn block_size(
    version: LonghornVersion,
    backup: Option<&Value>,
    volume: Option<&Value>,
) -> Result<u64, String> {
    if !version.supports_backup_block_size() {
        return Ok(dr_backupstore::BLOCK_SIZE_2MI);
    }
    let read = |o: Option<&Value>| -> Option<Value> {
        o.and_then(|o| o.pointer("/spec/backupBlockSize")).cloned()
    };
    let raw = read(backup)
        .filter(|v| !is_zero(v))
        .or_else(|| read(volume).filter(|v| !is_zero(v)));
    let Some(raw) = raw else {
        return Ok(dr_backupstore::BLOCK_SIZE_2MI);
    };
    let size = match &raw {
        Value::String(s) => s.trim().parse::<u64>().ok(),
        other => other.as_u64(),
    };
    match size {
        Some(s) if s == dr_backupstore::BLOCK_SIZE_2MI || s == dr_backupstore::BLOCK_SIZE_16MI => {
            Ok(s)
        }
        _ => Err(format!("unsupported BackupBlockSize: {raw}")),
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty() || s.trim() == "0",
        other => other.as_u64() == Some(0),
    }
}

/// The one-shot `block-missing`/`block-corrupted` faults: damage one block of a fresh backup.
async fn inject_block_faults(ctx: &Ctx, vol: &str, cfg: &dr_backupstore::BackupCfg) {
    let Some(block) = cfg.blocks.first() else {
        return;
    };
    let bs = ctx.target.store();
    let key = bs.block_key(vol, &block.block_checksum);
    if ctx.faults.take(&Fault::BlockMissing) {
        match bs.delete_object(&key).await {
            Ok(()) => tracing::info!(%key, "fault block-missing: deleted block"),
            Err(e) => tracing::warn!(%key, error = %e, "fault block-missing: delete failed"),
        }
    }
    if ctx.faults.take(&Fault::BlockCorrupted) {
        let garbage = b"sandbox fault block-corrupted: this is not an lz4 frame".to_vec();
        match bs.put_object(&key, garbage).await {
            Ok(()) => tracing::info!(%key, "fault block-corrupted: overwrote block"),
            Err(e) => tracing::warn!(%key, error = %e, "fault block-corrupted: overwrite failed"),
        }
    }
}
