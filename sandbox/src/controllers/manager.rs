//! A simulated longhorn-manager REST API (Service `longhorn-backend`, port 9500), reached through
//! the API server's service proxy. Only the action a drill needs is served:
//! `POST /v1/volumes/<vol>?action=snapshotRevert` with `{"name": "<snapshot>"}`.
//!
//! Validation follows longhorn-manager v1.8–v1.10 `api/volume.go` `SnapshotRevert`: the volume
//! must exist and not be a standby volume, and a volume whose frontend is in use cannot be
//! reverted ("cannot revert snapshot for volume %v with frontend enabled"; real Longhorn wants
//! it attached in maintenance mode). The sandbox reads "frontend in use" as "a Running pod uses
//! the volume". The snapshot must be one of this volume's and ready. Errors are answered as
//! Longhorn's API framework does, status 500 with `{"type": "error", "message": …}` (the message
//! wrapped in "failed to revert snapshot: …"). Success answers 200 with the volume resource.
//! The `revert-not-applied` fault answers 200 but leaves the data as it is.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::object::str_at;
use super::pods::volume_users_running;
use super::{Ctx, LONGHORN_NAMESPACE};
use crate::api::proxy::{ProxyRequest, ProxyResponse, ServiceBackend};
use crate::api::resources::{LH_SNAPSHOTS, LH_VOLUMES};
use crate::faults::Fault;

/// Service name of longhorn-manager's API (Longhorn chart).
pub const MANAGER_SERVICE: &str = "longhorn-backend";
/// Its port.
pub const MANAGER_PORT: u16 = 9500;

/// The simulated longhorn-manager API of one cluster.
pub struct LonghornManager {
    ctx: Arc<Ctx>,
}

impl LonghornManager {
    /// A manager acting on the cluster's store and data plane.
    pub fn new(ctx: Arc<Ctx>) -> Self {
        Self { ctx }
    }
}

impl ServiceBackend for LonghornManager {
    fn handle(&self, req: ProxyRequest) -> BoxFuture<'static, ProxyResponse> {
        let ctx = self.ctx.clone();
        Box::pin(async move { handle(ctx, req).await })
    }
}

fn error(status: u16, message: String) -> ProxyResponse {
    ProxyResponse {
        status,
        body: json!({"type": "error", "status": status, "code": if status == 404 { "NotFound" } else { "ServerError" }, "message": message}),
    }
}

fn action(query: Option<&str>) -> Option<&str> {
    query?.split('&').find_map(|kv| kv.strip_prefix("action="))
}

async fn handle(ctx: Arc<Ctx>, req: ProxyRequest) -> ProxyResponse {
    let segs: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    match (
        req.method.as_str(),
        segs.as_slice(),
        action(req.query.as_deref()),
    ) {
        ("POST", ["v1", "volumes", vol], Some("snapshotRevert")) => {
            let name = serde_json::from_slice::<Value>(&req.body)
                .ok()
                .and_then(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_default();
            snapshot_revert(&ctx, vol, &name).await
        }
        _ => error(404, format!("not found: {} {}", req.method, req.path)),
    }
}

async fn snapshot_revert(ctx: &Ctx, vol: &str, snap: &str) -> ProxyResponse {
    let fail = |m: String| error(500, format!("failed to revert snapshot: {m}"));
    let store = &ctx.store;
    let Some(volume) = store.get(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), vol) else {
        return error(
            404,
            format!("failed to revert snapshot: unable to get volume: volume {vol} not found"),
        );
    };
    if snap.is_empty() {
        return fail("empty snapshot name not allowed".into());
    }
    if volume.pointer("/status/isStandby").and_then(Value::as_bool) == Some(true) {
        return fail(format!("cannot revert snapshot for standby volume {vol}"));
    }
    if volume_users_running(store, vol) {
        return fail(format!(
            "cannot revert snapshot for volume {vol} with frontend enabled"
        ));
    }
    let snapshot = store.get(&LH_SNAPSHOTS, Some(LONGHORN_NAMESPACE), snap);
    let ready = snapshot.as_ref().is_some_and(|s| {
        str_at(s, "/spec/volume") == Some(vol)
            && s.pointer("/status/readyToUse").and_then(Value::as_bool) == Some(true)
    });
    if !ready {
        return fail(format!(
            "snapshot {snap} of volume {vol} not found or not ready"
        ));
    }
    if ctx.faults.is_set(Fault::RevertNotApplied.name()) {
        tracing::info!(volume = %vol, snapshot = %snap, "sandbox fault revert-not-applied: answering 200 without reverting");
    } else if let Err(e) = ctx.data.revert(vol, snap).await {
        return fail(e.to_string());
    }
    ProxyResponse {
        status: 200,
        body: json!({
            "type": "volume", "id": vol, "name": vol,
            "state": str_at(&volume, "/status/state").unwrap_or(""),
            "robustness": str_at(&volume, "/status/robustness").unwrap_or(""),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::action;

    #[test]
    fn the_action_is_read_from_the_query() {
        assert_eq!(
            action(Some("action=snapshotRevert")),
            Some("snapshotRevert")
        );
        assert_eq!(action(Some("x=1&action=attach")), Some("attach"));
        assert_eq!(action(None), None);
    }
}
