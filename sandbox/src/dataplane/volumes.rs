//! Volumes and snapshots of the simulated Longhorn, as directories and ext4 images under the
//! cluster state dir.
//!
//! Layout under `STATE/cluster/` (all of it is lost on `destroy`, as a cluster's disks are;
//! the S3 backup target lives elsewhere):
//! ```text
//! volumes/<vol>/volume.json            {"size_bytes": N}
//! volumes/<vol>/data/                  the files pods see at their mountPath
//! volumes/<vol>/snapshots/<snap>.img   sparse ext4 image of the volume size
//! volumes/<vol>/snapshots/<snap>.json  SnapshotInfo
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::error::DataPlaneError;
use super::ext4::{self, E2fsTools};
use super::faults::DataFaults;

/// A captured snapshot of a volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// Volume name.
    pub volume: String,
    /// Snapshot name.
    pub snapshot: String,
    /// The ext4 image file (sparse, `size_bytes` long).
    pub image: PathBuf,
    /// Image length = volume size, in bytes.
    pub size_bytes: u64,
    /// When the snapshot was taken (UTC); Longhorn's `SnapshotCreatedAt` of its backups.
    pub created_at: DateTime<Utc>,
}

impl SnapshotInfo {
    /// `created_at` as RFC3339 UTC with seconds precision (`2025-01-02T03:04:05Z`), the form
    /// Longhorn writes in backup cfgs.
    pub fn created_at_rfc3339(&self) -> String {
        self.created_at.to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct VolumeMeta {
    size_bytes: u64,
}

/// The data plane of one sandbox cluster: volume dirs, snapshots, and (in `longhorn.rs`)
/// backups and restores. Methods take `&self`; share it in an `Arc`.
#[derive(Debug)]
pub struct DataPlane {
    root: PathBuf,
    tools: E2fsTools,
    faults: Arc<DataFaults>,
}

impl DataPlane {
    /// A data plane rooted at `cluster_dir` (created if missing) with its own fault switches.
    ///
    /// # Errors
    /// [`DataPlaneError::ToolMissing`] when e2fsprogs (`mke2fs`, `debugfs`) is not installed;
    /// [`DataPlaneError::Io`] creating the dir.
    pub fn new(cluster_dir: &Path) -> Result<DataPlane, DataPlaneError> {
        Self::with_faults(cluster_dir, Arc::new(DataFaults::default()))
    }

    /// As [`DataPlane::new`], sharing `faults` with the sandbox's fault registry.
    ///
    /// # Errors
    /// As [`DataPlane::new`].
    pub fn with_faults(
        cluster_dir: &Path,
        faults: Arc<DataFaults>,
    ) -> Result<DataPlane, DataPlaneError> {
        let tools = E2fsTools::locate()?;
        std::fs::create_dir_all(cluster_dir)
            .map_err(|e| DataPlaneError::io("creating", cluster_dir, e))?;
        Ok(DataPlane {
            root: cluster_dir.to_path_buf(),
            tools,
            faults,
        })
    }

    /// The cluster dir.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The data fault switches.
    pub fn faults(&self) -> &Arc<DataFaults> {
        &self.faults
    }

    fn volume_root(&self, name: &str) -> PathBuf {
        self.root.join("volumes").join(name)
    }

    /// The directory holding volume `name`'s files (`volumes/<name>/data`); what a pod mounts.
    pub fn volume_dir(&self, name: &str) -> PathBuf {
        self.volume_root(name).join("data")
    }

    /// Whether volume `name` exists.
    pub fn volume_exists(&self, name: &str) -> bool {
        self.volume_root(name).join("volume.json").is_file()
    }

    /// The volume's size in bytes, as given at creation.
    ///
    /// # Errors
    /// [`DataPlaneError::VolumeNotFound`]; [`DataPlaneError::Io`] for an unreadable record.
    pub fn volume_size(&self, name: &str) -> Result<u64, DataPlaneError> {
        let path = self.volume_root(name).join("volume.json");
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => DataPlaneError::VolumeNotFound {
                volume: name.to_owned(),
                dir: self.root.join("volumes"),
            },
            _ => DataPlaneError::io("reading", &path, e),
        })?;
        let meta: VolumeMeta = serde_json::from_slice(&bytes)
            .map_err(|e| DataPlaneError::io("parsing", &path, std::io::Error::other(e)))?;
        Ok(meta.size_bytes)
    }

    /// Creates volume `name` of `size_bytes` with an empty data dir; returns the data dir.
    /// Creating an existing volume keeps its data and records the new size (an expansion).
    ///
    /// # Errors
    /// [`DataPlaneError::InvalidName`]; [`DataPlaneError::Io`].
    pub async fn create_volume(
        &self,
        name: &str,
        size_bytes: u64,
    ) -> Result<PathBuf, DataPlaneError> {
        validate_component("volume", name)?;
        let vroot = self.volume_root(name);
        let data = self.volume_dir(name);
        blocking("create volume", move || {
            for d in [&data, &vroot.join("snapshots")] {
                std::fs::create_dir_all(d).map_err(|e| DataPlaneError::io("creating", d, e))?;
            }
            write_json(&vroot.join("volume.json"), &VolumeMeta { size_bytes })?;
            Ok(data)
        })
        .await
    }

    /// Deletes volume `name`, its data and snapshots. Deleting a missing volume succeeds.
    ///
    /// # Errors
    /// [`DataPlaneError::InvalidName`]; [`DataPlaneError::Io`].
    pub async fn delete_volume(&self, name: &str) -> Result<(), DataPlaneError> {
        validate_component("volume", name)?;
        let vroot = self.volume_root(name);
        blocking("delete volume", move || remove_tree(&vroot)).await
    }

    /// Destroys the cluster's disks: removes everything under the cluster dir (the dir stays).
    ///
    /// # Errors
    /// [`DataPlaneError::Io`].
    pub async fn wipe(&self) -> Result<(), DataPlaneError> {
        let root = self.root.clone();
        blocking("wipe cluster dir", move || {
            let entries =
                std::fs::read_dir(&root).map_err(|e| DataPlaneError::io("listing", &root, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| DataPlaneError::io("listing", &root, e))?;
                let path = entry.path();
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                if is_dir {
                    remove_tree(&path)?;
                } else {
                    std::fs::remove_file(&path)
                        .map_err(|e| DataPlaneError::io("removing", &path, e))?;
                }
            }
            Ok(())
        })
        .await
    }

    fn snapshot_paths(&self, vol: &str, snap: &str) -> (PathBuf, PathBuf) {
        let dir = self.volume_root(vol).join("snapshots");
        (
            dir.join(format!("{snap}.img")),
            dir.join(format!("{snap}.json")),
        )
    }

    /// Captures volume `vol` as snapshot `snap`: an ext4 image of the volume size holding the
    /// data dir's files (see [`E2fsTools::make_image`]). Retaking an existing snapshot name
    /// replaces it.
    ///
    /// # Errors
    /// [`DataPlaneError::VolumeNotFound`], [`DataPlaneError::InvalidName`],
    /// [`DataPlaneError::Tool`] when the files do not fit or mke2fs fails, [`DataPlaneError::Io`].
    pub async fn snapshot(&self, vol: &str, snap: &str) -> Result<SnapshotInfo, DataPlaneError> {
        validate_component("volume", vol)?;
        validate_component("snapshot", snap)?;
        let size_bytes = self.volume_size(vol)?;
        let (image, meta) = self.snapshot_paths(vol, snap);
        let data = self.volume_dir(vol);
        let tools = self.tools.clone();
        let info = SnapshotInfo {
            volume: vol.to_owned(),
            snapshot: snap.to_owned(),
            image: image.clone(),
            size_bytes,
            created_at: Utc::now(),
        };
        let uuid = ext4::volume_uuid(vol);
        let record = info.clone();
        blocking("snapshot", move || {
            if let Some(dir) = image.parent() {
                std::fs::create_dir_all(dir).map_err(|e| DataPlaneError::io("creating", dir, e))?;
            }
            tools.make_image(&data, &image, size_bytes, &uuid)?;
            write_json(&meta, &record)
        })
        .await?;
        Ok(info)
    }

    /// The record of snapshot `snap` of `vol`.
    ///
    /// # Errors
    /// [`DataPlaneError::SnapshotNotFound`]; [`DataPlaneError::Io`] for an unreadable record.
    pub fn snapshot_info(&self, vol: &str, snap: &str) -> Result<SnapshotInfo, DataPlaneError> {
        validate_component("volume", vol)?;
        validate_component("snapshot", snap)?;
        let (image, meta) = self.snapshot_paths(vol, snap);
        let bytes = match std::fs::read(&meta) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DataPlaneError::SnapshotNotFound {
                    volume: vol.to_owned(),
                    snapshot: snap.to_owned(),
                })
            }
            Err(e) => return Err(DataPlaneError::io("reading", &meta, e)),
        };
        if !image.is_file() {
            return Err(DataPlaneError::SnapshotNotFound {
                volume: vol.to_owned(),
                snapshot: snap.to_owned(),
            });
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| DataPlaneError::io("parsing", &meta, std::io::Error::other(e)))
    }

    /// Deletes snapshot `snap` of `vol`; a missing snapshot succeeds.
    ///
    /// # Errors
    /// [`DataPlaneError::InvalidName`]; [`DataPlaneError::Io`].
    pub async fn delete_snapshot(&self, vol: &str, snap: &str) -> Result<(), DataPlaneError> {
        validate_component("volume", vol)?;
        validate_component("snapshot", snap)?;
        let (image, meta) = self.snapshot_paths(vol, snap);
        blocking("delete snapshot", move || {
            for p in [image, meta] {
                match std::fs::remove_file(&p) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(DataPlaneError::io("removing", &p, e))
                    }
                    _ => {}
                }
            }
            Ok(())
        })
        .await
    }

    /// Reverts volume `vol` to snapshot `snap`: its data dir is replaced by the image's files.
    ///
    /// # Errors
    /// [`DataPlaneError::SnapshotNotFound`]; [`DataPlaneError::Tool`] when debugfs fails;
    /// [`DataPlaneError::Io`].
    pub async fn revert(&self, vol: &str, snap: &str) -> Result<(), DataPlaneError> {
        let info = self.snapshot_info(vol, snap)?;
        self.extract(&info.image, &self.volume_dir(vol)).await
    }

    /// Replaces the contents of `dest_dir` with the files of the ext4 `image` (regular files,
    /// dirs, symlinks, modes; the top-level `lost+found` is dropped).
    ///
    /// # Errors
    /// [`DataPlaneError::Tool`] when debugfs fails; [`DataPlaneError::Io`].
    pub async fn extract(&self, image: &Path, dest_dir: &Path) -> Result<(), DataPlaneError> {
        let tools = self.tools.clone();
        let image = image.to_path_buf();
        let dest = dest_dir.to_path_buf();
        blocking("extract", move || tools.extract(&image, &dest)).await
    }
}

/// Names become path components: reject separators and dot names.
pub(crate) fn validate_component(what: &'static str, name: &str) -> Result<(), DataPlaneError> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name == "." || name == ".." {
        Some("a dot name")
    } else if name.contains(['/', '\0']) {
        Some("contains '/' or NUL")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(DataPlaneError::InvalidName {
            what,
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), DataPlaneError> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| DataPlaneError::io("serializing", path, std::io::Error::other(e)))?;
    std::fs::write(path, bytes).map_err(|e| DataPlaneError::io("writing", path, e))
}

fn remove_tree(path: &Path) -> Result<(), DataPlaneError> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(DataPlaneError::io("removing", path, e))
        }
        _ => Ok(()),
    }
}

/// Runs file work off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> Result<T, DataPlaneError> + Send + 'static,
) -> Result<T, DataPlaneError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DataPlaneError::Worker {
            what: what.to_owned(),
            message: e.to_string(),
        })?
}
