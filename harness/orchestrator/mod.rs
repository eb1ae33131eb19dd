//! The restore orchestrator: run early in a rebuilt cluster's bootstrap (as a Job, after Longhorn
//! and before workloads), it restores every well-known volume from its newest backup so the
//! workload's PVC binds to restored data instead of a fresh empty volume.
//!
//! Correct for Longhorn 1.7–1.10 (longhorn-facts.md §2):
//! - BackupVolumes are found by label / `spec.volumeName` / name, never by name alone (1.8+
//!   names them `<volume>-<8 hex>`);
//! - a sync of the backup target is requested (a whole second after its last sync, or Longhorn
//!   ignores it) and awaited, then each BackupVolume's *own* `lastSyncedAt` ≥ the request
//!   ([`sync`]); the backup restored is the one that BackupVolume names as its last, never the
//!   first Backup object seen Completed ([`pick`], longhorn/longhorn#5292);
//! - on Longhorn 1.7 the Volume webhook needs the BackupVolume named after the volume
//!   (longhorn-manager@v1.7.1:webhook/resources/volume/mutator.go `GetBackupVolumeRO(bvName)`),
//!   1.8+ looks it up by target and volume (v1.8.2 `GetBackupVolumeByBackupTargetAndVolumeRO`):
//!   the Volume is created only after that BackupVolume was found and synced;
//! - the restore is done when `restoreInitiated` and not `restoreRequired` ([`crate::longhorn::restore`]);
//!   a `RestoreFailure` condition fails at once;
//! - the Volume is created with `fromBackup` = the Backup's `status.url`, then a PV with
//!   `volumeHandle` = the volume name, so the PVC's `volumeName` binds to it;
//! - idempotent: an existing Volume or PV is left alone — unless its restore failed
//!   (`RestoreFailure` or faulted while restoring), which fails this run too, so a retried Job
//!   cannot turn Longhorn's failure into a success; the skip flag skips everything.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolume};
use kube::api::PostParams;
use kube::{Api, Client};
use serde_json::json;

use crate::cluster::wait;
use crate::cluster::RetryStats;
use crate::longhorn::lookup::backups_of;
use crate::longhorn::restore::{restore_progress, RestoreProgress};
use crate::longhorn::{Backup, BackupVolume, Volume, VolumeSpec};

pub mod pick;
pub mod sync;

pub use pick::{pick_backup, Pick};
pub use sync::{sync_backup_target, sync_request_time, synced_backup_volume};

/// Options of `dr-harness restore-orchestrator`.
#[derive(Debug, Clone)]
pub struct OrchestratorOptions {
    /// Well-known volume names to restore (PVC name = Volume name = PV name).
    pub volumes: Vec<String>,
    /// Longhorn's namespace.
    pub namespace: String,
    /// `namespace/name` of a ConfigMap whose `skip_backup_restore: "true"` skips all restores.
    pub skip_flag: Option<(String, String)>,
    /// `numberOfReplicas` of each restored volume (and of its PV's CSI attributes).
    pub replicas: i64,
    /// Overall time limit.
    pub timeout: Duration,
    /// Storage class of the PVs created for restored volumes (the PVCs' class).
    pub storage_class: String,
}

/// What happened to one volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeOutcome {
    /// Restored from its newest completed backup; Longhorn finished the restore.
    Restored {
        /// Name of the Longhorn Backup object restored from.
        backup: String,
    },
    /// A Longhorn volume of that name existed already (and had not failed a restore): left alone.
    AlreadyExists,
    /// The backup target holds no backup of it: the workload will get a fresh, empty volume.
    NoBackup,
    /// The skip flag ConfigMap said `skip_backup_restore: "true"`: nothing was restored.
    Skipped,
}

/// Errors of the orchestrator.
#[derive(Debug, thiserror::Error)]
pub enum OrchestratorError {
    /// A Kubernetes API request failed.
    #[error("kubernetes API: {0}")]
    Api(#[from] kube::Error),
    /// A wait (backup target sync, restore progress) timed out, was refused, or its API
    /// requests failed.
    #[error("{0}")]
    Wait(#[from] crate::cluster::ClusterError),
    /// One volume could not be restored: Longhorn failed the restore, or no usable backup
    /// appeared in time.
    #[error("volume {volume}: {message}")]
    Volume {
        /// The well-known volume name.
        volume: String,
        /// What went wrong, with Longhorn's message when it gave one.
        message: String,
    },
}

/// Runs the orchestrator; `log` receives one line per decision.
///
/// # Errors
/// An [`OrchestratorError`] for the first volume that could not be restored.
pub async fn run(
    client: Client,
    opts: &OrchestratorOptions,
    mut log: impl FnMut(&str),
) -> Result<BTreeMap<String, VolumeOutcome>, OrchestratorError> {
    let deadline = Instant::now() + opts.timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    let stats = RetryStats::default();
    let mut outcomes = BTreeMap::new();

    if let Some((ns, name)) = &opts.skip_flag {
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        let skip = cms
            .get_opt(name)
            .await?
            .and_then(|cm| cm.data)
            .and_then(|d| d.get("skip_backup_restore").cloned())
            .is_some_and(|v| v.trim() == "true");
        if skip {
            log(&format!(
                "skip_backup_restore=true in ConfigMap {ns}/{name}: restoring nothing"
            ));
            for v in &opts.volumes {
                outcomes.insert(v.clone(), VolumeOutcome::Skipped);
            }
            return Ok(outcomes);
        }
    }

    let requested = sync_backup_target(&client, &opts.namespace, left(), &stats, &mut log).await?;

    let volumes: Api<Volume> = Api::namespaced(client.clone(), &opts.namespace);
    for name in &opts.volumes {
        if let Some(existing) = volumes.get_opt(name).await? {
            // A retry of a failed attempt finds the volume its restore faulted: that is no
            // success to leave alone, but Longhorn's verdict to pass on.
            if let Some(msg) = existing
                .status
                .as_ref()
                .and_then(crate::longhorn::restore::restore_failed)
            {
                let from = existing.spec.from_backup.clone().unwrap_or_default();
                return Err(OrchestratorError::Volume {
                    volume: name.clone(),
                    message: format!("Longhorn could not restore it from {from}: {msg}"),
                });
            }
            log(&format!(
                "{name}: a Longhorn volume of that name exists already; leaving it alone"
            ));
            outcomes.insert(name.clone(), VolumeOutcome::AlreadyExists);
            continue;
        }
        let bv =
            synced_backup_volume(&client, &opts.namespace, name, requested, left(), &stats).await?;
        let Some(bv) = bv else {
            log(&format!("{name}: no BackupVolume on the backup target; the workload will get a fresh volume"));
            outcomes.insert(name.clone(), VolumeOutcome::NoBackup);
            continue;
        };
        let bv_name = bv.metadata.name.clone().unwrap_or_default();
        let last = bv
            .status
            .as_ref()
            .map(|s| s.last_backup_name.clone())
            .unwrap_or_default();
        log(&format!(
            "{name}: BackupVolume {bv_name} synced, last backup {last:?}"
        ));
        let backup = match wait_for_pick(&client, &opts.namespace, name, &bv_name, left(), &stats)
            .await?
        {
            Pick::Use(b) => *b,
            Pick::NoBackup => {
                log(&format!("{name}: Longhorn reports no backup of it on the target; the workload will get a fresh volume"));
                outcomes.insert(name.clone(), VolumeOutcome::NoBackup);
                continue;
            }
            Pick::Fail(message) | Pick::Wait(message) => {
                return Err(OrchestratorError::Volume {
                    volume: name.clone(),
                    message,
                })
            }
        };
        let status = backup.status.clone().unwrap_or_default();
        let backup_name = backup.metadata.name.clone().unwrap_or_default();
        log(&format!(
            "{name}: restoring from backup {backup_name} ({})",
            status.url
        ));

        let labels = BTreeMap::from([(
            "app.kubernetes.io/managed-by".to_string(),
            "restore-orchestrator".to_string(),
        )]);
        let request = RestoreRequest {
            name,
            backup_url: &status.url,
            volume_size: &status.volume_size,
            replicas: opts.replicas,
            storage_class: &opts.storage_class,
            labels,
        };
        create_restore_volume(&client, &opts.namespace, &request, &mut log).await?;
        let done = wait::wait_for(
            volumes.clone(),
            name,
            &format!("volume {name} to finish restoring"),
            left(),
            &stats,
            |v: Option<&Volume>| {
                restore_progress(v.and_then(|v| v.status.as_ref())) != RestoreProgress::Running
            },
            |v| {
                format!(
                    "{:?}",
                    v.and_then(|v| v.status.as_ref()).map(|s| (
                        &s.state,
                        s.restore_initiated,
                        s.restore_required,
                        &s.robustness
                    ))
                )
            },
        )
        .await?;
        // Longhorn gave up: fail now with its message rather than wait out the timeout.
        if let RestoreProgress::Failed(msg) =
            restore_progress(done.as_ref().and_then(|v| v.status.as_ref()))
        {
            return Err(OrchestratorError::Volume {
                volume: name.clone(),
                message: format!("Longhorn could not restore it from {backup_name}: {msg}"),
            });
        }
        log(&format!("{name}: restored from {backup_name}"));
        outcomes.insert(
            name.clone(),
            VolumeOutcome::Restored {
                backup: backup_name,
            },
        );
    }
    log("restore orchestration complete");
    Ok(outcomes)
}

/// One volume to restore under its well-known name (PVC name = Longhorn Volume name = PV name).
#[derive(Debug, Clone)]
pub struct RestoreRequest<'a> {
    /// The well-known name: Longhorn Volume, PV and the PV's CSI `volumeHandle`.
    pub name: &'a str,
    /// `Backup.status.url` verbatim (`s3://bucket@region/?backup=…&volume=…`).
    pub backup_url: &'a str,
    /// `Backup.status.volumeSize`, bytes as a decimal string; empty lets Longhorn's webhook set it.
    pub volume_size: &'a str,
    /// `Volume.spec.numberOfReplicas`.
    pub replicas: i64,
    /// StorageClass of the PV: the class the workload's PVC asks for, or it will not bind.
    pub storage_class: &'a str,
    /// Labels put on both the Volume and the PV.
    pub labels: BTreeMap<String, String>,
}

/// Creates a Longhorn Volume with `spec.fromBackup` (longhorn-facts.md §2 "Restoring from a
/// backup"), then a PV with `volumeHandle` = the volume name unless one of that name exists. The
/// caller waits for the restore (`status.restoreRequired: false` past `creating`).
///
/// # Errors
/// [`OrchestratorError::Volume`] when Longhorn refuses the Volume (e.g. its webhook cannot find
/// the Backup or, 1.8+, the BackupVolume); [`OrchestratorError::Api`] for other API errors.
pub async fn create_restore_volume(
    client: &Client,
    namespace: &str,
    req: &RestoreRequest<'_>,
    log: &mut impl FnMut(&str),
) -> Result<(), OrchestratorError> {
    let name = req.name.to_string();
    let volumes: Api<Volume> = Api::namespaced(client.clone(), namespace);
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let mut volume = Volume::new(
        &name,
        VolumeSpec {
            size: Some(req.volume_size.to_string()).filter(|s| !s.is_empty()),
            from_backup: Some(req.backup_url.to_string()),
            number_of_replicas: Some(req.replicas),
            access_mode: Some("rwo".into()),
            ..Default::default()
        },
    );
    volume.metadata.labels = Some(req.labels.clone());
    volumes
        .create(&PostParams::default(), &volume)
        .await
        .map_err(|e| OrchestratorError::Volume {
            volume: name.clone(),
            message: format!("Longhorn refused the restore volume: {e}"),
        })?;
    if pvs.get_opt(&name).await?.is_none() {
        let size = req.volume_size.parse::<u64>().unwrap_or(0);
        let pv: PersistentVolume = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name, "labels": req.labels},
            "spec": {
                "capacity": {"storage": size.to_string()},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": req.storage_class,
                "volumeMode": "Filesystem",
                "csi": {
                    "driver": "driver.longhorn.io",
                    "volumeHandle": name,
                    "fsType": "ext4",
                    "volumeAttributes": {"numberOfReplicas": req.replicas.to_string(), "staleReplicaTimeout": "30"}
                }
            }
        }))
        .map_err(|e| OrchestratorError::Volume { volume: name.clone(), message: e.to_string() })?;
        pvs.create(&PostParams::default(), &pv).await?;
        log(&format!("{name}: created PV {name} (volumeHandle {name})"));
    }
    Ok(())
}

/// Waits, bounded by `timeout`, until [`pick_backup`] decides for `volume` (its BackupVolume
/// `bv_name` already synced after the request): polls the BackupVolume and the volume's Backups.
async fn wait_for_pick(
    client: &Client,
    ns: &str,
    volume: &str,
    bv_name: &str,
    timeout: Duration,
    stats: &RetryStats,
) -> Result<Pick, OrchestratorError> {
    let bvs: Api<BackupVolume> = Api::namespaced(client.clone(), ns);
    let backups: Api<Backup> = Api::namespaced(client.clone(), ns);
    let deadline = Instant::now() + timeout;
    loop {
        let status = bvs
            .get_opt(bv_name)
            .await?
            .and_then(|b| b.status)
            .unwrap_or_default();
        let list = backups_of(&backups, volume).await?;
        match pick_backup(&status, &list) {
            Pick::Wait(why) if Instant::now() >= deadline => {
                return Err(OrchestratorError::Volume {
                    volume: volume.to_string(),
                    message: format!("gave up after {}s: {why}", timeout.as_secs()),
                })
            }
            Pick::Wait(_) => {}
            decided => return Ok(decided),
        }
        stats.count("backup-not-synced-yet");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
