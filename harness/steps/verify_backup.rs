//! `verify-backup`: prove backups restorable from the backup target alone — no cluster needed.
//!
//! Structural (default): the backup cfg and `volume.cfg` parse, the backup is complete, every
//! listed block exists, offsets are aligned and in range. Deep: every block downloaded,
//! decompressed and checked against its SHA-512/64 name, the volume image reassembled in a sparse
//! temp file (never in memory), and its ext4 filesystem read to check the sentinel manifest (or
//! given paths). In a drill this runs before the destroy, so a bad backup stops the drill while
//! the cluster still stands.

use std::sync::Arc;
use std::time::Instant;

use dr_backupstore::deep::{deep_verify_files_with, DeepOptions, FileChecks};
use dr_backupstore::ext4::DEFAULT_MANIFEST_PATH;
use dr_backupstore::incremental::{incremental_verify, FullPassReason, IncrementalOptions};
use dr_backupstore::ledger::{ledger_key, LedgerLocation};
use futures::stream::{self, StreamExt};

use super::shard::Shard;
use crate::config::scenario::VerifyBackupStep;
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};
use crate::engine::record::{BackupVerification, IncrementalCounts};

/// Environment variable holding the ledger's HMAC key unless the step names another.
pub const DEFAULT_LEDGER_KEY_ENV: &str = "DR_HARNESS_LEDGER_KEY";
/// Volumes verified at once by default (`parallel_volumes`).
pub const DEFAULT_PARALLEL_VOLUMES: usize = 4;

/// What an incremental run needs besides the step options.
#[derive(Clone)]
struct Incremental {
    key: Vec<u8>,
    ledger_dir: Option<std::path::PathBuf>,
}

/// Runs `verify-backup`: checks `step.volumes` (or `all_volumes`, or the drill's
/// `facts.volume`/`facts.backup`) on the backup target, structurally or, with `deep`, block by
/// block down to the sentinel manifest; needs no cluster.
///
/// # Errors
/// A [`StepFailure`] when nothing is named, the target cannot be read, or a backup is incomplete,
/// missing blocks, corrupt or fails the content check.
pub async fn run(ctx: &mut DrillContext, step: &VerifyBackupStep) -> StepResult {
    if step.incremental && !step.deep {
        return Err(StepFailure::new(
            "verify-backup: `incremental = true` needs `deep = true` (--incremental needs --deep)",
        ));
    }
    let shard = match step.shard.as_deref() {
        Some(text) => Some(Shard::parse(text).map_err(StepFailure::new)?),
        None => None,
    };
    let incremental = if step.incremental {
        let var = step
            .ledger_key_env
            .as_deref()
            .unwrap_or(DEFAULT_LEDGER_KEY_ENV);
        let key = std::env::var(var).map_err(|_| {
            StepFailure::new(format!(
                "incremental verification signs its ledger with a key from ${var}, which is not \
                 set: put at least 16 random bytes there (e.g. `openssl rand -hex 32`), the same \
                 on every run; without a key a ledger could be forged into a false pass"
            ))
        })?;
        dr_backupstore::ledger::check_key(key.as_bytes())
            .map_err(|e| StepFailure::new(format!("${var}: {e}")))?;
        ctx.redactor.add(&key);
        Some(Incremental {
            key: key.into_bytes(),
            ledger_dir: step.ledger.clone(),
        })
    } else {
        None
    };
    if ctx.backup_target.is_none() {
        ctx.connect_backup_target()
            .await
            .map_err(StepFailure::unreachable)?;
    }
    let store = ctx
        .backup_target()
        .map_err(StepFailure::unreachable)?
        .backupstore();
    let mut targets = targets(ctx, step, &store).await?;
    if targets.is_empty() {
        return Err(StepFailure::new(
            "no volume to verify: the backup target holds no volumes (empty result is not a pass)",
        ));
    }
    if let Some(shard) = shard {
        let all = targets.len();
        targets.retain(|(v, _)| shard.owns(v));
        ctx.record.shard = Some(shard.to_string());
        ctx.say(format!(
            "shard {shard}: {} of the {all} volumes ({})",
            targets.len(),
            targets
                .iter()
                .map(|(v, _)| v.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        if targets.is_empty() {
            // More shards than volumes is a valid fleet layout: this shard has nothing to prove.
            return Ok(());
        }
    }
    // One bound on block downloads shared by every volume in flight.
    let limiter = Arc::new(tokio::sync::Semaphore::new(
        dr_backupstore::writer::DEFAULT_CONCURRENCY,
    ));
    let parallel = step
        .parallel_volumes
        .unwrap_or(DEFAULT_PARALLEL_VOLUMES)
        .max(1);
    let mut done: Vec<BackupVerification> = stream::iter(targets)
        .map(|(volume, backup)| {
            let store = store.clone();
            let limiter = Arc::clone(&limiter);
            let incremental = incremental.clone();
            async move {
                let started = Instant::now();
                let verification =
                    verify_one(&store, &volume, &backup, step, incremental, limiter).await;
                let seconds = started.elapsed().as_secs_f64();
                match verification {
                    Ok(mut v) => {
                        v.seconds = seconds;
                        v
                    }
                    Err(e) => BackupVerification {
                        volume: volume.clone(),
                        backup: backup.clone(),
                        deep: step.deep,
                        success: false,
                        verified_bytes: 0,
                        seconds,
                        problems: vec![e],
                        listed_bytes: 0,
                        downloaded_bytes: 0,
                        incremental: None,
                    },
                }
            }
        })
        .buffer_unordered(parallel)
        .collect()
        .await;
    done.sort_by(|a, b| a.volume.cmp(&b.volume));
    let mut failures = Vec::new();
    for v in done {
        let volume = v.volume.clone();
        let backup = v.backup.clone();
        let kind = match (step.deep, step.incremental) {
            (true, true) => "incremental",
            (true, false) => "deep",
            _ => "structure",
        };
        let found = if v.success {
            match &v.incremental {
                Some(i) => format!(
                    "{} bytes verified; {} of {} listed bytes downloaded ({} blocks new or \
                     changed, {} scrubbed, {} skipped){}",
                    v.verified_bytes,
                    v.downloaded_bytes,
                    v.listed_bytes,
                    i.new_or_changed_blocks,
                    i.scrubbed_blocks,
                    i.skipped_blocks,
                    i.full_pass
                        .as_deref()
                        .map(|r| format!("; full pass: {r}"))
                        .unwrap_or_default()
                ),
                None => format!("{} bytes verified", v.verified_bytes),
            }
        } else {
            v.problems.join("; ")
        };
        ctx.check(
            &format!("{kind}:{volume}"),
            v.success,
            format!("backup {backup} of {volume} restorable from the backup target"),
            found,
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
        let volume: String = ctx.record.facts.volume.clone().ok_or_else(|| StepFailure::new("no volumes given and no sentinel volume recorded (run it after backup, or set `volumes`)"))?;
        let backup: String = ctx.record.facts.backup.clone().ok_or_else(|| {
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

fn verification(volume: &str, backup: &str, deep: bool) -> BackupVerification {
    BackupVerification {
        volume: volume.to_string(),
        backup: backup.to_string(),
        deep,
        success: false,
        verified_bytes: 0,
        seconds: 0.0,
        problems: Vec::new(),
        listed_bytes: 0,
        downloaded_bytes: 0,
        incremental: None,
    }
}

fn full_pass_text(r: &FullPassReason) -> String {
    match r {
        FullPassReason::NoLedger => "no ledger yet".into(),
        FullPassReason::LedgerRejected { reason } => format!("ledger rejected ({reason})"),
        FullPassReason::Due { last } => format!("the last one was at {}", last.to_rfc3339()),
        FullPassReason::NoListing => "the block listing failed".into(),
    }
}

/// Verifies one backup (the `seconds` of the result are set by the caller).
async fn verify_one(
    store: &dr_backupstore::BackupStore,
    volume: &str,
    backup: &str,
    step: &VerifyBackupStep,
    incremental: Option<Incremental>,
    limiter: Arc<tokio::sync::Semaphore>,
) -> Result<BackupVerification, String> {
    let mut v = verification(volume, backup, step.deep);
    if !step.deep {
        let report = dr_backupstore::verify_structure(store, volume, backup)
            .await
            .map_err(|e| e.to_string())?;
        v.problems = report.problems();
        v.success = v.problems.is_empty();
        return Ok(v);
    }
    let explicit = FileChecks {
        manifest: step.manifest.clone(),
        paths: step
            .paths
            .iter()
            .map(|(p, h)| (p.clone(), h.clone()))
            .collect(),
    };
    if let Some(inc) = incremental {
        let location = match &inc.ledger_dir {
            Some(dir) => LedgerLocation::Local(dir.join(format!("{volume}.json"))),
            None => LedgerLocation::S3 {
                key: ledger_key(store.root(), volume),
            },
        };
        let mut opts = IncrementalOptions::new(location, inc.key);
        if let Some(f) = step.scrub_fraction {
            opts.scrub_fraction = f;
        }
        opts.scrub_seed = step.scrub_seed;
        if let Some(d) = step.full_every {
            opts.full_every = d;
        }
        opts.limiter = Some(limiter);
        // The sentinel manifest is checked when the volume holds one (a drill's volume does):
        // read on demand, a missing manifest costs a few metadata blocks.
        let mut checks = explicit.clone();
        if checks.is_empty() {
            checks.manifest = Some(DEFAULT_MANIFEST_PATH.to_string());
        }
        let mut report = incremental_verify(store, volume, backup, &checks, &opts)
            .await
            .map_err(|e| e.to_string())?;
        if explicit.is_empty() && report.files.as_ref().is_some_and(|f| f.manifest.is_none()) {
            // No sentinel manifest (or no ext4) on a volume nobody asked files of: as in the
            // full deep pass, only its blocks are proven. A bad block met while looking stays
            // reported (report.problems).
            report.files = None;
        }
        v.problems = report.problems();
        v.success = v.problems.is_empty();
        v.verified_bytes = report.bytes_verified;
        v.listed_bytes = report.listed.bytes;
        v.downloaded_bytes = report.bytes_downloaded();
        v.incremental = Some(IncrementalCounts {
            listed_blocks: report.listed.blocks,
            new_or_changed_blocks: report.new_or_changed.blocks,
            new_or_changed_bytes: report.new_or_changed.bytes,
            scrubbed_blocks: report.scrubbed.blocks,
            scrubbed_bytes: report.scrubbed.bytes,
            skipped_blocks: report.skipped.blocks,
            skipped_bytes: report.skipped.bytes,
            file_bytes: report.file_bytes_downloaded,
            full_pass: report.full_pass.as_ref().map(full_pass_text),
            scrub_seed: report.scrub_seed,
        });
        tracing::info!(volume, backup, "{}", report.summary());
        return Ok(v);
    }
    let tmp = tempfile::Builder::new()
        .prefix("dr-harness-verify-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let image = tmp.path().join(format!("{volume}.img"));
    let mut checks = explicit;
    let opts = DeepOptions {
        limiter: Some(limiter),
        ..DeepOptions::default()
    };
    let report = deep_verify_files_with(store, volume, backup, &image, &checks, &opts)
        .await
        .map_err(|e| e.to_string())?;
    let mut problems = report.problems();
    if let Some(b) = report.blocks.as_ref() {
        v.verified_bytes = b.bytes_verified;
        v.downloaded_bytes = b.bytes_downloaded;
        v.listed_bytes = b.bytes_downloaded;
    }
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
    v.problems = problems;
    v.success = v.problems.is_empty();
    Ok(v)
}
