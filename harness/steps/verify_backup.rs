//! `verify-backup`: prove backups restorable from the backup target alone — no cluster needed.
//!
//! Structural (default): the backup cfg and `volume.cfg` parse, the backup is complete, every
//! listed block exists, offsets are aligned and in range. Deep: every block downloaded,
//! decompressed and checked against its SHA-512/64 name, the volume image reassembled in a sparse
//! temp file (never in memory), and its ext4 filesystem read to check the sentinel manifest (or
//! given paths). In a drill this runs before the destroy, so a bad backup stops the drill while
//! the cluster still stands.

use std::time::Instant;

use dr_backupstore::deep::{deep_verify_files, FileChecks};
use dr_backupstore::ext4::DEFAULT_MANIFEST_PATH;

use super::facts;
use crate::config::scenario::VerifyBackupStep;
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};
use crate::engine::record::BackupVerification;

pub async fn run(ctx: &mut DrillContext, step: &VerifyBackupStep) -> StepResult {
    if ctx.backup_target.is_none() {
        ctx.connect_backup_target()
            .await
            .map_err(StepFailure::unreachable)?;
    }
    let store = ctx
        .backup_target()
        .map_err(StepFailure::unreachable)?
        .backupstore();
    let targets = targets(ctx, step, &store).await?;
    if targets.is_empty() {
        return Err(StepFailure::new(
            "no volume to verify: the backup target holds no volumes (empty result is not a pass)",
        ));
    }
    let mut failures = Vec::new();
    for (volume, backup) in targets {
        let started = Instant::now();
        let verification = verify_one(&store, &volume, &backup, step).await;
        let v = match verification {
            Ok((bytes, problems)) => BackupVerification {
                volume: volume.clone(),
                backup: backup.clone(),
                deep: step.deep,
                success: problems.is_empty(),
                verified_bytes: bytes,
                seconds: started.elapsed().as_secs_f64(),
                problems,
            },
            Err(e) => BackupVerification {
                volume: volume.clone(),
                backup: backup.clone(),
                deep: step.deep,
                success: false,
                verified_bytes: 0,
                seconds: started.elapsed().as_secs_f64(),
                problems: vec![e],
            },
        };
        ctx.check(
            &format!("{}:{volume}", if step.deep { "deep" } else { "structure" }),
            v.success,
            format!("backup {backup} of {volume} restorable from the backup target"),
            if v.success {
                format!("{} bytes verified", v.verified_bytes)
            } else {
                v.problems.join("; ")
            },
        );
        if !v.success {
            failures.push(format!("{volume} ({backup}): {}", v.problems.join("; ")));
        }
        ctx.record
            .backup_verifications
            .retain(|o| o.volume != v.volume);
        ctx.record.backup_verifications.push(v);
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(StepFailure::new(format!(
            "backups that cannot be restored from the backup target: {}",
            failures.join(" | ")
        )))
    }
}

/// `(volume, backup)` pairs to verify.
async fn targets(
    ctx: &DrillContext,
    step: &VerifyBackupStep,
    store: &dr_backupstore::BackupStore,
) -> Result<Vec<(String, String)>, StepFailure> {
    let s3_err = |e: dr_backupstore::StoreError| {
        StepFailure::unreachable(format!("reading the backup target: {e}"))
    };
    let volumes: Vec<String> = if step.all_volumes {
        store.list_volumes().await.map_err(s3_err)?
    } else if !step.volumes.is_empty() {
        step.volumes.clone()
    } else {
        // The drill's own backup.
        let volume: String = ctx.fact(facts::VOLUME).ok_or_else(|| StepFailure::new("no volumes given and no sentinel volume recorded (run it after backup, or set `volumes`)"))?;
        let backup: String = ctx.fact(facts::BACKUP).ok_or_else(|| {
            StepFailure::new("no volumes given and no backup recorded by this drill")
        })?;
        return Ok(vec![(volume, backup)]);
    };
    let mut out = Vec::new();
    for volume in volumes {
        let backup = match step.backup.as_deref() {
            Some(name) if name != "latest" => name.to_string(),
            _ => {
                let cfg = store.get_volume_cfg(&volume).await.map_err(s3_err)?;
                match cfg.map(|c| c.last_backup_name).filter(|n| !n.is_empty()) {
                    Some(n) => n,
                    None => {
                        return Err(StepFailure::new(format!(
                            "volume {volume} has no volume.cfg naming a last backup on the backup target ({})",
                            store.volume_cfg_key(&volume)
                        )))
                    }
                }
            }
        };
        out.push((volume, backup));
    }
    Ok(out)
}

/// Verifies one backup; returns (bytes verified, problems).
async fn verify_one(
    store: &dr_backupstore::BackupStore,
    volume: &str,
    backup: &str,
    step: &VerifyBackupStep,
) -> Result<(u64, Vec<String>), String> {
    if !step.deep {
        let report = dr_backupstore::verify_structure(store, volume, backup)
            .await
            .map_err(|e| e.to_string())?;
        return Ok((0, report.problems()));
    }
    let tmp = tempfile::Builder::new()
        .prefix("dr-harness-verify-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let image = tmp.path().join(format!("{volume}.img"));
    let mut checks = FileChecks {
        manifest: step.manifest.clone(),
        paths: step
            .paths
            .iter()
            .map(|(p, h)| (p.clone(), h.clone()))
            .collect(),
    };
    let report = deep_verify_files(store, volume, backup, &image, &checks)
        .await
        .map_err(|e| e.to_string())?;
    let mut problems = report.problems();
    let bytes = report
        .blocks
        .as_ref()
        .map(|b| b.bytes_verified)
        .unwrap_or(0);
    // The sentinel manifest is checked when the volume holds one (a drill's volume does).
    if checks.manifest.is_none() && problems.is_empty() {
        let img = image.clone();
        let has_manifest = tokio::task::spawn_blocking(move || {
            dr_backupstore::ext4::read_file_digest(&img, DEFAULT_MANIFEST_PATH).is_ok()
        })
        .await
        .unwrap_or(false);
        if has_manifest {
            let img = image.clone();
            let manifest = tokio::task::spawn_blocking(move || {
                dr_backupstore::ext4::verify_manifest(&img, DEFAULT_MANIFEST_PATH)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
            problems.extend(manifest.problems());
            checks.manifest = Some(DEFAULT_MANIFEST_PATH.to_string());
        }
    }
    Ok((bytes, problems))
}
