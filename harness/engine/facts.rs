//! What steps hand to later steps, typed: the sentinel volume, the backup, the ticks, the
//! disaster time, and so on.
//!
//! [`DrillFacts`] lives in the run record (`RunRecord.facts`), so it is saved after every step
//! and read back by `--resume`: a resumed drill continues with what the earlier attempt found.
//! Every field is optional (or an empty collection) because a step may not have run yet, and
//! `#[serde(default)]` lets a record that lacks a field still load. A step that needs a fact an
//! earlier step did not leave fails with a message naming that earlier step.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::sentinel::manifest::ManifestEntry;

/// The typed hand-offs between the steps of one drill (see the module docs).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DrillFacts {
    /// Longhorn Volume name behind the sentinel PVC (`deploy-sentinel`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    /// Whether `deploy-sentinel` adopted a sentinel of this run that already existed (a resumed
    /// drill) rather than creating it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sentinel_adopted: Option<bool>,
    /// Total size of the sentinel files written by `write-sentinel`, bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sentinel_bytes: Option<u64>,
    /// The sentinel manifest written by `write-sentinel` (sha256, name, size of each file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Vec<ManifestEntry>>,
    /// Manifests of the generations `write-generation` wrote, by generation name; read by
    /// `verify-revert`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub generations: BTreeMap<String, Vec<ManifestEntry>>,
    /// StorageClass of the sentinel PVC, kept by `delete-sentinel` for `restore-volume`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// Name of the Longhorn Snapshot the `backup` step took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// Wall-clock time the drill asked for its snapshot, Unix milliseconds: data written after
    /// it is not in the backup.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_at_ms: Option<i64>,
    /// Name of the Backup (also its name on the backup target).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// `Backup.status.url` of that backup, as Longhorn reported it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_url: Option<String>,
    /// The Volume's `spec.backupCompressionMethod` at backup time (`lz4`, `gzip`, `none`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_compression: Option<String>,
    /// First tick written by `start-ticks`, Unix milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_tick_ms: Option<i64>,
    /// Newest tick known written before the disaster, Unix milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_tick_written_ms: Option<i64>,
    /// Sequence number of that tick (1 = the first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_tick_written_seq: Option<u64>,
    /// Wall-clock start of the disaster (destroy hook start, first deletion, revert), UTC; the
    /// RTO fallback after a resume in another process, and the RPO's reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disaster_at: Option<DateTime<Utc>>,
    /// What proved the destroyed cluster gone (e.g. `TCP connection refused at 10.0.0.1:6443`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destroy_evidence: Option<String>,
    /// The Longhorn release preflight found (`"1.9.1"`), absent when it could not tell; see
    /// [`crate::longhorn::version`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longhorn_version: Option<String>,
    /// Where preflight read the Longhorn version from, or why it is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longhorn_version_source: Option<String>,
    /// Name of the Snapshot `revert` reverts to (taken by the `snapshot` step).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revert_snapshot: Option<String>,
    /// Name of the drill's SystemBackup (`system-backup`), restored by `system-restore`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_backup: Option<String>,
    /// Longhorn version the SystemBackup was taken with (`status.version`; part of its key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_backup_version: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_facts_serialize_to_an_empty_object_and_load_from_one() {
        let facts = DrillFacts::default();
        assert_eq!(serde_json::to_string(&facts).unwrap(), "{}");
        assert_eq!(serde_json::from_str::<DrillFacts>("{}").unwrap(), facts);
    }

    #[test]
    fn facts_round_trip_with_their_units() {
        let facts = DrillFacts {
            volume: Some("pvc-1".into()),
            snapshot_at_ms: Some(1_700_000_000_123),
            disaster_at: Some(DateTime::from_timestamp_millis(1_700_000_005_000).unwrap()),
            generations: BTreeMap::from([(
                "g1".to_string(),
                vec![ManifestEntry {
                    sha256: "ab".repeat(32),
                    name: "sentinel-1.bin".into(),
                    size: 4096,
                }],
            )]),
            ..DrillFacts::default()
        };
        let text = serde_json::to_string(&facts).unwrap();
        assert!(text.contains("\"snapshot_at_ms\":1700000000123"), "{text}");
        assert_eq!(serde_json::from_str::<DrillFacts>(&text).unwrap(), facts);
    }
}
