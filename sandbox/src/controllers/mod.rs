//! The simulated controllers of the sandbox cluster: Kubernetes workloads and storage, and
//! Longhorn's volume, snapshot, backup and backup-target controllers plus its admission webhook.
//!
//! Each controller is a tokio task that reacts to the store's watch events and to a periodic tick.
//! Controllers are level-triggered: every pass reconciles every object of its kinds, so a missed
//! or lagged event costs at most one tick, and delays are kept as "not before" instants in the
//! controller's memory rather than as sleeping tasks. All writes go through `Store` methods; all
//! delays come from [`crate::Timing`]. Slow work (busybox Job pods, snapshots, backups, restores) runs in
//! spawned tasks that write their results back through the store.

pub mod admission;
pub mod backup;
pub mod backup_target;
pub mod context;
pub mod events;
pub mod jobs;
pub mod manager;
pub mod naming;
pub mod nodes;
pub mod object;
pub mod pods;
pub mod protection;
pub mod pvc;
pub mod resolver;
pub mod snapshot;
pub mod statefulsets;
pub mod system_backup;
pub mod version;
pub mod volume;
pub mod workloads;

pub use context::{
    longhorn_setting, run, BackupTargetAccess, Controller, Ctx, DEFAULT_BACKUP_TARGET,
    LONGHORN_NAMESPACE,
};

use std::sync::Arc;

use tokio::task::JoinHandle;

/// Starts every controller of a cluster.
pub fn start_all(ctx: &Arc<Ctx>) -> Vec<JoinHandle<()>> {
    let controllers: Vec<Box<dyn Controller>> = vec![
        Box::new(nodes::NodeController::default()),
        Box::new(workloads::DeploymentController),
        Box::new(workloads::DaemonSetController),
        Box::new(statefulsets::StatefulSetController),
        Box::new(pods::PodController::default()),
        Box::new(jobs::JobController::default()),
        Box::new(pvc::PvcController::default()),
        Box::new(protection::ProtectionController),
        Box::new(volume::VolumeController::default()),
        Box::new(snapshot::SnapshotController::default()),
        Box::new(backup::BackupController::default()),
        Box::new(backup_target::BackupTargetController::default()),
        Box::new(system_backup::SystemBackupController::default()),
        Box::new(system_backup::SystemRestoreController::default()),
        Box::new(crate::gitops::KustomizationController::default()),
    ];
    controllers
        .into_iter()
        .map(|c| run(ctx.clone(), c))
        .collect()
}
