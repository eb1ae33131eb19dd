//! What every controller shares: the controller [`Ctx`] (store, clocks, faults, data plane,
//! backup target), the [`Controller`] trait and its event loop ([`run`]), and the Longhorn
//! names they all use. The controllers import this module, never `controllers/mod.rs`, which
//! only lists them (`start_all`): so the list and the controllers form no import circle.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::version::LonghornVersion;
use crate::api::{ResourceType, Store, WatchEvent};
use crate::dataplane::{BusyboxRuntime, DataPlane};
use crate::faults::Faults;
use crate::timing::Timing;

// Spelled once in `crate::names` (the harness's built-in profile expects the same names).
pub use crate::names::{BACKUP_TARGET as DEFAULT_BACKUP_TARGET, LONGHORN_NAMESPACE};

/// Where the simulated Longhorn finds its backup target (the sandbox's S3 server).
#[derive(Clone)]
pub struct BackupTargetAccess {
    /// `s3://<bucket>@<region>/`.
    pub url: String,
    /// Bucket name.
    pub bucket: String,
    /// Region (`us-east-1`).
    pub region: String,
    /// S3 client configured for the sandbox's S3 server.
    pub client: aws_sdk_s3::Client,
}

impl BackupTargetAccess {
    /// The Longhorn backupstore at this target (root `backupstore/`).
    pub fn store(&self) -> dr_backupstore::BackupStore {
        dr_backupstore::BackupStore::new(self.client.clone(), &self.bucket, "backupstore/")
    }
}

/// The value of Longhorn Setting `name` (`longhorn-system/<name>`, field `value`), if set.
pub fn longhorn_setting(store: &Store, name: &str) -> Option<String> {
    store
        .get(
            &crate::api::resources::LH_SETTINGS,
            Some(LONGHORN_NAMESPACE),
            name,
        )
        .and_then(|s| {
            s.get("value")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        })
        .filter(|v| !v.is_empty())
}

/// Everything a controller may use: the cluster state, its clocks and faults, the data plane.
pub struct Ctx {
    /// The cluster's objects.
    pub store: Arc<Store>,
    /// Delays.
    pub timing: Timing,
    /// Active faults.
    pub faults: Arc<Faults>,
    /// Which Longhorn release the simulated Longhorn imitates.
    pub version: LonghornVersion,
    /// Volumes, snapshots, backups and restores on disk.
    pub data: Arc<DataPlane>,
    /// Runs Job pods in busybox (or the dr-harness binary).
    pub runtime: Arc<BusyboxRuntime>,
    /// The S3 backup target.
    pub target: BackupTargetAccess,
    /// GitOps sources: (Kustomization `spec.path`, multi-document YAML).
    pub gitops: Vec<(String, String)>,
    /// The `dr-harness` binary for the restore-orchestrator Job, if configured.
    pub harness_bin: Option<PathBuf>,
    /// Cancelled when the cluster is destroyed or the sandbox shuts down.
    pub cancel: CancellationToken,
    /// Asks the BackupTarget controller for an immediate sync (after a backup completes).
    pub sync_now: AtomicBool,
}

impl Ctx {
    /// Spawns a task that ends when the cluster goes away.
    pub fn spawn<F>(self: &Arc<Self>, fut: F) -> JoinHandle<()>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let cancel = self.cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = fut => {}
            }
        })
    }

    /// Sleeps for `d`, or returns `false` early when the cluster goes away.
    pub async fn sleep(&self, d: std::time::Duration) -> bool {
        tokio::select! {
            _ = self.cancel.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }
}

/// One simulated controller.
pub trait Controller: Send + 'static {
    /// Short name for logs.
    fn name(&self) -> &'static str;
    /// The resource types whose events wake this controller.
    fn watches(&self) -> &'static [&'static ResourceType];
    /// Sees each relevant event before the next reconcile (for reacting to deletions).
    fn observe(&mut self, _ctx: &Arc<Ctx>, _event: &WatchEvent) {}
    /// One level-triggered pass over every object of the controller's kinds.
    fn reconcile(&mut self, ctx: &Arc<Ctx>);
}

/// Runs `controller` until the cluster is cancelled: reconcile on every tick and after each
/// burst of relevant events.
pub fn run(ctx: Arc<Ctx>, mut controller: Box<dyn Controller>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut rx = ctx.store.subscribe();
        let mut tick = tokio::time::interval(ctx.timing.controller_tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let woke = tokio::select! {
                _ = ctx.cancel.cancelled() => break,
                _ = tick.tick() => true,
                ev = rx.recv() => match ev {
                    Ok(ev) => relevant(&mut *controller, &ctx, &ev),
                    Err(broadcast::error::RecvError::Lagged(_)) => true,
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            };
            // drain the burst so a flurry of events costs one pass
            let mut woke = woke;
            loop {
                match rx.try_recv() {
                    Ok(ev) => woke |= relevant(&mut *controller, &ctx, &ev),
                    Err(broadcast::error::TryRecvError::Lagged(_)) => woke = true,
                    Err(_) => break,
                }
            }
            if woke && !ctx.cancel.is_cancelled() {
                controller.reconcile(&ctx);
            }
        }
        tracing::debug!(controller = controller.name(), "controller stopped");
    })
}

fn relevant(controller: &mut dyn Controller, ctx: &Arc<Ctx>, ev: &WatchEvent) -> bool {
    let hit = controller
        .watches()
        .iter()
        .any(|rt| std::ptr::eq(*rt, ev.resource));
    if hit {
        controller.observe(ctx, ev);
    }
    hit
}
