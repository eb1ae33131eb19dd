//! The two JSON metadata files of Longhorn's backupstore: `volume.cfg` ([`VolumeCfg`]) and
//! `backup_<name>.cfg` ([`BackupCfg`]), with Go's field names and encodings.
//!
//! Go writes `int64` fields tagged `json:",string"` as strings of digits and `string` fields
//! tagged `json:",string"` as JSON inside a string (`"\"lz4\""`); Go's reader then *requires*
//! that double encoding (`json: invalid use of ,string struct tag, trying to unmarshal "lz4" into
//! string`). In `volume.cfg` these are `BackingImageName`, `BackingImageChecksum`,
//! `CompressionMethod`, `StorageClassName` and `DataEngine`; the backup cfg has none. We read both
//! forms (and plain numbers) and write exactly what Longhorn writes, in Go's field order, with
//! `null` for an empty map (Go's nil map).
//!
//! Sources (identical at every supported version): longhorn/longhorn-engine@v1.7.3, @v1.8.2,
//! @v1.9.1, @v1.10.1:vendor/github.com/longhorn/backupstore/backupstore.go (`Volume`, `Backup`),
//! …/deltablock.go (`BlockMapping`, `performBackup`: `backup.Size = len(Blocks) × block size`),
//! …/config.go (`loadVolume`: empty `CompressionMethod` → gzip, empty `DataEngine` → v1); the
//! v1.10 `backup-block-size` parameter: longhorn/longhorn-engine@v1.10.1:app/cmd/backup.go.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::compress::CompressionMethod;

/// 2 MiB, Longhorn's default (and before v1.10 only) backup block size, in bytes.
pub const BLOCK_SIZE_2MI: u64 = 2 << 20;
/// 16 MiB, the other block size Longhorn v1.10 CRDs allow, in bytes.
pub const BLOCK_SIZE_16MI: u64 = 16 << 20;
/// Key of the block-size parameter in `BackupCfg::parameters` (Longhorn v1.10).
pub const PARAM_BLOCK_SIZE: &str = "backup-block-size";
/// Key of the backup-mode parameter (`full` / `incremental`) in `BackupCfg::parameters`.
pub const PARAM_BACKUP_MODE: &str = "backup-mode";

/// Errors reading or writing cfg files.
#[derive(Debug, thiserror::Error)]
pub enum CfgError {
    /// The object at `key` is not a valid cfg (truncated, not JSON, wrong types).
    #[error("cannot parse {key}: {source}")]
    Parse {
        /// The S3 key (or path) the bytes came from.
        key: String,
        /// The JSON error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// Serializing a cfg failed.
    #[error("cannot serialize {key}: {source}")]
    Serialize {
        /// The key the cfg was meant for.
        key: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// `Parameters["backup-block-size"]` is not 2 MiB or 16 MiB.
    #[error(
        "invalid backup-block-size {value:?}: only 2Mi (2097152) and 16Mi (16777216) are valid"
    )]
    InvalidBlockSize {
        /// The parameter as written.
        value: String,
    },
}

/// `volume.cfg`: per-volume metadata Longhorn syncs into the BackupVolume object.
///
/// Source: longhorn/backupstore `backupstore.go` struct `Volume`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeCfg {
    /// Volume name.
    pub name: String,
    /// Volume size in bytes (a digit string in JSON). This, not the backup cfg's `Size`, is the
    /// size of a restored image: Longhorn's restore truncates the device to it and refuses a
    /// size that is 0 or not a multiple of the block size
    /// (longhorn/longhorn-engine@v1.9.1:vendor/github.com/longhorn/backupstore/deltablock.go
    /// `RestoreDeltaBlockBackup`).
    #[serde(with = "int_string")]
    pub size: u64,
    /// Volume labels (`null` in JSON when empty).
    #[serde(deserialize_with = "null_as_default", serialize_with = "empty_as_null")]
    pub labels: BTreeMap<String, String>,
    /// When the first backup created this volume folder (RFC3339 UTC).
    pub created_time: String,
    /// Name of the newest backup.
    pub last_backup_name: String,
    /// Snapshot creation time of the newest backup (RFC3339).
    pub last_backup_at: String,
    /// Number of blocks stored for this volume (a digit string in JSON).
    #[serde(with = "int_string")]
    pub block_count: u64,
    /// Backing image name, if any.
    #[serde(with = "go_string")]
    pub backing_image_name: String,
    /// Backing image checksum, if any.
    #[serde(with = "go_string")]
    pub backing_image_checksum: String,
    /// Compression of this volume's blocks, fixed at its first backup (every later backup uses
    /// it, whatever the Volume's spec says now); missing/empty means gzip (Longhorn's legacy
    /// default). Double-encoded in JSON (`"\"lz4\""`).
    #[serde(with = "go_compression")]
    pub compression_method: CompressionMethod,
    /// StorageClass the restored PV should use.
    #[serde(with = "go_string")]
    pub storage_class_name: String,
    /// `v1` or `v2` data engine; Longhorn reads an empty one as `v1`.
    #[serde(with = "go_string")]
    pub data_engine: String,
}

/// One entry of a backup's block map.
///
/// Source: longhorn/backupstore `deltablock.go` struct `BlockMapping`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMapping {
    /// Byte offset of the block in the volume (a JSON number).
    #[serde(rename = "Offset")]
    pub offset: u64,
    /// SHA-512/64 hex of the uncompressed block; the block object is `<checksum>.blk`.
    #[serde(rename = "BlockChecksum")]
    pub block_checksum: String,
}

/// `SingleFile` of a backup cfg (used only by single-file backups such as backing images).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BackupFile {
    /// Path of the `.bak` object, empty for block backups.
    pub file_path: String,
}

/// `backup_<name>.cfg`: one backup with its complete, sorted block map.
///
/// Source: longhorn/backupstore `backupstore.go` struct `Backup` (v1.10 fields included).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BackupCfg {
    /// Backup name.
    pub name: String,
    /// Volume name.
    pub volume_name: String,
    /// Snapshot the backup was taken from.
    pub snapshot_name: String,
    /// Snapshot creation time (RFC3339).
    pub snapshot_created_at: String,
    /// Backup completion time (RFC3339 UTC); empty while the backup is in progress.
    pub created_time: String,
    /// Bytes of data this backup lists: **listed blocks × block size** (a digit string in JSON),
    /// not the volume size — that is [`VolumeCfg::size`]. `"0"` for an empty volume and while
    /// the backup is in progress. Longhorn never reads it back to bound offsets.
    /// Source: longhorn/longhorn-engine@v1.9.1:vendor/github.com/longhorn/backupstore/deltablock.go
    /// (`performBackup`: `backup.Size = int64(len(backup.Blocks)) * DEFAULT_BLOCK_SIZE`; v1.10.1:
    /// `* blockSize`).
    #[serde(with = "int_string")]
    pub size: u64,
    /// Backup labels (`null` in JSON when empty).
    #[serde(deserialize_with = "null_as_default", serialize_with = "empty_as_null")]
    pub labels: BTreeMap<String, String>,
    /// Backup parameters such as `backup-mode` and `backup-block-size` (`null` when empty).
    #[serde(deserialize_with = "null_as_default", serialize_with = "empty_as_null")]
    pub parameters: BTreeMap<String, String>,
    /// Whether blocks of an earlier backup were reused.
    pub is_incremental: bool,
    /// Compression of the blocks this backup uploaded; missing/empty means gzip.
    pub compression_method: CompressionMethod,
    /// Compressed bytes uploaded by this backup (a digit string in JSON).
    #[serde(with = "int_string")]
    pub newly_uploaded_data_size: u64,
    /// Compressed bytes re-uploaded by a full backup over existing blocks (a digit string).
    #[serde(with = "int_string")]
    pub re_uploaded_data_size: u64,
    /// Longhorn-internal progress bookkeeping, always written: `{}` by a backup made without a
    /// previous one (full), `null` by an incremental one (its cfg is the merged map, built
    /// without it) and while in progress. Source: …/deltablock.go `mergeSnapshotMap`.
    pub processing_blocks: Option<serde_json::Value>,
    /// The complete block map, sorted by offset; offsets not listed are zero.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub blocks: Vec<BlockMapping>,
    /// Single-file backup path (unused by block backups).
    pub single_file: BackupFile,
}

impl VolumeCfg {
    /// Parses `volume.cfg` bytes read from `key`.
    ///
    /// # Errors
    /// [`CfgError::Parse`] naming `key`.
    pub fn from_json(key: &str, bytes: &[u8]) -> Result<Self, CfgError> {
        serde_json::from_slice(bytes).map_err(|source| CfgError::Parse {
            key: key.to_string(),
            source,
        })
    }

    /// Serializes to the JSON Longhorn reads.
    ///
    /// # Errors
    /// [`CfgError::Serialize`] naming `key` (practically unreachable).
    pub fn to_json(&self, key: &str) -> Result<Vec<u8>, CfgError> {
        serde_json::to_vec(self).map_err(|source| CfgError::Serialize {
            key: key.to_string(),
            source,
        })
    }
}

impl BackupCfg {
    /// Parses `backup_<name>.cfg` bytes read from `key`.
    ///
    /// # Errors
    /// [`CfgError::Parse`] naming `key`.
    pub fn from_json(key: &str, bytes: &[u8]) -> Result<Self, CfgError> {
        serde_json::from_slice(bytes).map_err(|source| CfgError::Parse {
            key: key.to_string(),
            source,
        })
    }

    /// Serializes to the JSON Longhorn reads.
    ///
    /// # Errors
    /// [`CfgError::Serialize`] naming `key` (practically unreachable).
    pub fn to_json(&self, key: &str) -> Result<Vec<u8>, CfgError> {
        serde_json::to_vec(self).map_err(|source| CfgError::Serialize {
            key: key.to_string(),
            source,
        })
    }

    /// Block size in bytes from `Parameters["backup-block-size"]`; absent, empty or `"0"` means
    /// 2 MiB (backups older than Longhorn v1.10).
    ///
    /// # Errors
    /// [`CfgError::InvalidBlockSize`] when the value is not a quantity equal to 2 MiB or 16 MiB.
    pub fn block_size(&self) -> Result<u64, CfgError> {
        parse_block_size(self.parameters.get(PARAM_BLOCK_SIZE).map(String::as_str))
    }

    /// Whether the backup finished: `CreatedTime` is set only once Longhorn wrote the complete cfg.
    pub fn is_complete(&self) -> bool {
        !self.created_time.is_empty()
    }

    /// The cfg's `Size` in bytes: listed blocks × block size, *not* the volume size.
    pub fn size_bytes(&self) -> u64 {
        self.size
    }

    /// The `Size` Longhorn writes for this block map: listed blocks × `block_size`.
    pub fn expected_size(&self, block_size: u64) -> u64 {
        self.blocks.len() as u64 * block_size
    }
}

/// Parses a `backup-block-size` value (a Kubernetes quantity such as `"2Mi"`, `"16Mi"`,
/// `"2097152"`); `None`, `""` and `"0"` mean 2 MiB.
///
/// # Errors
/// [`CfgError::InvalidBlockSize`] when the value is not a quantity equal to 2 MiB or 16 MiB.
pub fn parse_block_size(value: Option<&str>) -> Result<u64, CfgError> {
    let raw = value.unwrap_or("").trim();
    let invalid = || CfgError::InvalidBlockSize {
        value: raw.to_string(),
    };
    if raw.is_empty() {
        return Ok(BLOCK_SIZE_2MI);
    }
    let bytes = parse_quantity(raw).ok_or_else(invalid)?;
    match bytes {
        0 => Ok(BLOCK_SIZE_2MI),
        BLOCK_SIZE_2MI | BLOCK_SIZE_16MI => Ok(bytes),
        _ => Err(invalid()),
    }
}

/// Parses an integral Kubernetes quantity (`"2Mi"`, `"2M"`, `"2097152"`) into bytes.
fn parse_quantity(s: &str) -> Option<u64> {
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, suffix) = s.split_at(digits_end);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match suffix {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Go `int64` with `json:",string"`: written as a digit string, read from a string or a number.
mod int_string {
    use super::*;

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(u64),
            Str(String),
            Null(()),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) => Ok(n),
            Raw::Null(()) => Ok(0),
            Raw::Str(s) => {
                let t = s.trim().trim_matches('"');
                if t.is_empty() {
                    Ok(0)
                } else {
                    t.parse()
                        .map_err(|_| serde::de::Error::custom(format!("{s:?} is not an integer")))
                }
            }
        }
    }
}

/// Go `string` with `json:",string"`: written as JSON inside a string (`"\"x\""`, Longhorn's
/// form); read from that or from a plain string.
mod go_string {
    use super::*;

    pub fn serialize<S: Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
        let inner = serde_json::to_string(v).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&inner)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let s = Option::<String>::deserialize(d)?.unwrap_or_default();
        Ok(unquote(s))
    }
}

/// Strips one level of JSON string encoding when `s` is a JSON string literal.
fn unquote(s: String) -> String {
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        if let Ok(inner) = serde_json::from_str::<String>(&s) {
            return inner;
        }
    }
    s
}

/// `volume.cfg`'s `CompressionMethod`: a Go `json:",string"` string holding the method name.
mod go_compression {
    use super::*;

    pub fn serialize<S: Serializer>(v: &CompressionMethod, s: S) -> Result<S::Ok, S::Error> {
        super::go_string::serialize(v.as_str(), s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<CompressionMethod, D::Error> {
        let s = super::go_string::deserialize(d)?;
        CompressionMethod::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Go writes a nil map as `null`; an empty map is written the same way.
fn empty_as_null<S: Serializer>(v: &BTreeMap<String, String>, s: S) -> Result<S::Ok, S::Error> {
    if v.is_empty() {
        s.serialize_none()
    } else {
        v.serialize(s)
    }
}

/// Go writes a nil map or slice as `null`.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_longhorn_written_backup_cfg() {
        let json = r#"{"Name":"backup-0123456789abcdef","VolumeName":"pvc-1",
            "SnapshotName":"snap-1","SnapshotCreatedAt":"2025-01-02T03:04:05Z",
            "CreatedTime":"2025-01-02T03:05:00Z","Size":"8388608","Labels":null,
            "Parameters":{"backup-mode":"incremental","backup-block-size":"16Mi"},
            "IsIncremental":true,"CompressionMethod":"lz4","NewlyUploadedDataSize":"1234",
            "ReUploadedDataSize":"0","Blocks":[{"Offset":0,"BlockChecksum":"ab"},
            {"Offset":2097152,"BlockChecksum":"cd"}],"SingleFile":{"FilePath":""}}"#;
        let cfg = BackupCfg::from_json("k", json.as_bytes()).expect("parse");
        assert_eq!(cfg.size_bytes(), 8_388_608);
        assert_eq!(cfg.newly_uploaded_data_size, 1234);
        assert_eq!(cfg.compression_method, CompressionMethod::Lz4);
        assert_eq!(cfg.block_size().expect("block size"), BLOCK_SIZE_16MI);
        assert!(cfg.labels.is_empty());
        assert!(cfg.is_complete());
        assert_eq!(cfg.blocks[1].offset, 2_097_152);
    }

    #[test]
    fn accepts_double_encoded_string_fields_and_writes_them_double_encoded() {
        let json = r#"{"Name":"v","Size":"10","CompressionMethod":"\"lz4\"",
            "BackingImageName":"\"\"","DataEngine":"\"v1\"","StorageClassName":"longhorn",
            "BlockCount":3}"#;
        let v = VolumeCfg::from_json("volume.cfg", json.as_bytes()).expect("parse");
        assert_eq!(v.compression_method, CompressionMethod::Lz4);
        assert_eq!(v.data_engine, "v1");
        assert_eq!(v.backing_image_name, "");
        assert_eq!(v.storage_class_name, "longhorn");
        assert_eq!(v.block_count, 3);
        let out: serde_json::Value =
            serde_json::from_slice(&v.to_json("volume.cfg").expect("ser")).expect("json");
        // Longhorn's reader rejects the plain form: write what Go's `json:",string"` writes.
        assert_eq!(out["CompressionMethod"], "\"lz4\"");
        assert_eq!(out["DataEngine"], "\"v1\"");
        assert_eq!(out["BackingImageName"], "\"\"");
        assert_eq!(out["StorageClassName"], "\"longhorn\"");
        assert_eq!(out["Labels"], serde_json::Value::Null);
        assert_eq!(out["Size"], "10");
        assert_eq!(out["BlockCount"], "3");
    }

    #[test]
    fn writes_longhorn_form_byte_for_byte() {
        // Longhorn's form (longhorn-engine@v1.9.1 backupstore.go field order and tags): the
        // five `json:",string"` strings double-encoded, numbers as digit strings, nil maps null.
        let volume = r#"{"Name":"v-a","Size":"4194304","Labels":null,"CreatedTime":"2026-01-02T03:04:05Z","LastBackupName":"b9","LastBackupAt":"2026-01-02T03:04:06Z","BlockCount":"2","BackingImageName":"\"\"","BackingImageChecksum":"\"\"","CompressionMethod":"\"gzip\"","StorageClassName":"\"\"","DataEngine":"\"v1\""}"#;
        let v = VolumeCfg::from_json("volume.cfg", volume.as_bytes()).expect("parse");
        assert_eq!(v.compression_method, CompressionMethod::Gzip);
        assert_eq!(
            String::from_utf8(v.to_json("volume.cfg").expect("ser")).expect("utf8"),
            volume
        );
        let backup = r#"{"Name":"b9","VolumeName":"v-a","SnapshotName":"s","SnapshotCreatedAt":"2026-01-02T03:04:06Z","CreatedTime":"2026-01-02T03:04:07Z","Size":"2097152","Labels":{"k":"v"},"Parameters":null,"IsIncremental":true,"CompressionMethod":"gzip","NewlyUploadedDataSize":"10","ReUploadedDataSize":"0","ProcessingBlocks":null,"Blocks":[{"Offset":2097152,"BlockChecksum":"ab"}],"SingleFile":{"FilePath":""}}"#;
        let b = BackupCfg::from_json("k", backup.as_bytes()).expect("parse");
        assert_eq!(b.expected_size(BLOCK_SIZE_2MI), b.size_bytes());
        assert_eq!(
            String::from_utf8(b.to_json("k").expect("ser")).expect("utf8"),
            backup
        );
        // An in-progress cfg has no Blocks key (Go `omitempty`) and Size "0".
        let inflight = r#"{"Name":"b9","VolumeName":"v-a","SnapshotName":"","SnapshotCreatedAt":"","CreatedTime":"","Size":"0","Labels":null,"Parameters":null,"IsIncremental":false,"CompressionMethod":"lz4","NewlyUploadedDataSize":"0","ReUploadedDataSize":"0","ProcessingBlocks":null,"SingleFile":{"FilePath":""}}"#;
        let b = BackupCfg::from_json("k", inflight.as_bytes()).expect("parse");
        assert!(!b.is_complete());
        assert_eq!(
            String::from_utf8(b.to_json("k").expect("ser")).expect("utf8"),
            inflight
        );
    }

    #[test]
    fn empty_compression_means_gzip_and_empty_created_time_means_in_progress() {
        let cfg = BackupCfg::from_json(
            "k",
            br#"{"Name":"b1","CompressionMethod":"","CreatedTime":""}"#,
        )
        .expect("parse");
        assert_eq!(cfg.compression_method, CompressionMethod::Gzip);
        assert!(!cfg.is_complete());
        let cfg = BackupCfg::from_json("k", br#"{"Name":"b1"}"#).expect("parse");
        assert_eq!(cfg.compression_method, CompressionMethod::Gzip);
    }

    #[test]
    fn truncated_cfg_error_names_the_key() {
        let err = BackupCfg::from_json("backupstore/x/backup_b.cfg", br#"{"Name":"b","Blo"#)
            .expect_err("truncated");
        assert!(
            err.to_string().contains("backupstore/x/backup_b.cfg"),
            "{err}"
        );
    }

    #[test]
    fn block_size_rules() {
        assert_eq!(parse_block_size(None).expect("absent"), BLOCK_SIZE_2MI);
        assert_eq!(parse_block_size(Some("")).expect("empty"), BLOCK_SIZE_2MI);
        assert_eq!(parse_block_size(Some("0")).expect("zero"), BLOCK_SIZE_2MI);
        assert_eq!(parse_block_size(Some("2Mi")).expect("2Mi"), BLOCK_SIZE_2MI);
        assert_eq!(
            parse_block_size(Some("2097152")).expect("bytes"),
            BLOCK_SIZE_2MI
        );
        assert_eq!(
            parse_block_size(Some("16Mi")).expect("16Mi"),
            BLOCK_SIZE_16MI
        );
        assert_eq!(
            parse_block_size(Some("16777216")).expect("16Mi"),
            BLOCK_SIZE_16MI
        );
        for bad in ["4Mi", "2M", "abc", "1Gi", "-2Mi"] {
            assert!(
                matches!(
                    parse_block_size(Some(bad)),
                    Err(CfgError::InvalidBlockSize { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn writes_go_field_names() {
        let cfg = BackupCfg {
            name: "b1".into(),
            size: 42,
            blocks: vec![BlockMapping {
                offset: 0,
                block_checksum: "aa".into(),
            }],
            ..Default::default()
        };
        let v: serde_json::Value =
            serde_json::from_slice(&cfg.to_json("k").expect("ser")).expect("json");
        for field in [
            "Name",
            "VolumeName",
            "SnapshotName",
            "SnapshotCreatedAt",
            "CreatedTime",
            "Size",
            "Labels",
            "Parameters",
            "IsIncremental",
            "CompressionMethod",
            "NewlyUploadedDataSize",
            "ReUploadedDataSize",
            "Blocks",
            "SingleFile",
        ] {
            assert!(v.get(field).is_some(), "missing {field} in {v}");
        }
        assert_eq!(v["Size"], "42");
        assert_eq!(v["Blocks"][0]["Offset"], 0);
        assert_eq!(v["Blocks"][0]["BlockChecksum"], "aa");
    }
}
