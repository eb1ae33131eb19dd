//! `backup`: an on-demand Longhorn Snapshot and Backup of the sentinel volume, then proof in S3.
//!
//! Longhorn saying `Completed` is not proof (backups that show "No data", blocks that never
//! uploaded: longhorn-facts.md §4), so after the Backup completes the step reads the backup
//! target itself: `backup_<name>.cfg` exists and is complete, every block it lists exists, and
//! `volume.cfg` names it as the last backup. An `Error` or `Unknown` state (both final upstream)
//! fails at once with Longhorn's text. The Backup carries the label `backup-volume: <volume>`,
//! which Longhorn 1.7–1.9 require ([`backup_object`]); its compression is the Volume's, not the
//! step's (the step's `compression` key is deprecated and only warns).

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::PostParams;
use kube::Api;

use super::LABEL_RUN_ID;
use crate::cluster::{retry, wait};
use crate::config::scenario::BackupStep;
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};
use crate::longhorn::{self, Backup, BackupSpec, Snapshot, SnapshotSpec};

/// Longhorn's own backup names are `backup-<16 hex>`; the drill's follow that form, derived from
/// the run id so a resumed drill finds its backup again.
pub fn backup_name(run_id: &str) -> String {
    let hex = super::run_hex(run_id, 16);
    format!("backup-{hex}")
}

/// Snapshot name for the drill.
pub fn snapshot_name(run_id: &str) -> String {
    let hex = super::run_hex(run_id, 8);
    format!("dr-harness-{hex}")
}

/// Runs the `backup` step: creates this run's Snapshot and Backup of `facts.volume`, waits for
/// `Completed`, then checks the backup cfg, its blocks and `volume.cfg` on the backup target.
/// Writes `facts.snapshot`, `snapshot_at_ms` (Unix milliseconds), `backup`, `backup_url` and
/// `backup_compression`. Backup fields (`status.state`, `status.url`, `status.error`):
/// `longhorn-manager@v1.9.1:k8s/pkg/apis/longhorn/v1beta2/backup.go`.
///
/// # Errors
/// A [`StepFailure`] when no volume is recorded, the Backup reaches `Error`/`Unknown` (Longhorn's
/// message quoted), times out, or S3 lacks a cfg or block.
pub async fn run(ctx: &mut DrillContext, step: &BackupStep) -> StepResult {
    let volume: String = ctx.record.facts.volume.clone().ok_or_else(|| {
        StepFailure::new("no sentinel volume recorded; deploy-sentinel must run before backup")
    })?;
    let conn = ctx.conn().await?;
    let ns = ctx.profile.expect.longhorn_namespace.clone();
    let run_id = ctx.record.run_id.clone();
    let mut labels = step.labels.clone();
    labels.insert(LABEL_RUN_ID.to_string(), run_id.clone());
    let wait_timeout = step.wait_timeout.unwrap_or(Duration::from_secs(1800));

    // Snapshot.
    let snapshots: Api<Snapshot> = Api::namespaced(conn.client.clone(), &ns);
    let snap_name = snapshot_name(&run_id);
    let mut snap = Snapshot::new(
        &snap_name,
        SnapshotSpec {
            volume: volume.clone(),
            create_snapshot: true,
            labels: BTreeMap::new(),
        },
    );
    snap.metadata.labels = Some(labels.clone());
    if ctx.record.facts.snapshot_at_ms.is_none() {
        ctx.record.facts.snapshot_at_ms = Some(chrono::Utc::now().timestamp_millis());
    }
    create_or_reuse(&ctx.stats, &snapshots, &snap_name, &snap).await?;
    ctx.record.facts.snapshot = Some(snap_name.clone());
    wait::wait_for(
        snapshots.clone(),
        &snap_name,
        &format!("snapshot {snap_name} of volume {volume} to be readyToUse"),
        wait_timeout,
        &ctx.stats,
        |s: Option<&Snapshot>| {
            s.and_then(|s| s.status.as_ref())
                .is_some_and(|st| st.ready_to_use || !st.error.is_empty())
        },
        |s| format!("{:?}", s.and_then(|s| s.status.clone())),
    )
    .await?;
    let snap_status = snapshots.get(&snap_name).await?.status.unwrap_or_default();
    if !snap_status.error.is_empty() {
        return Err(StepFailure::new(format!(
            "Longhorn could not take snapshot {snap_name} of volume {volume}: {}",
            snap_status.error
        )));
    }
    ctx.check(
        "snapshot-ready",
        true,
        format!("snapshot {snap_name} readyToUse"),
        format!("created {}", snap_status.creation_time),
    );

    // Backup.
    let backups: Api<Backup> = Api::namespaced(conn.client.clone(), &ns);
    let name = backup_name(&run_id);
    let backup = backup_object(&name, &snap_name, &volume, &labels);
    note_compression(ctx, &conn.client, &ns, &volume, step).await;
    create_or_reuse(&ctx.stats, &backups, &name, &backup).await?;
    ctx.record.facts.backup = Some(name.clone());
    let done = wait::wait_for(
        backups.clone(),
        &name,
        &format!("backup {name} of volume {volume} to reach Completed"),
        wait_timeout,
        &ctx.stats,
        |b: Option<&Backup>| {
            let state = b.and_then(|b| b.status.as_ref()).map(|s| s.state.as_str()).unwrap_or("");
            backup_wait_is_over(state)
        },
        |b| match b.and_then(|b| b.status.as_ref()) {
            None => "no status yet".into(),
            Some(s) => format!("state {:?}, progress {}%", s.state, s.progress),
        },
    )
    .await
    .map_err(|e| {
        StepFailure::new(format!(
            "{e}. A backup stuck in InProgress is a known Longhorn failure (longhorn/longhorn#9417): look at the longhorn-manager logs and the backup target's reachability from the nodes"
        ))
    })?
    .ok_or_else(|| StepFailure::new(format!("backup {name} disappeared while waiting for it")))?;
    let status = done.status.unwrap_or_default();
    if status.state != longhorn::BACKUP_COMPLETED {
        return Err(StepFailure::new(format!(
            "Longhorn backup {name} of volume {volume} ended in {}{}: {}",
            status.state,
            if status.state == longhorn::BACKUP_UNKNOWN {
                " (the engine reported a state Longhorn does not know; final, like Error)"
            } else {
                ""
            },
            if status.error.is_empty() {
                "(Longhorn gave no error text)"
            } else {
                &status.error
            }
        ))
        .diagnostic(format!("kubectl -n {ns} get backup {name} -o yaml")));
    }
    ctx.check(
        "backup-completed",
        true,
        format!("backup {name} Completed"),
        format!("url {}", status.url),
    );
    ctx.record.backup_url = Some(status.url.clone());
    ctx.record.facts.backup_url = Some(status.url.clone());
    prove_in_s3(ctx, &volume, &name).await
}

/// Whether the wait for a Backup is over: `Completed`, or a state Longhorn never leaves by itself
/// (`Error`, `Unknown`: longhorn-manager@v1.9.1:controller/backup_controller.go
/// `backupInFinalState`; `Unknown` comes from engineapi/backups.go `ConvertEngineBackupState`).
fn backup_wait_is_over(state: &str) -> bool {
    longhorn::backup_state_is_final(state)
}

/// The Backup object the step creates: `spec.snapshotName`, `spec.labels` = the step's labels
/// (stored in the backup cfg on the target), and the object labels plus
/// `backup-volume: <volume>` — without that label the Backup webhook of Longhorn 1.7.x–1.9.x
/// refuses the object ("cannot find the backup volume label for backup …",
/// longhorn-manager@v1.9.1:webhook/resources/backup/mutator.go); 1.10 accepts it either way
/// (longhorn-manager@v1.10.1, same file), so it is set on every version.
pub fn backup_object(
    name: &str,
    snapshot: &str,
    volume: &str,
    labels: &BTreeMap<String, String>,
) -> Backup {
    let mut backup = Backup::new(
        name,
        BackupSpec {
            snapshot_name: snapshot.to_string(),
            labels: labels.clone(),
            backup_mode: None,
        },
    );
    let mut meta_labels = labels.clone();
    meta_labels.insert(
        longhorn::LABEL_BACKUP_VOLUME.to_string(),
        volume.to_string(),
    );
    backup.metadata.labels = Some(meta_labels);
    backup
}

/// Says which compression Longhorn will use (the Volume's `spec.backupCompressionMethod`), and
/// warns when the scenario sets the step's `compression`, which has no effect.
async fn note_compression(
    ctx: &mut DrillContext,
    client: &kube::Client,
    ns: &str,
    volume: &str,
    step: &BackupStep,
) {
    let volumes: Api<longhorn::Volume> = Api::namespaced(client.clone(), ns);
    let method = volumes
        .get_opt(volume)
        .await
        .ok()
        .flatten()
        .and_then(|v| v.spec.backup_compression_method)
        .filter(|m| !m.is_empty());
    let method_text = method
        .clone()
        .unwrap_or_else(|| "the default-backup-compression-method setting".to_string());
    if let Some(asked) = step.compression {
        ctx.say(format!(
            "warning: the backup step's `compression = \"{}\"` has no effect and is deprecated: Longhorn compresses {volume}'s backups with the Volume's spec.backupCompressionMethod ({method_text}), fixed in volume.cfg at its first backup",
            asked.as_str()
        ));
    }
    if let Some(m) = method {
        ctx.record.facts.backup_compression = Some(m.clone());
    }
}

async fn create_or_reuse<K>(
    stats: &retry::RetryStats,
    api: &Api<K>,
    name: &str,
    obj: &K,
) -> StepResult
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let pp = PostParams::default();
    match retry::with_retry(stats, "api", || api.create(&pp, obj)).await {
        Ok(_) => Ok(()),
        // A resumed drill finds the object it created before.
        Err(kube::Error::Api(s)) if s.reason == "AlreadyExists" => {
            let existing = api.get(name).await?;
            let ours = existing
                .meta()
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_RUN_ID))
                .is_some_and(|v| {
                    Some(v) == obj.meta().labels.as_ref().and_then(|l| l.get(LABEL_RUN_ID))
                });
            if ours {
                Ok(())
            } else {
                Err(StepFailure::new(format!(
                    "{name} already exists and was not created by this drill; refusing to touch it"
                )))
            }
        }
        Err(kube::Error::Api(s)) => Err(StepFailure::new(format!(
            "creating {name} was refused: {} ({})",
            s.message, s.reason
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Reads the backup target directly: the backup cfg is there and complete, every block it lists
/// exists, and `volume.cfg` names the backup.
async fn prove_in_s3(ctx: &mut DrillContext, volume: &str, backup: &str) -> StepResult {
    let bt = ctx
        .backup_target()
        .map_err(StepFailure::unreachable)?
        .clone();
    let store = bt.backupstore();
    let report = dr_backupstore::verify_structure(&store, volume, backup)
        .await
        .map_err(|e| StepFailure::new(format!("the backup target does not hold backup {backup} of {volume} in a readable form: {e}")))?;
    let problems = report.problems();
    ctx.check(
        "s3-backup-cfg",
        report.complete,
        format!("{} exists with CreatedTime set", report.backup_cfg_key),
        if report.complete {
            "complete".to_string()
        } else {
            "in progress or missing".to_string()
        },
    );
    ctx.check(
        "s3-blocks-present",
        report.blocks_missing.is_empty(),
        format!(
            "all {} blocks listed by the cfg exist",
            report.blocks_listed
        ),
        format!("{} missing", report.blocks_missing.len()),
    );
    ctx.check(
        "s3-volume-cfg-names-backup",
        report.volume_cfg_names_it,
        format!("volume.cfg LastBackupName = {backup}"),
        report.volume_cfg_names_it.to_string(),
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(StepFailure::new(format!(
            "Longhorn reports backup {backup} Completed, but the backup target disagrees: {}. This backup cannot be trusted for a restore; the drill stops before anything is destroyed",
            problems.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backup_object_carries_the_backup_volume_label() {
        let labels = BTreeMap::from([(LABEL_RUN_ID.to_string(), "r1".to_string())]);
        let b = backup_object(
            "backup-0123456789abcdef",
            "snap",
            "dr-exercise-data",
            &labels,
        );
        let meta = b.metadata.labels.unwrap();
        assert_eq!(
            meta.get(longhorn::LABEL_BACKUP_VOLUME).map(String::as_str),
            Some("dr-exercise-data")
        );
        assert_eq!(meta.get(LABEL_RUN_ID).map(String::as_str), Some("r1"));
        // spec.labels go into the backup cfg; the webhook's label is an object label only.
        assert!(!b.spec.labels.contains_key(longhorn::LABEL_BACKUP_VOLUME));
        assert_eq!(b.spec.snapshot_name, "snap");
    }

    #[test]
    fn unknown_ends_the_wait_like_error() {
        for state in ["Completed", "Error", "Unknown"] {
            assert!(backup_wait_is_over(state), "{state}");
        }
        for state in ["", "Pending", "InProgress"] {
            assert!(!backup_wait_is_over(state), "{state}");
        }
    }
}
