//! Finding a volume's BackupVolume and newest backup the same way on Longhorn 1.7 and 1.8+.
//!
//! Longhorn 1.7 names a BackupVolume after its volume; 1.8 names it `<volume>-<8 hex>` and
//! identifies it by `spec.volumeName` and the label `backup-volume` (longhorn-facts.md §2). Looking
//! one up by name — as the seed's orchestrator script did — silently finds nothing on 1.8+.

use kube::api::{Api, ListParams};

use super::{Backup, BackupVolume, BACKUP_COMPLETED, LABEL_BACKUP_VOLUME};

/// The BackupVolume that holds `volume`'s backups, whichever Longhorn naming is in use.
///
/// Tries, in order: the 1.8+ label `backup-volume=<volume>`, any object whose `spec.volumeName`
/// is `volume`, then the 1.7 name `<volume>`.
///
/// # Errors
/// Any Kubernetes API error other than "not found".
pub async fn find_backup_volume(
    api: &Api<BackupVolume>,
    volume: &str,
) -> Result<Option<BackupVolume>, kube::Error> {
    let labelled = api
        .list(&ListParams::default().labels(&format!("{LABEL_BACKUP_VOLUME}={volume}")))
        .await?;
    if let Some(bv) = labelled.items.into_iter().next() {
        return Ok(Some(bv));
    }
    let all = api.list(&ListParams::default()).await?;
    if let Some(bv) = all
        .items
        .iter()
        .find(|bv| bv.spec.volume_name.as_deref() == Some(volume))
    {
        return Ok(Some(bv.clone()));
    }
    Ok(all
        .items
        .into_iter()
        .find(|bv| bv.metadata.name.as_deref() == Some(volume)))
}

/// Every Backup object of `volume` (label `backup-volume`, or `status.volumeName` for objects
/// that predate the label).
///
/// # Errors
/// Any Kubernetes API error.
pub async fn backups_of(api: &Api<Backup>, volume: &str) -> Result<Vec<Backup>, kube::Error> {
    let all = api.list(&ListParams::default()).await?;
    Ok(all
        .items
        .into_iter()
        .filter(|b| {
            b.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_BACKUP_VOLUME))
                .map(String::as_str)
                == Some(volume)
                || b.status.as_ref().map(|s| s.volume_name.as_str()) == Some(volume)
        })
        .collect())
}

/// The newest `Completed` backup among `backups`, by snapshot creation time (then backup
/// creation time, then name, so the choice is deterministic). RFC 3339 UTC strings compare in
/// time order.
pub fn newest_completed(backups: &[Backup]) -> Option<&Backup> {
    backups
        .iter()
        .filter(|b| b.status.as_ref().map(|s| s.state.as_str()) == Some(BACKUP_COMPLETED))
        .filter(|b| b.status.as_ref().is_some_and(|s| !s.url.is_empty()))
        .max_by(|a, b| sort_key(a).cmp(&sort_key(b)))
}

fn sort_key(b: &Backup) -> (String, String, String) {
    let s = b.status.clone().unwrap_or_default();
    (
        s.snapshot_created_at,
        s.backup_created_at,
        b.metadata.name.clone().unwrap_or_default(),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::longhorn::{BackupSpec, BackupStatus};

    /// A Backup `name` in `state` of a snapshot taken at `snap_at` (RFC 3339).
    pub(crate) fn backup(name: &str, state: &str, snap_at: &str) -> Backup {
        let mut b = Backup::new(name, BackupSpec::default());
        b.status = Some(BackupStatus {
            state: state.into(),
            url: format!("s3://b@us-east-1/?backup={name}&volume=vol"),
            snapshot_created_at: snap_at.into(),
            ..Default::default()
        });
        b
    }

    #[test]
    fn newest_completed_ignores_errors_and_in_progress() {
        let list = vec![
            backup("backup-a", "Completed", "2026-01-01T00:00:00Z"),
            backup("backup-b", "Error", "2026-03-01T00:00:00Z"),
            backup("backup-c", "Completed", "2026-02-01T00:00:00Z"),
            backup("backup-d", "InProgress", "2026-04-01T00:00:00Z"),
        ];
        let newest = newest_completed(&list).and_then(|b| b.metadata.name.clone());
        assert_eq!(newest.as_deref(), Some("backup-c"));
    }
}
