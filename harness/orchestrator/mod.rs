//! The restore orchestrator: run early in a rebuilt cluster's bootstrap (as a Job, after Longhorn
//! and before workloads), it restores every well-known volume from its newest backup so the
//! workload's PVC binds to restored data instead of a fresh empty volume.
//!
//! Correct for Longhorn 1.7–1.10 (longhorn-facts.md §2):
//! - BackupVolumes are found by label / `spec.volumeName` / name, never by name alone (1.8+
//!   names them `<volume>-<8 hex>`);
//! - a sync of the backup target is requested and awaited first, and the backup restored is the
//!   one the BackupVolume names as its last — not merely the newest Backup object synced so far —
//!   so a partial sync cannot restore an older backup (longhorn/longhorn#5292);
//! - the Volume is created with `fromBackup` = the Backup's `status.url`, then a PV with
//!   `volumeHandle` = the volume name, so the PVC's `volumeName` binds to it;
//! - idempotent: an existing Volume or PV is left alone; the skip flag skips everything.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolume};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use crate::cluster::wait;
use crate::cluster::RetryStats;
use crate::longhorn::lookup::{backups_of, find_backup_volume};
use crate::longhorn::{Backup, BackupTarget, BackupVolume, Volume, VolumeSpec, BACKUP_COMPLETED};

/// Options of `dr-harness restore-orchestrator`.
#[derive(Debug, Clone)]
pub struct OrchestratorOptions {
    /// Well-known volume names to restore (PVC name = Volume name = PV name).
    pub volumes: Vec<String>,
    /// Longhorn's namespace.
    pub namespace: String,
    /// `namespace/name` of a ConfigMap whose `skip_backup_restore: "true"` skips all restores.
    pub skip_flag: Option<(String, String)>,
    pub replicas: i64,
    /// Overall time limit.
    pub timeout: Duration,
    /// Storage class of the PVs created for restored volumes (the PVCs' class).
    pub storage_class: String,
}

/// What happened to one volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeOutcome {
    Restored { backup: String },
    AlreadyExists,
    NoBackup,
    Skipped,
}

/// Errors of the orchestrator.
#[derive(Debug, thiserror::Error)]
pub enum OrchestratorError {
    #[error("kubernetes API: {0}")]
    Api(#[from] kube::Error),
    #[error("{0}")]
    Wait(#[from] crate::cluster::ClusterError),
    #[error("volume {volume}: {message}")]
    Volume { volume: String, message: String },
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

    sync_backup_target(&client, &opts.namespace, left(), &stats, &mut log).await?;

    let bvs: Api<BackupVolume> = Api::namespaced(client.clone(), &opts.namespace);
    let backups: Api<Backup> = Api::namespaced(client.clone(), &opts.namespace);
    let volumes: Api<Volume> = Api::namespaced(client.clone(), &opts.namespace);
    for name in &opts.volumes {
        if volumes.get_opt(name).await?.is_some() {
            log(&format!(
                "{name}: a Longhorn volume of that name exists already; leaving it alone"
            ));
            outcomes.insert(name.clone(), VolumeOutcome::AlreadyExists);
            continue;
        }
        let Some(bv) = find_backup_volume(&bvs, name).await? else {
            log(&format!("{name}: no BackupVolume on the backup target; the workload will get a fresh volume"));
            outcomes.insert(name.clone(), VolumeOutcome::NoBackup);
            continue;
        };
        let last = bv
            .status
            .as_ref()
            .map(|s| s.last_backup_name.clone())
            .unwrap_or_default();
        let bv_name = bv.metadata.name.clone().unwrap_or_default();
        log(&format!(
            "{name}: BackupVolume {bv_name}, last backup {last:?}"
        ));
        let backup = wait_for_backup(&backups, name, &last, left(), &stats).await?;
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
        wait::wait_for(
            volumes.clone(),
            name,
            &format!("volume {name} to finish restoring"),
            left(),
            &stats,
            |v: Option<&Volume>| {
                v.and_then(|v| v.status.as_ref()).is_some_and(|s| {
                    !s.restore_required && !s.state.is_empty() && s.state != "creating"
                })
            },
            |v| {
                format!(
                    "{:?}",
                    v.and_then(|v| v.status.as_ref()).map(|s| (
                        &s.state,
                        s.restore_required,
                        &s.robustness
                    ))
                )
            },
        )
        .await?;
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

/// Asks Longhorn to sync the backup target now and waits until it has (lastSyncedAt moves past
/// the request), instead of waiting up to a whole poll interval.
///
/// # Errors
/// [`OrchestratorError::Api`] when the patch is refused; [`OrchestratorError::Wait`] when no
/// sync is reported within `timeout`.
pub async fn sync_backup_target(
    client: &Client,
    ns: &str,
    timeout: Duration,
    stats: &RetryStats,
    log: &mut impl FnMut(&str),
) -> Result<(), OrchestratorError> {
    let targets: Api<BackupTarget> = Api::namespaced(client.clone(), ns);
    let requested = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let patch = json!({"spec": {"syncRequestedAt": requested}});
    targets
        .patch("default", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    log(&format!(
        "requested a sync of BackupTarget default at {requested}"
    ));
    let req = requested.clone();
    wait::wait_for(
        targets,
        "default",
        "BackupTarget default to sync",
        timeout,
        stats,
        move |t: Option<&BackupTarget>| {
            t.and_then(|t| t.status.as_ref())
                .is_some_and(|s| s.available && s.last_synced_at.as_str() >= req.as_str())
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
    Ok(())
}

/// Waits until the Backup the BackupVolume names as its last exists and is Completed (Backup
/// objects are synced after their BackupVolume). With no `last` name, takes the newest Completed.
async fn wait_for_backup(
    backups: &Api<Backup>,
    volume: &str,
    last: &str,
    timeout: Duration,
    stats: &RetryStats,
) -> Result<Backup, OrchestratorError> {
    let deadline = Instant::now() + timeout;
    loop {
        let list = backups_of(backups, volume).await?;
        let found = if last.is_empty() {
            crate::longhorn::lookup::newest_completed(&list).cloned()
        } else {
            list.into_iter().find(|b| {
                b.metadata.name.as_deref() == Some(last)
                    && b.status
                        .as_ref()
                        .is_some_and(|s| s.state == BACKUP_COMPLETED && !s.url.is_empty())
            })
        };
        if let Some(b) = found {
            return Ok(b);
        }
        if Instant::now() >= deadline {
            return Err(OrchestratorError::Volume {
                volume: volume.to_string(),
                message: format!("backup {last:?} named by its BackupVolume never appeared as a Completed Backup object"),
            });
        }
        stats.count("backup-not-synced-yet");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
