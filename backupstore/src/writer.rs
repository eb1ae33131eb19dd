//! Uploads a volume image as a Longhorn backup: block by block, deduplicated, compressed, with
//! the cfg written last so that a reader never sees a complete-looking backup with missing
//! blocks.
//!
//! The sandbox's simulated Longhorn uses this to write real Longhorn-layout backups. Memory stays
//! at `block size × concurrency`: blocks are read with positioned reads and released as soon as
//! they are uploaded; only the block map (offset + checksum) is kept. Source of the algorithm:
//! longhorn/backupstore `deltablock.go` (`CreateDeltaBlockBackup`, `backupBlock`,
//! `performIncrementalBackup`, `saveVolume`).

use std::collections::{BTreeMap, HashSet};
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
    /// Compression of newly uploaded blocks (Longhorn's default setting is lz4).
    pub compression: CompressionMethod,
    /// Backup labels (`Labels` of the cfg; also written to `volume.cfg`).
    pub labels: BTreeMap<String, String>,
    /// Snapshot name recorded in the cfg.
    pub snapshot_name: String,
    /// Snapshot creation time, RFC3339; becomes `SnapshotCreatedAt` and the volume's `LastBackupAt`.
    pub snapshot_created_at: String,
    /// Backup parameters. `backup-block-size` is added (in bytes) when absent; `backup-mode`
    /// `"full"` re-uploads blocks that already exist.
    pub parameters: BTreeMap<String, String>,
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
    /// `None` for an all-zero block (not backed up: sparse).
    checksum: Option<String>,
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

/// Backs up `image` (a raw volume image) as backup `backup_name` of volume `vol`.
///
/// Reads block by block with positioned reads, skips all-zero blocks, names blocks by the
/// SHA-512/64 of their plaintext, uploads only blocks absent from the store (blocks listed in
/// `previous` are trusted to exist, as Longhorn trusts its last backup), with at most
/// `opts.concurrency` blocks in flight. Then writes `backup_<name>.cfg` with the complete sorted
/// block map and `CreatedTime` (set last), and finally updates `volume.cfg` (`LastBackupName`,
/// `LastBackupAt`, `Size`, `BlockCount` += new blocks, `CompressionMethod`; `CreatedTime` on the
/// first backup). `Size` is the image length in bytes (Longhorn volumes are 2 MiB multiples, so
/// this equals Longhorn's value); a last partial block is stored short.
/// `NewlyUploadedDataSize` counts compressed bytes. `progress(done_bytes, total_bytes)` is
/// called after every block with image bytes processed so far.
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
        None => {
            parameters.insert(PARAM_BLOCK_SIZE.to_string(), block_size.to_string());
        }
        Some(param) => {
            if parse_block_size(Some(param)).ok() != Some(block_size) {
                return Err(UploadError::BlockSizeMismatch {
                    param: param.clone(),
                    block_size,
                });
            }
        }
    }
    let full = parameters.get(PARAM_BACKUP_MODE).map(String::as_str) == Some("full");

    let open_err = |source| UploadError::Open {
        path: image.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(image).map_err(open_err)?;
    let image_len = file.metadata().map_err(open_err)?.len();

    // A previous backup with another block size has a different block map: Longhorn then
    // makes a full backup, and so do we (no trusted blocks).
    let known: HashSet<String> = previous
        .filter(|p| p.volume_name == vol && p.block_size().ok() == Some(block_size))
        .map(|p| p.blocks.iter().map(|b| b.block_checksum.clone()).collect())
        .unwrap_or_default();
    let incremental = previous.is_some() && !full;

    let upload = Upload {
        store,
        vol,
        path: image.to_path_buf(),
        file: Arc::new(file),
        image_len,
        block_size,
        compression: opts.compression,
        full,
        known,
        claimed: Mutex::new(HashSet::new()),
    };

    let block_count = image_len.div_ceil(block_size);
    let mut outcomes = stream::iter(0..block_count)
        .map(|i| upload.block(i * block_size))
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
        if let Some(block_checksum) = outcome.checksum {
            blocks.push(BlockMapping {
                offset: outcome.offset,
                block_checksum,
            });
        }
        progress(done, image_len);
    }
    drop(outcomes);
    blocks.sort_by_key(|b| b.offset);

    let mut cfg = BackupCfg {
        name: backup_name.to_string(),
        volume_name: vol.to_string(),
        snapshot_name: opts.snapshot_name.clone(),
        snapshot_created_at: opts.snapshot_created_at.clone(),
        created_time: String::new(),
        size: image_len,
        labels: opts.labels.clone(),
        parameters,
        is_incremental: incremental,
        compression_method: opts.compression,
        newly_uploaded_data_size: new_bytes,
        re_uploaded_data_size: reuploaded_bytes,
        processing_blocks: None,
        blocks,
        single_file: Default::default(),
    };
    // Set last: an empty CreatedTime is how Longhorn marks a backup still in progress.
    cfg.created_time = now_rfc3339();
    store.put_backup_cfg(&cfg).await?;

    let mut volume = match store.get_volume_cfg(vol).await? {
        Some(v) => v,
        None => VolumeCfg {
            name: vol.to_string(),
            created_time: cfg.created_time.clone(),
            storage_class_name: opts.storage_class_name.clone(),
            data_engine: "v1".to_string(),
            ..Default::default()
        },
    };
    volume.size = image_len;
    volume.labels = opts.labels;
    volume.last_backup_name = backup_name.to_string();
    volume.last_backup_at = opts.snapshot_created_at;
    volume.block_count += new_blocks;
    volume.compression_method = opts.compression;
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

/// The current time as Go's `time.Now().UTC().Format(time.RFC3339)` prints it.
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Upload<'_> {
    async fn block(&self, offset: u64) -> Result<BlockOutcome, UploadError> {
        let len = self.block_size.min(self.image_len - offset);
        let file = Arc::clone(&self.file);
        let path = self.path.clone();
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
            file.read_exact_at(&mut buf, offset)
                .map_err(|source| UploadError::Read {
                    path,
                    offset,
                    source,
                })?;
            if buf.iter().all(|&b| b == 0) {
                return Ok(None);
            }
            let sum = checksum(&buf);
            Ok::<_, UploadError>(Some((buf, sum)))
        })
        .await
        .map_err(|e| UploadError::Worker {
            offset,
            message: e.to_string(),
        })??;
        let Some((buf, sum)) = read else {
            return Ok(BlockOutcome {
                offset,
                len,
                checksum: None,
                new_bytes: 0,
                reuploaded_bytes: 0,
            });
        };

        let first_claim = self
            .claimed
            .lock()
            .map(|mut c| c.insert(sum.clone()))
            .unwrap_or(true);
        let skip = |checksum| {
            Ok(BlockOutcome {
                offset,
                len,
                checksum: Some(checksum),
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
            checksum: Some(sum),
            new_bytes,
            reuploaded_bytes,
        })
    }
}
