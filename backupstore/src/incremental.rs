//! Incremental deep verification: a backup is proven by downloading only the block objects not
//! already proven, plus a scrub sample and a periodic full pass, with the files of its ext4
//! filesystem read from S3 on demand.
//!
//! Longhorn's backup cfg lists the volume's **whole** block map every time (an incremental
//! backup's cfg merges the previous map: longhorn/longhorn-engine@v1.9.1:vendor/github.com/
//! longhorn/backupstore/deltablock.go `mergeSnapshotMap`), and a block's key is the SHA-512/64
//! of its plaintext (`util/util.go` `GetChecksum`). So between two nightly backups only the few
//! blocks that changed have keys the [`ledger`] does not know yet. A run:
//! 1. proves the structure ([`verify_structure`]) and lists the block objects with their ETags;
//! 2. loads the signed ledger (rejected → full pass; older than `full_every` → full pass);
//! 3. downloads, decompresses and checks every distinct block of the map whose object is not in
//!    the ledger with the same ETag and stored size, plus a **scrub**: a seeded random sample of
//!    `scrub_fraction` of the trusted blocks, downloaded anyway (bit rot keeps the ETag);
//! 4. checks the requested files through [`RemoteImage`] (metadata and the files' own blocks);
//! 5. writes the ledger back: entries for blocks that verified (with the ETag of the version
//!    downloaded), trusted entries whose object is still listed unchanged, nothing for bad
//!    blocks.
//!
//! Why a tampered ledger can only cost work: see [`ledger`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use sha2::{Digest, Sha256};

use crate::deep::{file_pass_on, BlockProblem, FileChecks, FilePass};
use crate::ext4::Ext4Image;
use crate::layout::{is_checksum, validate_name};
use crate::ledger::{self, Ledger, LedgerEntry, LedgerError, LedgerLoad, LedgerLocation};
use crate::pipeline::{check_blocks, Job, Outcome, Settings};
use crate::remote::RemoteImage;
use crate::store::{BackupStore, ListedBlock};
use crate::verify::{verify_structure, StructuralReport, VerifyError};
use crate::writer::DEFAULT_CONCURRENCY;

/// Default share of trusted blocks re-downloaded each run.
pub const DEFAULT_SCRUB_FRACTION: f64 = 0.02;
/// Default age of the last full pass after which a run is a full pass again (7 days).
pub const DEFAULT_FULL_EVERY: Duration = Duration::from_secs(7 * 24 * 3600);

/// Errors that stop an incremental verification (findings are in the report).
#[derive(Debug, thiserror::Error)]
pub enum IncrementalError {
    /// Structure or S3 failures, as for [`deep_verify_files`](crate::deep::deep_verify_files).
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The ledger could not be read or written, or the key is too weak.
    #[error("ledger {location}: {source}")]
    Ledger {
        /// Where the ledger lives.
        location: String,
        /// What failed.
        #[source]
        source: LedgerError,
    },
    /// `scrub_fraction` is not within 0..=1.
    #[error("scrub fraction {0} is not between 0 and 1")]
    ScrubFraction(f64),
}

/// Options of [`incremental_verify`].
#[derive(Clone)]
pub struct IncrementalOptions {
    /// Where the volume's ledger lives ([`ledger::ledger_key`] beside the backups, or a file).
    pub ledger: LedgerLocation,
    /// HMAC key the ledger is signed with (at least [`ledger::MIN_KEY_BYTES`] bytes).
    pub key: Vec<u8>,
    /// Share (0..=1) of trusted blocks downloaded anyway each run.
    pub scrub_fraction: f64,
    /// Seed of the scrub sample; `None` picks one from the clock (the report names it, so a
    /// run can be replayed).
    pub scrub_seed: Option<u64>,
    /// A run whose ledger's last full pass is at least this old downloads everything.
    pub full_every: Duration,
    /// "Now" for ledger ages and timestamps (tests move it forward).
    pub now: DateTime<Utc>,
    /// Distinct blocks downloaded at once for this volume (at least 1).
    pub concurrency: usize,
    /// A bound shared by every volume verified at the same time: each block download holds one
    /// permit.
    pub limiter: Option<Arc<tokio::sync::Semaphore>>,
}

impl std::fmt::Debug for IncrementalOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret: never printed.
        f.debug_struct("IncrementalOptions")
            .field("ledger", &self.ledger)
            .field("key", &"<redacted>")
            .field("scrub_fraction", &self.scrub_fraction)
            .field("scrub_seed", &self.scrub_seed)
            .field("full_every", &self.full_every)
            .field("now", &self.now)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl IncrementalOptions {
    /// Defaults (2 % scrub, full pass every 7 days, now, [`DEFAULT_CONCURRENCY`]) for a ledger
    /// at `ledger` signed with `key`.
    pub fn new(ledger: LedgerLocation, key: Vec<u8>) -> Self {
        Self {
            ledger,
            key,
            scrub_fraction: DEFAULT_SCRUB_FRACTION,
            scrub_seed: None,
            full_every: DEFAULT_FULL_EVERY,
            now: Utc::now(),
            concurrency: DEFAULT_CONCURRENCY,
            limiter: None,
        }
    }
}

/// What a HEAD answered: stored size and ETag.
type Head = (u64, Option<String>);

/// Why this run downloaded everything, if it did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FullPassReason {
    /// No ledger yet.
    NoLedger,
    /// The ledger was rejected (signature, volume, schema, parse), and why.
    LedgerRejected {
        /// Why.
        reason: String,
    },
    /// The last full pass is older than `full_every`.
    Due {
        /// When the last full pass was.
        last: DateTime<Utc>,
    },
    /// The block listing failed, so no ETag can be cross-checked.
    NoListing,
}

/// Counts of one category of blocks: distinct objects and their stored bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct BlockCount {
    /// Distinct block objects.
    pub blocks: u64,
    /// Their stored (compressed) bytes.
    pub bytes: u64,
}

impl BlockCount {
    fn add(&mut self, bytes: u64) {
        self.blocks += 1;
        self.bytes += bytes;
    }
}

/// What [`incremental_verify`] did and found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct IncrementalReport {
    /// Backup name.
    pub backup: String,
    /// Volume name.
    pub volume: String,
    /// The structural proof.
    pub structure: StructuralReport,
    /// `Some(why)` when every block was downloaded.
    pub full_pass: Option<FullPassReason>,
    /// Seed the scrub sample was drawn with.
    pub scrub_seed: u64,
    /// Distinct blocks of the map, with their stored sizes from the listing.
    pub listed: BlockCount,
    /// Downloaded because new to the ledger or changed (ETag or size differ), or in a full
    /// pass.
    pub new_or_changed: BlockCount,
    /// Downloaded although trusted (the scrub sample).
    pub scrubbed: BlockCount,
    /// Not downloaded: trusted by the ledger and unchanged in the listing.
    pub skipped: BlockCount,
    /// Stored bytes the block pass downloaded (new/changed + scrubbed, as received).
    pub block_bytes_downloaded: u64,
    /// Stored bytes the file pass downloaded (ext4 metadata and the checked files' blocks).
    pub file_bytes_downloaded: u64,
    /// Plaintext bytes checked against their checksum by the block pass.
    pub bytes_verified: u64,
    /// Ledger entries present but not trusted because the live object differs.
    pub ledger_entries_stale: u64,
    /// HEAD requests made because the listing carried no ETag.
    pub etag_heads: u64,
    /// Every bad block (block pass and file pass), each once.
    pub problems: Vec<BlockProblem>,
    /// The file pass; `None` when no file check was asked for.
    pub files: Option<FilePass>,
}

impl IncrementalReport {
    /// Every stored byte downloaded (block pass + file pass).
    pub fn bytes_downloaded(&self) -> u64 {
        self.block_bytes_downloaded + self.file_bytes_downloaded
    }

    /// Human messages, one per problem (empty: the backup is proven as far as this run
    /// looked). A missing block is reported once, by the block pass.
    pub fn problems(&self) -> Vec<String> {
        let mut structure = self.structure.clone();
        structure.blocks_missing.clear();
        let mut p = structure.problems();
        p.extend(self.problems.iter().map(BlockProblem::message));
        if let Some(files) = &self.files {
            p.extend(files.errors.iter().cloned());
            if let Some(m) = &files.manifest {
                p.extend(m.problems());
            }
            p.extend(
                files
                    .paths
                    .iter()
                    .filter_map(crate::ext4::FileCheck::problem),
            );
        }
        p
    }

    /// Whether [`problems`](Self::problems) is empty.
    pub fn is_ok(&self) -> bool {
        self.problems().is_empty()
    }

    /// One line for a report: what was listed, downloaded, scrubbed and skipped.
    pub fn summary(&self) -> String {
        format!(
            "{} blocks listed ({} bytes): {} new or changed ({} bytes), {} scrubbed ({} bytes), \
             {} skipped ({} bytes); {} bytes downloaded in all{}",
            self.listed.blocks,
            self.listed.bytes,
            self.new_or_changed.blocks,
            self.new_or_changed.bytes,
            self.scrubbed.blocks,
            self.scrubbed.bytes,
            self.skipped.blocks,
            self.skipped.bytes,
            self.bytes_downloaded(),
            match &self.full_pass {
                None => String::new(),
                Some(FullPassReason::NoLedger) => "; full pass: no ledger yet".into(),
                Some(FullPassReason::LedgerRejected { reason }) =>
                    format!("; full pass: ledger rejected ({reason})"),
                Some(FullPassReason::Due { last }) =>
                    format!("; full pass: the last one was at {}", last.to_rfc3339()),
                Some(FullPassReason::NoListing) => "; full pass: the block listing failed".into(),
            }
        )
    }
}

/// A 64-bit score of `data` under `seed` (SHA-256 based, so the sample is unpredictable
/// without the seed and reproducible with it).
fn score(seed: u64, data: &[u8]) -> u64 {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(data);
    let d = h.finalize();
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

/// The scrub sample: the checksums of `trusted` with the lowest scores under `seed`, as many as
/// `fraction × n` rounded down, so a run never downloads more than its budget; when that is
/// below one block, one block with probability `fraction × n` (so small volumes are scrubbed
/// too, at the same expected rate).
pub fn scrub_sample<'a>(trusted: &[&'a str], fraction: f64, seed: u64) -> Vec<&'a str> {
    let exact = fraction * trusted.len() as f64;
    let k = if exact >= 1.0 {
        exact.floor() as usize
    } else {
        let u = score(seed, b"round") as f64 / (u64::MAX as f64 + 1.0);
        usize::from(u < exact)
    }
    .min(trusted.len());
    let mut scored: Vec<(u64, &str)> = trusted
        .iter()
        .map(|cs| (score(seed, cs.as_bytes()), *cs))
        .collect();
    scored.sort_unstable();
    scored.into_iter().take(k).map(|(_, cs)| cs).collect()
}

/// Why a block is downloaded in this run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Why {
    NewOrChanged,
    Scrub,
}

/// Proves backup `backup` of `vol` incrementally (see the module docs) and updates the ledger.
///
/// # Errors
/// [`IncrementalError::Verify`] when the cfg is missing or S3 fails for the structure;
/// [`IncrementalError::Ledger`] when the ledger cannot be read or written (an untrusted ledger
/// is not an error: it makes a full pass); [`IncrementalError::ScrubFraction`].
pub async fn incremental_verify(
    store: &BackupStore,
    vol: &str,
    backup: &str,
    checks: &FileChecks,
    opts: &IncrementalOptions,
) -> Result<IncrementalReport, IncrementalError> {
    validate_name(vol).map_err(VerifyError::from)?;
    validate_name(backup).map_err(VerifyError::from)?;
    if !(0.0..=1.0).contains(&opts.scrub_fraction) {
        return Err(IncrementalError::ScrubFraction(opts.scrub_fraction));
    }
    let ledger_err = |source| IncrementalError::Ledger {
        location: opts.ledger.to_string(),
        source,
    };
    ledger::check_key(&opts.key).map_err(ledger_err)?;
    let structure = verify_structure(store, vol, backup).await?;
    let cfg = store
        .get_backup_cfg(vol, backup)
        .await
        .map_err(VerifyError::from)?
        .ok_or_else(|| VerifyError::BackupNotFound {
            bucket: store.bucket().to_string(),
            key: store.backup_cfg_key(vol, backup),
        })?;
    let scrub_seed = opts.scrub_seed.unwrap_or_else(clock_seed);
    let mut report = IncrementalReport {
        backup: backup.to_string(),
        volume: vol.to_string(),
        structure,
        full_pass: None,
        scrub_seed,
        listed: BlockCount::default(),
        new_or_changed: BlockCount::default(),
        scrubbed: BlockCount::default(),
        skipped: BlockCount::default(),
        block_bytes_downloaded: 0,
        file_bytes_downloaded: 0,
        bytes_verified: 0,
        ledger_entries_stale: 0,
        etag_heads: 0,
        problems: Vec::new(),
        files: None,
    };
    let Some(block_size) = report.structure.block_size else {
        // No block map can be laid out; the structure says why.
        return Ok(report);
    };
    let size = report.structure.volume_size.unwrap_or_else(|| {
        cfg.blocks
            .iter()
            .map(|b| b.offset.saturating_add(block_size))
            .max()
            .unwrap_or(0)
    });

    // Distinct usable blocks of the map → their offsets.
    let mut by_checksum: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for b in &cfg.blocks {
        if is_checksum(&b.block_checksum)
            && b.offset % block_size == 0
            && b.offset.saturating_add(block_size) <= size
        {
            let offsets = by_checksum.entry(&b.block_checksum).or_default();
            if !offsets.contains(&b.offset) {
                offsets.push(b.offset);
            }
        }
    }

    let mut listing: Option<HashMap<String, ListedBlock>> = match store.list_blocks(vol).await {
        Ok(l) => Some(l.into_iter().map(|b| (b.checksum.clone(), b)).collect()),
        Err(e) => {
            tracing::warn!(volume = vol, error = %e, "block listing failed: full pass");
            None
        }
    };
    let loaded = ledger::load(store, &opts.ledger, &opts.key, vol)
        .await
        .map_err(ledger_err)?;
    // Listings of some servers carry no ETag (s3s-fs): HEAD the blocks the ledger knows, so
    // the cross-check still sees the live object (a HEAD moves no data).
    if let (LedgerLoad::Trusted(l), Some(listed)) = (&loaded, listing.as_mut()) {
        let wanted: Vec<String> = by_checksum
            .keys()
            .filter(|cs| l.blocks.contains_key(**cs))
            .filter(|cs| listed.get(**cs).is_some_and(|b| b.etag.is_none()))
            .map(|cs| cs.to_string())
            .collect();
        report.etag_heads = wanted.len() as u64;
        let heads: Vec<(String, Option<Head>)> = stream::iter(wanted)
            .map(|cs| async move {
                let got = store
                    .head_tagged(&store.block_key(vol, &cs))
                    .await
                    .unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "HEAD failed: the block is downloaded");
                        None
                    });
                (cs, got)
            })
            .buffer_unordered(crate::verify::HEAD_CONCURRENCY)
            .collect()
            .await;
        for (cs, got) in heads {
            if let Some(b) = listed.get_mut(&cs) {
                match got {
                    Some((size, etag)) => {
                        b.size = size;
                        b.etag = etag;
                    }
                    None => b.etag = None,
                }
            }
        }
    }
    let (old, full_pass) = match (loaded, &listing) {
        (_, None) => (None, Some(FullPassReason::NoListing)),
        (LedgerLoad::Absent, _) => (None, Some(FullPassReason::NoLedger)),
        (LedgerLoad::Rejected(reason), _) => {
            tracing::warn!(volume = vol, %reason, "ledger rejected: full pass");
            (None, Some(FullPassReason::LedgerRejected { reason }))
        }
        (LedgerLoad::Trusted(l), _) => {
            let due = opts
                .now
                .signed_duration_since(l.full_pass_at)
                .to_std()
                .is_ok_and(|age| age >= opts.full_every);
            if due {
                let last = l.full_pass_at;
                (None, Some(FullPassReason::Due { last }))
            } else {
                (Some(l), None)
            }
        }
    };
    report.full_pass = full_pass;

    // An entry is trusted only when the live object has its ETag and stored size.
    let listed_of = |cs: &str| listing.as_ref().and_then(|l| l.get(cs));
    let trusted_entry = |cs: &str| -> Option<&LedgerEntry> {
        let e = old.as_ref()?.blocks.get(cs)?;
        let live = listed_of(cs)?;
        (live.etag.as_deref() == Some(e.etag.as_str()) && live.size == e.size).then_some(e)
    };
    let mut trusted = Vec::new();
    let mut todo: Vec<(&str, Why)> = Vec::new();
    for cs in by_checksum.keys().copied() {
        report
            .listed
            .add(listed_of(cs).map(|l| l.size).unwrap_or(0));
        if trusted_entry(cs).is_some() {
            trusted.push(cs);
        } else {
            if old.as_ref().is_some_and(|l| l.blocks.contains_key(cs)) {
                report.ledger_entries_stale += 1;
            }
            todo.push((cs, Why::NewOrChanged));
        }
    }
    let sample = scrub_sample(&trusted, opts.scrub_fraction, scrub_seed);
    let sampled: std::collections::HashSet<&str> = sample.iter().copied().collect();
    for cs in &trusted {
        if sampled.contains(cs) {
            todo.push((cs, Why::Scrub));
        } else {
            report
                .skipped
                .add(listed_of(cs).map(|l| l.size).unwrap_or(0));
        }
    }

    // The block pass: download, decompress, check, overlapped; nothing is written to disk.
    let jobs = todo
        .into_iter()
        .map(|(cs, why)| Job {
            checksum: cs.to_string(),
            offsets: by_checksum.get(cs).cloned().unwrap_or_default(),
            tag: why,
        })
        .collect();
    let settings = Settings {
        compression: cfg.compression_method,
        block_size,
        concurrency: opts.concurrency,
        limiter: opts.limiter.clone(),
        image: None,
    };
    let mut results = std::pin::pin!(check_blocks(store, vol, settings, jobs));

    let mut fresh: BTreeMap<String, LedgerEntry> = BTreeMap::new();
    let mut bad: std::collections::HashSet<String> = std::collections::HashSet::new();
    while let Some(outcome) = results.next().await {
        // Only an image write can fail the pipeline, and no image is written here.
        let Outcome {
            job,
            downloaded,
            etag,
            verdict,
        } = outcome.map_err(|e| {
            VerifyError::Restore(crate::restore::RestoreError::Worker {
                offset: 0,
                message: format!("block pass: {e}"),
            })
        })?;
        report.block_bytes_downloaded += downloaded;
        let count = match job.tag {
            Why::NewOrChanged => &mut report.new_or_changed,
            Why::Scrub => &mut report.scrubbed,
        };
        count.add(downloaded);
        match verdict {
            Ok(plain) => {
                report.bytes_verified += plain * job.offsets.len() as u64;
                // Without an ETag the object cannot be recognised next time: no entry.
                if let Some(etag) = etag {
                    fresh.insert(
                        job.checksum,
                        LedgerEntry {
                            size: downloaded,
                            etag,
                            verified_at: opts.now,
                        },
                    );
                }
            }
            Err(fault) => {
                bad.insert(job.checksum.clone());
                report.problems.push(BlockProblem {
                    key: store.block_key(vol, &job.checksum),
                    offsets: job.offsets,
                    fault,
                });
            }
        }
    }

    // The file pass, on demand from S3.
    if !checks.is_empty() {
        let (reader, stats) = RemoteImage::new(
            store.clone(),
            vol,
            &cfg,
            block_size,
            size,
            tokio::runtime::Handle::current(),
        );
        let label = format!("s3://{}/{} backup {backup}", store.bucket(), vol);
        let checks = checks.clone();
        let files = tokio::task::spawn_blocking(move || {
            file_pass_on(Ext4Image::from_reader(label, Box::new(reader)), &checks)
        })
        .await
        .unwrap_or_else(|e| FilePass {
            errors: vec![format!("file pass worker failed: {e}")],
            ..Default::default()
        });
        report.file_bytes_downloaded = stats.bytes();
        for p in stats.problems() {
            if !report.problems.iter().any(|q| q.key == p.key) {
                if let Some(cs) = p
                    .key
                    .rsplit('/')
                    .next()
                    .and_then(|f| f.strip_suffix(".blk"))
                {
                    bad.insert(cs.to_string());
                }
                report.problems.push(p);
            }
        }
        report.files = Some(files);
    }
    report
        .problems
        .sort_by_key(|p| p.offsets.first().copied().unwrap_or(0));

    // The new ledger: fresh proofs, and old ones whose object is still listed unchanged (they
    // may serve other backups of the volume); never a bad block.
    let mut next = match &old {
        Some(l) => {
            let mut n = l.clone();
            n.updated_at = opts.now;
            n.blocks.retain(|cs, e| {
                listed_of(cs).is_some_and(|live| {
                    live.etag.as_deref() == Some(&e.etag) && live.size == e.size
                })
            });
            n
        }
        None => Ledger::new(vol, opts.now),
    };
    for cs in &bad {
        next.blocks.remove(cs);
    }
    next.blocks
        .extend(fresh.into_iter().filter(|(cs, _)| !bad.contains(cs)));
    ledger::save(store, &opts.ledger, &opts.key, &next)
        .await
        .map_err(ledger_err)?;
    Ok(report)
}

/// A scrub seed from the clock and the process id, for runs that give none.
fn clock_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{i:064x}")).collect()
    }

    #[test]
    fn scrub_sample_is_reproducible_and_sized() {
        let n = names(1000);
        let refs: Vec<&str> = n.iter().map(String::as_str).collect();
        let a = scrub_sample(&refs, 0.02, 7);
        assert_eq!(a, scrub_sample(&refs, 0.02, 7), "same seed, same sample");
        assert_ne!(
            a,
            scrub_sample(&refs, 0.02, 8),
            "another seed, another sample"
        );
        assert_eq!(a.len(), 20);
        assert!(scrub_sample(&refs, 0.0, 7).is_empty());
        assert_eq!(scrub_sample(&refs, 1.0, 7).len(), 1000);
    }

    #[test]
    fn scrub_sample_size_is_unbiased_on_small_sets() {
        let n = names(10);
        let refs: Vec<&str> = n.iter().map(String::as_str).collect();
        // 0.02 × 10 = 0.2 blocks per run: over many seeds about one run in five scrubs one.
        let total: usize = (0..2000).map(|s| scrub_sample(&refs, 0.02, s).len()).sum();
        assert!(
            (300..=500).contains(&total),
            "{total} blocks over 2000 runs"
        );
    }
}
