//! `system-restore`: on the rebuilt cluster, restore the drill's SystemBackup with a Longhorn
//! SystemRestore — the path that brings back every Longhorn volume (from its last backup), its
//! PVs and PVCs in one request, instead of the restore orchestrator's per-volume restores.
//!
//! Order (Longhorn docs "Longhorn System Backup And Restore"): the new cluster's API answers →
//! Longhorn's BackupTarget is available → a sync is requested (`spec.syncRequestedAt`) so the
//! SystemBackup object is discovered from S3 without waiting a whole poll interval → a
//! SystemRestore naming it (`spec.systemBackup`) → `Completed`, or `Error` with Longhorn's
//! message. Longhorn leaves resources that exist alone, so the workload must not have provisioned
//! a fresh volume first: run this before the workload is deployed.

use std::time::{Duration, Instant};

use chrono::Utc;
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use serde_json::json;

use super::system_backup::{error_message, longhorn_api, state};
use super::LABEL_RUN_ID;
use crate::cluster::{retry, wait};
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};
use crate::longhorn::BackupTarget;

/// Runs `system-restore`: waits for the new cluster's API and BackupTarget, requests a sync, then
/// restores `facts.system_backup` with a SystemRestore and waits up to `timeout` for `Completed`
/// (`spec.systemBackup`, `status.state`:
/// `longhorn-manager@v1.9.1:k8s/pkg/apis/longhorn/v1beta2/systemrestore.go`).
///
/// # Errors
/// A [`StepFailure`] when no system backup is recorded, the SystemRestore reaches `Error`
/// (Longhorn's message), or a wait times out.
pub async fn run(ctx: &mut DrillContext, timeout: Duration) -> StepResult {
    let deadline = Instant::now() + timeout.saturating_sub(Duration::from_secs(2));
    let left = || deadline.saturating_duration_since(Instant::now());
    let sb: String = ctx.record.facts.system_backup.clone().ok_or_else(|| {
        StepFailure::new(
            "no SystemBackup recorded; a system-backup step must run before system-restore",
        )
    })?;
    let ns = ctx.profile.expect.longhorn_namespace.clone();

    // The rebuilt cluster's API (the kubeconfig may have changed with the rebuild).
    let gate = Instant::now();
    let conn = loop {
        ctx.forget_connection();
        if let Ok(conn) = ctx.conn().await {
            let req = http::Request::get("/readyz")
                .body(Vec::new())
                .map_err(|e| StepFailure::new(e.to_string()))?;
            if conn
                .client
                .request_text(req)
                .await
                .is_ok_and(|t| t.trim() == "ok")
            {
                break conn;
            }
        }
        if left().is_zero() {
            return Err(StepFailure::new("the rebuilt cluster's API never answered /readyz with ok; check the rebuild hook's output"));
        }
        ctx.stats.count("api-not-ready-yet");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    ctx.phase("api-ready", gate.elapsed());

    // Longhorn's backup target, then a sync so the SystemBackup is discovered now.
    let gate = Instant::now();
    let targets: kube::Api<BackupTarget> = kube::Api::namespaced(conn.client.clone(), &ns);
    wait::wait_for(
        targets.clone(),
        "default",
        "Longhorn's BackupTarget `default` available",
        left(),
        &ctx.stats,
        |t: Option<&BackupTarget>| {
            t.and_then(|t| t.status.as_ref())
                .is_some_and(|s| s.available)
        },
        |t| match t {
            None => "no BackupTarget yet (Longhorn not installed yet?)".into(),
            Some(_) => "not available".into(),
        },
    )
    .await?;
    let requested = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let patch = json!({"spec": {"syncRequestedAt": requested}});
    let (pp, merge) = (PatchParams::default(), Patch::Merge(&patch));
    retry::with_retry(&ctx.stats, "api", || targets.patch("default", &pp, &merge)).await?;
    let sbs = longhorn_api(&conn.client, &ns, "SystemBackup");
    wait::wait_for(
        sbs,
        &sb,
        &format!("SystemBackup {sb} to be discovered from the backup target"),
        left(),
        &ctx.stats,
        |o: Option<&DynamicObject>| state(o) == "Ready",
        |o| match o {
            None => "no SystemBackup object yet".into(),
            Some(_) => format!("state {:?}", state(o)),
        },
    )
    .await
    .map_err(|e| StepFailure::new(format!("{e}. Longhorn discovers system backups when it syncs the backup target: check the BackupTarget's URL and credential secret")))?;
    ctx.phase("system-backup-discovered", gate.elapsed());
    ctx.check(
        "system-backup-discovered",
        true,
        format!("SystemBackup {sb} Ready on the rebuilt cluster"),
        "discovered",
    );

    // The SystemRestore.
    let gate = Instant::now();
    let run_id = ctx.record.run_id.clone();
    let name = format!("{sb}-restore");
    let api = longhorn_api(&conn.client, &ns, "SystemRestore");
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "longhorn.io/v1beta2", "kind": "SystemRestore",
        "metadata": {"name": name, "namespace": ns, "labels": {LABEL_RUN_ID: run_id}},
        "spec": {"systemBackup": sb},
    }))
    .map_err(|e| StepFailure::new(e.to_string()))?;
    if retry::with_retry(&ctx.stats, "api", || api.get_opt(&name))
        .await?
        .is_none()
    {
        let pp = PostParams::default();
        retry::with_retry(&ctx.stats, "api", || api.create(&pp, &obj)).await?;
        ctx.say(format!(
            "created SystemRestore {ns}/{name} from SystemBackup {sb}"
        ));
    }
    let done = wait::wait_for(
        api,
        &name,
        &format!("SystemRestore {name} to reach Completed"),
        left(),
        &ctx.stats,
        |o: Option<&DynamicObject>| matches!(state(o).as_str(), "Completed" | "Error"),
        |o| format!("state {:?}", state(o)),
    )
    .await?
    .ok_or_else(|| {
        StepFailure::new(format!(
            "SystemRestore {name} disappeared while waiting for it"
        ))
    })?;
    if state(Some(&done)) == "Error" {
        return Err(StepFailure::new(format!(
            "Longhorn SystemRestore {name} ended in Error: {}",
            error_message(&done)
        ))
        .diagnostic(format!("kubectl -n {ns} get systemrestore {name} -o yaml"))
        .diagnostic(format!(
            "kubectl -n {ns} logs -l app=longhorn-manager | grep -i system-restore"
        )));
    }
    ctx.phase("system-restore-completed", gate.elapsed());
    ctx.check(
        "system-restore-completed",
        true,
        format!("SystemRestore {name} Completed"),
        "Completed",
    );
    Ok(())
}
