//! Watching a restored volume for the failure Longhorn reports, so a wait that cannot succeed
//! ends within seconds with Longhorn's own words instead of at its timeout.
//!
//! Longhorn reports a failed `fromBackup` restore on the Volume: condition `Restore` `False`
//! reason `RestoreFailure` ("All replica restore failed and the volume became Faulted"),
//! robustness `faulted`, `restoreRequired` left `true`
//! (longhorn-manager@v1.9.1:controller/volume_controller.go `closeVolumeDependentResources`).
//! The cause is the replicas' restore error: a bad block ends the engine's restore with "failed
//! to decompress and verify block `<file>` with checksum `<c>`"
//! (longhorn-engine@v1.9.1:vendor/github.com/longhorn/backupstore/deltablock.go
//! `restoreBlockToFile`), recorded as the replica's `RestoreStatus.Error` with state `error`
//! (longhorn-engine@v1.9.1:pkg/replica/restore.go `UpdateRestoreStatus`) and surfaced as
//! `Engine.status.restoreStatus[*].error` (longhorn-manager@v1.9.1:controller/engine_controller.go
//! `syncWithRestoreStatus`, `isBackupRestoreFailed`). The Volume carries only the fixed message
//! above, so this module adds the newest Warning Event about the volume when it finds one.

use std::time::Duration;

use k8s_openapi::api::core::v1::Event;
use kube::api::ListParams;
use kube::{Api, Client};

use crate::longhorn::restore::restore_failed;
use crate::longhorn::Volume;

/// How often the volume is re-read while another gate is awaited.
const POLL: Duration = Duration::from_millis(500);

/// The failure of `volume`'s restore as a sentence naming the volume, the backup and Longhorn's
/// message (plus the newest Warning Event about it), or None while it has not failed.
pub async fn failure_of(client: &Client, ns: &str, volume: &str) -> Option<String> {
    let volumes: Api<Volume> = Api::namespaced(client.clone(), ns);
    let v = volumes.get_opt(volume).await.ok().flatten()?;
    describe(client, ns, &v).await
}

/// As [`failure_of`], for a Volume already read.
pub async fn describe(client: &Client, ns: &str, v: &Volume) -> Option<String> {
    let status = v.status.as_ref()?;
    let message = restore_failed(status)?;
    let name = v.metadata.name.clone().unwrap_or_default();
    let from = v
        .spec
        .from_backup
        .clone()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "its backup".to_string());
    let mut text = format!("volume {name}: Longhorn could not restore it from {from}: {message}");
    if let Some(cause) = warning_event(client, ns, &name).await {
        text.push_str(&format!(" (event: {cause})"));
    }
    Some(text)
}

/// Resolves when `volume`'s restore has failed, with [`failure_of`]'s sentence; pends otherwise.
/// Polls (rather than watches) so it can run beside a watch-based wait without disturbing its
/// progress reporting.
pub async fn until_failed(client: &Client, ns: &str, volume: &str) -> String {
    loop {
        if let Some(msg) = failure_of(client, ns, volume).await {
            return msg;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The newest Warning Event about the Longhorn Volume `name` (reason: message).
async fn warning_event(client: &Client, ns: &str, name: &str) -> Option<String> {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let list = events.list(&ListParams::default()).await.ok()?;
    list.items
        .into_iter()
        .filter(|e| {
            e.involved_object.name.as_deref() == Some(name)
                && e.involved_object.kind.as_deref() == Some("Volume")
                && e.type_.as_deref() == Some("Warning")
        })
        .max_by_key(|e| {
            e.last_timestamp
                .as_ref()
                .map(|t| t.0)
                .or_else(|| e.event_time.as_ref().map(|t| t.0))
        })
        .map(|e| {
            format!(
                "{}: {}",
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default()
            )
        })
}
