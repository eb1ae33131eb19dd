//! Uploads a volume image as a Longhorn backup: block by block, deduplicated, compressed, with
//! the cfg written last so that a reader never sees a complete-looking backup with missing
//! blocks.
//!
//! The sandbox's simulated Longhorn uses this to write real Longhorn-layout backups, and what it
//! writes must be what Longhorn writes for the same snapshot (the golden writer test compares
//! with backups made by Longhorn's own code). Memory stays at `block size × concurrency`: blocks
//! are read with positioned reads and released as soon as they are uploaded; only the block map
//! (offset + checksum) is kept.
//!
//! Longhorn's rules followed here, from longhorn/longhorn-engine@v1.9.1:vendor/github.com/
//! longhorn/backupstore/deltablock.go (same at v1.7.3, v1.8.2; v1.10.1 with a block size
//! parameter):
//! - the blocks backed up are the snapshot's **allocated** extents, cut into full blocks
//!   (`backupMapping` reads `blockSize` bytes per block), all-zero ones included; holes are
//!   skipped. A replica's snapshot is a sparse file, so we take the image's extents from
//!   `SEEK_DATA`/`SEEK_HOLE`, aligned outwards to the block size; a short tail is zero-padded;
//! - `volume.cfg` is created first when absent (`addVolume`), and its `CompressionMethod`
//!   (empty = gzip, `config.go loadVolume`) is used for every backup of the volume, whatever
//!   the request says (`CreateDeltaBlockBackup`: `config.Volume.CompressionMethod =
//!   volume.CompressionMethod`);
//! - an in-progress backup cfg (`CreatedTime ""`, `Size "0"`, no `Blocks`) is written before
//!   the first block (`performBackup`);
//! - identical blocks are uploaded once; an existing block is not uploaded again unless
//!   `backup-mode` is `full` (`backupBlock`), which counts it in `ReUploadedDataSize`;
//! - the final cfg lists the whole merged map, `Size` = listed blocks × block size,
//!   `IsIncremental` = a previous backup was used, `ProcessingBlocks` `{}` for a backup made
//!   without one and `null` otherwise (`mergeSnapshotMap`);
//! - `volume.cfg` then gets `LastBackupName`, `LastBackupAt` (the snapshot time), `Size`,
//!   `Labels`, `BlockCount += newly uploaded blocks`, `StorageClassName`, and `DataEngine`
//!   (`v1` when empty).
//!
//! Difference: Longhorn backs up only the blocks changed since the previous snapshot and merges
//! the previous map under them; we read every allocated block of the full image and skip the
//! upload of blocks the previous backup already holds, which gives the same map whenever the
//! image's allocation only grows (a block that became a hole is dropped from our map: it reads
//! as zero).

use std::collections::{BTreeMap, HashSet};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::stream::{self, StreamExt};

use crate::cfg::{
    parse_block_size, BackupCfg, BlockMapping, CfgError, VolumeCfg, BLOCK_SIZE_16MI,
    BLOCK_SIZE_2MI, PARAM_BACKUP_MODE, PARAM_BLOCK_SIZE,
};
use crate::compress::{compress, CompressError, CompressionMethod};
use crate::layout::{checksum, validate_name, NameError};
use crate::store::{BackupStore, StoreError};

/// Default number of blocks in flight (read, compressed or uploading) at once.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// How to write one backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadOptions {
    /// Block size in bytes: [`BLOCK_SIZE_2MI`] or [`BLOCK_SIZE_16MI`] (Longhorn v1.10 CRD values).
    pub block_size: u64,
    /// Compression of a **new** volume's blocks (the Volume's `spec.backupCompressionMethod`;
    /// Longhorn's default setting is lz4). Once `volume.cfg` exists its `CompressionMethod`
    /// wins: a volume's compression is fixed at its first backup.
    pub compression: CompressionMethod,
    /// Backup labels (`Labels` of the cfg; also written to `volume.cfg`).
    pub labels: BTreeMap<String, String>,
    /// Snapshot name recorded in the cfg.
    pub snapshot_name: String,
    /// Snapshot creation time, RFC3339; becomes `SnapshotCreatedAt` and the volume's `LastBackupAt`.
    pub snapshot_created_at: String,
    /// Backup parameters. `backup-block-size` is added (in bytes) when absent and
    /// [`record_block_size`](Self::record_block_size) is set; `backup-mode` `"full"` re-uploads
    /// blocks that already exist.
    pub parameters: BTreeMap<String, String>,
    /// Whether to record the block size as `Parameters["backup-block-size"]` (bytes), as
    /// Longhorn v1.10 always does (longhorn/longhorn-engine@v1.10.1:app/cmd/backup.go). Before
    /// v1.10 Longhorn writes no such parameter (`Parameters` is `null` without others).
    pub record_block_size: bool,
    /// `DataEngine` of a new `volume.cfg` (`v1`/`v2`; empty becomes `v1` at the end of the
    /// backup, as Longhorn's `loadVolume` does).
    pub data_engine: String,
    /// Blocks in flight at once (at least 1).
    pub concurrency: usize,
    /// `StorageClassName` written to a new `volume.cfg`.
    pub storage_class_name: String,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            block_size: BLOCK_SIZE_2MI,
            compression: CompressionMethod::Lz4,
            labels: BTreeMap::new(),
            snapshot_name: String::new(),
            snapshot_created_at: String::new(),
            parameters: BTreeMap::new(),
            concurrency: DEFAULT_CONCURRENCY,
            storage_class_name: String::new(),
            record_block_size: true,
            data_engine: "v1".to_string(),
        }
    }
}

/// Errors of [`upload_image`].
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Volume or backup name breaks Longhorn's name rule.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The requested block size is not one Longhorn accepts.
    #[error("block size {block_size} bytes is not 2097152 (2Mi) or 16777216 (16Mi)")]
    InvalidBlockSize {
        /// Requested size in bytes.
        block_size: u64,
    },
    /// `parameters["backup-block-size"]` is invalid or disagrees with `block_size`.
    #[error("backup-block-size parameter {param:?} does not match block size {block_size}")]
    BlockSizeMismatch {
        /// The parameter value.
        param: String,
        /// The block size in bytes.
        block_size: u64,
    },
    /// The image could not be opened or measured.
    #[error("cannot open image {path}: {source}")]
    Open {
        /// Image path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A block of the image could not be read.
    #[error("cannot read image {path} at offset {offset}: {source}")]
    Read {
        /// Image path.
        path: PathBuf,
        /// Byte offset of the block.
        offset: u64,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A block could not be compressed.
    #[error("cannot compress block at offset {offset}: {source}")]
    Compress {
        /// Byte offset of the block.
        offset: u64,
        /// The compressor's error.
        #[source]
        source: CompressError,
    },
    /// An S3 operation failed (the error names bucket and key).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A cfg could not be serialized or parsed.
    #[error(transparent)]
    Cfg(#[from] CfgError),
    /// A blocking worker panicked or was cancelled.
    #[error("block worker for offset {offset} failed: {message}")]
    Worker {
        /// Byte offset of the block.
        offset: u64,
        /// The join error.
        message: String,
    },
}

/// What happened to one block of the image.
struct BlockOutcome {
    offset: u64,
    len: u64,
    checksum: String,
    /// Compressed bytes uploaded for a block that did not exist.
    new_bytes: u64,
    /// Compressed bytes uploaded over an existing block (backup-mode full).
    reuploaded_bytes: u64,
}

/// Shared, read-only state of one upload.
struct Upload<'a> {
    store: &'a BackupStore,
    vol: &'a str,
    path: PathBuf,
    file: Arc<std::fs::File>,
    image_len: u64,
    block_size: u64,
    compression: CompressionMethod,
    full: bool,
    /// Checksums the previous backup listed: known to exist, so no HEAD is needed.
    known: HashSet<String>,
    /// Checksums handled earlier in this upload: identical blocks are uploaded once.
    claimed: Mutex<HashSet<String>>,
}

/// Backs up `image` (a raw, normally sparse, volume image) as backup `backup_name` of volume
/// `vol`, the way Longhorn's `CreateDeltaBlockBackup` does (see the module docs for each rule).
///
/// Every allocated block of the image (extents from `SEEK_DATA`/`SEEK_HOLE`, aligned to the
/// block size; all-zero blocks included, a short tail zero-padded to a full block) is named by
/// the SHA-512/64 of its plaintext and uploaded, compressed with the volume's method, unless it
/// exists already (blocks listed in `previous` are trusted to exist, as Longhorn trusts its last
/// backup), with at most `opts.concurrency` blocks in flight. The volume size is the image
/// length rounded up to the block size. Returns the final cfg: the sorted block map,
/// `Size` = blocks × block size, `NewlyUploadedDataSize`/`ReUploadedDataSize` in compressed
/// bytes. `progress(done_bytes, total_bytes)` is called after every block with allocated bytes
/// processed so far.
///
/// # Errors
/// [`UploadError`]: invalid names or block size, image I/O (with path and offset), compression,
/// S3 (with bucket and key), or an unparsable existing `volume.cfg`.
pub async fn upload_image<P: Fn(u64, u64)>(
    store: &BackupStore,
    vol: &str,
    backup_name: &str,
    image: &Path,
    opts: UploadOptions,
    previous: Option<&BackupCfg>,
    progress: P,
) -> Result<BackupCfg, UploadError> {
    validate_name(vol)?;
    validate_name(backup_name)?;
    let block_size = opts.block_size;
    if block_size != BLOCK_SIZE_2MI && block_size != BLOCK_SIZE_16MI {
        return Err(UploadError::InvalidBlockSize { block_size });
    }
    let mut parameters = opts.parameters.clone();
    match parameters.get(PARAM_BLOCK_SIZE) {
        None if opts.record_block_size => {
            parameters.insert(PARAM_BLOCK_SIZE.to_string(), block_size.to_string());
        }
        None => {}
        Some(param) if parse_block_size(Some(param)).ok() != Some(block_size) => {
            return Err(UploadError::BlockSizeMismatch {
                param: param.clone(),
                block_size,
            });
        }
        Some(_) => {}
    }
    let full = parameters.get(PARAM_BACKUP_MODE).map(String::as_str) == Some("full");

    let open_err = |source| UploadError::Open {
        path: image.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(image).map_err(open_err)?;
    let image_len = file.metadata().map_err(open_err)?.len();
    let volume_size = image_len.div_ceil(block_size) * block_size;
    let offsets = allocated_blocks(&file, image_len, block_size).map_err(open_err)?;

    // addVolume: a new volume's volume.cfg comes first; an existing one fixes the compression.
    let existing = store.get_volume_cfg(vol).await?;
    let created_volume = existing.is_none();
    let mut volume = match existing {
        Some(v) => v,
        None => {
            let v = VolumeCfg {
                name: vol.to_string(),
                size: volume_size,
                labels: opts.labels.clone(),
                created_time: now_rfc3339(),
                backing_image_name: String::new(),
                backing_image_checksum: String::new(),
                compression_method: opts.compression,
                storage_class_name: opts.storage_class_name.clone(),
                data_engine: opts.data_engine.clone(),
                ..Default::default()
            };
            store.put_volume_cfg(&v).await?;
            v
        }
    };
    let compression = volume.compression_method;
    if !created_volume && compression != opts.compression {
        tracing::debug!(volume = vol, fixed = %compression, requested = %opts.compression,
            "volume.cfg fixes the compression method: the request's is ignored");
    }

    // The in-progress cfg Longhorn writes before the first block.
    store
        .put_backup_cfg(&BackupCfg {
            name: backup_name.to_string(),
            volume_name: vol.to_string(),
            compression_method: compression,
            ..Default::default()
        })
        .await?;

    // A previous backup with another block size has a different block map: Longhorn then
    // makes a full backup, and so do we (no trusted blocks).
    let previous = previous.filter(|p| {
        !full
            && p.volume_name == vol
            && p.block_size().ok() == Some(block_size)
            && p.snapshot_name != opts.snapshot_name
    });
    let known: HashSet<String> = previous
        .map(|p| p.blocks.iter().map(|b| b.block_checksum.clone()).collect())
        .unwrap_or_default();
    let incremental = previous.is_some();

    let upload = Upload {
        store,
        vol,
        path: image.to_path_buf(),
        file: Arc::new(file),
        image_len,
        block_size,
        compression,
        full,
        known,
        claimed: Mutex::new(HashSet::new()),
    };

    let total = offsets.len() as u64 * block_size;
    let mut outcomes = stream::iter(offsets)
        .map(|offset| upload.block(offset))
        .buffer_unordered(opts.concurrency.max(1));
    let mut blocks = Vec::new();
    let mut done = 0u64;
    let mut new_bytes = 0u64;
    let mut reuploaded_bytes = 0u64;
    let mut new_blocks = 0u64;
    while let Some(outcome) = outcomes.next().await {
        let outcome = outcome?;
        done += outcome.len;
        new_bytes += outcome.new_bytes;
        reuploaded_bytes += outcome.reuploaded_bytes;
        if outcome.new_bytes > 0 {
            new_blocks += 1;
        }
        blocks.push(BlockMapping {
            offset: outcome.offset,
            block_checksum: outcome.checksum,
        });
        progress(done, total);
    }
    drop(outcomes);
    blocks.sort_by_key(|b| b.offset);

    let mut cfg = BackupCfg {
        name: backup_name.to_string(),
        volume_name: vol.to_string(),
        snapshot_name: opts.snapshot_name.clone(),
        snapshot_created_at: opts.snapshot_created_at.clone(),
        created_time: String::new(),
        size: blocks.len() as u64 * block_size,
        labels: opts.labels.clone(),
        parameters,
        is_incremental: incremental,
        compression_method: compression,
        newly_uploaded_data_size: new_bytes,
        re_uploaded_data_size: reuploaded_bytes,
        // mergeSnapshotMap: the merged cfg of an incremental backup has no ProcessingBlocks.
        processing_blocks: (!incremental).then(|| serde_json::json!({})),
        blocks,
        single_file: Default::default(),
    };
    // Set last: an empty CreatedTime is how Longhorn marks a backup still in progress.
    cfg.created_time = now_rfc3339();
    store.put_backup_cfg(&cfg).await?;

    // Re-read: another writer may have changed it meanwhile (Longhorn's loadVolume).
    if let Some(v) = store.get_volume_cfg(vol).await? {
        volume = v;
    }
    volume.size = volume_size;
    volume.labels = opts.labels;
    volume.last_backup_name = backup_name.to_string();
    volume.last_backup_at = opts.snapshot_created_at;
    volume.block_count += new_blocks;
    volume.compression_method = compression;
    volume.storage_class_name = opts.storage_class_name;
    if volume.data_engine.is_empty() {
        volume.data_engine = "v1".to_string();
    }
    store.put_volume_cfg(&volume).await?;
    tracing::debug!(
        volume = vol,
        backup = backup_name,
        blocks = cfg.blocks.len(),
        new_blocks,
        new_bytes,
        "backup written"
    );
    Ok(cfg)
}

/// Offsets of the blocks of `file` (`len` bytes) that hold allocated data: each extent
/// `SEEK_DATA`/`SEEK_HOLE` reports, widened to whole blocks of `block_size`. A filesystem
/// without hole support reports the whole file as data, so every block is listed.
///
/// # Errors
/// The `lseek` error other than `ENXIO` (no data after the position).
fn allocated_blocks(file: &std::fs::File, len: u64, block_size: u64) -> std::io::Result<Vec<u64>> {
    let fd = file.as_raw_fd();
    let end = i64::try_from(len).map_err(std::io::Error::other)?;
    let mut out: Vec<u64> = Vec::new();
    let mut pos: i64 = 0;
    while pos < end {
        // SAFETY: lseek only moves the file offset of a descriptor we own for the call's
        // duration; positioned reads elsewhere never use that offset.
        let data = unsafe { libc::lseek(fd, pos, libc::SEEK_DATA) };
        if data < 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ENXIO) {
                break;
            }
            return Err(err);
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
        if hole < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let (data, hole) = (data as u64, (hole as u64).min(len));
        let first = data / block_size * block_size;
        let mut off = match out.last() {
            Some(&last) => first.max(last + block_size),
            None => first,
        };
        while off < hole {
            out.push(off);
            off += block_size;
        }
        pos = hole.max(data + 1) as i64;
    }
    Ok(out)
}

/// The current time as Go's `time.Now().UTC().Format(time.RFC3339)` prints it.
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Upload<'_> {
    async fn block(&self, offset: u64) -> Result<BlockOutcome, UploadError> {
        let len = self.block_size;
        // Bytes of the image in this block; the rest of a short tail stays zero (full blocks
        // only: Longhorn's restore copies exactly one block size per block).
        let in_image = len.min(self.image_len.saturating_sub(offset));
        let file = Arc::clone(&self.file);
        let path = self.path.clone();
        let (buf, sum) = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
            let part = usize::try_from(in_image).unwrap_or(usize::MAX);
            file.read_exact_at(&mut buf[..part], offset)
                .map_err(|source| UploadError::Read {
                    path,
                    offset,
                    source,
                })?;
            let sum = checksum(&buf);
            Ok::<_, UploadError>((buf, sum))
        })
        .await
        .map_err(|e| UploadError::Worker {
            offset,
            message: e.to_string(),
        })??;

        let first_claim = self
            .claimed
            .lock()
            .map(|mut c| c.insert(sum.clone()))
            .unwrap_or(true);
        let skip = |checksum| {
            Ok(BlockOutcome {
                offset,
                len,
                checksum,
                new_bytes: 0,
                reuploaded_bytes: 0,
            })
        };
        if !first_claim {
            return skip(sum);
        }
        let exists = if self.known.contains(&sum) && !self.full {
            true
        } else {
            self.store.block_exists(self.vol, &sum).await?
        };
        if exists && !self.full {
            return skip(sum);
        }

        let method = self.compression;
        let compressed = tokio::task::spawn_blocking(move || compress(method, &buf))
            .await
            .map_err(|e| UploadError::Worker {
                offset,
                message: e.to_string(),
            })?
            .map_err(|source| UploadError::Compress { offset, source })?;
        let stored = compressed.len() as u64;
        self.store.put_block(self.vol, &sum, compressed).await?;
        let (new_bytes, reuploaded_bytes) = if exists { (0, stored) } else { (stored, 0) };
        Ok(BlockOutcome {
            offset,
            len,
            checksum: sum,
            new_bytes,
            reuploaded_bytes,
        })
    }
}
