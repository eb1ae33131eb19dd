//! Verification of a backup in S3 without a cluster.
//!
//! [`verify_structure`] proves a backup is complete and restorable as far as metadata and object
//! presence can tell: the cfg parses, is complete, its block map is consistent, every block object
//! exists, and `volume.cfg` knows the volume. It reads no block data: one LIST of the volume's
//! blocks, with HEADs only for blocks the listing lacks (listings may be partial or stale) or for
//! all blocks when listing fails. [`deep_verify`] goes further and restores every block into an
//! image, checking each block's SHA-512/64 name against its decompressed content.
//!
//! Sizes follow Longhorn: the volume size (and so the range offsets must lie in) is
//! `volume.cfg`'s `Size`; the backup cfg's `Size` is only listed blocks × block size and bounds
//! nothing (longhorn/longhorn-engine@v1.9.1:vendor/github.com/longhorn/backupstore/deltablock.go
//! `performBackup`, `RestoreDeltaBlockBackup`; the same at v1.7.3, v1.8.2, v1.10.1).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use futures::stream::{self, StreamExt, TryStreamExt};

use crate::cfg::{BackupCfg, VolumeCfg};
use crate::layout::{is_checksum, validate_name, NameError};
use crate::restore::{restore_image, RestoreError, RestoreSummary};
use crate::store::{BackupStore, StoreError};

/// HEAD requests in flight at once when the listing cannot be used.
pub const HEAD_CONCURRENCY: usize = 8;

/// Errors that stop a verification (findings are reported in [`StructuralReport`] instead).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Volume or backup name breaks Longhorn's name rule.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The backup cfg does not exist.
    #[error("backup cfg {key} not found in bucket {bucket}")]
    BackupNotFound {
        /// Bucket.
        bucket: String,
        /// Expected key of `backup_<name>.cfg`.
        key: String,
    },
    /// S3 failed, or a cfg did not parse (the error names the key).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Deep verification found a bad block (the error names key and offset).
    #[error(transparent)]
    Restore(#[from] RestoreError),
}

/// Findings of [`verify_structure`] about one backup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StructuralReport {
    /// Backup name.
    pub backup: String,
    /// Volume name.
    pub volume: String,
    /// Key of the backup cfg that was read.
    pub backup_cfg_key: String,
    /// Whether `volume.cfg` exists (Longhorn cannot sync the BackupVolume without it).
    pub volume_cfg_found: bool,
    /// Whether `volume.cfg`'s `LastBackupName` is this backup (true for the newest backup only).
    pub volume_cfg_names_it: bool,
    /// Whether the cfg's `CreatedTime` is set (an empty one means the backup is in progress).
    pub complete: bool,
    /// Block size in bytes, `None` when `backup-block-size` is invalid.
    pub block_size: Option<u64>,
    /// Raw `backup-block-size` parameter, if present.
    pub block_size_param: Option<String>,
    /// The backup cfg's `Size` in bytes (listed blocks × block size in what Longhorn writes).
    pub size: u64,
    /// Whether `Size` equals listed blocks × block size, as Longhorn writes it. Informational:
    /// Longhorn never reads `Size` back, so a mismatch is not a problem.
    pub size_matches_blocks: bool,
    /// The volume size in bytes from `volume.cfg`, `None` when `volume.cfg` is missing.
    pub volume_size: Option<u64>,
    /// Whether the volume size is positive and a multiple of the block size (Longhorn's restore
    /// refuses anything else: "invalid volume size").
    pub volume_size_ok: bool,
    /// Entries in the cfg's block map.
    pub blocks_listed: usize,
    /// Distinct block checksums in the map.
    pub unique_blocks: usize,
    /// `(offset, key)` of map entries whose block object does not exist.
    pub blocks_missing: Vec<(u64, String)>,
    /// `(offset, checksum)` of entries whose checksum is not 64 lowercase hex characters.
    pub invalid_checksums: Vec<(u64, String)>,
    /// Offsets not aligned to the block size.
    pub misaligned: Vec<u64>,
    /// Offsets whose block does not fit inside the volume size of `volume.cfg`.
    pub out_of_range: Vec<u64>,
    /// Offsets listed more than once.
    pub duplicate_offsets: Vec<u64>,
    /// Whether presence was checked by HEAD per block because the listing failed.
    pub head_fallback: bool,
}

impl StructuralReport {
    /// Human messages, one per problem, naming keys and offsets. Empty means the backup is
    /// structurally sound. `volume_cfg_names_it == false` alone is not a problem (older backups
    /// are not named); callers proving the newest backup check it themselves.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !self.complete {
            p.push(format!(
                "backup {} is in progress: CreatedTime is empty in {}",
                self.backup, self.backup_cfg_key
            ));
        }
        if !self.volume_cfg_found {
            p.push(format!(
                "volume.cfg of volume {} is missing: Longhorn cannot list this backup volume",
                self.volume
            ));
        }
        if self.block_size.is_none() {
            p.push(format!(
                "backup-block-size {:?} in {} is not 2Mi or 16Mi",
                self.block_size_param.as_deref().unwrap_or(""),
                self.backup_cfg_key
            ));
        }
        if let (Some(size), false) = (self.volume_size, self.volume_size_ok) {
            p.push(format!(
                "volume.cfg of volume {} has Size {size}, not a positive multiple of the block \
                 size {}: Longhorn refuses to restore it",
                self.volume,
                self.block_size.unwrap_or(crate::cfg::BLOCK_SIZE_2MI)
            ));
        }
        for (offset, key) in &self.blocks_missing {
            p.push(format!("block {key} for offset {offset} is missing"));
        }
        for (offset, cs) in &self.invalid_checksums {
            p.push(format!(
                "block checksum {cs:?} at offset {offset} is not 64 hex characters"
            ));
        }
        for offset in &self.misaligned {
            p.push(format!("offset {offset} is not aligned to the block size"));
        }
        for offset in &self.out_of_range {
            p.push(format!(
                "offset {offset} in {} lies beyond the volume size {} of volume.cfg",
                self.backup_cfg_key,
                self.volume_size.unwrap_or(0)
            ));
        }
        for offset in &self.duplicate_offsets {
            p.push(format!("offset {offset} is listed more than once"));
        }
        p
    }

    /// Whether [`problems`](Self::problems) is empty.
    pub fn is_ok(&self) -> bool {
        self.problems().is_empty()
    }
}

/// Checks backup `backup` of volume `vol` in S3 without reading block data.
///
/// # Errors
/// [`VerifyError::BackupNotFound`] when the cfg does not exist; [`VerifyError::Store`] when S3
/// fails or a cfg does not parse (naming the key); everything else is a finding in the report.
pub async fn verify_structure(
    store: &BackupStore,
    vol: &str,
    backup: &str,
) -> Result<StructuralReport, VerifyError> {
    let (cfg, volume_cfg) = read_cfgs(store, vol, backup).await?;
    check_structure(store, vol, backup, &cfg, volume_cfg.as_ref()).await
}

/// The backup cfg of `backup` and the `volume.cfg` of `vol` (absent: `None`), read at once.
///
/// # Errors
/// As [`verify_structure`]: a bad name, [`VerifyError::BackupNotFound`], [`VerifyError::Store`].
pub(crate) async fn read_cfgs(
    store: &BackupStore,
    vol: &str,
    backup: &str,
) -> Result<(BackupCfg, Option<VolumeCfg>), VerifyError> {
    validate_name(vol)?;
    validate_name(backup)?;
    let (cfg, volume_cfg) =
        futures::try_join!(store.get_backup_cfg(vol, backup), store.get_volume_cfg(vol))?;
    let cfg = cfg.ok_or_else(|| VerifyError::BackupNotFound {
        bucket: store.bucket().to_string(),
        key: store.backup_cfg_key(vol, backup),
    })?;
    Ok((cfg, volume_cfg))
}

/// [`verify_structure`] of cfgs already read by [`read_cfgs`]: the checks of the block map, and
/// the block listing (with HEAD confirmation) that finds the missing blocks.
///
/// # Errors
/// [`VerifyError::Store`] when the listing and the HEAD fallback fail.
pub(crate) async fn check_structure(
    store: &BackupStore,
    vol: &str,
    backup: &str,
    cfg: &BackupCfg,
    volume_cfg: Option<&VolumeCfg>,
) -> Result<StructuralReport, VerifyError> {
    let backup_cfg_key = store.backup_cfg_key(vol, backup);
    let block_size = cfg.block_size().ok();
    let volume_size = volume_cfg.map(|v| v.size);

    let mut seen_offsets = HashSet::new();
    let mut duplicate_offsets = Vec::new();
    let mut misaligned = Vec::new();
    let mut out_of_range = Vec::new();
    let mut invalid_checksums = Vec::new();
    // checksum -> offsets using it, for naming every offset a missing block breaks.
    let mut by_checksum: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for b in &cfg.blocks {
        if !seen_offsets.insert(b.offset) {
            duplicate_offsets.push(b.offset);
        }
        if block_size.is_some_and(|bs| b.offset % bs != 0) {
            misaligned.push(b.offset);
        }
        // Bound by the volume size (volume.cfg), never by the backup cfg's Size.
        if volume_size.is_some_and(|size| b.offset.saturating_add(block_size.unwrap_or(1)) > size) {
            out_of_range.push(b.offset);
        }
        if is_checksum(&b.block_checksum) {
            by_checksum
                .entry(&b.block_checksum)
                .or_default()
                .push(b.offset);
        } else {
            invalid_checksums.push((b.offset, b.block_checksum.clone()));
        }
    }

    let wanted: Vec<&str> = by_checksum.keys().copied().collect();
    let (absent, head_fallback) = find_absent_blocks(store, vol, &wanted).await?;
    let mut blocks_missing: Vec<(u64, String)> = absent
        .iter()
        .flat_map(|cs| {
            let key = store.block_key(vol, cs);
            by_checksum
                .get(cs.as_str())
                .into_iter()
                .flatten()
                .map(move |off| (*off, key.clone()))
        })
        .collect();
    blocks_missing.sort();

    Ok(StructuralReport {
        backup: backup.to_string(),
        volume: vol.to_string(),
        backup_cfg_key,
        volume_cfg_found: volume_cfg.is_some(),
        volume_cfg_names_it: volume_cfg.is_some_and(|v| v.last_backup_name == backup),
        complete: cfg.is_complete(),
        block_size,
        block_size_param: cfg.parameters.get(crate::cfg::PARAM_BLOCK_SIZE).cloned(),
        size: cfg.size,
        size_matches_blocks: block_size.is_some_and(|bs| cfg.size == cfg.expected_size(bs)),
        volume_size,
        volume_size_ok: match (volume_size, block_size) {
            (Some(size), Some(bs)) => size > 0 && size % bs == 0,
            _ => true,
        },
        blocks_listed: cfg.blocks.len(),
        unique_blocks: by_checksum.len() + invalid_checksums.len(),
        blocks_missing,
        invalid_checksums,
        misaligned,
        out_of_range,
        duplicate_offsets,
        head_fallback,
    })
}

/// Which of `wanted` checksums have no block object; `true` in the result when HEAD per block
/// replaced a failed listing.
async fn find_absent_blocks(
    store: &BackupStore,
    vol: &str,
    wanted: &[&str],
) -> Result<(Vec<String>, bool), StoreError> {
    let (candidates, head_fallback): (Vec<&str>, bool) = match store.list_blocks(vol).await {
        Ok(listed) => {
            let present: HashSet<String> = listed.into_iter().map(|b| b.checksum).collect();
            (
                wanted
                    .iter()
                    .copied()
                    .filter(|cs| !present.contains(*cs))
                    .collect(),
                false,
            )
        }
        Err(err) => {
            tracing::warn!(error = %err, "block listing failed, checking blocks one by one");
            (wanted.to_vec(), true)
        }
    };
    // A listing may miss fresh objects: HEAD confirms every block before it is called missing.
    let absent: Vec<String> = stream::iter(candidates)
        .map(|cs| async move {
            Ok::<_, StoreError>((!store.block_exists(vol, cs).await?).then(|| cs.to_string()))
        })
        .buffer_unordered(HEAD_CONCURRENCY)
        .try_filter_map(|x| async move { Ok(x) })
        .try_collect()
        .await?;
    Ok((absent, head_fallback))
}

/// Result of [`deep_verify`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeepReport {
    /// Backup name.
    pub backup: String,
    /// Volume name.
    pub volume: String,
    /// What the restore verified.
    pub restore: RestoreSummary,
}

/// Downloads, decompresses and checks every block of backup `backup` of `vol`, reassembling the
/// volume image at `out_image` (a sparse file of the volume size from `volume.cfg`).
///
/// # Errors
/// [`VerifyError::BackupNotFound`]; [`VerifyError::Restore`] for the first bad block (missing,
/// undecompressable, checksum mismatch), naming its key and offset; [`VerifyError::Store`].
pub async fn deep_verify(
    store: &BackupStore,
    vol: &str,
    backup: &str,
    out_image: &Path,
) -> Result<DeepReport, VerifyError> {
    validate_name(vol)?;
    validate_name(backup)?;
    let cfg =
        store
            .get_backup_cfg(vol, backup)
            .await?
            .ok_or_else(|| VerifyError::BackupNotFound {
                bucket: store.bucket().to_string(),
                key: store.backup_cfg_key(vol, backup),
            })?;
    let restore = restore_image(store, vol, &cfg, out_image, |_, _| {}).await?;
    Ok(DeepReport {
        backup: backup.to_string(),
        volume: vol.to_string(),
        restore,
    })
}
