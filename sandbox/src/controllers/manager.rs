//! A simulated longhorn-manager REST API (Service `longhorn-backend`, port 9500), reached through
//! the API server's service proxy. Served are the three actions a revert needs, all
//! `POST /v1/volumes/<vol>?action=…`:
//!
//! - `attach` with `{"hostId", "disableFrontend", "attachedBy", "attacherType", "attachmentID"}`
//!   (longhorn-manager v1.7–v1.10 `api/model.go` `AttachInput`; `manager/volume.go` `Attach`).
//!   Since Longhorn 1.5 the REST attach only adds an attachment ticket (default attacher type
//!   `longhorn-api`, parameters `disableFrontend` and `lastAttachedBy`) to the volume's Longhorn
//!   VolumeAttachment; the VolumeAttachment controller then sets `spec.nodeID` and
//!   `spec.disableFrontend` and the volume controller attaches. It refuses a node that is not
//!   Ready ("node %v is not ready, couldn't attach volume %v to it") and a restoring volume
//!   ("volume %v is restoring data" / "volume %v is pending restoring"), wrapped in
//!   "unable to attach volume %v to %v". It does not require the volume detached (that was the
//!   pre-1.5 "invalid state to attach"). The sandbox applies the ticket at once to a volume no
//!   Running pod uses: `spec.nodeID`, `spec.disableFrontend`, `status.state=attached`,
//!   `status.currentNodeID`, `status.frontendDisabled`. While a workload uses the volume, its
//!   CSI attachment keeps the volume as it is (frontend enabled) and the ticket is only
//!   answered 200, so a later revert is refused as in Longhorn.
//! - `detach` with `{"attachmentID", "hostId", "forceDetach"}` (`api/model.go` `DetachInput`;
//!   `manager/volume.go` `Detach` deletes the ticket, refuses standby volumes with "cannot detach
//!   standby volume %v", wrapped in "unable to detach volume %v"). The sandbox drops the API
//!   attachment whatever its ID and detaches the volume unless a Running pod uses it.
//! - `snapshotRevert` with `{"name": "<snapshot>"}` (`api/snapshot.go` `SnapshotRevert`): the
//!   volume must not be standby, and `spec.frontend` set without `spec.disableFrontend` is
//!   refused with "cannot revert snapshot for volume %v with frontend enabled" — so a detached
//!   volume is refused too, as in Longhorn. A volume in maintenance mode that is not (yet)
//!   attached has no engine to revert with (sandbox wording "volume %v is not attached"). The
//!   snapshot must be one of this volume's and ready.
//!
//! Errors are answered as Longhorn's API framework does, status 500 with
//! `{"type": "error", "message": …}` (404 for an unknown volume). Success answers 200 with the
//! volume resource. The `revert-not-applied` fault answers the revert 200 but leaves the data.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::context::{Ctx, LONGHORN_NAMESPACE};
use super::nodes::ready_nodes;
use super::object::{obj_mut, str_at};
use super::pods::volume_users_running;
use crate::api::proxy::{ProxyRequest, ProxyResponse, ServiceBackend};
use crate::api::resources::{LH_SNAPSHOTS, LH_VOLUMES, NODES};
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
    // Longhorn's UI sends detach without a body; a missing body reads as empty input.
    let input = serde_json::from_slice::<Value>(&req.body).unwrap_or(Value::Null);
    let text = |key: &str| {
        input
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match (
        req.method.as_str(),
        segs.as_slice(),
        action(req.query.as_deref()),
    ) {
        ("POST", ["v1", "volumes", vol], Some("snapshotRevert")) => {
            snapshot_revert(&ctx, vol, &text("name")).await
        }
        ("POST", ["v1", "volumes", vol], Some("attach")) => {
            let disable_frontend = input
                .get("disableFrontend")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            attach(&ctx, vol, &text("hostId"), disable_frontend)
        }
        ("POST", ["v1", "volumes", vol], Some("detach")) => detach(&ctx, vol),
        _ => error(404, format!("not found: {} {}", req.method, req.path)),
    }
}

/// The volume resource as longhorn-manager answers it (the fields a caller reads).
fn volume_resource(volume: &Value) -> ProxyResponse {
    let vol = super::object::name(volume);
    ProxyResponse {
        status: 200,
        body: json!({
            "type": "volume", "id": vol, "name": vol,
            "state": str_at(volume, "/status/state").unwrap_or(""),
            "robustness": str_at(volume, "/status/robustness").unwrap_or(""),
            "frontend": str_at(volume, "/spec/frontend").unwrap_or(""),
            "disableFrontend": volume.pointer("/spec/disableFrontend").and_then(Value::as_bool).unwrap_or(false),
        }),
    }
}

fn attach(ctx: &Ctx, vol: &str, host: &str, disable_frontend: bool) -> ProxyResponse {
    let fail = |m: String| error(500, format!("unable to attach volume {vol} to {host}: {m}"));
    let store = &ctx.store;
    if store.get(&NODES, None, host).is_none() {
        return fail(format!("node {host} not found"));
    }
    if !ready_nodes(store).iter().any(|n| n == host) {
        return fail(format!(
            "node {host} is not ready, couldn't attach volume {vol} to it"
        ));
    }
    let Some(volume) = store.get(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), vol) else {
        return error(
            404,
            format!("unable to attach volume {vol} to {host}: volume {vol} not found"),
        );
    };
    if super::object::condition(&volume, "Restore") == Some(true) {
        return fail(format!("volume {vol} is restoring data"));
    }
    if volume
        .pointer("/status/restoreRequired")
        .and_then(Value::as_bool)
        == Some(true)
    {
        return fail(format!("volume {vol} is pending restoring"));
    }
    if volume_users_running(store, vol) {
        // the workload's CSI ticket wins; the API ticket waits (see the module docs)
        return volume_resource(&volume);
    }
    let res = store.modify(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), vol, |o| {
        let spec = obj_mut(o, "spec");
        spec.insert("nodeID".into(), json!(host));
        spec.insert("disableFrontend".into(), json!(disable_frontend));
        let st = obj_mut(o, "status");
        st.insert("state".into(), json!("attached"));
        st.insert("currentNodeID".into(), json!(host));
        st.insert("frontendDisabled".into(), json!(disable_frontend));
    });
    match res {
        Ok(v) => volume_resource(&v),
        Err(e) => fail(e.to_string()),
    }
}

fn detach(ctx: &Ctx, vol: &str) -> ProxyResponse {
    let store = &ctx.store;
    let Some(volume) = store.get(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), vol) else {
        return error(
            404,
            format!("unable to detach volume {vol}: volume {vol} not found"),
        );
    };
    if volume.pointer("/status/isStandby").and_then(Value::as_bool) == Some(true) {
        return error(
            500,
            format!("unable to detach volume {vol}: cannot detach standby volume {vol}"),
        );
    }
    let in_use = volume_users_running(store, vol);
    let res = store.modify(&LH_VOLUMES, Some(LONGHORN_NAMESPACE), vol, |o| {
        let spec = obj_mut(o, "spec");
        spec.insert("nodeID".into(), json!(""));
        spec.insert("disableFrontend".into(), json!(false));
        let st = obj_mut(o, "status");
        st.insert("frontendDisabled".into(), json!(false));
        if !in_use {
            st.insert("state".into(), json!("detached"));
            st.insert("currentNodeID".into(), json!(""));
        }
    });
    match res {
        Ok(v) => volume_resource(&v),
        Err(e) => error(500, format!("unable to detach volume {vol}: {e}")),
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
    // Longhorn defaults an unset frontend to blockdev for every non-standby volume.
    let frontend = str_at(&volume, "/spec/frontend").unwrap_or("blockdev");
    let frontend_disabled = volume
        .pointer("/spec/disableFrontend")
        .and_then(Value::as_bool)
        == Some(true);
    if (!frontend.is_empty() && !frontend_disabled) || volume_users_running(store, vol) {
        return fail(format!(
            "cannot revert snapshot for volume {vol} with frontend enabled"
        ));
    }
    if str_at(&volume, "/status/state") != Some("attached") {
        return fail(format!("volume {vol} is not attached"));
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
    volume_resource(&volume)
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
