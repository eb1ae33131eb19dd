//! `restore-volume`: the single-volume restore of `volume-restore` — bring the deleted sentinel
//! volume back from *this drill's* backup under its well-known name, then the workload.
//!
//! As a user restores one volume on Longhorn 1.7–1.10 (longhorn-facts.md §2 "Restoring from a
//! backup"): request a backup-target sync, find the BackupVolume by label / `spec.volumeName` /
//! name (1.8+ names it `<volume>-<8 hex>`) and wait for its own `lastSyncedAt` ≥ the request
//! (`orchestrator::sync`), create the Volume with `fromBackup` = the Backup's `status.url`
//! recorded by the backup step, a PV with `volumeHandle` = the volume name, and wait for
//! `restoreInitiated: true, restoreRequired: false` (`longhorn::restore`). Before the restore the
//! backup target itself is read: the backup cfg and every block it lists must still be there. A
//! `RestoreFailure` condition fails at once with Longhorn's message. Then `deploy-sentinel`
//! re-applies the PVC (whose `volumeName` binds it to that PV) and the Deployment. Phases:
//! `backupvolume-discovered`, `volume-restored`, `workload-available`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::Api;

use super::{deploy, LABEL_RUN_ID};
use crate::cluster::{retry, wait};
use crate::config::scenario::{DeploySentinelStep, RestoreVolumeStep};
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};
use crate::longhorn::restore::{restore_progress, RestoreProgress};
use crate::longhorn::{Backup, Volume, BACKUP_COMPLETED};
use crate::orchestrator::{
    create_restore_volume, sync_backup_target, synced_backup_volume, RestoreRequest,
};

/// Replicas of the restored volume unless the step says otherwise (Longhorn's default).
const DEFAULT_REPLICAS: i64 = 3;

/// Runs `restore-volume`: syncs the backup target, finds the BackupVolume, checks the backup's cfg
/// and blocks in S3, creates the Volume `fromBackup` = `facts.backup_url` and its PV, waits for the
/// restore, then redeploys the sentinel. Reads `facts.volume`, `backup`, `backup_url` and
/// `storage_class` (default `longhorn`); `timeout` bounds the whole step. Volume fields
/// (`spec.fromBackup`, `status.restoreRequired`, `status.restoreInitiated`):
/// `longhorn-manager@v1.9.1:k8s/pkg/apis/longhorn/v1beta2/volume.go`.
///
/// # Errors
/// A [`StepFailure`] when a fact is missing, the backup is not restorable from S3, Longhorn reports
/// `RestoreFailure`, or the deadline passes.
pub async fn run(
    ctx: &mut DrillContext,
    step: &RestoreVolumeStep,
    timeout: Duration,
) -> StepResult {
    let deadline = Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    let volume: String = ctx.record.facts.volume.clone().ok_or_else(|| {
        StepFailure::new(
            "no sentinel volume recorded; deploy-sentinel must run before restore-volume",
        )
    })?;
    let backup_name: String = ctx.record.facts.backup.clone().ok_or_else(|| {
        StepFailure::new("no backup recorded; the backup step must run before restore-volume")
    })?;
    let url: String = ctx.record.facts.backup_url.clone().ok_or_else(|| {
        StepFailure::new(format!(
            "backup {backup_name} has no recorded URL; the backup step did not complete"
        ))
    })?;
    // Longhorn's own decoding (percent-escapes included): dr_backupstore::decode_backup_url.
    match dr_backupstore::decode_backup_url(&url) {
        Ok(n) if n.backup == backup_name && n.volume == volume => {}
        _ => {
            return Err(StepFailure::new(format!(
            "the recorded backup URL {url} does not name backup {backup_name} of volume {volume}"
        )))
        }
    }
    let conn = ctx.conn().await?;
    let ns = ctx.profile.expect.longhorn_namespace.clone();
    let run_id = ctx.record.run_id.clone();
    let volumes: Api<Volume> = Api::namespaced(conn.client.clone(), &ns);
    if retry::with_retry(&ctx.stats, "api", || volumes.get_opt(&volume))
        .await?
        .is_some()
    {
        return Err(StepFailure::new(format!(
            "Longhorn volume {volume} still exists; delete-sentinel must remove it before it can be restored under its well-known name"
        )));
    }

    // Backup target sync, then the BackupVolume (both namings).
    let started = Instant::now();
    let mut lines = Vec::new();
    let synced = sync_backup_target(&conn.client, &ns, left(), &ctx.stats, &mut |l: &str| {
        lines.push(l.to_string())
    })
    .await;
    for l in lines.drain(..) {
        ctx.say(l);
    }
    let requested =
        synced.map_err(|e| StepFailure::new(format!("the backup target did not sync: {e}")))?;
    // The BackupVolume exists before its status is filled (Longhorn's backup-volume controller
    // syncs it after the target sync): wait for its own sync, or the Backup may not be read yet.
    let bv = synced_backup_volume(&conn.client, &ns, &volume, requested, left(), &ctx.stats)
        .await
        .map_err(|e| StepFailure::new(format!("the BackupVolume of {volume} did not sync: {e}")))?;
    let Some(bv) = bv else {
        ctx.check(
            "backupvolume-found",
            false,
            format!("a BackupVolume for volume {volume}"),
            "none",
        );
        return Err(StepFailure::new(format!(
            "Longhorn has no BackupVolume for volume {volume} after a sync (looked up by label backup-volume={volume}, spec.volumeName and name): backup {backup_name} is not on the backup target"
        )));
    };
    let bv_name = bv.metadata.name.clone().unwrap_or_default();
    ctx.check(
        "backupvolume-found",
        true,
        format!("a BackupVolume for volume {volume}"),
        bv_name.clone(),
    );
    ctx.phase("backupvolume-discovered", started.elapsed());

    // This drill's Backup, as Longhorn knows it after the sync.
    let backups: Api<Backup> = Api::namespaced(conn.client.clone(), &ns);
    let backup = retry::with_retry(&ctx.stats, "api", || backups.get_opt(&backup_name)).await?;
    let status = backup.and_then(|b| b.status).unwrap_or_default();
    if !ctx.check(
        "backup-completed",
        status.state == BACKUP_COMPLETED,
        format!("Backup {backup_name} Completed"),
        format!("state {:?}", status.state),
    ) {
        return Err(StepFailure::new(format!(
            "Longhorn does not hold backup {backup_name} as Completed after syncing the backup target (state {:?}); it may have been deleted from the target",
            status.state
        )));
    }

    // Longhorn's objects outlive the data they describe (a sync does not remove a Backup whose
    // cfg vanished): read the backup target itself before asking for a restore.
    let bt = ctx
        .backup_target()
        .map_err(StepFailure::unreachable)?
        .clone();
    let report = dr_backupstore::verify_structure(&bt.backupstore(), &volume, &backup_name)
        .await
        .map_err(|e| {
            StepFailure::new(format!(
                "backup {backup_name} of volume {volume} is not on the backup target any more: {e}"
            ))
        })?;
    let intact = report.complete && report.blocks_missing.is_empty();
    if !ctx.check(
        "backup-on-target",
        intact,
        format!("{} complete with every block", report.backup_cfg_key),
        format!(
            "complete={}, {} blocks missing",
            report.complete,
            report.blocks_missing.len()
        ),
    ) {
        return Err(StepFailure::new(format!(
            "backup {backup_name} on the backup target cannot be restored: {}",
            report.problems().join("; ")
        )));
    }

    let restore_started = Instant::now();
    let class: String = ctx
        .record
        .facts
        .storage_class
        .clone()
        .unwrap_or_else(|| "longhorn".to_string());
    let labels = BTreeMap::from([
        (LABEL_RUN_ID.to_string(), run_id.clone()),
        (
            "app.kubernetes.io/managed-by".to_string(),
            "dr-harness".to_string(),
        ),
    ]);
    let request = RestoreRequest {
        name: &volume,
        backup_url: &url,
        volume_size: &status.volume_size,
        replicas: step.replicas.unwrap_or(DEFAULT_REPLICAS),
        storage_class: &class,
        labels,
    };
    let mut lines = Vec::new();
    let created = create_restore_volume(&conn.client, &ns, &request, &mut |l: &str| {
        lines.push(l.to_string())
    })
    .await;
    for l in lines {
        ctx.say(l);
    }
    created.map_err(|e| StepFailure::new(format!("restoring {volume} from {backup_name}: {e}")))?;
    ctx.say(format!("restoring volume {volume} from {url}"));
    let done = wait::wait_for(
        volumes.clone(),
        &volume,
        &format!("volume {volume} to finish restoring from {backup_name}"),
        left(),
        &ctx.stats,
        |v: Option<&Volume>| {
            restore_progress(v.and_then(|v| v.status.as_ref())) != RestoreProgress::Running
        },
        |v| {
            format!(
                "{:?}",
                v.and_then(|v| v.status.as_ref()).map(|s| (
                    &s.state,
                    s.restore_initiated,
                    s.restore_required,
                    &s.robustness
                ))
            )
        },
    )
    .await?
    .ok_or_else(|| StepFailure::new(format!("volume {volume} disappeared while restoring")))?;
    let vstatus = done.status.unwrap_or_default();
    if let RestoreProgress::Failed(msg) = restore_progress(Some(&vstatus)) {
        ctx.check(
            "volume-restored",
            false,
            format!("volume {volume} restored from {backup_name}"),
            msg.clone(),
        );
        return Err(StepFailure::new(format!(
            "Longhorn could not restore volume {volume} from backup {backup_name}: {msg}"
        ))
        .diagnostic(format!("kubectl -n {ns} get volume {volume} -o yaml")));
    }
    ctx.check(
        "volume-restored",
        true,
        format!("volume {volume} restored from {backup_name}"),
        format!("state {}, robustness {}", vstatus.state, vstatus.robustness),
    );
    ctx.phase("volume-restored", restore_started.elapsed());

    // The workload, bound to the restored volume by the PVC's volumeName.
    let workload_started = Instant::now();
    deploy::run(ctx, &DeploySentinelStep { adopt: false }).await?;
    ctx.phase("workload-available", workload_started.elapsed());
    Ok(())
}
