//! Longhorn Volume lifecycle: creation, restore from backup, attach/detach, robustness.
//!
//! States as longhorn-manager's volume controller reports them (longhorn-facts.md §2): a new
//! volume is `creating`, then — after [`Timing::volume_create`](crate::timing::Timing) — gets its
//! data directory and becomes `detached`/`healthy`. A volume with `spec.fromBackup` instead gets
//! `restoreRequired: true`, `restoreInitiated: true` and condition `Restore`
//! (`RestoreInProgress`), is `attached` to a node while the data plane restores the backup from
//! S3, and ends `detached` with `restoreRequired: false`; a failed restore leaves condition
//! `Restore` `False` reason `RestoreFailure`, robustness `faulted`, `restoreRequired: true`.
//! Volumes no Running pod uses and no longhorn-manager API attachment (`spec.nodeID`) holds
//! detach. Robustness: `healthy` while attached, `unknown` while detached (Longhorn cannot
//! judge replicas it does not run: longhorn-manager@v1.9.1:controller/volume_controller.go
//! `closeVolumeDependentResources` sets `VolumeRobustnessUnknown` unless faulted), `faulted`
//! after a failed restore. The `volume-degraded` fault turns an attached volume's robustness
//! `degraded`; the `restore-failure` fault fails every restore the way Longhorn reports all
//! replicas failing to restore.
//! Deleting the object deletes the volume's data.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

use dr_backupstore::decode_backup_url;

use super::context::{Controller, Ctx, LONGHORN_NAMESPACE};
use super::object::{name, now_rfc3339, set_condition, str_at, uid};
use super::pods::volumes_in_use;
use crate::api::resources::{LH_VOLUMES, PODS};
use crate::api::{EventType, ResourceType, WatchEvent};

/// Reconciles Longhorn Volumes.
#[derive(Default)]
pub struct VolumeController {
    first_seen: HashMap<String, Instant>,
    /// Volumes whose creation (and restore) task is running, by uid.
    restoring: HashSet<String>,
}

impl Controller for VolumeController {
    fn name(&self) -> &'static str {
        "longhorn-volumes"
    }

    fn watches(&self) -> &'static [&'static ResourceType] {
        static W: [&ResourceType; 2] = [&LH_VOLUMES, &PODS];
        &W
    }

    fn observe(&mut self, ctx: &Arc<Ctx>, event: &WatchEvent) {
        if event.event_type == EventType::Deleted && std::ptr::eq(event.resource, &LH_VOLUMES) {
            let vol = name(&event.object).to_string();
            let task_ctx = ctx.clone();
            ctx.spawn(async move {
                if let Err(e) = task_ctx.data.delete_volume(&vol).await {
                    tracing::warn!(volume = %vol, error = %e, "volume data not deleted");
                }
            });
        }
    }

    fn reconcile(&mut self, ctx: &Arc<Ctx>) {
        let store = &ctx.store;
        let in_use = volumes_in_use(store);
        let volumes = store.list(&LH_VOLUMES, Some(LONGHORN_NAMESPACE));
        for v in &volumes {
            let vol = name(v).to_string();
            let state = str_at(v, "/status/state").unwrap_or("");
            match state {
                "" | "creating" => self.create(ctx, v),
                _ => {
                    let restore_required = v
                        .pointer("/status/restoreRequired")
                        .and_then(Value::as_bool)
                        == Some(true);
                    let failed = restore_failed(v);
                    let robustness = if failed {
                        "faulted"
                    } else if state == "detached" {
                        "unknown"
                    } else if ctx.faults.volume_degraded(&vol) {
                        "degraded"
                    } else {
                        "healthy"
                    };
                    // a longhorn-manager API attachment (`spec.nodeID`, e.g. maintenance mode
                    // for a revert) holds the volume until its detach, as Longhorn's ticket does
                    let api_attached = str_at(v, "/spec/nodeID").is_some_and(|n| !n.is_empty());
                    let detach = state == "attached"
                        && !restore_required
                        && !api_attached
                        && !in_use.contains_key(&vol);
                    // a Running pod's volume that got detached (e.g. after its restore) comes back
                    let reattach = state == "detached"
                        && !restore_required
                        && !failed
                        && in_use.contains_key(&vol)
                        && super::pods::volume_users_running(store, &vol);
                    if reattach {
                        if let Some(node) = in_use.get(&vol) {
                            let _ =
                                store.modify(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), &vol, |o| {
                                    o["status"]["state"] = json!("attached");
                                    o["status"]["currentNodeID"] = json!(node);
                                });
                        }
                    }
                    if str_at(v, "/status/robustness") != Some(robustness) || detach {
                        let _ = store.modify(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), &vol, |o| {
                            let st = super::object::obj_mut(o, "status");
                            st.insert("robustness".into(), json!(robustness));
                            if detach {
                                st.insert("state".into(), json!("detached"));
                                st.insert("currentNodeID".into(), json!(""));
                                if let Some(ks) = st.get_mut("kubernetesStatus") {
                                    ks["workloadsStatus"] = json!(null);
                                    ks["lastPodRefAt"] = json!(now_rfc3339());
                                }
                            }
                        });
                    }
                }
            }
        }
        let live: HashSet<&str> = volumes.iter().map(uid).collect();
        self.first_seen.retain(|u, _| live.contains(u.as_str()));
        self.restoring.retain(|u| live.contains(u.as_str()));
    }
}

fn restore_failed(v: &Value) -> bool {
    v.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Restore")
                    && c.get("reason").and_then(Value::as_str) == Some("RestoreFailure")
            })
        })
}

impl VolumeController {
    fn create(&mut self, ctx: &Arc<Ctx>, v: &Value) {
        let store = &ctx.store;
        let vol = name(v).to_string();
        let id = uid(v).to_string();
        if str_at(v, "/status/state").unwrap_or("").is_empty() {
            let _ = store.modify(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), &vol, |o| {
                let st = super::object::obj_mut(o, "status");
                st.insert("state".into(), json!("creating"));
                st.insert("robustness".into(), json!("unknown"));
                st.insert("frontendDisabled".into(), json!(false));
                st.insert("isStandby".into(), json!(false));
                st.insert("restoreRequired".into(), json!(false));
                st.insert("currentNodeID".into(), json!(""));
            });
        }
        let seen = *self
            .first_seen
            .entry(id.clone())
            .or_insert_with(Instant::now);
        if seen.elapsed() < ctx.timing.volume_create || self.restoring.contains(&id) {
            return;
        }
        self.restoring.insert(id);
        let task_ctx = ctx.clone();
        let v = v.clone();
        ctx.spawn(async move { finish_create(task_ctx, v).await });
    }
}

/// Creates the volume's data directory, then marks it detached/healthy or starts its restore.
async fn finish_create(ctx: Arc<Ctx>, v: Value) {
    let store = &ctx.store;
    let vol = name(&v).to_string();
    let size: u64 = str_at(&v, "/spec/size")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if let Err(e) = ctx.data.create_volume(&vol, size).await {
        tracing::warn!(volume = %vol, error = %e, "volume data directory not created");
        let msg = format!("failed to create volume {vol}: {e}");
        let _ = store.modify(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), &vol, |o| {
            o["status"]["robustness"] = json!("faulted");
            o["status"]["state"] = json!("detached");
            set_condition(o, "Scheduled", false, "ReplicaSchedulingFailure", &msg);
        });
        return;
    }
    let from_backup = str_at(&v, "/spec/fromBackup").unwrap_or("").to_string();
    if from_backup.is_empty() {
        let _ = store.modify(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), &vol, |o| {
            let st = super::object::obj_mut(o, "status");
            st.insert("state".into(), json!("detached"));
            st.insert("robustness".into(), json!("unknown"));
            st.insert("actualSize".into(), json!(0));
            set_condition(o, "Scheduled", true, "", "");
        });
        super::events::record(
            store,
            &LH_VOLUMES,
            &v,
            "longhorn-volume-controller",
            super::events::EventKind::Normal,
            "Detached",
            &format!("volume {vol} has been created and is detached"),
        );
        return;
    }
    // restores run attached to a node, as Longhorn attaches a restoring volume itself
    let node = super::pods::pick_node(store).unwrap_or_else(|| "node-1".to_string());
    let msg = format!("restoring volume {vol} from {from_backup}");
    let _ = store.modify(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), &vol, |o| {
        let st = super::object::obj_mut(o, "status");
        st.insert("state".into(), json!("attached"));
        st.insert("currentNodeID".into(), json!(node));
        st.insert("robustness".into(), json!("healthy"));
        st.insert("restoreRequired".into(), json!(true));
        st.insert("restoreInitiated".into(), json!(true));
        set_condition(o, "Scheduled", true, "", "");
        set_condition(o, "Restore", true, "RestoreInProgress", &msg);
    });
    super::events::record(
        store,
        &LH_VOLUMES,
        &v,
        "longhorn-volume-controller",
        super::events::EventKind::Normal,
        "RestoreInProgress",
        &msg,
    );
    restore(ctx.clone(), vol, from_backup).await;
}

/// The message Longhorn's volume controller gives condition `Restore` when every replica failed
/// to restore (longhorn-manager@v1.9.1:controller/volume_controller.go
/// `closeVolumeDependentResources`).
pub const RESTORE_FAILURE_MESSAGE: &str =
    "All replica restore failed and the volume became Faulted";

async fn restore(ctx: Arc<Ctx>, vol: String, url: String) {
    if !ctx.sleep(ctx.timing.restore_step).await {
        return;
    }
    let result = match decode_backup_url(&url) {
        Err(e) => Err(e.to_string()),
        Ok(_)
            if ctx
                .faults
                .is_set(crate::faults::Fault::RestoreFailure.name()) =>
        {
            Err("sandbox fault restore-failure: every replica failed to restore".to_string())
        }
        Ok(parsed) => {
            let bs = ctx.target.store();
            // Longhorn reports restore progress on the Engine (`status.restoreStatus`), which the
            // sandbox does not model; the Volume CRD has no field for it
            // (longhorn-manager@v1.9.1:k8s/pkg/apis/longhorn/v1beta2/{volume,engine}.go).
            let progress = |_: u64, _: u64| {};
            let data = ctx.data.clone();
            let into = vol.clone();
            // The restore future is not provably Send (a higher-ranked lifetime limitation of
            // rustc over the backupstore's block closures), so it runs on a blocking thread
            // driven by the runtime handle instead of a spawned task.
            let handle = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || {
                handle.block_on(async {
                    data.restore(&bs, &parsed.volume, &parsed.backup, &into, progress)
                        .await
                        .map(|outcome| outcome.backup.name)
                        .map_err(|e| e.to_string())
                })
            })
            .await
            .unwrap_or_else(|e| Err(format!("restore task failed: {e}")))
        }
    };
    if !ctx.sleep(ctx.timing.restore_step).await {
        return;
    }
    let store = &ctx.store;
    match result {
        Ok(backup) => {
            let at = crate::transitions::stamp();
            let restored = store.modify(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), &vol, |o| {
                let st = super::object::obj_mut(o, "status");
                st.insert("restoreRequired".into(), json!(false));
                st.insert("state".into(), json!("detached"));
                st.insert("currentNodeID".into(), json!(""));
                st.insert("robustness".into(), json!("unknown"));
                st.insert("lastBackup".into(), json!(backup));
                set_condition(o, "Restore", false, "", "");
            });
            if restored.is_ok() {
                crate::transitions::note(
                    at,
                    "Volume",
                    Some(LONGHORN_NAMESPACE),
                    &vol,
                    crate::transitions::change::VOLUME_RESTORED,
                );
            }
            if let Some(v) = store.get(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), &vol) {
                super::events::record(
                    store,
                    &LH_VOLUMES,
                    &v,
                    "longhorn-volume-controller",
                    super::events::EventKind::Normal,
                    "RestoreCompleted",
                    &format!("restored volume {vol} from backup {backup}"),
                );
            }
        }
        Err(err) => {
            tracing::warn!(volume = %vol, error = %err, "restore failed");
            // the condition carries Longhorn's fixed message; the cause goes to the Event
            let msg = format!("failed to restore volume {vol} from {url}: {err}");
            let _ = store.modify(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), &vol, |o| {
                let st = super::object::obj_mut(o, "status");
                st.insert("state".into(), json!("detached"));
                st.insert("currentNodeID".into(), json!(""));
                st.insert("robustness".into(), json!("faulted"));
                set_condition(
                    o,
                    "Restore",
                    false,
                    "RestoreFailure",
                    RESTORE_FAILURE_MESSAGE,
                );
            });
            if let Some(v) = store.get(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), &vol) {
                super::events::record(
                    store,
                    &LH_VOLUMES,
                    &v,
                    "longhorn-volume-controller",
                    super::events::EventKind::Warning,
                    "RestoreFailure",
                    &msg,
                );
            }
        }
    }
}
