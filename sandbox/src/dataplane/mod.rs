//! The sandbox's data plane: where pod commands run and where volume data lives.
//!
//! - [`exec`]: the [`crate::api::runtime::PodRuntime`] that runs pod commands in real busybox
//!   with the pod's volumes bind-mounted (private mount namespace + chroot), and pod logs.
//! - [`volumes`]: volume directories and snapshots as ext4 images under `STATE/cluster/`.
//! - [`longhorn`]: backups and restores of those images in the real Longhorn S3 layout, through
//!   `dr_backupstore`.
//! - [`faults`]: data faults (wrong backup restored, a flipped byte).
//!
//! Everything slow is async (subprocesses and file trees run on the blocking pool).

pub mod error;
pub mod exec;
pub mod ext4;
pub mod faults;
pub mod logs;
pub mod longhorn;
pub mod rootfs;
pub mod volumes;

pub use error::{DataPlaneError, ExecError};
pub use exec::{
    claim_mounts, container_argv, first_container, BusyboxRuntime, ClaimMount, Isolation, Mount,
    RuntimeOptions, StaticResolver, VolumeResolver,
};
pub use faults::DataFaults;
pub use logs::LogStore;
pub use longhorn::{FlippedByte, RestoreOutcome};
pub use volumes::{DataPlane, SnapshotInfo};
