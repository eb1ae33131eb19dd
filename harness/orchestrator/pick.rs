//! Which backup the orchestrator restores, decided from a *synced* BackupVolume and the volume's
//! Backup objects (longhorn/longhorn#5292: never "whichever Backup completed first").
//!
//! - The BackupVolume names its last backup (`status.lastBackupName`, copied from the target's
//!   `volume.cfg` by longhorn-manager@v1.9.1:controller/backup_volume_controller.go): restore
//!   exactly that one once its Backup object is `Completed`; if it ended `Error` or `Unknown`
//!   (final states, controller/backup_controller.go `backupInFinalState`) fail — never fall back
//!   to an older backup.
//! - Longhorn reports no backups — the synced BackupVolume's `lastBackupName` is empty, which the
//!   backupstore writes when the last backup was deleted and no newer one could be read
//!   (longhorn-engine@v1.9.1:vendor/github.com/longhorn/backupstore/deltablock.go, backup
//!   deletion): only then are the Backup objects themselves consulted, once none is still being
//!   read (state `""`, `Pending`, `InProgress`), and the newest `Completed` by snapshot time is
//!   taken; none → no backup.
//! - The backup restored is the one its URL names: Longhorn's webhook decodes the Volume's
//!   `fromBackup` and looks that name up (longhorn-manager@v1.9.1:webhook/resources/volume/
//!   mutator.go, `backupstore.DecodeBackupURL`), so a `status.url` that does not decode, or names
//!   another backup, fails here with the URL shown instead of restoring something else.

use crate::longhorn::lookup::newest_completed;
use crate::longhorn::{backup_state_is_final, Backup, BackupVolumeStatus, BACKUP_COMPLETED};

/// The decision for one volume at one moment.
#[derive(Debug, Clone)]
pub enum Pick {
    /// Restore this Backup.
    Use(Box<Backup>),
    /// Not decidable yet (the Backup object is not synced or not final); why.
    Wait(String),
    /// Longhorn holds no usable backup of the volume.
    NoBackup,
    /// The backup Longhorn names cannot be restored; why.
    Fail(String),
}

/// Decides from `status` (of a BackupVolume already synced after the request) and `backups`
/// (every Backup object of the volume).
pub fn pick_backup(status: &BackupVolumeStatus, backups: &[Backup]) -> Pick {
    let last = status.last_backup_name.as_str();
    if !last.is_empty() {
        let Some(b) = backups
            .iter()
            .find(|b| b.metadata.name.as_deref() == Some(last))
        else {
            return Pick::Wait(format!(
                "backup {last} named by the BackupVolume has no Backup object yet"
            ));
        };
        let st = b.status.clone().unwrap_or_default();
        return match st.state.as_str() {
            BACKUP_COMPLETED if !st.url.is_empty() => use_if_named(b, last, &st.url),
            BACKUP_COMPLETED => Pick::Wait(format!("backup {last} is Completed without a URL yet")),
            s if backup_state_is_final(s) => Pick::Fail(format!(
                "the last backup {last} is in state {s}{}; refusing to restore an older one (longhorn/longhorn#5292)",
                if st.error.is_empty() {
                    String::new()
                } else {
                    format!(": {}", st.error)
                }
            )),
            s => Pick::Wait(format!("backup {last} is in state {s:?}")),
        };
    }
    let reading: Vec<String> = backups
        .iter()
        .filter(|b| {
            let state = b.status.as_ref().map(|s| s.state.as_str()).unwrap_or("");
            !backup_state_is_final(state)
        })
        .map(|b| b.metadata.name.clone().unwrap_or_default())
        .collect();
    if !reading.is_empty() {
        return Pick::Wait(format!(
            "the BackupVolume names no last backup and Longhorn is still reading {}",
            reading.join(", ")
        ));
    }
    match newest_completed(backups) {
        Some(b) => {
            let name = b.metadata.name.as_deref().unwrap_or_default();
            let url = b
                .status
                .as_ref()
                .map(|s| s.url.as_str())
                .unwrap_or_default();
            use_if_named(b, name, url)
        }
        None => Pick::NoBackup,
    }
}

/// [`Pick::Use`] of `b` when its `url` decodes (the workspace's one parser,
/// [`dr_backupstore::decode_backup_url`]) to the backup `name`; [`Pick::Fail`] otherwise.
fn use_if_named(b: &Backup, name: &str, url: &str) -> Pick {
    match dr_backupstore::decode_backup_url(url) {
        Ok(n) if n.backup == name => Pick::Use(Box::new(b.clone())),
        Ok(n) => Pick::Fail(format!(
            "backup {name}'s URL {url} names another backup, {}; Longhorn would restore that one",
            n.backup
        )),
        Err(e) => Pick::Fail(format!("backup {name}'s URL cannot be restored from: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::longhorn::lookup::tests::backup;

    fn bv(last: &str) -> BackupVolumeStatus {
        serde_json::from_value(serde_json::json!({
            "lastBackupName": last, "lastSyncedAt": "2026-12-01T10:00:01Z"
        }))
        .unwrap()
    }

    fn used(p: Pick) -> String {
        match p {
            Pick::Use(b) => b.metadata.name.unwrap_or_default(),
            other => panic!("expected a backup, got {other:?}"),
        }
    }

    /// longhorn/longhorn#5292: the older backup is Completed first; the newer one the
    /// BackupVolume names is still being read. The old code took the older one.
    #[test]
    fn waits_for_the_named_last_backup_instead_of_an_older_completed_one() {
        let list = vec![
            backup("backup-old", "Completed", "2026-01-01T00:00:00Z"),
            backup("backup-new", "", ""),
        ];
        assert!(matches!(
            pick_backup(&bv("backup-new"), &list),
            Pick::Wait(_)
        ));
        let list = vec![backup("backup-old", "Completed", "2026-01-01T00:00:00Z")];
        assert!(matches!(
            pick_backup(&bv("backup-new"), &list),
            Pick::Wait(_)
        ));
        let list = vec![
            backup("backup-old", "Completed", "2026-01-01T00:00:00Z"),
            backup("backup-new", "Completed", "2026-02-01T00:00:00Z"),
        ];
        assert_eq!(used(pick_backup(&bv("backup-new"), &list)), "backup-new");
    }

    #[test]
    fn a_backup_whose_url_names_another_fails() {
        let mut b = backup("backup-new", "Completed", "2026-02-01T00:00:00Z");
        if let Some(st) = b.status.as_mut() {
            st.url = "s3://b@us-east-1/?backup=backup-old&volume=vol".into();
        }
        match pick_backup(&bv("backup-new"), std::slice::from_ref(&b)) {
            Pick::Fail(msg) => assert!(
                msg.contains("backup-new") && msg.contains("names another backup, backup-old"),
                "{msg}"
            ),
            other => panic!("{other:?}"),
        }
        if let Some(st) = b.status.as_mut() {
            st.url = "s3://b@us-east-1/?backup=backup-new".into();
        }
        match pick_backup(&bv(""), &[b]) {
            Pick::Fail(msg) => assert!(msg.contains("no \"volume\" query parameter"), "{msg}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failed_last_backup_fails_instead_of_falling_back() {
        for state in ["Error", "Unknown"] {
            let list = vec![
                backup("backup-old", "Completed", "2026-01-01T00:00:00Z"),
                backup("backup-new", state, "2026-02-01T00:00:00Z"),
            ];
            match pick_backup(&bv("backup-new"), &list) {
                Pick::Fail(msg) => {
                    assert!(msg.contains("backup-new") && msg.contains(state), "{msg}")
                }
                other => panic!("{state}: {other:?}"),
            }
        }
    }

    #[test]
    fn no_last_backup_falls_back_to_the_newest_once_all_are_read() {
        let list = vec![
            backup("backup-a", "Completed", "2026-01-01T00:00:00Z"),
            backup("backup-b", "", ""),
        ];
        assert!(matches!(pick_backup(&bv(""), &list), Pick::Wait(_)));
        let list = vec![
            backup("backup-a", "Completed", "2026-01-01T00:00:00Z"),
            backup("backup-b", "Completed", "2026-03-01T00:00:00Z"),
            backup("backup-c", "Error", "2026-04-01T00:00:00Z"),
        ];
        assert_eq!(used(pick_backup(&bv(""), &list)), "backup-b");
        assert!(matches!(pick_backup(&bv(""), &[]), Pick::NoBackup));
    }
}
