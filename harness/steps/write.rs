//! `write-sentinel`: stream deterministic, checksummed files into the sentinel volume.
//!
//! Files are generated chunk by chunk and piped through exec stdin (`cat > file`), hashed on the
//! way, so no file is ever whole in memory. Then the manifest and the run id are written, `sync`
//! flushes the page cache (a backup snapshots the block device), and every file is read back
//! ([`super::read_back`]) to prove the write before anything depends on it. The manifest is also kept locally and in S3.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::pod::{sentinel_target, sh_quote, sync_volume};
use super::read_back::{hash_through_exec, ReadBack};
use crate::cluster::exec;
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};
use crate::sentinel::content::{files_for_sizes, ContentStream};
use crate::sentinel::manifest::{self, ManifestEntry};
use crate::sentinel::{DIR_NAME, MANIFEST_FILE, RUN_ID_FILE};

/// Runs `write-sentinel`: streams the sentinel files into the pod, writes manifest and run id,
/// syncs, and reads every file back ([`hash_through_exec`]) against the digests it wrote.
/// Writes `facts.manifest` and `facts.sentinel_bytes` (bytes written).
///
/// # Errors
/// A [`StepFailure`] when the pod cannot be reached, a write fails, or a file reads back with
/// another digest (or not at all) or the in-volume manifest does not check.
pub async fn run(ctx: &mut DrillContext) -> StepResult {
    let (pods, target) = sentinel_target(ctx, Duration::from_secs(300)).await?;
    let dir = format!(
        "{}/{}",
        ctx.scenario.sentinel.mount_path.trim_end_matches('/'),
        DIR_NAME
    );
    let run_id = ctx.record.run_id.clone();

    // The directory is the harness's own: earlier drills' files are replaced.
    let prep = exec::run(
        &pods,
        &target,
        &[
            "sh",
            "-c",
            &format!("rm -rf {d} && mkdir -p {d}", d = sh_quote(&dir)),
        ],
    )
    .await?;
    if prep.exit_code != 0 {
        return Err(StepFailure::new(format!(
            "could not prepare {dir} in the sentinel volume: {}",
            prep.stderr.trim()
        )));
    }

    let mut entries = Vec::new();
    for file in files_for_sizes(&ctx.scenario.sentinel.file_sizes) {
        let path = format!("{dir}/{}", file.name);
        let sha256 = stream_file(&pods, &target, &path, &run_id, &file).await?;
        ctx.say(format!(
            "wrote {} ({} bytes, sha256 {})",
            file.name,
            file.size,
            &sha256[..12]
        ));
        entries.push(ManifestEntry {
            sha256,
            name: file.name.clone(),
            size: file.size,
        });
    }
    let manifest_text = manifest::render(&entries);
    for (name, body) in [
        (MANIFEST_FILE, manifest_text.clone()),
        (RUN_ID_FILE, format!("{run_id}\n")),
    ] {
        let path = format!("{dir}/{name}");
        let out = exec::exec(
            &pods,
            &target,
            &["sh", "-c", &format!("cat > {}", sh_quote(&path))],
            Some(std::iter::once(body.into_bytes())),
            None,
        )
        .await?;
        if out.exit_code != 0 {
            return Err(StepFailure::new(format!(
                "writing {path} failed: {}",
                out.stderr.trim()
            )));
        }
    }
    // The page cache must reach the volume before a snapshot; then every file is read back and
    // hashed by the harness, and the fresh in-volume manifest checked against those digests.
    sync_volume(&pods, &target).await?;
    let names: Vec<String> = entries.iter().map(|e| e.name.clone()).collect();
    let back = hash_through_exec(&pods, &target, &dir, &names).await?;
    let sent: Vec<(String, String)> = entries
        .iter()
        .map(|e| (e.sha256.clone(), e.name.clone()))
        .collect();
    if !ctx.check(
        "written-data-checks",
        back.digests == sent && back.in_volume.ok,
        "every file reads back with the digest it was written with, and the in-volume manifest checks (sha256sum -c)",
        back.in_volume.lines.join("\n"),
    ) {
        return Err(StepFailure::new(format!(
            "the data just written does not read back as written inside the pod: {}",
            read_back_problems(&sent, &back).join("; ")
        )));
    }
    let total: u64 = entries.iter().map(|e| e.size).sum();
    ctx.record.facts.manifest = Some(entries.clone());
    ctx.record.facts.sentinel_bytes = Some(total);
    // Outside the cluster: beside the backups (the local copy is written with the reports).
    if let Ok(bt) = ctx.backup_target() {
        let bt = bt.clone();
        bt.put_run_file(&run_id, MANIFEST_FILE, manifest_text.into_bytes())
            .await
            .map_err(|e| StepFailure::unreachable(format!("keeping the manifest in S3: {e}")))?;
    }
    Ok(())
}

/// What differs between the digests written (`sent`, `(sha256, name)`) and what was read back:
/// each file missing or with another digest, then each failing in-volume manifest line.
fn read_back_problems(sent: &[(String, String)], back: &ReadBack) -> Vec<String> {
    let mut problems: Vec<String> = sent
        .iter()
        .filter_map(
            |(sha, name)| match back.digests.iter().find(|(_, n)| n == name) {
                None => Some(format!("{name} cannot be read back")),
                Some((h, _)) if h != sha => Some(format!(
                    "{name} reads back with sha256 {h}, written as {sha}"
                )),
                Some(_) => None,
            },
        )
        .collect();
    problems.extend(
        back.in_volume
            .lines
            .iter()
            .filter(|l| !l.ends_with(": OK"))
            .map(|l| format!("{MANIFEST_FILE}: {l}")),
    );
    problems
}

/// The manifest stored by `write-sentinel`.
pub fn manifest_of(ctx: &DrillContext) -> Option<Vec<ManifestEntry>> {
    ctx.record.facts.manifest.clone()
}

/// Streams the deterministic content of `file` (seeded by `seed`) into `path` in the pod through
/// exec stdin, hashing it on the way; returns its SHA-256 (lowercase hex).
///
/// # Errors
/// A [`StepFailure`] naming the path when the write fails.
pub async fn stream_file(
    pods: &kube::Api<k8s_openapi::api::core::v1::Pod>,
    target: &exec::ExecTarget,
    path: &str,
    seed: &str,
    file: &crate::sentinel::content::SentinelFile,
) -> Result<String, StepFailure> {
    let mut hasher = Sha256::new();
    let chunks = ContentStream::new(seed, file).inspect(|c| hasher.update(c));
    let out = exec::exec(
        pods,
        target,
        &["sh", "-c", &format!("cat > {}", sh_quote(path))],
        Some(chunks),
        None,
    )
    .await?;
    if out.exit_code != 0 {
        return Err(StepFailure::new(format!(
            "writing {path} failed (exit {}): {}",
            out.exit_code,
            out.stderr.trim()
        )));
    }
    Ok(hex::encode(hasher.finalize()))
}
