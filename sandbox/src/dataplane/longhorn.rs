//! Backups and restores of sandbox volumes through the real Longhorn S3 backupstore layout.
//!
//! A backup uploads a snapshot's ext4 image with `dr_backupstore::upload_image`, incremental
//! against the volume's last backup in the store (`volume.cfg` `LastBackupName`), as Longhorn's
//! `CreateDeltaBlockBackup` does. A restore downloads a backup into a temporary image with
//! `dr_backupstore::restore_image` (which verifies every block checksum) and extracts its files
//! into the target volume. Data faults ([`super::faults::DataFaults`]) apply here.

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use dr_backupstore::{
    restore_image, upload_image, BackupCfg, BackupStore, CompressionMethod, RestoreSummary,
    UploadOptions,
};

use super::error::DataPlaneError;
use super::volumes::{blocking, validate_component, DataPlane};

/// The byte changed by the `flip_byte_after_restore` fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlippedByte {
    /// The file, inside the restored volume's data dir.
    pub path: PathBuf,
    /// Byte offset in the file.
    pub offset: u64,
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct RestoreOutcome {
    /// The backup actually restored (differs from the requested one under the
    /// `restore_older_backup` fault).
    pub backup: BackupCfg,
    /// Blocks and bytes restored and verified.
    pub summary: RestoreSummary,
    /// The byte flipped by the `flip_byte_after_restore` fault, if it fired.
    pub flipped: Option<FlippedByte>,
}

impl DataPlane {
    /// Backs up snapshot `snap` of volume `vol` as backup `backup_name` of the same volume name
    /// in `store`, with `compression` and `block_size` (bytes: 2097152 or 16777216, Longhorn
    /// v1.10 CRD values; recorded as `Parameters["backup-block-size"]` when `record_block_size`,
    /// as 1.10 does) and the backup `labels`. Incremental against the volume's last backup
    /// when `volume.cfg` names one that still exists. `progress(done_bytes, total_bytes)` is
    /// called as blocks are processed. Returns the written `backup_<name>.cfg`.
    ///
    /// # Errors
    /// [`DataPlaneError::SnapshotNotFound`]; [`DataPlaneError::Store`] reading the previous
    /// cfgs; [`DataPlaneError::Upload`] (names, block size, image I/O, S3 errors).
    // Positional arguments as agreed with the controllers (dataplane brief §3).
    #[allow(clippy::too_many_arguments)]
    pub async fn backup(
        &self,
        store: &BackupStore,
        vol: &str,
        snap: &str,
        backup_name: &str,
        compression: CompressionMethod,
        block_size: u64,
        record_block_size: bool,
        labels: BTreeMap<String, String>,
        progress: impl Fn(u64, u64) + Send + Sync,
    ) -> Result<BackupCfg, DataPlaneError> {
        let info = self.snapshot_info(vol, snap)?;
        let store_err = |source| DataPlaneError::Store {
            volume: vol.to_owned(),
            source,
        };
        let previous = match store.get_volume_cfg(vol).await.map_err(store_err)? {
            Some(v) if !v.last_backup_name.is_empty() => store
                .get_backup_cfg(vol, &v.last_backup_name)
                .await
                .map_err(store_err)?
                .filter(BackupCfg::is_complete),
            _ => None,
        };
        let opts = UploadOptions {
            block_size,
            record_block_size,
            compression,
            labels,
            snapshot_name: snap.to_owned(),
            snapshot_created_at: info.created_at_rfc3339(),
            ..UploadOptions::default()
        };
        upload_image(
            store,
            vol,
            backup_name,
            &info.image,
            opts,
            previous.as_ref(),
            progress,
        )
        .await
        .map_err(|source| DataPlaneError::Upload {
            volume: vol.to_owned(),
            backup: backup_name.to_owned(),
            source: Box::new(source),
        })
    }

    /// Restores backup `backup_name` of `vol_in_store` into volume `into_vol` (created with the
    /// backup's size if missing): the image is fetched and verified block by block into a
    /// temporary file under the cluster dir, then its files replace the volume's data.
    /// Under the `restore_older_backup` fault the backup before `backup_name` (by snapshot
    /// time) is restored instead; under `flip_byte_after_restore` one byte of the restored data
    /// is flipped afterwards (once).
    ///
    /// # Errors
    /// [`DataPlaneError::BackupNotFound`]; [`DataPlaneError::Store`]; [`DataPlaneError::Restore`]
    /// (incomplete backup, missing or corrupt block); [`DataPlaneError::Tool`] / `Io` extracting.
    pub async fn restore(
        &self,
        store: &BackupStore,
        vol_in_store: &str,
        backup_name: &str,
        into_vol: &str,
        progress: impl Fn(u64, u64) + Send + Sync + 'static,
    ) -> Result<RestoreOutcome, DataPlaneError> {
        validate_component("volume", into_vol)?;
        let store_err = |source| DataPlaneError::Store {
            volume: vol_in_store.to_owned(),
            source,
        };
        let wanted = store
            .get_backup_cfg(vol_in_store, backup_name)
            .await
            .map_err(store_err)?
            .ok_or_else(|| DataPlaneError::BackupNotFound {
                volume: vol_in_store.to_owned(),
                backup: backup_name.to_owned(),
            })?;
        let cfg = if self.faults().restore_older_backup() {
            match older_backup(store, vol_in_store, &wanted).await? {
                Some(older) => {
                    tracing::warn!(
                        requested = backup_name,
                        restored = %older.name,
                        "fault restore-older-backup: restoring the previous backup"
                    );
                    older
                }
                None => {
                    tracing::warn!(
                        requested = backup_name,
                        "fault restore-older-backup: no older backup, restoring the requested one"
                    );
                    wanted
                }
            }
        } else {
            wanted
        };
        if !self.volume_exists(into_vol) {
            // The volume size is volume.cfg's Size; the backup cfg's Size is only listed
            // blocks × block size (longhorn-engine@v1.9.1 vendor/…/backupstore/deltablock.go
            // RestoreDeltaBlockBackup). Without volume.cfg the restore below fails and says so.
            let size = store
                .get_volume_cfg(vol_in_store)
                .await
                .map_err(store_err)?
                .map_or(cfg.size, |v| v.size);
            self.create_volume(into_vol, size).await?;
        }
        let tmp_dir = self.root().join("restore-tmp");
        let image = blocking("restore temp file", {
            let tmp_dir = tmp_dir.clone();
            move || {
                std::fs::create_dir_all(&tmp_dir)
                    .map_err(|e| DataPlaneError::io("creating", &tmp_dir, e))?;
                tempfile::Builder::new()
                    .prefix("restore-")
                    .suffix(".img")
                    .tempfile_in(&tmp_dir)
                    .map_err(|e| DataPlaneError::io("creating temp image in", &tmp_dir, e))
                    .map(tempfile::NamedTempFile::into_temp_path)
            }
        })
        .await?;
        let summary = restore_detached(store, vol_in_store, &cfg, &image, progress).await?;
        let data = self.volume_dir(into_vol);
        self.extract(&image, &data).await?;
        // The TempPath removes the image when dropped; removing it explicitly reports failures.
        if let Err(e) = image.close() {
            tracing::warn!(error = %e, "could not remove restore temp image");
        }
        let flipped = if self.faults().take_flip_byte() {
            let flipped = blocking("flip byte", move || flip_one_byte(&data)).await?;
            match &flipped {
                Some(f) => tracing::warn!(path = %f.path.display(), offset = f.offset,
                    "fault restored-byte-flipped: one byte of the restored data changed"),
                None => tracing::warn!("fault restored-byte-flipped: no non-empty file to corrupt"),
            }
            flipped
        } else {
            None
        };
        Ok(RestoreOutcome {
            backup: cfg,
            summary,
            flipped,
        })
    }
}

/// Runs `restore_image` on a blocking-pool thread driving the current runtime.
///
/// Why: `restore_image`'s future is not provably `Send` (rustc's higher-ranked closure
/// inference on its block stream), and the controllers spawn restores as tasks. Building the
/// future inside the blocking thread means it never crosses threads.
async fn restore_detached(
    store: &BackupStore,
    vol: &str,
    cfg: &BackupCfg,
    image: &Path,
    progress: impl Fn(u64, u64) + Send + Sync + 'static,
) -> Result<RestoreSummary, DataPlaneError> {
    let handle = tokio::runtime::Handle::current();
    let (store, vol, cfg, image) = (
        store.clone(),
        vol.to_owned(),
        cfg.clone(),
        image.to_path_buf(),
    );
    let what = format!("restore of backup {}", cfg.name);
    tokio::task::spawn_blocking(move || {
        handle
            .block_on(restore_image(&store, &vol, &cfg, &image, progress))
            .map_err(|source| DataPlaneError::Restore {
                volume: vol.clone(),
                backup: cfg.name.clone(),
                source: Box::new(source),
            })
    })
    .await
    .map_err(|e| DataPlaneError::Worker {
        what,
        message: e.to_string(),
    })?
}

/// The complete backup of `vol` made just before `wanted` (ordered by snapshot time, then
/// creation time, then name), if any.
async fn older_backup(
    store: &BackupStore,
    vol: &str,
    wanted: &BackupCfg,
) -> Result<Option<BackupCfg>, DataPlaneError> {
    let store_err = |source| DataPlaneError::Store {
        volume: vol.to_owned(),
        source,
    };
    let key = |c: &BackupCfg| {
        (
            c.snapshot_created_at.clone(),
            c.created_time.clone(),
            c.name.clone(),
        )
    };
    let wanted_key = key(wanted);
    let mut best: Option<BackupCfg> = None;
    for name in store.list_backups(vol).await.map_err(store_err)? {
        if name == wanted.name {
            continue;
        }
        let Some(cfg) = store.get_backup_cfg(vol, &name).await.map_err(store_err)? else {
            continue;
        };
        if !cfg.is_complete() || key(&cfg) >= wanted_key {
            continue;
        }
        if best.as_ref().is_none_or(|b| key(b) < key(&cfg)) {
            best = Some(cfg);
        }
    }
    Ok(best)
}

/// Flips (XOR 0xFF) the middle byte of the first non-empty regular file under `dir`, walking
/// in sorted path order so the choice is reproducible.
fn flip_one_byte(dir: &Path) -> Result<Option<FlippedByte>, DataPlaneError> {
    let Some(path) = largest_file(dir)? else {
        return Ok(None);
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| DataPlaneError::io("opening", &path, e))?;
    let len = file
        .metadata()
        .map_err(|e| DataPlaneError::io("measuring", &path, e))?
        .len();
    let offset = len / 2;
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, offset)
        .map_err(|e| DataPlaneError::io("reading", &path, e))?;
    byte[0] ^= 0xFF;
    file.write_all_at(&byte, offset)
        .map_err(|e| DataPlaneError::io("writing", &path, e))?;
    Ok(Some(FlippedByte { path, offset }))
}

/// The largest regular file under `dir` (ties broken by path), so the flip lands in bulk data
/// as real corruption would, not in a small metadata file.
fn largest_file(dir: &Path) -> Result<Option<PathBuf>, DataPlaneError> {
    let mut best: Option<(u64, PathBuf)> = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| DataPlaneError::io("listing", &d, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| DataPlaneError::io("listing", &d, e))?;
            let path = entry.path();
            let ty = entry
                .file_type()
                .map_err(|e| DataPlaneError::io("inspecting", &path, e))?;
            if ty.is_dir() {
                stack.push(path);
            } else if ty.is_file() {
                let len = entry
                    .metadata()
                    .map_err(|e| DataPlaneError::io("measuring", &path, e))?
                    .len();
                let better = match &best {
                    None => len > 0,
                    Some((l, p)) => len > *l || (len == *l && path < *p),
                };
                if better {
                    best = Some((len, path));
                }
            }
        }
    }
    Ok(best.map(|(_, p)| p))
}
