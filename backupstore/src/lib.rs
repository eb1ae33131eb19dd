//! Longhorn's S3 backupstore format, read and written from Rust.
//!
//! Used by the sandbox (which writes real Longhorn-layout backups into S3) and by the harness
//! (which proves backups in S3 and verifies them deeply without a cluster). Everything streams:
//! at most `block size × concurrency` bytes of a volume are held in memory.
//!
//! Modules, from the bottom up: [`client`] (the one S3 client builder: timeouts, retries,
//! checksum mode), [`target`] (backup target and backup URLs), [`layout`] (keys and
//! the SHA-512/64 checksum), [`cfg`](mod@cfg) (`volume.cfg` and `backup_<name>.cfg`), [`compress`](mod@compress)
//! (none/gzip/lz4 blocks with Longhorn's fallback), [`store`] (S3 I/O with errors naming bucket
//! and key), [`writer`] (image → backup), [`restore`] (backup → image, every block checked),
//! [`verify`] (structural proof in S3, and deep verification through a restore), [`ext4`] (files
//! inside a restored ext4 image, checked by SHA-256) and [`deep`] (issue #5: a backup proven from
//! S3 alone, down to the files of its filesystem), [`ledger`] and [`incremental`] (issue #10:
//! only blocks not yet proven are downloaded, with a scrub and a periodic full pass) and
//! [`remote`] (an ext4 filesystem read from S3 block by block on demand).

pub mod cfg;
pub mod client;
pub mod compress;
pub mod deep;
pub mod ext4;
pub mod incremental;
pub mod layout;
pub mod ledger;
mod pipeline;
pub mod remote;
pub mod restore;
pub mod store;
pub mod target;
pub mod verify;
pub mod writer;

pub use cfg::{BackupCfg, BlockMapping, CfgError, VolumeCfg, BLOCK_SIZE_16MI, BLOCK_SIZE_2MI};
pub use client::{build_client, s3_client, sdk_config, ChecksumMode, ClientOptions};
pub use compress::{compress, decompress, decompress_into, CompressError, CompressionMethod};
pub use deep::{
    deep_verify_files, deep_verify_files_with, BlockFault, BlockPass, BlockProblem,
    DeepFilesReport, DeepOptions, FileChecks, FilePass,
};
pub use ext4::{
    Ext4Error, Ext4Image, FileCheck, FileStatus, ManifestReport, DEFAULT_MANIFEST_PATH,
};
pub use incremental::{
    incremental_verify, IncrementalError, IncrementalOptions, IncrementalReport,
};
pub use layout::{checksum, validate_name, NameError};
pub use ledger::{ledger_key, Ledger, LedgerLocation};
pub use remote::RemoteImage;
pub use restore::{restore_image, restore_image_with, RestoreError, RestoreSummary};
pub use store::{BackupStore, ListedBlock, ListedObject, StoreError};
pub use target::{
    decode_backup_url, encode_backup_url, BackupNames, BackupTargetUrl, BackupUrl, TargetError,
};
pub use verify::{deep_verify, verify_structure, DeepReport, StructuralReport, VerifyError};
pub use writer::{upload_image, UploadError, UploadOptions};
