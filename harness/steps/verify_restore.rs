//! `verify-restore`: the sentinel PVC is bound to a Longhorn Volume restored from *this drill's*
//! backup — `fromBackup` names it, `restoreRequired` is false, robustness healthy. When a fresh
//! empty volume took its place (the orchestrator did not run) or an older backup was restored,
//! the failure says exactly that.

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::Api;

use super::deploy::volume_of;
use crate::cluster::retry;
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};
use crate::longhorn::Volume;

/// Runs `verify-restore`: the sentinel PVC's Longhorn Volume must have been restored from
/// `facts.backup` (`spec.fromBackup`), with `status.restoreRequired: false` and `status.robustness:
/// healthy` (fields: `longhorn-manager@v1.9.1:k8s/pkg/apis/longhorn/v1beta2/volume.go`).
///
/// # Errors
/// A [`StepFailure`] when no backup is recorded, the volume is fresh or restored from another
/// backup, or not yet healthy.
pub async fn run(ctx: &mut DrillContext) -> StepResult {
    let conn = ctx.conn().await?;
    let s = ctx.scenario.sentinel.clone();
    let ns = ctx.profile.expect.longhorn_namespace.clone();
    let expected_backup: String = ctx.record.facts.backup.clone().ok_or_else(|| {
        StepFailure::new("no backup recorded; the backup step must run before verify-restore")
    })?;

    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(conn.client.clone(), &s.namespace);
    let pvc = retry::with_retry(&ctx.stats, "api", || pvcs.get_opt(&s.pvc))
        .await?
        .ok_or_else(|| StepFailure::new(format!("the sentinel PVC {}/{} does not exist on the rebuilt cluster; GitOps did not re-create the workload", s.namespace, s.pvc)))?;
    let phase = pvc
        .status
        .as_ref()
        .and_then(|st| st.phase.clone())
        .unwrap_or_default();
    if !ctx.check(
        "pvc-bound",
        phase == "Bound",
        "sentinel PVC Bound",
        phase.clone(),
    ) {
        return Err(StepFailure::new(format!(
            "the sentinel PVC {}/{} is {phase}, not Bound",
            s.namespace, s.pvc
        )));
    }
    let volume_name = volume_of(ctx, &conn, &pvc).await?;
    let volumes: Api<Volume> = Api::namespaced(conn.client.clone(), &ns);
    let volume = retry::with_retry(&ctx.stats, "api", || volumes.get_opt(&volume_name))
        .await?
        .ok_or_else(|| {
            StepFailure::new(format!(
                "the PVC is bound to volume {volume_name}, but Longhorn has no Volume of that name"
            ))
        })?;
    let status = volume.status.clone().unwrap_or_default();
    let diag = vec![format!(
        "Volume {ns}/{volume_name}: fromBackup={:?} state={} robustness={} restoreRequired={}",
        volume.spec.from_backup, status.state, status.robustness, status.restore_required
    )];

    let from = volume.spec.from_backup.clone().unwrap_or_default();
    if from.is_empty() {
        ctx.check(
            "restored-from-backup",
            false,
            format!("volume created from backup {expected_backup}"),
            "a fresh volume (no fromBackup)",
        );
        let mut f = StepFailure::new(format!(
            "the sentinel PVC is bound to a fresh, empty volume {volume_name} (spec.fromBackup is empty): the restore orchestrator did not restore it from backup {expected_backup}. Look at the orchestrator Job's logs and whether it ran before the workload"
        ))
        .with_diagnostics(diag);
        if let Some(job) = ctx.profile.expect.orchestrator_job.clone() {
            let (jns, jname) = job.split_once('/').unwrap_or((ns.as_str(), job.as_str()));
            f = f.with_diagnostics(super::wait_ready::job_logs(&conn, jns, jname).await);
        }
        return Err(f);
    }
    // `spec.fromBackup` decoded as Longhorn decodes it (dr_backupstore::decode_backup_url);
    // an undecodable URL names no backup, so the check below fails with the URL shown.
    let restored_backup = dr_backupstore::decode_backup_url(&from)
        .map(|n| n.backup)
        .unwrap_or_default();
    if !ctx.check(
        "restored-from-drill-backup",
        restored_backup == expected_backup,
        format!("fromBackup names {expected_backup}"),
        from.clone(),
    ) {
        return Err(StepFailure::new(format!(
            "an older backup was restored: volume {volume_name} was restored from {restored_backup} but this drill's backup is {expected_backup}. The orchestrator picked a stale backup — check that Longhorn had synced the newest backup before the orchestrator ran (longhorn/longhorn#5292)"
        ))
        .with_diagnostics(diag));
    }
    if !ctx.check(
        "restore-finished",
        status.restore_initiated && !status.restore_required,
        "restoreInitiated true, restoreRequired false",
        format!(
            "restoreInitiated {}, restoreRequired {}",
            status.restore_initiated, status.restore_required
        ),
    ) {
        return Err(StepFailure::new(format!(
            "volume {volume_name} has not finished restoring (restoreInitiated {}, restoreRequired {})",
            status.restore_initiated, status.restore_required
        ))
        .with_diagnostics(diag));
    }
    if !ctx.check(
        "volume-healthy",
        crate::longhorn::robustness_ok(&status.state, &status.robustness),
        "robustness healthy (unknown while detached)",
        status.robustness.clone(),
    ) {
        return Err(StepFailure::new(format!(
            "restored volume {volume_name} is {}, not healthy",
            status.robustness
        ))
        .with_diagnostics(diag));
    }
    Ok(())
}
