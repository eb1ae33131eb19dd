//! Asking Longhorn to sync the backup target now, and knowing when a BackupVolume reflects it.
//!
//! Longhorn syncs a BackupTarget (and a BackupVolume) only when `spec.syncRequestedAt` is
//! *after* `status.lastSyncedAt` (longhorn-manager@v1.9.1:controller/backup_target_controller.go
//! and controller/backup_volume_controller.go, `!SyncRequestedAt.After(LastSyncedAt)` → no sync;
//! the same in v1.7.1). Both are `metav1.Time`, whole seconds on the wire, so a request in the
//! second of the last sync is ignored: the harness requests a whole second strictly later than
//! both now and the current `lastSyncedAt` ([`sync_request_time`]).
//!
//! A target sync creates the BackupVolumes it finds and sets their `spec.syncRequestedAt`; the
//! backup-volume controller fills `status.lastBackupName` and sets `status.lastSyncedAt` only
//! when it has read `volume.cfg` and pulled the Backup objects (backup_volume_controller.go). In
//! between a BackupVolume exists with an empty status, so the harness waits for the
//! BackupVolume's *own* `lastSyncedAt` ≥ the request before it believes `lastBackupName`. Should
//! the target report its sync while the BackupVolume still shows an older one (the target sync
//! ended before the BackupVolume caught up), the harness asks for another target sync every
//! `RESYNC_AFTER` (15 s) rather than wait out its timeout; the bar stays the first request.
//! Clocks of the harness and the cluster are assumed to agree within a second or two (NTP): a
//! request far in Longhorn's future is only met once its clock gets there.

use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

use super::OrchestratorError;
use crate::cluster::{retry, wait, RetryStats};
use crate::longhorn::lookup::find_backup_volume;
use crate::longhorn::{parse_time, BackupTarget, BackupVolume};

/// The `syncRequestedAt` to send: whole seconds, strictly after `now` (truncated) and after
/// `last_synced` — so Longhorn's `After` test is true and a sync that satisfies
/// `lastSyncedAt ≥ request` cannot have started before the request.
pub fn sync_request_time(now: DateTime<Utc>, last_synced: Option<DateTime<Utc>>) -> DateTime<Utc> {
    let second = chrono::Duration::seconds(1);
    let floor = |t: DateTime<Utc>| t.duration_trunc(second).unwrap_or(t);
    let after_now = floor(now) + second;
    match last_synced {
        Some(last) if floor(last) + second > after_now => floor(last) + second,
        _ => after_now,
    }
}

/// Whether a `lastSyncedAt` text shows a sync at or after `requested`.
pub(crate) fn synced_since(last_synced_at: &str, requested: DateTime<Utc>) -> bool {
    parse_time(last_synced_at).is_some_and(|t| t >= requested)
}

/// Requests a sync of BackupTarget `default` and waits until it is available and synced at or
/// after the request. Returns the request time, which BackupVolumes are then judged against.
///
/// A patch answer the harness cannot read does not fail the call: the patch was applied, and the
/// wait that follows reads the object again.
///
/// # Errors
/// [`OrchestratorError::Api`] when the BackupTarget cannot be read or the patch is refused;
/// [`OrchestratorError::Wait`] when no sync is reported within `timeout`.
pub async fn sync_backup_target(
    client: &Client,
    ns: &str,
    timeout: Duration,
    stats: &RetryStats,
    log: &mut impl FnMut(&str),
) -> Result<DateTime<Utc>, OrchestratorError> {
    let targets: Api<BackupTarget> = Api::namespaced(client.clone(), ns);
    let requested = request_target_sync(&targets, stats, log).await?;
    let text = requested.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    log(&format!(
        "requested a sync of BackupTarget default at {text}"
    ));
    wait::wait_for(
        targets,
        "default",
        &format!("BackupTarget default to sync at or after {text}"),
        timeout,
        stats,
        move |t: Option<&BackupTarget>| {
            t.and_then(|t| t.status.as_ref())
                .is_some_and(|s| s.available && synced_since(&s.last_synced_at, requested))
        },
        |t| {
            format!(
                "{:?}",
                t.and_then(|t| t.status.as_ref())
                    .map(|s| (&s.available, &s.last_synced_at))
            )
        },
    )
    .await?;
    Ok(requested)
}

/// Patches BackupTarget `default`'s `spec.syncRequestedAt` to [`sync_request_time`]; returns it.
async fn request_target_sync(
    targets: &Api<BackupTarget>,
    stats: &RetryStats,
    log: &mut impl FnMut(&str),
) -> Result<DateTime<Utc>, OrchestratorError> {
    let current = retry::with_retry(stats, "api", || targets.get("default")).await?;
    let last = current
        .status
        .as_ref()
        .and_then(|s| parse_time(&s.last_synced_at));
    let requested = sync_request_time(Utc::now(), last);
    let text = requested.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let patch = json!({"spec": {"syncRequestedAt": text}});
    let pp = PatchParams::default();
    match targets.patch("default", &pp, &Patch::Merge(&patch)).await {
        Ok(_) => {}
        // Applied; only the answer did not fit our types.
        Err(kube::Error::SerdeError(e)) => log(&format!(
            "BackupTarget default patched; its answer was not readable ({e}); reading it again"
        )),
        Err(e) => return Err(e.into()),
    }
    Ok(requested)
}

/// How long a BackupVolume may stay unsynced before the target sync is requested again.
const RESYNC_AFTER: Duration = Duration::from_secs(15);

/// After [`sync_backup_target`] returned `requested`: `volume`'s BackupVolume once its own
/// `status.lastSyncedAt` ≥ `requested`, or None when the synced target holds no BackupVolume
/// for it.
///
/// # Errors
/// [`OrchestratorError::Api`] for API errors; [`OrchestratorError::Wait`] when the
/// BackupVolume does not sync within `timeout`.
pub async fn synced_backup_volume(
    client: &Client,
    ns: &str,
    volume: &str,
    requested: DateTime<Utc>,
    timeout: Duration,
    stats: &RetryStats,
) -> Result<Option<BackupVolume>, OrchestratorError> {
    let bvs: Api<BackupVolume> = Api::namespaced(client.clone(), ns);
    let Some(bv) = find_backup_volume(&bvs, volume).await? else {
        return Ok(None);
    };
    let name = bv.metadata.name.clone().unwrap_or_default();
    let text = requested.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let targets: Api<BackupTarget> = Api::namespaced(client.clone(), ns);
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let round = wait::wait_for(
            bvs.clone(),
            &name,
            &format!("BackupVolume {name} of volume {volume} to sync at or after {text}"),
            left.min(RESYNC_AFTER),
            stats,
            move |b: Option<&BackupVolume>| {
                b.is_none()
                    || b.and_then(|b| b.status.as_ref())
                        .is_some_and(|s| synced_since(&s.last_synced_at, requested))
            },
            |b| match b.and_then(|b| b.status.as_ref()) {
                None => "no status yet".to_string(),
                Some(s) => format!(
                    "lastSyncedAt {:?}, lastBackupName {:?}",
                    s.last_synced_at, s.last_backup_name
                ),
            },
        )
        .await;
        match round {
            // None: gone while we waited, the target no longer holds it.
            Ok(synced) => return Ok(synced),
            Err(crate::cluster::ClusterError::WaitTimeout { .. }) if left > RESYNC_AFTER => {
                // The target sync finished before this BackupVolume caught up with the request
                // (or an update was lost): ask again; the freshness bar stays `requested`.
                stats.count("backup-target-resync");
                request_target_sync(&targets, stats, &mut |_: &str| {}).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        parse_time(s).unwrap()
    }

    #[test]
    fn request_is_a_whole_second_strictly_after_the_last_sync() {
        // Same second as the last sync: Longhorn would ignore a request for that second.
        let now = t("2026-12-01T10:00:00.400Z");
        assert_eq!(
            sync_request_time(now, Some(t("2026-12-01T10:00:00Z"))),
            t("2026-12-01T10:00:01Z")
        );
        // The last sync is ahead of our clock: after it, still.
        assert_eq!(
            sync_request_time(now, Some(t("2026-12-01T10:00:05Z"))),
            t("2026-12-01T10:00:06Z")
        );
        // Never synced (lastSyncedAt null) or long ago: the next whole second.
        assert_eq!(sync_request_time(now, None), t("2026-12-01T10:00:01Z"));
        assert_eq!(
            sync_request_time(now, Some(t("2026-11-30T00:00:00Z"))),
            t("2026-12-01T10:00:01Z")
        );
    }

    #[test]
    fn synced_since_compares_times_not_text() {
        let req = t("2026-12-01T10:00:01Z");
        assert!(synced_since("2026-12-01T10:00:01Z", req));
        assert!(!synced_since("2026-12-01T11:00:00+01:00", req));
        assert!(synced_since("2026-12-01T10:00:02Z", req));
        assert!(!synced_since("", req), "null lastSyncedAt is no sync");
        assert!(!synced_since("2026-12-01T10:00:00Z", req));
    }
}
