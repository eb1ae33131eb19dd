//! Errors of the data plane: one enum for running pod commands, one for volumes and their
//! snapshots, backups and restores.

use std::path::PathBuf;

/// Errors of the pod runtime ([`super::exec::BusyboxRuntime`]).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The busybox root filesystem could not be built.
    #[error("cannot build busybox rootfs in {dir}: {message}")]
    Rootfs {
        /// The rootfs directory.
        dir: PathBuf,
        /// What failed.
        message: String,
    },
    /// The pod object lacks something the runtime needs (container, image, name).
    #[error("pod {namespace}/{pod}: {message}")]
    Pod {
        /// Namespace of the pod.
        namespace: String,
        /// Name of the pod (may be empty when the object has none).
        pod: String,
        /// What is missing or wrong.
        message: String,
    },
    /// The pod's volumes could not be resolved to volume directories.
    #[error("pod {namespace}/{pod}: cannot resolve volume mounts: {message}")]
    Mounts {
        /// Namespace of the pod.
        namespace: String,
        /// Name of the pod.
        pod: String,
        /// The resolver's message.
        message: String,
    },
    /// The command's process could not be started.
    #[error("cannot start {program} for pod {pod}: {source}")]
    Spawn {
        /// The program spawned on the host (`unshare`, busybox or the harness binary).
        program: String,
        /// Name of the pod.
        pod: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for the process failed.
    #[error("waiting for command of pod {pod}: {source}")]
    Wait {
        /// Name of the pod.
        pod: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The command outlived its timeout; its process group was killed.
    #[error("command of pod {pod} timed out after {seconds} s and was killed")]
    TimedOut {
        /// Name of the pod.
        pod: String,
        /// The timeout in seconds.
        seconds: u64,
    },
    /// An image needs the harness binary but the runtime was given none.
    #[error("pod {pod} runs image {image} but no dr-harness binary is configured")]
    NoHarnessBinary {
        /// Name of the pod.
        pod: String,
        /// The image name.
        image: String,
    },
}

/// Errors of volumes, snapshots, backups and restores ([`super::volumes::DataPlane`]).
#[derive(Debug, thiserror::Error)]
pub enum DataPlaneError {
    /// A required host tool (mke2fs, debugfs from e2fsprogs) is missing.
    #[error("{tool} not found on PATH or in /sbin, /usr/sbin: install Debian package {package}")]
    ToolMissing {
        /// The executable name.
        tool: &'static str,
        /// The Debian package that ships it.
        package: &'static str,
    },
    /// A volume, snapshot or backup name is not usable as a path component.
    #[error("invalid {what} name {name:?}: {reason}")]
    InvalidName {
        /// What the name names (`volume`, `snapshot`).
        what: &'static str,
        /// The name.
        name: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// The volume does not exist in the cluster dir.
    #[error("volume {volume} not found under {dir}")]
    VolumeNotFound {
        /// Volume name.
        volume: String,
        /// Where it was looked for.
        dir: PathBuf,
    },
    /// The snapshot does not exist.
    #[error("snapshot {snapshot} of volume {volume} not found")]
    SnapshotNotFound {
        /// Volume name.
        volume: String,
        /// Snapshot name.
        snapshot: String,
    },
    /// A file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`creating`, `reading`, `renaming`...).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An e2fsprogs command failed.
    #[error("{tool} failed on {image}: {message}")]
    Tool {
        /// The tool (`mke2fs`, `debugfs`).
        tool: &'static str,
        /// The image file.
        image: PathBuf,
        /// Exit status and stderr.
        message: String,
    },
    /// Upload to the backup store failed.
    #[error("backup {backup} of volume {volume}: {source}")]
    Upload {
        /// Volume name in the store.
        volume: String,
        /// Backup name.
        backup: String,
        /// The backupstore error (names bucket and key).
        #[source]
        source: Box<dr_backupstore::UploadError>,
    },
    /// Reading the backup store failed.
    #[error("backup store access for volume {volume}: {source}")]
    Store {
        /// Volume name in the store.
        volume: String,
        /// The backupstore error (names bucket and key).
        #[source]
        source: dr_backupstore::StoreError,
    },
    /// Restoring a backup image failed.
    #[error("restore of backup {backup} of volume {volume}: {source}")]
    Restore {
        /// Volume name in the store.
        volume: String,
        /// Backup name.
        backup: String,
        /// The backupstore error (names key and offset).
        #[source]
        source: Box<dr_backupstore::RestoreError>,
    },
    /// The named backup is not in the store.
    #[error("backup {backup} of volume {volume} not found in the backup store")]
    BackupNotFound {
        /// Volume name in the store.
        volume: String,
        /// Backup name.
        backup: String,
    },
    /// A blocking worker panicked or was cancelled.
    #[error("data plane worker for {what} failed: {message}")]
    Worker {
        /// What the worker was doing.
        what: String,
        /// The join error.
        message: String,
    },
}

impl DataPlaneError {
    /// An [`DataPlaneError::Io`] for `path`.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        DataPlaneError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
