//! Which Longhorn release the simulated Longhorn imitates, and every rule that differs by release.
//!
//! Each rule method names the upstream source it follows (`repo@tag:path`). The supported
//! releases are the ones the project tests against: 1.7.1, 1.7.3, 1.8.2, 1.9.1, 1.10.1.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Longhorn release the sandbox can imitate. Default: the newest.
///
/// Parsed from `1.9.1` or `v1.9.1`; displayed as `v1.9.1` (the form of Longhorn's own
/// `current-longhorn-version` Setting and image tags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum LonghornVersion {
    /// Longhorn v1.7.1 (no `delete-custom-resource-only` label yet).
    V1_7_1,
    /// Longhorn v1.7.3.
    V1_7_3,
    /// Longhorn v1.8.2 (multiple backup targets, random BackupVolume names).
    V1_8_2,
    /// Longhorn v1.9.1 (deterministic BackupVolume names).
    V1_9_1,
    /// Longhorn v1.10.1 (Backup label derived from the snapshot, 16 MiB backup blocks).
    #[default]
    V1_10_1,
}

/// How a release names the BackupVolume objects a backup target sync creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupVolumeNaming {
    /// The volume name itself (longhorn-manager@v1.7.3:controller/backup_target_controller.go
    /// `syncBackupVolume`: `Name: backupVolumeName` = the remote volume name).
    VolumeName,
    /// `<volume>-<8 random hex>` (longhorn-manager@v1.8.2:types/types.go
    /// `GetBackupVolumeNameFromVolumeName`: `volumeName + "-" + util.RandomID()`).
    RandomSuffix,
    /// `<volume>-` + the first 8 hex digits of SHA-256 of `"<volume>-<backup target name>"`
    /// (longhorn-manager@v1.9.1:types/types.go `GetBackupVolumeNameFromVolumeName`; the input is
    /// `strings.TrimSpace(fmt.Sprintf("%s-%s", volumeName, backupTargetName))`, the target's
    /// object *name* such as `default`, not its URL).
    TargetHash,
}

/// A version string that names no supported release.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported Longhorn version {given:?}: expected one of {}",
    LonghornVersion::supported_list()
)]
pub struct UnknownLonghornVersion {
    /// The text as given.
    pub given: String,
}

impl LonghornVersion {
    /// Every supported release, oldest first.
    pub const ALL: [LonghornVersion; 5] = [
        Self::V1_7_1,
        Self::V1_7_3,
        Self::V1_8_2,
        Self::V1_9_1,
        Self::V1_10_1,
    ];

    /// `v1.9.1`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1_7_1 => "v1.7.1",
            Self::V1_7_3 => "v1.7.3",
            Self::V1_8_2 => "v1.8.2",
            Self::V1_9_1 => "v1.9.1",
            Self::V1_10_1 => "v1.10.1",
        }
    }

    /// `(major, minor, patch)`.
    pub fn triple(self) -> (u32, u32, u32) {
        match self {
            Self::V1_7_1 => (1, 7, 1),
            Self::V1_7_3 => (1, 7, 3),
            Self::V1_8_2 => (1, 8, 2),
            Self::V1_9_1 => (1, 9, 1),
            Self::V1_10_1 => (1, 10, 1),
        }
    }

    fn supported_list() -> String {
        Self::ALL
            .iter()
            .map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn at_least(self, minor: u32, patch: u32) -> bool {
        let (_, m, p) = self.triple();
        (m, p) >= (minor, patch)
    }

    /// How BackupVolume objects are named (see [`BackupVolumeNaming`] for the sources).
    pub fn backup_volume_naming(self) -> BackupVolumeNaming {
        if !self.at_least(8, 0) {
            BackupVolumeNaming::VolumeName
        } else if !self.at_least(9, 0) {
            BackupVolumeNaming::RandomSuffix
        } else {
            BackupVolumeNaming::TargetHash
        }
    }

    /// Whether the release has several backup targets: BackupVolumes carry labels
    /// `backup-volume`/`backup-target` and `spec.volumeName`/`spec.backupTargetName`, Backups the
    /// `backup-target` label and `status.backupTargetName`, and the Volume webhook finds the
    /// BackupVolume by those labels (longhorn-manager@v1.8.2:controller/backup_target_controller.go
    /// `pullBackupVolumeFromBackupTarget`, longhorn-manager@v1.8.2:webhook/resources/volume/mutator.go
    /// `GetBackupVolumeByBackupTargetAndVolumeRO`). Before 1.8 the Volume webhook gets the
    /// BackupVolume by name (longhorn-manager@v1.7.3:webhook/resources/volume/mutator.go
    /// `GetBackupVolumeRO(bvName)`), and the target is configured by the `backup-target*` Settings.
    pub fn multiple_backup_targets(self) -> bool {
        self.at_least(8, 0)
    }

    /// Whether the Backup mutating webhook refuses a Backup without the bare `backup-volume`
    /// label. 1.7–1.9 read the label unconditionally (longhorn-manager@v1.9.1:webhook/resources/backup/mutator.go
    /// `Create`); 1.10 derives it from `spec.snapshotName` and refuses only a Backup with neither
    /// (longhorn-manager@v1.10.1:webhook/resources/backup/mutator.go `Create`).
    pub fn backup_needs_volume_label(self) -> bool {
        !self.at_least(10, 0)
    }

    /// Whether deleting a Backup/BackupVolume object can keep its remote data with the label
    /// `longhorn.io/delete-custom-resource-only` (any value: the key's presence counts,
    /// longhorn-manager@v1.7.3:datastore/longhorn.go `IsLabelLonghornDeleteCustomResourceOnlyExisting`).
    /// The label constant exists from 1.7.2 on (longhorn-manager@v1.7.3:types/types.go
    /// `DeleteCustomResourceOnly`; absent from longhorn-manager@v1.7.1:types/types.go), so on
    /// 1.7.1 deleting a Backup object always deletes its backup in the backupstore.
    pub fn supports_cr_only_delete(self) -> bool {
        self.at_least(7, 2)
    }

    /// Whether Volumes and Backups carry `spec.backupBlockSize` and 16 MiB blocks are possible
    /// (longhorn-manager@v1.10.1:types/setting.go `default-backup-block-size`, choices 2 and 16
    /// MiB, default 2; longhorn-manager@v1.10.1:webhook/resources/volume/mutator.go sets the
    /// Volume's from that Setting, longhorn-manager@v1.10.1:webhook/resources/backup/mutator.go
    /// copies the Volume's onto the Backup). Earlier releases always use 2 MiB.
    pub fn supports_backup_block_size(self) -> bool {
        self.at_least(10, 0)
    }

    /// The longhorn-manager image of this release, `longhornio/longhorn-manager:v1.9.1`.
    pub fn manager_image(self) -> String {
        format!("longhornio/longhorn-manager:{}", self.as_str())
    }

    /// The longhorn-ui image of this release.
    pub fn ui_image(self) -> String {
        format!("longhornio/longhorn-ui:{}", self.as_str())
    }
}

impl fmt::Display for LonghornVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LonghornVersion {
    type Err = UnknownLonghornVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let bare = t.strip_prefix('v').unwrap_or(t);
        Self::ALL
            .into_iter()
            .find(|v| &v.as_str()[1..] == bare)
            .ok_or_else(|| UnknownLonghornVersion {
                given: s.to_string(),
            })
    }
}

impl Serialize for LonghornVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for LonghornVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_and_without_v_and_displays_with_v() {
        assert_eq!("1.9.1".parse(), Ok(LonghornVersion::V1_9_1));
        assert_eq!("v1.9.1".parse(), Ok(LonghornVersion::V1_9_1));
        assert_eq!(" v1.10.1 ".parse(), Ok(LonghornVersion::V1_10_1));
        assert_eq!(LonghornVersion::V1_7_1.to_string(), "v1.7.1");
        assert_eq!(LonghornVersion::default(), LonghornVersion::V1_10_1);
        let err = "1.9".parse::<LonghornVersion>().unwrap_err().to_string();
        assert!(err.contains("\"1.9\"") && err.contains("v1.10.1"), "{err}");
        assert!("1.7.2".parse::<LonghornVersion>().is_err());
        let json = serde_json::to_string(&LonghornVersion::V1_8_2).unwrap();
        assert_eq!(json, "\"v1.8.2\"");
        assert_eq!(
            serde_json::from_str::<LonghornVersion>("\"1.8.2\"").unwrap(),
            LonghornVersion::V1_8_2
        );
    }

    #[test]
    fn rules_follow_the_release() {
        use LonghornVersion::*;
        let naming: Vec<_> = LonghornVersion::ALL
            .iter()
            .map(|v| v.backup_volume_naming())
            .collect();
        assert_eq!(
            naming,
            [
                BackupVolumeNaming::VolumeName,
                BackupVolumeNaming::VolumeName,
                BackupVolumeNaming::RandomSuffix,
                BackupVolumeNaming::TargetHash,
                BackupVolumeNaming::TargetHash
            ]
        );
        assert!(V1_9_1.backup_needs_volume_label() && !V1_10_1.backup_needs_volume_label());
        assert!(!V1_7_1.supports_cr_only_delete() && V1_7_3.supports_cr_only_delete());
        assert!(!V1_9_1.supports_backup_block_size() && V1_10_1.supports_backup_block_size());
        assert!(!V1_7_3.multiple_backup_targets() && V1_8_2.multiple_backup_targets());
        assert_eq!(V1_9_1.manager_image(), "longhornio/longhorn-manager:v1.9.1");
    }
}
