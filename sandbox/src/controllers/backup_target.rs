//! The Longhorn BackupTarget (`lhbt`, named `default`) and the discovery of backups from S3.
//!
//! As longhorn-manager's backup target controller: the target is checked for reachability
//! (`status.available`, condition `Unavailable`), and polled every `spec.pollInterval` (Go
//! duration, default `300s`, scaled by [`Timing::scaled_poll`](crate::timing::Timing::scaled_poll)).
//! A client asks for a sync by setting `spec.syncRequestedAt`; Longhorn syncs only when
//! `status.lastSyncedAt` is null or `syncRequestedAt` is strictly after it — both are
//! `metav1.Time`, whole seconds, so a request in the same second as the last sync does nothing
//! (longhorn-manager@v1.9.1:controller/backup_target_controller.go `reconcile`:
//! `!backupTarget.Spec.SyncRequestedAt.After(backupTarget.Status.LastSyncedAt.Time)`).
//! Before its first sync the target's `status.conditions` and `status.lastSyncedAt` are `null`
//! (Go marshals a nil slice and a zero `metav1.Time` as `null`; both `+nullable` in
//! longhorn-manager@v1.9.1:k8s/pkg/apis/longhorn/v1beta2/backuptarget.go).
//!
//! A sync lists the backupstore's volumes and creates a BackupVolume for each new one, named
//! per release ([`backup_volume_name`]; 1.8+ with `spec.volumeName`, `spec.backupTargetName`,
//! labels `backup-volume`, `backup-target`; 1.7 only `spec.syncRequestedAt`). As in Longhorn
//! the new object has an empty status (`lastBackupName` "", `lastSyncedAt` null, …) until the
//! backup-volume controller's own pass reads `volume.cfg`, creates the `Completed` Backup
//! objects and then fills the status — after [`Timing::backup_volume_status_delay`](crate::timing::Timing)
//! here (longhorn-manager@v1.9.1:controller/backup_target_controller.go
//! `pullBackupVolumeFromBackupTarget`, longhorn-manager@v1.9.1:controller/backup_volume_controller.go
//! `reconcile`). This is the step a rebuilt cluster needs before a restore can be requested
//! (longhorn-facts.md: "A restore only works once Longhorn has synced…").
//! Deleting a BackupVolume object deletes the volume's remote data unless the release honours
//! `longhorn.io/delete-custom-resource-only` and the object carries it
//! ([`keeps_remote_data`]). Fault `backupvolume-never-discovered` makes syncs find nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use dr_backupstore::{BackupCfg, BackupStore, BackupTargetUrl, VolumeCfg};
use serde_json::{json, Value};

use super::admission::find_backup_volume;
use super::backup::keeps_remote_data;
use super::context::{Controller, Ctx, DEFAULT_BACKUP_TARGET, LONGHORN_NAMESPACE};
use super::naming::{backup_url, backup_volume_name};
use super::object::{label, name, now_rfc3339, parse_time, set_condition, str_at};
use crate::api::resources::{LH_BACKUPS, LH_BACKUPTARGETS, LH_BACKUPVOLUMES};
use crate::api::{EventType, ResourceType, WatchEvent};
use crate::faults::Fault;
use crate::timing::{parse_go_duration, LONGHORN_DEFAULT_POLL_INTERVAL};

/// Reconciles BackupTargets.
#[derive(Default)]
pub struct BackupTargetController {
    last_sync: HashMap<String, Instant>,
    in_flight: Arc<AtomicBool>,
}

impl Controller for BackupTargetController {
    fn name(&self) -> &'static str {
        "longhorn-backup-target"
    }

    fn watches(&self) -> &'static [&'static ResourceType] {
        static W: [&ResourceType; 2] = [&LH_BACKUPTARGETS, &LH_BACKUPVOLUMES];
        &W
    }

    fn observe(&mut self, ctx: &Arc<Ctx>, event: &WatchEvent) {
        if event.event_type != EventType::Deleted
            || !std::ptr::eq(event.resource, &LH_BACKUPVOLUMES)
        {
            return;
        }
        let bv = &event.object;
        if keeps_remote_data(bv, ctx.version) {
            return;
        }
        let vol = str_at(bv, "/spec/volumeName")
            .filter(|v| !v.is_empty())
            .or_else(|| label(bv, "backup-volume"))
            .unwrap_or_else(|| name(bv))
            .to_string();
        let task_ctx = ctx.clone();
        ctx.spawn(async move {
            let bs = task_ctx.target.store();
            let prefix = dr_backupstore::layout::volume_dir(bs.root(), &vol);
            match bs.list_objects(&prefix).await {
                Ok(objects) => {
                    for o in objects {
                        if let Err(e) = bs.delete_object(&o.key).await {
                            tracing::warn!(key = %o.key, error = %e, "remote backup volume object not deleted");
                        }
                    }
                    tracing::info!(%prefix, "deleted remote backup volume with its BackupVolume object");
                }
                Err(e) => tracing::warn!(%prefix, error = %e, "remote backup volume not listed"),
            }
        });
    }

    fn reconcile(&mut self, ctx: &Arc<Ctx>) {
        let targets = ctx.store.list(&LH_BACKUPTARGETS, Some(LONGHORN_NAMESPACE));
        if targets.is_empty() || self.in_flight.load(Ordering::SeqCst) {
            return;
        }
        let forced = ctx.sync_now.swap(false, Ordering::SeqCst);
        for bt in targets {
            let bt_name = name(&bt).to_string();
            let interval = str_at(&bt, "/spec/pollInterval")
                .map(parse_go_duration)
                .unwrap_or(Ok(LONGHORN_DEFAULT_POLL_INTERVAL))
                .unwrap_or(LONGHORN_DEFAULT_POLL_INTERVAL);
            let period = ctx.timing.scaled_poll(interval);
            let requested = sync_requested(&bt);
            let due = match self.last_sync.get(&bt_name) {
                None => true,
                Some(at) => period.is_some_and(|p| at.elapsed() >= p),
            };
            if !(due || requested || forced) {
                continue;
            }
            self.last_sync.insert(bt_name.clone(), Instant::now());
            self.in_flight.store(true, Ordering::SeqCst);
            let flag = self.in_flight.clone();
            let task_ctx = ctx.clone();
            let url = str_at(&bt, "/spec/backupTargetURL")
                .unwrap_or("")
                .to_string();
            ctx.spawn(async move {
                sync(&task_ctx, &bt_name, &url).await;
                flag.store(false, Ordering::SeqCst);
            });
            // one sync at a time across targets
            break;
        }
    }
}

/// Whether a BackupTarget asks for a sync: `status.lastSyncedAt` null/absent, or
/// `spec.syncRequestedAt` strictly after it (module docs for the source).
pub fn sync_requested(bt: &Value) -> bool {
    let done = str_at(bt, "/status/lastSyncedAt").and_then(parse_time);
    let req = str_at(bt, "/spec/syncRequestedAt").and_then(parse_time);
    match (done, req) {
        (None, _) => true,
        (Some(done), Some(req)) => req > done,
        (Some(_), None) => false,
    }
}

async fn sync(ctx: &Arc<Ctx>, bt_name: &str, url: &str) {
    let store = &ctx.store;
    let checked = match BackupTargetUrl::parse(url) {
        Err(e) => Err(format!("invalid backup target URL {url:?}: {e}")),
        Ok(target) if target.bucket != ctx.target.bucket => Err(format!(
            "failed to list objects in bucket {}: NoSuchBucket: the specified bucket does not exist",
            target.bucket
        )),
        Ok(target) => {
            let bs = BackupStore::for_target(ctx.target.client.clone(), &target);
            bs.list_volumes().await.map(|vols| (bs, vols)).map_err(|e| e.to_string())
        }
    };
    let (bs, volumes) = match checked {
        Ok(ok) => ok,
        Err(msg) => {
            let _ = store.modify(&LH_BACKUPTARGETS, Some(LONGHORN_NAMESPACE), bt_name, |o| {
                o["status"]["available"] = json!(false);
                set_condition(o, "Unavailable", true, "Unavailable", &msg);
            });
            return;
        }
    };
    let discover = !ctx.faults.is_set(Fault::BackupvolumeNeverDiscovered.name());
    if discover {
        for vol in volumes {
            if let Err(e) = discover_volume(ctx, &bs, &vol).await {
                tracing::warn!(volume = %vol, error = %e, "backup volume not synced");
            }
        }
        // system backups are discovered as SystemBackup objects (system_backup.rs)
        super::system_backup::discover(ctx, &bs).await;
    }
    let now = now_rfc3339();
    let _ = store.modify(&LH_BACKUPTARGETS, Some(LONGHORN_NAMESPACE), bt_name, |o| {
        o["status"]["available"] = json!(true);
        o["status"]["lastSyncedAt"] = json!(now);
        set_condition(o, "Unavailable", false, "", "");
    });
}

/// The remote volume as the backupstore holds it now: `volume.cfg` and every complete backup
/// cfg (`None` when the volume has no `volume.cfg`).
async fn read_remote_volume(
    bs: &BackupStore,
    vol: &str,
) -> Result<Option<(VolumeCfg, Vec<BackupCfg>)>, String> {
    let Some(vcfg) = bs.get_volume_cfg(vol).await.map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let mut cfgs = Vec::new();
    for b in bs.list_backups(vol).await.map_err(|e| e.to_string())? {
        match bs.get_backup_cfg(vol, &b).await {
            Ok(Some(c)) if c.is_complete() => cfgs.push(c),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(volume = %vol, backup = %b, error = %e, "backup cfg unreadable")
            }
        }
    }
    Ok(Some((vcfg, cfgs)))
}

async fn discover_volume(ctx: &Arc<Ctx>, bs: &BackupStore, vol: &str) -> Result<(), String> {
    let Some((vcfg, cfgs)) = read_remote_volume(bs, vol).await? else {
        return Ok(());
    };
    let (bv_name, created) = ensure_backup_volume(ctx, vol).map_err(|e| e.to_string())?;
    let delay = ctx.timing.backup_volume_status_delay;
    if created && !delay.is_zero() {
        // The backup-volume controller's later pass: it reads the backupstore itself at that
        // time (mgr@v1.9.1:controller/backup_volume_controller.go `reconcile` inspects the
        // remote volume), so a backup that completed meanwhile is what it reports.
        let task_ctx = ctx.clone();
        let bs = bs.clone();
        let vol = vol.to_owned();
        ctx.spawn(async move {
            if !task_ctx.sleep(delay).await {
                return;
            }
            let filled = match read_remote_volume(&bs, &vol).await {
                Ok(Some((vcfg, cfgs))) => fill_backup_volume(&task_ctx, &bv_name, &vcfg, &cfgs)
                    .map_err(|e| e.to_string()),
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = filled {
                tracing::warn!(backup_volume = %bv_name, error = %e, "backup volume status not filled");
            }
        });
        return Ok(());
    }
    if !created && status_pending(ctx, &bv_name) {
        // its first fill is still scheduled
        return Ok(());
    }
    if !created {
        // each sync asks every known BackupVolume to resync (mgr@v1.9.1:controller/
        // backup_target_controller.go `syncBackupVolume`: `Spec.SyncRequestedAt = syncTime`)
        let now = now_rfc3339();
        ctx.store
            .modify(&LH_BACKUPVOLUMES, Some(LONGHORN_NAMESPACE), &bv_name, |o| {
                o["spec"]["syncRequestedAt"] = json!(now);
            })
            .map_err(|e| e.to_string())?;
    }
    fill_backup_volume(ctx, &bv_name, &vcfg, &cfgs).map_err(|e| e.to_string())
}

/// Whether a BackupVolume still waits for its first status fill (`lastSyncedAt` null).
fn status_pending(ctx: &Ctx, bv_name: &str) -> bool {
    ctx.store
        .get(&LH_BACKUPVOLUMES, Some(LONGHORN_NAMESPACE), bv_name)
        .is_some_and(|bv| str_at(&bv, "/status/lastSyncedAt").is_none())
}

fn fill_backup_volume(
    ctx: &Ctx,
    bv_name: &str,
    vcfg: &VolumeCfg,
    cfgs: &[BackupCfg],
) -> Result<(), crate::api::ApiError> {
    for c in cfgs {
        upsert_backup(ctx, vcfg, c)?;
    }
    set_backup_volume_status(ctx, bv_name, vcfg)
}

/// The empty status the backup-volume controller first writes for a BackupVolume it owns:
/// every field of `BackupVolumeStatus` at its Go zero value, zero `metav1.Time`s and nil maps
/// as `null` (longhorn-manager@v1.9.1:k8s/pkg/apis/longhorn/v1beta2/backupvolume.go).
pub fn empty_backup_volume_status() -> Value {
    json!({
        "ownerID": "node-1",
        "lastModificationTime": null,
        "size": "",
        "labels": null,
        "createdAt": "",
        "lastBackupName": "",
        "lastBackupAt": "",
        "dataStored": "",
        "messages": null,
        "backingImageName": "",
        "backingImageChecksum": "",
        "storageClassName": "",
        "lastSyncedAt": null,
    })
}

/// Finds or creates the BackupVolume of remote volume `vol`; `true` when created now.
fn ensure_backup_volume(ctx: &Ctx, vol: &str) -> Result<(String, bool), crate::api::ApiError> {
    let store = &ctx.store;
    let version = ctx.version;
    if let Some(bv) = find_backup_volume(store, vol, version) {
        return Ok((name(&bv).to_string(), false));
    }
    let bv_name = backup_volume_name(vol, DEFAULT_BACKUP_TARGET, version);
    let mut obj = json!({
        "apiVersion": "longhorn.io/v1beta2",
        "kind": "BackupVolume",
        "metadata": {"name": bv_name, "namespace": LONGHORN_NAMESPACE},
        "spec": {"syncRequestedAt": null},
    });
    if version.multiple_backup_targets() {
        obj["metadata"]["labels"] =
            json!({"backup-volume": vol, "backup-target": DEFAULT_BACKUP_TARGET});
        obj["spec"]["volumeName"] = json!(vol);
        obj["spec"]["backupTargetName"] = json!(DEFAULT_BACKUP_TARGET);
    }
    store.create(&LH_BACKUPVOLUMES, Some(LONGHORN_NAMESPACE), obj)?;
    store.modify(&LH_BACKUPVOLUMES, Some(LONGHORN_NAMESPACE), &bv_name, |o| {
        o["status"] = empty_backup_volume_status();
    })?;
    Ok((bv_name, true))
}

fn set_backup_volume_status(
    ctx: &Ctx,
    bv_name: &str,
    vcfg: &VolumeCfg,
) -> Result<(), crate::api::ApiError> {
    // DataStored counts blocks at the default 2 MiB whatever the block size
    // (longhorn-engine@v1.10.1:vendor/github.com/longhorn/backupstore/inspect.go)
    let data_stored = vcfg
        .block_count
        .saturating_mul(dr_backupstore::BLOCK_SIZE_2MI);
    let now = now_rfc3339();
    let labels = if vcfg.labels.is_empty() {
        Value::Null
    } else {
        json!(vcfg.labels)
    };
    let status = json!({
        "ownerID": "node-1",
        "lastModificationTime": now,
        "lastBackupName": vcfg.last_backup_name,
        "lastBackupAt": vcfg.last_backup_at,
        "size": vcfg.size.to_string(),
        "createdAt": vcfg.created_time,
        "dataStored": data_stored.to_string(),
        "labels": labels,
        "storageClassName": vcfg.storage_class_name,
        "backingImageName": vcfg.backing_image_name,
        "backingImageChecksum": vcfg.backing_image_checksum,
        // the inspect result's fresh map (inspect.go `fillVolumeInfo`), so `{}`, never null
        "messages": {},
        "lastSyncedAt": now,
    });
    ctx.store
        .modify(&LH_BACKUPVOLUMES, Some(LONGHORN_NAMESPACE), bv_name, |o| {
            o["status"] = status
        })?;
    Ok(())
}

fn upsert_backup(ctx: &Ctx, vcfg: &VolumeCfg, cfg: &BackupCfg) -> Result<(), crate::api::ApiError> {
    let store = &ctx.store;
    if store
        .get(&LH_BACKUPS, Some(LONGHORN_NAMESPACE), &cfg.name)
        .is_some()
    {
        return Ok(());
    }
    let vol = &vcfg.name;
    let mut labels = json!({"backup-volume": vol});
    let mut status = json!({
        "state": "Completed",
        "progress": 100,
        "url": backup_url(&ctx.target.url, &cfg.name, vol),
        "volumeName": vol,
        "volumeSize": vcfg.size.to_string(),
        "snapshotName": cfg.snapshot_name,
        "snapshotCreatedAt": cfg.snapshot_created_at,
        "backupCreatedAt": cfg.created_time,
        "size": cfg.size.to_string(),
        "labels": cfg.labels,
        "compressionMethod": cfg.compression_method.as_str(),
        "newlyUploadDataSize": cfg.newly_uploaded_data_size.to_string(),
        "reUploadedDataSize": cfg.re_uploaded_data_size.to_string(),
        "messages": {},
        "error": "",
        "lastSyncedAt": now_rfc3339(),
    });
    if ctx.version.multiple_backup_targets() {
        labels["backup-target"] = json!(DEFAULT_BACKUP_TARGET);
        status["backupTargetName"] = json!(DEFAULT_BACKUP_TARGET);
    }
    let obj = json!({
        "apiVersion": "longhorn.io/v1beta2",
        "kind": "Backup",
        "metadata": {"name": cfg.name, "namespace": LONGHORN_NAMESPACE, "labels": labels},
        "spec": {"snapshotName": cfg.snapshot_name, "labels": cfg.labels},
        "status": status,
    });
    match store.create(&LH_BACKUPS, Some(LONGHORN_NAMESPACE), obj) {
        Ok(_) => Ok(()),
        Err(e) if e.reason == "AlreadyExists" => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether a BackupTarget object reports `available: true`.
pub fn is_available(bt: &Value) -> bool {
    bt.pointer("/status/available").and_then(Value::as_bool) == Some(true)
}
