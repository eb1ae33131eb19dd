//! `write-generation` and `verify-revert`: a later generation of sentinel data (data B of
//! rollback scenario B) and, after a revert, the proof that it is gone.
//!
//! Generation `g` overwrites every sentinel file with content seeded from `<run id>/<g>` (so a
//! reverted file is told apart from an unreverted one by its digest) and adds one file only
//! that generation has. Its manifest is kept in the facts under `sentinel.manifest.<g>`, beside
//! generation A's `sentinel.manifest`, which `verify-sentinel` checks afterwards.

use std::time::Duration;

use super::pod::{sentinel_target, sync_volume};
use crate::config::scenario::{VerifyRevertStep, WriteGenerationStep};
use crate::engine::context::DrillContext;
use crate::engine::failure::{StepFailure, StepResult};
use crate::sentinel::content::{files_for_sizes, SentinelFile};
use crate::sentinel::manifest::ManifestEntry;
use crate::sentinel::DIR_NAME;

/// Size of the file only a later generation has, bytes.
const EXTRA_FILE_BYTES: u64 = 64 * 1024;

/// The files generation `g` writes: the sentinel's own files, overwritten, plus one of its own.
pub fn generation_files(sizes: &[u64], generation: &str) -> Vec<SentinelFile> {
    let mut files = files_for_sizes(sizes);
    files.push(SentinelFile {
        name: format!("generation-{generation}.bin"),
        size: EXTRA_FILE_BYTES,
    });
    files
}

fn check_tag(generation: &str) -> Result<(), StepFailure> {
    if generation.is_empty() || !generation.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(StepFailure::new(format!(
            "generation {generation:?} must be letters and digits, e.g. \"b\""
        )));
    }
    Ok(())
}

/// Runs `write-generation`: overwrites the sentinel files with generation `step.generation`'s
/// content plus one file of its own, and stores its manifest in
/// `facts.generations[step.generation]`.
///
/// # Errors
/// A [`StepFailure`] when the pod cannot be reached or the written files do not verify.
pub async fn run(ctx: &mut DrillContext, step: &WriteGenerationStep) -> StepResult {
    check_tag(&step.generation)?;
    let (pods, target) = sentinel_target(ctx, Duration::from_secs(300)).await?;
    let dir = format!(
        "{}/{}",
        ctx.scenario.sentinel.mount_path.trim_end_matches('/'),
        DIR_NAME
    );
    let seed = format!("{}/{}", ctx.record.run_id, step.generation);
    let mut entries = Vec::new();
    for file in generation_files(&ctx.scenario.sentinel.file_sizes, &step.generation) {
        let path = format!("{dir}/{}", file.name);
        let sha256 = super::write::stream_file(&pods, &target, &path, &seed, &file).await?;
        entries.push(ManifestEntry {
            sha256,
            name: file.name.clone(),
            size: file.size,
        });
    }
    // A revert acts on blocks: the page cache must reach the volume first.
    sync_volume(&pods, &target).await?;
    let found = digests(ctx, &entries).await?;
    let all_written = entries
        .iter()
        .all(|e| found.iter().any(|(h, n)| *n == e.name && *h == e.sha256));
    if !ctx.check(
        "generation-written",
        all_written,
        format!(
            "{} files of generation {} in the pod",
            entries.len(),
            step.generation
        ),
        format!("{} digests read back", found.len()),
    ) {
        return Err(StepFailure::new(format!(
            "generation {} does not read back as written inside the pod",
            step.generation
        )));
    }
    ctx.say(format!(
        "wrote generation {} ({} files)",
        step.generation,
        entries.len()
    ));
    ctx.record
        .facts
        .generations
        .insert(step.generation.clone(), entries.clone());
    Ok(())
}

/// `verify-revert`: none of generation `g`'s files may still hold `g`'s content.
pub async fn verify_gone(ctx: &mut DrillContext, step: &VerifyRevertStep) -> StepResult {
    let entries: Vec<ManifestEntry> = ctx
        .record
        .facts
        .generations
        .get(&step.generation)
        .cloned()
        .ok_or_else(|| {
            StepFailure::new(format!("no manifest of generation {} recorded; write-generation must run before verify-revert", step.generation))
        })?;
    let found = digests(ctx, &entries).await?;
    let still = still_present(&entries, &found);
    ctx.check(
        "later-generation-gone",
        still.is_empty(),
        format!("no file holds generation {}'s data", step.generation),
        if still.is_empty() {
            "none does".to_string()
        } else {
            still.join(", ")
        },
    );
    if !still.is_empty() {
        return Err(StepFailure::new(format!(
            "revert not applied: data {} still present in {} after reverting the volume (files {}); check that Longhorn accepted the snapshotRevert (the volume must be detached) and the longhorn-manager logs",
            step.generation.to_uppercase(),
            ctx.scenario.sentinel.mount_path,
            still.join(", ")
        )));
    }
    Ok(())
}

/// Names of `entries` whose digest read back equals the recorded one.
fn still_present(entries: &[ManifestEntry], found: &[(String, String)]) -> Vec<String> {
    entries
        .iter()
        .filter(|e| found.iter().any(|(h, n)| *n == e.name && *h == e.sha256))
        .map(|e| e.name.clone())
        .collect()
}

/// Digests of the entries' files as the sentinel pod reads them back
/// ([`super::read_back::file_digests`]); files that cannot be read are absent from the answer.
async fn digests(
    ctx: &mut DrillContext,
    entries: &[ManifestEntry],
) -> Result<Vec<(String, String)>, StepFailure> {
    let (pods, target) = sentinel_target(ctx, Duration::from_secs(300)).await?;
    let dir = format!(
        "{}/{}",
        ctx.scenario.sentinel.mount_path.trim_end_matches('/'),
        DIR_NAME
    );
    let names: Vec<String> = entries.iter().map(|e| e.name.clone()).collect();
    Ok(super::read_back::file_digests(&pods, &target, &dir, &names).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generation_overwrites_the_sentinel_files_and_adds_its_own() {
        let files = generation_files(&[1024, 2048], "b");
        let names: Vec<_> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["sentinel-1.bin", "sentinel-2.bin", "generation-b.bin"]
        );
    }

    #[test]
    fn only_files_with_the_generations_digest_count_as_present() {
        let e = |n: &str, h: &str| ManifestEntry {
            sha256: h.into(),
            name: n.into(),
            size: 1,
        };
        let entries = [e("a", "11"), e("b", "22"), e("c", "33")];
        let found = vec![
            ("11".to_string(), "a".to_string()),
            ("99".to_string(), "b".to_string()),
        ];
        assert_eq!(still_present(&entries, &found), ["a"]);
    }

    #[test]
    fn generation_tags_are_alphanumeric() {
        assert!(check_tag("b").is_ok());
        assert!(check_tag("").is_err());
        assert!(check_tag("../x").is_err());
    }
}
