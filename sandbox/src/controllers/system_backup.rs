//! Longhorn SystemBackup (`lhsb`) and SystemRestore (`lhsr`): the whole Longhorn system (its
//! custom resources plus the PVs/PVCs/StorageClasses that use it) bundled into one zip on the
//! backup target, and brought back into a rebuilt cluster from that zip.
//!
//! Sources: Longhorn docs "Longhorn System Backup And Restore" and the design in
//! longhorn/longhorn `enhancements/20220913-longhorn-system-backup-restore.md`; states and
//! fields as in longhorn-facts.md §2 (Longhorn v1.8 CRDs).
//!
//! SystemBackup: `""` → `Generating` → `CreatingVolumeBackups` (per `spec.volumeBackupPolicy`:
//! `if-not-present` (default) backs up volumes without `status.lastBackup`, `always` every volume,
//! `disabled` none — through Snapshot and Backup objects, so the backup controller does the
//! upload) → `Uploading` (`system-backup.zip` with one YAML list per kind, then
//! `system-backup.cfg` whose `Checksum` is the SHA-256 of the zip, under
//! `backupstore/system-backups/<longhornVersion>/<name>/`) → `Ready`; failures end in `Error`
//! with a condition message. Objects the BackupTarget sync discovers from S3 are created
//! `Ready` and never regenerated.
//!
//! SystemRestore: `""` → `Pending` → `Downloading` (zip fetched, checksum checked against the
//! cfg) → `Unpacking` → `Restoring` (Settings, RecurringJobs, StorageClasses, then Volumes with
//! `fromBackup` = the URL of their last backup so the volume controller restores the data, then
//! PVs and PVCs) → `Completed`. As the LEP says, resources that exist are left alone: a Volume
//! already provisioned by a workload is *not* overwritten. Faults: `system-restore-error` (ends
//! in `Error` with a message), `system-backup-zip-corrupted` (the zip in S3 is altered after the
//! upload, so its SHA-256 no longer matches `Checksum`).

use std::collections::{BTreeMap, HashSet};
use std::io::{Cursor, Read, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::context::{Controller, Ctx, LONGHORN_NAMESPACE};
use super::naming::{backup_url, hex_suffix, new_backup_name};
use super::object::{name, now_rfc3339, obj_mut, str_at, uid};
use crate::api::resources::{
    LH_BACKUPS, LH_BACKUPTARGETS, LH_RECURRINGJOBS, LH_SETTINGS, LH_SNAPSHOTS, LH_SYSTEMBACKUPS,
    LH_SYSTEMRESTORES, LH_VOLUMES, NAMESPACES, PVCS, PVS, STORAGECLASSES,
};
use crate::api::ResourceType;
use crate::faults::Fault;

/// The Longhorn release the simulated manager reports (bootstrap installs `v1.8.1` images).
pub const LONGHORN_VERSION: &str = "v1.8.1";
/// The git commit reported with [`LONGHORN_VERSION`] (a stand-in value).
pub const LONGHORN_GIT_COMMIT: &str = "sandbox0000000000000000000000000000000000";
/// Manager image written to `system-backup.cfg`.
pub const MANAGER_IMAGE: &str = "longhornio/longhorn-manager:v1.8.1";
/// Engine image written to `system-backup.cfg`.
pub const ENGINE_IMAGE: &str = "longhornio/longhorn-engine:v1.8.1";
/// Label set on the Backups a SystemBackup creates.
pub const SYSTEM_BACKUP_LABEL: &str = "longhorn.io/system-backup";

/// What goes into the zip: (entry path below `<name>/yamls/`, resource type, namespace).
const ZIP_KINDS: &[(&str, &ResourceType, Option<&str>)] = &[
    (
        "longhorn/volumes.yaml",
        &LH_VOLUMES,
        Some(LONGHORN_NAMESPACE),
    ),
    (
        "longhorn/settings.yaml",
        &LH_SETTINGS,
        Some(LONGHORN_NAMESPACE),
    ),
    (
        "longhorn/recurringjobs.yaml",
        &LH_RECURRINGJOBS,
        Some(LONGHORN_NAMESPACE),
    ),
    (
        "longhorn/backuptargets.yaml",
        &LH_BACKUPTARGETS,
        Some(LONGHORN_NAMESPACE),
    ),
    ("kubernetes/persistentvolumes.yaml", &PVS, None),
    ("kubernetes/persistentvolumeclaims.yaml", &PVCS, None),
    ("kubernetes/storageclasses.yaml", &STORAGECLASSES, None),
];

/// Key of `system-backup.zip` / `.cfg` of system backup `name` below a backupstore `root`
/// (`backupstore/`): `<root>system-backups/<version>/<name>/<file>` (longhorn-facts.md §1).
pub fn system_backup_key(root: &str, version: &str, name: &str, file: &str) -> String {
    format!("{root}system-backups/{version}/{name}/{file}")
}

/// The `system-backup.cfg` document (longhorn-facts.md §1: `Name`, `LonghornVersion`,
/// `LonghornGitCommit`, `BackupTargetURL`, `ManagerImage`, `EngineImage`, `CreatedAt`,
/// `Checksum` = hex SHA-256 of the zip).
pub fn system_backup_cfg(name: &str, target_url: &str, zip: &[u8]) -> Value {
    json!({
        "Name": name,
        "LonghornVersion": LONGHORN_VERSION,
        "LonghornGitCommit": LONGHORN_GIT_COMMIT,
        "BackupTargetURL": target_url,
        "ManagerImage": MANAGER_IMAGE,
        "EngineImage": ENGINE_IMAGE,
        "CreatedAt": now_rfc3339(),
        "Checksum": hex::encode(Sha256::digest(zip)),
    })
}

/// Reconciles SystemBackups.
#[derive(Default)]
pub struct SystemBackupController {
    in_flight: HashSet<String>,
}

impl Controller for SystemBackupController {
    fn name(&self) -> &'static str {
        "longhorn-system-backup"
    }

    fn watches(&self) -> &'static [&'static ResourceType] {
        static W: [&ResourceType; 1] = [&LH_SYSTEMBACKUPS];
        &W
    }

    fn reconcile(&mut self, ctx: &Arc<Ctx>) {
        let all = ctx.store.list(&LH_SYSTEMBACKUPS, Some(LONGHORN_NAMESPACE));
        for sb in &all {
            let id = uid(sb).to_string();
            if !str_at(sb, "/status/state").unwrap_or("").is_empty() || self.in_flight.contains(&id)
            {
                continue;
            }
            self.in_flight.insert(id);
            let sb_name = name(sb).to_string();
            let policy = str_at(sb, "/spec/volumeBackupPolicy")
                .filter(|p| !p.is_empty())
                .unwrap_or("if-not-present")
                .to_string();
            let task_ctx = ctx.clone();
            ctx.spawn(async move {
                if let Err(msg) = run_system_backup(&task_ctx, &sb_name, &policy).await {
                    set_sb_state(&task_ctx, &sb_name, "Error", Some(&msg));
                }
            });
        }
        let live: HashSet<&str> = all.iter().map(uid).collect();
        self.in_flight.retain(|u| live.contains(u.as_str()));
    }
}

fn set_sb_state(ctx: &Ctx, sb: &str, state: &str, error: Option<&str>) {
    set_state(ctx, &LH_SYSTEMBACKUPS, sb, state, error, "SystemBackup");
}

fn set_sr_state(ctx: &Ctx, sr: &str, state: &str, error: Option<&str>) {
    set_state(ctx, &LH_SYSTEMRESTORES, sr, state, error, "SystemRestore");
}

/// Sets `status.state`; with an error, also the `Error` condition Longhorn uses for the message.
fn set_state(
    ctx: &Ctx,
    rt: &'static ResourceType,
    obj: &str,
    state: &str,
    error: Option<&str>,
    kind: &str,
) {
    let _ = ctx.store.modify(rt, Some(LONGHORN_NAMESPACE), obj, |o| {
        let st = obj_mut(o, "status");
        st.insert("state".into(), json!(state));
        st.insert("lastSyncedAt".into(), json!(now_rfc3339()));
        if let Some(msg) = error {
            st.insert(
                "conditions".into(),
                json!([{"type": "Error", "status": "True", "reason": format!("{kind}Failed"),
                        "message": msg, "lastTransitionTime": now_rfc3339()}]),
            );
        }
    });
    if let Some(msg) = error {
        if let Some(o) = ctx.store.get(rt, Some(LONGHORN_NAMESPACE), obj) {
            super::events::record(
                &ctx.store,
                rt,
                &o,
                "longhorn-system-backup-controller",
                super::events::EventKind::Warning,
                &format!("{kind}Failed"),
                msg,
            );
        }
    }
}

async fn run_system_backup(ctx: &Arc<Ctx>, sb: &str, policy: &str) -> Result<(), String> {
    let _ = ctx
        .store
        .modify(&LH_SYSTEMBACKUPS, Some(LONGHORN_NAMESPACE), sb, |o| {
            let st = obj_mut(o, "status");
            st.insert("version".into(), json!(LONGHORN_VERSION));
            st.insert("gitCommit".into(), json!(LONGHORN_GIT_COMMIT));
            st.insert("managerImage".into(), json!(MANAGER_IMAGE));
            st.insert("createdAt".into(), json!(now_rfc3339()));
        });
    set_sb_state(ctx, sb, "Generating", None);
    if !ctx.sleep(ctx.timing.backup_step).await {
        return Ok(());
    }
    set_sb_state(ctx, sb, "CreatingVolumeBackups", None);
    let volumes = ctx.store.list(&LH_VOLUMES, Some(LONGHORN_NAMESPACE));
    for v in &volumes {
        let vol = name(v).to_string();
        let has_backup = !str_at(v, "/status/lastBackup").unwrap_or("").is_empty();
        let wanted = match policy {
            "always" => true,
            "disabled" => false,
            _ => !has_backup,
        };
        if wanted {
            back_up_volume(ctx, sb, &vol).await?;
        }
    }
    set_sb_state(ctx, sb, "Uploading", None);
    let zip = build_zip(ctx, sb)?;
    let bs = ctx.target.store();
    let root = bs.root().to_string();
    let cfg = system_backup_cfg(sb, &ctx.target.url, &zip);
    let zip_key = system_backup_key(&root, LONGHORN_VERSION, sb, "system-backup.zip");
    let cfg_key = system_backup_key(&root, LONGHORN_VERSION, sb, "system-backup.cfg");
    bs.put_object(&zip_key, zip)
        .await
        .map_err(|e| format!("failed to upload system backup {sb} to {zip_key}: {e}"))?;
    let cfg_bytes = serde_json::to_vec(&cfg).map_err(|e| e.to_string())?;
    bs.put_object(&cfg_key, cfg_bytes)
        .await
        .map_err(|e| format!("failed to upload system backup config {cfg_key}: {e}"))?;
    if ctx.faults.take(&Fault::SystemBackupZipCorrupted) {
        // the object changes after Longhorn computed its checksum: what a bit-rotting or
        // tampered backup target looks like to a later restore
        let garbage = b"sandbox fault system-backup-zip-corrupted: not the zip that was uploaded";
        match bs.put_object(&zip_key, garbage.to_vec()).await {
            Ok(()) => {
                tracing::info!(key = %zip_key, "fault system-backup-zip-corrupted: zip replaced")
            }
            Err(e) => {
                tracing::warn!(key = %zip_key, error = %e, "fault system-backup-zip-corrupted: overwrite failed")
            }
        }
    }
    set_sb_state(ctx, sb, "Syncing", None);
    set_sb_state(ctx, sb, "Ready", None);
    ctx.sync_now.store(true, Ordering::SeqCst);
    Ok(())
}

/// Snapshot + Backup of one volume through the snapshot and backup controllers; waits for the
/// Backup to complete.
async fn back_up_volume(ctx: &Arc<Ctx>, sb: &str, vol: &str) -> Result<(), String> {
    let store = &ctx.store;
    let snap = format!("{sb}-{}", hex_suffix(8));
    store
        .create(
            &LH_SNAPSHOTS,
            Some(LONGHORN_NAMESPACE),
            json!({
                "apiVersion": "longhorn.io/v1beta2", "kind": "Snapshot",
                "metadata": {"name": snap, "namespace": LONGHORN_NAMESPACE,
                             "labels": {SYSTEM_BACKUP_LABEL: sb}},
                "spec": {"volume": vol, "createSnapshot": true},
            }),
        )
        .map_err(|e| format!("failed to create snapshot of volume {vol}: {}", e.message))?;
    wait_until(ctx, || {
        store
            .get(&LH_SNAPSHOTS, Some(LONGHORN_NAMESPACE), &snap)
            .and_then(|s| s.pointer("/status/readyToUse").and_then(Value::as_bool))
            == Some(true)
    })
    .await
    .then_some(())
    .ok_or_else(|| format!("snapshot {snap} of volume {vol} never became ready"))?;
    let backup = new_backup_name();
    store
        .create(
            &LH_BACKUPS,
            Some(LONGHORN_NAMESPACE),
            json!({
                "apiVersion": "longhorn.io/v1beta2", "kind": "Backup",
                "metadata": {"name": backup, "namespace": LONGHORN_NAMESPACE,
                             "labels": {SYSTEM_BACKUP_LABEL: sb, "backup-volume": vol}},
                "spec": {"snapshotName": snap, "labels": {SYSTEM_BACKUP_LABEL: sb}},
            }),
        )
        .map_err(|e| format!("failed to create backup of volume {vol}: {}", e.message))?;
    let mut outcome = String::new();
    let done = wait_until(ctx, || {
        let b = store.get(&LH_BACKUPS, Some(LONGHORN_NAMESPACE), &backup);
        outcome = b
            .as_ref()
            .and_then(|b| str_at(b, "/status/state"))
            .unwrap_or("")
            .to_string();
        outcome == "Completed" || outcome == "Error"
    })
    .await;
    if !done {
        return Ok(());
    }
    if outcome == "Error" {
        let err = store
            .get(&LH_BACKUPS, Some(LONGHORN_NAMESPACE), &backup)
            .and_then(|b| str_at(&b, "/status/error").map(str::to_string))
            .unwrap_or_default();
        return Err(format!(
            "failed to create volume backup {backup} of volume {vol}: {err}"
        ));
    }
    Ok(())
}

/// Polls `done` each controller tick; `false` when the cluster goes away first.
async fn wait_until(ctx: &Ctx, mut done: impl FnMut() -> bool) -> bool {
    loop {
        if done() {
            return true;
        }
        if !ctx.sleep(ctx.timing.controller_tick).await {
            return false;
        }
    }
}

/// Strips what the API server owns, as `kubectl get -o yaml` output meant for re-creation.
fn exportable(mut obj: Value) -> Value {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "managedFields",
        ] {
            meta.remove(k);
        }
    }
    obj
}

/// `system-backup.zip`: `<name>/yamls/<group>/<plural>.yaml`, one YAML `List` per kind.
fn build_zip(ctx: &Ctx, sb: &str) -> Result<Vec<u8>, String> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (path, rt, ns) in ZIP_KINDS {
        let items: Vec<Value> = ctx
            .store
            .list(rt, *ns)
            .into_iter()
            .map(exportable)
            .collect();
        let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
        let yaml = serde_yaml::to_string(&list).map_err(|e| e.to_string())?;
        w.start_file(format!("{sb}/yamls/{path}"), opts)
            .map_err(|e| format!("failed to write system backup zip: {e}"))?;
        w.write_all(yaml.as_bytes())
            .map_err(|e| format!("failed to write system backup zip: {e}"))?;
    }
    w.finish()
        .map(Cursor::into_inner)
        .map_err(|e| format!("failed to write system backup zip: {e}"))
}

/// The YAML lists of a system backup zip by entry path below `yamls/`.
///
/// # Errors
/// A message when the bytes are not a zip or an entry is not a YAML list.
pub fn read_zip(bytes: &[u8]) -> Result<BTreeMap<String, Vec<Value>>, String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| format!("system-backup.zip is not a zip archive: {e}"))?;
    let mut out = BTreeMap::new();
    for i in 0..archive.len() {
        let mut f = archive
            .by_index(i)
            .map_err(|e| format!("system-backup.zip entry {i}: {e}"))?;
        let path = f
            .name()
            .map_err(|e| format!("system-backup.zip entry {i}: {e}"))?
            .to_string();
        let mut text = String::new();
        f.read_to_string(&mut text)
            .map_err(|e| format!("system-backup.zip entry {path}: {e}"))?;
        let list: Value = serde_yaml::from_str(&text)
            .map_err(|e| format!("system-backup.zip entry {path} is not YAML: {e}"))?;
        let items = list
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let key = path
            .split_once("/yamls/")
            .map_or(path.as_str(), |(_, k)| k)
            .to_string();
        out.insert(key, items);
    }
    Ok(out)
}

/// Reconciles SystemRestores.
#[derive(Default)]
pub struct SystemRestoreController {
    in_flight: HashSet<String>,
}

impl Controller for SystemRestoreController {
    fn name(&self) -> &'static str {
        "longhorn-system-restore"
    }

    fn watches(&self) -> &'static [&'static ResourceType] {
        static W: [&ResourceType; 1] = [&LH_SYSTEMRESTORES];
        &W
    }

    fn reconcile(&mut self, ctx: &Arc<Ctx>) {
        let all = ctx.store.list(&LH_SYSTEMRESTORES, Some(LONGHORN_NAMESPACE));
        for sr in &all {
            let id = uid(sr).to_string();
            if !str_at(sr, "/status/state").unwrap_or("").is_empty() || self.in_flight.contains(&id)
            {
                continue;
            }
            self.in_flight.insert(id);
            let sr_name = name(sr).to_string();
            let sb_name = str_at(sr, "/spec/systemBackup").unwrap_or("").to_string();
            let task_ctx = ctx.clone();
            ctx.spawn(async move {
                if let Err(msg) = run_system_restore(&task_ctx, &sr_name, &sb_name).await {
                    set_sr_state(&task_ctx, &sr_name, "Error", Some(&msg));
                }
            });
        }
        let live: HashSet<&str> = all.iter().map(uid).collect();
        self.in_flight.retain(|u| live.contains(u.as_str()));
    }
}

async fn run_system_restore(ctx: &Arc<Ctx>, sr: &str, sb: &str) -> Result<(), String> {
    set_sr_state(ctx, sr, "Pending", None);
    let sb_obj = ctx
        .store
        .get(&LH_SYSTEMBACKUPS, Some(LONGHORN_NAMESPACE), sb)
        .ok_or_else(|| format!("failed to get SystemBackup {sb}: not found"))?;
    let version = str_at(&sb_obj, "/status/version")
        .filter(|v| !v.is_empty())
        .unwrap_or(LONGHORN_VERSION)
        .to_string();
    if !ctx.sleep(ctx.timing.restore_step).await {
        return Ok(());
    }
    set_sr_state(ctx, sr, "Downloading", None);
    let bs = ctx.target.store();
    let root = bs.root().to_string();
    let zip_key = system_backup_key(&root, &version, sb, "system-backup.zip");
    let cfg_key = system_backup_key(&root, &version, sb, "system-backup.cfg");
    let cfg: Value = match bs.get_object(&cfg_key).await {
        Ok(Some(b)) => serde_json::from_slice(&b)
            .map_err(|e| format!("failed to parse system backup config {cfg_key}: {e}"))?,
        Ok(None) => return Err(format!("system backup config {cfg_key} not found")),
        Err(e) => return Err(format!("failed to download {cfg_key}: {e}")),
    };
    let zip = match bs.get_object(&zip_key).await {
        Ok(Some(b)) => b,
        Ok(None) => return Err(format!("system backup {zip_key} not found")),
        Err(e) => return Err(format!("failed to download {zip_key}: {e}")),
    };
    let want = cfg.get("Checksum").and_then(Value::as_str).unwrap_or("");
    let got = hex::encode(Sha256::digest(&zip));
    if want != got {
        return Err(format!(
            "checksum mismatch of {zip_key}: expected {want}, got {got}"
        ));
    }
    set_sr_state(ctx, sr, "Unpacking", None);
    let lists = read_zip(&zip)?;
    if ctx.faults.is_set(Fault::SystemRestoreError.name()) {
        return Err(format!(
            "failed to restore Longhorn system from system backup {sb}: failed to roll out volumes: sandbox fault system-restore-error"
        ));
    }
    set_sr_state(ctx, sr, "Restoring", None);
    restore_objects(ctx, &lists)?;
    restore_pvcs(ctx, &lists).await?;
    set_sr_state(ctx, sr, "InProgress", None);
    if !ctx.sleep(ctx.timing.restore_step).await {
        return Ok(());
    }
    set_sr_state(ctx, sr, "Completed", None);
    Ok(())
}

/// Re-creates what is missing, in dependency order; existing objects are left alone.
fn restore_objects(ctx: &Ctx, lists: &BTreeMap<String, Vec<Value>>) -> Result<(), String> {
    let items = |k: &str| lists.get(k).cloned().unwrap_or_default();
    for (k, rt) in [
        ("kubernetes/storageclasses.yaml", &STORAGECLASSES),
        ("longhorn/recurringjobs.yaml", &LH_RECURRINGJOBS),
        ("longhorn/settings.yaml", &LH_SETTINGS),
    ] {
        for o in items(k) {
            create_if_missing(ctx, rt, o)?;
        }
    }
    for v in items("longhorn/volumes.yaml") {
        let vol = name(&v).to_string();
        if ctx
            .store
            .get(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), &vol)
            .is_some()
        {
            tracing::info!(volume = %vol, "system restore: volume exists, left alone");
            continue;
        }
        let last = str_at(&v, "/status/lastBackup").unwrap_or("").to_string();
        if last.is_empty() {
            // Longhorn restores a volume only from a backup; one without any stays out
            tracing::warn!(volume = %vol, "system restore: volume has no backup, not restored");
            continue;
        }
        let size = ctx
            .store
            .get(&LH_BACKUPS, Some(LONGHORN_NAMESPACE), &last)
            .and_then(|b| str_at(&b, "/status/volumeSize").map(str::to_string))
            .or_else(|| str_at(&v, "/spec/size").map(str::to_string))
            .unwrap_or_default();
        let mut fresh = json!({
            "apiVersion": "longhorn.io/v1beta2", "kind": "Volume",
            "metadata": {"name": vol, "namespace": LONGHORN_NAMESPACE,
                         "labels": v.pointer("/metadata/labels").cloned().unwrap_or(json!({}))},
            "spec": v.get("spec").cloned().unwrap_or(json!({})),
        });
        fresh["spec"]["fromBackup"] = json!(backup_url(&ctx.target.url, &last, &vol));
        fresh["spec"]["size"] = json!(size);
        fresh["metadata"]["labels"]["backup-volume"] = json!(vol);
        create_if_missing(ctx, &LH_VOLUMES, fresh)?;
    }
    for pv in items("kubernetes/persistentvolumes.yaml") {
        let mut pv = pv;
        // a restored PV is bound again by the PVC controller, not carried over
        if let Some(spec) = pv.get_mut("spec").and_then(Value::as_object_mut) {
            spec.remove("claimRef");
        }
        if let Some(o) = pv.as_object_mut() {
            o.remove("status");
        }
        create_if_missing(ctx, &PVS, pv)?;
    }
    Ok(())
}

/// PVCs last: like longhorn-manager's requeue on error, a PVC whose namespace does not exist yet
/// (GitOps still creating it) is retried each tick, up to [`NAMESPACE_WAIT_TICKS`].
async fn restore_pvcs(ctx: &Ctx, lists: &BTreeMap<String, Vec<Value>>) -> Result<(), String> {
    for mut pvc in lists
        .get("kubernetes/persistentvolumeclaims.yaml")
        .cloned()
        .unwrap_or_default()
    {
        if let Some(o) = pvc.as_object_mut() {
            o.remove("status");
        }
        let ns = str_at(&pvc, "/metadata/namespace")
            .unwrap_or("")
            .to_string();
        let mut ticks = 0;
        while ctx.store.get(&NAMESPACES, None, &ns).is_none() && ticks < NAMESPACE_WAIT_TICKS {
            ticks += 1;
            if !ctx.sleep(ctx.timing.controller_tick).await {
                return Ok(());
            }
        }
        create_if_missing(ctx, &PVCS, pvc)?;
    }
    Ok(())
}

/// How many controller ticks a restored PVC waits for its namespace.
const NAMESPACE_WAIT_TICKS: u32 = 600;

fn create_if_missing(ctx: &Ctx, rt: &'static ResourceType, obj: Value) -> Result<(), String> {
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(str::to_string);
    let n = name(&obj).to_string();
    if ctx.store.get(rt, ns.as_deref(), &n).is_some() {
        return Ok(());
    }
    match ctx.store.create(rt, ns.as_deref(), obj) {
        Ok(_) => Ok(()),
        Err(e) if e.reason == "AlreadyExists" => Ok(()),
        Err(e) => Err(format!("failed to restore {} {n}: {}", rt.kind, e.message)),
    }
}

/// Creates a `Ready` SystemBackup object for a system backup found on the backup target, as
/// the backup target controller's sync does after a rebuild. Existing objects are left alone.
///
/// # Errors
/// The store's error other than AlreadyExists.
pub fn upsert_discovered(
    ctx: &Ctx,
    sb: &str,
    version: &str,
    cfg: &Value,
) -> Result<(), crate::api::ApiError> {
    if ctx
        .store
        .get(&LH_SYSTEMBACKUPS, Some(LONGHORN_NAMESPACE), sb)
        .is_some()
    {
        return Ok(());
    }
    let s = |k: &str| cfg.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let obj = json!({
        "apiVersion": "longhorn.io/v1beta2", "kind": "SystemBackup",
        "metadata": {"name": sb, "namespace": LONGHORN_NAMESPACE},
        "spec": {"volumeBackupPolicy": "if-not-present"},
        "status": {
            "state": "Ready", "version": version, "gitCommit": s("LonghornGitCommit"),
            "managerImage": s("ManagerImage"), "createdAt": s("CreatedAt"),
            "lastSyncedAt": now_rfc3339(),
        },
    });
    match ctx
        .store
        .create(&LH_SYSTEMBACKUPS, Some(LONGHORN_NAMESPACE), obj)
    {
        Ok(_) => Ok(()),
        Err(e) if e.reason == "AlreadyExists" => Ok(()),
        Err(e) => Err(e),
    }
}

/// Lists `system-backups/<version>/<name>/system-backup.cfg` on the target and creates a
/// SystemBackup object for each (BackupTarget sync). Errors are logged, never fatal to a sync.
pub async fn discover(ctx: &Ctx, bs: &dr_backupstore::BackupStore) {
    let prefix = format!("{}system-backups/", bs.root());
    let objects = match bs.list_objects(&prefix).await {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(%prefix, error = %e, "system backups not listed");
            return;
        }
    };
    for o in objects {
        let Some(rest) = o.key.strip_prefix(&prefix) else {
            continue;
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let [version, sb, "system-backup.cfg"] = parts.as_slice() else {
            continue;
        };
        let cfg = match bs.get_object(&o.key).await {
            Ok(Some(b)) => serde_json::from_slice::<Value>(&b).unwrap_or(Value::Null),
            _ => continue,
        };
        if let Err(e) = upsert_discovered(ctx, sb, version, &cfg) {
            tracing::warn!(system_backup = %sb, error = %e.message, "system backup not synced");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_round_trips_lists_by_entry_path() {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        w.start_file("sb-1/yamls/longhorn/volumes.yaml", opts)
            .expect("entry");
        w.write_all(b"apiVersion: v1\nkind: List\nitems:\n- metadata: {name: vol-a}\n")
            .expect("write");
        let bytes = w.finish().expect("finish").into_inner();
        let lists = read_zip(&bytes).expect("reads");
        let vols = &lists["longhorn/volumes.yaml"];
        assert_eq!(name(&vols[0]), "vol-a");
        assert!(read_zip(b"not a zip").is_err());
    }

    #[test]
    fn cfg_checksum_is_sha256_of_zip_and_keys_follow_layout() {
        let cfg = system_backup_cfg("sb-1", "s3://b@us-east-1/", b"zip bytes");
        assert_eq!(
            cfg["Checksum"],
            hex::encode(Sha256::digest(b"zip bytes")).as_str()
        );
        assert_eq!(
            system_backup_key("backupstore/", "v1.8.1", "sb-1", "system-backup.zip"),
            "backupstore/system-backups/v1.8.1/sb-1/system-backup.zip"
        );
    }
}
