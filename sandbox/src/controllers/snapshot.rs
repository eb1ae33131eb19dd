//! Longhorn Snapshot objects (`lhsnap`): a point-in-time image of a volume's data.
//!
//! A new Snapshot (`spec.volume`, `spec.createSnapshot`) makes the data plane capture the volume
//! as an ext4 image; the status then reads as longhorn-manager's snapshot controller writes it:
//! `readyToUse: true`, `creationTime`, `size`, `restoreSize`, `userCreated: true`,
//! `markRemoved: false`. A Snapshot of a volume that does not exist gets `status.error` and stays
//! not ready. Simplification: the volume need not be attached (see FIDELITY.md).

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::json;

use super::context::{Controller, Ctx, LONGHORN_NAMESPACE};
use super::object::{name, str_at, uid};
use crate::api::resources::{LH_SNAPSHOTS, LH_VOLUMES};
use crate::api::ResourceType;

/// Reconciles Longhorn Snapshots.
#[derive(Default)]
pub struct SnapshotController {
    in_flight: HashSet<String>,
}

impl Controller for SnapshotController {
    fn name(&self) -> &'static str {
        "longhorn-snapshots"
    }

    fn watches(&self) -> &'static [&'static ResourceType] {
        static W: [&ResourceType; 2] = [&LH_SNAPSHOTS, &LH_VOLUMES];
        &W
    }

    fn reconcile(&mut self, ctx: &Arc<Ctx>) {
        let store = &ctx.store;
        let snaps = store.list(&LH_SNAPSHOTS, Some(LONGHORN_NAMESPACE));
        for s in &snaps {
            let id = uid(s).to_string();
            let done = s.pointer("/status/readyToUse").and_then(|v| v.as_bool()) == Some(true)
                || str_at(s, "/status/error").is_some_and(|e| !e.is_empty());
            if done || self.in_flight.contains(&id) {
                continue;
            }
            let snap = name(s).to_string();
            let vol = str_at(s, "/spec/volume").unwrap_or("").to_string();
            let volume_ok = store
                .get(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), &vol)
                .is_some_and(|v| {
                    !matches!(
                        str_at(&v, "/status/state"),
                        None | Some("") | Some("creating")
                    )
                });
            if !volume_ok {
                let err = format!(
                    "failed to create snapshot {snap}: volume {vol:?} not found or not ready"
                );
                let _ = store.modify(&LH_SNAPSHOTS, Some(LONGHORN_NAMESPACE), &snap, |o| {
                    o["status"] = json!({"readyToUse": false, "error": err, "markRemoved": false});
                });
                continue;
            }
            self.in_flight.insert(id);
            let task_ctx = ctx.clone();
            ctx.spawn(async move { take_snapshot(task_ctx, vol, snap).await });
        }
        let live: HashSet<&str> = snaps.iter().map(uid).collect();
        self.in_flight.retain(|u| live.contains(u.as_str()));
    }
}

async fn take_snapshot(ctx: Arc<Ctx>, vol: String, snap: String) {
    if !ctx.sleep(ctx.timing.snapshot).await {
        return;
    }
    let status = match ctx.data.snapshot(&vol, &snap).await {
        Ok(info) => json!({
            "readyToUse": true,
            "creationTime": info.created_at_rfc3339(),
            "size": info.size_bytes,
            "restoreSize": info.size_bytes,
            "userCreated": true,
            "markRemoved": false,
            "parent": "",
            "children": {},
            "labels": {},
            "error": "",
        }),
        Err(e) => {
            json!({"readyToUse": false, "markRemoved": false, "error": format!("failed to create snapshot {snap} of volume {vol}: {e}")})
        }
    };
    let _ = ctx
        .store
        .modify(&LH_SNAPSHOTS, Some(LONGHORN_NAMESPACE), &snap, |o| {
            o["status"] = status
        });
}
